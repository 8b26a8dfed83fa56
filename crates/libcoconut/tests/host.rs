//! libcoconut on the machine that runs `cargo test`: the agent syscalls answer what this host's
//! kernel implies, and every branch asserts (none is skipped and counted as a pass).
//!
//! - A Coconut kernel (`uname -r` contains "coconut") speaks the ABI: `abi_version()` is
//!   `AGENT_ABI_VERSION`.
//! - Any other kernel up to Linux 7.0 reports `Error::NotCoconut`. Upstream assigned 463..=471
//!   after 6.12 (the newest, `rseq_slice_yield` = 471, arrived in Linux 7.0), so 472..=479 are
//!   unassigned there and return ENOSYS without looking at their arguments.
//! - On a newer kernel those numbers may belong to real upstream calls, which this test must
//!   not invoke with made-up arguments: it fails and says how to vouch for the new release
//!   (check its `arch/x86/entry/syscalls/syscall_64.tbl`, then raise `NEWEST_KNOWN_SAFE`).
//!
//! The VM tier runs the same wrappers against the Coconut kernel (`tests/guest`).

use libcoconut::abi::{AGENT_ABI_VERSION, AID_SELF, NR_AGENT_CAP_PRESENT};
use libcoconut::{sys, AidTarget, CapId, Capability, Error};

/// The newest upstream release whose syscall table is known to end below 472.
const NEWEST_KNOWN_SAFE: (u32, u32) = (7, 0);

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .expect("read /proc/sys/kernel/osrelease (the tests need Linux with /proc)")
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
fn agent_syscalls_answer_what_the_host_kernel_implies() {
    let release = kernel_release();
    let version = major_minor(&release);
    if release.contains("coconut") {
        assert_eq!(sys::abi_version(), Ok(AGENT_ABI_VERSION), "on {release}");
        assert!(sys::is_supported());
        return;
    }
    assert!(
        version.is_some_and(|v| v <= NEWEST_KNOWN_SAFE),
        "host kernel {release:?} is newer than Linux {}.{}: syscall {NR_AGENT_CAP_PRESENT} may \
         be an upstream call there, so this test will not invoke it. Check that release's \
         arch/x86/entry/syscalls/syscall_64.tbl ends below 472, then raise NEWEST_KNOWN_SAFE \
         in {}",
        NEWEST_KNOWN_SAFE.0,
        NEWEST_KNOWN_SAFE.1,
        file!()
    );
    let cap = Capability::unscoped(CapId::AgentSpawn);
    let target = AidTarget::from_arg(AID_SELF).expect("AID_SELF is a valid target");
    let err = sys::cap_present(target, &cap)
        .expect_err("a non-Coconut kernel cannot answer agent_cap_present");
    assert_eq!(err, Error::NotCoconut { nr: 477 });
    assert_eq!(
        err.to_string(),
        "this kernel is not Coconut OS (syscall 477 returned ENOSYS)"
    );
    assert!(sys::abi_version().unwrap_err().is_not_coconut());
    assert!(!sys::is_supported());
}
