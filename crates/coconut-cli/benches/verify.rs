//! Benchmark of `coconut audit verify`'s work: an in-memory `chain.log` of 100 000 rows (one
//! boot, ~200-byte events) through `coconut_cli::verify::verify` (parse each line canonically,
//! rebuild the event, push it into the shared verifier). Criterion reports rows/s
//! (`Throughput::Elements`) and, in a second group, bytes/s; the goal is ≥ 1 M rows/s on one
//! core.

use std::hint::black_box;
use std::time::Duration;

use coconut_abi::{Aid, AuditKind};
use coconut_cli::verify::{verify, Input};
use criterion::{Criterion, Throughput};
use libcoconut::audit::shared::{Chain, Record, EVENT_MAX};
use libcoconut::audit::{AuditRow, RowRef};

const ROWS: u64 = 100_000;

/// chain.log text of `ROWS` rows: a boot row, then cap_revoke rows with a 140-byte detail.
fn chain_log() -> Vec<u8> {
    let detail = "cap=net.connect:api.example.com:443 removed=3 agents=2 ".repeat(3);
    let detail = &detail[..140];
    let mut chain = Chain::from_genesis([7; 32], 1, None);
    let mut out = Vec::new();
    let mut buf = [0u8; EVENT_MAX];
    for i in 0..ROWS {
        let rec = Record {
            kind: if i == 0 {
                AuditKind::Boot
            } else {
                AuditKind::CapRevoke
            },
            time_ns: 1_767_225_600_000_000_000 + i * 1000,
            actor: Aid::new(12).unwrap(),
            subject: Aid::new(345).unwrap(),
            result: 0,
            detail: if i == 0 {
                "boot=1 abi=1 kernel=6.12.0 seed=soft"
            } else {
                detail
            },
        };
        let (row, len) = chain.seal(&rec, &mut buf).unwrap();
        let r = AuditRow::from_row_ref(RowRef {
            prev: &row.prev,
            event: &buf[..len],
            hash: &row.hash,
        })
        .unwrap();
        out.extend_from_slice(r.to_json().unwrap().as_bytes());
        out.push(b'\n');
    }
    out
}

fn main() {
    let log = chain_log();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let run = |log: &[u8]| {
        let intact = verify([Ok(Input::from_bytes("bench", log))], None).unwrap();
        assert_eq!(intact.rows, ROWS);
        black_box(intact);
    };
    let mut g = c.benchmark_group("verify_chain_log_100k");
    g.throughput(Throughput::Elements(ROWS));
    g.bench_function("rows", |b| b.iter(|| run(&log)));
    g.finish();
    let mut g = c.benchmark_group("verify_chain_log_100k_bytes");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.bench_function("bytes", |b| b.iter(|| run(&log)));
    g.finish();
    c.final_summary();
}
