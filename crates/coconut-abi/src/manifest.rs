//! Constants of the signed manifest format (`docs/formats/manifest.md`).
//!
//! Job: the names and the canonical order of the envelope and body keys, the version, the
//! signing prefix, and the agent-name rule, so the kernel's decoder (coconut-cbor), libcoconut's
//! builder and the documentation agree. The canonical key order is RFC 8949 §4.2.1 (bytewise
//! order of the encoded keys: shorter text keys first, then bytewise).
//!
//! Constraints: no_std, no dependencies, no panics.

use super::limits::AGENT_NAME_MAX;

/// The value of the `"v"` key of the envelope and of the body.
pub const MANIFEST_VERSION: u64 = 1;
/// What the Ed25519 signature covers: this prefix (with its NUL byte) then the body bytes.
pub const MANIFEST_SIGNING_PREFIX: &[u8; 20] = b"coconut-manifest-v1\0";
/// Envelope keys in canonical order.
pub const ENVELOPE_KEYS: [&str; 4] = ["v", "key", "sig", "body"];
/// Body keys in canonical order (`v`, `caps`, `name` required; the others optional).
pub const BODY_KEYS: [&str; 7] = ["v", "caps", "lane", "name", "budget", "tenant", "signers"];
/// Keys of the body's `budget` map in canonical order (all optional).
pub const BUDGET_KEYS: [&str; 5] = ["cpu", "hbm", "net", "ram", "inference_tokens"];

/// Whether `name` is a valid agent (or tenant) name: 1..=64 bytes of `[a-z0-9._-]`.
pub fn is_valid_agent_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= AGENT_NAME_MAX
        && name.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}
