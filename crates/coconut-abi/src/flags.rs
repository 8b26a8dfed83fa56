//! Flag bits of the agent system calls, one group per call or struct field.
//!
//! Job: name every flag bit of the ABI and, for each group, the last defined bit
//! (`*_LAST`). The masks of accepted bits are derived from those last bits in [`super::limits`]
//! (the Landlock way), so adding a flag means adding it here and moving `*_LAST`.
//!
//! Constraints: plain constants only; no_std, no dependencies.

/// `agent_spawn_args.flags`: the `pidfd` field is valid and names the first member task.
pub const AGENT_SPAWN_PIDFD: u64 = 1 << 0;
/// The last defined `agent_spawn_args.flags` bit.
pub const AGENT_SPAWN_LAST: u64 = AGENT_SPAWN_PIDFD;

/// `agent_attest` flags: return [`super::limits::AGENT_ABI_VERSION`] instead of a chain
/// (requires `aid == 0`, `buf == NULL`, `size == 0`).
pub const AGENT_ATTEST_ABI_VERSION: u32 = 1 << 0;
/// The last defined `agent_attest` flag.
pub const AGENT_ATTEST_LAST: u32 = AGENT_ATTEST_ABI_VERSION;

/// `agent_quota` operation: fill `*budget` with the agent's current budget.
pub const AGENT_QUOTA_GET: u32 = 1 << 0;
/// `agent_quota` operation: set `limit` and `period_ns` of the agent's budget.
pub const AGENT_QUOTA_SET: u32 = 1 << 1;
/// `agent_quota` operation: add `used` to the agent's consumption (brokers only).
pub const AGENT_QUOTA_CHARGE: u32 = 1 << 2;
/// The last defined `agent_quota` flag.
pub const AGENT_QUOTA_LAST: u32 = AGENT_QUOTA_CHARGE;

/// `agent_cap_grant` flag: lift the quarantine of the agent and of its quarantined
/// descendants (requires `cap == 0` and no scope).
pub const AGENT_GRANT_RELEASE: u32 = 1 << 0;
/// The last defined `agent_cap_grant` flag.
pub const AGENT_GRANT_LAST: u32 = AGENT_GRANT_RELEASE;

/// `agent_cap_revoke` flag: revoke every capability and terminate the agent and its
/// descendants (Terminated-revoked); requires `cap == 0` and no scope.
pub const AGENT_REVOKE_ALL: u32 = 1 << 0;
/// `agent_cap_revoke` flag: quarantine the agent and its live descendants instead of removing
/// capabilities; requires `cap == 0` and no scope.
pub const AGENT_REVOKE_QUARANTINE: u32 = 1 << 1;
/// The last defined `agent_cap_revoke` flag.
pub const AGENT_REVOKE_LAST: u32 = AGENT_REVOKE_QUARANTINE;

/// `agent_audit_filter.flags`: match rows whose subject is `aid` or any descendant of `aid`.
pub const AGENT_AUDIT_SUBTREE: u64 = 1 << 0;
/// The last defined `agent_audit_filter.flags` bit.
pub const AGENT_AUDIT_FILTER_LAST: u64 = AGENT_AUDIT_SUBTREE;

/// `agent_mem_request.flags`: fault the whole mapping in before returning (`MAP_POPULATE`).
pub const AGENT_MEM_POPULATE: u64 = 1 << 0;
/// `agent_mem_request.flags`: bind strictly to the tier's nodes (`MPOL_BIND`); without it the
/// tier's nodes are preferred and other nodes are a fallback (`MPOL_PREFERRED_MANY`).
pub const AGENT_MEM_STRICT: u64 = 1 << 1;
/// The last defined `agent_mem_request.flags` bit.
pub const AGENT_MEM_LAST: u64 = AGENT_MEM_STRICT;

/// `agent_mem_request.prot`: pages may be read (same value as `PROT_READ`).
pub const AGENT_MEM_PROT_READ: u32 = 1 << 0;
/// `agent_mem_request.prot`: pages may be written (same value as `PROT_WRITE`).
pub const AGENT_MEM_PROT_WRITE: u32 = 1 << 1;
/// The last defined `agent_mem_request.prot` bit (`PROT_EXEC` is deliberately not accepted).
pub const AGENT_MEM_PROT_LAST: u32 = AGENT_MEM_PROT_WRITE;
