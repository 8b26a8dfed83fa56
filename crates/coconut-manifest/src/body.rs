//! The manifest body: what an agent is and the most it may ever hold.
//!
//! Job: [`decode_body`] checks the body map exactly as `docs/formats/manifest.md` defines it
//! and returns a [`Body`] that borrows the input: `v` (1), `caps` (capability ceiling),
//! `lane`, `name`, `budget`, `tenant`, `signers` (keys trusted to sign this agent's
//! children), keys in that canonical order, unknown keys rejected.
//!
//! Constraints: no_std, no heap, no panics. The capability and signer lists are iterators over
//! the checked bytes (see `capset.rs`), so a [`Body`] is a few hundred bytes whatever the
//! manifest holds.

use super::abi::{QuotaKind, AGENT_SIGNERS_MAX, BODY_KEYS, BUDGET_KEYS};
use super::capset::{read_caps, CapSetIter};
use super::cbor::{self, Decoder};
use super::error::{field_error, invalid, Doc, ManifestError};
use super::read::{self, CheckedItems, Element};
use super::BODY_LIMITS;

/// The budgets a manifest sets; an absent kind is inherited from the parent, and the kernel
/// caps each value at the parent's limit. Manifest budgets use the fixed default periods of
/// `docs/formats/manifest.md`; `u64::MAX` is `AGENT_QUOTA_UNLIMITED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// CPU: microseconds per 100 ms period.
    pub cpu: Option<u64>,
    /// Memory: bytes.
    pub ram: Option<u64>,
    /// Fast-tier memory: bytes.
    pub hbm: Option<u64>,
    /// Brokered network egress: bytes per second.
    pub net: Option<u64>,
    /// Brokered inference: tokens per hour.
    pub inference_tokens: Option<u64>,
}

impl Budget {
    /// The limit set for `kind`, if any.
    pub const fn get(&self, kind: QuotaKind) -> Option<u64> {
        match kind {
            QuotaKind::Cpu => self.cpu,
            QuotaKind::Ram => self.ram,
            QuotaKind::Hbm => self.hbm,
            QuotaKind::Net => self.net,
            QuotaKind::InferenceTokens => self.inference_tokens,
        }
    }

    fn slot(&mut self, kind: QuotaKind) -> &mut Option<u64> {
        match kind {
            QuotaKind::Cpu => &mut self.cpu,
            QuotaKind::Ram => &mut self.ram,
            QuotaKind::Hbm => &mut self.hbm,
            QuotaKind::Net => &mut self.net,
            QuotaKind::InferenceTokens => &mut self.inference_tokens,
        }
    }

    /// The kinds that are set, with their limits, in kind id order.
    pub fn iter(&self) -> impl Iterator<Item = (QuotaKind, u64)> + '_ {
        QuotaKind::ALL
            .into_iter()
            .filter_map(move |kind| self.get(kind).map(|limit| (kind, limit)))
    }

    /// Whether no kind is set.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// The signer keys of a checked body, in their (strictly ascending) order.
pub type SignersIter<'a> = CheckedItems<'a, &'a [u8; 32]>;

impl<'a> Element<'a> for &'a [u8; 32] {
    fn read(d: &mut Decoder<'a>) -> Option<Self> {
        d.bytes().ok().and_then(|b| <&[u8; 32]>::try_from(b).ok())
    }
}

/// A decoded manifest body; every field borrows the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body<'a> {
    /// The agent's name: 1..=64 bytes of `[a-z0-9._-]`.
    pub name: &'a str,
    /// The budgets the manifest sets.
    pub budget: Budget,
    /// The tenant, if set: 1..=64 bytes of `[a-z0-9._-]`.
    pub tenant: Option<&'a str>,
    /// The tenant fair-share lane, if set.
    pub lane: Option<u32>,
    caps: CapSetIter<'a>,
    signers: SignersIter<'a>,
}

impl<'a> Body<'a> {
    /// The capability ceiling: at most 64 entries, strictly ascending by text.
    pub fn caps(&self) -> CapSetIter<'a> {
        self.caps.clone()
    }

    /// The keys trusted to sign this agent's children's manifests: at most 8, strictly
    /// ascending; empty when the agent may not have signed children.
    pub fn signers(&self) -> SignersIter<'a> {
        self.signers.clone()
    }

    /// Whether `key` is one of [`signers`](Self::signers).
    pub fn trusts(&self, key: &[u8; 32]) -> bool {
        self.signers().any(|k| k == key)
    }
}

/// The field path of each budget kind, for errors.
const fn budget_field(kind: QuotaKind) -> &'static str {
    match kind {
        QuotaKind::Cpu => "body.budget.cpu",
        QuotaKind::Ram => "body.budget.ram",
        QuotaKind::Hbm => "body.budget.hbm",
        QuotaKind::Net => "body.budget.net",
        QuotaKind::InferenceTokens => "body.budget.inference_tokens",
    }
}

/// Decodes a manifest body (the payload of the envelope's `body`).
///
/// Checks, in order: the length (at most 16 KiB), the whole document with `cbor::validate`
/// under [`BODY_LIMITS`] (canonical form only), the top item is a map, then its keys one by
/// one in canonical order (`v`, `caps`, `lane`, `name`, `budget`, `tenant`, `signers`):
/// - `v`: the unsigned integer 1 (checked first, since it sorts first);
/// - `caps` (required): an array of at most 64 `"name[:scope]"` texts, strictly ascending,
///   each a known capability with a valid scope;
/// - `lane`: an unsigned integer up to `u32::MAX`;
/// - `name` (required): a text of 1..=64 bytes of `[a-z0-9._-]`;
/// - `budget`: a map whose keys are among `cpu`, `hbm`, `net`, `ram`, `inference_tokens`
///   (canonical order) and whose values are unsigned integers; may be empty;
/// - `tenant`: a text of 1..=64 bytes of `[a-z0-9._-]`;
/// - `signers`: an array of at most 8 byte strings of 32 bytes, strictly ascending; may be
///   empty.
///
/// Unknown keys are errors; missing required keys are reported last (`v`, `caps`, `name`).
///
/// # Errors
///
/// [`ManifestError::TooBig`] (`E2BIG`) above 16 KiB; otherwise an `EINVAL` variant naming the
/// field, key or capability text, with its offset in `body`.
pub fn decode_body(body: &[u8]) -> Result<Body<'_>, ManifestError<'_>> {
    const DOC: Doc = Doc::Body;
    let max = BODY_LIMITS.max_input;
    if body.len() > max {
        return Err(ManifestError::TooBig {
            doc: DOC,
            len: body.len(),
            max,
        });
    }
    cbor::validate(body, &BODY_LIMITS).map_err(|e| invalid(DOC, body, e))?;

    let mut d = Decoder::with_limits(body, BODY_LIMITS);
    let (pairs, _) = read::map(&mut d, DOC, "body")?;
    let mut last = None;
    let mut version = false;
    let mut caps = None;
    let mut lane = None;
    let mut name = None;
    let mut budget = Budget::default();
    let mut tenant = None;
    let mut signers = SignersIter::empty();
    for _ in 0..pairs {
        // Indexes into `BODY_KEYS`: v, caps, lane, name, budget, tenant, signers.
        match read::key(&mut d, DOC, "body", &BODY_KEYS, &mut last)?.0 {
            0 => {
                read::version(&mut d, DOC, "body.v")?;
                version = true;
            }
            1 => caps = Some(read_caps(&mut d, DOC, "body.caps", "body.caps[]")?),
            2 => {
                let (value, offset) = read::uint(&mut d, DOC, "body.lane")?;
                let value = u32::try_from(value).map_err(|_| ManifestError::OutOfRange {
                    field: "body.lane",
                    value,
                    max: u32::MAX.into(),
                    offset,
                })?;
                lane = Some(value);
            }
            3 => name = Some(read::name(&mut d, DOC, "body.name")?),
            4 => budget = read_budget(&mut d)?,
            5 => tenant = Some(read::name(&mut d, DOC, "body.tenant")?),
            _ => signers = read_signers(&mut d)?,
        }
    }
    d.finish().map_err(|e| field_error(DOC, "body", e))?;

    let missing = |key: &'static str| ManifestError::MissingKey { map: "body", key };
    if !version {
        return Err(missing("v"));
    }
    let caps = caps.ok_or(missing("caps"))?;
    let name = name.ok_or(missing("name"))?;
    Ok(Body {
        name,
        budget,
        tenant,
        lane,
        caps,
        signers,
    })
}

/// Reads the `budget` map.
fn read_budget<'a>(d: &mut Decoder<'a>) -> Result<Budget, ManifestError<'a>> {
    const DOC: Doc = Doc::Body;
    let (pairs, _) = read::map(d, DOC, "body.budget")?;
    let mut budget = Budget::default();
    let mut last = None;
    for _ in 0..pairs {
        let (_, key, offset) = read::key(d, DOC, "body.budget", &BUDGET_KEYS, &mut last)?;
        // Every entry of BUDGET_KEYS names a kind; were one not to, it would be unknown.
        let kind = QuotaKind::from_name(key.as_bytes()).ok_or(ManifestError::UnknownKey {
            map: "body.budget",
            key,
            offset,
        })?;
        let (limit, _) = read::uint(d, DOC, budget_field(kind))?;
        *budget.slot(kind) = Some(limit);
    }
    Ok(budget)
}

/// Reads the `signers` array.
fn read_signers<'a>(d: &mut Decoder<'a>) -> Result<SignersIter<'a>, ManifestError<'a>> {
    const DOC: Doc = Doc::Body;
    let (count, offset) = read::array(d, DOC, "body.signers")?;
    if count > AGENT_SIGNERS_MAX as u64 {
        return Err(ManifestError::TooMany {
            field: "body.signers",
            count,
            max: AGENT_SIGNERS_MAX,
            offset,
        });
    }
    let elements = d.remaining();
    let mut prev: Option<&[u8; 32]> = None;
    for _ in 0..count {
        let offset = d.position();
        let key = read::fixed::<32>(d, DOC, "body.signers[]")?;
        if prev.is_some_and(|p| key <= p) {
            return Err(ManifestError::NotAscending {
                field: "body.signers[]",
                offset,
            });
        }
        prev = Some(key);
    }
    let used = elements.len().saturating_sub(d.remaining().len());
    // `count <= AGENT_SIGNERS_MAX` (8) was checked above.
    Ok(SignersIter::new(
        elements.get(..used).unwrap_or_default(),
        count as u32,
    ))
}
