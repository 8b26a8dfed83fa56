//! The error type of the decoder and encoder.
//!
//! Every variant carries the byte offset at fault so that a rejected manifest can be reported
//! precisely; none carries borrowed data, so errors are `Copy` and cost nothing to return.

use super::Type;
use core::fmt;

/// A CBOR feature that is well-formed but outside the accepted subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// A tag (major type 6).
    Tag,
    /// A half, single or double precision float (`0xf9`, `0xfa`, `0xfb`).
    Float,
    /// The simple value `undefined` (`0xf7`).
    Undefined,
    /// A simple value other than `false`, `true`, `null` and `undefined` (`0xe0`–`0xf3`, `0xf8`).
    Simple,
    /// A break code (`0xff`), which only ends indefinite-length items.
    Break,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Tag => "tags",
            Feature::Float => "floating-point numbers",
            Feature::Undefined => "the simple value undefined",
            Feature::Simple => "simple values other than false, true and null",
            Feature::Break => "break codes",
        })
    }
}

/// Why an input was rejected (or, for [`Error::BufferFull`], why encoding failed).
///
/// Every variant has an `offset`: the position, in bytes from the start of the input given to
/// [`validate`](super::validate) or [`Decoder::new`](super::Decoder::new), of the item or byte at
/// fault. [`Error::offset`] returns it for any variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside an item; `offset` is where the item whose head or payload could not
    /// be read completely starts (the input length when a whole item is missing).
    Truncated {
        /// Start of the incomplete item.
        offset: usize,
    },
    /// An argument (integer, length or count) is not in its shortest form.
    NonCanonical {
        /// Start of the item with the over-long head.
        offset: usize,
    },
    /// A well-formed CBOR feature outside the accepted subset.
    Unsupported {
        /// Which feature was found.
        what: Feature,
        /// Start of the item.
        offset: usize,
    },
    /// Additional information 28–30 (reserved in every major type), or 31 on an unsigned or
    /// negative integer (where no indefinite form exists): the input is not well-formed CBOR.
    Reserved {
        /// Start of the item.
        offset: usize,
    },
    /// An indefinite-length string, array or map (additional information 31).
    IndefiniteLength {
        /// Start of the item.
        offset: usize,
    },
    /// A text string is not valid UTF-8.
    InvalidUtf8 {
        /// The first byte of the payload that is not part of a valid UTF-8 sequence.
        offset: usize,
    },
    /// Arrays and maps nest deeper than [`Limits::max_depth`](super::Limits::max_depth).
    TooDeep {
        /// Start of the first container beyond the limit.
        offset: usize,
    },
    /// The document holds more items than [`Limits::max_items`](super::Limits::max_items).
    TooManyItems {
        /// Start of the container whose declared count crosses the limit.
        offset: usize,
    },
    /// A string payload is longer than [`Limits::max_str`](super::Limits::max_str).
    TooLong {
        /// Start of the string item.
        offset: usize,
    },
    /// The input is longer than [`Limits::max_input`](super::Limits::max_input).
    TooBig {
        /// The first byte beyond the limit, i.e. `max_input`.
        offset: usize,
    },
    /// A map key is not strictly greater (bytewise, as encoded) than the key before it, so the
    /// keys are out of canonical order or duplicated.
    KeysOutOfOrder {
        /// Start of the offending key.
        offset: usize,
    },
    /// Bytes follow the single top-level item.
    TrailingBytes {
        /// The first byte after the item.
        offset: usize,
    },
    /// The item has a different type than the accessor expects.
    TypeMismatch {
        /// What the accessor reads ([`Type::Unsigned`] for [`Decoder::i64`](super::Decoder::i64),
        /// which also reads negative integers).
        expected: Type,
        /// What the input holds.
        found: Type,
        /// Start of the item.
        offset: usize,
    },
    /// An integer does not fit the requested Rust type, or a negative integer is below
    /// `i64::MIN` (outside the accepted subset).
    OutOfRange {
        /// Start of the integer item.
        offset: usize,
    },
    /// The [`Encoder`](super::Encoder)'s buffer has no room for the next item.
    BufferFull {
        /// How many bytes were written before the item that did not fit.
        offset: usize,
    },
}

impl Error {
    /// The byte offset this error points at (see each variant).
    pub fn offset(&self) -> usize {
        match *self {
            Error::Truncated { offset }
            | Error::NonCanonical { offset }
            | Error::Unsupported { offset, .. }
            | Error::Reserved { offset }
            | Error::IndefiniteLength { offset }
            | Error::InvalidUtf8 { offset }
            | Error::TooDeep { offset }
            | Error::TooManyItems { offset }
            | Error::TooLong { offset }
            | Error::TooBig { offset }
            | Error::KeysOutOfOrder { offset }
            | Error::TrailingBytes { offset }
            | Error::TypeMismatch { offset, .. }
            | Error::OutOfRange { offset }
            | Error::BufferFull { offset } => offset,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { offset } => {
                write!(f, "CBOR input ends inside the item at byte {offset}")
            }
            Error::NonCanonical { offset } => write!(
                f,
                "CBOR item at byte {offset} is not canonical: its argument is not in shortest form"
            ),
            Error::Unsupported { what, offset } => {
                write!(f, "CBOR item at byte {offset} uses {what}, which are not accepted")
            }
            Error::Reserved { offset } => write!(
                f,
                "CBOR item at byte {offset} is not well-formed: reserved additional information"
            ),
            Error::IndefiniteLength { offset } => write!(
                f,
                "CBOR item at byte {offset} has an indefinite length; only definite lengths are accepted"
            ),
            Error::InvalidUtf8 { offset } => {
                write!(f, "CBOR text string has invalid UTF-8 at byte {offset}")
            }
            Error::TooDeep { offset } => write!(
                f,
                "CBOR container at byte {offset} nests deeper than the depth limit"
            ),
            Error::TooManyItems { offset } => write!(
                f,
                "CBOR container at byte {offset} brings the document over the item limit"
            ),
            Error::TooLong { offset } => write!(
                f,
                "CBOR string at byte {offset} is longer than the string length limit"
            ),
            Error::TooBig { offset } => {
                write!(f, "CBOR input is larger than the size limit of {offset} bytes")
            }
            Error::KeysOutOfOrder { offset } => write!(
                f,
                "CBOR map key at byte {offset} is not greater than the previous key (out of canonical order or duplicated)"
            ),
            Error::TrailingBytes { offset } => {
                write!(f, "unexpected bytes after the CBOR item, at byte {offset}")
            }
            Error::TypeMismatch {
                expected,
                found,
                offset,
            } => write!(
                f,
                "CBOR item at byte {offset} is a {found} where a {expected} was expected"
            ),
            Error::OutOfRange { offset } => write!(
                f,
                "CBOR integer at byte {offset} does not fit the requested integer type"
            ),
            Error::BufferFull { offset } => write!(
                f,
                "CBOR output buffer is full after {offset} bytes; a larger buffer is needed"
            ),
        }
    }
}
