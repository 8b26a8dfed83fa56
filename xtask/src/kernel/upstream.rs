//! The upstream source: the 6.12.y tarball, checked against kernel/kernel.toml, unpacked once per
//! tarball into `<cache>/kernel/linux-<sha12>/src`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;

use super::UpstreamArgs;
use crate::paths;
use crate::stage;

/// `[upstream]` of kernel/kernel.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamToml {
    series: String,
    tarball: PathBuf,
    debian_package: String,
    known_good: KnownGood,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownGood {
    version: String,
    sha256: String,
}

/// The resolved upstream source.
pub struct Upstream {
    /// The tarball it was unpacked from.
    pub tarball: PathBuf,
    /// The tarball's sha256 (hex).
    pub sha256: String,
    /// `VERSION.PATCHLEVEL.SUBLEVEL` of the tree.
    pub version: String,
    /// The unpacked tree, `<cache>/kernel/linux-<sha12>/src`.
    pub dir: PathBuf,
}

/// Finds, verifies and (once) unpacks the upstream tarball.
pub fn resolve(args: &UpstreamArgs, u: &UpstreamToml) -> Result<Upstream> {
    let (tarball, expected) = match &args.upstream {
        Some(path) => (path.clone(), args.sha256.clone()),
        None => (u.tarball.clone(), None),
    };
    if !tarball.exists() {
        bail!(
            "upstream tarball {} is missing; install Debian's `{}` package (cargo xtask setup) or pass --upstream PATH --sha256 HEX",
            tarball.display(),
            u.debian_package
        );
    }
    let sha = sha256_cached(&tarball)?;
    if let Some(expected) = expected {
        if !sha.eq_ignore_ascii_case(expected.trim()) {
            bail!(
                "{} has sha256 {sha}, but --sha256 said {expected}",
                tarball.display()
            );
        }
    }
    let base = paths::cache().join("kernel");
    fs::create_dir_all(&base)?;
    let root = base.join(format!("linux-{}", &sha[..12]));
    let dir = root.join("src");
    if !dir.join("Makefile").exists() {
        eprintln!("    unpacking {} (once per tarball)", tarball.display());
        let tmp = root.join("unpack.tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        stage::run(
            Command::new("tar")
                .arg("-xf")
                .arg(&tarball)
                .arg("-C")
                .arg(&tmp),
        )?;
        let top = fs::read_dir(&tmp)?
            .filter_map(|e| e.ok())
            .find(|e| e.path().join("Makefile").exists())
            .ok_or_else(|| anyhow!("{} does not contain a kernel tree", tarball.display()))?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(top.path(), &dir)?;
        let _ = fs::remove_dir_all(&tmp);
    }
    let version = tree_version(&dir)?;
    let wanted = format!("{}.", u.series);
    if !version.starts_with(&wanted) {
        bail!(
            "{} holds Linux {version}, but the fork is based on the {} series; use a {}.y tarball",
            tarball.display(),
            u.series,
            u.series
        );
    }
    if args.upstream.is_none() && sha != u.known_good.sha256 {
        eprintln!(
            "    warning: building Linux {version}, but the series was last rebased on Linux {} \
             (known-good in kernel/kernel.toml); {} has sha256 {sha}.\n    \
             If the series applies and `cargo xtask test` passes, record this tarball as \
             known-good: version = \"{version}\", sha256 = \"{sha}\".",
            u.known_good.version,
            tarball.display(),
        );
    }
    eprintln!("    Linux {version} at {}", dir.display());
    Ok(Upstream {
        tarball,
        sha256: sha,
        version,
        dir,
    })
}

/// The `VERSION.PATCHLEVEL.SUBLEVEL` of an unpacked tree.
pub fn tree_version(dir: &Path) -> Result<String> {
    let makefile = fs::read_to_string(dir.join("Makefile"))?;
    let field = |name: &str| {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|v| v.trim().to_string())
            })
            .ok_or_else(|| anyhow!("the tree's Makefile has no {name}"))
    };
    Ok(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

/// sha256 of a file, remembered by (path, size, mtime) so a 150 MB tarball is hashed once.
fn sha256_cached(path: &Path) -> Result<String> {
    use sha2::Digest;
    let meta = fs::metadata(path)?;
    let mtime = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let id = format!("{}:{}:{}", path.display(), meta.len(), mtime);
    let memo = paths::cache().join("kernel").join("tarball-sha256.txt");
    if let Ok(text) = fs::read_to_string(&memo) {
        if let Some(sha) = text.lines().find_map(|l| l.strip_prefix(&format!("{id} "))) {
            return Ok(sha.to_string());
        }
    }
    let mut hasher = sha2::Sha256::new();
    let mut file = fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    let sha = hex::encode(hasher.finalize());
    fs::create_dir_all(memo.parent().unwrap_or(Path::new(".")))?;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&memo)?;
    writeln!(f, "{id} {sha}")?;
    Ok(sha)
}
