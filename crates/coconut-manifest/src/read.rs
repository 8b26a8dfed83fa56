//! Typed readers of one field each, on a decoder over an already validated document.
//!
//! Job: read a value of the type the format requires and turn any mismatch into the
//! [`ManifestError`] that names the field and its offset; check that map keys come in the
//! order of the format's key table (canonical order), which also rejects repeated keys.
//!
//! Constraints: no_std, no heap, no panics. The document was checked by `cbor::validate`
//! first, so only type mismatches are expected here; other CBOR errors are still mapped
//! rather than assumed impossible.

use core::marker::PhantomData;

use super::abi::{is_valid_agent_name, MANIFEST_VERSION};
use super::cbor::Decoder;
use super::error::{field_error, Doc, ManifestError};

/// Reads a map head for `field`; returns the pair count and the map's offset.
pub(super) fn map<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(u64, usize), ManifestError<'a>> {
    let at = d.position();
    let pairs = d.map().map_err(|e| field_error(doc, field, e))?;
    Ok((pairs, at))
}

/// Reads an array head for `field`; returns the element count and the array's offset.
pub(super) fn array<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(u64, usize), ManifestError<'a>> {
    let at = d.position();
    let items = d.array().map_err(|e| field_error(doc, field, e))?;
    Ok((items, at))
}

/// Reads a key of `map`, which must be in `table` (the map's keys in canonical order) and
/// come after the key at index `*last`. Returns the key's index in `table`, the key and its
/// offset.
pub(super) fn key<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    map: &'static str,
    table: &[&str],
    last: &mut Option<usize>,
) -> Result<(usize, &'a str, usize), ManifestError<'a>> {
    let offset = d.position();
    let key = d.text().map_err(|e| match field_error(doc, map, e) {
        ManifestError::WrongType { found, offset, .. } => {
            ManifestError::KeyNotText { map, found, offset }
        }
        other => other,
    })?;
    let index = table
        .iter()
        .position(|k| *k == key)
        .ok_or(ManifestError::UnknownKey { map, key, offset })?;
    if last.is_some_and(|l| index <= l) {
        return Err(ManifestError::KeyOrder { doc, key, offset });
    }
    *last = Some(index);
    Ok((index, key, offset))
}

/// Reads an unsigned integer; returns it and its offset.
pub(super) fn uint<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(u64, usize), ManifestError<'a>> {
    let at = d.position();
    let value = d.u64().map_err(|e| field_error(doc, field, e))?;
    Ok((value, at))
}

/// Reads a format version, which must be 1.
pub(super) fn version<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(), ManifestError<'a>> {
    let (found, offset) = uint(d, doc, field)?;
    if found != MANIFEST_VERSION {
        return Err(ManifestError::BadVersion {
            field,
            found,
            offset,
        });
    }
    Ok(())
}

/// Reads a byte string; returns it and its offset.
pub(super) fn bytes<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(&'a [u8], usize), ManifestError<'a>> {
    let at = d.position();
    let value = d.bytes().map_err(|e| field_error(doc, field, e))?;
    Ok((value, at))
}

/// Reads a byte string of exactly `N` bytes.
pub(super) fn fixed<'a, const N: usize>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<&'a [u8; N], ManifestError<'a>> {
    let (value, offset) = bytes(d, doc, field)?;
    <&[u8; N]>::try_from(value).map_err(|_| ManifestError::BadLength {
        field,
        expected: N,
        found: value.len(),
        offset,
    })
}

/// Reads a text string; returns it and its offset.
pub(super) fn text<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<(&'a str, usize), ManifestError<'a>> {
    let at = d.position();
    let value = d.text().map_err(|e| field_error(doc, field, e))?;
    Ok((value, at))
}

/// Reads an agent or tenant name: 1..=64 bytes of `[a-z0-9._-]`.
pub(super) fn name<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
) -> Result<&'a str, ManifestError<'a>> {
    let (value, offset) = text(d, doc, field)?;
    if !is_valid_agent_name(value.as_bytes()) {
        return Err(ManifestError::BadName {
            field,
            value,
            offset,
        });
    }
    Ok(value)
}

/// An element type of a [`CheckedItems`] array: how to read one element again from bytes that
/// were checked when the array was decoded.
pub trait Element<'a>: Sized {
    /// Reads one element; `None` only if the bytes were not checked (never for a checked array).
    fn read(d: &mut Decoder<'a>) -> Option<Self>;
}

/// The elements of an already checked array, in their order: keeps only the slice of the
/// elements not yielded yet and their count, and reads each element again as it yields it, so
/// an iterator is a few words whatever the array holds (64 parsed capabilities would take about
/// 1.5 KiB of kernel stack). Reading cannot fail on checked bytes; if it does anyway, the
/// iteration ends instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedItems<'a, T> {
    /// The encoded elements not yielded yet.
    rest: &'a [u8],
    /// How many elements `rest` holds.
    remaining: u32,
    /// The element type.
    element: PhantomData<T>,
}

impl<'a, T> CheckedItems<'a, T> {
    /// No elements.
    pub const fn empty() -> Self {
        CheckedItems {
            rest: &[],
            remaining: 0,
            element: PhantomData,
        }
    }

    /// The `count` elements encoded in `rest`, which the caller has checked.
    pub(super) const fn new(rest: &'a [u8], count: u32) -> Self {
        CheckedItems {
            rest,
            remaining: count,
            element: PhantomData,
        }
    }

    /// Whether no element is left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl<'a, T: Element<'a>> Iterator for CheckedItems<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let remaining = self.remaining.checked_sub(1)?;
        let mut d = Decoder::new(self.rest);
        match T::read(&mut d) {
            Some(item) => {
                self.rest = d.remaining();
                self.remaining = remaining;
                Some(item)
            }
            None => {
                // Unreachable for a checked array: a bug of the decoder that built it.
                debug_assert!(false, "an element of a checked array no longer reads");
                self.remaining = 0;
                self.rest = &[];
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining as usize;
        (n, Some(n))
    }
}

impl<'a, T: Element<'a>> ExactSizeIterator for CheckedItems<'a, T> {}
