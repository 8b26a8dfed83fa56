//! Typed errors of libcoconut: one variant per errno of the agent ABI, plus format errors.
//!
//! Job: turn `-errno` from an agent syscall into an [`Error`] that says which call failed and
//! what the errno means in the ABI (`docs/abi.md`, "Errors"), with ENOSYS reported as "this
//! kernel is not Coconut OS".
//!
//! Constraints: every errno in `coconut_abi::ERRNO_TABLE` maps to its own variant (a test
//! checks it); unexpected errnos are kept, not hidden, in [`Error::Other`].

use coconut_abi::{Errno, Syscall};

/// A libcoconut result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in libcoconut.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// ENOSYS: the running kernel has no agent syscalls (not Coconut OS, or built without
    /// `CONFIG_COCONUT_AGENT`).
    #[error("this kernel is not Coconut OS (syscall {nr} returned ENOSYS)")]
    NotCoconut {
        /// The syscall number that returned ENOSYS.
        nr: u32,
    },
    /// EOPNOTSUPP: a valid call that the running Coconut kernel cannot serve yet (the
    /// skeleton phase runs the argument checks only).
    #[error("{call}: valid call, but this Coconut kernel cannot serve it yet (EOPNOTSUPP)")]
    NotSupportedYet {
        /// The call.
        call: Syscall,
    },
    /// EPERM: missing capability, not an ancestor, untrusted signer, or caps not a subset.
    #[error("{call}: permission denied: missing capability, not an ancestor, untrusted signer or caps not a subset (EPERM)")]
    PermissionDenied {
        /// The call.
        call: Syscall,
    },
    /// ENOENT: the agent does not hold a covering capability (`agent_cap_present`).
    #[error("{call}: capability not held (ENOENT)")]
    CapabilityNotHeld {
        /// The call.
        call: Syscall,
    },
    /// ESRCH: no such agent visible to the caller, or the pidfd's task is gone.
    #[error("{call}: no such agent visible to the caller, or the pidfd's task is gone (ESRCH)")]
    NoSuchAgent {
        /// The call.
        call: Syscall,
    },
    /// E2BIG: an argument is over its limit, or a struct has non-zero unknown trailing bytes.
    #[error("{call}: argument too large or unknown non-zero struct bytes (E2BIG)")]
    TooBig {
        /// The call.
        call: Syscall,
    },
    /// EBADF: the pidfd is not an open pidfd.
    #[error("{call}: pidfd is not an open pidfd (EBADF)")]
    BadPidfd {
        /// The call.
        call: Syscall,
    },
    /// ENOMEM: the kernel is out of memory, or the mapping request is too large.
    #[error("{call}: out of memory or mapping too large (ENOMEM)")]
    OutOfMemory {
        /// The call.
        call: Syscall,
    },
    /// EACCES: access to an agentfs file that is never readable.
    #[error("{call}: access denied (EACCES)")]
    AccessDenied {
        /// The call.
        call: Syscall,
    },
    /// EFAULT: a pointer passed to the kernel was bad (a libcoconut bug if it happens).
    #[error("{call}: bad user pointer (EFAULT)")]
    BadAddress {
        /// The call.
        call: Syscall,
    },
    /// EBUSY: agent table full, tree too deep, or the agent's state forbids the operation.
    #[error("{call}: agent table full, tree too deep, or the agent's state forbids this (EBUSY)")]
    Busy {
        /// The call.
        call: Syscall,
    },
    /// ENODEV: the memory tier is not present on this machine.
    #[error("{call}: memory tier not present on this machine (ENODEV)")]
    TierNotPresent {
        /// The call.
        call: Syscall,
    },
    /// EINVAL: bad flag, kind, tier, capability, AID, struct size, field or manifest.
    #[error("{call}: invalid argument: flag, kind, tier, capability, AID, size, field or manifest (EINVAL)")]
    InvalidArgument {
        /// The call.
        call: Syscall,
    },
    /// ERANGE: the output buffer is too small.
    #[error("{call}: output buffer too small (ERANGE)")]
    BufferTooSmall {
        /// The call.
        call: Syscall,
    },
    /// EDQUOT: a budget is exhausted.
    #[error("{call}: budget exhausted (EDQUOT)")]
    BudgetExhausted {
        /// The call.
        call: Syscall,
    },
    /// EKEYREJECTED: the manifest signature does not verify.
    #[error("{call}: manifest signature rejected (EKEYREJECTED)")]
    SignatureRejected {
        /// The call.
        call: Syscall,
    },
    /// An errno the agent ABI does not document; reported as is.
    #[error("{call}: unexpected errno {errno} (not part of the agent ABI)")]
    Other {
        /// The call.
        call: Syscall,
        /// The positive errno value.
        errno: i32,
    },
    /// A manifest could not be built, encoded or verified.
    #[error("manifest: {0}")]
    Manifest(#[from] super::ManifestError),
    /// A capability text could not be parsed.
    #[error("capability: {0}")]
    Capability(#[from] super::CapabilityError),
    /// Audit bytes or a chain.log line are malformed.
    #[error("audit: {0}")]
    Audit(#[from] super::audit::AuditError),
}

impl Error {
    /// The error for `errno` returned by `call`.
    pub fn from_errno(call: Syscall, errno: i32) -> Error {
        match Errno::from_raw(errno) {
            Some(Errno::ENOSYS) => Error::NotCoconut { nr: call.nr() },
            Some(Errno::EOPNOTSUPP) => Error::NotSupportedYet { call },
            Some(Errno::EPERM) => Error::PermissionDenied { call },
            Some(Errno::ENOENT) => Error::CapabilityNotHeld { call },
            Some(Errno::ESRCH) => Error::NoSuchAgent { call },
            Some(Errno::E2BIG) => Error::TooBig { call },
            Some(Errno::EBADF) => Error::BadPidfd { call },
            Some(Errno::ENOMEM) => Error::OutOfMemory { call },
            Some(Errno::EACCES) => Error::AccessDenied { call },
            Some(Errno::EFAULT) => Error::BadAddress { call },
            Some(Errno::EBUSY) => Error::Busy { call },
            Some(Errno::ENODEV) => Error::TierNotPresent { call },
            Some(Errno::EINVAL) => Error::InvalidArgument { call },
            Some(Errno::ERANGE) => Error::BufferTooSmall { call },
            Some(Errno::EDQUOT) => Error::BudgetExhausted { call },
            Some(Errno::EKEYREJECTED) => Error::SignatureRejected { call },
            _ => Error::Other { call, errno },
        }
    }

    /// The errno behind a syscall error (`None` for format errors).
    pub fn errno(&self) -> Option<i32> {
        let e = match self {
            Error::NotCoconut { .. } => Errno::ENOSYS,
            Error::NotSupportedYet { .. } => Errno::EOPNOTSUPP,
            Error::PermissionDenied { .. } => Errno::EPERM,
            Error::CapabilityNotHeld { .. } => Errno::ENOENT,
            Error::NoSuchAgent { .. } => Errno::ESRCH,
            Error::TooBig { .. } => Errno::E2BIG,
            Error::BadPidfd { .. } => Errno::EBADF,
            Error::OutOfMemory { .. } => Errno::ENOMEM,
            Error::AccessDenied { .. } => Errno::EACCES,
            Error::BadAddress { .. } => Errno::EFAULT,
            Error::Busy { .. } => Errno::EBUSY,
            Error::TierNotPresent { .. } => Errno::ENODEV,
            Error::InvalidArgument { .. } => Errno::EINVAL,
            Error::BufferTooSmall { .. } => Errno::ERANGE,
            Error::BudgetExhausted { .. } => Errno::EDQUOT,
            Error::SignatureRejected { .. } => Errno::EKEYREJECTED,
            Error::Other { errno, .. } => return Some(*errno),
            Error::Manifest(_) | Error::Capability(_) | Error::Audit(_) => return None,
        };
        Some(e.get())
    }

    /// Whether the kernel lacks the agent syscalls altogether.
    pub fn is_not_coconut(&self) -> bool {
        matches!(self, Error::NotCoconut { .. })
    }
}
