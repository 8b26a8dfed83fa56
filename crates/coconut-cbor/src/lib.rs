#![cfg_attr(not(CONFIG_RUST), no_std)]
//! Strict decoder (and a tiny encoder) for the canonical CBOR subset of the Coconut agent ABI.
//!
//! Agent manifests and capability sets reach the kernel through `agent_spawn` as CBOR
//! ([RFC 8949]) read from user memory, so the input is hostile. This crate accepts exactly one
//! small, deterministic subset of CBOR and rejects everything else with a precise [`Error`]
//! that names the byte offset at fault.
//!
//! Constraints (the crate is compiled both by cargo and, from the same files, into the kernel):
//! no dependencies, no `alloc`, no `std`, no floats, no 128-bit integers, no `unsafe`, and no
//! panics on any input (no indexing, and no arithmetic that could overflow: offsets are
//! advanced with checked additions, `clippy::arithmetic_side_effects` is denied). Work is linear in the input length and the stack use is bounded:
//! nested items are walked iteratively with a fixed array of at most [`DEPTH_CAP`] frames.
//!
//! # The accepted subset
//!
//! | Major type | Initial bytes | Accepted | Notes |
//! |---|---|---|---|
//! | 0 unsigned integer | `0x00`–`0x1b` | 0 ..= 2^64-1 | shortest argument only |
//! | 1 negative integer | `0x20`–`0x3b` | -2^63 ..= -1 (fits `i64`) | below -2^63: [`Error::OutOfRange`] |
//! | 2 byte string | `0x40`–`0x5b` | definite length <= `max_str` | |
//! | 3 text string | `0x60`–`0x7b` | definite length <= `max_str`, valid UTF-8 | |
//! | 4 array | `0x80`–`0x9b` | definite length | counts toward `max_items`, `max_depth` |
//! | 5 map | `0xa0`–`0xbb` | definite length, keys strictly increasing | keys may be any accepted item |
//! | 6 tag | `0xc0`–`0xdf` | rejected | [`Error::Unsupported`] ([`Feature::Tag`]) |
//! | 7 `false`, `true`, `null` | `0xf4`, `0xf5`, `0xf6` | accepted | |
//! | 7 `undefined` | `0xf7` | rejected | [`Feature::Undefined`] |
//! | 7 other simple values | `0xe0`–`0xf3`, `0xf8` | rejected | [`Feature::Simple`] |
//! | 7 floats | `0xf9`, `0xfa`, `0xfb` | rejected | [`Feature::Float`] |
//! | 7 break | `0xff` | rejected | [`Feature::Break`] |
//! | any, additional info 28–30 | e.g. `0x1c`, `0x5d`, `0xfe` | rejected | [`Error::Reserved`] |
//! | 0, 1 with additional info 31 | `0x1f`, `0x3f` | rejected | [`Error::Reserved`] (not well-formed) |
//! | 2–5 with additional info 31 | `0x5f`, `0x7f`, `0x9f`, `0xbf` | rejected | [`Error::IndefiniteLength`] |
//!
//! Canonical form is RFC 8949 §4.2.1 "core deterministic encoding": every argument (integer
//! value, string length, element or pair count) uses its shortest form, otherwise
//! [`Error::NonCanonical`]; map keys are strictly increasing in bytewise lexicographic order of
//! their encoded bytes, otherwise [`Error::KeysOutOfOrder`] (this also rejects duplicate keys).
//! A document is exactly one item: anything after it is [`Error::TrailingBytes`].
//!
//! Limits ([`Limits`], [`Limits::KERNEL`] for the syscall path):
//!
//! | Limit | `KERNEL` | Counts | Error |
//! |---|---|---|---|
//! | `max_input` | 16384 bytes | the whole document | [`Error::TooBig`] |
//! | `max_depth` | 8 | nested arrays/maps (a top-level array is depth 1) | [`Error::TooDeep`] |
//! | `max_items` | 1024 | every data item: the top item, elements, keys and values | [`Error::TooManyItems`] |
//! | `max_str` | 4096 bytes | payload of one byte or text string | [`Error::TooLong`] |
//!
//! A container's declared count is charged against `max_items` when its head is read, so an
//! array claiming 2^64 elements fails at once at its head with [`Error::TooManyItems`].
//!
//! # Decoding without allocation
//!
//! [`validate`] checks a whole document first; a [`Decoder`] then reads it item by item, and
//! [`MapReader`] walks a map with text keys, re-checking the key order as it goes:
//!
//! ```
//! use coconut_cbor::{validate, Decoder, Error, Limits};
//!
//! // {"v": 1, "caps": ["fs.read:/tmp/*"], "name": "x"}  (keys in canonical order)
//! let doc = b"\xa3\x61v\x01\x64caps\x81\x6efs.read:/tmp/*\x64name\x61x";
//! validate(doc, &Limits::KERNEL)?;
//! let mut d = Decoder::new(doc);
//! let (mut v, mut name, mut caps) = (0, "", 0);
//! let mut map = d.map_reader()?;
//! while let Some(key) = map.next_key()? {
//!     match key {
//!         "v" => v = map.value().u32()?,
//!         "name" => name = map.value().text()?,
//!         "caps" => {
//!             let n = map.value().array()?;
//!             for _ in 0..n {
//!                 let cap: &str = map.value().text()?;
//!                 assert_eq!(cap, "fs.read:/tmp/*");
//!                 caps += 1;
//!             }
//!         }
//!         _ => map.value().skip()?,
//!     }
//! }
//! d.finish()?;
//! assert_eq!((v, name, caps), (1, "x", 1));
//! # Ok::<(), Error>(())
//! ```
//!
//! [RFC 8949]: https://www.rfc-editor.org/rfc/rfc8949

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(missing_docs)]

mod decoder;
mod encoder;
mod error;
mod head;
mod walk;

pub use self::decoder::{Decoder, MapReader};
pub use self::encoder::Encoder;
pub use self::error::{Error, Feature};

/// The most nested containers any [`Limits`] can allow: the validator keeps one fixed-size frame
/// per open container on the stack, so a larger `max_depth` is treated as this value.
pub const DEPTH_CAP: u32 = 16;

/// Resource limits applied while validating a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes ([`Error::TooBig`]).
    pub max_input: usize,
    /// Deepest accepted nesting of arrays and maps; a top-level array or map is depth 1, a
    /// scalar document is depth 0 ([`Error::TooDeep`]). Values above [`DEPTH_CAP`] act as it.
    pub max_depth: u32,
    /// Most data items in the whole document, counting the top item, every array element and
    /// every map key and value ([`Error::TooManyItems`]).
    pub max_items: u32,
    /// Longest accepted byte or text string payload, in bytes ([`Error::TooLong`]).
    pub max_str: usize,
}

impl Limits {
    /// The limits of the `agent_spawn` syscall path: a 16 KiB document (`AGENT_MANIFEST_MAX`),
    /// at most 8 nested containers, 1024 items in total and 4096-byte strings.
    pub const KERNEL: Limits = Limits {
        max_input: 16 * 1024,
        max_depth: 8,
        max_items: 1024,
        max_str: 4096,
    };

    /// No limit except the structural [`DEPTH_CAP`]; used by [`Decoder::new`], whose input is
    /// bounded by its length anyway.
    pub const PERMISSIVE: Limits = Limits {
        max_input: usize::MAX,
        max_depth: DEPTH_CAP,
        max_items: u32::MAX,
        max_str: usize::MAX,
    };
}

/// The kind of a data item in the accepted subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// Major type 0, an unsigned integer.
    Unsigned,
    /// Major type 1, a negative integer that fits `i64`.
    Negative,
    /// Major type 2, a byte string.
    Bytes,
    /// Major type 3, a UTF-8 text string.
    Text,
    /// Major type 4, an array.
    Array,
    /// Major type 5, a map.
    Map,
    /// The simple values `false` and `true`.
    Bool,
    /// The simple value `null`.
    Null,
}

impl core::fmt::Display for Type {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Type::Unsigned => "unsigned integer",
            Type::Negative => "negative integer",
            Type::Bytes => "byte string",
            Type::Text => "text string",
            Type::Array => "array",
            Type::Map => "map",
            Type::Bool => "boolean",
            Type::Null => "null",
        })
    }
}

/// Validates that `input` is exactly one well-formed, canonical data item of the accepted
/// subset within `limits`.
///
/// The walk checks everything: the input size, every head (shortest form, no reserved or
/// unsupported values), nesting depth, the total item count, string lengths and bounds, UTF-8
/// of text strings, strictly increasing map keys, and that no bytes follow the item. It runs in
/// time linear in `input.len()` with a fixed-size stack (no recursion).
///
/// # Errors
///
/// The first violation found, scanning from the start, with its byte offset.
pub fn validate(input: &[u8], limits: &Limits) -> Result<(), Error> {
    if input.len() > limits.max_input {
        return Err(Error::TooBig {
            offset: limits.max_input,
        });
    }
    let end = self::walk::item(input, 0, limits)?;
    if end != input.len() {
        return Err(Error::TrailingBytes { offset: end });
    }
    Ok(())
}
