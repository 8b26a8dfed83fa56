//! Fuzz target `hash`: arbitrary bytes fed through arbitrary update splits, in every mode,
//! compared with the `blake3` crate: `finalize`, `finalize_xof` of an arbitrary length, the
//! one-shot functions, and `chain_step` against the hash of the concatenation.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    key: [u8; 32],
    context: String,
    /// Piece sizes for successive `update` calls (cycled; a zero piece is an empty update, all
    /// zeros or none means one update).
    pieces: Vec<u16>,
    xof_len: u16,
    data: Vec<u8>,
}

fn feed(hasher: &mut coconut_blake3::Hasher, data: &[u8], pieces: &[u16]) {
    if pieces.iter().all(|&p| p == 0) {
        hasher.update(&[]);
        hasher.update(data);
        return;
    }
    let mut rest = data;
    for &size in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(usize::from(size).min(rest.len()));
        hasher.update(head);
        rest = tail;
    }
}

fuzz_target!(|input: Input| {
    let data = &input.data;
    let (mut ours, mut theirs, one_shot_ours, one_shot_theirs) = match input.mode % 3 {
        0 => (
            coconut_blake3::Hasher::new(),
            blake3::Hasher::new(),
            coconut_blake3::hash(data),
            *blake3::hash(data).as_bytes(),
        ),
        1 => (
            coconut_blake3::Hasher::new_keyed(&input.key),
            blake3::Hasher::new_keyed(&input.key),
            coconut_blake3::keyed_hash(&input.key, data),
            *blake3::keyed_hash(&input.key, data).as_bytes(),
        ),
        _ => (
            coconut_blake3::Hasher::new_derive_key(&input.context),
            blake3::Hasher::new_derive_key(&input.context),
            coconut_blake3::derive_key(&input.context, data),
            blake3::derive_key(&input.context, data),
        ),
    };
    assert_eq!(one_shot_ours, one_shot_theirs, "one-shot");
    feed(&mut ours, data, &input.pieces);
    theirs.update(data);
    assert_eq!(ours.finalize(), *theirs.finalize().as_bytes(), "finalize");

    let len = usize::from(input.xof_len % 4096);
    let mut got = vec![0u8; len];
    let mut expected = vec![0u8; len];
    ours.finalize_xof(&mut got);
    theirs.finalize_xof().fill(&mut expected);
    assert_eq!(got, expected, "finalize_xof({len})");

    let mut joined = input.key.to_vec();
    joined.extend_from_slice(data);
    assert_eq!(
        coconut_blake3::chain_step(&input.key, data),
        *blake3::hash(&joined).as_bytes(),
        "chain_step"
    );
});
