//! Benchmarks of the checkpoint Merkle tree.
//!
//! - `frontier_push`: [`Frontier::push`] of one leaf hash into a tree of 1 M leaves and more
//!   (amortised one node hash a push), and `leaf_hash` + push of a 200-byte event, the per-row
//!   cost the sealer adds to `Chain::seal`. `node_hash_only` is one node hash, the bound.
//! - `inclusion_1M`: [`verify_inclusion`] of a leaf in a tree of 2^20 + 12345 leaves (21 node
//!   hashes), what `coconut audit prove` costs a verifier.

use std::hint::black_box;
use std::time::Duration;

use coconut_audit::{
    inclusion_proof, leaf_hash, node_hash, verify_inclusion, Frontier, Proof, MAX_DEPTH,
};
use criterion::{Criterion, Throughput};

const N: u64 = (1 << 20) + 12_345;

fn leaf(i: u64) -> [u8; 32] {
    leaf_hash(&i.to_le_bytes()).unwrap()
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let mut frontier = Frontier::new();
    for i in 0..N {
        frontier.push(&leaf(i)).unwrap();
    }
    let root = frontier.root();
    let event = [0x5au8; 200];

    let mut g = c.benchmark_group("frontier_push");
    g.throughput(Throughput::Elements(1));
    let mut f = frontier.clone();
    g.bench_function("push", |b| b.iter(|| f.push(black_box(&[3; 32])).unwrap()));
    let mut f = frontier.clone();
    g.bench_function("leaf_hash_200B_and_push", |b| {
        b.iter(|| f.push(&leaf_hash(black_box(&event)).unwrap()).unwrap())
    });
    g.bench_function("node_hash_only", |b| {
        b.iter(|| node_hash(black_box(&[1; 32]), black_box(&[2; 32])))
    });
    g.finish();

    let index = 777_777;
    let mut proof: Proof = [[0; 32]; MAX_DEPTH];
    let len = inclusion_proof(&mut leaf, index, N, &mut proof).unwrap();
    let proof = &proof[..len];
    let target = leaf(index);
    verify_inclusion(index, N, &target, proof, &root).unwrap();

    let mut g = c.benchmark_group("inclusion_1M");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| {
            verify_inclusion(
                black_box(index),
                black_box(N),
                black_box(&target),
                black_box(proof),
                black_box(&root),
            )
            .unwrap()
        })
    });
    g.finish();
    c.final_summary();
}
