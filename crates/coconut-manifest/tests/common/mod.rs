//! Shared helpers of the integration tests: random manifests built and signed by libcoconut
//! (the reference: ciborium + ed25519-dalek), CBOR surgery with ciborium, and the check that
//! a decoded body says exactly what the libcoconut manifest says.

#![allow(dead_code)]

use ciborium::Value;
use coconut_manifest::{Body, Envelope};
use ed25519_dalek::{Signer, SigningKey};
use libcoconut::abi::{CapId, QuotaKind, MANIFEST_SIGNING_PREFIX};
use libcoconut::{canonicalize, Capability, Manifest, ManifestBuilder, SignedManifest};
use proptest::prelude::*;

/// A signing key from a seed.
pub fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Encodes a value with ciborium as it is (no reordering).
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// Decodes bytes with ciborium.
pub fn decode(bytes: &[u8]) -> Value {
    ciborium::from_reader(bytes).unwrap()
}

/// A text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// A map with text keys, entries kept in the given order.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
}

/// The envelope bytes for arbitrary parts, entries in the given order.
pub fn envelope_raw(entries: Vec<(&str, Value)>) -> Vec<u8> {
    encode(&map(entries))
}

/// The canonical envelope for a key, signature and body.
pub fn envelope(key: &[u8; 32], sig: &[u8; 64], body: &[u8]) -> Vec<u8> {
    SignedManifest {
        key: *key,
        sig: *sig,
        body: body.to_vec(),
    }
    .to_bytes()
}

/// Signs arbitrary body bytes with `key` (dalek) and returns the canonical envelope.
pub fn sign_body(key: &SigningKey, body: &[u8]) -> Vec<u8> {
    let sig = key.sign(&SignedManifest::signing_message(body)).to_bytes();
    envelope(&key.verifying_key().to_bytes(), &sig, body)
}

/// The signed message of a body.
pub fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = MANIFEST_SIGNING_PREFIX.to_vec();
    m.extend_from_slice(body);
    m
}

/// Where a borrowed slice starts inside `whole`.
pub fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// A canonical body value with these entries (sorted by libcoconut's canonicalize).
pub fn body_value(entries: Vec<(&str, Value)>) -> Value {
    canonicalize(&map(entries))
}

/// A canonical body's bytes.
pub fn body_bytes(entries: Vec<(&str, Value)>) -> Vec<u8> {
    encode(&body_value(entries))
}

/// The smallest valid body entries: v, caps, name.
pub fn minimal_entries() -> Vec<(&'static str, Value)> {
    vec![
        ("v", Value::Integer(1.into())),
        ("caps", Value::Array(vec![])),
        ("name", text("a")),
    ]
}

/// Asserts that `body` says exactly what `m` says, field by field.
pub fn assert_same(body: &Body<'_>, m: &Manifest) {
    assert_eq!(body.name, m.name);
    let caps: Vec<_> = body.caps().collect();
    assert_eq!(caps.len(), m.caps.len());
    assert_eq!(body.caps().len(), m.caps.len());
    for (got, want) in caps.iter().zip(&m.caps) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.scope, want.scope.as_bytes());
        assert_eq!(got.text, want.to_string());
    }
    for kind in QuotaKind::ALL {
        assert_eq!(
            body.budget.get(kind),
            m.budget.get(&kind).copied(),
            "{kind:?}"
        );
    }
    let budget: Vec<_> = body.budget.iter().collect();
    let want: Vec<_> = m.budget.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(budget, want);
    let signers: Vec<[u8; 32]> = body.signers().copied().collect();
    assert_eq!(signers, m.signers);
    for s in &m.signers {
        assert!(body.trusts(s));
    }
    assert_eq!(body.tenant, m.tenant.as_deref());
    assert_eq!(body.lane.map(u64::from), m.lane);
}

/// The byte ranges of the key, signature and body payloads inside an envelope.
pub fn regions(bytes: &[u8], env: &Envelope<'_>) -> [std::ops::Range<usize>; 3] {
    let k = offset_in(bytes, env.key);
    let s = offset_in(bytes, env.sig);
    [
        k..k + 32,
        s..s + 64,
        env.body_offset..env.body_offset + env.body.len(),
    ]
}

/// A valid scope: 1..=max printable ASCII bytes without space, `*` only at the end.
pub fn scope(max: usize) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            prop_oneof![0x21u8..=0x29, 0x2bu8..=0x7e],
            1..=max.saturating_sub(1).max(1),
        ),
        any::<bool>(),
    )
        .prop_map(|(bytes, star)| {
            let mut s = String::from_utf8(bytes).unwrap();
            if star {
                s.pop();
                s.push('*');
            }
            s
        })
}

/// A random capability entry with scopes of at most `max_scope` bytes.
pub fn capability(max_scope: usize) -> impl Strategy<Value = Capability> {
    (
        0usize..CapId::ALL.len(),
        proptest::option::of(scope(max_scope)),
    )
        .prop_map(|(i, scope)| {
            let id = CapId::ALL[i];
            match scope {
                None => Capability::unscoped(id),
                Some(s) => Capability::scoped(id, &s).unwrap(),
            }
        })
}

/// An agent or tenant name.
pub fn agent_name() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,64}"
}

/// A random manifest built by libcoconut's builder, and the seed of its signing key.
pub fn manifest() -> impl Strategy<Value = (Manifest, [u8; 32])> {
    (
        agent_name(),
        proptest::collection::vec(capability(40), 0..=64),
        proptest::collection::vec(proptest::option::of(any::<u64>()), 5),
        proptest::collection::vec(any::<[u8; 32]>(), 0..=8),
        proptest::option::of(agent_name()),
        proptest::option::of(any::<u32>()),
        any::<[u8; 32]>(),
    )
        .prop_map(|(name, caps, budgets, signers, tenant, lane, seed)| {
            let mut b = ManifestBuilder::new(&name).caps(caps);
            for (kind, limit) in QuotaKind::ALL.into_iter().zip(budgets) {
                if let Some(limit) = limit {
                    b = b.budget(kind, limit);
                }
            }
            for s in signers {
                b = b.signer(s);
            }
            if let Some(t) = tenant {
                b = b.tenant(&t);
            }
            if let Some(l) = lane {
                b = b.lane(l.into());
            }
            (b.build().unwrap(), seed)
        })
}
