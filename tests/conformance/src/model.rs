//! The typed models the tables mutate, and how each becomes an [`Invocation`].
//!
//! A model holds a syscall's arguments the way a test thinks of them (a struct value, the size
//! passed with it, whether its pointer is NULL or unmapped, whether the bytes beyond the known
//! struct are dirty); [`Model::invocation`] lays them out as user memory. Every [`Mem::Bytes`]
//! is exactly as long as the length passed with it, so the kernel never reads past a buffer.

use coconut_abi::{
    AgentAuditFilter, AgentBudget, AgentMemRequest, AgentSpawnArgs, CapCall,
    AGENT_AUDIT_FILTER_SIZE_VER0, AGENT_BUDGET_SIZE_VER0, AGENT_MEM_REQUEST_SIZE_VER0,
    AGENT_SPAWN_ARGS_SIZE_VER0,
};

use super::{Invocation, Mem};

/// A size-versioned ABI struct.
pub trait UserStruct: Clone + std::fmt::Debug {
    /// The size of version 0, the smallest size accepted.
    const VER0: usize;
    /// The struct's bytes as user space lays them out.
    fn bytes(&self) -> Vec<u8>;
}

macro_rules! user_struct {
    ($($t:ty => $ver0:expr,)*) => {$(
        impl UserStruct for $t {
            const VER0: usize = $ver0;
            fn bytes(&self) -> Vec<u8> {
                self.to_bytes().to_vec()
            }
        }
    )*};
}

user_struct! {
    AgentSpawnArgs => AGENT_SPAWN_ARGS_SIZE_VER0,
    AgentBudget => AGENT_BUDGET_SIZE_VER0,
    AgentAuditFilter => AGENT_AUDIT_FILTER_SIZE_VER0,
    AgentMemRequest => AGENT_MEM_REQUEST_SIZE_VER0,
}

/// Where a pointer argument points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    /// At a live buffer of the length passed.
    Valid,
    /// NULL.
    Null,
    /// At an unmapped address.
    Unmapped,
}

impl MemKind {
    /// The argument, with `bytes` behind a valid pointer.
    pub fn with(self, bytes: impl FnOnce() -> Vec<u8>) -> Mem {
        match self {
            MemKind::Valid => Mem::Bytes(bytes()),
            MemKind::Null => Mem::Null,
            MemKind::Unmapped => Mem::Unmapped,
        }
    }
}

/// The byte a dirty tail ends with.
const DIRTY: u8 = 0x5a;

/// A pointer to a size-versioned struct, and the size passed with it.
#[derive(Clone, Debug)]
pub struct StructArg<T> {
    /// Where the pointer points.
    pub mem: MemKind,
    /// The size passed.
    pub size: usize,
    /// The known part of the struct.
    pub value: T,
    /// Whether the last byte beyond the known struct is non-zero (needs `size > VER0`).
    pub dirty_tail: bool,
}

impl<T: UserStruct> StructArg<T> {
    /// A valid pointer to `value`, passed with the version-0 size.
    pub fn new(value: T) -> Self {
        StructArg {
            mem: MemKind::Valid,
            size: T::VER0,
            value,
            dirty_tail: false,
        }
    }

    /// Makes room beyond the known struct (newer user space, older kernel), if there is none.
    pub fn grow(&mut self) {
        if self.size <= T::VER0 {
            self.size = T::VER0 + 8;
        }
    }

    /// The user memory: the struct's bytes, zero-extended or cut to `size`, with the dirty byte.
    pub fn mem(&self) -> Mem {
        self.mem.with(|| {
            let mut bytes = self.value.bytes();
            bytes.resize(self.size, 0);
            if self.dirty_tail && self.size > T::VER0 {
                if let Some(last) = bytes.last_mut() {
                    *last = DIRTY;
                }
            }
            bytes
        })
    }
}

/// A model of a syscall's arguments.
pub trait Model: Clone + std::fmt::Debug {
    /// The call as user memory and scalars.
    fn invocation(&self) -> Invocation;
}

/// `agent_spawn` arguments.
#[derive(Clone, Debug)]
pub struct SpawnModel {
    /// `args` and `size`.
    pub args: StructArg<AgentSpawnArgs>,
}

impl Model for SpawnModel {
    fn invocation(&self) -> Invocation {
        Invocation::Spawn {
            args: self.args.mem(),
            size: self.args.size,
        }
    }
}

/// An output buffer and its size.
#[derive(Clone, Debug)]
pub struct OutBuf {
    /// Where the pointer points.
    pub mem: MemKind,
    /// The size passed.
    pub size: usize,
}

impl OutBuf {
    fn mem(&self) -> Mem {
        self.mem.with(|| vec![0; self.size])
    }
}

/// `agent_attest` arguments.
#[derive(Clone, Debug)]
pub struct AttestModel {
    /// `aid`.
    pub aid: u64,
    /// `buf` and `size`.
    pub buf: OutBuf,
    /// `flags`.
    pub flags: u32,
}

impl Model for AttestModel {
    fn invocation(&self) -> Invocation {
        Invocation::Attest {
            aid: self.aid,
            buf: self.buf.mem(),
            size: self.buf.size,
            flags: self.flags,
        }
    }
}

/// `agent_quota` arguments.
#[derive(Clone, Debug)]
pub struct QuotaModel {
    /// `aid`.
    pub aid: u64,
    /// `kind`.
    pub kind: u32,
    /// `flags`.
    pub flags: u32,
    /// `budget` and `size`.
    pub budget: StructArg<AgentBudget>,
}

impl Model for QuotaModel {
    fn invocation(&self) -> Invocation {
        Invocation::Quota {
            aid: self.aid,
            kind: self.kind,
            budget: self.budget.mem(),
            size: self.budget.size,
            flags: self.flags,
        }
    }
}

/// Arguments of a capability call.
#[derive(Clone, Debug)]
pub struct CapModel {
    /// Which call.
    pub call: CapCall,
    /// `aid`.
    pub aid: u64,
    /// `cap`.
    pub cap: u32,
    /// Where `scope` points.
    pub scope_mem: MemKind,
    /// The scope's bytes (padded with `a` or cut to `scope_len`).
    pub scope: Vec<u8>,
    /// `scope_len`.
    pub scope_len: usize,
    /// `flags`.
    pub flags: u32,
}

impl CapModel {
    /// Sets the scope and its length.
    pub fn set_scope(&mut self, scope: &[u8]) {
        self.scope = scope.to_vec();
        self.scope_len = scope.len();
    }
}

impl Model for CapModel {
    fn invocation(&self) -> Invocation {
        Invocation::Cap {
            call: self.call,
            aid: self.aid,
            cap: self.cap,
            scope: self.scope_mem.with(|| {
                let mut s = self.scope.clone();
                s.resize(self.scope_len, b'a');
                s
            }),
            scope_len: self.scope_len,
            flags: self.flags,
        }
    }
}

/// `agent_audit_query` arguments.
#[derive(Clone, Debug)]
pub struct AuditModel {
    /// `filter` and `fsize`.
    pub filter: StructArg<AgentAuditFilter>,
    /// `buf` and `bufsize`.
    pub buf: OutBuf,
}

impl Model for AuditModel {
    fn invocation(&self) -> Invocation {
        Invocation::AuditQuery {
            filter: self.filter.mem(),
            fsize: self.filter.size,
            buf: self.buf.mem(),
            bufsize: self.buf.size,
        }
    }
}

/// `agent_memory_tier` arguments.
#[derive(Clone, Debug)]
pub struct MemModel {
    /// `aid`.
    pub aid: u64,
    /// `tier`.
    pub tier: u32,
    /// `req` and `size`.
    pub req: StructArg<AgentMemRequest>,
}

impl Model for MemModel {
    fn invocation(&self) -> Invocation {
        Invocation::MemoryTier {
            aid: self.aid,
            tier: self.tier,
            req: self.req.mem(),
            size: self.req.size,
        }
    }
}
