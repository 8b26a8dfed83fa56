//! The checkpoint note body that a `checkpoint` row's signature covers, and standard base64.
//!
//! Job: render and parse the C2SP `tlog-checkpoint` body of `docs/formats/audit.md`,
//! "Checkpoints":
//!
//! ```text
//! coconut-os/audit/<machine-id>/<boot>
//! <size>
//! <base64 root>
//! head <base64 head>
//! ```
//!
//! `<machine-id>` is the 32 lowercase hex digits of `/etc/machine-id`, `<boot>` and `<size>`
//! are decimal without leading zeros, the hashes are standard base64 with padding (RFC 4648 §4),
//! and every line ends in `\n`. [`Checkpoint::parse_note`] accepts exactly that spelling, so
//! every checkpoint has one body and one signature. [`base64_encode`] and [`base64_decode`]
//! serve the note's signature line too.
//!
//! Constraints: no_std, no heap, no panics on any input; output goes into caller buffers.

use super::detail::{parse_u64, put, put_u64};
use super::hex::nibble;

/// The origin line's fixed start.
pub const NOTE_ORIGIN_PREFIX: &str = "coconut-os/audit/";

/// The longest note body: the prefix, 32 hex digits, `/`, a 20-digit boot, `\n`, a 20-digit
/// size, `\n`, 44 base64 digits, `\n`, `head `, 44 base64 digits, `\n`.
pub const NOTE_MAX: usize =
    NOTE_ORIGIN_PREFIX.len() + 32 + 1 + 20 + 1 + 20 + 1 + 44 + 1 + 5 + 44 + 1;

/// What a checkpoint commits to: the tree of a boot's first `size` events and the chain head
/// after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The machine's `/etc/machine-id`, as 16 bytes.
    pub machine_id: [u8; 16],
    /// The boot counter.
    pub boot: u64,
    /// The number of rows the tree covers.
    pub size: u64,
    /// The Merkle tree root over those rows' events ([`super::Frontier::root`]).
    pub root: [u8; 32],
    /// The chain hash of the last of those rows.
    pub head: [u8; 32],
}

/// Why a text is not a checkpoint note body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteError {
    /// The first line does not start with `coconut-os/audit/`.
    Origin,
    /// The machine id is not 32 lowercase hex digits followed by `/`.
    MachineId,
    /// The boot counter is not a canonical decimal `u64`.
    Boot,
    /// The tree size is not a canonical decimal `u64`.
    Size,
    /// The root is not the canonical base64 of 32 bytes.
    Root,
    /// The fourth line does not start with `head `.
    HeadLine,
    /// The head is not the canonical base64 of 32 bytes.
    Head,
    /// A line (named by the field before it) does not end in `\n`.
    MissingNewline,
    /// Text follows the head line.
    Trailing,
}

impl core::fmt::Display for NoteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NoteError::Origin => "checkpoint origin line does not start with coconut-os/audit/",
            NoteError::MachineId => "checkpoint machine id is not 32 lowercase hex digits and /",
            NoteError::Boot => "checkpoint boot counter is not a canonical decimal",
            NoteError::Size => "checkpoint tree size is not a canonical decimal",
            NoteError::Root => "checkpoint root is not canonical base64 of 32 bytes",
            NoteError::HeadLine => "checkpoint fourth line does not start with \"head \"",
            NoteError::Head => "checkpoint head is not canonical base64 of 32 bytes",
            NoteError::MissingNewline => "checkpoint line does not end in a newline",
            NoteError::Trailing => "text follows the checkpoint head line",
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The base64 digit of the low 6 bits of `v`.
fn b64_digit(v: u32) -> u8 {
    B64.get((v & 0x3f) as usize).copied().unwrap_or(b'=')
}

/// The value of a base64 digit (not `=`).
fn b64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c.wrapping_sub(b'A'),
        b'a'..=b'z' => c.wrapping_sub(b'a').wrapping_add(26),
        b'0'..=b'9' => c.wrapping_sub(b'0').wrapping_add(52),
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// The length of the standard base64 of `n` bytes: `4 * ceil(n / 3)` (`None` on overflow).
pub fn base64_len(n: usize) -> Option<usize> {
    n.div_ceil(3).checked_mul(4)
}

/// The four digits of 1..=3 bytes, `=` for the digits a short group leaves.
fn b64_group(group: [u8; 3], bytes: usize) -> [u8; 4] {
    let v = (u32::from(group[0]) << 16) | (u32::from(group[1]) << 8) | u32::from(group[2]);
    let mut digits = [b'='; 4];
    for (i, d) in digits.iter_mut().enumerate() {
        // `bytes` bytes fill `bytes + 1` digits.
        if i <= bytes {
            *d = b64_digit(v >> (18usize.saturating_sub(i.saturating_mul(6))));
        }
    }
    digits
}

/// Writes the standard base64 (RFC 4648 §4, with `=` padding) of `input` into the start of
/// `out` and returns its length, or `None` when `out` is shorter than [`base64_len`].
pub fn base64_encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = base64_len(input.len())?;
    if out.len() < len {
        return None;
    }
    // Fixed-size chunk splits, not `chunks` zips: their length arithmetic keeps panic paths in
    // the kernel object.
    let (mut rest, mut dst) = (input, out);
    while let Some((group, tail)) = rest.split_first_chunk::<3>() {
        let (d, dtail) = dst.split_first_chunk_mut::<4>()?;
        *d = b64_group(*group, 3);
        (rest, dst) = (tail, dtail);
    }
    let mut last = [0u8; 3];
    for (l, b) in last.iter_mut().zip(rest) {
        *l = *b;
    }
    if !rest.is_empty() {
        let (d, _) = dst.split_first_chunk_mut::<4>()?;
        *d = b64_group(last, rest.len());
    }
    Some(len)
}

/// Decodes canonical standard base64 of `text` into the start of `out` and returns the number
/// of bytes: the length a multiple of 4, `=` only as the last one or two digits of the last
/// group, and the bits a padded group leaves unused zero — so each byte string has exactly one
/// accepted spelling. `None` for any other text or when `out` is too short.
pub fn base64_decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    if text.len() % 4 != 0 {
        return None;
    }
    let mut written = 0usize;
    let mut rest = text;
    while let Some((quad, tail)) = rest.split_first_chunk::<4>() {
        let pad = match quad {
            [_, _, b'=', b'='] => 2,
            [_, _, _, b'='] => 1,
            _ => 0,
        };
        if pad > 0 && !tail.is_empty() {
            return None;
        }
        let mut v = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            let digit = if i < 4usize.saturating_sub(pad) {
                b64_value(c)?
            } else {
                0
            };
            v |= digit << (18usize.saturating_sub(i.saturating_mul(6)));
        }
        // 3 bytes minus one per padding digit; a padded group's unused low bits must be zero.
        let bytes = 3usize.saturating_sub(pad);
        if v & (0xff_ffffu32 >> bytes.saturating_mul(8)) != 0 {
            return None;
        }
        for i in 0..bytes {
            let slot = out.get_mut(written)?;
            *slot = (v >> (16usize.saturating_sub(i.saturating_mul(8)))) as u8;
            written = written.saturating_add(1);
        }
        rest = tail;
    }
    Some(written)
}

/// Decodes the canonical base64 of exactly 32 bytes (44 digits).
pub(super) fn base64_decode32(text: &[u8]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    match base64_decode(text, &mut out) {
        Some(32) => Some(out),
        _ => None,
    }
}

/// Splits `text` after its first `\n`: the line without it and the rest (`None` without one).
fn line(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\n' {
            let (l, _) = text.split_at_checked(text.len().saturating_sub(rest.len()))?;
            return Some((l, tail));
        }
        rest = tail;
    }
    None
}

impl Checkpoint {
    /// Renders the note body into `buf` and returns it.
    pub fn note<'b>(&self, buf: &'b mut [u8; NOTE_MAX]) -> &'b str {
        let digit = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
        let pairs: [[u8; 2]; 16] = self.machine_id.map(|b| [digit(b >> 4), digit(b & 0x0f)]);
        let mut b64 = [0u8; 44];
        let mut at = put(buf, 0, NOTE_ORIGIN_PREFIX.as_bytes());
        at = put(buf, at, pairs.as_flattened());
        at = put(buf, at, b"/");
        at = put_u64(buf, at, self.boot);
        at = put(buf, at, b"\n");
        at = put_u64(buf, at, self.size);
        at = put(buf, at, b"\n");
        let n = base64_encode(&self.root, &mut b64).unwrap_or(0);
        at = put(buf, at, b64.get(..n).unwrap_or(&[]));
        at = put(buf, at, b"\nhead ");
        let n = base64_encode(&self.head, &mut b64).unwrap_or(0);
        at = put(buf, at, b64.get(..n).unwrap_or(&[]));
        at = put(buf, at, b"\n");
        // Only ASCII was written.
        core::str::from_utf8(buf.get(..at).unwrap_or(&[])).unwrap_or("")
    }

    /// Parses a note body; only the exact form [`Checkpoint::note`] renders is accepted.
    pub fn parse_note(text: &[u8]) -> Result<Checkpoint, NoteError> {
        let (origin, rest) = line(text).ok_or(NoteError::MissingNewline)?;
        let origin = origin
            .strip_prefix(NOTE_ORIGIN_PREFIX.as_bytes())
            .ok_or(NoteError::Origin)?;
        let (id, boot) = origin
            .split_first_chunk::<32>()
            .ok_or(NoteError::MachineId)?;
        let boot = boot.strip_prefix(b"/").ok_or(NoteError::MachineId)?;
        let mut machine_id = [0u8; 16];
        let mut digits: &[u8] = id;
        for b in machine_id.iter_mut() {
            let ([h, l], tail) = digits
                .split_first_chunk::<2>()
                .ok_or(NoteError::MachineId)?;
            *b = (nibble(*h).ok_or(NoteError::MachineId)? << 4)
                | nibble(*l).ok_or(NoteError::MachineId)?;
            digits = tail;
        }
        let boot = parse_u64(boot).ok_or(NoteError::Boot)?;
        let (size, rest) = line(rest).ok_or(NoteError::MissingNewline)?;
        let size = parse_u64(size).ok_or(NoteError::Size)?;
        let (root, rest) = line(rest).ok_or(NoteError::MissingNewline)?;
        let root = base64_decode32(root).ok_or(NoteError::Root)?;
        let (head, rest) = line(rest).ok_or(NoteError::MissingNewline)?;
        let head = head.strip_prefix(b"head ").ok_or(NoteError::HeadLine)?;
        let head = base64_decode32(head).ok_or(NoteError::Head)?;
        if !rest.is_empty() {
            return Err(NoteError::Trailing);
        }
        Ok(Checkpoint {
            machine_id,
            boot,
            size,
            root,
            head,
        })
    }
}
