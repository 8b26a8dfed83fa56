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
//! Status: agents are real (`core/`: the tree, spawn, grants and revocation, attestation,
//! quotas, the LSM's decisions); every call runs its pure checks in `coconut_abi`'s order,
//! then the kernel part. `agent_audit_query` is served by the audit chain
//! (`kernel/audit/coconut`). `agent_memory_tier` and pidfd joins answer `-EOPNOTSUPP`.
//! Each call whose "Audit row" section in `docs/abi.md` names a row reserves a staging slot
//! before it decides anything and seals the row after.
//!
//! Constraints: fallible allocation only (`KVec`), no panics on user input, a safety
//! comment on every `unsafe` block. Every errno returned is an `Errno` of the ABI crate, and
//! a compile-time assertion below pins each to the kernel's own value.

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
    AgentSpawnArgs, AttestRequest, AuditKind, CapCall, CapId, CapRequest, Errno, AGENT_AUDIT_SUBTREE,
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

#[path = "core/tree.rs"]
mod tree;

#[path = "core/calls.rs"]
mod calls;

#[path = "core/lsm.rs"]
pub mod lsm;

use calls::{Fail, SpawnInfo};
use tree::Caller;

extern "C" {
    fn coconut_audit_commit_limited(
        kind: u32,
        actor: u64,
        subject: u64,
        result: c_int,
        detail: *const u8,
        detail_len: usize,
    ) -> c_int;
    fn coconut_audit_commit_ticket(
        kind: u32,
        actor: u64,
        subject: u64,
        result: c_int,
        detail: *const u8,
        detail_len: usize,
        ticket: *mut u64,
    ) -> c_int;
    fn coconut_agent_current_aid() -> u64;
    fn coconut_agent_root_keys(len: *mut usize) -> *const u8;
    fn coconut_agent_capable(cap: c_int) -> bool;
}

/// The calling task: its agent (every task is in a:00000 until security/coconut places tasks
/// in agents) and the kernel capabilities that stand in for a:00000's agent-API powers.
fn caller() -> Caller {
    // SAFETY: process context (a system call); plain reads of the current task.
    unsafe {
        Caller {
            aid: coconut_agent_current_aid(),
            sys_admin: coconut_agent_capable(bindings::CAP_SYS_ADMIN as c_int),
            audit_read: coconut_agent_capable(bindings::CAP_AUDIT_READ as c_int),
        }
    }
}

/// Staging slots of the audit chain, reserved before a call decides anything, so that the
/// rows of whatever it decides cannot be lost (`docs/formats/audit.md`, "Appending"). Slots
/// not sealed are given back when this is dropped.
pub(crate) struct Slots {
    held: usize,
}

impl Slots {
    /// No slot yet (callers reserve with [`Slots::more`] as they go).
    pub(crate) fn none() -> Slots {
        Slots { held: 0 }
    }

    /// Reserves `n` slots, waiting (killable) while the staging ring is full: `-EINTR` if a
    /// fatal signal ends a wait, before anything was decided (the slots taken are given back).
    pub(crate) fn take(n: usize) -> Result<Slots, c_long> {
        let mut slots = Slots { held: 0 };
        slots.more(n).map_err(Fail::ret)?;
        Ok(slots)
    }

    /// Reserves `n` more slots (for the `state` rows of a cascade, under the tree lock: the
    /// sealer never takes it, so waiting here cannot deadlock).
    pub(crate) fn more(&mut self, n: usize) -> Result<(), Fail> {
        for _ in 0..n {
            // SAFETY: process context; the tree mutex may be held, no spinlock is.
            match unsafe { coconut_audit_reserve() } {
                0 => self.held = self.held.saturating_add(1),
                _ => return Err(Fail::Interrupted),
            }
        }
        Ok(())
    }

    /// Seals one row in a held slot: `kind`, the acting agent, the subject, the call's return
    /// value (a negative one is the row's `-errno`, anything else is recorded as 0), the
    /// detail. Its commit ticket, or `None` if no slot was held (a bug, logged).
    pub(crate) fn seal(
        &mut self,
        actor: u64,
        kind: AuditKind,
        subject: u64,
        ret: c_long,
        detail: &str,
    ) -> Option<u64> {
        if self.held == 0 {
            pr_err!("audit: no slot held for a row of kind {}\n", kind as u32);
            return None;
        }
        self.held = self.held.saturating_sub(1);
        let result = row_result(ret);
        let mut ticket = 0u64;
        // SAFETY: a slot was held (now consumed); `detail` is valid for the call; `ticket` is
        // a writable u64 on this stack.
        let err = unsafe {
            coconut_audit_commit_ticket(
                kind as u32,
                actor,
                subject,
                result,
                detail.as_ptr(),
                detail.len(),
                &mut ticket,
            )
        };
        if err != 0 {
            pr_err!("audit commit refused ({}): kind {}\n", err, kind as u32);
            return None;
        }
        Some(ticket)
    }

    /// [`Slots::seal`] for the row of a malformed call (it failed a `pure` or `copy` row of its
    /// Errors table: nothing was authorised or refused), under flood control: beyond the
    /// caller's burst the call is counted into a `suppressed` row instead
    /// (`docs/formats/audit.md`, "Flood control"). The slot is used up either way.
    pub(crate) fn seal_malformed(
        &mut self,
        actor: u64,
        kind: AuditKind,
        subject: u64,
        ret: c_long,
        detail: &str,
    ) {
        if self.held == 0 {
            pr_err!("audit: no slot held for a row of kind {}\n", kind as u32);
            return;
        }
        self.held = self.held.saturating_sub(1);
        // SAFETY: a slot was held (now consumed); `detail` is valid for the call.
        let err = unsafe {
            coconut_audit_commit_limited(
                kind as u32,
                actor,
                subject,
                row_result(ret),
                detail.as_ptr(),
                detail.len(),
            )
        };
        if err < 0 {
            pr_err!("audit commit refused ({}): kind {}\n", err, kind as u32);
        }
    }
}

/// A call's return value as its row's `result`: a negative one is the `-errno`, anything else
/// is recorded as 0.
fn row_result(ret: c_long) -> c_int {
    if ret < 0 {
        c_int::try_from(ret).unwrap_or(-(bindings::EINVAL as c_int))
    } else {
        0
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        for _ in 0..self.held {
            // SAFETY: gives back a reservation this value holds.
            unsafe { coconut_audit_cancel() };
        }
    }
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
    // SAFETY: the helper returns CONFIG_COCONUT_AGENT_ROOT_KEYS, a static NUL-terminated
    // string that lives as long as the kernel; its length is computed by the helper.
    let keys = unsafe {
        let mut len = 0usize;
        let p = coconut_agent_root_keys(&mut len);
        core::slice::from_raw_parts(p, len)
    };
    let keys = core::str::from_utf8(keys).unwrap_or("");
    let loaded = match tree::init(keys) {
        Ok(n) => n,
        Err(e) => {
            pr_err!("cannot create a:00000 ({})\n", e.name());
            return neg(e);
        }
    };
    pr_info!(
        "Rust core initialised (ABI v{}, syscalls {}-{}, BLAKE3 and Ed25519 self-tests passed; a:00000 created, {} built-in root key(s); agent_memory_tier and pidfd joins answer EOPNOTSUPP)\n",
        AGENT_ABI_VERSION,
        NR_AGENT_SPAWN,
        NR_AGENT_MEMORY_TIER,
        loaded
    );
    0
}

/// `agent_spawn(args, size)`.
#[no_mangle]
pub extern "C" fn coconut_agent_spawn(uargs: c_ulong, size: usize) -> c_long {
    let me = caller();
    // The spawn row and one state row, reserved before anything is decided; the row is
    // sealed whether the call succeeds or fails.
    let mut slots = match Slots::take(2) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut info = SpawnInfo::new(me.aid);
    let checked = validate_spawn(uargs == 0, size, || {
        copy_struct::<AgentSpawnArgs>(uargs, size)
    });
    let malformed = checked.is_err();
    let result = match checked {
        Err(e) => Err(Fail::from(e)),
        Ok(args) => calls::spawn(&me, &args, &mut slots, &mut info),
    };
    let ret = match result {
        Ok(aid) => aid as c_long,
        Err(f) => f.ret(),
    };
    // Failures before an AID existed: the row names the caller's agent as subject.
    if slots.held == 2 {
        let mut d = DetailBuf::new();
        info.detail(&mut d);
        if malformed {
            slots.seal_malformed(me.aid, AuditKind::Spawn, info.subject, ret, d.as_str());
        } else {
            slots.seal(me.aid, AuditKind::Spawn, info.subject, ret, d.as_str());
        }
    }
    ret
}

/// `agent_attest(aid, buf, size, flags)`.
#[no_mangle]
pub extern "C" fn coconut_agent_attest(aid: u64, ubuf: c_ulong, size: usize, flags: u32) -> c_long {
    let req = match check_attest(aid, ubuf == 0, size, flags) {
        Ok(r) => r,
        Err(e) => return neg(e),
    };
    let me = caller();
    match req {
        AttestRequest::AbiVersion => AGENT_ABI_VERSION as c_long,
        AttestRequest::Length(target) => match calls::attest(&me, target, 0, 0) {
            Ok((len, _)) => len as c_long,
            Err(f) => f.ret(),
        },
        AttestRequest::Fill(target, size) => {
            // A written chain leaves a row; failures and length queries do not.
            let mut slots = match Slots::take(1) {
                Ok(s) => s,
                Err(e) => return e,
            };
            match calls::attest(&me, target, ubuf, size) {
                Ok((len, links)) => {
                    let mut d = DetailBuf::new();
                    let _ = write!(d, "links={} bytes={}", links, len);
                    let subject = calls::resolve(&me, target);
                    slots.seal(me.aid, AuditKind::Attest, subject, 0, d.as_str());
                    len as c_long
                }
                Err(f) => f.ret(),
            }
        }
    }
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
    let me = caller();
    // SET and CHARGE are sealed, success or failure (plus a state row they may cause); GET
    // (and flags naming neither) is not.
    let audited = flags == AGENT_QUOTA_SET || flags == AGENT_QUOTA_CHARGE;
    let mut slots = match Slots::take(if audited { 2 } else { 0 }) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let checked = validate_quota(aid, kind, ubudget == 0, size, flags, || {
        copy_struct::<AgentBudget>(ubudget, size)
    });
    let mut d = DetailBuf::new();
    let mut subject = me.aid;
    let malformed = checked.is_err();
    let ret = match checked {
        Err(e) => neg(e),
        Ok((req, copied)) => {
            let input = copied.unwrap_or_default();
            subject = calls::resolve(&me, req.target);
            let mut used = 0u64;
            let r = calls::quota(&me, &req, &input, &mut slots, &mut used);
            calls::quota_detail(&mut d, &req, &input, used);
            match r {
                Ok(Some(b)) => match calls::write_budget(ubudget, size, &b) {
                    Ok(()) => 0,
                    Err(e) => neg(e),
                },
                Ok(None) => 0,
                Err(f) => f.ret(),
            }
        }
    };
    if audited && malformed {
        slots.seal_malformed(me.aid, AuditKind::Quota, subject, ret, d.as_str());
    } else if audited {
        slots.seal(me.aid, AuditKind::Quota, subject, ret, d.as_str());
    }
    ret
}

/// The common path of the three capability calls: grant and revoke are sealed, success or
/// failure, with the detail of `docs/abi.md` (`cap=<name>` when only the number is known); a
/// presence check is not.
fn cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
) -> c_long {
    let me = caller();
    if call == CapCall::Present {
        return cap_call_checks(call, aid, cap, uscope, scope_len, flags, |req, scope| {
            calls::present(&me, req, scope).map_err(Fail::from)
        });
    }
    let kind = if call == CapCall::Grant {
        AuditKind::CapGrant
    } else {
        AuditKind::CapRevoke
    };
    // The call's row and one state row; cascades reserve more under the tree lock.
    let mut slots = match Slots::take(2) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut d = DetailBuf::new();
    let mut subject = me.aid;
    // Whether the checks passed and the call reached a decision (else it was malformed).
    let mut decided = false;
    let ret = cap_call_checks(call, aid, cap, uscope, scope_len, flags, |req, scope| {
        decided = true;
        subject = calls::resolve(&me, req.target);
        if call == CapCall::Grant {
            calls::grant(&me, req, scope, &mut slots, &mut d)
        } else {
            calls::revoke(&me, req, scope, &mut slots, &mut d)
        }
    });
    if d.as_str().is_empty() {
        if let Ok(id) = CapId::from_id(cap) {
            let _ = write!(d, "cap={}", id.name());
        }
    }
    if decided {
        slots.seal(me.aid, kind, subject, ret, d.as_str());
    } else {
        slots.seal_malformed(me.aid, kind, subject, ret, d.as_str());
    }
    ret
}

/// The checks of a capability call, in the order of `docs/abi.md`, then `kernel` with the
/// request and the copied scope.
fn cap_call_checks(
    call: CapCall,
    aid: u64,
    cap: u32,
    uscope: c_ulong,
    scope_len: usize,
    flags: u32,
    kernel: impl FnOnce(&CapRequest, &[u8]) -> Result<(), Fail>,
) -> c_long {
    let done = |r: Result<(), Fail>| match r {
        Ok(()) => 0,
        Err(f) => f.ret(),
    };
    // Unscoped (the `agent_cap_present` hot path): coconut-abi answers without a scope buffer,
    // exactly as `validate_cap_call` would (its tests prove it), so none is zeroed.
    if let Some(checked) = validate_unscoped_cap_call(call, aid, cap, uscope == 0, scope_len, flags)
    {
        return match checked {
            Ok(req) => done(kernel(&req, &[])),
            Err(e) => neg(e),
        };
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
    match checked {
        Ok(req) => {
            let scope = buf.get(..req.scope_len).unwrap_or(&[]);
            done(kernel(&req, scope))
        }
        Err(e) => neg(e),
    }
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
    let me = caller();
    let mut slots = match Slots::take(1) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let checked = validate_audit_query(ufilter == 0, fsize, ubuf == 0, bufsize, || {
        copy_struct::<AgentAuditFilter>(ufilter, fsize)
    });
    let malformed = checked.is_err();
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
                me.aid,
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
    if malformed {
        slots.seal_malformed(me.aid, AuditKind::AuditQuery, me.aid, result, detail.as_str());
    } else {
        slots.seal(me.aid, AuditKind::AuditQuery, me.aid, result, detail.as_str());
    }
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
    let me = caller();
    let mut slots = match Slots::take(1) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let checked = validate_memory_tier(aid, tier, ureq == 0, size, || {
        copy_struct::<AgentMemRequest>(ureq, size)
    });
    let malformed = checked.is_err();
    let r = ret(checked, |_| neg(Errno::EOPNOTSUPP));
    if malformed {
        slots.seal_malformed(me.aid, AuditKind::MemoryTier, me.aid, r, "");
    } else {
        slots.seal(me.aid, AuditKind::MemoryTier, me.aid, r, "");
    }
    r
}

// ---------------------------------------------------------------------------------------------
// agentfs: the per-agent files and policy/signers
// ---------------------------------------------------------------------------------------------

/// What [`coconut_agent_render`] renders (the `what` numbers `agentfs.c` passes).
const RENDER_STATUS: u32 = 0;
const RENDER_MANIFEST: u32 = 1;
const RENDER_CAPS: u32 = 2;
const RENDER_SIGNERS: u32 = 3;
/// `RENDER_BUDGET + kind id` (1..=5): `budget/<kind>`.
const RENDER_BUDGET: u32 = 10;

/// A `core::fmt::Write` over a byte buffer that fails when full.
struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Renders an agentfs file of agent `aid` into `buf` (`docs/formats/agentfs.md`): its length,
/// `-ENOENT` if the agent is gone (evicted), `-E2BIG` if `buf` is too small, `-EINVAL` for an
/// unknown `what`.
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_agent_render(aid: u64, what: u32, buf: *mut u8, len: usize) -> isize {
    // SAFETY: the caller promises `len` writable bytes at `buf`.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut out = Out { buf, len: 0 };
    let r = tree::with_tree(|t| -> Result<(), Errno> {
        if what == RENDER_SIGNERS {
            for k in t.root_keys.iter() {
                tree::write_hex(&mut out, &k.key);
                let origin = if k.revoked {
                    "revoked"
                } else if k.built_in {
                    "built-in"
                } else {
                    "added"
                };
                writeln!(out, " {}", origin).map_err(|_| Errno::E2BIG)?;
            }
            return Ok(());
        }
        let a = t.get(aid).ok_or(Errno::ENOENT)?;
        let full = |_| Errno::E2BIG;
        match what {
            RENDER_STATUS => {
                writeln!(out, "{}", a.state.word()).map_err(full)?;
                writeln!(out, "since_ns={}", a.since_ns).map_err(full)?;
                if a.aid == 0 {
                    writeln!(out, "parent=none").map_err(full)?;
                } else {
                    writeln!(out, "parent={}", coconut_abi::Aid::new(a.parent).map_err(|_| Errno::EINVAL)?)
                        .map_err(full)?;
                }
                writeln!(out, "name={}", a.name()).map_err(full)?;
                writeln!(out, "tenant={}", a.tenant().unwrap_or("none")).map_err(full)?;
                writeln!(out, "lane={}", a.lane).map_err(full)?;
                writeln!(out, "members={}", a.members).map_err(full)?;
                writeln!(out, "children={}", a.children).map_err(full)?;
                writeln!(out, "denials={}", a.denials).map_err(full)?;
                if !a.is_live() {
                    writeln!(out, "result={}", a.result).map_err(full)?;
                }
            }
            RENDER_MANIFEST => {
                let dst = out.buf.get_mut(..a.manifest.len()).ok_or(Errno::E2BIG)?;
                dst.copy_from_slice(&a.manifest);
                out.len = a.manifest.len();
            }
            RENDER_CAPS => {
                if let Some(set) = a.caps.as_deref() {
                    let n = set.render(out.buf).map_err(|_| Errno::E2BIG)?;
                    out.len = n;
                }
            }
            w if w > RENDER_BUDGET => {
                let kind = coconut_abi::QuotaKind::from_u32(w.saturating_sub(RENDER_BUDGET))
                    .ok_or(Errno::EINVAL)?;
                let b = a.budget(kind);
                if b.limit == coconut_abi::limits::AGENT_QUOTA_UNLIMITED {
                    write!(out, "limit=max").map_err(full)?;
                } else {
                    write!(out, "limit={}", b.limit).map_err(full)?;
                }
                writeln!(out, " used={} period_ns={}", b.used, b.period_ns).map_err(full)?;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    });
    match r {
        Ok(()) => out.len as isize,
        Err(e) => -(e.get() as isize),
    }
}

/// Applies a write to `/agent/policy/signers` (the glue checked `CAP_SYS_ADMIN`): one or more
/// lines `add <64 hex>` / `revoke <64 hex>`; 0 or `-errno` (lines before a bad one apply).
///
/// # Safety
///
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_agent_write_signers(buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller promises `len` readable bytes at `buf`.
    let bytes = unsafe { core::slice::from_raw_parts(buf, len) };
    for line in bytes.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        if let Err(e) = tree::policy_signers_line(line) {
            return -e.get();
        }
    }
    0
}
