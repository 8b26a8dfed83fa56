//! The agent state machine: eight states, the triggers that move agents between them, and the
//! complete table of edges.
//!
//! Job: be the only definition of which state changes exist. The kernel asks
//! [`State::next`] before every change and refuses (and never performs) anything that is not in
//! [`TRANSITIONS`]; agentfs prints [`State::word`]; the audit chain records every edge as a
//! `state` row `from=<WORD> to=<WORD> why=<trigger>`.
//!
//! Constraints: no_std, no dependencies, no panics. The table is a `static`; lookups are linear
//! over 24 entries (cheap, and branch-predictable).

/// The state of an agent. The `u32` values are ABI (`AGENT_STATE_*` in the uapi header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum State {
    /// The AID is allocated and the agent is being built; it leaves this state before
    /// `agent_spawn` returns.
    Spawning = 0,
    /// Verified and bound, with no member task yet.
    Attested = 1,
    /// Running normally (READY in the public spec's words).
    Active = 2,
    /// Its inference-token budget is exhausted.
    InferenceBlocked = 3,
    /// The LSM recently denied it an operation for lack of a capability.
    CapDenied = 4,
    /// Frozen by an ancestor or by too many denials; kept for inspection.
    Quarantined = 5,
    /// Ended normally. Terminal.
    TerminatedClean = 6,
    /// Ended by revocation or by a failed spawn. Terminal.
    TerminatedRevoked = 7,
}

impl State {
    /// Every state, in id order.
    pub const ALL: [State; 8] = [
        State::Spawning,
        State::Attested,
        State::Active,
        State::InferenceBlocked,
        State::CapDenied,
        State::Quarantined,
        State::TerminatedClean,
        State::TerminatedRevoked,
    ];

    /// The last state id.
    pub const LAST: State = State::TerminatedRevoked;

    /// The state with this id.
    pub const fn from_u32(id: u32) -> Option<State> {
        Some(match id {
            0 => State::Spawning,
            1 => State::Attested,
            2 => State::Active,
            3 => State::InferenceBlocked,
            4 => State::CapDenied,
            5 => State::Quarantined,
            6 => State::TerminatedClean,
            7 => State::TerminatedRevoked,
            _ => return None,
        })
    }

    /// The status word of agentfs `status` files and audit `state` rows.
    pub const fn word(self) -> &'static str {
        match self {
            State::Spawning => "SPAWNING",
            State::Attested => "ATTESTED",
            State::Active => "ACTIVE",
            State::InferenceBlocked => "INF_BLOCKED",
            State::CapDenied => "CAP_DENIED",
            State::Quarantined => "QUARANTINED",
            State::TerminatedClean => "TERMINATED_CLEAN",
            State::TerminatedRevoked => "TERMINATED_REVOKED",
        }
    }

    /// The state whose status word is exactly `word`.
    pub fn from_word(word: &[u8]) -> Option<State> {
        State::ALL.into_iter().find(|s| s.word().as_bytes() == word)
    }

    /// The state's display name as the public spec writes it ("Inference-blocked").
    pub const fn title(self) -> &'static str {
        match self {
            State::Spawning => "Spawning",
            State::Attested => "Attested",
            State::Active => "Active",
            State::InferenceBlocked => "Inference-blocked",
            State::CapDenied => "Cap-denied",
            State::Quarantined => "Quarantined",
            State::TerminatedClean => "Terminated-clean",
            State::TerminatedRevoked => "Terminated-revoked",
        }
    }

    /// Whether the state is terminal (no outgoing edges; the agent is in the graveyard).
    pub const fn is_terminal(self) -> bool {
        matches!(self, State::TerminatedClean | State::TerminatedRevoked)
    }

    /// Whether the state is live (not terminal); live agents are listed in `/agent/live`.
    pub const fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// Whether some trigger moves an agent from `self` to `to`.
    pub fn can_transition_to(self, to: State) -> bool {
        TRANSITIONS.iter().any(|t| t.from == self && t.to == to)
    }

    /// The state that `trigger` moves an agent in `self` to, or `None` when the trigger does
    /// not change this state (for example a grant to an Active agent, or a denial while
    /// Inference-blocked). The kernel changes states only along the edges this returns.
    pub fn next(self, trigger: Trigger) -> Option<State> {
        TRANSITIONS
            .iter()
            .find(|t| t.from == self && t.trigger == trigger)
            .map(|t| t.to)
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.word())
    }
}

/// What causes a state change. Each trigger's guard is documented on its variant and in
/// `docs/abi.md` ("State machine").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Trigger {
    /// `agent_spawn` passed every check (signature, signer trust, `agent.spawn`, subset),
    /// the capability set is bound and the agent's cgroup exists.
    SpawnVerified = 1,
    /// A spawn step after AID allocation failed (cgroup creation, lane registration, the pidfd
    /// task vanished); the `spawn` audit row carries the errno.
    SpawnFailed = 2,
    /// The first member task joined (the pidfd task of `agent_spawn` got the agent's
    /// credential and cgroup) and the scheduler lane is registered.
    MemberJoined = 3,
    /// An Attested agent (never had a member) is released because its parent terminated.
    Released = 4,
    /// A broker's `AGENT_QUOTA_CHARGE` made `inference_tokens` used reach its limit.
    TokensExhausted = 5,
    /// `inference_tokens` used is below the limit again: the limit was raised
    /// (`AGENT_QUOTA_SET`) or the period rolled over.
    BudgetRestored = 6,
    /// The LSM denied a member an operation for lack of a capability.
    CapDenied = 7,
    /// The deny window (`AGENT_DENY_WINDOW_NS`) opened by the first denial closed with at
    /// most `AGENT_DENY_LIMIT` denials.
    DenyWindowExpired = 8,
    /// An ancestor granted the agent a capability (`agent_cap_grant`).
    CapGranted = 9,
    /// A denial beyond `AGENT_DENY_LIMIT` inside one deny window.
    DenyLimitExceeded = 10,
    /// `agent_cap_revoke(.., AGENT_REVOKE_QUARANTINE)` on the agent or on an ancestor.
    RevokeQuarantine = 11,
    /// `agent_cap_grant(.., AGENT_GRANT_RELEASE)` on the agent or on an ancestor.
    QuarantineReleased = 12,
    /// The agent has no member task left and no child outside Attested and the terminal
    /// states.
    Finished = 13,
    /// `agent_cap_revoke(.., AGENT_REVOKE_ALL)` on the agent or on an ancestor.
    RevokeAll = 14,
}

impl Trigger {
    /// Every trigger, in id order.
    pub const ALL: [Trigger; 14] = [
        Trigger::SpawnVerified,
        Trigger::SpawnFailed,
        Trigger::MemberJoined,
        Trigger::Released,
        Trigger::TokensExhausted,
        Trigger::BudgetRestored,
        Trigger::CapDenied,
        Trigger::DenyWindowExpired,
        Trigger::CapGranted,
        Trigger::DenyLimitExceeded,
        Trigger::RevokeQuarantine,
        Trigger::QuarantineReleased,
        Trigger::Finished,
        Trigger::RevokeAll,
    ];

    /// The name used in `state` audit rows (`why=<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            Trigger::SpawnVerified => "spawn_verified",
            Trigger::SpawnFailed => "spawn_failed",
            Trigger::MemberJoined => "member_joined",
            Trigger::Released => "released",
            Trigger::TokensExhausted => "tokens_exhausted",
            Trigger::BudgetRestored => "budget_restored",
            Trigger::CapDenied => "cap_denied",
            Trigger::DenyWindowExpired => "deny_window_expired",
            Trigger::CapGranted => "cap_granted",
            Trigger::DenyLimitExceeded => "deny_limit_exceeded",
            Trigger::RevokeQuarantine => "revoke_quarantine",
            Trigger::QuarantineReleased => "quarantine_released",
            Trigger::Finished => "finished",
            Trigger::RevokeAll => "revoke_all",
        }
    }

    /// The precise guard of the trigger, as `docs/abi.md` prints it.
    pub const fn guard(self) -> &'static str {
        match self {
            Trigger::SpawnVerified => "every check of agent_spawn passed (CBOR, signature, signer trust, agent.spawn, subset, lane, pidfd, limits), the AID is allocated, the capability set is bound and the cgroup exists",
            Trigger::SpawnFailed => "a step after AID allocation failed (cgroup or lane allocation ENOMEM, the pidfd task exited ESRCH); the AID is never reused",
            Trigger::MemberJoined => "the pidfd task of agent_spawn was moved into the agent's cgroup, its credential change is queued, and the scheduler lane is registered (READY)",
            Trigger::Released => "the agent never had a member and its parent entered a terminal state",
            Trigger::TokensExhausted => "an AGENT_QUOTA_CHARGE of inference_tokens made used >= limit",
            Trigger::BudgetRestored => "inference_tokens used < limit again, after AGENT_QUOTA_SET raised the limit or the period rolled over",
            Trigger::CapDenied => "the LSM denied a member an operation for lack of a covering capability (first denial of a deny window)",
            Trigger::DenyWindowExpired => "AGENT_DENY_WINDOW_NS passed since the denial that opened the window, with at most AGENT_DENY_LIMIT denials in it",
            Trigger::CapGranted => "agent_cap_grant added or widened an entry of the agent",
            Trigger::DenyLimitExceeded => "denial number AGENT_DENY_LIMIT + 1 inside the current deny window",
            Trigger::RevokeQuarantine => "agent_cap_revoke(AGENT_REVOKE_QUARANTINE) named the agent or an ancestor; members are frozen (cgroup.freeze)",
            Trigger::QuarantineReleased => "agent_cap_grant(AGENT_GRANT_RELEASE) named the agent or an ancestor; members are thawed",
            Trigger::Finished => "no member task is left and no child is live except Attested ones (which are then Released)",
            Trigger::RevokeAll => "agent_cap_revoke(AGENT_REVOKE_ALL) named the agent or an ancestor; the set is emptied and members get SIGKILL",
        }
    }

    /// The trigger with this name.
    pub fn from_name(name: &[u8]) -> Option<Trigger> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.name().as_bytes() == name)
    }
}

impl core::fmt::Display for Trigger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// One edge of the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state the agent is in.
    pub from: State,
    /// The state it moves to.
    pub to: State,
    /// What moves it.
    pub trigger: Trigger,
}

const fn edge(from: State, to: State, trigger: Trigger) -> Transition {
    Transition { from, to, trigger }
}

/// Every edge of the state machine. Anything not listed is refused. For each `(from, trigger)`
/// there is at most one edge, so [`State::next`] is a function.
pub static TRANSITIONS: [Transition; 24] = {
    use State::*;
    [
        edge(Spawning, Attested, Trigger::SpawnVerified),
        edge(Spawning, TerminatedRevoked, Trigger::SpawnFailed),
        edge(Attested, Active, Trigger::MemberJoined),
        edge(Attested, TerminatedClean, Trigger::Released),
        edge(Attested, TerminatedRevoked, Trigger::RevokeAll),
        edge(Active, InferenceBlocked, Trigger::TokensExhausted),
        edge(Active, CapDenied, Trigger::CapDenied),
        edge(Active, Quarantined, Trigger::RevokeQuarantine),
        edge(Active, TerminatedClean, Trigger::Finished),
        edge(Active, TerminatedRevoked, Trigger::RevokeAll),
        edge(InferenceBlocked, Active, Trigger::BudgetRestored),
        edge(InferenceBlocked, Quarantined, Trigger::RevokeQuarantine),
        edge(InferenceBlocked, TerminatedClean, Trigger::Finished),
        edge(InferenceBlocked, TerminatedRevoked, Trigger::RevokeAll),
        edge(CapDenied, Active, Trigger::DenyWindowExpired),
        edge(CapDenied, Active, Trigger::CapGranted),
        edge(CapDenied, InferenceBlocked, Trigger::TokensExhausted),
        edge(CapDenied, Quarantined, Trigger::DenyLimitExceeded),
        edge(CapDenied, Quarantined, Trigger::RevokeQuarantine),
        edge(CapDenied, TerminatedClean, Trigger::Finished),
        edge(CapDenied, TerminatedRevoked, Trigger::RevokeAll),
        edge(Quarantined, Active, Trigger::QuarantineReleased),
        edge(Quarantined, TerminatedClean, Trigger::Finished),
        edge(Quarantined, TerminatedRevoked, Trigger::RevokeAll),
    ]
};
