//! Lowercase hexadecimal, both ways: hashes (32 bytes) and machine ids (16).
//!
//! Job: the one spelling of a hash in `chain.log` lines and in link-row details (64 lowercase
//! hex digits) and of a machine id in seed lines and note names (32). Decoding accepts exactly
//! that spelling (no upper case), so every value has one text form. The kernel's audit object
//! uses this module too (`encode_into`, `decode_into`).
//!
//! Constraints: no_std, no panics, fixed-size arrays only.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The 64 lowercase hex digits of a hash.
pub(super) fn encode32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    encode_into(bytes, &mut out);
    out
}

/// Writes the lowercase hex digits of `bytes` into `out`, two per byte, as many bytes as
/// `out` has room for (`out.len() / 2`).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    // Both nibbles are below 16, inside DIGITS.
    let digit = |n: u8| DIGITS.get(usize::from(n)).copied().unwrap_or(b'0');
    let mut rest = out;
    for b in bytes {
        // A byte loop over `split_first_chunk_mut`: `chunks_exact` brings a division panic.
        let Some(([hi, lo], tail)) = rest.split_first_chunk_mut::<2>() else {
            break;
        };
        *hi = digit(b >> 4);
        *lo = digit(b & 0x0f);
        rest = tail;
    }
}

pub(super) fn nibble(c: u8) -> Option<u8> {
    match c {
        // Lowercase only: `to_digit(16)` alone would accept `A`..`F`.
        b'0'..=b'9' | b'a'..=b'f' => char::from(c).to_digit(16).map(|d| d as u8),
        _ => None,
    }
}

/// Decodes exactly 64 lowercase hex digits.
pub(super) fn decode32(text: &[u8]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    decode_into(text, &mut out)?;
    Some(out)
}

/// Decodes `text`, exactly `2 * out.len()` lowercase hex digits, into `out`; `None` (with
/// `out` partly written) for any other text.
pub fn decode_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != out.len().checked_mul(2)? {
        return None;
    }
    let mut rest = text;
    for b in out.iter_mut() {
        let ([h, l], tail) = rest.split_first_chunk::<2>()?;
        *b = (nibble(*h)? << 4) | nibble(*l)?;
        rest = tail;
    }
    Some(())
}
