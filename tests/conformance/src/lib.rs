//! One conformance table per agent syscall, run against two implementations of [`Call`].
//!
//! A table ([`tables`]) is a valid base call of one syscall, and mutations of it, each tied to
//! the row of the syscall's error matrix (`coconut_abi::CHECK_ORDER`, printed in `docs/abi.md`)
//! it must trip. [`walk`] runs the Landlock-style check-order walk: the base and each accepted
//! variant answer the table's kernel-state answer (in the state the guest runs the walk in:
//! only a:00000 exists, the caller is root in it), each mutation alone answers its row's
//! errno, and for every pair of rows i < j a call mutated both ways answers row i's errno
//! (the first documented error wins).
//!
//! The two implementations of [`Call`]:
//! - [`Emulated`] (host): the kernel's Rust entry points (`agent_core.rs`) redone over the very
//!   coconut-abi functions the kernel calls, with `copy_struct_from_user` and `copy_from_user`
//!   emulated on the bytes of the [`Mem`] arguments; `cargo test` walks every table with it.
//! - [`Kernel`] (guest): the raw syscalls through `libcoconut::sys::raw_syscall`, with every
//!   [`Mem`] turned into real user memory (a buffer, NULL, or an unmapped address); the in-guest
//!   runner walks every table with it against the booted kernel.
//!
//! Limits, flags, masks and errnos come from coconut-abi; a table names its rows by a unique
//! piece of their condition text, so a reordered or reworded matrix breaks the walk loudly.
//!
//! Constraints: the walk returns its failures instead of panicking, so the in-guest runner can
//! report them; nothing here knows which implementation it runs against.

mod emulation;
mod kernel;
mod model;
pub mod tables;
mod walk;

use coconut_abi::{CapCall, Errno, Syscall};

pub use self::emulation::Emulated;
pub use self::kernel::Kernel;
pub use self::model::{
    AttestModel, AuditModel, CapModel, MemKind, MemModel, Model, OutBuf, QuotaModel, SpawnModel,
    StructArg, UserStruct,
};
pub use self::walk::{trip, walk, Conformance, Table, Trip, Variant};

/// What `agent_memory_tier` answers to a call that passes every check: the tiered memory
/// behind it does not exist yet (`docs/abi.md`). The other calls are served by the kernel.
pub const NOT_SUPPORTED: Errno = Errno::EOPNOTSUPP;

/// A user-memory argument, as the caller of a syscall lays it out.
#[derive(Clone, PartialEq, Eq)]
pub enum Mem {
    /// A NULL pointer.
    Null,
    /// A pointer to memory that is not mapped (a read or write faults).
    Unmapped,
    /// A pointer to these bytes (readable and writable for their whole length).
    Bytes(Vec<u8>),
}

/// Short enough for a one-line failure message: the length and the non-zero bytes.
impl std::fmt::Debug for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mem::Null => f.write_str("NULL"),
            Mem::Unmapped => f.write_str("unmapped"),
            Mem::Bytes(bytes) => {
                write!(f, "{} bytes", bytes.len())?;
                let mut nonzero = bytes.iter().enumerate().filter(|(_, b)| **b != 0);
                let shown: Vec<String> = nonzero
                    .by_ref()
                    .take(8)
                    .map(|(i, b)| format!("[{i}]={b:#04x}"))
                    .collect();
                if !shown.is_empty() {
                    write!(f, " ({}", shown.join(" "))?;
                    let more = nonzero.count();
                    if more > 0 {
                        write!(f, " and {more} more non-zero")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl Mem {
    /// Whether the pointer is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Mem::Null)
    }
}

/// One agent syscall with its arguments, pointers as [`Mem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `agent_spawn(args, size)`.
    Spawn {
        /// `args`.
        args: Mem,
        /// `size`.
        size: usize,
    },
    /// `agent_attest(aid, buf, size, flags)`.
    Attest {
        /// `aid`.
        aid: u64,
        /// `buf` (output).
        buf: Mem,
        /// `size`.
        size: usize,
        /// `flags`.
        flags: u32,
    },
    /// `agent_quota(aid, kind, budget, size, flags)`.
    Quota {
        /// `aid`.
        aid: u64,
        /// `kind`.
        kind: u32,
        /// `budget`.
        budget: Mem,
        /// `size`.
        size: usize,
        /// `flags`.
        flags: u32,
    },
    /// `agent_cap_grant`, `agent_cap_revoke`, `agent_cap_present` `(aid, cap, scope,
    /// scope_len, flags)`.
    Cap {
        /// Which of the three.
        call: CapCall,
        /// `aid`.
        aid: u64,
        /// `cap`.
        cap: u32,
        /// `scope`.
        scope: Mem,
        /// `scope_len`.
        scope_len: usize,
        /// `flags`.
        flags: u32,
    },
    /// `agent_audit_query(filter, fsize, buf, bufsize)`.
    AuditQuery {
        /// `filter`.
        filter: Mem,
        /// `fsize`.
        fsize: usize,
        /// `buf` (output).
        buf: Mem,
        /// `bufsize`.
        bufsize: usize,
    },
    /// `agent_memory_tier(aid, tier, req, size)`.
    MemoryTier {
        /// `aid`.
        aid: u64,
        /// `tier`.
        tier: u32,
        /// `req`.
        req: Mem,
        /// `size`.
        size: usize,
    },
}

impl Invocation {
    /// The syscall this invokes.
    pub fn syscall(&self) -> Syscall {
        match self {
            Invocation::Spawn { .. } => Syscall::AgentSpawn,
            Invocation::Attest { .. } => Syscall::AgentAttest,
            Invocation::Quota { .. } => Syscall::AgentQuota,
            Invocation::Cap { call, .. } => cap_syscall(*call),
            Invocation::AuditQuery { .. } => Syscall::AgentAuditQuery,
            Invocation::MemoryTier { .. } => Syscall::AgentMemoryTier,
        }
    }
}

/// The syscall of a capability call.
pub fn cap_syscall(call: CapCall) -> Syscall {
    match call {
        CapCall::Grant => Syscall::AgentCapGrant,
        CapCall::Revoke => Syscall::AgentCapRevoke,
        CapCall::Present => Syscall::AgentCapPresent,
    }
}

/// An implementation of the agent syscalls: answers an [`Invocation`] with the syscall's
/// return value or its errno.
pub trait Call {
    /// What this implementation is, for failure messages ("host emulation", "kernel").
    fn name(&self) -> &'static str;

    /// Performs the call: its non-negative return value, or its errno.
    fn call(&mut self, invocation: &Invocation) -> Result<i64, i32>;
}
