//! Shared test code: the reference model and proptest strategies.
#![allow(dead_code)]

pub mod model;

use coconut_abi::CapId;
use proptest::prelude::*;

/// Capabilities the generated entries use: few, so that entries interact.
pub fn cap() -> impl Strategy<Value = CapId> {
    prop_oneof![
        4 => prop::sample::select(vec![CapId::FsRead, CapId::NetConnect, CapId::AgentSpawn]),
        1 => prop::sample::select(CapId::ALL.to_vec()),
    ]
}

/// Short scopes over a tiny alphabet (so prefixes collide often), optionally a wildcard;
/// sometimes empty (unscoped) or a bare `*`.
pub fn short_scope() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(prop::sample::select(b"/ab:".to_vec()), 0..=4),
        any::<bool>(),
    )
        .prop_map(|(mut s, star)| {
            if star {
                s.push(b'*');
            }
            s
        })
}

/// A long scope (128..=256 bytes), to reach the arena limit.
pub fn long_scope() -> impl Strategy<Value = Vec<u8>> {
    (short_scope(), 128usize..=256).prop_map(|(s, len)| {
        let base = s.strip_suffix(b"*").unwrap_or(&s).to_vec();
        let mut v = base;
        while v.len() < len {
            v.push(b'x');
        }
        v.truncate(len);
        v
    })
}

/// A valid scope: mostly short.
pub fn scope() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![20 => short_scope(), 1 => long_scope()]
}

/// One valid entry.
pub fn entry() -> impl Strategy<Value = (CapId, Vec<u8>)> {
    (cap(), scope())
}

/// Entries for a set of moderate size.
pub fn entries(max: usize) -> impl Strategy<Value = Vec<(CapId, Vec<u8>)>> {
    prop::collection::vec((cap(), short_scope()), 0..=max)
}

/// A narrower entry than (cap, scope), chosen by `pick`: the same entry, or a scope that the
/// original covers (an unscoped entry gets any scope; a wildcard gets a longer prefix or an
/// exact path under it).
pub fn narrow(cap: CapId, scope: &[u8], pick: u8) -> (CapId, Vec<u8>) {
    let tail: &[u8] = match pick % 4 {
        0 => return (cap, scope.to_vec()),
        1 => b"a",
        2 => b"/b*",
        _ => b":*",
    };
    if scope.is_empty() {
        return (cap, tail.to_vec());
    }
    match scope.strip_suffix(b"*") {
        Some(prefix) => {
            let mut v = prefix.to_vec();
            v.extend_from_slice(tail);
            (cap, v)
        }
        None => (cap, scope.to_vec()),
    }
}

/// A wider entry than (cap, scope), chosen by `pick`: the same, unscoped, or a shorter
/// prefix wildcard.
pub fn widen(cap: CapId, scope: &[u8], pick: u8) -> (CapId, Vec<u8>) {
    let base = scope.strip_suffix(b"*").unwrap_or(scope);
    match pick % 3 {
        0 => (cap, scope.to_vec()),
        1 => (cap, Vec::new()),
        _ => {
            let mut v = base[..base.len() / 2].to_vec();
            v.push(b'*');
            (cap, v)
        }
    }
}
