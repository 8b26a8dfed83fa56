//! Benchmarks against the `blake3` crate forced onto its portable scalar implementation (see the
//! dev-dependency's features in Cargo.toml), so both sides are scalar code as in the kernel.
//!
//! Groups: `chain_step_200B` (the audit hot path: `BLAKE3(head || 200-byte event)`), `hash_1KiB`
//! and `hash_64KiB`. In every group `coconut` is ours and `blake3_pure*` the reference;
//! `cargo xtask bench` reads criterion's estimates and prints ours/reference for each.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};

const EVENT_LEN: usize = 200;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn ours_chain_step(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    coconut_blake3::chain_step(prev, event)
}

/// The reference used the obvious way: a hasher fed the head, then the event.
fn reference_chain_step_hasher(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev);
    hasher.update(event);
    *hasher.finalize().as_bytes()
}

/// The reference on a concatenation in a stack buffer (its one-shot path).
fn reference_chain_step_concat(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    let mut joined = [0u8; 32 + EVENT_LEN];
    let (head, tail) = joined.split_at_mut(32);
    head.copy_from_slice(prev);
    tail.copy_from_slice(event);
    *blake3::hash(&joined).as_bytes()
}

fn ours_hash(data: &[u8]) -> [u8; 32] {
    coconut_blake3::hash(data)
}

fn reference_hash(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

type ChainFn = fn(&[u8; 32], &[u8]) -> [u8; 32];
type HashFn = fn(&[u8]) -> [u8; 32];

const CHAIN_VARIANTS: [(&str, ChainFn); 3] = [
    ("coconut", ours_chain_step),
    ("blake3_pure_hasher", reference_chain_step_hasher),
    ("blake3_pure_concat", reference_chain_step_concat),
];

const HASH_VARIANTS: [(&str, HashFn); 2] =
    [("coconut", ours_hash), ("blake3_pure", reference_hash)];

const HASH_SIZES: [(&str, usize); 2] = [("hash_1KiB", 1024), ("hash_64KiB", 64 * 1024)];

fn criterion_benches(c: &mut Criterion, prev: &[u8; 32], event: &[u8]) {
    let mut group = c.benchmark_group("chain_step_200B");
    group.throughput(Throughput::Elements(1));
    for (name, f) in CHAIN_VARIANTS {
        group.bench_function(name, |b| b.iter(|| f(black_box(prev), black_box(event))));
    }
    group.finish();
    for (group_name, len) in HASH_SIZES {
        let data = pattern(len);
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Bytes(len as u64));
        for (name, f) in HASH_VARIANTS {
            group.bench_function(name, |b| b.iter(|| f(black_box(&data))));
        }
        group.finish();
    }
}

fn main() {
    let prev = [0x5Au8; 32];
    let event = pattern(EVENT_LEN);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_benches(&mut criterion, &prev, &event);
    criterion.final_summary();
}
