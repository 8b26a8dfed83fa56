//! Validate and decode a typical ~300-byte manifest-like map, against ciborium decoding the
//! same bytes into a `Value`. Ours allocates nothing by construction (the crate has no `alloc`).
//! `cargo xtask bench` reads criterion's estimates and prints ours/reference for each.

use std::hint::black_box;
use std::time::Duration;

use coconut_cbor::{validate, Decoder, Encoder, Error, Limits};
use criterion::{criterion_group, Criterion};

/// Builds {"v", "caps", "name", "budget", "signers", "version"} in canonical key order.
fn manifest() -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let mut e = Encoder::new(&mut buf);
    (|| -> Result<(), Error> {
        e.map(6)?;
        // Keys sorted by encoded bytes: 1-char "v" (0x61), then 4-char "caps", "name", then
        // 6-char "budget", 7-char "signers", "version".
        e.text("v")?;
        e.u64(1)?;
        e.text("caps")?;
        e.array(8)?;
        for cap in [
            "fs.read:/srv/agents/*",
            "fs.write:/var/tmp/agent/*",
            "net.connect:api.example.com:443",
            "inference:llama-3-8b",
            "mem.tier",
            "agent.spawn",
            "agent.delegate",
            "audit.read",
        ] {
            e.text(cap)?;
        }
        e.text("name")?;
        e.text("summarizer.worker")?;
        e.text("budget")?;
        e.map(5)?;
        // "cpu", "hbm", "net", "ram" (3 chars), then "inference_tokens".
        e.text("cpu")?;
        e.u64(250_000)?;
        e.text("hbm")?;
        e.u64(8 << 30)?;
        e.text("net")?;
        e.u64(10 << 20)?;
        e.text("ram")?;
        e.u64(2 << 30)?;
        e.text("inference_tokens")?;
        e.u64(1_000_000)?;
        e.text("signers")?;
        e.array(2)?;
        e.bytes(&[0x11; 32])?;
        e.bytes(&[0x22; 32])?;
        e.text("version")?;
        e.text("1.4.2")?;
        Ok(())
    })()
    .expect("the buffer is large enough");
    e.written().to_vec()
}

/// What a consumer extracts, borrowed from the input.
#[derive(Default)]
struct Manifest<'a> {
    v: u32,
    name: &'a str,
    version: &'a str,
    caps: [&'a str; 8],
    budget: [u64; 5],
    signers: [&'a [u8]; 2],
}

fn decode(input: &[u8]) -> Result<Manifest<'_>, Error> {
    let mut m = Manifest::default();
    let mut d = Decoder::with_limits(input, Limits::KERNEL);
    let mut map = d.map_reader()?;
    while let Some(key) = map.next_key()? {
        let value = map.value();
        match key {
            "v" => m.v = value.u32()?,
            "name" => m.name = value.text()?,
            "version" => m.version = value.text()?,
            "caps" => {
                let n = value.array()?;
                for i in 0..n as usize {
                    let cap = value.text()?;
                    if let Some(slot) = m.caps.get_mut(i) {
                        *slot = cap;
                    }
                }
            }
            "budget" => {
                let mut budget = value.map_reader()?;
                let mut i = 0;
                while budget.next_key()?.is_some() {
                    let amount = budget.value().u64()?;
                    if let Some(slot) = m.budget.get_mut(i) {
                        *slot = amount;
                    }
                    i += 1;
                }
            }
            "signers" => {
                let n = value.array()?;
                for i in 0..n as usize {
                    let key = value.bytes()?;
                    if let Some(slot) = m.signers.get_mut(i) {
                        *slot = key;
                    }
                }
            }
            _ => value.skip()?,
        }
    }
    d.finish()?;
    Ok(m)
}

fn validate_and_decode(input: &[u8]) -> Result<Manifest<'_>, Error> {
    validate(input, &Limits::KERNEL)?;
    decode(input)
}

fn ciborium_value(input: &[u8]) -> ciborium::Value {
    ciborium::from_reader(input).expect("valid CBOR")
}

fn benches(c: &mut Criterion) {
    let input = manifest();
    let m = validate_and_decode(&input).expect("the manifest is valid");
    assert_eq!((m.v, m.name, m.version), (1, "summarizer.worker", "1.4.2"));
    assert_eq!(m.caps[7], "audit.read");
    assert_eq!(m.budget[4], 1_000_000);
    assert_eq!(m.signers[1], &[0x22; 32]);
    let name = format!("manifest_{}B", input.len());
    let mut g = c.benchmark_group(&name);
    g.bench_function("coconut_validate", |b| {
        b.iter(|| validate(black_box(&input), &Limits::KERNEL))
    });
    g.bench_function("coconut_decode", |b| {
        b.iter(|| decode(black_box(&input)).map(|m| m.v))
    });
    g.bench_function("coconut_validate+decode", |b| {
        b.iter(|| validate_and_decode(black_box(&input)).map(|m| m.v))
    });
    g.bench_function("ciborium_to_value", |b| {
        b.iter(|| ciborium_value(black_box(&input)))
    });
    g.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = benches
}

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
