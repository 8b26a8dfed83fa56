//! The agent system call numbers (x86_64) and their names.
//!
//! Job: the one place that says which number is which call. The numbers are the spec's
//! stable numbers, 472–479, right after the range upstream Linux had used when the fork was
//! cut (see `docs/abi.md`, "Syscall numbers and the upstream collision").
//!
//! Constraints: no_std, no dependencies, no panics.

/// `long agent_spawn(const struct agent_spawn_args *args, size_t size)`.
pub const NR_AGENT_SPAWN: u32 = 472;
/// `long agent_attest(__u64 aid, void *buf, size_t size, unsigned int flags)`.
pub const NR_AGENT_ATTEST: u32 = 473;
/// `long agent_quota(__u64 aid, unsigned int kind, struct agent_budget *budget, size_t size,
/// unsigned int flags)`.
pub const NR_AGENT_QUOTA: u32 = 474;
/// `long agent_cap_grant(__u64 aid, __u32 cap, const char *scope, size_t scope_len,
/// unsigned int flags)`.
pub const NR_AGENT_CAP_GRANT: u32 = 475;
/// `long agent_cap_revoke(__u64 aid, __u32 cap, const char *scope, size_t scope_len,
/// unsigned int flags)`.
pub const NR_AGENT_CAP_REVOKE: u32 = 476;
/// `long agent_cap_present(__u64 aid, __u32 cap, const char *scope, size_t scope_len,
/// unsigned int flags)`.
pub const NR_AGENT_CAP_PRESENT: u32 = 477;
/// `long agent_audit_query(const struct agent_audit_filter *filter, size_t fsize, void *buf,
/// size_t bufsize)`.
pub const NR_AGENT_AUDIT_QUERY: u32 = 478;
/// `long agent_memory_tier(__u64 aid, unsigned int tier, const struct agent_mem_request *req,
/// size_t size)`.
pub const NR_AGENT_MEMORY_TIER: u32 = 479;

/// One of the eight agent system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Syscall {
    /// `agent_spawn` (472): create a child agent from a signed manifest.
    AgentSpawn = NR_AGENT_SPAWN,
    /// `agent_attest` (473): read an agent's attestation chain.
    AgentAttest = NR_AGENT_ATTEST,
    /// `agent_quota` (474): get, set or charge a budget.
    AgentQuota = NR_AGENT_QUOTA,
    /// `agent_cap_grant` (475): delegate a capability to a descendant.
    AgentCapGrant = NR_AGENT_CAP_GRANT,
    /// `agent_cap_revoke` (476): revoke capabilities from a descendant subtree.
    AgentCapRevoke = NR_AGENT_CAP_REVOKE,
    /// `agent_cap_present` (477): test whether an agent holds a capability.
    AgentCapPresent = NR_AGENT_CAP_PRESENT,
    /// `agent_audit_query` (478): read a segment of the audit chain.
    AgentAuditQuery = NR_AGENT_AUDIT_QUERY,
    /// `agent_memory_tier` (479): map memory bound to a memory tier.
    AgentMemoryTier = NR_AGENT_MEMORY_TIER,
}

impl Syscall {
    /// Every agent syscall, in number order.
    pub const ALL: [Syscall; 8] = [
        Syscall::AgentSpawn,
        Syscall::AgentAttest,
        Syscall::AgentQuota,
        Syscall::AgentCapGrant,
        Syscall::AgentCapRevoke,
        Syscall::AgentCapPresent,
        Syscall::AgentAuditQuery,
        Syscall::AgentMemoryTier,
    ];

    /// The first number of the block.
    pub const FIRST: u32 = NR_AGENT_SPAWN;
    /// The last number of the block.
    pub const LAST: u32 = NR_AGENT_MEMORY_TIER;

    /// The x86_64 syscall number.
    pub const fn nr(self) -> u32 {
        self as u32
    }

    /// The call's name as in the syscall table (`agent_spawn`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::AgentSpawn => "agent_spawn",
            Syscall::AgentAttest => "agent_attest",
            Syscall::AgentQuota => "agent_quota",
            Syscall::AgentCapGrant => "agent_cap_grant",
            Syscall::AgentCapRevoke => "agent_cap_revoke",
            Syscall::AgentCapPresent => "agent_cap_present",
            Syscall::AgentAuditQuery => "agent_audit_query",
            Syscall::AgentMemoryTier => "agent_memory_tier",
        }
    }

    /// The C prototype of the call.
    pub const fn c_signature(self) -> &'static str {
        match self {
            Syscall::AgentSpawn => {
                "long agent_spawn(const struct agent_spawn_args *args, size_t size)"
            }
            Syscall::AgentAttest => {
                "long agent_attest(__u64 aid, void *buf, size_t size, unsigned int flags)"
            }
            Syscall::AgentQuota => "long agent_quota(__u64 aid, unsigned int kind, struct agent_budget *budget, size_t size, unsigned int flags)",
            Syscall::AgentCapGrant => "long agent_cap_grant(__u64 aid, __u32 cap, const char *scope, size_t scope_len, unsigned int flags)",
            Syscall::AgentCapRevoke => "long agent_cap_revoke(__u64 aid, __u32 cap, const char *scope, size_t scope_len, unsigned int flags)",
            Syscall::AgentCapPresent => "long agent_cap_present(__u64 aid, __u32 cap, const char *scope, size_t scope_len, unsigned int flags)",
            Syscall::AgentAuditQuery => "long agent_audit_query(const struct agent_audit_filter *filter, size_t fsize, void *buf, size_t bufsize)",
            Syscall::AgentMemoryTier => "long agent_memory_tier(__u64 aid, unsigned int tier, const struct agent_mem_request *req, size_t size)",
        }
    }

    /// The call with this number, if it is an agent syscall.
    pub const fn from_nr(nr: u32) -> Option<Syscall> {
        Some(match nr {
            NR_AGENT_SPAWN => Syscall::AgentSpawn,
            NR_AGENT_ATTEST => Syscall::AgentAttest,
            NR_AGENT_QUOTA => Syscall::AgentQuota,
            NR_AGENT_CAP_GRANT => Syscall::AgentCapGrant,
            NR_AGENT_CAP_REVOKE => Syscall::AgentCapRevoke,
            NR_AGENT_CAP_PRESENT => Syscall::AgentCapPresent,
            NR_AGENT_AUDIT_QUERY => Syscall::AgentAuditQuery,
            NR_AGENT_MEMORY_TIER => Syscall::AgentMemoryTier,
            _ => return None,
        })
    }

    /// The call with this name, if any.
    pub fn from_name(name: &str) -> Option<Syscall> {
        Syscall::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl core::fmt::Display for Syscall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.nr())
    }
}
