//! The signed envelope: decoding it and verifying its signature.
//!
//! Job: [`decode_envelope`] checks that the bytes are one canonical CBOR map with exactly the
//! keys `v` (1), `key` (32-byte Ed25519 public key), `sig` (64-byte signature) and `body`
//! (byte string), in that canonical order, and returns borrowed views of them. [`verify`]
//! checks the signature over `"coconut-manifest-v1\0" || body`.
//!
//! Constraints: no_std, no heap, no panics, nothing copied: the signature is checked with
//! `coconut_ed25519::verify_parts`, which hashes the prefix and the body in place as one
//! message.

use super::abi::{ENVELOPE_KEYS, MANIFEST_SIGNING_PREFIX};
use super::cbor::{self, Decoder};
use super::ed25519;
use super::error::{field_error, invalid, Doc, ManifestError};
use super::read;
use super::ENVELOPE_LIMITS;

/// A decoded envelope; every field borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The signer's Ed25519 public key.
    pub key: &'a [u8; 32],
    /// The Ed25519 signature over `"coconut-manifest-v1\0" || body`.
    pub sig: &'a [u8; 64],
    /// The body: canonical CBOR of the body map, not decoded yet (see
    /// [`decode_body`](super::decode_body)).
    pub body: &'a [u8],
    /// Where `body` starts in the envelope bytes, to turn offsets of body errors into
    /// offsets in the envelope.
    pub body_offset: usize,
}

/// Decodes a signed manifest envelope without checking its signature or its body.
///
/// Checks, in order: the length (at most `AGENT_MANIFEST_MAX`, 16 KiB), the whole document
/// with `cbor::validate` under [`ENVELOPE_LIMITS`] (canonical form only), the top item is a
/// map, then its keys one by one in canonical order (`v`, `key`, `sig`, `body`): an unknown
/// key, a repeated or misplaced key, a value of the wrong type, `v` other than 1, a key or
/// signature of the wrong length are errors naming the key. Because `v` sorts first, a
/// manifest of another version fails with [`ManifestError::BadVersion`] before its other
/// keys are looked at. Missing keys are reported last, in canonical order.
///
/// # Errors
///
/// [`ManifestError::TooBig`] (`E2BIG`), [`ManifestError::BadSignature`] never; otherwise an
/// `EINVAL` variant with the offset in `bytes`.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope<'_>, ManifestError<'_>> {
    const DOC: Doc = Doc::Envelope;
    let max = ENVELOPE_LIMITS.max_input;
    if bytes.len() > max {
        return Err(ManifestError::TooBig {
            doc: DOC,
            len: bytes.len(),
            max,
        });
    }
    cbor::validate(bytes, &ENVELOPE_LIMITS).map_err(|e| invalid(DOC, bytes, e))?;

    let mut d = Decoder::with_limits(bytes, ENVELOPE_LIMITS);
    let (pairs, _) = read::map(&mut d, DOC, "envelope")?;
    let mut last = None;
    let mut version = false;
    let mut key = None;
    let mut sig = None;
    let mut body = None;
    for _ in 0..pairs {
        match read::key(&mut d, DOC, "envelope", &ENVELOPE_KEYS, &mut last)?.0 {
            0 => {
                read::version(&mut d, DOC, "envelope.v")?;
                version = true;
            }
            1 => key = Some(read::fixed::<32>(&mut d, DOC, "envelope.key")?),
            2 => sig = Some(read::fixed::<64>(&mut d, DOC, "envelope.sig")?),
            _ => {
                let (payload, _) = read::bytes(&mut d, DOC, "envelope.body")?;
                // The payload ends where the decoder now stands.
                body = Some((payload, d.position().saturating_sub(payload.len())));
            }
        }
    }
    d.finish().map_err(|e| field_error(DOC, "envelope", e))?;

    let missing = |key: &'static str| ManifestError::MissingKey {
        map: "envelope",
        key,
    };
    if !version {
        return Err(missing("v"));
    }
    let key = key.ok_or(missing("key"))?;
    let sig = sig.ok_or(missing("sig"))?;
    let (body, body_offset) = body.ok_or(missing("body"))?;
    Ok(Envelope {
        key,
        sig,
        body,
        body_offset,
    })
}

/// Verifies the envelope's Ed25519 signature over `"coconut-manifest-v1\0" || body` with the
/// strict rules of `coconut_ed25519::verify` (canonical key and R, neither of small order,
/// S below L, cofactorless equation). It does not look inside the body and does not decide
/// whether the key is trusted. The message is hashed in two pieces (prefix, then body) by
/// `coconut_ed25519::verify_parts`: no buffer, no copy.
///
/// # Errors
///
/// [`ManifestError::BadSignature`] (`EKEYREJECTED`) with the first failed check.
pub fn verify<'a>(env: &Envelope<'a>) -> Result<(), ManifestError<'a>> {
    ed25519::verify_parts(
        env.key,
        &[MANIFEST_SIGNING_PREFIX.as_slice(), env.body],
        env.sig,
    )
    .map_err(ManifestError::BadSignature)
}
