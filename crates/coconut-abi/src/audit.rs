//! The audit event: kinds, the fixed 56-byte little-endian header, and the binary row header.
//!
//! Job: the exact bytes that the chain hashes (`hash_n = BLAKE3(hash_{n-1} || event_n)`) and
//! that `agent_audit_query` returns, encoded and decoded without allocation. The header layout
//! is given as offset constants (`AUDIT_OFF_*`) so C, Rust and the documentation quote the same
//! numbers. The JSON names of the kinds are those of `chain.log` lines.
//!
//! [`decode_event`] is the one event decoder and its rule is the one acceptance rule of
//! `docs/formats/audit.md` ("Events"): the magic, a known kind, actor and subject at most
//! `AID_MAX`, `detail_len` at most `AGENT_AUDIT_DETAIL_MAX` and exactly that many bytes of
//! UTF-8 detail without control characters ([`check_detail`]). `coconut_audit::Event::decode`,
//! the chain, the verifier and libcoconut all decode through it; encoders apply
//! [`check_detail`] too, so whatever is sealed decodes.
//!
//! Constraints: no_std, no heap, no panics; decoding rejects anything malformed.

use super::layout::{AgentAuditRowHdr, Writer};
use super::limits::{
    AGENT_AUDIT_DETAIL_MAX, AGENT_AUDIT_EVENT_HDR_SIZE, AGENT_AUDIT_ROW_HDR_LEN,
    AGENT_AUDIT_ROW_MAX, AGENT_AUDIT_ROW_MIN, AID_MAX,
};

/// The first four bytes of every event.
pub const AUDIT_EVENT_MAGIC: [u8; 4] = *b"CCA1";
/// The BLAKE3 `derive_key` context of a boot's genesis hash (the key material is
/// `seed || boot` with `boot` as 8 little-endian bytes).
pub const AUDIT_GENESIS_CONTEXT: &str = "coconut-os audit genesis v1";
/// The BLAKE3 `derive_key` context of a boot's public genesis hash, the one the kernel seals
/// from (`docs/formats/audit.md`, "Genesis, seed and key"): the key material is `boot_id ||
/// boot`, the boot's 16 random bytes (written in its `boot` row) and `boot` as 8
/// little-endian bytes.
pub const AUDIT_GENESIS_CONTEXT_V2: &str = "coconut-os audit genesis v2";

/// Offset of `magic` (4 bytes).
pub const AUDIT_OFF_MAGIC: usize = 0;
/// Offset of `kind` (u32).
pub const AUDIT_OFF_KIND: usize = 4;
/// Offset of `seq` (u64).
pub const AUDIT_OFF_SEQ: usize = 8;
/// Offset of `boot` (u64).
pub const AUDIT_OFF_BOOT: usize = 16;
/// Offset of `time_ns` (u64, CLOCK_REALTIME).
pub const AUDIT_OFF_TIME_NS: usize = 24;
/// Offset of `actor` (u64 AID).
pub const AUDIT_OFF_ACTOR: usize = 32;
/// Offset of `subject` (u64 AID).
pub const AUDIT_OFF_SUBJECT: usize = 40;
/// Offset of `result` (i32: 0 or -errno).
pub const AUDIT_OFF_RESULT: usize = 48;
/// Offset of `detail_len` (u32).
pub const AUDIT_OFF_DETAIL_LEN: usize = 52;
/// Offset of the detail text.
pub const AUDIT_OFF_DETAIL: usize = 56;

const _: () = assert!(AUDIT_OFF_DETAIL == AGENT_AUDIT_EVENT_HDR_SIZE);

/// The kind of an audit event (`AGENT_AUDIT_KIND_*` in the uapi header). 0 is not a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum AuditKind {
    /// First row of a boot (seq 0).
    Boot = 1,
    /// Links this boot's chain to the previous boot's head (seq 1 when a previous chain exists).
    Link = 2,
    /// An `agent_spawn` call, successful or not.
    Spawn = 3,
    /// An `agent_attest` call that returned a chain.
    Attest = 4,
    /// An `agent_quota` SET or CHARGE (GET is not audited).
    Quota = 5,
    /// An `agent_cap_grant` call.
    CapGrant = 6,
    /// An `agent_cap_revoke` call.
    CapRevoke = 7,
    /// The LSM denied an operation for lack of a capability.
    CapDeny = 8,
    /// An `agent_audit_query` call.
    AuditQuery = 9,
    /// An `agent_memory_tier` call.
    MemoryTier = 10,
    /// A state transition.
    State = 11,
    /// A member task exited.
    Exit = 12,
    /// The sealer rotated `chain.log` into a shard.
    Rotate = 13,
    /// A signed checkpoint: the Merkle root over the boot's rows so far and the chain head
    /// (`docs/formats/audit.md`, "Checkpoints"); sealed by the kernel only.
    Checkpoint = 14,
    /// Failed calls counted instead of sealed one row each: the flood control's row
    /// (`docs/formats/audit.md`, "Flood control"); sealed by the kernel only.
    Suppressed = 15,
}

impl AuditKind {
    /// Every kind, in id order.
    pub const ALL: [AuditKind; 15] = [
        AuditKind::Boot,
        AuditKind::Link,
        AuditKind::Spawn,
        AuditKind::Attest,
        AuditKind::Quota,
        AuditKind::CapGrant,
        AuditKind::CapRevoke,
        AuditKind::CapDeny,
        AuditKind::AuditQuery,
        AuditKind::MemoryTier,
        AuditKind::State,
        AuditKind::Exit,
        AuditKind::Rotate,
        AuditKind::Checkpoint,
        AuditKind::Suppressed,
    ];
    /// The last kind.
    pub const LAST: AuditKind = AuditKind::Suppressed;

    /// The kind with this id.
    pub const fn from_u32(id: u32) -> Option<AuditKind> {
        Some(match id {
            1 => AuditKind::Boot,
            2 => AuditKind::Link,
            3 => AuditKind::Spawn,
            4 => AuditKind::Attest,
            5 => AuditKind::Quota,
            6 => AuditKind::CapGrant,
            7 => AuditKind::CapRevoke,
            8 => AuditKind::CapDeny,
            9 => AuditKind::AuditQuery,
            10 => AuditKind::MemoryTier,
            11 => AuditKind::State,
            12 => AuditKind::Exit,
            13 => AuditKind::Rotate,
            14 => AuditKind::Checkpoint,
            15 => AuditKind::Suppressed,
            _ => return None,
        })
    }

    /// The name in `chain.log` JSON lines (`"kind":"spawn"`).
    pub const fn json_name(self) -> &'static str {
        match self {
            AuditKind::Boot => "boot",
            AuditKind::Link => "link",
            AuditKind::Spawn => "spawn",
            AuditKind::Attest => "attest",
            AuditKind::Quota => "quota",
            AuditKind::CapGrant => "cap_grant",
            AuditKind::CapRevoke => "cap_revoke",
            AuditKind::CapDeny => "cap_deny",
            AuditKind::AuditQuery => "audit_query",
            AuditKind::MemoryTier => "memory_tier",
            AuditKind::State => "state",
            AuditKind::Exit => "exit",
            AuditKind::Rotate => "rotate",
            AuditKind::Checkpoint => "checkpoint",
            AuditKind::Suppressed => "suppressed",
        }
    }

    /// The kind with this JSON name.
    pub fn from_json_name(name: &[u8]) -> Option<AuditKind> {
        AuditKind::ALL
            .into_iter()
            .find(|k| k.json_name().as_bytes() == name)
    }

    /// The bit of this kind in `agent_audit_filter.kinds`.
    pub const fn filter_bit(self) -> u64 {
        1u64 << (self as u32)
    }
}

impl core::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.json_name())
    }
}

/// The fixed header of an audit event (everything but the detail text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    /// What happened.
    pub kind: AuditKind,
    /// Global sequence number within the boot (0 = the boot row).
    pub seq: u64,
    /// Boot counter.
    pub boot: u64,
    /// CLOCK_REALTIME in nanoseconds.
    pub time_ns: u64,
    /// Raw AID of the agent that acted.
    pub actor: u64,
    /// Raw AID of the agent the event is about.
    pub subject: u64,
    /// 0 or -errno.
    pub result: i32,
    /// Length of the detail text that follows, at most `AGENT_AUDIT_DETAIL_MAX`.
    pub detail_len: u32,
}

/// Why bytes are not a valid audit event or row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDecodeError {
    /// Fewer bytes than the fixed header.
    Truncated,
    /// The magic is not `CCA1`.
    BadMagic,
    /// The kind is 0 or unknown.
    UnknownKind,
    /// `detail_len` is larger than `AGENT_AUDIT_DETAIL_MAX`.
    DetailTooLong,
    /// The byte count does not match the lengths the header declares.
    LengthMismatch,
    /// The detail is not UTF-8.
    DetailNotUtf8,
    /// The detail contains a control character (a newline, tab, DEL, a C1 control, …).
    DetailControlChar,
    /// The actor or the subject is larger than `AID_MAX`, so it is not an AID.
    BadAid,
    /// A reserved field is not zero.
    ReservedNotZero,
}

impl core::fmt::Display for AuditDecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AuditDecodeError::Truncated => "audit event or row is shorter than its fixed header",
            AuditDecodeError::BadMagic => "audit event does not start with the magic \"CCA1\"",
            AuditDecodeError::UnknownKind => "audit event kind is 0 or unknown",
            AuditDecodeError::DetailTooLong => "audit event detail is longer than 256 bytes",
            AuditDecodeError::LengthMismatch => {
                "audit event or row length does not match its declared lengths"
            }
            AuditDecodeError::DetailNotUtf8 => "audit event detail is not UTF-8",
            AuditDecodeError::DetailControlChar => {
                "audit event detail contains a control character (newline, tab, DEL, C1)"
            }
            AuditDecodeError::BadAid => {
                "audit event actor or subject is larger than AID_MAX (2^63 - 1)"
            }
            AuditDecodeError::ReservedNotZero => "audit row reserved field is not zero",
        })
    }
}

fn get_u32(bytes: &[u8], off: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

fn get_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(off..off.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Checks a detail: at most `AGENT_AUDIT_DETAIL_MAX` (256) bytes (else `DetailTooLong`), no
/// control character (`char::is_control`: U+0000..=U+001F, U+007F..=U+009F; so no newline or
/// tab; else `DetailControlChar`). Encoders run it before sealing, [`decode_event`] after
/// decoding, so a `chain.log` line stays one line and a terminal shows what was logged.
pub fn check_detail(detail: &str) -> Result<(), AuditDecodeError> {
    if detail.len() > AGENT_AUDIT_DETAIL_MAX {
        return Err(AuditDecodeError::DetailTooLong);
    }
    // This runs for every sealed row: scan eight bytes at a time, and decode characters only
    // when a word holds a byte that might be a control or part of a non-ASCII character.
    // (`split_first_chunk`, not `chunks_exact`, whose division brings panics into the kernel.)
    let mut rest = detail.as_bytes();
    let mut suspicious = false;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        suspicious |= suspicious_word(u64::from_le_bytes(*word));
        rest = tail;
    }
    suspicious |= rest.iter().any(|b| !(0x20..0x7f).contains(b));
    if suspicious && detail.chars().any(char::is_control) {
        return Err(AuditDecodeError::DetailControlChar);
    }
    Ok(())
}

/// Whether any byte of `w` is below 0x20, is 0x7f, or is at least 0x80 (the bit tricks of
/// "Bit Twiddling Hacks": `hasless` and `haszero`, exact for "any byte"; the wrapping
/// subtraction is part of the trick).
#[inline]
fn suspicious_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    const DELS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let below_space = w.wrapping_sub(SPACES) & !w & HIGHS;
    let x = w ^ DELS;
    let del = x.wrapping_sub(ONES) & !x & HIGHS;
    (below_space | del | (w & HIGHS)) != 0
}

/// Encodes the fixed 56-byte event header (little-endian). The detail text follows it.
pub fn encode_event_header(h: &EventHeader) -> [u8; AGENT_AUDIT_EVENT_HDR_SIZE] {
    let mut out = [0u8; AGENT_AUDIT_EVENT_HDR_SIZE];
    // The fields in offset order (`AUDIT_OFF_*`), with no gap between them.
    let mut f = Writer(&mut out);
    f.put(&AUDIT_EVENT_MAGIC);
    f.put(&(h.kind as u32).to_le_bytes());
    f.put(&h.seq.to_le_bytes());
    f.put(&h.boot.to_le_bytes());
    f.put(&h.time_ns.to_le_bytes());
    f.put(&h.actor.to_le_bytes());
    f.put(&h.subject.to_le_bytes());
    f.put(&h.result.to_le_bytes());
    f.put(&h.detail_len.to_le_bytes());
    debug_assert!(f.0.is_empty(), "the header fields fill the header");
    out
}

/// Decodes the fixed event header from the start of `bytes` (which may continue with the
/// detail). Checks the magic, the kind, that actor and subject are AIDs (at most `AID_MAX`)
/// and the detail bound; [`decode_event`] checks the rest of an event.
pub fn decode_event_header(bytes: &[u8]) -> Result<EventHeader, AuditDecodeError> {
    if bytes.len() < AGENT_AUDIT_EVENT_HDR_SIZE {
        return Err(AuditDecodeError::Truncated);
    }
    if bytes.first_chunk::<4>() != Some(&AUDIT_EVENT_MAGIC) {
        return Err(AuditDecodeError::BadMagic);
    }
    let t = AuditDecodeError::Truncated;
    let kind = get_u32(bytes, AUDIT_OFF_KIND).ok_or(t)?;
    let kind = AuditKind::from_u32(kind).ok_or(AuditDecodeError::UnknownKind)?;
    let actor = get_u64(bytes, AUDIT_OFF_ACTOR).ok_or(t)?;
    let subject = get_u64(bytes, AUDIT_OFF_SUBJECT).ok_or(t)?;
    if actor > AID_MAX || subject > AID_MAX {
        return Err(AuditDecodeError::BadAid);
    }
    let detail_len = get_u32(bytes, AUDIT_OFF_DETAIL_LEN).ok_or(t)?;
    if detail_len as usize > AGENT_AUDIT_DETAIL_MAX {
        return Err(AuditDecodeError::DetailTooLong);
    }
    Ok(EventHeader {
        kind,
        seq: get_u64(bytes, AUDIT_OFF_SEQ).ok_or(t)?,
        boot: get_u64(bytes, AUDIT_OFF_BOOT).ok_or(t)?,
        time_ns: get_u64(bytes, AUDIT_OFF_TIME_NS).ok_or(t)?,
        actor,
        subject,
        result: get_u32(bytes, AUDIT_OFF_RESULT).ok_or(t)? as i32,
        detail_len,
    })
}

/// Decodes a whole event, the one acceptance rule of `docs/formats/audit.md`: the header
/// ([`decode_event_header`]), then exactly `detail_len` bytes of detail, nothing more
/// (`LengthMismatch`), UTF-8 (`DetailNotUtf8`) that passes [`check_detail`]. Returns the
/// header and the detail.
pub fn decode_event(bytes: &[u8]) -> Result<(EventHeader, &str), AuditDecodeError> {
    let h = decode_event_header(bytes)?;
    let detail = bytes
        .get(AUDIT_OFF_DETAIL..)
        .ok_or(AuditDecodeError::Truncated)?;
    if detail.len() != h.detail_len as usize {
        return Err(AuditDecodeError::LengthMismatch);
    }
    let detail = core::str::from_utf8(detail).map_err(|_| AuditDecodeError::DetailNotUtf8)?;
    check_detail(detail)?;
    Ok((h, detail))
}

/// Encodes a binary row header (72 bytes: `row_len`, `reserved`, `prev`, `hash`).
pub fn encode_row_header(h: &AgentAuditRowHdr) -> [u8; AGENT_AUDIT_ROW_HDR_LEN] {
    let mut out = [0u8; AGENT_AUDIT_ROW_HDR_LEN];
    let mut f = Writer(&mut out);
    f.put(&h.row_len.to_le_bytes());
    f.put(&h.reserved.to_le_bytes());
    f.put(&h.prev);
    f.put(&h.hash);
    debug_assert!(f.0.is_empty(), "the row header fields fill the row header");
    out
}

/// Decodes a binary row header from the start of `bytes` and checks it: `reserved` is 0 and
/// `row_len` lies between `AGENT_AUDIT_ROW_MIN` (128) and `AGENT_AUDIT_ROW_MAX` (384).
pub fn decode_row_header(bytes: &[u8]) -> Result<AgentAuditRowHdr, AuditDecodeError> {
    let t = AuditDecodeError::Truncated;
    let row_len = get_u32(bytes, 0).ok_or(t)?;
    let reserved = get_u32(bytes, 4).ok_or(t)?;
    let prev: [u8; 32] = bytes.get(8..40).ok_or(t)?.try_into().map_err(|_| t)?;
    let hash: [u8; 32] = bytes.get(40..72).ok_or(t)?.try_into().map_err(|_| t)?;
    if reserved != 0 {
        return Err(AuditDecodeError::ReservedNotZero);
    }
    if (row_len as usize) < AGENT_AUDIT_ROW_MIN || (row_len as usize) > AGENT_AUDIT_ROW_MAX {
        return Err(AuditDecodeError::LengthMismatch);
    }
    Ok(AgentAuditRowHdr {
        row_len,
        reserved,
        prev,
        hash,
    })
}
