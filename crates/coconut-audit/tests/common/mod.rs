//! Shared test code: generators of records and details, and a builder of multi-boot chains.
#![allow(dead_code)]

use coconut_abi::{Aid, AuditKind, AID_MAX};
use coconut_audit::{encode_row, Chain, PrevBoot, Record, RowRef, EVENT_MAX};
use proptest::prelude::*;

/// An owned row: (prev, event bytes, hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRow {
    pub prev: [u8; 32],
    pub event: Vec<u8>,
    pub hash: [u8; 32],
}

impl OwnedRow {
    pub fn as_ref(&self) -> RowRef<'_> {
        RowRef {
            prev: &self.prev,
            event: &self.event,
            hash: &self.hash,
        }
    }
}

/// The binary segment of some rows (what `agent_audit_query` returns).
pub fn segment(rows: &[OwnedRow]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 72 + EVENT_MAX];
    for r in rows {
        let n = encode_row(&r.prev, &r.hash, &r.event, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Characters details are made of: the usual key=value text, JSON specials and non-ASCII.
const DETAIL_CHARS: &[char] = &[
    'a', 'b', 'z', 'A', 'Z', '0', '9', '=', ' ', ':', '/', '.', '-', '_', '"', '\\', '\'', '{',
    '}', 'é', 'ü', '✓', '→', '😀', '\u{a0}', '\u{2028}',
];

/// A valid detail: at most 256 bytes, no control characters.
pub fn detail() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(DETAIL_CHARS.to_vec()), 0..90),
        1 => prop::collection::vec(prop::sample::select(DETAIL_CHARS.to_vec()), 200..260),
    ]
    .prop_map(|chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > 256 {
                break;
            }
            s.push(c);
        }
        s
    })
}

/// An AID, mostly small, sometimes at the extremes.
pub fn aid() -> impl Strategy<Value = Aid> {
    prop_oneof![
        4 => 0u64..200_000,
        1 => Just(AID_MAX),
        1 => 0..=AID_MAX,
    ]
    .prop_map(|v| Aid::new(v).unwrap())
}

/// A kind that may appear anywhere after seq 1 (not boot, not link).
pub fn ordinary_kind() -> impl Strategy<Value = AuditKind> {
    prop::sample::select(
        AuditKind::ALL
            .iter()
            .copied()
            .filter(|k| *k != AuditKind::Boot && *k != AuditKind::Link)
            .collect::<Vec<_>>(),
    )
}

/// The fields of an ordinary record, owned.
#[derive(Debug, Clone)]
pub struct RecordData {
    pub kind: AuditKind,
    pub time_ns: u64,
    pub actor: Aid,
    pub subject: Aid,
    pub result: i32,
    pub detail: String,
}

impl RecordData {
    pub fn record(&self) -> Record<'_> {
        Record {
            kind: self.kind,
            time_ns: self.time_ns,
            actor: self.actor,
            subject: self.subject,
            result: self.result,
            detail: &self.detail,
        }
    }
}

pub fn record_data() -> impl Strategy<Value = RecordData> {
    (
        ordinary_kind(),
        any::<u64>(),
        aid(),
        aid(),
        any::<i32>(),
        detail(),
    )
        .prop_map(
            |(kind, time_ns, actor, subject, result, detail)| RecordData {
                kind,
                time_ns,
                actor,
                subject,
                result,
                detail,
            },
        )
}

/// Seals a chain of several boots: each boot starts with its boot row and, from the second
/// boot on, the link row naming the previous boot's last row; then `sizes[b]` ordinary rows
/// from `records` (cycled). Boot counters start at `first_boot` and increase by `step`.
pub fn build_chain(
    seed: &[u8; 32],
    first_boot: u64,
    step: u64,
    sizes: &[usize],
    records: &[RecordData],
) -> Vec<OwnedRow> {
    let mut rows = Vec::new();
    let mut previous: Option<PrevBoot> = None;
    let mut n = 0usize;
    let mut buf = [0u8; EVENT_MAX];
    for (b, &size) in sizes.iter().enumerate() {
        let boot = first_boot + step * b as u64;
        let mut chain = Chain::start(seed, boot, previous);
        let boot_rec = Record {
            kind: AuditKind::Boot,
            time_ns: 1_700_000_000_000_000_000 + boot,
            actor: Aid::BOOT,
            subject: Aid::BOOT,
            result: 0,
            detail: "kernel=6.12 seed=test",
        };
        let mut push = |chain: &mut Chain, rec: &Record<'_>| {
            let (row, len) = chain.seal(rec, &mut buf).unwrap();
            rows.push(OwnedRow {
                prev: row.prev,
                event: buf[..len].to_vec(),
                hash: row.hash,
            });
        };
        push(&mut chain, &boot_rec);
        if let Some(p) = previous {
            let mut text = [0u8; coconut_audit::LINK_DETAIL_MAX];
            let detail = p.encode(&mut text).to_string();
            let link = Record {
                kind: AuditKind::Link,
                detail: &detail,
                ..boot_rec
            };
            push(&mut chain, &link);
        }
        for _ in 0..size {
            if records.is_empty() {
                break;
            }
            let rec = records[n % records.len()].record();
            n += 1;
            push(&mut chain, &rec);
        }
        previous = Some(PrevBoot {
            boot,
            last_seq: chain.next_seq() - 1,
            head: *chain.head(),
        });
    }
    rows
}
