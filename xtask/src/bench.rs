//! `cargo xtask bench`: the benchmarks, with their numbers and ratios in one summary.
//!
//! Runs the criterion benchmarks of every crate that has a `benches/` directory (the kernel-side
//! core against its reference crates: BLAKE3, Ed25519, CBOR, …) and collects the lines each
//! bench prints with a ratio, so one run ends with a table of "ours vs reference" figures.
//! Benchmarks are not tests: nothing here fails on a slow number.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::paths;
use crate::stage::Pipeline;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Only the crates whose name contains this string.
    pub filter: Option<String>,
}

/// `cargo xtask bench`.
pub fn run(args: &Args) -> Result<()> {
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
