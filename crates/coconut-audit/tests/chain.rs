//! Events, genesis and sealing, checked against the reference `blake3` crate and the ABI.

mod common;

use std::fmt::Write as _;

use coconut_abi::{
    decode_event, Aid, AuditDecodeError, AuditKind, AGENT_AUDIT_DETAIL_MAX, AID_MAX,
    AUDIT_GENESIS_CONTEXT, AUDIT_GENESIS_CONTEXT_V2,
};
use coconut_audit::{
    check_detail, genesis, public_genesis, AuditError, Chain, DetailBuf, Event, PrevBoot, Record,
    EVENT_MAX, LINK_DETAIL_MAX,
};
use common::{build_chain, record_data, OwnedRow, RecordData};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn reference_step(prev: &[u8; 32], event: &[u8]) -> [u8; 32] {
    let mut joined = prev.to_vec();
    joined.extend_from_slice(event);
    *blake3::hash(&joined).as_bytes()
}

fn reference_genesis(seed: &[u8; 32], boot: u64) -> [u8; 32] {
    let mut material = seed.to_vec();
    material.extend_from_slice(&boot.to_le_bytes());
    blake3::derive_key(AUDIT_GENESIS_CONTEXT, &material)
}

#[test]
fn genesis_is_derive_key_of_seed_and_boot_le() {
    assert_eq!(AUDIT_GENESIS_CONTEXT, "coconut-os audit genesis v1");
    for (seed_byte, boot) in [(0u8, 0u64), (1, 1), (0xab, 42), (0xff, u64::MAX)] {
        let seed = [seed_byte; 32];
        assert_eq!(genesis(&seed, boot), reference_genesis(&seed, boot));
    }
    // Different boots and seeds give different genesis hashes.
    assert_ne!(genesis(&[0; 32], 1), genesis(&[0; 32], 2));
    assert_ne!(genesis(&[0; 32], 1), genesis(&[1; 32], 1));
}

#[test]
fn public_genesis_is_derive_key_of_boot_id_and_boot_le() {
    assert_eq!(AUDIT_GENESIS_CONTEXT_V2, "coconut-os audit genesis v2");
    for (id_byte, boot) in [(0u8, 0u64), (1, 1), (0xab, 42), (0xff, u64::MAX)] {
        let id = [id_byte; 16];
        let mut material = id.to_vec();
        material.extend_from_slice(&boot.to_le_bytes());
        assert_eq!(
            public_genesis(&id, boot),
            blake3::derive_key(AUDIT_GENESIS_CONTEXT_V2, &material)
        );
    }
    assert_ne!(public_genesis(&[0; 16], 1), public_genesis(&[0; 16], 2));
    assert_ne!(public_genesis(&[0; 16], 1), public_genesis(&[1; 16], 1));
    // v1 and v2 never collide on the same bytes: different contexts.
    assert_ne!(public_genesis(&[0; 16], 0), genesis(&[0; 32], 0));
}

#[test]
fn a_chain_of_10000_random_events_matches_the_reference() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let records: Vec<RecordData> = (0..10_000)
        .map(|_| record_data().new_tree(&mut runner).unwrap().current())
        .collect();
    let seed = [7u8; 32];
    // One boot: a boot row, then the 10 000 events (9 999 after the boot row).
    let rows: Vec<OwnedRow> = build_chain(&seed, 3, 1, &[records.len() - 1], &records);
    assert_eq!(rows.len(), 10_000);
    let mut head = reference_genesis(&seed, 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.prev, head, "row {i}: prev");
        head = reference_step(&head, &row.event);
        assert_eq!(row.hash, head, "row {i}: hash");
        // The event is the ABI's encoding.
        let (h, detail) = decode_event(&row.event).unwrap();
        assert_eq!(h.seq, i as u64);
        assert_eq!(h.boot, 3);
        if i > 0 {
            let r = &records[i - 1];
            assert_eq!(
                (h.kind, h.time_ns, h.actor, h.subject, h.result, detail),
                (
                    r.kind,
                    r.time_ns,
                    r.actor.get(),
                    r.subject.get(),
                    r.result,
                    r.detail.as_str()
                )
            );
        }
    }
    let summary = coconut_audit::verify_rows(rows.iter().map(OwnedRow::as_ref)).unwrap();
    assert_eq!(summary.rows, 10_000);
    assert_eq!(summary.head, Some(head));
    assert_eq!(summary.last, Some((3, 9_999)));
}

fn rec(kind: AuditKind, detail: &str) -> Record<'_> {
    Record {
        kind,
        time_ns: 5,
        actor: Aid::BOOT,
        subject: Aid::new(1).unwrap(),
        result: 0,
        detail,
    }
}

#[test]
fn append_and_seal_agree() {
    let seed = [9u8; 32];
    let mut sealed = Chain::start(&seed, 4, None);
    let mut appended = Chain::start(&seed, 4, None);
    let mut buf = [0u8; EVENT_MAX];
    for (i, (kind, detail)) in [
        (AuditKind::Boot, "kernel=6.12"),
        (AuditKind::Spawn, "name=web manifest=00"),
        (AuditKind::State, "from=ATTESTED to=ACTIVE"),
    ]
    .into_iter()
    .enumerate()
    {
        let (row, len) = sealed.seal(&rec(kind, detail), &mut buf).unwrap();
        assert_eq!(row.seq, i as u64);
        let again = appended.append(&buf[..len]).unwrap();
        assert_eq!(row, again);
        assert_eq!(sealed, appended);
    }
    assert_eq!(sealed.next_seq(), 3);
    assert_eq!(sealed.boot(), 4);
}

#[test]
fn the_chain_admits_only_rows_that_verify() {
    let seed = [1u8; 32];
    let mut buf = [0u8; EVENT_MAX];
    let mut chain = Chain::start(&seed, 2, None);
    // Seq 0 must be the boot row; the boot row only at seq 0.
    assert_eq!(
        chain.seal(&rec(AuditKind::Spawn, ""), &mut buf),
        Err(AuditError::MisplacedKind)
    );
    chain.seal(&rec(AuditKind::Boot, ""), &mut buf).unwrap();
    assert_eq!(
        chain.seal(&rec(AuditKind::Boot, ""), &mut buf),
        Err(AuditError::MisplacedKind)
    );
    // Without a previous chain there is nothing to link to.
    let prev = PrevBoot {
        boot: 1,
        last_seq: 10,
        head: [3; 32],
    };
    let mut text = [0u8; LINK_DETAIL_MAX];
    let link = prev.encode(&mut text).to_string();
    assert_eq!(
        chain.seal(&rec(AuditKind::Link, &link), &mut buf),
        Err(AuditError::BadLink)
    );
    let before = chain.clone();
    // A bad detail leaves the chain unchanged.
    assert_eq!(
        chain.seal(&rec(AuditKind::Exit, "a\nb"), &mut buf),
        Err(AuditError::Decode(AuditDecodeError::DetailControlChar))
    );
    assert_eq!(chain, before);
    // Appending checks seq and boot.
    let (_, len) = Chain::start(&seed, 2, None)
        .seal(&rec(AuditKind::Boot, ""), &mut buf)
        .unwrap();
    assert_eq!(chain.append(&buf[..len]), Err(AuditError::SeqMismatch));
    let (_, len) = Chain::start(&seed, 3, None)
        .seal(&rec(AuditKind::Boot, ""), &mut buf)
        .unwrap();
    assert_eq!(chain.append(&buf[..len]), Err(AuditError::BootMismatch));
    assert_eq!(
        chain.append(&buf[..len - 1]),
        Err(AuditError::Decode(AuditDecodeError::Truncated))
    );
    assert_eq!(chain, before);

    // Continuing a previous chain: seq 1 must be the link, naming exactly that chain.
    let mut chain = Chain::start(&seed, 2, Some(prev));
    assert_eq!(chain.previous(), Some(&prev));
    chain.seal(&rec(AuditKind::Boot, ""), &mut buf).unwrap();
    assert_eq!(
        chain.seal(&rec(AuditKind::Spawn, ""), &mut buf),
        Err(AuditError::LinkRequired)
    );
    let wrong = PrevBoot {
        last_seq: 11,
        ..prev
    };
    let mut text2 = [0u8; LINK_DETAIL_MAX];
    assert_eq!(
        chain.seal(&rec(AuditKind::Link, wrong.encode(&mut text2)), &mut buf),
        Err(AuditError::BadLink)
    );
    assert_eq!(
        chain.seal(&rec(AuditKind::Link, "prev_boot=1"), &mut buf),
        Err(AuditError::BadLink)
    );
    let mut text3 = [0u8; LINK_DETAIL_MAX];
    assert_eq!(chain.link_detail(&mut text3), Some(link.as_str()));
    chain.seal(&rec(AuditKind::Link, &link), &mut buf).unwrap();
    assert_eq!(
        chain.seal(&rec(AuditKind::Link, &link), &mut buf),
        Err(AuditError::MisplacedKind)
    );
    chain.seal(&rec(AuditKind::Spawn, ""), &mut buf).unwrap();
    // A short buffer fails cleanly.
    let before = chain.clone();
    assert_eq!(
        chain.seal(&rec(AuditKind::Spawn, "abc"), &mut buf[..58]),
        Err(AuditError::BufferTooSmall)
    );
    assert_eq!(chain, before);
}

#[test]
fn event_encoding_checks_the_detail_and_the_aids() {
    let ok = Event {
        kind: AuditKind::CapDeny,
        seq: 9,
        boot: 1,
        time_ns: 2,
        actor: Aid::new(AID_MAX).unwrap(),
        subject: Aid::BOOT,
        result: -13,
        detail: "cap=fs.read:/etc/shadow",
    };
    let mut buf = [0u8; EVENT_MAX];
    let n = ok.encode(&mut buf).unwrap();
    assert_eq!(n, 56 + ok.detail.len());
    assert_eq!(Event::decode(&buf[..n]), Ok(ok));
    assert_eq!(
        ok.encode(&mut buf[..n - 1]),
        Err(AuditError::BufferTooSmall)
    );

    let long = "x".repeat(AGENT_AUDIT_DETAIL_MAX + 1);
    for (detail, err) in [
        (
            long.as_str(),
            AuditError::Decode(AuditDecodeError::DetailTooLong),
        ),
        (
            "a\nb",
            AuditError::Decode(AuditDecodeError::DetailControlChar),
        ),
        (
            "tab\there",
            AuditError::Decode(AuditDecodeError::DetailControlChar),
        ),
        (
            "nul\0",
            AuditError::Decode(AuditDecodeError::DetailControlChar),
        ),
        (
            "del\x7f",
            AuditError::Decode(AuditDecodeError::DetailControlChar),
        ),
        (
            "c1\u{85}",
            AuditError::Decode(AuditDecodeError::DetailControlChar),
        ),
    ] {
        let ev = Event { detail, ..ok };
        assert_eq!(ev.encode(&mut buf), Err(err), "{detail:?}");
        assert_eq!(check_detail(detail).map_err(AuditError::Decode), Err(err));
    }
    assert_eq!(check_detail(&"x".repeat(256)), Ok(()));
    assert_eq!(check_detail("naïve ✓ \u{a0}"), Ok(()));

    // Decoding applies the same rules to bytes that did not come from `encode`.
    let n = Event { detail: "ab", ..ok }.encode(&mut buf).unwrap();
    let mut bad = buf[..n].to_vec();
    bad[57] = b'\n';
    assert_eq!(
        Event::decode(&bad),
        Err(AuditError::Decode(AuditDecodeError::DetailControlChar))
    );
    let mut bad = buf[..n].to_vec();
    bad[39] = 0x80; // actor's top byte: larger than AID_MAX
    assert_eq!(
        Event::decode(&bad),
        Err(AuditError::Decode(AuditDecodeError::BadAid))
    );
    let mut bad = buf[..n].to_vec();
    bad[47] = 0xff; // subject's top byte
    assert_eq!(
        Event::decode(&bad),
        Err(AuditError::Decode(AuditDecodeError::BadAid))
    );
    let mut bad = buf[..n].to_vec();
    bad[0] = b'X';
    assert_eq!(
        Event::decode(&bad),
        Err(AuditError::Decode(AuditDecodeError::BadMagic))
    );
}

#[test]
fn detail_buf_formats_safely() {
    let mut d = DetailBuf::new();
    let cap = "fs.read:/srv/*";
    write!(d, "cap={cap} removed={}", 3).unwrap();
    assert_eq!(d.as_str(), "cap=fs.read:/srv/* removed=3");
    assert!(!d.truncated());
    assert_eq!(check_detail(d.as_str()), Ok(()));
    // Control characters become '?'.
    d.clear();
    write!(d, "name=a\nb\tc\u{85}").unwrap();
    assert_eq!(d.as_str(), "name=a?b?c?");
    // Truncation at 256 bytes, on a character boundary.
    d.clear();
    for _ in 0..100 {
        write!(d, "é✓").unwrap();
    }
    assert!(d.truncated());
    assert!(d.as_str().len() <= 256 && d.as_str().len() > 250);
    assert!(d.as_str().ends_with("é✓...") || d.as_str().ends_with("✓é..."));
    assert_eq!(check_detail(d.as_str()), Ok(()));
    // ASCII that overflows by one byte ends in "..." at exactly 256 bytes.
    d.clear();
    write!(d, "{}", "k".repeat(257)).unwrap();
    assert_eq!(d.as_str(), format!("{}...", "k".repeat(253)));
    // Nothing more is appended after truncation.
    let before = d.as_str().to_string();
    write!(d, "x").unwrap();
    assert_eq!(d.as_str(), before);
    assert!(format!("{d:?}").contains("truncated: true"));
    // Exactly 256 bytes is not truncated; one more byte is.
    d.clear();
    write!(d, "{}", "k".repeat(256)).unwrap();
    assert!(!d.truncated());
    assert_eq!(d.as_str().len(), 256);
    write!(d, "x").unwrap();
    assert_eq!(d.as_str(), format!("{}...", "k".repeat(253)));
}

#[test]
fn link_detail_has_one_spelling() {
    let p = PrevBoot {
        boot: 12,
        last_seq: 0,
        head: [0xab; 32],
    };
    let mut buf = [0u8; LINK_DETAIL_MAX];
    let text = p.encode(&mut buf).to_string();
    assert_eq!(
        text,
        format!("prev_boot=12 prev_seq=0 prev_head={}", "ab".repeat(32))
    );
    assert_eq!(PrevBoot::parse(&text), Some(p));
    let max = PrevBoot {
        boot: u64::MAX,
        last_seq: u64::MAX,
        head: [0xff; 32],
    };
    let t = max.encode(&mut buf).to_string();
    assert_eq!(t.len(), LINK_DETAIL_MAX);
    assert_eq!(PrevBoot::parse(&t), Some(max));
    let hex = "ab".repeat(32);
    for bad in [
        format!("prev_boot=012 prev_seq=0 prev_head={hex}"),
        format!("prev_boot=12 prev_seq=0 prev_head={}", "AB".repeat(32)),
        format!("prev_boot=12 prev_seq=0 prev_head={}", "ab".repeat(31)),
        format!("prev_boot=12  prev_seq=0 prev_head={hex}"),
        format!("prev_boot=12 prev_seq=0 prev_head={hex} extra=1"),
        format!("prev_seq=0 prev_boot=12 prev_head={hex}"),
        format!("prev_boot=18446744073709551616 prev_seq=0 prev_head={hex}"),
        format!("prev_boot=-1 prev_seq=0 prev_head={hex}"),
        String::new(),
    ] {
        assert_eq!(PrevBoot::parse(&bad), None, "{bad}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every record seals into an event the ABI decodes to the same fields, hashed as the
    /// reference computes it.
    #[test]
    fn sealed_events_decode_and_hash_like_the_reference(
        data in record_data(),
        seed in any::<[u8; 32]>(),
        boot in any::<u64>(),
    ) {
        let mut chain = Chain::start(&seed, boot, None);
        let mut buf = [0u8; EVENT_MAX];
        let (boot_row, n) = chain.seal(&rec(AuditKind::Boot, ""), &mut buf).unwrap();
        prop_assert_eq!(boot_row.prev, reference_genesis(&seed, boot));
        prop_assert_eq!(boot_row.hash, reference_step(&boot_row.prev, &buf[..n]));
        let (row, n) = chain.seal(&data.record(), &mut buf).unwrap();
        prop_assert_eq!(row.prev, boot_row.hash);
        prop_assert_eq!(row.hash, reference_step(&row.prev, &buf[..n]));
        let ev = Event::decode(&buf[..n]).unwrap();
        prop_assert_eq!(
            (ev.kind, ev.seq, ev.boot, ev.time_ns, ev.actor, ev.subject, ev.result, ev.detail),
            (data.kind, 1, boot, data.time_ns, data.actor, data.subject, data.result, data.detail.as_str())
        );
    }
}

/// The naive statement of the detail rule.
fn naive_check_detail(detail: &str) -> Result<(), AuditDecodeError> {
    if detail.len() > AGENT_AUDIT_DETAIL_MAX {
        Err(AuditDecodeError::DetailTooLong)
    } else if detail.chars().any(char::is_control) {
        Err(AuditDecodeError::DetailControlChar)
    } else {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The word-at-a-time detail check agrees with the per-character rule, on arbitrary
    /// strings and on printable ASCII with one arbitrary character planted anywhere.
    #[test]
    fn detail_check_agrees_with_the_naive_rule(
        any_text in ".{0,90}",
        ascii in "[ -~]{0,260}",
        planted in any::<char>(),
        at in any::<prop::sample::Index>(),
    ) {
        prop_assert_eq!(check_detail(&any_text), naive_check_detail(&any_text));
        prop_assert_eq!(check_detail(&ascii), naive_check_detail(&ascii));
        let mut s: Vec<char> = ascii.chars().collect();
        s.insert(at.index(s.len() + 1), planted);
        let s: String = s.into_iter().collect();
        prop_assert_eq!(check_detail(&s), naive_check_detail(&s));
    }
}

#[test]
fn every_control_character_is_refused_at_every_position() {
    let controls = (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32);
    for c in controls {
        for pos in 0..17 {
            let mut s = "x".repeat(16);
            s.insert(pos, c);
            assert_eq!(
                check_detail(&s),
                Err(AuditDecodeError::DetailControlChar),
                "{c:?} at {pos}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever is written, a DetailBuf holds a valid detail: the sanitized text when it fits,
    /// else a prefix of it cut at a character boundary followed by `...`, within 256 bytes.
    #[test]
    fn detail_buf_always_holds_a_valid_detail(parts in prop::collection::vec(".{0,120}", 0..6)) {
        let mut d = DetailBuf::new();
        for p in &parts {
            write!(d, "{p}").unwrap();
        }
        let sanitized: String = parts
            .concat()
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        prop_assert_eq!(check_detail(d.as_str()), Ok(()));
        if sanitized.len() <= AGENT_AUDIT_DETAIL_MAX {
            prop_assert!(!d.truncated());
            prop_assert_eq!(d.as_str(), sanitized.as_str());
        } else {
            prop_assert!(d.truncated());
            let kept = d.as_str().strip_suffix("...").unwrap();
            prop_assert!(sanitized.starts_with(kept));
            prop_assert!(d.as_str().len() > AGENT_AUDIT_DETAIL_MAX - 6);
        }
    }
}
