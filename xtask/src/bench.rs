//! `cargo xtask bench`: the benchmarks, with their numbers and ratios in one summary.
//!
//! Runs the criterion benchmarks of every crate that has a `benches/` directory (the kernel-side
//! core against its reference crates: BLAKE3, Ed25519, CBOR, …), then reads the estimates
//! criterion wrote in this run and prints one table: each of our figures, and its ratio to each
//! reference of the same group, always as ours/reference (below 1.00: ours is faster). The
//! convention the benches follow: in a criterion group, a function id starting with `coconut`
//! is ours and any other id a reference; an id `impl/case` is compared with the references of
//! the same `case`, and with every reference that has no case.
//! With `--vm` it instead boots the forked kernel with `coconut.bench=1` and reports the
//! in-guest microbenchmarks (agent syscalls next to `getppid`, in the same direction), with the
//! accelerator beside every figure: under TCG computation slows far more than traps do.
//! Benchmarks are not tests: nothing here fails on a slow number, but `--vm` fails on a timed
//! call that returned something else than the benchmark expected.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use coconut_abi::Errno;
use coconut_qemu::protocol::{parse_bench, BenchFigure, BenchLog, BENCH_DONE};
use coconut_qemu::{boot, detect_accel, tail, Accel, Vm};

use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};
use crate::{initramfs, kernel, paths};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Run the in-VM microbenchmarks instead of the host benchmarks.
    #[arg(long)]
    pub vm: bool,
    /// With --vm: the kernel configuration to boot.
    #[arg(long, default_value = "qemu")]
    pub config: String,
    /// Only the crates whose name contains this string.
    pub filter: Option<String>,
}

/// `cargo xtask bench`.
pub fn run(args: &Args) -> Result<()> {
    if args.vm {
        return run_vm(args);
    }
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(paths::root().join("crates"))? {
        let dir = entry?.path();
        if dir.join("benches").is_dir() {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if args.filter.as_deref().is_none_or(|f| name.contains(f)) {
                crates.push(name);
            }
        }
    }
    crates.sort();
    if crates.is_empty() {
        bail!("no crate with benches/ matches");
    }
    let started = SystemTime::now();
    let mut p = Pipeline::new("bench", crates.len());
    for name in &crates {
        p.stage(name, || {
            // Criterion's own report goes to stderr; stdout is kept for the table.
            let to_stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
            stage::run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .current_dir(paths::root())
                    .args(["bench", "--package", name])
                    .stdout(to_stderr),
            )
        })?;
    }
    p.finish();
    let criterion = std::env::var_os("CRITERION_HOME")
        .map(Into::into)
        .unwrap_or_else(|| paths::target().join("criterion"));
    let estimates = read_estimates(&criterion, started)?;
    if estimates.is_empty() {
        bail!(
            "criterion wrote no estimate under {} in this run",
            criterion.display()
        );
    }
    eprintln!(
        "==> host, {} cores; criterion medians; ratio = ours/reference (below 1.00 = ours faster)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for line in host_report(&estimates) {
        println!("{line}");
    }
    Ok(())
}

/// One benchmark's result, as criterion wrote it.
#[derive(Clone, Debug, PartialEq)]
struct Estimate {
    /// The criterion group.
    group: String,
    /// The function id within the group.
    id: String,
    /// The median time per iteration, in nanoseconds.
    median_ns: f64,
    /// Bytes or elements per iteration, if the group declares a throughput.
    throughput: Option<(u64, &'static str)>,
}

impl Estimate {
    /// Ours: the id starts with `coconut`.
    fn is_ours(&self) -> bool {
        self.id.starts_with("coconut")
    }

    /// The case after `impl/`, if any.
    fn case(&self) -> Option<&str> {
        self.id.split_once('/').map(|(_, case)| case)
    }
}

/// Reads every `new/{benchmark,estimates}.json` pair under `dir` written since `since`.
fn read_estimates(dir: &Path, since: SystemTime) -> Result<Vec<Estimate>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_name() != "estimates.json"
            || entry.path().parent().and_then(Path::file_name) != Some("new".as_ref())
        {
            continue;
        }
        if entry.metadata()?.modified()? < since {
            continue;
        }
        let json = |name: &str| -> Result<serde_json::Value> {
            let path = entry.path().with_file_name(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        let (bench, est) = (json("benchmark.json")?, json("estimates.json")?);
        let (Some(group), Some(id), Some(median_ns)) = (
            bench["group_id"].as_str(),
            bench["function_id"].as_str(),
            est["median"]["point_estimate"].as_f64(),
        ) else {
            continue;
        };
        let throughput = ["Bytes", "BytesDecimal", "Elements"]
            .into_iter()
            .find_map(|unit| {
                let n = bench["throughput"][unit].as_u64()?;
                Some((
                    n,
                    if unit == "Elements" {
                        "elements"
                    } else {
                        "bytes"
                    },
                ))
            });
        out.push(Estimate {
            group: group.into(),
            id: id.into(),
            median_ns,
            throughput,
        });
    }
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(out)
}

/// The host table: each of our figures (with its throughput), then its ratio to each reference
/// of the same group and case, always ours/reference.
// Host-side statistics over criterion's floating-point estimates; the no-float rule is for
// the kernel-side code.
#[allow(clippy::float_arithmetic)]
fn host_report(estimates: &[Estimate]) -> Vec<String> {
    let mut out = Vec::new();
    for ours in estimates.iter().filter(|e| e.is_ours()) {
        let rate = match ours.throughput {
            Some((n, "bytes")) => format!(
                ", {:.0} MiB/s",
                n as f64 / ours.median_ns * 1e9 / (1024.0 * 1024.0)
            ),
            Some((n, _)) => format!(", {:.2} M/s", n as f64 / ours.median_ns * 1e3),
            None => String::new(),
        };
        out.push(format!(
            "{}/{}: {:.1} ns{rate}",
            ours.group, ours.id, ours.median_ns
        ));
        for reference in estimates.iter().filter(|r| {
            r.group == ours.group && !r.is_ours() && (r.case().is_none() || r.case() == ours.case())
        }) {
            out.push(format!(
                "    ours/{} ({:.1} ns) = {:.2}",
                reference.id,
                reference.median_ns,
                ours.median_ns / reference.median_ns
            ));
        }
    }
    out
}

/// `cargo xtask bench --vm`: boots the kernel with `coconut.bench=1` and prints the figures.
/// Fails if the guest did not finish, a line is malformed, or a timed call returned something
/// other than what the guest expected of it (the figure would time a different path).
fn run_vm(args: &Args) -> Result<()> {
    let mut p = Pipeline::new("bench --vm", 5);
    p.stage("host tools", || {
        setup::ensure(&[Need::Kernel, Need::Initramfs, Need::Qemu], true)
    })?;
    let bzimage = p.stage(&format!("kernel ({} config)", args.config), || {
        kernel::build_config(&args.config)
    })?;
    let initrd = p.stage("initramfs", || initramfs::run(&initramfs::Args {}))?;
    let log_dir = paths::target().join("vm-logs");
    let (accel, mut bench) = p.stage("boot and measure", || {
        let accel = detect_accel(&bzimage, &initrd, &log_dir.join("kvm-probe"))?;
        let bench = bench_boot(
            &bzimage,
            &initrd,
            accel,
            "coconut.bench=1",
            &log_dir.join("bench.log"),
        )?;
        Ok((accel, bench))
    })?;
    // The anchor of the LSM's overhead: the same kernel booted with `lsm=` leaving coconut out.
    let bare = p.stage("boot without the coconut LSM and measure", || {
        bench_boot(
            &bzimage,
            &initrd,
            accel,
            &format!("coconut.bench=bare lsm={LSM_WITHOUT_COCONUT}"),
            &log_dir.join("bench-bare.log"),
        )
    })?;
    bench.figures.extend(bare.figures);
    p.finish();
    for line in vm_report(accel.name(), &bench.figures) {
        println!("{line}");
    }
    Ok(())
}

/// The kernel's LSM order (`CONFIG_LSM` of kernel/configs/qemu.config) without coconut.
const LSM_WITHOUT_COCONUT: &str = "landlock,lockdown,yama,bpf";

/// One benchmark boot with `append` on the command line: its figures, or why they cannot be
/// trusted (the guest did not finish, could not measure, printed a malformed line, a p50 of
/// 0 ns, or a call that took another path than expected).
fn bench_boot(
    bzimage: &Path,
    initrd: &Path,
    accel: Accel,
    append: &str,
    log: &Path,
) -> Result<BenchLog> {
    let mut vm = Vm::new(bzimage, initrd, accel);
    vm.append = append.into();
    let run = boot(&vm, log, BENCH_DONE, Duration::from_secs(600))?;
    let bench = parse_bench(&run.lines);
    let mut problems = Vec::new();
    if !bench.done {
        problems.push("the guest did not finish its benchmarks".to_string());
    }
    problems.extend(
        bench
            .errors
            .iter()
            .map(|e| format!("the guest cannot measure: {e}")),
    );
    problems.extend(
        bench
            .malformed
            .iter()
            .map(|l| format!("malformed line `{l}`")),
    );
    for f in bench.figures.iter().filter(|f| f.p50_ns == 0) {
        problems.push(format!(
            "{}: a p50 of 0 ns is below the guest clock's resolution",
            f.name
        ));
    }
    for f in bench.figures.iter().filter(|f| f.unexpected > 0) {
        problems.push(format!(
            "{}: {} of {} calls did not return {}",
            f.name, f.unexpected, f.calls, f.returns
        ));
    }
    if bench.figures.is_empty() && bench.errors.is_empty() {
        problems.push("the guest printed no figure".into());
    }
    if !problems.is_empty() {
        bail!(
            "{} ({append}); serial log {}, tail:\n{}",
            problems.join("; "),
            log.display(),
            tail(&run.lines, 15)
        );
    }
    Ok(bench)
}

/// The reference of the in-guest figures.
const VM_REFERENCE: &str = "getppid";

/// The report of the in-guest figures: each next to `getppid` as ours/reference (below 1.00:
/// cheaper than `getppid`), and a call that returned `EOPNOTSUPP` labelled as what it is, the
/// skeleton's early exit after the argument checks, so its ratio is not read as the hot-path
/// goal of `docs/abi.md` (which is about the full check).
fn vm_report(accel: &str, figures: &[BenchFigure]) -> Vec<String> {
    let reference = figures
        .iter()
        .find(|f| f.name == VM_REFERENCE)
        .map(|f| f.p50_ns);
    let mut out = vec![format!(
        "==> in-guest p50 per call under {accel}; ratio = call / {VM_REFERENCE} (ours/reference, below 1.00 = faster)"
    )];
    for f in figures {
        let ratio = match reference.and_then(|r| (f.p50_ns * 100).checked_div(r)) {
            _ if f.name == VM_REFERENCE => " (the reference)".to_string(),
            // Hundredths, in integers (the workspace lints keep float arithmetic out).
            Some(r) => format!(", {}.{:02}x {VM_REFERENCE}", r / 100, r % 100),
            None => format!(", no {VM_REFERENCE} figure to compare with"),
        };
        let label = if f.returns == Errno::EOPNOTSUPP.name() {
            " [skeleton early-exit path: EOPNOTSUPP after the argument checks, not the goal]"
        } else {
            ""
        };
        out.push(format!(
            "vm[{accel}] {}: p50 {} ns{ratio}, returns {}{label}",
            f.name, f.p50_ns, f.returns
        ));
    }
    out.extend(audit_report(accel, figures));
    out.extend(agent_report(accel, figures));
    out.extend(lsm_report(accel, figures));
    out
}

/// The coconut LSM's overhead on the two mediated loops: a member of an agent (the full check)
/// and a:00000 (the early return) against the boot without the LSM (goal: at most 1.03x).
fn lsm_report(accel: &str, figures: &[BenchFigure]) -> Vec<String> {
    let get = |name: &str| figures.iter().find(|f| f.name == name).map(|f| f.p50_ns);
    let mut out = Vec::new();
    for (call, what) in [
        ("open_close", "open+close of a tmpfs file"),
        (
            "udp_connect",
            "UDP connect to 127.0.0.1 (route lookup, no packet)",
        ),
    ] {
        let bare = get(&format!("lsm_{call}_nolsm"));
        let root = get(&format!("lsm_{call}_a00000"));
        let agent = get(&format!("lsm_{call}_agent"));
        let (Some(bare), Some(root), Some(agent)) = (bare, root, agent) else {
            out.push(format!(
                "vm[{accel}] coconut LSM, {what}: not measured (a figure is missing)"
            ));
            continue;
        };
        let ratio = |ours: u64| {
            (ours * 100)
                .checked_div(bare)
                .map_or("n/a".to_string(), |r| {
                    format!("{}.{:02}x", r / 100, r % 100)
                })
        };
        out.push(format!(
            "vm[{accel}] coconut LSM, {what}: {bare} ns without it (lsm={LSM_WITHOUT_COCONUT}); \
             a:00000 {root} ns ({}), an agent holding the capability {agent} ns ({}) (goal <= 1.03x)",
            ratio(root),
            ratio(agent)
        ));
    }
    out
}

/// `agent_spawn` against its anchor (a cgroup made, fork, join, exec of `/bin/true`; goal:
/// below it), and `agent_cap_present` on a 64-entry set against `getppid` (goal: at most
/// 1.5x), all from the same boot.
fn agent_report(accel: &str, figures: &[BenchFigure]) -> Vec<String> {
    let get = |name: &str| figures.iter().find(|f| f.name == name);
    let ratio = |ours: u64, reference: u64| {
        (ours * 100)
            .checked_div(reference)
            .map_or("n/a".to_string(), |r| {
                format!("{}.{:02}x", r / 100, r % 100)
            })
    };
    let mut out = Vec::new();
    if let (Some(spawn), Some(anchor)) = (get("agent_spawn"), get("cgroup_fork_exec_true")) {
        out.push(format!(
            "vm[{accel}] agent_spawn p50 {} ns p90 {} ns vs cgroup+fork+join+exec /bin/true p50 {} ns p90 {} ns: {} (goal below 1.00x)",
            spawn.p50_ns,
            spawn.p90_ns,
            anchor.p50_ns,
            anchor.p90_ns,
            ratio(spawn.p50_ns, anchor.p50_ns)
        ));
    }
    if let Some(ppid) = get(VM_REFERENCE) {
        for name in [
            "agent_cap_present_64_scoped",
            "agent_cap_present_64_unscoped",
        ] {
            if let Some(f) = get(name) {
                out.push(format!(
                    "vm[{accel}] {name} p50 {} ns: {} {VM_REFERENCE} (goal at most 1.50x)",
                    f.p50_ns,
                    ratio(f.p50_ns, ppid.p50_ns)
                ));
            }
        }
    }
    out
}

/// The audit chain's sealing rate from all CPUs and the sealer's own cost per row, each
/// against the serial `chain_step` bound measured in the same boot (issue goal: at least 80 %
/// of the bound), the append-to-sealed latency, and what an audited call pays over the same
/// call unaudited.
fn audit_report(accel: &str, figures: &[BenchFigure]) -> Vec<String> {
    let get = |name: &str| figures.iter().find(|f| f.name == name).map(|f| f.p50_ns);
    let mut out = Vec::new();
    let Some(step) = get("audit_chain_step_bound") else {
        return out;
    };
    let bound = 1_000_000_000u64.checked_div(step).unwrap_or(0);
    for (name, what) in [
        (
            "audit_sealed_row_all_cpus",
            "sealing while every CPU appends (wall time per row; the sealer shares the CPUs)",
        ),
        ("audit_sealer_row", "the sealer's own time per row"),
    ] {
        if let Some(row) = get(name) {
            let rate = 1_000_000_000u64.checked_div(row).unwrap_or(0);
            // Percent of the bound, in integers.
            let percent = (step * 100).checked_div(row).unwrap_or(0);
            out.push(format!(
                "vm[{accel}] audit {what}: {rate} rows/s ({row} ns/row); serial chain_step bound {bound} rows/s ({step} ns); {percent}% of the bound (goal >= 80%)"
            ));
        }
    }
    if let (Some(work), Some(row)) = (get("audit_seal_work_bound"), get("audit_sealer_row")) {
        let percent = (work * 100).checked_div(row).unwrap_or(0);
        out.push(format!(
            "vm[{accel}] audit the sealer's own time per row against chain step + Merkle leaf + frontier push ({work} ns, the hashing a checkpointed row needs): {percent}%"
        ));
    }
    if let (Some(p50), Some(p99)) = (
        get("audit_append_to_sealed_p50"),
        get("audit_append_to_sealed_p99"),
    ) {
        out.push(format!(
            "vm[{accel}] audit append-to-sealed latency: p50 <= {p50} ns, p99 <= {p99} ns (log buckets, within 25%)"
        ));
    }
    if let (Some(bare), Some(with)) = (
        get("openat_close"),
        figures
            .iter()
            .find(|f| f.name == "openat_close_kernel_audit"),
    ) {
        let pays = with.p50_ns.saturating_sub(bare);
        out.push(format!(
            "vm[{accel}] anchor, the kernel's own audit (one rule `-a always,exit -S openat`, a netlink reader as auditd, no disk): open+close {bare} ns bare, {} ns audited, so an audited open pays {pays} ns; returns {} (AUDIT_SYSCALL records read / opens, the kernel's lost counter)",
            with.p50_ns, with.returns
        ));
    }
    if get("openat_close_kernel_audit").is_none() {
        out.push(format!(
            "vm[{accel}] anchor, the kernel's own audit: not measured (the guest says why on its console, `coconut-bench:` in the serial log)"
        ));
    }
    if let (Some(audited), Some(bare)) = (
        get("audit_append_grant_missing"),
        get("audit_present_missing"),
    ) {
        out.push(format!(
            "vm[{accel}] an audited call pays {} ns over the same checks and lookup unaudited (audit_append_grant_missing {audited} ns - audit_present_missing {bare} ns)",
            audited.saturating_sub(bare)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(group: &str, id: &str, median_ns: f64) -> Estimate {
        Estimate {
            group: group.into(),
            id: id.into(),
            median_ns,
            throughput: None,
        }
    }

    #[test]
    fn host_ratios_are_ours_over_reference_per_case() {
        let report = host_report(&[
            estimate("g", "coconut/hit", 5.0),
            estimate("g", "coconut/miss", 8.0),
            estimate("g", "getppid", 100.0),
            estimate("g", "naive/hit", 10.0),
            estimate("g", "naive/miss", 4.0),
            estimate("h", "blake3", 1.0),
        ]);
        assert_eq!(
            report,
            [
                "g/coconut/hit: 5.0 ns",
                "    ours/getppid (100.0 ns) = 0.05",
                "    ours/naive/hit (10.0 ns) = 0.50",
                "g/coconut/miss: 8.0 ns",
                "    ours/getppid (100.0 ns) = 0.08",
                "    ours/naive/miss (4.0 ns) = 2.00",
            ]
        );
    }

    fn figure(name: &str, p50_ns: u64, returns: &str) -> BenchFigure {
        BenchFigure {
            name: name.into(),
            p50_ns,
            p90_ns: p50_ns,
            calls: 30_000,
            returns: returns.into(),
            unexpected: 0,
        }
    }

    #[test]
    fn an_early_exit_is_labelled_and_the_ratio_direction_stated() {
        let report = vm_report(
            "tcg",
            &[
                figure("getppid", 200, "ok"),
                figure("agent_cap_present", 224, "EOPNOTSUPP"),
                figure("agent_attest_version", 150, "1"),
            ],
        );
        assert!(report[0].contains("ours/reference, below 1.00 = faster"));
        assert_eq!(
            report[1],
            "vm[tcg] getppid: p50 200 ns (the reference), returns ok"
        );
        assert!(report[2].contains("1.12x getppid"), "{}", report[2]);
        assert!(
            report[2].contains("skeleton early-exit path"),
            "{}",
            report[2]
        );
        assert!(report[2].contains("not the goal"), "{}", report[2]);
        assert_eq!(
            report[3],
            "vm[tcg] agent_attest_version: p50 150 ns, 0.75x getppid, returns 1"
        );
    }

    #[test]
    fn the_audit_rate_is_reported_against_the_bound_of_the_same_run() {
        let report = vm_report(
            "tcg",
            &[
                figure("getppid", 200, "ok"),
                figure("agent_cap_present", 224, "0"),
                figure("audit_append_grant_missing", 1224, "ESRCH"),
                figure("audit_present_missing", 224, "ESRCH"),
                figure("audit_sealed_row_all_cpus", 10_000, "ESRCH"),
                figure("audit_sealer_row", 6_250, "ok"),
                figure("audit_append_to_sealed_p50", 40_000, "ok"),
                figure("audit_append_to_sealed_p99", 900_000, "ok"),
                figure("audit_chain_step_bound", 5_000, "ok"),
                figure("audit_seal_work_bound", 5_000, "ok"),
                figure("openat_close", 2_000, "0"),
                figure(
                    "openat_close_kernel_audit",
                    9_000,
                    "0,syscall_records=30000/30100,lost=0",
                ),
            ],
        );
        let line = |what: &str| {
            report
                .iter()
                .find(|l| l.contains(what))
                .unwrap_or_else(|| panic!("no `{what}` line in {report:?}"))
        };
        let sealing = line("while every CPU appends");
        assert!(sealing.contains("100000 rows/s"), "{sealing}");
        assert!(sealing.contains("bound 200000 rows/s"), "{sealing}");
        assert!(sealing.contains("50% of the bound"), "{sealing}");
        let own = line("the sealer's own time per row");
        assert!(
            own.contains("160000 rows/s") && own.contains("80% of the bound"),
            "{own}"
        );
        let latency = line("append-to-sealed latency");
        assert!(
            latency.contains("p50 <= 40000 ns, p99 <= 900000 ns"),
            "{latency}"
        );
        assert!(line("audited call pays").contains("pays 1000 ns"));
        assert!(line("frontier push (5000 ns").ends_with(": 80%"));
        let anchor = line("the kernel's own audit");
        assert!(
            anchor.contains("2000 ns bare, 9000 ns audited, so an audited open pays 7000 ns"),
            "{anchor}"
        );
        assert!(
            anchor.contains("returns 0,syscall_records=30000/30100,lost=0 ("),
            "{anchor}"
        );
    }
}
