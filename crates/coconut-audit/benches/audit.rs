//! Benchmarks of the audit chain's two throughput paths.
//!
//! - `seal_200B`: `Chain::seal` of a record whose event is 200 bytes (encode the header and
//!   detail into a buffer, then one `chain_step`) — the sealer kthread's per-row work. Compared
//!   with `chain_step_only`, the bound a serial chain cannot beat (the design goal is sealing at
//!   ≥ 80 % of its speed: ours/reference at most 1.25), and with the reference `blake3` crate
//!   hashing `prev || event`.
//! - `verify_100k`: `verify_segment` over 100 000 binary rows of ~200-byte events, and the
//!   same rows through `verify_rows` from `(prev, event, hash)` tuples (what `coconut audit
//!   verify` does after parsing `chain.log`). The goal is ≥ 1 M rows/s on the host.
//!
//! `cargo xtask bench` reads criterion's estimates and prints each figure with its throughput
//! and ours/reference where a group has a reference.

use std::hint::black_box;
use std::time::Duration;

use coconut_abi::{Aid, AuditKind, AGENT_AUDIT_EVENT_HDR_SIZE};
use coconut_audit::{encode_row, verify_rows, verify_segment, Chain, Record, RowRef, EVENT_MAX};
use criterion::{Criterion, Throughput};

const EVENT_LEN: usize = 200;
const ROWS: usize = 100_000;

/// A detail that makes the event exactly 200 bytes.
fn detail() -> String {
    let base = "cap=net.connect:api.example.com:443 removed=3 agents=2 from=ACTIVE to=CAP_DENIED ";
    let mut d = base.repeat(3);
    d.truncate(EVENT_LEN - AGENT_AUDIT_EVENT_HDR_SIZE);
    d
}

fn record(detail: &str) -> Record<'_> {
    Record {
        kind: AuditKind::CapRevoke,
        time_ns: 1_700_000_000_000_000_000,
        actor: Aid::new(12).unwrap(),
        subject: Aid::new(345).unwrap(),
        result: 0,
        detail,
    }
}

/// A fresh chain past its boot row, ready for ordinary records.
fn chain() -> Chain {
    let mut c = Chain::from_genesis([7; 32], 1, None);
    let boot = Record {
        kind: AuditKind::Boot,
        ..record("")
    };
    c.seal(&boot, &mut [0u8; EVENT_MAX]).unwrap();
    c
}

/// 100 000 sealed rows: a binary segment, and owned (prev, event, hash) rows.
/// An owned row: (prev, event bytes, hash).
type OwnedRow = ([u8; 32], Vec<u8>, [u8; 32]);

fn rows(detail: &str) -> (Vec<u8>, Vec<OwnedRow>) {
    let mut c = Chain::from_genesis([7; 32], 1, None);
    let mut seg = Vec::with_capacity(ROWS * (72 + EVENT_LEN));
    let mut owned = Vec::with_capacity(ROWS);
    let mut ev = [0u8; EVENT_MAX];
    let mut row = [0u8; 72 + EVENT_MAX];
    for i in 0..ROWS {
        let rec = if i == 0 {
            Record {
                kind: AuditKind::Boot,
                ..record(detail)
            }
        } else {
            record(detail)
        };
        let (r, n) = c.seal(&rec, &mut ev).unwrap();
        let m = encode_row(&r.prev, &r.hash, &ev[..n], &mut row).unwrap();
        seg.extend_from_slice(&row[..m]);
        owned.push((r.prev, ev[..n].to_vec(), r.hash));
    }
    (seg, owned)
}

fn reference_step(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    let mut joined = [0u8; 32 + EVENT_LEN];
    joined[..32].copy_from_slice(prev);
    joined[32..].copy_from_slice(event);
    *blake3::hash(&joined).as_bytes()
}

fn verify_tuples(owned: &[OwnedRow]) -> u64 {
    verify_rows(owned.iter().map(|(p, e, h)| RowRef {
        prev: p,
        event: e,
        hash: h,
    }))
    .unwrap()
    .rows
}

fn criterion_benches(c: &mut Criterion, detail: &str) {
    let rec = record(detail);
    let mut buf = [0u8; EVENT_MAX];
    let mut sealer = chain();
    let (_, n) = sealer.clone().seal(&rec, &mut buf).unwrap();
    assert_eq!(n, EVENT_LEN);
    let event = buf[..n].to_vec();

    let mut g = c.benchmark_group("seal_200B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("coconut_seal", |b| {
        b.iter(|| black_box(sealer.seal(black_box(&rec), &mut buf).unwrap()))
    });
    g.bench_function("chain_step_only", |b| {
        b.iter(|| coconut_blake3::chain_step(black_box(&[7; 32]), black_box(&event)))
    });
    g.bench_function("blake3_crate_hash", |b| {
        b.iter(|| reference_step(black_box(&[7; 32]), black_box(&event)))
    });
    g.finish();

    let (seg, owned) = rows(detail);
    let mut g = c.benchmark_group("verify_100k");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("coconut_verify_segment", |b| {
        b.iter(|| verify_segment(black_box(&seg)).unwrap())
    });
    g.bench_function("coconut_verify_rows_tuples", |b| {
        b.iter(|| verify_tuples(black_box(&owned)))
    });
    g.finish();
}

fn main() {
    let detail = detail();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_benches(&mut c, &detail);
    c.final_summary();
}
