// SPDX-License-Identifier: GPL-2.0-only

//! The agent tree: every agent of this boot, its parent link, capability sets, budgets and
//! state, and the root keys that vouch for a:00000's children (`docs/abi.md`).
//!
//! Locking (`docs/abi.md`, "Design review resolutions", P1-9): one mutex, `agent_tree_lock`
//! in `agent.c` (6.12's Rust has no static mutex or RCU binding, so the lock is C), guards the
//! whole tree. Spawn-link, grant, revoke, quota, every state change and every capability read
//! run under it, so a revocation is atomic for every reader: no check on another CPU can see a
//! descendant keep a capability its ancestor has lost. Signature checks, copies and allocations
//! of a spawn run outside it; the subset rule is checked again under it when linking.
//!
//! The table is a vector of boxed agents sorted by AID (AIDs only grow, so a spawn appends and
//! a lookup is a binary search). Terminated agents keep a small record (no manifest bytes, no
//! capability sets) until [`GRAVEYARD_MAX`] of them exist; then the oldest is evicted and its
//! AID answers `ESRCH` like one that never existed. AIDs are never reused within a boot.
//!
//! Constraints: fallible allocation only (`GFP_KERNEL`, outside the lock where possible), no
//! panics on any input, capability sets always on the heap (a `CapSet` is ~4.5 KiB).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

use kernel::prelude::*;

use super::coconut_abi::limits::{
    AGENT_CAPS_MAX, AGENT_DEPTH_MAX, AGENT_MAX_AGENTS, AGENT_NAME_MAX, AGENT_QUOTA_UNLIMITED,
    AGENT_TENANT_MAX, AID_MAX,
};
use super::coconut_abi::{CapId, Errno, QuotaKind, State, Trigger};
use super::coconut_audit::DetailBuf;
use super::coconut_caps::{CapSet, CapSetError};

/// Terminated agents kept for inspection (`/agent/graveyard/`); the oldest is evicted past it.
pub(crate) const GRAVEYARD_MAX: usize = 4096;

/// Root keys a:00000 may trust at once (built in plus added by the operator).
pub(crate) const ROOT_KEYS_MAX: usize = 32;

/// The name a:00000 carries in attestations and agentfs.
pub(crate) const ROOT_NAME: &str = "coconutd";

extern "C" {
    fn coconut_agent_tree_lock();
    fn coconut_agent_tree_unlock();
    fn coconut_agent_now_ns() -> u64;
}

/// The clock of `since_ns` and budget periods (CLOCK_REALTIME, as audit rows).
pub(crate) fn now_ns() -> u64 {
    // SAFETY: a plain clock read.
    unsafe { coconut_agent_now_ns() }
}

/// The capabilities only an operator holds through a:00000: a task of a:00000 holds them only
/// with `CAP_SYS_ADMIN` in the initial user namespace (design review P0-1).
pub(crate) fn is_agent_api_cap(cap: CapId) -> bool {
    matches!(
        cap,
        CapId::AgentSpawn
            | CapId::AgentDelegate
            | CapId::AgentQuota
            | CapId::AgentAdmin
            | CapId::BrokerInference
            | CapId::BrokerNet
            | CapId::MemTier
    )
}

/// Who is calling: the calling task's agent and the kernel capabilities that stand in for
/// a:00000's agent-API powers.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    /// The calling task's agent.
    pub(crate) aid: u64,
    /// `capable(CAP_SYS_ADMIN)`: needed by a:00000 for every agent-API capability.
    pub(crate) sys_admin: bool,
    /// `capable(CAP_AUDIT_READ)`: needed by a:00000 for `audit.read`.
    pub(crate) audit_read: bool,
}

/// One budget of an agent.
#[derive(Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) limit: u64,
    pub(crate) used: u64,
    pub(crate) period_ns: u64,
    /// When the current period started (budgets with a period).
    pub(crate) period_start_ns: u64,
}

impl Budget {
    const UNLIMITED: Budget = Budget {
        limit: AGENT_QUOTA_UNLIMITED,
        used: 0,
        period_ns: 0,
        period_start_ns: 0,
    };

    /// Starts a new period when the current one has passed (`used` restarts at 0); whether it
    /// did.
    pub(crate) fn roll(&mut self, now: u64) -> bool {
        if self.period_ns == 0 || now.saturating_sub(self.period_start_ns) < self.period_ns {
            return false;
        }
        self.period_start_ns = now;
        let had = self.used != 0;
        self.used = 0;
        had
    }
}

/// The default period of each budget kind a manifest sets (`docs/formats/manifest.md`): cpu
/// per 100 ms, net per second, inference tokens per hour; ram and hbm have none.
pub(crate) const fn default_period_ns(kind: QuotaKind) -> u64 {
    match kind {
        QuotaKind::Cpu => 100_000_000,
        QuotaKind::Net => 1_000_000_000,
        QuotaKind::InferenceTokens => 3_600_000_000_000,
        QuotaKind::Ram | QuotaKind::Hbm => 0,
    }
}

/// The index of `kind` in [`Agent::budgets`].
pub(crate) fn kind_index(kind: QuotaKind) -> usize {
    (kind as usize).saturating_sub(1)
}

/// An agent. Terminated agents keep everything but `manifest`, `ceiling` and `caps`.
pub(crate) struct Agent {
    pub(crate) aid: u64,
    pub(crate) parent: u64,
    pub(crate) depth: u32,
    pub(crate) state: State,
    pub(crate) since_ns: u64,
    pub(crate) name: [u8; AGENT_NAME_MAX],
    pub(crate) name_len: u8,
    pub(crate) tenant: [u8; AGENT_TENANT_MAX],
    pub(crate) tenant_len: u8,
    pub(crate) lane: u32,
    pub(crate) manifest_hash: [u8; 32],
    pub(crate) signer: [u8; 32],
    /// BLAKE3 of the bound set's canonical CBOR array, kept when the set is dropped.
    pub(crate) caps_hash: [u8; 32],
    /// The commit ticket of the `spawn` row (`None` for a:00000, whose link is the boot row).
    pub(crate) spawn_ticket: Option<u64>,
    /// Live (non-terminal) children.
    pub(crate) children: u32,
    /// Member tasks (threads included): joined at exec, forked, not yet exited.
    pub(crate) members: u32,
    /// Whether a task ever joined (an Attested agent that never had one is only released).
    pub(crate) had_member: bool,
    /// Denials in the current deny window, and when the window opened.
    pub(crate) denials: u32,
    pub(crate) window_start_ns: u64,
    /// The result recorded at termination (0, or the failed spawn's `-errno`).
    pub(crate) result: i32,
    pub(crate) budgets: [Budget; 5],
    /// The keys this agent trusts to sign its children's manifests (manifest `signers`).
    pub(crate) signers: KVec<[u8; 32]>,
    /// The signed envelope, as passed to `agent_spawn` (emptied at termination).
    pub(crate) manifest: KVec<u8>,
    /// The manifest's capability ceiling.
    pub(crate) ceiling: Option<KBox<CapSet>>,
    /// The bound capability set.
    pub(crate) caps: Option<KBox<CapSet>>,
}

impl Agent {
    pub(crate) fn name(&self) -> &str {
        text(&self.name, self.name_len)
    }

    pub(crate) fn tenant(&self) -> Option<&str> {
        if self.tenant_len == 0 {
            None
        } else {
            Some(text(&self.tenant, self.tenant_len))
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        !self.state.is_terminal()
    }

    pub(crate) fn budget(&self, kind: QuotaKind) -> Budget {
        self.budgets
            .get(kind_index(kind))
            .copied()
            .unwrap_or(Budget::UNLIMITED)
    }

    pub(crate) fn budget_mut(&mut self, kind: QuotaKind) -> Option<&mut Budget> {
        self.budgets.get_mut(kind_index(kind))
    }
}

/// The UTF-8 text of a fixed name buffer (names are checked ASCII when stored).
fn text(buf: &[u8], len: u8) -> &str {
    buf.get(..usize::from(len))
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// Copies `src` into a fixed buffer; its length (truncated to the buffer).
pub(crate) fn store(dst: &mut [u8], src: &str) -> u8 {
    let n = src.len().min(dst.len()).min(usize::from(u8::MAX));
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.as_bytes().get(..n)) {
        d.copy_from_slice(s);
    }
    n as u8
}

/// A root key and where it came from.
#[derive(Clone, Copy)]
pub(crate) struct RootKey {
    pub(crate) key: [u8; 32],
    /// Compiled in (`CONFIG_COCONUT_AGENT_ROOT_KEYS`) rather than added through agentfs.
    pub(crate) built_in: bool,
    /// Revoked by the operator: refused for the rest of the boot, and never re-added.
    pub(crate) revoked: bool,
}

/// The whole tree.
pub(crate) struct Tree {
    /// Every agent still addressable, sorted by AID; a:00000 first once initialised.
    pub(crate) agents: KVec<KBox<Agent>>,
    /// The next AID to give.
    pub(crate) next_aid: u64,
    /// Agents in a non-terminal state, a:00000 included.
    pub(crate) live: usize,
    /// Terminated agents still kept.
    pub(crate) dead: usize,
    /// Terminated agents evicted from the graveyard since boot.
    pub(crate) evicted: u64,
    /// a:00000's signers.
    pub(crate) root_keys: KVec<RootKey>,
}

struct Guarded(UnsafeCell<Tree>);

// SAFETY: every access goes through `with_tree`, which holds `agent_tree_lock` for the whole
// closure, so no two threads touch the tree at once.
unsafe impl Sync for Guarded {}

static TREE: Guarded = Guarded(UnsafeCell::new(Tree {
    agents: KVec::new(),
    next_aid: 1,
    live: 0,
    dead: 0,
    evicted: 0,
    root_keys: KVec::new(),
}));

/// Runs `f` on the tree under the tree mutex (may sleep: process context only).
pub(crate) fn with_tree<R>(f: impl FnOnce(&mut Tree) -> R) -> R {
    // SAFETY: the C helper takes `agent_tree_lock` (a mutex); released below.
    unsafe { coconut_agent_tree_lock() };
    // SAFETY: the mutex that guards `TREE` is held until the unlock below, so this is the only
    // reference to it; `f` does not call back in here (panics abort the kernel).
    let result = f(unsafe { &mut *TREE.0.get() });
    // SAFETY: taken above by this thread.
    unsafe { coconut_agent_tree_unlock() };
    result
}

/// A new, empty capability set on the heap (never built on the stack: it is ~4.5 KiB).
pub(crate) fn new_capset() -> Result<KBox<CapSet>, Errno> {
    let mut b = KBox::<CapSet>::new_uninit(GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    let slot: &mut MaybeUninit<CapSet> = &mut b;
    // SAFETY: `slot` is valid for writes of one `CapSet`; all-zero bytes are a valid empty
    // `CapSet` (documented by `coconut_caps`: "all-zero bytes are an empty set").
    unsafe { core::ptr::write_bytes(slot.as_mut_ptr(), 0, 1) };
    // SAFETY: initialised just above.
    Ok(unsafe { b.assume_init() })
}

/// The errno of a failed capability-set insertion: a full set is `E2BIG`; anything else a
/// malformed entry (`EINVAL`).
pub(crate) fn set_errno(e: CapSetError) -> Errno {
    match e {
        CapSetError::Full | CapSetError::ArenaFull => Errno::E2BIG,
        _ => Errno::EINVAL,
    }
}

/// BLAKE3 of a capability set's canonical CBOR array of `name[:scope]` texts.
pub(crate) fn caps_hash(set: &CapSet) -> Result<[u8; 32], Errno> {
    // The array head, then per entry a text head (at most 3 bytes) and the text.
    let max = set
        .rendered_len()
        .saturating_add(AGENT_CAPS_MAX.saturating_mul(4))
        .saturating_add(9);
    let mut buf = KVec::<u8>::with_capacity(max, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    buf.extend_with(max, 0, GFP_KERNEL)
        .map_err(|_| Errno::ENOMEM)?;
    let len = encode_caps(set, &mut buf)?;
    let bytes = buf.get(..len).ok_or(Errno::ENOMEM)?;
    Ok(super::coconut_blake3::hash(bytes))
}

/// Encodes `set` as a canonical CBOR array of texts into `out`; the length.
fn encode_caps(set: &CapSet, out: &mut [u8]) -> Result<usize, Errno> {
    let mut e = super::coconut_cbor::Encoder::new(out);
    e.array(set.len() as u64).map_err(|_| Errno::ENOMEM)?;
    let mut line = [0u8; 16 + 1 + 256];
    for (cap, scope) in set.iter() {
        let name = cap.name().as_bytes();
        let mut n = name.len();
        if let Some(d) = line.get_mut(..n) {
            d.copy_from_slice(name);
        }
        if !scope.is_empty() {
            if let Some(c) = line.get_mut(n) {
                *c = b':';
            }
            n = n.saturating_add(1);
            let end = n.saturating_add(scope.len());
            if let Some(d) = line.get_mut(n..end) {
                d.copy_from_slice(scope);
            }
            n = end;
        }
        let t = line
            .get(..n)
            .and_then(|b| core::str::from_utf8(b).ok())
            .ok_or(Errno::EINVAL)?;
        e.text(t).map_err(|_| Errno::ENOMEM)?;
    }
    Ok(e.len())
}

impl Tree {
    /// The index of agent `aid`.
    pub(crate) fn index(&self, aid: u64) -> Option<usize> {
        // A binary search over `lo..hi` (core's `binary_search_by` brings overflow panics).
        let (mut lo, mut hi) = (0usize, self.agents.len());
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            let here = self.agents.get(mid)?.aid;
            if here == aid {
                return Some(mid);
            } else if here < aid {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        None
    }

    pub(crate) fn get(&self, aid: u64) -> Option<&Agent> {
        self.index(aid).and_then(|i| self.agents.get(i)).map(|b| &**b)
    }

    pub(crate) fn get_mut(&mut self, aid: u64) -> Option<&mut Agent> {
        let i = self.index(aid)?;
        self.agents.get_mut(i).map(|b| &mut **b)
    }

    /// Whether `anc` is a strict ancestor of `aid` (a walk up at most `AGENT_DEPTH_MAX` links).
    pub(crate) fn is_strict_ancestor(&self, anc: u64, aid: u64) -> bool {
        let mut cur = aid;
        for _ in 0..=AGENT_DEPTH_MAX {
            let Some(a) = self.get(cur) else {
                return false;
            };
            if a.aid == 0 {
                return false;
            }
            if a.parent == anc {
                return true;
            }
            cur = a.parent;
        }
        false
    }

    /// Whether `aid` is `root` or one of its descendants.
    pub(crate) fn in_subtree(&self, root: u64, aid: u64) -> bool {
        aid == root || self.is_strict_ancestor(root, aid)
    }

    /// Whether the caller sees `aid` (`docs/abi.md`, "Visibility"): itself, and its
    /// descendants. a:00000 sees its descendants (every agent) only with `CAP_SYS_ADMIN`.
    pub(crate) fn sees(&self, caller: &Caller, aid: u64) -> bool {
        if self.get(aid).is_none() {
            return false;
        }
        if aid == caller.aid {
            return true;
        }
        if caller.aid == 0 && !caller.sys_admin {
            return false;
        }
        self.is_strict_ancestor(caller.aid, aid)
    }

    /// Whether agent `aid` holds an entry covering (`cap`, `scope`), as the calling task
    /// `caller` sees it: a:00000 holds everything, its agent-API capabilities only for a task
    /// with `CAP_SYS_ADMIN` (and `audit.read` with `CAP_AUDIT_READ`).
    pub(crate) fn holds(&self, caller: &Caller, aid: u64, cap: CapId, scope: &[u8]) -> bool {
        if aid == 0 {
            return if cap == CapId::AuditRead {
                caller.audit_read
            } else if is_agent_api_cap(cap) {
                caller.sys_admin
            } else {
                true
            };
        }
        self.get(aid)
            .and_then(|a| a.caps.as_deref())
            .is_some_and(|set| set.contains(cap, scope))
    }

    /// The trusted signers of `aid`'s children: the root keys for a:00000.
    pub(crate) fn trusts(&self, aid: u64, key: &[u8; 32]) -> bool {
        if aid == 0 {
            return self.root_keys.iter().any(|k| !k.revoked && &k.key == key);
        }
        self.get(aid).is_some_and(|a| a.signers.iter().any(|k| k == key))
    }

    /// The AIDs of `root` and its live descendants, in AID order (parents before children).
    pub(crate) fn live_subtree(&self, root: u64) -> impl Iterator<Item = u64> + '_ {
        self.agents
            .iter()
            .filter(move |a| a.is_live() && self.in_subtree(root, a.aid))
            .map(|a| a.aid)
    }

    /// Moves `aid` along the edge `trigger`; the `(from, to)` pair if the state changed.
    pub(crate) fn transition(&mut self, aid: u64, trigger: Trigger) -> Option<(State, State)> {
        let now = now_ns();
        let a = self.get_mut(aid)?;
        let from = a.state;
        let to = from.next(trigger)?;
        a.state = to;
        a.since_ns = now;
        if to.is_terminal() {
            self.terminated(aid);
        }
        Some((from, to))
    }

    /// Bookkeeping of an agent that just entered a terminal state: its sets and manifest go
    /// (the caps hash stays), its parent loses a live child, the graveyard gains it.
    fn terminated(&mut self, aid: u64) {
        let mut parent = None;
        if let Some(a) = self.get_mut(aid) {
            if let Some(set) = a.caps.as_deref() {
                if let Ok(h) = caps_hash(set) {
                    a.caps_hash = h;
                }
            }
            a.caps = None;
            a.ceiling = None;
            a.manifest = KVec::new();
            parent = Some(a.parent);
        }
        if let Some(p) = parent.and_then(|p| self.get_mut(p)) {
            p.children = p.children.saturating_sub(1);
        }
        self.live = self.live.saturating_sub(1);
        self.dead = self.dead.saturating_add(1);
    }

    /// Evicts the oldest terminated agent while more than [`GRAVEYARD_MAX`] are kept; the
    /// evicted AID (for agentfs), if any.
    pub(crate) fn evict_one(&mut self) -> Option<u64> {
        if self.dead <= GRAVEYARD_MAX {
            return None;
        }
        let i = self.agents.iter().position(|a| !a.is_live())?;
        let len = self.agents.len();
        let aid = self.agents.get(i)?.aid;
        let tail = len.checked_sub(i)?.checked_sub(1)?;
        let ptr = self.agents.as_mut_ptr();
        // SAFETY: `i < len`: the victim at `i` is read out once; the `tail` initialised
        // elements after it move down by one (overlapping copy), and the length shrinks by one
        // before anything else touches the vector, so every element is owned exactly once.
        let victim = unsafe {
            let v = core::ptr::read(ptr.add(i));
            core::ptr::copy(ptr.add(i).add(1), ptr.add(i), tail);
            self.agents.set_len(len.saturating_sub(1));
            v
        };
        drop(victim);
        self.dead = self.dead.saturating_sub(1);
        self.evicted = self.evicted.saturating_add(1);
        Some(aid)
    }

    /// Whether one more live agent, at `depth`, fits the limits.
    pub(crate) fn room_for(&self, depth: u32) -> bool {
        self.live < AGENT_MAX_AGENTS as usize && depth <= AGENT_DEPTH_MAX && self.next_aid <= AID_MAX
    }
}

/// Creates a:00000 (Active from boot to power-off, holding every capability unscoped) and
/// loads the built-in root keys from `keys` (space-separated 64-hex keys); the number loaded.
pub(crate) fn init(keys: &str) -> Result<usize, Errno> {
    let mut caps = new_capset()?;
    for id in 1..=u32::MAX {
        let Ok(cap) = CapId::from_id(id) else {
            break;
        };
        caps.insert(cap, b"").map_err(set_errno)?;
    }
    let mut ceiling = new_capset()?;
    ceiling.assign(&caps);
    let hash = caps_hash(&caps)?;
    let mut name = [0u8; AGENT_NAME_MAX];
    let name_len = store(&mut name, ROOT_NAME);
    let root = KBox::new(
        Agent {
            aid: 0,
            parent: 0,
            depth: 0,
            state: State::Active,
            since_ns: now_ns(),
            name,
            name_len,
            tenant: [0; AGENT_TENANT_MAX],
            tenant_len: 0,
            lane: 0,
            manifest_hash: super::coconut_blake3::hash(b""),
            signer: [0; 32],
            caps_hash: hash,
            spawn_ticket: None,
            children: 0,
            members: 0,
            had_member: false,
            denials: 0,
            window_start_ns: 0,
            result: 0,
            budgets: [Budget::UNLIMITED; 5],
            signers: KVec::new(),
            manifest: KVec::new(),
            ceiling: Some(ceiling),
            caps: Some(caps),
        },
        GFP_KERNEL,
    )
    .map_err(|_| Errno::ENOMEM)?;
    let mut loaded: usize = 0;
    let mut parsed = KVec::<RootKey>::new();
    for word in keys.split_ascii_whitespace() {
        match parse_key(word.as_bytes()) {
            Some(key) => {
                parsed
                    .push(
                        RootKey {
                            key,
                            built_in: true,
                            revoked: false,
                        },
                        GFP_KERNEL,
                    )
                    .map_err(|_| Errno::ENOMEM)?;
                loaded = loaded.saturating_add(1);
            }
            None => pr_err!("ignoring a malformed built-in root key (not 64 hex digits)\n"),
        }
    }
    with_tree(|t| {
        if t.agents.is_empty() {
            t.agents.push(root, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
            t.live = 1;
        }
        t.root_keys = parsed;
        Ok(loaded)
    })
}

/// Parses 64 hex digits (either case) into a key.
pub(crate) fn parse_key(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, out) in key.iter_mut().enumerate() {
        let hi = nibble(*hex.get(i.checked_mul(2)?)?)?;
        let lo = nibble(*hex.get(i.checked_mul(2)?.checked_add(1)?)?)?;
        *out = (hi << 4) | lo;
    }
    Some(key)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// Writes `bytes` as lowercase hex.
pub(crate) fn write_hex(out: &mut impl core::fmt::Write, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{:02x}", b);
    }
}

/// Applies one line written to `/agent/policy/signers`: `add <64 hex>` or `revoke <64 hex>`.
/// `EINVAL` for anything else, `EPERM` to re-add a revoked key, `E2BIG` past
/// [`ROOT_KEYS_MAX`] keys. The caller checked `CAP_SYS_ADMIN`.
pub(crate) fn policy_signers_line(line: &[u8]) -> Result<(), Errno> {
    let text = core::str::from_utf8(line).map_err(|_| Errno::EINVAL)?;
    let mut words = text.split_ascii_whitespace();
    let (Some(op), Some(hex), None) = (words.next(), words.next(), words.next()) else {
        return Err(Errno::EINVAL);
    };
    let key = parse_key(hex.as_bytes()).ok_or(Errno::EINVAL)?;
    with_tree(|t| {
        let existing = t.root_keys.iter_mut().find(|k| k.key == key);
        match (op, existing) {
            ("add", Some(k)) if k.revoked => Err(Errno::EPERM),
            ("add", Some(_)) => Ok(()),
            ("add", None) => {
                if t.root_keys.len() >= ROOT_KEYS_MAX {
                    return Err(Errno::E2BIG);
                }
                t.root_keys
                    .push(
                        RootKey {
                            key,
                            built_in: false,
                            revoked: false,
                        },
                        GFP_KERNEL,
                    )
                    .map_err(|_| Errno::ENOMEM)
            }
            ("revoke", Some(k)) => {
                k.revoked = true;
                Ok(())
            }
            ("revoke", None) => {
                if t.root_keys.len() >= ROOT_KEYS_MAX {
                    return Err(Errno::E2BIG);
                }
                t.root_keys
                    .push(
                        RootKey {
                            key,
                            built_in: false,
                            revoked: true,
                        },
                        GFP_KERNEL,
                    )
                    .map_err(|_| Errno::ENOMEM)
            }
            _ => Err(Errno::EINVAL),
        }
    })?;
    let mut d = DetailBuf::new();
    write_hex(&mut d, &key);
    pr_notice!("policy/signers: {} root key {}\n", op, d.as_str());
    Ok(())
}
