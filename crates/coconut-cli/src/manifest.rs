//! `coconut manifest keygen|new|sign|verify`: Ed25519 keys, manifest bodies, signed envelopes.
//!
//! Job: a key file is the 32-byte Ed25519 seed as 64 lowercase hex digits and a newline (mode
//! 0600, never overwritten); `new` writes an unsigned body (canonical CBOR, built and checked by
//! `libcoconut::ManifestBuilder`), `sign` turns a body into the envelope `agent_spawn` takes,
//! `verify` decodes an envelope exactly as the kernel does (`libcoconut::verify_envelope`).
//!
//! Constraints: no CBOR or signature rules here; every check is libcoconut's, and its errors
//! (which name the field or offset) are passed on unchanged.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use libcoconut::{verify_envelope, Capability, Manifest, ManifestBuilder, QuotaKind};
use serde_json::{json, Value};

/// Writes `bytes` to a new file `path` with `mode`; refuses to overwrite an existing file.
fn create_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| {
            if path.exists() {
                format!(
                    "{} already exists; refusing to overwrite it (choose another --out)",
                    path.display()
                )
            } else {
                format!("cannot create {}", path.display())
            }
        })?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A new random Ed25519 key written to `out` (0600); returns the public key.
pub fn keygen(out: &Path) -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty())
        .context("getrandom")?;
    let key = SigningKey::from_bytes(&seed);
    create_new(out, format!("{}\n", hex::encode(seed)).as_bytes(), 0o600)?;
    Ok(key.verifying_key().to_bytes())
}

/// Reads a key file written by [`keygen`].
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let seed = hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    let Some(seed) = seed else {
        bail!(
            "{}: not a key file (expected 64 hex digits, as `coconut manifest keygen` writes)",
            path.display()
        );
    };
    Ok(SigningKey::from_bytes(&seed))
}

/// Parses a public key given as 64 hex digits.
pub fn parse_key_hex(text: &str) -> Result<[u8; 32]> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .with_context(|| format!("signer {text:?} is not a public key (64 hex digits)"))
}

/// Parses `KIND=N` (kinds: cpu, ram, hbm, net, inference_tokens).
pub fn parse_budget(text: &str) -> Result<(QuotaKind, u64)> {
    let (kind, n) = text
        .split_once('=')
        .with_context(|| format!("budget {text:?} is not KIND=N"))?;
    let kind = QuotaKind::from_name(kind.as_bytes()).with_context(|| {
        let names: Vec<&str> = QuotaKind::ALL.iter().map(|k| k.name()).collect();
        format!("budget kind {kind:?} is not one of {}", names.join(", "))
    })?;
    let n = n
        .parse()
        .with_context(|| format!("budget {text:?}: {n:?} is not a number"))?;
    Ok((kind, n))
}

/// What `manifest new` takes.
pub struct NewArgs<'a> {
    /// The agent name.
    pub name: &'a str,
    /// Capability texts.
    pub caps: &'a [String],
    /// `KIND=N` budgets.
    pub budgets: &'a [String],
    /// Signer public keys in hex.
    pub signers: &'a [String],
    /// The tenant.
    pub tenant: Option<&'a str>,
    /// The lane.
    pub lane: Option<u64>,
}

/// Builds a body from `args` (every rule checked by `ManifestBuilder::build`).
pub fn build(args: &NewArgs<'_>) -> Result<Manifest> {
    let mut b = ManifestBuilder::new(args.name);
    for c in args.caps {
        let cap: Capability = c.parse().with_context(|| format!("--cap {c:?}"))?;
        b = b.cap(cap);
    }
    for t in args.budgets {
        let (kind, n) = parse_budget(t)?;
        b = b.budget(kind, n);
    }
    for s in args.signers {
        b = b.signer(parse_key_hex(s)?);
    }
    if let Some(t) = args.tenant {
        b = b.tenant(t);
    }
    if let Some(l) = args.lane {
        b = b.lane(l);
    }
    Ok(b.build()?)
}

/// `manifest new`: writes the body's canonical CBOR to `out`.
pub fn new(args: &NewArgs<'_>, out: &Path) -> Result<Manifest> {
    let m = build(args)?;
    create_new(out, &m.to_cbor(), 0o644)?;
    Ok(m)
}

/// `manifest sign`: signs the body in `body` with the key in `key`, writes the envelope.
/// Returns the signer's public key.
pub fn sign(body: &Path, key: &Path, out: &Path) -> Result<[u8; 32]> {
    let bytes = std::fs::read(body).with_context(|| format!("cannot read {}", body.display()))?;
    let m = Manifest::from_cbor(&bytes).with_context(|| {
        format!(
            "{} is not a manifest body (write one with `coconut manifest new`)",
            body.display()
        )
    })?;
    let key = read_key(key)?;
    create_new(out, &m.sign(&key).to_bytes(), 0o644)?;
    Ok(key.verifying_key().to_bytes())
}

/// A verified envelope, for printing.
pub struct Verified {
    /// The signer's key.
    pub signer: [u8; 32],
    /// The body.
    pub manifest: Manifest,
    /// The envelope's size.
    pub bytes: usize,
}

/// `manifest verify`: decodes and checks the envelope in `path`.
pub fn verify(path: &Path) -> Result<Verified> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (env, manifest) =
        verify_envelope(&bytes).with_context(|| format!("{}: refused", path.display()))?;
    Ok(Verified {
        signer: env.key,
        manifest,
        bytes: bytes.len(),
    })
}

impl Verified {
    /// The JSON form: `name`, `signer`, `caps`, `budget`, `signers`, `tenant`, `lane`, `bytes`.
    pub fn to_json(&self) -> Value {
        let m = &self.manifest;
        json!({
            "name": m.name,
            "signer": hex::encode(self.signer),
            "caps": m.caps.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "budget": m.budget.iter().map(|(k, v)| (k.name().to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>(),
            "signers": m.signers.iter().map(hex::encode).collect::<Vec<_>>(),
            "tenant": m.tenant,
            "lane": m.lane,
            "bytes": self.bytes,
        })
    }

    /// The text form, one `key: value` line each.
    pub fn to_text(&self) -> String {
        let m = &self.manifest;
        let mut s = String::from("signature: valid (strict Ed25519)\n");
        s += &format!("name: {}\n", m.name);
        s += &format!("signer: {}\n", hex::encode(self.signer));
        let caps: Vec<String> = m.caps.iter().map(ToString::to_string).collect();
        s += &format!(
            "caps: {}\n",
            if caps.is_empty() {
                "(none)".into()
            } else {
                caps.join(" ")
            }
        );
        let budget: Vec<String> = m
            .budget
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        s += &format!(
            "budget: {}\n",
            if budget.is_empty() {
                "(inherited)".into()
            } else {
                budget.join(" ")
            }
        );
        for k in &m.signers {
            s += &format!("trusts: {}\n", hex::encode(k));
        }
        if let Some(t) = &m.tenant {
            s += &format!("tenant: {t}\n");
        }
        if let Some(l) = m.lane {
            s += &format!("lane: {l}\n");
        }
        s
    }
}
