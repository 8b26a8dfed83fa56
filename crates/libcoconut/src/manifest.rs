//! Manifests: building, canonical CBOR encoding, signing, and strict verification.
//!
//! Job: produce the exact signed envelope of `docs/formats/manifest.md`:
//! `{"v": 1, "key": bstr(32), "sig": bstr(64), "body": bstr(body)}` where `body` is the
//! canonical CBOR of the body map and `sig` is Ed25519 over `"coconut-manifest-v1\0" || body`.
//! Canonical means RFC 8949 §4.2.1 core deterministic encoding: definite lengths, shortest
//! integer forms, map keys sorted by the bytes of their encodings, no tags, no floats.
//! [`verify_envelope`] and [`Manifest::from_cbor`] are the user-space mirror of the kernel's
//! checks (canonical form with unique map keys and at most 8 levels of nesting, known keys,
//! required keys, types and ranges, strictly ascending `caps` and `signers`, strict Ed25519).
//!
//! Constraints: uses the reference crates `ciborium` and `ed25519-dalek` only, never the
//! kernel-side `coconut-cbor`/`coconut-ed25519` (this is the independent implementation the
//! kernel-side decoder is tested against); every check is also documented in
//! `docs/formats/manifest.md`. Decoding hostile bytes costs time and memory linear in their
//! length: nesting is bounded before any map key is sorted or compared.

use std::collections::BTreeMap;

use ciborium::Value;
use coconut_abi::limits::{AGENT_CAPS_MAX, AGENT_SIGNERS_MAX};
use coconut_abi::{
    is_valid_agent_name, QuotaKind, ENVELOPE_KEYS, MANIFEST_SIGNING_PREFIX, MANIFEST_VERSION,
};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::capability::{sorted_texts, Capability, CapabilityError};

/// Why a manifest cannot be built, encoded or verified.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// The agent name is not 1..=64 bytes of `[a-z0-9._-]`.
    #[error("agent name {0:?} must be 1..=64 bytes of [a-z0-9._-]")]
    BadName(String),
    /// The tenant name is not 1..=64 bytes of `[a-z0-9._-]`.
    #[error("tenant name {0:?} must be 1..=64 bytes of [a-z0-9._-]")]
    BadTenant(String),
    /// More than 8 signer keys.
    #[error("{0} signer keys; at most 8 are allowed")]
    TooManySigners(usize),
    /// The lane does not fit in 32 bits.
    #[error("lane {0} does not fit in 32 bits")]
    BadLane(u64),
    /// A capability entry or the set is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// The bytes are not valid CBOR, or not in canonical form.
    #[error("not canonical CBOR: {0}")]
    NotCanonical(String),
    /// The CBOR is canonical but does not have the documented shape.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// The signature does not verify under the strict rules.
    #[error("signature rejected: {0}")]
    BadSignature(String),
}

/// A manifest body: what an agent is and the most it may ever hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The agent's name: 1..=64 bytes of `[a-z0-9._-]`.
    pub name: String,
    /// The capability ceiling, strictly ascending by text, at most 64.
    pub caps: Vec<Capability>,
    /// Budgets by kind (absent kinds are inherited from the parent).
    pub budget: BTreeMap<QuotaKind, u64>,
    /// Keys trusted to sign this agent's children's manifests, at most 8.
    pub signers: Vec<[u8; 32]>,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The tenant fair-share lane, if any.
    pub lane: Option<u64>,
}

/// Builds a [`Manifest`]; every check runs in [`ManifestBuilder::build`].
#[derive(Debug, Clone, Default)]
pub struct ManifestBuilder {
    name: String,
    caps: Vec<Capability>,
    budget: BTreeMap<QuotaKind, u64>,
    signers: Vec<[u8; 32]>,
    tenant: Option<String>,
    lane: Option<u64>,
}

impl ManifestBuilder {
    /// Starts a manifest for an agent called `name`.
    pub fn new(name: &str) -> ManifestBuilder {
        ManifestBuilder {
            name: name.to_string(),
            ..ManifestBuilder::default()
        }
    }

    /// Adds a capability to the ceiling.
    pub fn cap(mut self, cap: Capability) -> ManifestBuilder {
        self.caps.push(cap);
        self
    }

    /// Adds several capabilities.
    pub fn caps(mut self, caps: impl IntoIterator<Item = Capability>) -> ManifestBuilder {
        self.caps.extend(caps);
        self
    }

    /// Sets one budget.
    pub fn budget(mut self, kind: QuotaKind, limit: u64) -> ManifestBuilder {
        self.budget.insert(kind, limit);
        self
    }

    /// Trusts `key` to sign this agent's children's manifests.
    pub fn signer(mut self, key: [u8; 32]) -> ManifestBuilder {
        if !self.signers.contains(&key) {
            self.signers.push(key);
        }
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: &str) -> ManifestBuilder {
        self.tenant = Some(tenant.to_string());
        self
    }

    /// Sets the tenant fair-share lane.
    pub fn lane(mut self, lane: u64) -> ManifestBuilder {
        self.lane = Some(lane);
        self
    }

    /// Checks everything and returns the manifest with its caps and signers in canonical
    /// order.
    pub fn build(self) -> Result<Manifest, ManifestError> {
        if !is_valid_agent_name(self.name.as_bytes()) {
            return Err(ManifestError::BadName(self.name));
        }
        if let Some(t) = &self.tenant {
            if !is_valid_agent_name(t.as_bytes()) {
                return Err(ManifestError::BadTenant(t.clone()));
            }
        }
        if self.signers.len() > AGENT_SIGNERS_MAX {
            return Err(ManifestError::TooManySigners(self.signers.len()));
        }
        if let Some(lane) = self.lane {
            if lane > u64::from(u32::MAX) {
                return Err(ManifestError::BadLane(lane));
            }
        }
        let caps = sorted_texts(&self.caps)?
            .iter()
            .map(|t| t.parse())
            .collect::<Result<Vec<Capability>, _>>()?;
        let mut signers = self.signers;
        signers.sort();
        Ok(Manifest {
            name: self.name,
            caps,
            budget: self.budget,
            signers,
            tenant: self.tenant,
            lane: self.lane,
        })
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and Values built here hold no floats or tags.
    ciborium::into_writer(value, &mut out).unwrap_or_default();
    out
}

/// Deepest nesting of arrays and maps in a decoded envelope or body, as in the kernel's decoder
/// (`coconut_cbor::Limits::KERNEL`): a top-level map is depth 1. A valid body needs 2 (the
/// body map, then `caps`, `budget` or `signers`).
const MAX_DEPTH: usize = 8;

/// Returns `value` with every map's entries sorted by the bytes of their encoded keys
/// (RFC 8949 §4.2.1). ciborium already writes definite lengths and shortest integers.
///
/// Each key is canonicalized and encoded once, so the cost is the size of `value` times the
/// nesting depth of map keys inside map keys (at most `MAX_DEPTH` (8) for decoded input, which is
/// checked first). Repeated keys are kept, next to each other; decoding rejects them.
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        Value::Map(entries) => {
            let mut sorted: Vec<(Vec<u8>, Value, Value)> = entries
                .iter()
                .map(|(k, v)| {
                    let key = canonicalize(k);
                    (encode(&key), key, canonicalize(v))
                })
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(sorted.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        other => other.clone(),
    }
}

/// Checks what re-encoding cannot see: arrays and maps nest at most [`MAX_DEPTH`] deep, and
/// no map has the same key twice (keys compared by their encodings). `outer` is the nesting
/// depth of the container holding `value` (0 for the top-level item). Every key is checked for
/// depth before it is encoded, so the work is at most the depth limit times the input size.
fn check_structure(value: &Value, outer: usize) -> Result<(), ManifestError> {
    let depth = outer + 1;
    let too_deep = || {
        ManifestError::NotCanonical(format!(
            "arrays and maps nest more than {MAX_DEPTH} levels deep"
        ))
    };
    match value {
        // A tag is not a container; the shape checks reject it wherever it is.
        Value::Tag(_, inner) => check_structure(inner, outer),
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            items
                .iter()
                .try_for_each(|item| check_structure(item, depth))
        }
        Value::Map(entries) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            let mut keys = std::collections::BTreeSet::new();
            for (k, v) in entries {
                check_structure(k, depth)?;
                check_structure(v, depth)?;
                if !keys.insert(encode(k)) {
                    return Err(ManifestError::NotCanonical(format!(
                        "map key {} appears more than once (keys must be unique)",
                        describe_key(k)
                    )));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A map key for messages: text keys quoted, anything else as its CBOR encoding in hex.
fn describe_key(key: &Value) -> String {
    match key {
        Value::Text(t) => format!("{t:?}"),
        other => {
            let hex: String = encode(other).iter().map(|b| format!("{b:02x}")).collect();
            format!("h'{hex}'")
        }
    }
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    canonicalize(&Value::Map(
        entries.into_iter().map(|(k, v)| (text(k), v)).collect(),
    ))
}

impl Manifest {
    /// The body as a canonical CBOR value.
    pub fn to_value(&self) -> Value {
        let mut entries = vec![
            ("v", Value::Integer(MANIFEST_VERSION.into())),
            (
                "caps",
                Value::Array(
                    self.caps
                        .iter()
                        .map(|c| Value::Text(c.to_string()))
                        .collect(),
                ),
            ),
            ("name", text(&self.name)),
        ];
        if let Some(lane) = self.lane {
            entries.push(("lane", Value::Integer(lane.into())));
        }
        if !self.budget.is_empty() {
            let budget = self
                .budget
                .iter()
                .map(|(k, v)| (k.name(), Value::Integer((*v).into())))
                .collect();
            entries.push(("budget", map(budget)));
        }
        if let Some(t) = &self.tenant {
            entries.push(("tenant", text(t)));
        }
        if !self.signers.is_empty() {
            let keys = self
                .signers
                .iter()
                .map(|k| Value::Bytes(k.to_vec()))
                .collect();
            entries.push(("signers", Value::Array(keys)));
        }
        map(entries)
    }

    /// The canonical CBOR bytes of the body.
    pub fn to_cbor(&self) -> Vec<u8> {
        encode(&self.to_value())
    }

    /// Signs the body with `key` and returns the envelope.
    pub fn sign(&self, key: &SigningKey) -> SignedManifest {
        let body = self.to_cbor();
        let sig = key.sign(&SignedManifest::signing_message(&body));
        SignedManifest {
            key: key.verifying_key().to_bytes(),
            sig: sig.to_bytes(),
            body,
        }
    }

    /// Decodes a body from canonical CBOR, checking the documented shape: canonical form (see
    /// `decode_canonical`: unique keys, nesting at most 8 deep), only the documented keys, the
    /// required `v` (= 1), `caps` and `name`, `caps` and `signers` strictly ascending (so
    /// without duplicates), names, lane and counts within their limits.
    pub fn from_cbor(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value = decode_canonical(bytes)?;
        let entries = as_map(&value, "body")?;
        let mut version = None;
        let mut name = None;
        let mut caps = None;
        let mut budget = BTreeMap::new();
        let mut signers = Vec::new();
        let mut tenant = None;
        let mut lane = None;
        for (k, v) in entries {
            let key = as_text(k, "body key")?;
            match key {
                "v" => version = Some(as_uint(v, "v")?),
                "name" => name = Some(as_text(v, "name")?.to_string()),
                "caps" => {
                    let items = as_array(v, "caps")?;
                    if items.len() > AGENT_CAPS_MAX {
                        return Err(CapabilityError::TooMany(items.len()).into());
                    }
                    let texts = items
                        .iter()
                        .map(|item| as_text(item, "caps entry"))
                        .collect::<Result<Vec<_>, _>>()?;
                    if let Some(i) = first_not_ascending(&texts) {
                        return Err(malformed(&format!(
                            "caps entry {i} ({:?}) is not greater than the entry before it; \
                             caps must be strictly ascending by bytes, without duplicates",
                            texts[i]
                        )));
                    }
                    caps = Some(
                        texts
                            .iter()
                            .map(|t| t.parse())
                            .collect::<Result<Vec<Capability>, _>>()?,
                    );
                }
                "budget" => {
                    // Unique keys were checked by `decode_canonical`.
                    for (bk, bv) in as_map(v, "budget")? {
                        let name = as_text(bk, "budget key")?;
                        let kind = QuotaKind::from_name(name.as_bytes())
                            .ok_or_else(|| malformed(&format!("unknown budget key {name:?}")))?;
                        budget.insert(kind, as_uint(bv, name)?);
                    }
                }
                "signers" => {
                    let items = as_array(v, "signers")?;
                    if items.len() > AGENT_SIGNERS_MAX {
                        return Err(ManifestError::TooManySigners(items.len()));
                    }
                    signers = items
                        .iter()
                        .map(|item| as_key(item, "signers entry"))
                        .collect::<Result<Vec<_>, _>>()?;
                    if let Some(i) = first_not_ascending(&signers) {
                        return Err(malformed(&format!(
                            "signers entry {i} is not greater than the key before it; signers \
                             must be strictly ascending by bytes, without duplicates"
                        )));
                    }
                }
                "tenant" => tenant = Some(as_text(v, "tenant")?.to_string()),
                "lane" => lane = Some(as_uint(v, "lane")?),
                other => return Err(malformed(&format!("unknown body key {other:?}"))),
            }
        }
        match version {
            None => return Err(malformed("body has no \"v\"")),
            Some(MANIFEST_VERSION) => {}
            Some(_) => return Err(malformed("body \"v\" must be 1")),
        }
        let caps = caps.ok_or_else(|| {
            malformed("body has no \"caps\" (the capability ceiling is required; it may be empty)")
        })?;
        let name = name.ok_or_else(|| malformed("body has no \"name\""))?;
        // The builder checks the name, tenant, lane and counts; caps and signers are already in
        // its canonical order, so it returns them unchanged.
        ManifestBuilder {
            name,
            caps,
            budget,
            signers,
            tenant,
            lane,
        }
        .build()
    }
}

/// The index of the first element not strictly greater than the one before it.
fn first_not_ascending<T: Ord>(items: &[T]) -> Option<usize> {
    items.windows(2).position(|w| w[0] >= w[1]).map(|i| i + 1)
}

/// A signed manifest envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// The signer's Ed25519 public key.
    pub key: [u8; 32],
    /// The Ed25519 signature over `"coconut-manifest-v1\0" || body`.
    pub sig: [u8; 64],
    /// The canonical CBOR of the body map.
    pub body: Vec<u8>,
}

impl SignedManifest {
    /// The message the signature covers.
    pub fn signing_message(body: &[u8]) -> Vec<u8> {
        let mut msg = Vec::with_capacity(MANIFEST_SIGNING_PREFIX.len() + body.len());
        msg.extend_from_slice(MANIFEST_SIGNING_PREFIX);
        msg.extend_from_slice(body);
        msg
    }

    /// The envelope's canonical CBOR bytes (what `agent_spawn_args.manifest` points at).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&map(vec![
            ("v", Value::Integer(MANIFEST_VERSION.into())),
            ("key", Value::Bytes(self.key.to_vec())),
            ("sig", Value::Bytes(self.sig.to_vec())),
            ("body", Value::Bytes(self.body.clone())),
        ]))
    }
}

fn malformed(what: &str) -> ManifestError {
    ManifestError::Malformed(what.to_string())
}

/// Decodes one CBOR item that must be in the canonical form of `docs/formats/manifest.md`:
/// at most [`MAX_DEPTH`] levels of arrays and maps, unique map keys, and re-encoding it in
/// canonical form gives back exactly `bytes` (which rules out indefinite lengths, long forms,
/// unsorted keys and trailing bytes).
fn decode_canonical(bytes: &[u8]) -> Result<Value, ManifestError> {
    let value: Value =
        ciborium::from_reader(bytes).map_err(|e| ManifestError::NotCanonical(e.to_string()))?;
    // Depth and unique keys first: canonicalizing then costs time linear in the input.
    check_structure(&value, 0)?;
    if encode(&canonicalize(&value)) != bytes {
        return Err(ManifestError::NotCanonical(
            "re-encoding in canonical form gives other bytes (indefinite length, long integer form, unsorted keys, trailing bytes, tag or float)".into(),
        ));
    }
    Ok(value)
}

fn as_map<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<(Value, Value)>, ManifestError> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(malformed(&format!("{what} is not a map"))),
    }
}

fn as_array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, ManifestError> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(malformed(&format!("{what} is not an array"))),
    }
}

fn as_text<'a>(v: &'a Value, what: &str) -> Result<&'a str, ManifestError> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(malformed(&format!("{what} is not a text string"))),
    }
}

fn as_uint(v: &Value, what: &str) -> Result<u64, ManifestError> {
    match v {
        Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| malformed(&format!("{what} is not an unsigned integer")))
        }
        _ => Err(malformed(&format!("{what} is not an unsigned integer"))),
    }
}

fn as_bytes<'a>(v: &'a Value, what: &str) -> Result<&'a [u8], ManifestError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(&format!("{what} is not a byte string"))),
    }
}

fn as_key(v: &Value, what: &str) -> Result<[u8; 32], ManifestError> {
    as_bytes(v, what)?
        .try_into()
        .map_err(|_| malformed(&format!("{what} is not 32 bytes")))
}

/// Whether a 32-byte point encoding is canonical (decompresses, and recompresses to itself)
/// and not of small order.
fn strict_point(bytes: &[u8; 32], what: &str) -> Result<(), ManifestError> {
    let point = CompressedEdwardsY(*bytes)
        .decompress()
        .ok_or_else(|| ManifestError::BadSignature(format!("{what} is not a curve point")))?;
    if point.compress().as_bytes() != bytes {
        return Err(ManifestError::BadSignature(format!(
            "{what} is not canonically encoded"
        )));
    }
    if point.is_small_order() {
        return Err(ManifestError::BadSignature(format!(
            "{what} has small order"
        )));
    }
    Ok(())
}

/// Decodes and verifies an envelope the way the kernel does: canonical CBOR, exactly the keys
/// `v`, `key`, `sig`, `body` with the right types, version 1, strict Ed25519 (canonical `A` and
/// `R`, neither of small order, `S < L`, cofactorless equation), then the body's shape.
/// Signer trust is not checked here (it depends on the parent).
pub fn verify_envelope(bytes: &[u8]) -> Result<(SignedManifest, Manifest), ManifestError> {
    let value = decode_canonical(bytes)?;
    let entries = as_map(&value, "envelope")?;
    let keys: Vec<&str> = entries
        .iter()
        .map(|(k, _)| as_text(k, "envelope key"))
        .collect::<Result<_, _>>()?;
    if keys != ENVELOPE_KEYS {
        return Err(malformed(&format!(
            "envelope keys are {keys:?}; expected exactly {ENVELOPE_KEYS:?}"
        )));
    }
    let get = |i: usize| &entries[i].1;
    if as_uint(get(0), "v")? != MANIFEST_VERSION {
        return Err(malformed("envelope \"v\" must be 1"));
    }
    let key = as_key(get(1), "key")?;
    let sig: [u8; 64] = as_bytes(get(2), "sig")?
        .try_into()
        .map_err(|_| malformed("sig is not 64 bytes"))?;
    let body = as_bytes(get(3), "body")?.to_vec();

    strict_point(&key, "public key A")?;
    let r: [u8; 32] = sig[..32].try_into().unwrap_or([0; 32]);
    strict_point(&r, "signature R")?;
    let vk =
        VerifyingKey::from_bytes(&key).map_err(|e| ManifestError::BadSignature(e.to_string()))?;
    let signature = Signature::from_bytes(&sig);
    vk.verify_strict(&SignedManifest::signing_message(&body), &signature)
        .map_err(|e| ManifestError::BadSignature(e.to_string()))?;
    let manifest = Manifest::from_cbor(&body)?;
    Ok((SignedManifest { key, sig, body }, manifest))
}
