//! A cursor that reads one item at a time, and a map reader that checks key order as it goes.
//!
//! Every accessor re-checks the head it reads (shortest form, accepted subset, bounds, UTF-8),
//! so a [`Decoder`] is safe on raw, unvalidated input too; what it cannot see without a walk
//! (the order of keys in a map read element by element, nesting, item counts) is checked by
//! [`validate`](super::validate) beforehand, by [`MapReader`], or by [`Decoder::skip`].
//! An accessor that fails leaves the position unchanged. No allocation, no panics.

use super::head::{self, Head};
use super::walk;
use super::{Error, Limits, Type};

/// A cursor over CBOR input that reads one item at a time.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: Limits,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `input` with [`Limits::PERMISSIVE`]: strings are bounded only
    /// by the input, and [`skip`](Self::skip) only by [`DEPTH_CAP`](super::DEPTH_CAP).
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_limits(input, Limits::PERMISSIVE)
    }

    /// A decoder at the start of `input` that applies `limits.max_str` to every string it reads
    /// and all of `limits` but `max_input` to each item it skips.
    pub fn with_limits(input: &'a [u8], limits: Limits) -> Self {
        Self {
            input,
            pos: 0,
            limits,
        }
    }

    /// The offset of the next item.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    /// The type of the next item, without consuming it.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] at the end of input, or whatever makes the next head unacceptable.
    pub fn peek_type(&self) -> Result<Type, Error> {
        head::read(self.input, self.pos).map(|h| h.ty)
    }

    /// Reads the head of the next item, which must be of type `want`.
    fn expect(&self, want: Type) -> Result<Head, Error> {
        let h = head::read(self.input, self.pos)?;
        if h.ty != want {
            return Err(self.mismatch(want, h.ty));
        }
        Ok(h)
    }

    fn mismatch(&self, expected: Type, found: Type) -> Error {
        Error::TypeMismatch {
            expected,
            found,
            offset: self.pos,
        }
    }

    /// Reads an unsigned integer.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the next item is not an unsigned integer, or a head error.
    pub fn u64(&mut self) -> Result<u64, Error> {
        let h = self.expect(Type::Unsigned)?;
        self.pos = h.end;
        Ok(h.arg)
    }

    /// Reads an unsigned integer that fits `u32`.
    ///
    /// # Errors
    ///
    /// As [`u64`](Self::u64), and [`Error::OutOfRange`] if the value exceeds `u32::MAX`.
    pub fn u32(&mut self) -> Result<u32, Error> {
        let h = self.expect(Type::Unsigned)?;
        let v = u32::try_from(h.arg).map_err(|_| Error::OutOfRange { offset: self.pos })?;
        self.pos = h.end;
        Ok(v)
    }

    /// Reads an unsigned or negative integer that fits `i64`.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] (with `expected: Type::Unsigned`) if the next item is not an
    /// integer, [`Error::OutOfRange`] if it is an unsigned integer above `i64::MAX`.
    pub fn i64(&mut self) -> Result<i64, Error> {
        let h = head::read(self.input, self.pos)?;
        let v = match h.ty {
            Type::Unsigned => {
                i64::try_from(h.arg).map_err(|_| Error::OutOfRange { offset: self.pos })?
            }
            Type::Negative => {
                // The head reader guarantees `arg <= i64::MAX`. The value is `-1 - arg`, which
                // is `!arg` in two's complement: at least `i64::MIN`, no overflow possible.
                let n = i64::try_from(h.arg).map_err(|_| Error::OutOfRange { offset: self.pos })?;
                !n
            }
            found => return Err(self.mismatch(Type::Unsigned, found)),
        };
        self.pos = h.end;
        Ok(v)
    }

    /// Reads `false` or `true`.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the next item is not a boolean, or a head error.
    pub fn bool(&mut self) -> Result<bool, Error> {
        let h = self.expect(Type::Bool)?;
        self.pos = h.end;
        Ok(h.arg != 0)
    }

    /// Reads `null`.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the next item is not `null`, or a head error.
    pub fn null(&mut self) -> Result<(), Error> {
        let h = self.expect(Type::Null)?;
        self.pos = h.end;
        Ok(())
    }

    /// Reads a byte string, borrowing its payload from the input.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`], [`Error::TooLong`], [`Error::Truncated`] or a head error.
    pub fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let h = self.expect(Type::Bytes)?;
        let (payload, end) = head::payload(self.input, self.pos, &h, self.limits.max_str)?;
        self.pos = end;
        Ok(payload)
    }

    /// Reads a text string, borrowing it from the input.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`Error::InvalidUtf8`].
    pub fn text(&mut self) -> Result<&'a str, Error> {
        let h = self.expect(Type::Text)?;
        let (payload, end) = head::payload(self.input, self.pos, &h, self.limits.max_str)?;
        let text = head::utf8(payload, h.end)?;
        self.pos = end;
        Ok(text)
    }

    /// Reads an array head and returns its element count; the elements follow.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the next item is not an array, or a head error.
    pub fn array(&mut self) -> Result<u64, Error> {
        let h = self.expect(Type::Array)?;
        self.pos = h.end;
        Ok(h.arg)
    }

    /// Reads a map head and returns its pair count; the keys and values follow, alternating.
    /// [`map_reader`](Self::map_reader) also checks the key order.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the next item is not a map, or a head error.
    pub fn map(&mut self) -> Result<u64, Error> {
        let h = self.expect(Type::Map)?;
        self.pos = h.end;
        Ok(h.arg)
    }

    /// Reads a map head and returns a [`MapReader`] over its pairs.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_reader(&mut self) -> Result<MapReader<'_, 'a>, Error> {
        let remaining = self.map()?;
        Ok(MapReader {
            value_start: self.pos,
            dec: self,
            remaining,
            prev: None,
        })
    }

    /// Skips one complete item, checking it as [`validate`](super::validate) would (canonical
    /// heads, subset, UTF-8, key order, and this decoder's limits but `max_input`).
    ///
    /// # Errors
    ///
    /// The first problem in the item.
    pub fn skip(&mut self) -> Result<(), Error> {
        self.pos = walk::item(self.input, self.pos, &self.limits)?;
        Ok(())
    }

    /// Skips one complete item as [`skip`](Self::skip) does and returns its encoded bytes,
    /// e.g. to hash or verify a signature over them.
    ///
    /// # Errors
    ///
    /// As [`skip`](Self::skip).
    pub fn raw_item(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let end = walk::item(self.input, start, &self.limits)?;
        let raw = self
            .input
            .get(start..end)
            .ok_or(Error::Truncated { offset: start })?;
        self.pos = end;
        Ok(raw)
    }

    /// Checks that the whole input has been read.
    ///
    /// # Errors
    ///
    /// [`Error::TrailingBytes`] at the current position if anything is left.
    pub fn finish(&self) -> Result<(), Error> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(Error::TrailingBytes { offset: self.pos })
        }
    }
}

/// Reads the pairs of a map whose keys are text strings, checking that each key is strictly
/// greater than the previous one (bytewise, as encoded), as canonical CBOR requires.
///
/// Call [`next_key`](Self::next_key) for each key and read its value through
/// [`value`](Self::value). A value left completely unread is skipped (and checked) by the next
/// call to `next_key`; a value read only partly (say, an array head without its elements) is
/// the caller's bug and surfaces as an error on the following key.
#[derive(Debug)]
pub struct MapReader<'d, 'a> {
    dec: &'d mut Decoder<'a>,
    remaining: u64,
    prev: Option<&'a [u8]>,
    value_start: usize,
}

impl<'a> MapReader<'_, 'a> {
    /// Pairs whose keys have not been read yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Reads the next key, or returns `None` after the last pair (skipping the last value if
    /// it was not read).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] if the key is not a text string, [`Error::KeysOutOfOrder`] if it
    /// is not greater than the previous key, or any error of [`Decoder::text`] and
    /// [`Decoder::skip`].
    pub fn next_key(&mut self) -> Result<Option<&'a str>, Error> {
        self.skip_unread_value()?;
        let Some(rest) = self.remaining.checked_sub(1) else {
            return Ok(None);
        };
        let start = self.dec.pos;
        let key = self.dec.text()?;
        self.check_order(start, rest)?;
        Ok(Some(key))
    }

    /// Reads the next key of any type and returns its encoded bytes, or `None` after the last
    /// pair; see [`next_key`](Self::next_key).
    ///
    /// # Errors
    ///
    /// [`Error::KeysOutOfOrder`] or any error of [`Decoder::raw_item`].
    pub fn next_raw_key(&mut self) -> Result<Option<&'a [u8]>, Error> {
        self.skip_unread_value()?;
        let Some(rest) = self.remaining.checked_sub(1) else {
            return Ok(None);
        };
        let start = self.dec.pos;
        let key = self.dec.raw_item()?;
        self.check_order(start, rest)?;
        Ok(Some(key))
    }

    /// The decoder, positioned at the value of the key just read.
    pub fn value(&mut self) -> &mut Decoder<'a> {
        self.dec
    }

    fn skip_unread_value(&mut self) -> Result<(), Error> {
        if self.prev.is_some() && self.dec.pos == self.value_start {
            self.dec.skip()?;
        }
        Ok(())
    }

    /// Checks the key just read (from `start` to the decoder's position) against the previous
    /// one and records it, leaving `remaining` pairs after this one.
    fn check_order(&mut self, start: usize, remaining: u64) -> Result<(), Error> {
        let key = self
            .dec
            .input
            .get(start..self.dec.pos)
            .ok_or(Error::Truncated { offset: start })?;
        if self.prev.is_some_and(|prev| key <= prev) {
            self.dec.pos = start;
            return Err(Error::KeysOutOfOrder { offset: start });
        }
        self.prev = Some(key);
        self.remaining = remaining;
        self.value_start = self.dec.pos;
        Ok(())
    }
}
