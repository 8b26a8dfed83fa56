//! Decode (and decode + verify) a typical signed manifest — a name, 8 capabilities, 5 budgets,
//! 2 signers, a tenant and a lane — with the kernel-side crate, against libcoconut's
//! user-space path on the reference crates (ciborium into `Value`s, owned `Manifest`,
//! ed25519-dalek `verify_strict`). Ours allocates and copies nothing by construction (the crate has no
//! `alloc`; the signature is checked over the prefix and the body in place). `cargo xtask bench`
//! reads criterion's estimates and prints ours/reference for each.

use std::hint::black_box;
use std::time::Duration;

use coconut_manifest::{decode_body, decode_envelope, decode_manifest};
use criterion::{criterion_group, Criterion};
use ed25519_dalek::SigningKey;
use libcoconut::abi::QuotaKind;
use libcoconut::{verify_envelope, Manifest, ManifestBuilder};

fn typical() -> Vec<u8> {
    let caps = [
        "agent.delegate",
        "agent.spawn",
        "audit.read",
        "fs.read:/srv/agents/*",
        "fs.write:/var/tmp/agent/*",
        "inference:llama-3-8b",
        "mem.tier",
        "net.connect:api.example.com:443",
    ];
    let mut b = ManifestBuilder::new("summarizer.worker")
        .caps(caps.iter().map(|c| c.parse().expect("valid capability")))
        .tenant("indie-saas")
        .lane(3)
        .signer([0x11; 32])
        .signer([0x22; 32]);
    for (kind, limit) in
        QuotaKind::ALL
            .into_iter()
            .zip([250_000, 2 << 30, 8 << 30, 10 << 20, 1_000_000])
    {
        b = b.budget(kind, limit);
    }
    b.build()
        .expect("valid manifest")
        .sign(&SigningKey::from_bytes(&[5; 32]))
        .to_bytes()
}

/// Ours, decode only: envelope, body, and a walk over every capability and signer.
fn ours_decode(bytes: &[u8]) -> usize {
    let env = decode_envelope(bytes).expect("valid envelope");
    let body = decode_body(env.body).expect("valid body");
    body.caps().map(|c| c.scope.len()).sum::<usize>() + body.signers().count()
}

/// Ours, decode + verify, walking the lists too.
fn ours_decode_verify(bytes: &[u8]) -> usize {
    let (_, body) = decode_manifest(bytes).expect("valid manifest");
    body.caps().map(|c| c.scope.len()).sum::<usize>() + body.signers().count()
}

/// The reference, decode only: the envelope into a ciborium `Value`, the body into an owned
/// `Manifest` (with its canonical-form check).
fn reference_decode(bytes: &[u8]) -> usize {
    let env: ciborium::Value = ciborium::from_reader(bytes).expect("valid CBOR");
    let body = match &env {
        ciborium::Value::Map(m) => m[3].1.as_bytes().expect("body bytes"),
        _ => unreachable!("envelope is a map"),
    };
    let m = Manifest::from_cbor(body).expect("valid body");
    m.caps.iter().map(|c| c.scope.len()).sum::<usize>() + m.signers.len()
}

/// The reference, decode + verify.
fn reference_decode_verify(bytes: &[u8]) -> usize {
    let (_, m) = verify_envelope(bytes).expect("valid manifest");
    m.caps.iter().map(|c| c.scope.len()).sum::<usize>() + m.signers.len()
}

fn benches(c: &mut Criterion) {
    let bytes = typical();
    assert_eq!(ours_decode(&bytes), reference_decode(&bytes));
    assert_eq!(ours_decode_verify(&bytes), reference_decode_verify(&bytes));

    let mut g = c.benchmark_group(format!("decode_{}B", bytes.len()));
    g.bench_function("coconut-manifest", |b| {
        b.iter(|| ours_decode(black_box(&bytes)))
    });
    g.bench_function("libcoconut(ciborium)", |b| {
        b.iter(|| reference_decode(black_box(&bytes)))
    });
    g.finish();

    let mut g = c.benchmark_group(format!("decode+verify_{}B", bytes.len()));
    g.bench_function("coconut-manifest", |b| {
        b.iter(|| ours_decode_verify(black_box(&bytes)))
    });
    g.bench_function("libcoconut(ciborium+dalek)", |b| {
        b.iter(|| reference_decode_verify(black_box(&bytes)))
    });
    g.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = benches
}

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
