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
    let file =
        std::fs::File::open("/proc/config.gz").map_err(|e| format!("/proc/config.gz: {e}"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("gunzip config: {e}"))?;
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
