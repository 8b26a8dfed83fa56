//! Lowercase hexadecimal for 32-byte hashes, both ways.
//!
//! Job: the one spelling of a hash in `chain.log` lines and in link-row details: 64 lowercase
//! hex digits. Decoding accepts exactly that spelling (no upper case), so every hash has one
//! text form.
//!
//! Constraints: no_std, no panics, fixed-size arrays only.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The 64 lowercase hex digits of a hash.
pub(super) fn encode32(bytes: &[u8; 32]) -> [u8; 64] {
    // Both nibbles are below 16, inside DIGITS. Fixed-size arrays throughout, so no length
    // is checked at run time.
    let digit = |n: u8| DIGITS.get(usize::from(n)).copied().unwrap_or(b'0');
    let pairs: [[u8; 2]; 32] = bytes.map(|b| [digit(b >> 4), digit(b & 0x0f)]);
    let mut out = [0u8; 64];
    for (o, d) in out.iter_mut().zip(pairs.as_flattened()) {
        *o = *d;
    }
    out
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
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut rest = text;
    for b in out.iter_mut() {
        let ([h, l], tail) = rest.split_first_chunk::<2>()?;
        *b = (nibble(*h)? << 4) | nibble(*l)?;
        rest = tail;
    }
    Some(out)
}
