//! Capabilities in user space: the `name[:scope]` text form and capability sets in CBOR.
//!
//! Job: parse and print capability entries exactly as manifests, agentfs `caps` files and audit
//! rows spell them, and encode a set as the canonical CBOR array that `agent_spawn` takes
//! (`docs/formats/manifest.md`, "Capability arrays": text strings, strictly ascending by bytes,
//! at most `AGENT_CAPS_MAX`).
//!
//! Constraints: the parsing rule is coconut-abi's ([`coconut_abi::parse_capability`]); this
//! module only adds owned types and CBOR.

use std::fmt;
use std::str::FromStr;

use ciborium::Value;
use coconut_abi::{limits::AGENT_CAPS_MAX, parse_capability, CapError, CapId};

/// One capability entry: an id and an optional scope (empty = unscoped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The capability.
    pub id: CapId,
    /// The scope; empty means unscoped (every scope).
    pub scope: String,
}

/// Why a capability text or set is not acceptable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CapabilityError {
    /// The text is not `name` or `name:scope` with a known name and a valid scope.
    #[error("{text:?} is not a capability: {reason} (expected name[:scope], e.g. fs.read:/srv/*)")]
    Parse {
        /// The rejected text.
        text: String,
        /// What is wrong with it.
        reason: CapError,
    },
    /// More than `AGENT_CAPS_MAX` distinct entries.
    #[error("capability set has {0} entries; at most 64 are allowed")]
    TooMany(usize),
    /// CBOR that is not an array of capability text strings in strictly ascending order.
    #[error("capability CBOR is malformed: {0}")]
    Cbor(String),
}

impl Capability {
    /// An unscoped entry.
    pub fn unscoped(id: CapId) -> Capability {
        Capability {
            id,
            scope: String::new(),
        }
    }

    /// A scoped entry; the scope is checked like the kernel checks it.
    pub fn scoped(id: CapId, scope: &str) -> Result<Capability, CapabilityError> {
        format!("{}:{scope}", id.name()).parse()
    }

    /// Whether this held entry covers `req` (same id, scope coverage rule).
    pub fn covers(&self, req: &Capability) -> bool {
        coconut_abi::entry_covers(
            (self.id, self.scope.as_bytes()),
            (req.id, req.scope.as_bytes()),
        )
    }
}

impl FromStr for Capability {
    type Err = CapabilityError;

    fn from_str(text: &str) -> Result<Capability, CapabilityError> {
        let (id, scope) =
            parse_capability(text.as_bytes()).map_err(|reason| CapabilityError::Parse {
                text: text.to_string(),
                reason,
            })?;
        // The scope is printable ASCII, so this conversion cannot fail.
        let scope = String::from_utf8_lossy(scope).into_owned();
        Ok(Capability { id, scope })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope.is_empty() {
            f.write_str(self.id.name())
        } else {
            write!(f, "{}:{}", self.id.name(), self.scope)
        }
    }
}

/// The texts of a set, sorted strictly ascending by bytes, duplicates removed.
pub(crate) fn sorted_texts(caps: &[Capability]) -> Result<Vec<String>, CapabilityError> {
    let mut texts: Vec<String> = caps.iter().map(Capability::to_string).collect();
    texts.sort();
    texts.dedup();
    if texts.len() > AGENT_CAPS_MAX {
        return Err(CapabilityError::TooMany(texts.len()));
    }
    Ok(texts)
}

/// Encodes a capability set as the canonical CBOR array `agent_spawn` takes: definite-length
/// array of text strings, strictly ascending by bytes, at most 64.
pub fn encode_capset(caps: &[Capability]) -> Result<Vec<u8>, CapabilityError> {
    let array = Value::Array(sorted_texts(caps)?.into_iter().map(Value::Text).collect());
    let mut out = Vec::new();
    ciborium::into_writer(&array, &mut out).map_err(|e| CapabilityError::Cbor(e.to_string()))?;
    Ok(out)
}

/// Decodes a capability array, checking the same rules as the kernel (known names, valid
/// scopes, strictly ascending, at most 64).
pub fn decode_capset(bytes: &[u8]) -> Result<Vec<Capability>, CapabilityError> {
    let value: Value =
        ciborium::from_reader(bytes).map_err(|e| CapabilityError::Cbor(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(CapabilityError::Cbor("not an array".into()));
    };
    if items.len() > AGENT_CAPS_MAX {
        return Err(CapabilityError::TooMany(items.len()));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut last: Option<String> = None;
    for item in items {
        let Value::Text(text) = item else {
            return Err(CapabilityError::Cbor(
                "an entry is not a text string".into(),
            ));
        };
        if last
            .as_ref()
            .is_some_and(|l| l.as_bytes() >= text.as_bytes())
        {
            return Err(CapabilityError::Cbor(format!(
                "entries are not strictly ascending at {text:?}"
            )));
        }
        out.push(text.parse()?);
        last = Some(text);
    }
    if encode_capset(&out)? != bytes {
        return Err(CapabilityError::Cbor("not in canonical encoding".into()));
    }
    Ok(out)
}
