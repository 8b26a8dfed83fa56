//! Property tests: `CapSet` against the naive model, and the algebraic laws of the set
//! operations, each over 10 000 generated cases.
//!
//! Coverage is compared on a finite universe of requests built from the entries involved (each
//! scope, its prefixes with and without `*`, one byte longer, unscoped) plus random requests,
//! which is where two scope sets can differ.

mod common;

use coconut_abi::CapId;
use coconut_caps::{CapSet, CapSetError};
use common::model::{check_invariants, covers, lines_of, set_of, universe, Model};
use common::{cap, entries, entry, narrow, scope, short_scope, widen};
use proptest::prelude::*;

const CASES: u32 = 10_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Builds a set and its model from raw entries; entries that do not fit are skipped by both.
fn build(raw: &[(CapId, Vec<u8>)]) -> (Box<CapSet>, Model) {
    let mut set = Box::new(CapSet::new());
    let mut model = Model::default();
    for (c, s) in raw {
        let want = model.insert(*c, s);
        assert_eq!(set.insert(*c, s), want);
    }
    (set, model)
}

fn entries_of(set: &CapSet) -> Vec<(CapId, Vec<u8>)> {
    set.iter().map(|(c, s)| (c, s.to_vec())).collect()
}

fn requests() -> impl Strategy<Value = Vec<(CapId, Vec<u8>)>> {
    prop::collection::vec((cap(), short_scope()), 0..16)
}

proptest! {
    #![proptest_config(config())]

    /// `contains` agrees with brute-force coverage of everything inserted (normalization
    /// preserves coverage), the entries are exactly the model's normalized entries, and the
    /// structural invariants hold.
    #[test]
    fn contains_agrees_with_the_model(
        raw in prop::collection::vec(entry(), 0..40),
        extra in requests(),
    ) {
        let (set, model) = build(&raw);
        check_invariants(&set);
        prop_assert_eq!(lines_of(&set), model.lines());
        // Coverage of what was accepted, with every accepted raw entry counted.
        let accepted = Model { entries: model.entries.clone() };
        for (c, s) in universe(&raw, &extra) {
            prop_assert_eq!(set.contains(c, &s), accepted.covers(c, &s), "{:?}:{:?}", c, s);
        }
        // Every accepted raw entry is still covered (nothing inserted is lost).
        let mut replay = Model::default();
        for (c, s) in &raw {
            if replay.insert(*c, s).is_ok() {
                let canon = common::model::canon(s);
                prop_assert!(set.contains(*c, &canon));
            }
        }
    }

    /// Subset is reflexive, transitive and antisymmetric on normalized sets, and agrees with
    /// coverage of the universe.
    #[test]
    fn subset_laws(
        b_raw in entries(20),
        picks in prop::collection::vec((any::<bool>(), any::<u8>()), 20),
        extra in entries(8),
        other in entries(12),
        reqs in requests(),
    ) {
        let (b, _) = build(&b_raw);
        // a: a narrowing of some of b's entries, so a ⊆ b by construction.
        let b_entries = entries_of(&b);
        let a_raw: Vec<_> = b_entries
            .iter()
            .zip(&picks)
            .filter(|(_, (keep, _))| *keep)
            .map(|((c, s), (_, p))| narrow(*c, s, *p))
            .collect();
        let (a, _) = build(&a_raw);
        // c: b plus more, so b ⊆ c when everything fit.
        let mut c_raw = b_entries.clone();
        c_raw.extend(extra.iter().cloned());
        let (c, c_model) = build(&c_raw);
        let c_complete = c_model.capacity().is_ok() && c_raw.iter().all(|(cap, s)| c.contains(*cap, &common::model::canon(s)));
        prop_assert!(a.is_subset_of(&a));
        prop_assert!(b.is_subset_of(&b));
        prop_assert!(a.is_subset_of(&b));
        if c_complete {
            prop_assert!(b.is_subset_of(&c));
            prop_assert!(a.is_subset_of(&c));
        }
        // Random sets: the implications, and agreement with universe coverage.
        let (o, _) = build(&other);
        let sets = [&a, &b, &c, &o];
        let all: Vec<_> = sets.iter().flat_map(|s| entries_of(s)).collect();
        let u = universe(&all, &reqs);
        for x in sets {
            for y in sets {
                let sub = x.is_subset_of(y);
                let by_coverage = u.iter().all(|(cap, s)| !x.contains(*cap, s) || y.contains(*cap, s));
                prop_assert_eq!(sub, by_coverage);
                if sub && y.is_subset_of(x) {
                    prop_assert_eq!(x, y);
                }
                for z in sets {
                    if sub && y.is_subset_of(z) {
                        prop_assert!(x.is_subset_of(z));
                    }
                }
            }
        }
        // The same content inserted in another order, with redundant entries, is equal.
        let mut shuffled: Vec<_> = entries_of(&b).into_iter().rev().collect();
        shuffled.extend(entries_of(&a));
        let (b2, _) = build(&shuffled);
        prop_assert_eq!(&*b2, &*b);
    }

    /// Union covers exactly what either side covers, contains both, is the least such set, and
    /// fails with `Full`/`ArenaFull` exactly when the normalized union does not fit.
    #[test]
    fn union_is_the_least_upper_bound(
        a_raw in prop::collection::vec(entry(), 0..48),
        b_raw in prop::collection::vec(entry(), 0..48),
        widen_picks in prop::collection::vec(any::<u8>(), 64),
        reqs in requests(),
    ) {
        let (a, am) = build(&a_raw);
        let (b, bm) = build(&b_raw);
        let mut u = Box::new(CapSet::new());
        let got = CapSet::union_into(&a, &b, &mut u);
        match Model::union(&am, &bm) {
            Err(e) => {
                prop_assert_eq!(got, Err(e));
                prop_assert!(u.is_empty());
            }
            Ok(um) => {
                prop_assert_eq!(got, Ok(()));
                check_invariants(&u);
                prop_assert_eq!(lines_of(&u), um.lines());
                let all: Vec<_> = entries_of(&a).into_iter().chain(entries_of(&b)).collect();
                for (c, s) in universe(&all, &reqs) {
                    prop_assert_eq!(u.contains(c, &s), a.contains(c, &s) || b.contains(c, &s));
                }
                prop_assert!(a.is_subset_of(&u) && b.is_subset_of(&u));
                // Any upper bound contains the union: widen the union's entries.
                let widened: Vec<_> = entries_of(&u)
                    .iter()
                    .zip(&widen_picks)
                    .map(|((c, s), p)| widen(*c, s, *p))
                    .collect();
                let (w, _) = build(&widened);
                if a.is_subset_of(&w) && b.is_subset_of(&w) {
                    prop_assert!(u.is_subset_of(&w));
                }
                // Union with itself and with the empty set is the identity.
                let mut same = Box::new(CapSet::new());
                CapSet::union_into(&a, &a, &mut same).unwrap();
                prop_assert_eq!(&*same, &*a);
                CapSet::union_into(&a, &CapSet::new(), &mut same).unwrap();
                prop_assert_eq!(&*same, &*a);
            }
        }
    }

    /// Intersection covers exactly what both sides cover, is a subset of both, contains every
    /// common subset, and matches the model.
    #[test]
    fn intersection_is_the_greatest_lower_bound(
        a_raw in entries(24),
        b_raw in entries(24),
        picks in prop::collection::vec(any::<u8>(), 64),
        reqs in requests(),
    ) {
        let (a, am) = build(&a_raw);
        let (b, bm) = build(&b_raw);
        let mut i = Box::new(CapSet::new());
        let got = CapSet::intersection_into(&a, &b, &mut i);
        match Model::intersection(&am, &bm) {
            Err(e) => {
                prop_assert_eq!(got, Err(e));
                prop_assert!(i.is_empty());
            }
            Ok(im) => {
                prop_assert_eq!(got, Ok(()));
                check_invariants(&i);
                prop_assert_eq!(lines_of(&i), im.lines());
                let all: Vec<_> = entries_of(&a).into_iter().chain(entries_of(&b)).collect();
                for (c, s) in universe(&all, &reqs) {
                    prop_assert_eq!(i.contains(c, &s), a.contains(c, &s) && b.contains(c, &s));
                }
                prop_assert!(i.is_subset_of(&a) && i.is_subset_of(&b));
                // A common subset: narrowings of a's entries that b covers.
                let common: Vec<_> = entries_of(&a)
                    .iter()
                    .zip(&picks)
                    .map(|((c, s), p)| narrow(*c, s, *p))
                    .filter(|(c, s)| b.contains(*c, s))
                    .collect();
                let (cs, _) = build(&common);
                prop_assert!(cs.is_subset_of(&a) && cs.is_subset_of(&b));
                prop_assert!(cs.is_subset_of(&i));
                // Commutative, and idempotent.
                let mut j = Box::new(CapSet::new());
                CapSet::intersection_into(&b, &a, &mut j).unwrap();
                prop_assert_eq!(&*j, &*i);
                CapSet::intersection_into(&a, &a, &mut j).unwrap();
                prop_assert_eq!(&*j, &*a);
            }
        }
    }

    /// Revocation removes exactly the covered entries, leaves nothing covered by the revoked
    /// entry except through wider kept entries, never grows coverage, and keeps the coverage
    /// of every request the revoked entry does not cover.
    #[test]
    fn revocation_only_shrinks(
        raw in prop::collection::vec(entry(), 0..40),
        revoked in (cap(), scope()),
        reqs in requests(),
    ) {
        let (mut set, mut model) = build(&raw);
        let before = set.clone();
        let (rc, rs) = revoked;
        let want = model.revoke(rc, &rs);
        prop_assert_eq!(set.remove_covered_by(rc, &rs), want);
        check_invariants(&set);
        prop_assert_eq!(lines_of(&set), model.lines());
        let r = common::model::canon(&rs);
        for (c, s) in set.iter() {
            prop_assert!(!(c == rc && covers(&r, s)), "{:?}:{:?} survived", c, s);
        }
        prop_assert_eq!(before.len() - set.len(), want.unwrap());
        prop_assert!(set.is_subset_of(&before));
        let mut all = entries_of(&before);
        all.push((rc, rs.clone()));
        for (c, s) in universe(&all, &reqs) {
            let now = set.contains(c, &s);
            prop_assert!(!now || before.contains(c, &s));
            if !(c == rc && covers(&r, &s)) {
                prop_assert_eq!(now, before.contains(c, &s));
            }
        }
    }

    /// The subset invariant caps(child) ⊆ caps(parent) survives revoking from the parent and
    /// then from each descendant, as `agent_cap_revoke` does in one pass.
    #[test]
    fn subset_invariant_survives_revocation_down_the_tree(
        parent_raw in entries(24),
        child_picks in prop::collection::vec((any::<bool>(), any::<u8>()), 24),
        grand_picks in prop::collection::vec((any::<bool>(), any::<u8>()), 24),
        revocations in prop::collection::vec((cap(), short_scope()), 1..4),
    ) {
        let (mut parent, _) = build(&parent_raw);
        let derive = |from: &CapSet, picks: &[(bool, u8)]| {
            let raw: Vec<_> = entries_of(from)
                .iter()
                .zip(picks)
                .filter(|(_, (keep, _))| *keep)
                .map(|((c, s), (_, p))| narrow(*c, s, *p))
                .collect();
            build(&raw).0
        };
        let mut child = derive(&parent, &child_picks);
        let mut grand = derive(&child, &grand_picks);
        prop_assert!(child.is_subset_of(&parent) && grand.is_subset_of(&child));
        for (c, s) in &revocations {
            parent.remove_covered_by(*c, s).unwrap();
            child.remove_covered_by(*c, s).unwrap();
            grand.remove_covered_by(*c, s).unwrap();
            prop_assert!(child.is_subset_of(&parent));
            prop_assert!(grand.is_subset_of(&child));
            prop_assert!(grand.is_subset_of(&parent));
        }
    }

    /// Random operation sequences on three sets, each step checked against the model
    /// (the same operations as the `ops` fuzz target).
    #[test]
    fn operation_sequences_match_the_model(
        ops in prop::collection::vec((0u8..8, 0usize..3, 0usize..3, cap(), scope()), 0..120),
    ) {
        let mut sets: Vec<Box<CapSet>> = (0..3).map(|_| Box::new(CapSet::new())).collect();
        let mut models = vec![Model::default(); 3];
        for (op, i, j, c, s) in ops {
            // With i != j, k is the third set.
            let k = 3usize.saturating_sub(i + j).min(2);
            match op {
                0..=3 => {
                    let want = models[i].insert(c, &s);
                    prop_assert_eq!(sets[i].insert(c, &s), want);
                }
                4 => {
                    let want = models[i].revoke(c, &s);
                    prop_assert_eq!(sets[i].remove_covered_by(c, &s), want);
                }
                5 | 6 if i != j => {
                    let want = if op == 5 {
                        Model::union(&models[i], &models[j])
                    } else {
                        Model::intersection(&models[i], &models[j])
                    };
                    let mut out = std::mem::replace(&mut sets[k], Box::new(CapSet::new()));
                    let got = if op == 5 {
                        CapSet::union_into(&sets[i], &sets[j], &mut out)
                    } else {
                        CapSet::intersection_into(&sets[i], &sets[j], &mut out)
                    };
                    sets[k] = out;
                    match want {
                        Ok(m) => { prop_assert_eq!(got, Ok(())); models[k] = m; }
                        Err(e) => { prop_assert_eq!(got, Err(e)); models[k] = Model::default(); }
                    }
                }
                _ => {
                    let text = common::model::text(c, &s);
                    let want = models[i].insert(c, &s);
                    prop_assert_eq!(sets[i].insert_text(text.as_bytes()), want);
                }
            }
            for x in 0..3 {
                check_invariants(&sets[x]);
                prop_assert_eq!(lines_of(&sets[x]), models[x].lines());
            }
        }
    }
}

/// Entries that overflow a set: many distinct exact scopes (past 64 entries), or long ones
/// (past 4096 scope bytes).
fn filling_entries() -> impl Strategy<Value = Vec<(CapId, Vec<u8>)>> {
    let exact = prop::collection::vec(prop::sample::select(b"/ab:xyz".to_vec()), 3..=6);
    prop_oneof![
        prop::collection::vec((cap(), exact), 40..120),
        prop::collection::vec((cap(), common::long_scope()), 8..40),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Filling a set: every insert agrees with the model, including `Full` and `ArenaFull`,
    /// and a refused insert changes nothing.
    #[test]
    fn capacity_errors_match_the_model(raw in filling_entries()) {
        let mut set = Box::new(CapSet::new());
        let mut model = Model::default();
        for (c, s) in &raw {
            let before = set.clone();
            let want = model.insert(*c, s);
            let got = set.insert(*c, s);
            prop_assert_eq!(got, want);
            if got.is_err() {
                prop_assert_eq!(&*set, &*before);
            }
        }
        check_invariants(&set);
        prop_assert_eq!(lines_of(&set), model.lines());
    }
}

#[test]
fn the_capacity_generator_reaches_both_limits() {
    // Guards the property test above against never exercising a limit.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut full, mut arena) = (0, 0);
    for _ in 0..400 {
        let raw = filling_entries().new_tree(&mut runner).unwrap().current();
        let mut model = Model::default();
        for (c, s) in &raw {
            match model.insert(*c, s) {
                Err(CapSetError::Full) => full += 1,
                Err(CapSetError::ArenaFull) => arena += 1,
                _ => {}
            }
        }
    }
    assert!(
        full > 100 && arena > 100,
        "Full {full} times, ArenaFull {arena} times"
    );
    let _ = set_of(&[]);
}
