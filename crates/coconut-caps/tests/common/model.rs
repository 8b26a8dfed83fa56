//! A naive reference model of capability sets, for the property tests and the `ops` fuzz target.
//!
//! Job: restate every operation by brute force over a `Vec` — coverage by scanning all entries
//! with the coverage rule written out from its prose in `docs/abi.md`, normalization by
//! removing every entry some other entry covers, intersection as "the entries of either set
//! that both sets cover" — so that `CapSet`'s sorted, binary-searched, arena-backed version is
//! checked against something obviously right. Capacity errors are predicted from the size of
//! the normalized result (entries first, then scope bytes).
//!
//! Constraints: test code (std); it shares nothing with `CapSet` but the ABI's capability table
//! and scope grammar.
#![allow(dead_code)]

use coconut_abi::{validate_scope, CapError, CapId};
use coconut_caps::{CapSet, CapSetError, AGENT_CAPSET_ARENA};

/// Most entries in a set (`AGENT_CAPS_MAX`).
pub const CAPS_MAX: usize = 64;

/// The coverage rule, from its prose: a held scope covers a requested one iff it is empty, or
/// equal, or ends with `*` and the request starts with the rest.
pub fn covers(held: &[u8], req: &[u8]) -> bool {
    if held.is_empty() || held == req {
        return true;
    }
    match held.split_last() {
        Some((b'*', prefix)) => req.len() >= prefix.len() && &req[..prefix.len()] == prefix,
        _ => false,
    }
}

/// The canonical form of a valid scope: `*` is the same as unscoped.
pub fn canon(scope: &[u8]) -> Vec<u8> {
    if scope == b"*" {
        Vec::new()
    } else {
        scope.to_vec()
    }
}

/// The scope check the set applies, mapped to its error.
pub fn check_scope(scope: &[u8]) -> Result<(), CapSetError> {
    if scope.is_empty() {
        return Ok(());
    }
    validate_scope(scope).map_err(|e| match e {
        CapError::ScopeTooLong => CapSetError::ScopeTooLong,
        other => CapSetError::InvalidScope(other),
    })
}

/// The text form `name[:scope]`.
pub fn text(cap: CapId, scope: &[u8]) -> String {
    if scope.is_empty() {
        cap.name().to_string()
    } else {
        format!("{}:{}", cap.name(), String::from_utf8_lossy(scope))
    }
}

/// A normalized set as a plain vector, in no particular order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub entries: Vec<(CapId, Vec<u8>)>,
}

impl Model {
    /// Whether some entry covers the request.
    pub fn covers(&self, cap: CapId, req: &[u8]) -> bool {
        self.entries
            .iter()
            .any(|(c, s)| *c == cap && covers(s, req))
    }

    /// Normalizes any list of (valid, canonical) entries: drops duplicates and every entry
    /// another entry covers.
    pub fn normalize(list: &[(CapId, Vec<u8>)]) -> Model {
        let mut out: Vec<(CapId, Vec<u8>)> = Vec::new();
        for (i, (c, s)) in list.iter().enumerate() {
            let dominated = list
                .iter()
                .enumerate()
                .any(|(j, (c2, s2))| c2 == c && covers(s2, s) && (s2 != s || j < i));
            if !dominated {
                out.push((*c, s.clone()));
            }
        }
        Model { entries: out }
    }

    /// The capacity error the set must report for this normalized content, if any.
    pub fn capacity(&self) -> Result<(), CapSetError> {
        if self.entries.len() > CAPS_MAX {
            return Err(CapSetError::Full);
        }
        if self.entries.iter().map(|(_, s)| s.len()).sum::<usize>() > AGENT_CAPSET_ARENA {
            return Err(CapSetError::ArenaFull);
        }
        Ok(())
    }

    /// Insert as the set must behave: errors leave the model unchanged.
    pub fn insert(&mut self, cap: CapId, scope: &[u8]) -> Result<(), CapSetError> {
        check_scope(scope)?;
        let mut list = self.entries.clone();
        list.push((cap, canon(scope)));
        let next = Model::normalize(&list);
        next.capacity()?;
        *self = next;
        Ok(())
    }

    /// Revocation: removes every entry the revoked entry covers; returns how many.
    pub fn revoke(&mut self, cap: CapId, scope: &[u8]) -> Result<usize, CapSetError> {
        check_scope(scope)?;
        let r = canon(scope);
        let before = self.entries.len();
        self.entries.retain(|(c, s)| !(*c == cap && covers(&r, s)));
        Ok(before - self.entries.len())
    }

    /// The union, or the capacity error of the normalized result.
    pub fn union(a: &Model, b: &Model) -> Result<Model, CapSetError> {
        let mut list = a.entries.clone();
        list.extend(b.entries.iter().cloned());
        let u = Model::normalize(&list);
        u.capacity()?;
        Ok(u)
    }

    /// The intersection: the entries of either set that both sets cover, normalized.
    pub fn intersection(a: &Model, b: &Model) -> Result<Model, CapSetError> {
        let list: Vec<_> = a
            .entries
            .iter()
            .chain(b.entries.iter())
            .filter(|(c, s)| a.covers(*c, s) && b.covers(*c, s))
            .cloned()
            .collect();
        let i = Model::normalize(&list);
        i.capacity()?;
        Ok(i)
    }

    /// The sorted text lines (what the agentfs `caps` file shows).
    pub fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.iter().map(|(c, s)| text(*c, s)).collect();
        v.sort();
        v
    }
}

/// The text lines of a set, in its own order.
pub fn lines_of(set: &CapSet) -> Vec<String> {
    set.iter().map(|(c, s)| text(c, s)).collect()
}

/// Every structural invariant of a set: strictly ascending text lines (so sorted and without
/// duplicates), no stored `*` scope, no entry covering another, and a consistent size.
pub fn check_invariants(set: &CapSet) {
    let lines = lines_of(set);
    assert!(
        lines.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "entries not strictly ascending: {lines:?}"
    );
    let entries: Vec<(CapId, Vec<u8>)> = set.iter().map(|(c, s)| (c, s.to_vec())).collect();
    assert_eq!(entries.len(), set.len());
    assert!(entries.len() <= CAPS_MAX);
    assert_eq!(
        entries.iter().map(|(_, s)| s.len()).sum::<usize>(),
        set.scope_bytes()
    );
    for (i, (c, s)) in entries.iter().enumerate() {
        assert_ne!(
            s.as_slice(),
            b"*",
            "a `*` scope is stored instead of unscoped"
        );
        for (j, (c2, s2)) in entries.iter().enumerate() {
            assert!(
                i == j || c != c2 || !covers(s2, s),
                "{} covers {}",
                text(*c2, s2),
                text(*c, s)
            );
        }
    }
}

/// A set with exactly the model's entries (inserted in the given order).
pub fn set_of(entries: &[(CapId, Vec<u8>)]) -> Box<CapSet> {
    let mut set = Box::new(CapSet::new());
    for (c, s) in entries {
        set.insert(*c, s).expect("model entries fit");
    }
    set
}

/// Requests to probe coverage with: every scope of the given entries, each of its prefixes
/// with and without `*`, each extended by a byte, the unscoped request, plus `extra`.
pub fn universe(entries: &[(CapId, Vec<u8>)], extra: &[(CapId, Vec<u8>)]) -> Vec<(CapId, Vec<u8>)> {
    let mut out = Vec::new();
    for (c, s) in entries.iter().chain(extra) {
        out.push((*c, Vec::new()));
        out.push((*c, b"*".to_vec()));
        let base = s.strip_suffix(b"*").unwrap_or(s);
        for k in 0..=base.len() {
            let p = &base[..k];
            out.push((*c, p.to_vec()));
            let mut w = p.to_vec();
            w.push(b'*');
            out.push((*c, w));
        }
        let mut longer = s.clone();
        longer.push(b'a');
        out.push((*c, longer));
        out.push((*c, s.clone()));
    }
    out.sort();
    out.dedup();
    out
}
