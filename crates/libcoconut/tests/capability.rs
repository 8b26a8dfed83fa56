//! Capability text form and capability-set CBOR.

use ciborium::Value;
use libcoconut::*;
use proptest::prelude::*;

#[test]
fn text_round_trips() {
    for text in [
        "agent.spawn",
        "net.connect:api.example.com:443",
        "fs.read:/srv/*",
        "inference:gpt-small",
    ] {
        let c: Capability = text.parse().unwrap();
        assert_eq!(c.to_string(), text);
    }
    let err = "fs.reed:/x".parse::<Capability>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"fs.reed:/x\" is not a capability: capability name is not in the capability table (expected name[:scope], e.g. fs.read:/srv/*)"
    );
    assert!("fs.read:".parse::<Capability>().is_err());
    let held: Capability = "fs.read:/srv/*".parse().unwrap();
    assert!(held.covers(&"fs.read:/srv/a".parse().unwrap()));
    assert!(!held.covers(&"fs.write:/srv/a".parse().unwrap()));
}

#[test]
fn capset_is_a_sorted_canonical_text_array() {
    let caps: Vec<Capability> = ["fs.read:/b", "agent.spawn", "fs.read:/a", "agent.spawn"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let bytes = encode_capset(&caps).unwrap();
    let v: Value = ciborium::from_reader(&bytes[..]).unwrap();
    assert_eq!(
        v,
        Value::Array(vec![
            Value::Text("agent.spawn".into()),
            Value::Text("fs.read:/a".into()),
            Value::Text("fs.read:/b".into()),
        ])
    );
    assert_eq!(bytes[0], 0x83);
    assert_eq!(decode_capset(&bytes).unwrap().len(), 3);
    assert_eq!(encode_capset(&[]).unwrap(), [0x80]);
    // Unsorted input is refused on decode.
    let mut unsorted = Vec::new();
    ciborium::into_writer(
        &Value::Array(vec![
            Value::Text("fs.read:/b".into()),
            Value::Text("fs.read:/a".into()),
        ]),
        &mut unsorted,
    )
    .unwrap();
    assert!(decode_capset(&unsorted).is_err());
}

proptest! {
    #[test]
    fn scoped_round_trip(id in 1u32..=15, scope in "[!-)+-~]{1,40}\\*?") {
        let cap = Capability::scoped(CapId::from_id(id).unwrap(), &scope).unwrap();
        let text = cap.to_string();
        prop_assert_eq!(text.parse::<Capability>().unwrap(), cap);
    }
}
