//! Differential property tests against the `blake3` crate (the reference implementation by the
//! BLAKE3 authors), 10 000 cases per property.
//!
//! Inputs are up to 10 KiB (ten chunks, so the chaining value stack and parent merges are
//! exercised) with lengths biased towards block and chunk boundaries, fed through random update
//! splits. Input bytes come from a seeded generator so that proptest shrinks the length, the seed
//! and the split points rather than ten thousand individual bytes.

use coconut_blake3::{chain_step, derive_key, hash, keyed_hash, Hasher, OUT_LEN};
use proptest::prelude::*;
use proptest::sample::Index;

const CASES: u32 = 10_000;
const MAX_LEN: usize = 10 * 1024;

/// Deterministic bytes from a seed (SplitMix64).
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lengths up to `max`, half of them within two bytes of a multiple of 64 (which includes every
/// chunk boundary).
fn length(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        0..=max,
        (0..=max / 64, 0..=4usize)
            .prop_map(move |(blocks, d)| (blocks * 64 + d).saturating_sub(2).min(max)),
    ]
}

/// A message plus the points at which it is split across `update` calls.
#[derive(Debug, Clone)]
struct Message {
    data: Vec<u8>,
    splits: Vec<usize>,
}

fn message(max: usize) -> impl Strategy<Value = Message> {
    (
        length(max),
        any::<u64>(),
        prop::collection::vec(any::<Index>(), 0..8),
    )
        .prop_map(|(len, seed, cuts)| {
            let mut splits: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
            splits.sort_unstable();
            Message {
                data: bytes(seed, len),
                splits,
            }
        })
}

impl Message {
    /// Feeds the message to `hasher` in the pieces given by the split points.
    fn feed(&self, hasher: &mut Hasher) {
        let mut at = 0;
        for &cut in self.splits.iter().chain([self.data.len()].iter()) {
            hasher.update(&self.data[at..cut]);
            at = cut;
        }
    }
}

/// Context strings: mostly short, sometimes longer than one chunk (the context hash then needs
/// the tree).
fn context() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => ".{0,80}",
        1 => ("[a-z ]{1,8}", 100..300usize).prop_map(|(s, n)| s.repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn hash_matches_reference(msg in message(MAX_LEN)) {
        let expected = *blake3::hash(&msg.data).as_bytes();
        prop_assert_eq!(hash(&msg.data), expected);
        let mut hasher = Hasher::new();
        msg.feed(&mut hasher);
        prop_assert_eq!(hasher.finalize(), expected);
    }

    #[test]
    fn keyed_hash_matches_reference(key in any::<[u8; 32]>(), msg in message(MAX_LEN)) {
        let expected = *blake3::keyed_hash(&key, &msg.data).as_bytes();
        prop_assert_eq!(keyed_hash(&key, &msg.data), expected);
        let mut hasher = Hasher::new_keyed(&key);
        msg.feed(&mut hasher);
        prop_assert_eq!(hasher.finalize(), expected);
    }

    #[test]
    fn derive_key_matches_reference(ctx in context(), msg in message(MAX_LEN)) {
        let expected = blake3::derive_key(&ctx, &msg.data);
        prop_assert_eq!(derive_key(&ctx, &msg.data), expected);
        let mut hasher = Hasher::new_derive_key(&ctx);
        msg.feed(&mut hasher);
        prop_assert_eq!(hasher.finalize(), expected);
    }

    #[test]
    fn xof_matches_reference(
        mode in 0..3u8,
        key in any::<[u8; 32]>(),
        msg in message(MAX_LEN),
        out_len in length(2048),
    ) {
        let (mut ours, mut theirs) = match mode {
            0 => (Hasher::new(), blake3::Hasher::new()),
            1 => (Hasher::new_keyed(&key), blake3::Hasher::new_keyed(&key)),
            _ => (
                Hasher::new_derive_key("coconut xof test"),
                blake3::Hasher::new_derive_key("coconut xof test"),
            ),
        };
        msg.feed(&mut ours);
        theirs.update(&msg.data);
        let mut expected = vec![0u8; out_len];
        theirs.finalize_xof().fill(&mut expected);
        let mut got = vec![0u8; out_len];
        ours.finalize_xof(&mut got);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn chain_step_matches_hash_of_concatenation(
        prev in any::<[u8; OUT_LEN]>(),
        seed in any::<u64>(),
        len in length(2048),
    ) {
        let event = bytes(seed, len);
        let mut joined = prev.to_vec();
        joined.extend_from_slice(&event);
        prop_assert_eq!(chain_step(&prev, &event), *blake3::hash(&joined).as_bytes());
    }

    /// A hasher can be finalized, fed more, and finalized again; `reset` starts over.
    #[test]
    fn finalize_then_continue_and_reset(first in message(3000), second in message(3000)) {
        let mut hasher = Hasher::new();
        first.feed(&mut hasher);
        prop_assert_eq!(hasher.finalize(), *blake3::hash(&first.data).as_bytes());
        second.feed(&mut hasher);
        let mut joined = first.data.clone();
        joined.extend_from_slice(&second.data);
        prop_assert_eq!(hasher.finalize(), *blake3::hash(&joined).as_bytes());
        hasher.reset();
        second.feed(&mut hasher);
        prop_assert_eq!(hasher.finalize(), *blake3::hash(&second.data).as_bytes());
    }
}
