//! Mutated manifests are rejected with the right error and never panic: 10 000 random signed
//! manifests, each damaged one way — a bit flip, truncation, insertion or deletion of a byte,
//! or a re-encoding with ciborium (non-canonical integer or length, unsorted keys, an extra
//! key, a value of the wrong type), a wrong signature, a signature by another key, a body
//! swapped between envelopes. Bodies damaged by bit flips are also compared with libcoconut's
//! own decoder (`Manifest::from_cbor`): both must accept or both reject.

mod common;

use ciborium::Value;
use coconut_cbor::{Error as CborError, Type};
use coconut_manifest::{decode_body, decode_envelope, decode_manifest, Doc, ManifestError};
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use libcoconut::abi::{Errno, BODY_KEYS, BUDGET_KEYS, ENVELOPE_KEYS};
use libcoconut::{canonicalize, Manifest, SignedManifest};
use proptest::prelude::*;
use proptest::sample::Index;

/// The ways a value can have the wrong type.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Uint,
    Neg,
    Bytes,
    Text,
    Array,
    Map,
    Bool,
    Null,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Uint,
        Kind::Neg,
        Kind::Bytes,
        Kind::Text,
        Kind::Array,
        Kind::Map,
        Kind::Bool,
        Kind::Null,
    ];

    fn value(self) -> Value {
        match self {
            Kind::Uint => Value::Integer(300.into()),
            Kind::Neg => Value::Integer((-5).into()),
            Kind::Bytes => Value::Bytes(vec![1, 2]),
            Kind::Text => text("t"),
            Kind::Array => Value::Array(vec![]),
            Kind::Map => Value::Map(vec![]),
            Kind::Bool => Value::Bool(false),
            Kind::Null => Value::Null,
        }
    }

    fn ty(self) -> Type {
        match self {
            Kind::Uint => Type::Unsigned,
            Kind::Neg => Type::Negative,
            Kind::Bytes => Type::Bytes,
            Kind::Text => Type::Text,
            Kind::Array => Type::Array,
            Kind::Map => Type::Map,
            Kind::Bool => Type::Bool,
            Kind::Null => Type::Null,
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    BitFlip(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
    Delete(Index),
    NonCanonicalEnvelopeVersion,
    NonCanonicalBodyVersion,
    NonCanonicalBodyLength,
    ShuffleEnvelope(Vec<Index>),
    ShuffleBody(Vec<Index>),
    ExtraEnvelopeKey(String),
    ExtraBodyKey(String),
    ExtraBudgetKey(String),
    WrongEnvelopeType(Index, Index),
    WrongBodyType(Index, Index),
    RandomSignature([u8; 32], [u8; 32]),
    SignatureOfOtherMessage,
    SignedByOtherKey(u8),
    ClaimsOtherKey(u8),
    BodySwap(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let key = "[a-z_]{1,18}";
    prop_oneof![
        8 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::BitFlip(i, b)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => Just(Mutation::NonCanonicalEnvelopeVersion),
        1 => Just(Mutation::NonCanonicalBodyVersion),
        1 => Just(Mutation::NonCanonicalBodyLength),
        1 => proptest::collection::vec(any::<Index>(), 4).prop_map(Mutation::ShuffleEnvelope),
        1 => proptest::collection::vec(any::<Index>(), 7).prop_map(Mutation::ShuffleBody),
        1 => key.prop_map(Mutation::ExtraEnvelopeKey),
        1 => key.prop_map(Mutation::ExtraBodyKey),
        1 => key.prop_map(Mutation::ExtraBudgetKey),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(f, k)| Mutation::WrongEnvelopeType(f, k)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(f, k)| Mutation::WrongBodyType(f, k)),
        1 => (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(r, s)| Mutation::RandomSignature(r, s)),
        1 => Just(Mutation::SignatureOfOtherMessage),
        1 => any::<u8>().prop_map(Mutation::SignedByOtherKey),
        1 => any::<u8>().prop_map(Mutation::ClaimsOtherKey),
        1 => agent_name().prop_map(Mutation::BodySwap),
    ]
}

/// The entries of a map value.
fn entries(v: &Value) -> Vec<(Value, Value)> {
    match v {
        Value::Map(m) => m.clone(),
        _ => panic!("not a map"),
    }
}

fn key_text(k: &Value) -> &str {
    k.as_text().unwrap()
}

/// The encoded text string `s`.
fn encoded_text(s: &str) -> Vec<u8> {
    encode(&text(s))
}

/// Where each key of a map (encoded as `map`) starts.
fn key_offsets(map: &[(Value, Value)]) -> Vec<usize> {
    let mut off = encode(&Value::Map(vec![])).len();
    if map.len() >= 24 {
        off += 1;
    }
    let mut out = Vec::new();
    for (k, v) in map {
        out.push(off);
        off += encode(k).len() + encode(v).len();
    }
    out
}

/// The first key of `map` (as ordered) that is not above the key before it, and its offset.
fn first_out_of_order(map: &[(Value, Value)]) -> Option<(String, usize)> {
    let offs = key_offsets(map);
    (1..map.len())
        .find(|&i| encode(&map[i].0) <= encode(&map[i - 1].0))
        .map(|i| (key_text(&map[i].0).to_string(), offs[i]))
}

/// Reorders `items` by a permutation drawn from `idx`.
fn permute<T: Clone>(items: &[T], idx: &[Index]) -> Vec<T> {
    let mut pool: Vec<T> = items.to_vec();
    let mut out = Vec::new();
    for i in idx {
        if pool.is_empty() {
            break;
        }
        out.push(pool.remove(i.index(pool.len())));
    }
    out.extend(pool);
    out
}

/// Asserts a rejection of the whole pipeline with one of `errnos`.
fn assert_rejected(bytes: &[u8], errnos: &[Errno]) -> Result<(), TestCaseError> {
    match decode_manifest(bytes) {
        Ok(_) => Err(TestCaseError::fail(format!(
            "accepted a mutated manifest {bytes:02x?}"
        ))),
        Err(e) => {
            prop_assert!(errnos.contains(&e.errno()), "{e:?} not in {errnos:?}");
            // The message renders without panicking.
            let _ = e.to_string();
            Ok(())
        }
    }
}

fn pipeline_error(bytes: &[u8]) -> ManifestError<'_> {
    decode_manifest(bytes).map(|_| ()).unwrap_err()
}

/// libcoconut's verdict on a body, reduced to accept/reject.
fn reference_accepts(body: &[u8]) -> bool {
    Manifest::from_cbor(body).is_ok()
}

fn check(m: &Manifest, seed: [u8; 32], mutation: &Mutation) -> Result<(), TestCaseError> {
    let key = SigningKey::from_bytes(&seed);
    let signed = m.sign(&key);
    let bytes = signed.to_bytes();
    let env = decode_envelope(&bytes).unwrap();
    let [key_r, sig_r, body_r] = regions(&bytes, &env);
    let body_value = m.to_value();
    let resign = |body: &[u8]| sign_body(&key, body);

    match mutation {
        Mutation::BitFlip(i, bit) => {
            let pos = i.index(bytes.len());
            let mut b = bytes.clone();
            b[pos] ^= 1 << bit;
            if key_r.contains(&pos) || sig_r.contains(&pos) {
                let e = pipeline_error(&b);
                prop_assert!(matches!(e, ManifestError::BadSignature(_)), "{e:?}");
            } else if body_r.contains(&pos) {
                let env = decode_envelope(&b).unwrap();
                let ours = decode_body(env.body);
                let theirs = reference_accepts(env.body);
                match &ours {
                    Ok(_) => {
                        prop_assert!(theirs, "we accept a body libcoconut rejects");
                        let e = pipeline_error(&b);
                        prop_assert_eq!(
                            e,
                            ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
                        );
                    }
                    Err(e) => {
                        prop_assert_eq!(e.errno(), Errno::EINVAL);
                        prop_assert!(!theirs, "libcoconut accepts, we say {e:?}");
                        prop_assert_eq!(pipeline_error(&b), *e);
                    }
                }
            } else {
                let e = decode_envelope(&b).unwrap_err();
                prop_assert_eq!(e.errno(), Errno::EINVAL, "{:?}", e);
            }
        }
        Mutation::Truncate(i) => {
            let b = &bytes[..i.index(bytes.len())];
            let e = decode_envelope(b).unwrap_err();
            prop_assert!(
                matches!(
                    e,
                    ManifestError::Cbor {
                        doc: Doc::Envelope,
                        error: CborError::Truncated { .. }
                    }
                ),
                "{e:?}"
            );
        }
        Mutation::Insert(i, byte) => {
            let mut b = bytes.clone();
            b.insert(i.index(bytes.len() + 1), *byte);
            assert_rejected(&b, &[Errno::EINVAL, Errno::EKEYREJECTED, Errno::E2BIG])?;
        }
        Mutation::Delete(i) => {
            let mut b = bytes.clone();
            b.remove(i.index(bytes.len()));
            assert_rejected(&b, &[Errno::EINVAL, Errno::EKEYREJECTED])?;
        }
        Mutation::NonCanonicalEnvelopeVersion => {
            let mut b = bytes.clone();
            prop_assert_eq!(&b[..4], &[0xa4, 0x61, 0x76, 0x01]);
            b.splice(3..4, [0x18, 0x01]);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::Cbor {
                    doc: Doc::Envelope,
                    error: CborError::NonCanonical { offset: 3 }
                }
            );
        }
        Mutation::NonCanonicalBodyVersion => {
            let mut body = signed.body.clone();
            prop_assert_eq!(&body[1..4], &[0x61, 0x76, 0x01]);
            body.splice(3..4, [0x19, 0x00, 0x01]);
            let b = resign(&body);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::Cbor {
                    doc: Doc::Body,
                    error: CborError::NonCanonical { offset: 3 }
                }
            );
        }
        Mutation::NonCanonicalBodyLength => {
            // Widen the head of the body byte string by one size class.
            let len = env.body.len();
            let (old, new): (Vec<u8>, Vec<u8>) = if len < 24 {
                (vec![0x40 | len as u8], vec![0x58, len as u8])
            } else if len < 256 {
                (vec![0x58, len as u8], vec![0x59, 0, len as u8])
            } else {
                let [h, l] = (len as u16).to_be_bytes();
                (vec![0x59, h, l], vec![0x5a, 0, 0, h, l])
            };
            let head = env.body_offset - old.len();
            prop_assert_eq!(&bytes[head..env.body_offset], &old[..]);
            let mut b = bytes.clone();
            b.splice(head..env.body_offset, new);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::Cbor {
                    doc: Doc::Envelope,
                    error: CborError::NonCanonical { offset: head }
                }
            );
        }
        Mutation::ShuffleEnvelope(idx) => {
            let e = entries(&decode(&bytes));
            let shuffled = permute(&e, idx);
            let b = encode(&Value::Map(shuffled.clone()));
            match first_out_of_order(&shuffled) {
                None => prop_assert_eq!(&b, &bytes),
                Some((key, offset)) => prop_assert_eq!(
                    pipeline_error(&b),
                    ManifestError::KeyOrder {
                        doc: Doc::Envelope,
                        key: &key,
                        offset
                    }
                ),
            }
        }
        Mutation::ShuffleBody(idx) => {
            let e = entries(&body_value);
            let shuffled = permute(&e, idx);
            let body = encode(&Value::Map(shuffled.clone()));
            let b = resign(&body);
            match first_out_of_order(&shuffled) {
                None => {
                    prop_assert_eq!(&body, &signed.body);
                    prop_assert!(decode_manifest(&b).is_ok());
                }
                Some((key, offset)) => prop_assert_eq!(
                    pipeline_error(&b),
                    ManifestError::KeyOrder {
                        doc: Doc::Body,
                        key: &key,
                        offset
                    }
                ),
            }
        }
        Mutation::ExtraEnvelopeKey(k) => {
            if ENVELOPE_KEYS.contains(&k.as_str()) {
                return Ok(());
            }
            let mut e = entries(&decode(&bytes));
            e.push((text(k), Value::Integer(0.into())));
            let b = encode(&canonicalize(&Value::Map(e)));
            let err = pipeline_error(&b);
            let ManifestError::UnknownKey {
                map: "envelope",
                key,
                offset,
            } = err
            else {
                return Err(TestCaseError::fail(format!("{err:?}")));
            };
            prop_assert_eq!(key, k.as_str());
            prop_assert!(b[offset..].starts_with(&encoded_text(k)));
        }
        Mutation::ExtraBodyKey(k) => {
            if BODY_KEYS.contains(&k.as_str()) {
                return Ok(());
            }
            let mut e = entries(&body_value);
            e.push((text(k), Value::Integer(0.into())));
            let body = encode(&canonicalize(&Value::Map(e)));
            let signed_body = resign(&body);
            let err = pipeline_error(&signed_body);
            let ManifestError::UnknownKey {
                map: "body",
                key,
                offset,
            } = err
            else {
                return Err(TestCaseError::fail(format!("{err:?}")));
            };
            prop_assert_eq!(key, k.as_str());
            prop_assert!(body[offset..].starts_with(&encoded_text(k)));
        }
        Mutation::ExtraBudgetKey(k) => {
            if BUDGET_KEYS.contains(&k.as_str()) {
                return Ok(());
            }
            let mut e = entries(&body_value);
            let extra = (text(k), Value::Integer(1.into()));
            match e.iter_mut().find(|(key, _)| key_text(key) == "budget") {
                Some((_, Value::Map(b))) => b.push(extra),
                _ => e.push((text("budget"), Value::Map(vec![extra]))),
            }
            let body = encode(&canonicalize(&Value::Map(e)));
            let signed_body = resign(&body);
            let err = pipeline_error(&signed_body);
            let ManifestError::UnknownKey {
                map: "body.budget",
                key,
                offset,
            } = err
            else {
                return Err(TestCaseError::fail(format!("{err:?}")));
            };
            prop_assert_eq!(key, k.as_str());
            prop_assert!(body[offset..].starts_with(&encoded_text(k)));
        }
        Mutation::WrongEnvelopeType(f, k) => {
            let fields = [
                ("v", "envelope.v", Type::Unsigned),
                ("key", "envelope.key", Type::Bytes),
                ("sig", "envelope.sig", Type::Bytes),
                ("body", "envelope.body", Type::Bytes),
            ];
            let (name, field, expected) = fields[f.index(4)];
            let kinds: Vec<Kind> = Kind::ALL
                .into_iter()
                .filter(|k| k.ty() != expected)
                .collect();
            let kind = kinds[k.index(kinds.len())];
            let mut e = entries(&decode(&bytes));
            for (key, v) in e.iter_mut() {
                if key_text(key) == name {
                    *v = kind.value();
                }
            }
            let b = encode(&Value::Map(e));
            let err = pipeline_error(&b);
            let ManifestError::WrongType {
                field: got,
                expected: exp,
                found,
                offset,
            } = err
            else {
                return Err(TestCaseError::fail(format!("{err:?}")));
            };
            prop_assert_eq!((got, exp, found), (field, expected, kind.ty()));
            prop_assert!(b[offset..].starts_with(&encode(&kind.value())));
        }
        Mutation::WrongBodyType(f, k) => {
            let fields = [
                ("v", "body.v", Type::Unsigned),
                ("caps", "body.caps", Type::Array),
                ("lane", "body.lane", Type::Unsigned),
                ("name", "body.name", Type::Text),
                ("budget", "body.budget", Type::Map),
                ("tenant", "body.tenant", Type::Text),
                ("signers", "body.signers", Type::Array),
                ("caps", "body.caps[]", Type::Text),
                ("signers", "body.signers[]", Type::Bytes),
                ("budget", "body.budget.net", Type::Unsigned),
            ];
            let (name, field, expected) = fields[f.index(fields.len())];
            let kinds: Vec<Kind> = Kind::ALL
                .into_iter()
                .filter(|k| k.ty() != expected)
                .collect();
            let kind = kinds[k.index(kinds.len())];
            let value = match field {
                "body.caps[]" | "body.signers[]" => Value::Array(vec![kind.value()]),
                "body.budget.net" => Value::Map(vec![(text("net"), kind.value())]),
                _ => kind.value(),
            };
            let mut e = entries(&body_value);
            e.retain(|(key, _)| key_text(key) != name);
            e.push((text(name), value));
            let body = encode(&canonicalize(&Value::Map(e)));
            let signed_body = resign(&body);
            let err = pipeline_error(&signed_body);
            let ManifestError::WrongType {
                field: got,
                expected: exp,
                found,
                offset,
            } = err
            else {
                return Err(TestCaseError::fail(format!("{field}: {err:?}")));
            };
            prop_assert_eq!((got, exp, found), (field, expected, kind.ty()));
            prop_assert!(body[offset..].starts_with(&encode(&kind.value())));
        }
        Mutation::RandomSignature(r, s) => {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(r);
            sig[32..].copy_from_slice(s);
            let b = envelope(env.key, &sig, env.body);
            prop_assert!(matches!(pipeline_error(&b), ManifestError::BadSignature(_)));
        }
        Mutation::SignatureOfOtherMessage => {
            // The same key signing the body without the prefix, and the prefix with another
            // body: neither verifies.
            let bare = key.sign(env.body).to_bytes();
            let b = envelope(env.key, &bare, env.body);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
            );
        }
        Mutation::SignedByOtherKey(other) => {
            let other = signing_key(*other);
            if other.verifying_key() == key.verifying_key() {
                return Ok(());
            }
            let sig = other
                .sign(&SignedManifest::signing_message(env.body))
                .to_bytes();
            let b = envelope(env.key, &sig, env.body);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
            );
        }
        Mutation::ClaimsOtherKey(other) => {
            let other = signing_key(*other).verifying_key().to_bytes();
            if &other == env.key {
                return Ok(());
            }
            let b = envelope(&other, env.sig, env.body);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
            );
        }
        Mutation::BodySwap(name) => {
            let other = libcoconut::ManifestBuilder::new(name).build().unwrap();
            let other_env = other.sign(&signing_key(9)).to_bytes();
            let other_env = decode_envelope(&other_env).unwrap().body.to_vec();
            if other_env == env.body {
                return Ok(());
            }
            // Our signature on their body, and their signature on our body.
            let b = envelope(env.key, env.sig, &other_env);
            prop_assert_eq!(
                pipeline_error(&b),
                ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
            );
            let theirs = decode_envelope(&other.sign(&signing_key(9)).to_bytes())
                .map(|e| *e.sig)
                .unwrap();
            let b = envelope(
                &signing_key(9).verifying_key().to_bytes(),
                &theirs,
                env.body,
            );
            if signed.body != other_env {
                prop_assert_eq!(
                    pipeline_error(&b),
                    ManifestError::BadSignature(coconut_ed25519::Error::Mismatch)
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn mutated_manifests_are_rejected((m, seed) in manifest(), mutation in mutation()) {
        check(&m, seed, &mutation)?;
    }

    /// Arbitrary bytes, and arbitrary bytes after a valid prefix, never panic anywhere.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_manifest(&data).map_err(|e| e.to_string());
        let _ = decode_body(&data).map(|b| (b.caps().count(), b.signers().count())).map_err(|e| e.to_string());
        let _ = coconut_manifest::decode_capset(&data).map(Iterator::count).map_err(|e| e.to_string());
        let mut prefixed = vec![0xa4, 0x61, 0x76, 0x01];
        prefixed.extend_from_slice(&data);
        let _ = decode_envelope(&prefixed).map_err(|e| e.to_string());
        let mut body = vec![0xa3, 0x61, 0x76, 0x01];
        body.extend_from_slice(&data);
        let _ = decode_body(&body).map_err(|e| e.to_string());
    }
}
