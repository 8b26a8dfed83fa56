//! The errors of capability-set operations.
//!
//! Job: one enum for every way an operation on a [`super::CapSet`] can fail, with a message
//! that says what failed. Every failing operation leaves its set unchanged, except the
//! `*_into` operations, which leave their output empty.
//!
//! Constraints: no_std, `Copy`, no panics.

use super::abi::CapError;

/// Why a capability-set operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapSetError {
    /// The result would need more than `AGENT_CAPS_MAX` (64) entries.
    Full,
    /// The result's scopes would need more than `AGENT_CAPSET_ARENA` (4096) bytes in total.
    ArenaFull,
    /// A scope is longer than `AGENT_SCOPE_MAX` (256) bytes.
    ScopeTooLong,
    /// A scope breaks the scope grammar (empty after `:`, a byte outside 0x21..=0x7e, or a `*`
    /// that is not its last byte); the inner error says which rule.
    InvalidScope(CapError),
    /// The text form names no capability in the table.
    UnknownName,
    /// The output buffer is too small for the rendered set.
    BufferTooSmall,
    /// An operation found the set's own invariants broken (an entry outside the arena, a
    /// count past the capacity): a bug in this crate, never a property of the input. The
    /// operation changed nothing (debug builds stop at an assertion instead).
    Inconsistent,
}

impl From<CapError> for CapSetError {
    fn from(e: CapError) -> CapSetError {
        match e {
            CapError::UnknownId | CapError::UnknownName => CapSetError::UnknownName,
            CapError::ScopeTooLong => CapSetError::ScopeTooLong,
            CapError::EmptyScope | CapError::BadScopeByte | CapError::MisplacedWildcard => {
                CapSetError::InvalidScope(e)
            }
        }
    }
}

impl core::fmt::Display for CapSetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CapSetError::Full => {
                f.write_str("capability set is full: the result needs more than 64 entries")
            }
            CapSetError::ArenaFull => f.write_str(
                "capability set is full: the result's scopes need more than 4096 bytes in total",
            ),
            CapSetError::ScopeTooLong => f.write_str("capability scope is longer than 256 bytes"),
            CapSetError::InvalidScope(e) => write!(f, "invalid capability scope: {e}"),
            CapSetError::UnknownName => {
                f.write_str("capability name is not in the capability table")
            }
            CapSetError::BufferTooSmall => {
                f.write_str("output buffer is too small for the rendered capability set")
            }
            CapSetError::Inconsistent => f.write_str(
                "capability set is internally inconsistent (a bug in coconut-caps); nothing changed",
            ),
        }
    }
}
