//! Typed errors of libcoconut: one variant per errno of the agent ABI, plus format errors.
//!
//! Job: turn `-errno` from an agent syscall into an [`Error`] that says which call failed and
//! what the errno means in the ABI (`docs/abi.md`, "Errors"), with ENOSYS reported as "this
//! kernel is not Coconut OS".
//!
//! Constraints: every errno in `coconut_abi::ERRNO_TABLE` maps to its own variant (a test
//! checks it), and each variant's message is that table's meaning and name: the meanings are
//! written once, in coconut-abi. Unexpected errnos are kept, not hidden, in [`Error::Other`];
//! a success value a call cannot return is [`Error::BadReturn`].

use coconut_abi::{Errno, Syscall};

/// A libcoconut result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in libcoconut.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// ENOSYS: the running kernel has no agent syscalls (not Coconut OS, or built without
    /// `CONFIG_COCONUT_AGENT`).
    #[error("{} (syscall {nr} returned ENOSYS)", Errno::ENOSYS.description())]
    NotCoconut {
        /// The syscall number that returned ENOSYS.
        nr: u32,
    },
    /// `EOPNOTSUPP`, with its meaning from [`Errno::EOPNOTSUPP`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EOPNOTSUPP.description(), Errno::EOPNOTSUPP.name())]
    NotSupportedYet {
        /// The call.
        call: Syscall,
    },
    /// `EPERM`, with its meaning from [`Errno::EPERM`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EPERM.description(), Errno::EPERM.name())]
    PermissionDenied {
        /// The call.
        call: Syscall,
    },
    /// `ENOENT`, with its meaning from [`Errno::ENOENT`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::ENOENT.description(), Errno::ENOENT.name())]
    CapabilityNotHeld {
        /// The call.
        call: Syscall,
    },
    /// `ESRCH`, with its meaning from [`Errno::ESRCH`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::ESRCH.description(), Errno::ESRCH.name())]
    NoSuchAgent {
        /// The call.
        call: Syscall,
    },
    /// `E2BIG`, with its meaning from [`Errno::E2BIG`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::E2BIG.description(), Errno::E2BIG.name())]
    TooBig {
        /// The call.
        call: Syscall,
    },
    /// `EBADF`, with its meaning from [`Errno::EBADF`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EBADF.description(), Errno::EBADF.name())]
    BadPidfd {
        /// The call.
        call: Syscall,
    },
    /// `ENOMEM`, with its meaning from [`Errno::ENOMEM`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::ENOMEM.description(), Errno::ENOMEM.name())]
    OutOfMemory {
        /// The call.
        call: Syscall,
    },
    /// `EACCES`, with its meaning from [`Errno::EACCES`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EACCES.description(), Errno::EACCES.name())]
    AccessDenied {
        /// The call.
        call: Syscall,
    },
    /// `EFAULT`, with its meaning from [`Errno::EFAULT`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EFAULT.description(), Errno::EFAULT.name())]
    BadAddress {
        /// The call.
        call: Syscall,
    },
    /// `EBUSY`, with its meaning from [`Errno::EBUSY`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EBUSY.description(), Errno::EBUSY.name())]
    Busy {
        /// The call.
        call: Syscall,
    },
    /// `ENODEV`, with its meaning from [`Errno::ENODEV`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::ENODEV.description(), Errno::ENODEV.name())]
    TierNotPresent {
        /// The call.
        call: Syscall,
    },
    /// `EINVAL`, with its meaning from [`Errno::EINVAL`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EINVAL.description(), Errno::EINVAL.name())]
    InvalidArgument {
        /// The call.
        call: Syscall,
    },
    /// `ERANGE`, with its meaning from [`Errno::ERANGE`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::ERANGE.description(), Errno::ERANGE.name())]
    BufferTooSmall {
        /// The call.
        call: Syscall,
    },
    /// `EDQUOT`, with its meaning from [`Errno::EDQUOT`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EDQUOT.description(), Errno::EDQUOT.name())]
    BudgetExhausted {
        /// The call.
        call: Syscall,
    },
    /// `EKEYREJECTED`, with its meaning from [`Errno::EKEYREJECTED`] (coconut-abi's errno table).
    #[error("{call}: {} ({})", Errno::EKEYREJECTED.description(), Errno::EKEYREJECTED.name())]
    SignatureRejected {
        /// The call.
        call: Syscall,
    },
    /// The call succeeded with a value that is not a valid result of it (an AID above
    /// `AID_MAX`, a NULL mapping): a kernel bug or a kernel this library does not know.
    #[error("{call}: the kernel returned {value}, which is not a valid result of this call")]
    BadReturn {
        /// The call.
        call: Syscall,
        /// The value returned.
        value: i64,
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
            Error::BadReturn { .. }
            | Error::Manifest(_)
            | Error::Capability(_)
            | Error::Audit(_) => return None,
        };
        Some(e.get())
    }

    /// The ABI errno behind a syscall error (`None` for format errors, [`Error::BadReturn`],
    /// and errnos outside the ABI, which [`Error::errno`] still reports).
    pub fn abi_errno(&self) -> Option<Errno> {
        self.errno().and_then(Errno::from_raw)
    }

    /// The call that failed (`None` for format errors). [`Error::NotCoconut`] keeps only the
    /// number, from which the call is recovered.
    pub fn call(&self) -> Option<Syscall> {
        match self {
            Error::NotCoconut { nr } => Syscall::from_nr(*nr),
            Error::NotSupportedYet { call }
            | Error::PermissionDenied { call }
            | Error::CapabilityNotHeld { call }
            | Error::NoSuchAgent { call }
            | Error::TooBig { call }
            | Error::BadPidfd { call }
            | Error::OutOfMemory { call }
            | Error::AccessDenied { call }
            | Error::BadAddress { call }
            | Error::Busy { call }
            | Error::TierNotPresent { call }
            | Error::InvalidArgument { call }
            | Error::BufferTooSmall { call }
            | Error::BudgetExhausted { call }
            | Error::SignatureRejected { call }
            | Error::BadReturn { call, .. }
            | Error::Other { call, .. } => Some(*call),
            Error::Manifest(_) | Error::Capability(_) | Error::Audit(_) => None,
        }
    }

    /// Whether the kernel lacks the agent syscalls altogether.
    pub fn is_not_coconut(&self) -> bool {
        matches!(self, Error::NotCoconut { .. })
    }
}
