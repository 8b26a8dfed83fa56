//! libcoconut: the safe user-space API of the Coconut OS agent system calls.
//!
//! Job: everything a program needs to talk to the agent ABI from user space: one safe function
//! per syscall ([`sys`]), typed errors that name every errno of the ABI ([`Error`]), the
//! capability text form ([`Capability`]) and capability sets in CBOR, building and signing
//! manifests in the exact canonical envelope of `docs/formats/manifest.md`
//! ([`ManifestBuilder`]), and the audit formats: binary rows from `agent_audit_query` and
//! `chain.log` JSON lines ([`audit`]). Numbers, layouts and tables come from `coconut-abi`,
//! re-exported here; nothing is redefined.
//!
//! Constraints: user space with std. The syscalls go through `libc::syscall` (rustix has no
//! raw entry for arbitrary numbers); every `unsafe` block says why it is sound. libcoconut
//! uses the reference crates (`ciborium`, `ed25519-dalek`) and not the kernel-side
//! `coconut-cbor`/`coconut-ed25519`, so the two implementations check each other. The audit
//! formats are the exception: rows are decoded, events encoded and lines rendered by the
//! kernel's own `coconut-audit`, so that each has exactly one spelling; only the parsing of
//! `chain.log` lines (serde_json) is libcoconut's.

pub mod audit;
mod capability;
mod error;
mod manifest;
pub mod sys;

pub use self::capability::{decode_capset, encode_capset, Capability, CapabilityError};
pub use self::error::{Error, Result};
pub use self::manifest::{
    canonicalize, verify_envelope, Manifest, ManifestBuilder, ManifestError, SignedManifest,
};
/// The whole ABI crate, for constants and tables not re-exported one by one.
pub use coconut_abi as abi;
pub use coconut_abi::{
    Aid, AidError, AidTarget, AuditKind, CapId, Errno, MemTier, QuotaKind, State, Syscall, AID_ANY,
    AID_SELF,
};
