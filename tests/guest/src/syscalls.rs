//! The agent system calls answer exactly what the host emulation of the kernel answers in the
//! runner's state (root in a:00000, no agent spawned yet): every conformance table of
//! `coconut-conformance`, walked pairwise against the running kernel with raw syscalls
//! (libcoconut's one raw wrapper), and every call with all-zero arguments (the numbers are
//! wired: never `ENOSYS`; `agent_attest(0, NULL, 0, 0)` is a length query of a:00000's chain).
//! These tests must run before any agent is spawned: the emulation models a:00000 alone.

use coconut_abi::{CapCall, Errno, Syscall};
use coconut_conformance::{tables, Call, Emulated, Invocation, Kernel, Mem, Model};

use crate::Test;

/// How many failures of one table a report spells out.
const SHOWN: usize = 6;

/// The syscall tests: one per conformance table, then the wiring checks.
pub fn tests() -> Vec<Test> {
    let mut all: Vec<Test> = Syscall::ALL
        .iter()
        .map(|&syscall| {
            Test::new(format!("conformance::{}", syscall.name()), move || {
                let table = tables::of(syscall)
                    .ok_or_else(|| format!("no conformance table for {}", syscall.name()))?;
                let failures = table.walk(&mut Kernel);
                match failures.len() {
                    0 => Ok(()),
                    n if n <= SHOWN => Err(failures.join("; ")),
                    n => Err(format!(
                        "{n} failures, the first {SHOWN}: {}",
                        failures[..SHOWN].join("; ")
                    )),
                }
            })
        })
        .collect();
    all.push(Test::new(
        "syscalls::zero_args_reach_agent_code",
        zero_args_reach_agent_code,
    ));
    all.push(Test::new(
        "syscalls::attest_reports_abi_version",
        attest_reports_abi_version,
    ));
    all
}

/// Each syscall with every argument 0 (NULL pointers).
fn zero_invocation(syscall: Syscall) -> Invocation {
    let cap = |call| Invocation::Cap {
        call,
        aid: 0,
        cap: 0,
        scope: Mem::Null,
        scope_len: 0,
        flags: 0,
    };
    match syscall {
        Syscall::AgentSpawn => Invocation::Spawn {
            args: Mem::Null,
            size: 0,
        },
        Syscall::AgentAttest => Invocation::Attest {
            aid: 0,
            buf: Mem::Null,
            size: 0,
            flags: 0,
        },
        Syscall::AgentQuota => Invocation::Quota {
            aid: 0,
            kind: 0,
            budget: Mem::Null,
            size: 0,
            flags: 0,
        },
        Syscall::AgentCapGrant => cap(CapCall::Grant),
        Syscall::AgentCapRevoke => cap(CapCall::Revoke),
        Syscall::AgentCapPresent => cap(CapCall::Present),
        Syscall::AgentAuditQuery => Invocation::AuditQuery {
            filter: Mem::Null,
            fsize: 0,
            buf: Mem::Null,
            bufsize: 0,
        },
        Syscall::AgentMemoryTier => Invocation::MemoryTier {
            aid: 0,
            tier: 0,
            req: Mem::Null,
            size: 0,
        },
    }
}

fn show(r: Result<i64, i32>) -> String {
    match r {
        Ok(v) => format!("Ok({v})"),
        Err(e) => Errno::from_raw(e).map_or_else(|| format!("errno {e}"), |e| e.name().into()),
    }
}

fn zero_args_reach_agent_code() -> Result<(), String> {
    let mut failures = Vec::new();
    for syscall in Syscall::ALL {
        let inv = zero_invocation(syscall);
        let got = Kernel.call(&inv);
        let want = Emulated.call(&inv);
        if got == Err(Errno::ENOSYS.get()) {
            failures.push(format!(
                "{} (nr {}) answered ENOSYS: the number does not reach the agent subsystem",
                syscall.name(),
                syscall.nr()
            ));
        } else if got != want {
            failures.push(format!(
                "{} with zero arguments: the kernel answered {}, the host emulation {}",
                syscall.name(),
                show(got),
                show(want)
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn attest_reports_abi_version() -> Result<(), String> {
    let (model, want) = tables::attest_abi_version();
    let got = Kernel.call(&model.invocation());
    if got == want.map_err(Errno::get) {
        Ok(())
    } else {
        Err(format!(
            "agent_attest(0, NULL, 0, AGENT_ATTEST_ABI_VERSION) answered {}, want {}",
            show(got),
            show(want.map_err(Errno::get))
        ))
    }
}
