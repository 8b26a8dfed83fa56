//! The host emulation of the kernel's agent syscalls, in the state the guest runs them in.
//!
//! Each arm is the kernel's Rust entry point (`kernel/overlay/kernel/agent/agent_core.rs`)
//! over the same coconut-abi pipeline, with the two C user-copy helpers emulated on the bytes
//! of a [`Mem`]: `copy_struct_from_user` (a fault is `EFAULT`; a shorter struct is
//! zero-extended; non-zero bytes beyond the known struct are `E2BIG`, which
//! `from_user_bytes` implements) and `copy_from_user` (a fault is `EFAULT`).
//!
//! The kernel state modelled after the checks is the one the guest runner sees: no agent has
//! been spawned, so only a:00000 exists, and the caller is root in a:00000.
//! - `agent_spawn`: an [`Invocation`] carries no memory behind the manifest pointer, so the
//!   manifest copy faults (`EFAULT`) for every call that passes the checks.
//! - `agent_attest`: an aid other than 0 / `AID_SELF` is `ESRCH`; a:00000's chain is
//!   [`A00000_CHAIN_LEN`] bytes (a length query answers it, a buffer that short or longer is
//!   filled and answers it, a shorter one is `ERANGE`). The bytes themselves are not emulated
//!   (the signer and hashes are the kernel's): the guest's `libcoconut::attest` test decodes them.
//! - `agent_quota`: an aid other than 0 / `AID_SELF` is `ESRCH`; GET of a:00000 answers 0 (its
//!   budgets are unlimited), SET and CHARGE of a:00000 are `EPERM` (it has no parent).
//! - the capability calls: an aid other than 0 / `AID_SELF` is `ESRCH`; `agent_cap_present` of
//!   a:00000 answers 0 (it holds every capability); grant, revoke, release, quarantine and
//!   revoke-all naming a:00000 are `EPERM`.
//! - `agent_audit_query`: see [`audit_query_served`] (a range holding rows is not emulated:
//!   `ENOSYS`).
//! - `agent_memory_tier`: [`NOT_SUPPORTED`], as the kernel answers.

use coconut_abi::{
    check_attest, validate_audit_query, validate_cap_call, validate_memory_tier, validate_quota,
    validate_spawn, validate_unscoped_cap_call, AgentAuditFilter, AgentBudget, AgentMemRequest,
    AgentSpawnArgs, AttestRequest, CapCall, Errno, QuotaOp, AGENT_ABI_VERSION, AGENT_SCOPE_MAX,
    AID_ANY, AID_SELF,
};

use super::{Call, Invocation, Mem, NOT_SUPPORTED};

/// The kernel, emulated on the host in the state the guest runner calls it in (only a:00000).
#[derive(Debug, Default)]
pub struct Emulated;

/// The length of a CBOR head (major type and argument) for the argument `n`.
const fn cbor_head(n: u64) -> usize {
    match n {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The length of a CBOR text or byte string of `len` bytes.
const fn cbor_str(len: usize) -> usize {
    cbor_head(len as u64) + len
}

/// The length of a:00000's attestation chain, as the kernel encodes it (`encode_chain` in
/// `core/calls.rs`): an array of one map of 7 entries, `aid` 0, `name` "coconutd", `state` 2
/// (ACTIVE), `signer` (32 bytes), `caps_hash` (32 bytes), `spawn_seq` 0, `manifest_hash`
/// (32 bytes). Every field has a fixed length, so the length is a constant of this kernel.
pub(crate) const A00000_CHAIN_LEN: usize = cbor_head(1)
    + cbor_head(7)
    + cbor_str(3)
    + cbor_head(0)
    + cbor_str(4)
    + cbor_str(8)
    + cbor_str(5)
    + cbor_head(2)
    + cbor_str(6)
    + cbor_str(32)
    + cbor_str(9)
    + cbor_str(32)
    + cbor_str(9)
    + cbor_head(0)
    + cbor_str(13)
    + cbor_str(32);

/// Whether `aid` names a:00000 for a caller in a:00000.
fn is_a00000(aid: u64) -> bool {
    aid == 0 || aid == AID_SELF
}

/// `copy_struct_from_user` into a `T` from `size` user bytes at `mem`.
fn copy_struct<T>(
    mem: &Mem,
    size: usize,
    decode: fn(&[u8]) -> Result<T, Errno>,
) -> Result<T, Errno> {
    match mem {
        Mem::Null | Mem::Unmapped => Err(Errno::EFAULT),
        Mem::Bytes(bytes) => {
            let mut user = bytes.clone();
            user.resize(size, 0);
            decode(&user)
        }
    }
}

/// `copy_from_user` of `dst.len()` bytes at `mem`.
fn copy_bytes(dst: &mut [u8], mem: &Mem) -> Result<(), Errno> {
    match mem {
        Mem::Bytes(bytes) if bytes.len() >= dst.len() => {
            dst.copy_from_slice(&bytes[..dst.len()]);
            Ok(())
        }
        _ => Err(Errno::EFAULT),
    }
}

/// The kernel part of `agent_audit_query` as far as the host can know it: an `aid` naming no
/// agent is `ESRCH` (only a:00000 exists before the runner spawns any agent), and a range beyond the
/// head returns 0 bytes. A range holding rows is not emulated (the host has no chain): this
/// answers `ENOSYS` for it, which the kernel never answers for a wired call, so such a
/// comparison fails loudly.
fn audit_query_served(f: AgentAuditFilter) -> Result<i64, Errno> {
    if !matches!(f.aid, AID_ANY | AID_SELF | 0) {
        return Err(Errno::ESRCH);
    }
    if f.from_seq >= super::tables::AUDIT_FAR {
        Ok(0)
    } else {
        Err(Errno::ENOSYS)
    }
}

/// The kernel part of a capability call in this state.
fn cap_served(call: CapCall, aid: u64) -> Result<i64, Errno> {
    match (is_a00000(aid), call) {
        (false, _) => Err(Errno::ESRCH),
        (true, CapCall::Present) => Ok(0),
        (true, CapCall::Grant | CapCall::Revoke) => Err(Errno::EPERM),
    }
}

impl Call for Emulated {
    fn name(&self) -> &'static str {
        "the host emulation"
    }

    fn call(&mut self, invocation: &Invocation) -> Result<i64, i32> {
        emulate(invocation).map_err(Errno::get)
    }
}

/// The kernel's answer to `invocation`.
fn emulate(invocation: &Invocation) -> Result<i64, Errno> {
    match invocation {
        Invocation::Spawn { args, size } => validate_spawn(args.is_null(), *size, || {
            copy_struct(args, *size, AgentSpawnArgs::from_user_bytes)
        })
        .and(Err(Errno::EFAULT)),
        Invocation::Attest {
            aid,
            buf,
            size,
            flags,
        } => match check_attest(*aid, buf.is_null(), *size, *flags)? {
            AttestRequest::AbiVersion => Ok(i64::from(AGENT_ABI_VERSION)),
            _ if !is_a00000(*aid) => Err(Errno::ESRCH),
            AttestRequest::Length(_) => Ok(A00000_CHAIN_LEN as i64),
            AttestRequest::Fill(_, size) if size < A00000_CHAIN_LEN => Err(Errno::ERANGE),
            AttestRequest::Fill(..) => Ok(A00000_CHAIN_LEN as i64),
        },
        Invocation::Quota {
            aid,
            kind,
            budget,
            size,
            flags,
        } => {
            let (req, _) = validate_quota(*aid, *kind, budget.is_null(), *size, *flags, || {
                copy_struct(budget, *size, AgentBudget::from_user_bytes)
            })?;
            match (is_a00000(*aid), req.op) {
                (false, _) => Err(Errno::ESRCH),
                (true, QuotaOp::Get) => Ok(0),
                (true, _) => Err(Errno::EPERM),
            }
        }
        Invocation::Cap {
            call,
            aid,
            cap,
            scope,
            scope_len,
            flags,
        } => {
            // The kernel's fast path first, the very function it calls (no scope buffer for an
            // unscoped call), then the whole pipeline.
            if let Some(checked) =
                validate_unscoped_cap_call(*call, *aid, *cap, scope.is_null(), *scope_len, *flags)
            {
                return checked.and_then(|_| cap_served(*call, *aid));
            }
            let mut buf = [0u8; AGENT_SCOPE_MAX];
            validate_cap_call(
                *call,
                *aid,
                *cap,
                scope.is_null(),
                *scope_len,
                *flags,
                &mut buf,
                |dst| copy_bytes(dst, scope),
            )
            .and_then(|_| cap_served(*call, *aid))
        }
        Invocation::AuditQuery {
            filter,
            fsize,
            buf,
            bufsize,
        } => validate_audit_query(filter.is_null(), *fsize, buf.is_null(), *bufsize, || {
            copy_struct(filter, *fsize, AgentAuditFilter::from_user_bytes)
        })
        .and_then(audit_query_served),
        Invocation::MemoryTier {
            aid,
            tier,
            req,
            size,
        } => validate_memory_tier(*aid, *tier, req.is_null(), *size, || {
            copy_struct(req, *size, AgentMemRequest::from_user_bytes)
        })
        .and(Err(NOT_SUPPORTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length the booted kernel answered for `agent_attest(0, NULL, 0, 0)` (VM tier).
    #[test]
    fn a00000_chain_length_is_what_the_kernel_answers() {
        assert_eq!(A00000_CHAIN_LEN, 172);
    }
}
