//! In-guest microbenchmarks: the cost of the agent syscalls next to a plain syscall.
//!
//! Run by `/init` when the kernel command line holds `coconut.bench=1` (`cargo xtask bench
//! --vm`). The one timer of the guest, [`measure`], times batches of calls with
//! `CLOCK_MONOTONIC` (one clock read per batch, so the clock's own cost is spread over the
//! batch) and reports the per-call median and 90th percentile over the batches. Every timed
//! call's result is compared with what the benchmark expects of it, and the count of other
//! results is reported (`unexpected=`): a figure of a call that took another path is not that
//! call's figure. The agent calls are timed as bare `syscall(2)`s, the kernel's cost: going
//! through libcoconut adds its error mapping (about 200 ns per failing call under TCG, where
//! computation is slow), so `libcoconut_cap_present` shows that path separately. The host
//! labels a figure whose call returns `EOPNOTSUPP` as the skeleton's early exit. Benchmarks
//! are not tests: nothing here judges a slow number.

use coconut_abi::{
    AidTarget, CapId, Errno, Syscall, AGENT_ABI_VERSION, AGENT_ATTEST_ABI_VERSION, AID_SELF,
};
use coconut_qemu::protocol::{bench_error_line, BenchFigure, BENCH_DONE};
use libcoconut::{sys, Capability};

const BATCH: u32 = 100;
const BATCHES: usize = 300;

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Times `f` in batches and checks each result against `want`; `returns` names `want`.
fn measure(
    name: &str,
    want: Result<i64, i32>,
    returns: String,
    mut f: impl FnMut() -> Result<i64, i32>,
) -> BenchFigure {
    let mut unexpected = 0u64;
    for _ in 0..BATCH {
        unexpected += u64::from(f() != want);
    }
    let mut per_call: Vec<u64> = (0..BATCHES)
        .map(|_| {
            let start = now_ns();
            for _ in 0..BATCH {
                unexpected += u64::from(f() != want);
            }
            (now_ns() - start) / u64::from(BATCH)
        })
        .collect();
    per_call.sort_unstable();
    let at = |percent: usize| per_call[(per_call.len() - 1) * percent / 100];
    BenchFigure {
        name: name.into(),
        p50_ns: at(50),
        p90_ns: at(90),
        // The warm-up batch is checked too.
        calls: (per_call.len() as u64 + 1) * u64::from(BATCH),
        returns,
        unexpected,
    }
}

/// A bare agent syscall (no error mapping), its result as a raw `Result`.
fn agent(call: Syscall, args: [u64; 5]) -> Result<i64, i32> {
    // SAFETY: the benchmarks pass scalars and NULL pointers with length 0 only: the kernel
    // reads and writes no memory of ours.
    unsafe { sys::bare_syscall(call, args) }
}

/// Where the kernel names the clocksource behind `CLOCK_MONOTONIC`.
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// Why `CLOCK_MONOTONIC` cannot time a batch in this boot, if it cannot: when QEMU runs on a
/// busy host the kernel can fail to calibrate the TSC and fall back to the jiffies clocksource,
/// whose ticks are milliseconds long, so every batch would read as 0 ns.
fn clock_unusable() -> Option<String> {
    match std::fs::read_to_string(CLOCKSOURCE) {
        Err(e) => Some(format!("cannot read {CLOCKSOURCE}: {e}")),
        Ok(s) if s.contains("jiffies") => Some(format!(
            "the clocksource is `{}`, whose ticks are too coarse to time a batch (the TSC was \
             not usable in this boot, see the kernel's `tsc:` lines); run again on a less busy \
             host",
            s.trim()
        )),
        Ok(_) => None,
    }
}

/// Runs every benchmark, prints the figures and the done line; returns the exit status.
pub fn run() -> i32 {
    if let Some(why) = clock_unusable() {
        println!("{}", bench_error_line(&why));
        println!("{BENCH_DONE}");
        return 1;
    }
    // SAFETY: getppid has no preconditions.
    let ppid = i64::from(unsafe { libc::getppid() });
    let spawn = u64::from(CapId::AgentSpawn.id());
    let version = i64::from(AGENT_ABI_VERSION);
    let unscoped = Capability::unscoped(CapId::AgentSpawn);
    let figures = [
        measure("getppid", Ok(ppid), ppid.to_string(), || {
            // SAFETY: getppid has no preconditions.
            Ok(i64::from(unsafe { libc::getppid() }))
        }),
        measure(
            "agent_cap_present",
            Err(Errno::EOPNOTSUPP.get()),
            Errno::EOPNOTSUPP.name().into(),
            || agent(Syscall::AgentCapPresent, [AID_SELF, spawn, 0, 0, 0]),
        ),
        measure(
            "libcoconut_cap_present",
            Err(Errno::EOPNOTSUPP.get()),
            Errno::EOPNOTSUPP.name().into(),
            || {
                sys::cap_present(AidTarget::SelfAgent, &unscoped)
                    .map(i64::from)
                    .map_err(|e| e.errno().unwrap_or(0))
            },
        ),
        measure(
            "agent_attest_version",
            Ok(version),
            version.to_string(),
            || {
                agent(
                    Syscall::AgentAttest,
                    [0, 0, 0, u64::from(AGENT_ATTEST_ABI_VERSION), 0],
                )
            },
        ),
    ];
    for figure in &figures {
        println!("{}", figure.line());
    }
    println!("{BENCH_DONE}");
    i32::from(figures.iter().any(|f| f.unexpected > 0))
}
