//! On a host that is not Coconut OS, the agent syscalls report `Error::NotCoconut`.
//!
//! Safety of the probe: upstream Linux assigned 463..=471 after 6.12 (the newest,
//! `rseq_slice_yield` = 471, arrived in Linux 7.0), so 472..=479 are unassigned on every
//! kernel up to 7.0 and return ENOSYS without looking at their arguments. On a newer host
//! kernel those numbers may belong to real calls, so the test checks `uname -r` first and does
//! not invoke anything it cannot vouch for; it then says why on stderr and checks only the
//! version parsing.

use libcoconut::abi::{AID_SELF, NR_AGENT_CAP_PRESENT};
use libcoconut::{sys, CapId, Capability, Error};

/// The newest upstream release whose syscall table is known to end below 472.
const NEWEST_KNOWN_SAFE: (u32, u32) = (7, 0);

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn major_minor(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[test]
fn release_parsing() {
    assert_eq!(major_minor("6.18.44-fc-v782"), Some((6, 18)));
    assert_eq!(major_minor("7.0"), Some((7, 0)));
    assert_eq!(major_minor("6.12.117-coconut"), Some((6, 12)));
    assert_eq!(major_minor("garbage"), None);
}

#[test]
fn cap_present_on_a_non_coconut_host_is_not_coconut() {
    let release = kernel_release();
    if release.contains("coconut") {
        eprintln!("host kernel {release:?} is a Coconut kernel: the VM suite covers it; skipped");
        return;
    }
    match major_minor(&release) {
        Some(v) if v <= NEWEST_KNOWN_SAFE => {}
        other => {
            eprintln!(
                "host kernel {release:?} ({other:?}) is newer than Linux {}.{}, where syscall \
                 {NR_AGENT_CAP_PRESENT} may be assigned to an upstream call: not invoking it; skipped",
                NEWEST_KNOWN_SAFE.0, NEWEST_KNOWN_SAFE.1
            );
            return;
        }
    }
    let cap = Capability::unscoped(CapId::AgentSpawn);
    let err = sys::cap_present(libcoconut::AidTarget::from_arg(AID_SELF).unwrap(), &cap)
        .expect_err("a non-Coconut kernel cannot answer agent_cap_present");
    assert_eq!(err, Error::NotCoconut { nr: 477 });
    assert_eq!(
        err.to_string(),
        "this kernel is not Coconut OS (syscall 477 returned ENOSYS)"
    );
    assert!(sys::abi_version().unwrap_err().is_not_coconut());
    assert!(!sys::is_supported());
}
