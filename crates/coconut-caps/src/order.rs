//! The canonical order of capability names, computed at compile time from the ABI's table.
//!
//! Job: sets print sorted bytewise by their text form (`docs/abi.md`, "Capability model"), and
//! a [`super::CapSet`] keeps its entries in that order so that iteration, rendering and the CBOR
//! array form need no sorting. Because no capability name is a prefix of another (checked
//! below at compile time), the text order of `name[:scope]` is the order of the pairs (name,
//! scope): names bytewise, then the unscoped entry, then scopes bytewise. Each capability's
//! position in [`NAME_ORDER`] is its *rank*, the key the set sorts and indexes by.
//!
//! Constraints: no_std, no panics at run time. The `const fn`s below index arrays; they are
//! evaluated only in `const` items, where an out-of-bounds index is a build error, not a panic.

use super::abi::CapId;

/// Number of capabilities in the table.
const COUNT: usize = CapId::ALL.len();
/// Number of ranks (one per capability).
pub(super) const RANKS: usize = COUNT;
/// Rank slots, indexed by capability id (id 0 is not a capability and has no rank).
const SLOTS: usize = CapId::LAST as usize + 1;

/// Whether `a` sorts strictly before `b`, bytewise.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "evaluated only by the compiler, for the `const` items below: an overflow or an out-of-bounds index is a build error"
)]
const fn bytes_less(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        // Both indexes are below the lengths checked in the loop condition.
        #[allow(clippy::indexing_slicing)]
        let (x, y) = (a[i], b[i]);
        if x != y {
            return x < y;
        }
        i += 1;
    }
    a.len() < b.len()
}

/// Whether `a` is a prefix of `b` (or equal to it).
#[allow(
    clippy::arithmetic_side_effects,
    reason = "evaluated only by the compiler, for the `const` items below: an overflow or an out-of-bounds index is a build error"
)]
const fn is_prefix(a: &[u8], b: &[u8]) -> bool {
    if a.len() > b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        // `i < a.len() <= b.len()`.
        #[allow(clippy::indexing_slicing)]
        let (x, y) = (a[i], b[i]);
        if x != y {
            return false;
        }
        i += 1;
    }
    true
}

/// Every capability sorted by name (insertion sort; 15 elements, compile time only).
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated only by the compiler, for the `const` items below: an overflow or an out-of-bounds index is a build error"
)]
const fn sort_by_name() -> [CapId; COUNT] {
    let mut out = CapId::ALL;
    let mut i = 1;
    while i < COUNT {
        let mut j = i;
        while j > 0 && bytes_less(out[j].name().as_bytes(), out[j - 1].name().as_bytes()) {
            let t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j -= 1;
        }
        i += 1;
    }
    out
}

/// The rank of each id, and a compile-time proof that no name is a prefix of another.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "evaluated only by the compiler, for the `const` items below: an overflow or an out-of-bounds index is a build error"
)]
const fn ranks(order: &[CapId; COUNT]) -> [u8; SLOTS] {
    let mut rank = [u8::MAX; SLOTS];
    let mut i = 0;
    while i < COUNT {
        rank[order[i] as usize] = i as u8;
        let mut j = 0;
        while j < COUNT {
            if i != j {
                assert!(
                    !is_prefix(order[i].name().as_bytes(), order[j].name().as_bytes()),
                    "a capability name is a prefix of another: the text order breaks"
                );
            }
            j += 1;
        }
        i += 1;
    }
    rank
}

/// Every capability in the order its text form sorts: bytewise by name (`agent.admin`,
/// `agent.delegate`, …, `proc.signal`). Sets iterate and render in this order.
pub const NAME_ORDER: [CapId; COUNT] = sort_by_name();

/// The rank of each capability id in [`NAME_ORDER`] (`u8::MAX` for id 0).
static RANK: [u8; SLOTS] = ranks(&NAME_ORDER);

/// The rank of a capability: its index in [`NAME_ORDER`].
#[inline]
pub(super) fn rank(cap: CapId) -> u8 {
    RANK.get(cap as usize).copied().unwrap_or(u8::MAX)
}

/// The capability with this rank, if any.
#[inline]
pub(super) fn cap_of_rank(rank: u8) -> Option<CapId> {
    NAME_ORDER.get(usize::from(rank)).copied()
}
