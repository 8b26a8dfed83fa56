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
//! Constraints: no_std, no heap, no panics on any input.

use super::abi::AuditKind;
use super::blake3::chain_step;
use super::chain::{genesis, public_genesis, BOOT_ID_LEN};
use super::detail::PrevBoot;
use super::error::AuditError;
use super::event::Event;
use super::hex::nibble;
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
