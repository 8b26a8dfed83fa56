//! Property tests against the reference implementation, `ciborium`, 10 000 cases each:
//! (a) canonical encodings of random in-subset trees validate and decode to the same tree;
//! (b) on random bytes and mutated valid encodings, whatever we accept ciborium decodes to the
//!     same value and re-encodes canonically to the identical bytes (so we never accept a
//!     non-canonical encoding), and whatever ciborium finds canonical and in-subset we accept;
//! (c) our Encoder produces the canonical ciborium encoding.

mod common;

use ciborium::Value;
use coconut_cbor::{validate, Decoder, Limits, DEPTH_CAP};
use common::{canonical_bytes, canonicalize, decode, in_subset, our_encode};
use proptest::prelude::*;

const LIMITS: Limits = Limits::PERMISSIVE;

fn leaf() -> impl Strategy<Value = Value> {
    let boundary = prop_oneof![
        Just(0u64),
        Just(23),
        Just(24),
        Just(255),
        Just(256),
        Just(65535),
        Just(65536),
        Just(u64::from(u32::MAX)),
        Just(u64::from(u32::MAX) + 1),
        Just(i64::MAX as u64),
        Just(u64::MAX),
    ];
    prop_oneof![
        3 => any::<u64>().prop_map(|v| Value::Integer(v.into())),
        3 => (0u64..300).prop_map(|v| Value::Integer(v.into())),
        2 => boundary.clone().prop_map(|v| Value::Integer(v.into())),
        2 => boundary.prop_map(|v| Value::Integer((-1 - (v >> 1) as i64).into())),
        2 => any::<i64>().prop_map(|v| Value::Integer(v.into())),
        2 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        1 => proptest::collection::vec(any::<u8>(), 250..300).prop_map(Value::Bytes),
        3 => "[a-z]{0,3}".prop_map(Value::Text),
        2 => any::<String>().prop_map(Value::Text),
        2 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        match *m {
            Mutation::Flip(i, bit) if n > 0 => bytes[i % n] ^= 1 << bit,
            Mutation::Set(i, b) if n > 0 => bytes[i % n] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Mutation::Delete(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (n + 1)),
            _ => {}
        }
    }
    bytes
}

fn hostile_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        4 => (tree(), proptest::collection::vec(mutation(), 1..4))
            .prop_map(|(v, ms)| mutate(canonical_bytes(&v), &ms)),
        // Unmutated non-canonical encodings: ciborium's own order of map keys, and heads
        // that are sometimes wider than needed.
        1 => tree().prop_map(|v| common::cib_encode(&v)),
        1 => (tree(), proptest::collection::vec(0u8..8, 1..16))
            .prop_map(|(v, widen)| loose_encode(&canonicalize(v), &widen)),
    ]
}

/// Encodes like the canonical encoder, except that a head whose choice in `widen` is 7 uses
/// the next wider argument size (a non-canonical but well-formed encoding).
fn loose_encode(v: &Value, widen: &[u8]) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, arg: u64, widen: &[u8], n: &mut usize) {
        let wide = widen[*n % widen.len()] == 7;
        *n += 1;
        let mut size = match arg {
            0..=23 => 0,
            24..=0xff => 1,
            0x100..=0xffff => 2,
            0x1_0000..=0xffff_ffff => 4,
            _ => 8,
        };
        if wide && size < 8 {
            size = if size == 0 { 1 } else { size * 2 };
        }
        let info = match size {
            0 => arg as u8,
            1 => 24,
            2 => 25,
            4 => 26,
            _ => 27,
        };
        out.push(major << 5 | info);
        out.extend_from_slice(&arg.to_be_bytes()[8 - size..]);
    }
    fn item(out: &mut Vec<u8>, v: &Value, widen: &[u8], n: &mut usize) {
        match v {
            Value::Integer(i) => match u64::try_from(*i) {
                Ok(u) => head(out, 0, u, widen, n),
                Err(_) => head(out, 1, !(i64::try_from(*i).unwrap()) as u64, widen, n),
            },
            Value::Bytes(b) => {
                head(out, 2, b.len() as u64, widen, n);
                out.extend_from_slice(b);
            }
            Value::Text(t) => {
                head(out, 3, t.len() as u64, widen, n);
                out.extend_from_slice(t.as_bytes());
            }
            Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Null => out.push(0xf6),
            Value::Array(items) => {
                head(out, 4, items.len() as u64, widen, n);
                items.iter().for_each(|x| item(out, x, widen, n));
            }
            Value::Map(pairs) => {
                head(out, 5, pairs.len() as u64, widen, n);
                for (k, x) in pairs {
                    item(out, k, widen, n);
                    item(out, x, widen, n);
                }
            }
            other => panic!("outside the subset: {other:?}"),
        }
    }
    let mut out = Vec::new();
    item(&mut out, v, widen, &mut 0);
    out
}

/// What the reference says about `bytes`: the decoded value, if the bytes are exactly the
/// canonical encoding of an in-subset value.
fn reference_accepts(bytes: &[u8]) -> Option<Value> {
    let value: Value = ciborium::from_reader(bytes).ok()?;
    let depth_ok = in_subset(&value, DEPTH_CAP);
    (depth_ok && canonical_bytes(&value) == bytes).then_some(value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// (a) Canonical encodings of random trees are accepted and decode to the same tree.
    #[test]
    fn canonical_trees_roundtrip(v in tree()) {
        let v = canonicalize(v);
        let bytes = common::cib_encode(&v);
        prop_assert_eq!(validate(&bytes, &LIMITS), Ok(()));
        prop_assert_eq!(decode(&bytes), Ok(v.clone()));
        // raw_item/skip agree with validate on the extent of the item.
        let mut d = Decoder::new(&bytes);
        prop_assert_eq!(d.raw_item(), Ok(&bytes[..]));
    }

    /// (b) Hostile inputs: we accept exactly what the reference finds canonical and in subset,
    /// with the same value; errors point inside the input; nothing panics.
    #[test]
    fn hostile_inputs_agree(bytes in hostile_input()) {
        let ours = validate(&bytes, &LIMITS);
        let reference = reference_accepts(&bytes);
        match (&ours, &reference) {
            (Ok(()), Some(value)) => {
                prop_assert_eq!(decode(&bytes), Ok(value.clone()));
                let mut d = Decoder::new(&bytes);
                prop_assert_eq!(d.skip(), Ok(()));
                prop_assert_eq!(d.finish(), Ok(()));
            }
            (Err(e), None) => prop_assert!(e.offset() <= bytes.len(), "{:?}", e),
            (Ok(()), None) => prop_assert!(false, "we accept, ciborium does not: {:02x?}", bytes),
            (Err(e), Some(v)) => prop_assert!(false, "we reject ({:?}), ciborium accepts {:?}", e, v),
        }
        // The accessors never panic on raw input either.
        let _ = decode(&bytes);
    }

    /// (c) The Encoder writes the canonical encoding, and reports a short buffer cleanly.
    #[test]
    fn encoder_matches_reference(v in tree(), cut in any::<prop::sample::Index>()) {
        let v = canonicalize(v);
        let want = common::cib_encode(&v);
        prop_assert_eq!(our_encode(&v, want.len()), Ok(want.clone()));
        let short = cut.index(want.len());
        let err = our_encode(&v, short).unwrap_err();
        let full = matches!(err, coconut_cbor::Error::BufferFull { offset } if offset <= short);
        prop_assert!(full, "unexpected {:?}", err);
    }
}
