//! Struct layouts and the size-versioning rule: sizes, offsets, the exported field table, and
//! `copy_struct_from_user` semantics over size walks (0, 1, min-1, min, page, page+1, a stray
//! byte near the end).

use coconut_abi::*;
use std::mem::{align_of, offset_of, size_of};

#[test]
fn sizes_and_offsets_are_pinned() {
    assert_eq!(size_of::<AgentSpawnArgs>(), 48);
    assert_eq!(size_of::<AgentBudget>(), 32);
    assert_eq!(size_of::<AgentAuditFilter>(), 40);
    assert_eq!(size_of::<AgentMemRequest>(), 24);
    assert_eq!(size_of::<AgentAuditRowHdr>(), 72);
    assert_eq!(align_of::<AgentSpawnArgs>(), 8);
    assert_eq!(offset_of!(AgentSpawnArgs, pidfd), 40);
    assert_eq!(offset_of!(AgentSpawnArgs, lane), 44);
    assert_eq!(offset_of!(AgentMemRequest, prot), 16);
    assert_eq!(offset_of!(AgentAuditRowHdr, hash), 40);
}

#[test]
fn field_table_tiles_each_struct() {
    let names: Vec<_> = STRUCTS.iter().map(|s| s.c_name).collect();
    assert_eq!(
        names,
        [
            "agent_spawn_args",
            "agent_budget",
            "agent_audit_filter",
            "agent_mem_request",
            "agent_audit_row_hdr"
        ]
    );
    for s in &STRUCTS {
        let mut next = 0;
        for f in s.fields {
            assert_eq!(
                f.offset, next,
                "{}.{} has no hole before it",
                s.c_name, f.name
            );
            next += f.size;
            assert!(
                f.offset
                    % if f.size >= 8 && f.c_type.contains("64") {
                        8
                    } else {
                        1
                    }
                    == 0
            );
        }
        assert_eq!(next, s.size, "{} ends without padding", s.c_name);
    }
    let spawn: Vec<_> = STRUCTS[0]
        .fields
        .iter()
        .map(|f| (f.name, f.offset))
        .collect();
    assert_eq!(
        spawn,
        [
            ("manifest", 0),
            ("manifest_len", 8),
            ("caps", 16),
            ("caps_len", 24),
            ("flags", 32),
            ("pidfd", 40),
            ("lane", 44)
        ]
    );
}

#[test]
fn size_walk_follows_copy_struct_from_user() {
    let ver0 = AGENT_BUDGET_SIZE_VER0;
    let value = AgentBudget {
        limit: 1,
        used: 2,
        period_ns: 3,
        reserved: 0,
    };
    let known = value.to_bytes();
    let make = |size: usize| {
        let mut b = vec![0u8; size];
        let n = size.min(known.len());
        b[..n].copy_from_slice(&known[..n]);
        b
    };
    for (size, expected) in [
        (0, Err(Errno::EINVAL)),
        (1, Err(Errno::EINVAL)),
        (ver0 - 1, Err(Errno::EINVAL)),
        (ver0, Ok(value)),
        (ver0 + 1, Ok(value)),
        (AGENT_STRUCT_SIZE_MAX, Ok(value)),
        (AGENT_STRUCT_SIZE_MAX + 1, Err(Errno::E2BIG)),
    ] {
        assert_eq!(
            AgentBudget::from_user_bytes(&make(size)),
            expected,
            "size {size}"
        );
    }
    for stray in [ver0, ver0 + 7, AGENT_STRUCT_SIZE_MAX - 1] {
        let mut b = make(AGENT_STRUCT_SIZE_MAX);
        b[stray] = 1;
        assert_eq!(
            AgentBudget::from_user_bytes(&b),
            Err(Errno::E2BIG),
            "stray byte at {stray}"
        );
    }
    assert_eq!(
        check_user_struct(true, 0, ver0),
        Err(Errno::EFAULT),
        "NULL is checked first"
    );
    assert_eq!(check_struct_size(ver0, ver0), Ok(()));
}

#[test]
fn every_struct_round_trips_through_bytes() {
    let s = AgentSpawnArgs {
        manifest: 1,
        manifest_len: 2,
        caps: 3,
        caps_len: 4,
        flags: 5,
        pidfd: -6,
        lane: 7,
    };
    assert_eq!(AgentSpawnArgs::from_user_bytes(&s.to_bytes()), Ok(s));
    let f = AgentAuditFilter {
        from_seq: 1,
        to_seq: 2,
        aid: AID_ANY,
        kinds: 4,
        flags: 5,
    };
    assert_eq!(AgentAuditFilter::from_user_bytes(&f.to_bytes()), Ok(f));
    let m = AgentMemRequest {
        length: 1,
        flags: 2,
        prot: 3,
        reserved: 4,
    };
    assert_eq!(AgentMemRequest::from_user_bytes(&m.to_bytes()), Ok(m));
    // The byte image is the in-memory image on this little-endian host.
    assert_eq!(&s.to_bytes()[40..44], &(-6i32).to_le_bytes());
}
