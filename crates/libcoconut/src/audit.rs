//! Audit rows in user space: the binary rows of `agent_audit_query` and `chain.log` lines.
//!
//! Job: a std-friendly layer over `coconut-audit`, the crate the kernel itself uses to encode,
//! render and verify audit rows, so that user space and kernel share one implementation of
//! each format (`docs/formats/audit.md`). This module adds only what needs std: owned rows
//! ([`parse_rows`] walks a segment with [`Rows`] and checks each event with [`Event::decode`]),
//! lines as `String`s ([`AuditRow::to_json`] calls [`render_json_line`]), and parsing of
//! `chain.log` lines with serde_json ([`ChainLogLine`]; `coconut-audit` has no parser), which
//! rebuilds the hashed event bytes with [`Event::encode`]. Verification is `coconut-audit`'s
//! [`Verifier`]; an `&AuditRow` converts into the [`RowRef`] it takes.
//!
//! Constraints: strict in both directions and with one renderer: a line is accepted only if
//! `coconut-audit` renders the row it describes as exactly that text, so every row has one
//! spelling.

use coconut_abi::{decode_event_header, Aid, AuditKind, EventHeader, AGENT_AUDIT_ROW_HDR_LEN};
use serde::Deserialize;

/// The shared audit crate (also compiled into the kernel), for everything not re-exported one
/// by one, such as its error type `shared::AuditError` and the sealer `shared::Chain`.
pub use coconut_audit as shared;
/// Checkpoints: the row's detail, the signed note body, the streaming checks and the Merkle
/// tree (`docs/formats/audit.md`, "Checkpoints").
pub use coconut_audit::{
    consistency_proof_from, inclusion_proof_from, leaf_hash, verify_consistency, verify_inclusion,
    Checkpoint, CheckpointFault, CheckpointRow, CheckpointRowError, CheckpointVerifier, Frontier,
    MerkleError, NoteError, Proof, SealedCheckpoint, NOTE_MAX, NOTE_ORIGIN_PREFIX,
};
pub use coconut_audit::{
    render_json_line, verify_rows, verify_segment, Event, RowRef, Rows, Summary, Verifier,
    VerifyError, VerifyErrorKind, EVENT_MAX, JSON_LINE_MAX,
};

/// Why audit bytes or a `chain.log` line are malformed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// A binary row, or the event inside it, is malformed (as `coconut-audit` decodes it).
    #[error("binary row at byte {offset}: {reason}")]
    Row {
        /// Offset of the row in the segment.
        offset: usize,
        /// What is wrong, as `coconut-audit` reports it.
        reason: coconut_audit::AuditError,
    },
    /// A `chain.log` line is not valid JSON of the documented shape.
    #[error("chain.log line is malformed: {0}")]
    Line(String),
    /// A `chain.log` line has the documented shape, but its fields do not make a valid event
    /// (for example a detail longer than 256 bytes or with a control character).
    #[error("chain.log line does not describe a valid audit event: {0}")]
    Event(coconut_audit::AuditError),
    /// A `chain.log` line is valid but not in the one canonical spelling.
    #[error("chain.log line is not in canonical form (expected {expected})")]
    NotCanonical {
        /// The canonical rendering of the same row.
        expected: String,
    },
}

/// One row: the chain hashes around an event, and the event itself. `event` holds the bytes
/// that were hashed; `header` and `detail` are their decoded view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Chain hash before the event.
    pub prev: [u8; 32],
    /// Chain hash after the event: BLAKE3(prev || event).
    pub hash: [u8; 32],
    /// The event's fixed header.
    pub header: EventHeader,
    /// The event's detail text.
    pub detail: String,
    /// The exact event bytes that were hashed.
    pub event: Vec<u8>,
}

impl AuditRow {
    /// Copies a row, checking its event with [`Event::decode`] (the ABI's rules plus AIDs and
    /// the detail rules of `coconut-audit`).
    pub fn from_row_ref(row: RowRef<'_>) -> Result<AuditRow, coconut_audit::AuditError> {
        let ev = Event::decode(row.event)?;
        Ok(AuditRow {
            prev: *row.prev,
            hash: *row.hash,
            header: decode_event_header(row.event)?,
            detail: ev.detail.to_owned(),
            event: row.event.to_vec(),
        })
    }

    /// The row by reference, as `coconut-audit` takes it.
    pub fn as_row_ref(&self) -> RowRef<'_> {
        RowRef {
            prev: &self.prev,
            event: &self.event,
            hash: &self.hash,
        }
    }

    /// The row's `chain.log` text: one JSON object, fixed key order, no spaces, no newline,
    /// rendered by [`render_json_line`]. Fails if `event` does not decode.
    pub fn to_json(&self) -> Result<String, AuditError> {
        let mut buf = [0u8; JSON_LINE_MAX];
        let n = render_json_line(self.as_row_ref(), &mut buf).map_err(AuditError::Event)?;
        let line = buf
            .get(..n)
            .and_then(|l| l.strip_suffix(b"\n"))
            .unwrap_or(&[]);
        // The renderer writes UTF-8 only: ASCII around the detail, which is a `str`.
        Ok(String::from_utf8_lossy(line).into_owned())
    }

    /// The row's `chain.log` line, parsed back into its fields.
    pub fn to_line(&self) -> Result<ChainLogLine, AuditError> {
        serde_json::from_str(&self.to_json()?).map_err(|e| AuditError::Line(e.to_string()))
    }
}

impl<'a> From<&'a AuditRow> for RowRef<'a> {
    fn from(row: &'a AuditRow) -> RowRef<'a> {
        row.as_row_ref()
    }
}

/// Parses a segment written by `agent_audit_query`: whole rows, each a 72-byte row header
/// then the event.
pub fn parse_rows(bytes: &[u8]) -> Result<Vec<AuditRow>, AuditError> {
    let mut rows = Vec::new();
    let mut offset = 0;
    for row in Rows::new(bytes) {
        let err = |reason| AuditError::Row { offset, reason };
        let row = row.map_err(err)?;
        rows.push(AuditRow::from_row_ref(row).map_err(err)?);
        offset += AGENT_AUDIT_ROW_HDR_LEN + row.event.len();
    }
    Ok(rows)
}

/// One `chain.log` line, as serde_json parses it. Field order is the line's key order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainLogLine {
    /// Sequence number within the boot.
    pub seq: u64,
    /// Boot counter.
    pub boot: u64,
    /// CLOCK_REALTIME, nanoseconds.
    pub time_ns: u64,
    /// Kind, by its JSON name (`"spawn"`).
    pub kind: String,
    /// Acting agent, `a:NNNNN`.
    pub actor: String,
    /// Subject agent, `a:NNNNN`.
    pub subject: String,
    /// 0 or -errno.
    pub result: i32,
    /// Detail text.
    pub detail: String,
    /// Previous chain hash, 64 lowercase hex digits.
    pub prev: String,
    /// This row's chain hash, 64 lowercase hex digits.
    pub hash: String,
}

/// Decodes exactly 64 lowercase hex digits (the `hex` crate decodes; the one spelling of a hash
/// is lowercase, which it does not require by itself).
fn unhex(s: &str, what: &str) -> Result<[u8; 32], AuditError> {
    let mut out = [0u8; 32];
    if s.bytes().any(|b| b.is_ascii_uppercase()) || hex::decode_to_slice(s, &mut out).is_err() {
        return Err(AuditError::Line(format!(
            "{what} is not 64 lowercase hex digits"
        )));
    }
    Ok(out)
}

impl ChainLogLine {
    /// Renders the line (without the newline) with [`render_json_line`], from the row it
    /// describes.
    pub fn render(&self) -> Result<String, AuditError> {
        self.to_row()?.to_json()
    }

    /// Parses one line (without its newline) and checks that it is in canonical form: the
    /// rendering of the row it describes is exactly `line`.
    pub fn parse(line: &str) -> Result<ChainLogLine, AuditError> {
        let parsed: ChainLogLine =
            serde_json::from_str(line).map_err(|e| AuditError::Line(e.to_string()))?;
        let expected = parsed.render()?;
        if expected != line {
            return Err(AuditError::NotCanonical { expected });
        }
        Ok(parsed)
    }

    /// Rebuilds the row, including the exact event bytes that were hashed
    /// ([`Event::encode`]).
    pub fn to_row(&self) -> Result<AuditRow, AuditError> {
        let kind = AuditKind::from_json_name(self.kind.as_bytes())
            .ok_or_else(|| AuditError::Line(format!("unknown kind {:?}", self.kind)))?;
        let aid = |s: &str, what: &str| {
            Aid::parse(s.as_bytes()).map_err(|e| AuditError::Line(format!("{what}: {e}")))
        };
        let ev = Event {
            kind,
            seq: self.seq,
            boot: self.boot,
            time_ns: self.time_ns,
            actor: aid(&self.actor, "actor")?,
            subject: aid(&self.subject, "subject")?,
            result: self.result,
            detail: &self.detail,
        };
        let mut buf = [0u8; EVENT_MAX];
        let n = ev.encode(&mut buf).map_err(AuditError::Event)?;
        let event = buf.get(..n).unwrap_or(&[]);
        let row = RowRef {
            prev: &unhex(&self.prev, "prev")?,
            event,
            hash: &unhex(&self.hash, "hash")?,
        };
        AuditRow::from_row_ref(row).map_err(AuditError::Event)
    }
}
