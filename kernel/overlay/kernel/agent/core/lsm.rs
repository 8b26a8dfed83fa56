// SPDX-License-Identifier: GPL-2.0-only

//! The decisions of the coconut LSM (`security/coconut/lsm.c` is the hook table): membership
//! (a task joins at exec, forks, exits), the capability checks of file opens, execs,
//! executable mappings, changes to names (create, remove, rename, link, truncate, chmod, chown)
//! and IP connects and binds, with their `cap_deny` rows and the deny window, and the kernel capabilities an agent's task never
//! has. Everything here runs in process context and takes the tree mutex; the hooks that run
//! in atomic context (signals, ptrace) only compare AIDs in C.

use core::ffi::{c_char, c_int};
use core::fmt::Write as _;

use kernel::bindings;
use kernel::prelude::*;

use super::calls::{move_agent, Ended};
use super::coconut_abi::limits::{AGENT_DENY_LIMIT, AGENT_DENY_WINDOW_NS};
use super::coconut_abi::{AuditKind, CapId, State, Trigger};
use super::coconut_audit::DetailBuf;
use super::tree::{now_ns, with_tree, Tree};
use super::Slots;

/// `COCONUT_ACCESS_*` of `agent.h`.
const ACCESS_READ: u32 = 1;
const ACCESS_WRITE: u32 = 2;
const ACCESS_EXEC: u32 = 4;

/// Whether an agent's task may use kernel capability `cap` (design review P0-2): never the
/// ones that administer the machine, load code into the kernel, bypass mediation or read the
/// audit chain around `audit.read`.
#[no_mangle]
pub extern "C" fn coconut_agent_kernel_cap_allowed(cap: c_int) -> bool {
    const DENIED: [u32; 15] = [
        bindings::CAP_NET_ADMIN,
        bindings::CAP_SYS_MODULE,
        bindings::CAP_SYS_RAWIO,
        bindings::CAP_SYS_PTRACE,
        bindings::CAP_SYS_ADMIN,
        bindings::CAP_SYS_BOOT,
        bindings::CAP_SYS_TIME,
        bindings::CAP_AUDIT_CONTROL,
        bindings::CAP_MAC_OVERRIDE,
        bindings::CAP_MAC_ADMIN,
        bindings::CAP_SYSLOG,
        bindings::CAP_AUDIT_READ,
        bindings::CAP_PERFMON,
        bindings::CAP_BPF,
        bindings::CAP_CHECKPOINT_RESTORE,
    ];
    !DENIED.iter().any(|&c| c as c_int == cap)
}

/// A forked task of agent `aid` (task_alloc): one more member. `-ESRCH` if the agent has
/// terminated (the fork fails: a revoked agent's tasks do not multiply while being killed).
#[no_mangle]
pub extern "C" fn coconut_agent_member_forked(aid: u64) -> c_int {
    with_tree(|t| match t.get_mut(aid) {
        Some(a) if a.is_live() => {
            a.members = a.members.saturating_add(1);
            0
        }
        _ => -(bindings::ESRCH as c_int),
    })
}

/// A member task of `aid` exited (from the workqueue the LSM's task_free feeds): one member
/// fewer; the last one finishes the agent (Terminated-clean) when no live child but Attested
/// ones is left, and the finish may finish its ancestors in turn.
#[no_mangle]
pub extern "C" fn coconut_agent_member_exited(aid: u64) {
    let mut ended = Ended::new();
    let mut slots = Slots::none();
    with_tree(|t| {
        if let Some(a) = t.get_mut(aid) {
            a.members = a.members.saturating_sub(1);
        }
        finish_up(t, &mut slots, aid, &mut ended);
    });
    ended.publish();
}

/// Whether `aid` has finished: live, had members, none left, and every live child Attested.
fn finished(t: &Tree, aid: u64) -> bool {
    let Some(a) = t.get(aid) else {
        return false;
    };
    if aid == 0 || !a.is_live() || a.members > 0 || !a.had_member {
        return false;
    }
    !t
        .agents
        .iter()
        .any(|c| c.parent == aid && c.aid != aid && c.is_live() && c.state != State::Attested)
}

/// Finishes `aid` and then each ancestor that has finished with it; releases their Attested
/// children. Rows: reserved one at a time (killable); a fatal signal of the exiting worker
/// cannot happen (a kernel worker), so the reservation only waits.
fn finish_up(t: &mut Tree, slots: &mut Slots, aid: u64, ended: &mut Ended) {
    let mut cur = aid;
    for _ in 0..=super::coconut_abi::limits::AGENT_DEPTH_MAX {
        if !finished(t, cur) {
            return;
        }
        let mut attested = KVec::<u64>::new();
        for c in t.agents.iter() {
            if c.parent == cur && c.aid != cur && c.state == State::Attested {
                let _ = attested.push(c.aid, GFP_KERNEL);
            }
        }
        for c in attested.iter() {
            if slots.more(1).is_ok() {
                move_agent(t, slots, cur, *c, Trigger::Released, ended);
            }
        }
        if slots.more(1).is_err() {
            return;
        }
        move_agent(t, slots, cur, cur, Trigger::Finished, ended);
        let Some(parent) = t.get(cur).map(|a| a.parent) else {
            return;
        };
        cur = parent;
    }
}

/// A task joined `aid` at its exec (bprm_committing_creds): the first member makes the agent
/// Active (`member_joined`). `-ESRCH` if the agent cannot take members any more (terminated
/// since the spawn): the LSM then kills the task, which never runs as an agent it is not.
#[no_mangle]
pub extern "C" fn coconut_agent_member_joined(aid: u64) -> c_int {
    let mut ended = Ended::new();
    let mut slots = Slots::none();
    let r = with_tree(|t| {
        let Some(a) = t.get_mut(aid) else {
            return -(bindings::ESRCH as c_int);
        };
        if !a.is_live() || a.state == State::Spawning {
            return -(bindings::ESRCH as c_int);
        }
        a.members = a.members.saturating_add(1);
        a.had_member = true;
        if a.state == State::Attested && slots.more(1).is_ok() {
            move_agent(t, &mut slots, aid, aid, Trigger::MemberJoined, &mut ended);
        }
        0
    });
    ended.publish();
    r
}

/// The capabilities a file access needs.
fn access_cap(access: u32) -> [Option<CapId>; 3] {
    [
        (access & ACCESS_READ != 0).then_some(CapId::FsRead),
        (access & ACCESS_WRITE != 0).then_some(CapId::FsWrite),
        (access & ACCESS_EXEC != 0).then_some(CapId::FsExec),
    ]
}

/// The capability of `caps` (in order) that `aid` lacks for `scope`, if any. An agent that is
/// gone lacks the first; a blank set lacks all.
fn missing(t: &Tree, aid: u64, caps: &[Option<CapId>], scope: &[u8]) -> Option<CapId> {
    let mut wanted = caps.iter().flatten().copied();
    let Some(a) = t.get(aid) else {
        return wanted.next().or(Some(CapId::FsRead));
    };
    let Some(set) = a.caps.as_deref() else {
        return wanted.next();
    };
    wanted.find(|&cap| !set.contains(cap, scope))
}

/// Which of `ACCESS_*` `aid` holds for `path` (no row: a query).
fn held_access(t: &Tree, aid: u64, path: &[u8]) -> u32 {
    [ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC]
        .into_iter()
        .filter(|&bit| missing(t, aid, &access_cap(bit), path).is_none())
        .fold(0, |acc, bit| acc | bit)
}

/// The bytes behind a C pointer and length (empty for NULL).
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that live for `'a`.
unsafe fn c_bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller promises `len` readable bytes.
        unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), len) }
    }
}

/// Decides under the lock (the hot path takes no audit slot), then records a denial: 0 or
/// `-EACCES`.
fn check(aid: u64, caps: &[Option<CapId>], scope: &[u8]) -> c_int {
    let Some(cap) = with_tree(|t| missing(t, aid, caps, scope)) else {
        return 0;
    };
    deny(aid, cap, scope);
    -(bindings::EACCES as c_int)
}

/// A file open or exec by a task of `aid` (`path` the absolute path, or NULL when it has none,
/// which only an unscoped entry covers), or a change to the name `path` (create, remove,
/// truncate, chmod, chown: `ACCESS_WRITE`): 0, or `-EACCES` with a `cap_deny` row and the
/// state change of the deny window (`docs/abi.md`, "State machine").
///
/// # Safety
///
/// `path` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_agent_check_path(
    aid: u64,
    access: u32,
    path: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: the caller's promise.
    let bytes = unsafe { c_bytes(path, len) };
    check(aid, &access_cap(access), bytes)
}

/// A rename or hard link by a task of `aid` from `old` to `new` (`exchange`: both ways): both
/// names need `fs.write` (0 or `-EACCES` with a row, as for [`coconut_agent_check_path`]),
/// and the file must not gain access by its new name: every access `aid` holds at `new` it
/// must hold at `old` (both ways for an exchange), else `-EXDEV` without a row, so `mv` falls
/// back to copy and delete, each checked (Landlock's `refer` rule does the same).
///
/// # Safety
///
/// `old` and `new` are NULL or point to `old_len` and `new_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_agent_check_move(
    aid: u64,
    old: *const c_char,
    old_len: usize,
    new: *const c_char,
    new_len: usize,
    exchange: bool,
) -> c_int {
    // SAFETY: the caller's promise.
    let (old, new) = unsafe { (c_bytes(old, old_len), c_bytes(new, new_len)) };
    let write = access_cap(ACCESS_WRITE);
    for name in [old, new] {
        let r = check(aid, &write, name);
        if r != 0 {
            return r;
        }
    }
    let widens = with_tree(|t| {
        let (at_old, at_new) = (held_access(t, aid, old), held_access(t, aid, new));
        at_new & !at_old != 0 || (exchange && at_old & !at_new != 0)
    });
    if widens {
        -(bindings::EXDEV as c_int)
    } else {
        0
    }
}

/// A connect (or a send to an address) or a bind by a task of `aid` to the IP socket address
/// `addr` (`10.0.0.1:443`, `[2001:db8::1]:443`): `net.connect` or `net.bind` must cover it; 0,
/// or `-EACCES` with a `cap_deny` row, as for files.
///
/// # Safety
///
/// `addr` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn coconut_agent_check_net(
    aid: u64,
    bind: bool,
    addr: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: the caller's promise.
    let bytes = unsafe { c_bytes(addr, len) };
    let cap = if bind { CapId::NetBind } else { CapId::NetConnect };
    check(aid, &[Some(cap)], bytes)
}

/// Records a denial: the `cap_deny` row and the deny window's state change.
fn deny(aid: u64, cap: CapId, scope: &[u8]) {
    let mut d = DetailBuf::new();
    let _ = write!(
        d,
        "cap={}:{}",
        cap.name(),
        core::str::from_utf8(scope).unwrap_or("?")
    );
    // The denial stands whatever happens here; a task killed while waiting for a slot loses
    // only its row. Three slots: the row, a window's expiry, the state change.
    let Ok(mut slots) = Slots::take(3) else {
        return;
    };
    let mut ended = Ended::new();
    with_tree(|t| {
        let now = now_ns();
        let Some((state, start)) = t.get(aid).map(|a| (a.state, a.window_start_ns)) else {
            return;
        };
        if state == State::CapDenied && now.saturating_sub(start) > AGENT_DENY_WINDOW_NS {
            // The window closed (checked lazily, at the next denial).
            move_agent(t, &mut slots, aid, aid, Trigger::DenyWindowExpired, &mut ended);
        }
        let mut trigger = None;
        if let Some(a) = t.get_mut(aid) {
            match a.state {
                State::Active => {
                    a.denials = 1;
                    a.window_start_ns = now;
                    trigger = Some(Trigger::CapDenied);
                }
                State::CapDenied => {
                    a.denials = a.denials.saturating_add(1);
                    if a.denials > AGENT_DENY_LIMIT {
                        trigger = Some(Trigger::DenyLimitExceeded);
                    }
                }
                // Denials while Inference-blocked or Quarantined are audited, not counted.
                _ => {}
            }
        }
        let eacces = -(bindings::EACCES as core::ffi::c_long);
        slots.seal(aid, AuditKind::CapDeny, aid, eacces, d.as_str());
        if let Some(tr) = trigger {
            move_agent(t, &mut slots, aid, aid, tr, &mut ended);
        }
    });
    ended.publish();
}
