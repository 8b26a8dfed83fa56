//! The errno mapping is complete: every errno of the ABI has its own variant, and the
//! variant gives the errno back.

use libcoconut::abi::ERRNO_TABLE;
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
        let variant = format!("{e:?}");
        let variant = variant.split([' ', '{']).next().unwrap().to_string();
        assert!(!seen.contains(&variant), "{name} has a variant of its own");
        seen.push(variant);
    }
    assert_eq!(seen.len(), ERRNO_TABLE.len());
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
        "agent_spawn (472): valid call, but this Coconut kernel cannot serve it yet (EOPNOTSUPP)"
    );
    let e = Error::from_errno(Syscall::AgentQuota, 122);
    assert!(e.to_string().contains("EDQUOT"));
    let e = Error::from_errno(Syscall::AgentQuota, 5);
    assert_eq!(
        e,
        Error::Other {
            call: Syscall::AgentQuota,
            errno: 5
        }
    );
    assert_eq!(e.errno(), Some(5));
}
