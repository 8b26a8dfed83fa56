//! The hacking tree: `cargo xtask kernel tree` writes a git tree (upstream commit, overlay
//! commit, one commit per patch) for people who want to work on the fork directly;
//! `cargo xtask kernel export` turns its commits and new files back into kernel/patches/ and
//! kernel/overlay/, keeping the invariant that the series only modifies upstream files and the
//! overlay only adds files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use super::series::{lay_overlay, series};
use super::{copy_into, files_under, kernel_dir, load_toml, upstream, UpstreamArgs, SHARED_DIR};
use crate::paths;
use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};

/// Arguments of `cargo xtask kernel tree`.
#[derive(clap::Args)]
pub struct TreeArgs {
    /// Where to write the tree (must not exist; default: <cache>/kernel-tree).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

/// Arguments of `cargo xtask kernel export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The tree to export (made by `cargo xtask kernel tree`; default: <cache>/kernel-tree).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

fn default_dir() -> PathBuf {
    paths::cache().join("kernel-tree")
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args([
        "-c",
        "user.name=Coconut xtask",
        "-c",
        "user.email=xtask@coconut.invalid",
        "-c",
        "core.autocrlf=false",
    ]);
    cmd
}

/// `cargo xtask kernel tree [DIR]`: returns the tree's directory.
pub fn make_tree(args: &TreeArgs) -> Result<PathBuf> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let dir = dir.as_path();
    if dir.exists() {
        bail!(
            "{} already exists; export it (cargo xtask kernel export {}) or remove it first",
            dir.display(),
            dir.display()
        );
    }
    let toml = load_toml()?;
    let mut p = Pipeline::new("kernel tree", 4);
    p.stage("host tools", || setup::ensure(&[Need::Kernel], true))?;
    let upstream = p.stage("upstream source", || {
        upstream::resolve(&args.upstream, &toml.upstream)
    })?;
    p.stage(&format!("git import (Linux {})", upstream.version), || {
        let tmp = dir.with_extension("tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        stage::run(
            Command::new("tar")
                .arg("-xf")
                .arg(&upstream.tarball)
                .arg("-C")
                .arg(&tmp)
                .arg("--strip-components=1"),
        )?;
        fs::rename(&tmp, dir)?;
        stage::run(git(dir).args(["init", "-q"]))?;
        stage::run(git(dir).args(["add", "-A", "-f"]))?;
        stage::run(
            git(dir)
                .args(["commit", "-q", "-m"])
                .arg(format!("Linux {} (upstream)", upstream.version)),
        )?;
        stage::run(git(dir).args(["tag", "coconut-upstream"]))
    })?;
    p.stage("overlay and series", || {
        let staging = dir.with_extension("overlay.tmp");
        let _ = fs::remove_dir_all(&staging);
        lay_overlay(&staging)?;
        for rel in files_under(&staging)? {
            copy_into(&staging.join(&rel), &dir.join(&rel))?;
        }
        let _ = fs::remove_dir_all(&staging);
        stage::run(git(dir).args(["add", "-A", "-f"]))?;
        stage::run(git(dir).args([
            "commit",
            "-q",
            "-m",
            "coconut: overlay (new files; shared crates are generated from crates/)",
        ]))?;
        stage::run(git(dir).args(["tag", "coconut-overlay"]))?;
        for patch in series()? {
            let status = git(dir)
                .args(["am", "-q", "--keep-cr"])
                .arg(&patch)
                .status()?;
            if !status.success() {
                let _ = git(dir).args(["am", "--abort"]).status();
                bail!(
                    "patch {} does not apply (git am); the tree stops before it",
                    patch.display()
                );
            }
        }
        Ok(())
    })?;
    p.finish();
    eprintln!(
        "hack in {}; commit your changes, then: cargo xtask kernel export {}",
        dir.display(),
        dir.display()
    );
    Ok(dir.to_path_buf())
}

/// `cargo xtask kernel export [DIR]`: returns kernel/.
pub fn export_tree(args: &ExportArgs) -> Result<PathBuf> {
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let dir = dir.as_path();
    if !dir.join(".git").exists() {
        bail!(
            "{} is not a tree made by `cargo xtask kernel tree`",
            dir.display()
        );
    }
    let dirty = stage::output(git(dir).args(["status", "--porcelain"]))?;
    if !dirty.trim().is_empty() {
        bail!(
            "{} has uncommitted changes; commit them first:\n{dirty}",
            dir.display()
        );
    }
    // New files (not in upstream) are the overlay; the shared crates come from crates/.
    let added = stage::output(git(dir).args([
        "diff",
        "--name-only",
        "--diff-filter=A",
        "coconut-upstream",
        "HEAD",
    ]))?;
    let overlay = kernel_dir().join("overlay");
    let mut overlay_files = Vec::new();
    for rel in added.lines().filter(|l| !l.is_empty()) {
        if rel.starts_with(SHARED_DIR) {
            let changed = stage::output(git(dir).args([
                "diff",
                "--name-only",
                "coconut-overlay",
                "HEAD",
                "--",
                rel,
            ]))?;
            if !changed.trim().is_empty() {
                eprintln!("warning: {rel} is generated from crates/; edit the crate instead (change not exported)");
            }
            continue;
        }
        overlay_files.push(rel.to_string());
    }
    for rel in &overlay_files {
        copy_into(&dir.join(rel), &overlay.join(rel))?;
    }
    // Overlay files the tree deleted go; files the tree never had (added to kernel/overlay/
    // after `kernel tree` ran) stay, with a warning.
    let deleted = stage::output(git(dir).args([
        "diff",
        "--name-only",
        "--diff-filter=D",
        "coconut-overlay",
        "HEAD",
    ]))?;
    for rel in deleted.lines().filter(|l| !l.is_empty()) {
        let _ = fs::remove_file(overlay.join(rel));
    }
    for rel in files_under(&overlay)? {
        let rel = rel.to_string_lossy().into_owned();
        if !overlay_files.contains(&rel) && !deleted.lines().any(|d| d == rel) {
            eprintln!(
                "warning: kernel/overlay/{rel} is not in {}; kept as it is",
                dir.display()
            );
        }
    }
    // Commits after the overlay, restricted to upstream files, become the series.
    let patches = kernel_dir().join("patches");
    let _ = fs::remove_dir_all(&patches);
    fs::create_dir_all(&patches)?;
    let mut cmd = git(dir);
    cmd.args([
        "format-patch",
        "-q",
        "--no-signature",
        "--zero-commit",
        "--no-numbered",
        "-o",
    ])
    .arg(&patches)
    .arg("coconut-overlay..HEAD")
    .arg("--")
    .arg(".");
    for rel in added.lines().filter(|l| !l.is_empty()) {
        cmd.arg(format!(":(exclude){rel}"));
    }
    stage::run(&mut cmd)?;
    eprintln!(
        "exported {} overlay files and {} patches into {}",
        overlay_files.len(),
        series()?.len(),
        kernel_dir().display()
    );
    Ok(kernel_dir())
}
