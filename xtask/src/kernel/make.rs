//! Running the kernel's `make`: the command line every step shares (Debian's rustc-web, LLVM=1,
//! the pinned bindgen, cargo's variables removed), the bzImage build with a progress line, and
//! the `CLIPPY=1` rebuild of our Rust objects that `cargo xtask lint` runs.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::paths;
use crate::setup;
use crate::stage;

/// `make` in the tree `src` with output in `build`, with the project's toolchain.
pub fn make_cmd(src: &Path, build: &Path, tc: &setup::KernelToolchain) -> Command {
    let mut cmd = Command::new("make");
    let path = format!(
        "{}:{}",
        paths::tools().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.current_dir(src)
        .env("PATH", path)
        .env("KBUILD_BUILD_USER", "coconut")
        .env("KBUILD_BUILD_HOST", "coconut-build")
        // `uname -v` and /proc/version carry no build time: the same inputs give the same
        // bzImage (the ISO's reproducibility rests on it). The date is the ISO's default epoch.
        .env("KBUILD_BUILD_TIMESTAMP", "Thu Jan  1 00:00:00 UTC 2026")
        .env("KBUILD_BUILD_VERSION", "1")
        // Cargo sets these for xtask; the kernel's Rust build must not see rustup's toolchain.
        .env_remove("RUSTC")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTUP_TOOLCHAIN")
        .arg(format!("O={}", build.display()))
        .arg("LLVM=1")
        .arg(format!("RUSTC={}", tc.rustc.display()))
        .arg(format!("HOSTRUSTC={}", tc.rustc.display()))
        .arg("RUSTDOC=/usr/bin/rustdoc")
        .arg(format!("CLIPPY_DRIVER={}", tc.clippy_driver.display()))
        .arg(format!("BINDGEN={}", tc.bindgen.display()));
    cmd
}

/// Runs `cmd` with stdout and stderr merged into `log_path`, printing a progress line every 20 s;
/// returns the lines. On failure prints the log's tail.
fn run_make(mut cmd: Command, log_path: &Path, what: &str) -> Result<Vec<String>> {
    let mut log = fs::File::create(log_path)?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start make")?;
    // Merge stderr into the same stream via a thread so warnings and errors land in the log.
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    let t1 = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let t2 = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let mut last = Instant::now();
    let mut steps = 0usize;
    let mut lines = Vec::new();
    for line in rx {
        writeln!(log, "{line}")?;
        if line.starts_with("  ") {
            steps += 1;
        }
        if last.elapsed() > Duration::from_secs(20) {
            last = Instant::now();
            eprintln!(
                "    [{:>4}s] {steps} steps, at: {}",
                start.elapsed().as_secs(),
                line.trim()
            );
        }
        lines.push(line);
    }
    let _ = t1.join();
    let _ = t2.join();
    let status = child.wait()?;
    if !status.success() {
        drop(log);
        stage::print_tail(log_path, 40);
        bail!("{what} failed ({status}); full log: {}", log_path.display());
    }
    Ok(lines)
}

/// `make bzImage`.
pub fn make_bzimage(
    src: &Path,
    build: &Path,
    tc: &setup::KernelToolchain,
    jobs: usize,
) -> Result<()> {
    let log_path = build.join("make.log");
    let mut cmd = make_cmd(src, build, tc);
    cmd.arg(format!("-j{jobs}")).arg("bzImage");
    eprintln!("    make -j{jobs} bzImage (log: {})", log_path.display());
    run_make(cmd, &log_path, "kernel build")?;
    Ok(())
}

/// Rebuilds the Rust objects of `dirs` (tree paths) with the kernel's `CLIPPY=1` and fails on
/// any warning. The objects are removed first and named as make targets (`kernel/agent/x.o`), so
/// clippy sees every file every time; the next `make bzImage` rebuilds them with rustc (the
/// command line changed), the bzImage is untouched.
pub fn clippy(
    src: &Path,
    build: &Path,
    tc: &setup::KernelToolchain,
    dirs: &[String],
) -> Result<()> {
    let mut targets = Vec::new();
    for dir in dirs {
        for rs in super::checks::rust_sources(src, dir)? {
            let rel = Path::new(dir).join(rs.with_extension("o"));
            let _ = fs::remove_file(build.join(&rel));
            targets.push(rel.display().to_string());
        }
    }
    if targets.is_empty() {
        bail!("no Rust source in {}", dirs.join(", "));
    }
    let log_path = build.join("clippy.log");
    let mut cmd = make_cmd(src, build, tc);
    cmd.arg("CLIPPY=1").args(&targets);
    eprintln!(
        "    make CLIPPY=1 {} (log: {})",
        targets.join(" "),
        log_path.display()
    );
    let linted = run_make(cmd, &log_path, "kernel clippy build");
    // clippy-driver compiles with its own MIR settings, so its objects are not the ones the
    // bzImage was linked from (frames differ, e.g. BLAKE3's Hasher constructors). Rebuild them
    // with rustc, whatever clippy said, so the object checks and later incremental builds see
    // what the build made.
    for rel in &targets {
        let _ = fs::remove_file(build.join(rel));
    }
    let mut rebuild = make_cmd(src, build, tc);
    rebuild.args(&targets);
    run_make(
        rebuild,
        &build.join("clippy-restore.log"),
        "rebuild of the objects after clippy",
    )?;
    let lines = linted?;
    let warnings = clippy_findings(&lines);
    if !warnings.is_empty() {
        for w in &warnings {
            eprintln!("{w}");
        }
        bail!(
            "the kernel's clippy reports {} warning(s) in {} (full log: {})",
            warnings.len(),
            dirs.join(", "),
            log_path.display()
        );
    }
    eprintln!("    {} objects clippy-clean", targets.len());
    Ok(())
}

/// The warnings and errors in a compiler's output, each with the lines that follow it up to the
/// next blank line (its location and explanation).
pub fn clippy_findings(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in lines {
        let starts = (line.starts_with("warning") || line.starts_with("error"))
            && !line.starts_with("warning: unused manifest key");
        if starts {
            if let Some(done) = current.take() {
                out.push(done);
            }
            // rustc's summary line ("N warnings emitted") is not a finding of its own.
            if line.contains(" emitted") {
                continue;
            }
            current = Some(line.clone());
        } else if let Some(cur) = current.as_mut() {
            if line.trim().is_empty() {
                out.push(current.take().unwrap_or_default());
            } else {
                cur.push('\n');
                cur.push_str(line);
            }
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clippy_findings_keep_location_and_skip_the_summary() {
        let lines: Vec<String> = [
            "  CLIPPY  kernel/agent/agent_core.o",
            "warning: this `if` has identical blocks",
            "  --> kernel/agent/agent_core.rs:10:5",
            "   |",
            "",
            "warning: 1 warning emitted",
            "",
            "  AR      kernel/agent/built-in.a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found = clippy_findings(&lines);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("agent_core.rs:10:5"), "{found:?}");
        assert!(clippy_findings(&lines[..1]).is_empty());
    }
}
