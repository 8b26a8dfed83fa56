//! Audit rows: binary segments parse, chain.log lines render in the fixed format and parse
//! back only in that exact spelling, and a line rebuilds the exact hashed event bytes.

use libcoconut::abi::{
    encode_event_header, encode_row_header, AgentAuditRowHdr, AuditDecodeError, EventHeader,
};
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
    let line = rows[0].to_json().unwrap();
    assert_eq!(
        line,
        format!(
            "{{\"seq\":1,\"boot\":3,\"time_ns\":1700000000000000000,\"kind\":\"spawn\",\"actor\":\"a:00000\",\"subject\":\"a:00001\",\"result\":0,\"detail\":\"name=worker manifest=ab\",\"prev\":\"{}\",\"hash\":\"{}\"}}",
            "01".repeat(32),
            "02".repeat(32)
        )
    );
    for r in &rows {
        let parsed = ChainLogLine::parse(&r.to_json().unwrap()).unwrap();
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
    let line = parse_rows(&seg).unwrap()[0].to_json().unwrap();
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
    let seg = row(1, AuditKind::Spawn, "name=\"q\" path=\\x é");
    let line = parse_rows(&seg).unwrap()[0].to_json().unwrap();
    assert!(
        line.contains(r#""detail":"name=\"q\" path=\\x é""#),
        "{line}"
    );
    assert!(ChainLogLine::parse(&line).is_ok());
}

/// A detail never holds a control character (coconut-audit's `check_detail`, which the kernel
/// applies when sealing), so a row with one is malformed, and so is a line that spells one.
#[test]
fn control_characters_in_details_are_rejected() {
    let seg = row(1, AuditKind::Spawn, "path=\\x\ttab");
    assert_eq!(
        parse_rows(&seg),
        Err(AuditError::Row {
            offset: 0,
            reason: audit::shared::AuditError::Decode(AuditDecodeError::DetailControlChar)
        })
    );
    let line = parse_rows(&row(1, AuditKind::Spawn, "path=x_tab")).unwrap()[0]
        .to_json()
        .unwrap();
    let tabbed = line.replace("x_tab", "x\\ttab");
    let err = ChainLogLine::parse(&tabbed).unwrap_err();
    assert_eq!(
        err,
        AuditError::Event(audit::shared::AuditError::Decode(
            AuditDecodeError::DetailControlChar
        ))
    );
    assert!(
        err.to_string()
            .contains("does not describe a valid audit event"),
        "{err}"
    );
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

#[test]
fn malformed_rows_name_their_offset_and_reason() {
    let mut seg = row(1, AuditKind::Spawn, "x=y");
    let first = seg.len();
    let mut second = row(2, AuditKind::Spawn, "x=y");
    second[72] = b'X';
    seg.extend(second);
    let err = parse_rows(&seg).unwrap_err();
    assert_eq!(
        err,
        AuditError::Row {
            offset: first,
            reason: audit::shared::AuditError::Decode(abi::AuditDecodeError::BadMagic)
        }
    );
    assert!(
        err.to_string().starts_with(&format!(
            "binary row at byte {first}: malformed audit event or row"
        )),
        "{err}"
    );
}

/// The user-space verification path of docs/formats/audit.md: rows sealed by coconut-audit's
/// chain, rendered to chain.log lines, parsed back and rebuilt, verify with its verifier; a
/// line whose detail was edited (still canonical) is named by index.
#[test]
fn lines_rebuild_rows_that_verify() {
    use audit::shared::{Chain, Record};
    let seed = [7u8; 32];
    let mut chain = Chain::start(&seed, 4, None);
    let mut seg = Vec::new();
    let details = [
        "boot=4 abi=1 kernel=6.12 seed=soft",
        "name=a lane=0",
        "name=b lane=1",
    ];
    for (i, detail) in details.iter().enumerate() {
        let rec = Record {
            kind: if i == 0 {
                AuditKind::Boot
            } else {
                AuditKind::Spawn
            },
            time_ns: 1_000 + i as u64,
            actor: Aid::BOOT,
            subject: Aid::new(i as u64).unwrap(),
            result: 0,
            detail,
        };
        let mut event = [0u8; audit::EVENT_MAX];
        let (sealed, len) = chain.seal(&rec, &mut event).unwrap();
        let mut out = [0u8; 72 + audit::EVENT_MAX];
        let n =
            audit::shared::encode_row(&sealed.prev, &sealed.hash, &event[..len], &mut out).unwrap();
        seg.extend_from_slice(&out[..n]);
    }
    let lines: Vec<String> = parse_rows(&seg)
        .unwrap()
        .iter()
        .map(|r| r.to_json().unwrap())
        .collect();
    let rebuild = |lines: &[String]| -> Vec<_> {
        lines
            .iter()
            .map(|l| ChainLogLine::parse(l).unwrap().to_row().unwrap())
            .collect()
    };
    let rows = rebuild(&lines);
    let summary = audit::Verifier::new()
        .with_seed(seed)
        .verify_rows(&rows)
        .unwrap();
    assert_eq!(summary.rows, 3);
    assert_eq!(summary.head, Some(*chain.head()));
    assert_eq!(audit::verify_segment(&seg).unwrap(), summary);

    let mut edited = lines.clone();
    edited[2] = edited[2].replace("name=b", "name=c");
    let err = audit::verify_rows(&rebuild(&edited)).unwrap_err();
    assert_eq!(err.index, 2);
    assert_eq!(err.kind, audit::VerifyErrorKind::HashMismatch);
}
