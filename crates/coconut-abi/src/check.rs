//! The argument checks of each agent syscall that need no kernel state, in documented order.
//!
//! Job: make the first part of every error matrix exact and testable on the host. Each call's
//! complete check order is the table in `docs/abi.md` (and [`CHECK_ORDER`]); the steps marked
//! "pure" there are the functions of this module, applied in exactly that order, so a call that
//! is wrong in two ways reports the first documented error. The kernel runs these, then its
//! state-dependent checks; the skeleton kernel returns `EOPNOTSUPP` for calls that pass them.
//!
//! User structs follow the size-versioning rule of `clone3`/`openat2` (`copy_struct_from_user`),
//! in Landlock's order: NULL pointer `EFAULT`, size below version 0 `EINVAL`, size above a page
//! `E2BIG`, then the copy (`EFAULT` on a fault, `E2BIG` for non-zero bytes beyond the known
//! struct). The `validate_*` functions run a whole pure prefix including the copy, which the
//! caller supplies as a closure (`copy_struct_from_user` in the kernel, a byte decoder in
//! tests).
//!
//! Constraints: no_std, no heap, no panics; pure functions of their arguments.

use super::aid::{AidTarget, AID_ANY, AID_SELF};
use super::cap::{validate_scope, CapError, CapId};
use super::errno::Errno;
use super::flags::{
    AGENT_ATTEST_ABI_VERSION, AGENT_AUDIT_SUBTREE, AGENT_GRANT_RELEASE, AGENT_QUOTA_CHARGE,
    AGENT_QUOTA_GET, AGENT_QUOTA_SET, AGENT_REVOKE_ALL, AGENT_REVOKE_QUARANTINE, AGENT_SPAWN_PIDFD,
};
use super::layout::{
    AgentAuditFilter, AgentBudget, AgentMemRequest, AgentSpawnArgs, AGENT_AUDIT_FILTER_SIZE_VER0,
    AGENT_BUDGET_SIZE_VER0, AGENT_MEM_REQUEST_SIZE_VER0, AGENT_SPAWN_ARGS_SIZE_VER0,
};
use super::limits::{
    AGENT_ATTEST_MASK, AGENT_AUDIT_FILTER_MASK, AGENT_AUDIT_KINDS_MASK, AGENT_AUDIT_ROW_MIN,
    AGENT_CAPSET_MAX, AGENT_CPU_LIMIT_MIN_US, AGENT_CPU_PERIOD_MAX_NS, AGENT_CPU_PERIOD_MIN_NS,
    AGENT_GRANT_MASK, AGENT_MANIFEST_MAX, AGENT_MEM_LENGTH_MAX, AGENT_MEM_MASK,
    AGENT_MEM_PROT_MASK, AGENT_PERIOD_MAX_NS, AGENT_PERIOD_MIN_NS, AGENT_PRESENT_MASK,
    AGENT_QUOTA_MASK, AGENT_QUOTA_UNLIMITED, AGENT_REVOKE_MASK, AGENT_SCOPE_MAX, AGENT_SPAWN_MASK,
    AGENT_STRUCT_SIZE_MAX, AID_MAX,
};
use super::quota::{MemTier, QuotaKind};

/// Size rule of a size-versioned struct, without the pointer: `size < ver0` is `EINVAL`,
/// `size > AGENT_STRUCT_SIZE_MAX` (4096) is `E2BIG`. The NULL check comes before it (see
/// [`check_user_struct`]) and the copy after it.
pub fn check_struct_size(size: usize, ver0: usize) -> Result<(), Errno> {
    if size < ver0 {
        return Err(Errno::EINVAL);
    }
    if size > AGENT_STRUCT_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// The checks before copying a size-versioned struct, in order: NULL pointer `EFAULT`, then
/// [`check_struct_size`].
pub fn check_user_struct(is_null: bool, size: usize, ver0: usize) -> Result<(), Errno> {
    if is_null {
        return Err(Errno::EFAULT);
    }
    check_struct_size(size, ver0)
}

/// `agent_spawn`: the checks on the copied `struct agent_spawn_args`, in order: unknown flag
/// bits `EINVAL`; `pidfd` non-zero without `AGENT_SPAWN_PIDFD` `EINVAL`; `manifest_len == 0`
/// `EINVAL`; `manifest_len > AGENT_MANIFEST_MAX` `E2BIG`; `caps_len > AGENT_CAPSET_MAX`
/// `E2BIG`.
pub fn check_spawn_args(a: &AgentSpawnArgs) -> Result<(), Errno> {
    if a.flags & !AGENT_SPAWN_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if a.flags & AGENT_SPAWN_PIDFD == 0 && a.pidfd != 0 {
        return Err(Errno::EINVAL);
    }
    if a.manifest_len == 0 {
        return Err(Errno::EINVAL);
    }
    if a.manifest_len > AGENT_MANIFEST_MAX {
        return Err(Errno::E2BIG);
    }
    if a.caps_len > AGENT_CAPSET_MAX {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// `agent_spawn`: every pure step in order: [`check_user_struct`], the copy (`copy`), then
/// [`check_spawn_args`]. Returns the copied arguments.
pub fn validate_spawn(
    args_is_null: bool,
    size: usize,
    copy: impl FnOnce() -> Result<AgentSpawnArgs, Errno>,
) -> Result<AgentSpawnArgs, Errno> {
    check_user_struct(args_is_null, size, AGENT_SPAWN_ARGS_SIZE_VER0)?;
    let args = copy()?;
    check_spawn_args(&args)?;
    Ok(args)
}

/// What a valid `agent_attest` call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestRequest {
    /// `AGENT_ATTEST_ABI_VERSION`: return `AGENT_ABI_VERSION`.
    AbiVersion,
    /// `size == 0`: return the length the chain needs (`buf` is not used).
    Length(AidTarget),
    /// Write the chain into a buffer of `size` bytes.
    Fill(AidTarget, usize),
}

/// `agent_attest`: the pure checks in order: unknown flags `EINVAL`; with
/// `AGENT_ATTEST_ABI_VERSION`, any of `aid != 0`, `buf != NULL`, `size != 0` `EINVAL`; AID
/// not `AID_SELF` nor `<= AID_MAX` `EINVAL`; `size > 0` with `buf == NULL` `EFAULT`.
pub fn check_attest(
    aid: u64,
    buf_is_null: bool,
    size: usize,
    flags: u32,
) -> Result<AttestRequest, Errno> {
    if flags & !AGENT_ATTEST_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & AGENT_ATTEST_ABI_VERSION != 0 {
        if aid != 0 || !buf_is_null || size != 0 {
            return Err(Errno::EINVAL);
        }
        return Ok(AttestRequest::AbiVersion);
    }
    let target = AidTarget::from_arg(aid)?;
    if size == 0 {
        return Ok(AttestRequest::Length(target));
    }
    if buf_is_null {
        return Err(Errno::EFAULT);
    }
    Ok(AttestRequest::Fill(target, size))
}

/// The operation of an `agent_quota` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOp {
    /// `AGENT_QUOTA_GET`.
    Get,
    /// `AGENT_QUOTA_SET`.
    Set,
    /// `AGENT_QUOTA_CHARGE`.
    Charge,
}

/// A valid `agent_quota` call's scalar arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaRequest {
    /// The agent.
    pub target: AidTarget,
    /// The budget.
    pub kind: QuotaKind,
    /// The operation.
    pub op: QuotaOp,
}

/// `agent_quota`: the checks on the scalar arguments, in order: unknown flags or not exactly
/// one operation `EINVAL`; kind 0 or unknown `EINVAL`; CHARGE of a kind that is not brokered
/// (`cpu`, `ram`, `hbm`) `EINVAL`; bad AID form `EINVAL`.
pub fn check_quota(aid: u64, kind: u32, flags: u32) -> Result<QuotaRequest, Errno> {
    if flags & !AGENT_QUOTA_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    let op = match flags {
        AGENT_QUOTA_GET => QuotaOp::Get,
        AGENT_QUOTA_SET => QuotaOp::Set,
        AGENT_QUOTA_CHARGE => QuotaOp::Charge,
        _ => return Err(Errno::EINVAL),
    };
    let kind = QuotaKind::from_u32(kind).ok_or(Errno::EINVAL)?;
    if op == QuotaOp::Charge && !kind.is_brokered() {
        return Err(Errno::EINVAL);
    }
    let target = AidTarget::from_arg(aid)?;
    Ok(QuotaRequest { target, kind, op })
}

/// `agent_quota`: the checks on the copied budget, in order. GET: none (the struct is output).
/// SET: `reserved != 0` `EINVAL`; `used != 0` `EINVAL`; a period outside the kind's range
/// (`cpu`: `AGENT_CPU_PERIOD_MIN_NS..=AGENT_CPU_PERIOD_MAX_NS`; `net`, `inference_tokens`: 0
/// or `AGENT_PERIOD_MIN_NS..=AGENT_PERIOD_MAX_NS`; `ram`, `hbm`: 0) `EINVAL`; a `cpu` limit
/// below `AGENT_CPU_LIMIT_MIN_US` (other than `AGENT_QUOTA_UNLIMITED`) `EINVAL`.
/// CHARGE: `limit`, `period_ns` or `reserved` non-zero `EINVAL`.
pub fn check_budget(req: &QuotaRequest, b: &AgentBudget) -> Result<(), Errno> {
    match req.op {
        QuotaOp::Get => Ok(()),
        QuotaOp::Set => {
            if b.reserved != 0 || b.used != 0 {
                return Err(Errno::EINVAL);
            }
            let period_ok = match req.kind {
                QuotaKind::Cpu => {
                    (AGENT_CPU_PERIOD_MIN_NS..=AGENT_CPU_PERIOD_MAX_NS).contains(&b.period_ns)
                }
                QuotaKind::Net | QuotaKind::InferenceTokens => {
                    b.period_ns == 0
                        || (AGENT_PERIOD_MIN_NS..=AGENT_PERIOD_MAX_NS).contains(&b.period_ns)
                }
                QuotaKind::Ram | QuotaKind::Hbm => b.period_ns == 0,
            };
            if !period_ok {
                return Err(Errno::EINVAL);
            }
            if req.kind == QuotaKind::Cpu
                && b.limit != AGENT_QUOTA_UNLIMITED
                && b.limit < AGENT_CPU_LIMIT_MIN_US
            {
                return Err(Errno::EINVAL);
            }
            Ok(())
        }
        QuotaOp::Charge => {
            if b.limit != 0 || b.period_ns != 0 || b.reserved != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(())
        }
    }
}

/// `agent_quota`: every pure step in order: [`check_quota`], [`check_user_struct`], then for
/// SET and CHARGE the copy and [`check_budget`] (GET copies nothing in). Returns the request
/// and, for SET and CHARGE, the copied budget.
pub fn validate_quota(
    aid: u64,
    kind: u32,
    budget_is_null: bool,
    size: usize,
    flags: u32,
    copy: impl FnOnce() -> Result<AgentBudget, Errno>,
) -> Result<(QuotaRequest, Option<AgentBudget>), Errno> {
    let req = check_quota(aid, kind, flags)?;
    check_user_struct(budget_is_null, size, AGENT_BUDGET_SIZE_VER0)?;
    if req.op == QuotaOp::Get {
        return Ok((req, None));
    }
    let budget = copy()?;
    check_budget(&req, &budget)?;
    Ok((req, Some(budget)))
}

/// Which of the three capability calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapCall {
    /// `agent_cap_grant`.
    Grant,
    /// `agent_cap_revoke`.
    Revoke,
    /// `agent_cap_present`.
    Present,
}

impl CapCall {
    /// The accepted flag bits of this call.
    pub const fn mask(self) -> u32 {
        match self {
            CapCall::Grant => AGENT_GRANT_MASK,
            CapCall::Revoke => AGENT_REVOKE_MASK,
            CapCall::Present => AGENT_PRESENT_MASK,
        }
    }

    /// The flags that act on the whole agent (and require `cap == 0` with no scope).
    pub const fn agent_level_flags(self) -> u32 {
        match self {
            CapCall::Grant => AGENT_GRANT_RELEASE,
            CapCall::Revoke => AGENT_REVOKE_ALL | AGENT_REVOKE_QUARANTINE,
            CapCall::Present => 0,
        }
    }
}

/// A valid capability call's scalar arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapRequest {
    /// Which call.
    pub call: CapCall,
    /// The agent.
    pub target: AidTarget,
    /// The capability; `None` for the agent-level flags (`cap == 0`).
    pub cap: Option<CapId>,
    /// Length of the scope to copy (0 = unscoped).
    pub scope_len: usize,
    /// The flags.
    pub flags: u32,
}

/// `agent_cap_grant`, `agent_cap_revoke`, `agent_cap_present`: the checks on the scalar
/// arguments, in order: unknown flags `EINVAL`; both `AGENT_REVOKE_ALL` and
/// `AGENT_REVOKE_QUARANTINE` `EINVAL`; with an agent-level flag, `cap != 0` or
/// `scope_len != 0` `EINVAL`, else `cap` 0 or unknown `EINVAL`; bad AID form `EINVAL`;
/// `scope_len > AGENT_SCOPE_MAX` `E2BIG`; `scope_len > 0` with `scope == NULL` `EFAULT`.
pub fn check_cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_is_null: bool,
    scope_len: usize,
    flags: u32,
) -> Result<CapRequest, Errno> {
    if flags & !call.mask() != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & AGENT_REVOKE_ALL != 0
        && flags & AGENT_REVOKE_QUARANTINE != 0
        && call == CapCall::Revoke
    {
        return Err(Errno::EINVAL);
    }
    let cap = if flags & call.agent_level_flags() != 0 {
        if cap != 0 || scope_len != 0 {
            return Err(Errno::EINVAL);
        }
        None
    } else {
        Some(CapId::from_id(cap).map_err(|_| Errno::EINVAL)?)
    };
    let target = AidTarget::from_arg(aid)?;
    if scope_len > AGENT_SCOPE_MAX {
        return Err(Errno::E2BIG);
    }
    if scope_len > 0 && scope_is_null {
        return Err(Errno::EFAULT);
    }
    Ok(CapRequest {
        call,
        target,
        cap,
        scope_len,
        flags,
    })
}

/// The check on a copied scope: empty is unscoped and valid; otherwise the scope must satisfy
/// [`validate_scope`] (printable ASCII without space, `*` only last), else `EINVAL`.
pub fn check_scope_arg(scope: &[u8]) -> Result<(), Errno> {
    if scope.is_empty() {
        return Ok(());
    }
    validate_scope(scope).map_err(|e| match e {
        CapError::ScopeTooLong => Errno::E2BIG,
        _ => Errno::EINVAL,
    })
}

/// The capability calls: every pure step in order: [`check_cap_call`], the copy of the scope
/// into `buf` (`copy` receives the first `scope_len` bytes of `buf`; it is not called for an
/// unscoped call), then [`check_scope_arg`]. On success the scope is
/// `&buf[..request.scope_len]`.
#[allow(clippy::too_many_arguments)]
pub fn validate_cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_is_null: bool,
    scope_len: usize,
    flags: u32,
    buf: &mut [u8; AGENT_SCOPE_MAX],
    copy: impl FnOnce(&mut [u8]) -> Result<(), Errno>,
) -> Result<CapRequest, Errno> {
    let req = check_cap_call(call, aid, cap, scope_is_null, scope_len, flags)?;
    if req.scope_len > 0 {
        let scope = buf.get_mut(..req.scope_len).ok_or(Errno::E2BIG)?;
        copy(scope)?;
        check_scope_arg(scope)?;
    }
    Ok(req)
}

/// The capability calls' fast path (`agent_cap_present` is the LSM-era hot path): for an
/// unscoped call (`scope_len == 0`) there is nothing to copy, so the result of
/// [`validate_cap_call`] is that of [`check_cap_call`] alone and no scope buffer is needed;
/// this returns it. For a scoped call it returns `None` without checking anything: the caller
/// then runs [`validate_cap_call`] with a buffer. The kernel calls this first, then falls back;
/// a host test (and the conformance emulation) proves that the pair answers exactly what
/// [`validate_cap_call`] answers for every input.
pub fn validate_unscoped_cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_is_null: bool,
    scope_len: usize,
    flags: u32,
) -> Option<Result<CapRequest, Errno>> {
    if scope_len != 0 {
        return None;
    }
    Some(check_cap_call(call, aid, cap, scope_is_null, 0, flags))
}

/// `agent_audit_query`: the checks on the copied filter, in order: unknown flags `EINVAL`;
/// kind bits outside `AGENT_AUDIT_KINDS_MASK` `EINVAL`; `aid` not `AID_ANY`, `AID_SELF` nor
/// `<= AID_MAX` `EINVAL`; `AGENT_AUDIT_SUBTREE` with `AID_ANY` `EINVAL`; `to_seq != 0` and
/// `to_seq < from_seq` `EINVAL`.
pub fn check_audit_filter(f: &AgentAuditFilter) -> Result<(), Errno> {
    if f.flags & !AGENT_AUDIT_FILTER_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if f.kinds & !AGENT_AUDIT_KINDS_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if f.aid != AID_ANY && f.aid != AID_SELF && f.aid > AID_MAX {
        return Err(Errno::EINVAL);
    }
    if f.flags & AGENT_AUDIT_SUBTREE != 0 && f.aid == AID_ANY {
        return Err(Errno::EINVAL);
    }
    if f.to_seq != 0 && f.to_seq < f.from_seq {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `agent_audit_query`: the checks on the output buffer, after the filter: `buf == NULL`
/// `EFAULT`; `bufsize < AGENT_AUDIT_ROW_MIN` (128) `ERANGE`.
pub fn check_audit_buffer(buf_is_null: bool, bufsize: usize) -> Result<(), Errno> {
    if buf_is_null {
        return Err(Errno::EFAULT);
    }
    if bufsize < AGENT_AUDIT_ROW_MIN {
        return Err(Errno::ERANGE);
    }
    Ok(())
}

/// `agent_audit_query`: every pure step in order: [`check_user_struct`] on the filter, the
/// copy, [`check_audit_filter`], [`check_audit_buffer`]. Returns the copied filter.
pub fn validate_audit_query(
    filter_is_null: bool,
    fsize: usize,
    buf_is_null: bool,
    bufsize: usize,
    copy: impl FnOnce() -> Result<AgentAuditFilter, Errno>,
) -> Result<AgentAuditFilter, Errno> {
    check_user_struct(filter_is_null, fsize, AGENT_AUDIT_FILTER_SIZE_VER0)?;
    let filter = copy()?;
    check_audit_filter(&filter)?;
    check_audit_buffer(buf_is_null, bufsize)?;
    Ok(filter)
}

/// `agent_memory_tier`: the checks on the scalar arguments, in order: tier unknown `EINVAL`;
/// bad AID form `EINVAL`.
pub fn check_memory_tier(aid: u64, tier: u32) -> Result<(AidTarget, MemTier), Errno> {
    let tier = MemTier::from_u32(tier).ok_or(Errno::EINVAL)?;
    let target = AidTarget::from_arg(aid)?;
    Ok((target, tier))
}

/// `agent_memory_tier`: the checks on the copied request, in order: unknown flags `EINVAL`;
/// unknown `prot` bits (including `PROT_EXEC`) `EINVAL`; `reserved != 0` `EINVAL`;
/// `length == 0` `EINVAL`; `length > AGENT_MEM_LENGTH_MAX` `ENOMEM`.
pub fn check_mem_request(r: &AgentMemRequest) -> Result<(), Errno> {
    if r.flags & !AGENT_MEM_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if r.prot & !AGENT_MEM_PROT_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    if r.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    if r.length == 0 {
        return Err(Errno::EINVAL);
    }
    if r.length > AGENT_MEM_LENGTH_MAX {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// `agent_memory_tier`: every pure step in order: [`check_memory_tier`],
/// [`check_user_struct`], the copy, [`check_mem_request`].
pub fn validate_memory_tier(
    aid: u64,
    tier: u32,
    req_is_null: bool,
    size: usize,
    copy: impl FnOnce() -> Result<AgentMemRequest, Errno>,
) -> Result<(AidTarget, MemTier, AgentMemRequest), Errno> {
    let (target, tier) = check_memory_tier(aid, tier)?;
    check_user_struct(req_is_null, size, AGENT_MEM_REQUEST_SIZE_VER0)?;
    let req = copy()?;
    check_mem_request(&req)?;
    Ok((target, tier, req))
}
