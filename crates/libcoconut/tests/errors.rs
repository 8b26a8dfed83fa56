//! The errno mapping is complete: every errno of the ABI has its own variant, the variant
//! gives the errno and the call back, and its message is coconut-abi's meaning of the errno
//! (the one errno message table).

use libcoconut::abi::{Errno, ERRNO_TABLE};
use libcoconut::{Error, Syscall};

#[test]
fn every_abi_errno_has_its_own_variant() {
    let mut seen = Vec::new();
    for (errno, name, _) in ERRNO_TABLE.iter() {
        let e = Error::from_errno(Syscall::AgentCapPresent, errno.get());
        assert!(
            !matches!(e, Error::Other { .. }),
            "{name} maps to a named variant"
        );
        assert_eq!(e.errno(), Some(errno.get()), "{name} round-trips");
        assert_eq!(
            e.abi_errno(),
            Some(*errno),
            "{name} round-trips as an Errno"
        );
        assert_eq!(
            e.call(),
            Some(Syscall::AgentCapPresent),
            "{name} keeps the call"
        );
        let variant = format!("{e:?}");
        let variant = variant.split([' ', '{']).next().unwrap().to_string();
        assert!(!seen.contains(&variant), "{name} has a variant of its own");
        seen.push(variant);
    }
    assert_eq!(seen.len(), ERRNO_TABLE.len());
}

#[test]
fn messages_are_the_abi_table_s_meanings() {
    for (errno, name, meaning) in ERRNO_TABLE.iter() {
        let e = Error::from_errno(Syscall::AgentQuota, errno.get());
        let want = if *errno == Errno::ENOSYS {
            format!("{meaning} (syscall 474 returned ENOSYS)")
        } else {
            format!("agent_quota (474): {meaning} ({name})")
        };
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn messages_name_the_call_and_the_errno() {
    let e = Error::from_errno(Syscall::AgentCapPresent, 38);
    assert_eq!(
        e.to_string(),
        "this kernel is not Coconut OS (syscall 477 returned ENOSYS)"
    );
    assert!(e.is_not_coconut());
    let e = Error::from_errno(Syscall::AgentSpawn, 95);
    assert_eq!(
        e.to_string(),
        "agent_spawn (472): valid call that this kernel cannot serve yet (EOPNOTSUPP)"
    );
    let e = Error::from_errno(Syscall::AgentQuota, 5);
    assert_eq!(
        e,
        Error::Other {
            call: Syscall::AgentQuota,
            errno: 5
        }
    );
    assert_eq!(e.errno(), Some(5));
    assert_eq!(e.abi_errno(), None);
}

#[test]
fn an_impossible_success_value_is_a_bad_return_not_an_errno() {
    let e = Error::BadReturn {
        call: Syscall::AgentSpawn,
        value: -1i64 << 63,
    };
    assert_eq!(e.errno(), None);
    assert_eq!(e.call(), Some(Syscall::AgentSpawn));
    assert_eq!(
        e.to_string(),
        "agent_spawn (472): the kernel returned -9223372036854775808, which is not a valid \
         result of this call"
    );
}
