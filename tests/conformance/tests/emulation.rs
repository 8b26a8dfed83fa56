//! Every conformance table, walked against the host emulation of the kernel (only a:00000
//! exists), and the results of the check pipelines that the answers of that state cannot show
//! (what a valid call asks for), which the kernel's later stages act on.

use coconut_abi::*;
use coconut_conformance::{tables, Call, Emulated, Mem, Model};

#[test]
fn every_table_holds_in_the_host_emulation() {
    let all = tables::all();
    assert_eq!(all.len(), Syscall::ALL.len(), "one table per syscall");
    for (table, syscall) in all.iter().zip(Syscall::ALL) {
        assert_eq!(table.syscall(), syscall);
        let failures = table.walk(&mut Emulated);
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn the_emulation_answers_the_abi_version() {
    let (model, want) = tables::attest_abi_version();
    assert_eq!(Emulated.call(&model.invocation()), want.map_err(Errno::get));
}

#[test]
fn a_table_naming_a_row_wrongly_fails_loudly() {
    let mut table = tables::memory_tier();
    table.trips[0].row = "no such condition";
    let failures = coconut_conformance::walk(&table, &mut Emulated);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("no row of the matrix contains `no such condition`")),
        "{failures:?}"
    );
    let mut table = tables::memory_tier();
    table.trips.remove(0);
    let failures = coconut_conformance::walk(&table, &mut Emulated);
    assert!(failures[0].contains("row 0"), "{failures:?}");
    assert!(failures[0].contains("has no mutation"), "{failures:?}");
}

#[test]
fn a_wrong_check_order_is_caught_by_the_pairwise_walk() {
    // An implementation that checks the struct size before the NULL pointer.
    struct SizeFirst;
    impl Call for SizeFirst {
        fn name(&self) -> &'static str {
            "size-first"
        }
        fn call(&mut self, inv: &coconut_conformance::Invocation) -> Result<i64, i32> {
            if let coconut_conformance::Invocation::Spawn { size, .. } = inv {
                if *size < AGENT_SPAWN_ARGS_SIZE_VER0 {
                    return Err(Errno::EINVAL.get());
                }
            }
            Emulated.call(inv)
        }
    }
    let failures = coconut_conformance::walk(&tables::spawn(), &mut SizeFirst);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("rows 0 (`args NULL`) and 1 (`size VER0-1`) both fail")),
        "{failures:#?}"
    );
}

#[test]
fn attest_requests() {
    assert_eq!(
        check_attest(0, true, 0, AGENT_ATTEST_ABI_VERSION),
        Ok(AttestRequest::AbiVersion)
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

#[test]
fn quota_requests() {
    assert_eq!(
        check_quota(AID_SELF, 1, AGENT_QUOTA_GET).map(|r| r.op),
        Ok(QuotaOp::Get)
    );
    // GET copies nothing in: an unreadable buffer passes and no budget comes back.
    let r = validate_quota(1, 1, false, 32, AGENT_QUOTA_GET, || Err(Errno::EFAULT));
    assert!(matches!(r, Ok((_, None))));
    let budget = AgentBudget {
        used: 3,
        ..Default::default()
    };
    let r = validate_quota(
        1,
        QuotaKind::Net as u32,
        false,
        AGENT_BUDGET_SIZE_VER0,
        AGENT_QUOTA_CHARGE,
        || Ok(budget),
    );
    assert_eq!(
        r.map(|(req, b)| (req.op, b)),
        Ok((QuotaOp::Charge, Some(budget)))
    );
}

#[test]
fn cap_requests() {
    let ok = |call, flags| check_cap_call(call, 9, 0, true, 0, flags).map(|r| r.cap);
    assert_eq!(ok(CapCall::Revoke, AGENT_REVOKE_ALL), Ok(None));
    assert_eq!(ok(CapCall::Revoke, AGENT_REVOKE_QUARANTINE), Ok(None));
    assert_eq!(ok(CapCall::Grant, AGENT_GRANT_RELEASE), Ok(None));
    let mut buf = [0u8; AGENT_SCOPE_MAX];
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
    assert_eq!(
        r.map(|r| (r.cap, r.scope_len)),
        Ok((Some(CapId::from_id(7).unwrap()), 256))
    );
}

#[test]
fn a_longer_struct_with_a_zero_tail_decodes_as_the_known_struct() {
    let args = AgentSpawnArgs {
        manifest_len: 1,
        lane: 4,
        ..Default::default()
    };
    let mut bytes = args.to_bytes().to_vec();
    bytes.resize(AGENT_STRUCT_SIZE_MAX, 0);
    assert_eq!(AgentSpawnArgs::from_user_bytes(&bytes), Ok(args));
    assert_eq!(
        Emulated.call(&coconut_conformance::Invocation::Spawn {
            args: Mem::Null,
            size: 0
        }),
        Err(Errno::EFAULT.get())
    );
}

/// The kernel state the emulation models: a:00000 alone, the caller root in it.
#[test]
fn the_emulation_models_a00000_alone() {
    use coconut_conformance::Invocation;
    let budget = || Mem::Bytes(AgentBudget::default().to_bytes().to_vec());
    let quota = |aid, flags| Invocation::Quota {
        aid,
        kind: QuotaKind::InferenceTokens as u32,
        budget: budget(),
        size: AGENT_BUDGET_SIZE_VER0,
        flags,
    };
    let cap = |call, aid| Invocation::Cap {
        call,
        aid,
        cap: CapId::FsRead.id(),
        scope: Mem::Null,
        scope_len: 0,
        flags: 0,
    };
    let attest = |aid, buf: Mem, size| Invocation::Attest {
        aid,
        buf,
        size,
        flags: 0,
    };
    let cases = [
        (quota(AID_SELF, AGENT_QUOTA_GET), Ok(0)),
        (quota(0, AGENT_QUOTA_GET), Ok(0)),
        (quota(4, AGENT_QUOTA_GET), Err(Errno::ESRCH)),
        (quota(0, AGENT_QUOTA_CHARGE), Err(Errno::EPERM)),
        (cap(CapCall::Present, AID_SELF), Ok(0)),
        (cap(CapCall::Present, 1), Err(Errno::ESRCH)),
        (cap(CapCall::Grant, 0), Err(Errno::EPERM)),
        (cap(CapCall::Revoke, AID_SELF), Err(Errno::EPERM)),
        (attest(AID_SELF, Mem::Null, 0), Ok(172)),
        (attest(0, Mem::Bytes(vec![0; 172]), 172), Ok(172)),
        (attest(0, Mem::Bytes(vec![0; 171]), 171), Err(Errno::ERANGE)),
        (attest(1, Mem::Null, 0), Err(Errno::ESRCH)),
    ];
    for (inv, want) in cases {
        assert_eq!(Emulated.call(&inv), want.map_err(Errno::get), "{inv:?}");
    }
}
