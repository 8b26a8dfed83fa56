//! The state machine: every edge of the table is allowed, every other ordered pair of states
//! is refused (exhaustive 8x8), terminal states have no way out, and the trigger function is
//! deterministic.

use coconut_abi::{State, Transition, Trigger, TRANSITIONS};
use State::*;

/// The edges, written out independently of the crate's table: (from, to).
const EXPECTED_EDGES: [(State, State); 22] = [
    (Spawning, Attested),
    (Spawning, TerminatedRevoked),
    (Attested, Active),
    (Attested, TerminatedClean),
    (Attested, TerminatedRevoked),
    (Active, InferenceBlocked),
    (Active, CapDenied),
    (Active, Quarantined),
    (Active, TerminatedClean),
    (Active, TerminatedRevoked),
    (InferenceBlocked, Active),
    (InferenceBlocked, Quarantined),
    (InferenceBlocked, TerminatedClean),
    (InferenceBlocked, TerminatedRevoked),
    (CapDenied, Active),
    (CapDenied, InferenceBlocked),
    (CapDenied, Quarantined),
    (CapDenied, TerminatedClean),
    (CapDenied, TerminatedRevoked),
    (Quarantined, Active),
    (Quarantined, TerminatedClean),
    (Quarantined, TerminatedRevoked),
];

#[test]
fn exhaustive_8x8_edges_allowed_and_non_edges_refused() {
    let mut allowed = 0;
    for from in State::ALL {
        for to in State::ALL {
            let expected = EXPECTED_EDGES.contains(&(from, to));
            assert_eq!(
                from.can_transition_to(to),
                expected,
                "{from} -> {to} should be {}",
                if expected { "allowed" } else { "refused" }
            );
            allowed += usize::from(expected);
        }
    }
    assert_eq!(allowed, 22);
    assert_eq!(
        TRANSITIONS.len(),
        24,
        "22 pairs, two of them with two triggers"
    );
}

#[test]
fn no_self_loops_and_terminal_states_have_no_outgoing_edges() {
    for s in State::ALL {
        assert!(!s.can_transition_to(s), "{s} has no self loop");
        if s.is_terminal() {
            for to in State::ALL {
                assert!(!s.can_transition_to(to));
            }
            for t in Trigger::ALL {
                assert_eq!(s.next(t), None);
            }
        }
    }
    let terminal: Vec<_> = State::ALL.into_iter().filter(|s| s.is_terminal()).collect();
    assert_eq!(terminal, [TerminatedClean, TerminatedRevoked]);
}

#[test]
fn next_is_a_function_and_agrees_with_the_table() {
    for (i, a) in TRANSITIONS.iter().enumerate() {
        for b in TRANSITIONS.iter().skip(i + 1) {
            assert!(
                !(a.from == b.from && a.trigger == b.trigger),
                "two edges for ({}, {})",
                a.from,
                a.trigger
            );
            assert_ne!(a, b);
        }
        assert_eq!(a.from.next(a.trigger), Some(a.to));
    }
    for from in State::ALL {
        for t in Trigger::ALL {
            let listed = TRANSITIONS
                .iter()
                .find(|e| e.from == from && e.trigger == t)
                .map(|e| e.to);
            assert_eq!(from.next(t), listed);
        }
    }
}

#[test]
fn pinned_triggers_sit_on_their_edges() {
    let has = |from, to, trigger| TRANSITIONS.contains(&Transition { from, to, trigger });
    assert!(has(Spawning, Attested, Trigger::SpawnVerified));
    assert!(has(Spawning, TerminatedRevoked, Trigger::SpawnFailed));
    assert!(has(Attested, Active, Trigger::MemberJoined));
    assert!(has(Attested, TerminatedClean, Trigger::Released));
    assert!(has(Active, InferenceBlocked, Trigger::TokensExhausted));
    assert!(has(InferenceBlocked, Active, Trigger::BudgetRestored));
    assert!(has(Active, CapDenied, Trigger::CapDenied));
    assert!(has(CapDenied, Active, Trigger::DenyWindowExpired));
    assert!(has(CapDenied, Active, Trigger::CapGranted));
    assert!(has(CapDenied, Quarantined, Trigger::DenyLimitExceeded));
    assert!(has(Quarantined, Active, Trigger::QuarantineReleased));
    for s in [Active, InferenceBlocked, CapDenied] {
        assert!(has(s, Quarantined, Trigger::RevokeQuarantine));
    }
    for s in State::ALL
        .into_iter()
        .filter(|s| s.is_live() && *s != Spawning)
    {
        assert!(
            has(s, TerminatedRevoked, Trigger::RevokeAll),
            "{s} can be revoked"
        );
    }
    for s in [Active, InferenceBlocked, CapDenied, Quarantined] {
        assert!(has(s, TerminatedClean, Trigger::Finished));
    }
}

#[test]
fn every_state_is_reachable_from_spawning_and_every_live_state_can_end() {
    let mut reached = vec![Spawning];
    let mut changed = true;
    while changed {
        changed = false;
        for e in TRANSITIONS.iter() {
            if reached.contains(&e.from) && !reached.contains(&e.to) {
                reached.push(e.to);
                changed = true;
            }
        }
    }
    assert_eq!(reached.len(), 8);
    for s in State::ALL.into_iter().filter(|s| s.is_live()) {
        assert!(
            TRANSITIONS
                .iter()
                .any(|e| e.from == s && e.to.is_terminal()),
            "{s} can terminate"
        );
    }
}
