//! The host emulation of the skeleton kernel's agent syscalls.
//!
//! Each arm is the kernel's Rust entry point (`kernel/overlay/kernel/agent/agent_core.rs`)
//! over the same coconut-abi pipeline, with the two C user-copy helpers emulated on the bytes
//! of a [`Mem`]: `copy_struct_from_user` (a fault is `EFAULT`; a shorter struct is
//! zero-extended; non-zero bytes beyond the known struct are `E2BIG`, which
//! `from_user_bytes` implements) and `copy_from_user` (a fault is `EFAULT`).

use coconut_abi::{
    check_attest, validate_audit_query, validate_cap_call, validate_memory_tier, validate_quota,
    validate_spawn, validate_unscoped_cap_call, AgentAuditFilter, AgentBudget, AgentMemRequest,
    AgentSpawnArgs, AttestRequest, Errno, AGENT_ABI_VERSION, AGENT_SCOPE_MAX, AID_ANY, AID_SELF,
};

use super::{Call, Invocation, Mem, SKELETON_ANSWER};

/// The skeleton kernel, emulated on the host.
#[derive(Debug, Default)]
pub struct Emulated;

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
/// agent is `ESRCH` (only a:00000 exists before `agent_spawn` works), and a range beyond the
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

fn skeleton<T>(checked: Result<T, Errno>) -> Result<i64, Errno> {
    checked.and(Err(SKELETON_ANSWER))
}

impl Call for Emulated {
    fn name(&self) -> &'static str {
        "the host emulation"
    }

    fn call(&mut self, invocation: &Invocation) -> Result<i64, i32> {
        emulate(invocation).map_err(Errno::get)
    }
}

/// The skeleton kernel's answer to `invocation`.
fn emulate(invocation: &Invocation) -> Result<i64, Errno> {
    match invocation {
        Invocation::Spawn { args, size } => skeleton(validate_spawn(args.is_null(), *size, || {
            copy_struct(args, *size, AgentSpawnArgs::from_user_bytes)
        })),
        Invocation::Attest {
            aid,
            buf,
            size,
            flags,
        } => match check_attest(*aid, buf.is_null(), *size, *flags)? {
            AttestRequest::AbiVersion => Ok(i64::from(AGENT_ABI_VERSION)),
            AttestRequest::Length(_) | AttestRequest::Fill(..) => Err(SKELETON_ANSWER),
        },
        Invocation::Quota {
            aid,
            kind,
            budget,
            size,
            flags,
        } => skeleton(validate_quota(
            *aid,
            *kind,
            budget.is_null(),
            *size,
            *flags,
            || copy_struct(budget, *size, AgentBudget::from_user_bytes),
        )),
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
                return skeleton(checked);
            }
            let mut buf = [0u8; AGENT_SCOPE_MAX];
            skeleton(validate_cap_call(
                *call,
                *aid,
                *cap,
                scope.is_null(),
                *scope_len,
                *flags,
                &mut buf,
                |dst| copy_bytes(dst, scope),
            ))
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
        } => skeleton(validate_memory_tier(
            *aid,
            *tier,
            req.is_null(),
            *size,
            || copy_struct(req, *size, AgentMemRequest::from_user_bytes),
        )),
    }
}
