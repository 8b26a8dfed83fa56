//! A tiny canonical encoder writing into a caller-provided buffer.
//!
//! The kernel renders attestation chains with it. Every head is written in shortest form;
//! the caller writes the elements after [`Encoder::array`] and the pairs after [`Encoder::map`],
//! and must emit map keys in canonical order (bytewise increasing as encoded). Each call writes
//! its item completely or not at all. No allocation, no panics.

use super::head;
use super::Error;

/// Writes canonical CBOR items into a borrowed buffer.
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Encoder<'a> {
    /// An encoder writing from the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// How many bytes have been written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Ends encoding and returns the bytes written, borrowed for the buffer's whole lifetime.
    pub fn into_written(self) -> &'a [u8] {
        let len = self.len;
        let buf: &'a [u8] = self.buf;
        buf.get(..len).unwrap_or_default()
    }

    /// Writes a head and then `payload`, atomically.
    fn put(&mut self, major: u8, arg: u64, payload: &[u8]) -> Result<(), Error> {
        let (head, head_len) = head::encode(major, arg);
        let full = Error::BufferFull { offset: self.len };
        let head = head.get(..head_len).ok_or(full)?;
        let mid = self.len.checked_add(head_len).ok_or(full)?;
        let end = mid.checked_add(payload.len()).ok_or(full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(full)?;
        // Both halves have exactly the lengths of their sources by construction; `copy`
        // checks it anyway rather than trusting the arithmetic.
        let (dst_head, dst_payload) = dst.split_at_mut_checked(head_len).ok_or(full)?;
        if !(copy(dst_head, head) && copy(dst_payload, payload)) {
            return Err(full);
        }
        self.len = end;
        Ok(())
    }

    /// Writes an unsigned integer.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn u64(&mut self, v: u64) -> Result<(), Error> {
        self.put(0, v, &[])
    }

    /// Writes a signed integer (major type 0 when non-negative, 1 when negative).
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn i64(&mut self, v: i64) -> Result<(), Error> {
        if v >= 0 {
            self.put(0, v.unsigned_abs(), &[])
        } else {
            // For negative `v`, the argument `-1 - v` is `!v`, which is non-negative.
            self.put(1, (!v).unsigned_abs(), &[])
        }
    }

    /// Writes a byte string.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn bytes(&mut self, v: &[u8]) -> Result<(), Error> {
        self.put(2, v.len() as u64, v)
    }

    /// Writes a text string.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn text(&mut self, v: &str) -> Result<(), Error> {
        self.put(3, v.len() as u64, v.as_bytes())
    }

    /// Writes `false` or `true`.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn bool(&mut self, v: bool) -> Result<(), Error> {
        self.put(7, if v { 21 } else { 20 }, &[])
    }

    /// Writes `null`.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn null(&mut self) -> Result<(), Error> {
        self.put(7, 22, &[])
    }

    /// Writes the head of an array of `len` elements; write the elements next.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn array(&mut self, len: u64) -> Result<(), Error> {
        self.put(4, len, &[])
    }

    /// Writes the head of a map of `len` pairs; write each key then its value next, keys in
    /// canonical order.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn map(&mut self, len: u64) -> Result<(), Error> {
        self.put(5, len, &[])
    }

    /// Copies an already encoded item (for instance one returned by
    /// [`Decoder::raw_item`](super::Decoder::raw_item)) verbatim; the encoder does not check it.
    ///
    /// # Errors
    ///
    /// [`Error::BufferFull`] if it does not fit; nothing is written then.
    pub fn raw(&mut self, item: &[u8]) -> Result<(), Error> {
        let full = Error::BufferFull { offset: self.len };
        let end = self.len.checked_add(item.len()).ok_or(full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(full)?;
        // `dst` has exactly `item.len()` bytes by construction.
        if !copy(dst, item) {
            return Err(full);
        }
        self.len = end;
        Ok(())
    }
}

/// Copies `src` into `dst` if they have the same length (then `copy_from_slice` has nothing to
/// panic about, and the compiler drops its length check); returns whether it did.
fn copy(dst: &mut [u8], src: &[u8]) -> bool {
    let same = dst.len() == src.len();
    debug_assert!(same, "CBOR encoder: {} bytes for {}", dst.len(), src.len());
    if same {
        dst.copy_from_slice(src);
    }
    same
}
