//! Fuzz target `ops`: random sequences of set operations on three `CapSet`s, each step checked
//! against the naive model of the property tests (`tests/common/model.rs`): same result or
//! error, same entries, and every structural invariant.
#![no_main]

use arbitrary::Arbitrary;
use coconut_abi::{parse_capability, CapId};
use coconut_caps::{CapSet, CapSetError};
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/model.rs"]
mod model;

use model::{check_invariants, lines_of, Model};

/// A scope: bytes below 0xf0 map onto a small alphabet (so prefixes and wildcards collide),
/// the others pass through raw (so invalid scopes occur too).
#[derive(Arbitrary, Debug)]
struct Scope(Vec<u8>);

impl Scope {
    fn bytes(&self) -> Vec<u8> {
        const ALPHABET: &[u8] = b"/ab:*x";
        self.0
            .iter()
            .take(300)
            .map(|&b| {
                if b < 0xf0 {
                    ALPHABET[usize::from(b) % ALPHABET.len()]
                } else {
                    b
                }
            })
            .collect()
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert {
        set: u8,
        cap: u8,
        scope: Scope,
    },
    InsertLong {
        set: u8,
        cap: u8,
        scope: Scope,
        len: u8,
    },
    InsertText {
        set: u8,
        text: Vec<u8>,
    },
    Revoke {
        set: u8,
        cap: u8,
        scope: Scope,
    },
    Contains {
        set: u8,
        cap: u8,
        scope: Scope,
    },
    Union {
        a: u8,
        b: u8,
    },
    Intersection {
        a: u8,
        b: u8,
    },
    Subset {
        a: u8,
        b: u8,
    },
    Clear {
        set: u8,
    },
    Assign {
        dst: u8,
        src: u8,
    },
}

fn cap(b: u8) -> CapId {
    CapId::ALL[usize::from(b) % CapId::ALL.len()]
}

fn idx(b: u8) -> usize {
    usize::from(b) % 3
}

/// The third index, distinct from two distinct ones.
fn third(a: usize, b: usize) -> usize {
    3 - a - b
}

fuzz_target!(|ops: Vec<Op>| {
    let mut sets: Vec<Box<CapSet>> = (0..3).map(|_| Box::new(CapSet::new())).collect();
    let mut models = vec![Model::default(); 3];
    for op in ops.iter().take(200) {
        match op {
            Op::Insert { set, cap: c, scope } => {
                let (i, c, s) = (idx(*set), cap(*c), scope.bytes());
                assert_eq!(sets[i].insert(c, &s), models[i].insert(c, &s));
            }
            Op::InsertLong {
                set,
                cap: c,
                scope,
                len,
            } => {
                let (i, c) = (idx(*set), cap(*c));
                let mut s: Vec<u8> = scope.bytes().into_iter().filter(|&b| b != b'*').collect();
                s.insert(0, b'/');
                s.resize(100 + usize::from(*len), b'x');
                assert_eq!(sets[i].insert(c, &s), models[i].insert(c, &s));
            }
            Op::InsertText { set, text } => {
                let i = idx(*set);
                let want = match parse_capability(text) {
                    Ok((c, s)) => models[i].insert(c, s),
                    Err(e) => Err(CapSetError::from(e)),
                };
                assert_eq!(sets[i].insert_text(text), want);
            }
            Op::Revoke { set, cap: c, scope } => {
                let (i, c, s) = (idx(*set), cap(*c), scope.bytes());
                assert_eq!(sets[i].remove_covered_by(c, &s), models[i].revoke(c, &s));
            }
            Op::Contains { set, cap: c, scope } => {
                let (i, c, s) = (idx(*set), cap(*c), scope.bytes());
                assert_eq!(sets[i].contains(c, &s), models[i].covers(c, &s));
            }
            Op::Union { a, b } | Op::Intersection { a, b } => {
                let (a, b) = (idx(*a), idx(*b));
                if a == b {
                    continue;
                }
                let k = third(a, b);
                let union = matches!(op, Op::Union { .. });
                let want = if union {
                    Model::union(&models[a], &models[b])
                } else {
                    Model::intersection(&models[a], &models[b])
                };
                let mut out = std::mem::replace(&mut sets[k], Box::new(CapSet::new()));
                let got = if union {
                    CapSet::union_into(&sets[a], &sets[b], &mut out)
                } else {
                    CapSet::intersection_into(&sets[a], &sets[b], &mut out)
                };
                sets[k] = out;
                match want {
                    Ok(m) => {
                        assert_eq!(got, Ok(()));
                        models[k] = m;
                    }
                    Err(e) => {
                        assert_eq!(got, Err(e));
                        models[k] = Model::default();
                    }
                }
            }
            Op::Subset { a, b } => {
                let (a, b) = (idx(*a), idx(*b));
                let want = models[a]
                    .entries
                    .iter()
                    .all(|(c, s)| models[b].covers(*c, s));
                assert_eq!(sets[a].is_subset_of(&sets[b]), want);
            }
            Op::Clear { set } => {
                let i = idx(*set);
                sets[i].clear();
                models[i] = Model::default();
            }
            Op::Assign { dst, src } => {
                let (d, s) = (idx(*dst), idx(*src));
                if d != s {
                    let src_set = sets[s].clone();
                    sets[d].assign(&src_set);
                    models[d] = models[s].clone();
                }
            }
        }
        for x in 0..3 {
            check_invariants(&sets[x]);
            assert_eq!(lines_of(&sets[x]), models[x].lines());
            assert_eq!(*sets[x], *model::set_of(&models[x].entries));
        }
    }
});
