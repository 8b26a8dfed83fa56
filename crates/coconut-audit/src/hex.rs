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
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        // Both nibbles are below 16, inside DIGITS.
        let hi = DIGITS.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        let lo = DIGITS.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
        if let [h, l] = pair {
            *h = hi;
            *l = lo;
        }
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
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
    for (b, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [h, l] = pair else { return None };
        *b = (nibble(*h)? << 4) | nibble(*l)?;
    }
    Some(out)
}
