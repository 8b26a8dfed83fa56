//! The error of encoding, decoding, sealing and rendering audit events and rows.
//!
//! Job: one enum, so that the kernel maps every failure of this crate in one place and the
//! verifier can say why a row is malformed ([`super::VerifyErrorKind::Malformed`]).
//!
//! Constraints: no_std, `Copy`, no panics.

use super::abi::AuditDecodeError;

/// Why an audit event or row could not be encoded, decoded, sealed or rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditError {
    /// The event or binary row breaks a rule of the format (`coconut_abi::decode_event`'s
    /// acceptance rule, which encoding applies too: a detail too long or with a control
    /// character, an actor or subject that is not an AID, …); the inner error says which.
    Decode(AuditDecodeError),
    /// The output buffer is too small.
    BufferTooSmall,
    /// Sealing: the event's `seq` is not the chain's next sequence number.
    SeqMismatch,
    /// Sealing: the event's `boot` is not the chain's boot counter.
    BootMismatch,
    /// A `boot` event whose `seq` is not 0, an event at `seq` 0 that is not a `boot` event, or a
    /// `link` event whose `seq` is not 1.
    MisplacedKind,
    /// Sealing: this boot continues a previous chain, so its event at `seq` 1 must be the
    /// `link` event naming that chain's last row.
    LinkRequired,
    /// A `link` event whose detail is not `prev_boot=N prev_seq=N prev_head=<64 hex>`, or names
    /// a previous chain other than the one this chain continues (or there is none).
    BadLink,
    /// The chain has used every `u64` sequence number.
    SeqExhausted,
}

impl From<AuditDecodeError> for AuditError {
    fn from(e: AuditDecodeError) -> AuditError {
        AuditError::Decode(e)
    }
}

impl core::fmt::Display for AuditError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuditError::Decode(e) => write!(f, "malformed audit event or row: {e}"),
            AuditError::BufferTooSmall => f.write_str("output buffer is too small"),
            AuditError::SeqMismatch => {
                f.write_str("audit event seq is not the chain's next sequence number")
            }
            AuditError::BootMismatch => {
                f.write_str("audit event boot is not the chain's boot counter")
            }
            AuditError::MisplacedKind => f.write_str(
                "audit event kind does not fit its seq (boot rows are exactly seq 0, link rows seq 1)",
            ),
            AuditError::LinkRequired => f.write_str(
                "this boot continues a previous chain: its seq 1 row must be the link row",
            ),
            AuditError::BadLink => f.write_str(
                "link row detail is not \"prev_boot=N prev_seq=N prev_head=<64 hex>\" for the previous chain",
            ),
            AuditError::SeqExhausted => f.write_str("audit sequence numbers are exhausted"),
        }
    }
}
