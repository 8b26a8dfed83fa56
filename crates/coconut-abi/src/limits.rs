//! Every limit of the agent ABI, and the masks of accepted flag bits.
//!
//! Job: keep all numeric bounds in one place (like Landlock's `limits.h`). Each mask is derived
//! from the last defined flag of its group (`(LAST << 1) - 1`), so a new flag widens its mask
//! automatically. `docs/abi.md` quotes these values; a test checks that it quotes them right.
//!
//! Constraints: plain constants only; no_std, no dependencies.

use super::flags::{
    AGENT_ATTEST_LAST, AGENT_AUDIT_FILTER_LAST, AGENT_GRANT_LAST, AGENT_MEM_LAST,
    AGENT_MEM_PROT_LAST, AGENT_QUOTA_LAST, AGENT_REVOKE_LAST, AGENT_SPAWN_LAST,
};

/// The ABI version returned by `agent_attest(0, NULL, 0, AGENT_ATTEST_ABI_VERSION)`.
pub const AGENT_ABI_VERSION: u32 = 1;

/// Largest user struct size accepted by the size-versioned calls (one x86_64 page); larger
/// sizes fail with `E2BIG`.
pub const AGENT_STRUCT_SIZE_MAX: usize = 4096;

/// Largest signed manifest envelope, in bytes (16 KiB).
pub const AGENT_MANIFEST_MAX: u64 = 16 * 1024;
/// Largest CBOR capability array passed to `agent_spawn`, in bytes (4 KiB).
pub const AGENT_CAPSET_MAX: u64 = 4 * 1024;
/// Largest capability scope, in bytes.
pub const AGENT_SCOPE_MAX: usize = 256;
/// Largest number of entries in one capability set (manifest caps, bound caps, spawn caps).
pub const AGENT_CAPS_MAX: usize = 64;
/// Longest capability name in the table, in bytes (`broker.inference`).
pub const AGENT_CAP_NAME_MAX: usize = 16;
/// Longest agent name in a manifest, in bytes.
pub const AGENT_NAME_MAX: usize = 64;
/// Longest tenant name in a manifest, in bytes.
pub const AGENT_TENANT_MAX: usize = 64;
/// Most keys in a manifest's `signers` array.
pub const AGENT_SIGNERS_MAX: usize = 8;

/// Largest spawned AID: `2^63 - 1`, so that an AID is always a positive syscall return value.
pub const AID_MAX: u64 = (1 << 63) - 1;
/// Most agents that may exist at once in non-terminal states, a:00000 included.
pub const AGENT_MAX_AGENTS: u32 = 4096;
/// Deepest agent tree: a:00000 is depth 0; spawning below this depth fails with `EBUSY`.
pub const AGENT_DEPTH_MAX: u32 = 32;

/// Capability denials inside one deny window that an agent in Cap-denied tolerates; the next
/// one moves it to Quarantined.
pub const AGENT_DENY_LIMIT: u32 = 8;
/// Length of the deny window, in nanoseconds (10 s). It opens with the denial that moves an
/// agent from Active to Cap-denied; when it closes, the agent returns to Active.
pub const AGENT_DENY_WINDOW_NS: u64 = 10_000_000_000;

/// Budget value meaning "no limit".
pub const AGENT_QUOTA_UNLIMITED: u64 = u64::MAX;
/// Shortest CPU period, in nanoseconds (1 ms, as cgroup `cpu.max`).
pub const AGENT_CPU_PERIOD_MIN_NS: u64 = 1_000_000;
/// Longest CPU period, in nanoseconds (1 s, as cgroup `cpu.max`).
pub const AGENT_CPU_PERIOD_MAX_NS: u64 = 1_000_000_000;
/// Smallest CPU limit, in microseconds per period (1 ms, as cgroup `cpu.max`).
pub const AGENT_CPU_LIMIT_MIN_US: u64 = 1_000;
/// Shortest refill period of the `net` and `inference_tokens` budgets, in nanoseconds (1 ms);
/// 0 means the budget never refills.
pub const AGENT_PERIOD_MIN_NS: u64 = 1_000_000;
/// Longest refill period of the `net` and `inference_tokens` budgets, in nanoseconds (1 day).
pub const AGENT_PERIOD_MAX_NS: u64 = 86_400_000_000_000;

/// Largest `agent_mem_request.length`, in bytes (64 TiB); larger requests fail with `ENOMEM`.
pub const AGENT_MEM_LENGTH_MAX: u64 = 1 << 46;

/// Largest detail text of an audit event, in bytes.
pub const AGENT_AUDIT_DETAIL_MAX: usize = 256;
/// Size of the fixed audit event header, in bytes.
pub const AGENT_AUDIT_EVENT_HDR_SIZE: usize = 56;
/// Size of the binary row header that precedes each event in `agent_audit_query` output.
pub const AGENT_AUDIT_ROW_HDR_LEN: usize = 72;
/// Smallest binary audit row (row header plus event header, empty detail): 128 bytes. An
/// `agent_audit_query` buffer smaller than this fails with `ERANGE`.
pub const AGENT_AUDIT_ROW_MIN: usize = AGENT_AUDIT_ROW_HDR_LEN + AGENT_AUDIT_EVENT_HDR_SIZE;
/// Largest binary audit row: 384 bytes.
pub const AGENT_AUDIT_ROW_MAX: usize = AGENT_AUDIT_ROW_MIN + AGENT_AUDIT_DETAIL_MAX;
/// Lines in an agent's `audit/tail` file in agentfs.
pub const AGENT_AUDIT_TAIL_LINES: usize = 64;

/// Accepted `agent_spawn_args.flags` bits.
pub const AGENT_SPAWN_MASK: u64 = (AGENT_SPAWN_LAST << 1) - 1;
/// Accepted `agent_attest` flags.
pub const AGENT_ATTEST_MASK: u32 = (AGENT_ATTEST_LAST << 1) - 1;
/// Accepted `agent_quota` flags (exactly one of them must be set).
pub const AGENT_QUOTA_MASK: u32 = (AGENT_QUOTA_LAST << 1) - 1;
/// Accepted `agent_cap_grant` flags.
pub const AGENT_GRANT_MASK: u32 = (AGENT_GRANT_LAST << 1) - 1;
/// Accepted `agent_cap_revoke` flags.
pub const AGENT_REVOKE_MASK: u32 = (AGENT_REVOKE_LAST << 1) - 1;
/// Accepted `agent_cap_present` flags: none yet.
pub const AGENT_PRESENT_MASK: u32 = 0;
/// Accepted `agent_audit_filter.flags` bits.
pub const AGENT_AUDIT_FILTER_MASK: u64 = (AGENT_AUDIT_FILTER_LAST << 1) - 1;
/// Accepted `agent_mem_request.flags` bits.
pub const AGENT_MEM_MASK: u64 = (AGENT_MEM_LAST << 1) - 1;
/// Accepted `agent_mem_request.prot` bits.
pub const AGENT_MEM_PROT_MASK: u32 = (AGENT_MEM_PROT_LAST << 1) - 1;

/// Accepted `agent_audit_filter.kinds` bits: bit `k` selects audit kind `k`, for every defined
/// kind (bit 0 is not a kind and is refused).
pub const AGENT_AUDIT_KINDS_MASK: u64 =
    ((1u64 << (super::audit::AuditKind::LAST as u32 + 1)) - 1) & !1;
