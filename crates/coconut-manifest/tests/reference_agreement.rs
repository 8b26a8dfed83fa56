//! Bodies that `docs/formats/manifest.md` forbids and that libcoconut's user-space decoder
//! (`Manifest::from_cbor`, used by `verify_envelope`) once accepted or could not finish: the
//! `manifest` fuzz target's differential check found them. Both implementations now reject
//! each one: this crate with the exact error, libcoconut with a message naming the problem,
//! both for the bare body and inside a correctly signed envelope.

mod common;

use ciborium::Value;
use coconut_cbor::Error as CborError;
use coconut_manifest::{decode_body, decode_manifest, Doc, ManifestError};
use common::*;
use libcoconut::{verify_envelope, Manifest};

/// Asserts that libcoconut rejects `body`, bare and signed, with a message containing `words`,
/// and that this crate rejects the signed envelope with the same error as the bare body.
fn both_reject(body: &[u8], ours: &ManifestError<'_>, words: &str) {
    let signed = sign_body(&signing_key(1), body);
    assert_eq!(decode_manifest(&signed).unwrap_err(), *ours);
    for theirs in [
        Manifest::from_cbor(body).unwrap_err(),
        verify_envelope(&signed).unwrap_err(),
    ] {
        let msg = theirs.to_string();
        assert!(msg.contains(words), "libcoconut: {msg:?} lacks {words:?}");
    }
}

/// `n` maps, each the only key of the one before it, the innermost `{0: 0}`; every value 0.
fn nested_map_keys(n: usize) -> Vec<u8> {
    let mut bytes = vec![0xa1; n];
    bytes.extend(std::iter::repeat_n(0x00, n + 1));
    bytes
}

/// Map keys that are maps, nested: libcoconut's canonicalization took time and memory
/// exponential in the nesting (about 60 bytes exhausted memory). Both now stop at 8 levels.
#[test]
fn deeply_nested_map_keys() {
    for n in [9, 30, 60, 200] {
        let body = nested_map_keys(n);
        let ours = decode_body(&body).unwrap_err();
        assert_eq!(
            ours,
            ManifestError::Cbor {
                doc: Doc::Body,
                error: CborError::TooDeep { offset: 8 }
            },
            "{n} levels"
        );
        both_reject(&body, &ours, "nest more than 8 levels deep");
    }
    // At 8 levels both get past the CBOR layer and reject the key that is not text.
    let body = nested_map_keys(8);
    let ours = decode_body(&body).unwrap_err();
    assert!(
        matches!(ours, ManifestError::KeyNotText { map: "body", .. }),
        "{ours:?}"
    );
    both_reject(&body, &ours, "body key is not a text string");
}

/// A budget with `cpu` twice: libcoconut kept the last one.
#[test]
fn repeated_map_keys() {
    // {"v": 1, "caps": [], "name": "a", "budget": {"cpu": 1, "cpu": 2}}
    let mut body = body_bytes(minimal_entries());
    body[0] = 0xa4;
    body.extend_from_slice(b"\x66budget\xa2\x63cpu\x01\x63cpu\x02");
    let offset = body.len() - 5;
    let ours = decode_body(&body).unwrap_err();
    assert_eq!(
        ours,
        ManifestError::KeyOrder {
            doc: Doc::Body,
            key: "cpu",
            offset
        }
    );
    both_reject(&body, &ours, "map key \"cpu\" appears more than once");
}

/// No `caps`: libcoconut read it as an empty ceiling.
#[test]
fn missing_caps() {
    let body = body_bytes(vec![("v", Value::Integer(1.into())), ("name", text("a"))]);
    let ours = decode_body(&body).unwrap_err();
    assert_eq!(
        ours,
        ManifestError::MissingKey {
            map: "body",
            key: "caps"
        }
    );
    both_reject(&body, &ours, "body has no \"caps\"");
}

/// A signer key listed twice: libcoconut accepted it.
#[test]
fn repeated_signers() {
    let key = Value::Bytes(vec![4; 32]);
    let mut entries = minimal_entries();
    entries.push(("signers", Value::Array(vec![key.clone(), key])));
    let body = body_bytes(entries);
    let ours = decode_body(&body).unwrap_err();
    assert_eq!(
        ours,
        ManifestError::NotAscending {
            field: "body.signers[]",
            offset: body.len() - 34
        }
    );
    both_reject(
        &body,
        &ours,
        "signers entry 1 is not greater than the key before it",
    );
}
