//! The Merkle tree of checkpoints against a reference written from RFC 9162 §2.1's definitions
//! (`MTH`, `PATH`, `PROOF`), with the reference `blake3` crate as `H`: roots, generated proofs,
//! and verification that accepts every genuine proof and refuses every altered one.

use coconut_audit::{
    consistency_proof, consistency_proof_from, empty_root, inclusion_proof, inclusion_proof_from,
    leaf_hash, node_hash, verify_consistency, verify_inclusion, Frontier, MerkleError, Proof,
    EVENT_MAX, MAX_DEPTH,
};
use proptest::prelude::*;

type Hash = [u8; 32];

/// RFC 9162 §2.1.1: the largest power of two smaller than `n` (n > 1).
fn ref_k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn h(bytes: &[u8]) -> Hash {
    *blake3::hash(bytes).as_bytes()
}

fn ref_leaf(event: &[u8]) -> Hash {
    h(&[&[0u8][..], event].concat())
}

fn ref_node(l: &Hash, r: &Hash) -> Hash {
    h(&[&[1u8][..], l, r].concat())
}

/// `MTH(D[n])` over leaf hashes.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => h(&[]),
        1 => d[0],
        n => {
            let k = ref_k(n);
            ref_node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// `PATH(m, D[n])`.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = ref_k(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// Which side each hash of `PATH(m, D[n])` is on (true: left), leaf side first: all that the
/// verifier's hash computation depends on besides the hashes.
fn path_sides(m: usize, n: usize) -> Vec<bool> {
    if n <= 1 {
        return vec![];
    }
    let k = ref_k(n);
    let (mut sides, left) = if m < k {
        (path_sides(m, k), false)
    } else {
        (path_sides(m - k, n - k), true)
    };
    sides.push(left);
    sides
}

/// `SUBPROOF(m, D[n], b)`.
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = ref_k(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

/// How `SUBPROOF(m, D[n], b)` combines, leaf side first: 0 the first tree's root taken from
/// the proof, 1 taken from the verifier's `root1`, 2 a right sibling of the second tree only, 3
/// a left sibling of both trees.
fn subproof_shape(m: usize, n: usize, b: bool) -> Vec<u8> {
    if m == n {
        return vec![if b { 1 } else { 0 }];
    }
    let k = ref_k(n);
    let (mut shape, step) = if m <= k {
        (subproof_shape(m, k, b), 2)
    } else {
        (subproof_shape(m - k, n - k, false), 3)
    };
    shape.push(step);
    shape
}

/// `PROOF(m, D[n])`, empty for m = 0 or m = n.
fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    if m == 0 || m == d.len() {
        vec![]
    } else {
        subproof(m, d, true)
    }
}

/// Distinct leaf hashes 0..n.
fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| ref_leaf(format!("event {i}").as_bytes()))
        .collect()
}

fn flipped(mut v: Hash, byte: usize) -> Hash {
    v[byte] ^= 0x01;
    v
}

#[test]
fn hashes_are_rfc9162_domain_separated_blake3() {
    assert_eq!(empty_root(), h(b""));
    for len in [0, 1, 55, 56, 200, EVENT_MAX] {
        let event = vec![0xa5u8; len];
        assert_eq!(
            leaf_hash(&event),
            Ok(ref_leaf(&event)),
            "event of {len} bytes"
        );
    }
    assert_eq!(
        leaf_hash(&[0u8; EVENT_MAX + 1]),
        Err(MerkleError::EventTooLong)
    );
    let (l, r) = ([1u8; 32], [2u8; 32]);
    assert_eq!(node_hash(&l, &r), ref_node(&l, &r));
    assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
}

#[test]
fn frontier_root_is_mth_for_every_size_to_300() {
    let d = leaves(300);
    let mut f = Frontier::new();
    assert_eq!(f.root(), mth(&[]));
    for (i, leaf) in d.iter().enumerate() {
        f.push(leaf).unwrap();
        assert_eq!(f.size(), i as u64 + 1);
        assert_eq!(f.root(), mth(&d[..=i]), "size {}", i + 1);
    }
}

#[test]
fn inclusion_proofs_for_every_size_to_70_verify_and_every_alteration_fails() {
    let all = leaves(71);
    for n in 0..=70usize {
        let d = &all[..n];
        let root = mth(d);
        let mut out: Proof = [[0; 32]; MAX_DEPTH];
        assert_eq!(
            inclusion_proof_from(d, n as u64, &mut out),
            Err(MerkleError::IndexOutOfRange)
        );
        for i in 0..n {
            let len = inclusion_proof_from(d, i as u64, &mut out).unwrap();
            let p = &out[..len];
            assert_eq!(p, path(i, d).as_slice(), "PATH({i}, D[{n}])");
            let (iu, nu) = (i as u64, n as u64);
            assert_eq!(verify_inclusion(iu, nu, &d[i], p, &root), Ok(()));
            // Every single-byte alteration of the proof, the root and the leaf.
            for e in 0..len {
                for b in 0..32 {
                    let mut bad = p.to_vec();
                    bad[e] = flipped(bad[e], b);
                    assert_eq!(
                        verify_inclusion(iu, nu, &d[i], &bad, &root),
                        Err(MerkleError::RootMismatch),
                        "n {n} i {i} proof[{e}] byte {b}"
                    );
                }
            }
            for b in 0..32 {
                assert_eq!(
                    verify_inclusion(iu, nu, &d[i], p, &flipped(root, b)),
                    Err(MerkleError::RootMismatch)
                );
                assert_eq!(
                    verify_inclusion(iu, nu, &flipped(d[i], b), p, &root),
                    Err(MerkleError::RootMismatch)
                );
            }
            // Every other index fails. Another size fails unless its path puts every hash on the
            // same side: then the computation is the same (see
            // `a_proof_binds_the_size_only_through_its_shape`).
            for j in (0..n).filter(|&j| j != i) {
                assert!(verify_inclusion(j as u64, nu, &d[i], p, &root).is_err());
            }
            for m in (i + 1..=72).filter(|&m| m != n) {
                assert_eq!(
                    verify_inclusion(iu, m as u64, &d[i], p, &root).is_ok(),
                    path_sides(i, m) == path_sides(i, n),
                    "n {n} i {i} as size {m}"
                );
            }
            assert_eq!(
                verify_inclusion(nu, nu, &d[i], p, &root),
                Err(MerkleError::IndexOutOfRange)
            );
            // A hash more, a hash fewer.
            let mut longer = p.to_vec();
            longer.push([0; 32]);
            assert_eq!(
                verify_inclusion(iu, nu, &d[i], &longer, &root),
                Err(MerkleError::ProofTooLong)
            );
            if len > 0 {
                assert_eq!(
                    verify_inclusion(iu, nu, &d[i], &p[..len - 1], &root),
                    Err(MerkleError::ProofTooShort)
                );
            }
        }
    }
}

#[test]
fn consistency_proofs_for_every_pair_to_70_verify_and_every_alteration_fails() {
    let all = leaves(71);
    for n in 0..=70usize {
        let d = &all[..n];
        let root2 = mth(d);
        let mut out: Proof = [[0; 32]; MAX_DEPTH];
        assert_eq!(
            consistency_proof_from(d, n as u64 + 1, &mut out),
            Err(MerkleError::SizeOrder)
        );
        for m in 0..=n {
            let root1 = mth(&d[..m]);
            let len = consistency_proof_from(d, m as u64, &mut out).unwrap();
            let p = &out[..len];
            assert_eq!(p, proof(m, d).as_slice(), "PROOF({m}, D[{n}])");
            let (mu, nu) = (m as u64, n as u64);
            assert_eq!(verify_consistency(mu, nu, &root1, &root2, p), Ok(()));
            for e in 0..len {
                for b in 0..32 {
                    let mut bad = p.to_vec();
                    bad[e] = flipped(bad[e], b);
                    assert!(
                        verify_consistency(mu, nu, &root1, &root2, &bad).is_err(),
                        "m {m} n {n} proof[{e}] byte {b}"
                    );
                }
            }
            for b in 0..32 {
                assert!(verify_consistency(mu, nu, &flipped(root1, b), &root2, p).is_err());
                if m > 0 {
                    assert!(verify_consistency(mu, nu, &root1, &flipped(root2, b), p).is_err());
                }
            }
            // Other sizes with the same proof and roots. (From the empty tree, every second
            // tree is consistent: root2 is not constrained.)
            for m2 in (0..=nu).filter(|&m2| m2 != mu) {
                assert!(
                    verify_consistency(m2, nu, &root1, &root2, p).is_err(),
                    "m {m} n {n} verified as m {m2}"
                );
            }
            // As with inclusion, a second size whose proof combines the same way verifies too.
            for n2 in (m..=72).filter(|&n2| n2 != n && m > 0 && m < n) {
                assert_eq!(
                    verify_consistency(mu, n2 as u64, &root1, &root2, p).is_ok(),
                    n2 > m && subproof_shape(m, n2, true) == subproof_shape(m, n, true),
                    "m {m} n {n} as n {n2}"
                );
            }
            let mut longer = p.to_vec();
            longer.push([0; 32]);
            assert_eq!(
                verify_consistency(mu, nu, &root1, &root2, &longer),
                Err(MerkleError::ProofTooLong)
            );
            if len > 0 {
                assert_eq!(
                    verify_consistency(mu, nu, &root1, &root2, &p[..len - 1]),
                    Err(MerkleError::ProofTooShort)
                );
            }
        }
    }
}

#[test]
fn a_proof_binds_the_size_only_through_its_shape() {
    // The root of 3 leaves is also the root of a 4-leaf tree whose last two leaves hash to
    // leaf 2 of the first, so the proof of leaf 0 in size 3 verifies at size 4 too: a proof
    // authenticates a leaf under a (size, root) pair that the checkpoint signs together.
    let d = leaves(3);
    let root = mth(&d);
    let p = path(0, &d);
    assert_eq!(verify_inclusion(0, 3, &d[0], &p, &root), Ok(()));
    assert_eq!(verify_inclusion(0, 4, &d[0], &p, &root), Ok(()));
    assert_eq!(path_sides(0, 3), path_sides(0, 4));
    // Size 2 gives the path one hash fewer, so the same proof is too long there.
    assert_eq!(
        verify_inclusion(0, 2, &d[0], &p, &root),
        Err(MerkleError::ProofTooLong)
    );
}

#[test]
fn consistency_edges_name_their_failure() {
    let d = leaves(5);
    let (r3, r5) = (mth(&d[..3]), mth(&d));
    assert_eq!(
        verify_consistency(5, 3, &r5, &r3, &[]),
        Err(MerkleError::SizeOrder)
    );
    assert_eq!(verify_consistency(0, 5, &empty_root(), &r5, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 5, &r3, &r5, &[]),
        Err(MerkleError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 5, &empty_root(), &r5, &[r3]),
        Err(MerkleError::ProofTooLong)
    );
    assert_eq!(verify_consistency(5, 5, &r5, &r5, &[]), Ok(()));
    assert_eq!(
        verify_consistency(5, 5, &r5, &r3, &[]),
        Err(MerkleError::RootMismatch)
    );
    // 0 < m < n needs a proof; m = 3 is not a power of two, so an empty one is too short.
    assert_eq!(
        verify_consistency(3, 5, &r3, &r5, &[]),
        Err(MerkleError::ProofTooShort)
    );
    // A wrong old root with an otherwise genuine proof.
    let p = proof(3, &d);
    assert_eq!(
        verify_consistency(3, 5, &r5, &r5, &p),
        Err(MerkleError::OldRootMismatch)
    );
}

/// A cheap accessor for large trees: leaf i is H(0x00 || le64(i)).
fn synthetic(i: u64) -> Hash {
    ref_leaf(&i.to_le_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn large_random_sizes_prove_against_the_frontier(
        n in 1u64..200_000,
        a in any::<u64>(),
        b in any::<u64>(),
    ) {
        let m = a % (n + 1);
        let i = b % n;
        let mut f = Frontier::new();
        let mut root1 = f.root();
        for j in 0..n {
            if j == m {
                root1 = f.root();
            }
            f.push(&synthetic(j)).unwrap();
        }
        if m == n {
            root1 = f.root();
        }
        let root2 = f.root();
        let mut out: Proof = [[0; 32]; MAX_DEPTH];
        let len = consistency_proof(&mut synthetic, m, n, &mut out).unwrap();
        prop_assert_eq!(verify_consistency(m, n, &root1, &root2, &out[..len]), Ok(()));
        if len > 0 {
            let mut bad = out[..len].to_vec();
            bad[len / 2][7] ^= 0x80;
            prop_assert!(verify_consistency(m, n, &root1, &root2, &bad).is_err());
        }
        let len = inclusion_proof(&mut synthetic, i, n, &mut out).unwrap();
        prop_assert_eq!(verify_inclusion(i, n, &synthetic(i), &out[..len], &root2), Ok(()));
        prop_assert!(verify_inclusion(i, n, &synthetic(i ^ 1), &out[..len], &root2).is_err());
    }

    #[test]
    fn frontier_root_equals_mth_for_random_events(
        events in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=EVENT_MAX), 0..80),
    ) {
        let mut f = Frontier::new();
        let mut d = Vec::new();
        for e in &events {
            let leaf = leaf_hash(e).unwrap();
            prop_assert_eq!(leaf, ref_leaf(e));
            f.push(&leaf).unwrap();
            d.push(leaf);
            prop_assert_eq!(f.root(), mth(&d));
        }
    }
}
