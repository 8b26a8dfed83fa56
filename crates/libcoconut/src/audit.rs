//! Audit rows in user space: the binary rows of `agent_audit_query` and `chain.log` lines.
//!
//! Job: parse a segment returned by `agent_audit_query` into [`AuditRow`]s, render each row
//! as its `chain.log` JSON line (fixed key order, no spaces), parse such lines back
//! ([`ChainLogLine`]), and rebuild the hashed event bytes from a line so a verifier can recompute
//! `BLAKE3(prev || event)`. Formats: `docs/formats/audit.md`.
//!
//! Constraints: strict in both directions: a line is accepted only if rendering it again gives
//! the same text, so every row has exactly one spelling.

use coconut_abi::limits::AGENT_AUDIT_ROW_HDR_LEN;
use coconut_abi::{
    decode_event, decode_row_header, encode_event_header, Aid, AuditDecodeError, AuditKind,
    EventHeader,
};
use serde::{Deserialize, Serialize};

/// Why audit bytes or a `chain.log` line are malformed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// A binary row or event is malformed.
    #[error("binary row at byte {offset}: {reason}")]
    Row {
        /// Offset of the row in the segment.
        offset: usize,
        /// What is wrong.
        reason: AuditDecodeError,
    },
    /// A `chain.log` line is not valid JSON of the documented shape.
    #[error("chain.log line is malformed: {0}")]
    Line(String),
    /// A `chain.log` line is valid but not in the one canonical spelling.
    #[error("chain.log line is not in canonical form (expected {expected})")]
    NotCanonical {
        /// The canonical rendering of the same row.
        expected: String,
    },
}

/// One row: the chain hashes around an event, and the event itself.
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

/// Parses a segment written by `agent_audit_query`: whole rows, each a 72-byte row header
/// then the event.
pub fn parse_rows(mut bytes: &[u8]) -> Result<Vec<AuditRow>, AuditError> {
    let mut rows = Vec::new();
    let mut offset = 0;
    while !bytes.is_empty() {
        let err = |reason| AuditError::Row { offset, reason };
        let hdr = decode_row_header(bytes).map_err(err)?;
        let len = hdr.row_len as usize;
        if bytes.len() < len {
            return Err(err(AuditDecodeError::Truncated));
        }
        let event = &bytes[AGENT_AUDIT_ROW_HDR_LEN..len];
        let (header, detail) = decode_event(event).map_err(err)?;
        rows.push(AuditRow {
            prev: hdr.prev,
            hash: hdr.hash,
            header,
            detail: detail.to_string(),
            event: event.to_vec(),
        });
        bytes = &bytes[len..];
        offset += len;
    }
    Ok(rows)
}

/// One `chain.log` line. Field order is the line's key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str, what: &str) -> Result<[u8; 32], AuditError> {
    let bad = || AuditError::Line(format!("{what} is not 64 lowercase hex digits"));
    if s.len() != 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn aid_text(raw: u64) -> String {
    match Aid::new(raw) {
        Ok(aid) => aid.to_string(),
        // Rows only name real agents; anything else is printed as the raw number so that a
        // damaged row is still visible.
        Err(_) => format!("a:{raw}"),
    }
}

impl AuditRow {
    /// The row's `chain.log` line (without the newline).
    pub fn to_line(&self) -> ChainLogLine {
        ChainLogLine {
            seq: self.header.seq,
            boot: self.header.boot,
            time_ns: self.header.time_ns,
            kind: self.header.kind.json_name().to_string(),
            actor: aid_text(self.header.actor),
            subject: aid_text(self.header.subject),
            result: self.header.result,
            detail: self.detail.clone(),
            prev: hex(&self.prev),
            hash: hex(&self.hash),
        }
    }

    /// The row's `chain.log` text: one JSON object, fixed key order, no spaces, no newline.
    pub fn to_json(&self) -> String {
        self.to_line().render()
    }
}

impl ChainLogLine {
    /// Renders the line: serde_json compact form, keys in the documented order.
    pub fn render(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one line (without its newline) and checks that it is in canonical form.
    pub fn parse(line: &str) -> Result<ChainLogLine, AuditError> {
        let parsed: ChainLogLine =
            serde_json::from_str(line).map_err(|e| AuditError::Line(e.to_string()))?;
        parsed.to_row()?;
        let expected = parsed.render();
        if expected != line {
            return Err(AuditError::NotCanonical { expected });
        }
        Ok(parsed)
    }

    /// Rebuilds the row, including the exact event bytes that were hashed.
    pub fn to_row(&self) -> Result<AuditRow, AuditError> {
        let kind = AuditKind::from_json_name(self.kind.as_bytes())
            .ok_or_else(|| AuditError::Line(format!("unknown kind {:?}", self.kind)))?;
        let aid = |s: &str, what: &str| {
            Aid::parse(s.as_bytes())
                .map(u64::from)
                .map_err(|e| AuditError::Line(format!("{what}: {e}")))
        };
        let detail_len = u32::try_from(self.detail.len())
            .map_err(|_| AuditError::Line("detail too long".into()))?;
        let header = EventHeader {
            kind,
            seq: self.seq,
            boot: self.boot,
            time_ns: self.time_ns,
            actor: aid(&self.actor, "actor")?,
            subject: aid(&self.subject, "subject")?,
            result: self.result,
            detail_len,
        };
        let mut event = encode_event_header(&header).to_vec();
        event.extend_from_slice(self.detail.as_bytes());
        decode_event(&event).map_err(|reason| AuditError::Row { offset: 0, reason })?;
        Ok(AuditRow {
            prev: unhex(&self.prev, "prev")?,
            hash: unhex(&self.hash, "hash")?,
            header,
            detail: self.detail.clone(),
            event,
        })
    }
}
