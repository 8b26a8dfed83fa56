//! The VM test tier: boots the forked kernel with the test initramfs once, lets the in-guest
//! runner (`coconut-guest-tests`) run every test, and reports each in-guest test as a test of
//! its own (libtest format: filters, `--list`, exit status).
//!
//! Inputs come from the environment, set by `cargo xtask test`:
//! `COCONUT_KERNEL` (bzImage), `COCONUT_INITRAMFS`, `COCONUT_GUEST_TESTS` (the static runner,
//! run on the host with `--list` to learn which tests to expect), optionally `COCONUT_ACCEL`,
//! `COCONUT_VM_TIMEOUT` (seconds, default 600) and `COCONUT_VM_LOG_DIR`.
//!
//! A guest that hangs or crashes fails every test it did not report, with the log's path and
//! tail in the message; the full serial log is always kept.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use coconut_vmtest::{boot, detect_accel, parse_results, tail, Outcome, Vm, DONE_PREFIX};
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
        bail!("{} --list failed", runner.display());
    }
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if args.list {
        return Ok(names
            .into_iter()
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
    let result = boot(&vm, &log, DONE_PREFIX, Duration::from_secs(timeout))?;
    eprintln!(
        "guest ran for {:.1}s under {}{}",
        result.elapsed.as_secs_f64(),
        accel.name(),
        if result.timed_out {
            " and TIMED OUT"
        } else {
            ""
        }
    );
    let results = parse_results(&result.lines);
    let why_missing = if result.timed_out {
        format!("the guest did not finish within {timeout}s")
    } else if !result.finished {
        "the guest stopped (crash, panic or reboot) before reporting".to_string()
    } else {
        "the guest runner did not report this test".to_string()
    };
    let any_failure = !result.finished || results.values().any(|o| *o != Outcome::Ok);
    if any_failure {
        eprintln!(
            "full serial log: {}",
            std::fs::canonicalize(&log).unwrap_or(log.clone()).display()
        );
        eprintln!("---- last 40 lines ----\n{}\n----", tail(&result.lines, 40));
    }
    let log_tail = tail(&result.lines, 15);
    let log_name = log.display().to_string();
    let mut trials = Vec::new();
    for name in names {
        let outcome = results.get(&name).cloned();
        let (why, log_name, log_tail) = (why_missing.clone(), log_name.clone(), log_tail.clone());
        trials.push(
            Trial::test(name, move || match outcome {
                Some(Outcome::Ok) => Ok(()),
                Some(Outcome::Fail(msg)) => Err(Failed::from(msg)),
                None => Err(Failed::from(format!(
                    "{why}; serial log {log_name}, tail:\n{log_tail}"
                ))),
            })
            .with_kind(accel.name()),
        );
    }
    // Tests the guest reported but the listing did not name are failures too (a stale runner).
    for name in results.keys() {
        if !trials.iter().any(|t| t.name() == name) {
            let name = name.clone();
            trials.push(Trial::test(format!("unlisted::{name}"), move || {
                Err(Failed::from(format!(
                    "guest reported `{name}`, which `--list` does not name"
                )))
            }));
        }
    }
    Ok(trials)
}
