//! libcoconut's own wrappers (`libcoconut::sys`) against the real kernel: each syscall at least
//! once, asserting the typed result, so libcoconut's marshalling (struct sizes, pointer and
//! length order, flags) meets the kernel and not only the host emulation. Valid calls answer
//! [`Error::NotSupportedYet`] in the skeleton; calls that break a documented rule answer that
//! rule's typed error.

use std::fmt::Debug;

use coconut_abi::{
    AgentAuditFilter, AgentMemRequest, Aid, AidTarget, CapId, MemTier, QuotaKind, Syscall,
    AGENT_ABI_VERSION, AGENT_AUDIT_ROW_MIN, AGENT_CPU_PERIOD_MIN_NS, AGENT_MANIFEST_MAX,
    AGENT_MEM_LENGTH_MAX, AGENT_MEM_PROT_MASK, AGENT_MEM_PROT_READ, AGENT_MEM_PROT_WRITE, AID_ANY,
    AID_SELF,
};
use libcoconut::{sys, Capability, Error};

use crate::Test;

/// The wrapper tests, one per syscall.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("libcoconut::spawn", spawn),
        Test::new("libcoconut::attest", attest),
        Test::new("libcoconut::quota", quota),
        Test::new("libcoconut::cap_grant", cap_grant),
        Test::new("libcoconut::cap_revoke", cap_revoke),
        Test::new("libcoconut::cap_present", cap_present),
        Test::new("libcoconut::audit_query", audit_query),
        Test::new("libcoconut::memory_tier", memory_tier),
    ]
}

/// Collects mismatches between what a wrapper returned and what the ABI says.
#[derive(Default)]
struct Expect(Vec<String>);

impl Expect {
    fn eq<T: Debug + PartialEq>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    fn done(self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0.join("; "))
        }
    }
}

fn unsupported(call: Syscall) -> Error {
    Error::NotSupportedYet { call }
}

fn fs_read() -> Capability {
    Capability::scoped(CapId::FsRead, "/srv/*").unwrap_or(Capability::unscoped(CapId::FsRead))
}

fn spawn() -> Result<(), String> {
    let call = Syscall::AgentSpawn;
    let mut e = Expect::default();
    // The skeleton checks the lengths only; the manifest's bytes are not read yet.
    let manifest = vec![0u8; 64];
    e.eq(
        "spawn(64-byte manifest)",
        sys::spawn(&manifest, &[], None, 0),
        Err(unsupported(call)),
    );
    e.eq(
        "spawn(empty manifest)",
        sys::spawn(&[], &[], None, 0),
        Err(Error::InvalidArgument { call }),
    );
    let huge = vec![0u8; AGENT_MANIFEST_MAX as usize + 1];
    e.eq(
        "spawn(manifest of AGENT_MANIFEST_MAX + 1 bytes)",
        sys::spawn(&huge, &[], None, 0),
        Err(Error::TooBig { call }),
    );
    e.done()
}

fn attest() -> Result<(), String> {
    let mut e = Expect::default();
    e.eq("abi_version()", sys::abi_version(), Ok(AGENT_ABI_VERSION));
    e.eq("is_supported()", sys::is_supported(), true);
    e.eq(
        "attest(self)",
        sys::attest(AidTarget::SelfAgent),
        Err(unsupported(Syscall::AgentAttest)),
    );
    e.eq(
        "attest(a:00000)",
        sys::attest(Aid::BOOT),
        Err(unsupported(Syscall::AgentAttest)),
    );
    e.done()
}

fn quota() -> Result<(), String> {
    let call = Syscall::AgentQuota;
    let mut e = Expect::default();
    e.eq(
        "quota_get(self, cpu)",
        sys::quota_get(AidTarget::SelfAgent, QuotaKind::Cpu),
        Err(unsupported(call)),
    );
    e.eq(
        "quota_set(a:00000, cpu, 50 ms per 100 ms)",
        sys::quota_set(Aid::BOOT, QuotaKind::Cpu, 50_000, 100_000_000),
        Err(unsupported(call)),
    );
    e.eq(
        "quota_set(a:00000, cpu, period below the minimum)",
        sys::quota_set(
            Aid::BOOT,
            QuotaKind::Cpu,
            50_000,
            AGENT_CPU_PERIOD_MIN_NS - 1,
        ),
        Err(Error::InvalidArgument { call }),
    );
    e.eq(
        "quota_charge(self, inference_tokens, 10)",
        sys::quota_charge(AidTarget::SelfAgent, QuotaKind::InferenceTokens, 10),
        Err(unsupported(call)),
    );
    e.eq(
        "quota_charge(self, cpu, 10)",
        sys::quota_charge(AidTarget::SelfAgent, QuotaKind::Cpu, 10),
        Err(Error::InvalidArgument { call }),
    );
    e.done()
}

fn cap_grant() -> Result<(), String> {
    let call = Syscall::AgentCapGrant;
    let mut e = Expect::default();
    e.eq(
        "cap_grant(a:00000, fs.read:/srv/*)",
        sys::cap_grant(Aid::BOOT, &fs_read()),
        Err(unsupported(call)),
    );
    e.eq(
        "release(a:00000)",
        sys::release(Aid::BOOT),
        Err(unsupported(call)),
    );
    e.done()
}

fn cap_revoke() -> Result<(), String> {
    let call = Syscall::AgentCapRevoke;
    let mut e = Expect::default();
    e.eq(
        "cap_revoke(a:00000, fs.read:/srv/*)",
        sys::cap_revoke(Aid::BOOT, &fs_read()),
        Err(unsupported(call)),
    );
    e.eq(
        "revoke_all(a:00000)",
        sys::revoke_all(Aid::BOOT),
        Err(unsupported(call)),
    );
    e.eq(
        "quarantine(a:00000)",
        sys::quarantine(Aid::BOOT),
        Err(unsupported(call)),
    );
    e.done()
}

fn cap_present() -> Result<(), String> {
    let call = Syscall::AgentCapPresent;
    let mut e = Expect::default();
    e.eq(
        "cap_present(self, agent.spawn)",
        sys::cap_present(
            AidTarget::SelfAgent,
            &Capability::unscoped(CapId::AgentSpawn),
        ),
        Err(unsupported(call)),
    );
    e.eq(
        "cap_present(self, fs.read:/srv/*)",
        sys::cap_present(AidTarget::SelfAgent, &fs_read()),
        Err(unsupported(call)),
    );
    e.done()
}

fn audit_query() -> Result<(), String> {
    let call = Syscall::AgentAuditQuery;
    let mut e = Expect::default();
    let filter = AgentAuditFilter {
        aid: AID_ANY,
        ..Default::default()
    };
    // Served by the audit chain (the runner is root, so it reads every row); the rows
    // themselves are checked by the `audit::` tests.
    match sys::audit_query(&filter, 4096) {
        Ok(rows) if !rows.is_empty() && rows.iter().all(|r| r.event.len() >= 56) => {}
        other => e.0.push(format!(
            "audit_query(any, 4096): got {other:?}, want the oldest rows of the chain"
        )),
    }
    e.eq(
        "audit_query(any, AGENT_AUDIT_ROW_MIN - 1)",
        sys::audit_query(&filter, AGENT_AUDIT_ROW_MIN - 1),
        Err(Error::BufferTooSmall { call }),
    );
    let backwards = AgentAuditFilter {
        aid: AID_SELF,
        from_seq: 10,
        to_seq: 5,
        ..Default::default()
    };
    e.eq(
        "audit_query(to_seq < from_seq)",
        sys::audit_query(&backwards, 4096),
        Err(Error::InvalidArgument { call }),
    );
    e.done()
}

fn memory_tier() -> Result<(), String> {
    let call = Syscall::AgentMemoryTier;
    let mut e = Expect::default();
    let req = AgentMemRequest {
        length: 4096,
        prot: AGENT_MEM_PROT_READ | AGENT_MEM_PROT_WRITE,
        ..Default::default()
    };
    let mapped = |r: libcoconut::Result<sys::TierMapping>| r.map(|m| m.len());
    e.eq(
        "memory_tier(self, dram, 4 KiB)",
        mapped(sys::memory_tier(AidTarget::SelfAgent, MemTier::Dram, &req)),
        Err(unsupported(call)),
    );
    e.eq(
        "memory_tier(length 0)",
        mapped(sys::memory_tier(
            AidTarget::SelfAgent,
            MemTier::Dram,
            &AgentMemRequest { length: 0, ..req },
        )),
        Err(Error::InvalidArgument { call }),
    );
    e.eq(
        "memory_tier(length above AGENT_MEM_LENGTH_MAX)",
        mapped(sys::memory_tier(
            AidTarget::SelfAgent,
            MemTier::Dram,
            &AgentMemRequest {
                length: AGENT_MEM_LENGTH_MAX + 1,
                ..req
            },
        )),
        Err(Error::OutOfMemory { call }),
    );
    e.eq(
        "memory_tier(PROT_EXEC)",
        mapped(sys::memory_tier(
            AidTarget::SelfAgent,
            MemTier::Dram,
            &AgentMemRequest {
                prot: AGENT_MEM_PROT_MASK + 1,
                ..req
            },
        )),
        Err(Error::InvalidArgument { call }),
    );
    e.done()
}
