//! The checkpoint note body and its base64: the encoder and the strict decoder agree with the
//! `base64` crate's canonical standard engine, notes round-trip, and every deviation from the
//! one accepted spelling is refused with the field it concerns.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use coconut_audit::{
    base64_decode, base64_encode, base64_len, Checkpoint, NoteError, NOTE_MAX, NOTE_ORIGIN_PREFIX,
};
use proptest::prelude::*;

fn sample() -> Checkpoint {
    Checkpoint {
        machine_id: *b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10",
        boot: 42,
        size: 1025,
        root: [0xfb; 32],
        head: [0x00; 32],
    }
}

fn render(c: &Checkpoint) -> String {
    let mut buf = [0u8; NOTE_MAX];
    c.note(&mut buf).to_owned()
}

#[test]
fn the_sample_note_is_spelled_as_audit_md_says() {
    let text = render(&sample());
    assert_eq!(
        text,
        format!(
            "coconut-os/audit/0123456789abcdeffedcba9876543210/42\n1025\n{}\nhead {}\n",
            STANDARD.encode([0xfb; 32]),
            STANDARD.encode([0x00; 32])
        )
    );
    assert!(text.starts_with(NOTE_ORIGIN_PREFIX));
    assert_eq!(Checkpoint::parse_note(text.as_bytes()), Ok(sample()));
}

#[test]
fn the_longest_note_fits_note_max() {
    let c = Checkpoint {
        machine_id: [0xff; 16],
        boot: u64::MAX,
        size: u64::MAX,
        root: [0xff; 32],
        head: [0xff; 32],
    };
    let text = render(&c);
    assert_eq!(text.len(), NOTE_MAX);
    assert_eq!(Checkpoint::parse_note(text.as_bytes()), Ok(c));
}

/// `text` with the first occurrence of `from` replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in {text:?}");
    text.replacen(from, to, 1)
}

#[test]
fn every_deviation_is_refused_naming_its_field() {
    let good = render(&sample());
    let root = STANDARD.encode([0xfb; 32]);
    let head = STANDARD.encode([0x00; 32]);
    let cases: Vec<(String, NoteError)> = vec![
        // Origin line.
        (edit(&good, "coconut-os/", "Coconut-os/"), NoteError::Origin),
        (
            edit(&good, "coconut-os/", " coconut-os/"),
            NoteError::Origin,
        ),
        (edit(&good, "audit/", "audit//"), NoteError::MachineId),
        (
            edit(&good, "0123456789abcdef", "0123456789ABCDEF"),
            NoteError::MachineId,
        ),
        (
            edit(&good, "0123456789abcdef", "0123456789abcde"),
            NoteError::MachineId,
        ),
        (edit(&good, "3210/", "32100/"), NoteError::MachineId),
        (edit(&good, "3210/", "3210 /"), NoteError::MachineId),
        (edit(&good, "3210/42", "3210/042"), NoteError::Boot),
        (edit(&good, "3210/42", "3210/+42"), NoteError::Boot),
        (edit(&good, "3210/42", "3210/42 "), NoteError::Boot),
        (edit(&good, "3210/42", "3210/"), NoteError::Boot),
        (
            edit(&good, "3210/42", "3210/18446744073709551616"),
            NoteError::Boot,
        ),
        (edit(&good, "/42\n", "/42\r\n"), NoteError::Boot),
        // Size line.
        (edit(&good, "\n1025\n", "\n01025\n"), NoteError::Size),
        (edit(&good, "\n1025\n", "\n1025 \n"), NoteError::Size),
        (edit(&good, "\n1025\n", "\n 1025\n"), NoteError::Size),
        (edit(&good, "\n1025\n", "\n\n"), NoteError::Size),
        (edit(&good, "\n1025\n", "\n-1\n"), NoteError::Size),
        (edit(&good, "\n1025\n", "\n0x401\n"), NoteError::Size),
        (
            edit(&good, "\n1025\n", "\n18446744073709551616\n"),
            NoteError::Size,
        ),
        // Root line.
        (edit(&good, &root, &root.replace('=', "")), NoteError::Root),
        (edit(&good, &root, &format!("{root} ")), NoteError::Root),
        (edit(&good, &root, &format!(" {root}")), NoteError::Root),
        (edit(&good, &root, &root.replace('/', "_")), NoteError::Root),
        (edit(&good, &root, &root.replace('+', "-")), NoteError::Root),
        // The last digit's unused bits set: "/t=" decodes to the same 0xfb as "/s=", with a
        // bit left over.
        (edit(&good, "/s=\n", "/t=\n"), NoteError::Root),
        (
            edit(&good, &root, &STANDARD.encode([0xfb; 31])),
            NoteError::Root,
        ),
        (
            edit(&good, &root, &STANDARD.encode([0xfb; 33])),
            NoteError::Root,
        ),
        (edit(&good, &root, &hex(&[0xfb; 32])), NoteError::Root),
        // Head line.
        (edit(&good, "head ", "head  "), NoteError::Head),
        (edit(&good, "head ", "Head "), NoteError::HeadLine),
        (edit(&good, "head ", "head\t"), NoteError::HeadLine),
        (edit(&good, "head ", "head"), NoteError::HeadLine),
        (
            edit(&good, &format!("head {head}"), &format!("head {head}=")),
            NoteError::Head,
        ),
        (
            edit(&good, &format!("head {head}"), "head "),
            NoteError::Head,
        ),
        // Lines and the end.
        (
            good.trim_end_matches('\n').to_owned(),
            NoteError::MissingNewline,
        ),
        (format!("{good}\n"), NoteError::Trailing),
        (format!("{good}extension\n"), NoteError::Trailing),
        (edit(&good, "\n1025\n", "\n1025\n\n"), NoteError::Root),
        (
            good.split('\n').next().unwrap().to_owned(),
            NoteError::MissingNewline,
        ),
        (String::new(), NoteError::MissingNewline),
    ];
    for (text, want) in cases {
        assert_ne!(text, good);
        assert_eq!(
            Checkpoint::parse_note(text.as_bytes()),
            Err(want),
            "{text:?}"
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn encode_refuses_a_short_buffer() {
    let mut out = [0u8; 7];
    assert_eq!(base64_encode(b"abcdef", &mut out), None);
    assert_eq!(base64_encode(b"abcde", &mut out[..8 - 1]), None);
    let mut out = [0u8; 8];
    assert_eq!(base64_encode(b"abcdef", &mut out), Some(8));
    assert_eq!(&out, b"YWJjZGVm");
    let mut short = [0u8; 5];
    assert_eq!(base64_decode(b"YWJjZGVm", &mut short), None);
}

/// Text made of base64 digits, padding and a few strangers, so that random strings reach
/// every rule of the decoder.
fn b64ish() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()
            ),
            2 => Just(b'='),
            1 => proptest::sample::select(b"-_ \n.A".to_vec()),
        ],
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn base64_encode_matches_the_base64_crate(input in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut out = vec![0u8; base64_len(input.len()).unwrap()];
        prop_assert_eq!(base64_encode(&input, &mut out), Some(out.len()));
        let want = STANDARD.encode(&input);
        prop_assert_eq!(&out, want.as_bytes());
        let mut back = vec![0u8; input.len()];
        prop_assert_eq!(base64_decode(&out, &mut back), Some(input.len()));
        prop_assert_eq!(back, input);
    }

    #[test]
    fn base64_decode_accepts_exactly_what_the_base64_crate_accepts(text in b64ish()) {
        let mut out = [0u8; 24];
        let ours = base64_decode(&text, &mut out).map(|n| out[..n].to_vec());
        prop_assert_eq!(ours, STANDARD.decode(&text).ok(), "{:?}", String::from_utf8_lossy(&text));
    }

    #[test]
    fn notes_round_trip(
        machine_id in any::<[u8; 16]>(),
        boot in any::<u64>(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        head in any::<[u8; 32]>(),
    ) {
        let c = Checkpoint { machine_id, boot, size, root, head };
        let text = render(&c);
        prop_assert_eq!(Checkpoint::parse_note(text.as_bytes()), Ok(c));
        // Any single-byte change is refused or changes what was parsed.
        let bytes = text.as_bytes();
        let at = (boot as usize) % bytes.len();
        let mut bad = bytes.to_vec();
        bad[at] ^= 0x01;
        prop_assert_ne!(Checkpoint::parse_note(&bad), Ok(c));
    }
}
