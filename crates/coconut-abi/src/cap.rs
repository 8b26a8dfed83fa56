//! Capabilities: the id/name table, the text form `name[:scope]`, and the scope coverage rule.
//!
//! Job: the whole capability vocabulary of the ABI and the single definition of "a held entry
//! covers a requested one" ([`covers`], [`entry_covers`]); set algebra built on it (subset,
//! revocation) lives elsewhere but calls these. Ids are stable ABI; names are what manifests,
//! agentfs `caps` files and audit rows print.
//!
//! Constraints: no_std, no heap, no panics; every function is pure and works on byte slices.

use super::limits::AGENT_SCOPE_MAX;

/// A capability id (`AGENT_CAP_*` in the uapi header). 0 is not a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum CapId {
    /// `agent.spawn`: may call `agent_spawn` (CAP_AGENT_SPAWN).
    AgentSpawn = 1,
    /// `agent.delegate`: may grant capabilities it holds to descendants.
    AgentDelegate = 2,
    /// `agent.quota`: may set descendants' budgets.
    AgentQuota = 3,
    /// `agent.admin`: may inspect and revoke agents outside its own subtree.
    AgentAdmin = 4,
    /// `audit.read`: may read every audit row, not only its subtree's.
    AuditRead = 5,
    /// `mem.tier`: may request the FAST and SLOW memory tiers.
    MemTier = 6,
    /// `fs.read`: may open files for reading (scoped by path).
    FsRead = 7,
    /// `fs.write`: may open files for writing (scoped by path).
    FsWrite = 8,
    /// `fs.exec`: may execute files (scoped by path).
    FsExec = 9,
    /// `net.connect`: may connect sockets (scoped by `host:port`).
    NetConnect = 10,
    /// `net.bind`: may bind sockets (scoped by `host:port`).
    NetBind = 11,
    /// `inference`: may use a model through the inference broker (scoped by model name).
    Inference = 12,
    /// `broker.inference`: the inference broker's authority to charge token budgets.
    BrokerInference = 13,
    /// `broker.net`: the network broker's authority to charge network budgets.
    BrokerNet = 14,
    /// `proc.signal`: may signal tasks of agents outside its own subtree.
    ProcSignal = 15,
}

/// Why a capability id, name, scope or text is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapError {
    /// The id is 0 or not in the table.
    UnknownId,
    /// The name is not in the table.
    UnknownName,
    /// The scope is empty after a `:`.
    EmptyScope,
    /// The scope is longer than `AGENT_SCOPE_MAX` (256) bytes.
    ScopeTooLong,
    /// The scope has a byte outside printable ASCII (0x21..=0x7e).
    BadScopeByte,
    /// The scope has a `*` that is not its last byte.
    MisplacedWildcard,
}

impl core::fmt::Display for CapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CapError::UnknownId => "capability id is not in the capability table (1..=15)",
            CapError::UnknownName => "capability name is not in the capability table",
            CapError::EmptyScope => "capability scope after ':' is empty",
            CapError::ScopeTooLong => "capability scope is longer than 256 bytes",
            CapError::BadScopeByte => {
                "capability scope has a byte outside printable ASCII (0x21..=0x7e)"
            }
            CapError::MisplacedWildcard => "capability scope has a '*' that is not its last byte",
        })
    }
}

impl CapId {
    /// Every capability, in id order.
    pub const ALL: [CapId; 15] = [
        CapId::AgentSpawn,
        CapId::AgentDelegate,
        CapId::AgentQuota,
        CapId::AgentAdmin,
        CapId::AuditRead,
        CapId::MemTier,
        CapId::FsRead,
        CapId::FsWrite,
        CapId::FsExec,
        CapId::NetConnect,
        CapId::NetBind,
        CapId::Inference,
        CapId::BrokerInference,
        CapId::BrokerNet,
        CapId::ProcSignal,
    ];

    /// The last capability id.
    pub const LAST: CapId = CapId::ProcSignal;

    /// The numeric id.
    pub const fn id(self) -> u32 {
        self as u32
    }

    /// The capability with this id; 0 and unknown ids are errors (`EINVAL` in syscalls).
    pub const fn from_id(id: u32) -> Result<CapId, CapError> {
        Ok(match id {
            1 => CapId::AgentSpawn,
            2 => CapId::AgentDelegate,
            3 => CapId::AgentQuota,
            4 => CapId::AgentAdmin,
            5 => CapId::AuditRead,
            6 => CapId::MemTier,
            7 => CapId::FsRead,
            8 => CapId::FsWrite,
            9 => CapId::FsExec,
            10 => CapId::NetConnect,
            11 => CapId::NetBind,
            12 => CapId::Inference,
            13 => CapId::BrokerInference,
            14 => CapId::BrokerNet,
            15 => CapId::ProcSignal,
            _ => return Err(CapError::UnknownId),
        })
    }

    /// The dotted name (`agent.spawn`, …).
    pub const fn name(self) -> &'static str {
        match self {
            CapId::AgentSpawn => "agent.spawn",
            CapId::AgentDelegate => "agent.delegate",
            CapId::AgentQuota => "agent.quota",
            CapId::AgentAdmin => "agent.admin",
            CapId::AuditRead => "audit.read",
            CapId::MemTier => "mem.tier",
            CapId::FsRead => "fs.read",
            CapId::FsWrite => "fs.write",
            CapId::FsExec => "fs.exec",
            CapId::NetConnect => "net.connect",
            CapId::NetBind => "net.bind",
            CapId::Inference => "inference",
            CapId::BrokerInference => "broker.inference",
            CapId::BrokerNet => "broker.net",
            CapId::ProcSignal => "proc.signal",
        }
    }

    /// What the scope of this capability names ("" when scopes are not meaningful for it).
    pub const fn scope_meaning(self) -> &'static str {
        match self {
            CapId::FsRead | CapId::FsWrite | CapId::FsExec => "absolute path or path prefix",
            CapId::NetConnect | CapId::NetBind => "host:port",
            CapId::Inference => "model name",
            _ => "",
        }
    }

    /// The capability with exactly this name; unknown names are errors (`EINVAL`).
    pub fn from_name(name: &[u8]) -> Result<CapId, CapError> {
        CapId::ALL
            .into_iter()
            .find(|c| c.name().as_bytes() == name)
            .ok_or(CapError::UnknownName)
    }
}

impl core::fmt::Display for CapId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks a non-empty scope: at most `AGENT_SCOPE_MAX` bytes of printable ASCII without
/// space (0x21..=0x7e), with `*` allowed only as the last byte (a prefix wildcard).
/// The empty scope (unscoped) is not checked here: callers treat it separately.
pub fn validate_scope(scope: &[u8]) -> Result<(), CapError> {
    if scope.is_empty() {
        return Err(CapError::EmptyScope);
    }
    if scope.len() > AGENT_SCOPE_MAX {
        return Err(CapError::ScopeTooLong);
    }
    if scope.iter().any(|b| !(0x21..=0x7e).contains(b)) {
        return Err(CapError::BadScopeByte);
    }
    if let Some((_, head)) = scope.split_last() {
        if head.contains(&b'*') {
            return Err(CapError::MisplacedWildcard);
        }
    }
    Ok(())
}

/// Parses the text form `name` or `name:scope` (split at the first `:`, so scopes may contain
/// `:` as in `net.connect:api.example.com:443`). Returns the id and the scope (empty when
/// unscoped).
pub fn parse_capability(text: &[u8]) -> Result<(CapId, &[u8]), CapError> {
    match text.iter().position(|&b| b == b':') {
        None => Ok((CapId::from_name(text)?, &[])),
        Some(colon) => {
            let (name, rest) = text.split_at_checked(colon).ok_or(CapError::UnknownName)?;
            let scope = rest.get(1..).unwrap_or(&[]);
            let id = CapId::from_name(name)?;
            validate_scope(scope)?;
            Ok((id, scope))
        }
    }
}

/// The scope coverage rule, entirely: a held scope `held` covers a requested scope `req` iff
/// `held` is empty (unscoped means every scope), or `held == req`, or `held` ends with `*` and
/// `req` starts with `held` minus that `*`.
///
/// Consequences: an unscoped request is covered only by an unscoped entry or by `*`; `"/srv/*"`
/// covers `"/srv/a"`, `"/srv/"` and `"/srv/x*"` but not `"/srv"`; matching is bytewise (no path
/// normalisation: the LSM compares canonical paths).
pub fn covers(held: &[u8], req: &[u8]) -> bool {
    if held.is_empty() || held == req {
        return true;
    }
    match held.split_last() {
        Some((b'*', prefix)) => req.starts_with(prefix),
        _ => false,
    }
}

/// Whether a held entry `(held_cap, held_scope)` covers a requested `(req_cap, req_scope)`:
/// the same capability and [`covers`] on the scopes.
pub fn entry_covers(held: (CapId, &[u8]), req: (CapId, &[u8])) -> bool {
    held.0 == req.0 && covers(held.1, req.1)
}
