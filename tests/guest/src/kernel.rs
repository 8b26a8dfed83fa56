//! The kernel is our fork: its release string, its configuration, and the agent core's boot line.

use std::io::Read;

use crate::Test;

/// Tests of the kernel's identity.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("kernel::release_is_coconut", release_is_coconut),
        Test::new(
            "kernel::config_has_rust_and_agents",
            config_has_rust_and_agents,
        ),
        Test::new(
            "kernel::agent_rust_core_initialised",
            agent_rust_core_initialised,
        ),
    ]
}

/// The last test of the run: nothing the tests did made the kernel warn.
pub fn final_tests() -> Vec<Test> {
    vec![Test::new("kernel::log_has_no_splat", log_has_no_splat)]
}

/// What the kernel prints when it finds a bug of its own: oopses, BUG and WARN, KASAN and
/// UBSAN reports, lockdep, sleeping in atomic context, hung tasks and RCU stalls.
const SPLATS: [&str; 14] = [
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection fault",
    "KASAN",
    "UBSAN",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "sleeping function called from invalid context",
    "blocked for more than",
    "rcu_sched self-detected stall",
    "Kernel panic",
];

/// The kernel log names no [`SPLATS`] line; with kmemleak (the `debug` kernel) a scan finds
/// no leaked object allocated by the agent subsystem, the audit chain or the LSM.
fn log_has_no_splat() -> Result<(), String> {
    let log = kernel_log()?;
    let splats: Vec<&str> = log
        .lines()
        .filter(|l| SPLATS.iter().any(|s| l.contains(s)))
        .take(8)
        .collect();
    if !splats.is_empty() {
        return Err(format!("the kernel log has: {}", splats.join(" | ")));
    }
    leaks()
}

/// kmemleak's verdict, when this kernel has it: unreferenced objects whose allocation
/// backtrace passes through our code (`coconut`/`agent` symbols). Others are counted only
/// (early-boot allocations of upstream code are known false positives).
fn leaks() -> Result<(), String> {
    let dir = "/sys/kernel/debug";
    if !std::path::Path::new("/sys/kernel/debug/kmemleak").exists() {
        // SAFETY: mount(2) with valid NUL-terminated strings.
        unsafe {
            libc::mount(
                c"debugfs".as_ptr(),
                c"/sys/kernel/debug".as_ptr(),
                c"debugfs".as_ptr(),
                0,
                std::ptr::null(),
            );
        }
    }
    let path = format!("{dir}/kmemleak");
    if !std::path::Path::new(&path).exists() {
        return Ok(()); // no kmemleak in this kernel
    }
    // kmemleak reports an object only once it is older than 5 s and a scan found no pointer
    // to it: wait, then scan twice (the second confirms).
    std::thread::sleep(std::time::Duration::from_secs(6));
    for _ in 0..2 {
        std::fs::write(&path, "scan").map_err(|e| format!("{path}: scan: {e}"))?;
    }
    let report = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let objects: Vec<&str> = report.split("unreferenced object").skip(1).collect();
    let ours: Vec<&str> = objects
        .iter()
        .copied()
        .filter(|o| o.contains("coconut") || o.contains("agent_"))
        .collect();
    println!(
        "coconut-kmemleak: {} unreferenced objects, {} allocated through the agent subsystem",
        objects.len(),
        ours.len()
    );
    match ours.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "kmemleak: {} leaked objects allocated through our code; the first: {}",
            ours.len(),
            first.lines().take(12).collect::<Vec<_>>().join(" | ")
        )),
    }
}

/// `uname -r` is `6.12.N-coconut…`.
fn release_is_coconut() -> Result<(), String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("osrelease: {e}"))?;
    let release = release.trim();
    let mut parts = release.splitn(3, '.');
    let ok = parts.next() == Some("6")
        && parts.next() == Some("12")
        && parts.next().is_some_and(|rest| {
            let (sublevel, local) = rest.split_at(
                rest.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len()),
            );
            !sublevel.is_empty() && local.starts_with("-coconut")
        });
    if ok {
        Ok(())
    } else {
        Err(format!("release is `{release}`, expected 6.12.N-coconut…"))
    }
}

/// `/proc/config.gz` exists and says `CONFIG_RUST=y` and `CONFIG_COCONUT_AGENT=y`.
fn config_has_rust_and_agents() -> Result<(), String> {
    let text = config()?;
    for wanted in [
        "CONFIG_RUST=y",
        "CONFIG_COCONUT_AGENT=y",
        "CONFIG_SECURITY_LANDLOCK=y",
    ] {
        if !text.lines().any(|l| l == wanted) {
            return Err(format!("/proc/config.gz lacks `{wanted}`"));
        }
    }
    Ok(())
}

/// The running kernel's configuration (`/proc/config.gz`, unpacked).
pub fn config() -> Result<String, String> {
    let file =
        std::fs::File::open("/proc/config.gz").map_err(|e| format!("/proc/config.gz: {e}"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("gunzip config: {e}"))?;
    Ok(text)
}

/// The kernel log holds the line the Rust core prints when it initialises.
fn agent_rust_core_initialised() -> Result<(), String> {
    let log = kernel_log()?;
    let wanted = "coconut_agent: Rust core initialised";
    if log.lines().any(|l| l.contains(wanted)) {
        Ok(())
    } else {
        let related: Vec<&str> = log.lines().filter(|l| l.contains("coconut")).collect();
        Err(format!(
            "no `{wanted}` in the kernel log; coconut lines: {related:?}"
        ))
    }
}

/// The whole kernel ring buffer (`dmesg`).
pub fn kernel_log() -> Result<String, String> {
    const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
    const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;
    // SAFETY: SIZE_BUFFER ignores the buffer arguments.
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    if size <= 0 {
        return Err(format!("klogctl(SIZE_BUFFER) = {size}"));
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: `buf` is valid for writes of `size` bytes for the duration of the call.
    let n = unsafe { libc::klogctl(SYSLOG_ACTION_READ_ALL, buf.as_mut_ptr().cast(), size) };
    if n < 0 {
        return Err(format!(
            "klogctl(READ_ALL): {}",
            std::io::Error::last_os_error()
        ));
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
