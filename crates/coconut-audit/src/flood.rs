//! Flood control: malformed calls are sealed one row each while the caller's agent has tokens,
//! and counted into one `suppressed` row per agent per second beyond that.
//!
//! Job: [`FloodTable`] holds a token bucket per agent (burst [`FLOOD_BURST`], refill
//! [`FLOOD_REFILL_PER_SEC`] a second) and the failures counted since the agent's bucket ran
//! dry. [`FloodTable::charge`] decides for one malformed call (a `pure` or `copy` row of its
//! Errors table in `docs/abi.md`): seal its own row, count it, or seal the agent's
//! [`Suppressed`] row for the window that ended (the caller's reserved slot carries that row;
//! the call itself starts the next window). [`FloodTable::take_due`] hands out the windows a
//! second old that nobody's next call closed (the kernel's flush work seals them), so every
//! counted call reaches a row within about a second. Calls that reach an authorisation
//! decision never come here: they are always sealed individually.
//!
//! Constraints: no_std, no heap, no panics, no division by a variable; the table is a fixed
//! array of [`FLOOD_SLOTS`] agents. When every slot is busy (more agents flooding at once than
//! slots), a new agent's calls are sealed individually and counted in
//! [`FloodTable::untracked`]: nothing is ever dropped, the limit just does not apply to it.

use super::abi::AuditKind;
use super::DetailBuf;
use core::fmt::Write;

/// Malformed calls an agent may make in a burst, each sealed in its own row.
pub const FLOOD_BURST: u64 = 32;
/// Tokens an agent's bucket regains per second.
pub const FLOOD_REFILL_PER_SEC: u64 = 8;
/// How long a window of counted calls stays open before its `suppressed` row is due (ns).
pub const FLOOD_WINDOW_NS: u64 = 1_000_000_000;
/// Agents tracked at once.
pub const FLOOD_SLOTS: usize = 64;

/// Token amounts are kept in thousandths of a token.
const MILLI: u64 = 1000;
/// A full bucket, in thousandths.
const FULL: u64 = FLOOD_BURST * MILLI;
/// Nanoseconds per thousandth of a token (1e9 / (8 * 1000) = 125 000).
const NS_PER_MILLI: u64 = 1_000_000_000 / (FLOOD_REFILL_PER_SEC * MILLI);
/// The longest gap that matters: after it the bucket is full whatever it held.
const REFILL_CAP_NS: u64 = FULL * NS_PER_MILLI;

/// What to do with one malformed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Seal the call's own row (a token was taken, or the agent is not tracked).
    Seal,
    /// The call was counted: give its reserved slot back, make sure the flush runs.
    Counted,
    /// Seal this `suppressed` row in the call's slot instead of the call's own row; the call
    /// was counted in the agent's next window.
    SealSuppressed(Suppressed),
}

/// The counted calls of one agent's window: the content of a `suppressed` row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppressed {
    /// The agent that made the calls (the row's actor and subject).
    pub aid: u64,
    /// How many calls were counted.
    pub count: u64,
    /// The kind of row the window's first call would have had.
    pub first_kind: AuditKind,
    /// That call's result (a negative errno).
    pub first_result: i32,
}

impl Suppressed {
    /// The row's detail: `count=<n> reason=rate_limit call=<syscall> errno=<n>` (the first
    /// counted call's syscall and errno, as a positive number).
    pub fn detail(&self) -> DetailBuf {
        let mut d = DetailBuf::new();
        let _ = write!(
            d,
            "count={} reason=rate_limit call={} errno={}",
            self.count,
            call_name(self.first_kind),
            self.first_result.unsigned_abs()
        );
        d
    }
}

/// The syscall whose row has this kind (the calls flood control applies to).
pub fn call_name(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::Spawn => "agent_spawn",
        AuditKind::Attest => "agent_attest",
        AuditKind::Quota => "agent_quota",
        AuditKind::CapGrant => "agent_cap_grant",
        AuditKind::CapRevoke => "agent_cap_revoke",
        AuditKind::AuditQuery => "agent_audit_query",
        AuditKind::MemoryTier => "agent_memory_tier",
        _ => "other",
    }
}

/// One tracked agent.
#[derive(Clone, Copy)]
struct Bucket {
    /// The agent, or [`FREE`].
    aid: u64,
    /// Tokens, in thousandths.
    tokens: u64,
    /// When `tokens` was last brought up to date (monotonic ns).
    refilled_ns: u64,
    /// Calls counted in the open window (0: no window open).
    count: u64,
    /// When the open window started (monotonic ns).
    window_ns: u64,
    /// The open window's first call.
    first_kind: AuditKind,
    first_result: i32,
}

/// The AID of an unused slot (above every AID the ABI allows).
const FREE: u64 = u64::MAX;

impl Bucket {
    const EMPTY: Bucket = Bucket {
        aid: FREE,
        tokens: FULL,
        refilled_ns: 0,
        count: 0,
        window_ns: 0,
        first_kind: AuditKind::Spawn,
        first_result: 0,
    };

    fn refill(&mut self, now_ns: u64) {
        let gap = now_ns.saturating_sub(self.refilled_ns).min(REFILL_CAP_NS);
        let gained = gap.wrapping_div(NS_PER_MILLI);
        self.tokens = self.tokens.saturating_add(gained).min(FULL);
        // Keep the remainder of a partial thousandth: advance by what was credited.
        self.refilled_ns = if gap == REFILL_CAP_NS {
            now_ns
        } else {
            self.refilled_ns
                .saturating_add(gained.saturating_mul(NS_PER_MILLI))
        };
    }

    fn due(&self, now_ns: u64) -> bool {
        self.count > 0 && now_ns.saturating_sub(self.window_ns) >= FLOOD_WINDOW_NS
    }

    /// Closes the open window: its row's content.
    fn take(&mut self) -> Suppressed {
        let s = Suppressed {
            aid: self.aid,
            count: self.count,
            first_kind: self.first_kind,
            first_result: self.first_result,
        };
        self.count = 0;
        s
    }

    fn open(&mut self, kind: AuditKind, result: i32, now_ns: u64) {
        self.count = 1;
        self.window_ns = now_ns;
        self.first_kind = kind;
        self.first_result = result;
    }

    /// Whether the slot can be given to another agent: nothing counted, a full bucket (which is
    /// what a new agent starts with, so forgetting it changes nothing).
    fn idle(&mut self, now_ns: u64) -> bool {
        if self.aid == FREE {
            return true;
        }
        self.refill(now_ns);
        self.count == 0 && self.tokens == FULL
    }
}

/// The token buckets and open windows of the agents making malformed calls.
pub struct FloodTable {
    slots: [Bucket; FLOOD_SLOTS],
    untracked: u64,
    counted: u64,
}

// No `Default`: the table is 3 KiB and lives in a static (the kernel's staging state), never in
// a stack frame, which `Default::default` would build it in.
impl FloodTable {
    /// An empty table (for a `static` initializer).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> FloodTable {
        FloodTable {
            slots: [Bucket::EMPTY; FLOOD_SLOTS],
            untracked: 0,
            counted: 0,
        }
    }

    /// Decides for one malformed call of `aid` (row kind `kind`, result `result`) at
    /// monotonic time `now_ns`.
    pub fn charge(&mut self, aid: u64, kind: AuditKind, result: i32, now_ns: u64) -> Charge {
        let at = match self.slots.iter().position(|b| b.aid == aid) {
            Some(i) => i,
            None => match self.slots.iter_mut().position(|b| b.idle(now_ns)) {
                Some(i) => {
                    if let Some(b) = self.slots.get_mut(i) {
                        *b = Bucket {
                            aid,
                            refilled_ns: now_ns,
                            ..Bucket::EMPTY
                        };
                    }
                    i
                }
                None => {
                    self.untracked = self.untracked.saturating_add(1);
                    return Charge::Seal;
                }
            },
        };
        let Some(b) = self.slots.get_mut(at) else {
            return Charge::Seal;
        };
        b.refill(now_ns);
        if b.due(now_ns) {
            let closed = b.take();
            b.open(kind, result, now_ns);
            self.counted = self.counted.saturating_add(1);
            return Charge::SealSuppressed(closed);
        }
        if b.count == 0 && b.tokens >= MILLI {
            b.tokens = b.tokens.saturating_sub(MILLI);
            return Charge::Seal;
        }
        if b.count == 0 {
            b.open(kind, result, now_ns);
        } else {
            b.count = b.count.saturating_add(1);
        }
        self.counted = self.counted.saturating_add(1);
        Charge::Counted
    }

    /// Closes one window that is at least [`FLOOD_WINDOW_NS`] old, if any: the `suppressed`
    /// row to seal now.
    pub fn take_due(&mut self, now_ns: u64) -> Option<Suppressed> {
        self.slots
            .iter_mut()
            .find(|b| b.due(now_ns))
            .map(Bucket::take)
    }

    /// Closes the open window of every agent, due or not (orderly shutdown, a test's flush).
    pub fn take_any(&mut self) -> Option<Suppressed> {
        self.slots
            .iter_mut()
            .find(|b| b.count > 0)
            .map(Bucket::take)
    }

    /// Whether any window is open (the flush must run again).
    pub fn pending(&self) -> bool {
        self.slots.iter().any(|b| b.count > 0)
    }

    /// Calls sealed individually because every slot was busy with another agent.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Calls counted into windows instead of sealed individually, since boot.
    pub fn counted(&self) -> u64 {
        self.counted
    }
}
