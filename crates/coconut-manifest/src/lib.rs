#![cfg_attr(not(CONFIG_RUST), no_std)]
//! Kernel-side decoder and verifier of signed agent manifests (`docs/formats/manifest.md`) and
//! of the capability sets `agent_spawn` binds.
//!
//! Job: turn the bytes `agent_spawn` copied from user memory into checked, borrowed views:
//! [`decode_envelope`] reads the signed envelope `{"v": 1, "key": bstr(32), "sig": bstr(64),
//! "body": bstr}`, [`verify`] checks its Ed25519 signature over
//! `"coconut-manifest-v1\0" || body`, [`decode_body`] reads the body map (name, capability
//! ceiling, budgets, signers, tenant, lane) and [`decode_capset`] reads the `caps` argument.
//! [`decode_manifest`] runs the three manifest steps in the order of the ABI's error matrix
//! (envelope, body, then signature), so a malformed manifest is `EINVAL` before a bad
//! signature is `EKEYREJECTED`. Every failure is a [`ManifestError`] that names the field (or
//! map key, or capability text) and the byte offset at fault, and maps to the errno of the ABI
//! through [`ManifestError::errno`].
//!
//! Constraints: the input is hostile user memory. The same source files are built by cargo
//! and included into the kernel's Rust object next to `coconut_abi`, `coconut_cbor` and
//! `coconut_ed25519` (siblings under one root there, hence the `cbor`/`abi`/`ed25519` aliases
//! below and `super::` everywhere, never `crate::`). So: `no_std`, no heap (the crate never
//! names `alloc`: nothing is copied, every view borrows the input, and the capability and
//! signer lists are iterators that re-walk already validated CBOR), no `unsafe`, no floats, no
//! 128-bit integers, no panics on any input, and a stack of a few hundred bytes plus
//! `coconut_cbor`'s fixed walk. [`verify`] hashes the signing prefix and the body in place
//! (`coconut_ed25519::verify_parts`), so the signed message is never assembled in a buffer.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(missing_docs)]

#[cfg(CONFIG_RUST)]
use super::coconut_abi as abi;
#[cfg(not(CONFIG_RUST))]
use coconut_abi as abi;

#[cfg(CONFIG_RUST)]
use super::coconut_cbor as cbor;
#[cfg(not(CONFIG_RUST))]
use coconut_cbor as cbor;

#[cfg(CONFIG_RUST)]
use super::coconut_ed25519 as ed25519;
#[cfg(not(CONFIG_RUST))]
use coconut_ed25519 as ed25519;

mod body;
mod capset;
mod envelope;
mod error;
mod read;

pub use self::body::{decode_body, Body, Budget, SignersIter};
pub use self::capset::{decode_capset, CapEntry, CapSetIter};
pub use self::envelope::{decode_envelope, verify, Envelope};
pub use self::error::{Doc, ManifestError};
pub use self::read::{CheckedItems, Element};

/// CBOR limits of the envelope: [`cbor::Limits::KERNEL`] (16 KiB document, depth 8, 1024
/// items) except that one string may fill the whole document, because the `body` byte string
/// is most of the envelope and a manifest may be up to `AGENT_MANIFEST_MAX` (16 KiB).
pub const ENVELOPE_LIMITS: cbor::Limits = cbor::Limits {
    max_str: cbor::Limits::KERNEL.max_input,
    ..cbor::Limits::KERNEL
};

/// CBOR limits of the body: [`cbor::Limits::KERNEL`] (strings up to 4096 bytes, more than
/// any name, tenant or `name:scope` text can be).
pub const BODY_LIMITS: cbor::Limits = cbor::Limits::KERNEL;

/// CBOR limits of the `agent_spawn` capability set: [`cbor::Limits::KERNEL`] with the
/// document capped at `AGENT_CAPSET_MAX` (4 KiB).
pub const CAPSET_LIMITS: cbor::Limits = cbor::Limits {
    // 4096 fits every usize the kernel runs on.
    max_input: abi::AGENT_CAPSET_MAX as usize,
    ..cbor::Limits::KERNEL
};

/// Decodes a signed manifest envelope and its body, then verifies the signature: the order
/// of the ABI's error matrix, so malformed CBOR of the envelope or the body (`EINVAL`) is
/// reported before a signature that does not verify (`EKEYREJECTED`). Nothing is copied and
/// nothing is allocated. Signer trust (the key in the parent's `signers`) is the caller's
/// check: see [`Body::trusts`].
///
/// # Errors
///
/// The first [`ManifestError`] of [`decode_envelope`], [`decode_body`] or [`verify`], in that
/// order. Offsets of body errors count from the start of the body (add
/// [`Envelope::body_offset`] for an offset in `bytes`).
pub fn decode_manifest(bytes: &[u8]) -> Result<(Envelope<'_>, Body<'_>), ManifestError<'_>> {
    let env = decode_envelope(bytes)?;
    let body = decode_body(env.body)?;
    verify(&env)?;
    Ok((env, body))
}
