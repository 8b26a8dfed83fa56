//! An audit event: the bytes the chain hashes, encoded into and decoded from caller buffers.
//!
//! Job: the whole event as a typed value — the fixed 56-byte little-endian header of
//! `coconut_abi` followed by the detail. There is one acceptance rule and one decoder,
//! `coconut_abi::decode_event` (`docs/formats/audit.md`, "Events"): the detail is at most
//! `AGENT_AUDIT_DETAIL_MAX` bytes of UTF-8 without control characters (so that a `chain.log`
//! line stays one line and a terminal shows what was logged; [`check_detail`]), and actor and
//! subject are AIDs (at most `AID_MAX`), so that they print as `a:NNNNN`. [`Event::decode`]
//! calls it and only converts; [`Event::encode`] applies the same [`check_detail`].
//!
//! Constraints: no_std, no heap, no panics.

pub use super::abi::check_detail;
use super::abi::{
    decode_event, encode_event_header, Aid, AuditDecodeError, AuditKind, EventHeader,
    AGENT_AUDIT_DETAIL_MAX, AGENT_AUDIT_EVENT_HDR_SIZE,
};
use super::error::AuditError;

/// The longest event: the header plus the longest detail (312 bytes).
pub const EVENT_MAX: usize = AGENT_AUDIT_EVENT_HDR_SIZE + AGENT_AUDIT_DETAIL_MAX;

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
        AGENT_AUDIT_EVENT_HDR_SIZE.saturating_add(self.detail.len())
    }

    /// Encodes the event into the start of `out` and returns the bytes written. Fails on a bad
    /// detail ([`check_detail`]) or a short buffer; `out` is then untouched.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AuditError> {
        check_detail(self.detail)?;
        let (hdr, rest) = out
            .split_first_chunk_mut::<AGENT_AUDIT_EVENT_HDR_SIZE>()
            .ok_or(AuditError::BufferTooSmall)?;
        let detail = rest
            .get_mut(..self.detail.len())
            .ok_or(AuditError::BufferTooSmall)?;
        *hdr = encode_event_header(&EventHeader {
            kind: self.kind,
            seq: self.seq,
            boot: self.boot,
            time_ns: self.time_ns,
            actor: self.actor.get(),
            subject: self.subject.get(),
            result: self.result,
            // At most 256 after check_detail.
            detail_len: self.detail.len() as u32,
        });
        detail.copy_from_slice(self.detail.as_bytes());
        Ok(self.encoded_len())
    }

    /// Decodes exactly one event (all of `bytes`) with `coconut_abi::decode_event`, the one
    /// acceptance rule (magic, kind, AIDs, detail length, UTF-8, [`check_detail`], no
    /// trailing bytes).
    pub fn decode(bytes: &'a [u8]) -> Result<Event<'a>, AuditError> {
        let (h, detail) = decode_event(bytes)?;
        // decode_event accepted both as AIDs; a failure here would be a bug in it.
        let aid = |raw| {
            Aid::new(raw).map_err(|_| {
                debug_assert!(false, "decode_event accepted a non-AID");
                AuditDecodeError::BadAid
            })
        };
        Ok(Event {
            kind: h.kind,
            seq: h.seq,
            boot: h.boot,
            time_ns: h.time_ns,
            actor: aid(h.actor)?,
            subject: aid(h.subject)?,
            result: h.result,
            detail,
        })
    }
}
