//! [`CapSet`]: a normalized, fixed-capacity capability set with inline scope storage.
//!
//! Job: hold at most `AGENT_CAPS_MAX` (64) entries and answer "is (cap, scope) covered?" fast,
//! keeping three invariants after every operation:
//!
//! 1. **Normalized**: no entry is covered by another entry (`coconut_abi::covers`), and the
//!    scope `*` is stored as the unscoped entry (the two cover exactly the same requests, and
//!    they are the only two distinct valid scopes that cover each other).
//! 2. **Sorted** by (rank, scope), the rank being the position of the capability name in
//!    [`super::NAME_ORDER`], so entries iterate in the bytewise order of their text form.
//! 3. **Compact**: the scopes lie back to back in the arena in entry order (`used` bytes), and
//!    every byte past `len` entries and `used` arena bytes is zero.
//!
//! Together they make equality structural: two sets cover the same requests iff they are `==`.
//!
//! Why the lookup is a binary search: in a normalized set at most one entry covers a request
//! `T` (two covering entries would cover one another): the exact entry `T`, or a wildcard `P*`
//! with `P` a prefix of `T`, or the unscoped entry. Every string that sorts between `P*` and `T`
//! starts with `P`, so an entry there would be covered by `P*`; hence the covering entry, if
//! any, is the exact match or an immediate neighbour of `T`'s sorted position among the entries
//! of its capability.
//!
//! Constraints: no_std, no heap, no panics, no temporary sets (a set is ~4.5 KiB and the kernel
//! keeps it off the stack). Offsets fit `u16` because the arena is 4 KiB.

use core::cell::Cell;
use core::cmp::Ordering;

use super::abi::{covers, parse_capability, validate_scope, CapId, AGENT_CAPS_MAX};
use super::error::CapSetError;
use super::order::{cap_of_rank, rank, RANKS};

/// Total bytes of scope text one set can hold (4 KiB, the size of the largest `caps` array of
/// `agent_spawn`). A set of 64 entries averaging 64 scope bytes fits; inserting past it fails
/// with [`CapSetError::ArenaFull`].
pub const AGENT_CAPSET_ARENA: usize = 4096;

const _: () = assert!(AGENT_CAPSET_ARENA <= u16::MAX as usize);
const _: () = assert!(AGENT_CAPS_MAX <= u8::MAX as usize);

/// One entry: where its scope lies in the arena, and the rank of its capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Entry {
    /// Offset of the scope in the arena.
    off: u16,
    /// Length of the scope (0 = unscoped).
    len: u16,
    /// Rank of the capability (see `order.rs`).
    rank: u8,
}

/// A normalized set of capability entries, at most `AGENT_CAPS_MAX` (64) of them with at most
/// [`AGENT_CAPSET_ARENA`] bytes of scope text in total.
///
/// About 4.5 KiB: keep it in a heap-allocated or static structure, not on a kernel stack.
/// [`CapSet::new`] is `const`, and all-zero bytes are an empty set.
#[derive(Clone)]
pub struct CapSet {
    /// `ends[r]` is the number of entries of rank at most `r`: the entries of rank `r` are
    /// `ends[r - 1]..ends[r]` (the quick reject and the search range of `contains`).
    ends: [u8; RANKS],
    /// Number of entries.
    len: u8,
    /// Bytes of the arena in use.
    used: u16,
    /// Entries, sorted by (rank, scope); only the first `len` are meaningful.
    entries: [Entry; AGENT_CAPS_MAX],
    /// The scopes, back to back in entry order; only the first `used` bytes are meaningful.
    arena: [u8; AGENT_CAPSET_ARENA],
}

impl Default for CapSet {
    fn default() -> Self {
        CapSet::new()
    }
}

impl PartialEq for CapSet {
    fn eq(&self, other: &CapSet) -> bool {
        // Compact and sorted: the meaningful prefixes say everything.
        self.ends == other.ends
            && self.entries() == other.entries()
            && self.arena.get(..usize::from(self.used))
                == other.arena.get(..usize::from(other.used))
    }
}

impl Eq for CapSet {}

impl core::fmt::Debug for CapSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CapSet ")?;
        f.debug_list()
            .entries(self.iter().map(|(cap, scope)| TextForm(cap, scope)))
            .finish()
    }
}

/// Formats one entry as its text form `name[:scope]`.
struct TextForm<'a>(CapId, &'a [u8]);

impl core::fmt::Debug for TextForm<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for TextForm<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0.name())?;
        if !self.1.is_empty() {
            // Stored scopes are validated printable ASCII, so they are UTF-8.
            f.write_str(":")?;
            f.write_str(core::str::from_utf8(self.1).unwrap_or("?"))?;
        }
        Ok(())
    }
}

/// The agentfs `caps` file form: one `name[:scope]` per line, each ending in `\n`, sorted.
impl core::fmt::Display for CapSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (cap, scope) in self.iter() {
            core::fmt::Display::fmt(&TextForm(cap, scope), f)?;
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// Checks a scope and returns its canonical form: empty stays unscoped, `*` becomes unscoped,
/// anything else must pass `coconut_abi::validate_scope`.
fn canonical_scope(scope: &[u8]) -> Result<&[u8], CapSetError> {
    if scope.is_empty() || scope == b"*" {
        return Ok(&[]);
    }
    validate_scope(scope)?;
    Ok(scope)
}

/// The number of `entries` and their total scope bytes (at most 128 entries of at most 4096
/// bytes each are ever tallied, so the sums never saturate).
fn tally<'e>(entries: impl Iterator<Item = &'e Entry>) -> (usize, usize) {
    entries.fold((0usize, 0usize), |(n, bytes), e| {
        (
            n.saturating_add(1),
            bytes.saturating_add(usize::from(e.len)),
        )
    })
}

/// Bytewise order of two scopes (the order of `<[u8]>::cmp`), eight bytes at a time: scopes
/// in one set often share long prefixes (`/srv/data/…`), and this avoids a `memcmp` call per
/// probe of the binary search.
#[inline]
fn cmp_scope(a: &[u8], b: &[u8]) -> Ordering {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_be_bytes(x.try_into().unwrap_or([0; 8]));
        let y = u64::from_be_bytes(y.try_into().unwrap_or([0; 8]));
        if x != y {
            return x.cmp(&y);
        }
    }
    // Whole chunks were equal; at least one side has fewer than 8 bytes left. Rounding down
    // to a multiple of 8 is clearing the low three bits. (This form is cheaper
    // per lookup than splitting with `split_first_chunk`: 8-14% fewer instructions.)
    let done = a.len().min(b.len()) & !7;
    let (ra, rb) = (a.get(done..).unwrap_or(&[]), b.get(done..).unwrap_or(&[]));
    for (x, y) in ra.iter().zip(rb) {
        if x != y {
            return x.cmp(y);
        }
    }
    ra.len().cmp(&rb.len())
}

/// `region.copy_within(from..from + count, to)` without a panic path: returns false, changing
/// nothing, if either range leaves `region`. At the kernel's `opt-level=s`, `copy_within` stays
/// out of line with its bound-check panics. Seen as cells, the two overlapping ranges can be
/// borrowed at once, and copied element by element in the direction that reads every source
/// element before it is overwritten.
fn move_within<T: Copy>(region: &mut [T], from: usize, to: usize, count: usize) -> bool {
    let cells = Cell::from_mut(region).as_slice_of_cells();
    let range = |start: usize| {
        start
            .checked_add(count)
            .and_then(|end| cells.get(start..end))
    };
    let (Some(src), Some(dst)) = (range(from), range(to)) else {
        return false;
    };
    if to > from {
        for (d, s) in dst.iter().rev().zip(src.iter().rev()) {
            d.set(s.get());
        }
    } else {
        for (d, s) in dst.iter().zip(src) {
            d.set(s.get());
        }
    }
    true
}

impl CapSet {
    /// The empty set.
    pub const fn new() -> CapSet {
        CapSet {
            ends: [0; RANKS],
            len: 0,
            used: 0,
            entries: [Entry {
                off: 0,
                len: 0,
                rank: 0,
            }; AGENT_CAPS_MAX],
            arena: [0; AGENT_CAPSET_ARENA],
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the set has no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of scope text held (out of [`AGENT_CAPSET_ARENA`]).
    pub fn scope_bytes(&self) -> usize {
        usize::from(self.used)
    }

    /// Removes every entry (and zeroes the storage, so no stale scope bytes remain).
    pub fn clear(&mut self) {
        self.entries_mut().fill(Entry::default());
        if let Some(bytes) = self.arena.get_mut(..usize::from(self.used)) {
            bytes.fill(0);
        }
        self.ends = [0; RANKS];
        self.len = 0;
        self.used = 0;
    }

    /// Makes `self` an exact copy of `other`, in place (no temporary set).
    pub fn assign(&mut self, other: &CapSet) {
        self.clear();
        let used = usize::from(other.used);
        // Element by element: `copy_from_slice::<Entry>` would keep an out-of-line length-check
        // panic in the kernel's `opt-level=s` object.
        for (dst, src) in self.entries.iter_mut().zip(other.entries()) {
            *dst = *src;
        }
        if let (Some(dst), Some(src)) = (self.arena.get_mut(..used), other.arena.get(..used)) {
            dst.copy_from_slice(src);
        }
        self.ends = other.ends;
        self.len = other.len;
        self.used = other.used;
    }

    /// The entries in use.
    #[inline]
    fn entries(&self) -> &[Entry] {
        self.entries.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The entries in use, mutably.
    fn entries_mut(&mut self) -> &mut [Entry] {
        let n = usize::from(self.len);
        self.entries.get_mut(..n).unwrap_or(&mut [])
    }

    /// The scope of an entry.
    #[inline]
    fn scope(&self, e: &Entry) -> &[u8] {
        let start = usize::from(e.off);
        // Both are u16, so the sum cannot overflow a usize (and the check compiles away).
        start
            .checked_add(usize::from(e.len))
            .and_then(|end| self.arena.get(start..end))
            .unwrap_or(&[])
    }

    /// Iterates over the entries as (capability, scope) in text order; the scope is empty for
    /// an unscoped entry.
    pub fn iter(&self) -> Iter<'_> {
        Iter { set: self, next: 0 }
    }

    /// Whether some entry covers the request (`cap`, `scope`) — `agent_cap_present` and the
    /// LSM's check. `scope` is the request as given (empty = unscoped) and is not validated: an
    /// invalid request is simply covered only by entries that cover it bytewise.
    ///
    /// Cost: an index lookup (an empty range rejects at once), a binary search over the
    /// entries of this capability only (at most 7 probes), and at most two neighbour checks.
    #[inline]
    pub fn contains(&self, cap: CapId, scope: &[u8]) -> bool {
        self.contains_rank(rank(cap), scope)
    }

    #[inline]
    fn contains_rank(&self, r: u8, scope: &[u8]) -> bool {
        let (lo, hi) = self.range(r);
        if lo == hi {
            return false;
        }
        let pos = match self.find_in(lo, hi, scope) {
            Ok(_) => return true,
            Err(pos) => pos,
        };
        // Only an immediate neighbour of the same rank can cover the request (module docs).
        let covering = |i: usize| {
            self.entries
                .get(i)
                .is_some_and(|e| covers(self.scope(e), scope))
        };
        (pos > lo && pos.checked_sub(1).is_some_and(covering)) || (pos < hi && covering(pos))
    }

    /// The index range of the entries of rank `r`.
    #[inline]
    fn range(&self, r: u8) -> (usize, usize) {
        let r = usize::from(r);
        let hi = self.ends.get(r).map_or(0, |&e| usize::from(e));
        let lo = match r.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(hi, |&e| usize::from(e)),
            None => 0,
        };
        (lo.min(hi), hi)
    }

    /// Binary search for `scope` among the entries `lo..hi` (all of one rank): `Ok(index)` if
    /// present, else `Err(index)` where it would be inserted.
    #[inline]
    fn find_in(&self, lo: usize, hi: usize, scope: &[u8]) -> Result<usize, usize> {
        let slice = self.entries.get(lo..hi).unwrap_or(&[]);
        // `lo + i <= hi <= 64`: the additions never saturate.
        match slice.binary_search_by(|e| cmp_scope(self.scope(e), scope)) {
            Ok(i) => Ok(lo.saturating_add(i)),
            Err(i) => Err(lo.saturating_add(i)),
        }
    }

    /// Binary search for the entry (rank, scope): `Ok(index)` if present, else `Err(index)`
    /// where it would be inserted.
    #[inline]
    fn find(&self, r: u8, scope: &[u8]) -> Result<usize, usize> {
        let (lo, hi) = self.range(r);
        self.find_in(lo, hi, scope)
    }

    /// Whether every entry of `self` is covered by an entry of `other` (the subset rule of
    /// delegation: caps(child) ⊆ caps(parent)).
    pub fn is_subset_of(&self, other: &CapSet) -> bool {
        self.entries()
            .iter()
            .all(|e| other.contains_rank(e.rank, self.scope(e)))
    }

    /// Adds the entry (`cap`, `scope`), `scope` empty for unscoped. If an entry already covers
    /// it nothing changes; otherwise the entries it covers are removed and it is inserted in
    /// order. Errors ([`CapSetError::ScopeTooLong`], [`CapSetError::InvalidScope`] for a bad
    /// scope; [`CapSetError::Full`], [`CapSetError::ArenaFull`] when the result would not fit)
    /// leave the set unchanged.
    pub fn insert(&mut self, cap: CapId, scope: &[u8]) -> Result<(), CapSetError> {
        let scope = canonical_scope(scope)?;
        self.insert_canonical(rank(cap), scope)
    }

    /// Adds an entry given in the text form `name` or `name:scope` (parsed by
    /// `coconut_abi::parse_capability`); then as [`CapSet::insert`].
    pub fn insert_text(&mut self, text: &[u8]) -> Result<(), CapSetError> {
        let (cap, scope) = parse_capability(text)?;
        self.insert(cap, scope)
    }

    /// Insert of a scope already in canonical form.
    fn insert_canonical(&mut self, r: u8, scope: &[u8]) -> Result<(), CapSetError> {
        if self.contains_rank(r, scope) {
            return Ok(());
        }
        // What the new entry makes redundant, and whether the result fits, before any change.
        let (dropped, dropped_bytes) = tally(
            self.entries()
                .iter()
                .filter(|e| e.rank == r && covers(scope, self.scope(e))),
        );
        // `dropped <= len` and `dropped_bytes <= used`: they count a subset of the entries, so
        // the subtractions never saturate.
        if self.len().saturating_sub(dropped) >= AGENT_CAPS_MAX {
            return Err(CapSetError::Full);
        }
        let bytes = usize::from(self.used)
            .saturating_sub(dropped_bytes)
            .saturating_add(scope.len());
        if bytes > AGENT_CAPSET_ARENA {
            return Err(CapSetError::ArenaFull);
        }
        if dropped > 0 {
            self.retain(|er, es| !(er == r && covers(scope, es)));
        }
        self.insert_sorted(r, scope)
    }

    /// Inserts an entry at its sorted position. The caller has checked that it fits and that
    /// no entry covers it or is covered by it. If it does not fit after all (a bug of this
    /// module), the set is left unchanged and [`CapSetError::Inconsistent`] returned.
    fn insert_sorted(&mut self, r: u8, scope: &[u8]) -> Result<(), CapSetError> {
        let n = self.len();
        let used = usize::from(self.used);
        let pos = match self.find(r, scope) {
            Ok(_) => return Ok(()),
            Err(pos) => pos,
        };
        let off = self.entries().get(pos).map_or(used, |e| usize::from(e.off));
        let slen = scope.len();
        // Every bound of the moves below, checked before anything changes: the arena and the
        // entries keep their limits, `off <= used` and `pos <= n`.
        let plan = (|| {
            let new_used = used
                .checked_add(slen)
                .filter(|&u| u <= AGENT_CAPSET_ARENA)?;
            let new_len = n.checked_add(1).filter(|&l| l <= AGENT_CAPS_MAX)?;
            let gap_end = off.checked_add(slen).filter(|_| off <= used && pos <= n)?;
            let entry = Entry {
                off: u16::try_from(off).ok()?,
                len: u16::try_from(slen).ok()?,
                rank: r,
            };
            Some((new_used, new_len, gap_end, entry))
        })();
        let Some((new_used, new_len, gap_end, entry)) = plan else {
            debug_assert!(false, "CapSet::insert_sorted: the entry does not fit");
            return Err(CapSetError::Inconsistent);
        };
        // Open a gap of `slen` bytes at `off` and of one entry at `pos` (the ranges were
        // checked above, so the moves cannot fail).
        let moved = move_within(&mut self.arena, off, gap_end, used.saturating_sub(off))
            && move_within(
                &mut self.entries,
                pos,
                pos.saturating_add(1),
                n.saturating_sub(pos),
            );
        debug_assert!(moved, "CapSet::insert_sorted: checked moves failed");
        for (dst, src) in self
            .arena
            .get_mut(off..gap_end)
            .unwrap_or_default()
            .iter_mut()
            .zip(scope)
        {
            *dst = *src;
        }
        // The entries after the new one move `slen` bytes up: offsets stay below
        // AGENT_CAPSET_ARENA (4096), so the additions never saturate.
        for e in self
            .entries
            .get_mut(pos.saturating_add(1)..new_len)
            .unwrap_or_default()
        {
            e.off = e.off.saturating_add(entry.len);
        }
        if let Some(slot) = self.entries.get_mut(pos) {
            *slot = entry;
        }
        // `new_len <= 64` and `new_used <= 4096` fit `u8` and `u16`.
        self.len = new_len as u8;
        self.used = new_used as u16;
        // The entry counts per rank stay at most 64.
        for end in self.ends.get_mut(usize::from(r)..).unwrap_or_default() {
            *end = end.saturating_add(1);
        }
        Ok(())
    }

    /// Keeps the entries for which `keep(rank, scope)` is true, compacting entries and arena
    /// in one pass and zeroing what is freed. Returns how many entries were removed.
    fn retain(&mut self, mut keep: impl FnMut(u8, &[u8]) -> bool) -> usize {
        let n = self.len();
        let mut w = 0usize;
        let mut wb = 0usize;
        let mut ends = [0u8; RANKS];
        for i in 0..n {
            let Some(&e) = self.entries.get(i) else { break };
            if !keep(e.rank, self.scope(&e)) {
                continue;
            }
            let (off, len) = (usize::from(e.off), usize::from(e.len));
            // Compaction only moves bytes down: `wb <= off` and `off + len <= used`.
            if wb < off {
                let moved = move_within(&mut self.arena, off, wb, len);
                debug_assert!(moved, "CapSet::retain: an entry lies outside the arena");
            }
            if let Some(slot) = self.entries.get_mut(w) {
                *slot = Entry {
                    off: wb as u16,
                    len: e.len,
                    rank: e.rank,
                };
            }
            // Count the kept entry for its rank and every later rank (at most 64 each).
            for end in ends.get_mut(usize::from(e.rank)..).unwrap_or_default() {
                *end = end.saturating_add(1);
            }
            // `w < n <= 64` and `wb + len <= used <= 4096`: no saturation.
            w = w.saturating_add(1);
            wb = wb.saturating_add(len);
        }
        if let Some(tail) = self.entries.get_mut(w..n) {
            tail.fill(Entry::default());
        }
        if let Some(tail) = self.arena.get_mut(wb..usize::from(self.used)) {
            tail.fill(0);
        }
        // `w <= n <= 64` and `wb <= used <= 4096`.
        self.len = w as u8;
        self.used = wb as u16;
        self.ends = ends;
        n.saturating_sub(w)
    }

    /// Revocation: removes every entry covered by (`cap`, `scope`) and returns how many were
    /// removed. An entry *wider* than the revoked one (`fs.read` when `fs.read:/srv/*` is
    /// revoked) is kept: a set cannot express "all but", so revocation never splits an entry
    /// (`docs/abi.md`, `agent_cap_revoke`). Call [`CapSet::contains`] afterwards to learn
    /// whether the revoked entry is still covered by such a wider one.
    ///
    /// Applied to an agent and then to each descendant, it keeps caps(child) ⊆ caps(parent):
    /// a child entry survives only if it is not covered by the revoked entry, and then the
    /// parent entry covering it is not covered either (coverage is transitive).
    pub fn remove_covered_by(&mut self, cap: CapId, scope: &[u8]) -> Result<usize, CapSetError> {
        let scope = canonical_scope(scope)?;
        let r = rank(cap);
        let (lo, hi) = self.range(r);
        if lo == hi {
            return Ok(0);
        }
        Ok(self.retain(|er, es| !(er == r && covers(scope, es))))
    }

    /// `out = a ∪ b`: the normalized set covering exactly what `a` or `b` covers (the least
    /// set of which both are subsets). The size of the result is checked before `out` is
    /// built, so [`CapSetError::Full`] and [`CapSetError::ArenaFull`] mean that the union
    /// itself does not fit, whatever the order of the entries. On error `out` is left empty.
    pub fn union_into(a: &CapSet, b: &CapSet, out: &mut CapSet) -> Result<(), CapSetError> {
        out.clear();
        // An entry of `a` stays unless a wider entry of `b` covers it; an entry of `b` joins
        // unless `a` already covers it. Neither side then covers an entry of the other.
        let a_keeps = |e: &Entry| {
            let s = a.scope(e);
            !b.contains_rank(e.rank, s) || b.find(e.rank, s).is_ok()
        };
        let b_joins = |e: &Entry| !a.contains_rank(e.rank, b.scope(e));
        let (n, bytes) = tally(
            a.entries()
                .iter()
                .filter(|e| a_keeps(e))
                .chain(b.entries().iter().filter(|e| b_joins(e))),
        );
        if n > AGENT_CAPS_MAX {
            return Err(CapSetError::Full);
        }
        if bytes > AGENT_CAPSET_ARENA {
            return Err(CapSetError::ArenaFull);
        }
        out.assign(a);
        out.retain(|r, s| !b.contains_rank(r, s) || b.find(r, s).is_ok());
        for e in b.entries().iter().filter(|e| b_joins(e)) {
            if let Err(err) = out.insert_sorted(e.rank, b.scope(e)) {
                out.clear();
                return Err(err);
            }
        }
        Ok(())
    }

    /// `out = a ∩ b`: the normalized set covering exactly the requests that both `a` and `b`
    /// cover (the greatest common subset). For two entries of one capability, the intersection
    /// is the narrower one when one covers the other (which includes two wildcards where one
    /// prefix extends the other), and empty otherwise. No candidate strictly covers another
    /// (it would make `a` or `b` non-normalized), so inserting them never removes one and
    /// [`CapSetError::Full`] or [`CapSetError::ArenaFull`] mean that the intersection itself
    /// does not fit. On error `out` is left empty.
    pub fn intersection_into(a: &CapSet, b: &CapSet, out: &mut CapSet) -> Result<(), CapSetError> {
        out.clear();
        for ea in a.entries() {
            let sa = a.scope(ea);
            for eb in b.entries() {
                if eb.rank != ea.rank {
                    continue;
                }
                let sb = b.scope(eb);
                let narrower = if covers(sa, sb) {
                    sb
                } else if covers(sb, sa) {
                    sa
                } else {
                    continue;
                };
                if let Err(err) = out.insert_canonical(ea.rank, narrower) {
                    out.clear();
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Bytes [`CapSet::render`] writes: the agentfs `caps` file size.
    pub fn rendered_len(&self) -> usize {
        // At most 64 lines of at most 300 bytes: the sums never saturate.
        self.iter().fold(0usize, |total, (cap, scope)| {
            let sep = usize::from(!scope.is_empty());
            total
                .saturating_add(cap.name().len())
                .saturating_add(sep)
                .saturating_add(scope.len())
                .saturating_add(1)
        })
    }

    /// Writes the agentfs `caps` file into `out`: one `name[:scope]` per line, each ending in
    /// `\n`, sorted bytewise (which is the set's order). Returns the bytes written, or
    /// [`CapSetError::BufferTooSmall`] (then `out` holds a partial rendering).
    pub fn render(&self, out: &mut [u8]) -> Result<usize, CapSetError> {
        let mut w = Writer { out, at: 0 };
        for (cap, scope) in self.iter() {
            w.put(cap.name().as_bytes())?;
            if !scope.is_empty() {
                w.put(b":")?;
                w.put(scope)?;
            }
            w.put(b"\n")?;
        }
        Ok(w.at)
    }
}

/// A bounded writer into a caller buffer.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), CapSetError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(CapSetError::BufferTooSmall)?;
        let dst = self
            .out
            .get_mut(self.at..end)
            .ok_or(CapSetError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }
}

/// Iterator over the entries of a [`CapSet`], in text order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    set: &'a CapSet,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (CapId, &'a [u8]);

    fn next(&mut self) -> Option<(CapId, &'a [u8])> {
        let set = self.set;
        loop {
            let e = set.entries().get(self.next)?;
            // `next` indexed an entry, so it is below 64.
            self.next = self.next.saturating_add(1);
            // Every stored rank names a capability; skip defensively if one did not.
            if let Some(cap) = cap_of_rank(e.rank) {
                return Some((cap, set.scope(e)));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.set.len().saturating_sub(self.next);
        (0, Some(left))
    }
}

impl<'a> IntoIterator for &'a CapSet {
    type Item = (CapId, &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::move_within;

    /// `move_within` does what `copy_within` does for every range that fits, in both
    /// directions and overlapping or not, and refuses (changing nothing) every range that
    /// does not.
    #[test]
    fn move_within_is_copy_within_without_the_panic() {
        for len in 0..=8 {
            for from in 0..=len + 1 {
                for to in 0..=len + 1 {
                    for count in 0..=len + 1 {
                        let mut ours: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
                        let mut theirs = ours;
                        let fits = from + count <= len && to + count <= len;
                        assert_eq!(move_within(&mut ours[..len], from, to, count), fits);
                        if fits {
                            theirs[..len].copy_within(from..from + count, to);
                        }
                        assert_eq!(ours, theirs, "len {len}, {from}..+{count} -> {to}");
                    }
                }
            }
        }
    }
}
