//! The argument checks run in the documented order: for every syscall, each "pure" or "copy"
//! row of its error matrix (`CHECK_ORDER`, printed in `docs/abi.md`) has a mutation of a valid
//! call that trips exactly that row, and for every pair of rows i < j, a call mutated both ways
//! reports row i's errno (the first documented error wins).

use coconut_abi::*;

/// Runs the single-row and the pairwise checks. `muts[i]` must trip row `i` of `table`.
fn check_pairs<I: Clone + std::fmt::Debug>(
    name: &str,
    base: &I,
    muts: &[fn(&mut I)],
    run: impl Fn(&I) -> Result<(), Errno>,
    table: &[CheckStep],
) {
    assert_eq!(run(base), Ok(()), "{name}: the base call is valid");
    assert!(muts.len() <= table.len());
    // Every pure row of the table is covered by a mutation (the crate implements all of them).
    for (i, step) in table.iter().enumerate().skip(muts.len()) {
        assert_ne!(
            step.stage,
            Stage::Pure,
            "{name}: pure row {i} has no mutation"
        );
    }
    for (i, m) in muts.iter().enumerate() {
        let mut x = base.clone();
        m(&mut x);
        assert_eq!(
            run(&x),
            Err(table[i].errno),
            "{name}: row {i} ({}) with {x:?}",
            table[i].condition
        );
    }
    for i in 0..muts.len() {
        for j in i + 1..muts.len() {
            let mut x = base.clone();
            muts[j](&mut x);
            muts[i](&mut x);
            assert_eq!(
                run(&x),
                Err(table[i].errno),
                "{name}: rows {i} and {j} both fail; row {i} ({}) must win: {x:?}",
                table[i].condition
            );
        }
    }
}

/// Emulates `copy_struct_from_user`: `unreadable` faults; `trailing` puts a stray byte at the
/// end of a user buffer of `size` bytes.
fn user_bytes(known: &[u8], size: usize, trailing: bool) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    let n = known.len().min(size);
    bytes[..n].copy_from_slice(&known[..n]);
    if trailing && size > known.len() {
        bytes[size - 1] = 0x5a;
    }
    bytes
}

#[derive(Clone, Debug)]
struct Spawn {
    null: bool,
    size: usize,
    unreadable: bool,
    trailing: bool,
    args: AgentSpawnArgs,
}

fn run_spawn(x: &Spawn) -> Result<(), Errno> {
    validate_spawn(x.null, x.size, || {
        if x.unreadable {
            return Err(Errno::EFAULT);
        }
        AgentSpawnArgs::from_user_bytes(&user_bytes(&x.args.to_bytes(), x.size, x.trailing))
    })
    .map(|_| ())
}

fn grow(size: &mut usize, ver0: usize) {
    if *size <= ver0 {
        *size = ver0 + 16;
    }
}

#[test]
fn spawn_check_order() {
    let base = Spawn {
        null: false,
        size: AGENT_SPAWN_ARGS_SIZE_VER0,
        unreadable: false,
        trailing: false,
        args: AgentSpawnArgs {
            manifest: 0x1000,
            manifest_len: 300,
            caps: 0,
            caps_len: 0,
            flags: 0,
            pidfd: 0,
            lane: 0,
        },
    };
    let muts: [fn(&mut Spawn); 10] = [
        |x| x.null = true,
        |x| x.size = AGENT_SPAWN_ARGS_SIZE_VER0 - 1,
        |x| x.size = AGENT_STRUCT_SIZE_MAX + 1,
        |x| x.unreadable = true,
        |x| {
            grow(&mut x.size, AGENT_SPAWN_ARGS_SIZE_VER0);
            x.trailing = true;
        },
        |x| x.args.flags |= 1 << 7,
        |x| x.args.pidfd = 3,
        |x| x.args.manifest_len = 0,
        |x| x.args.manifest_len = AGENT_MANIFEST_MAX + 1,
        |x| x.args.caps_len = AGENT_CAPSET_MAX + 1,
    ];
    check_pairs(
        "agent_spawn",
        &base,
        &muts,
        run_spawn,
        check_order(Syscall::AgentSpawn),
    );
}

#[test]
fn spawn_accepts_edges_of_every_range() {
    let ok = |a: AgentSpawnArgs| check_spawn_args(&a);
    let base = AgentSpawnArgs {
        manifest_len: 1,
        ..Default::default()
    };
    assert_eq!(ok(base), Ok(()));
    assert_eq!(
        ok(AgentSpawnArgs {
            manifest_len: AGENT_MANIFEST_MAX,
            ..base
        }),
        Ok(())
    );
    assert_eq!(
        ok(AgentSpawnArgs {
            caps_len: AGENT_CAPSET_MAX,
            ..base
        }),
        Ok(())
    );
    assert_eq!(
        ok(AgentSpawnArgs {
            flags: AGENT_SPAWN_PIDFD,
            pidfd: 0,
            ..base
        }),
        Ok(())
    );
    // A negative pidfd with the flag passes the pure checks; fdget() reports it (EBADF).
    assert_eq!(
        ok(AgentSpawnArgs {
            flags: AGENT_SPAWN_PIDFD,
            pidfd: -1,
            ..base
        }),
        Ok(())
    );
    assert_eq!(
        ok(AgentSpawnArgs {
            lane: u32::MAX,
            ..base
        }),
        Ok(())
    );
    // A larger struct whose extension is zero is accepted (newer user space, older kernel).
    let mut bytes = base.to_bytes().to_vec();
    bytes.resize(AGENT_STRUCT_SIZE_MAX, 0);
    assert_eq!(AgentSpawnArgs::from_user_bytes(&bytes), Ok(base));
}

#[derive(Clone, Debug)]
struct Attest {
    aid: u64,
    buf_null: bool,
    size: usize,
    flags: u32,
}

#[test]
fn attest_check_order() {
    let base = Attest {
        aid: 5,
        buf_null: false,
        size: 512,
        flags: 0,
    };
    let muts: [fn(&mut Attest); 4] = [
        |x| x.flags |= 1 << 9,
        |x| x.flags |= AGENT_ATTEST_ABI_VERSION,
        |x| x.aid = AID_ANY,
        |x| x.buf_null = true,
    ];
    let run = |x: &Attest| check_attest(x.aid, x.buf_null, x.size, x.flags).map(|_| ());
    check_pairs(
        "agent_attest",
        &base,
        &muts,
        run,
        check_order(Syscall::AgentAttest),
    );
}

#[test]
fn attest_requests() {
    assert_eq!(
        check_attest(0, true, 0, AGENT_ATTEST_ABI_VERSION),
        Ok(AttestRequest::AbiVersion)
    );
    assert_eq!(
        check_attest(0, false, 0, AGENT_ATTEST_ABI_VERSION),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        check_attest(0, true, 1, AGENT_ATTEST_ABI_VERSION),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        check_attest(AID_SELF, true, 0, AGENT_ATTEST_ABI_VERSION),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        check_attest(AID_SELF, true, 0, 0),
        Ok(AttestRequest::Length(AidTarget::SelfAgent))
    );
    // With size 0 the buffer is not used, NULL or not.
    assert_eq!(
        check_attest(7, false, 0, 0),
        Ok(AttestRequest::Length(AidTarget::Agent(
            Aid::new(7).unwrap()
        )))
    );
    assert_eq!(
        check_attest(0, false, 9, 0),
        Ok(AttestRequest::Fill(AidTarget::Agent(Aid::BOOT), 9))
    );
}

#[derive(Clone, Debug)]
struct Quota {
    aid: u64,
    kind: u32,
    flags: u32,
    null: bool,
    size: usize,
    unreadable: bool,
    trailing: bool,
    budget: AgentBudget,
}

fn run_quota(x: &Quota) -> Result<(), Errno> {
    validate_quota(x.aid, x.kind, x.null, x.size, x.flags, || {
        if x.unreadable {
            return Err(Errno::EFAULT);
        }
        AgentBudget::from_user_bytes(&user_bytes(&x.budget.to_bytes(), x.size, x.trailing))
    })
    .map(|_| ())
}

#[test]
fn quota_check_order() {
    let base = Quota {
        aid: 3,
        kind: QuotaKind::Cpu as u32,
        flags: AGENT_QUOTA_SET,
        null: false,
        size: AGENT_BUDGET_SIZE_VER0,
        unreadable: false,
        trailing: false,
        budget: AgentBudget {
            limit: 50_000,
            used: 0,
            period_ns: 100_000_000,
            reserved: 0,
        },
    };
    let muts: [fn(&mut Quota); 13] = [
        |x| x.flags |= 1 << 4,
        |x| x.kind = 0,
        |x| {
            x.flags = AGENT_QUOTA_CHARGE;
            x.kind = QuotaKind::Cpu as u32;
        },
        |x| x.aid = AID_ANY,
        |x| x.null = true,
        |x| x.size = AGENT_BUDGET_SIZE_VER0 - 1,
        |x| x.size = AGENT_STRUCT_SIZE_MAX + 1,
        |x| x.unreadable = true,
        |x| {
            grow(&mut x.size, AGENT_BUDGET_SIZE_VER0);
            x.trailing = true;
        },
        |x| x.budget.reserved = 1,
        |x| x.budget.period_ns = 1,
        |x| x.budget.limit = AGENT_CPU_LIMIT_MIN_US - 1,
        |x| {
            x.flags = AGENT_QUOTA_CHARGE;
            x.kind = QuotaKind::Net as u32;
        },
    ];
    check_pairs(
        "agent_quota",
        &base,
        &muts,
        run_quota,
        check_order(Syscall::AgentQuota),
    );
}

#[test]
fn quota_operations_and_ranges() {
    let get = |flags| check_quota(AID_SELF, 1, flags);
    assert_eq!(get(0), Err(Errno::EINVAL), "no operation");
    assert_eq!(
        get(AGENT_QUOTA_GET | AGENT_QUOTA_SET),
        Err(Errno::EINVAL),
        "two operations"
    );
    assert_eq!(get(AGENT_QUOTA_GET).map(|r| r.op), Ok(QuotaOp::Get));
    assert_eq!(
        check_quota(AID_SELF, 6, AGENT_QUOTA_GET),
        Err(Errno::EINVAL)
    );
    for kind in [QuotaKind::Ram, QuotaKind::Hbm] {
        assert_eq!(
            check_quota(1, kind as u32, AGENT_QUOTA_CHARGE),
            Err(Errno::EINVAL)
        );
    }
    for kind in [QuotaKind::Net, QuotaKind::InferenceTokens] {
        assert!(check_quota(1, kind as u32, AGENT_QUOTA_CHARGE).is_ok());
    }
    // GET never reads the struct: an unreadable buffer passes the pure steps.
    let r = validate_quota(1, 1, false, 32, AGENT_QUOTA_GET, || Err(Errno::EFAULT));
    assert!(matches!(r, Ok((_, None))));
    let set = |kind: QuotaKind, limit, period_ns| {
        let req = check_quota(1, kind as u32, AGENT_QUOTA_SET).unwrap();
        check_budget(
            &req,
            &AgentBudget {
                limit,
                used: 0,
                period_ns,
                reserved: 0,
            },
        )
    };
    assert_eq!(
        set(
            QuotaKind::Cpu,
            AGENT_QUOTA_UNLIMITED,
            AGENT_CPU_PERIOD_MIN_NS
        ),
        Ok(())
    );
    assert_eq!(
        set(
            QuotaKind::Cpu,
            AGENT_CPU_LIMIT_MIN_US,
            AGENT_CPU_PERIOD_MAX_NS
        ),
        Ok(())
    );
    assert_eq!(
        set(QuotaKind::Cpu, 5000, AGENT_CPU_PERIOD_MAX_NS + 1),
        Err(Errno::EINVAL)
    );
    assert_eq!(set(QuotaKind::Cpu, 5000, 0), Err(Errno::EINVAL));
    assert_eq!(set(QuotaKind::Ram, 0, 0), Ok(()));
    assert_eq!(set(QuotaKind::Hbm, 1 << 30, 1), Err(Errno::EINVAL));
    assert_eq!(set(QuotaKind::Net, 1 << 20, 0), Ok(()));
    assert_eq!(
        set(QuotaKind::Net, 1 << 20, AGENT_PERIOD_MIN_NS - 1),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        set(QuotaKind::InferenceTokens, 10_000, AGENT_PERIOD_MAX_NS),
        Ok(())
    );
    assert_eq!(
        set(QuotaKind::InferenceTokens, 1, AGENT_PERIOD_MAX_NS + 1),
        Err(Errno::EINVAL)
    );
}

#[derive(Clone, Debug)]
struct Cap {
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_null: bool,
    scope_len: usize,
    flags: u32,
    unreadable: bool,
    scope: Vec<u8>,
}

fn run_cap(x: &Cap) -> Result<(), Errno> {
    let mut buf = [0u8; AGENT_SCOPE_MAX];
    validate_cap_call(
        x.call,
        x.aid,
        x.cap,
        x.scope_null,
        x.scope_len,
        x.flags,
        &mut buf,
        |dst| {
            if x.unreadable {
                return Err(Errno::EFAULT);
            }
            let mut src = x.scope.clone();
            src.resize(dst.len(), b'x');
            dst.copy_from_slice(&src);
            Ok(())
        },
    )
    .map(|_| ())
}

fn cap_base(call: CapCall) -> Cap {
    Cap {
        call,
        aid: 7,
        cap: CapId::FsRead as u32,
        scope_null: false,
        scope_len: 6,
        flags: 0,
        unreadable: false,
        scope: b"/srv/*".to_vec(),
    }
}

#[test]
fn cap_revoke_check_order() {
    let muts: [fn(&mut Cap); 9] = [
        |x| x.flags |= 1 << 6,
        |x| x.flags |= AGENT_REVOKE_ALL | AGENT_REVOKE_QUARANTINE,
        |x| x.flags |= AGENT_REVOKE_ALL,
        |x| x.cap = 0,
        |x| x.aid = AID_ANY,
        |x| x.scope_len = AGENT_SCOPE_MAX + 1,
        |x| x.scope_null = true,
        |x| x.unreadable = true,
        |x| {
            x.scope = b"/a b".to_vec();
            x.scope_len = 4;
        },
    ];
    let base = cap_base(CapCall::Revoke);
    check_pairs(
        "agent_cap_revoke",
        &base,
        &muts,
        run_cap,
        check_order(Syscall::AgentCapRevoke),
    );
}

#[test]
fn cap_grant_and_present_check_order() {
    // Grant and present have no second agent-level flag, so row 1 (revoke only) cannot trip;
    // the rest of the rows behave as for revoke.
    let muts: [fn(&mut Cap); 9] = [
        |x| x.flags |= 1 << 6,
        |_| {},
        |x| x.flags |= AGENT_GRANT_RELEASE,
        |x| x.cap = 0,
        |x| x.aid = AID_ANY,
        |x| x.scope_len = AGENT_SCOPE_MAX + 1,
        |x| x.scope_null = true,
        |x| x.unreadable = true,
        |x| {
            x.scope = b"/a*b".to_vec();
            x.scope_len = 4;
        },
    ];
    for (call, sys) in [
        (CapCall::Grant, Syscall::AgentCapGrant),
        (CapCall::Present, Syscall::AgentCapPresent),
    ] {
        let base = cap_base(call);
        let table = check_order(sys);
        assert_eq!(run_cap(&base), Ok(()));
        for (i, m) in muts.iter().enumerate() {
            if i == 1 || (i == 2 && call == CapCall::Present) {
                continue;
            }
            let mut x = base.clone();
            m(&mut x);
            assert_eq!(run_cap(&x), Err(table[i].errno), "{sys}: row {i}");
        }
    }
    // Present accepts no flags at all, so the grant's RELEASE bit is an unknown flag there.
    let mut x = cap_base(CapCall::Present);
    x.flags = AGENT_GRANT_RELEASE;
    assert_eq!(run_cap(&x), Err(Errno::EINVAL));
}

#[test]
fn cap_agent_level_calls() {
    let ok = |call, flags| check_cap_call(call, 9, 0, true, 0, flags);
    assert_eq!(
        ok(CapCall::Revoke, AGENT_REVOKE_ALL).map(|r| r.cap),
        Ok(None)
    );
    assert_eq!(
        ok(CapCall::Revoke, AGENT_REVOKE_QUARANTINE).map(|r| r.cap),
        Ok(None)
    );
    assert_eq!(
        ok(CapCall::Grant, AGENT_GRANT_RELEASE).map(|r| r.cap),
        Ok(None)
    );
    assert_eq!(
        ok(CapCall::Revoke, 0),
        Err(Errno::EINVAL),
        "cap 0 without an agent-level flag"
    );
    // Unscoped calls never touch the scope pointer.
    let mut buf = [0u8; AGENT_SCOPE_MAX];
    let r = validate_cap_call(CapCall::Present, AID_SELF, 1, true, 0, 0, &mut buf, |_| {
        Err(Errno::EFAULT)
    });
    assert!(r.is_ok());
    // A full-length scope is accepted.
    let r = validate_cap_call(
        CapCall::Present,
        AID_SELF,
        7,
        false,
        256,
        0,
        &mut buf,
        |d| {
            d.fill(b'a');
            Ok(())
        },
    );
    assert_eq!(r.map(|r| r.scope_len), Ok(256));
}

#[derive(Clone, Debug)]
struct Query {
    null: bool,
    fsize: usize,
    unreadable: bool,
    trailing: bool,
    filter: AgentAuditFilter,
    buf_null: bool,
    bufsize: usize,
}

fn run_query(x: &Query) -> Result<(), Errno> {
    validate_audit_query(x.null, x.fsize, x.buf_null, x.bufsize, || {
        if x.unreadable {
            return Err(Errno::EFAULT);
        }
        AgentAuditFilter::from_user_bytes(&user_bytes(&x.filter.to_bytes(), x.fsize, x.trailing))
    })
    .map(|_| ())
}

#[test]
fn audit_query_check_order() {
    let base = Query {
        null: false,
        fsize: AGENT_AUDIT_FILTER_SIZE_VER0,
        unreadable: false,
        trailing: false,
        filter: AgentAuditFilter {
            from_seq: 0,
            to_seq: 0,
            aid: AID_SELF,
            kinds: 0,
            flags: 0,
        },
        buf_null: false,
        bufsize: 4096,
    };
    let muts: [fn(&mut Query); 12] = [
        |x| x.null = true,
        |x| x.fsize = AGENT_AUDIT_FILTER_SIZE_VER0 - 1,
        |x| x.fsize = AGENT_STRUCT_SIZE_MAX + 1,
        |x| x.unreadable = true,
        |x| {
            grow(&mut x.fsize, AGENT_AUDIT_FILTER_SIZE_VER0);
            x.trailing = true;
        },
        |x| x.filter.flags |= 1 << 3,
        |x| x.filter.kinds |= 1,
        |x| x.filter.aid = AID_MAX + 1,
        |x| {
            x.filter.flags |= AGENT_AUDIT_SUBTREE;
            x.filter.aid = AID_ANY;
        },
        |x| {
            x.filter.from_seq = 10;
            x.filter.to_seq = 5;
        },
        |x| x.buf_null = true,
        |x| x.bufsize = AGENT_AUDIT_ROW_MIN - 1,
    ];
    check_pairs(
        "agent_audit_query",
        &base,
        &muts,
        run_query,
        check_order(Syscall::AgentAuditQuery),
    );
}

#[test]
fn audit_filter_accepts_every_kind_and_wildcards() {
    let f = |aid, kinds, flags| {
        check_audit_filter(&AgentAuditFilter {
            from_seq: 3,
            to_seq: 3,
            aid,
            kinds,
            flags,
        })
    };
    assert_eq!(f(AID_ANY, AGENT_AUDIT_KINDS_MASK, 0), Ok(()));
    assert_eq!(
        f(AID_SELF, AuditKind::Spawn.filter_bit(), AGENT_AUDIT_SUBTREE),
        Ok(())
    );
    assert_eq!(f(0, 0, AGENT_AUDIT_SUBTREE), Ok(()));
    assert_eq!(f(AID_MAX, 1 << 14, 0), Err(Errno::EINVAL));
    assert_eq!(check_audit_buffer(false, AGENT_AUDIT_ROW_MIN), Ok(()));
}

#[derive(Clone, Debug)]
struct Mem {
    aid: u64,
    tier: u32,
    null: bool,
    size: usize,
    unreadable: bool,
    trailing: bool,
    req: AgentMemRequest,
}

fn run_mem(x: &Mem) -> Result<(), Errno> {
    validate_memory_tier(x.aid, x.tier, x.null, x.size, || {
        if x.unreadable {
            return Err(Errno::EFAULT);
        }
        AgentMemRequest::from_user_bytes(&user_bytes(&x.req.to_bytes(), x.size, x.trailing))
    })
    .map(|_| ())
}

#[test]
fn memory_tier_check_order() {
    let base = Mem {
        aid: AID_SELF,
        tier: MemTier::Dram as u32,
        null: false,
        size: AGENT_MEM_REQUEST_SIZE_VER0,
        unreadable: false,
        trailing: false,
        req: AgentMemRequest {
            length: 4096,
            flags: AGENT_MEM_POPULATE,
            prot: AGENT_MEM_PROT_READ | AGENT_MEM_PROT_WRITE,
            reserved: 0,
        },
    };
    let muts: [fn(&mut Mem); 12] = [
        |x| x.tier = MemTier::LAST as u32 + 1,
        |x| x.aid = AID_ANY,
        |x| x.null = true,
        |x| x.size = AGENT_MEM_REQUEST_SIZE_VER0 - 1,
        |x| x.size = AGENT_STRUCT_SIZE_MAX + 1,
        |x| x.unreadable = true,
        |x| {
            grow(&mut x.size, AGENT_MEM_REQUEST_SIZE_VER0);
            x.trailing = true;
        },
        |x| x.req.flags |= 1 << 2,
        |x| x.req.prot |= 4,
        |x| x.req.reserved = 1,
        |x| x.req.length = 0,
        |x| x.req.length = AGENT_MEM_LENGTH_MAX + 1,
    ];
    check_pairs(
        "agent_memory_tier",
        &base,
        &muts,
        run_mem,
        check_order(Syscall::AgentMemoryTier),
    );
}
