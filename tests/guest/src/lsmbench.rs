//! What the coconut LSM costs the calls it mediates: an open+close of a file and a UDP
//! `connect` (route lookup, no packet), timed by a:00000's task (the hooks' early return), by
//! a member of an agent whose capabilities cover both (the full check: the path, the tree
//! mutex, the set), and — in a second boot of `cargo xtask bench --vm` with `lsm=` leaving
//! coconut out (`coconut.bench=bare`) — by a task of a kernel without the coconut LSM.

use std::io::Read;

use coconut_qemu::protocol::{parse_bench, BenchFigure, BENCH_DONE};

use crate::agents::{capset, manifest, root_key, spawn_member, trust_root_key, wait};
use crate::bench::measure;

/// The capabilities of the benchmark's agent: both timed calls are allowed.
const CAPS: [&str; 2] = ["fs.read:/tmp/*", "net.connect:127.0.0.1:*"];

const FILE: &std::ffi::CStr = c"/tmp/coconut-lsm-bench";

/// The two loops, their figures named `lsm_open_close_<who>` and `lsm_udp_connect_<who>`.
pub fn figures(who: &str) -> Result<Vec<BenchFigure>, String> {
    // Made by a:00000's pass (the agent may only read it).
    if std::fs::metadata("/tmp/coconut-lsm-bench").is_err() {
        std::fs::write("/tmp/coconut-lsm-bench", b"x").map_err(|e| format!("/tmp: {e}"))?;
    }
    let open_close = measure(&format!("lsm_open_close_{who}"), Ok(0), "0".into(), || {
        // SAFETY: a NUL-terminated path; the fd is closed at once.
        let fd = unsafe { libc::open(FILE.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        Ok(0)
    });
    // SAFETY: plain socket(2).
    let udp = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if udp < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 9u16.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let connect = || {
        // SAFETY: a socket address of the length passed, live for the call.
        let r = unsafe { libc::connect(udp, (&addr as *const libc::sockaddr_in).cast(), len) };
        if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(0)
        }
    };
    // The loopback interface is down in a fresh guest: bring it up for the route lookup.
    if connect().is_err() {
        let _ = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
    }
    let want = connect();
    let connect_fig = measure(
        &format!("lsm_udp_connect_{who}"),
        want,
        match want {
            Ok(_) => "0".into(),
            Err(e) => format!("errno{e}"),
        },
        connect,
    );
    // SAFETY: our socket.
    unsafe { libc::close(udp) };
    Ok(vec![open_close, connect_fig])
}

/// The figures as a:00000 and as a member of an agent holding [`CAPS`] (a child that
/// re-executes the runner with `--agent-child bench-lsm` and prints its figure lines).
pub fn with_coconut() -> Result<Vec<BenchFigure>, String> {
    let mut all = figures("a00000")?;
    trust_root_key()?;
    let m = manifest("bench-lsm", &CAPS, &[], &root_key());
    let (aid, pid, stdin, mut stdout) = spawn_member(&m, &capset(&CAPS), &["bench-lsm"])?;
    drop(stdin);
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    let status = wait(pid);
    let _ = libcoconut::sys::revoke_all(aid);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "the agent's benchmark child failed (status {status:#x}): {}",
            out.trim()
        ));
    }
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    all.extend(parse_bench(&lines).figures);
    Ok(all)
}

/// `--agent-child bench-lsm`: inside the agent, print the figures as bench lines.
pub fn child() -> Result<(), String> {
    for f in figures("agent")? {
        println!("{}", f.line());
    }
    Ok(())
}

/// `--bench-bare` (`coconut.bench=bare`, a boot whose `lsm=` leaves coconut out): the two
/// loops as `lsm_*_nolsm`, and the done line.
pub fn bare() -> i32 {
    if let Some(why) = crate::bench::clock_unusable() {
        println!("{}", coconut_qemu::protocol::bench_error_line(&why));
        println!("{BENCH_DONE}");
        return 1;
    }
    let lsms = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if lsms.split(',').any(|l| l.trim() == "coconut") {
        println!(
            "{}",
            coconut_qemu::protocol::bench_error_line(&format!(
                "the coconut LSM is active ({}): the bare boot needs lsm= without it",
                lsms.trim()
            ))
        );
        println!("{BENCH_DONE}");
        return 1;
    }
    let code = match figures("nolsm") {
        Ok(fs) => {
            for f in fs {
                println!("{}", f.line());
            }
            0
        }
        Err(why) => {
            println!("{}", coconut_qemu::protocol::bench_error_line(&why));
            1
        }
    };
    println!("{BENCH_DONE}");
    code
}
