//! Budget kinds of `agent_quota` and memory tiers of `agent_memory_tier`.
//!
//! Job: the ids (ABI), the names used in manifests, agentfs `budget/` files and audit rows, and
//! the unit of each budget.
//!
//! Constraints: no_std, no dependencies, no panics.

/// A budget kind (`AGENT_QUOTA_*` kinds in the uapi header). 0 is not a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum QuotaKind {
    /// CPU time: `limit` is microseconds of CPU per `period_ns` (cgroup `cpu.max`).
    Cpu = 1,
    /// Memory: `limit` is bytes (cgroup `memory.max`); no period.
    Ram = 2,
    /// Fast-tier (HBM-class) memory mapped with `agent_memory_tier`: bytes; no period.
    Hbm = 3,
    /// Network egress through the network broker: bytes per `period_ns`.
    Net = 4,
    /// Inference tokens through the inference broker: tokens per `period_ns`.
    InferenceTokens = 5,
}

impl QuotaKind {
    /// Every kind, in id order.
    pub const ALL: [QuotaKind; 5] = [
        QuotaKind::Cpu,
        QuotaKind::Ram,
        QuotaKind::Hbm,
        QuotaKind::Net,
        QuotaKind::InferenceTokens,
    ];
    /// The last kind id.
    pub const LAST: QuotaKind = QuotaKind::InferenceTokens;

    /// The kind with this id.
    pub const fn from_u32(id: u32) -> Option<QuotaKind> {
        Some(match id {
            1 => QuotaKind::Cpu,
            2 => QuotaKind::Ram,
            3 => QuotaKind::Hbm,
            4 => QuotaKind::Net,
            5 => QuotaKind::InferenceTokens,
            _ => return None,
        })
    }

    /// The name used as manifest `budget` key and agentfs `budget/` file name.
    pub const fn name(self) -> &'static str {
        match self {
            QuotaKind::Cpu => "cpu",
            QuotaKind::Ram => "ram",
            QuotaKind::Hbm => "hbm",
            QuotaKind::Net => "net",
            QuotaKind::InferenceTokens => "inference_tokens",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &[u8]) -> Option<QuotaKind> {
        QuotaKind::ALL
            .into_iter()
            .find(|k| k.name().as_bytes() == name)
    }

    /// The unit of `limit` and `used`.
    pub const fn unit(self) -> &'static str {
        match self {
            QuotaKind::Cpu => "microseconds per period",
            QuotaKind::Ram | QuotaKind::Hbm => "bytes",
            QuotaKind::Net => "bytes per period",
            QuotaKind::InferenceTokens => "tokens per period",
        }
    }

    /// Whether the budget has a period (`period_ns` meaningful).
    pub const fn is_periodic(self) -> bool {
        matches!(
            self,
            QuotaKind::Cpu | QuotaKind::Net | QuotaKind::InferenceTokens
        )
    }

    /// Whether brokers charge this budget with `AGENT_QUOTA_CHARGE` (the others are metered
    /// by the kernel itself).
    pub const fn is_brokered(self) -> bool {
        matches!(self, QuotaKind::Net | QuotaKind::InferenceTokens)
    }
}

impl core::fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A memory tier (`AGENT_MEM_TIER_*` in the uapi header), over the kernel's memory-tiers
/// abstraction (`mm/memory-tiers.c`): tiers are ranked by abstract distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum MemTier {
    /// The caller's default NUMA policy; always present.
    Default = 0,
    /// The top (fastest, HBM-class) memory tier; charged to the `hbm` budget.
    Fast = 1,
    /// The tier holding the ordinary DRAM nodes (the default-distance tier).
    Dram = 2,
    /// The lowest (slowest, CXL or PMEM) memory tier.
    Slow = 3,
}

impl MemTier {
    /// Every tier, in id order.
    pub const ALL: [MemTier; 4] = [
        MemTier::Default,
        MemTier::Fast,
        MemTier::Dram,
        MemTier::Slow,
    ];
    /// The last tier id.
    pub const LAST: MemTier = MemTier::Slow;

    /// The tier with this id.
    pub const fn from_u32(id: u32) -> Option<MemTier> {
        Some(match id {
            0 => MemTier::Default,
            1 => MemTier::Fast,
            2 => MemTier::Dram,
            3 => MemTier::Slow,
            _ => return None,
        })
    }

    /// The tier's name, as audit rows print it.
    pub const fn name(self) -> &'static str {
        match self {
            MemTier::Default => "default",
            MemTier::Fast => "fast",
            MemTier::Dram => "dram",
            MemTier::Slow => "slow",
        }
    }

    /// Whether requesting this tier needs the `mem.tier` capability (FAST and SLOW do).
    pub const fn needs_capability(self) -> bool {
        matches!(self, MemTier::Fast | MemTier::Slow)
    }
}

impl core::fmt::Display for MemTier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
