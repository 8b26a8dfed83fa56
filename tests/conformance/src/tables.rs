//! The conformance tables, one per syscall (the three capability calls share a builder).
//!
//! Rows are named by a unique piece of their condition in `coconut_abi::CHECK_ORDER`; every
//! bad value is derived from coconut-abi (the first bit past a mask, a limit plus one, the tier
//! after the last), so the tables restate no number coconut-abi holds.

use coconut_abi::{
    AgentAuditFilter, AgentBudget, AgentMemRequest, AgentSpawnArgs, AuditKind, CapCall, CapId,
    Errno, MemTier, QuotaKind, Syscall, AGENT_ABI_VERSION, AGENT_ATTEST_ABI_VERSION,
    AGENT_ATTEST_MASK, AGENT_AUDIT_FILTER_MASK, AGENT_AUDIT_KINDS_MASK, AGENT_AUDIT_ROW_MIN,
    AGENT_AUDIT_SUBTREE, AGENT_CAPSET_MAX, AGENT_CPU_LIMIT_MIN_US, AGENT_CPU_PERIOD_MAX_NS,
    AGENT_CPU_PERIOD_MIN_NS, AGENT_GRANT_RELEASE, AGENT_MANIFEST_MAX, AGENT_MEM_LENGTH_MAX,
    AGENT_MEM_MASK, AGENT_MEM_POPULATE, AGENT_MEM_PROT_MASK, AGENT_MEM_PROT_READ,
    AGENT_MEM_PROT_WRITE, AGENT_MEM_STRICT, AGENT_PERIOD_MAX_NS, AGENT_PERIOD_MIN_NS,
    AGENT_QUOTA_CHARGE, AGENT_QUOTA_GET, AGENT_QUOTA_MASK, AGENT_QUOTA_SET, AGENT_QUOTA_UNLIMITED,
    AGENT_REVOKE_ALL, AGENT_REVOKE_QUARANTINE, AGENT_SCOPE_MAX, AGENT_SPAWN_MASK,
    AGENT_SPAWN_PIDFD, AGENT_STRUCT_SIZE_MAX, AID_ANY, AID_MAX, AID_SELF,
};

use super::model::{
    AttestModel, AuditModel, CapModel, MemKind, MemModel, OutBuf, QuotaModel, SpawnModel,
    StructArg, UserStruct,
};
use super::walk::{trip, Conformance, Table, Variant};
use super::NOT_SUPPORTED;

/// An AID above `AID_MAX` that is neither `AID_SELF` nor `AID_ANY`.
const AID_TOO_BIG: u64 = AID_MAX + 1;
/// A size above the largest accepted struct size.
const SIZE_TOO_BIG: usize = AGENT_STRUCT_SIZE_MAX + 1;
/// The length of a:00000's attestation chain (`emulation::A00000_CHAIN_LEN`).
const A00000_CHAIN_LEN: usize = super::emulation::A00000_CHAIN_LEN;

/// Every table, in syscall order.
pub fn all() -> Vec<Box<dyn Conformance>> {
    vec![
        Box::new(spawn()),
        Box::new(attest()),
        Box::new(quota()),
        Box::new(cap(CapCall::Grant)),
        Box::new(cap(CapCall::Revoke)),
        Box::new(cap(CapCall::Present)),
        Box::new(audit_query()),
        Box::new(memory_tier()),
    ]
}

/// The table of one syscall.
pub fn of(syscall: Syscall) -> Option<Box<dyn Conformance>> {
    all().into_iter().find(|t| t.syscall() == syscall)
}

/// `agent_spawn`.
pub fn spawn() -> Table<SpawnModel> {
    const VER0: usize = <AgentSpawnArgs as UserStruct>::VER0;
    Table {
        syscall: Syscall::AgentSpawn,
        base: SpawnModel {
            args: StructArg::new(AgentSpawnArgs {
                // Below mmap_min_addr, so never mapped: the manifest copy (the first
                // kernel-state step) faults, and every valid variant answers EFAULT.
                manifest: 0x1000,
                manifest_len: 300,
                ..Default::default()
            }),
        },
        valid: |_| Err(Errno::EFAULT),
        trips: vec![
            trip("`args` is NULL", "args NULL", |m| {
                m.args.mem = MemKind::Null
            }),
            trip("`size` < ", "size VER0-1", |m| m.args.size = VER0 - 1),
            trip("`size` < ", "size 0", |m| m.args.size = 0),
            trip("`size` > ", "size page+1", |m| m.args.size = SIZE_TOO_BIG),
            trip("`args` is not readable", "args unmapped", |m| {
                m.args.mem = MemKind::Unmapped
            }),
            trip("beyond the known struct", "dirty tail", |m| {
                m.args.grow();
                m.args.dirty_tail = true;
            }),
            trip("`AGENT_SPAWN_MASK`", "unknown flag", |m| {
                m.args.value.flags |= AGENT_SPAWN_MASK + 1
            }),
            trip("without `AGENT_SPAWN_PIDFD`", "pidfd without flag", |m| {
                m.args.value.pidfd = 3
            }),
            trip("`manifest_len` == 0", "manifest_len 0", |m| {
                m.args.value.manifest_len = 0
            }),
            trip("`manifest_len` > ", "manifest_len max+1", |m| {
                m.args.value.manifest_len = AGENT_MANIFEST_MAX + 1
            }),
            trip("`caps_len` > `AGENT_CAPSET_MAX`", "caps_len max+1", |m| {
                m.args.value.caps_len = AGENT_CAPSET_MAX + 1
            }),
        ],
        untripped: vec![
            (
                "`manifest` is not readable",
                "the base's own manifest pointer is unmapped, so the base and every variant \
                 answer this row's EFAULT; a mapped manifest needs the model to lay out the \
                 pointee, which it does not",
            ),
            (
                "`caps` is not readable",
                "reached only after the manifest copy, which faults for every call of the table",
            ),
        ],
        accepted: vec![
            ("manifest_len 1", |m| m.args.value.manifest_len = 1),
            ("manifest_len max", |m| {
                m.args.value.manifest_len = AGENT_MANIFEST_MAX
            }),
            ("caps_len max", |m| m.args.value.caps_len = AGENT_CAPSET_MAX),
            ("pidfd 0 with the flag", |m| {
                m.args.value.flags = AGENT_SPAWN_PIDFD
            }),
            // fdget() reports a bad pidfd later (EBADF); the pure checks pass it.
            ("pidfd -1 with the flag", |m| {
                m.args.value.flags = AGENT_SPAWN_PIDFD;
                m.args.value.pidfd = -1;
            }),
            ("lane u32::MAX", |m| m.args.value.lane = u32::MAX),
            ("zero tail", |m| m.args.grow()),
            ("size page, zero tail", |m| {
                m.args.size = AGENT_STRUCT_SIZE_MAX
            }),
        ],
    }
}

/// `agent_attest`.
pub fn attest() -> Table<AttestModel> {
    Table {
        syscall: Syscall::AgentAttest,
        base: AttestModel {
            aid: 5,
            buf: OutBuf {
                mem: MemKind::Valid,
                size: 512,
            },
            flags: 0,
        },
        // aid 5 names no agent; aid 0 and AID_SELF name a:00000, whose chain is one link.
        valid: |m| {
            if m.aid != 0 && m.aid != AID_SELF {
                Err(Errno::ESRCH)
            } else if m.buf.size == 0 || m.buf.size >= A00000_CHAIN_LEN {
                Ok(A00000_CHAIN_LEN as i64)
            } else {
                Err(Errno::ERANGE)
            }
        },
        trips: vec![
            trip("`AGENT_ATTEST_MASK`", "unknown flag", |m| {
                m.flags |= AGENT_ATTEST_MASK + 1
            }),
            trip(
                "`AGENT_ATTEST_ABI_VERSION` with",
                "version with aid and buf",
                |m| m.flags |= AGENT_ATTEST_ABI_VERSION,
            ),
            trip(
                "`AGENT_ATTEST_ABI_VERSION` with",
                "version with buf only",
                |m| {
                    m.flags |= AGENT_ATTEST_ABI_VERSION;
                    m.aid = 0;
                    m.buf = OutBuf {
                        mem: MemKind::Valid,
                        size: 0,
                    };
                },
            ),
            trip(
                "`AGENT_ATTEST_ABI_VERSION` with",
                "version with size only",
                |m| {
                    m.flags |= AGENT_ATTEST_ABI_VERSION;
                    m.aid = 0;
                    m.buf = OutBuf {
                        mem: MemKind::Null,
                        size: 512,
                    };
                },
            ),
            trip("`aid` is neither", "aid AID_ANY", |m| m.aid = AID_ANY),
            trip("`aid` is neither", "aid above AID_MAX", |m| {
                m.aid = AID_TOO_BIG
            }),
            trip("`size` > 0 and `buf` is NULL", "size without buf", |m| {
                m.buf.mem = MemKind::Null
            }),
        ],
        untripped: vec![],
        accepted: vec![
            ("aid self", |m| m.aid = AID_SELF),
            ("aid 0", |m| m.aid = 0),
            ("aid 0, buffer one byte short", |m| {
                m.aid = 0;
                m.buf.size = A00000_CHAIN_LEN - 1;
            }),
            ("aid 0, buffer of the exact length", |m| {
                m.aid = 0;
                m.buf.size = A00000_CHAIN_LEN;
            }),
            ("aid self, length query", |m| {
                m.aid = AID_SELF;
                m.buf = OutBuf {
                    mem: MemKind::Null,
                    size: 0,
                }
            }),
            ("aid AID_MAX", |m| m.aid = AID_MAX),
            ("length query, NULL buf", |m| {
                m.buf = OutBuf {
                    mem: MemKind::Null,
                    size: 0,
                }
            }),
            ("length query, buf", |m| m.buf.size = 0),
        ],
    }
}

/// `agent_attest(0, NULL, 0, AGENT_ATTEST_ABI_VERSION)`: the ABI version, whatever the state.
pub fn attest_abi_version() -> (AttestModel, Result<i64, Errno>) {
    (
        AttestModel {
            aid: 0,
            buf: OutBuf {
                mem: MemKind::Null,
                size: 0,
            },
            flags: AGENT_ATTEST_ABI_VERSION,
        },
        Ok(i64::from(AGENT_ABI_VERSION)),
    )
}

/// `agent_quota`, with a SET of the `cpu` budget as the base (it copies and checks the most).
pub fn quota() -> Table<QuotaModel> {
    const VER0: usize = <AgentBudget as UserStruct>::VER0;
    Table {
        syscall: Syscall::AgentQuota,
        base: QuotaModel {
            aid: 3,
            kind: QuotaKind::Cpu as u32,
            flags: AGENT_QUOTA_SET,
            budget: StructArg::new(AgentBudget {
                limit: 50_000,
                used: 0,
                period_ns: 100_000_000,
                reserved: 0,
            }),
        },
        // aid 3 names no agent; every variant keeps it.
        valid: |_| Err(Errno::ESRCH),
        trips: vec![
            trip("`AGENT_QUOTA_MASK`", "unknown flag", |m| {
                m.flags |= AGENT_QUOTA_MASK + 1
            }),
            trip("`AGENT_QUOTA_MASK`", "no operation", |m| m.flags = 0),
            trip("`AGENT_QUOTA_MASK`", "two operations", |m| {
                m.flags = AGENT_QUOTA_GET | AGENT_QUOTA_SET
            }),
            trip("`kind` is 0", "kind 0", |m| m.kind = 0),
            trip("`kind` is 0", "kind after the last", |m| {
                m.kind = QuotaKind::LAST as u32 + 1
            }),
            trip("CHARGE of `cpu`", "CHARGE of cpu", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::Cpu as u32;
            }),
            trip("CHARGE of `cpu`", "CHARGE of ram", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::Ram as u32;
            }),
            trip("CHARGE of `cpu`", "CHARGE of hbm", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::Hbm as u32;
            }),
            trip("`aid` is neither", "aid AID_ANY", |m| m.aid = AID_ANY),
            trip("`budget` is NULL", "budget NULL", |m| {
                m.budget.mem = MemKind::Null
            }),
            trip("`size` < ", "size VER0-1", |m| m.budget.size = VER0 - 1),
            trip("`size` > ", "size page+1", |m| m.budget.size = SIZE_TOO_BIG),
            trip("`budget` is not readable", "budget unmapped", |m| {
                m.budget.mem = MemKind::Unmapped
            }),
            trip("beyond the known struct", "dirty tail", |m| {
                m.budget.grow();
                m.budget.dirty_tail = true;
            }),
            trip("SET: `reserved` or `used`", "SET with reserved", |m| {
                m.budget.value.reserved = 1
            }),
            trip("SET: `reserved` or `used`", "SET with used", |m| {
                m.budget.value.used = 5
            }),
            trip("SET: `period_ns` outside", "SET cpu period below", |m| {
                m.budget.value.period_ns = AGENT_CPU_PERIOD_MIN_NS - 1
            }),
            trip("SET: `period_ns` outside", "SET cpu period above", |m| {
                m.budget.value.period_ns = AGENT_CPU_PERIOD_MAX_NS + 1
            }),
            trip("SET: `period_ns` outside", "SET ram with a period", |m| {
                m.kind = QuotaKind::Ram as u32;
                m.budget.value.period_ns = 1;
            }),
            trip("SET: `period_ns` outside", "SET net period below", |m| {
                m.kind = QuotaKind::Net as u32;
                m.budget.value.period_ns = AGENT_PERIOD_MIN_NS - 1;
            }),
            trip(
                "SET: `period_ns` outside",
                "SET inference_tokens period above",
                |m| {
                    m.kind = QuotaKind::InferenceTokens as u32;
                    m.budget.value.period_ns = AGENT_PERIOD_MAX_NS + 1;
                },
            ),
            trip("SET: cpu `limit`", "SET cpu limit below", |m| {
                m.budget.value.limit = AGENT_CPU_LIMIT_MIN_US - 1
            }),
            trip("CHARGE: `limit`", "CHARGE of net with a limit", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::Net as u32;
            }),
        ],
        untripped: vec![],
        accepted: vec![
            ("SET cpu unlimited, shortest period", |m| {
                m.budget.value.limit = AGENT_QUOTA_UNLIMITED;
                m.budget.value.period_ns = AGENT_CPU_PERIOD_MIN_NS;
            }),
            ("SET cpu smallest limit, longest period", |m| {
                m.budget.value.limit = AGENT_CPU_LIMIT_MIN_US;
                m.budget.value.period_ns = AGENT_CPU_PERIOD_MAX_NS;
            }),
            ("SET ram without period", |m| {
                m.kind = QuotaKind::Ram as u32;
                m.budget.value.period_ns = 0;
            }),
            ("SET inference_tokens, longest period", |m| {
                m.kind = QuotaKind::InferenceTokens as u32;
                m.budget.value.period_ns = AGENT_PERIOD_MAX_NS;
            }),
            ("SET net without refill", |m| {
                m.kind = QuotaKind::Net as u32;
                m.budget.value.period_ns = 0;
            }),
            ("CHARGE of inference_tokens", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::InferenceTokens as u32;
                m.budget.value = AgentBudget::default();
            }),
            ("CHARGE of net", |m| {
                m.flags = AGENT_QUOTA_CHARGE;
                m.kind = QuotaKind::Net as u32;
                m.budget.value = AgentBudget {
                    used: 1,
                    ..Default::default()
                };
            }),
            // GET never reads the struct: its bytes may be anything, even unmapped.
            ("GET of an unmapped budget", |m| {
                m.flags = AGENT_QUOTA_GET;
                m.budget.mem = MemKind::Unmapped;
            }),
            ("GET with a dirty tail", |m| {
                m.flags = AGENT_QUOTA_GET;
                m.budget.grow();
                m.budget.dirty_tail = true;
            }),
            ("SET, size page, zero tail", |m| {
                m.budget.size = AGENT_STRUCT_SIZE_MAX
            }),
        ],
    }
}

/// `agent_cap_grant`, `agent_cap_revoke` or `agent_cap_present`, with a scoped call as the base.
pub fn cap(call: CapCall) -> Table<CapModel> {
    let syscall = super::cap_syscall(call);
    let mut trips = vec![
        trip(
            "`flags` has a bit outside the call's mask",
            "unknown flag",
            |m: &mut CapModel| m.flags |= m.call.mask() + 1,
        ),
        trip("otherwise `cap` is 0", "cap 0", |m| m.cap = 0),
        trip("otherwise `cap` is 0", "cap after the last", |m| {
            m.cap = CapId::LAST.id() + 1
        }),
        trip("`aid` is neither", "aid AID_ANY", |m| m.aid = AID_ANY),
        trip("`aid` is neither", "aid above AID_MAX", |m| {
            m.aid = AID_TOO_BIG
        }),
        trip("`scope_len` > `AGENT_SCOPE_MAX`", "scope max+1", |m| {
            m.scope_len = AGENT_SCOPE_MAX + 1
        }),
        trip("`scope_len` > 0 and `scope` is NULL", "scope NULL", |m| {
            m.scope_mem = MemKind::Null
        }),
        trip("`scope` is not readable", "scope unmapped", |m| {
            m.scope_mem = MemKind::Unmapped
        }),
        trip("a byte outside 0x21..=0x7e", "scope with a space", |m| {
            m.set_scope(b"/a b")
        }),
        trip(
            "a byte outside 0x21..=0x7e",
            "scope with an inner `*`",
            |m| m.set_scope(b"/a*b"),
        ),
    ];
    let mut untripped = Vec::new();
    if call == CapCall::Revoke {
        trips.push(trip(
            "both `AGENT_REVOKE_ALL` and `AGENT_REVOKE_QUARANTINE`",
            "REVOKE_ALL|QUARANTINE",
            |m| m.flags |= AGENT_REVOKE_ALL | AGENT_REVOKE_QUARANTINE,
        ));
        trips.push(trip(
            "an agent-level flag",
            "REVOKE_ALL with cap != 0",
            |m| m.flags |= AGENT_REVOKE_ALL,
        ));
        trips.push(trip(
            "an agent-level flag",
            "QUARANTINE with cap 0 and a scope",
            |m| {
                m.flags |= AGENT_REVOKE_QUARANTINE;
                m.cap = 0;
            },
        ));
    } else {
        untripped.push((
            "revoke: both",
            "only agent_cap_revoke has two agent-level flags",
        ));
    }
    match call {
        CapCall::Grant => {
            trips.push(trip("an agent-level flag", "RELEASE with cap != 0", |m| {
                m.flags |= AGENT_GRANT_RELEASE
            }));
            trips.push(trip(
                "an agent-level flag",
                "RELEASE with cap 0 and a scope",
                |m| {
                    m.flags |= AGENT_GRANT_RELEASE;
                    m.cap = 0;
                },
            ));
        }
        CapCall::Present => untripped.push((
            "an agent-level flag",
            "agent_cap_present has no agent-level flag",
        )),
        CapCall::Revoke => {}
    }
    let mut accepted: Vec<Variant<CapModel>> = vec![
        ("unscoped", |m| {
            m.scope_mem = MemKind::Null;
            m.scope_len = 0;
        }),
        // Unscoped calls never touch the scope pointer.
        ("unscoped, unmapped scope pointer", |m| {
            m.scope_mem = MemKind::Unmapped;
            m.scope_len = 0;
        }),
        ("aid self", |m| m.aid = AID_SELF),
        ("aid AID_MAX", |m| m.aid = AID_MAX),
        ("the last capability", |m| m.cap = CapId::LAST.id()),
        ("a scope of the longest length", |m| {
            m.scope = Vec::new();
            m.scope_len = AGENT_SCOPE_MAX;
        }),
        ("a scope ending in `*`", |m| m.set_scope(b"*")),
    ];
    match call {
        CapCall::Grant => accepted.push(("RELEASE", |m| {
            m.flags = AGENT_GRANT_RELEASE;
            m.cap = 0;
            m.scope_mem = MemKind::Null;
            m.scope_len = 0;
        })),
        CapCall::Revoke => {
            accepted.push(("REVOKE_ALL", |m| {
                m.flags = AGENT_REVOKE_ALL;
                m.cap = 0;
                m.scope_mem = MemKind::Null;
                m.scope_len = 0;
            }));
            accepted.push(("QUARANTINE", |m| {
                m.flags = AGENT_REVOKE_QUARANTINE;
                m.cap = 0;
                m.scope_mem = MemKind::Null;
                m.scope_len = 0;
            }));
        }
        CapCall::Present => {}
    }
    let mut base = CapModel {
        call,
        aid: 7,
        cap: CapId::FsRead.id(),
        scope_mem: MemKind::Valid,
        scope: Vec::new(),
        scope_len: 0,
        flags: 0,
    };
    base.set_scope(b"/srv/*");
    Table {
        syscall,
        base,
        // aid 7 names no agent; AID_SELF names a:00000, which holds every capability and
        // whose set nobody changes.
        valid: |m| match (m.aid, m.call) {
            (AID_SELF | 0, CapCall::Present) => Ok(0),
            (AID_SELF | 0, CapCall::Grant | CapCall::Revoke) => Err(Errno::EPERM),
            _ => Err(Errno::ESRCH),
        },
        trips,
        untripped,
        accepted,
    }
}

/// A sequence number no chain reaches: 2^62 rows would take a century at 1 M rows/s.
pub const AUDIT_FAR: u64 = 1 << 62;

/// `agent_audit_query`.
pub fn audit_query() -> Table<AuditModel> {
    const VER0: usize = <AgentAuditFilter as UserStruct>::VER0;
    Table {
        syscall: Syscall::AgentAuditQuery,
        base: AuditModel {
            // A range beyond any head, so the valid answer is 0 bytes whatever the chain
            // holds; the rows themselves are the VM tier's `audit::` tests.
            filter: StructArg::new(AgentAuditFilter {
                from_seq: AUDIT_FAR,
                to_seq: 0,
                aid: AID_SELF,
                kinds: 0,
                flags: 0,
            }),
            buf: OutBuf {
                mem: MemKind::Valid,
                size: 4096,
            },
        },
        valid: |_| Ok(0),
        trips: vec![
            trip("`filter` is NULL", "filter NULL", |m| {
                m.filter.mem = MemKind::Null
            }),
            trip("`fsize` < ", "fsize VER0-1", |m| m.filter.size = VER0 - 1),
            trip("`fsize` > ", "fsize page+1", |m| {
                m.filter.size = SIZE_TOO_BIG
            }),
            trip("`filter` is not readable", "filter unmapped", |m| {
                m.filter.mem = MemKind::Unmapped
            }),
            trip("beyond the known struct", "dirty tail", |m| {
                m.filter.grow();
                m.filter.dirty_tail = true;
            }),
            trip("`AGENT_AUDIT_FILTER_MASK`", "unknown flag", |m| {
                m.filter.value.flags |= AGENT_AUDIT_FILTER_MASK + 1
            }),
            trip("`AGENT_AUDIT_KINDS_MASK`", "kind bit 0", |m| {
                m.filter.value.kinds |= 1
            }),
            trip("`AGENT_AUDIT_KINDS_MASK`", "kind after the last", |m| {
                m.filter.value.kinds |= 1 << (AuditKind::LAST as u32 + 1)
            }),
            trip("`aid` is not `AID_ANY`", "aid above AID_MAX", |m| {
                m.filter.value.aid = AID_TOO_BIG
            }),
            trip("`AGENT_AUDIT_SUBTREE` with", "SUBTREE with AID_ANY", |m| {
                m.filter.value.flags |= AGENT_AUDIT_SUBTREE;
                m.filter.value.aid = AID_ANY;
            }),
            trip("`to_seq` < `from_seq`", "to before from", |m| {
                m.filter.value.from_seq = AUDIT_FAR + 10;
                m.filter.value.to_seq = AUDIT_FAR + 5;
            }),
            trip("`buf` is NULL", "buf NULL", |m| m.buf.mem = MemKind::Null),
            trip("`bufsize` < ", "bufsize min-1", |m| {
                m.buf.size = AGENT_AUDIT_ROW_MIN - 1
            }),
        ],
        untripped: vec![],
        accepted: vec![
            ("AID_ANY with every kind", |m| {
                m.filter.value.aid = AID_ANY;
                m.filter.value.kinds = AGENT_AUDIT_KINDS_MASK;
            }),
            ("AID_ANY with the last kind", |m| {
                m.filter.value.aid = AID_ANY;
                m.filter.value.kinds = AuditKind::LAST.filter_bit();
            }),
            ("SUBTREE of self with one kind", |m| {
                m.filter.value.flags = AGENT_AUDIT_SUBTREE;
                m.filter.value.kinds = AuditKind::Spawn.filter_bit();
            }),
            ("SUBTREE of a:00000", |m| {
                m.filter.value.flags = AGENT_AUDIT_SUBTREE;
                m.filter.value.aid = 0;
            }),
            ("one sequence number", |m| {
                m.filter.value.from_seq = AUDIT_FAR + 3;
                m.filter.value.to_seq = AUDIT_FAR + 3;
            }),
            ("open-ended range", |m| {
                m.filter.value.from_seq = AUDIT_FAR + 9
            }),
            ("smallest buffer", |m| m.buf.size = AGENT_AUDIT_ROW_MIN),
            ("zero tail", |m| m.filter.grow()),
            ("fsize page, zero tail", |m| {
                m.filter.size = AGENT_STRUCT_SIZE_MAX
            }),
        ],
    }
}

/// `agent_memory_tier`.
pub fn memory_tier() -> Table<MemModel> {
    const VER0: usize = <AgentMemRequest as UserStruct>::VER0;
    Table {
        syscall: Syscall::AgentMemoryTier,
        base: MemModel {
            aid: AID_SELF,
            tier: MemTier::Dram as u32,
            req: StructArg::new(AgentMemRequest {
                length: 4096,
                flags: AGENT_MEM_POPULATE,
                prot: AGENT_MEM_PROT_READ | AGENT_MEM_PROT_WRITE,
                reserved: 0,
            }),
        },
        valid: |_| Err(NOT_SUPPORTED),
        trips: vec![
            trip("`tier` is not a memory tier", "tier after the last", |m| {
                m.tier = MemTier::LAST as u32 + 1
            }),
            trip("`aid` is neither", "aid AID_ANY", |m| m.aid = AID_ANY),
            trip("`req` is NULL", "req NULL", |m| m.req.mem = MemKind::Null),
            trip("`size` < ", "size VER0-1", |m| m.req.size = VER0 - 1),
            trip("`size` > ", "size page+1", |m| m.req.size = SIZE_TOO_BIG),
            trip("`req` is not readable", "req unmapped", |m| {
                m.req.mem = MemKind::Unmapped
            }),
            trip("beyond the known struct", "dirty tail", |m| {
                m.req.grow();
                m.req.dirty_tail = true;
            }),
            trip("`AGENT_MEM_MASK`", "unknown flag", |m| {
                m.req.value.flags |= AGENT_MEM_MASK + 1
            }),
            trip("`AGENT_MEM_PROT_MASK`", "PROT_EXEC", |m| {
                m.req.value.prot |= AGENT_MEM_PROT_MASK + 1
            }),
            trip("`reserved` is not 0", "reserved", |m| {
                m.req.value.reserved = 1
            }),
            trip("`length` == 0", "length 0", |m| m.req.value.length = 0),
            trip("`length` > ", "length max+1", |m| {
                m.req.value.length = AGENT_MEM_LENGTH_MAX + 1
            }),
        ],
        untripped: vec![],
        accepted: vec![
            ("the last tier", |m| m.tier = MemTier::LAST as u32),
            ("aid 0", |m| m.aid = 0),
            ("strict, read only", |m| {
                m.req.value.flags = AGENT_MEM_STRICT;
                m.req.value.prot = AGENT_MEM_PROT_READ;
            }),
            ("no access", |m| m.req.value.prot = 0),
            ("longest length", |m| {
                m.req.value.length = AGENT_MEM_LENGTH_MAX
            }),
            ("zero tail", |m| m.req.grow()),
            ("size page, zero tail", |m| {
                m.req.size = AGENT_STRUCT_SIZE_MAX
            }),
        ],
    }
}
