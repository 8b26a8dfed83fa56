//! The error type of manifest and capability-set decoding, and its errno mapping.
//!
//! Job: one [`ManifestError`] variant per way a manifest can be wrong, each naming what is at
//! fault: the document ([`Doc`]), the field as a path (`envelope.key`, `body.caps[]`,
//! `body.budget.cpu`, `capset[]`, ...), the map key or capability text as found in the input,
//! and the byte offset. [`ManifestError::errno`] is the single place where these become the
//! ABI's errno values.
//!
//! Constraints: no_std, no heap: texts named by an error borrow the input (they are valid
//! UTF-8 because the CBOR validator checked them) and are printed escaped; no panics.

use super::abi::{CapError, Errno};
use super::cbor;
use super::ed25519;

/// Which document a [`ManifestError`] is about; byte offsets count from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// The signed envelope (the whole `agent_spawn_args.manifest` buffer).
    Envelope,
    /// The body: the payload of the envelope's `body` byte string.
    Body,
    /// The `agent_spawn_args.caps` buffer.
    CapSet,
}

impl Doc {
    /// The document's name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Doc::Envelope => "manifest envelope",
            Doc::Body => "manifest body",
            Doc::CapSet => "capability set",
        }
    }

    /// The document a field path (`envelope.sig`, `body.caps[]`, `capset[]`) belongs to.
    fn of_field(field: &str) -> Doc {
        if field.starts_with("envelope") {
            Doc::Envelope
        } else if field.starts_with("body") {
            Doc::Body
        } else {
            Doc::CapSet
        }
    }
}

impl core::fmt::Display for Doc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a manifest envelope, a manifest body or a capability set is rejected.
///
/// Fields are named by their path: `envelope`, `envelope.v`, `envelope.key`, `envelope.sig`,
/// `envelope.body`; `body`, `body.v`, `body.caps`, `body.caps[]` (an entry), `body.lane`,
/// `body.name`, `body.budget`, `body.budget.<kind>`, `body.tenant`, `body.signers`,
/// `body.signers[]`; `capset`, `capset[]`. Offsets count from the start of the document the
/// field belongs to (for `body.*`, the body bytes; [`Envelope::body_offset`] translates).
///
/// Every variant but [`TooBig`](Self::TooBig) and [`BadSignature`](Self::BadSignature) means
/// "malformed" and is `EINVAL`.
///
/// [`Envelope::body_offset`]: super::Envelope::body_offset
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestError<'a> {
    /// The document is longer than its limit: 16 KiB (`AGENT_MANIFEST_MAX`) for an envelope
    /// or a body, 4 KiB (`AGENT_CAPSET_MAX`) for a capability set. `E2BIG`.
    TooBig {
        /// The document.
        doc: Doc,
        /// Its length in bytes.
        len: usize,
        /// Its limit in bytes.
        max: usize,
    },
    /// The document is not exactly one canonical CBOR item of the accepted subset within the
    /// kernel limits (truncated, trailing bytes, non-shortest integer or length, indefinite
    /// length, tag, float, invalid UTF-8, too deep, too many items, ...). `EINVAL`.
    Cbor {
        /// The document.
        doc: Doc,
        /// What the CBOR validator found, with its offset.
        error: cbor::Error,
    },
    /// A text map key is not strictly greater than the key before it in the same map: the
    /// keys are out of canonical order (RFC 8949 §4.2.1: shorter keys first, then bytewise)
    /// or the key is repeated. `EINVAL`.
    KeyOrder {
        /// The document.
        doc: Doc,
        /// The offending key.
        key: &'a str,
        /// Where the key starts.
        offset: usize,
    },
    /// A key of one of the format's maps is not a text string. `EINVAL`.
    KeyNotText {
        /// The map: `envelope`, `body` or `body.budget`.
        map: &'static str,
        /// What the key is.
        found: cbor::Type,
        /// Where the key starts.
        offset: usize,
    },
    /// A map has a key the format does not define. `EINVAL`.
    UnknownKey {
        /// The map: `envelope`, `body` or `body.budget`.
        map: &'static str,
        /// The unknown key.
        key: &'a str,
        /// Where the key starts.
        offset: usize,
    },
    /// A map lacks a required key (`v`, `key`, `sig`, `body` in the envelope; `v`, `caps`,
    /// `name` in the body). `EINVAL`.
    MissingKey {
        /// The map: `envelope` or `body`.
        map: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// A value has the wrong CBOR type. `EINVAL`.
    WrongType {
        /// The field.
        field: &'static str,
        /// The type the format requires.
        expected: cbor::Type,
        /// The type found.
        found: cbor::Type,
        /// Where the value starts.
        offset: usize,
    },
    /// A `v` (format version) is not 1. `EINVAL`.
    BadVersion {
        /// `envelope.v` or `body.v`.
        field: &'static str,
        /// The version found.
        found: u64,
        /// Where the value starts.
        offset: usize,
    },
    /// A byte string has the wrong length (keys are 32 bytes, signatures 64). `EINVAL`.
    BadLength {
        /// `envelope.key`, `envelope.sig` or `body.signers[]`.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        found: usize,
        /// Where the byte string starts.
        offset: usize,
    },
    /// An agent or tenant name is not 1..=64 bytes of `[a-z0-9._-]`. `EINVAL`.
    BadName {
        /// `body.name` or `body.tenant`.
        field: &'static str,
        /// The name found.
        value: &'a str,
        /// Where the text string starts.
        offset: usize,
    },
    /// An array has more entries than allowed: 64 (`AGENT_CAPS_MAX`) capabilities, 8
    /// (`AGENT_SIGNERS_MAX`) signers. `EINVAL`, as the ABI's error matrix says.
    TooMany {
        /// `body.caps`, `body.signers` or `capset`.
        field: &'static str,
        /// The declared entry count.
        count: u64,
        /// The limit.
        max: usize,
        /// Where the array starts.
        offset: usize,
    },
    /// A capability entry names no capability of the table (`name` before the first `:`).
    /// `EINVAL`.
    UnknownCapability {
        /// `body.caps[]` or `capset[]`.
        field: &'static str,
        /// The whole entry text.
        text: &'a str,
        /// Where the text string starts.
        offset: usize,
    },
    /// A capability entry has a known name but an invalid scope (empty after `:`, longer
    /// than 256 bytes, a byte outside 0x21..=0x7e, or a `*` that is not last). `EINVAL`.
    BadCapability {
        /// `body.caps[]` or `capset[]`.
        field: &'static str,
        /// The whole entry text.
        text: &'a str,
        /// What is wrong with the scope.
        reason: CapError,
        /// Where the text string starts.
        offset: usize,
    },
    /// An array entry is not strictly greater (bytewise) than the entry before it: the
    /// capability texts and signer keys must be sorted, without duplicates. `EINVAL`.
    NotAscending {
        /// `body.caps[]`, `body.signers[]` or `capset[]`.
        field: &'static str,
        /// Where the entry starts.
        offset: usize,
    },
    /// An unsigned integer is above its maximum (`body.lane` must fit 32 bits). `EINVAL`.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
        /// The largest accepted value.
        max: u64,
        /// Where the integer starts.
        offset: usize,
    },
    /// The Ed25519 signature does not verify under the strict rules of `coconut_ed25519`
    /// (non-canonical or small-order key or R, S not below L, or the equation fails: wrong
    /// key, altered body, signature of another message). `EKEYREJECTED`.
    BadSignature(ed25519::Error),
}

impl ManifestError<'_> {
    /// The errno the agent ABI returns for this error.
    pub const fn errno(&self) -> Errno {
        match self {
            ManifestError::TooBig { .. } => Errno::E2BIG,
            ManifestError::BadSignature(_) => Errno::EKEYREJECTED,
            ManifestError::Cbor { .. }
            | ManifestError::KeyOrder { .. }
            | ManifestError::KeyNotText { .. }
            | ManifestError::UnknownKey { .. }
            | ManifestError::MissingKey { .. }
            | ManifestError::WrongType { .. }
            | ManifestError::BadVersion { .. }
            | ManifestError::BadLength { .. }
            | ManifestError::BadName { .. }
            | ManifestError::TooMany { .. }
            | ManifestError::UnknownCapability { .. }
            | ManifestError::BadCapability { .. }
            | ManifestError::NotAscending { .. }
            | ManifestError::OutOfRange { .. } => Errno::EINVAL,
        }
    }

    /// The document the error is about, when it is about one (not for
    /// [`BadSignature`](Self::BadSignature)).
    pub fn doc(&self) -> Option<Doc> {
        match *self {
            ManifestError::TooBig { doc, .. }
            | ManifestError::Cbor { doc, .. }
            | ManifestError::KeyOrder { doc, .. } => Some(doc),
            ManifestError::KeyNotText { map: field, .. }
            | ManifestError::UnknownKey { map: field, .. }
            | ManifestError::MissingKey { map: field, .. }
            | ManifestError::WrongType { field, .. }
            | ManifestError::BadVersion { field, .. }
            | ManifestError::BadLength { field, .. }
            | ManifestError::BadName { field, .. }
            | ManifestError::TooMany { field, .. }
            | ManifestError::UnknownCapability { field, .. }
            | ManifestError::BadCapability { field, .. }
            | ManifestError::NotAscending { field, .. }
            | ManifestError::OutOfRange { field, .. } => Some(Doc::of_field(field)),
            ManifestError::BadSignature(_) => None,
        }
    }

    /// The byte offset at fault within [`doc`](Self::doc), when there is one.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            ManifestError::Cbor { error, .. } => Some(error.offset()),
            ManifestError::KeyOrder { offset, .. }
            | ManifestError::KeyNotText { offset, .. }
            | ManifestError::UnknownKey { offset, .. }
            | ManifestError::WrongType { offset, .. }
            | ManifestError::BadVersion { offset, .. }
            | ManifestError::BadLength { offset, .. }
            | ManifestError::BadName { offset, .. }
            | ManifestError::TooMany { offset, .. }
            | ManifestError::UnknownCapability { offset, .. }
            | ManifestError::BadCapability { offset, .. }
            | ManifestError::NotAscending { offset, .. }
            | ManifestError::OutOfRange { offset, .. } => Some(offset),
            ManifestError::TooBig { .. }
            | ManifestError::MissingKey { .. }
            | ManifestError::BadSignature(_) => None,
        }
    }
}

/// The keys a map accepts, for messages.
fn accepted_keys(map: &str) -> &'static str {
    match map {
        "envelope" => "v, key, sig, body",
        "body" => "v, caps, lane, name, budget, tenant, signers",
        _ => "cpu, hbm, net, ram, inference_tokens",
    }
}

impl core::fmt::Display for ManifestError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ManifestError::TooBig { doc, len, max } => {
                write!(f, "{doc} is {len} bytes, more than its limit of {max} bytes")
            }
            ManifestError::Cbor { doc, error } => {
                write!(f, "{doc} is not canonical CBOR of the accepted subset: {error}")
            }
            ManifestError::KeyOrder { doc, key, offset } => write!(
                f,
                "{doc}: map key {key:?} at byte {offset} is repeated or out of canonical order \
                 (keys must be strictly ascending: shorter first, then bytewise)"
            ),
            ManifestError::KeyNotText { map, found, offset } => write!(
                f,
                "{map} has a key of type {found} at byte {offset} of the {}; keys must be text strings",
                Doc::of_field(map)
            ),
            ManifestError::UnknownKey { map, key, offset } => write!(
                f,
                "{map} has unknown key {key:?} at byte {offset} of the {}; accepted keys: {}",
                Doc::of_field(map),
                accepted_keys(map)
            ),
            ManifestError::MissingKey { map, key } => {
                write!(f, "{map} lacks the required key {key:?}")
            }
            ManifestError::WrongType {
                field,
                expected,
                found,
                offset,
            } => write!(
                f,
                "{field} at byte {offset} of the {} is of type {found}; it must be of type {expected}",
                Doc::of_field(field)
            ),
            ManifestError::BadVersion {
                field,
                found,
                offset,
            } => write!(
                f,
                "{field} at byte {offset} of the {} is version {found}; only version 1 is supported",
                Doc::of_field(field)
            ),
            ManifestError::BadLength {
                field,
                expected,
                found,
                offset,
            } => write!(
                f,
                "{field} at byte {offset} of the {} is {found} bytes long; it must be exactly {expected}",
                Doc::of_field(field)
            ),
            ManifestError::BadName {
                field,
                value,
                offset,
            } => write!(
                f,
                "{field} {value:?} at byte {offset} of the {} must be 1..=64 bytes of [a-z0-9._-]",
                Doc::of_field(field)
            ),
            ManifestError::TooMany {
                field,
                count,
                max,
                offset,
            } => write!(
                f,
                "{field} at byte {offset} of the {} has {count} entries; at most {max} are allowed",
                Doc::of_field(field)
            ),
            ManifestError::UnknownCapability {
                field,
                text,
                offset,
            } => write!(
                f,
                "{field} {text:?} at byte {offset} of the {} names no known capability \
                 (expected name[:scope] with a name from the capability table, e.g. fs.read:/srv/*)",
                Doc::of_field(field)
            ),
            ManifestError::BadCapability {
                field,
                text,
                reason,
                offset,
            } => write!(
                f,
                "{field} {text:?} at byte {offset} of the {} is not a valid capability: {reason}",
                Doc::of_field(field)
            ),
            ManifestError::NotAscending { field, offset } => write!(
                f,
                "{field} entry at byte {offset} of the {} is not greater than the entry before it; \
                 entries must be sorted bytewise without duplicates",
                Doc::of_field(field)
            ),
            ManifestError::OutOfRange {
                field,
                value,
                max,
                offset,
            } => write!(
                f,
                "{field} at byte {offset} of the {} is {value}, above its maximum {max}",
                Doc::of_field(field)
            ),
            ManifestError::BadSignature(e) => write!(f, "manifest signature rejected: {e}"),
        }
    }
}

/// The error for a failed typed read of `field`: a type mismatch names the field, anything
/// else (which validation already excludes) is reported as the CBOR error it is.
pub(super) fn field_error<'a>(doc: Doc, field: &'static str, e: cbor::Error) -> ManifestError<'a> {
    match e {
        cbor::Error::TypeMismatch {
            expected,
            found,
            offset,
        } => ManifestError::WrongType {
            field,
            expected,
            found,
            offset,
        },
        error => ManifestError::Cbor { doc, error },
    }
}

/// The error for a document that `cbor::validate` rejected. Key order violations of text
/// keys name the key; everything else is the CBOR error itself.
pub(super) fn invalid<'a>(doc: Doc, input: &'a [u8], e: cbor::Error) -> ManifestError<'a> {
    if let cbor::Error::KeysOutOfOrder { offset } = e {
        if let Some(key) = input
            .get(offset..)
            .and_then(|rest| cbor::Decoder::new(rest).text().ok())
        {
            return ManifestError::KeyOrder { doc, key, offset };
        }
    }
    ManifestError::Cbor { doc, error: e }
}
