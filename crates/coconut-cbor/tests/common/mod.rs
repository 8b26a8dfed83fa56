//! Helpers shared by the integration tests: hex input, a generic Decoder walk into a
//! `ciborium::Value`, and the canonical reference encoding built on ciborium.

#![allow(dead_code)]

use ciborium::Value;
use coconut_cbor::{Decoder, Encoder, Error, Type};

/// Decodes a hex string (spaces allowed) into bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex string {s:?}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Reads one item with the Decoder's typed accessors, driven by `peek_type`.
pub fn to_value(d: &mut Decoder<'_>) -> Result<Value, Error> {
    Ok(match d.peek_type()? {
        Type::Unsigned => Value::Integer(d.u64()?.into()),
        Type::Negative => Value::Integer(d.i64()?.into()),
        Type::Bytes => Value::Bytes(d.bytes()?.to_vec()),
        Type::Text => Value::Text(d.text()?.to_owned()),
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null => {
            d.null()?;
            Value::Null
        }
        Type::Array => {
            let n = d.array()?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(to_value(d)?);
            }
            Value::Array(items)
        }
        Type::Map => {
            let n = d.map()?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                let k = to_value(d)?;
                let v = to_value(d)?;
                pairs.push((k, v));
            }
            Value::Map(pairs)
        }
    })
}

/// Decodes a whole document through the Decoder (after it was validated).
pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
    let mut d = Decoder::new(bytes);
    let v = to_value(&mut d)?;
    d.finish()?;
    Ok(v)
}

/// Encodes with ciborium as is.
pub fn cib_encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// Makes a value canonical: map entries sorted by the encoded bytes of their (canonical) keys,
/// duplicates (same encoded key) dropped, keeping the first.
pub fn canonicalize(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        Value::Map(pairs) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = pairs
                .into_iter()
                .map(|(k, v)| {
                    let k = canonicalize(k);
                    (cib_encode(&k), k, canonicalize(v))
                })
                .collect();
            // A stable sort keeps the first of equal keys first, and dedup keeps it.
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            keyed.dedup_by(|later, earlier| later.0 == earlier.0);
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        other => other,
    }
}

/// The canonical reference encoding: canonicalize, then let ciborium (shortest heads) encode.
pub fn canonical_bytes(v: &Value) -> Vec<u8> {
    cib_encode(&canonicalize(v.clone()))
}

/// Whether a ciborium value lies in the accepted subset (no tags or floats, integers that fit
/// u64 or i64), with containers nested at most `depth` deep.
pub fn in_subset(v: &Value, depth: u32) -> bool {
    match v {
        Value::Integer(i) => u64::try_from(*i).is_ok() || i64::try_from(*i).is_ok(),
        Value::Bytes(_) | Value::Text(_) | Value::Bool(_) | Value::Null => true,
        Value::Array(items) => depth > 0 && items.iter().all(|x| in_subset(x, depth - 1)),
        Value::Map(pairs) => {
            depth > 0
                && pairs
                    .iter()
                    .all(|(k, v)| in_subset(k, depth - 1) && in_subset(v, depth - 1))
        }
        _ => false,
    }
}

/// Encodes an (already canonical) value with our Encoder into a buffer of `cap` bytes.
pub fn our_encode(v: &Value, cap: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; cap];
    let mut e = Encoder::new(&mut buf);
    encode_into(&mut e, v)?;
    Ok(e.into_written().to_vec())
}

fn encode_into(e: &mut Encoder<'_>, v: &Value) -> Result<(), Error> {
    match v {
        Value::Integer(i) => match u64::try_from(*i) {
            Ok(u) => e.u64(u),
            Err(_) => e.i64(i64::try_from(*i).expect("value in subset")),
        },
        Value::Bytes(b) => e.bytes(b),
        Value::Text(t) => e.text(t),
        Value::Bool(b) => e.bool(*b),
        Value::Null => e.null(),
        Value::Array(items) => {
            e.array(items.len() as u64)?;
            items.iter().try_for_each(|x| encode_into(e, x))
        }
        Value::Map(pairs) => {
            e.map(pairs.len() as u64)?;
            pairs.iter().try_for_each(|(k, v)| {
                encode_into(e, k)?;
                encode_into(e, v)
            })
        }
        other => panic!("value outside the subset: {other:?}"),
    }
}
