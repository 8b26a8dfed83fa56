//! `coconut_audit::hex` (which the kernel's audit object uses for machine ids) against the
//! `hex` crate: the same text both ways, and only lowercase, exact-length text decodes.

use coconut_audit::hex::{decode_into, encode_into};
use proptest::prelude::*;

proptest! {
    #[test]
    fn encoding_matches_the_hex_crate(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut out = vec![0u8; bytes.len() * 2];
        encode_into(&bytes, &mut out);
        prop_assert_eq!(String::from_utf8(out.clone()).unwrap(), hex::encode(&bytes));
        let mut back = vec![0u8; bytes.len()];
        prop_assert!(decode_into(&out, &mut back).is_some());
        prop_assert_eq!(back, bytes);
    }

    #[test]
    fn decoding_accepts_what_the_hex_crate_writes_in_lowercase_only(
        text in "[0-9a-fA-F]{0,8}",
    ) {
        let mut out = vec![0u8; text.len() / 2];
        let ours = decode_into(text.as_bytes(), &mut out);
        let lower_and_even = text.len() % 2 == 0 && !text.bytes().any(|b| b.is_ascii_uppercase());
        prop_assert_eq!(ours.is_some(), lower_and_even);
        if ours.is_some() {
            prop_assert_eq!(out, hex::decode(&text).unwrap());
        }
    }
}

#[test]
fn a_short_output_takes_what_fits_and_a_wrong_length_is_refused() {
    let mut two = [0u8; 2];
    encode_into(&[0xab, 0xcd], &mut two);
    assert_eq!(&two, b"ab");
    let mut id = [0u8; 16];
    assert!(decode_into(b"00", &mut id).is_none());
    assert!(decode_into(&[b'0'; 33], &mut id).is_none());
    assert!(decode_into(&[b'0'; 32], &mut id).is_some());
}
