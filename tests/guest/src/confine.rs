//! The coconut LSM beyond opens and execs: changes to names (create, `O_CREAT`, mkdir,
//! symlink, unlink, rename, link, truncate, chmod) need `fs.write` on the name; a rename or link
//! that would give the file more access by its new name answers `EXDEV`; executable file
//! mappings (`mmap`, `mprotect`) need `fs.exec`; IP connects, datagrams to an address and binds
//! need `net.connect` / `net.bind` covering `ip:port`. Each denial is an `EACCES` with its
//! `cap_deny` row, and leaves the files as they were.

use std::ffi::CString;

use libcoconut::audit::AuditRow;
use libcoconut::sys;

use coconut_abi::AuditKind;

use crate::agents::{capset, manifest, root_key, rows_about, spawn_member, wait};
use crate::Test;

/// This module's tests.
pub fn tests() -> Vec<Test> {
    vec![Test::new(
        "confine::names_mappings_and_sockets_need_their_capabilities",
        names_mappings_sockets,
    )]
}

const DIR: &str = "/tmp/cf";

/// What the confined agent holds.
const CAPS: [&str; 4] = [
    "fs.read:/tmp/cf/*",
    "fs.write:/tmp/cf/w/*",
    "fs.exec:/tmp/cf/w/x/*",
    "net.connect:127.0.0.1:7*",
];

fn names_mappings_sockets() -> Result<(), String> {
    let _ = std::fs::remove_dir_all(DIR);
    for d in [DIR, "/tmp/cf/w", "/tmp/cf/w/x"] {
        std::fs::create_dir_all(d).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    for (f, body) in [
        ("/tmp/cf/victim", &b"v"[..]),
        ("/tmp/cf/lib", &[0u8; 4096][..]),
        ("/tmp/cf/w/x/lib", &[0u8; 4096][..]),
    ] {
        std::fs::write(f, body).map_err(|e| format!("write {f}: {e}"))?;
    }
    let m = manifest("confine", &CAPS, &[], &root_key());
    let (aid, pid, stdin, _stdout) = spawn_member(&m, &capset(&CAPS), &["confine"])?;
    drop(stdin);
    let status = wait(pid);
    let _ = sys::revoke_all(aid);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "the confined child failed (status {status:#x}; its stderr is on the console)"
        ));
    }
    // Nothing refused happened.
    for gone in [
        "/tmp/cf/new",
        "/tmp/cf/d",
        "/tmp/cf/s",
        "/tmp/cf/w/l",
        "/tmp/cf/w/x/a",
    ] {
        if std::fs::symlink_metadata(gone).is_ok() {
            return Err(format!("{gone} exists: a refused change happened"));
        }
    }
    let victim = std::fs::read("/tmp/cf/victim").map_err(|e| format!("victim: {e}"))?;
    if victim != b"v" {
        return Err(format!("/tmp/cf/victim changed: {victim:?}"));
    }
    // The allowed changes did.
    if std::fs::read("/tmp/cf/w/b").map_err(|e| format!("/tmp/cf/w/b: {e}"))? != b"ok" {
        return Err("/tmp/cf/w/b does not hold what the agent wrote".into());
    }
    let rows: Vec<AuditRow> = rows_about(aid.get())?;
    let denied: Vec<&str> = rows
        .iter()
        .filter(|r| r.header.kind == AuditKind::CapDeny)
        .map(|r| r.detail.as_str())
        .collect();
    for want in [
        "cap=fs.write:/tmp/cf/new",
        "cap=fs.write:/tmp/cf/d",
        "cap=fs.write:/tmp/cf/victim",
        "cap=fs.exec:/tmp/cf/lib",
        "cap=net.connect:127.0.0.1:9",
        "cap=net.bind:127.0.0.1:0",
    ] {
        if !denied.contains(&want) {
            return Err(format!("no `{want}` row; cap_deny rows: {denied:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(DIR);
    Ok(())
}

fn c(path: &str) -> CString {
    CString::new(path).expect("test path")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `r` (a libc return value) failed with `want`.
fn expect(what: &str, r: i64, want: i32) -> Result<(), String> {
    if r >= 0 {
        return Err(format!("{what}: succeeded, want errno {want}"));
    }
    let got = errno();
    if got != want {
        return Err(format!("{what}: errno {got}, want {want}"));
    }
    Ok(())
}

/// `r` succeeded.
fn expect_ok(what: &str, r: i64) -> Result<(), String> {
    if r < 0 {
        return Err(format!("{what}: errno {}", errno()));
    }
    Ok(())
}

/// `r` was not refused by the LSM (any answer but `EACCES`).
fn not_refused(what: &str, r: i64) -> Result<(), String> {
    if r < 0 && errno() == libc::EACCES {
        return Err(format!("{what}: EACCES, but the capability covers it"));
    }
    Ok(())
}

fn sockaddr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// One byte from `fd` to 127.0.0.1:`port`; sendto's return value.
fn send_to(fd: i32, port: u16) -> i64 {
    let addr = sockaddr(port);
    // SAFETY: a one-byte buffer and a socket address of the length passed, both live for the
    // call.
    let r = unsafe {
        libc::sendto(
            fd,
            b"x".as_ptr().cast(),
            1,
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            SIN_LEN,
        )
    };
    r as i64
}

const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// `--agent-child confine`: inside the agent holding [`CAPS`].
pub fn child() -> Result<(), String> {
    let eacces = libc::EACCES;
    // SAFETY: plain system calls on NUL-terminated paths that live for each call, fds this
    // function owns, mappings it unmaps, and socket addresses of the length passed.
    unsafe {
        // Names outside fs.write: nothing is created, removed, renamed or changed.
        let new = c("/tmp/cf/new");
        let r = libc::open(new.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        expect("O_CREAT outside fs.write", r.into(), eacces)?;
        let r = libc::open(new.as_ptr(), libc::O_CREAT | libc::O_RDONLY, 0o600);
        expect("O_CREAT|O_RDONLY outside fs.write", r.into(), eacces)?;
        expect(
            "mkdir",
            libc::mkdir(c("/tmp/cf/d").as_ptr(), 0o700).into(),
            eacces,
        )?;
        let (victim, link) = (c("/tmp/cf/victim"), c("/tmp/cf/s"));
        expect(
            "symlink",
            libc::symlink(victim.as_ptr(), link.as_ptr()).into(),
            eacces,
        )?;
        expect("unlink", libc::unlink(victim.as_ptr()).into(), eacces)?;
        let moved = c("/tmp/cf/w/v");
        expect(
            "rename out",
            libc::rename(victim.as_ptr(), moved.as_ptr()).into(),
            eacces,
        )?;
        let hard = c("/tmp/cf/w/l");
        expect(
            "link",
            libc::link(victim.as_ptr(), hard.as_ptr()).into(),
            eacces,
        )?;
        expect(
            "truncate",
            libc::truncate(victim.as_ptr(), 0).into(),
            eacces,
        )?;
        expect("chmod", libc::chmod(victim.as_ptr(), 0o777).into(), eacces)?;
        // Inside fs.write: create, write, rename, remove.
        let (a, b) = (c("/tmp/cf/w/a"), c("/tmp/cf/w/b"));
        let fd = libc::open(a.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        expect_ok("O_CREAT inside fs.write", fd.into())?;
        expect_ok("write", libc::write(fd, b"ok".as_ptr().cast(), 2) as i64)?;
        libc::close(fd);
        expect_ok("rename inside", libc::rename(a.as_ptr(), b.as_ptr()).into())?;
        let tmp = c("/tmp/cf/w/t");
        let fd = libc::open(tmp.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o600);
        expect_ok("O_CREAT", fd.into())?;
        libc::close(fd);
        // The new name would add fs.exec: EXDEV (copy and delete instead), no row.
        let x = c("/tmp/cf/w/x/a");
        expect(
            "rename gaining exec",
            libc::rename(tmp.as_ptr(), x.as_ptr()).into(),
            libc::EXDEV,
        )?;
        expect(
            "link gaining exec",
            libc::link(tmp.as_ptr(), x.as_ptr()).into(),
            libc::EXDEV,
        )?;
        expect_ok("unlink inside", libc::unlink(tmp.as_ptr()).into())?;
        // Executable mappings need fs.exec.
        let lib = libc::open(c("/tmp/cf/lib").as_ptr(), libc::O_RDONLY);
        expect_ok("open lib", lib.into())?;
        let exec = libc::PROT_READ | libc::PROT_EXEC;
        let p = libc::mmap(std::ptr::null_mut(), 4096, exec, libc::MAP_PRIVATE, lib, 0);
        if p != libc::MAP_FAILED || errno() != eacces {
            return Err(format!(
                "mmap PROT_EXEC without fs.exec: {p:?} errno {}",
                errno()
            ));
        }
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            lib,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(format!("mmap PROT_READ: errno {}", errno()));
        }
        expect(
            "mprotect PROT_EXEC",
            libc::mprotect(p, 4096, exec).into(),
            eacces,
        )?;
        libc::munmap(p, 4096);
        libc::close(lib);
        let xlib = libc::open(c("/tmp/cf/w/x/lib").as_ptr(), libc::O_RDONLY);
        expect_ok("open x/lib", xlib.into())?;
        let p = libc::mmap(std::ptr::null_mut(), 4096, exec, libc::MAP_PRIVATE, xlib, 0);
        if p == libc::MAP_FAILED {
            return Err(format!("mmap PROT_EXEC under fs.exec: errno {}", errno()));
        }
        libc::munmap(p, 4096);
        libc::close(xlib);
        // Sockets: connect, datagrams and bind need net.connect / net.bind.
        let tcp = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        expect_ok("socket", tcp.into())?;
        let to = |port| sockaddr(port);
        let addr = to(9);
        let r = libc::connect(tcp, (&addr as *const libc::sockaddr_in).cast(), SIN_LEN);
        expect("connect outside net.connect", r.into(), eacces)?;
        let addr = to(7777);
        let r = libc::connect(tcp, (&addr as *const libc::sockaddr_in).cast(), SIN_LEN);
        not_refused("connect under net.connect", r.into())?;
        libc::close(tcp);
        let udp = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        expect_ok("socket", udp.into())?;
        let addr = to(0);
        let r = libc::bind(udp, (&addr as *const libc::sockaddr_in).cast(), SIN_LEN);
        expect("bind without net.bind", r.into(), eacces)?;
        expect("sendto outside net.connect", send_to(udp, 9), eacces)?;
        not_refused("sendto under net.connect", send_to(udp, 7000))?;
        libc::close(udp);
    }
    Ok(())
}
