//! Every table of the ABI crate round-trips (id -> name -> id), ids are dense and stable, and
//! masks are derived from the last flag of each group.

use coconut_abi::*;

#[test]
fn syscalls_are_472_to_479_in_order_and_round_trip() {
    let expected = [
        (472, "agent_spawn"),
        (473, "agent_attest"),
        (474, "agent_quota"),
        (475, "agent_cap_grant"),
        (476, "agent_cap_revoke"),
        (477, "agent_cap_present"),
        (478, "agent_audit_query"),
        (479, "agent_memory_tier"),
    ];
    for (call, (nr, name)) in Syscall::ALL.iter().zip(expected) {
        assert_eq!(call.nr(), nr);
        assert_eq!(call.name(), name);
        assert_eq!(Syscall::from_nr(nr), Some(*call));
        assert_eq!(Syscall::from_name(name), Some(*call));
    }
    assert_eq!(Syscall::from_nr(471), None);
    assert_eq!(Syscall::from_nr(480), None);
    assert_eq!(Syscall::from_name("agent_spawn2"), None);
    assert_eq!((Syscall::FIRST, Syscall::LAST), (472, 479));
}

/// Checks each named `Errno` constant against the C library's value of the same name and
/// against its row in `ERRNO_TABLE`, and that the list covers the whole table.
macro_rules! errnos_agree_with_libc {
    ($($name:ident),* $(,)?) => {{
        let mut seen = Vec::new();
        $(
            assert_eq!(Errno::$name.get(), libc::$name, "{} differs from libc", stringify!($name));
            assert_eq!(Errno::$name.name(), stringify!($name));
            seen.push(Errno::$name);
        )*
        seen
    }};
}

#[test]
fn errno_table_round_trips_and_agrees_with_libc() {
    let named = errnos_agree_with_libc!(
        EPERM,
        ENOENT,
        ESRCH,
        E2BIG,
        EBADF,
        ENOMEM,
        EACCES,
        EFAULT,
        EBUSY,
        ENODEV,
        EINVAL,
        ERANGE,
        ENOSYS,
        EOPNOTSUPP,
        EDQUOT,
        EKEYREJECTED,
    );
    assert_eq!(
        ERRNO_TABLE.iter().map(|(e, _, _)| *e).collect::<Vec<_>>(),
        named,
        "ERRNO_TABLE lists exactly the named errnos, in value order"
    );
    for (e, name, desc) in ERRNO_TABLE.iter() {
        assert_eq!(e.name(), *name);
        assert_eq!(e.description(), *desc);
        assert_eq!(e.to_ret(), -i64::from(e.get()));
        assert_eq!(Errno::from_raw(e.get()), Some(*e));
        assert!(!desc.is_empty());
    }
    assert!(ERRNO_TABLE.windows(2).all(|w| w[0].0.get() < w[1].0.get()));
    assert_eq!(Errno::from_raw(0), None);
    assert_eq!(Errno::from_raw(libc::EINTR), None);
}

#[test]
fn cap_table_round_trips() {
    assert_eq!(CapId::ALL.len(), 15);
    for (i, cap) in CapId::ALL.iter().enumerate() {
        assert_eq!(cap.id() as usize, i + 1, "ids are dense from 1");
        assert_eq!(CapId::from_id(cap.id()), Ok(*cap));
        assert_eq!(CapId::from_name(cap.name().as_bytes()), Ok(*cap));
        assert!(cap.name().len() <= limits::AGENT_CAP_NAME_MAX);
        assert_eq!(
            parse_capability(cap.name().as_bytes()),
            Ok((*cap, &b""[..]))
        );
    }
    assert_eq!(CapId::from_id(0), Err(CapError::UnknownId));
    assert_eq!(CapId::from_id(16), Err(CapError::UnknownId));
    assert_eq!(
        CapId::from_name(b"agent.spawnx"),
        Err(CapError::UnknownName)
    );
    assert_eq!(CapId::from_name(b"Agent.Spawn"), Err(CapError::UnknownName));
    assert_eq!(CapId::from_name(b""), Err(CapError::UnknownName));
    assert_eq!(CapId::LAST, CapId::ProcSignal);
    let longest = CapId::ALL.iter().map(|c| c.name().len()).max();
    assert_eq!(longest, Some(limits::AGENT_CAP_NAME_MAX));
}

#[test]
fn state_table_round_trips() {
    let words = [
        "SPAWNING",
        "ATTESTED",
        "ACTIVE",
        "INF_BLOCKED",
        "CAP_DENIED",
        "QUARANTINED",
        "TERMINATED_CLEAN",
        "TERMINATED_REVOKED",
    ];
    for (i, (s, w)) in State::ALL.iter().zip(words).enumerate() {
        assert_eq!(*s as u32, i as u32);
        assert_eq!(State::from_u32(i as u32), Some(*s));
        assert_eq!(s.word(), w);
        assert_eq!(State::from_word(w.as_bytes()), Some(*s));
        assert_eq!(s.to_string(), w);
    }
    assert_eq!(State::from_u32(8), None);
    assert_eq!(State::from_word(b"active"), None);
}

#[test]
fn trigger_table_round_trips() {
    for (i, t) in Trigger::ALL.iter().enumerate() {
        assert_eq!(*t as usize, i + 1);
        assert_eq!(Trigger::from_name(t.name().as_bytes()), Some(*t));
    }
    assert_eq!(Trigger::from_name(b"nope"), None);
}

#[test]
fn quota_kinds_and_tiers_round_trip() {
    for (i, k) in QuotaKind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i + 1);
        assert_eq!(QuotaKind::from_u32(*k as u32), Some(*k));
        assert_eq!(QuotaKind::from_name(k.name().as_bytes()), Some(*k));
    }
    assert_eq!(QuotaKind::from_u32(0), None);
    assert_eq!(QuotaKind::from_u32(6), None);
    let names: Vec<_> = QuotaKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, ["cpu", "ram", "hbm", "net", "inference_tokens"]);
    for (i, t) in MemTier::ALL.iter().enumerate() {
        assert_eq!(*t as usize, i);
        assert_eq!(MemTier::from_u32(i as u32), Some(*t));
    }
    assert_eq!(MemTier::from_u32(4), None);
}

#[test]
fn audit_kinds_round_trip() {
    let names = [
        "boot",
        "link",
        "spawn",
        "attest",
        "quota",
        "cap_grant",
        "cap_revoke",
        "cap_deny",
        "audit_query",
        "memory_tier",
        "state",
        "exit",
        "rotate",
        "checkpoint",
        "suppressed",
    ];
    assert_eq!(AuditKind::ALL.len(), names.len());
    for (i, (k, n)) in AuditKind::ALL.iter().zip(names).enumerate() {
        assert_eq!(*k as usize, i + 1);
        assert_eq!(k.json_name(), n);
        assert_eq!(AuditKind::from_u32(i as u32 + 1), Some(*k));
        assert_eq!(AuditKind::from_json_name(n.as_bytes()), Some(*k));
        assert_ne!(k.filter_bit() & AGENT_AUDIT_KINDS_MASK, 0);
    }
    assert_eq!(AuditKind::from_u32(0), None);
    assert_eq!(AuditKind::from_u32(16), None);
    assert_eq!(AGENT_AUDIT_KINDS_MASK, 0xfffe);
}

#[test]
fn masks_derive_from_the_last_flag() {
    assert_eq!(AGENT_SPAWN_MASK, 0b1);
    assert_eq!(AGENT_ATTEST_MASK, 0b1);
    assert_eq!(AGENT_QUOTA_MASK, 0b111);
    assert_eq!(AGENT_GRANT_MASK, 0b1);
    assert_eq!(AGENT_REVOKE_MASK, 0b11);
    assert_eq!(AGENT_PRESENT_MASK, 0);
    assert_eq!(AGENT_AUDIT_FILTER_MASK, 0b1);
    assert_eq!(AGENT_MEM_MASK, 0b11);
    assert_eq!(AGENT_MEM_PROT_MASK, 0b11);
    // Each mask covers exactly the bits up to and including its LAST flag.
    assert_eq!(AGENT_SPAWN_MASK, (AGENT_SPAWN_LAST << 1) - 1);
    assert_eq!(
        AGENT_QUOTA_MASK,
        AGENT_QUOTA_GET | AGENT_QUOTA_SET | AGENT_QUOTA_CHARGE
    );
    assert_eq!(
        AGENT_REVOKE_MASK,
        AGENT_REVOKE_ALL | AGENT_REVOKE_QUARANTINE
    );
    assert_eq!(AGENT_MEM_MASK, AGENT_MEM_POPULATE | AGENT_MEM_STRICT);
    assert_eq!(
        AGENT_MEM_PROT_MASK,
        AGENT_MEM_PROT_READ | AGENT_MEM_PROT_WRITE
    );
    // The prot bits have the kernel's PROT_* values.
    assert_eq!(AGENT_MEM_PROT_READ, 1);
    assert_eq!(AGENT_MEM_PROT_WRITE, 2);
}

#[test]
fn limits_have_the_pinned_values() {
    assert_eq!(AGENT_ABI_VERSION, 1);
    assert_eq!(AGENT_MANIFEST_MAX, 16384);
    assert_eq!(AGENT_CAPSET_MAX, 4096);
    assert_eq!(AGENT_SCOPE_MAX, 256);
    assert_eq!(AGENT_CAPS_MAX, 64);
    assert_eq!(AGENT_DENY_LIMIT, 8);
    assert_eq!(AGENT_AUDIT_DETAIL_MAX, 256);
    assert_eq!(AGENT_STRUCT_SIZE_MAX, 4096);
    assert_eq!(AID_MAX, (1u64 << 63) - 1);
    assert_eq!(AID_SELF, u64::MAX);
    assert_eq!(AID_ANY, u64::MAX - 1);
    assert_eq!(AGENT_AUDIT_ROW_MIN, 128);
    assert_eq!(AGENT_AUDIT_ROW_MAX, 384);
    assert_eq!(AGENT_AUDIT_ROW_HDR_LEN, AGENT_AUDIT_ROW_HDR_SIZE);
}

#[test]
fn check_order_tables_cover_every_syscall_and_only_abi_errnos() {
    for call in Syscall::ALL {
        let steps = check_order(call);
        assert!(!steps.is_empty(), "{call} has an error matrix");
        for s in steps {
            assert!(Errno::from_raw(s.errno.get()).is_some());
            assert!(
                !s.condition.contains('|'),
                "conditions fit in a Markdown table"
            );
        }
    }
}
