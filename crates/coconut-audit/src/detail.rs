//! Detail texts: a safe formatting buffer, and the grammar of the `link` row.
//!
//! Job: [`DetailBuf`] lets kernel code `write!` a detail without any way to make sealing fail
//! (it cuts at 256 bytes on a character boundary, ending the text with `...`, and replaces
//! control characters with `?`), because a row that cannot be sealed would be a lost row. [`PrevBoot`] is the content of
//! the `link` row (seq 1 of a boot that continues a previous chain): the previous boot counter,
//! its last sequence number and its head, as `prev_boot=N prev_seq=N prev_head=<64 hex>`, with
//! decimal numbers without leading zeros and lowercase hex — exactly one spelling, which the
//! parser enforces.
//!
//! Constraints: no_std, no heap, no panics; `DetailBuf` is 260 bytes.

use super::abi::AGENT_AUDIT_DETAIL_MAX;
use super::hex::{decode32, encode32};

/// A detail under construction: `core::fmt::Write` into at most `AGENT_AUDIT_DETAIL_MAX`
/// bytes. Control characters become `?`. Text that does not fit is dropped, the detail is cut
/// at a character boundary so that it ends with `...` within the limit, and
/// [`DetailBuf::truncated`] reports it. Its [`DetailBuf::as_str`] always passes
/// [`super::check_detail`].
#[derive(Clone)]
pub struct DetailBuf {
    buf: [u8; AGENT_AUDIT_DETAIL_MAX],
    len: u16,
    truncated: bool,
}

impl Default for DetailBuf {
    fn default() -> Self {
        DetailBuf::new()
    }
}

impl core::fmt::Debug for DetailBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DetailBuf")
            .field("text", &self.as_str())
            .field("truncated", &self.truncated)
            .finish()
    }
}

impl DetailBuf {
    /// An empty detail.
    pub const fn new() -> DetailBuf {
        DetailBuf {
            buf: [0; AGENT_AUDIT_DETAIL_MAX],
            len: 0,
            truncated: false,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only whole UTF-8 characters are ever copied in.
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// Whether text was dropped because the detail reached 256 bytes.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }
}

impl core::fmt::Write for DetailBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if self.truncated {
                break;
            }
            let c = if c.is_control() { '?' } else { c };
            let mut utf8 = [0u8; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let start = usize::from(self.len);
            // Exactly `bytes.len()` bytes at `start`, if they fit.
            match self
                .buf
                .get_mut(start..)
                .and_then(|r| r.get_mut(..bytes.len()))
            {
                Some(dst) => {
                    dst.copy_from_slice(bytes);
                    // At most 256, the buffer's length.
                    self.len = start.saturating_add(bytes.len()) as u16;
                }
                None => self.truncate_with_ellipsis(),
            }
        }
        Ok(())
    }
}

impl DetailBuf {
    /// Marks the text as cut: drops whole characters from the end until `...` fits, then
    /// appends it (`docs/formats/audit.md`, "Detail grammar").
    fn truncate_with_ellipsis(&mut self) {
        self.truncated = true;
        let mut len = usize::from(self.len).min(ELLIPSIS_AT);
        // Back up to a character boundary: the end of the text, or a byte of it that is not a
        // UTF-8 continuation byte.
        let end = usize::from(self.len);
        while len > 0 && len < end && self.buf.get(len).is_some_and(|&b| b & 0xc0 == 0x80) {
            len = len.saturating_sub(1);
        }
        match self
            .buf
            .get_mut(len..)
            .and_then(|r| r.get_mut(..ELLIPSIS.len()))
        {
            Some(dst) => {
                dst.copy_from_slice(ELLIPSIS);
                // At most 253 + 3 = 256.
                self.len = len.saturating_add(ELLIPSIS.len()) as u16;
            }
            None => debug_assert!(false, "the ellipsis fits behind {ELLIPSIS_AT} bytes"),
        }
    }
}

/// What ends a detail that was cut at 256 bytes.
const ELLIPSIS: &[u8] = b"...";
/// Where the ellipsis of a cut detail starts at the latest.
const ELLIPSIS_AT: usize = AGENT_AUDIT_DETAIL_MAX - ELLIPSIS.len();

/// The longest link detail: `prev_boot=` + 20 digits + ` prev_seq=` + 20 digits +
/// ` prev_head=` + 64 hex digits.
pub const LINK_DETAIL_MAX: usize = 10 + 20 + 10 + 20 + 11 + 64;

const _: () = assert!(LINK_DETAIL_MAX <= AGENT_AUDIT_DETAIL_MAX);

/// Where the previous boot's chain ended: the content of a `link` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrevBoot {
    /// The previous boot counter.
    pub boot: u64,
    /// The sequence number of its last row.
    pub last_seq: u64,
    /// Its head: the hash of its last row.
    pub head: [u8; 32],
}

/// Digits of the longest `u64`.
pub(super) const U64_DIGITS: usize = 20;

/// Renders `v` in decimal without leading zeros into the end of `buf`; returns the digits.
pub(super) fn decimal(v: u64, buf: &mut [u8; U64_DIGITS]) -> &[u8] {
    let mut v = v;
    let mut first = U64_DIGITS;
    for (i, slot) in buf.iter_mut().enumerate().rev() {
        // `v % 10` is below 10, so OR-ing it into b'0' (0x30) gives its ASCII digit.
        *slot = b'0' | (v % 10) as u8;
        v /= 10;
        first = i;
        if v == 0 {
            break;
        }
    }
    buf.get(first..).unwrap_or(&[])
}

/// Writes `v` in decimal without leading zeros at `buf[at..]`; returns the new position.
pub(super) fn put_u64(buf: &mut [u8], at: usize, v: u64) -> usize {
    put(buf, at, decimal(v, &mut [0; U64_DIGITS]))
}

/// Copies `src` to `buf[at..]` if it fits; returns the new position.
pub(super) fn put(buf: &mut [u8], at: usize, src: &[u8]) -> usize {
    let end = at.saturating_add(src.len());
    match buf.get_mut(at..end) {
        Some(dst) => {
            // Element by element: `copy_from_slice` brings a length-mismatch panic into the
            // kernel object (the lengths are equal, but -O2 cannot always see it).
            for (d, v) in dst.iter_mut().zip(src) {
                *d = *v;
            }
            end
        }
        None => at,
    }
}

/// Splits `text` at its first space: the word before it and the text after it (`None` without
/// a space). A byte loop rather than `str::split`, whose generic searcher brings overflow
/// checks into the kernel object.
pub(super) fn word(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b' ' {
            let (w, _) = text.split_at_checked(text.len().saturating_sub(rest.len()))?;
            return Some((w, tail));
        }
        rest = tail;
    }
    None
}

/// Parses a decimal `u64` in canonical form (no sign, no leading zero unless it is "0").
pub(super) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        let digit = char::from(c).to_digit(10)?;
        v = v.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(v)
}

impl PrevBoot {
    /// Renders the link detail `prev_boot=N prev_seq=N prev_head=<64 hex>` into `buf` and
    /// returns it.
    pub fn encode<'b>(&self, buf: &'b mut [u8; LINK_DETAIL_MAX]) -> &'b str {
        let mut at = put(buf, 0, b"prev_boot=");
        at = put_u64(buf, at, self.boot);
        at = put(buf, at, b" prev_seq=");
        at = put_u64(buf, at, self.last_seq);
        at = put(buf, at, b" prev_head=");
        at = put(buf, at, &encode32(&self.head));
        // Only ASCII was written.
        core::str::from_utf8(buf.get(..at).unwrap_or(&[])).unwrap_or("")
    }

    /// Parses a link detail; only the exact canonical spelling is accepted.
    pub fn parse(detail: &str) -> Option<PrevBoot> {
        let rest = detail.as_bytes().strip_prefix(b"prev_boot=")?;
        let (boot, rest) = word(rest)?;
        let rest = rest.strip_prefix(b"prev_seq=")?;
        let (seq, rest) = word(rest)?;
        let head = rest.strip_prefix(b"prev_head=")?;
        Some(PrevBoot {
            boot: parse_u64(boot)?,
            last_seq: parse_u64(seq)?,
            // 64 hex digits and nothing else: a further space is refused here.
            head: decode32(head)?,
        })
    }
}
