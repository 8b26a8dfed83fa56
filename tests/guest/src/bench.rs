//! In-guest microbenchmarks: the cost of the agent syscalls next to a plain syscall.
//!
//! Run by `/init` when the kernel command line holds `coconut.bench=1` (`cargo xtask bench
//! --vm`). Each benchmark times batches of calls with `CLOCK_MONOTONIC` (one clock read per
//! batch, so the clock's own cost is spread over the batch) and prints the per-call median and
//! 90th percentile over the batches:
//! `@@COCONUT-BENCH <name> p50_ns=<n> p90_ns=<n> calls=<n>`, then `@@COCONUT-BENCH done`.
//! Benchmarks are not tests: nothing here fails on a slow number.

use coconut_abi::{
    CapId, AGENT_ATTEST_ABI_VERSION, AID_SELF, NR_AGENT_ATTEST, NR_AGENT_CAP_PRESENT,
};

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

/// Per-call nanoseconds of `f`, one figure per batch, sorted.
fn measure(mut f: impl FnMut()) -> Vec<u64> {
    for _ in 0..BATCH {
        f();
    }
    let mut per_call: Vec<u64> = (0..BATCHES)
        .map(|_| {
            let start = now_ns();
            for _ in 0..BATCH {
                f();
            }
            (now_ns() - start) / u64::from(BATCH)
        })
        .collect();
    per_call.sort_unstable();
    per_call
}

fn report(name: &str, sorted: &[u64]) {
    let at = |percent: usize| sorted[(sorted.len() - 1) * percent / 100];
    println!(
        "@@COCONUT-BENCH {name} p50_ns={} p90_ns={} calls={}",
        at(50),
        at(90),
        sorted.len() as u32 * BATCH
    );
}

/// Runs every benchmark and prints the results.
pub fn run() {
    let spawn = CapId::AgentSpawn.id() as libc::c_long;
    report(
        "getppid",
        &measure(|| {
            // SAFETY: getppid takes no arguments and touches no memory of ours.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }),
    );
    report(
        "agent_cap_present",
        &measure(|| {
            // SAFETY: scalar arguments and a NULL scope of length 0: no memory of ours is read.
            unsafe {
                libc::syscall(
                    NR_AGENT_CAP_PRESENT as libc::c_long,
                    AID_SELF,
                    spawn,
                    0usize,
                    0usize,
                    0u32,
                )
            };
        }),
    );
    report(
        "agent_attest_version",
        &measure(|| {
            // SAFETY: the ABI-version probe takes NULL and 0: no memory of ours is touched.
            unsafe {
                libc::syscall(
                    NR_AGENT_ATTEST as libc::c_long,
                    0u64,
                    0usize,
                    0usize,
                    AGENT_ATTEST_ABI_VERSION,
                )
            };
        }),
    );
    println!("@@COCONUT-BENCH done");
}
