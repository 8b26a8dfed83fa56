//! Hand-written malformed inputs, one or more per error variant, each with its exact offset;
//! the Decoder's accessors, `MapReader` and the Encoder on edge cases.

mod common;

use coconut_cbor::{validate, Decoder, Encoder, Error, Feature, Limits, Type};
use common::hex;

const L: Limits = Limits::KERNEL;

fn check(hexstr: &str, want: Result<(), Error>) {
    assert_eq!(validate(&hex(hexstr), &L), want, "{hexstr}");
}

#[test]
fn truncated() {
    let t = |offset| Err(Error::Truncated { offset });
    check("", t(0));
    check("1901", t(0));
    check("83 01 02", t(3));
    check("62 61", t(0));
    check("82 01 59 00", t(2));
    check("a1 61 61", t(3));
    check("81 a1 00", t(3));
}

#[test]
fn non_canonical() {
    let n = |offset| Err(Error::NonCanonical { offset });
    check("18 17", n(0));
    check("19 00 ff", n(0));
    check("1a 00 00 ff ff", n(0));
    check("1b 00 00 00 00 ff ff ff ff", n(0));
    check("38 00", n(0));
    check("82 00 19 00 ff", n(2));
    check("58 01 00", n(0));
    check("78 00", n(0));
    check("98 01 00", n(0));
    check("b8 00", n(0));
    // The shortest forms just above each boundary are fine.
    check("18 18", Ok(()));
    check("19 01 00", Ok(()));
    check("1a 00 01 00 00", Ok(()));
    check("1b 00 00 00 01 00 00 00 00", Ok(()));
}

#[test]
fn unsupported() {
    let u = |what, offset| Err(Error::Unsupported { what, offset });
    check("c1 00", u(Feature::Tag, 0));
    check("81 d8 20 00", u(Feature::Tag, 1));
    check("82 00 f9 3c 00", u(Feature::Float, 2));
    check("fa 00 00 00 00", u(Feature::Float, 0));
    check("fb 00 00 00 00 00 00 00 00", u(Feature::Float, 0));
    check("a1 f7 00", u(Feature::Undefined, 1));
    check("e0", u(Feature::Simple, 0));
    check("f3", u(Feature::Simple, 0));
    check("f8 20", u(Feature::Simple, 0));
    check("81 ff", u(Feature::Break, 1));
}

#[test]
fn reserved() {
    let r = |offset| Err(Error::Reserved { offset });
    check("1c", r(0));
    check("81 3d", r(1));
    check("5e", r(0));
    check("7c", r(0));
    check("9d", r(0));
    check("be", r(0));
    check("fc", r(0));
    check("1f", r(0));
    check("82 00 3f", r(2));
}

#[test]
fn indefinite_length() {
    let i = |offset| Err(Error::IndefiniteLength { offset });
    check("5f ff", i(0));
    check("7f ff", i(0));
    check("81 9f ff", i(1));
    check("a1 00 bf ff", i(2));
}

#[test]
fn invalid_utf8() {
    let u = |offset| Err(Error::InvalidUtf8 { offset });
    check("63 61 ff 62", u(2));
    check("62 c3 28", u(1));
    check("62 61 c3", u(2));
    // A UTF-16 surrogate encoded in UTF-8 is invalid.
    check("83 00 00 63 ed a0 80", u(4));
    // An overlong encoding of '/'.
    check("62 c0 af", u(1));
    // A byte string may hold anything.
    check("62 61 ff", u(2));
    check("42 61 ff", Ok(()));
}

#[test]
fn too_deep() {
    let nest = |n: usize| format!("{}00", "81".repeat(n));
    check(&nest(8), Ok(()));
    check(&nest(9), Err(Error::TooDeep { offset: 8 }));
    // Empty containers count too, and so do maps.
    check(
        &format!("{}80", "81".repeat(8)),
        Err(Error::TooDeep { offset: 8 }),
    );
    check(
        &format!("{}a0", "a1 00".repeat(8)),
        Err(Error::TooDeep { offset: 16 }),
    );
    // Depth is per path, not cumulative: siblings at depth 8 are fine.
    check(&format!("{}82 80 80", "81".repeat(6)), Ok(()));
    // A max_depth above DEPTH_CAP acts as DEPTH_CAP.
    let deep = Limits {
        max_depth: u32::MAX,
        ..Limits::PERMISSIVE
    };
    let cap = coconut_cbor::DEPTH_CAP as usize;
    assert_eq!(validate(&hex(&nest(cap)), &deep), Ok(()));
    assert_eq!(
        validate(&hex(&nest(cap + 1)), &deep),
        Err(Error::TooDeep { offset: cap })
    );
    // Depth 0 allows only scalars.
    let flat = Limits { max_depth: 0, ..L };
    assert_eq!(validate(&hex("01"), &flat), Ok(()));
    assert_eq!(
        validate(&hex("80"), &flat),
        Err(Error::TooDeep { offset: 0 })
    );
}

#[test]
fn too_many_items() {
    // 1 array + 1023 elements = 1024 items: the limit exactly.
    let mut ok = hex("99 03 ff");
    ok.resize(3 + 1023, 0);
    assert_eq!(validate(&ok, &L), Ok(()));
    let mut over = hex("99 04 00");
    over.resize(3 + 1024, 0);
    assert_eq!(validate(&over, &L), Err(Error::TooManyItems { offset: 0 }));
    // Counts are charged at the head, before any element is read.
    check(
        "9b ff ff ff ff ff ff ff ff",
        Err(Error::TooManyItems { offset: 0 }),
    );
    check(
        "bb 7f ff ff ff ff ff ff ff",
        Err(Error::TooManyItems { offset: 0 }),
    );
    check(
        "bb ff ff ff ff ff ff ff ff",
        Err(Error::TooManyItems { offset: 0 }),
    );
    // Nested counts add up: 1 + 2 + 511*2 = 1025 (a map's pairs count twice).
    let mut nested = hex("82 00 b9 01 ff");
    nested.resize(5 + 1022, 0);
    assert_eq!(
        validate(&nested, &L),
        Err(Error::TooManyItems { offset: 2 })
    );
    let none = Limits { max_items: 0, ..L };
    assert_eq!(
        validate(&hex("00"), &none),
        Err(Error::TooManyItems { offset: 0 })
    );
}

#[test]
fn too_long() {
    let mut ok = hex("59 10 00");
    ok.resize(3 + 4096, b'a');
    assert_eq!(validate(&ok, &L), Ok(()));
    ok[0] = 0x79;
    assert_eq!(validate(&ok, &L), Ok(()));
    let mut long = hex("82 00 59 10 01");
    long.resize(5 + 4097, 0);
    assert_eq!(validate(&long, &L), Err(Error::TooLong { offset: 2 }));
    // The length is judged before the input end.
    check("7a 00 01 00 00", Err(Error::TooLong { offset: 0 }));
}

#[test]
fn too_big() {
    let mut big = hex("59 3f fd");
    big.resize(16 * 1024, 0);
    let roomy = Limits {
        max_str: usize::MAX,
        ..L
    };
    assert_eq!(validate(&big, &roomy), Ok(()));
    big[2] = 0xfe;
    big.push(0);
    assert_eq!(validate(&big, &roomy), Err(Error::TooBig { offset: 16384 }));
}

#[test]
fn keys_out_of_order() {
    let k = |offset| Err(Error::KeysOutOfOrder { offset });
    // {"b": 1, "a": 2}
    check("a2 61 62 01 61 61 02", k(4));
    // Duplicate keys.
    check("a2 61 61 01 61 61 02", k(4));
    check("a2 00 00 00 01", k(3));
    // Bytewise order, not length-first: "b" (61 62) sorts before "aa" (62 61 61).
    check("a2 61 62 00 62 61 61 00", Ok(()));
    check("a2 62 61 61 00 61 62 00", k(5));
    // Integers: 10 (0a) < 100 (18 64) < -1 (20).
    check("a3 0a 00 18 64 00 20 00", Ok(()));
    check("a3 0a 00 20 00 18 64 00", k(5));
    // A key that is a prefix of the next sorts first; containers as keys compare by bytes.
    check("a2 81 00 00 82 00 00 00", Ok(()));
    check("a2 82 00 00 00 81 00 00", k(5));
    // Order is checked inside nested maps, each with its own previous key.
    check("a2 00 a2 00 00 01 00 01 00", Ok(()));
    check("a2 00 a2 01 00 00 00 01 00", k(5));
}

#[test]
fn trailing_bytes() {
    check("00 00", Err(Error::TrailingBytes { offset: 1 }));
    check("82 00 00 ff", Err(Error::TrailingBytes { offset: 3 }));
    assert_eq!(
        Decoder::new(&[0, 0]).finish(),
        Err(Error::TrailingBytes { offset: 0 })
    );
}

#[test]
fn type_mismatch_and_out_of_range() {
    let input = hex(
        "88 61 61 1a 00 01 00 00 1b 00 00 00 01 00 00 00 00 20 3b 7f ff ff ff ff ff ff ff f5 f6 40",
    );
    let mut d = Decoder::new(&input);
    assert_eq!(
        d.map(),
        Err(Error::TypeMismatch {
            expected: Type::Map,
            found: Type::Array,
            offset: 0
        })
    );
    assert_eq!(d.array(), Ok(8));
    assert_eq!(
        d.u64(),
        Err(Error::TypeMismatch {
            expected: Type::Unsigned,
            found: Type::Text,
            offset: 1
        })
    );
    assert_eq!(d.position(), 1, "a failed accessor does not move");
    assert_eq!(
        d.bytes(),
        Err(Error::TypeMismatch {
            expected: Type::Bytes,
            found: Type::Text,
            offset: 1
        })
    );
    assert_eq!(d.text(), Ok("a"));
    assert_eq!(d.u32(), Ok(65536));
    assert_eq!(d.u32(), Err(Error::OutOfRange { offset: 8 }));
    assert_eq!(d.position(), 8);
    assert_eq!(d.i64(), Ok(1 << 32));
    assert_eq!(
        d.u64(),
        Err(Error::TypeMismatch {
            expected: Type::Unsigned,
            found: Type::Negative,
            offset: 17
        })
    );
    assert_eq!(d.i64(), Ok(-1));
    assert_eq!(d.peek_type(), Ok(Type::Negative));
    assert_eq!(d.i64(), Ok(i64::MIN));
    assert_eq!(
        d.i64(),
        Err(Error::TypeMismatch {
            expected: Type::Unsigned,
            found: Type::Bool,
            offset: 27
        })
    );
    assert_eq!(d.bool(), Ok(true));
    assert_eq!(
        d.bool(),
        Err(Error::TypeMismatch {
            expected: Type::Bool,
            found: Type::Null,
            offset: 28
        })
    );
    assert_eq!(d.null(), Ok(()));
    assert_eq!(d.bytes(), Ok(&[][..]));
    assert_eq!(d.finish(), Ok(()));
    assert_eq!(d.peek_type(), Err(Error::Truncated { offset: 30 }));

    assert_eq!(
        Decoder::new(&hex("1b 80 00 00 00 00 00 00 00")).i64(),
        Err(Error::OutOfRange { offset: 0 })
    );
    assert_eq!(
        Decoder::new(&hex("1b 7f ff ff ff ff ff ff ff")).i64(),
        Ok(i64::MAX)
    );
    assert_eq!(
        Decoder::new(&hex("3b 80 00 00 00 00 00 00 00")).peek_type(),
        Err(Error::OutOfRange { offset: 0 })
    );
}

#[test]
fn decoder_rechecks_raw_input() {
    // Every accessor checks canonical form, strings and bounds on unvalidated input.
    assert_eq!(
        Decoder::new(&hex("18 01")).u64(),
        Err(Error::NonCanonical { offset: 0 })
    );
    assert_eq!(
        Decoder::new(&hex("62 ff ff")).text(),
        Err(Error::InvalidUtf8 { offset: 1 })
    );
    assert_eq!(
        Decoder::new(&hex("5b ff ff ff ff ff ff ff ff 00")).bytes(),
        Err(Error::Truncated { offset: 0 })
    );
    let limited = Decoder::with_limits(&[0x43, 1, 2, 3], Limits { max_str: 2, ..L }).bytes();
    assert_eq!(limited, Err(Error::TooLong { offset: 0 }));
    // skip and raw_item walk the whole item with validate's checks.
    let input = hex("82 a2 01 00 00 00 00");
    let mut d = Decoder::new(&input);
    assert_eq!(d.array(), Ok(2));
    assert_eq!(d.skip(), Err(Error::KeysOutOfOrder { offset: 4 }));
    assert_eq!(d.position(), 1);
    // A huge declared count on raw input ends at the input's end, after linear work.
    let input = hex("9a 00 ff ff ff 00 00");
    let mut d = Decoder::new(&input);
    assert_eq!(d.skip(), Err(Error::Truncated { offset: 7 }));
    // Counts beyond the permissive item limit (u32::MAX) fail at once.
    let input = hex("9b ff ff ff ff ff ff ff ff 00 00");
    let mut d = Decoder::new(&input);
    assert_eq!(d.skip(), Err(Error::TooManyItems { offset: 0 }));
    // skip honours the decoder's limits.
    let mut d = Decoder::with_limits(&[0x81, 0x81, 0x00], Limits { max_depth: 1, ..L });
    assert_eq!(d.skip(), Err(Error::TooDeep { offset: 1 }));
}

#[test]
fn raw_item_and_skip() {
    // [h'0102', {"a": [1, 2]}, 7]
    let input = hex("83 42 01 02 a1 61 61 82 01 02 07");
    let mut d = Decoder::new(&input);
    assert_eq!(d.array(), Ok(3));
    assert_eq!(d.raw_item(), Ok(&input[1..4]));
    assert_eq!(d.raw_item(), Ok(&input[4..10]));
    d.skip().unwrap();
    assert_eq!(d.finish(), Ok(()));
    assert_eq!(d.remaining(), &[] as &[u8]);
}

/// The consumer pattern of the crate docs: a manifest-like map with text keys.
#[test]
fn map_reader() {
    // {"v": 1, "caps": ["fs.read:/tmp/*"], "name": "x"}
    let doc = b"\xa3\x61v\x01\x64caps\x81\x6efs.read:/tmp/*\x64name\x61x";
    validate(doc, &L).unwrap();
    let mut d = Decoder::new(doc);
    let mut m = d.map_reader().unwrap();
    assert_eq!(m.remaining(), 3);
    assert_eq!(m.next_key(), Ok(Some("v")));
    assert_eq!(m.value().u32(), Ok(1));
    // "caps" is left unread: the next key skips its value.
    assert_eq!(m.next_key(), Ok(Some("caps")));
    assert_eq!(m.next_key(), Ok(Some("name")));
    assert_eq!(m.value().text(), Ok("x"));
    assert_eq!(m.next_key(), Ok(None));
    assert_eq!(m.next_key(), Ok(None));
    d.finish().unwrap();

    // Out-of-order and duplicate keys are caught while reading, without validate().
    let swapped = b"\xa2\x64name\x61x\x61v\x01";
    let mut d = Decoder::new(swapped);
    let mut m = d.map_reader().unwrap();
    assert_eq!(m.next_key(), Ok(Some("name")));
    assert_eq!(m.next_key(), Err(Error::KeysOutOfOrder { offset: 8 }));
    let dup = b"\xa2\x61v\x01\x61v\x02";
    let mut d = Decoder::new(dup);
    let mut m = d.map_reader().unwrap();
    assert_eq!(m.next_key(), Ok(Some("v")));
    assert_eq!(m.next_key(), Err(Error::KeysOutOfOrder { offset: 4 }));
    // Non-text keys are a type mismatch for next_key, fine for next_raw_key.
    let int_keys = hex("a2 01 00 02 00");
    let mut d = Decoder::new(&int_keys);
    let mut m = d.map_reader().unwrap();
    assert_eq!(
        m.next_key(),
        Err(Error::TypeMismatch {
            expected: Type::Text,
            found: Type::Unsigned,
            offset: 1
        })
    );
    assert_eq!(m.next_raw_key(), Ok(Some(&[1u8][..])));
    assert_eq!(m.next_raw_key(), Ok(Some(&[2u8][..])));
    assert_eq!(m.next_raw_key(), Ok(None));
    d.finish().unwrap();
    // A truncated last value is reported when it is skipped.
    let mut d = Decoder::new(b"\xa1\x61v\x82\x01");
    let mut m = d.map_reader().unwrap();
    assert_eq!(m.next_key(), Ok(Some("v")));
    assert_eq!(m.next_key(), Err(Error::Truncated { offset: 5 }));
}

#[test]
fn encoder() {
    let mut buf = [0u8; 64];
    let mut e = Encoder::new(&mut buf);
    assert!(e.is_empty());
    e.map(2).unwrap();
    e.text("a").unwrap();
    e.i64(-1000).unwrap();
    e.text("b").unwrap();
    e.array(4).unwrap();
    e.bool(true).unwrap();
    e.null().unwrap();
    e.bytes(&[1, 2]).unwrap();
    e.u64(u64::MAX).unwrap();
    assert_eq!(e.len(), 23);
    assert_eq!(
        e.written(),
        &hex("a2 61 61 39 03 e7 61 62 84 f5 f6 42 01 02 1b ff ff ff ff ff ff ff ff")[..]
    );
    let out = e.into_written();
    assert_eq!(validate(out, &L), Ok(()));

    // Items are written whole or not at all.
    let mut small = [0u8; 4];
    let mut e = Encoder::new(&mut small);
    e.u64(1000).unwrap();
    assert_eq!(e.text("ab"), Err(Error::BufferFull { offset: 3 }));
    assert_eq!(e.len(), 3);
    assert_eq!(e.i64(i64::MIN), Err(Error::BufferFull { offset: 3 }));
    assert_eq!(e.raw(&[0, 0]), Err(Error::BufferFull { offset: 3 }));
    e.raw(&[0xf4]).unwrap();
    assert_eq!(e.null(), Err(Error::BufferFull { offset: 4 }));
    assert_eq!(e.into_written(), &hex("19 03 e8 f4")[..]);

    let mut buf = [0u8; 9];
    let mut e = Encoder::new(&mut buf);
    e.i64(i64::MIN).unwrap();
    assert_eq!(e.written(), &hex("3b 7f ff ff ff ff ff ff ff")[..]);
}

#[test]
fn every_error_displays_its_offset() {
    let all = [
        Error::Truncated { offset: 7 },
        Error::NonCanonical { offset: 7 },
        Error::Unsupported {
            what: Feature::Float,
            offset: 7,
        },
        Error::Reserved { offset: 7 },
        Error::IndefiniteLength { offset: 7 },
        Error::InvalidUtf8 { offset: 7 },
        Error::TooDeep { offset: 7 },
        Error::TooManyItems { offset: 7 },
        Error::TooLong { offset: 7 },
        Error::TooBig { offset: 7 },
        Error::KeysOutOfOrder { offset: 7 },
        Error::TrailingBytes { offset: 7 },
        Error::TypeMismatch {
            expected: Type::Text,
            found: Type::Map,
            offset: 7,
        },
        Error::OutOfRange { offset: 7 },
        Error::BufferFull { offset: 7 },
    ];
    for e in all {
        assert_eq!(e.offset(), 7);
        let msg = e.to_string();
        assert!(msg.contains('7'), "{msg}");
    }
    assert_eq!(
        Error::TypeMismatch {
            expected: Type::Text,
            found: Type::Map,
            offset: 3
        }
        .to_string(),
        "CBOR item at byte 3 is a map where a text string was expected"
    );
}
