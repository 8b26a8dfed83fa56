#![cfg_attr(not(CONFIG_RUST), no_std)]
//! The Coconut OS agent ABI, as one source of truth for the kernel and for user space.
//!
//! Job: define every number, layout, table and pure rule of the eight agent system calls
//! (472–479): syscall numbers ([`Syscall`]), flags and the masks derived from them, the
//! size-versioned `#[repr(C)]` argument structs ([`AgentSpawnArgs`], [`AgentBudget`],
//! [`AgentAuditFilter`], [`AgentMemRequest`], [`AgentAuditRowHdr`]) with their layouts asserted
//! at compile time, the errno values the ABI returns ([`Errno`]), the agent identifier
//! ([`Aid`]), the state machine ([`State`], [`Trigger`], [`TRANSITIONS`]), the capability table
//! ([`CapId`]) and the scope coverage rule ([`covers`]), quota kinds, memory tiers, the audit
//! event encoding ([`encode_event_header`]), every limit ([`limits`]), and the argument checks
//! of each call that need no kernel state, in their documented order ([`check_spawn_args`] and
//! friends). `docs/abi.md` is the prose form of this crate; a test keeps the two in agreement,
//! and the C uapi header `coconut_agent.h` is rendered from it by another test.
//!
//! Constraints: the kernel build includes these very files into its Rust object, so the crate
//! is `no_std`, has no dependencies, no heap, no `unsafe`, no floats and no 128-bit integers,
//! never writes `crate::` (modules reach the root with `super::`), and cannot panic on any
//! input. It knows nothing about the kernel or about std.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod aid;
mod audit;
mod cap;
mod check;
mod errno;
mod flags;
mod layout;
pub mod limits;
mod manifest;
// The error matrices are documentation data (condition strings) for the docs, the header
// renderer and the conformance tests; the kernel runs the checks of `check`, not these tables,
// so they are left out of its build and not linked into vmlinux.
#[cfg(not(CONFIG_RUST))]
mod order;
mod quota;
mod state;
mod syscall;

pub use self::aid::{Aid, AidError, AidTarget, AID_ANY, AID_SELF, AID_TEXT_MAX};
pub use self::audit::{
    check_detail, decode_event, decode_event_header, decode_row_header, encode_event_header,
    encode_row_header, AuditDecodeError, AuditKind, EventHeader, AUDIT_EVENT_MAGIC,
    AUDIT_GENESIS_CONTEXT, AUDIT_GENESIS_CONTEXT_V2, AUDIT_OFF_ACTOR, AUDIT_OFF_BOOT,
    AUDIT_OFF_DETAIL, AUDIT_OFF_DETAIL_LEN, AUDIT_OFF_KIND, AUDIT_OFF_MAGIC, AUDIT_OFF_RESULT,
    AUDIT_OFF_SEQ, AUDIT_OFF_SUBJECT, AUDIT_OFF_TIME_NS,
};
pub use self::cap::{covers, entry_covers, parse_capability, validate_scope, CapError, CapId};
pub use self::check::{
    check_attest, check_audit_buffer, check_audit_filter, check_budget, check_cap_call,
    check_mem_request, check_memory_tier, check_quota, check_scope_arg, check_spawn_args,
    check_struct_size, check_user_struct, validate_audit_query, validate_cap_call,
    validate_memory_tier, validate_quota, validate_spawn, validate_unscoped_cap_call,
    AttestRequest, CapCall, CapRequest, QuotaOp, QuotaRequest,
};
pub use self::errno::{Errno, ERRNO_TABLE};
pub use self::flags::*;
#[cfg(not(CONFIG_RUST))]
pub use self::layout::STRUCTS;
pub use self::layout::{
    AgentAuditFilter, AgentAuditRowHdr, AgentBudget, AgentMemRequest, AgentSpawnArgs, FieldDesc,
    StructDesc, AGENT_AUDIT_FILTER_SIZE_VER0, AGENT_AUDIT_ROW_HDR_SIZE, AGENT_BUDGET_SIZE_VER0,
    AGENT_MEM_REQUEST_SIZE_VER0, AGENT_SPAWN_ARGS_SIZE_VER0,
};
pub use self::limits::*;
pub use self::manifest::{
    is_valid_agent_name, BODY_KEYS, BUDGET_KEYS, ENVELOPE_KEYS, MANIFEST_SIGNING_PREFIX,
    MANIFEST_VERSION,
};
#[cfg(not(CONFIG_RUST))]
pub use self::order::{check_order, CheckStep, Stage, CHECK_ORDER};
pub use self::quota::{MemTier, QuotaKind};
pub use self::state::{State, Transition, Trigger, TRANSITIONS};
pub use self::syscall::{
    Syscall, NR_AGENT_ATTEST, NR_AGENT_AUDIT_QUERY, NR_AGENT_CAP_GRANT, NR_AGENT_CAP_PRESENT,
    NR_AGENT_CAP_REVOKE, NR_AGENT_MEMORY_TIER, NR_AGENT_QUOTA, NR_AGENT_SPAWN,
};
