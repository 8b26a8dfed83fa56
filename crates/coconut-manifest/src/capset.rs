//! Capability arrays: the manifest's `caps` and the `agent_spawn` `caps` argument.
//!
//! Job: check a CBOR array of at most `AGENT_CAPS_MAX` (64) `"name[:scope]"` text strings,
//! strictly ascending by bytes, each parsed by `coconut_abi::parse_capability`, and hand it
//! out as a [`CapSetIter`] that re-walks the checked bytes on demand.
//!
//! Constraints: no_std, no heap, no panics. Keeping 64 parsed entries would take about 1.5 KiB
//! (too much for a kernel stack frame), so the iterator keeps only the slice of the array's
//! elements and a count, and parses each entry again as it yields it; the entries were
//! checked when the array was decoded, so iteration cannot fail.

use super::abi::{parse_capability, CapError, CapId, AGENT_CAPS_MAX};
use super::cbor::{self, Decoder};
use super::error::{field_error, invalid, Doc, ManifestError};
use super::read::{self, CheckedItems, Element};
use super::CAPSET_LIMITS;

/// One capability entry, borrowed from the decoded input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapEntry<'a> {
    /// The capability.
    pub id: CapId,
    /// The scope; empty means unscoped (every scope).
    pub scope: &'a [u8],
    /// The entry as written, `name` or `name:scope`.
    pub text: &'a str,
}

/// The entries of a checked capability array, in their (strictly ascending) order;
/// `CapSetIter::empty()` is the empty set (what `caps_len == 0` means for `agent_spawn`).
pub type CapSetIter<'a> = CheckedItems<'a, CapEntry<'a>>;

impl<'a> Element<'a> for CapEntry<'a> {
    fn read(d: &mut Decoder<'a>) -> Option<Self> {
        let text = d.text().ok()?;
        parse_capability(text.as_bytes())
            .ok()
            .map(|(id, scope)| CapEntry { id, scope, text })
    }
}

/// Reads a capability array at the decoder's position: `field` names the array (`body.caps`,
/// `capset`) and `entry` its elements (`body.caps[]`, `capset[]`).
pub(super) fn read_caps<'a>(
    d: &mut Decoder<'a>,
    doc: Doc,
    field: &'static str,
    entry: &'static str,
) -> Result<CapSetIter<'a>, ManifestError<'a>> {
    let (count, offset) = read::array(d, doc, field)?;
    if count > AGENT_CAPS_MAX as u64 {
        return Err(ManifestError::TooMany {
            field,
            count,
            max: AGENT_CAPS_MAX,
            offset,
        });
    }
    let elements = d.remaining();
    let mut prev: Option<&[u8]> = None;
    for _ in 0..count {
        let (text, offset) = read::text(d, doc, entry)?;
        parse_capability(text.as_bytes()).map_err(|reason| match reason {
            CapError::UnknownName | CapError::UnknownId => ManifestError::UnknownCapability {
                field: entry,
                text,
                offset,
            },
            reason => ManifestError::BadCapability {
                field: entry,
                text,
                reason,
                offset,
            },
        })?;
        if prev.is_some_and(|p| text.as_bytes() <= p) {
            return Err(ManifestError::NotAscending {
                field: entry,
                offset,
            });
        }
        prev = Some(text.as_bytes());
    }
    let used = elements.len().saturating_sub(d.remaining().len());
    // `count <= AGENT_CAPS_MAX` (64) was checked above.
    Ok(CapSetIter::new(
        elements.get(..used).unwrap_or_default(),
        count as u32,
    ))
}

/// Decodes the `caps` argument of `agent_spawn`: a canonical CBOR array of at most 64
/// `"name[:scope]"` text strings, strictly ascending by bytes. An empty buffer
/// (`caps_len == 0`) is the empty set.
///
/// # Errors
///
/// [`ManifestError::TooBig`] (`E2BIG`) above `AGENT_CAPSET_MAX` (4 KiB); otherwise an
/// `EINVAL` variant naming `capset` or `capset[]` and the offset: not canonical CBOR, not an
/// array, more than 64 entries, an entry that is not text, an unknown capability name, a bad
/// scope, entries not strictly ascending.
pub fn decode_capset(bytes: &[u8]) -> Result<CapSetIter<'_>, ManifestError<'_>> {
    const DOC: Doc = Doc::CapSet;
    if bytes.is_empty() {
        return Ok(CapSetIter::empty());
    }
    let max = CAPSET_LIMITS.max_input;
    if bytes.len() > max {
        return Err(ManifestError::TooBig {
            doc: DOC,
            len: bytes.len(),
            max,
        });
    }
    cbor::validate(bytes, &CAPSET_LIMITS).map_err(|e| invalid(DOC, bytes, e))?;
    let mut d = Decoder::with_limits(bytes, CAPSET_LIMITS);
    let caps = read_caps(&mut d, DOC, "capset", "capset[]")?;
    d.finish().map_err(|e| field_error(DOC, "capset", e))?;
    Ok(caps)
}
