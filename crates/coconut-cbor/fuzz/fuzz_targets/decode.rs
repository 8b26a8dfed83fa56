//! Fuzz target: differential against ciborium. Whenever `validate` accepts, ciborium must
//! decode the same value (read back through our Decoder) and re-encode it canonically to the
//! identical bytes; whenever ciborium finds the input canonical and in the subset, we accept.
//! The Decoder's accessors run on the raw input too and must never panic.

#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use ciborium::Value;
use coconut_cbor::{validate, Limits, DEPTH_CAP};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = validate(data, &Limits::PERMISSIVE);
    let decoded = common::decode(data);
    let reference = ciborium::from_reader::<Value, _>(data)
        .ok()
        .filter(|v| common::in_subset(v, DEPTH_CAP) && common::canonical_bytes(v) == data);
    match (ours, reference) {
        (Ok(()), Some(value)) => assert_eq!(decoded, Ok(value)),
        (Err(_), None) => {}
        (Ok(()), None) => panic!("we accept what ciborium does not: {data:02x?}"),
        (Err(e), Some(v)) => panic!("we reject ({e:?}) what ciborium accepts: {v:?}"),
    }
});
