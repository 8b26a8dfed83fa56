//! Fuzz target `rows`: bytes through the binary row decoder, the verifier (strict, with a seed,
//! with gaps allowed), the JSON renderer, the event decoder and the chain's `append` — none may
//! panic. Inputs whose first byte is odd instead flip bytes of a valid five-row, two-boot
//! segment; the verifier must then name exactly the first row that changed.
#![no_main]

use std::sync::OnceLock;

use coconut_abi::{Aid, AuditKind};
use coconut_audit::{
    encode_row, render_json_line, verify_segment, Chain, Event, PrevBoot, Record, Rows, Verifier,
    EVENT_MAX, JSON_LINE_MAX, LINK_DETAIL_MAX,
};
use libfuzzer_sys::fuzz_target;

const SEED: [u8; 32] = [0x42; 32];

/// A valid segment (boot 1: boot row, two events; boot 2: boot row, link) and each row's end.
fn valid() -> &'static (Vec<u8>, Vec<usize>) {
    static VALID: OnceLock<(Vec<u8>, Vec<usize>)> = OnceLock::new();
    VALID.get_or_init(|| {
        let mut seg = Vec::new();
        let mut ends = Vec::new();
        let mut ev = [0u8; EVENT_MAX];
        let mut row = [0u8; 72 + EVENT_MAX];
        let rec = |kind, detail| Record {
            kind,
            time_ns: 1,
            actor: Aid::BOOT,
            subject: Aid::new(3).unwrap(),
            result: -1,
            detail,
        };
        let mut push = |chain: &mut Chain, r: Record<'_>| {
            let (sealed, n) = chain.seal(&r, &mut ev).unwrap();
            let m = encode_row(&sealed.prev, &sealed.hash, &ev[..n], &mut row).unwrap();
            seg.extend_from_slice(&row[..m]);
            ends.push(seg.len());
        };
        let mut c1 = Chain::start(&SEED, 1, None);
        push(&mut c1, rec(AuditKind::Boot, ""));
        push(&mut c1, rec(AuditKind::Spawn, "name=web say=\"hé\""));
        push(&mut c1, rec(AuditKind::CapDeny, "cap=fs.read:/etc/shadow"));
        let prev = PrevBoot {
            boot: 1,
            last_seq: 2,
            head: *c1.head(),
        };
        let mut c2 = Chain::start(&SEED, 2, Some(prev));
        push(&mut c2, rec(AuditKind::Boot, ""));
        let mut text = [0u8; LINK_DETAIL_MAX];
        let link = prev.encode(&mut text).to_string();
        push(&mut c2, rec(AuditKind::Link, &link));
        assert!(verify_segment(&seg).is_ok());
        (seg, ends)
    })
}

fn exercise(bytes: &[u8]) {
    let _ = verify_segment(bytes);
    let _ = Verifier::new()
        .with_seed(SEED)
        .allow_gaps()
        .verify_segment(bytes);
    let mut line = [0u8; JSON_LINE_MAX];
    for row in Rows::new(bytes).flatten() {
        if let Ok(n) = render_json_line(row, &mut line) {
            assert!(n <= JSON_LINE_MAX);
            assert!(std::str::from_utf8(&line[..n]).is_ok());
        }
        if let Ok(ev) = Event::decode(row.event) {
            let _ = PrevBoot::parse(ev.detail);
            let mut again = [0u8; EVENT_MAX];
            let n = ev.encode(&mut again).unwrap();
            assert_eq!(&again[..n], row.event);
        }
    }
    let mut chain = Chain::start(&SEED, 1, None);
    let _ = chain.append(bytes);
    let _ = Event::decode(bytes);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        exercise(rest);
        return;
    }
    let (seg, ends) = valid();
    let mut damaged = seg.clone();
    for flip in rest.chunks_exact(3).take(8) {
        let pos = usize::from(u16::from_le_bytes([flip[0], flip[1]])) % damaged.len();
        damaged[pos] ^= flip[2];
    }
    exercise(&damaged);
    match damaged.iter().zip(seg.iter()).position(|(a, b)| a != b) {
        None => assert!(verify_segment(&damaged).is_ok()),
        Some(first) => {
            let row = ends.iter().position(|&end| first < end).unwrap() as u64;
            let e = verify_segment(&damaged).unwrap_err();
            assert_eq!(e.index, row, "{e}");
        }
    }
});
