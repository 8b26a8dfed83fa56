//! Audit rows: binary segments parse, chain.log lines render in the fixed format and parse
//! back only in that exact spelling, and a line rebuilds the exact hashed event bytes.

use libcoconut::abi::{encode_event_header, encode_row_header, AgentAuditRowHdr, EventHeader};
use libcoconut::audit::{parse_rows, AuditError, ChainLogLine};
use libcoconut::*;

fn row(seq: u64, kind: AuditKind, detail: &str) -> Vec<u8> {
    let h = EventHeader {
        kind,
        seq,
        boot: 3,
        time_ns: 1_700_000_000_000_000_000,
        actor: 0,
        subject: 1,
        result: if seq == 2 { -1 } else { 0 },
        detail_len: detail.len() as u32,
    };
    let mut event = encode_event_header(&h).to_vec();
    event.extend_from_slice(detail.as_bytes());
    let hdr = AgentAuditRowHdr {
        row_len: (72 + event.len()) as u32,
        reserved: 0,
        prev: [seq as u8; 32],
        hash: [seq as u8 + 1; 32],
    };
    let mut out = encode_row_header(&hdr).to_vec();
    out.extend_from_slice(&event);
    out
}

#[test]
fn segment_parses_and_renders_chain_log_lines() {
    let mut seg = row(1, AuditKind::Spawn, "name=worker manifest=ab");
    seg.extend(row(
        2,
        AuditKind::State,
        "from=ATTESTED to=ACTIVE why=member_joined",
    ));
    let rows = parse_rows(&seg).unwrap();
    assert_eq!(rows.len(), 2);
    let line = rows[0].to_json();
    assert_eq!(
        line,
        format!(
            "{{\"seq\":1,\"boot\":3,\"time_ns\":1700000000000000000,\"kind\":\"spawn\",\"actor\":\"a:00000\",\"subject\":\"a:00001\",\"result\":0,\"detail\":\"name=worker manifest=ab\",\"prev\":\"{}\",\"hash\":\"{}\"}}",
            "01".repeat(32),
            "02".repeat(32)
        )
    );
    for r in &rows {
        let parsed = ChainLogLine::parse(&r.to_json()).unwrap();
        let back = parsed.to_row().unwrap();
        assert_eq!(&back, r, "a line rebuilds the exact event bytes");
    }
    assert_eq!(rows[1].header.result, -1);
}

#[test]
fn lines_are_accepted_only_in_canonical_form() {
    let seg = row(
        1,
        AuditKind::CapDeny,
        "cap=net.connect:evil.example:443 op=connect",
    );
    let line = parse_rows(&seg).unwrap()[0].to_json();
    let spaced = line.replace(",\"boot\"", ", \"boot\"");
    assert!(matches!(
        ChainLogLine::parse(&spaced),
        Err(AuditError::NotCanonical { .. })
    ));
    let reordered = line.replacen("{\"seq\":1,\"boot\":3,", "{\"boot\":3,\"seq\":1,", 1);
    assert!(matches!(
        ChainLogLine::parse(&reordered),
        Err(AuditError::NotCanonical { .. })
    ));
    let upper = line.replace(&"02".repeat(32), &"0A".repeat(32));
    assert!(ChainLogLine::parse(&upper).is_err());
    let bad_aid = line.replace("a:00001", "a:1");
    assert!(ChainLogLine::parse(&bad_aid).is_err());
    let extra = line.replacen('}', ",\"x\":1}", 1);
    assert!(ChainLogLine::parse(&extra).is_err());
    let bad_kind = line.replace("cap_deny", "cap_denied");
    assert!(ChainLogLine::parse(&bad_kind).is_err());
}

#[test]
fn json_escaping_of_detail_is_fixed() {
    let seg = row(1, AuditKind::Spawn, "name=\"q\" path=\\x\ttab é");
    let line = parse_rows(&seg).unwrap()[0].to_json();
    assert!(
        line.contains(r#""detail":"name=\"q\" path=\\x\ttab é""#),
        "{line}"
    );
    assert!(ChainLogLine::parse(&line).is_ok());
}

#[test]
fn malformed_segments_are_rejected() {
    let seg = row(1, AuditKind::Spawn, "x=y");
    assert!(parse_rows(&seg[..seg.len() - 1]).is_err());
    let mut bad = seg.clone();
    bad[72] = b'X';
    assert!(parse_rows(&bad).is_err());
    assert_eq!(parse_rows(&[]).unwrap(), vec![]);
}
