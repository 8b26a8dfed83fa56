//! Manifests: the envelope and the body are canonical CBOR, the signature verifies with
//! ed25519-dalek over the documented message, and strict verification rejects tampering,
//! non-canonical encodings and weak keys.

use ciborium::Value;
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use libcoconut::abi::{BODY_KEYS, BUDGET_KEYS, ENVELOPE_KEYS, MANIFEST_SIGNING_PREFIX};
use libcoconut::*;
use proptest::prelude::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn sample() -> Manifest {
    ManifestBuilder::new("dream-team.coordinator")
        .cap("net.connect:api.example.com:443".parse().unwrap())
        .cap("agent.spawn".parse().unwrap())
        .cap("fs.read:/srv/*".parse().unwrap())
        .cap("agent.spawn".parse().unwrap())
        .budget(QuotaKind::InferenceTokens, 1_000_000)
        .budget(QuotaKind::Cpu, 250_000)
        .budget(QuotaKind::Ram, 1 << 30)
        .signer([9u8; 32])
        .signer([3u8; 32])
        .tenant("indie-saas")
        .lane(2)
        .build()
        .unwrap()
}

fn decode(bytes: &[u8]) -> Value {
    ciborium::from_reader(bytes).unwrap()
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn keys(v: &Value) -> Vec<String> {
    match v {
        Value::Map(m) => m
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect(),
        _ => panic!("not a map"),
    }
}

#[test]
fn envelope_and_body_are_canonical() {
    let m = sample();
    let env = m.sign(&key());
    let bytes = env.to_bytes();
    for b in [&bytes, &env.body] {
        let v = decode(b);
        assert_eq!(
            &encode(&canonicalize(&v)),
            b,
            "decode, canonicalize, re-encode: same bytes"
        );
    }
    assert_eq!(keys(&decode(&bytes)), ENVELOPE_KEYS);
    let body = decode(&env.body);
    assert_eq!(
        keys(&body),
        BODY_KEYS,
        "every body key present, in canonical order"
    );
    let budget = match &body {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_text() == Some("budget"))
            .unwrap()
            .1
            .clone(),
        _ => unreachable!(),
    };
    let present: Vec<_> = BUDGET_KEYS
        .iter()
        .filter(|k| ["cpu", "ram", "inference_tokens"].contains(k))
        .collect();
    assert_eq!(keys(&budget).iter().collect::<Vec<_>>(), present);
    // Caps are sorted and deduplicated; signers sorted.
    assert_eq!(
        m.caps.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "agent.spawn",
            "fs.read:/srv/*",
            "net.connect:api.example.com:443"
        ]
    );
    assert_eq!(m.signers, [[3u8; 32], [9u8; 32]]);
}

#[test]
fn known_minimal_envelope_bytes() {
    let m = ManifestBuilder::new("a").build().unwrap();
    // {"v": 1, "caps": [], "name": "a"}
    assert_eq!(
        m.to_cbor(),
        [
            0xa3, 0x61, b'v', 0x01, 0x64, b'c', b'a', b'p', b's', 0x80, 0x64, b'n', b'a', b'm',
            b'e', 0x61, b'a'
        ]
    );
    let env = m.sign(&key()).to_bytes();
    // Map of 4; "v": 1; "key": bstr(32) ...
    assert_eq!(&env[..4], &[0xa4, 0x61, b'v', 0x01]);
    assert_eq!(&env[4..10], &[0x63, b'k', b'e', b'y', 0x58, 0x20]);
}

#[test]
fn signature_verifies_over_the_documented_message() {
    let env = sample().sign(&key());
    let vk = VerifyingKey::from_bytes(&env.key).unwrap();
    assert_eq!(vk, key().verifying_key());
    let mut msg = b"coconut-manifest-v1\0".to_vec();
    assert_eq!(&msg[..], MANIFEST_SIGNING_PREFIX);
    msg.extend_from_slice(&env.body);
    let sig = Signature::from_bytes(&env.sig);
    vk.verify(&msg, &sig).unwrap();
    vk.verify_strict(&msg, &sig).unwrap();
    // The body alone (without the prefix) does not verify.
    assert!(vk.verify(&env.body, &sig).is_err());
}

#[test]
fn verify_envelope_round_trips_and_rejects_tampering() {
    let m = sample();
    let env = m.sign(&key());
    let (env2, m2) = verify_envelope(&env.to_bytes()).unwrap();
    assert_eq!((env2, m2), (env.clone(), m));

    let mut bad = env.clone();
    bad.body[5] ^= 1;
    assert!(verify_envelope(&bad.to_bytes()).is_err());

    let mut bad = env.clone();
    bad.sig[40] ^= 1;
    assert!(matches!(
        verify_envelope(&bad.to_bytes()),
        Err(ManifestError::BadSignature(_))
    ));

    // S >= L is rejected (S + L has the same value mod L).
    let mut bad = env.clone();
    bad.sig[63] |= 0xf0;
    assert!(matches!(
        verify_envelope(&bad.to_bytes()),
        Err(ManifestError::BadSignature(_))
    ));

    // A small-order public key (the identity) is rejected.
    let mut bad = env.clone();
    bad.key = [0; 32];
    bad.key[0] = 1;
    assert!(matches!(
        verify_envelope(&bad.to_bytes()),
        Err(ManifestError::BadSignature(_))
    ));
}

#[test]
fn non_canonical_cbor_is_rejected() {
    let env = sample().sign(&key());
    // Keys in the wrong order.
    let v = decode(&env.to_bytes());
    let Value::Map(mut entries) = v else {
        unreachable!()
    };
    entries.reverse();
    let swapped = encode(&Value::Map(entries));
    assert!(matches!(
        verify_envelope(&swapped),
        Err(ManifestError::NotCanonical(_))
    ));
    // A non-shortest integer for "v": 0x18 0x01 instead of 0x01.
    let mut long = env.to_bytes();
    long.splice(3..4, [0x18, 0x01]);
    assert!(matches!(
        verify_envelope(&long),
        Err(ManifestError::NotCanonical(_))
    ));
    // Trailing bytes.
    let mut trailing = env.to_bytes();
    trailing.push(0);
    assert!(verify_envelope(&trailing).is_err());
}

#[test]
fn body_shape_is_checked() {
    let unknown = encode(&canonicalize(&Value::Map(vec![
        (Value::Text("v".into()), Value::Integer(1.into())),
        (Value::Text("caps".into()), Value::Array(vec![])),
        (Value::Text("name".into()), Value::Text("x".into())),
        (Value::Text("extra".into()), Value::Integer(1.into())),
    ])));
    assert!(matches!(
        Manifest::from_cbor(&unknown),
        Err(ManifestError::Malformed(_))
    ));
    assert!(matches!(
        ManifestBuilder::new("Bad Name").build(),
        Err(ManifestError::BadName(_))
    ));
    assert!(ManifestBuilder::new(&"a".repeat(64)).build().is_ok());
    assert!(ManifestBuilder::new(&"a".repeat(65)).build().is_err());
    let mut b = ManifestBuilder::new("many");
    for i in 0..9u8 {
        b = b.signer([i; 32]);
    }
    assert_eq!(b.build(), Err(ManifestError::TooManySigners(9)));
    assert_eq!(
        ManifestBuilder::new("l").lane(1 << 32).build(),
        Err(ManifestError::BadLane(1 << 32))
    );
    let mut b = ManifestBuilder::new("caps");
    for i in 0..65 {
        b = b.cap(format!("fs.read:/d{i}").parse().unwrap());
    }
    assert!(matches!(
        b.build(),
        Err(ManifestError::Capability(CapabilityError::TooMany(65)))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_manifests_round_trip(
        name in "[a-z0-9._-]{1,64}",
        scopes in proptest::collection::vec("/[a-z]{1,8}\\*?", 0..10),
        cpu in proptest::option::of(any::<u64>()),
        lane in proptest::option::of(0u64..=u64::from(u32::MAX)),
        seed: [u8; 32],
    ) {
        let mut b = ManifestBuilder::new(&name);
        for s in &scopes {
            b = b.cap(Capability::scoped(CapId::FsRead, s).unwrap());
        }
        if let Some(c) = cpu { b = b.budget(QuotaKind::Cpu, c); }
        if let Some(l) = lane { b = b.lane(l); }
        let m = b.build().unwrap();
        let env = m.sign(&SigningKey::from_bytes(&seed)).to_bytes();
        prop_assert_eq!(encode(&canonicalize(&decode(&env))), env.clone());
        let (_, back) = verify_envelope(&env).unwrap();
        prop_assert_eq!(back, m);
    }
}

/// An envelope around arbitrary body bytes, correctly signed, so that only the body's
/// checks can reject it.
fn signed_envelope(body: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    SignedManifest {
        key: key().verifying_key().to_bytes(),
        sig: key()
            .sign(&SignedManifest::signing_message(body))
            .to_bytes(),
        body: body.to_vec(),
    }
    .to_bytes()
}

/// Both the body decoder and the envelope verifier reject `body` with a message containing
/// every word of `words`.
fn assert_body_rejected(body: &[u8], words: &[&str]) {
    for err in [
        Manifest::from_cbor(body).unwrap_err(),
        verify_envelope(&signed_envelope(body)).unwrap_err(),
    ] {
        let msg = err.to_string();
        for w in words {
            assert!(msg.contains(w), "{msg:?} lacks {w:?}");
        }
    }
}

/// `n` maps, each the only key of the one before it, the innermost `{0: 0}`; every other
/// value is 0. Canonical CBOR, `n` levels deep.
fn nested_map_keys(n: usize) -> Vec<u8> {
    let mut bytes = vec![0xa1; n];
    bytes.extend(std::iter::repeat_n(0x00, n + 1));
    bytes
}

/// Regression: canonicalizing processed every map key twice per level, so 30 nested map keys
/// (61 bytes) took about 2^30 steps and 60 bytes exhausted memory. Nesting is now bounded at 8
/// levels, like the kernel's decoder, before anything is sorted, and deeper input is an error.
#[test]
fn deeply_nested_map_keys_are_an_error_not_a_blow_up() {
    for n in [9, 30, 60, 200] {
        let bytes = nested_map_keys(n);
        for err in [
            Manifest::from_cbor(&bytes).unwrap_err(),
            verify_envelope(&bytes).unwrap_err(),
        ] {
            assert_eq!(
                err,
                ManifestError::NotCanonical("arrays and maps nest more than 8 levels deep".into()),
                "{n} levels"
            );
        }
        assert_body_rejected(&bytes, &["nest more than 8 levels"]);
    }
    // Eight levels pass the canonical-form check; the shape check then rejects the map key.
    let eight = nested_map_keys(8);
    assert_eq!(encode(&canonicalize(&decode(&eight))), eight);
    assert_eq!(
        Manifest::from_cbor(&eight),
        Err(ManifestError::Malformed(
            "body key is not a text string".into()
        ))
    );
    // Arrays count as levels too: a body with an unknown key "z" holding `n` nested arrays
    // is `n + 1` levels deep.
    let with_arrays = |n: usize| {
        let mut body = vec![0xa4, 0x61, b'v', 0x01, 0x61, b'z'];
        body.extend(std::iter::repeat_n(0x81, n - 1));
        body.push(0x80);
        body.extend_from_slice(b"\x64caps\x80\x64name\x61a");
        assert_eq!(encode(&canonicalize(&decode(&body))), body);
        body
    };
    assert_body_rejected(
        &with_arrays(8),
        &["not canonical", "nest more than 8 levels"],
    );
    assert_body_rejected(&with_arrays(7), &["unknown body key \"z\""]);
}

/// A map as wide as a manifest can be, each key 7 levels of nested maps: the canonical-form
/// check finishes (each key is canonicalized and encoded once per level) and the shape check
/// rejects it.
#[test]
fn wide_nested_map_keys_are_checked_in_linear_time() {
    let key = |i: u16| {
        let mut k = vec![0xa1; 6];
        k.push(0xa1);
        k.extend([0x19, (i >> 8) as u8, i as u8]); // innermost key: uint16 i
        k.extend([0x00; 7]);
        k
    };
    let n: u16 = 800;
    let mut bytes = vec![0xb9, (n >> 8) as u8, n as u8];
    let mut keys: Vec<Vec<u8>> = (0x100..0x100 + n).map(key).collect();
    keys.sort();
    for k in keys {
        bytes.extend(k);
        bytes.push(0x00);
    }
    assert!(bytes.len() <= 16384);
    assert_eq!(encode(&canonicalize(&decode(&bytes))), bytes);
    assert_body_rejected(&bytes, &["body key is not a text string"]);
}

/// Regression: repeated map keys were accepted (the last one won), because re-encoding keeps
/// them in place. They are rejected in every map, named in the message.
#[test]
fn repeated_map_keys_are_rejected() {
    // {"v": 1, "caps": [], "name": "a", "budget": {"cpu": 1, "cpu": 2}}
    let mut budget = ManifestBuilder::new("a").build().unwrap().to_cbor();
    budget[0] = 0xa4;
    budget.extend_from_slice(b"\x66budget\xa2\x63cpu\x01\x63cpu\x02");
    assert_eq!(encode(&canonicalize(&decode(&budget))), budget);
    assert_body_rejected(
        &budget,
        &["not canonical", "map key \"cpu\" appears more than once"],
    );
    // {"v": 1, "caps": [], "name": "a", "name": "b"}
    let mut name = ManifestBuilder::new("a").build().unwrap().to_cbor();
    name[0] = 0xa4;
    name.extend_from_slice(b"\x64name\x61b");
    assert_body_rejected(&name, &["map key \"name\" appears more than once"]);
    // A repeated key of a map that is itself a map key, named by its encoding.
    let nested = [0xa1, 0xa2, 0x00, 0x00, 0x00, 0x01, 0x00];
    assert_body_rejected(&nested, &["map key h'00' appears more than once"]);
    // The envelope's keys too.
    let env = sample().sign(&key()).to_bytes();
    let mut twice = env.clone();
    twice[0] = 0xa5;
    twice.extend_from_slice(&[0x61, b'v', 0x01]);
    assert!(verify_envelope(&twice).is_err());
}

/// Regression: a body without `caps` was read as an empty ceiling. `caps`, `name` and `v`
/// are required.
#[test]
fn required_body_keys_are_required() {
    let body = |entries: Vec<(&str, Value)>| {
        encode(&canonicalize(&Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        )))
    };
    let v = || ("v", Value::Integer(1.into()));
    let caps = || ("caps", Value::Array(vec![]));
    let name = || ("name", Value::Text("a".into()));
    assert!(Manifest::from_cbor(&body(vec![v(), caps(), name()])).is_ok());
    assert_body_rejected(&body(vec![v(), name()]), &["body has no \"caps\""]);
    assert_body_rejected(&body(vec![v(), caps()]), &["body has no \"name\""]);
    assert_body_rejected(&body(vec![caps(), name()]), &["body has no \"v\""]);
}

/// Regression: a repeated signer key was accepted. `signers`, like `caps`, must be strictly
/// ascending.
#[test]
fn signers_must_be_strictly_ascending() {
    let with_signers = |keys: &[[u8; 32]]| {
        let mut m = ManifestBuilder::new("a").build().unwrap();
        m.signers = keys.to_vec();
        m.to_cbor()
    };
    assert!(Manifest::from_cbor(&with_signers(&[[3; 32], [4; 32]])).is_ok());
    assert_body_rejected(
        &with_signers(&[[4; 32], [4; 32]]),
        &[
            "signers entry 1",
            "strictly ascending",
            "without duplicates",
        ],
    );
    assert_body_rejected(
        &with_signers(&[[3; 32], [5; 32], [4; 32]]),
        &["signers entry 2", "strictly ascending"],
    );
    // Caps likewise.
    let mut m = ManifestBuilder::new("a").build().unwrap();
    m.caps = vec!["fs.read".parse().unwrap(), "fs.read".parse().unwrap()];
    assert_body_rejected(
        &m.to_cbor(),
        &["caps entry 1 (\"fs.read\")", "strictly ascending"],
    );
}
