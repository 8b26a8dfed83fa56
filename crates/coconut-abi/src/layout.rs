//! The `#[repr(C)]` structs of the agent syscalls, their sizes, and a field table for C.
//!
//! Job: the binary layouts user space and the kernel exchange, with every offset asserted at
//! compile time (a table literal checked against `offset_of!`, and a proof that the fields
//! leave no holes), the `*_SIZE_VER0` constants of size versioning, and [`STRUCTS`], the field
//! description table from which the C uapi header is rendered. Each struct can be decoded from
//! user bytes with `copy_struct_from_user` semantics (`from_user_bytes`) and encoded back
//! (`to_bytes`), both without `unsafe`.
//!
//! Constraints: no_std, no heap, no `unsafe`, no panics. `u64` fields are 8-byte aligned
//! (`align(8)`), matching `__aligned_u64` on every architecture.

use core::mem::{offset_of, size_of};

use super::check::check_struct_size;
use super::errno::Errno;

/// One field of an ABI struct, as the C header declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDesc {
    /// The field name (same in C and Rust).
    pub name: &'static str,
    /// The C declaration type (`__aligned_u64`, `__s32`, `__u32`, `__u8[32]` for arrays).
    pub c_type: &'static str,
    /// The byte offset (asserted against `offset_of!` at compile time).
    pub offset: usize,
    /// The size in bytes.
    pub size: usize,
    /// A one-line description for the header comment.
    pub doc: &'static str,
}

/// One ABI struct, as the C header declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructDesc {
    /// The C struct tag (`agent_spawn_args`).
    pub c_name: &'static str,
    /// The version-0 size constant's name, or the size constant's name for output-only rows.
    pub size_const: &'static str,
    /// The struct's size in bytes.
    pub size: usize,
    /// A one-line description.
    pub doc: &'static str,
    /// The fields, in offset order, covering the struct without holes.
    pub fields: &'static [FieldDesc],
}

/// Asserts, at compile time, that each literal offset of a struct's field list equals
/// `offset_of!`, that each field's size is right, and that the fields tile the struct; then
/// declares the field table from the list. The assertions hold in every build; the table (C
/// types and doc strings for the header renderer) exists only outside the kernel
/// (`cfg(not(CONFIG_RUST))`), so its strings are not linked into vmlinux.
macro_rules! field_table {
    ($table:ident[$n:literal]: $ty:ty, $size:expr;
     $( $name:ident : $rty:ty, $cty:literal, $off:literal, $doc:literal; )*) => {
        $( const _: () = assert!(offset_of!($ty, $name) == $off); )*
        const _: () = assert!(0 $( + size_of::<$rty>() )* == $size);
        const _: () = assert!(size_of::<$ty>() == $size);
        #[cfg(not(CONFIG_RUST))]
        static $table: [FieldDesc; $n] = [ $( FieldDesc {
            name: stringify!($name),
            c_type: $cty,
            offset: $off,
            size: size_of::<$rty>(),
            doc: $doc,
        }, )* ];
    };
}

/// Reads the consecutive little-endian fields of a struct from its known bytes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    /// The next `N` bytes. The callers read each struct's fields in order from a prefix of
    /// exactly its size, so running short is a bug of this module: caught in debug builds,
    /// `EINVAL` otherwise.
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Errno> {
        match self.0.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.0 = rest;
                Ok(*head)
            }
            None => {
                debug_assert!(false, "field beyond the end of its struct");
                Err(Errno::EINVAL)
            }
        }
    }

    fn u64(&mut self) -> Result<u64, Errno> {
        self.take().map(u64::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, Errno> {
        self.take().map(u32::from_le_bytes)
    }
}

/// Writes the consecutive little-endian fields of a struct (or an event header) into a buffer
/// of its size; shared by the struct encoders here and the audit encoders in `audit.rs`.
pub(super) struct Writer<'a>(pub(super) &'a mut [u8]);

impl Writer<'_> {
    /// Appends `src`. Every caller writes a layout's fields in order into a buffer of exactly
    /// its size, so running out of room is a bug of the caller: caught in debug builds, the
    /// field dropped otherwise (the result still has the layout's length).
    pub(super) fn put(&mut self, src: &[u8]) {
        let room = core::mem::take(&mut self.0);
        match room.split_at_mut_checked(src.len()) {
            Some((dst, rest)) => {
                dst.copy_from_slice(src);
                self.0 = rest;
            }
            None => debug_assert!(false, "field beyond the end of its struct"),
        }
    }
}

/// `copy_struct_from_user` on a byte slice: size checks of [`check_struct_size`], then any
/// byte beyond the known struct must be zero (else `E2BIG`). Returns the known prefix.
fn user_prefix(bytes: &[u8], ver0: usize, known: usize) -> Result<&[u8], Errno> {
    check_struct_size(bytes.len(), ver0)?;
    let (prefix, extension) = bytes.split_at_checked(known).ok_or(Errno::EINVAL)?;
    if extension.iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    Ok(prefix)
}

/// Version-0 size of `struct agent_spawn_args`.
pub const AGENT_SPAWN_ARGS_SIZE_VER0: usize = 48;
/// Version-0 size of `struct agent_budget`.
pub const AGENT_BUDGET_SIZE_VER0: usize = 32;
/// Version-0 size of `struct agent_audit_filter`.
pub const AGENT_AUDIT_FILTER_SIZE_VER0: usize = 40;
/// Version-0 size of `struct agent_mem_request`.
pub const AGENT_MEM_REQUEST_SIZE_VER0: usize = 24;
/// Size of `struct agent_audit_row_hdr` (output only, not size-versioned).
pub const AGENT_AUDIT_ROW_HDR_SIZE: usize = 72;

/// `struct agent_spawn_args`: the argument of `agent_spawn`.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentSpawnArgs {
    /// User pointer to the signed manifest envelope (canonical CBOR).
    pub manifest: u64,
    /// Length of the envelope: 1..=`AGENT_MANIFEST_MAX`.
    pub manifest_len: u64,
    /// User pointer to a CBOR array of `"name[:scope]"` text strings to bind now.
    pub caps: u64,
    /// Length of that array: 0..=`AGENT_CAPSET_MAX`; 0 binds nothing (`caps` is ignored).
    pub caps_len: u64,
    /// `AGENT_SPAWN_*` flags.
    pub flags: u64,
    /// With `AGENT_SPAWN_PIDFD`: pidfd of the first member task; otherwise must be 0.
    pub pidfd: i32,
    /// Tenant fair-share lane; 0 = the parent's lane.
    pub lane: u32,
}

/// `struct agent_budget`: one budget, read or written by `agent_quota`.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentBudget {
    /// The limit (unit per kind); `AGENT_QUOTA_UNLIMITED` = no limit.
    pub limit: u64,
    /// Consumption in the current period (GET), or the amount to add (CHARGE).
    pub used: u64,
    /// Period in nanoseconds for periodic kinds; 0 for the others.
    pub period_ns: u64,
    /// Must be 0.
    pub reserved: u64,
}

/// `struct agent_audit_filter`: which rows `agent_audit_query` returns.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentAuditFilter {
    /// First sequence number (inclusive).
    pub from_seq: u64,
    /// Last sequence number (inclusive); 0 = up to the head.
    pub to_seq: u64,
    /// Subject AID to match, `AID_ANY` or `AID_SELF`.
    pub aid: u64,
    /// Bitmask of kinds (`1 << kind`); 0 = all kinds.
    pub kinds: u64,
    /// `AGENT_AUDIT_*` flags.
    pub flags: u64,
}

/// `struct agent_mem_request`: the mapping `agent_memory_tier` makes.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentMemRequest {
    /// Bytes to map (rounded up to whole pages): 1..=`AGENT_MEM_LENGTH_MAX`.
    pub length: u64,
    /// `AGENT_MEM_*` flags.
    pub flags: u64,
    /// `AGENT_MEM_PROT_*` bits.
    pub prot: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// `struct agent_audit_row_hdr`: precedes each event in `agent_audit_query` output.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentAuditRowHdr {
    /// Bytes of this row: 72 + event length.
    pub row_len: u32,
    /// 0.
    pub reserved: u32,
    /// Chain hash before this event.
    pub prev: [u8; 32],
    /// Chain hash after this event: BLAKE3(prev || event).
    pub hash: [u8; 32],
}

field_table!(SPAWN_FIELDS[7]: AgentSpawnArgs, AGENT_SPAWN_ARGS_SIZE_VER0;
    manifest: u64, "__aligned_u64", 0, "user pointer: signed manifest envelope (canonical CBOR)";
    manifest_len: u64, "__aligned_u64", 8, "1..=AGENT_MANIFEST_MAX";
    caps: u64, "__aligned_u64", 16, "user pointer: CBOR array of \"name[:scope]\" strings";
    caps_len: u64, "__aligned_u64", 24, "0..=AGENT_CAPSET_MAX, 0 = bind nothing";
    flags: u64, "__aligned_u64", 32, "AGENT_SPAWN_*";
    pidfd: i32, "__s32", 40, "first member task, with AGENT_SPAWN_PIDFD; else 0";
    lane: u32, "__u32", 44, "tenant fair-share lane, 0 = parent's lane";
);

field_table!(BUDGET_FIELDS[4]: AgentBudget, AGENT_BUDGET_SIZE_VER0;
    limit: u64, "__aligned_u64", 0, "limit, unit per kind; AGENT_QUOTA_UNLIMITED = none";
    used: u64, "__aligned_u64", 8, "used this period (GET) or amount to add (CHARGE)";
    period_ns: u64, "__aligned_u64", 16, "period in ns for cpu/net/inference_tokens, else 0";
    reserved: u64, "__aligned_u64", 24, "must be 0";
);

field_table!(FILTER_FIELDS[5]: AgentAuditFilter, AGENT_AUDIT_FILTER_SIZE_VER0;
    from_seq: u64, "__aligned_u64", 0, "first sequence number (inclusive)";
    to_seq: u64, "__aligned_u64", 8, "last sequence number (inclusive), 0 = head";
    aid: u64, "__aligned_u64", 16, "subject AID, AGENT_AID_ANY or AGENT_AID_SELF";
    kinds: u64, "__aligned_u64", 24, "bitmask 1 << AGENT_AUDIT_KIND_*, 0 = all";
    flags: u64, "__aligned_u64", 32, "AGENT_AUDIT_*";
);

field_table!(MEM_FIELDS[4]: AgentMemRequest, AGENT_MEM_REQUEST_SIZE_VER0;
    length: u64, "__aligned_u64", 0, "bytes, 1..=AGENT_MEM_LENGTH_MAX, rounded up to pages";
    flags: u64, "__aligned_u64", 8, "AGENT_MEM_*";
    prot: u32, "__u32", 16, "AGENT_MEM_PROT_*";
    reserved: u32, "__u32", 20, "must be 0";
);

field_table!(ROW_FIELDS[4]: AgentAuditRowHdr, AGENT_AUDIT_ROW_HDR_SIZE;
    row_len: u32, "__u32", 0, "72 + event length";
    reserved: u32, "__u32", 4, "0";
    prev: [u8; 32], "__u8[32]", 8, "chain hash before this event";
    hash: [u8; 32], "__u8[32]", 40, "BLAKE3(prev || event)";
);

/// Every ABI struct with its fields, in the order the uapi header declares them. Host only
/// (`cfg(not(CONFIG_RUST))`): the header renderer's data, not needed by the kernel.
#[cfg(not(CONFIG_RUST))]
pub static STRUCTS: [StructDesc; 5] = [
    StructDesc {
        c_name: "agent_spawn_args",
        size_const: "AGENT_SPAWN_ARGS_SIZE_VER0",
        size: AGENT_SPAWN_ARGS_SIZE_VER0,
        doc: "argument of agent_spawn (size-versioned)",
        fields: &SPAWN_FIELDS,
    },
    StructDesc {
        c_name: "agent_budget",
        size_const: "AGENT_BUDGET_SIZE_VER0",
        size: AGENT_BUDGET_SIZE_VER0,
        doc: "one budget, read or written by agent_quota (size-versioned)",
        fields: &BUDGET_FIELDS,
    },
    StructDesc {
        c_name: "agent_audit_filter",
        size_const: "AGENT_AUDIT_FILTER_SIZE_VER0",
        size: AGENT_AUDIT_FILTER_SIZE_VER0,
        doc: "row selection of agent_audit_query (size-versioned)",
        fields: &FILTER_FIELDS,
    },
    StructDesc {
        c_name: "agent_mem_request",
        size_const: "AGENT_MEM_REQUEST_SIZE_VER0",
        size: AGENT_MEM_REQUEST_SIZE_VER0,
        doc: "mapping made by agent_memory_tier (size-versioned)",
        fields: &MEM_FIELDS,
    },
    StructDesc {
        c_name: "agent_audit_row_hdr",
        size_const: "AGENT_AUDIT_ROW_HDR_SIZE",
        size: AGENT_AUDIT_ROW_HDR_SIZE,
        doc: "header of each row written by agent_audit_query (output only)",
        fields: &ROW_FIELDS,
    },
];

impl AgentSpawnArgs {
    /// Decodes user bytes with `copy_struct_from_user` semantics: `EINVAL` below the v0 size,
    /// `E2BIG` above a page or with a non-zero byte beyond the known struct.
    pub fn from_user_bytes(bytes: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader(user_prefix(
            bytes,
            AGENT_SPAWN_ARGS_SIZE_VER0,
            size_of::<Self>(),
        )?);
        Ok(AgentSpawnArgs {
            manifest: r.u64()?,
            manifest_len: r.u64()?,
            caps: r.u64()?,
            caps_len: r.u64()?,
            flags: r.u64()?,
            pidfd: r.u32()? as i32,
            lane: r.u32()?,
        })
    }

    /// The little-endian bytes of this struct.
    pub fn to_bytes(&self) -> [u8; AGENT_SPAWN_ARGS_SIZE_VER0] {
        let mut out = [0u8; AGENT_SPAWN_ARGS_SIZE_VER0];
        let mut w = Writer(&mut out);
        w.put(&self.manifest.to_le_bytes());
        w.put(&self.manifest_len.to_le_bytes());
        w.put(&self.caps.to_le_bytes());
        w.put(&self.caps_len.to_le_bytes());
        w.put(&self.flags.to_le_bytes());
        w.put(&self.pidfd.to_le_bytes());
        w.put(&self.lane.to_le_bytes());
        out
    }
}

impl AgentBudget {
    /// Decodes user bytes with `copy_struct_from_user` semantics (see
    /// [`AgentSpawnArgs::from_user_bytes`]).
    pub fn from_user_bytes(bytes: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader(user_prefix(
            bytes,
            AGENT_BUDGET_SIZE_VER0,
            size_of::<Self>(),
        )?);
        Ok(AgentBudget {
            limit: r.u64()?,
            used: r.u64()?,
            period_ns: r.u64()?,
            reserved: r.u64()?,
        })
    }

    /// The little-endian bytes of this struct.
    pub fn to_bytes(&self) -> [u8; AGENT_BUDGET_SIZE_VER0] {
        let mut out = [0u8; AGENT_BUDGET_SIZE_VER0];
        let mut w = Writer(&mut out);
        w.put(&self.limit.to_le_bytes());
        w.put(&self.used.to_le_bytes());
        w.put(&self.period_ns.to_le_bytes());
        w.put(&self.reserved.to_le_bytes());
        out
    }
}

impl AgentAuditFilter {
    /// Decodes user bytes with `copy_struct_from_user` semantics (see
    /// [`AgentSpawnArgs::from_user_bytes`]).
    pub fn from_user_bytes(bytes: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader(user_prefix(
            bytes,
            AGENT_AUDIT_FILTER_SIZE_VER0,
            size_of::<Self>(),
        )?);
        Ok(AgentAuditFilter {
            from_seq: r.u64()?,
            to_seq: r.u64()?,
            aid: r.u64()?,
            kinds: r.u64()?,
            flags: r.u64()?,
        })
    }

    /// The little-endian bytes of this struct.
    pub fn to_bytes(&self) -> [u8; AGENT_AUDIT_FILTER_SIZE_VER0] {
        let mut out = [0u8; AGENT_AUDIT_FILTER_SIZE_VER0];
        let mut w = Writer(&mut out);
        w.put(&self.from_seq.to_le_bytes());
        w.put(&self.to_seq.to_le_bytes());
        w.put(&self.aid.to_le_bytes());
        w.put(&self.kinds.to_le_bytes());
        w.put(&self.flags.to_le_bytes());
        out
    }
}

impl AgentMemRequest {
    /// Decodes user bytes with `copy_struct_from_user` semantics (see
    /// [`AgentSpawnArgs::from_user_bytes`]).
    pub fn from_user_bytes(bytes: &[u8]) -> Result<Self, Errno> {
        let mut r = Reader(user_prefix(
            bytes,
            AGENT_MEM_REQUEST_SIZE_VER0,
            size_of::<Self>(),
        )?);
        Ok(AgentMemRequest {
            length: r.u64()?,
            flags: r.u64()?,
            prot: r.u32()?,
            reserved: r.u32()?,
        })
    }

    /// The little-endian bytes of this struct.
    pub fn to_bytes(&self) -> [u8; AGENT_MEM_REQUEST_SIZE_VER0] {
        let mut out = [0u8; AGENT_MEM_REQUEST_SIZE_VER0];
        let mut w = Writer(&mut out);
        w.put(&self.length.to_le_bytes());
        w.put(&self.flags.to_le_bytes());
        w.put(&self.prot.to_le_bytes());
        w.put(&self.reserved.to_le_bytes());
        out
    }
}
