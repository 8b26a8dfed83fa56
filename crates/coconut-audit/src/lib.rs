#![cfg_attr(not(CONFIG_RUST), no_std)]
//! The Coconut OS audit chain, kernel side: everything between "something happened" and a
//! verifiable row, without allocation.
//!
//! Job: encode an audit event (the 56-byte header of `coconut_abi` plus a checked UTF-8 detail,
//! [`Event`]), compute a boot's genesis hash ([`genesis`]), seal events into the chain
//! `hash_n = BLAKE3(hash_{n-1} || event_n)` ([`Chain`]), encode and decode the binary rows of
//! `agent_audit_query` ([`encode_row`], [`decode_row`], [`Rows`]), render `chain.log` JSON lines
//! ([`render_json_line`]), and verify a sequence of rows, naming the first bad one
//! ([`Verifier`], [`verify_rows`], [`verify_segment`]). The link row that joins a boot's chain to
//! the previous boot's head has its detail grammar here ([`PrevBoot`]). Checkpoints commit to an
//! RFC 9162 Merkle tree over a boot's events ([`Frontier`], [`verify_inclusion`],
//! [`verify_consistency`], the proof generators) and sign a C2SP checkpoint note body
//! ([`Checkpoint`]).
//!
//! Constraints: the kernel build includes these files as a module next to `coconut_abi` and
//! `coconut_blake3`, reached through the `abi` and `blake3` aliases below (never `crate::`), so
//! the crate is `no_std`, has no dependencies but our own shared crates, no heap, no `unsafe`,
//! no floats, no 128-bit integers, and cannot panic on any input. Every output goes into a
//! caller buffer; the largest on-stack values are a [`DetailBuf`] (about 260 bytes) and
//! [`leaf_hash`]'s prefixed copy of an event (313 bytes); a [`Frontier`] (2 KiB) lives in the
//! caller's memory.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(CONFIG_RUST)]
use super::coconut_abi as abi;
#[cfg(not(CONFIG_RUST))]
use coconut_abi as abi;

#[cfg(CONFIG_RUST)]
use super::coconut_blake3 as blake3;
#[cfg(not(CONFIG_RUST))]
use coconut_blake3 as blake3;

mod chain;
mod checkpoint;
mod detail;
mod error;
mod event;
mod flood;
pub mod hex;
mod json;
mod latency;
mod merkle;
mod note;
mod row;
mod verify;

pub use self::chain::{genesis, public_genesis, Chain, Record, Row, BOOT_ID_LEN};
pub use self::checkpoint::{
    checkpoint_key_seed, CheckpointRow, CheckpointRowError, CHECKPOINT_DETAIL_MAX,
    CHECKPOINT_KEY_CONTEXT,
};
pub use self::detail::{DetailBuf, PrevBoot, LINK_DETAIL_MAX};
pub use self::error::AuditError;
pub use self::event::{check_detail, Event, EVENT_MAX};
pub use self::flood::{
    call_name, Charge, FloodTable, Suppressed, FLOOD_BURST, FLOOD_REFILL_PER_SEC, FLOOD_SLOTS,
    FLOOD_WINDOW_NS,
};
pub use self::json::{render_json_line, JSON_LINE_MAX};
pub use self::latency::Histogram;
pub use self::merkle::{
    consistency_proof, consistency_proof_from, empty_root, inclusion_proof, inclusion_proof_from,
    leaf_hash, node_hash, verify_consistency, verify_inclusion, Frontier, MerkleError, Proof,
    MAX_DEPTH,
};
pub use self::note::{
    base64_decode, base64_encode, base64_len, Checkpoint, NoteError, NOTE_MAX, NOTE_ORIGIN_PREFIX,
};
pub use self::row::{decode_row, encode_row, RowRef, Rows};
pub use self::verify::{
    verify_rows, verify_segment, CheckpointFault, CheckpointVerifier, SealedCheckpoint, Summary,
    Verifier, VerifyError, VerifyErrorKind,
};

/// Length of a chain hash, in bytes.
pub const HASH_LEN: usize = 32;
