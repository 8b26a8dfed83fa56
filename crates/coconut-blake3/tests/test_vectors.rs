//! The official BLAKE3 test vectors, checked in every mode and through every entry point.
//!
//! `data/test_vectors.json` is an unmodified copy of `test_vectors/test_vectors.json` from the
//! BLAKE3-team/BLAKE3 repository (version 1.8.6, dedicated to the public domain under CC0): 35
//! input lengths from 0 to 102400 bytes of the repeating pattern 0, 1, ..., 250, each with the
//! 131-byte extended output of the hash, keyed_hash and derive_key modes.

use coconut_blake3::{chain_step, derive_key, hash, keyed_hash, Hasher, KEY_LEN, OUT_LEN};

const VECTORS: &str = include_str!("data/test_vectors.json");

struct Case {
    input_len: usize,
    hash: Vec<u8>,
    keyed_hash: Vec<u8>,
    derive_key: Vec<u8>,
}

struct Vectors {
    key: [u8; KEY_LEN],
    context: String,
    cases: Vec<Case>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex string in the vectors");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("valid hex in the vectors"))
        .collect()
}

fn load() -> Vectors {
    let json: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors parse as JSON");
    let key: [u8; KEY_LEN] = json["key"]
        .as_str()
        .expect("key is a string")
        .as_bytes()
        .try_into()
        .expect("key is 32 bytes");
    let context = json["context_string"]
        .as_str()
        .expect("context_string is a string")
        .to_owned();
    let cases = json["cases"]
        .as_array()
        .expect("cases is an array")
        .iter()
        .map(|case| {
            let field = |name: &str| unhex(case[name].as_str().expect("output is a string"));
            Case {
                input_len: case["input_len"].as_u64().expect("input_len is a number") as usize,
                hash: field("hash"),
                keyed_hash: field("keyed_hash"),
                derive_key: field("derive_key"),
            }
        })
        .collect();
    Vectors {
        key,
        context,
        cases,
    }
}

/// The test vector input: 0, 1, ..., 250 repeated.
fn input(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Feeds `data` to `hasher` in pieces of the given sizes (cycled), then the rest.
fn feed(hasher: &mut Hasher, data: &[u8], pieces: &[usize]) {
    let mut rest = data;
    for &size in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(size.min(rest.len()));
        hasher.update(head);
        rest = tail;
    }
}

/// Update patterns: all at once, byte by byte, and sizes that straddle block and chunk edges.
const PATTERNS: &[&[usize]] = &[
    &[usize::MAX],
    &[1],
    &[63, 1, 65],
    &[1023, 1, 1025, 2048],
    &[32, 992, 7, 3000],
];

fn check_mode(
    name: &str,
    case: &Case,
    expected: &[u8],
    new: impl Fn() -> Hasher,
    one_shot: impl Fn(&[u8]) -> [u8; OUT_LEN],
) {
    assert_eq!(
        expected.len(),
        131,
        "{name}/{}: vector length",
        case.input_len
    );
    let data = input(case.input_len);
    assert_eq!(
        one_shot(&data)[..],
        expected[..OUT_LEN],
        "{name}/{}: one-shot",
        case.input_len
    );
    for pattern in PATTERNS {
        // Byte-at-a-time over the largest inputs is slow in debug builds and adds nothing the
        // shorter inputs do not already cover.
        if pattern == &[1] && case.input_len > 9000 {
            continue;
        }
        let mut hasher = new();
        feed(&mut hasher, &data, pattern);
        assert_eq!(
            hasher.finalize()[..],
            expected[..OUT_LEN],
            "{name}/{}: finalize after updates {pattern:?}",
            case.input_len
        );
        let mut xof = [0u8; 131];
        hasher.finalize_xof(&mut xof);
        assert_eq!(
            xof[..],
            expected[..],
            "{name}/{}: finalize_xof after updates {pattern:?}",
            case.input_len
        );
    }
    // Every prefix length of the extended output is a prefix of the full one.
    let mut hasher = new();
    hasher.update(&data);
    for len in [0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 130] {
        let mut out = vec![0u8; len];
        hasher.finalize_xof(&mut out);
        assert_eq!(
            out[..],
            expected[..len],
            "{name}/{}: xof length {len}",
            case.input_len
        );
    }
}

#[test]
fn vectors_cover_the_published_cases() {
    let vectors = load();
    let lens: Vec<usize> = vectors.cases.iter().map(|c| c.input_len).collect();
    assert_eq!(lens.len(), 35);
    assert_eq!(lens.first(), Some(&0));
    assert_eq!(lens.last(), Some(&102_400));
    assert_eq!(
        vectors.context,
        "BLAKE3 2019-12-27 16:29:52 test vectors context"
    );
}

#[test]
fn hash_mode_matches_vectors() {
    let vectors = load();
    for case in &vectors.cases {
        check_mode("hash", case, &case.hash, Hasher::new, hash);
        check_mode("hash/default", case, &case.hash, Hasher::default, hash);
    }
}

#[test]
fn keyed_hash_mode_matches_vectors() {
    let vectors = load();
    let key = vectors.key;
    for case in &vectors.cases {
        check_mode(
            "keyed_hash",
            case,
            &case.keyed_hash,
            || Hasher::new_keyed(&key),
            |data| keyed_hash(&key, data),
        );
    }
}

#[test]
fn derive_key_mode_matches_vectors() {
    let vectors = load();
    let context = vectors.context.as_str();
    for case in &vectors.cases {
        check_mode(
            "derive_key",
            case,
            &case.derive_key,
            || Hasher::new_derive_key(context),
            |data| derive_key(context, data),
        );
    }
}

/// Every vector of at least 32 bytes is also a chain step: the first 32 bytes are the previous
/// head and the rest is the event. This covers both the single-chunk path (events up to 992
/// bytes) and the streaming fallback.
#[test]
fn chain_step_matches_vectors() {
    let vectors = load();
    let mut checked = 0;
    for case in vectors.cases.iter().filter(|c| c.input_len >= OUT_LEN) {
        let data = input(case.input_len);
        let (prev, event) = data.split_at(OUT_LEN);
        let prev: &[u8; OUT_LEN] = prev.try_into().expect("32-byte prefix");
        assert_eq!(
            chain_step(prev, event)[..],
            case.hash[..OUT_LEN],
            "chain_step/{}",
            case.input_len
        );
        checked += 1;
    }
    assert_eq!(checked, 26);
}

/// `reset` returns a used hasher to its initial state in every mode, keeping the key.
#[test]
fn reset_keeps_mode_and_forgets_input() {
    let vectors = load();
    let case = vectors
        .cases
        .iter()
        .find(|c| c.input_len == 3073)
        .expect("3073-byte vector");
    let data = input(case.input_len);
    let modes: [(Hasher, &[u8]); 3] = [
        (Hasher::new(), &case.hash),
        (Hasher::new_keyed(&vectors.key), &case.keyed_hash),
        (Hasher::new_derive_key(&vectors.context), &case.derive_key),
    ];
    for (mut hasher, expected) in modes {
        hasher.update(&input(5000));
        hasher.reset().update(&data);
        assert_eq!(hasher.finalize()[..], expected[..OUT_LEN]);
    }
}

/// Finalizing does not consume the state: more input can follow, and clones diverge
/// independently.
#[test]
fn finalize_is_non_destructive_and_clones_are_independent() {
    let vectors = load();
    let find = |len: usize| {
        vectors
            .cases
            .iter()
            .find(|c| c.input_len == len)
            .expect("vector of that length")
    };
    let data = input(2049);
    let mut hasher = Hasher::new();
    hasher.update(&data[..1024]);
    let snapshot = hasher.clone();
    assert_eq!(hasher.finalize()[..], find(1024).hash[..OUT_LEN]);
    hasher.update(&data[1024..]);
    assert_eq!(hasher.finalize()[..], find(2049).hash[..OUT_LEN]);
    let mut other = snapshot;
    other.update(&data[1024..1025]);
    assert_eq!(other.finalize()[..], find(1025).hash[..OUT_LEN]);
}
