//! AID text form: canonical printing, strict parsing, round trips, and rejection of every
//! non-canonical spelling.

use coconut_abi::{Aid, AidError, AidTarget, Errno, AID_ANY, AID_MAX, AID_SELF, AID_TEXT_MAX};
use proptest::prelude::*;

fn encoded(aid: Aid) -> String {
    let mut buf = [0u8; AID_TEXT_MAX];
    String::from_utf8(aid.encode(&mut buf).to_vec()).expect("ASCII")
}

#[test]
fn prints_five_digits_at_least() {
    let cases = [
        (0, "a:00000"),
        (1, "a:00001"),
        (42, "a:00042"),
        (99_999, "a:99999"),
        (100_000, "a:100000"),
        (123_456, "a:123456"),
        (AID_MAX, "a:9223372036854775807"),
    ];
    for (v, text) in cases {
        let aid = Aid::new(v).expect("valid");
        assert_eq!(aid.to_string(), text);
        assert_eq!(encoded(aid), text);
        assert_eq!(Aid::parse(text.as_bytes()), Ok(aid));
        assert_eq!(text.parse::<Aid>(), Ok(aid));
    }
    assert!(Aid::BOOT.is_boot());
    assert!(!Aid::new(1).expect("valid").is_boot());
    assert_eq!(Aid::MAX.get(), AID_MAX);
}

#[test]
fn rejects_non_canonical_forms() {
    let cases: [(&str, AidError); 22] = [
        ("a:1", AidError::NonCanonical),
        ("a:0001", AidError::NonCanonical),
        ("a:000001", AidError::NonCanonical),
        ("a:0123456", AidError::NonCanonical),
        ("a:", AidError::NonCanonical),
        ("A:00001", AidError::MissingPrefix),
        ("a;00001", AidError::MissingPrefix),
        ("00001", AidError::MissingPrefix),
        ("", AidError::MissingPrefix),
        ("a", AidError::MissingPrefix),
        (" a:00001", AidError::MissingPrefix),
        ("a:-1", AidError::NotDigit),
        ("a:+0001", AidError::NotDigit),
        ("a:00001 ", AidError::NotDigit),
        ("a:00001\n", AidError::NotDigit),
        ("a: 0001", AidError::NotDigit),
        ("a:0x001", AidError::NotDigit),
        ("a:1e5", AidError::NotDigit),
        ("a:１２３４５", AidError::NotDigit),
        ("a:9223372036854775808", AidError::TooLarge),
        ("a:18446744073709551615", AidError::TooLarge),
        ("a:99999999999999999999999", AidError::TooLarge),
    ];
    for (text, err) in cases {
        assert_eq!(Aid::parse(text.as_bytes()), Err(err), "{text:?}");
    }
}

#[test]
fn raw_arguments_classify() {
    assert_eq!(AidTarget::from_arg(AID_SELF), Ok(AidTarget::SelfAgent));
    assert_eq!(AidTarget::from_arg(0), Ok(AidTarget::Agent(Aid::BOOT)));
    assert_eq!(AidTarget::from_arg(AID_MAX), Ok(AidTarget::Agent(Aid::MAX)));
    assert_eq!(AidTarget::from_arg(AID_ANY), Err(Errno::EINVAL));
    assert_eq!(AidTarget::from_arg(AID_MAX + 1), Err(Errno::EINVAL));
    assert_eq!(Aid::new(AID_MAX + 1), Err(AidError::TooLarge));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn round_trip(v in 0..=AID_MAX) {
        let aid = Aid::new(v).unwrap();
        let text = aid.to_string();
        prop_assert_eq!(&encoded(aid), &text);
        prop_assert_eq!(Aid::parse(text.as_bytes()), Ok(aid));
        prop_assert!(text.len() >= 7 && text.len() <= AID_TEXT_MAX);
    }

    #[test]
    fn parse_accepts_only_what_print_produces(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Ok(aid) = Aid::parse(&bytes) {
            let text = aid.to_string();
            prop_assert_eq!(text.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn parse_accepts_only_what_print_produces_near_misses(
        v in 0..=AID_MAX, zeros in 0usize..3, prefix in "a:|A:|a|:|a::|"
    ) {
        let text = format!("{prefix}{}{v}", "0".repeat(zeros));
        let canonical = Aid::new(v).unwrap().to_string();
        match Aid::parse(text.as_bytes()) {
            Ok(aid) => {
                prop_assert_eq!(aid.get(), v);
                prop_assert_eq!(text, canonical);
            }
            Err(_) => prop_assert_ne!(text, canonical),
        }
    }

    #[test]
    fn padded_forms_of_small_values_are_canonical_only_at_width_five(v in 0u64..100_000, width in 1usize..9) {
        let text = format!("a:{v:0width$}");
        let ok = Aid::parse(text.as_bytes()).is_ok();
        prop_assert_eq!(ok, text == format!("a:{v:05}"));
    }
}
