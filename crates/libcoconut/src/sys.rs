//! One safe function per agent syscall, over `libc::syscall`.
//!
//! Job: marshal arguments exactly as `docs/abi.md` specifies (size-versioned structs passed
//! with their version-0 size, scopes as pointer + length, AIDs as raw `__u64`), call the kernel,
//! and turn `-errno` into [`Error`]. [`raw_syscall`] stays available, `unsafe`, for the
//! conformance suite, which must pass bad pointers and sizes on purpose.
//!
//! Constraints: every pointer handed to the kernel points into memory that lives, with the size
//! passed alongside, for the whole call; each `unsafe` block says so. On a kernel that is not
//! Coconut OS the numbers 472–479 are unassigned as of Linux 7.0 (upstream's newest is 471) and
//! return ENOSYS, reported as [`Error::NotCoconut`].

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use coconut_abi::limits::AGENT_ABI_VERSION;
use coconut_abi::{
    AgentAuditFilter, AgentBudget, AgentMemRequest, AgentSpawnArgs, Aid, AidTarget, MemTier,
    QuotaKind, Syscall, AGENT_ATTEST_ABI_VERSION, AGENT_AUDIT_FILTER_SIZE_VER0,
    AGENT_BUDGET_SIZE_VER0, AGENT_GRANT_RELEASE, AGENT_MEM_REQUEST_SIZE_VER0, AGENT_QUOTA_CHARGE,
    AGENT_QUOTA_GET, AGENT_QUOTA_SET, AGENT_REVOKE_ALL, AGENT_REVOKE_QUARANTINE,
    AGENT_SPAWN_ARGS_SIZE_VER0, AGENT_SPAWN_PIDFD,
};

use super::audit::{parse_rows, AuditRow};
use super::{Capability, Error, Result};

/// Calls agent syscall `call` with up to five arguments and returns its non-negative result.
/// A failure is the typed [`Error`] of the errno, which gives the raw value back
/// ([`Error::errno`], also for errnos outside the ABI) and the ABI's [`Errno`](coconut_abi::Errno)
/// ([`Error::abi_errno`]), so a conformance test can compare either.
///
/// # Safety
///
/// The arguments must be valid for `call` as `docs/abi.md` specifies: every pointer argument
/// must be NULL or point to memory the kernel may read (or, for output buffers, write) for the
/// length passed with it. Invalid pointers make the kernel return EFAULT, but a valid pointer to
/// the wrong object lets the kernel overwrite it.
pub unsafe fn raw_syscall(call: Syscall, args: [u64; 5]) -> Result<i64> {
    // SAFETY: the caller's guarantee (see `# Safety`) is the one `bare_syscall` needs.
    unsafe { bare_syscall(call, args) }.map_err(|errno| Error::from_errno(call, errno))
}

/// [`raw_syscall`] without the error mapping: the non-negative result or the raw errno. For
/// benchmarks that time the kernel's cost alone.
///
/// # Safety
///
/// As for [`raw_syscall`].
pub unsafe fn bare_syscall(call: Syscall, args: [u64; 5]) -> core::result::Result<i64, i32> {
    // SAFETY: the caller guarantees the arguments are valid for `call` (see `# Safety`); the
    // syscall itself touches no memory other than what the arguments describe.
    let ret = unsafe {
        libc::syscall(
            libc::c_long::from(call.nr() as i32),
            args[0],
            args[1],
            args[2],
            args[3],
            args[4],
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(ret)
}

fn ptr<T>(r: &T) -> u64 {
    r as *const T as u64
}

/// The ABI version of the running kernel (`agent_attest(0, NULL, 0, AGENT_ATTEST_ABI_VERSION)`),
/// the way to detect Coconut OS and its features.
pub fn abi_version() -> Result<u32> {
    // SAFETY: no pointer is passed (buf is NULL, size 0).
    let v = unsafe {
        raw_syscall(
            Syscall::AgentAttest,
            [0, 0, 0, u64::from(AGENT_ATTEST_ABI_VERSION), 0],
        )?
    };
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Whether the running kernel speaks at least the ABI version this library was built for.
pub fn is_supported() -> bool {
    abi_version().is_ok_and(|v| v >= AGENT_ABI_VERSION)
}

/// `agent_spawn`: creates a child agent of the caller's agent from a signed manifest envelope
/// and a CBOR capability array to bind now (empty = bind nothing). With `pidfd`, that task (a
/// single-threaded child of the caller, blocked until released) becomes the first member.
pub fn spawn(
    manifest: &[u8],
    caps: &[u8],
    pidfd: Option<BorrowedFd<'_>>,
    lane: u32,
) -> Result<Aid> {
    let args = AgentSpawnArgs {
        manifest: manifest.as_ptr() as u64,
        manifest_len: manifest.len() as u64,
        caps: if caps.is_empty() {
            0
        } else {
            caps.as_ptr() as u64
        },
        caps_len: caps.len() as u64,
        flags: if pidfd.is_some() {
            AGENT_SPAWN_PIDFD
        } else {
            0
        },
        pidfd: pidfd.map_or(0, |fd| fd.as_raw_fd()),
        lane,
    };
    // SAFETY: `args`, `manifest` and `caps` are live borrows for the whole call and the lengths
    // passed are theirs; the kernel only reads them.
    let aid = unsafe {
        raw_syscall(
            Syscall::AgentSpawn,
            [ptr(&args), AGENT_SPAWN_ARGS_SIZE_VER0 as u64, 0, 0, 0],
        )?
    };
    u64::try_from(aid)
        .ok()
        .and_then(|v| Aid::new(v).ok())
        .ok_or(Error::BadReturn {
            call: Syscall::AgentSpawn,
            value: aid,
        })
}

/// `agent_attest`: the attestation chain of `aid` as canonical CBOR (asks for the length, then
/// fills; retries if the chain grew in between).
pub fn attest(aid: impl Into<AidTarget>) -> Result<Vec<u8>> {
    let aid = aid.into().raw();
    loop {
        // SAFETY: size 0 with a NULL buffer asks for the length; nothing is written.
        let need = unsafe { raw_syscall(Syscall::AgentAttest, [aid, 0, 0, 0, 0])? } as usize;
        let mut buf = vec![0u8; need.max(1)];
        // SAFETY: `buf` is a live, writable allocation of `buf.len()` bytes for the call.
        let r = unsafe {
            raw_syscall(
                Syscall::AgentAttest,
                [aid, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0],
            )
        };
        match r {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            Err(Error::BufferTooSmall { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn quota(aid: AidTarget, kind: QuotaKind, budget: &mut AgentBudget, flags: u32) -> Result<()> {
    // SAFETY: `budget` is a live, exclusive borrow of a struct of the size passed; the kernel
    // reads it (SET, CHARGE) or writes it (GET).
    unsafe {
        raw_syscall(
            Syscall::AgentQuota,
            [
                aid.raw(),
                u64::from(kind as u32),
                budget as *mut AgentBudget as u64,
                AGENT_BUDGET_SIZE_VER0 as u64,
                u64::from(flags),
            ],
        )?;
    }
    Ok(())
}

/// `agent_quota(GET)`: the agent's budget of `kind`.
pub fn quota_get(aid: impl Into<AidTarget>, kind: QuotaKind) -> Result<AgentBudget> {
    let mut b = AgentBudget::default();
    quota(aid.into(), kind, &mut b, AGENT_QUOTA_GET)?;
    Ok(b)
}

/// `agent_quota(SET)`: sets a descendant's limit and period (`period_ns` 0 for `ram`, `hbm`).
pub fn quota_set(
    aid: impl Into<AidTarget>,
    kind: QuotaKind,
    limit: u64,
    period_ns: u64,
) -> Result<()> {
    let mut b = AgentBudget {
        limit,
        period_ns,
        ..AgentBudget::default()
    };
    quota(aid.into(), kind, &mut b, AGENT_QUOTA_SET)
}

/// `agent_quota(CHARGE)`: a broker adds `amount` to an agent's `net` or `inference_tokens`
/// consumption; [`Error::BudgetExhausted`] means the limit is reached (the charge is recorded).
pub fn quota_charge(aid: impl Into<AidTarget>, kind: QuotaKind, amount: u64) -> Result<()> {
    let mut b = AgentBudget {
        used: amount,
        ..AgentBudget::default()
    };
    quota(aid.into(), kind, &mut b, AGENT_QUOTA_CHARGE)
}

fn cap_call(call: Syscall, aid: AidTarget, cap: Option<&Capability>, flags: u32) -> Result<i64> {
    let (id, scope) = match cap {
        Some(c) => (c.id as u32, c.scope.as_bytes()),
        None => (0, &b""[..]),
    };
    let scope_ptr = if scope.is_empty() {
        0
    } else {
        scope.as_ptr() as u64
    };
    // SAFETY: `scope` is a live borrow of `scope.len()` bytes for the call (or NULL with length
    // 0); the kernel only reads it.
    unsafe {
        raw_syscall(
            call,
            [
                aid.raw(),
                u64::from(id),
                scope_ptr,
                scope.len() as u64,
                u64::from(flags),
            ],
        )
    }
}

/// `agent_cap_grant`: delegates `cap` (which the caller's agent holds) to a descendant.
pub fn cap_grant(aid: impl Into<AidTarget>, cap: &Capability) -> Result<()> {
    cap_call(Syscall::AgentCapGrant, aid.into(), Some(cap), 0).map(drop)
}

/// `agent_cap_grant(AGENT_GRANT_RELEASE)`: lifts the quarantine of a descendant subtree.
pub fn release(aid: impl Into<AidTarget>) -> Result<()> {
    cap_call(
        Syscall::AgentCapGrant,
        aid.into(),
        None,
        AGENT_GRANT_RELEASE,
    )
    .map(drop)
}

/// `agent_cap_revoke`: removes every entry covered by `cap` from the agent and all its
/// descendants.
pub fn cap_revoke(aid: impl Into<AidTarget>, cap: &Capability) -> Result<()> {
    cap_call(Syscall::AgentCapRevoke, aid.into(), Some(cap), 0).map(drop)
}

/// `agent_cap_revoke(AGENT_REVOKE_ALL)`: revokes everything; the agent and its descendants
/// end Terminated-revoked and their tasks are killed.
pub fn revoke_all(aid: impl Into<AidTarget>) -> Result<()> {
    cap_call(Syscall::AgentCapRevoke, aid.into(), None, AGENT_REVOKE_ALL).map(drop)
}

/// `agent_cap_revoke(AGENT_REVOKE_QUARANTINE)`: freezes the agent and its live descendants.
pub fn quarantine(aid: impl Into<AidTarget>) -> Result<()> {
    cap_call(
        Syscall::AgentCapRevoke,
        aid.into(),
        None,
        AGENT_REVOKE_QUARANTINE,
    )
    .map(drop)
}

/// `agent_cap_present`: whether the agent holds an entry covering `cap`.
pub fn cap_present(aid: impl Into<AidTarget>, cap: &Capability) -> Result<bool> {
    match cap_call(Syscall::AgentCapPresent, aid.into(), Some(cap), 0) {
        Ok(_) => Ok(true),
        Err(Error::CapabilityNotHeld { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `agent_audit_query`: the rows matching `filter` that fit in `bufsize` bytes (at least
/// `AGENT_AUDIT_ROW_MIN`).
pub fn audit_query(filter: &AgentAuditFilter, bufsize: usize) -> Result<Vec<AuditRow>> {
    let mut buf = vec![0u8; bufsize];
    // SAFETY: `filter` is a live borrow of the size passed (read only); `buf` is a live,
    // writable allocation of `bufsize` bytes.
    let n = unsafe {
        raw_syscall(
            Syscall::AgentAuditQuery,
            [
                ptr(filter),
                AGENT_AUDIT_FILTER_SIZE_VER0 as u64,
                buf.as_mut_ptr() as u64,
                bufsize as u64,
                0,
            ],
        )?
    };
    buf.truncate(n as usize);
    Ok(parse_rows(&buf)?)
}

/// Memory mapped by `agent_memory_tier`; unmapped on drop.
#[derive(Debug)]
pub struct TierMapping {
    addr: NonNull<u8>,
    len: usize,
}

impl TierMapping {
    /// The start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The length requested (the kernel rounds it up to whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: length 0 is refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TierMapping {
    fn drop(&mut self) {
        // SAFETY: the kernel mapped `len` bytes at `addr` for this process and nothing else
        // owns the mapping; unmapping it once, here, is the end of its life.
        unsafe {
            libc::munmap(self.addr.as_ptr().cast(), self.len);
        }
    }
}

/// `agent_memory_tier`: maps anonymous memory bound to the NUMA nodes of `tier`.
pub fn memory_tier(
    aid: impl Into<AidTarget>,
    tier: MemTier,
    req: &AgentMemRequest,
) -> Result<TierMapping> {
    // SAFETY: `req` is a live borrow of the size passed; the kernel only reads it and creates
    // a new mapping that overlaps no existing Rust object.
    let addr = unsafe {
        raw_syscall(
            Syscall::AgentMemoryTier,
            [
                aid.into().raw(),
                u64::from(tier as u32),
                ptr(req),
                AGENT_MEM_REQUEST_SIZE_VER0 as u64,
                0,
            ],
        )?
    };
    let addr = NonNull::new(addr as usize as *mut u8).ok_or(Error::BadReturn {
        call: Syscall::AgentMemoryTier,
        value: addr,
    })?;
    Ok(TierMapping {
        addr,
        len: req.length as usize,
    })
}
