//! The `checkpoint` row's detail (kind 14) and the checkpoint key's derivation.
//!
//! Job: the one spelling of what a checkpoint row carries, shared by the kernel (which
//! renders it in the sealer) and `coconut audit verify` (which parses it):
//!
//! ```text
//! size=<n> root=<base64> key=<base64> sig=<base64>
//! ```
//!
//! `size` is the number of this boot's rows before the checkpoint row (so it equals the row's
//! own `seq`), `root` the RFC 9162 root over their leaves ([`super::Frontier`] of
//! [`super::leaf_hash`] of each row's chain hash), `key` the Ed25519 public key and `sig` its
//! signature over the note body ([`super::Checkpoint::note`]). The head the note names is the
//! chain hash of row `size - 1`, which is the checkpoint row's own `prev`: it is not repeated
//! in the detail (with it, the detail would not fit in 256 bytes). Decimal without leading
//! zeros, standard base64 with padding; [`CheckpointRow::parse`] accepts exactly what
//! [`CheckpointRow::encode`] renders.
//!
//! Constraints: no_std, no heap, no panics; the rendered detail is at most
//! [`CHECKPOINT_DETAIL_MAX`] bytes.

use super::blake3;
use super::detail::{parse_u64, put, put_u64, word};
use super::note::{base64_decode, base64_decode32, base64_encode};

/// The BLAKE3 `derive_key` context of the checkpoint signing key.
pub const CHECKPOINT_KEY_CONTEXT: &str = "coconut-os audit checkpoint key v1";

/// The longest detail: `size=` 20 digits, ` root=` 44, ` key=` 44, ` sig=` 88.
pub const CHECKPOINT_DETAIL_MAX: usize = 5 + 20 + 6 + 44 + 5 + 44 + 5 + 88;
const _: () = assert!(CHECKPOINT_DETAIL_MAX <= super::abi::limits::AGENT_AUDIT_DETAIL_MAX);

/// The Ed25519 secret seed a checkpoint key derives from the 32-byte audit seed.
pub fn checkpoint_key_seed(seed: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(CHECKPOINT_KEY_CONTEXT, seed)
}

/// What a `checkpoint` row's detail says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Rows of the boot before this one (the row's own `seq`).
    pub size: u64,
    /// The Merkle root over those rows.
    pub root: [u8; 32],
    /// The Ed25519 public key of this boot's checkpoints.
    pub key: [u8; 32],
    /// The signature over the note body.
    pub sig: [u8; 64],
}

/// Why a detail is not a checkpoint row's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointRowError {
    /// `size=` missing or not canonical decimal.
    Size,
    /// `root=` missing or not the canonical base64 of 32 bytes.
    Root,
    /// `key=` missing or not the canonical base64 of 32 bytes.
    Key,
    /// `sig=` missing or not the canonical base64 of 64 bytes.
    Sig,
    /// Text follows the signature.
    Trailing,
}

impl core::fmt::Display for CheckpointRowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CheckpointRowError::Size => "`size=` is missing or not a canonical decimal",
            CheckpointRowError::Root => "`root=` is missing or not the base64 of 32 bytes",
            CheckpointRowError::Key => "`key=` is missing or not the base64 of 32 bytes",
            CheckpointRowError::Sig => "`sig=` is missing or not the base64 of 64 bytes",
            CheckpointRowError::Trailing => "text follows `sig=`",
        })
    }
}

/// Splits off `name=` and its value up to the next space (or the end).
fn field<'t>(text: &'t [u8], name: &[u8]) -> Option<(&'t [u8], &'t [u8])> {
    let (w, rest) = word(text).unwrap_or((text, &[]));
    Some((w.strip_prefix(name)?, rest))
}

impl CheckpointRow {
    /// Renders the detail into `buf` and returns it.
    pub fn encode<'b>(&self, buf: &'b mut [u8; CHECKPOINT_DETAIL_MAX]) -> &'b str {
        let mut b64 = [0u8; 88];
        let mut at = put(buf, 0, b"size=");
        at = put_u64(buf, at, self.size);
        at = put(buf, at, b" root=");
        let n = base64_encode(&self.root, &mut b64).unwrap_or(0);
        at = put(buf, at, b64.get(..n).unwrap_or(&[]));
        at = put(buf, at, b" key=");
        let n = base64_encode(&self.key, &mut b64).unwrap_or(0);
        at = put(buf, at, b64.get(..n).unwrap_or(&[]));
        at = put(buf, at, b" sig=");
        let n = base64_encode(&self.sig, &mut b64).unwrap_or(0);
        at = put(buf, at, b64.get(..n).unwrap_or(&[]));
        // Only ASCII was written.
        core::str::from_utf8(buf.get(..at).unwrap_or(&[])).unwrap_or("")
    }

    /// Parses a detail; only the exact form [`CheckpointRow::encode`] renders is accepted.
    pub fn parse(detail: &str) -> Result<CheckpointRow, CheckpointRowError> {
        let text = detail.as_bytes();
        let (size, rest) = field(text, b"size=").ok_or(CheckpointRowError::Size)?;
        let size = parse_u64(size).ok_or(CheckpointRowError::Size)?;
        let (root, rest) = field(rest, b"root=").ok_or(CheckpointRowError::Root)?;
        let root = base64_decode32(root).ok_or(CheckpointRowError::Root)?;
        let (key, rest) = field(rest, b"key=").ok_or(CheckpointRowError::Key)?;
        let key = base64_decode32(key).ok_or(CheckpointRowError::Key)?;
        let (sig_text, rest) = field(rest, b"sig=").ok_or(CheckpointRowError::Sig)?;
        let mut sig = [0u8; 64];
        if base64_decode(sig_text, &mut sig) != Some(64) || sig_text.len() != 88 {
            return Err(CheckpointRowError::Sig);
        }
        if !rest.is_empty() || detail.ends_with(' ') {
            return Err(CheckpointRowError::Trailing);
        }
        Ok(CheckpointRow {
            size,
            root,
            key,
            sig,
        })
    }
}
