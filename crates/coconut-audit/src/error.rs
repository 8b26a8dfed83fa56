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
    /// The bytes are not a well-formed event or binary row; the inner error says which rule.
    Decode(AuditDecodeError),
    /// The detail is longer than `AGENT_AUDIT_DETAIL_MAX` (256) bytes.
    DetailTooLong,
    /// The detail contains a control character (a newline, tab, DEL, a C1 control, …).
    DetailControlChar,
    /// An actor or subject is larger than `AID_MAX`, so it is not an AID.
    BadAid,
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
            AuditError::DetailTooLong => f.write_str("audit detail is longer than 256 bytes"),
            AuditError::DetailControlChar => {
                f.write_str("audit detail contains a control character (newline, tab, DEL, C1)")
            }
            AuditError::BadAid => {
                f.write_str("audit actor or subject is larger than AID_MAX (2^63 - 1)")
            }
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
