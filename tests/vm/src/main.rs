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
    let (trials, finished) = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(101);
        }
    };
    let conclusion = libtest_mimic::run(&args, trials);
    // A FILTER narrows what is reported, never what is judged: the run as a whole must still
    // have finished cleanly, even when the filter hides `vm::guest_finished`.
    if let Some(Err(message)) = finished.filter(|_| hides_guest_finished(&args)) {
        eprintln!("{GUEST_FINISHED} (checked although the filter hides it) FAILED: {message}");
        std::process::exit(101);
    }
    conclusion.exit();
}

/// Whether the command line's filters leave `vm::guest_finished` out of the report.
fn hides_guest_finished(args: &Arguments) -> bool {
    let matches = |f: &String| {
        if args.exact {
            f == GUEST_FINISHED
        } else {
            GUEST_FINISHED.contains(f.as_str())
        }
    };
    args.filter.as_ref().is_some_and(|f| !matches(f)) || args.skip.iter().any(matches)
}

/// The verdict of `vm::guest_finished`: `Err(message)` if the run as a whole failed.
type Finished = Result<(), String>;

/// The trials to report, and the verdict of `vm::guest_finished` (None when only listing).
fn prepare(args: &Arguments) -> Result<(Vec<Trial>, Option<Finished>)> {
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
        let trials = names
            .into_iter()
            .chain([GUEST_FINISHED.to_string()])
            .map(|n| Trial::test(n, || Ok(())))
            .collect();
        return Ok((trials, None));
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
    // COCONUT_VM_APPEND: more of the guest's command line (`coconut.fuzz_calls=N`,
    // `coconut.fuzz_seed=N`; see tests/guest/src/fuzz.rs).
    vm.append = match std::env::var("COCONUT_VM_APPEND") {
        Ok(more) if !more.trim().is_empty() => format!("coconut.test=1 {}", more.trim()),
        _ => "coconut.test=1".into(),
    };
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
    let finished = verdicts
        .iter()
        .find(|v| v.name == GUEST_FINISHED)
        .map(|v| v.result.clone());
    let trials = verdicts
        .into_iter()
        .map(|v| {
            let result = v.result;
            Trial::test(v.name, move || result.map_err(Failed::from)).with_kind(accel.name())
        })
        .collect();
    Ok((trials, finished))
}
