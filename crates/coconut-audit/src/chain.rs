//! The chain: a boot's genesis hash and the sealing of events, one `BLAKE3(head || event)` each.
//!
//! Job: [`genesis`] is `hash_{-1}` of a boot, `BLAKE3.derive_key("coconut-os audit genesis v1",
//! seed || boot_le64)` (`docs/abi.md`, "Audit chain"; the context string is
//! `coconut_abi::AUDIT_GENESIS_CONTEXT`). [`Chain`] holds the running head and the next
//! sequence number of the current boot and admits only events that keep the chain verifiable:
//! the next `seq` of this boot, the `boot` row exactly at seq 0, and — when this boot continues a
//! previous chain — the `link` row exactly at seq 1 naming that chain's last row and head. The
//! sealer kthread calls [`Chain::seal`] with each [`Record`] drained from the per-CPU rings.
//!
//! Constraints: no_std, no heap, no panics; a `Chain` is 96 bytes.

use super::abi::{Aid, AuditKind, AUDIT_GENESIS_CONTEXT, AUDIT_GENESIS_CONTEXT_V2};
use super::blake3::{chain_step, derive_key};
use super::detail::{PrevBoot, LINK_DETAIL_MAX};
use super::error::AuditError;
use super::event::Event;

/// The genesis hash of a boot's chain: `BLAKE3.derive_key("coconut-os audit genesis v1",
/// seed || boot as 8 little-endian bytes)`.
pub fn genesis(seed: &[u8; 32], boot: u64) -> [u8; 32] {
    let mut material = [0u8; 40];
    let (s, b) = material.split_at_mut(32);
    s.copy_from_slice(seed);
    b.copy_from_slice(&boot.to_le_bytes());
    derive_key(AUDIT_GENESIS_CONTEXT, &material)
}

/// Bytes of a boot id: the random name of a boot, written in its `boot` row.
pub const BOOT_ID_LEN: usize = 16;

/// The public genesis hash of a boot (v2, the kernel's): `BLAKE3.derive_key("coconut-os audit
/// genesis v2", boot_id || boot as 8 little-endian bytes)`. Anyone holding the `boot` row can
/// recompute it; authenticity comes from signed checkpoints, not from the genesis.
pub fn public_genesis(boot_id: &[u8; BOOT_ID_LEN], boot: u64) -> [u8; 32] {
    let mut material = [0u8; BOOT_ID_LEN + 8];
    let (id, b) = material.split_at_mut(BOOT_ID_LEN);
    id.copy_from_slice(boot_id);
    b.copy_from_slice(&boot.to_le_bytes());
    derive_key(AUDIT_GENESIS_CONTEXT_V2, &material)
}

/// What happened, before the chain gives it a sequence number: an event without `seq` and
/// `boot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// What happened.
    pub kind: AuditKind,
    /// CLOCK_REALTIME, in nanoseconds.
    pub time_ns: u64,
    /// The agent that acted.
    pub actor: Aid,
    /// The agent the event is about.
    pub subject: Aid,
    /// 0 or `-errno`.
    pub result: i32,
    /// The detail (see [`super::check_detail`]; [`super::DetailBuf`] builds valid ones).
    pub detail: &'a str,
}

/// One sealed row: its sequence number, the head before it and the head after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The event's sequence number.
    pub seq: u64,
    /// The chain hash before the event.
    pub prev: [u8; 32],
    /// The chain hash after the event: `BLAKE3(prev || event)`.
    pub hash: [u8; 32],
}

/// The running chain of the current boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    head: [u8; 32],
    next_seq: u64,
    boot: u64,
    previous: Option<PrevBoot>,
}

impl Chain {
    /// A new boot's chain: head = [`genesis`]`(seed, boot)`, next seq 0. `previous` is where the
    /// previous boot's chain ended, if there is one to continue; then seq 1 must be its link.
    pub fn start(seed: &[u8; 32], boot: u64, previous: Option<PrevBoot>) -> Chain {
        Chain::from_genesis(genesis(seed, boot), boot, previous)
    }

    /// As [`Chain::start`], from a genesis hash computed elsewhere.
    pub const fn from_genesis(genesis: [u8; 32], boot: u64, previous: Option<PrevBoot>) -> Chain {
        Chain {
            head: genesis,
            next_seq: 0,
            boot,
            previous,
        }
    }

    /// The current head (the genesis hash before the first row).
    pub fn head(&self) -> &[u8; 32] {
        &self.head
    }

    /// The sequence number the next event must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The boot counter of this chain.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    /// The previous chain this one continues, if any.
    pub fn previous(&self) -> Option<&PrevBoot> {
        self.previous.as_ref()
    }

    /// The detail of this boot's `link` row (seq 1), if it continues a previous chain.
    pub fn link_detail<'b>(&self, buf: &'b mut [u8; LINK_DETAIL_MAX]) -> Option<&'b str> {
        self.previous.as_ref().map(|p| p.encode(buf))
    }

    /// Whether an event of `kind` with `detail` may come next (its seq and boot already match).
    fn admit(&self, kind: AuditKind, detail: &str) -> Result<(), AuditError> {
        let seq = self.next_seq;
        if (kind == AuditKind::Boot) != (seq == 0) {
            return Err(AuditError::MisplacedKind);
        }
        if kind == AuditKind::Link {
            if seq != 1 {
                return Err(AuditError::MisplacedKind);
            }
            let named = PrevBoot::parse(detail).ok_or(AuditError::BadLink)?;
            if self.previous != Some(named) {
                return Err(AuditError::BadLink);
            }
        } else if seq == 1 && self.previous.is_some() {
            return Err(AuditError::LinkRequired);
        }
        if seq == u64::MAX {
            return Err(AuditError::SeqExhausted);
        }
        Ok(())
    }

    /// Chains already-checked event bytes.
    fn commit(&mut self, event: &[u8]) -> Row {
        let prev = self.head;
        let hash = chain_step(&prev, event);
        let row = Row {
            seq: self.next_seq,
            prev,
            hash,
        };
        self.head = hash;
        // `admit` refused seq u64::MAX.
        self.next_seq = self.next_seq.saturating_add(1);
        row
    }

    /// Appends an encoded event: it must decode ([`Event::decode`]), carry this chain's boot
    /// and next seq, and fit the boot/link placement rules. On error nothing changes.
    pub fn append(&mut self, event: &[u8]) -> Result<Row, AuditError> {
        let ev = Event::decode(event)?;
        if ev.boot != self.boot {
            return Err(AuditError::BootMismatch);
        }
        if ev.seq != self.next_seq {
            return Err(AuditError::SeqMismatch);
        }
        self.admit(ev.kind, ev.detail)?;
        Ok(self.commit(event))
    }

    /// Seals a record: gives it this chain's boot and next seq, encodes the event into `out`,
    /// and chains it. Returns the row and the event's length (`out[..len]` are the event
    /// bytes). On error nothing changes in the chain.
    pub fn seal(&mut self, rec: &Record<'_>, out: &mut [u8]) -> Result<(Row, usize), AuditError> {
        self.admit(rec.kind, rec.detail)?;
        let len = Event {
            kind: rec.kind,
            seq: self.next_seq,
            boot: self.boot,
            time_ns: rec.time_ns,
            actor: rec.actor,
            subject: rec.subject,
            result: rec.result,
            detail: rec.detail,
        }
        .encode(out)?;
        let event = out.get(..len).ok_or(AuditError::BufferTooSmall)?;
        Ok((self.commit(event), len))
    }
}
