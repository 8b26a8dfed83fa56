//! `chain.log` lines: one JSON object per row, fixed key order, no spaces, newline-terminated.
//!
//! Job: render a row as
//! `{"seq":N,"boot":N,"time_ns":N,"kind":"spawn","actor":"a:00000","subject":"a:00001",
//! "result":0,"detail":"...","prev":"<64 hex>","hash":"<64 hex>"}` + `\n` (on one line) into a
//! caller buffer: numbers in decimal, kinds by their JSON name, AIDs in their canonical
//! `a:NNNNN` form, hashes in lowercase hex, and the detail as a JSON string escaped per RFC 8259
//! (`"` and `\` always; control characters, which a valid detail never has, as `\n`, `\t`, …
//! or `\u00XX`). Every field of the event is in the line, so user space rebuilds the exact event
//! bytes from it and re-verifies the hash.
//!
//! Constraints: no_std, no heap, no panics; nothing is written past the caller's buffer.

use super::abi::{AGENT_AUDIT_DETAIL_MAX, AID_TEXT_MAX};
use super::detail::{decimal, U64_DIGITS};
use super::error::AuditError;
use super::event::Event;
use super::hex::encode32;
use super::row::RowRef;

/// Characters of the longest `i32` (`-2147483648`).
const I32_CHARS: usize = 11;
/// The longest kind name (`memory_tier`, `audit_query`).
const KIND_MAX: usize = 11;

/// The longest line [`render_json_line`] writes for a valid row (868 bytes): the fixed keys
/// and punctuation, maximal numbers and AIDs, and a 256-byte detail of which every byte needs a
/// two-byte escape (`"` or `\`), plus the newline.
pub const JSON_LINE_MAX: usize = r#"{"seq":"#.len()
    + U64_DIGITS
    + r#","boot":"#.len()
    + U64_DIGITS
    + r#","time_ns":"#.len()
    + U64_DIGITS
    + r#","kind":""#.len()
    + KIND_MAX
    + r#"","actor":""#.len()
    + AID_TEXT_MAX
    + r#"","subject":""#.len()
    + AID_TEXT_MAX
    + r#"","result":"#.len()
    + I32_CHARS
    + r#","detail":""#.len()
    + 2 * AGENT_AUDIT_DETAIL_MAX
    + r#"","prev":""#.len()
    + 64
    + r#"","hash":""#.len()
    + 64
    + "\"}\n".len();

/// A bounded writer into a caller buffer.
struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(AuditError::BufferTooSmall)?;
        self.buf
            .get_mut(self.at..end)
            .ok_or(AuditError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    fn put_u64(&mut self, v: u64) -> Result<(), AuditError> {
        self.put(decimal(v, &mut [0; U64_DIGITS]))
    }

    fn put_i32(&mut self, v: i32) -> Result<(), AuditError> {
        if v < 0 {
            self.put(b"-")?;
        }
        self.put_u64(u64::from(v.unsigned_abs()))
    }

    /// The detail as JSON string content (without the quotes).
    fn put_escaped(&mut self, s: &str) -> Result<(), AuditError> {
        let bytes = s.as_bytes();
        let mut run_start = 0usize;
        // A bounded range, not `enumerate()`, whose counter has an overflow check.
        for (i, &b) in (0..bytes.len()).zip(bytes) {
            let short: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => b"",
                _ => continue,
            };
            self.put(bytes.get(run_start..i).unwrap_or(&[]))?;
            if short.is_empty() {
                let hex = b"0123456789abcdef";
                let lo = hex.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
                self.put(&[b'\\', b'u', b'0', b'0', b'0' | (b >> 4), lo])?;
            } else {
                self.put(short)?;
            }
            run_start = i.saturating_add(1);
        }
        self.put(bytes.get(run_start..).unwrap_or(&[]))
    }
}

/// Renders a row as its `chain.log` line, newline included, into the start of `out`; returns
/// the bytes written (at most [`JSON_LINE_MAX`]). The event must decode
/// ([`Event::decode`]); the hashes are rendered as given (verification is separate).
pub fn render_json_line(row: RowRef<'_>, out: &mut [u8]) -> Result<usize, AuditError> {
    let ev = Event::decode(row.event)?;
    let mut w = Out { buf: out, at: 0 };
    let mut aid = [0u8; AID_TEXT_MAX];
    w.put(br#"{"seq":"#)?;
    w.put_u64(ev.seq)?;
    w.put(br#","boot":"#)?;
    w.put_u64(ev.boot)?;
    w.put(br#","time_ns":"#)?;
    w.put_u64(ev.time_ns)?;
    w.put(br#","kind":""#)?;
    w.put(ev.kind.json_name().as_bytes())?;
    w.put(br#"","actor":""#)?;
    w.put(ev.actor.encode(&mut aid))?;
    w.put(br#"","subject":""#)?;
    w.put(ev.subject.encode(&mut aid))?;
    w.put(br#"","result":"#)?;
    w.put_i32(ev.result)?;
    w.put(br#","detail":""#)?;
    w.put_escaped(ev.detail)?;
    w.put(br#"","prev":""#)?;
    w.put(&encode32(row.prev))?;
    w.put(br#"","hash":""#)?;
    w.put(&encode32(row.hash))?;
    w.put(b"\"}\n")?;
    Ok(w.at)
}
