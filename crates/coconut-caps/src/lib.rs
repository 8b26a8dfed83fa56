#![cfg_attr(not(CONFIG_RUST), no_std)]
//! Capability-set algebra for Coconut OS agents: the bound set, the manifest ceiling and the
//! requested set of every agent are [`CapSet`]s.
//!
//! Job: a fixed-capacity set of capability entries (`CapId` plus an optional scope) that is
//! always *normalized* — no entry is covered by another, `name:*` is stored as the equivalent
//! unscoped `name`, and entries are sorted by their text form — so that two sets cover the
//! same requests exactly when they are equal field by field. On top of it: the coverage check
//! of `agent_cap_present` and of the LSM hooks ([`CapSet::contains`]: an empty-range reject, then a
//! binary search among that capability's entries), the subset rule of delegation ([`CapSet::is_subset_of`]), union,
//! intersection, revocation ([`CapSet::remove_covered_by`]), parsing of the text form
//! `name[:scope]` and rendering of the agentfs `caps` file. The coverage rule itself is
//! `coconut_abi::covers`; this crate never restates it.
//!
//! Constraints: the kernel build includes these files as a module next to `coconut_abi`, so the
//! crate is `no_std`, has no dependencies but our own shared crates (reached through the `abi`
//! alias below, never through `crate::`), no heap, no `unsafe`, no floats, no 128-bit integers,
//! and cannot panic on any input. A `CapSet` is about 4.5 KiB: the kernel keeps sets inside its
//! heap-allocated agent struct and never on the stack; every operation works in place and
//! builds no temporary set. All-zero bytes are a valid empty set, so zeroed memory
//! (`kzalloc`, `Zeroable`) may hold one without running a constructor.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(CONFIG_RUST)]
use super::coconut_abi as abi;
#[cfg(not(CONFIG_RUST))]
use coconut_abi as abi;

mod error;
mod order;
mod set;

pub use self::error::CapSetError;
pub use self::order::NAME_ORDER;
pub use self::set::{CapSet, Iter, AGENT_CAPSET_ARENA};
