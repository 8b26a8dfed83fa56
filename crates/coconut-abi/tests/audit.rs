//! The audit event header and binary row header: pinned offsets, round trips, and rejection
//! of malformed bytes.

use coconut_abi::*;
use proptest::prelude::*;

#[test]
fn offsets_are_pinned() {
    assert_eq!(
        [
            AUDIT_OFF_MAGIC,
            AUDIT_OFF_KIND,
            AUDIT_OFF_SEQ,
            AUDIT_OFF_BOOT,
            AUDIT_OFF_TIME_NS,
            AUDIT_OFF_ACTOR,
            AUDIT_OFF_SUBJECT,
            AUDIT_OFF_RESULT,
            AUDIT_OFF_DETAIL_LEN,
            AUDIT_OFF_DETAIL
        ],
        [0, 4, 8, 16, 24, 32, 40, 48, 52, 56]
    );
    assert_eq!(&AUDIT_EVENT_MAGIC, b"CCA1");
}

#[test]
fn known_bytes() {
    let h = EventHeader {
        kind: AuditKind::Spawn,
        seq: 2,
        boot: 7,
        time_ns: 0x0102_0304_0506_0708,
        actor: 0,
        subject: 1,
        result: -(Errno::EPERM.get()),
        detail_len: 4,
    };
    let b = encode_event_header(&h);
    assert_eq!(&b[0..4], b"CCA1");
    assert_eq!(&b[4..8], &[3, 0, 0, 0]);
    assert_eq!(&b[8..16], &[2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[24..32], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&b[48..52], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(&b[52..56], &[4, 0, 0, 0]);
    let mut event = b.to_vec();
    event.extend_from_slice(b"x=yz");
    assert_eq!(decode_event(&event), Ok((h, "x=yz")));
}

#[test]
fn malformed_events_are_rejected() {
    let h = EventHeader {
        kind: AuditKind::Boot,
        seq: 0,
        boot: 1,
        time_ns: 1,
        actor: 0,
        subject: 0,
        result: 0,
        detail_len: 0,
    };
    let good = encode_event_header(&h);
    assert_eq!(
        decode_event_header(&good[..55]),
        Err(AuditDecodeError::Truncated)
    );
    let mut b = good;
    b[0] = b'X';
    assert_eq!(decode_event_header(&b), Err(AuditDecodeError::BadMagic));
    let mut b = good;
    b[4] = 0;
    assert_eq!(decode_event_header(&b), Err(AuditDecodeError::UnknownKind));
    b[4] = AuditKind::LAST as u8 + 1;
    assert_eq!(decode_event_header(&b), Err(AuditDecodeError::UnknownKind));
    let mut b = good;
    b[52..56].copy_from_slice(&257u32.to_le_bytes());
    assert_eq!(
        decode_event_header(&b),
        Err(AuditDecodeError::DetailTooLong)
    );
    let mut event = good.to_vec();
    event.push(b'a');
    assert_eq!(decode_event(&event), Err(AuditDecodeError::LengthMismatch));
    let mut h2 = h;
    h2.detail_len = 1;
    let mut event = encode_event_header(&h2).to_vec();
    event.push(0xff);
    assert_eq!(decode_event(&event), Err(AuditDecodeError::DetailNotUtf8));
    // The one acceptance rule also covers the detail's characters and the AIDs.
    let mut event = encode_event_header(&h2).to_vec();
    event.push(b'\n');
    assert_eq!(
        decode_event(&event),
        Err(AuditDecodeError::DetailControlChar)
    );
    for (off, raw) in [
        (AUDIT_OFF_ACTOR, AID_MAX + 1),
        (AUDIT_OFF_SUBJECT, u64::MAX),
    ] {
        let mut b = good;
        b[off..off + 8].copy_from_slice(&raw.to_le_bytes());
        assert_eq!(decode_event_header(&b), Err(AuditDecodeError::BadAid));
        assert_eq!(decode_event(&b), Err(AuditDecodeError::BadAid));
    }
}

#[test]
fn check_detail_is_the_detail_rule() {
    assert_eq!(check_detail(&"x".repeat(256)), Ok(()));
    assert_eq!(
        check_detail(&"x".repeat(257)),
        Err(AuditDecodeError::DetailTooLong)
    );
    assert_eq!(check_detail("naïve ✓ \u{a0}"), Ok(()));
    for bad in ["a\nb", "tab\there", "nul\0", "del\x7f", "c1\u{85}"] {
        assert_eq!(
            check_detail(bad),
            Err(AuditDecodeError::DetailControlChar),
            "{bad:?}"
        );
    }
}

#[test]
fn row_header_round_trip_and_bounds() {
    let r = AgentAuditRowHdr {
        row_len: 200,
        reserved: 0,
        prev: [1; 32],
        hash: [2; 32],
    };
    let b = encode_row_header(&r);
    assert_eq!(&b[0..4], &200u32.to_le_bytes());
    assert_eq!(decode_row_header(&b), Ok(r));
    for bad in [0u32, 127, 385] {
        let mut b = b;
        b[0..4].copy_from_slice(&bad.to_le_bytes());
        assert_eq!(decode_row_header(&b), Err(AuditDecodeError::LengthMismatch));
    }
    let mut b2 = b;
    b2[4] = 1;
    assert_eq!(
        decode_row_header(&b2),
        Err(AuditDecodeError::ReservedNotZero)
    );
    assert_eq!(
        decode_row_header(&b[..71]),
        Err(AuditDecodeError::Truncated)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn header_round_trip(
        kind in 1u32..=13, seq: u64, boot: u64, time_ns: u64, actor in 0..=AID_MAX,
        subject in 0..=AID_MAX, result: i32, detail_len in 0u32..=256
    ) {
        let h = EventHeader {
            kind: AuditKind::from_u32(kind).unwrap(),
            seq, boot, time_ns, actor, subject, result, detail_len,
        };
        prop_assert_eq!(decode_event_header(&encode_event_header(&h)), Ok(h));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_event(&bytes);
        let _ = decode_row_header(&bytes);
    }
}
