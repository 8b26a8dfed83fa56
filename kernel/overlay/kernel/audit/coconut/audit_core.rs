// SPDX-License-Identifier: GPL-2.0-only

//! Coconut OS audit chain: the Rust core of `kernel/audit/coconut`.
//!
//! Job: take events from the rest of the kernel ([`coconut_audit_append`], or
//! [`coconut_audit_reserve`] then [`coconut_audit_commit`] for a caller that must not lose the
//! row of a decision it is about to take), queue them in the staging ring, and seal them in the
//! sealer kthread, one `hash_n = BLAKE3(hash_{n-1} || event_n)` each, into the arena of sealed
//! rows that `agent_audit_query` and `/agent/audit/` read. Every decision about order, space and
//! retention is made here; `audit.c` holds only the kernel primitives (the two spinlocks, the
//! wait queues, the kthread, the clock, the seq_file and file operations) and calls in.
//!
//! The events, the chain rule, the rows and the JSON lines are the shared `coconut_audit` crate
//! (the very source files of `crates/coconut-audit`, laid under `kernel/agent/shared/` by
//! `cargo xtask kernel`), so the kernel and `coconut audit verify` cannot disagree.
//!
//! Locking (`docs/formats/audit.md`, "Sealing in the kernel"):
//! - [`STAGE`] is guarded by `coconut_audit_stage_lock` (a spinlock, process context only);
//! - [`SEALED`] is guarded by `coconut_audit_chain_lock` (a spinlock); the sealer is its only
//!   writer of rows, and holds it for one chain step;
//! - the two locks are never held together, and no user copy happens under either.
//!
//! Constraints: no allocation (everything lives in statics sized below), no panics, a safety
//! comment on every `unsafe` block, process context only (an append from atomic context is
//! refused with `-EWOULDBLOCK` until the fail-closed path of the design revision is built).

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, c_long, c_ulong};
use core::fmt::Write;

use kernel::bindings;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

// The shared no_std crates this object needs, from the tree `cargo xtask kernel` lays out for
// the agent subsystem. Siblings here, so they reach each other as `super::<crate>`.
#[allow(clippy::all, unreachable_pub)]
#[path = "../../agent/shared/coconut_abi/lib.rs"]
pub mod coconut_abi;
#[allow(clippy::all, unreachable_pub)]
#[path = "../../agent/shared/coconut_audit/lib.rs"]
pub mod coconut_audit;
#[allow(clippy::all, unreachable_pub)]
#[path = "../../agent/shared/coconut_blake3/lib.rs"]
pub mod coconut_blake3;
#[allow(clippy::all, unreachable_pub)]
#[path = "../../agent/shared/coconut_ed25519/lib.rs"]
pub mod coconut_ed25519;

use coconut_abi::limits::{AGENT_ABI_VERSION, AGENT_AUDIT_DETAIL_MAX, AGENT_AUDIT_ROW_MAX};
use coconut_abi::{
    encode_row_header, Aid, AgentAuditRowHdr, AuditKind, AGENT_AUDIT_ROW_HDR_LEN, AID_ANY,
    AID_SELF, AUDIT_OFF_KIND, AUDIT_OFF_SUBJECT,
};
use coconut_audit::{
    base64_encode, check_detail, checkpoint_key_seed, decode_row, leaf_hash, public_genesis,
    render_json_line, Chain, Charge, Checkpoint, CheckpointRow, DetailBuf, FloodTable, Frontier,
    Histogram, PrevBoot, Record, Suppressed, BOOT_ID_LEN, CHECKPOINT_DETAIL_MAX, JSON_LINE_MAX, NOTE_MAX,
    NOTE_ORIGIN_PREFIX,
};

/// The prefix of this object's kernel log lines.
const __LOG_PREFIX: &[u8] = b"coconut_audit\0";

/// Slots of the staging ring: events appended and not yet sealed, plus reservations. Callers
/// may fill all but the last, which is the sealer's own for a checkpoint marker.
pub const STAGE_SLOTS: usize = 1024;
/// The slots callers may hold (queued + reserved).
const CALLER_SLOTS: usize = STAGE_SLOTS - 1;
/// A checkpoint at least every this many rows (`docs/formats/audit.md`, "Checkpoints").
pub const CHECKPOINT_ROWS: u64 = 1024;
/// And at least this often while rows arrive (`COCONUT_AUDIT_CHECKPOINT_SECS` in `audit.h`).
pub const CHECKPOINT_SECS: u64 = 10;
/// The longest `/agent/audit/checkpoint` text: the note body, a blank line, the signature line
/// (`— ` (4 bytes), the 49-byte key name, a space, 92 base64 digits, `\n`).
pub const SIGNED_NOTE_MAX: usize = NOTE_MAX + 1 + 4 + 49 + 1 + 92 + 1;
/// Rows the arena of sealed rows holds (a power of two: a row's slot is `seq % ARENA_SLOTS`).
pub const ARENA_SLOTS: usize = 8192;
const _: () = assert!(ARENA_SLOTS.is_power_of_two());
const _: () = assert!(AGENT_AUDIT_ROW_MAX == 384);

extern "C" {
    fn coconut_audit_stage_lock();
    fn coconut_audit_stage_unlock();
    fn coconut_audit_chain_lock();
    fn coconut_audit_chain_unlock();
    /// Sleeps (TASK_KILLABLE) until [`coconut_audit_space_available`] is true; 0 or -EINTR.
    fn coconut_audit_wait_space() -> c_int;
    fn coconut_audit_wake_space();
    fn coconut_audit_wake_sealer();
    /// Whether the caller may sleep (process context, no spinlock, preemption on).
    fn coconut_audit_may_sleep() -> bool;
    /// CLOCK_REALTIME in nanoseconds.
    fn coconut_audit_now_ns() -> u64;
    /// CLOCK_MONOTONIC in nanoseconds.
    fn coconut_audit_mono_ns() -> u64;
    /// The running kernel's release string (`uname -r`): `init_utsname()->release`, a
    /// NUL-terminated `char[65]`.
    fn coconut_audit_release() -> *const c_char;
    /// Runs the flush of counted calls ([`coconut_audit_flush_suppressed`]) in a kworker
    /// about a second from now, unless it is queued already.
    fn coconut_audit_schedule_flush();
}

/// A static guarded by one of the C spinlocks.
struct Guarded<T>(UnsafeCell<T>);

// SAFETY: every access goes through `with_stage` or `with_sealed`, which hold the spinlock
// that guards the value for the whole closure, so no two threads touch it at once.
unsafe impl<T> Sync for Guarded<T> {}

/// One event waiting to be sealed (everything but `seq` and `boot`, which the chain gives it).
#[derive(Clone, Copy)]
struct Pending {
    kind: u32,
    result: i32,
    time_ns: u64,
    actor: u64,
    subject: u64,
    detail_len: u16,
    detail: [u8; AGENT_AUDIT_DETAIL_MAX],
    /// The commit ticket: the number of events committed before this one.
    ticket: u64,
    /// CLOCK_MONOTONIC at commit (the sealer's append-to-sealed latency); 0 for markers.
    mono_ns: u64,
}

impl Pending {
    const EMPTY: Pending = Pending {
        ticket: 0,
        mono_ns: 0,
        kind: 0,
        result: 0,
        time_ns: 0,
        actor: 0,
        subject: 0,
        detail_len: 0,
        detail: [0; AGENT_AUDIT_DETAIL_MAX],
    };
}

/// The staging ring: a FIFO of [`Pending`] events in append order, and the slots promised to
/// callers that reserved one.
struct Stage {
    slots: [Pending; STAGE_SLOTS],
    /// Index of the oldest queued event.
    first: usize,
    /// Queued events (`first..first + queued`, modulo the ring).
    queued: usize,
    /// Slots reserved and not yet committed or cancelled.
    reserved: usize,
    /// Appends that had to wait for a free slot.
    waits: u64,
    /// Events committed since boot.
    committed: u64,
    /// Appends refused (atomic context, a kernel caller's malformed event).
    refused: u64,
    /// Checkpoint markers committed (they take a ticket, so tickets map to rows by one
    /// offset; they are not callers' appends).
    markers: u64,
    /// Whether one of the sealer's own markers is queued.
    sealer_marker: bool,
    /// Whether the sealer has taken an event off the ring and not yet sealed it.
    sealing: bool,
    /// Flood control of malformed calls (`docs/formats/audit.md`, "Flood control").
    flood: FloodTable,
    /// `suppressed` rows committed.
    suppressed_rows: u64,
}

static STAGE: Guarded<Stage> = Guarded(UnsafeCell::new(Stage {
    slots: [Pending::EMPTY; STAGE_SLOTS],
    first: 0,
    queued: 0,
    reserved: 0,
    waits: 0,
    committed: 0,
    refused: 0,
    markers: 0,
    sealer_marker: false,
    sealing: false,
    flood: FloodTable::new(),
    suppressed_rows: 0,
}));

/// The chain and the arena of sealed rows.
struct Sealed {
    /// The running chain; `None` until the boot counter is known and rows 0 (and 1) sealed.
    chain: Option<Chain>,
    /// 16 random bytes naming this boot (in the `boot` row; the genesis derives from them).
    boot_id: [u8; BOOT_ID_LEN],
    /// Binary rows (`struct agent_audit_row_hdr` + event); row `seq` is in slot `seq % N`.
    rows: [[u8; AGENT_AUDIT_ROW_MAX]; ARENA_SLOTS],
    /// The oldest sequence number still in the arena.
    oldest: u64,
    /// The current head: the genesis, then the hash of the last sealed row.
    head: [u8; 32],
    /// The first sequence number the persister has not acknowledged; `None` before a
    /// persister writes `/agent/audit/persisted`.
    persisted: Option<u64>,
    /// Rows evicted from the arena before any persister had acknowledged them.
    overwritten: u64,
    /// Whether the sealer is waiting for the persister (arena full of unpersisted rows).
    stalled: bool,
    /// Rows the sealer could not seal (a bug: counted and logged, never silent).
    seal_errors: u64,
    /// Every commit ticket below this one has been sealed (or counted as a seal error).
    sealed_tickets: u64,
    /// `seq - ticket` of the last sealed event: the same for every event sealed since the
    /// chain started unless a seal error (a bug) consumed a ticket without a row.
    ticket_offset: u64,
    /// The RFC 9162 tree over the rows' chain hashes, one leaf per sealed row.
    frontier: Frontier,
    /// Whether every sealed row is in `frontier` (false only after a failed push: a bug,
    /// logged; checkpoints stop).
    frontier_ok: bool,
    /// The checkpoint key, once a seed is loaded.
    key: Option<CheckpointKey>,
    /// The latest checkpoint: what it committed to and its signature.
    last: Option<(Checkpoint, [u8; 64])>,
    /// Checkpoint rows sealed this boot.
    checkpoints: u64,
    /// CLOCK_MONOTONIC when the last checkpoint was sealed (the 10-second rule).
    last_checkpoint_ns: u64,
    /// Nanoseconds the sealer spent sealing batches (from taking them off the ring to the
    /// last row), and the events in them: its cost per row, for `cargo xtask bench`.
    seal_ns: u64,
    seal_events: u64,
    /// Commit-to-sealed time of every sealed event.
    latency: Histogram,
}

/// The checkpoint key of this boot, derived from the seed (which is not kept).
#[derive(Clone, Copy)]
struct CheckpointKey {
    /// The Ed25519 private seed (`checkpoint_key_seed(seed)`).
    secret: [u8; 32],
    /// Its public key.
    public: [u8; 32],
    /// The C2SP key id: SHA-256(name || 0x0a || 0x01 || public)[..4], computed by the glue.
    id: [u8; 4],
    /// `/etc/machine-id`, from the seed line.
    machine_id: [u8; 16],
    /// Where the seed came from: `soft` (a user key) or `tpm` (a trusted key).
    source: &'static str,
}

static SEALED: Guarded<Sealed> = Guarded(UnsafeCell::new(Sealed {
    chain: None,
    boot_id: [0; BOOT_ID_LEN],
    rows: [[0; AGENT_AUDIT_ROW_MAX]; ARENA_SLOTS],
    oldest: 0,
    head: [0; 32],
    persisted: None,
    overwritten: 0,
    stalled: false,
    seal_errors: 0,
    sealed_tickets: 0,
    ticket_offset: 0,
    frontier: Frontier::new(),
    frontier_ok: true,
    key: None,
    last: None,
    checkpoints: 0,
    last_checkpoint_ns: 0,
    seal_ns: 0,
    seal_events: 0,
    latency: Histogram::new(),
}));

/// Runs `f` on the staging ring under its lock.
fn with_stage<R>(f: impl FnOnce(&mut Stage) -> R) -> R {
    // SAFETY: the C helper takes `coconut_audit_stage_lock`; it is released below.
    unsafe { coconut_audit_stage_lock() };
    // SAFETY: the lock that guards `STAGE` is held until the unlock below, so this is the only
    // reference to it; `f` cannot panic (panics abort) and does not call back in here.
    let result = f(unsafe { &mut *STAGE.0.get() });
    // SAFETY: taken above by this thread.
    unsafe { coconut_audit_stage_unlock() };
    result
}

/// Runs `f` on the chain and arena under their lock.
fn with_sealed<R>(f: impl FnOnce(&mut Sealed) -> R) -> R {
    // SAFETY: the C helper takes `coconut_audit_chain_lock`; it is released below.
    unsafe { coconut_audit_chain_lock() };
    // SAFETY: the lock that guards `SEALED` is held until the unlock below, so this is the
    // only reference to it; `f` does not call back in here.
    let result = f(unsafe { &mut *SEALED.0.get() });
    // SAFETY: taken above by this thread.
    unsafe { coconut_audit_chain_unlock() };
    result
}

/// A `-errno` as the C side returns it.
fn neg(errno: u32) -> c_int {
    // Kernel errnos are below 4096.
    -(errno as c_int)
}

/// The arena slot of `seq`.
fn slot_of(seq: u64) -> usize {
    // The mask keeps the value below ARENA_SLOTS, which fits usize.
    (seq & (ARENA_SLOTS as u64 - 1)) as usize
}

// ---------------------------------------------------------------------------------------------
// Appending
// ---------------------------------------------------------------------------------------------

/// Reserves a staging slot, waiting (killable) while the ring is full. 0, or `-EINTR` if a
/// fatal signal ended the wait, or `-EWOULDBLOCK` when the caller may not sleep and the ring
/// is full.
#[no_mangle]
pub extern "C" fn coconut_audit_reserve() -> c_int {
    loop {
        let taken = with_stage(|s| {
            if s.queued.saturating_add(s.reserved) < CALLER_SLOTS {
                s.reserved = s.reserved.saturating_add(1);
                true
            } else {
                s.waits = s.waits.saturating_add(1);
                false
            }
        });
        if taken {
            return 0;
        }
        // SAFETY: a plain query of the calling context.
        if !unsafe { coconut_audit_may_sleep() } {
            with_stage(|s| s.refused = s.refused.saturating_add(1));
            return neg(bindings::EWOULDBLOCK);
        }
        // SAFETY: process context (checked above), no lock held.
        let err = unsafe { coconut_audit_wait_space() };
        if err != 0 {
            return err;
        }
    }
}

/// Gives back a reservation that will not be committed (the caller decided not to act).
#[no_mangle]
pub extern "C" fn coconut_audit_cancel() {
    with_stage(|s| s.reserved = s.reserved.saturating_sub(1));
    // SAFETY: wakes waiters; callable in any context.
    unsafe { coconut_audit_wake_space() };
}

/// Checks a kernel caller's event: a kind the rest of the kernel may append (not `boot` or
/// `link`, which only the chain's start writes), AIDs in range, a valid detail.
fn check_event(kind: u32, actor: u64, subject: u64, detail: &[u8]) -> Result<AuditKind, c_int> {
    let kind = AuditKind::from_u32(kind).ok_or(neg(bindings::EINVAL))?;
    if matches!(
        kind,
        AuditKind::Boot | AuditKind::Link | AuditKind::Checkpoint | AuditKind::Suppressed
    ) {
        return Err(neg(bindings::EINVAL));
    }
    Aid::new(actor).map_err(|_| neg(bindings::EINVAL))?;
    Aid::new(subject).map_err(|_| neg(bindings::EINVAL))?;
    let text = core::str::from_utf8(detail).map_err(|_| neg(bindings::EINVAL))?;
    check_detail(text).map_err(|_| neg(bindings::EINVAL))?;
    Ok(kind)
}

/// Commits a reserved slot: queues the event in append order and wakes the sealer.
///
/// # Safety
///
/// The caller holds a reservation from [`coconut_audit_reserve`], and `detail` points to
/// `detail_len` readable bytes (or `detail_len` is 0).
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_commit(
    kind: u32,
    actor: u64,
    subject: u64,
    result: c_int,
    detail: *const u8,
    detail_len: usize,
) -> c_int {
    // SAFETY: the caller's promises are passed on; a NULL ticket pointer is allowed.
    unsafe {
        coconut_audit_commit_ticket(
            kind,
            actor,
            subject,
            result,
            detail,
            detail_len,
            core::ptr::null_mut(),
        )
    }
}

/// [`coconut_audit_commit`], also storing the event's commit ticket in `*ticket` (when not
/// NULL): [`coconut_audit_ticket_seq`] turns it into the row's sequence number once sealed.
///
/// # Safety
///
/// As [`coconut_audit_commit`]; `ticket` is NULL or points to a writable `u64`.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_commit_ticket(
    kind: u32,
    actor: u64,
    subject: u64,
    result: c_int,
    detail: *const u8,
    detail_len: usize,
    ticket: *mut u64,
) -> c_int {
    let bytes: &[u8] = if detail_len == 0 || detail.is_null() {
        &[]
    } else {
        // SAFETY: the caller promises `detail_len` readable bytes at `detail`.
        unsafe { core::slice::from_raw_parts(detail, detail_len) }
    };
    let mut pending = Pending::EMPTY;
    let checked = check_event(kind, actor, subject, bytes).and_then(|_| {
        let dst = pending
            .detail
            .get_mut(..bytes.len())
            .ok_or(neg(bindings::EINVAL))?;
        dst.copy_from_slice(bytes);
        Ok(())
    });
    if let Err(e) = checked {
        // A kernel caller's bug: the reservation goes back, the refusal is counted.
        with_stage(|s| {
            s.reserved = s.reserved.saturating_sub(1);
            s.refused = s.refused.saturating_add(1);
        });
        // SAFETY: wakes waiters; callable in any context.
        unsafe { coconut_audit_wake_space() };
        pr_err!("refused a malformed event (kind {})\n", kind);
        return e;
    }
    pending.kind = kind;
    pending.result = result;
    pending.actor = actor;
    pending.subject = subject;
    // At most AGENT_AUDIT_DETAIL_MAX (256), checked by `check_detail`.
    pending.detail_len = bytes.len() as u16;
    let given = queue_reserved(pending);
    if !ticket.is_null() {
        // SAFETY: the caller promises a writable `u64` when the pointer is not NULL.
        unsafe { ticket.write(given) };
    }
    0
}

/// Queues `pending` (a checked event) in the slot its caller reserved, stamped with the time,
/// and wakes the sealer: its commit ticket.
fn queue_reserved(mut pending: Pending) -> u64 {
    // SAFETY: plain clock reads.
    unsafe {
        pending.time_ns = coconut_audit_now_ns();
        pending.mono_ns = coconut_audit_mono_ns();
    }
    let given = with_stage(|s| {
        let at = s.first.wrapping_add(s.queued) % STAGE_SLOTS;
        pending.ticket = s.committed;
        if let Some(slot) = s.slots.get_mut(at) {
            *slot = pending;
        }
        s.reserved = s.reserved.saturating_sub(1);
        // The reservation guaranteed queued + reserved < STAGE_SLOTS before this commit.
        s.queued = s.queued.saturating_add(1).min(STAGE_SLOTS);
        s.committed = s.committed.saturating_add(1);
        pending.ticket
    });
    // SAFETY: wakes the sealer kthread; callable in any context.
    unsafe { coconut_audit_wake_sealer() };
    given
}

/// Queues the `suppressed` row of `sup` in a slot the caller reserved.
fn queue_suppressed(sup: &Suppressed) {
    let detail = sup.detail();
    let bytes = detail.as_str().as_bytes();
    let mut pending = Pending::EMPTY;
    if let Some(dst) = pending.detail.get_mut(..bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    pending.kind = AuditKind::Suppressed as u32;
    pending.result = sup.first_result;
    pending.actor = sup.aid;
    pending.subject = sup.aid;
    // A DetailBuf holds at most AGENT_AUDIT_DETAIL_MAX (256) bytes.
    pending.detail_len = bytes.len() as u16;
    queue_reserved(pending);
    with_stage(|s| s.suppressed_rows = s.suppressed_rows.saturating_add(1));
}

/// [`coconut_audit_commit`] for the row of a malformed call (a `pure` or `copy` row of its
/// Errors table in `docs/abi.md`: nothing was authorised or refused), under flood control: the
/// row is sealed while `actor`'s bucket has tokens; beyond that the call is counted, its
/// reservation given back, and a `suppressed` row carries the count about a second later
/// (in the slot of the agent's next malformed call, or from the flush work). 0 when a row was
/// queued (the call's or a `suppressed` one), 1 when the call was counted, else as
/// [`coconut_audit_commit`].
///
/// # Safety
///
/// As [`coconut_audit_commit`].
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_commit_limited(
    kind: u32,
    actor: u64,
    subject: u64,
    result: c_int,
    detail: *const u8,
    detail_len: usize,
) -> c_int {
    let charge = match (AuditKind::from_u32(kind), Aid::new(actor)) {
        (Some(k), Ok(_)) => {
            // SAFETY: a plain clock read.
            let now = unsafe { coconut_audit_mono_ns() };
            with_stage(|s| {
                let c = s.flood.charge(actor, k, result, now);
                if c == Charge::Counted {
                    s.reserved = s.reserved.saturating_sub(1);
                }
                c
            })
        }
        // Refused with the errno below.
        _ => Charge::Seal,
    };
    match charge {
        // SAFETY: the caller's promises are passed on.
        Charge::Seal => unsafe {
            coconut_audit_commit(kind, actor, subject, result, detail, detail_len)
        },
        Charge::Counted => {
            // SAFETY: wake the reservation's waiters; queue the flush (callable anywhere).
            unsafe {
                coconut_audit_wake_space();
                coconut_audit_schedule_flush();
            }
            1
        }
        Charge::SealSuppressed(sup) => {
            queue_suppressed(&sup);
            // SAFETY: queues the flush of the window this call opened.
            unsafe { coconut_audit_schedule_flush() };
            0
        }
    }
}

/// Seals the `suppressed` row of every counted window a second old (`all`: of every open
/// window), reserving a slot for each like any appender. Called by the glue's flush work (a
/// kworker: process context, no fatal signals) and before an orderly shutdown's checkpoint.
/// Whether windows are still open (the glue runs the flush again later).
#[no_mangle]
pub extern "C" fn coconut_audit_flush_suppressed(all: bool) -> bool {
    loop {
        if coconut_audit_reserve() != 0 {
            // Interrupted (a dying writer of /agent/audit/seal): the flush work retries.
            return true;
        }
        // SAFETY: a plain clock read.
        let now = unsafe { coconut_audit_mono_ns() };
        let due = with_stage(|s| {
            if all {
                s.flood.take_any()
            } else {
                s.flood.take_due(now)
            }
        });
        match due {
            Some(sup) => queue_suppressed(&sup),
            None => {
                coconut_audit_cancel();
                return with_stage(|s| s.flood.pending());
            }
        }
    }
}

/// Whether the event of commit ticket `ticket` has been sealed; if so, its sequence number
/// is stored in `*seq`. Exact, since every committed event becomes the next row, unless a
/// seal error (a bug, counted in `stats`) consumed a ticket without a row after it.
///
/// # Safety
///
/// `seq` points to a writable `u64`.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_ticket_seq(ticket: u64, seq: *mut u64) -> bool {
    let (sealed, offset) = with_sealed(|s| (s.sealed_tickets, s.ticket_offset));
    if ticket >= sealed {
        return false;
    }
    // SAFETY: the caller promises a writable `u64`.
    unsafe { seq.write(ticket.wrapping_add(offset)) };
    true
}

/// Appends an event: [`coconut_audit_reserve`] then [`coconut_audit_commit`]. 0, or `-EINTR`
/// (a fatal signal ended the wait for space), `-EWOULDBLOCK` (atomic context, ring full),
/// `-EINVAL` (a malformed event: unknown or kernel-only kind, bad AID, bad detail).
///
/// # Safety
///
/// `detail` points to `detail_len` readable bytes (or `detail_len` is 0).
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_append(
    kind: u32,
    actor: u64,
    subject: u64,
    result: c_int,
    detail: *const u8,
    detail_len: usize,
) -> c_int {
    let err = coconut_audit_reserve();
    if err != 0 {
        return err;
    }
    // SAFETY: reserved above; the caller's promise about `detail` is passed on.
    unsafe { coconut_audit_commit(kind, actor, subject, result, detail, detail_len) }
}

/// Whether a reservation could be granted now (the condition `coconut_audit_wait_space`
/// sleeps on).
#[no_mangle]
pub extern "C" fn coconut_audit_space_available() -> bool {
    with_stage(|s| s.queued.saturating_add(s.reserved) < CALLER_SLOTS)
}

// ---------------------------------------------------------------------------------------------
// Sealing
// ---------------------------------------------------------------------------------------------

/// Whether the arena can take the next row: a free slot, or an oldest row that may be evicted
/// (acknowledged by the persister, or no persister registered yet).
fn arena_room(s: &mut Sealed) -> bool {
    arena_room_for(s, 1) > 0
}

/// How many of the next `want` rows the arena can take now: its free slots plus the oldest
/// rows that may be evicted (all of them before a persister registered, else those it
/// acknowledged). Marks the sealer stalled when that is none.
fn arena_room_for(s: &mut Sealed, want: usize) -> usize {
    let Some(chain) = s.chain.as_ref() else {
        return 0;
    };
    let used = chain.next_seq().wrapping_sub(s.oldest);
    let free = (ARENA_SLOTS as u64).saturating_sub(used);
    let evictable = match s.persisted {
        None => u64::MAX,
        Some(acked) => acked.saturating_sub(s.oldest),
    };
    let room = free.saturating_add(evictable);
    if room == 0 {
        s.stalled = true;
    }
    // Capped by `want`, a usize.
    room.min(want as u64) as usize
}

/// The sealer kthread's wake-up condition: the chain has started, an event is queued, and the
/// arena has room for its row.
#[no_mangle]
pub extern "C" fn coconut_audit_work_pending() -> bool {
    let queued = with_stage(|s| s.queued > 0);
    (queued && with_sealed(arena_room))
        || (with_sealed(|s| checkpoint_due(s, false)) && with_stage(|s| !s.sealer_marker))
}

/// Seals `rec` as the next row: the chain step and the row written into its arena slot,
/// evicting the oldest row when the arena is full.
fn seal_into(s: &mut Sealed, rec: &Record<'_>) -> Result<(), ()> {
    let Some(chain) = s.chain.as_mut() else {
        return Err(());
    };
    let seq = chain.next_seq();
    if seq.wrapping_sub(s.oldest) >= ARENA_SLOTS as u64 {
        if s.persisted.is_none() {
            s.overwritten = s.overwritten.saturating_add(1);
        }
        s.oldest = s.oldest.saturating_add(1);
    }
    let slot = s.rows.get_mut(slot_of(seq)).ok_or(())?;
    let (hdr, body) = slot.split_at_mut(AGENT_AUDIT_ROW_HDR_LEN);
    let (row, len) = chain.seal(rec, body).map_err(|_| ())?;
    hdr.copy_from_slice(&encode_row_header(&AgentAuditRowHdr {
        // At most 72 + 312 = 384.
        row_len: AGENT_AUDIT_ROW_HDR_LEN.saturating_add(len) as u32,
        reserved: 0,
        prev: row.prev,
        hash: row.hash,
    }));
    s.head = row.hash;
    s.stalled = false;
    match leaf_hash(&row.hash) {
        Ok(leaf) if s.frontier_ok && s.frontier.push(&leaf).is_ok() => {}
        _ => {
            if s.frontier_ok {
                pr_err!("the checkpoint tree lost row {}: no more checkpoints this boot\n", seq);
            }
            s.frontier_ok = false;
        }
    }
    Ok(())
}

/// Whether a checkpoint is due at the sealer's own initiative: a key, a started chain, rows
/// since the last checkpoint, and either no checkpoint yet, [`CHECKPOINT_ROWS`] rows since
/// the last one, or `tick` (the 10-second timer).
fn checkpoint_due(s: &Sealed, tick: bool) -> bool {
    let Some(chain) = s.chain.as_ref() else {
        return false;
    };
    if s.key.is_none() || !s.frontier_ok {
        return false;
    }
    let after = s.last.map_or(0, |(cp, _)| cp.size.saturating_add(1));
    let since = chain.next_seq().saturating_sub(after);
    since > 0 && (s.last.is_none() || tick || since >= CHECKPOINT_ROWS)
}

/// Queues the sealer's own checkpoint marker when one is due and none is queued: it takes the
/// next commit ticket and the ring's last slot, which callers never take, so it always fits.
fn maybe_mark(tick: bool) {
    if !with_sealed(|s| checkpoint_due(s, tick)) {
        return;
    }
    with_stage(|s| {
        if s.sealer_marker || s.queued.saturating_add(s.reserved) >= STAGE_SLOTS {
            return;
        }
        queue_marker(s, true);
        s.sealer_marker = true;
    });
}

/// Queues a checkpoint marker at the ring's tail (the caller checked for room); its ticket.
/// `own`: the sealer's marker (its `result` field is 1), not one `/agent/audit/seal` asked for.
fn queue_marker(s: &mut Stage, own: bool) -> u64 {
    let at = s.first.wrapping_add(s.queued) % STAGE_SLOTS;
    let ticket = s.committed;
    if let Some(slot) = s.slots.get_mut(at) {
        *slot = Pending {
            kind: AuditKind::Checkpoint as u32,
            result: i32::from(own),
            ticket,
            ..Pending::EMPTY
        };
    }
    s.queued = s.queued.saturating_add(1).min(STAGE_SLOTS);
    s.committed = s.committed.saturating_add(1);
    s.markers = s.markers.saturating_add(1);
    ticket
}

/// Seals a checkpoint row for the marker of `ticket`: the tree and head as they are now (every
/// row before it), signed outside the lock (only this thread seals rows, so nothing moves in
/// between), then sealed as the next row. False if no key or the tree is incomplete. Out of
/// line (with [`sign_note`]): inlined, its buffers made the sealer's frame too large.
#[inline(never)]
fn seal_checkpoint(ticket: u64, time_ns: u64) -> bool {
    let snapshot = with_sealed(|s| {
        let key = s.key?;
        let chain = s.chain.as_ref()?;
        if !s.frontier_ok {
            return None;
        }
        let cp = Checkpoint {
            machine_id: key.machine_id,
            boot: chain.boot(),
            size: s.frontier.size(),
            root: s.frontier.root(),
            head: s.head,
        };
        Some((cp, key))
    });
    let Some((cp, mut key)) = snapshot else {
        return false;
    };
    let sig = sign_note(&cp, &key.secret);
    // Best effort: the stack copy of the private seed goes (the sealed state keeps its own).
    key.secret = [0; 32];
    core::hint::black_box(&key.secret);
    let mut d = [0u8; CHECKPOINT_DETAIL_MAX];
    let detail = CheckpointRow {
        size: cp.size,
        root: cp.root,
        key: key.public,
        sig,
    }
    .encode(&mut d);
    let rec = Record {
        kind: AuditKind::Checkpoint,
        time_ns,
        actor: Aid::BOOT,
        subject: Aid::BOOT,
        result: 0,
        detail,
    };
    with_sealed(|s| {
        let seq = s.chain.as_ref().map_or(0, |c| c.next_seq());
        if seq != cp.size || seal_into(s, &rec).is_err() {
            return false;
        }
        s.ticket_offset = seq.wrapping_sub(ticket);
        s.sealed_tickets = ticket.saturating_add(1);
        s.last = Some((cp, sig));
        s.checkpoints = s.checkpoints.saturating_add(1);
        // SAFETY: a plain clock read.
        s.last_checkpoint_ns = unsafe { coconut_audit_mono_ns() };
        true
    })
}

/// Signs the note body of `cp` with the checkpoint key's private seed.
#[inline(never)]
fn sign_note(cp: &Checkpoint, secret: &[u8; 32]) -> [u8; 64] {
    let mut body = [0u8; NOTE_MAX];
    let text = cp.note(&mut body);
    coconut_ed25519::sign_parts(secret, &[text.as_bytes()])
}

/// Called by the sealer kthread when woken: seals every queued event the arena has room for,
/// in append order. Returns the number sealed.
///
/// `tick` is true when the sealer woke from its 10-second timeout: a checkpoint is then due if
/// any row came since the last one.
#[no_mangle]
pub extern "C" fn coconut_audit_seal_pending(tick: bool) -> c_long {
    let mut sealed: c_long = 0;
    // The sealer's timeout only expires when it was idle that long: under a steady trickle of
    // rows it never does, so the 10 seconds are also measured from the last checkpoint.
    // SAFETY: a plain clock read.
    let now = unsafe { coconut_audit_mono_ns() };
    let overdue = with_sealed(|s| {
        now.saturating_sub(s.last_checkpoint_ns) >= CHECKPOINT_SECS.saturating_mul(1_000_000_000)
    });
    maybe_mark(tick || overdue);
    // SAFETY: only the sealer kthread calls this function (audit.c), so this is the only
    // reference to the batch buffer.
    let batch = unsafe { &mut *BATCH.0.get() };
    loop {
        let room = with_sealed(|s| arena_room_for(s, SEAL_BATCH));
        if room == 0 {
            break;
        }
        let n = with_stage(|s| {
            let n = s.queued.min(room);
            for slot in batch.iter_mut().take(n) {
                if let Some(p) = s.slots.get(s.first) {
                    *slot = *p;
                    if p.kind == AuditKind::Checkpoint as u32 && p.result == 1 {
                        s.sealer_marker = false;
                    }
                }
                s.first = s.first.wrapping_add(1) % STAGE_SLOTS;
                s.queued = s.queued.saturating_sub(1);
            }
            s.sealing = n > 0;
            n
        });
        if n == 0 {
            break;
        }
        // SAFETY: wakes the appenders waiting for a slot; callable in any context.
        unsafe { coconut_audit_wake_space() };
        // SAFETY: a plain clock read.
        let start = unsafe { coconut_audit_mono_ns() };
        let events = batch.get(..n).unwrap_or(&[]);
        let mut rest = events;
        while let Some((first, _)) = rest.split_first() {
            if first.kind == AuditKind::Checkpoint as u32 {
                if seal_checkpoint(first.ticket, first.time_ns) {
                    sealed = sealed.saturating_add(1);
                } else {
                    with_sealed(|s| {
                        s.seal_errors = s.seal_errors.saturating_add(1);
                        s.sealed_tickets = first.ticket.saturating_add(1);
                    });
                    pr_err!("could not seal a checkpoint\n");
                }
                rest = rest.get(1..).unwrap_or(&[]);
                continue;
            }
            // The run of events up to the next marker, under one hold of the chain lock.
            let run = rest
                .iter()
                .position(|p| p.kind == AuditKind::Checkpoint as u32)
                .unwrap_or(rest.len());
            let (events, tail) = rest.split_at(run.min(rest.len()));
            rest = tail;
            with_sealed(|s| {
                for p in events {
                    if seal_event(s, p) {
                        sealed = sealed.saturating_add(1);
                        s.latency.record(start.saturating_sub(p.mono_ns));
                    }
                }
            });
        }
        // SAFETY: a plain clock read.
        let end = unsafe { coconut_audit_mono_ns() };
        with_sealed(|s| {
            s.seal_ns = s.seal_ns.saturating_add(end.saturating_sub(start));
            s.seal_events = s.seal_events.saturating_add(n as u64);
        });
        maybe_mark(false);
    }
    // Every event taken off the ring above has been sealed.
    with_stage(|s| s.sealing = false);
    sealed
}

/// Events the sealer takes off the staging ring at once: one staging lock, one wake-up of the
/// waiting appenders and one hold of the chain lock per run of events between markers.
const SEAL_BATCH: usize = 16;

/// A value only the sealer kthread touches.
struct SealerOnly<T>(UnsafeCell<T>);

// SAFETY: the one value of this type is used only by `coconut_audit_seal_pending`, which only
// the sealer kthread calls: never by two threads at once.
unsafe impl<T> Sync for SealerOnly<T> {}

/// The batch the sealer is working through (in a static: 16 events are 5 KiB).
static BATCH: SealerOnly<[Pending; SEAL_BATCH]> =
    SealerOnly(UnsafeCell::new([Pending::EMPTY; SEAL_BATCH]));

/// Seals one staged event (not a marker) as the next row, under the chain lock. False (the
/// error counted and logged) if it could not be: checked at commit, so a bug.
fn seal_event(s: &mut Sealed, p: &Pending) -> bool {
    let detail = p
        .detail
        .get(..usize::from(p.detail_len))
        .and_then(|d| core::str::from_utf8(d).ok())
        .unwrap_or("");
    let (Some(kind), Ok(actor), Ok(subject)) = (
        AuditKind::from_u32(p.kind),
        Aid::new(p.actor),
        Aid::new(p.subject),
    ) else {
        s.seal_errors = s.seal_errors.saturating_add(1);
        s.sealed_tickets = p.ticket.saturating_add(1);
        return false;
    };
    let rec = Record {
        kind,
        time_ns: p.time_ns,
        actor,
        subject,
        result: p.result,
        detail,
    };
    let seq = s.chain.as_ref().map_or(0, |c| c.next_seq());
    let ok = seal_into(s, &rec).is_ok();
    if ok {
        s.ticket_offset = seq.wrapping_sub(p.ticket);
    } else {
        s.seal_errors = s.seal_errors.saturating_add(1);
        pr_err!("could not seal an event of kind {}\n", p.kind);
    }
    s.sealed_tickets = p.ticket.saturating_add(1);
    ok
}

// ---------------------------------------------------------------------------------------------
// Starting the chain: the boot row, and the link row of a continued chain
// ---------------------------------------------------------------------------------------------

/// Called once at boot by `audit.c` with 16 random bytes: remembers them as this boot's id.
///
/// # Safety
///
/// `boot_id` points to 16 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_init(boot_id: *const u8) -> c_int {
    if coconut_blake3::hash(b"abc").first() != Some(&0x64) {
        pr_err!("BLAKE3 self-test failed: the audit chain stays off\n");
        return neg(bindings::ELIBBAD);
    }
    let mut id = [0u8; BOOT_ID_LEN];
    // SAFETY: the caller promises 16 readable bytes.
    id.copy_from_slice(unsafe { core::slice::from_raw_parts(boot_id, BOOT_ID_LEN) });
    with_sealed(|s| s.boot_id = id);
    0
}

/// The `boot` row's detail: `boot=<n> abi=<v> kernel=<release> boot_id=<32 hex>
/// seed=<none|soft|tpm>` (the seed loaded before the chain started, if any).
fn boot_detail(out: &mut DetailBuf, boot: u64, boot_id: &[u8; BOOT_ID_LEN], seed: &str) {
    // SAFETY: the helper returns `init_utsname()->release`, a static `char[65]`
    // (`__NEW_UTS_LEN + 1`) that lives as long as the kernel.
    let field = unsafe { core::slice::from_raw_parts(coconut_audit_release().cast::<u8>(), 65) };
    // Up to its NUL (a bounded scan: `CStr::from_ptr` would bring an overflow check).
    let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let release = field
        .get(..len)
        .and_then(|r| core::str::from_utf8(r).ok())
        .unwrap_or("?");
    let _ = write!(
        out,
        "boot={} abi={} kernel={} boot_id=",
        boot, AGENT_ABI_VERSION, release
    );
    for b in boot_id {
        let _ = write!(out, "{:02x}", b);
    }
    let _ = write!(out, " seed={}", seed);
}

/// Starts this boot's chain at boot counter `boot`: seals the `boot` row and, when `previous`
/// names the previous boot's end, the `link` row. `-EBUSY` if it has started already.
fn start(boot: u64, previous: Option<PrevBoot>) -> c_int {
    // SAFETY: a plain clock read.
    let now = unsafe { coconut_audit_now_ns() };
    let started = with_sealed(|s| {
        if s.chain.is_some() {
            return Err(neg(bindings::EBUSY));
        }
        let genesis = public_genesis(&s.boot_id, boot);
        s.chain = Some(Chain::from_genesis(genesis, boot, previous));
        s.head = genesis;
        s.oldest = 0;
        let mut detail = DetailBuf::new();
        let seed = s.key.as_ref().map_or("none", |k| k.source);
        boot_detail(&mut detail, boot, &s.boot_id, seed);
        let rec = Record {
            kind: AuditKind::Boot,
            time_ns: now,
            actor: Aid::BOOT,
            subject: Aid::BOOT,
            result: 0,
            detail: detail.as_str(),
        };
        seal_into(s, &rec).map_err(|()| neg(bindings::EINVAL))?;
        if let Some(prev) = previous {
            let mut buf = [0u8; coconut_audit::LINK_DETAIL_MAX];
            let rec = Record {
                kind: AuditKind::Link,
                detail: prev.encode(&mut buf),
                ..rec
            };
            seal_into(s, &rec).map_err(|()| neg(bindings::EINVAL))?;
        }
        Ok(())
    });
    match started {
        Ok(()) => {
            pr_info!(
                "chain started: boot {}{}\n",
                boot,
                if previous.is_some() {
                    ", linked to the previous boot"
                } else {
                    ""
                }
            );
            // SAFETY: wakes the sealer kthread for the events queued before the start.
            unsafe { coconut_audit_wake_sealer() };
            0
        }
        Err(e) => e,
    }
}

/// Starts the chain from the kernel command line (`coconut.audit_boot=<n>`).
#[no_mangle]
pub extern "C" fn coconut_audit_start_boot(boot: u64) -> c_int {
    start(boot, None)
}

/// Splits `text` at its first space.
fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b' ') {
        Some(i) => (
            text.get(..i).unwrap_or(text),
            text.get(i.saturating_add(1)..).unwrap_or(&[]),
        ),
        None => (text, &[]),
    }
}

/// Parses a canonical decimal `u64`.
fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.first() == Some(&b'0')) {
        return None;
    }
    text.iter().try_fold(0u64, |v, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
        v.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Handles a write to `/agent/audit/link`: one line `boot=<n>` (a first boot) or
/// `boot=<n> prev_boot=<n> prev_seq=<n> prev_head=<64 hex>` (a boot continuing a persisted
/// chain), optionally ending in `\n`. Starts the chain. Returns 0, `-EINVAL` (malformed line,
/// or `boot` not after `prev_boot`), `-EBUSY` (already started).
///
/// # Safety
///
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_write_link(buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller promises `len` readable bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let einval = neg(bindings::EINVAL);
    let (first, rest) = split_word(text);
    let Some(boot) = first.strip_prefix(b"boot=").and_then(parse_u64) else {
        return einval;
    };
    let previous = if rest.is_empty() {
        None
    } else {
        match core::str::from_utf8(rest).ok().and_then(PrevBoot::parse) {
            Some(p) if p.boot < boot => Some(p),
            _ => return einval,
        }
    };
    start(boot, previous)
}

/// Handles a write to `/agent/audit/persisted`: one decimal line, the first sequence number the
/// persister has not yet made durable. It may not go backwards nor beyond the head. Returns 0
/// or `-EINVAL`.
///
/// # Safety
///
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_write_persisted(buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller promises `len` readable bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let Some(upto) = parse_u64(text) else {
        return neg(bindings::EINVAL);
    };
    let ok = with_sealed(|s| {
        let next = s.chain.as_ref().map_or(0, |c| c.next_seq());
        if upto > next || s.persisted.is_some_and(|p| upto < p) {
            return false;
        }
        s.persisted = Some(upto);
        true
    });
    if !ok {
        return neg(bindings::EINVAL);
    }
    // SAFETY: a stalled sealer may go on.
    unsafe { coconut_audit_wake_sealer() };
    0
}

// ---------------------------------------------------------------------------------------------
// The seed, the checkpoint key and checkpoints on demand
// ---------------------------------------------------------------------------------------------

/// A parsed `/agent/audit/seed` line: `type=user|trusted machine=<32 lowercase hex>`.
fn parse_seed_line(text: &[u8]) -> Option<(c_int, [u8; 16])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let (ty, rest) = split_word(text);
    let kind = match ty {
        b"type=user" => COCONUT_AUDIT_SEED_USER,
        b"type=trusted" => COCONUT_AUDIT_SEED_TRUSTED,
        _ => return None,
    };
    let hex = rest.strip_prefix(b"machine=")?;
    let mut id = [0u8; 16];
    coconut_audit::hex::decode_into(hex, &mut id)?;
    Some((kind, id))
}

/// `coconut_audit_seed_type()`'s answers (`audit.h`).
const COCONUT_AUDIT_SEED_USER: c_int = 1;
const COCONUT_AUDIT_SEED_TRUSTED: c_int = 2;

/// The key type a `/agent/audit/seed` line names (1 user, 2 trusted), `-EINVAL` for a
/// malformed line, `-EBUSY` when a seed is loaded already this boot.
///
/// # Safety
///
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_seed_type(buf: *const u8, len: usize) -> c_int {
    // SAFETY: the caller promises `len` readable bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    let Some((kind, _)) = parse_seed_line(text) else {
        return neg(bindings::EINVAL);
    };
    if with_sealed(|s| s.key.is_some()) {
        return neg(bindings::EBUSY);
    }
    kind
}

/// Derives this boot's checkpoint key from the 32-byte `seed` and the seed line's machine id,
/// and writes its public key to `public_key`. 0, `-EINVAL` (malformed line), `-EBUSY`
/// (loaded already). The seed itself is not kept.
///
/// # Safety
///
/// `buf` points to `len` readable bytes, `seed` to 32 readable bytes, `public_key` to 32
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_load_seed(
    buf: *const u8,
    len: usize,
    seed: *const u8,
    public_key: *mut u8,
) -> c_int {
    // SAFETY: the caller promises `len` readable bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    let Some((kind, machine_id)) = parse_seed_line(text) else {
        return neg(bindings::EINVAL);
    };
    let mut material = [0u8; 32];
    // SAFETY: the caller promises 32 readable bytes at `seed`.
    material.copy_from_slice(unsafe { core::slice::from_raw_parts(seed, 32) });
    let secret = checkpoint_key_seed(&material);
    material = [0; 32];
    core::hint::black_box(&material);
    let public = coconut_ed25519::public_key(&secret);
    let key = CheckpointKey {
        secret,
        public,
        id: [0; 4],
        machine_id,
        source: if kind == COCONUT_AUDIT_SEED_TRUSTED {
            "tpm"
        } else {
            "soft"
        },
    };
    let loaded = with_sealed(|s| {
        if s.key.is_some() {
            return false;
        }
        s.key = Some(key);
        true
    });
    if !loaded {
        return neg(bindings::EBUSY);
    }
    // SAFETY: the caller promises 32 writable bytes.
    unsafe { core::ptr::copy_nonoverlapping(public.as_ptr(), public_key, public.len()) };
    pr_info!("checkpoint key loaded ({} seed)\n", key.source);
    // SAFETY: the first checkpoint is due now if the chain has started.
    unsafe { coconut_audit_wake_sealer() };
    0
}

/// The 32 lowercase hex digits of a machine id.
fn machine_hex(id: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    coconut_audit::hex::encode_into(id, &mut out);
    out
}

/// Writes the signed note's key name, `coconut-os/audit/<machine-id>`, into `buf`; its length,
/// `-ENOKEY` without a key, `-ENOSPC` if `len` is too small.
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_note_name(buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the caller promises `len` writable bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let Some(id) = with_sealed(|s| s.key.map(|k| k.machine_id)) else {
        return neg(bindings::ENOKEY);
    };
    let mut t = Text { buf: out, len: 0 };
    let hex = machine_hex(&id);
    let name = core::str::from_utf8(&hex).unwrap_or("");
    match write!(t, "{}{}", NOTE_ORIGIN_PREFIX, name) {
        // 49 bytes.
        Ok(()) => t.len as c_int,
        Err(_) => neg(bindings::ENOSPC),
    }
}

/// Stores the key id: the first 4 bytes of the SHA-256 `digest` the glue computed.
///
/// # Safety
///
/// `digest` points to 32 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_set_key_id(digest: *const u8) {
    let mut id = [0u8; 4];
    // SAFETY: the caller promises 32 readable bytes; 4 are read.
    id.copy_from_slice(unsafe { core::slice::from_raw_parts(digest, 4) });
    with_sealed(|s| {
        if let Some(k) = s.key.as_mut() {
            k.id = id;
        }
    });
}

/// Copies the checkpoint public key to `out`; false (nothing written) before a seed is loaded.
///
/// # Safety
///
/// `out` points to 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_public_key(out: *mut u8) -> bool {
    let Some(public) = with_sealed(|s| s.key.map(|k| k.public)) else {
        return false;
    };
    // SAFETY: the caller promises 32 writable bytes.
    unsafe { core::ptr::copy_nonoverlapping(public.as_ptr(), out, public.len()) };
    true
}

/// The buffer [`coconut_audit_signed_note`] needs.
#[no_mangle]
pub extern "C" fn coconut_audit_note_max() -> usize {
    SIGNED_NOTE_MAX
}

/// Renders the latest checkpoint as a C2SP signed note: the body, a blank line, and
/// `— coconut-os/audit/<machine-id> <base64(key id || signature)>`. Its length, 0 before the
/// first checkpoint, `-ENOSPC` if `len` is too small.
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_signed_note(buf: *mut u8, len: usize) -> isize {
    // SAFETY: the caller promises `len` writable bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let Some((cp, sig, key_id)) = with_sealed(|s| Some((s.last?.0, s.last?.1, s.key?.id))) else {
        return 0;
    };
    let mut body = [0u8; NOTE_MAX];
    let text = cp.note(&mut body);
    let mut blob = [0u8; 68];
    let (id_part, sig_part) = blob.split_at_mut(4);
    id_part.copy_from_slice(&key_id);
    sig_part.copy_from_slice(&sig);
    let mut b64 = [0u8; 92];
    let n = base64_encode(&blob, &mut b64).unwrap_or(0);
    let hex = machine_hex(&cp.machine_id);
    let mut t = Text { buf: out, len: 0 };
    let written = write!(
        t,
        "{}\n\u{2014} {}{} {}\n",
        text,
        NOTE_ORIGIN_PREFIX,
        core::str::from_utf8(&hex).unwrap_or(""),
        core::str::from_utf8(b64.get(..n).unwrap_or(&[])).unwrap_or("")
    );
    match written {
        Ok(()) => t.len as isize,
        Err(_) => neg(bindings::ENOSPC) as isize,
    }
}

/// Handles a write to `/agent/audit/seal` (`1`, optionally with `\n`): queues a checkpoint
/// marker behind every event committed so far, waiting (killable) for a staging slot like any
/// appender. Its ticket plus one (the glue waits until that ticket is sealed), `-EINVAL`
/// (malformed), `-ENOKEY` (no seed loaded), `-ENODATA` (the chain has not started), `-EINTR`.
///
/// # Safety
///
/// `buf` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_request_checkpoint(buf: *const u8, len: usize) -> i64 {
    // SAFETY: the caller promises `len` readable bytes.
    let text = unsafe { core::slice::from_raw_parts(buf, len) };
    if text.strip_suffix(b"\n").unwrap_or(text) != b"1" {
        return i64::from(neg(bindings::EINVAL));
    }
    let (key, started) = with_sealed(|s| (s.key.is_some(), s.chain.is_some()));
    if !key {
        return i64::from(neg(bindings::ENOKEY));
    }
    if !started {
        return i64::from(neg(bindings::ENODATA));
    }
    // The counted calls go into rows first, so the last checkpoint covers them.
    coconut_audit_flush_suppressed(true);
    let err = coconut_audit_reserve();
    if err != 0 {
        return i64::from(err);
    }
    let ticket = with_stage(|s| {
        s.reserved = s.reserved.saturating_sub(1);
        queue_marker(s, false)
    });
    // SAFETY: wakes the sealer kthread; callable in any context.
    unsafe { coconut_audit_wake_sealer() };
    // Tickets count events since boot: far below i64::MAX.
    ticket.saturating_add(1) as i64
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Copies row `seq` out of the arena into `out`; its length, or `None` if the row is not (or
/// no longer) there.
fn copy_row(seq: u64, out: &mut [u8; AGENT_AUDIT_ROW_MAX]) -> Option<usize> {
    with_sealed(|s| {
        let next = s.chain.as_ref()?.next_seq();
        if seq < s.oldest || seq >= next {
            return None;
        }
        let slot = s.rows.get(slot_of(seq))?;
        *out = *slot;
        let len = slot.first_chunk::<4>().map(|b| u32::from_le_bytes(*b))?;
        usize::try_from(len).ok()
    })
}

/// The sequence numbers the arena holds: `*oldest..*next`.
///
/// # Safety
///
/// Both pointers are valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_bounds(oldest: *mut u64, next: *mut u64) {
    let (o, n) = with_sealed(|s| (s.oldest, s.chain.as_ref().map_or(0, |c| c.next_seq())));
    // SAFETY: the caller promises two writable `u64`s.
    unsafe {
        *oldest = o;
        *next = n;
    }
}

/// The longest `chain.log` line, its newline included: the buffer size
/// [`coconut_audit_render`] needs.
#[no_mangle]
pub extern "C" fn coconut_audit_line_max() -> usize {
    JSON_LINE_MAX
}

/// Renders row `seq` as its `chain.log` line (ending in `\n`) into `buf`; its length, `-ENOENT` if
/// the row is not in the arena, `-ENOSPC` if `len` is below [`coconut_audit_line_max`].
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_render(seq: u64, buf: *mut u8, len: usize) -> isize {
    // SAFETY: the caller promises `len` writable bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut row = [0u8; AGENT_AUDIT_ROW_MAX];
    let Some(row_len) = copy_row(seq, &mut row) else {
        return neg(bindings::ENOENT) as isize;
    };
    let Some(Ok((rowref, _))) = row.get(..row_len).map(decode_row) else {
        return neg(bindings::EIO) as isize;
    };
    match render_json_line(rowref, out) {
        // At most JSON_LINE_MAX, far below isize::MAX.
        Ok(n) => n as isize,
        Err(_) => neg(bindings::ENOSPC) as isize,
    }
}

/// Copies the current head (32 bytes) to `out`.
///
/// # Safety
///
/// `out` points to 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_head(out: *mut u8) {
    let head = with_sealed(|s| s.head);
    // SAFETY: the caller promises 32 writable bytes.
    unsafe { core::ptr::copy_nonoverlapping(head.as_ptr(), out, head.len()) };
}

/// A `core::fmt::Write` over a byte buffer that drops what does not fit.
struct Text<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.saturating_add(s.len());
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                // Byte by byte: `copy_from_slice`'s length check stays a panic path at -O2.
                for (d, b) in dst.iter_mut().zip(s.bytes()) {
                    *d = b;
                }
                self.len = end;
                Ok(())
            }
            None => Err(core::fmt::Error),
        }
    }
}

/// Renders `/agent/audit/stats` into `buf`: `key=value` lines. Returns the length, or
/// `-ENOSPC`.
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_audit_stats(buf: *mut u8, len: usize) -> isize {
    // SAFETY: the caller promises `len` writable bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let (committed, queued, reserved, waits, refused, markers, sealing) = with_stage(|s| {
        (
            s.committed,
            s.queued,
            s.reserved,
            s.waits,
            s.refused,
            s.markers,
            s.sealing,
        )
    });
    let (suppressed, suppressed_rows, suppressing, untracked) = with_stage(|s| {
        (
            s.flood.counted(),
            s.suppressed_rows,
            s.flood.pending(),
            s.flood.untracked(),
        )
    });
    let (checkpoints, key) = with_sealed(|s| (s.checkpoints, s.key.is_some()));
    let (seal_ns, seal_events, lat50, lat99, lat_max) = with_sealed(|s| {
        (
            s.seal_ns,
            s.seal_events,
            s.latency.quantile(500),
            s.latency.quantile(990),
            s.latency.quantile(1000),
        )
    });
    let (started, boot, next, oldest, persisted, overwritten, stalled, seal_errors) =
        with_sealed(|s| {
            (
                s.chain.is_some(),
                s.chain.as_ref().map_or(0, |c| c.boot()),
                s.chain.as_ref().map_or(0, |c| c.next_seq()),
                s.oldest,
                s.persisted,
                s.overwritten,
                s.stalled,
                s.seal_errors,
            )
        });
    let unpersisted = next.saturating_sub(persisted.unwrap_or(0));
    let mut t = Text { buf, len: 0 };
    let written = write!(
        t,
        "started={}\nboot={}\nsealed={}\nappended={}\nqueued={}\nreserved={}\nwaits={}\n\
         refused={}\nseal_errors={}\narena_rows={}\narena_capacity={}\noldest_seq={}\n\
         persister={}\nunpersisted={}\nstalled={}\noverwritten_unpersisted={}\nsealing={}\n\
         key={}\ncheckpoints={}\nsuppressed={}\nsuppressed_rows={}\nsuppressing={}\n\
         flood_untracked={}\nseal_ns={}\nseal_events={}\nlatency_p50_ns={}\n\
         latency_p99_ns={}\nlatency_max_ns={}\nlost=0\n",
        u8::from(started),
        boot,
        next,
        committed.saturating_sub(markers),
        queued,
        reserved,
        waits,
        refused,
        seal_errors,
        next.saturating_sub(oldest),
        ARENA_SLOTS,
        oldest,
        u8::from(persisted.is_some()),
        unpersisted,
        u8::from(stalled),
        overwritten,
        u8::from(sealing),
        u8::from(key),
        checkpoints,
        suppressed,
        suppressed_rows,
        u8::from(suppressing),
        untracked,
        seal_ns,
        seal_events,
        lat50,
        lat99,
        lat_max,
    );
    match written {
        Ok(()) => t.len as isize,
        Err(_) => neg(bindings::ENOSPC) as isize,
    }
}

// ---------------------------------------------------------------------------------------------
// agent_audit_query (478): the kernel part, after coconut_abi's pure checks
// ---------------------------------------------------------------------------------------------

/// Reads a little-endian `u64` at `at`.
fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..)?
        .first_chunk::<8>()
        .map(|b| u64::from_le_bytes(*b))
}

/// Serves `agent_audit_query` from the arena, after `coconut_abi::validate_audit_query`: rows
/// `from_seq..=to_seq` (`to_seq` 0: to the head) whose kind bit is in `kinds` (0: all) and
/// whose subject matches `aid` (`AID_ANY`; `AID_SELF`: the caller's agent; with `subtree`: it
/// and its descendants), written as whole rows into the user buffer `ubuf` of `bufsize` bytes.
/// `caller` is the caller's agent, `read_all` whether it may read every row. Returns the bytes
/// written and stores the row count in `*rows`; or `-ESRCH` (an `aid` that names no agent the
/// caller sees), `-ERANGE` (the first matching row is longer than `bufsize`), `-EFAULT` (`ubuf`
/// not writable).
///
/// # Safety
///
/// `rows` is valid for a `u64` write.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn coconut_audit_query(
    from_seq: u64,
    to_seq: u64,
    aid: u64,
    kinds: u64,
    subtree: bool,
    caller: u64,
    read_all: bool,
    ubuf: c_ulong,
    bufsize: usize,
    rows: *mut u64,
) -> c_long {
    let (result, count) = match query(from_seq, to_seq, aid, kinds, subtree, caller, read_all, ubuf, bufsize) {
        Ok((bytes, count)) => (bytes as c_long, count),
        Err(errno) => (c_long::from(neg(errno)), 0),
    };
    // SAFETY: the caller promises a writable `u64`.
    unsafe { *rows = count };
    result
}

/// The body of [`coconut_audit_query`]: `(bytes, rows)` or a positive errno.
#[allow(clippy::too_many_arguments)]
fn query(
    from_seq: u64,
    to_seq: u64,
    aid: u64,
    kinds: u64,
    subtree: bool,
    caller: u64,
    read_all: bool,
    ubuf: c_ulong,
    bufsize: usize,
) -> Result<(usize, u64), u32> {
    // Until spawned agents exist the only agent is a:00000, the ancestor of every agent.
    let target = match aid {
        AID_ANY => None,
        AID_SELF => Some(caller),
        0 => Some(0),
        _ => return Err(bindings::ESRCH),
    };
    let ubuf = usize::try_from(ubuf).map_err(|_| bindings::EFAULT)?;
    let (oldest, next) =
        with_sealed(|s| (s.oldest, s.chain.as_ref().map_or(0, |c| c.next_seq())));
    let last = if to_seq == 0 {
        next
    } else {
        to_seq.saturating_add(1).min(next)
    };
    let mut writer = UserSlice::new(ubuf, bufsize).writer();
    let (mut bytes_out, mut rows_out) = (0usize, 0u64);
    let mut row = [0u8; AGENT_AUDIT_ROW_MAX];
    let mut seq = from_seq.max(oldest);
    while seq < last {
        let this = seq;
        seq = seq.saturating_add(1);
        let Some(len) = copy_row(this, &mut row) else {
            // Evicted since the bounds were read: the seq fields show the gap.
            continue;
        };
        let Some(bytes) = row.get(..len) else {
            continue;
        };
        let kind = bytes
            .get(AGENT_AUDIT_ROW_HDR_LEN.saturating_add(AUDIT_OFF_KIND)..)
            .and_then(|b| b.first_chunk::<4>())
            .map_or(0, |b| u32::from_le_bytes(*b));
        let subject = le_u64(bytes, AGENT_AUDIT_ROW_HDR_LEN.saturating_add(AUDIT_OFF_SUBJECT))
            .unwrap_or(u64::MAX);
        if kinds != 0 && kinds & 1u64.checked_shl(kind).unwrap_or(0) == 0 {
            continue;
        }
        // Visibility: every row is a:00000's or a descendant's, and only `read_all` sees
        // them until agents with rows of their own exist.
        if !read_all {
            continue;
        }
        if let Some(t) = target {
            if !(subtree && t == 0) && subject != t {
                continue;
            }
        }
        if bufsize.saturating_sub(bytes_out) < len {
            if rows_out == 0 {
                return Err(bindings::ERANGE);
            }
            break;
        }
        writer.write_slice(bytes).map_err(|_| bindings::EFAULT)?;
        bytes_out = bytes_out.saturating_add(len);
        rows_out = rows_out.saturating_add(1);
    }
    Ok((bytes_out, rows_out))
}
