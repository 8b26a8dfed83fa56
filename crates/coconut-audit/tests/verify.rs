//! Verification: intact chains verify; tampering, truncation, reordering, a boot without its
//! link, a wrong genesis, and malformed bytes are each caught at the first bad row.

mod common;

use coconut_abi::{Aid, AuditDecodeError, AuditKind};
use coconut_audit::{
    decode_row, encode_row, genesis, verify_rows, verify_segment, AuditError, Chain, PrevBoot,
    Record, RowRef, Rows, Verifier, VerifyError, VerifyErrorKind, EVENT_MAX, LINK_DETAIL_MAX,
};
use common::{build_chain, record_data, segment, OwnedRow, RecordData};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const SEED: [u8; 32] = [0x5e; 32];

fn records(n: usize) -> Vec<RecordData> {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| record_data().new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Three boots (counters 7, 8, 10) of 4, 0 and 3 ordinary rows: 5 + 2 + 5 rows.
fn three_boots() -> Vec<OwnedRow> {
    let rows = build_chain(&SEED, 7, 1, &[4, 0, 3], &records(7));
    // The third boot skips a counter (a boot that sealed nothing): rebuild it as boot 10.
    let mut out: Vec<OwnedRow> = rows[..7].to_vec();
    let last = &rows[6];
    let prev = PrevBoot {
        boot: 8,
        last_seq: 1,
        head: last.hash,
    };
    let mut chain = Chain::start(&SEED, 10, Some(prev));
    let mut buf = [0u8; EVENT_MAX];
    let mut text = [0u8; LINK_DETAIL_MAX];
    let link_detail = prev.encode(&mut text).to_string();
    let boot = Record {
        kind: AuditKind::Boot,
        time_ns: 1,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail: "",
    };
    let link = Record {
        kind: AuditKind::Link,
        detail: &link_detail,
        ..boot
    };
    let recs = records(3);
    let mut all: Vec<Record<'_>> = vec![boot, link];
    all.extend(recs.iter().map(RecordData::record));
    for r in &all {
        let (row, n) = chain.seal(r, &mut buf).unwrap();
        out.push(OwnedRow {
            prev: row.prev,
            event: buf[..n].to_vec(),
            hash: row.hash,
        });
    }
    out
}

fn verify(rows: &[OwnedRow]) -> Result<coconut_audit::Summary, VerifyError> {
    verify_rows(rows.iter().map(OwnedRow::as_ref))
}

fn err(index: u64, kind: VerifyErrorKind) -> Result<coconut_audit::Summary, VerifyError> {
    Err(VerifyError { index, kind })
}

#[test]
fn intact_chains_verify_in_every_form() {
    let rows = three_boots();
    assert_eq!(rows.len(), 12);
    let summary = verify(&rows).unwrap();
    assert_eq!(summary.rows, 12);
    assert_eq!(summary.head, Some(rows[11].hash));
    assert_eq!(summary.last, Some((10, 4)));
    // Binary segment, tuples, and a fully informed verifier.
    assert_eq!(verify_segment(&segment(&rows)), Ok(summary));
    assert_eq!(
        verify_rows(rows.iter().map(|r| (&r.prev, r.event.as_slice(), &r.hash))),
        Ok(summary)
    );
    let mut v = Verifier::new()
        .with_seed(SEED)
        .expect_first_prev(genesis(&SEED, 7));
    for r in &rows {
        v.push(r.as_ref()).unwrap();
    }
    assert_eq!(v.rows(), 12);
    assert_eq!(v.finish(Some(&rows[11].hash)), Ok(summary));
    // Empty input verifies (and has no head).
    let empty = verify(&[]).unwrap();
    assert_eq!((empty.rows, empty.head, empty.last), (0, None, None));
    assert_eq!(verify_segment(&[]), Ok(empty));
    // Starting mid-chain is fine without expectations.
    assert!(verify(&rows[3..]).is_ok());
}

#[test]
fn truncation_is_caught() {
    let rows = three_boots();
    let head = rows[11].hash;
    // At the end: only the head shows it.
    let short = &rows[..11];
    assert!(verify(short).is_ok());
    let mut v = Verifier::new();
    for r in short {
        v.push(r.as_ref()).unwrap();
    }
    assert_eq!(
        v.finish(Some(&head)),
        Err(VerifyError {
            index: 11,
            kind: VerifyErrorKind::HeadMismatch
        })
    );
    // At the start: the expected first prev shows it.
    let v = Verifier::new().expect_first_prev(genesis(&SEED, 7));
    assert_eq!(
        v.verify_rows(rows[1..].iter().map(OwnedRow::as_ref)),
        err(0, VerifyErrorKind::BrokenLink)
    );
    // In the middle, within a boot: a seq gap at the row after the hole.
    let mut cut = rows.clone();
    cut.remove(2);
    assert_eq!(verify(&cut), err(2, VerifyErrorKind::SeqGap));
    // The link row of a boot.
    let mut cut = rows.clone();
    cut.remove(6);
    assert_eq!(verify(&cut), err(6, VerifyErrorKind::MissingLink));
    // A boot row: the link row then follows another boot.
    let mut cut = rows.clone();
    cut.remove(5);
    assert_eq!(verify(&cut), err(5, VerifyErrorKind::BootChange));
    // The last row of a boot: the next boot's link names a row that is not there.
    let mut cut = rows.clone();
    cut.remove(4);
    assert_eq!(verify(&cut), err(5, VerifyErrorKind::BadLink));
    // A new boot's boot row as the last row, after another boot.
    assert_eq!(verify(&rows[..8]), err(8, VerifyErrorKind::MissingLink));
}

#[test]
fn reordering_and_duplication_are_caught() {
    let rows = three_boots();
    let mut swapped = rows.clone();
    swapped.swap(2, 3);
    assert_eq!(verify(&swapped), err(2, VerifyErrorKind::SeqGap));
    let mut dup = rows.clone();
    dup.insert(3, rows[2].clone());
    assert_eq!(verify(&dup), err(3, VerifyErrorKind::SeqGap));
    // Whole boots out of order.
    let mut boots = rows[5..7].to_vec();
    boots.extend_from_slice(&rows[..5]);
    assert_eq!(verify(&boots), err(2, VerifyErrorKind::BootChange));
    // A row moved to another position with its seq rewritten still breaks the hash links:
    // take row 3's event, give it row 2's seq, re-hash it on row 1's head.
    let mut forged = rows.clone();
    let mut ev = rows[3].event.clone();
    ev[8..16].copy_from_slice(&2u64.to_le_bytes());
    let hash = coconut_blake3::chain_step(&rows[1].hash, &ev);
    forged[2] = OwnedRow {
        prev: rows[1].hash,
        event: ev,
        hash,
    };
    assert_eq!(verify(&forged), err(3, VerifyErrorKind::BrokenLink));
}

#[test]
fn genesis_and_link_content_are_checked() {
    let rows = three_boots();
    // A chain re-sealed under another seed verifies structurally but not against the seed.
    let other = build_chain(&[1; 32], 7, 1, &[2], &records(2));
    assert!(verify(&other).is_ok());
    assert_eq!(
        Verifier::new()
            .with_seed(SEED)
            .verify_rows(other.iter().map(OwnedRow::as_ref)),
        err(0, VerifyErrorKind::BadGenesis)
    );
    assert_eq!(
        Verifier::new()
            .with_seed(SEED)
            .verify_rows(rows.iter().map(OwnedRow::as_ref)),
        verify(&rows)
    );
    // A link naming a different previous head, correctly hashed: BadLink at the link row.
    let mut forged = rows[..7].to_vec();
    let wrong = PrevBoot {
        boot: 7,
        last_seq: 4,
        head: [0; 32],
    };
    let mut text = [0u8; LINK_DETAIL_MAX];
    let mut chain = Chain::start(&SEED, 8, Some(wrong));
    let mut buf = [0u8; EVENT_MAX];
    let boot = Record {
        kind: AuditKind::Boot,
        time_ns: 1,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail: "",
    };
    for (i, r) in [
        boot,
        Record {
            kind: AuditKind::Link,
            detail: wrong.encode(&mut text),
            ..boot
        },
    ]
    .iter()
    .enumerate()
    {
        let (row, n) = chain.seal(r, &mut buf).unwrap();
        forged[5 + i] = OwnedRow {
            prev: row.prev,
            event: buf[..n].to_vec(),
            hash: row.hash,
        };
    }
    assert_eq!(verify(&forged), err(6, VerifyErrorKind::BadLink));
}

#[test]
fn malformed_rows_are_named() {
    let rows = three_boots();
    let seg = segment(&rows);
    // A segment cut inside a row: the partial row is malformed.
    let cut = &seg[..seg.len() - 10];
    assert_eq!(
        verify_segment(cut),
        err(
            11,
            VerifyErrorKind::Malformed(AuditError::Decode(AuditDecodeError::Truncated))
        )
    );
    // Trailing garbage shorter than a header.
    let mut extra = seg.clone();
    extra.extend_from_slice(&[0; 5]);
    assert_eq!(
        verify_segment(&extra),
        err(
            12,
            VerifyErrorKind::Malformed(AuditError::Decode(AuditDecodeError::Truncated))
        )
    );
    // Rows decode one by one and say where the next starts.
    let (first, rest) = decode_row(&seg).unwrap();
    assert_eq!(first, rows[0].as_ref());
    assert_eq!(rest.len(), seg.len() - 72 - rows[0].event.len());
    assert_eq!(Rows::new(&seg).count(), 12);
    assert_eq!(Rows::new(cut).filter(Result::is_err).count(), 1);
    // encode_row refuses events of impossible length and short buffers.
    let mut buf = [0u8; 400];
    assert_eq!(
        encode_row(&[0; 32], &[0; 32], &[0; 55], &mut buf),
        Err(AuditError::Decode(AuditDecodeError::LengthMismatch))
    );
    assert_eq!(
        encode_row(&[0; 32], &[0; 32], &[0; 313], &mut buf),
        Err(AuditError::Decode(AuditDecodeError::LengthMismatch))
    );
    assert_eq!(
        encode_row(&[0; 32], &[0; 32], &rows[0].event, &mut buf[..100]),
        Err(AuditError::BufferTooSmall)
    );
    // After the first failure a verifier keeps reporting it.
    let mut v = Verifier::new();
    let mut bad = rows[0].clone();
    bad.hash[0] ^= 1;
    let e = v.push(bad.as_ref()).unwrap_err();
    assert_eq!(v.push(rows[0].as_ref()), Err(e));
    assert_eq!(v.finish(None), Err(e));
    assert_eq!(
        e.to_string(),
        format!("row 0: {}", VerifyErrorKind::HashMismatch)
    );
}

#[test]
fn misplaced_kinds_are_caught_even_when_correctly_hashed() {
    // Hand-made rows (the Chain refuses to make them): a spawn event at seq 0.
    let g = genesis(&SEED, 1);
    let mut buf = [0u8; EVENT_MAX];
    let ev = coconut_audit::Event {
        kind: AuditKind::Spawn,
        seq: 0,
        boot: 1,
        time_ns: 0,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail: "",
    };
    let n = ev.encode(&mut buf).unwrap();
    let hash = coconut_blake3::chain_step(&g, &buf[..n]);
    let row = OwnedRow {
        prev: g,
        event: buf[..n].to_vec(),
        hash,
    };
    assert_eq!(verify(&[row]), err(0, VerifyErrorKind::MisplacedKind));
    // A link row with a broken grammar.
    let ev = coconut_audit::Event {
        kind: AuditKind::Link,
        seq: 1,
        detail: "prev_boot=x",
        ..ev
    };
    let n = ev.encode(&mut buf).unwrap();
    let row = OwnedRow {
        prev: g,
        event: buf[..n].to_vec(),
        hash: coconut_blake3::chain_step(&g, &buf[..n]),
    };
    assert_eq!(verify(&[row]), err(0, VerifyErrorKind::BadLink));
}

#[test]
fn filtered_segments_verify_with_gaps_allowed() {
    let rows = three_boots();
    // Keep every other row, as a kind or subject filter might.
    let some: Vec<OwnedRow> = rows.iter().step_by(2).cloned().collect();
    assert!(verify(&some).is_err());
    let s = Verifier::new()
        .allow_gaps()
        .verify_rows(some.iter().map(OwnedRow::as_ref))
        .unwrap();
    assert_eq!(s.rows, 6);
    // Gaps do not excuse going backwards, altered rows, or broken links between neighbours.
    let mut back = some.clone();
    back.swap(0, 1);
    assert_eq!(
        Verifier::new()
            .allow_gaps()
            .verify_rows(back.iter().map(OwnedRow::as_ref)),
        err(1, VerifyErrorKind::SeqGap)
    );
    let mut altered = rows.clone();
    altered[3].event[30] ^= 1;
    assert_eq!(
        Verifier::new()
            .allow_gaps()
            .verify_rows(altered.iter().map(OwnedRow::as_ref)),
        err(3, VerifyErrorKind::HashMismatch)
    );
    let mut relinked = rows.clone();
    let mut ev = rows[3].event.clone();
    ev[30] ^= 1;
    relinked[3].hash = coconut_blake3::chain_step(&relinked[3].prev, &ev);
    relinked[3].event = ev;
    assert_eq!(
        Verifier::new()
            .allow_gaps()
            .verify_rows(relinked.iter().map(OwnedRow::as_ref)),
        err(4, VerifyErrorKind::BrokenLink)
    );
}

/// The chains the tamper test uses: one to three boots of 0..6 ordinary rows each.
fn chain_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<RecordData>, u64)> {
    (
        prop::collection::vec(0usize..6, 1..=3),
        prop::collection::vec(record_data(), 1..6),
        0u64..1000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Changing any byte of any binary row makes verification name exactly that row.
    #[test]
    fn tampering_any_byte_names_that_row(
        (sizes, recs, boot) in chain_strategy(),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let rows = build_chain(&SEED, boot, 1, &sizes, &recs);
        let mut seg = segment(&rows);
        prop_assert!(verify_segment(&seg).is_ok());
        let p = pos.index(seg.len());
        seg[p] ^= flip;
        // The row containing byte p.
        let mut start = 0usize;
        let mut index = 0u64;
        for r in &rows {
            let len = 72 + r.event.len();
            if p < start + len {
                break;
            }
            start += len;
            index += 1;
        }
        let got = verify_segment(&seg).unwrap_err();
        prop_assert_eq!(got.index, index, "{:?}", got);
        // The same through the tuple interface when the row still decodes as a row.
        if let Ok(rows_back) = Rows::new(&seg).collect::<Result<Vec<RowRef<'_>>, _>>() {
            if rows_back.len() == rows.len() {
                let e = verify_rows(rows_back.iter().copied()).unwrap_err();
                prop_assert_eq!(e.index, index);
            }
        }
    }

    /// Removing, duplicating or swapping rows is always detected (with the head and the
    /// genesis known, as `coconut audit verify` has them), at or right after the change.
    #[test]
    fn structural_damage_is_detected(
        (sizes, recs, boot) in chain_strategy(),
        at in any::<prop::sample::Index>(),
        op in 0u8..3,
    ) {
        let rows = build_chain(&SEED, boot, 1, &sizes, &recs);
        let head = rows.last().unwrap().hash;
        let k = at.index(rows.len());
        let mut damaged = rows.clone();
        match op {
            0 => { damaged.remove(k); }
            1 => { damaged.insert(k, rows[k].clone()); }
            _ => {
                if k + 1 >= rows.len() {
                    return Ok(());
                }
                damaged.swap(k, k + 1);
            }
        }
        let mut v = Verifier::new().with_seed(SEED).expect_first_prev(genesis(&SEED, boot));
        let mut result = Ok(());
        for r in &damaged {
            if let Err(e) = v.push(r.as_ref()) {
                result = Err(e);
                break;
            }
        }
        let e = match result {
            Err(e) => e,
            Ok(()) => v.finish(Some(&head)).unwrap_err(),
        };
        prop_assert!(e.index == k as u64 || e.index == k as u64 + 1, "{:?} at {}", e, k);
    }
}

/// A kernel-style boot: the boot row names its boot id and the chain starts from the public
/// genesis of that id.
fn public_boot(genesis_id: [u8; 16], named_id: &str, rows: usize) -> Vec<OwnedRow> {
    let mut chain = Chain::from_genesis(coconut_audit::public_genesis(&genesis_id, 3), 3, None);
    let detail = format!("boot=3 abi=1 kernel=6.12.118-coconut boot_id={named_id} seed=none");
    let mut out = Vec::new();
    let mut buf = [0u8; EVENT_MAX];
    let boot = Record {
        kind: AuditKind::Boot,
        time_ns: 1,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail: &detail,
    };
    let recs = records(rows);
    for i in 0..=rows {
        let rec = if i == 0 { boot } else { recs[i - 1].record() };
        let (row, len) = chain.seal(&rec, &mut buf).unwrap();
        out.push(OwnedRow {
            prev: row.prev,
            event: buf[..len].to_vec(),
            hash: row.hash,
        });
    }
    out
}

#[test]
fn a_boot_row_naming_its_boot_id_is_checked_against_the_public_genesis() {
    let id = [0xa5u8; 16];
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    assert!(verify(&public_boot(id, &hex, 3)).is_ok());
    // Sealed from another id's genesis than the one the row names: caught at row 0.
    assert_eq!(
        verify(&public_boot([0x11; 16], &hex, 3)),
        err(0, VerifyErrorKind::BadGenesis)
    );
    // A detail whose boot_id is not 32 lowercase hex digits is not a boot id: not checked.
    assert!(verify(&public_boot([0x11; 16], &hex.to_uppercase(), 1)).is_ok());
    assert!(verify(&public_boot([0x11; 16], &hex[..30], 1)).is_ok());
}
