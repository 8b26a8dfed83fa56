//! The errno values the agent ABI returns (x86_64 Linux numbering), with names and meanings.
//!
//! Job: one table, [`ERRNO_TABLE`], used by the kernel (return values), by libcoconut (its
//! typed errors map every entry), by the header renderer and by `docs/abi.md`.
//!
//! Constraints: no_std, no dependencies, no panics.

/// A positive errno value as the agent syscalls return it (negated) on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(i32);

impl Errno {
    /// Missing capability, not an ancestor, signer not trusted, caps not a subset.
    pub const EPERM: Errno = Errno(1);
    /// The agent does not hold a capability covering the request (`agent_cap_present` only).
    pub const ENOENT: Errno = Errno(2);
    /// No such agent, or one the caller may not see (existence is not leaked); the pidfd's
    /// task is gone.
    pub const ESRCH: Errno = Errno(3);
    /// An argument is larger than its limit, or a struct has non-zero unknown trailing bytes.
    pub const E2BIG: Errno = Errno(7);
    /// `agent_spawn_args.pidfd` is not an open pidfd.
    pub const EBADF: Errno = Errno(9);
    /// The kernel could not allocate memory, or a mapping request is too large.
    pub const ENOMEM: Errno = Errno(12);
    /// Access to an agentfs file that is never readable (`/agent/audit/tpm_root`).
    pub const EACCES: Errno = Errno(13);
    /// A user pointer is NULL or points at unmapped memory.
    pub const EFAULT: Errno = Errno(14);
    /// Agent table full, tree too deep, or the agent's state forbids the operation.
    pub const EBUSY: Errno = Errno(16);
    /// The requested memory tier has no memory on this machine.
    pub const ENODEV: Errno = Errno(19);
    /// Bad flag, kind, tier, capability id, AID form, struct size or field value; malformed
    /// manifest or capability text.
    pub const EINVAL: Errno = Errno(22);
    /// The output buffer is too small for the result (attestation chain, first audit row).
    pub const ERANGE: Errno = Errno(34);
    /// The syscall does not exist: the kernel is not Coconut OS (or lacks
    /// `CONFIG_COCONUT_AGENT`).
    pub const ENOSYS: Errno = Errno(38);
    /// A valid call the running kernel cannot serve yet (the skeleton phase).
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// A budget is exhausted.
    pub const EDQUOT: Errno = Errno(122);
    /// The manifest's Ed25519 signature does not verify.
    pub const EKEYREJECTED: Errno = Errno(129);

    /// The errno with this positive value, if the ABI uses it.
    pub fn from_raw(value: i32) -> Option<Errno> {
        ERRNO_TABLE
            .iter()
            .find(|(e, _, _)| e.0 == value)
            .map(|(e, _, _)| *e)
    }

    /// The positive errno value.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The value a syscall returns for this error: `-errno`.
    pub const fn to_ret(self) -> i64 {
        // Every errno of the table is positive and small, so the negation cannot overflow.
        (self.0 as i64).wrapping_neg()
    }

    /// The symbolic name, such as `"EINVAL"`.
    pub fn name(self) -> &'static str {
        ERRNO_TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map_or("E?", |(_, n, _)| n)
    }

    /// What the errno means in the agent ABI.
    pub fn description(self) -> &'static str {
        ERRNO_TABLE
            .iter()
            .find(|(e, _, _)| *e == self)
            .map_or("unknown error", |(_, _, d)| d)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.0, self.description())
    }
}

/// Every errno of the agent ABI: value, name, meaning in the ABI. Ordered by value.
pub static ERRNO_TABLE: [(Errno, &str, &str); 16] = [
    (
        Errno::EPERM,
        "EPERM",
        "missing capability, not an ancestor, untrusted signer or capabilities not a subset",
    ),
    (
        Errno::ENOENT,
        "ENOENT",
        "capability not held (agent_cap_present only)",
    ),
    (
        Errno::ESRCH,
        "ESRCH",
        "no such agent visible to the caller, or the pidfd's task is gone",
    ),
    (
        Errno::E2BIG,
        "E2BIG",
        "argument larger than its limit, or non-zero unknown trailing struct bytes",
    ),
    (Errno::EBADF, "EBADF", "pidfd is not an open pidfd"),
    (
        Errno::ENOMEM,
        "ENOMEM",
        "out of memory, or mapping request too large",
    ),
    (
        Errno::EACCES,
        "EACCES",
        "agentfs file that is never readable",
    ),
    (Errno::EFAULT, "EFAULT", "bad user pointer"),
    (
        Errno::EBUSY,
        "EBUSY",
        "agent table full, tree too deep, or the agent's state forbids the operation",
    ),
    (
        Errno::ENODEV,
        "ENODEV",
        "memory tier not present on this machine",
    ),
    (
        Errno::EINVAL,
        "EINVAL",
        "bad flag, kind, tier, capability, AID form, struct size, field or manifest",
    ),
    (Errno::ERANGE, "ERANGE", "output buffer too small"),
    (Errno::ENOSYS, "ENOSYS", "this kernel is not Coconut OS"),
    (
        Errno::EOPNOTSUPP,
        "EOPNOTSUPP",
        "valid call that this kernel cannot serve yet",
    ),
    (Errno::EDQUOT, "EDQUOT", "budget exhausted"),
    (
        Errno::EKEYREJECTED,
        "EKEYREJECTED",
        "manifest signature does not verify",
    ),
];
