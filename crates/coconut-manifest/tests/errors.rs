//! One table row (at least) per `ManifestError` variant: the input, the exact error with its
//! field and offset, the errno of the ABI, and words the message must contain.

mod common;

use ciborium::Value;
use coconut_cbor::{Error as CborError, Feature, Type};
use coconut_manifest::{
    decode_body, decode_capset, decode_envelope, decode_manifest, verify, Doc, ManifestError,
};
use common::*;
use libcoconut::abi::{CapError, Errno};

/// Which entry point a row drives.
enum Call {
    Envelope(Vec<u8>),
    Body(Vec<u8>),
    CapSet(Vec<u8>),
    /// `decode_manifest`.
    Manifest(Vec<u8>),
}

impl Call {
    fn run(&self, check: impl FnOnce(ManifestError<'_>)) {
        match self {
            Call::Envelope(b) => check(decode_envelope(b).unwrap_err()),
            Call::Body(b) => check(decode_body(b).unwrap_err()),
            Call::CapSet(b) => check(decode_capset(b).map(|_| ()).unwrap_err()),
            Call::Manifest(b) => check(decode_manifest(b).map(|_| ()).unwrap_err()),
        }
    }
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

fn uint(v: u64) -> Value {
    Value::Integer(v.into())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn texts(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| text(s)).collect())
}

/// A valid envelope's entries (not signed; the rows only need the shape).
fn envelope_entries() -> Vec<(&'static str, Value)> {
    let body = body_bytes(minimal_entries());
    vec![
        ("v", uint(1)),
        ("key", bytes(&[7; 32])),
        ("sig", bytes(&[8; 64])),
        ("body", bytes(&body)),
    ]
}

fn with(
    mut entries: Vec<(&'static str, Value)>,
    key: &'static str,
    value: Value,
) -> Vec<(&'static str, Value)> {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some(e) => e.1 = value,
        None => entries.push((key, value)),
    }
    entries
}

fn without(entries: Vec<(&'static str, Value)>, key: &str) -> Vec<(&'static str, Value)> {
    entries.into_iter().filter(|(k, _)| *k != key).collect()
}

fn env_with(key: &'static str, value: Value) -> Vec<u8> {
    encode(&canonicalize(with(envelope_entries(), key, value)))
}

fn canonicalize(entries: Vec<(&str, Value)>) -> Value {
    libcoconut::canonicalize(&map(entries))
}

fn body_with(key: &'static str, value: Value) -> Vec<u8> {
    body_bytes(with(minimal_entries(), key, value))
}

/// Runs one row: the exact error, its errno, and the words of its message.
fn row(call: Call, want: impl Fn(&[u8]) -> ManifestError<'static>, errno: Errno, words: &[&str]) {
    let input = match &call {
        Call::Envelope(b) | Call::Body(b) | Call::CapSet(b) | Call::Manifest(b) => b.clone(),
    };
    call.run(|got| {
        assert_eq!(got, want(&input), "input {input:02x?}");
        assert_eq!(got.errno(), errno, "{got}");
        let msg = got.to_string();
        for w in words {
            assert!(msg.contains(w), "{msg:?} lacks {w:?}");
        }
    });
}

#[test]
fn too_big() {
    row(
        Call::CapSet(vec![0x80; 4097]),
        |_| ManifestError::TooBig {
            doc: Doc::CapSet,
            len: 4097,
            max: 4096,
        },
        Errno::E2BIG,
        &["capability set", "4097 bytes", "4096"],
    );
    row(
        Call::Envelope(vec![0; 16385]),
        |_| ManifestError::TooBig {
            doc: Doc::Envelope,
            len: 16385,
            max: 16384,
        },
        Errno::E2BIG,
        &["manifest envelope", "16385"],
    );
}

#[test]
fn cbor() {
    row(
        Call::Envelope(vec![0xa4]),
        |_| ManifestError::Cbor {
            doc: Doc::Envelope,
            error: CborError::Truncated { offset: 1 },
        },
        Errno::EINVAL,
        &["manifest envelope", "not canonical CBOR", "byte 1"],
    );
    row(
        Call::Envelope(vec![]),
        |_| ManifestError::Cbor {
            doc: Doc::Envelope,
            error: CborError::Truncated { offset: 0 },
        },
        Errno::EINVAL,
        &["ends inside"],
    );
    // "v": 1 written as 0x18 0x01.
    let mut env = env_with("v", uint(1));
    env.splice(3..4, [0x18, 0x01]);
    row(
        Call::Envelope(env),
        |_| ManifestError::Cbor {
            doc: Doc::Envelope,
            error: CborError::NonCanonical { offset: 3 },
        },
        Errno::EINVAL,
        &["shortest form", "byte 3"],
    );
    let body = body_with("lane", Value::Float(1.5));
    row(
        Call::Body(body),
        |b| ManifestError::Cbor {
            doc: Doc::Body,
            error: CborError::Unsupported {
                what: Feature::Float,
                offset: find(b, b"lane") + 4,
            },
        },
        Errno::EINVAL,
        &["manifest body", "floating-point"],
    );
    row(
        Call::CapSet(vec![0x9f, 0xff]),
        |_| ManifestError::Cbor {
            doc: Doc::CapSet,
            error: CborError::IndefiniteLength { offset: 0 },
        },
        Errno::EINVAL,
        &["capability set", "indefinite"],
    );
    let mut trailing = body_bytes(minimal_entries());
    trailing.push(0);
    row(
        Call::Body(trailing),
        |_| ManifestError::Cbor {
            doc: Doc::Body,
            error: CborError::TrailingBytes { offset: 17 },
        },
        Errno::EINVAL,
        &["after the CBOR item"],
    );
}

#[test]
fn key_order() {
    // Keys as written: key, v, sig, body.
    let e = envelope_entries();
    let shuffled = vec![e[1].clone(), e[0].clone(), e[2].clone(), e[3].clone()];
    row(
        Call::Envelope(encode(&map(shuffled))),
        |b| ManifestError::KeyOrder {
            doc: Doc::Envelope,
            key: "v",
            offset: find(b, b"\x61v"),
        },
        Errno::EINVAL,
        &["\"v\"", "repeated or out of canonical order"],
    );
    // A repeated body key.
    let mut entries = minimal_entries();
    entries.push(("name", text("b")));
    let body = encode(&map(entries));
    row(
        Call::Body(body),
        |b| ManifestError::KeyOrder {
            doc: Doc::Body,
            key: "name",
            offset: b.len() - 7,
        },
        Errno::EINVAL,
        &["manifest body", "\"name\""],
    );
}

#[test]
fn key_not_text() {
    let mut entries = envelope_entries();
    entries.insert(0, ("", Value::Null));
    let mut v = map(entries);
    if let Value::Map(m) = &mut v {
        m[0].0 = uint(5);
    }
    row(
        Call::Envelope(encode(&v)),
        |_| ManifestError::KeyNotText {
            map: "envelope",
            found: Type::Unsigned,
            offset: 1,
        },
        Errno::EINVAL,
        &[
            "envelope has a key of type unsigned integer at byte 1",
            "must be text strings",
        ],
    );
    let budget = Value::Map(vec![(bytes(b"cpu"), uint(1))]);
    row(
        Call::Body(body_with("budget", budget)),
        |b| ManifestError::KeyNotText {
            map: "body.budget",
            found: Type::Bytes,
            offset: find(b, b"budget") + 7,
        },
        Errno::EINVAL,
        &["body.budget", "byte string"],
    );
}

#[test]
fn unknown_key() {
    row(
        Call::Envelope(env_with("x", uint(0))),
        |b| ManifestError::UnknownKey {
            map: "envelope",
            key: "x",
            offset: find(b, b"\x61x"),
        },
        Errno::EINVAL,
        &["unknown key \"x\"", "v, key, sig, body"],
    );
    row(
        Call::Body(body_with("version", text("1.0"))),
        |b| ManifestError::UnknownKey {
            map: "body",
            key: "version",
            offset: find(b, b"\x67version"),
        },
        Errno::EINVAL,
        &["\"version\"", "signers"],
    );
    row(
        Call::Body(body_with(
            "budget",
            Value::Map(vec![(text("gpu"), uint(1))]),
        )),
        |b| ManifestError::UnknownKey {
            map: "body.budget",
            key: "gpu",
            offset: find(b, b"\x63gpu"),
        },
        Errno::EINVAL,
        &["\"gpu\"", "inference_tokens"],
    );
}

#[test]
fn missing_key() {
    for key in ["v", "key", "sig", "body"] {
        row(
            Call::Envelope(encode(&canonicalize(without(envelope_entries(), key)))),
            |_| ManifestError::MissingKey {
                map: "envelope",
                key,
            },
            Errno::EINVAL,
            &["envelope lacks the required key", key],
        );
    }
    for key in ["v", "caps", "name"] {
        row(
            Call::Body(body_bytes(without(minimal_entries(), key))),
            |_| ManifestError::MissingKey { map: "body", key },
            Errno::EINVAL,
            &["body lacks", key],
        );
    }
}

#[test]
fn wrong_type() {
    row(
        Call::Envelope(encode(&Value::Array(vec![]))),
        |_| ManifestError::WrongType {
            field: "envelope",
            expected: Type::Map,
            found: Type::Array,
            offset: 0,
        },
        Errno::EINVAL,
        &["envelope at byte 0 of the manifest envelope is of type array; it must be of type map"],
    );
    let cases: Vec<(&'static str, Value, Type, Type)> = vec![
        ("v", text("1"), Type::Unsigned, Type::Text),
        ("key", text("k"), Type::Bytes, Type::Text),
        ("sig", Value::Null, Type::Bytes, Type::Null),
        (
            "body",
            body_value(minimal_entries()),
            Type::Bytes,
            Type::Map,
        ),
    ];
    for (key, value, expected, found) in cases {
        let field: &'static str = Box::leak(format!("envelope.{key}").into_boxed_str());
        let keytext: Vec<u8> = [&[0x60 + key.len() as u8][..], key.as_bytes()].concat();
        row(
            Call::Envelope(env_with(key, value)),
            |b| ManifestError::WrongType {
                field,
                expected,
                found,
                offset: find(b, &keytext) + keytext.len(),
            },
            Errno::EINVAL,
            &[field],
        );
    }
    row(
        Call::Body(encode(&uint(1))),
        |_| ManifestError::WrongType {
            field: "body",
            expected: Type::Map,
            found: Type::Unsigned,
            offset: 0,
        },
        Errno::EINVAL,
        &["body at byte 0"],
    );
    let cases: Vec<(&'static str, &'static str, Value, Type, Type, usize)> = vec![
        (
            "v",
            "body.v",
            Value::Bool(true),
            Type::Unsigned,
            Type::Bool,
            0,
        ),
        (
            "caps",
            "body.caps",
            Value::Map(vec![]),
            Type::Array,
            Type::Map,
            0,
        ),
        (
            "caps",
            "body.caps[]",
            Value::Array(vec![uint(7)]),
            Type::Text,
            Type::Unsigned,
            1,
        ),
        (
            "lane",
            "body.lane",
            Value::Integer((-1).into()),
            Type::Unsigned,
            Type::Negative,
            0,
        ),
        ("name", "body.name", bytes(b"a"), Type::Text, Type::Bytes, 0),
        (
            "budget",
            "body.budget",
            Value::Array(vec![]),
            Type::Map,
            Type::Array,
            0,
        ),
        (
            "budget",
            "body.budget.inference_tokens",
            Value::Map(vec![(text("inference_tokens"), text("x"))]),
            Type::Unsigned,
            Type::Text,
            18,
        ),
        (
            "tenant",
            "body.tenant",
            Value::Null,
            Type::Text,
            Type::Null,
            0,
        ),
        (
            "signers",
            "body.signers",
            bytes(&[1; 32]),
            Type::Array,
            Type::Bytes,
            0,
        ),
        (
            "signers",
            "body.signers[]",
            texts(&["k"]),
            Type::Bytes,
            Type::Text,
            1,
        ),
    ];
    for (key, field, value, expected, found, inner) in cases {
        let keytext: Vec<u8> = [&[0x60 + key.len() as u8][..], key.as_bytes()].concat();
        row(
            Call::Body(body_with(key, value)),
            |b| ManifestError::WrongType {
                field,
                expected,
                found,
                offset: find(b, &keytext) + keytext.len() + inner,
            },
            Errno::EINVAL,
            &[field, "of the manifest body"],
        );
    }
    row(
        Call::CapSet(encode(&Value::Map(vec![]))),
        |_| ManifestError::WrongType {
            field: "capset",
            expected: Type::Array,
            found: Type::Map,
            offset: 0,
        },
        Errno::EINVAL,
        &["capset at byte 0 of the capability set"],
    );
}

#[test]
fn bad_version() {
    row(
        Call::Envelope(env_with("v", uint(2))),
        |_| ManifestError::BadVersion {
            field: "envelope.v",
            found: 2,
            offset: 3,
        },
        Errno::EINVAL,
        &["envelope.v", "version 2", "only version 1"],
    );
    row(
        Call::Body(body_with("v", uint(0))),
        |_| ManifestError::BadVersion {
            field: "body.v",
            found: 0,
            offset: 3,
        },
        Errno::EINVAL,
        &["body.v"],
    );
    // The version is checked before anything after it, unknown keys included.
    let mut entries = with(minimal_entries(), "v", uint(7));
    entries.push(("zzz", uint(0)));
    row(
        Call::Body(body_bytes(entries)),
        |_| ManifestError::BadVersion {
            field: "body.v",
            found: 7,
            offset: 3,
        },
        Errno::EINVAL,
        &["version 7"],
    );
}

#[test]
fn bad_length() {
    row(
        Call::Envelope(env_with("key", bytes(&[1; 31]))),
        |b| ManifestError::BadLength {
            field: "envelope.key",
            expected: 32,
            found: 31,
            offset: find(b, b"key") + 3,
        },
        Errno::EINVAL,
        &["envelope.key", "31 bytes long", "exactly 32"],
    );
    row(
        Call::Envelope(env_with("sig", bytes(&[1; 65]))),
        |b| ManifestError::BadLength {
            field: "envelope.sig",
            expected: 64,
            found: 65,
            offset: find(b, b"sig") + 3,
        },
        Errno::EINVAL,
        &["exactly 64"],
    );
    row(
        Call::Body(body_with(
            "signers",
            Value::Array(vec![bytes(&[1; 32]), bytes(&[2; 33])]),
        )),
        |b| ManifestError::BadLength {
            field: "body.signers[]",
            expected: 32,
            found: 33,
            offset: find(b, b"signers") + 7 + 1 + 34,
        },
        Errno::EINVAL,
        &["body.signers[]"],
    );
}

#[test]
fn bad_name() {
    for (key, field, value) in [
        ("name", "body.name", ""),
        ("name", "body.name", "Agent"),
        ("name", "body.name", "a/b"),
        ("tenant", "body.tenant", "a b"),
        ("tenant", "body.tenant", ""),
    ] {
        row(
            Call::Body(body_with(key, text(value))),
            |b| ManifestError::BadName {
                field,
                value,
                offset: find(b, key.as_bytes()) + key.len(),
            },
            Errno::EINVAL,
            &[field, &format!("{value:?}"), "[a-z0-9._-]"],
        );
    }
    let long = "a".repeat(65);
    row(
        Call::Body(body_with("name", text(&long))),
        |b| ManifestError::BadName {
            field: "body.name",
            value: "a".repeat(65).leak(),
            offset: find(b, b"name") + 4,
        },
        Errno::EINVAL,
        &["1..=64 bytes"],
    );
}

#[test]
fn too_many() {
    let caps: Vec<String> = (0..65).map(|i| format!("fs.read:/{i:03}")).collect();
    let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
    row(
        Call::Body(body_with("caps", texts(&refs))),
        |_| ManifestError::TooMany {
            field: "body.caps",
            count: 65,
            max: 64,
            offset: 9,
        },
        Errno::EINVAL,
        &["body.caps", "65 entries", "at most 64"],
    );
    row(
        Call::CapSet(encode(&texts(&refs))),
        |_| ManifestError::TooMany {
            field: "capset",
            count: 65,
            max: 64,
            offset: 0,
        },
        Errno::EINVAL,
        &["capset"],
    );
    let signers = Value::Array((0..9u8).map(|i| bytes(&[i; 32])).collect());
    row(
        Call::Body(body_with("signers", signers)),
        |b| ManifestError::TooMany {
            field: "body.signers",
            count: 9,
            max: 8,
            offset: find(b, b"signers") + 7,
        },
        Errno::EINVAL,
        &["at most 8"],
    );
}

#[test]
fn unknown_capability() {
    for text_ in ["fs.delete:/x", "fs.read2", "", ":x", "FS.READ"] {
        row(
            Call::Body(body_with("caps", texts(&[text_]))),
            |_| ManifestError::UnknownCapability {
                field: "body.caps[]",
                text: text_,
                offset: 10,
            },
            Errno::EINVAL,
            &[
                "body.caps[]",
                &format!("{text_:?}"),
                "names no known capability",
            ],
        );
    }
    row(
        Call::CapSet(encode(&texts(&["agent.spawn", "nope:scope"]))),
        |_| ManifestError::UnknownCapability {
            field: "capset[]",
            text: "nope:scope",
            offset: 13,
        },
        Errno::EINVAL,
        &["capset[] \"nope:scope\" at byte 13 of the capability set"],
    );
}

#[test]
fn bad_capability() {
    let long = format!("fs.read:/{}", "x".repeat(256));
    let cases: Vec<(&str, CapError, &str)> = vec![
        ("fs.read:", CapError::EmptyScope, "empty"),
        ("fs.read:a*b", CapError::MisplacedWildcard, "'*'"),
        ("fs.read:a b", CapError::BadScopeByte, "printable"),
        ("fs.read:\u{e9}", CapError::BadScopeByte, "printable"),
        (long.as_str(), CapError::ScopeTooLong, "256"),
    ];
    for (t, reason, word) in cases {
        let t: &'static str = t.to_string().leak();
        row(
            Call::Body(body_with("caps", texts(&[t]))),
            |_| ManifestError::BadCapability {
                field: "body.caps[]",
                text: t,
                reason,
                offset: 10,
            },
            Errno::EINVAL,
            &["is not a valid capability", word],
        );
        row(
            Call::CapSet(encode(&texts(&[t]))),
            |_| ManifestError::BadCapability {
                field: "capset[]",
                text: t,
                reason,
                offset: 1,
            },
            Errno::EINVAL,
            &["capset[]"],
        );
    }
}

#[test]
fn not_ascending() {
    for caps in [
        ["fs.read", "agent.spawn"],
        ["fs.read", "fs.read"],
        ["fs.read:/b", "fs.read:/a"],
    ] {
        let second = 10 + 1 + caps[0].len();
        row(
            Call::Body(body_with("caps", texts(&caps))),
            |_| ManifestError::NotAscending {
                field: "body.caps[]",
                offset: second,
            },
            Errno::EINVAL,
            &[
                "body.caps[] entry at byte",
                "sorted bytewise without duplicates",
            ],
        );
        row(
            Call::CapSet(encode(&texts(&caps))),
            |_| ManifestError::NotAscending {
                field: "capset[]",
                offset: 1 + 1 + caps[0].len(),
            },
            Errno::EINVAL,
            &["capset[]"],
        );
    }
    for signers in [[[2u8; 32], [1; 32]], [[1; 32], [1; 32]]] {
        let value = Value::Array(signers.iter().map(|s| bytes(s)).collect());
        row(
            Call::Body(body_with("signers", value)),
            |b| ManifestError::NotAscending {
                field: "body.signers[]",
                offset: find(b, b"signers") + 8 + 34,
            },
            Errno::EINVAL,
            &["body.signers[]"],
        );
    }
}

#[test]
fn out_of_range() {
    row(
        Call::Body(body_with("lane", uint(1 << 32))),
        |b| ManifestError::OutOfRange {
            field: "body.lane",
            value: 1 << 32,
            max: u32::MAX.into(),
            offset: find(b, b"lane") + 4,
        },
        Errno::EINVAL,
        &["body.lane", "4294967296", "4294967295"],
    );
    // The largest lane is accepted.
    assert_eq!(
        decode_body(&body_with("lane", uint(u32::MAX.into())))
            .unwrap()
            .lane,
        Some(u32::MAX)
    );
}

#[test]
fn bad_signature() {
    use coconut_ed25519::Error as Ed;
    let body = body_bytes(minimal_entries());
    let good = sign_body(&signing_key(1), &body);
    let env = decode_envelope(&good).unwrap();
    let other_key = signing_key(2).verifying_key().to_bytes();
    let mut flipped_s = *env.sig;
    flipped_s[40] ^= 1;
    let mut big_s = *env.sig;
    big_s[63] = 0xff;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let cases = [
        (envelope(&other_key, env.sig, &body), Ed::Mismatch),
        (envelope(env.key, &flipped_s, &body), Ed::Mismatch),
        (envelope(env.key, &big_s, &body), Ed::NonCanonicalS),
        (envelope(&identity, env.sig, &body), Ed::SmallOrderPublicKey),
        (
            envelope(&[0xff; 32], env.sig, &body),
            Ed::NonCanonicalPublicKey,
        ),
    ];
    for (bytes, e) in cases {
        // `verify` on its own gives the same error as `decode_manifest`.
        assert_eq!(
            verify(&decode_envelope(&bytes).unwrap()),
            Err(ManifestError::BadSignature(e))
        );
        row(
            Call::Manifest(bytes),
            |_| ManifestError::BadSignature(e),
            Errno::EKEYREJECTED,
            &["manifest signature rejected", "Ed25519"],
        );
    }
}

/// The accessors of the error agree with its fields.
#[test]
fn error_accessors() {
    let e = ManifestError::UnknownKey {
        map: "body.budget",
        key: "gpu",
        offset: 9,
    };
    assert_eq!((e.doc(), e.offset()), (Some(Doc::Body), Some(9)));
    let e = ManifestError::MissingKey {
        map: "envelope",
        key: "sig",
    };
    assert_eq!((e.doc(), e.offset()), (Some(Doc::Envelope), None));
    let e = ManifestError::NotAscending {
        field: "capset[]",
        offset: 4,
    };
    assert_eq!((e.doc(), e.offset()), (Some(Doc::CapSet), Some(4)));
    let e = ManifestError::Cbor {
        doc: Doc::Body,
        error: CborError::Truncated { offset: 3 },
    };
    assert_eq!((e.doc(), e.offset()), (Some(Doc::Body), Some(3)));
    let e = ManifestError::BadSignature(coconut_ed25519::Error::Mismatch);
    assert_eq!((e.doc(), e.offset()), (None, None));
}
