//! The patch series and the overlay: the series is applied with `patch -p1` to copies of the
//! pristine files in a staging directory, then the overlay and the shared crates are laid over
//! it. The tree itself is only touched by [`super::sync`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::sync::pristine;
use super::upstream::Upstream;
use super::{copy_into, files_under, kernel_dir, shared_crates, SHARED_DIR};

/// The patch series in order: kernel/patches/*.patch sorted by name (they are numbered).
pub fn series() -> Result<Vec<PathBuf>> {
    let dir = kernel_dir().join("patches");
    let mut list: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    list.sort();
    Ok(list)
}

/// Paths a patch modifies (its `+++ b/…` lines).
pub fn patch_targets(patch: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(patch)?;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("+++ b/") {
            out.push(rest.split('\t').next().unwrap_or(rest).to_string());
        } else if line.starts_with("+++ /dev/null") {
            bail!("{}: patches must not delete files", patch.display());
        }
    }
    if out.is_empty() {
        bail!(
            "{} touches no files (is it a unified diff with a/ b/ prefixes?)",
            patch.display()
        );
    }
    Ok(out)
}

/// Applies the series to copies of the pristine files in a staging directory.
pub fn apply_series(u: &Upstream) -> Result<PathBuf> {
    apply_patches(u, &series()?)
}

fn apply_patches(u: &Upstream, patches: &[PathBuf]) -> Result<PathBuf> {
    let staging = u.dir.with_file_name("staging");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    for patch in patches {
        for rel in patch_targets(patch)? {
            let dest = staging.join(&rel);
            if dest.exists() {
                continue;
            }
            if let Some(data) = pristine(&u.dir, &rel)? {
                fs::create_dir_all(dest.parent().unwrap_or(&staging))?;
                fs::write(&dest, data)?;
            }
        }
        let out = Command::new("patch")
            .args([
                "-p1",
                "--batch",
                "--forward",
                "--no-backup-if-mismatch",
                "--reject-file=-",
                "-d",
            ])
            .arg(&staging)
            .arg("-i")
            .arg(patch)
            .output()
            .context("cannot run `patch`")?;
        if !out.status.success() {
            bail!(
                "patch {} does not apply to Linux {}:\n{}{}\nrebase it in a hacking tree: cargo xtask kernel tree, then cargo xtask kernel export",
                patch.file_name().unwrap_or_default().to_string_lossy(),
                u.version,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!(
        "    {} patches applied to Linux {}",
        patches.len(),
        u.version
    );
    Ok(staging)
}

/// Copies the overlay and the shared Rust crates into the staging directory.
pub fn lay_overlay(staging: &Path) -> Result<()> {
    let overlay = kernel_dir().join("overlay");
    let files = files_under(&overlay)?;
    for rel in &files {
        copy_into(&overlay.join(rel), &staging.join(rel))?;
    }
    let crates = shared_crates()?;
    for (dir, ident) in &crates {
        for rel in files_under(&dir.join("src"))? {
            copy_into(
                &dir.join("src").join(&rel),
                &staging.join(SHARED_DIR).join(ident).join(&rel),
            )?;
        }
    }
    eprintln!(
        "    {} overlay files, shared crates: {}",
        files.len(),
        crates
            .iter()
            .map(|(_, i)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-series-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn patch_targets_reads_plus_lines_and_refuses_deletions() {
        let dir = tmp("targets");
        let p = dir.join("1.patch");
        fs::write(&p, "Subject: x\n---\n--- a/x/y.c\n+++ b/x/y.c\t2026-01-01\n@@ -1 +1 @@\n-a\n+b\n--- a/z\n+++ b/z\n").unwrap();
        assert_eq!(
            patch_targets(&p).unwrap(),
            vec!["x/y.c".to_string(), "z".to_string()]
        );
        fs::write(&p, "--- a/x\n+++ /dev/null\n").unwrap();
        assert!(patch_targets(&p)
            .unwrap_err()
            .to_string()
            .contains("must not delete"));
        fs::write(&p, "just text\n").unwrap();
        assert!(patch_targets(&p)
            .unwrap_err()
            .to_string()
            .contains("touches no files"));
    }

    #[test]
    fn a_patch_that_does_not_apply_is_named() {
        let root = tmp("apply");
        let src = root.join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("f.txt"), "one\ntwo\nthree\n").unwrap();
        let good = root.join("0001-good.patch");
        fs::write(
            &good,
            "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n",
        )
        .unwrap();
        let bad = root.join("0002-stale.patch");
        fs::write(
            &bad,
            "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n uno\n-dos\n+DOS\n tres\n",
        )
        .unwrap();
        let u = Upstream {
            tarball: PathBuf::new(),
            sha256: String::new(),
            version: "6.12.999".into(),
            dir: src.clone(),
        };
        let staging = apply_patches(&u, std::slice::from_ref(&good)).unwrap();
        assert_eq!(
            fs::read_to_string(staging.join("f.txt")).unwrap(),
            "one\nTWO\nthree\n"
        );
        let err = apply_patches(&u, &[good, bad]).unwrap_err().to_string();
        assert!(
            err.contains("patch 0002-stale.patch does not apply to Linux 6.12.999"),
            "{err}"
        );
        // The tree itself is untouched: patches go to the staging copy.
        assert_eq!(
            fs::read_to_string(src.join("f.txt")).unwrap(),
            "one\ntwo\nthree\n"
        );
    }
}
