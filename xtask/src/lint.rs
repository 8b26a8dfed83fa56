//! `cargo xtask lint`: the lints the project's rules rely on, as a stage of `cargo xtask test`.
//!
//! The workspace part (no kernel needed): `cargo clippy --workspace --all-targets -- -D
//! warnings`, `cargo fmt --all --check`, and `cargo check` of every `crates/*/fuzz` crate (they
//! are outside the workspace and would otherwise never be compiled). The kernel part (after a
//! kernel build): `rustfmt --check` of `kernel/overlay/**/*.rs` with the tree's own
//! `.rustfmt.toml`, and the kernel's `make CLIPPY=1` rebuild of the Rust objects of every
//! directory in `rust-dirs` of kernel/kernel.toml, any warning failing the stage.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::kernel;
use crate::paths;
use crate::setup;
use crate::stage::{self, Pipeline};

/// Arguments of `cargo xtask lint`.
#[derive(clap::Args)]
pub struct Args {
    /// Only the workspace lints (clippy, rustfmt, fuzz crates); no kernel build.
    #[arg(long, conflicts_with = "kernel_only")]
    pub workspace_only: bool,
    /// Only the kernel lints (the kernel's CLIPPY=1, the overlay's rustfmt), after a kernel build.
    #[arg(long)]
    pub kernel_only: bool,
    /// Kernel configuration whose build the kernel lints use.
    #[arg(long, default_value = "qemu")]
    pub config: String,
}

/// `cargo xtask lint`.
pub fn run(args: &Args) -> Result<()> {
    let stages = match (args.workspace_only, args.kernel_only) {
        (true, _) => 3,
        (_, true) => 3,
        _ => 6,
    };
    let mut p = Pipeline::new("lint", stages);
    if !args.kernel_only {
        workspace(&mut p)?;
    }
    if !args.workspace_only {
        let built = p.stage(&format!("kernel ({} config)", args.config), || {
            kernel::build(&kernel::BuildArgs::of_config(&args.config))
        })?;
        kernel_lints(&mut p, &built)?;
    }
    p.finish();
    Ok(())
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(paths::root());
    cmd
}

/// The workspace lints, three stages of `p`.
pub fn workspace(p: &mut Pipeline) -> Result<()> {
    p.stage(
        "lint: cargo clippy --workspace --all-targets -D warnings",
        || {
            stage::run(cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ]))
        },
    )?;
    p.stage("lint: cargo fmt --all --check", || {
        stage::run(cargo().args(["fmt", "--all", "--check"]))
            .context("the workspace is not rustfmt-clean; run `cargo fmt --all`")
    })?;
    p.stage("lint: cargo check of the fuzz crates", || {
        let manifests = fuzz_manifests()?;
        for manifest in &manifests {
            stage::run(
                cargo()
                    .args(["check", "--quiet", "--manifest-path"])
                    .arg(manifest)
                    // One target directory for all of them: libfuzzer-sys builds once.
                    .arg("--target-dir")
                    .arg(paths::target().join("fuzz-check")),
            )?;
        }
        eprintln!("    {} fuzz crates compile", manifests.len());
        Ok(())
    })
}

/// `crates/*/fuzz/Cargo.toml`, sorted.
fn fuzz_manifests() -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(paths::root().join("crates"))? {
        let manifest = entry?.path().join("fuzz/Cargo.toml");
        if manifest.exists() {
            out.push(manifest);
        }
    }
    out.sort();
    Ok(out)
}

/// The kernel lints over a built tree, two stages of `p`: the kernel's clippy first (it reads
/// the code), then the overlay's formatting.
pub fn kernel_lints(p: &mut Pipeline, built: &kernel::Built) -> Result<()> {
    p.stage(
        &format!("lint: kernel CLIPPY=1 (Linux {})", built.version),
        || {
            let toml = kernel::load_toml()?;
            kernel::make::clippy(
                &built.src,
                &built.build,
                &setup::kernel_toolchain(),
                &toml.rust_dirs,
            )
        },
    )?;
    p.stage(
        "lint: rustfmt of kernel/overlay with the tree's .rustfmt.toml",
        || overlay_rustfmt(&built.src),
    )
}

/// `rustfmt --check` of every overlay `.rs` file with the kernel's config. Each file goes through
/// stdin, so rustfmt does not follow its `#[path]` modules (the shared crates, which are not in
/// the overlay and are checked by `cargo fmt`).
fn overlay_rustfmt(tree: &Path) -> Result<()> {
    let config = tree.join(".rustfmt.toml");
    if !config.exists() {
        bail!(
            "{} is missing: is {} a kernel tree?",
            config.display(),
            tree.display()
        );
    }
    let overlay = kernel::kernel_dir().join("overlay");
    let mut files = Vec::new();
    for rel in kernel::files_under(&overlay)? {
        if rel.extension().is_some_and(|e| e == "rs") {
            files.push(rel);
        }
    }
    let mut dirty = Vec::new();
    for rel in &files {
        let path = overlay.join(rel);
        let out = Command::new("rustfmt")
            .current_dir(paths::root())
            .args([
                "--check",
                "--color",
                "never",
                "--edition",
                "2021",
                "--config-path",
            ])
            .arg(&config)
            .stdin(Stdio::from(
                std::fs::File::open(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            ))
            .output()
            .context("cannot run rustfmt")?;
        if !out.status.success() {
            let diff = String::from_utf8_lossy(&out.stdout)
                .replace("<stdin>", &path.display().to_string());
            eprintln!("{diff}{}", String::from_utf8_lossy(&out.stderr));
            dirty.push(path.display().to_string());
        }
    }
    if !dirty.is_empty() {
        bail!(
            "not rustfmt-clean with the kernel's .rustfmt.toml:\n  {}\nfix with: rustfmt --edition 2021 --config-path {} <file>",
            dirty.join("\n  "),
            config.display()
        );
    }
    eprintln!("    {} overlay Rust files are rustfmt-clean", files.len());
    Ok(())
}
