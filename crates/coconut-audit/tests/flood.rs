//! Flood control (`FloodTable`): malformed calls sealed up to the bucket, then counted into
//! `suppressed` rows, every call accounted for.

use coconut_abi::AuditKind;
use coconut_audit::{Charge, FloodTable, FLOOD_BURST, FLOOD_SLOTS};

const SEC: u64 = 1_000_000_000;
const EINVAL: i32 = -22;

/// Drives `n` calls of `aid` at `t`, returning (sealed, counted, suppressed rows).
fn burst(t: &mut FloodTable, aid: u64, n: u64, now: u64) -> (u64, u64, u64) {
    let (mut sealed, mut counted, mut rows) = (0, 0, 0);
    for _ in 0..n {
        match t.charge(aid, AuditKind::Spawn, EINVAL, now) {
            Charge::Seal => sealed += 1,
            Charge::Counted => counted += 1,
            Charge::SealSuppressed(_) => rows += 1,
        }
    }
    (sealed, counted, rows)
}

#[test]
fn a_burst_is_sealed_up_to_the_bucket_then_counted() {
    let mut t = FloodTable::new();
    let (sealed, counted, rows) = burst(&mut t, 7, 100, 5 * SEC);
    assert_eq!((sealed, counted, rows), (FLOOD_BURST, 100 - FLOOD_BURST, 0));
    assert!(t.pending());
    assert_eq!(t.take_due(5 * SEC + SEC - 1), None, "not a second old yet");
    let s = t.take_due(6 * SEC).expect("the window is due");
    assert_eq!(s.count, 100 - FLOOD_BURST);
    assert_eq!(s.aid, 7);
    assert_eq!(
        s.detail().as_str(),
        "count=68 reason=rate_limit call=agent_spawn errno=22"
    );
    assert!(!t.pending());
    assert_eq!(t.counted(), 68);
}

#[test]
fn the_bucket_refills_at_eight_a_second() {
    let mut t = FloodTable::new();
    burst(&mut t, 1, FLOOD_BURST, 0);
    assert_eq!(t.charge(1, AuditKind::Spawn, EINVAL, 0), Charge::Counted);
    // The window is due a second later; that call seals it and opens the next one.
    match t.charge(1, AuditKind::Quota, -7, SEC) {
        Charge::SealSuppressed(s) => assert_eq!((s.count, s.first_kind), (1, AuditKind::Spawn)),
        other => panic!("{other:?}"),
    }
    let s = t.take_due(2 * SEC).expect("second window");
    assert_eq!((s.count, s.first_result), (1, -7));
    // Two seconds after the burst, 16 tokens are back.
    let (sealed, _, _) = burst(&mut t, 1, 40, 2 * SEC + 1);
    assert_eq!(sealed, 16);
}

#[test]
fn every_call_is_in_a_row_or_a_count() {
    // A long, uneven flood from a few agents: sealed + every suppressed count = calls.
    let mut t = FloodTable::new();
    let mut calls = [0u64; 3];
    let mut in_rows = [0u64; 3];
    let mut now = 0u64;
    for step in 0..20_000u64 {
        now += 1_000_000 + (step % 7) * 300_000;
        let aid = step % 3;
        calls[aid as usize] += 1;
        match t.charge(aid, AuditKind::CapGrant, EINVAL, now) {
            Charge::Seal => in_rows[aid as usize] += 1,
            Charge::Counted => {}
            Charge::SealSuppressed(s) => in_rows[s.aid as usize] += s.count,
        }
        if step % 500 == 0 {
            while let Some(s) = t.take_due(now) {
                in_rows[s.aid as usize] += s.count;
            }
        }
    }
    while let Some(s) = t.take_any() {
        in_rows[s.aid as usize] += s.count;
    }
    assert_eq!(calls, in_rows);
}

#[test]
fn a_full_table_seals_new_agents_individually() {
    let mut t = FloodTable::new();
    for aid in 0..FLOOD_SLOTS as u64 {
        burst(&mut t, aid, FLOOD_BURST + 1, 0);
    }
    assert_eq!(t.charge(1000, AuditKind::Spawn, EINVAL, 0), Charge::Seal);
    assert_eq!(t.untracked(), 1);
    // Once the windows are flushed and the buckets full again, slots are reused.
    while t.take_any().is_some() {}
    assert_eq!(
        t.charge(1000, AuditKind::Spawn, EINVAL, 10 * SEC),
        Charge::Seal
    );
    assert_eq!(t.untracked(), 1);
}

#[test]
fn clocks_going_backwards_or_far_forwards_do_not_break_it() {
    let mut t = FloodTable::new();
    burst(&mut t, 1, 50, u64::MAX - 1);
    burst(&mut t, 1, 50, 0);
    let (sealed, _, _) = burst(&mut t, 1, 50, u64::MAX);
    assert!(sealed <= FLOOD_BURST);
    while t.take_any().is_some() {}
}
