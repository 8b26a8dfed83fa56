//! RFC 8949 Appendix A (examples of encoded items) and Appendix F (not-well-formed items),
//! checked against the accepted subset: canonical in-subset examples decode to the right value,
//! everything else is rejected with the right error and offset.

mod common;

use ciborium::Value;
use coconut_cbor::{validate, Error, Feature, Limits};
use common::{decode, hex};

const L: Limits = Limits::KERNEL;

fn int(v: i64) -> Value {
    Value::Integer(v.into())
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn accept(hexstr: &str, want: Value) {
    let bytes = hex(hexstr);
    assert_eq!(validate(&bytes, &L), Ok(()), "{hexstr} must validate");
    assert_eq!(decode(&bytes), Ok(want), "{hexstr} decodes wrongly");
}

fn reject(hexstr: &str, want: Error) {
    let bytes = hex(hexstr);
    assert_eq!(validate(&bytes, &L), Err(want), "{hexstr}");
}

fn unsupported(what: Feature) -> Error {
    Error::Unsupported { what, offset: 0 }
}

#[test]
fn appendix_a_integers() {
    accept("00", int(0));
    accept("01", int(1));
    accept("0a", int(10));
    accept("17", int(23));
    accept("1818", int(24));
    accept("1819", int(25));
    accept("1864", int(100));
    accept("1903e8", int(1000));
    accept("1a000f4240", int(1_000_000));
    accept("1b000000e8d4a51000", int(1_000_000_000_000));
    accept("1bffffffffffffffff", Value::Integer(u64::MAX.into()));
    accept("20", int(-1));
    accept("29", int(-10));
    accept("3863", int(-100));
    accept("3903e7", int(-1000));
    // Bignums are tags; -2^64 does not fit i64.
    reject("c249010000000000000000", unsupported(Feature::Tag));
    reject("3bffffffffffffffff", Error::OutOfRange { offset: 0 });
    reject("c349010000000000000000", unsupported(Feature::Tag));
    // The most negative accepted value, -2^63.
    accept("3b7fffffffffffffff", int(i64::MIN));
    reject("3b8000000000000000", Error::OutOfRange { offset: 0 });
}

#[test]
fn appendix_a_floats_rejected() {
    for f in [
        "f90000",
        "f98000",
        "f93c00",
        "fb3ff199999999999a",
        "f93e00",
        "f97bff",
        "fa47c35000",
        "fa7f7fffff",
        "fb7e37e43c8800759c",
        "f90001",
        "f90400",
        "f9c400",
        "fbc010666666666666",
        "f97c00",
        "f97e00",
        "f9fc00",
        "fa7f800000",
        "fa7fc00000",
        "faff800000",
        "fb7ff0000000000000",
        "fb7ff8000000000000",
        "fbfff0000000000000",
    ] {
        reject(f, unsupported(Feature::Float));
    }
}

#[test]
fn appendix_a_simple_values() {
    accept("f4", Value::Bool(false));
    accept("f5", Value::Bool(true));
    accept("f6", Value::Null);
    reject("f7", unsupported(Feature::Undefined));
    reject("f0", unsupported(Feature::Simple));
    reject("f8ff", unsupported(Feature::Simple));
}

#[test]
fn appendix_a_tags_rejected() {
    for t in [
        "c074323031332d30332d32315432303a30343a30305a",
        "c11a514b67b0",
        "c1fb41d452d9ec200000",
        "d74401020304",
        "d818456449455446",
        "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
    ] {
        reject(t, unsupported(Feature::Tag));
    }
}

#[test]
fn appendix_a_strings() {
    accept("40", Value::Bytes(vec![]));
    accept("4401020304", Value::Bytes(vec![1, 2, 3, 4]));
    accept("60", text(""));
    accept("6161", text("a"));
    accept("6449455446", text("IETF"));
    accept("62225c", text("\"\\"));
    accept("62c3bc", text("\u{fc}"));
    accept("63e6b0b4", text("\u{6c34}"));
    accept("64f0908591", text("\u{10151}"));
}

#[test]
fn appendix_a_containers() {
    accept("80", Value::Array(vec![]));
    accept("83010203", Value::Array(vec![int(1), int(2), int(3)]));
    let nested = Value::Array(vec![
        int(1),
        Value::Array(vec![int(2), int(3)]),
        Value::Array(vec![int(4), int(5)]),
    ]);
    accept("8301820203820405", nested.clone());
    let one_to_25 = Value::Array((1..=25).map(int).collect());
    accept(
        "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        one_to_25,
    );
    accept("a0", Value::Map(vec![]));
    accept(
        "a201020304",
        Value::Map(vec![(int(1), int(2)), (int(3), int(4))]),
    );
    accept(
        "a26161016162820203",
        Value::Map(vec![
            (text("a"), int(1)),
            (text("b"), Value::Array(vec![int(2), int(3)])),
        ]),
    );
    accept(
        "826161a161626163",
        Value::Array(vec![text("a"), Value::Map(vec![(text("b"), text("c"))])]),
    );
    accept(
        "a56161614161626142616361436164614461656145",
        Value::Map(
            ["a", "b", "c", "d", "e"]
                .iter()
                .map(|k| (text(k), text(&k.to_uppercase())))
                .collect(),
        ),
    );
}

#[test]
fn appendix_a_indefinite_rejected() {
    let indefinite = |offset| Error::IndefiniteLength { offset };
    reject("5f42010243030405ff", indefinite(0));
    reject("7f657374726561646d696e67ff", indefinite(0));
    reject("9fff", indefinite(0));
    reject("9f018202039f0405ffff", indefinite(0));
    reject("9f01820203820405ff", indefinite(0));
    reject("83018202039f0405ff", indefinite(5));
    reject("83019f0203ff820405", indefinite(2));
    reject(
        "9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
        indefinite(0),
    );
    reject("bf61610161629f0203ffff", indefinite(0));
    reject("826161bf61626163ff", indefinite(3));
    reject("bf6346756ef563416d7421ff", indefinite(0));
}

/// Appendix F.1: every not-well-formed example must be rejected. Expected errors are given
/// for the kernel limits, which turn a few "truncated" cases into limit errors first.
#[test]
fn appendix_f_not_well_formed() {
    let truncated = |offset| Error::Truncated { offset };
    // End of input in a head.
    for h in [
        "18",
        "19",
        "1a",
        "1b",
        "1901",
        "1a0102",
        "1b01020304050607",
        "38",
        "58",
        "78",
        "98",
        "9a01ff00",
        "b8",
        "d8",
        "f8",
        "f900",
        "fa0000",
        "fb000000",
    ] {
        let bytes = hex(h);
        let err = validate(&bytes, &L).unwrap_err();
        match bytes[0] {
            // Tags and floats are classified from the initial byte alone.
            0xd8 => assert_eq!(err, unsupported(Feature::Tag)),
            0xf8 => assert_eq!(err, unsupported(Feature::Simple)),
            0xf9..=0xfb => assert_eq!(err, unsupported(Feature::Float)),
            _ => assert_eq!(err, truncated(0), "{h}"),
        }
    }
    // Definite-length strings with short data.
    reject("41", truncated(0));
    reject("61", truncated(0));
    reject("5affffffff00", Error::TooLong { offset: 0 });
    reject("5bffffffffffffffff010203", Error::TooLong { offset: 0 });
    reject("7affffffff00", Error::TooLong { offset: 0 });
    reject("7b7fffffffffffffff010203", Error::TooLong { offset: 0 });
    for h in ["5affffffff00", "7b7fffffffffffffff010203"] {
        assert_eq!(
            validate(&hex(h), &Limits::PERMISSIVE),
            Err(truncated(0)),
            "{h}"
        );
    }
    // Definite-length maps and arrays not closed with enough items.
    reject("81", truncated(1));
    reject("818181818181818181", Error::TooDeep { offset: 8 });
    assert_eq!(
        validate(&hex("818181818181818181"), &Limits::PERMISSIVE),
        Err(truncated(9))
    );
    reject("8200", truncated(2));
    reject("a1", truncated(1));
    reject("a20102", truncated(3));
    reject("a100", truncated(2));
    // The third key repeats the first before input ends: key order is checked as keys end.
    reject("a2000000", Error::KeysOutOfOrder { offset: 3 });
    reject("a2000101", truncated(4));
    // Tag number not followed by tag content.
    reject("c0", unsupported(Feature::Tag));
    // Indefinite-length strings with chunks of the wrong kind: rejected at the outer head.
    for h in [
        "5f00ff",
        "5f21ff",
        "5f6100ff",
        "5f80ff",
        "5fa0ff",
        "5fc000ff",
        "5fe0ff",
        "7f4100ff",
        "5f5f4100ffff",
        "7f7f6100ffff",
    ] {
        reject(h, Error::IndefiniteLength { offset: 0 });
    }
    // Reserved additional information values.
    for major in 0u8..8 {
        for info in 28u8..=30 {
            let b = [major << 5 | info];
            let want = match major {
                6 => unsupported(Feature::Tag),
                _ => Error::Reserved { offset: 0 },
            };
            assert_eq!(validate(&b, &L), Err(want), "{:02x}", b[0]);
        }
    }
    // Reserved two-byte encodings of simple values.
    for h in ["f800", "f801", "f818", "f81f"] {
        reject(h, unsupported(Feature::Simple));
    }
    // Indefinite-length items not closed, and breaks on their own.
    reject("5f4100", Error::IndefiniteLength { offset: 0 });
    reject("9f", Error::IndefiniteLength { offset: 0 });
    reject("bf000000", Error::IndefiniteLength { offset: 0 });
    let brk = |offset| Error::Unsupported {
        what: Feature::Break,
        offset,
    };
    reject("ff", brk(0));
    reject("81ff", brk(1));
    reject("8200ff", brk(2));
    reject("a1ff", brk(1));
    reject("a1ff00", brk(1));
    reject("a100ff", brk(2));
    reject("a20000ff", brk(3));
    reject("9f81ff", Error::IndefiniteLength { offset: 0 });
    reject(
        "9f829f819f9fffffffff",
        Error::IndefiniteLength { offset: 0 },
    );
    // Major types 0, 1 and 6 with additional information 31.
    reject("1f", Error::Reserved { offset: 0 });
    reject("3f", Error::Reserved { offset: 0 });
    reject("df", unsupported(Feature::Tag));
}
