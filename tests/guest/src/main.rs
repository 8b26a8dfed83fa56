//! The in-guest test runner of the VM tier.
//!
//! Runs as a static binary inside the test initramfs (started by `/init` when the kernel command
//! line holds `coconut.test=1`), runs every test of [`tests`], and reports each on the serial
//! console in the protocol of `coconut_qemu::protocol` (`ok`/`fail` per test, then a `done`
//! line with the counts); it exits 0 only if every test passed, and `/init` prints that exit
//! status in a protocol line of its own. `--list` prints the test names, one per line, so the
//! host knows which results to expect; `--bench` runs the microbenchmarks instead (`bench.rs`; `--bench-bare` the LSM's
//! two loops only, in a boot without the coconut LSM, `lsmbench.rs`),
//! `--demo NAME` a scenario told on the console (`team.rs`, `cargo xtask demo`).
//! A panicking test is reported as a failure; the runner goes on with the next one.

mod agents;
mod audit;
mod bench;
mod cli;
mod confine;
mod fuzz;
mod kaudit;
mod kernel;
mod lsmbench;
mod property;
mod storm;
mod syscalls;
mod team;
mod wrappers;

use std::io::Write;
use std::panic::AssertUnwindSafe;

use coconut_qemu::protocol::{done_line, fail_line, ok_line, Counts};

/// A test: a name (`module::what`, no spaces) and a function returning `Err(message)` on
/// failure.
pub struct Test {
    /// The name reported.
    pub name: String,
    /// The test.
    pub run: Box<dyn Fn() -> Result<(), String>>,
}

impl Test {
    /// A test of a plain function.
    pub fn new(name: impl Into<String>, run: impl Fn() -> Result<(), String> + 'static) -> Test {
        Test {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// Every in-guest test, in the order they run.
fn tests() -> Vec<Test> {
    let mut all = kernel::tests();
    all.extend(audit::tests());
    all.extend(syscalls::tests());
    all.extend(wrappers::tests());
    all.extend(agents::tests());
    all.extend(confine::tests());
    all.extend(property::tests());
    all.extend(storm::tests());
    all.extend(team::tests());
    all.extend(cli::tests());
    all.extend(fuzz::tests());
    all.extend(audit::final_tests());
    all.extend(kernel::final_tests());
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--agent-child") {
        let action = args.get(1).map_or("", String::as_str);
        std::process::exit(agents::child(action, args.get(2).map(String::as_str)));
    }
    if let Some(i) = args.iter().position(|a| a == "--demo") {
        let code = match args.get(i + 1).map(String::as_str) {
            Some("dream-team") => team::demo(),
            other => {
                eprintln!("--demo: unknown demo {other:?}; known: dream-team");
                2
            }
        };
        std::process::exit(code);
    }
    if args.iter().any(|a| a == "--bench-bare") {
        std::process::exit(lsmbench::bare());
    }
    if args.iter().any(|a| a == "--bench") {
        std::process::exit(bench::run());
    }
    let tests = tests();
    if args.iter().any(|a| a == "--list") {
        for test in &tests {
            println!("{}", test.name);
        }
        return;
    }
    let mut counts = Counts { pass: 0, fail: 0 };
    let stdout = std::io::stdout();
    for test in tests {
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| (test.run)())).unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".into());
                Err(format!("panicked: {msg}"))
            });
        let line = match result {
            Ok(()) => {
                counts.pass += 1;
                ok_line(&test.name)
            }
            Err(msg) => {
                counts.fail += 1;
                fail_line(&test.name, &msg)
            }
        };
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    println!("{}", done_line(counts));
    std::process::exit(if counts.fail == 0 { 0 } else { 1 });
}
