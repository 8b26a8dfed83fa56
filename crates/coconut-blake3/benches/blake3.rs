//! Benchmarks against the `blake3` crate forced onto its portable scalar implementation (see the
//! dev-dependency's features in Cargo.toml), so both sides are scalar code as in the kernel.
//!
//! Groups: `chain_step_200B` (the audit hot path: `BLAKE3(head || 200-byte event)`), `hash_1KiB`
//! and `hash_64KiB`. In every group `coconut` is ours and `blake3_pure*` is the reference.
//!
//! After criterion, a summary measures each group again with the variants interleaved and keeps
//! the fastest batch of each (the minimum is what a busy, shared machine disturbs least), then
//! prints ns per operation and the ratio reference time / our time (above 1.0: ours is faster).

// The benchmark harness runs on the host only; floats are fine here.
#![allow(clippy::float_arithmetic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Times `variants` in interleaved batches and returns the fastest batch of each, in ns per call.
fn interleaved_min_ns(variants: &mut [Box<dyn FnMut() + '_>], batch_target: Duration) -> Vec<f64> {
    const ROUNDS: usize = 200;
    // Calibrate one batch size for all variants from the first one.
    let mut iters: u32 = 1;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            (variants[0])();
        }
        if start.elapsed() >= batch_target || iters >= 1 << 24 {
            break;
        }
        iters *= 2;
    }
    let mut best = vec![f64::MAX; variants.len()];
    for _ in 0..ROUNDS {
        for (variant, best) in variants.iter_mut().zip(best.iter_mut()) {
            let start = Instant::now();
            for _ in 0..iters {
                variant();
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
            *best = best.min(ns);
        }
    }
    best
}

fn print_group(group: &str, names: &[&str], times: &[f64], bytes: Option<usize>) {
    let ours = times[0];
    let rate = match bytes {
        Some(n) => format!("{:.0} MiB/s", n as f64 / ours * 1e9 / (1024.0 * 1024.0)),
        None => format!("{:.2} M steps/s", 1e3 / ours),
    };
    println!("{group}/{}: {ours:.1} ns ({rate})", names[0]);
    for (name, theirs) in names.iter().zip(times).skip(1) {
        println!(
            "{group}/{name}: {theirs:.1} ns, ratio {name}/coconut = {:.2}x",
            theirs / ours
        );
    }
}

fn summary(prev: &[u8; 32], event: &[u8]) {
    println!("\nsummary: fastest of 200 interleaved batches per variant");
    let mut closures: Vec<Box<dyn FnMut() + '_>> = CHAIN_VARIANTS
        .iter()
        .map(|&(_, f)| -> Box<dyn FnMut() + '_> {
            Box::new(move || {
                black_box(f(black_box(prev), black_box(event)));
            })
        })
        .collect();
    let times = interleaved_min_ns(&mut closures, Duration::from_micros(200));
    let names: Vec<&str> = CHAIN_VARIANTS.iter().map(|&(n, _)| n).collect();
    print_group("chain_step_200B", &names, &times, None);

    for (group, len) in HASH_SIZES {
        let data = pattern(len);
        let data = data.as_slice();
        let mut closures: Vec<Box<dyn FnMut() + '_>> = HASH_VARIANTS
            .iter()
            .map(|&(_, f)| -> Box<dyn FnMut() + '_> {
                Box::new(move || {
                    black_box(f(black_box(data)));
                })
            })
            .collect();
        let times = interleaved_min_ns(&mut closures, Duration::from_micros(500));
        let names: Vec<&str> = HASH_VARIANTS.iter().map(|&(n, _)| n).collect();
        print_group(group, &names, &times, Some(len));
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
    // `cargo test --benches` and `--list` run the harness too; the summary is for real runs.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    if !quick {
        summary(&prev, &event);
    }
}
