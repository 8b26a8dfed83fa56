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
pub(crate) fn measure(
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
pub(crate) fn clock_unusable() -> Option<String> {
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
        // a:00000, called by root: holds every capability (the shortest full check).
        measure("agent_cap_present", Ok(0), "0".into(), || {
            agent(Syscall::AgentCapPresent, [AID_SELF, spawn, 0, 0, 0])
        }),
        measure("libcoconut_cap_present", Ok(1), "true".into(), || {
            sys::cap_present(AidTarget::SelfAgent, &unscoped)
                .map(i64::from)
                .map_err(|e| e.errno().unwrap_or(0))
        }),
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
    let mut figures = figures.to_vec();
    match audit_figures() {
        Ok(more) => figures.extend(more),
        Err(why) => println!("{}", bench_error_line(&format!("audit benchmarks: {why}"))),
    }
    match agent_figures() {
        Ok(more) => figures.extend(more),
        Err(why) => println!("{}", bench_error_line(&format!("agent benchmarks: {why}"))),
    }
    match crate::lsmbench::with_coconut() {
        Ok(more) => figures.extend(more),
        Err(why) => println!("{}", bench_error_line(&format!("LSM benchmarks: {why}"))),
    }
    println!("coconut-bench: the kernel audit anchor (open+close with one audit rule)");
    match crate::kaudit::figures(|name, want, returns, f| measure(name, want, returns, f)) {
        Ok(a) => figures.extend([a.bare, a.audited]),
        // Not a failure of the benchmarks: the anchor is missing from the report, said here.
        Err(why) => println!("coconut-bench: the kernel audit anchor is not reported: {why}"),
    }
    for figure in &figures {
        println!("{}", figure.line());
    }
    println!("{BENCH_DONE}");
    i32::from(figures.iter().any(|f| f.unexpected > 0))
}

/// `/agent/audit/stats`'s `key`.
fn audit_stat(key: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string("/agent/audit/stats").map_err(|e| format!("stats: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("stats has no `{key}`"))
}

/// The agent the audit benchmarks address: never spawned, so every call is refused `ESRCH`
/// by the kernel part (a decision: always sealed in its own row, never flood-counted).
const MISSING: u64 = 99_999;

/// The audit chain's figures, measured in this boot:
/// - `audit_append_grant_missing`: one audited call from one thread (`agent_cap_grant` to an
///   agent that does not exist, `ESRCH`): the syscall, the checks, the lookup, a staging
///   reservation and a commit; next to `audit_present_missing` (`agent_cap_present` of the
///   same, unaudited, the same checks and lookup) it is what auditing adds to a call;
/// - `audit_sealed_row_all_cpus`: wall time per sealed row while every CPU appends, from the
///   first call to the sealer's last row (append, staging and sealing, all included; the
///   sealer shares the CPUs with the appenders);
/// - `audit_sealer_row`: the sealer's own time per row in those rounds (`stats` `seal_ns` /
///   `seal_events`: taking a batch off the ring to its last row: chain step, Merkle leaf and
///   the arena write);
/// - `audit_append_to_sealed_p50`/`_p99`: commit to sealed, over every row of this boot
///   (`stats` `latency_p50_ns`/`latency_p99_ns`, to within a quarter);
/// - `audit_chain_step_bound`: one `chain_step` over the same event, serially, in this guest's
///   user space (the same `coconut-blake3` code the sealer runs): the bound a serial chain
///   sets;
/// - `audit_seal_work_bound`: that chain step plus the checkpoints' Merkle work for the row
///   (its leaf hash and the frontier push), serially in user space: the hashing every sealed
///   row needs since checkpoints exist.
fn audit_figures() -> Result<Vec<BenchFigure>, String> {
    if audit_stat("started")? == 0 {
        std::fs::write("/agent/audit/link", "boot=1\n").map_err(|e| format!("link: {e}"))?;
    }
    let spawn = u64::from(CapId::AgentSpawn.id());
    let esrch = Err(Errno::ESRCH.get());
    let append = measure(
        "audit_append_grant_missing",
        esrch,
        Errno::ESRCH.name().into(),
        || agent(Syscall::AgentCapGrant, [MISSING, spawn, 0, 0, 0]),
    );
    let bare = measure(
        "audit_present_missing",
        esrch,
        Errno::ESRCH.name().into(),
        || agent(Syscall::AgentCapPresent, [MISSING, spawn, 0, 0, 0]),
    );
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    const PER_THREAD: u64 = 5_000;
    const ROUNDS: usize = 5;
    let mut per_row = Vec::new();
    let mut unexpected = 0u64;
    let (ns0, events0) = (audit_stat("seal_ns")?, audit_stat("seal_events")?);
    for _ in 0..ROUNDS {
        let target = audit_stat("appended")? + cpus as u64 * PER_THREAD;
        let start = now_ns();
        let threads: Vec<_> = (0..cpus)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..PER_THREAD)
                        .filter(|_| {
                            agent(Syscall::AgentCapGrant, [MISSING, spawn, 0, 0, 0]) != esrch
                        })
                        .count() as u64
                })
            })
            .collect();
        for t in threads {
            unexpected += t.join().map_err(|_| "an appender panicked".to_string())?;
        }
        while audit_stat("sealed")? < target {
            std::thread::yield_now();
        }
        per_row.push((now_ns() - start) / (cpus as u64 * PER_THREAD));
    }
    per_row.sort_unstable();
    let calls = ROUNDS as u64 * cpus as u64 * PER_THREAD;
    let sealed = BenchFigure {
        name: "audit_sealed_row_all_cpus".into(),
        p50_ns: per_row[per_row.len() / 2],
        p90_ns: per_row[per_row.len() - 1],
        calls,
        returns: Errno::ESRCH.name().into(),
        unexpected,
    };
    let (ns1, events1) = (audit_stat("seal_ns")?, audit_stat("seal_events")?);
    let sealer_ns = (ns1 - ns0).checked_div(events1 - events0).unwrap_or(0);
    let stat_figure = |name: &str, ns: u64| BenchFigure {
        name: name.into(),
        p50_ns: ns,
        p90_ns: ns,
        calls,
        returns: "ok".into(),
        unexpected: 0,
    };
    let sealer = stat_figure("audit_sealer_row", sealer_ns);
    let p50 = stat_figure("audit_append_to_sealed_p50", audit_stat("latency_p50_ns")?);
    let p99 = stat_figure("audit_append_to_sealed_p99", audit_stat("latency_p99_ns")?);
    // The bound: the event bytes of such a row (`cap=agent.spawn`).
    let event = coconut_audit::Event {
        kind: coconut_abi::AuditKind::CapGrant,
        seq: 1,
        boot: 1,
        time_ns: now_ns(),
        actor: coconut_abi::Aid::BOOT,
        subject: coconut_abi::Aid::new(MISSING).map_err(|e| format!("{e:?}"))?,
        result: -Errno::ESRCH.get(),
        detail: "cap=agent.spawn",
    };
    let mut buf = [0u8; coconut_audit::EVENT_MAX];
    let len = event.encode(&mut buf).map_err(|e| format!("encode: {e}"))?;
    let mut head = [0u8; 32];
    let bound = measure("audit_chain_step_bound", Ok(0), "ok".into(), || {
        head = coconut_blake3::chain_step(&head, std::hint::black_box(&buf[..len]));
        std::hint::black_box(&head);
        Ok(0)
    });
    // What a sealer must compute per row besides the chain step: the checkpoints' Merkle leaf
    // of the row's hash and the frontier push (about one node hash a row).
    let mut frontier = Box::new(coconut_audit::Frontier::new());
    let mut head = [0u8; 32];
    let work = measure("audit_seal_work_bound", Ok(0), "ok".into(), || {
        head = coconut_blake3::chain_step(&head, std::hint::black_box(&buf[..len]));
        let leaf = coconut_audit::leaf_hash(&head).map_err(|_| -1)?;
        frontier.push(&leaf).map_err(|_| -1)?;
        Ok(0)
    });
    Ok(vec![append, bare, sealed, sealer, p50, p99, bound, work])
}

/// Single calls timed one by one (each costs far more than a clock read): p50 and p90.
fn each(
    name: &str,
    calls: usize,
    returns: &str,
    mut f: impl FnMut() -> Result<u64, String>,
) -> Result<BenchFigure, String> {
    let mut ns = Vec::with_capacity(calls);
    for _ in 0..calls {
        ns.push(f()?);
    }
    ns.sort_unstable();
    let at = |percent: usize| ns[(ns.len() - 1) * percent / 100];
    Ok(BenchFigure {
        name: name.into(),
        p50_ns: at(50),
        p90_ns: at(90),
        calls: calls as u64,
        returns: returns.into(),
        unexpected: 0,
    })
}

/// Entries of the cap set of the `agent_cap_present_64_*` figures.
const SET_ENTRIES: usize = 64;

/// The agent subsystem's figures, measured in this boot:
/// - `agent_spawn`: one `agent_spawn` of a memberless agent from a signed manifest (the
///   Ed25519 check, the tree link and the sealed rows), each agent revoked untimed after;
/// - `cgroup_fork_exec_true`: the anchor, what starting a confined process costs without
///   agents: mkdir of a cgroup, fork, the child joining it and exec'ing `/bin/true`, wait,
///   rmdir;
/// - `agent_cap_present_64_scoped` / `_unscoped`: `agent_cap_present` on an agent holding a
///   64-entry set, for its last scoped entry and for an unscoped one.
fn agent_figures() -> Result<Vec<BenchFigure>, String> {
    crate::agents::trust_root_key()?;
    let key = crate::agents::root_key();
    let caps = ["fs.read:/tmp/*"];
    let m = crate::agents::manifest("bench", &caps, &[], &key);
    let set = crate::agents::capset(&caps);
    let spawn = each("agent_spawn", 200, "ok", || {
        let start = now_ns();
        let aid = sys::spawn(&m, &set, None, 0).map_err(|e| format!("spawn: {e}"))?;
        let took = now_ns() - start;
        sys::revoke_all(aid).map_err(|e| format!("revoke: {e}"))?;
        Ok(took)
    })?;
    let anchor = each("cgroup_fork_exec_true", 200, "ok", cgroup_fork_exec)?;
    let mut many: Vec<String> = (0..SET_ENTRIES - 1)
        .map(|i| format!("fs.read:/tmp/bench/{i}/*"))
        .collect();
    many.push("agent.spawn".into());
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let m64 = crate::agents::manifest("bench-64", &many, &[], &key);
    let aid = sys::spawn(&m64, &crate::agents::capset(&many), None, 0)
        .map_err(|e| format!("spawn of the 64-entry agent: {e}"))?;
    let scoped = crate::agents::cap(&format!("fs.read:/tmp/bench/{}/x", SET_ENTRIES - 2));
    let unscoped = crate::agents::cap("agent.spawn");
    let present = |c: &Capability| {
        sys::cap_present(aid, c)
            .map(i64::from)
            .map_err(|e| e.errno().unwrap_or(0))
    };
    let figures = vec![
        spawn,
        anchor,
        measure("agent_cap_present_64_scoped", Ok(1), "true".into(), || {
            present(&scoped)
        }),
        measure(
            "agent_cap_present_64_unscoped",
            Ok(1),
            "true".into(),
            || present(&unscoped),
        ),
    ];
    sys::revoke_all(aid).map_err(|e| format!("revoke: {e}"))?;
    Ok(figures)
}

/// One run of the anchor: a cgroup made, a child forked into it exec'ing `/bin/true`, reaped,
/// the cgroup removed. Returns its nanoseconds.
fn cgroup_fork_exec() -> Result<u64, String> {
    let dir = "/sys/fs/cgroup/bench-anchor";
    let procs = c"/sys/fs/cgroup/bench-anchor/cgroup.procs";
    let tru = c"/bin/true";
    let argv = [tru.as_ptr(), std::ptr::null()];
    let start = now_ns();
    std::fs::create_dir(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    // SAFETY: the child calls only async-signal-safe functions, then exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls in the child on valid, NUL-terminated strings.
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(126);
            }
            libc::close(fd);
            libc::execv(tru.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: reaps our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    std::fs::remove_dir(dir).map_err(|e| format!("rmdir {dir}: {e}"))?;
    let took = now_ns() - start;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("the anchor's child failed (status {status:#x})"));
    }
    Ok(took)
}
