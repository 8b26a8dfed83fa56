//! `chain.log` lines: parsed back with serde_json (as user space does), the exact pinned key
//! order and spelling, and a round trip to the very event bytes.

mod common;

use coconut_abi::{Aid, AuditKind, AID_MAX};
use coconut_audit::{render_json_line, AuditError, Chain, Event, RowRef, EVENT_MAX, JSON_LINE_MAX};
use common::{build_chain, record_data, OwnedRow};
use proptest::prelude::*;
use serde_json::Value;

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> [u8; 32] {
    assert_eq!(s.len(), 64);
    assert_eq!(s, s.to_lowercase(), "hex must be lowercase");
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn render(row: RowRef<'_>) -> String {
    let mut buf = [0u8; JSON_LINE_MAX];
    let n = render_json_line(row, &mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// What user space does with a line: parse it with serde_json and rebuild the event bytes and
/// hashes from the fields.
fn parse_line(line: &str) -> (Vec<u8>, [u8; 32], [u8; 32]) {
    assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    let v: Value = serde_json::from_str(line).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 10);
    let u = |k: &str| obj[k].as_u64().unwrap_or_else(|| panic!("{k}"));
    let s = |k: &str| obj[k].as_str().unwrap_or_else(|| panic!("{k}"));
    let ev = Event {
        kind: AuditKind::from_json_name(s("kind").as_bytes()).unwrap(),
        seq: u("seq"),
        boot: u("boot"),
        time_ns: u("time_ns"),
        actor: Aid::parse(s("actor").as_bytes()).unwrap(),
        subject: Aid::parse(s("subject").as_bytes()).unwrap(),
        result: i32::try_from(obj["result"].as_i64().unwrap()).unwrap(),
        detail: s("detail"),
    };
    let mut buf = [0u8; EVENT_MAX];
    let n = ev.encode(&mut buf).unwrap();
    (buf[..n].to_vec(), unhex(s("prev")), unhex(s("hash")))
}

/// The pinned line, spelled out with std formatting (serde_json escapes the detail string the
/// same way RFC 8259 requires and our renderer does).
fn expected_line(row: &OwnedRow) -> String {
    let ev = Event::decode(&row.event).unwrap();
    format!(
        "{{\"seq\":{},\"boot\":{},\"time_ns\":{},\"kind\":\"{}\",\"actor\":\"{}\",\"subject\":\"{}\",\"result\":{},\"detail\":{},\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
        ev.seq,
        ev.boot,
        ev.time_ns,
        ev.kind.json_name(),
        ev.actor,
        ev.subject,
        ev.result,
        serde_json::to_string(ev.detail).unwrap(),
        hex(&row.prev),
        hex(&row.hash),
    )
}

#[test]
fn a_spawn_line_is_exactly_the_pinned_form() {
    let mut chain = Chain::from_genesis([0x11; 32], 1, None);
    let mut buf = [0u8; EVENT_MAX];
    let boot = coconut_audit::Record {
        kind: AuditKind::Boot,
        time_ns: 0,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail: "",
    };
    chain.seal(&boot, &mut buf).unwrap();
    let spawn = coconut_audit::Record {
        kind: AuditKind::Spawn,
        time_ns: 1_700_000_000_123_456_789,
        actor: Aid::BOOT,
        subject: Aid::new(1).unwrap(),
        result: -1,
        detail: r#"name=web say="hi" path=C:\x"#,
    };
    let (row, n) = chain.seal(&spawn, &mut buf).unwrap();
    let line = render(RowRef {
        prev: &row.prev,
        event: &buf[..n],
        hash: &row.hash,
    });
    assert_eq!(
        line,
        format!(
            "{{\"seq\":1,\"boot\":1,\"time_ns\":1700000000123456789,\"kind\":\"spawn\",\"actor\":\"a:00000\",\"subject\":\"a:00001\",\"result\":-1,\"detail\":\"name=web say=\\\"hi\\\" path=C:\\\\x\",\"prev\":\"{}\",\"hash\":\"{}\"}}\n",
            hex(&row.prev),
            hex(&row.hash)
        )
    );
}

#[test]
fn the_longest_line_is_json_line_max() {
    let detail = "\"".repeat(256);
    let ev = Event {
        kind: AuditKind::MemoryTier,
        seq: u64::MAX,
        boot: u64::MAX,
        time_ns: u64::MAX,
        actor: Aid::new(AID_MAX).unwrap(),
        subject: Aid::new(AID_MAX).unwrap(),
        result: i32::MIN,
        detail: &detail,
    };
    let mut event = [0u8; EVENT_MAX];
    let n = ev.encode(&mut event).unwrap();
    let row = RowRef {
        prev: &[0xff; 32],
        event: &event[..n],
        hash: &[0xee; 32],
    };
    let mut buf = [0u8; JSON_LINE_MAX];
    assert_eq!(render_json_line(row, &mut buf), Ok(JSON_LINE_MAX));
    assert_eq!(JSON_LINE_MAX, 868);
    let line = std::str::from_utf8(&buf).unwrap();
    let (back, prev, hash) = parse_line(line);
    assert_eq!(
        (back.as_slice(), &prev, &hash),
        (&event[..n], row.prev, row.hash)
    );
    // One byte short fails without writing past the buffer.
    for len in [0, 1, 100, JSON_LINE_MAX - 1] {
        assert_eq!(
            render_json_line(row, &mut buf[..len]),
            Err(AuditError::BufferTooSmall)
        );
    }
    // Rows whose event does not decode are refused.
    let bad = RowRef {
        event: &event[..n - 1],
        ..row
    };
    assert!(matches!(
        render_json_line(bad, &mut buf),
        Err(AuditError::Decode(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every sealed row renders to the pinned line, which serde_json parses back into the same
    /// event bytes and hashes.
    #[test]
    fn lines_round_trip_through_serde_json(
        records in prop::collection::vec(record_data(), 1..4),
        seed in any::<[u8; 32]>(),
        boot in 0u64..1_000_000,
    ) {
        let rows = build_chain(&seed, boot, 1, &[records.len()], &records);
        for row in &rows {
            let line = render(row.as_ref());
            prop_assert!(line.len() <= JSON_LINE_MAX);
            prop_assert_eq!(&line, &expected_line(row));
            let (event, prev, hash) = parse_line(&line);
            prop_assert_eq!(&event, &row.event);
            prop_assert_eq!(prev, row.prev);
            prop_assert_eq!(hash, row.hash);
        }
    }
}
