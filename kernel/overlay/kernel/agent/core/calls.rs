// SPDX-License-Identifier: GPL-2.0-only

//! The kernel-state stages of the agent calls (the `kernel` rows of each Errors table of
//! `docs/abi.md`), after the pure and copy checks of `coconut_abi` have passed: what each call
//! decides, changes and records. The entry points (`agent_core.rs`) hold the audit slots; the
//! functions here seal `state` rows through [`Slots`] while the tree is locked, so the chain
//! records state changes in the order they happened.

use core::ffi::{c_long, c_ulong};
use core::fmt::Write as _;

use kernel::prelude::*;

use super::coconut_abi::limits::{
    AGENT_CAPS_MAX, AGENT_MANIFEST_MAX, AGENT_NAME_MAX, AGENT_QUOTA_UNLIMITED, AGENT_SIGNERS_MAX,
    AGENT_TENANT_MAX,
};
use super::coconut_abi::{
    AgentBudget, AgentSpawnArgs, AidTarget, AuditKind, CapId, CapRequest, Errno, QuotaKind,
    QuotaOp, QuotaRequest, State, Trigger, AGENT_GRANT_RELEASE, AGENT_REVOKE_ALL,
    AGENT_REVOKE_QUARANTINE, AGENT_SPAWN_PIDFD,
};
use super::coconut_audit::DetailBuf;
use super::coconut_manifest::{decode_body, decode_capset, decode_envelope, verify, CapSetIter};
use super::tree::{
    caps_hash, default_period_ns, new_capset, now_ns, set_errno, store, with_tree, write_hex,
    Agent, Budget, Caller, Tree,
};
use super::{copy_bytes, Slots};

extern "C" {
    fn coconut_agentfs_agent_added(aid: u64) -> core::ffi::c_int;
    fn coconut_agentfs_agent_ended(aid: u64);
    fn coconut_agentfs_agent_evicted(aid: u64);
    fn coconut_agent_kill_members(aid: u64);
    fn coconut_agent_pidfd_join(pidfd: core::ffi::c_int, caller: u64, aid: u64) -> core::ffi::c_int;
    fn coconut_audit_wait_sealed(ticket: u64, seq: *mut u64) -> core::ffi::c_int;
    fn coconut_audit_ticket_seq(ticket: u64, seq: *mut u64) -> bool;
    fn coconut_agent_copy_out(udst: c_ulong, src: *const u8, len: usize) -> core::ffi::c_int;
    fn coconut_agent_clear_out(udst: c_ulong, len: usize) -> core::ffi::c_int;
}

/// Why a kernel stage failed: an errno of the ABI, or a fatal signal while waiting (for an
/// audit slot or a sealed row), which is `-EINTR` and changed nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    Abi(Errno),
    Interrupted,
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Fail {
        Fail::Abi(e)
    }
}

impl Fail {
    /// The syscall return value.
    pub(crate) fn ret(self) -> c_long {
        match self {
            Fail::Abi(e) => -(e.get() as c_long),
            Fail::Interrupted => -(kernel::bindings::EINTR as c_long),
        }
    }
}

/// The AID a target names for `caller`.
pub(crate) fn resolve(caller: &Caller, target: AidTarget) -> u64 {
    match target {
        AidTarget::SelfAgent => caller.aid,
        AidTarget::Agent(aid) => aid.get(),
    }
}

/// Seals a `state` row for the edge `from -> to` of `aid`, caused by `trigger`.
fn state_row(slots: &mut Slots, actor: u64, aid: u64, edge: (State, State), trigger: Trigger) {
    let mut d = DetailBuf::new();
    let _ = write!(
        d,
        "from={} to={} why={}",
        edge.0.word(),
        edge.1.word(),
        trigger.name()
    );
    slots.seal(actor, AuditKind::State, aid, 0, d.as_str());
}

/// Moves `aid` along `trigger` and records the row; tells agentfs when it terminated.
/// Returns whether the state changed.
pub(crate) fn move_agent(
    t: &mut Tree,
    slots: &mut Slots,
    actor: u64,
    aid: u64,
    trigger: Trigger,
    ended: &mut Ended,
) -> bool {
    let Some(edge) = t.transition(aid, trigger) else {
        return false;
    };
    state_row(slots, actor, aid, edge, trigger);
    if edge.1.is_terminal() {
        ended.push(aid);
        while let Some(gone) = t.evict_one() {
            ended.evict(gone);
        }
    }
    true
}

/// Agents that terminated or were evicted under the lock: agentfs is told after unlocking.
pub(crate) struct Ended {
    ended: KVec<u64>,
    evicted: KVec<u64>,
}

impl Ended {
    pub(crate) fn new() -> Ended {
        Ended {
            ended: KVec::new(),
            evicted: KVec::new(),
        }
    }

    pub(crate) fn push(&mut self, aid: u64) {
        // On ENOMEM the agentfs link stays in live/ until the next change; the state is right.
        let _ = self.ended.push(aid, GFP_KERNEL);
    }

    pub(crate) fn evict(&mut self, aid: u64) {
        let _ = self.evicted.push(aid, GFP_KERNEL);
    }

    /// Updates agentfs (outside the tree lock).
    pub(crate) fn publish(self) {
        for aid in self.ended.iter() {
            // SAFETY: process context, no lock held.
            unsafe {
                coconut_agent_kill_members(*aid);
                coconut_agentfs_agent_ended(*aid);
            }
        }
        for aid in self.evicted.iter() {
            // SAFETY: process context, no lock held.
            unsafe { coconut_agentfs_agent_evicted(*aid) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// agent_spawn
// ---------------------------------------------------------------------------------------------

/// What a spawn knew when it stopped: the fields of its `spawn` row.
pub(crate) struct SpawnInfo {
    pub(crate) subject: u64,
    name: [u8; AGENT_NAME_MAX],
    name_len: u8,
    manifest_hash: Option<[u8; 32]>,
    signer: Option<[u8; 32]>,
    lane: Option<u32>,
}

impl SpawnInfo {
    pub(crate) fn new(caller: u64) -> SpawnInfo {
        SpawnInfo {
            subject: caller,
            name: [0; AGENT_NAME_MAX],
            name_len: 0,
            manifest_hash: None,
            signer: None,
            lane: None,
        }
    }

    /// `name=<name> manifest=<blake3 hex> signer=<key hex> lane=<n>`, the fields known.
    pub(crate) fn detail(&self, d: &mut DetailBuf) {
        let mut sep = "";
        if self.name_len > 0 {
            let name = self
                .name
                .get(..usize::from(self.name_len))
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or("");
            let _ = write!(d, "name={}", name);
            sep = " ";
        }
        if let Some(h) = &self.manifest_hash {
            let _ = write!(d, "{}manifest=", sep);
            write_hex(d, h);
            sep = " ";
        }
        if let Some(k) = &self.signer {
            let _ = write!(d, "{}signer=", sep);
            write_hex(d, k);
            sep = " ";
        }
        if let Some(l) = self.lane {
            let _ = write!(d, "{}lane={}", sep, l);
        }
    }
}

/// A user buffer copied into a new kernel vector (`ENOMEM`, `EFAULT`).
fn copy_vec(uaddr: u64, len: usize) -> Result<KVec<u8>, Errno> {
    let mut v = KVec::<u8>::with_capacity(len, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    v.extend_with(len, 0, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    copy_bytes(&mut v, uaddr as c_ulong)?;
    Ok(v)
}

/// Whether an agent in `state` may spawn children (Active, Cap-denied, Inference-blocked).
pub(crate) fn may_act(state: State) -> bool {
    matches!(
        state,
        State::Active | State::CapDenied | State::InferenceBlocked
    )
}

/// The caller-side checks of a spawn, in the revised order (design review P1-14): the
/// caller's `agent.spawn` (`EPERM`), its state (`EBUSY`), the signer's trust (`EPERM`).
fn spawn_caller_checks(t: &Tree, caller: &Caller, key: &[u8; 32]) -> Result<(), Errno> {
    if !t.holds(caller, caller.aid, CapId::AgentSpawn, b"") {
        return Err(Errno::EPERM);
    }
    let state = t.get(caller.aid).map(|a| a.state).ok_or(Errno::EPERM)?;
    if !may_act(state) {
        return Err(Errno::EBUSY);
    }
    if !t.trusts(caller.aid, key) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Fills a capability set from checked manifest or argument entries (`E2BIG`/`EINVAL` if it
/// cannot hold them; the decoder already bounded them to 64 valid entries).
fn fill(set: &mut super::coconut_caps::CapSet, entries: CapSetIter<'_>) -> Result<(), Errno> {
    for e in entries {
        set.insert(e.id, e.scope).map_err(set_errno)?;
    }
    Ok(())
}

/// `agent_spawn`'s stages after the argument checks. The spawn row is sealed by the caller
/// from `info` unless this sealed it (it does once an AID exists, under the lock, so the
/// agent's spawn ticket is known to attestations).
#[inline(never)]
pub(crate) fn spawn(
    caller: &Caller,
    args: &AgentSpawnArgs,
    slots: &mut Slots,
    info: &mut SpawnInfo,
) -> Result<u64, Fail> {
    // Bounded by the pure checks: manifest_len <= 16 KiB, caps_len <= 4 KiB.
    let mlen = usize::try_from(args.manifest_len).map_err(|_| Errno::E2BIG)?;
    if mlen > AGENT_MANIFEST_MAX as usize {
        return Err(Errno::E2BIG.into());
    }
    let manifest = copy_vec(args.manifest, mlen)?;
    let clen = usize::try_from(args.caps_len).map_err(|_| Errno::E2BIG)?;
    let capsbuf = if clen > 0 {
        copy_vec(args.caps, clen)?
    } else {
        KVec::new()
    };

    // Row 13: the shape of the envelope, the body and the caps argument.
    let env = decode_envelope(&manifest).map_err(|e| e.errno())?;
    let body = decode_body(env.body).map_err(|e| e.errno())?;
    let bind = if clen > 0 {
        decode_capset(&capsbuf).map_err(|e| e.errno())?
    } else {
        CapSetIter::empty()
    };
    info.name_len = store(&mut info.name, body.name);
    info.manifest_hash = Some(super::coconut_blake3::hash(&manifest));
    info.signer = Some(*env.key);
    info.lane = Some(args.lane);

    // Rows 14-16: cheap refusals before the signature (design review P1-14).
    with_tree(|t| spawn_caller_checks(t, caller, env.key))?;
    // Row 17: the signature, outside the lock.
    verify(&env).map_err(|e| e.errno())?;

    // Everything the new agent needs, allocated before the lock.
    let mut ceiling = new_capset()?;
    fill(&mut ceiling, body.caps()).map_err(|_| Errno::EINVAL)?;
    let mut bound = new_capset()?;
    fill(&mut bound, bind).map_err(|_| Errno::EINVAL)?;
    let mut signers = KVec::<[u8; 32]>::with_capacity(AGENT_SIGNERS_MAX, GFP_KERNEL)
        .map_err(|_| Errno::ENOMEM)?;
    for k in body.signers() {
        signers.push(*k, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    }
    let mut tenant = [0u8; AGENT_TENANT_MAX];
    let tenant_len = body.tenant.map_or(0, |t| store(&mut tenant, t));
    let manifest_hash = info.manifest_hash.unwrap_or([0; 32]);
    let name_len = info.name_len;
    let name = info.name;
    let budget = body.budget;

    // Row 19: tenant lanes are configured in /agent/policy/tenants/, which this kernel does
    // not have yet, so only lane 0 (the parent's) exists.
    if args.lane != 0 {
        return Err(Errno::EINVAL.into());
    }
    // Rows 20-22: the pidfd's task (design review P0-3: it joins at its next exec).
    let pidfd = if args.flags & AGENT_SPAWN_PIDFD != 0 {
        // SAFETY: process context, no lock held.
        let err = unsafe { coconut_agent_pidfd_join(args.pidfd, caller.aid, 0) };
        if err != 0 {
            return Err(Errno::from_raw(err.saturating_neg())
                .unwrap_or(Errno::EINVAL)
                .into());
        }
        Some(args.pidfd)
    } else {
        None
    };

    let mut agent = boxed_agent(
        caller.aid,
        &name,
        name_len,
        &tenant,
        tenant_len,
        &manifest_hash,
        env.key,
        signers,
        ceiling,
        bound,
    )?;
    agent.manifest = manifest;

    // Link it, re-checking the caller under the lock (a revoke may have run meanwhile).
    let aid = with_tree(|t| -> Result<u64, Errno> {
        spawn_caller_checks(t, caller, &agent.signer)?;
        let parent = t.get(caller.aid).ok_or(Errno::EPERM)?;
        let parent_caps = parent.caps.as_deref().ok_or(Errno::EPERM)?;
        let ceiling = agent.ceiling.as_deref().ok_or(Errno::EPERM)?;
        let bound = agent.caps.as_deref().ok_or(Errno::EPERM)?;
        // Row 18: caps ⊆ manifest caps ⊆ the caller's caps. a:00000's set holds every
        // capability unscoped, and its agent-API powers were checked with `holds` above.
        if !bound.is_subset_of(ceiling) || !ceiling.is_subset_of(parent_caps) {
            return Err(Errno::EPERM);
        }
        // Row 23: limits.
        let depth = parent.depth.saturating_add(1);
        if !t.room_for(depth) {
            return Err(Errno::EBUSY);
        }
        // Budgets: the manifest's values capped at the parent's limit; others inherited.
        let now = now_ns();
        for kind in QuotaKind::ALL {
            let p = parent.budget(kind);
            let limit = budget.get(kind).map_or(p.limit, |v| v.min(p.limit));
            let period_ns = if budget.get(kind).is_some() {
                default_period_ns(kind)
            } else {
                p.period_ns
            };
            if let Some(b) = agent.budget_mut(kind) {
                *b = Budget {
                    limit,
                    used: 0,
                    period_ns,
                    period_start_ns: now,
                };
            }
        }
        agent.depth = depth;
        t.agents.reserve(1, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
        let aid = t.next_aid;
        t.next_aid = aid.saturating_add(1);
        agent.aid = aid;
        Ok(aid)
    });
    let aid = aid?;
    with_tree(|t| {
        // Capacity was reserved above under the same lock; `push` cannot fail then, and the
        // AID order holds because AIDs are given under the lock.
        if t.agents.push(agent, GFP_KERNEL).is_ok() {
            t.live = t.live.saturating_add(1);
            if let Some(p) = t.get_mut(caller.aid) {
                p.children = p.children.saturating_add(1);
            }
        }
    });
    info.subject = aid;

    // /agent/a:NNNNN/ and live/a:NNNNN, and the member's pending join, outside the lock.
    // SAFETY: process context, no lock held.
    let mut fs_err = unsafe { coconut_agentfs_agent_added(aid) };
    if let (0, Some(fd)) = (fs_err, pidfd) {
        // SAFETY: process context, no lock held.
        fs_err = unsafe { coconut_agent_pidfd_join(fd, caller.aid, aid) };
    }
    let mut ended = Ended::new();
    let result = with_tree(|t| finish_spawn(t, slots, caller, aid, fs_err, info, &mut ended));
    ended.publish();
    result.map(|()| aid).map_err(Fail::from)
}

/// The new agent, in Spawning, on the heap (built in place by this out-of-line function so
/// the spawn path's stack stays small).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn boxed_agent(
    parent: u64,
    name: &[u8; AGENT_NAME_MAX],
    name_len: u8,
    tenant: &[u8; AGENT_TENANT_MAX],
    tenant_len: u8,
    manifest_hash: &[u8; 32],
    signer: &[u8; 32],
    signers: KVec<[u8; 32]>,
    ceiling: KBox<super::coconut_caps::CapSet>,
    bound: KBox<super::coconut_caps::CapSet>,
) -> Result<KBox<Agent>, Errno> {
    KBox::new(
        Agent {
            aid: 0,
            parent,
            depth: 0,
            state: State::Spawning,
            since_ns: now_ns(),
            name: *name,
            name_len,
            tenant: *tenant,
            tenant_len,
            lane: 0,
            manifest_hash: *manifest_hash,
            signer: *signer,
            caps_hash: [0; 32],
            spawn_ticket: None,
            children: 0,
            members: 0,
            had_member: false,
            denials: 0,
            window_start_ns: 0,
            result: 0,
            budgets: [Budget {
                limit: AGENT_QUOTA_UNLIMITED,
                used: 0,
                period_ns: 0,
                period_start_ns: 0,
            }; 5],
            signers,
            manifest: KVec::new(),
            ceiling: Some(ceiling),
            caps: Some(bound),
        },
        GFP_KERNEL,
    )
    .map_err(|_| Errno::ENOMEM)
}

/// The end of a spawn, under the lock: Attested, or Terminated-revoked when agentfs could
/// not make its directory or the parent stopped being able to spawn meanwhile; the `state`
/// and `spawn` rows, the spawn ticket stored with the agent.
#[inline(never)]
fn finish_spawn(
    t: &mut Tree,
    slots: &mut Slots,
    caller: &Caller,
    aid: u64,
    fs_err: core::ffi::c_int,
    info: &SpawnInfo,
    ended: &mut Ended,
) -> Result<(), Errno> {
    let parent_live = t.get(caller.aid).is_some_and(|p| may_act(p.state));
    let outcome = if t.get(aid).is_none() {
        Err(Errno::ENOMEM)
    } else if fs_err != 0 {
        Err(Errno::from_raw(fs_err.saturating_neg()).unwrap_or(Errno::ENOMEM))
    } else if !parent_live {
        Err(Errno::EBUSY)
    } else {
        Ok(())
    };
    let trigger = if outcome.is_ok() {
        Trigger::SpawnVerified
    } else {
        Trigger::SpawnFailed
    };
    if let (Err(e), Some(a)) = (outcome, t.get_mut(aid)) {
        a.result = -e.get();
    }
    move_agent(t, slots, caller.aid, aid, trigger, ended);
    let mut d = DetailBuf::new();
    info.detail(&mut d);
    let ret: c_long = match outcome {
        Ok(()) => 0,
        Err(e) => -(e.get() as c_long),
    };
    let ticket = slots.seal(caller.aid, AuditKind::Spawn, aid, ret, d.as_str());
    if let Some(a) = t.get_mut(aid) {
        a.spawn_ticket = ticket;
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// agent_attest
// ---------------------------------------------------------------------------------------------

/// The deepest chain: a:00000 plus `AGENT_DEPTH_MAX` (32) levels.
const CHAIN_MAX: usize = 33;

/// Bytes an encoded chain can need: per link at most ~260 bytes (eight keys, three 32-byte
/// strings, a 64-byte name, four integers).
const CHAIN_BYTES_MAX: usize = CHAIN_MAX * 320;

/// The AIDs from a:00000 down to `aid` (root first) and the number of links. Out of line, as
/// is [`encode_chain`]: inlined into `attest` under -O2 their arrays made a 1384-byte frame.
#[inline(never)]
fn chain_of(t: &Tree, aid: u64) -> Option<([u64; CHAIN_MAX], usize)> {
    let mut up = [0u64; CHAIN_MAX];
    let mut n = 0usize;
    let mut cur = aid;
    loop {
        let a = t.get(cur)?;
        *up.get_mut(n)? = cur;
        n = n.saturating_add(1);
        if a.aid == 0 {
            break;
        }
        cur = a.parent;
    }
    let mut down = [0u64; CHAIN_MAX];
    for i in 0..n {
        *down.get_mut(i)? = *up.get(n.saturating_sub(1).saturating_sub(i))?;
    }
    Some((down, n))
}

/// Encodes the chain of `aid` (`docs/abi.md`, `agent_attest`): a canonical CBOR array of link
/// maps, keys in canonical order `aid`, `name`, `state`, `parent`, `signer`, `caps_hash`,
/// `spawn_seq`, `manifest_hash` (a:00000 has no `parent`). `None` if an agent of the chain is
/// gone (`ESRCH`) or `Ok(None)` if a spawn row is not sealed yet.
#[inline(never)]
fn encode_chain(t: &Tree, aid: u64, out: &mut [u8]) -> Result<Option<(usize, usize)>, Errno> {
    let (links, n) = chain_of(t, aid).ok_or(Errno::ESRCH)?;
    let mut e = super::coconut_cbor::Encoder::new(out);
    let full = |_| Errno::ENOMEM;
    e.array(n as u64).map_err(full)?;
    for link in links.get(..n).unwrap_or(&[]).iter() {
        let a = t.get(*link).ok_or(Errno::ESRCH)?;
        let caps_hash = match a.caps.as_deref() {
            Some(set) => caps_hash(set)?,
            None => a.caps_hash,
        };
        let spawn_seq = match a.spawn_ticket {
            None => 0,
            Some(ticket) => {
                let mut seq = 0u64;
                // SAFETY: `seq` is a writable u64 on this stack.
                if !unsafe { coconut_audit_ticket_seq(ticket, &mut seq) } {
                    return Ok(None);
                }
                seq
            }
        };
        let root = a.aid == 0;
        e.map(if root { 7 } else { 8 }).map_err(full)?;
        e.text("aid").map_err(full)?;
        e.u64(a.aid).map_err(full)?;
        e.text("name").map_err(full)?;
        e.text(a.name()).map_err(full)?;
        e.text("state").map_err(full)?;
        e.u64(a.state as u64).map_err(full)?;
        if !root {
            e.text("parent").map_err(full)?;
            e.u64(a.parent).map_err(full)?;
        }
        e.text("signer").map_err(full)?;
        e.bytes(&a.signer).map_err(full)?;
        e.text("caps_hash").map_err(full)?;
        e.bytes(&caps_hash).map_err(full)?;
        e.text("spawn_seq").map_err(full)?;
        e.u64(spawn_seq).map_err(full)?;
        e.text("manifest_hash").map_err(full)?;
        e.bytes(&a.manifest_hash).map_err(full)?;
    }
    Ok(Some((e.len(), n)))
}

/// `agent_attest` for a chain: its length (written to `ubuf` when `size > 0`) and the number
/// of links. Waits (killable) until every spawn row of the chain is sealed.
pub(crate) fn attest(
    caller: &Caller,
    target: AidTarget,
    ubuf: c_ulong,
    size: usize,
) -> Result<(usize, usize), Fail> {
    let aid = resolve(caller, target);
    let mut buf = KVec::<u8>::with_capacity(CHAIN_BYTES_MAX, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
    buf.extend_with(CHAIN_BYTES_MAX, 0, GFP_KERNEL)
        .map_err(|_| Errno::ENOMEM)?;
    loop {
        let attempt = with_tree(|t| -> Result<Result<(usize, usize), u64>, Errno> {
            if !t.sees(caller, aid) {
                return Err(Errno::ESRCH);
            }
            match encode_chain(t, aid, &mut buf)? {
                Some(r) => Ok(Ok(r)),
                None => {
                    // The newest spawn ticket of the chain: sealing is in ticket order.
                    let (links, n) = chain_of(t, aid).ok_or(Errno::ESRCH)?;
                    let newest = links
                        .get(..n)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(|l| t.get(*l).and_then(|a| a.spawn_ticket))
                        .max()
                        .unwrap_or(0);
                    Ok(Err(newest))
                }
            }
        })?;
        match attempt {
            Ok((len, links)) => {
                if size > 0 {
                    if len > size {
                        return Err(Errno::ERANGE.into());
                    }
                    let bytes = buf.get(..len).ok_or(Errno::ENOMEM)?;
                    copy_out(ubuf, bytes)?;
                }
                return Ok((len, links));
            }
            Err(ticket) => {
                let mut seq = 0u64;
                // SAFETY: process context, no lock held; `seq` is a writable u64.
                if unsafe { coconut_audit_wait_sealed(ticket, &mut seq) } != 0 {
                    return Err(Fail::Interrupted);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// agent_quota
// ---------------------------------------------------------------------------------------------

/// Writes the quota row's detail for SET or CHARGE.
pub(crate) fn quota_detail(d: &mut DetailBuf, req: &QuotaRequest, b: &AgentBudget, used: u64) {
    match req.op {
        QuotaOp::Set => {
            let _ = write!(d, "op=set kind={} limit=", req.kind.name());
            if b.limit == AGENT_QUOTA_UNLIMITED {
                let _ = d.write_str("max");
            } else {
                let _ = write!(d, "{}", b.limit);
            }
            let _ = write!(d, " period_ns={}", b.period_ns);
        }
        QuotaOp::Charge => {
            let _ = write!(
                d,
                "op=charge kind={} amount={} used={}",
                req.kind.name(),
                b.used,
                used
            );
        }
        QuotaOp::Get => {}
    }
}

/// Rolls the period of `kind` of `aid` and applies a rollover's state change.
fn roll(t: &mut Tree, slots: &mut Slots, actor: u64, aid: u64, kind: QuotaKind, ended: &mut Ended) {
    let now = now_ns();
    let Some(a) = t.get_mut(aid) else {
        return;
    };
    let Some(b) = a.budget_mut(kind) else {
        return;
    };
    b.roll(now);
    let restored = kind == QuotaKind::InferenceTokens && b.used < b.limit;
    if restored && a.state == State::InferenceBlocked {
        move_agent(t, slots, actor, aid, Trigger::BudgetRestored, ended);
    }
}

/// `agent_quota`'s kernel stages; GET returns the budget, SET and CHARGE `None`. For CHARGE,
/// `*used_after` is the consumption after the charge (for the row).
pub(crate) fn quota(
    caller: &Caller,
    req: &QuotaRequest,
    input: &AgentBudget,
    slots: &mut Slots,
    used_after: &mut u64,
) -> Result<Option<AgentBudget>, Fail> {
    let aid = resolve(caller, req.target);
    let kind = req.kind;
    let mut ended = Ended::new();
    let r = with_tree(|t| -> Result<Option<AgentBudget>, Fail> {
        // Row 14: visibility. CHARGE is for brokers: they see every agent for their kind.
        let broker_cap = match kind {
            QuotaKind::InferenceTokens => Some(CapId::BrokerInference),
            QuotaKind::Net => Some(CapId::BrokerNet),
            _ => None,
        };
        let broker = broker_cap.is_some_and(|c| t.holds(caller, caller.aid, c, b""));
        let visible = t.sees(caller, aid) || (req.op == QuotaOp::Charge && broker && t.get(aid).is_some());
        if !visible {
            return Err(Errno::ESRCH.into());
        }
        roll(t, slots, caller.aid, aid, kind, &mut ended);
        match req.op {
            QuotaOp::Get => {
                let b = t.get(aid).ok_or(Errno::ESRCH)?.budget(kind);
                Ok(Some(AgentBudget {
                    limit: b.limit,
                    used: b.used,
                    period_ns: b.period_ns,
                    reserved: 0,
                }))
            }
            QuotaOp::Set => {
                // Row 15: a strict ancestor holding agent.quota, within its own limit; never
                // a:00000 (design review P0-1).
                if aid == 0
                    || !t.is_strict_ancestor(caller.aid, aid)
                    || !t.holds(caller, caller.aid, CapId::AgentQuota, b"")
                {
                    return Err(Errno::EPERM.into());
                }
                let own = t.get(caller.aid).ok_or(Errno::EPERM)?.budget(kind).limit;
                if input.limit > own {
                    return Err(Errno::EPERM.into());
                }
                // Row 17.
                let a = t.get_mut(aid).ok_or(Errno::ESRCH)?;
                if !a.is_live() {
                    return Err(Errno::EBUSY.into());
                }
                let b = a.budget_mut(kind).ok_or(Errno::EINVAL)?;
                b.limit = input.limit;
                b.period_ns = input.period_ns;
                b.period_start_ns = now_ns();
                let unblocked = kind == QuotaKind::InferenceTokens && b.used < b.limit;
                let state = a.state;
                // Descendants' limits above the new one come down to it.
                let lower: KVec<u64> = {
                    let mut v = KVec::new();
                    for d in t.agents.iter() {
                        if d.aid != aid && d.is_live() && t.is_strict_ancestor(aid, d.aid) {
                            let _ = v.push(d.aid, GFP_KERNEL);
                        }
                    }
                    v
                };
                for d in lower.iter() {
                    if let Some(b) = t.get_mut(*d).and_then(|a| a.budget_mut(kind)) {
                        b.limit = b.limit.min(input.limit);
                    }
                }
                if unblocked && state == State::InferenceBlocked {
                    move_agent(t, slots, caller.aid, aid, Trigger::BudgetRestored, &mut ended);
                }
                Ok(None)
            }
            QuotaOp::Charge => {
                // Row 16: the broker capability of the kind; a:00000 is never charged.
                if !broker || aid == 0 {
                    return Err(Errno::EPERM.into());
                }
                let a = t.get_mut(aid).ok_or(Errno::ESRCH)?;
                if !a.is_live() {
                    return Err(Errno::EBUSY.into());
                }
                let b = a.budget_mut(kind).ok_or(Errno::EINVAL)?;
                b.used = b.used.saturating_add(input.used);
                *used_after = b.used;
                let exhausted = b.used >= b.limit;
                if exhausted {
                    if kind == QuotaKind::InferenceTokens {
                        move_agent(t, slots, caller.aid, aid, Trigger::TokensExhausted, &mut ended);
                    }
                    return Err(Errno::EDQUOT.into());
                }
                Ok(None)
            }
        }
    });
    ended.publish();
    r
}

/// Copies a budget out with `copy_struct_to_user` semantics: `min(size, 32)` bytes of the
/// struct, zeros for the rest of `size`.
pub(crate) fn write_budget(ubuf: c_ulong, size: usize, b: &AgentBudget) -> Result<(), Errno> {
    let bytes = b.to_bytes();
    let n = size.min(bytes.len());
    copy_out(ubuf, bytes.get(..n).ok_or(Errno::EFAULT)?)?;
    let rest = size.saturating_sub(n);
    if rest > 0 {
        // SAFETY: `ubuf + n` is only handed to the C helper as a user address (uaccess-checked).
        if unsafe { coconut_agent_clear_out(ubuf.saturating_add(n as c_ulong), rest) } != 0 {
            return Err(Errno::EFAULT);
        }
    }
    Ok(())
}

/// Copies `bytes` to user memory at `ubuf` (`EFAULT` on a fault).
fn copy_out(ubuf: c_ulong, bytes: &[u8]) -> Result<(), Errno> {
    // SAFETY: `bytes` is valid for its length; `ubuf` is only handed to the C helper as a user
    // address (copy_to_user checks it).
    match unsafe { coconut_agent_copy_out(ubuf, bytes.as_ptr(), bytes.len()) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

// ---------------------------------------------------------------------------------------------
// The capability calls
// ---------------------------------------------------------------------------------------------

/// `agent_cap_present`'s kernel stage: 0 when held, `ENOENT` when not, `ESRCH` when not seen.
pub(crate) fn present(caller: &Caller, req: &CapRequest, scope: &[u8]) -> Result<(), Errno> {
    let aid = resolve(caller, req.target);
    let cap = req.cap.ok_or(Errno::EINVAL)?;
    with_tree(|t| {
        if !t.sees(caller, aid) {
            return Err(Errno::ESRCH);
        }
        if t.holds(caller, aid, cap, scope) {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    })
}

/// `agent_cap_grant`'s kernel stage; `d` receives the row's detail.
pub(crate) fn grant(
    caller: &Caller,
    req: &CapRequest,
    scope: &[u8],
    slots: &mut Slots,
    d: &mut DetailBuf,
) -> Result<(), Fail> {
    let aid = resolve(caller, req.target);
    let mut ended = Ended::new();
    let r = with_tree(|t| -> Result<(), Fail> {
        // Row 10.
        if !t.sees(caller, aid) {
            return Err(Errno::ESRCH.into());
        }
        // Row 11: a strict ancestor (so never a:00000 itself).
        if !t.is_strict_ancestor(caller.aid, aid) {
            return Err(Errno::EPERM.into());
        }
        if req.flags & AGENT_GRANT_RELEASE != 0 {
            // Row 14 for RELEASE: the agent must be Quarantined.
            if t.get(aid).map(|a| a.state) != Some(State::Quarantined) {
                return Err(Errno::EBUSY.into());
            }
            let mut targets = KVec::<u64>::new();
            for a in t.live_subtree(aid) {
                targets.push(a, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
            }
            let mut n = 0usize;
            let mut quarantined = 0usize;
            for a in targets.iter() {
                if t.get(*a).map(|x| x.state) == Some(State::Quarantined) {
                    quarantined = quarantined.saturating_add(1);
                }
            }
            slots.more(quarantined)?;
            for a in targets.iter() {
                if t.get(*a).map(|x| x.state) == Some(State::Quarantined)
                    && move_agent(t, slots, caller.aid, *a, Trigger::QuarantineReleased, &mut ended)
                {
                    n = n.saturating_add(1);
                }
            }
            let _ = write!(d, "release=1 agents={}", n);
            return Ok(());
        }
        let cap = req.cap.ok_or(Errno::EINVAL)?;
        let _ = write!(d, "cap={}", cap.name());
        if !scope.is_empty() {
            let _ = write!(d, ":{}", core::str::from_utf8(scope).unwrap_or("?"));
        }
        // Row 12: agent.delegate and an entry covering the grant.
        if !t.holds(caller, caller.aid, CapId::AgentDelegate, b"")
            || !t.holds(caller, caller.aid, cap, scope)
        {
            return Err(Errno::EPERM.into());
        }
        let a = t.get(aid).ok_or(Errno::ESRCH)?;
        // Row 13: the manifest is the ceiling; and (design review P1-10) the parent of `aid`
        // must hold it too, so caps(child) ⊆ caps(parent) survives a grandparent's grant. A
        // terminated agent keeps no ceiling: it is refused by row 14.
        if a.is_live() {
            let ceiling_ok = a.ceiling.as_deref().is_some_and(|c| c.contains(cap, scope));
            let parent = a.parent;
            if !ceiling_ok || !t.holds(caller, parent, cap, scope) {
                return Err(Errno::EPERM.into());
            }
        }
        // Row 14.
        let a = t.get_mut(aid).ok_or(Errno::ESRCH)?;
        if !a.is_live() {
            return Err(Errno::EBUSY.into());
        }
        // Rows 15-16: a full set leaves it unchanged.
        let set = a.caps.as_deref_mut().ok_or(Errno::EBUSY)?;
        set.insert(cap, scope).map_err(set_errno)?;
        if a.state == State::CapDenied {
            move_agent(t, slots, caller.aid, aid, Trigger::CapGranted, &mut ended);
        }
        Ok(())
    });
    ended.publish();
    r
}

/// `agent_cap_revoke`'s kernel stage; `d` receives the row's detail.
pub(crate) fn revoke(
    caller: &Caller,
    req: &CapRequest,
    scope: &[u8],
    slots: &mut Slots,
    d: &mut DetailBuf,
) -> Result<(), Fail> {
    let aid = resolve(caller, req.target);
    let mut ended = Ended::new();
    let r = with_tree(|t| -> Result<(), Fail> {
        // Row 10.
        if !t.sees(caller, aid) {
            return Err(Errno::ESRCH.into());
        }
        // Row 11: a strict ancestor, or agent.admin over its own subtree (design review
        // P1-11); a:00000 is immune (P0-1).
        let admin = t.holds(caller, caller.aid, CapId::AgentAdmin, b"") && t.in_subtree(caller.aid, aid);
        if aid == 0 || !(t.is_strict_ancestor(caller.aid, aid) || admin) {
            return Err(Errno::EPERM.into());
        }
        let state = t.get(aid).map(|a| a.state).ok_or(Errno::ESRCH)?;
        // Row 12.
        if state.is_terminal() {
            return Err(Errno::EBUSY.into());
        }
        let mut targets = KVec::<u64>::new();
        for a in t.live_subtree(aid) {
            targets.push(a, GFP_KERNEL).map_err(|_| Errno::ENOMEM)?;
        }
        if req.flags & AGENT_REVOKE_QUARANTINE != 0 {
            if !may_act(state) {
                return Err(Errno::EBUSY.into());
            }
            let movable = |t: &Tree, a: u64| t.get(a).is_some_and(|x| may_act(x.state));
            let mut count = 0usize;
            for a in targets.iter() {
                if movable(t, *a) {
                    count = count.saturating_add(1);
                }
            }
            slots.more(count)?;
            let mut n = 0usize;
            for a in targets.iter() {
                if movable(t, *a)
                    && move_agent(t, slots, caller.aid, *a, Trigger::RevokeQuarantine, &mut ended)
                {
                    n = n.saturating_add(1);
                }
            }
            let _ = write!(d, "quarantine=1 agents={}", n);
            return Ok(());
        }
        if req.flags & AGENT_REVOKE_ALL != 0 {
            slots.more(targets.len())?;
            // Children first, so no live agent ever has a terminated parent.
            let mut n = 0usize;
            for a in targets.iter().rev() {
                if let Some(x) = t.get_mut(*a) {
                    if let Some(set) = x.caps.as_deref_mut() {
                        set.clear();
                    }
                }
                if move_agent(t, slots, caller.aid, *a, Trigger::RevokeAll, &mut ended) {
                    n = n.saturating_add(1);
                }
            }
            let _ = write!(d, "all=1 agents={}", n);
            return Ok(());
        }
        let cap = req.cap.ok_or(Errno::EINVAL)?;
        // One pass under the lock: the whole subtree loses what (cap, scope) covers.
        let mut removed = 0usize;
        let mut agents = 0usize;
        for a in targets.iter() {
            if let Some(set) = t.get_mut(*a).and_then(|x| x.caps.as_deref_mut()) {
                let k = set.remove_covered_by(cap, scope).map_err(set_errno)?;
                if k > 0 {
                    removed = removed.saturating_add(k);
                    agents = agents.saturating_add(1);
                }
            }
        }
        let _ = write!(d, "cap={}", cap.name());
        if !scope.is_empty() {
            let _ = write!(d, ":{}", core::str::from_utf8(scope).unwrap_or("?"));
        }
        let _ = write!(d, " removed={} agents={}", removed, agents);
        Ok(())
    });
    ended.publish();
    r
}

/// `AGENT_CAPS_MAX` in use, so the import is not dead while sets are only built from checked
/// input (the decoder bounds them).
const _: () = assert!(AGENT_CAPS_MAX == 64);
