//! The VM test tier: boots the forked kernel with the test initramfs once, lets the in-guest
//! runner (`coconut-guest-tests`) run every test, and reports each in-guest test as a test of
//! its own (libtest format: filters, `--list`, exit status), plus `vm::guest_finished`, which
//! judges the run as a whole (see the library, `coconut_vmtest::judge`).
//!
//! Inputs come from the environment, set by `cargo xtask test`:
//! `COCONUT_KERNEL` (bzImage), `COCONUT_INITRAMFS`, `COCONUT_GUEST_TESTS` (the static runner,
//! run on the host with `--list` to learn which tests to expect), optionally `COCONUT_ACCEL`,
//! `COCONUT_VM_TIMEOUT` (seconds, default 600) and `COCONUT_VM_LOG_DIR`.
//!
//! An empty or inconsistent listing stops the tier before booting. A guest that hangs or
//! crashes fails every test it did not report, with the log's path and tail in the message;
//! the full serial log is always kept.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use coconut_qemu::protocol::{parse_tests, EXIT_PREFIX};
use coconut_qemu::{boot, detect_accel, tail, Vm};
use coconut_vmtest::{judge, plan, Run, GUEST_FINISHED};
use libtest_mimic::{Arguments, Failed, Trial};

fn env_path(name: &str) -> Result<PathBuf> {
    let value = std::env::var_os(name).with_context(|| {
        format!("{name} is not set; run the VM tier through `cargo xtask test`")
    })?;
    Ok(PathBuf::from(value))
}

fn main() {
    let args = Arguments::from_args();
    let trials = match prepare(&args) {
        Ok(trials) => trials,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(101);
        }
    };
    libtest_mimic::run(&args, trials).exit();
}

fn prepare(args: &Arguments) -> Result<Vec<Trial>> {
    let runner = env_path("COCONUT_GUEST_TESTS")?;
    let listing = Command::new(&runner)
        .arg("--list")
        .output()
        .with_context(|| format!("cannot run {} --list", runner.display()))?;
    if !listing.status.success() {
        bail!("{} --list failed ({})", runner.display(), listing.status);
    }
    let names = plan(&String::from_utf8_lossy(&listing.stdout))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{} --list", runner.display()))?;
    if args.list {
        return Ok(names
            .into_iter()
            .chain([GUEST_FINISHED.to_string()])
            .map(|n| Trial::test(n, || Ok(())))
            .collect());
    }
    let kernel = env_path("COCONUT_KERNEL")?;
    let initramfs = env_path("COCONUT_INITRAMFS")?;
    let log_dir = std::env::var_os("COCONUT_VM_LOG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/vm-logs"));
    let timeout = std::env::var("COCONUT_VM_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let accel = detect_accel(&kernel, &initramfs, &log_dir.join("kvm-probe"))?;
    let mut vm = Vm::new(&kernel, &initramfs, accel);
    vm.append = "coconut.test=1".into();
    let log = log_dir.join("guest-tests.log");
    eprintln!(
        "booting {} under {} (log: {})",
        kernel.display(),
        accel.name(),
        log.display()
    );
    // `/init` prints the exit line after the runner's `done` line, even if the runner crashed.
    let boot = boot(&vm, &log, EXIT_PREFIX, Duration::from_secs(timeout))?;
    eprintln!(
        "guest ran for {:.1}s under {}{}",
        boot.elapsed.as_secs_f64(),
        accel.name(),
        if boot.timed_out { " and TIMED OUT" } else { "" }
    );
    let run = Run {
        log: parse_tests(&boot.lines),
        timed_out: boot.timed_out,
        timeout_s: timeout,
        log_path: std::fs::canonicalize(&log)
            .unwrap_or(log.clone())
            .display()
            .to_string(),
        log_tail: tail(&boot.lines, 15),
    };
    let verdicts = judge(&names, &run);
    if verdicts.iter().any(|v| v.result.is_err()) {
        eprintln!("full serial log: {}", run.log_path);
        eprintln!("---- last 40 lines ----\n{}\n----", tail(&boot.lines, 40));
    }
    Ok(verdicts
        .into_iter()
        .map(|v| {
            let result = v.result;
            Trial::test(v.name, move || result.map_err(Failed::from)).with_kind(accel.name())
        })
        .collect())
}
