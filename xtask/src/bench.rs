//! `cargo xtask bench`: the benchmarks, with their numbers and ratios in one summary.
//!
//! Runs the criterion benchmarks of every crate that has a `benches/` directory (the kernel-side
//! core against its reference crates: BLAKE3, Ed25519, CBOR, …) and collects the lines each
//! bench prints with a ratio, so one run ends with a table of "ours vs reference" figures.
//! With `--vm` it instead boots the forked kernel with `coconut.bench=1` and reports the
//! in-guest microbenchmarks (agent syscalls next to `getppid`), with the accelerator beside
//! every figure: under TCG computation slows far more than traps do.
//! Benchmarks are not tests: nothing here fails on a slow number.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use coconut_vmtest::{boot, detect_accel, Vm};

use crate::setup::{self, Need};
use crate::stage::Pipeline;
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
    let mut p = Pipeline::new("bench", crates.len());
    let mut summary = Vec::new();
    for name in &crates {
        let lines = p.stage(name, || bench_crate(name))?;
        summary.extend(lines.into_iter().map(|l| format!("{name}: {l}")));
    }
    p.finish();
    eprintln!(
        "==> ratios (host, {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// Runs one crate's benchmarks, echoing their output, and returns the lines that state a ratio.
fn bench_crate(name: &str) -> Result<Vec<String>> {
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(paths::root())
        .args(["bench", "--package", name])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start cargo bench")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut ratios = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        eprintln!("{line}");
        let lower = line.to_lowercase();
        if lower.contains("ratio") || line.contains('×') {
            ratios.push(line.trim().to_string());
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo bench -p {name} failed ({status})");
    }
    Ok(ratios)
}

/// `cargo xtask bench --vm`: boots the kernel with `coconut.bench=1` and prints the figures.
fn run_vm(args: &Args) -> Result<()> {
    let mut p = Pipeline::new("bench --vm", 4);
    p.stage("host tools", || {
        setup::ensure(&[Need::Kernel, Need::Initramfs, Need::Qemu], true)
    })?;
    let bzimage = p.stage(&format!("kernel ({} config)", args.config), || {
        kernel::build_config(&args.config)
    })?;
    let initrd = p.stage("initramfs", || initramfs::run(&initramfs::Args {}))?;
    let log_dir = paths::target().join("vm-logs");
    let results = p.stage("boot and measure", || {
        let accel = detect_accel(&bzimage, &initrd, &log_dir.join("kvm-probe"))?;
        let mut vm = Vm::new(&bzimage, &initrd, accel);
        vm.append = "coconut.bench=1".into();
        let log = log_dir.join("bench.log");
        let run = boot(&vm, &log, "@@COCONUT-BENCH done", Duration::from_secs(600))?;
        if !run.finished {
            bail!(
                "the guest did not finish its benchmarks; serial log: {}",
                log.display()
            );
        }
        let figures: Vec<(String, u64)> = run
            .lines
            .iter()
            .filter_map(|l| l.split_once("@@COCONUT-BENCH ").map(|(_, rest)| rest))
            .filter_map(|rest| {
                let mut words = rest.split_whitespace();
                let name = words.next()?.to_string();
                let p50 = words
                    .find_map(|w| w.strip_prefix("p50_ns="))?
                    .parse()
                    .ok()?;
                Some((name, p50))
            })
            .collect();
        Ok((accel, figures))
    })?;
    p.finish();
    let (accel, figures) = results;
    let base = figures
        .iter()
        .find(|(n, _)| n == "getppid")
        .map(|(_, v)| *v)
        .unwrap_or(0);
    for (name, p50) in &figures {
        // Hundredths, in integers (the workspace lints keep float arithmetic out).
        let ratio = match (p50 * 100).checked_div(base) {
            Some(r) => format!("({}.{:02}x getppid)", r / 100, r % 100),
            None => String::new(),
        };
        println!("vm[{}] {name}: p50 {p50} ns {ratio}", accel.name());
    }
    Ok(())
}
