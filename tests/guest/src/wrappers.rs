//! libcoconut's own wrappers (`libcoconut::sys`) against the real kernel: each syscall at least
//! once, asserting the typed result, so libcoconut's marshalling (struct sizes, pointer and
//! length order, flags) meets the kernel and not only the host emulation. The runner calls
//! them as root in a:00000 before any agent is spawned, so valid calls answer what that state
//! makes of them: a:00000 attests (one link, decoded here), GET of its budget is unlimited, it
//! holds every capability, and nobody may change its budget or capabilities (`EPERM`);
//! `agent_memory_tier` still answers [`Error::NotSupportedYet`]. Calls that break a documented
//! rule answer that rule's typed error.

use std::fmt::Debug;

use coconut_abi::{
    AgentAuditFilter, AgentMemRequest, Aid, AidTarget, CapId, MemTier, QuotaKind, Syscall,
    AGENT_ABI_VERSION, AGENT_AUDIT_ROW_MIN, AGENT_CPU_PERIOD_MIN_NS, AGENT_MANIFEST_MAX,
    AGENT_MEM_LENGTH_MAX, AGENT_MEM_PROT_MASK, AGENT_MEM_PROT_READ, AGENT_MEM_PROT_WRITE,
    AGENT_QUOTA_UNLIMITED, AID_ANY, AID_SELF,
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
    // The kernel copies and parses the manifest: 64 zero bytes are no manifest.
    let manifest = vec![0u8; 64];
    e.eq(
        "spawn(64-byte garbage manifest)",
        sys::spawn(&manifest, &[], None, 0),
        Err(Error::InvalidArgument { call }),
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
    let own = sys::attest(AidTarget::SelfAgent);
    match &own {
        Ok(chain) => {
            if let Err(why) = check_a00000_chain(chain) {
                e.0.push(format!("attest(self): {why}; the chain: {chain:?}"));
            }
        }
        Err(err) => e.0.push(format!(
            "attest(self): got Err({err:?}), want a:00000's chain"
        )),
    }
    e.eq(
        "attest(a:00000) is attest(self)",
        sys::attest(Aid::BOOT),
        own,
    );
    e.done()
}

/// A minimal reader of the CBOR subset the attestation chain uses (unsigned integers, byte
/// and text strings, arrays, maps with definite lengths).
struct Cbor<'a>(&'a [u8]);

impl<'a> Cbor<'a> {
    /// The next head: major type and argument.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let (&first, rest) = self.0.split_first().ok_or("the chain ends early")?;
        let (major, info) = (first >> 5, first & 0x1f);
        let len = match info {
            0..=23 => 0,
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(format!("unsupported CBOR head {first:#04x}")),
        };
        let (arg, rest) = rest.split_at_checked(len).ok_or("the chain ends early")?;
        self.0 = rest;
        let value = if len == 0 {
            u64::from(info)
        } else {
            arg.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b))
        };
        Ok((major, value))
    }

    fn expect(&mut self, major: u8) -> Result<u64, String> {
        match self.head()? {
            (m, v) if m == major => Ok(v),
            (m, _) => Err(format!("CBOR major type {m}, want {major}")),
        }
    }

    fn string(&mut self, major: u8) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.expect(major)?).map_err(|e| e.to_string())?;
        let (s, rest) = self.0.split_at_checked(len).ok_or("the chain ends early")?;
        self.0 = rest;
        Ok(s)
    }
}

/// a:00000's chain: one link, `aid` 0, `name` "coconutd", `state` 2 (ACTIVE), no `parent`,
/// 32-byte `signer`, `caps_hash` and `manifest_hash`, and nothing after it.
fn check_a00000_chain(chain: &[u8]) -> Result<(), String> {
    let mut c = Cbor(chain);
    let links = c.expect(4)?;
    if links != 1 {
        return Err(format!("{links} links, want 1"));
    }
    let entries = c.expect(5)?;
    let mut seen = Vec::new();
    for _ in 0..entries {
        let key = String::from_utf8_lossy(c.string(3)?).into_owned();
        match key.as_str() {
            "aid" | "state" | "spawn_seq" => {
                let v = c.expect(0)?;
                // a:00000 is ACTIVE (2); its aid and spawn_seq are 0.
                let want = if key == "state" { 2 } else { 0 };
                if v != want {
                    return Err(format!("`{key}` is {v}, want {want}"));
                }
            }
            "name" => {
                let name = c.string(3)?;
                if name != b"coconutd" {
                    return Err(format!("`name` is {:?}", String::from_utf8_lossy(name)));
                }
            }
            "signer" | "caps_hash" | "manifest_hash" => {
                let len = c.string(2)?.len();
                if len != 32 {
                    return Err(format!("`{key}` has {len} bytes, want 32"));
                }
            }
            "parent" => return Err("a:00000 has a `parent`".into()),
            other => return Err(format!("unknown key `{other}`")),
        }
        seen.push(key);
    }
    for key in [
        "aid",
        "name",
        "state",
        "signer",
        "caps_hash",
        "spawn_seq",
        "manifest_hash",
    ] {
        if !seen.iter().any(|k| k == key) {
            return Err(format!("no `{key}`"));
        }
    }
    if !c.0.is_empty() {
        return Err(format!("{} bytes after the chain", c.0.len()));
    }
    Ok(())
}

fn quota() -> Result<(), String> {
    let call = Syscall::AgentQuota;
    let mut e = Expect::default();
    e.eq(
        "quota_get(self, cpu)",
        sys::quota_get(AidTarget::SelfAgent, QuotaKind::Cpu),
        Ok(coconut_abi::AgentBudget {
            limit: AGENT_QUOTA_UNLIMITED,
            used: 0,
            period_ns: 0,
            reserved: 0,
        }),
    );
    // a:00000 has no parent to set or charge its budget.
    e.eq(
        "quota_set(a:00000, cpu, 50 ms per 100 ms)",
        sys::quota_set(Aid::BOOT, QuotaKind::Cpu, 50_000, 100_000_000),
        Err(Error::PermissionDenied { call }),
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
        Err(Error::PermissionDenied { call }),
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
    // Nobody is a strict ancestor of a:00000: its capability set does not change.
    e.eq(
        "cap_grant(a:00000, fs.read:/srv/*)",
        sys::cap_grant(Aid::BOOT, &fs_read()),
        Err(Error::PermissionDenied { call }),
    );
    e.eq(
        "release(a:00000)",
        sys::release(Aid::BOOT),
        Err(Error::PermissionDenied { call }),
    );
    e.eq(
        "cap_grant(a:00005, fs.read:/srv/*), no such agent",
        sys::cap_grant(Aid::new(5).unwrap_or(Aid::BOOT), &fs_read()),
        Err(Error::NoSuchAgent { call }),
    );
    e.done()
}

fn cap_revoke() -> Result<(), String> {
    let call = Syscall::AgentCapRevoke;
    let mut e = Expect::default();
    e.eq(
        "cap_revoke(a:00000, fs.read:/srv/*)",
        sys::cap_revoke(Aid::BOOT, &fs_read()),
        Err(Error::PermissionDenied { call }),
    );
    e.eq(
        "revoke_all(a:00000)",
        sys::revoke_all(Aid::BOOT),
        Err(Error::PermissionDenied { call }),
    );
    e.eq(
        "quarantine(a:00000)",
        sys::quarantine(Aid::BOOT),
        Err(Error::PermissionDenied { call }),
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
        Ok(true),
    );
    e.eq(
        "cap_present(self, fs.read:/srv/*)",
        sys::cap_present(AidTarget::SelfAgent, &fs_read()),
        Ok(true),
    );
    e.eq(
        "cap_present(a:00007, fs.read:/srv/*), no such agent",
        sys::cap_present(Aid::new(7).unwrap_or(Aid::BOOT), &fs_read()),
        Err(Error::NoSuchAgent { call }),
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
