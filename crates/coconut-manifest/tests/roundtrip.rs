//! Manifests built and signed by libcoconut (ciborium + ed25519-dalek) decode and verify, and
//! every field comes back as built: 10 000 random manifests, plus the documented examples and
//! the size limits. Capability sets encoded by libcoconut decode to the same entries.

mod common;

use coconut_manifest::{
    decode_body, decode_capset, decode_envelope, decode_manifest, verify, Doc, ManifestError,
};
use common::*;
use libcoconut::abi::{CapId, Errno, QuotaKind, AGENT_MANIFEST_MAX};
use libcoconut::{encode_capset, verify_envelope, Capability, ManifestBuilder};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Random names, caps, budgets, signers, tenants and lanes round-trip, and the kernel-side
    /// verdict agrees with libcoconut's `verify_envelope`.
    #[test]
    fn random_manifests_round_trip((m, seed) in manifest()) {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let signed = m.sign(&key);
        let bytes = signed.to_bytes();
        let (env, body) = decode_manifest(&bytes).unwrap();
        prop_assert_eq!(env.key, &signed.key);
        prop_assert_eq!(env.sig, &signed.sig);
        prop_assert_eq!(env.body, &signed.body[..]);
        prop_assert_eq!(&bytes[env.body_offset..env.body_offset + env.body.len()], env.body);
        assert_same(&body, &m);
        let (_, reference) = verify_envelope(&bytes).unwrap();
        prop_assert_eq!(reference, m);
    }

    /// Capability sets encoded by libcoconut decode to the same entries, in the same order.
    #[test]
    fn capsets_round_trip(caps in proptest::collection::vec(capability(60), 0..=64)) {
        let bytes = encode_capset(&caps).unwrap();
        if bytes.len() <= 4096 {
            let got: Vec<String> = decode_capset(&bytes).unwrap().map(|c| c.text.to_string()).collect();
            let want: Vec<String> = libcoconut::decode_capset(&bytes).unwrap().iter().map(Capability::to_string).collect();
            prop_assert_eq!(got, want);
        } else {
            prop_assert_eq!(
                decode_capset(&bytes).unwrap_err(),
                ManifestError::TooBig { doc: Doc::CapSet, len: bytes.len(), max: 4096 }
            );
        }
    }
}

#[test]
fn smallest_body_of_the_docs() {
    let body = [
        0xa3, 0x61, 0x76, 0x01, 0x64, 0x63, 0x61, 0x70, 0x73, 0x80, 0x64, 0x6e, 0x61, 0x6d, 0x65,
        0x61, 0x61,
    ];
    let b = decode_body(&body).unwrap();
    assert_eq!(b.name, "a");
    assert_eq!(b.caps().count(), 0);
    assert!(b.budget.is_empty());
    assert_eq!(b.signers().count(), 0);
    assert_eq!((b.tenant, b.lane), (None, None));
    assert_eq!(
        body.to_vec(),
        ManifestBuilder::new("a").build().unwrap().to_cbor()
    );
}

#[test]
fn coordinator_example_of_the_docs() {
    let m = ManifestBuilder::new("dream-team.coordinator")
        .cap("agent.delegate".parse().unwrap())
        .cap("agent.spawn".parse().unwrap())
        .cap("inference:gpt-small".parse().unwrap())
        .cap("net.connect:api.example.com:443".parse().unwrap())
        .lane(2)
        .budget(QuotaKind::Cpu, 250_000)
        .budget(QuotaKind::Ram, 1 << 30)
        .budget(QuotaKind::InferenceTokens, 1_000_000)
        .tenant("indie-saas")
        .signer([9; 32])
        .signer([3; 32])
        .build()
        .unwrap();
    let bytes = m.sign(&signing_key(1)).to_bytes();
    assert_eq!(
        bytes[..10],
        [0xa4, 0x61, 0x76, 0x01, 0x63, 0x6b, 0x65, 0x79, 0x58, 0x20]
    );
    let (env, body) = decode_manifest(&bytes).unwrap();
    assert_eq!(env.key, &signing_key(1).verifying_key().to_bytes());
    assert_same(&body, &m);
    let caps: Vec<(CapId, &[u8])> = body.caps().map(|c| (c.id, c.scope)).collect();
    assert_eq!(
        caps,
        [
            (CapId::AgentDelegate, &b""[..]),
            (CapId::AgentSpawn, b""),
            (CapId::Inference, b"gpt-small"),
            (CapId::NetConnect, b"api.example.com:443"),
        ]
    );
    assert_eq!(body.signers().collect::<Vec<_>>(), [&[3; 32], &[9; 32]]);
    assert!(!body.trusts(&[4; 32]));
}

/// A body over 4096 bytes (64 caps with 200-byte scopes) is accepted: the envelope's CBOR
/// limits let its `body` string fill the 16 KiB document.
#[test]
fn large_bodies_up_to_the_envelope_limit() {
    let caps: Vec<Capability> = (0..64)
        .map(|i| {
            format!("fs.read:/{i:02}/{}", "x".repeat(200))
                .parse()
                .unwrap()
        })
        .collect();
    let m = ManifestBuilder::new("big").caps(caps).build().unwrap();
    let bytes = m.sign(&signing_key(2)).to_bytes();
    assert!(bytes.len() > 4096 * 3 && bytes.len() <= AGENT_MANIFEST_MAX as usize);
    let (_, body) = decode_manifest(&bytes).unwrap();
    assert_same(&body, &m);
}

/// A signed envelope of exactly `target` bytes (63 long caps, then one cap and the name
/// sized to land on the target).
fn envelope_of_len(target: usize) -> Vec<u8> {
    let filler: Vec<String> = (0..63)
        .map(|i| format!("fs.read:/{i:02}/{}", "x".repeat(243)))
        .collect();
    for name_len in 1..=64 {
        for s in 1..=240 {
            let caps: Vec<Capability> = filler
                .iter()
                .cloned()
                .chain([format!("fs.write:/{}", "y".repeat(s))])
                .map(|t| t.parse().unwrap())
                .collect();
            let m = ManifestBuilder::new(&"n".repeat(name_len))
                .caps(caps)
                .build()
                .unwrap();
            let len = envelope(&[0; 32], &[0; 64], &m.to_cbor()).len();
            if len == target {
                return m.sign(&signing_key(3)).to_bytes();
            }
            if len > target {
                break;
            }
        }
    }
    panic!("no envelope of {target} bytes");
}

/// Exactly 16384 bytes decode and verify; 16385 bytes are E2BIG before any CBOR is read.
#[test]
fn envelope_size_limit() {
    let exact = envelope_of_len(AGENT_MANIFEST_MAX as usize);
    let (_, body) = decode_manifest(&exact).unwrap();
    assert_eq!(body.caps().len(), 64);
    let mut over = exact.clone();
    over.push(0);
    let err = decode_envelope(&over).unwrap_err();
    assert_eq!(
        err,
        ManifestError::TooBig {
            doc: Doc::Envelope,
            len: 16385,
            max: 16384
        }
    );
    assert_eq!(err.errno(), Errno::E2BIG);
    assert_eq!(
        decode_body(&over).unwrap_err(),
        ManifestError::TooBig {
            doc: Doc::Body,
            len: 16385,
            max: 16384
        }
    );
}

/// `verify` checks the signature over exactly `"coconut-manifest-v1\0" || body`, hashed in
/// two pieces: a signature over the body alone, over the prefix alone, or over the message
/// with one byte moved across the boundary of the pieces is rejected.
#[test]
fn verify_signs_prefix_then_body() {
    use ed25519_dalek::Signer;
    let key = signing_key(4);
    let body = body_bytes(minimal_entries());
    let good = sign_body(&key, &body);
    verify(&decode_envelope(&good).unwrap()).unwrap();

    let mut shifted = signed_message(&body);
    shifted.insert(0, 0);
    shifted.pop();
    let others = [body.clone(), signed_message(&[]), shifted];
    for message in others {
        let sig = key.sign(&message).to_bytes();
        let bytes = envelope(&key.verifying_key().to_bytes(), &sig, &body);
        assert_eq!(
            verify(&decode_envelope(&bytes).unwrap()),
            Err(ManifestError::BadSignature(
                coconut_ed25519::Error::Mismatch
            ))
        );
    }
}

#[test]
fn empty_capset_is_the_empty_set() {
    let caps = decode_capset(&[]).unwrap();
    assert!(caps.is_empty());
    assert_eq!(caps.count(), 0);
    // The encoded empty array is the empty set too.
    assert_eq!(decode_capset(&[0x80]).unwrap().count(), 0);
}
