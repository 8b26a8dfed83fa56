// SPDX-License-Identifier: GPL-2.0-only

//! Coconut OS agent subsystem: the Rust core behind the eight agent system calls (472–479).
//!
//! Called from the system call glue in `agent.c`, in process context, with the caller's user
//! addresses as plain integers: this file never dereferences them. Byte copies go through the
//! kernel crate's `UserSlice`; size-versioned structs through the one C helper declared in
//! `agent.h`, because `copy_struct_from_user()` is inline C and 6.12's `kernel` crate has no
//! equivalent. A struct is copied only into a type that is `FromBytes` (any bytes are a valid
//! value), which the ABI structs are, as the `unsafe impl`s below state.
//!
//! The argument checks and their order are those of the shared `coconut_abi` crate, the very
//! source files of `crates/coconut-abi` laid under `shared/` by `cargo xtask kernel`, so the
//! kernel and user space cannot disagree on an errno. `docs/abi.md` is the contract.
//!
//! Status: every call runs all of its pure checks and the copies they need. `agent_audit_query`
//! is served by the audit chain (`kernel/audit/coconut`); the other calls answer `-EOPNOTSUPP`
//! for a valid request they cannot serve yet, except `agent_attest(0, NULL, 0,
//! AGENT_ATTEST_ABI_VERSION)`, which reports the ABI version. Each call whose "Audit row"
//! section in `docs/abi.md` names a row reserves a staging slot before it decides anything and
//! seals the row after (a:00000 as actor and subject until agents exist). Nothing here pretends
//! to spawn or grant.
//!
//! Constraints: no allocation yet, no panics on user input, a safety comment on every
//! `unsafe` block. Every errno returned is an `Errno` of the ABI crate, and a compile-time
//! assertion below pins each to the kernel's own value.

use core::ffi::{c_int, c_long, c_ulong, c_void};

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::FromBytes;
use kernel::uaccess::UserSlice;

// The shared no_std crates, compiled from the workspace's own source files (kernel/kernel.toml
// lists them; `cargo xtask kernel` lays them under shared/). They are siblings here, which is
// why they name each other as `super::<crate>` under `cfg(CONFIG_RUST)`.
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_abi/lib.rs"]
pub mod coconut_abi;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_audit/lib.rs"]
pub mod coconut_audit;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_blake3/lib.rs"]
pub mod coconut_blake3;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_caps/lib.rs"]
pub mod coconut_caps;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_cbor/lib.rs"]
pub mod coconut_cbor;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_ed25519/lib.rs"]
pub mod coconut_ed25519;
#[allow(clippy::all, unreachable_pub)]
#[path = "shared/coconut_manifest/lib.rs"]
pub mod coconut_manifest;

use core::fmt::Write as _;

use coconut_abi::limits::{AGENT_ABI_VERSION, AGENT_SCOPE_MAX};
use coconut_abi::{
    check_attest, validate_audit_query, validate_cap_call, validate_memory_tier, validate_quota,
    validate_spawn, validate_unscoped_cap_call, AgentAuditFilter, AgentBudget, AgentMemRequest,
    AgentSpawnArgs, AttestRequest, AuditKind, CapCall, CapId, Errno, AGENT_AUDIT_SUBTREE,
    AGENT_QUOTA_CHARGE, AGENT_QUOTA_SET, ERRNO_TABLE, NR_AGENT_MEMORY_TIER, NR_AGENT_SPAWN,
};
use coconut_audit::DetailBuf;

/// The prefix of this object's kernel log lines (`pr_info!` reads `crate::__LOG_PREFIX`).
const __LOG_PREFIX: &[u8] = b"coconut_agent\0";

/// Asserts at compile time that each errno of the ABI crate is the kernel's value, and that
/// the list names as many errnos as `ERRNO_TABLE` holds.
macro_rules! errnos_are_the_kernel_s {
    ($($name:ident),* $(,)?) => {
        $(const _: () = assert!(Errno::$name.get() == bindings::$name as i32);)*
        const _: () = assert!([$(Errno::$name),*].len() == ERRNO_TABLE.len());
    };
}

// Every errno in `coconut_abi::ERRNO_TABLE` (coconut-abi's tests check the names against it).
errnos_are_the_kernel_s!(
    EPERM,
    ENOENT,
    ESRCH,
    E2BIG,
    EBADF,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    ENODEV,
    EINVAL,
    ERANGE,
    ENOSYS,
    EOPNOTSUPP,
    EDQUOT,
    EKEYREJECTED,
);

// SAFETY: `AgentSpawnArgs` is a `#[repr(C)]` struct of `u64`, `i32` and `u32` fields without
// padding (coconut-abi asserts its layout); every bit pattern is a valid value and it has no
// interior mutability.
unsafe impl FromBytes for AgentSpawnArgs {}
// SAFETY: `AgentBudget` is a `#[repr(C)]` struct of four `u64` fields (layout asserted by
// coconut-abi); every bit pattern is valid and it has no interior mutability.
unsafe impl FromBytes for AgentBudget {}
// SAFETY: `AgentAuditFilter` is a `#[repr(C)]` struct of five `u64` fields (layout asserted by
// coconut-abi); every bit pattern is valid and it has no interior mutability.
unsafe impl FromBytes for AgentAuditFilter {}
// SAFETY: `AgentMemRequest` is a `#[repr(C)]` struct of `u64` and `u32` fields without padding
// (layout asserted by coconut-abi); every bit pattern is valid and it has no interior
// mutability.
unsafe impl FromBytes for AgentMemRequest {}

// The audit chain (kernel/audit/coconut, <linux/coconut_audit.h>).
extern "C" {
    fn coconut_audit_reserve() -> c_int;
    fn coconut_audit_cancel();
    fn coconut_audit_commit(
        kind: u32,
        actor: u64,
        subject: u64,
        result: c_int,
        detail: *const u8,
        detail_len: usize,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn coconut_audit_query(
        from_seq: u64,
        to_seq: u64,
        aid: u64,
        kinds: u64,
        subtree: bool,
        caller: u64,
        read_all: bool,
        ubuf: c_ulong,
        bufsize: usize,
        rows: *mut u64,
    ) -> c_long;
    fn coconut_audit_may_read_all() -> bool;
}

/// The caller's agent. Every task is in a:00000 until `agent_spawn` places tasks in agents.
const CALLER_AGENT: u64 = 0;

/// A staging slot of the audit chain, reserved before a call decides anything, so that the
/// row of whatever it decides cannot be lost (`docs/formats/audit.md`, "Appending"). Dropped
/// without [`Reservation::seal`], it is given back.
struct Reservation(());

impl Reservation {
    /// Reserves a slot, waiting (killable) while the staging ring is full: `-EINTR` if a fatal
    /// signal ends the wait, before anything was decided.
    fn take() -> Result<Reservation, c_long> {
        // SAFETY: process context (a system call); no lock held.
        match unsafe { coconut_audit_reserve() } {
            0 => Ok(Reservation(())),
            err => Err(c_long::from(err)),
        }
    }

    /// Seals the call's row: `kind`, the call's return value (a negative one is the row's
    /// `-errno`, anything else is recorded as 0), the detail.
    fn seal(self, kind: AuditKind, subject: u64, ret: c_long, detail: &str) {
        let result = if ret < 0 {
            c_int::try_from(ret).unwrap_or(-(bindings::EINVAL as c_int))
        } else {
            0
        };
        core::mem::forget(self);
        // SAFETY: `self` was a reservation (now consumed); `detail` is valid for the call.
        let err = unsafe {
            coconut_audit_commit(
                kind as u32,
                CALLER_AGENT,
                subject,
                result,
                detail.as_ptr(),
                detail.len(),
            )
        };
        if err != 0 {
            pr_err!("audit commit refused ({}): kind {}\n", err, kind as u32);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: gives back the reservation this value stands for.
        unsafe { coconut_audit_cancel() };
    }
}

/// Runs a call under a reservation and seals its row: `-EINTR` if no slot could be reserved.
fn audited(kind: AuditKind, detail: &str, call: impl FnOnce() -> c_long) -> c_long {
    let reservation = match Reservation::take() {
        Ok(r) => r,
        Err(e) => return e,
    };
    let ret = call();
    reservation.seal(kind, CALLER_AGENT, ret, detail);
    ret
}

extern "C" {
    fn coconut_agent_copy_struct(
        dst: *mut c_void,
        ksize: usize,
        usrc: c_ulong,
        usize: usize,
    ) -> c_int;
}

/// A `-errno` return value.
fn neg(e: Errno) -> c_long {
    -(e.get() as c_long)
}

/// The return value of a check pipeline: `ok` on success, `-errno` otherwise.
fn ret<T>(result: Result<T, Errno>, ok: impl FnOnce(T) -> c_long) -> c_long {
    match result {
        Ok(value) => ok(value),
        Err(e) => neg(e),
    }
}

/// Maps a negative errno from the C helpers back to an [`Errno`] (`EFAULT` if unknown).
fn from_c(err: c_int) -> Errno {
    Errno::from_raw(err.saturating_neg()).unwrap_or(Errno::EFAULT)
}

/// Copies a size-versioned struct of `size` user bytes at `usrc` (copy_struct_from_user
/// semantics: zero-filled when shorter, `E2BIG` for non-zero unknown trailing bytes).
fn copy_struct<T: FromBytes + Default>(usrc: c_ulong, size: usize) -> Result<T, Errno> {
    let mut value = T::default();
    // SAFETY: `value` is a valid, writable `T` of `size_of::<T>()` bytes for the duration of
    // the call, and `T: FromBytes`, so whatever bytes the helper writes make a valid `T`.
    // `usrc` is only passed on to the C helper, which reads it as a user address with uaccess
    // checks.
    let err = unsafe {
        coconut_agent_copy_struct(
            (&mut value as *mut T).cast::<c_void>(),
            core::mem::size_of::<T>(),
            usrc,
            size,
        )
    };
    if err != 0 {
        return Err(from_c(err));
    }
    Ok(value)
}

/// Copies exactly `dst.len()` user bytes at `usrc` into `dst` (`EFAULT` on a fault).
fn copy_bytes(dst: &mut [u8], usrc: c_ulong) -> Result<(), Errno> {
    // A user address fits `usize` on the 64-bit kernels this subsystem builds for.
    let uptr = usize::try_from(usrc).map_err(|_| Errno::EFAULT)?;
    UserSlice::new(uptr, dst.len())
        .reader()
        .read_slice(dst)
        .map_err(|e| from_c(e.to_errno()))
}

/// `-ELIBBAD`: the return value of a failed boot self-test.
const ELIBBAD: c_long = -(bindings::ELIBBAD as c_long);

/// BLAKE3("abc"), from the reference implementation: the known answer of the boot self-test.
const BLAKE3_ABC: [u8; 32] = [
    0x64, 0x37, 0xb3, 0xac, 0x38, 0x46, 0x51, 0x33, 0xff, 0xb6, 0x3b, 0x75, 0x27, 0x3a, 0x8d, 0xb5,
    0x48, 0xc5, 0x58, 0x46, 0x5d, 0x79, 0xdb, 0x03, 0xfd, 0x35, 0x9c, 0x6c, 0xd5, 0xbd, 0x9d, 0x85,
];

/// RFC 8032 section 7.1, TEST 1: the public key.
const ED25519_TEST1_KEY: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

/// RFC 8032 section 7.1, TEST 1: the signature of the empty message.
const ED25519_TEST1_SIG: [u8; 64] = [
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a,
    0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55,
    0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b,
    0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b,
];

/// Called once at boot (late_initcall) by `agent.c`. Runs the known-answer self-tests of the
/// shared core, as the kernel's crypto manager does for its algorithms, then returns 0, or
/// `-ELIBBAD` if a self-test fails; the glue logs that. (Nothing hashes yet; once the audit
/// chain does, a failed self-test will keep the agent syscalls disabled.)
#[no_mangle]
pub extern "C" fn coconut_agent_init() -> c_long {
    if coconut_blake3::hash(b"abc") != BLAKE3_ABC {
        pr_err!("BLAKE3 known-answer self-test failed\n");
        return ELIBBAD;
    }
    if coconut_ed25519::verify(&ED25519_TEST1_KEY, b"", &ED25519_TEST1_SIG).is_err() {
        pr_err!("Ed25519 known-answer self-test failed (RFC 8032 TEST 1)\n");
        return ELIBBAD;
    }
    let mut flipped = ED25519_TEST1_SIG;
    flipped[0] ^= 1;
    if coconut_ed25519::verify(&ED25519_TEST1_KEY, b"", &flipped).is_ok() {
        pr_err!("Ed25519 self-test accepted a corrupted signature\n");
        return ELIBBAD;
    }
    pr_info!(
        "Rust core initialised (ABI v{}, syscalls {}-{}, BLAKE3 and Ed25519 self-tests passed; agent_audit_query served, other valid calls answer EOPNOTSUPP)\n",
        AGENT_ABI_VERSION,
        NR_AGENT_SPAWN,
        NR_AGENT_MEMORY_TIER
    );
    0
}

/// `agent_spawn(args, size)`.
#[no_mangle]
pub extern "C" fn coconut_agent_spawn(uargs: c_ulong, size: usize) -> c_long {
    // Sealed whether the call succeeds or fails; no field of the detail is known yet.
    audited(AuditKind::Spawn, "", || {
        let checked = validate_spawn(uargs == 0, size, || {
            copy_struct::<AgentSpawnArgs>(uargs, size)
        });
        ret(checked, |_args| {
            // Next stages (manifest copy and decode, signature, AID allocation, LSM, lane)
            // arrive with the agent subsystem.
            neg(Errno::EOPNOTSUPP)
        })
    })
}

/// `agent_attest(aid, buf, size, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_attest(aid: u64, ubuf: c_ulong, size: usize, flags: u32) -> c_long {
    ret(check_attest(aid, ubuf == 0, size, flags), |req| match req {
        AttestRequest::AbiVersion => AGENT_ABI_VERSION as c_long,
        AttestRequest::Length(_) | AttestRequest::Fill(..) => neg(Errno::EOPNOTSUPP),
    })
}

/// `agent_quota(aid, kind, budget, size, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_quota(
    aid: u64,
    kind: u32,
    ubudget: c_ulong,
    size: usize,
    flags: u32,
) -> c_long {
    let call = || {
        let checked = validate_quota(aid, kind, ubudget == 0, size, flags, || {
            copy_struct::<AgentBudget>(ubudget, size)
        });
        ret(checked, |_| neg(Errno::EOPNOTSUPP))
    };
    // SET and CHARGE are sealed, success or failure; GET (and flags naming neither) is not.
    if flags == AGENT_QUOTA_SET || flags == AGENT_QUOTA_CHARGE {
        audited(AuditKind::Quota, "", call)
    } else {
        call()
    }
}

/// The common path of the three capability calls: grant and revoke are sealed, success or
/// failure, with `cap=<name>` when the capability number is known; a presence check is not.
fn cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    let kind = match call {
        CapCall::Grant => AuditKind::CapGrant,
        CapCall::Revoke => AuditKind::CapRevoke,
        CapCall::Present => return cap_call_checks(call, aid, cap, uscope, scope_len, flags),
    };
    let mut detail = DetailBuf::new();
    if let Ok(id) = CapId::from_id(cap) {
        let _ = write!(detail, "cap={}", id.name());
    }
    audited(kind, detail.as_str(), || {
        cap_call_checks(call, aid, cap, uscope, scope_len, flags)
    })
}

/// The checks of a capability call, in the order of `docs/abi.md`.
fn cap_call_checks(
    call: CapCall,
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    // Unscoped (the `agent_cap_present` hot path): coconut-abi answers without a scope buffer,
    // exactly as `validate_cap_call` would (its tests prove it), so none is zeroed.
    if let Some(checked) = validate_unscoped_cap_call(call, aid, cap, uscope == 0, scope_len, flags)
    {
        return ret(checked, |_| neg(Errno::EOPNOTSUPP));
    }
    let mut buf = [0u8; AGENT_SCOPE_MAX];
    let checked = validate_cap_call(
        call,
        aid,
        cap,
        uscope == 0,
        scope_len,
        flags,
        &mut buf,
        |scope| copy_bytes(scope, uscope),
    );
    ret(checked, |_| neg(Errno::EOPNOTSUPP))
}

/// `agent_cap_grant(aid, cap, scope, scope_len, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_cap_grant(
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    cap_call(CapCall::Grant, aid, cap, uscope, scope_len, flags)
}

/// `agent_cap_revoke(aid, cap, scope, scope_len, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_cap_revoke(
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    cap_call(CapCall::Revoke, aid, cap, uscope, scope_len, flags)
}

/// `agent_cap_present(aid, cap, scope, scope_len, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_cap_present(
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    cap_call(CapCall::Present, aid, cap, uscope, scope_len, flags)
}

/// `agent_audit_query(filter, fsize, buf, bufsize)`.
#[no_mangle]
pub extern "C" fn coconut_agent_audit_query(
    ufilter: c_ulong,
    fsize: usize,
    ubuf: c_ulong,
    bufsize: usize,
) -> c_long {
    let reservation = match Reservation::take() {
        Ok(r) => r,
        Err(e) => return e,
    };
    let checked = validate_audit_query(ufilter == 0, fsize, ubuf == 0, bufsize, || {
        copy_struct::<AgentAuditFilter>(ufilter, fsize)
    });
    let mut detail = DetailBuf::new();
    let result = ret(checked, |f| {
        let mut rows = 0u64;
        // SAFETY: the filter passed the ABI checks; `ubuf` is only handed on as a user address
        // (copied to with `UserSlice`), `rows` is a valid `u64` on this stack.
        let bytes = unsafe {
            coconut_audit_query(
                f.from_seq,
                f.to_seq,
                f.aid,
                f.kinds,
                f.flags & AGENT_AUDIT_SUBTREE != 0,
                CALLER_AGENT,
                coconut_audit_may_read_all(),
                ubuf,
                bufsize,
                &mut rows,
            )
        };
        let _ = write!(
            detail,
            "from={} to={} kinds={:x} rows={}",
            f.from_seq, f.to_seq, f.kinds, rows
        );
        bytes
    });
    // Sealed after the answer, so a query never returns its own row.
    reservation.seal(AuditKind::AuditQuery, CALLER_AGENT, result, detail.as_str());
    result
}

/// `agent_memory_tier(aid, tier, req, size)`.
#[no_mangle]
pub extern "C" fn coconut_agent_memory_tier(
    aid: u64,
    tier: u32,
    ureq: c_ulong,
    size: usize,
) -> c_long {
    audited(AuditKind::MemoryTier, "", || {
        let checked = validate_memory_tier(aid, tier, ureq == 0, size, || {
            copy_struct::<AgentMemRequest>(ureq, size)
        });
        ret(checked, |_| neg(Errno::EOPNOTSUPP))
    })
}
