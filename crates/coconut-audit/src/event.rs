//! An audit event: the bytes the chain hashes, encoded into and decoded from caller buffers.
//!
//! Job: the whole event — the fixed 56-byte little-endian header of `coconut_abi`
//! (`encode_event_header`, `decode_event`) followed by the detail — with the rules this crate
//! adds on top of the ABI's decoder, applied identically when encoding and decoding: the detail
//! is at most `AGENT_AUDIT_DETAIL_MAX` bytes of UTF-8 without control characters (so that a
//! `chain.log` line stays one line and a terminal shows what was logged), and actor and subject
//! are AIDs (at most `AID_MAX`), so that they print as `a:NNNNN`.
//!
//! Constraints: no_std, no heap, no panics.

use super::abi::{
    decode_event, encode_event_header, Aid, AuditKind, EventHeader, AGENT_AUDIT_DETAIL_MAX,
    AGENT_AUDIT_EVENT_HDR_SIZE,
};
use super::error::AuditError;

/// The longest event: the header plus the longest detail (312 bytes).
pub const EVENT_MAX: usize = AGENT_AUDIT_EVENT_HDR_SIZE + AGENT_AUDIT_DETAIL_MAX;

/// Checks a detail: at most `AGENT_AUDIT_DETAIL_MAX` (256) bytes, no control character
/// (`char::is_control`: U+0000..=U+001F, U+007F..=U+009F; so no newline or tab).
pub fn check_detail(detail: &str) -> Result<(), AuditError> {
    if detail.len() > AGENT_AUDIT_DETAIL_MAX {
        return Err(AuditError::DetailTooLong);
    }
    // This runs for every sealed row: scan eight bytes at a time, and decode characters only
    // when a word holds a byte that might be a control or part of a non-ASCII character.
    let bytes = detail.as_bytes();
    let mut words = bytes.chunks_exact(8);
    let suspicious = words.any(|w| {
        let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        suspicious_word(w)
    }) || words.remainder().iter().any(|b| !(0x20..0x7f).contains(b));
    if suspicious && detail.chars().any(char::is_control) {
        return Err(AuditError::DetailControlChar);
    }
    Ok(())
}

/// Whether any byte of `w` is below 0x20, is 0x7f, or is at least 0x80 (the bit tricks of
/// "Bit Twiddling Hacks": `hasless` and `haszero`, exact for "any byte"; wrapping arithmetic
/// is intended).
#[inline]
fn suspicious_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let x = w ^ (ONES * 0x7f);
    let del = x.wrapping_sub(ONES) & !x & HIGHS;
    (below_space | del | (w & HIGHS)) != 0
}

/// One audit event, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// What happened.
    pub kind: AuditKind,
    /// Sequence number within the boot (0 = the boot row).
    pub seq: u64,
    /// Boot counter.
    pub boot: u64,
    /// CLOCK_REALTIME, in nanoseconds.
    pub time_ns: u64,
    /// The agent that acted.
    pub actor: Aid,
    /// The agent the event is about.
    pub subject: Aid,
    /// 0 or `-errno`.
    pub result: i32,
    /// Kind-specific `key=value` pairs separated by single spaces (checked by
    /// [`check_detail`]).
    pub detail: &'a str,
}

impl<'a> Event<'a> {
    /// The encoded length: 56 + detail length.
    pub fn encoded_len(&self) -> usize {
        AGENT_AUDIT_EVENT_HDR_SIZE + self.detail.len()
    }

    /// Encodes the event into the start of `out` and returns the bytes written. Fails on a bad
    /// detail ([`check_detail`]) or a short buffer; `out` is then untouched.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AuditError> {
        check_detail(self.detail)?;
        let len = self.encoded_len();
        let dst = out.get_mut(..len).ok_or(AuditError::BufferTooSmall)?;
        let (hdr, detail) = dst.split_at_mut(AGENT_AUDIT_EVENT_HDR_SIZE);
        hdr.copy_from_slice(&encode_event_header(&EventHeader {
            kind: self.kind,
            seq: self.seq,
            boot: self.boot,
            time_ns: self.time_ns,
            actor: self.actor.get(),
            subject: self.subject.get(),
            result: self.result,
            // At most 256 after check_detail.
            detail_len: self.detail.len() as u32,
        }));
        detail.copy_from_slice(self.detail.as_bytes());
        Ok(len)
    }

    /// Decodes exactly one event (all of `bytes`): the ABI's checks (magic, kind, detail
    /// length, UTF-8, no trailing bytes), then AIDs and [`check_detail`].
    pub fn decode(bytes: &'a [u8]) -> Result<Event<'a>, AuditError> {
        let (h, detail) = decode_event(bytes)?;
        check_detail(detail)?;
        Ok(Event {
            kind: h.kind,
            seq: h.seq,
            boot: h.boot,
            time_ns: h.time_ns,
            actor: Aid::new(h.actor).map_err(|_| AuditError::BadAid)?,
            subject: Aid::new(h.subject).map_err(|_| AuditError::BadAid)?,
            result: h.result,
            detail,
        })
    }
}
