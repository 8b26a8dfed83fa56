//! The in-guest test runner of the VM tier.
//!
//! Runs as a static binary inside the test initramfs (started by `/init` when the kernel command
//! line holds `coconut.test=1`), runs every test in [`TESTS`], and reports each on the serial
//! console with the protocol of `coconut-vmtest`:
//! `@@COCONUT-TEST ok <name>` / `@@COCONUT-TEST fail <name> <message>`, then
//! `@@COCONUT-TESTS done pass=N fail=M`. `--list` prints the test names, one per line, so the
//! host knows which results to expect; `--bench` runs the microbenchmarks instead (`bench.rs`).
//! A panicking test is reported as a failure; the runner
//! goes on with the next one.

mod bench;
mod kernel;
mod syscalls;

use std::io::Write;

/// A test: a name (module::what) and a function returning `Err(message)` on failure.
pub type Test = (&'static str, fn() -> Result<(), String>);

/// Every in-guest test, in the order they run.
fn tests() -> Vec<Test> {
    let mut all = Vec::new();
    all.extend_from_slice(kernel::TESTS);
    all.extend_from_slice(syscalls::TESTS);
    all
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tests = tests();
    if args.iter().any(|a| a == "--bench") {
        bench::run();
        return;
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &tests {
            println!("{name}");
        }
        return;
    }
    let filter = args.first().cloned();
    let (mut pass, mut fail) = (0, 0);
    let stdout = std::io::stdout();
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let result = std::panic::catch_unwind(test).unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panicked".into());
            Err(format!("panicked: {msg}"))
        });
        let mut out = stdout.lock();
        match result {
            Ok(()) => {
                pass += 1;
                let _ = writeln!(out, "@@COCONUT-TEST ok {name}");
            }
            Err(msg) => {
                fail += 1;
                let _ = writeln!(
                    out,
                    "@@COCONUT-TEST fail {name} {}",
                    msg.replace('\n', " | ")
                );
            }
        }
        let _ = out.flush();
    }
    println!("@@COCONUT-TESTS done pass={pass} fail={fail}");
    std::process::exit(if fail == 0 { 0 } else { 1 });
}
