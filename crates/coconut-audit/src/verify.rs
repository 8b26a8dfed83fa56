//! Verification: prove a sequence of rows intact, or name the first bad one and why.
//!
//! Job: the procedure `coconut audit verify` and the kernel's self-checks run, streaming (one
//! row at a time, no allocation, so a chain of any length verifies in constant memory). For row
//! `i` (0-based, in input order), in this order:
//!
//! 1. the event decodes ([`super::Event::decode`]) — else `Malformed`;
//! 2. `hash == BLAKE3(prev || event)` — else `HashMismatch`;
//! 3. the kind fits the seq: `boot` rows exactly at seq 0, `link` rows only at seq 1 — else
//!    `MisplacedKind`;
//! 4. if the previous row was the `boot` row of a boot that followed another boot in the input,
//!    this row must be that boot's seq-1 `link` row — else `MissingLink` — and its detail must
//!    name the previous boot, its last seq and its last hash exactly — else `BadLink`; any
//!    other `link` row must at least have the link grammar — else `BadLink`;
//! 5. against the previous row: in the same boot, `seq` is the previous `seq + 1` — else
//!    `SeqGap` — and `prev` is the previous `hash` — else `BrokenLink`; a different boot must be
//!    a larger boot counter starting at its seq-0 `boot` row — else `BootChange` (a boot row's
//!    `prev` is its boot's genesis, which only a holder of the seed can check);
//! 6. for the first row, if the caller knows the hash before it, `prev` equals it — else
//!    `BrokenLink`; with the seed, a `boot` row's `prev` equals [`super::genesis`] — else
//!    `BadGenesis`.
//!
//! At the end: a boot row that followed another boot must not be the last row (`MissingLink`,
//! index = number of rows), and if the caller knows the head, the last hash equals it — else
//! `HeadMismatch` (index = number of rows): this is how truncation at the end shows.
//!
//! With [`Verifier::allow_gaps`] (filtered `agent_audit_query` results), rows may skip ahead in
//! (boot, seq) order; links are checked only between consecutive rows.
//!
//! [`CheckpointVerifier`] is the second pass over the same rows (each pushed after the
//! [`Verifier`] accepted it): it keeps one [`Frontier`] for the boot being read (rows arrive in
//! order, so one at a time is enough: constant memory) and checks each `checkpoint` row
//! (`docs/formats/audit.md`, "Checkpoints"), in this order:
//!
//! 1. its detail is the checkpoint grammar ([`CheckpointRow::parse`]) — else `Malformed`;
//! 2. `size` is the number of this boot's rows before it, i.e. the row's own `seq` — else
//!    `SizeMismatch`;
//! 3. with a pinned key ([`CheckpointVerifier::pin_key`]), `key` is that key — else
//!    `KeyNotPinned`;
//! 4. `key` is the key of this boot's earlier checkpoints — else `KeyChanged`;
//! 5. when the input holds every row of the boot from seq 0, `root` is the RFC 9162 root over
//!    the leaves [`leaf_hash`]`(hash_i)` of rows `0..size` — else `RootMismatch` (otherwise the
//!    root cannot be recomputed and [`SealedCheckpoint::root_checked`] is false).
//!
//! The head the signature covers is the chain hash of row `size - 1`, which is the checkpoint
//! row's own `prev` (the hash chain already tied it to the row before). What is left is the
//! Ed25519 signature over [`SealedCheckpoint::checkpoint`]'s note body under `key`: this crate
//! has no signature verification (the kernel only signs), so the caller checks it; `coconut
//! audit verify` does so with `ed25519-dalek`.
//!
//! Constraints: no_std, no heap, no panics on any input. A [`CheckpointVerifier`] holds a
//! [`Frontier`] (about 2 KiB), so it belongs in the caller's memory, not on a kernel stack.

use super::abi::AuditKind;
use super::blake3::chain_step;
use super::chain::{genesis, public_genesis, BOOT_ID_LEN};
use super::checkpoint::{CheckpointRow, CheckpointRowError};
use super::detail::PrevBoot;
use super::error::AuditError;
use super::event::Event;
use super::hex::nibble;
use super::merkle::{leaf_hash, Frontier};
use super::note::Checkpoint;
use super::row::{RowRef, Rows};

/// Why a row failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyErrorKind {
    /// The row or its event is not well formed; the inner error says which rule.
    Malformed(AuditError),
    /// `hash` is not `BLAKE3(prev || event)`: the row was altered.
    HashMismatch,
    /// `prev` is not the previous row's `hash` (or not the hash the caller expected before the
    /// first row): a row is missing, inserted or moved.
    BrokenLink,
    /// `seq` is not the previous row's `seq + 1` within one boot: rows are missing or out of
    /// order.
    SeqGap,
    /// The boot counter changed without the new boot starting at its seq-0 `boot` row, or
    /// went backwards.
    BootChange,
    /// A `boot` row not at seq 0, a row at seq 0 that is not a `boot` row, or a `link` row not
    /// at seq 1.
    MisplacedKind,
    /// A boot that follows another boot does not continue with its `link` row at seq 1.
    MissingLink,
    /// A `link` row's detail is not the link grammar, or does not name the previous boot's
    /// last row and hash.
    BadLink,
    /// A `boot` row's `prev` is not its boot's genesis hash: the public genesis of the
    /// `boot_id` its detail names, or the genesis under the seed given.
    BadGenesis,
    /// The last row's hash is not the head the caller expected: rows are missing at the end.
    HeadMismatch,
}

impl core::fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyErrorKind::Malformed(e) => write!(f, "malformed row: {e}"),
            VerifyErrorKind::HashMismatch => {
                f.write_str("hash is not BLAKE3(prev || event): the row was altered")
            }
            VerifyErrorKind::BrokenLink => f.write_str(
                "prev is not the previous row's hash: a row is missing, inserted or moved",
            ),
            VerifyErrorKind::SeqGap => f.write_str(
                "seq does not follow the previous row's seq: rows are missing or out of order",
            ),
            VerifyErrorKind::BootChange => f.write_str(
                "boot counter changed without a new boot row at seq 0, or went backwards",
            ),
            VerifyErrorKind::MisplacedKind => f.write_str(
                "row kind does not fit its seq (boot rows are exactly seq 0, link rows seq 1)",
            ),
            VerifyErrorKind::MissingLink => {
                f.write_str("a new boot does not continue with its link row at seq 1")
            }
            VerifyErrorKind::BadLink => f.write_str(
                "link row does not name the previous boot's last seq and head in the link grammar",
            ),
            VerifyErrorKind::BadGenesis => f.write_str(
                "boot row's prev is not its boot's genesis hash (public, from its boot_id, or under the seed)",
            ),
            VerifyErrorKind::HeadMismatch => f.write_str(
                "the last row's hash is not the expected head: rows are missing at the end",
            ),
        }
    }
}

/// The first bad row: its index in the input (0-based; the number of rows for end-of-input
/// failures) and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyError {
    /// Index of the row, counted from 0 in input order.
    pub index: u64,
    /// What is wrong.
    pub kind: VerifyErrorKind,
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "row {}: {}", self.index, self.kind)
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows verified.
    pub rows: u64,
    /// The last row's hash: what `/agent/audit/head` holds when the input is the whole chain.
    pub head: Option<[u8; 32]>,
    /// (boot, seq) of the last row.
    pub last: Option<(u64, u64)>,
}

/// The last row seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Last {
    boot: u64,
    seq: u64,
    hash: [u8; 32],
}

/// A streaming verifier: [`Verifier::push`] each row in order, then [`Verifier::finish`].
#[derive(Debug, Clone)]
pub struct Verifier {
    seed: Option<[u8; 32]>,
    first_prev: Option<[u8; 32]>,
    gaps: bool,
    index: u64,
    last: Option<Last>,
    /// Set after the boot row of a boot that followed another: the link the next row must be.
    pending: Option<PrevBoot>,
    failed: Option<VerifyError>,
}

/// The `boot_id=<32 hex>` word of a `boot` row's detail, if it has one.
fn boot_id(detail: &str) -> Option<[u8; BOOT_ID_LEN]> {
    // A byte loop over the words: `split` and `find` bring generic searchers (and their
    // overflow checks) into the kernel objects that include this file.
    let mut rest = detail.as_bytes();
    let hex = loop {
        if let Some(after) = rest.strip_prefix(b"boot_id=") {
            break after.split_first_chunk::<{ 2 * BOOT_ID_LEN }>()?;
        }
        let mut tail = rest;
        while let Some((&b, t)) = tail.split_first() {
            tail = t;
            if b == b' ' {
                break;
            }
        }
        if tail.is_empty() {
            return None;
        }
        rest = tail;
    };
    let (hex, after) = hex;
    if !after.is_empty() && after.first() != Some(&b' ') {
        return None;
    }
    let mut id = [0u8; BOOT_ID_LEN];
    let mut rest: &[u8] = hex;
    for b in id.iter_mut() {
        let ([h, l], tail) = rest.split_first_chunk::<2>()?;
        *b = (nibble(*h)? << 4) | nibble(*l)?;
        rest = tail;
    }
    Some(id)
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A strict verifier: contiguous rows, nothing known about the chain's start or end.
    pub const fn new() -> Verifier {
        Verifier {
            seed: None,
            first_prev: None,
            gaps: false,
            index: 0,
            last: None,
            pending: None,
            failed: None,
        }
    }

    /// Also checks every `boot` row's `prev` against the genesis under `seed`.
    pub const fn with_seed(mut self, seed: [u8; 32]) -> Verifier {
        self.seed = Some(seed);
        self
    }

    /// Also checks that the first row's `prev` is `prev` (the head before the segment: a
    /// previous shard's last hash, or a boot's genesis).
    pub const fn expect_first_prev(mut self, prev: [u8; 32]) -> Verifier {
        self.first_prev = Some(prev);
        self
    }

    /// Accepts rows that skip ahead in (boot, seq) order, as in a filtered query result.
    pub const fn allow_gaps(mut self) -> Verifier {
        self.gaps = true;
        self
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.index
    }

    /// Verifies the next row. After the first failure every call returns that failure.
    pub fn push(&mut self, row: RowRef<'_>) -> Result<(), VerifyError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.check(row) {
            Ok(ev) => {
                self.index = self.index.saturating_add(1);
                self.last = Some(Last {
                    boot: ev.boot,
                    seq: ev.seq,
                    hash: *row.hash,
                });
                Ok(())
            }
            Err(kind) => Err(self.fail(kind)),
        }
    }

    fn fail(&mut self, kind: VerifyErrorKind) -> VerifyError {
        let e = VerifyError {
            index: self.index,
            kind,
        };
        self.failed = Some(e);
        e
    }

    /// Steps 1–6 of the module docs for one row; updates `pending`.
    fn check<'r>(&mut self, row: RowRef<'r>) -> Result<Event<'r>, VerifyErrorKind> {
        let ev = Event::decode(row.event).map_err(VerifyErrorKind::Malformed)?;
        if chain_step(row.prev, row.event) != *row.hash {
            return Err(VerifyErrorKind::HashMismatch);
        }
        let is_boot = ev.kind == AuditKind::Boot;
        let is_link = ev.kind == AuditKind::Link;
        if is_boot != (ev.seq == 0) || (is_link && ev.seq != 1) {
            return Err(VerifyErrorKind::MisplacedKind);
        }
        let named = if is_link {
            Some(PrevBoot::parse(ev.detail).ok_or(VerifyErrorKind::BadLink)?)
        } else {
            None
        };
        if let Some(pending) = self.pending {
            let next_of_boot = self.last.is_some_and(|l| l.boot == ev.boot) && ev.seq == 1;
            if next_of_boot || !self.gaps {
                if !is_link {
                    return Err(VerifyErrorKind::MissingLink);
                }
                if named != Some(pending) {
                    return Err(VerifyErrorKind::BadLink);
                }
            }
        }
        let mut pending = None;
        match self.last {
            None => {
                if self.first_prev.is_some_and(|p| p != *row.prev) {
                    return Err(VerifyErrorKind::BrokenLink);
                }
            }
            Some(last) if ev.boot == last.boot => {
                if Some(ev.seq) == last.seq.checked_add(1) {
                    if *row.prev != last.hash {
                        return Err(VerifyErrorKind::BrokenLink);
                    }
                } else if !(self.gaps && ev.seq > last.seq) {
                    return Err(VerifyErrorKind::SeqGap);
                }
            }
            Some(last) if ev.boot > last.boot && (is_boot || self.gaps) => {
                if is_boot {
                    pending = Some(PrevBoot {
                        boot: last.boot,
                        last_seq: last.seq,
                        head: last.hash,
                    });
                }
            }
            Some(_) => return Err(VerifyErrorKind::BootChange),
        }
        if let (true, Some(seed)) = (is_boot, self.seed.as_ref()) {
            if genesis(seed, ev.boot) != *row.prev {
                return Err(VerifyErrorKind::BadGenesis);
            }
        }
        // A boot row the kernel sealed names its boot id: its prev is the public genesis.
        if let (true, Some(id)) = (is_boot, boot_id(ev.detail)) {
            if public_genesis(&id, ev.boot) != *row.prev {
                return Err(VerifyErrorKind::BadGenesis);
            }
        }
        self.pending = pending;
        Ok(ev)
    }

    /// Ends the input. `expected_head`, if known (the `head` file), must be the last row's
    /// hash (or, with no rows, the hash given to [`Verifier::expect_first_prev`]).
    pub fn finish(self, expected_head: Option<&[u8; 32]>) -> Result<Summary, VerifyError> {
        let mut this = self;
        if let Some(e) = this.failed {
            return Err(e);
        }
        if this.pending.is_some() && !this.gaps {
            return Err(this.fail(VerifyErrorKind::MissingLink));
        }
        let head = this.last.map(|l| l.hash).or(this.first_prev);
        if let Some(expected) = expected_head {
            if head.is_some_and(|h| h != *expected) {
                return Err(this.fail(VerifyErrorKind::HeadMismatch));
            }
        }
        Ok(Summary {
            rows: this.index,
            head: this.last.map(|l| l.hash),
            last: this.last.map(|l| (l.boot, l.seq)),
        })
    }

    /// Pushes every row, then [`Verifier::finish`] without an expected head.
    pub fn verify_rows<'a, I>(self, rows: I) -> Result<Summary, VerifyError>
    where
        I: IntoIterator,
        I::Item: Into<RowRef<'a>>,
    {
        let mut this = self;
        for row in rows {
            this.push(row.into())?;
        }
        this.finish(None)
    }

    /// Decodes and verifies a segment of whole binary rows; a row that does not decode is
    /// `Malformed` at its index.
    pub fn verify_segment(self, segment: &[u8]) -> Result<Summary, VerifyError> {
        let mut this = self;
        for row in Rows::new(segment) {
            match row {
                Ok(row) => this.push(row)?,
                Err(e) => return Err(this.fail(VerifyErrorKind::Malformed(e))),
            }
        }
        this.finish(None)
    }
}

/// Verifies contiguous rows (`(prev, event, hash)` tuples or [`RowRef`]s) with a strict
/// [`Verifier`]; names the first bad row.
pub fn verify_rows<'a, I>(rows: I) -> Result<Summary, VerifyError>
where
    I: IntoIterator,
    I::Item: Into<RowRef<'a>>,
{
    Verifier::new().verify_rows(rows)
}

/// Verifies a segment of contiguous binary rows with a strict [`Verifier`].
pub fn verify_segment(segment: &[u8]) -> Result<Summary, VerifyError> {
    Verifier::new().verify_segment(segment)
}

/// Why a `checkpoint` row failed ([`CheckpointVerifier::push`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFault {
    /// The detail is not `size=<n> root=<base64> key=<base64> sig=<base64>`; the inner error
    /// says which field.
    Malformed(CheckpointRowError),
    /// `size` is not the number of this boot's rows before the checkpoint (its own `seq`).
    SizeMismatch,
    /// `root` is not the Merkle root over this boot's rows before the checkpoint: rows it
    /// covers were changed, or the checkpoint was.
    RootMismatch,
    /// `key` is not the key of this boot's earlier checkpoints.
    KeyChanged,
    /// `key` is not the key the caller pinned.
    KeyNotPinned,
}

impl core::fmt::Display for CheckpointFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CheckpointFault::Malformed(e) => write!(f, "malformed checkpoint detail: {e}"),
            CheckpointFault::SizeMismatch => f.write_str(
                "checkpoint size is not the number of this boot's rows before it (its seq)",
            ),
            CheckpointFault::RootMismatch => f.write_str(
                "checkpoint root is not the Merkle root over this boot's rows before it: a row \
                 it covers, or the checkpoint, was changed",
            ),
            CheckpointFault::KeyChanged => {
                f.write_str("checkpoint key is not the key of this boot's earlier checkpoints")
            }
            CheckpointFault::KeyNotPinned => {
                f.write_str("checkpoint key is not the pinned key (--key)")
            }
        }
    }
}

/// A checkpoint row whose structure verified; its signature is the caller's to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedCheckpoint {
    /// The boot counter.
    pub boot: u64,
    /// The checkpoint row's own seq (equal to `row.size`).
    pub seq: u64,
    /// What the detail says.
    pub row: CheckpointRow,
    /// The chain hash of row `size - 1` (the checkpoint row's `prev`), which the note names.
    pub head: [u8; 32],
    /// Whether `row.root` was recomputed and matched: false when the input does not hold the
    /// boot's rows from seq 0.
    pub root_checked: bool,
}

impl SealedCheckpoint {
    /// The checkpoint the signature covers, on the machine `machine_id`: its
    /// [`Checkpoint::note`] body is the signed message.
    pub fn checkpoint(&self, machine_id: [u8; 16]) -> Checkpoint {
        Checkpoint {
            machine_id,
            boot: self.boot,
            size: self.row.size,
            root: self.row.root,
            head: self.head,
        }
    }
}

/// The streaming checkpoint checks of the module docs: [`CheckpointVerifier::push`] every row
/// the [`Verifier`] accepted, in the same order.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    pinned: Option<[u8; 32]>,
    /// The boot being read and whether the frontier holds its rows from seq 0.
    boot: Option<u64>,
    whole: bool,
    frontier: Frontier,
    /// The key of this boot's first checkpoint.
    key: Option<[u8; 32]>,
}

impl Default for CheckpointVerifier {
    fn default() -> Self {
        CheckpointVerifier::new()
    }
}

impl CheckpointVerifier {
    /// Checks without a pinned key: each boot's checkpoints must agree on one key.
    pub const fn new() -> CheckpointVerifier {
        CheckpointVerifier {
            pinned: None,
            boot: None,
            whole: false,
            frontier: Frontier::new(),
            key: None,
        }
    }

    /// Every checkpoint must carry `key`.
    pub const fn pin_key(mut self, key: [u8; 32]) -> CheckpointVerifier {
        self.pinned = Some(key);
        self
    }

    /// The key of the current boot's checkpoints so far, if it had one.
    pub fn key(&self) -> Option<&[u8; 32]> {
        self.key.as_ref()
    }

    /// Takes the next row (already accepted by a [`Verifier`]): a `checkpoint` row is checked
    /// and returned for its signature check; every row then becomes a leaf of its boot's tree.
    /// A row that does not decode is ignored (the [`Verifier`] refused it already).
    pub fn push(&mut self, row: RowRef<'_>) -> Result<Option<SealedCheckpoint>, CheckpointFault> {
        let Ok(ev) = Event::decode(row.event) else {
            return Ok(None);
        };
        if self.boot != Some(ev.boot) {
            self.boot = Some(ev.boot);
            self.frontier.reset();
            self.whole = ev.seq == 0;
            self.key = None;
        }
        if self.frontier.size() != ev.seq {
            // Rows of this boot are missing from the input (a gap the verifier allowed).
            self.whole = false;
        }
        let sealed = if ev.kind == AuditKind::Checkpoint {
            Some(self.check(ev.boot, ev.seq, ev.detail, row.prev)?)
        } else {
            None
        };
        // A 32-byte leaf is never too long and a u64 of rows never ends: should either fail,
        // the tree no longer matches the boot, so no later root is checked.
        if leaf_hash(row.hash)
            .and_then(|leaf| self.frontier.push(&leaf))
            .is_err()
        {
            self.whole = false;
        }
        Ok(sealed)
    }

    /// Steps 1–5 of the module docs for one checkpoint row.
    fn check(
        &mut self,
        boot: u64,
        seq: u64,
        detail: &str,
        prev: &[u8; 32],
    ) -> Result<SealedCheckpoint, CheckpointFault> {
        let row = CheckpointRow::parse(detail).map_err(CheckpointFault::Malformed)?;
        if row.size != seq {
            return Err(CheckpointFault::SizeMismatch);
        }
        if self.pinned.is_some_and(|k| k != row.key) {
            return Err(CheckpointFault::KeyNotPinned);
        }
        match self.key {
            Some(k) if k != row.key => return Err(CheckpointFault::KeyChanged),
            Some(_) => {}
            None => self.key = Some(row.key),
        }
        if self.whole && self.frontier.root() != row.root {
            return Err(CheckpointFault::RootMismatch);
        }
        Ok(SealedCheckpoint {
            boot,
            seq,
            row,
            head: *prev,
            root_checked: self.whole,
        })
    }
}
