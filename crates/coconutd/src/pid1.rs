//! The duties of PID 1, and only those: early mounts, the hostname, the final poweroff or
//! reboot, and the emergency shell.
//!
//! Job: [`init`] mounts proc, sys, dev (devtmpfs), devpts, cgroup2, run, tmp and `/agent`
//! (agentfs), sets the hostname from `/etc/hostname`, and turns Ctrl-Alt-Del into SIGINT;
//! [`finish`] syncs, unmounts in reverse order and calls `reboot(2)`; [`emergency`] prints
//! the reason on the console and execs `/bin/sh`. Supervision, reaping and signals are the
//! same code as outside PID 1 (`daemon`).
//!
//! Constraints: PID 1 must never exit or panic (the kernel would panic). A mount that fails is
//! logged with the kernel's error and boot goes on (agentfs may not exist yet); only what
//! cannot be survived ends in [`emergency`], which never returns. This module is not
//! host-tested beyond [`MOUNTS`]: it needs a VM.

use std::ffi::CString;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};
use rustix::system::RebootCommand;

use super::daemon::Exit;

/// One early mount.
#[derive(Debug, Clone, Copy)]
pub struct Mount {
    /// The source (device or a name).
    pub source: &'static str,
    /// The mount point, created if missing.
    pub target: &'static str,
    /// The file system type.
    pub fstype: &'static str,
    /// `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC` as booleans.
    pub nosuid: bool,
    /// See `nosuid`.
    pub nodev: bool,
    /// See `nosuid`.
    pub noexec: bool,
    /// File system options.
    pub data: &'static str,
}

const fn m(
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: (bool, bool, bool),
    data: &'static str,
) -> Mount {
    Mount {
        source,
        target,
        fstype,
        nosuid: flags.0,
        nodev: flags.1,
        noexec: flags.2,
        data,
    }
}

/// The early mounts, in order (unmounted in reverse).
pub const MOUNTS: [Mount; 8] = [
    m("proc", "/proc", "proc", (true, true, true), ""),
    m("sysfs", "/sys", "sysfs", (true, true, true), ""),
    m(
        "devtmpfs",
        "/dev",
        "devtmpfs",
        (true, false, false),
        "mode=0755",
    ),
    m(
        "devpts",
        "/dev/pts",
        "devpts",
        (true, false, true),
        "gid=5,mode=0620,ptmxmode=0666",
    ),
    m(
        "cgroup2",
        "/sys/fs/cgroup",
        "cgroup2",
        (true, true, true),
        "",
    ),
    m("tmpfs", "/run", "tmpfs", (true, true, false), "mode=0755"),
    m("tmpfs", "/tmp", "tmpfs", (true, true, false), "mode=1777"),
    m("agentfs", "/agent", "agentfs", (true, true, true), ""),
];

fn log(msg: &str) {
    eprintln!("coconutd: {msg}");
}

/// Mounts, hostname, Ctrl-Alt-Del. Every failure is logged and boot goes on.
pub fn init() {
    for mt in MOUNTS {
        if let Err(e) = std::fs::create_dir_all(mt.target) {
            log(&format!("mkdir {}: {e}", mt.target));
        }
        let mut flags = MountFlags::empty();
        if mt.nosuid {
            flags |= MountFlags::NOSUID;
        }
        if mt.nodev {
            flags |= MountFlags::NODEV;
        }
        if mt.noexec {
            flags |= MountFlags::NOEXEC;
        }
        let data = CString::new(mt.data).unwrap_or_default();
        match rustix::mount::mount(mt.source, mt.target, mt.fstype, flags, data.as_c_str()) {
            Ok(()) => {}
            Err(rustix::io::Errno::BUSY) => log(&format!("{} is already mounted", mt.target)),
            Err(e) => log(&format!(
                "mount {} on {}: {e} (errno {}); going on without it",
                mt.fstype,
                mt.target,
                e.raw_os_error()
            )),
        }
    }
    match std::fs::read_to_string("/etc/hostname") {
        Ok(h) => {
            let h = h.trim();
            if !h.is_empty() {
                if let Err(e) = rustix::system::sethostname(h.as_bytes()) {
                    log(&format!("sethostname {h:?}: {e}"));
                }
            }
        }
        Err(e) => log(&format!(
            "/etc/hostname: {e}; hostname left as the kernel set it"
        )),
    }
    // Ctrl-Alt-Del sends SIGINT to PID 1 (an orderly reboot) instead of rebooting at once.
    if let Err(e) = rustix::system::reboot(RebootCommand::CadOff) {
        log(&format!("reboot(CAD_OFF): {e}"));
    }
}

/// Syncs, unmounts (reverse order, lazily: processes may still hold files) and reboots or
/// powers off. Never returns; if `reboot(2)` fails, [`emergency`]. By then the daemon has
/// drained the audit chain to disk and sealed its final checkpoint
/// ([`super::persister::Persister::shutdown`]), while `/agent` and `/var` were still mounted.
pub fn finish(exit: Exit) -> ! {
    rustix::fs::sync();
    for mt in MOUNTS.iter().rev() {
        if Path::new(mt.target).exists() {
            let _ = rustix::mount::unmount(mt.target, UnmountFlags::DETACH);
        }
    }
    rustix::fs::sync();
    let cmd = match exit {
        Exit::Poweroff => RebootCommand::PowerOff,
        Exit::Reboot => RebootCommand::Restart,
    };
    match rustix::system::reboot(cmd) {
        Ok(()) => emergency("reboot(2) returned without rebooting"),
        Err(e) => emergency(&format!("reboot(2) failed: {e}")),
    }
}

/// Prints `reason` and execs `/bin/sh` on the console; if that fails, stays alive reaping
/// children. Never returns, never panics.
pub fn emergency(reason: &str) -> ! {
    eprintln!("coconutd: FATAL: {reason}");
    eprintln!("coconutd: starting an emergency shell (/bin/sh); fix the cause and reboot");
    let sh = c"/bin/sh";
    let argv = [sh.as_ptr(), std::ptr::null()];
    // SAFETY: `sh` and `argv` are NUL-terminated and live for the call; execv only returns
    // on failure.
    unsafe { libc::execv(sh.as_ptr(), argv.as_ptr()) };
    eprintln!(
        "coconutd: cannot exec /bin/sh: {}; idling (PID 1 must not exit)",
        std::io::Error::last_os_error()
    );
    loop {
        let _ = rustix::process::wait(rustix::process::WaitOptions::empty());
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_cover_the_issue_list_and_parents_come_first() {
        let targets: Vec<&str> = MOUNTS.iter().map(|m| m.target).collect();
        for t in [
            "/proc",
            "/sys",
            "/dev",
            "/dev/pts",
            "/sys/fs/cgroup",
            "/run",
            "/tmp",
            "/agent",
        ] {
            assert!(targets.contains(&t), "{t}");
        }
        for (i, t) in targets.iter().enumerate() {
            for later in &targets[i + 1..] {
                assert!(
                    !t.starts_with(&format!("{later}/")),
                    "{later} must precede {t}"
                );
            }
        }
    }
}
