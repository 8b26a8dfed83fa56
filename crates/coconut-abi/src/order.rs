//! The complete error matrix of every agent syscall, as data, in check order.
//!
//! Job: the single list of "condition → errno" rows for each call, in the order the kernel
//! checks them. `docs/abi.md` prints these tables (a test renders them from here and compares),
//! the conformance suite walks them, and the `Pure` rows are exactly what the functions of the
//! `check` module do, in the same order (tests drive both).
//!
//! Constraints: no_std, no dependencies; `static` data only.

use super::errno::Errno;
use super::syscall::Syscall;

/// Where a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A pure check on argument values (this crate's `check_*` functions; runs in the
    /// skeleton kernel).
    Pure,
    /// Copying from or to user memory (`copy_struct_from_user`, `copy_from_user`,
    /// `copy_to_user`).
    Copy,
    /// A check that needs kernel state (agents, capabilities, budgets, tasks).
    Kernel,
}

impl Stage {
    /// The word printed in the documentation tables.
    pub const fn word(self) -> &'static str {
        match self {
            Stage::Pure => "pure",
            Stage::Copy => "copy",
            Stage::Kernel => "kernel",
        }
    }
}

/// One row of an error matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStep {
    /// Where the check runs.
    pub stage: Stage,
    /// The failing condition, in Markdown.
    pub condition: &'static str,
    /// The error returned.
    pub errno: Errno,
}

const fn pure(condition: &'static str, errno: Errno) -> CheckStep {
    CheckStep {
        stage: Stage::Pure,
        condition,
        errno,
    }
}

const fn copy(condition: &'static str, errno: Errno) -> CheckStep {
    CheckStep {
        stage: Stage::Copy,
        condition,
        errno,
    }
}

const fn kernel(condition: &'static str, errno: Errno) -> CheckStep {
    CheckStep {
        stage: Stage::Kernel,
        condition,
        errno,
    }
}

static SPAWN: [CheckStep; 24] = [
    pure("`args` is NULL", Errno::EFAULT),
    pure("`size` < `AGENT_SPAWN_ARGS_SIZE_VER0` (48)", Errno::EINVAL),
    pure("`size` > `AGENT_STRUCT_SIZE_MAX` (4096)", Errno::E2BIG),
    copy("`args` is not readable", Errno::EFAULT),
    copy("a byte of `args` beyond the known struct is not zero", Errno::E2BIG),
    pure("`flags` has a bit outside `AGENT_SPAWN_MASK`", Errno::EINVAL),
    pure("`pidfd` != 0 without `AGENT_SPAWN_PIDFD`", Errno::EINVAL),
    pure("`manifest_len` == 0", Errno::EINVAL),
    pure("`manifest_len` > `AGENT_MANIFEST_MAX` (16384)", Errno::E2BIG),
    pure("`caps_len` > `AGENT_CAPSET_MAX` (4096)", Errno::E2BIG),
    copy("`manifest` is not readable for `manifest_len` bytes", Errno::EFAULT),
    copy("`caps_len` > 0 and `caps` is not readable", Errno::EFAULT),
    kernel("the envelope, the body or `caps` is not valid canonical CBOR of the documented shape (unknown key, wrong type, value out of range, unknown capability name, more than `AGENT_CAPS_MAX` entries, entries not strictly sorted)", Errno::EINVAL),
    kernel("(tree mutex) the caller's agent does not hold `agent.spawn` (for a:00000: the calling task lacks `CAP_SYS_ADMIN` in the initial user namespace)", Errno::EPERM),
    kernel("(tree mutex) the caller's agent is not Active, Cap-denied or Inference-blocked", Errno::EBUSY),
    kernel("(tree mutex) the envelope's `key` is not trusted: for a:00000, not a root key (built in, or added and not revoked through `/agent/policy/signers`); for another agent, not in its manifest's `signers`", Errno::EPERM),
    kernel("the Ed25519 signature does not verify under the strict rules", Errno::EKEYREJECTED),
    kernel("`lane` != 0 (no tenant lanes exist yet: `/agent/policy/tenants/` is not built)", Errno::EINVAL),
    kernel("with `AGENT_SPAWN_PIDFD`: `pidfd` is not a pidfd", Errno::EBADF),
    kernel("the pidfd's task has exited or is exiting (`PF_EXITING`)", Errno::ESRCH),
    kernel("the pidfd is a `PIDFD_THREAD` pidfd; its task's `real_parent` is not in the caller's thread group; it is not in the caller's agent; it has more than one thread; or it already has a pending join", Errno::EINVAL),
    kernel("(tree mutex) rows 14-16 again (a revoke or state change may have run since), then: `caps` is not a subset of the manifest's caps, or the manifest's caps are not a subset of the caller's agent's caps", Errno::EPERM),
    kernel("(tree mutex) `AGENT_MAX_AGENTS` agents are live, the new agent would be deeper than `AGENT_DEPTH_MAX`, or no AID is left", Errno::EBUSY),
    kernel("an allocation fails (the manifest copy, the capability sets, the agent, the tree slot, its agentfs directory)", Errno::ENOMEM),
];

static ATTEST: [CheckStep; 8] = [
    pure(
        "`flags` has a bit outside `AGENT_ATTEST_MASK`",
        Errno::EINVAL,
    ),
    pure(
        "`AGENT_ATTEST_ABI_VERSION` with `aid` != 0, `buf` != NULL or `size` != 0",
        Errno::EINVAL,
    ),
    pure(
        "`aid` is neither `AID_SELF` nor at most `AID_MAX`",
        Errno::EINVAL,
    ),
    pure("`size` > 0 and `buf` is NULL", Errno::EFAULT),
    kernel("no agent `aid` visible to the caller", Errno::ESRCH),
    kernel(
        "`size` > 0 and the chain is longer than `size`",
        Errno::ERANGE,
    ),
    kernel("allocating the encoding buffer fails", Errno::ENOMEM),
    copy(
        "`buf` is not writable for the chain's length",
        Errno::EFAULT,
    ),
];

static QUOTA: [CheckStep; 19] = [
    pure("`flags` has a bit outside `AGENT_QUOTA_MASK`, or not exactly one of GET, SET, CHARGE", Errno::EINVAL),
    pure("`kind` is 0 or not a quota kind", Errno::EINVAL),
    pure("CHARGE of `cpu`, `ram` or `hbm` (only brokered kinds are charged)", Errno::EINVAL),
    pure("`aid` is neither `AID_SELF` nor at most `AID_MAX`", Errno::EINVAL),
    pure("`budget` is NULL", Errno::EFAULT),
    pure("`size` < `AGENT_BUDGET_SIZE_VER0` (32)", Errno::EINVAL),
    pure("`size` > `AGENT_STRUCT_SIZE_MAX` (4096)", Errno::E2BIG),
    copy("SET, CHARGE: `budget` is not readable", Errno::EFAULT),
    copy("SET, CHARGE: a byte beyond the known struct is not zero", Errno::E2BIG),
    pure("SET: `reserved` or `used` is not 0", Errno::EINVAL),
    pure("SET: `period_ns` outside the kind's range (cpu: 1 ms..=1 s; net, inference_tokens: 0 or 1 ms..=1 day; ram, hbm: 0)", Errno::EINVAL),
    pure("SET: cpu `limit` < `AGENT_CPU_LIMIT_MIN_US` and not `AGENT_QUOTA_UNLIMITED`", Errno::EINVAL),
    pure("CHARGE: `limit`, `period_ns` or `reserved` is not 0", Errno::EINVAL),
    kernel("no agent `aid` visible to the caller", Errno::ESRCH),
    kernel("SET: the caller's agent is not a strict ancestor, lacks `agent.quota`, or the new limit exceeds the parent's limit of that kind", Errno::EPERM),
    kernel("CHARGE: the caller's agent lacks `broker.inference` (inference_tokens) or `broker.net` (net)", Errno::EPERM),
    kernel("SET, CHARGE: the agent is terminated", Errno::EBUSY),
    kernel("CHARGE: after adding `used`, the consumption reached the limit (the charge is recorded)", Errno::EDQUOT),
    copy("GET: `budget` is not writable for `size` bytes", Errno::EFAULT),
];

/// The pure steps shared by the three capability calls.
macro_rules! cap_prefix {
    ($($rest:expr,)*) => {
        [
            pure("`flags` has a bit outside the call's mask (`AGENT_GRANT_MASK`, `AGENT_REVOKE_MASK`, `AGENT_PRESENT_MASK`)", Errno::EINVAL),
            pure("revoke: both `AGENT_REVOKE_ALL` and `AGENT_REVOKE_QUARANTINE`", Errno::EINVAL),
            pure("an agent-level flag (`AGENT_GRANT_RELEASE`, `AGENT_REVOKE_ALL`, `AGENT_REVOKE_QUARANTINE`) with `cap` != 0 or `scope_len` != 0", Errno::EINVAL),
            pure("otherwise `cap` is 0 or not in the capability table", Errno::EINVAL),
            pure("`aid` is neither `AID_SELF` nor at most `AID_MAX`", Errno::EINVAL),
            pure("`scope_len` > `AGENT_SCOPE_MAX` (256)", Errno::E2BIG),
            pure("`scope_len` > 0 and `scope` is NULL", Errno::EFAULT),
            copy("`scope` is not readable for `scope_len` bytes", Errno::EFAULT),
            pure("the scope has a byte outside 0x21..=0x7e, or a `*` that is not its last byte", Errno::EINVAL),
            $($rest,)*
        ]
    };
}

static GRANT: [CheckStep; 16] = cap_prefix![
    kernel("no agent `aid` visible to the caller", Errno::ESRCH),
    kernel("the caller's agent is not a strict ancestor of `aid`", Errno::EPERM),
    kernel("`AGENT_GRANT_RELEASE` and `aid` is not Quarantined", Errno::EBUSY),
    kernel("the caller's agent lacks `agent.delegate`, or holds no entry covering (`cap`, scope) (for a:00000: the task lacks `CAP_SYS_ADMIN`)", Errno::EPERM),
    kernel("`aid` is live and its manifest caps do not cover (`cap`, scope) (the manifest is the ceiling), or its parent holds no entry covering it (a grandparent cannot give what the parent lost)", Errno::EPERM),
    kernel("`aid` is terminated", Errno::EBUSY),
    kernel("the entry is new and the set is full (`AGENT_CAPS_MAX` (64) entries or its scope arena)", Errno::E2BIG),
];

static REVOKE: [CheckStep; 14] = cap_prefix![
    kernel("no agent `aid` visible to the caller", Errno::ESRCH),
    kernel("`aid` is a:00000 (immune), or the caller's agent is neither a strict ancestor of `aid` nor holds `agent.admin` with `aid` in its own subtree", Errno::EPERM),
    kernel("`aid` is terminated", Errno::EBUSY),
    kernel("the list of the subtree's live agents cannot be allocated", Errno::ENOMEM),
    kernel("`AGENT_REVOKE_QUARANTINE` and `aid` is not Active, Inference-blocked or Cap-denied", Errno::EBUSY),
];

static PRESENT: [CheckStep; 11] = cap_prefix![
    kernel(
        "no agent `aid` visible to the caller (its own agent and its descendants; an unprivileged a:00000 caller sees only a:00000)",
        Errno::ESRCH
    ),
    kernel(
        "no entry held by `aid` covers (`cap`, scope)",
        Errno::ENOENT
    ),
];

static AUDIT_QUERY: [CheckStep; 15] = [
    pure("`filter` is NULL", Errno::EFAULT),
    pure("`fsize` < `AGENT_AUDIT_FILTER_SIZE_VER0` (40)", Errno::EINVAL),
    pure("`fsize` > `AGENT_STRUCT_SIZE_MAX` (4096)", Errno::E2BIG),
    copy("`filter` is not readable", Errno::EFAULT),
    copy("a byte of `filter` beyond the known struct is not zero", Errno::E2BIG),
    pure("`flags` has a bit outside `AGENT_AUDIT_FILTER_MASK`", Errno::EINVAL),
    pure("`kinds` has a bit outside `AGENT_AUDIT_KINDS_MASK`", Errno::EINVAL),
    pure("`aid` is not `AID_ANY`, `AID_SELF` or at most `AID_MAX`", Errno::EINVAL),
    pure("`AGENT_AUDIT_SUBTREE` with `aid` == `AID_ANY`", Errno::EINVAL),
    pure("`to_seq` != 0 and `to_seq` < `from_seq`", Errno::EINVAL),
    pure("`buf` is NULL", Errno::EFAULT),
    pure("`bufsize` < `AGENT_AUDIT_ROW_MIN` (128)", Errno::ERANGE),
    kernel("`aid` is not `AID_ANY` and names no agent visible to the caller (self, descendants; all with `audit.read`)", Errno::ESRCH),
    kernel("the first matching row is longer than `bufsize`", Errno::ERANGE),
    copy("`buf` is not writable", Errno::EFAULT),
];

static MEMORY_TIER: [CheckStep; 17] = [
    pure("`tier` is not a memory tier", Errno::EINVAL),
    pure(
        "`aid` is neither `AID_SELF` nor at most `AID_MAX`",
        Errno::EINVAL,
    ),
    pure("`req` is NULL", Errno::EFAULT),
    pure("`size` < `AGENT_MEM_REQUEST_SIZE_VER0` (24)", Errno::EINVAL),
    pure("`size` > `AGENT_STRUCT_SIZE_MAX` (4096)", Errno::E2BIG),
    copy("`req` is not readable", Errno::EFAULT),
    copy(
        "a byte of `req` beyond the known struct is not zero",
        Errno::E2BIG,
    ),
    pure("`flags` has a bit outside `AGENT_MEM_MASK`", Errno::EINVAL),
    pure(
        "`prot` has a bit outside `AGENT_MEM_PROT_MASK` (PROT_EXEC included)",
        Errno::EINVAL,
    ),
    pure("`reserved` is not 0", Errno::EINVAL),
    pure("`length` == 0", Errno::EINVAL),
    pure("`length` > `AGENT_MEM_LENGTH_MAX` (2^46)", Errno::ENOMEM),
    kernel(
        "`aid` is neither `AID_SELF` nor the caller's own agent",
        Errno::EPERM,
    ),
    kernel(
        "FAST or SLOW and the caller's agent lacks `mem.tier`",
        Errno::EPERM,
    ),
    kernel("the tier has no memory node on this machine", Errno::ENODEV),
    kernel(
        "FAST and `hbm` used + `length` would exceed the `hbm` limit",
        Errno::EDQUOT,
    ),
    kernel("the mapping cannot be made", Errno::ENOMEM),
];

/// Every syscall's error matrix, in check order.
pub static CHECK_ORDER: [(Syscall, &[CheckStep]); 8] = [
    (Syscall::AgentSpawn, &SPAWN),
    (Syscall::AgentAttest, &ATTEST),
    (Syscall::AgentQuota, &QUOTA),
    (Syscall::AgentCapGrant, &GRANT),
    (Syscall::AgentCapRevoke, &REVOKE),
    (Syscall::AgentCapPresent, &PRESENT),
    (Syscall::AgentAuditQuery, &AUDIT_QUERY),
    (Syscall::AgentMemoryTier, &MEMORY_TIER),
];

/// The error matrix of one syscall.
pub fn check_order(call: Syscall) -> &'static [CheckStep] {
    CHECK_ORDER
        .iter()
        .find(|(c, _)| *c == call)
        .map_or(&[], |(_, steps)| steps)
}
