//! `cargo xtask kernel`: the kernel fork, from upstream tarball + patch series + overlay + config
//! fragments to a `bzImage`.
//!
//! Pipeline: host tools → upstream (unpack once per tarball) → cache key → patch series →
//! overlay → config → build → checks. The unpacked tree and the build output live in the cache
//! (see [`crate::paths::cache`]), keyed by the tarball's sha256; the last successful build of each
//! configuration records a BLAKE3 hash of every input (tarball, patches, overlay, shared Rust core
//! sources, config fragments, toolchain versions). An unchanged second run returns at once; a
//! changed input re-syncs the tree writing only files whose content changed, so `make` rebuilds
//! incrementally and never from stale sources.
//!
//! `--tree` makes a git tree with the series applied for hacking; `--export` turns the commits
//! and new files in such a tree back into `kernel/patches/` and `kernel/overlay/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::paths;
use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};

/// Bumped when the pipeline itself changes in a way that must invalidate cached builds.
const PIPELINE_VERSION: &str = "1";

/// Where shared no_std crates are laid inside the kernel tree (see docs/ARCHITECTURE.md).
const SHARED_DIR: &str = "kernel/agent/shared";

/// Arguments of `cargo xtask kernel`.
#[derive(clap::Args)]
pub struct Args {
    /// Kernel configuration, from kernel/kernel.toml (`qemu`: small, for tests; `generic`: bare metal).
    #[arg(long, default_value = "qemu")]
    pub config: String,
    /// Build from this 6.12.y tarball instead of Debian's linux-source-6.12 (needs --sha256).
    #[arg(long, value_name = "TARBALL", requires = "sha256")]
    pub upstream: Option<PathBuf>,
    /// Expected sha256 of the --upstream tarball.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Parallel make jobs (default: the number of CPUs).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Instead of building, write a git tree with the series applied to DIR, for hacking
    /// (default DIR: <cache>/kernel-tree). Edit and commit there, then run --export.
    #[arg(long, value_name = "DIR", num_args = 0..=1, conflicts_with = "export")]
    pub tree: Option<Option<PathBuf>>,
    /// Turn the commits and new files of a hacking tree (made by --tree) back into
    /// kernel/patches/ and kernel/overlay/.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub export: Option<Option<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KernelToml {
    upstream: UpstreamToml,
    shared_crates: Vec<String>,
    configs: BTreeMap<String, ConfigToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct UpstreamToml {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    #[allow(dead_code)]
    description: String,
    base: String,
    fragments: Vec<String>,
}

/// The resolved upstream source.
struct Upstream {
    tarball: PathBuf,
    sha256: String,
    version: String,
    /// The unpacked tree, `<cache>/kernel/linux-<version>-<sha12>/src`.
    dir: PathBuf,
}

fn kernel_dir() -> PathBuf {
    paths::root().join("kernel")
}

fn load_toml() -> Result<KernelToml> {
    let path = kernel_dir().join("kernel.toml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

/// `cargo xtask kernel`: builds and returns the bzImage path.
pub fn run(args: &Args) -> Result<PathBuf> {
    if let Some(dir) = &args.tree {
        let dir = dir
            .clone()
            .unwrap_or_else(|| paths::cache().join("kernel-tree"));
        make_tree(args, &dir)?;
        return Ok(dir);
    }
    if let Some(dir) = &args.export {
        let dir = dir
            .clone()
            .unwrap_or_else(|| paths::cache().join("kernel-tree"));
        export_tree(&dir)?;
        return Ok(kernel_dir());
    }
    build(args)
}

/// Builds the kernel of a named configuration from the default upstream and returns the
/// bzImage path (what `test`, `qemu` and `bench --vm` boot).
pub fn build_config(config: &str) -> Result<PathBuf> {
    build(&Args {
        config: config.to_string(),
        upstream: None,
        sha256: None,
        jobs: None,
        tree: None,
        export: None,
    })
}

/// Builds the kernel for `args.config` and returns the absolute bzImage path.
pub fn build(args: &Args) -> Result<PathBuf> {
    let toml = load_toml()?;
    let config = toml.configs.get(&args.config).ok_or_else(|| {
        anyhow!(
            "unknown kernel config `{}`; kernel/kernel.toml defines: {}",
            args.config,
            toml.configs.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let mut p = Pipeline::new("kernel", 8);
    p.stage("host tools", || setup::ensure(&[Need::Kernel], true))?;
    let tc = setup::kernel_toolchain();
    let upstream = p.stage("upstream source", || upstream(args, &toml.upstream))?;
    let build_dir = upstream
        .dir
        .with_file_name(format!("build-{}", args.config));
    let stamp = upstream
        .dir
        .with_file_name(format!("stamp-{}", args.config));
    let bzimage = build_dir.join("arch/x86/boot/bzImage");

    let key = p.stage("cache key", || {
        cache_key(&upstream, &args.config, config, &tc)
    })?;
    if bzimage.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) {
        eprintln!("    kernel is up to date (inputs unchanged since the last build)");
        p.finish();
        return Ok(bzimage);
    }
    // A failed or interrupted build must not look finished.
    let _ = fs::remove_file(&stamp);

    let staging = p.stage("patch series", || apply_series(&upstream))?;
    p.stage("overlay", || lay_overlay(&staging))?;
    p.stage("sync tree", || sync_tree(&upstream.dir, &staging))?;
    fs::create_dir_all(&build_dir)?;
    p.stage("config", || {
        configure(&upstream.dir, &build_dir, config, &tc)
    })?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    p.stage("build bzImage", || {
        make_bzimage(&upstream.dir, &build_dir, &tc, jobs)
    })?;
    check_no_forbidden_helpers(&build_dir)?;
    fs::write(&stamp, &key)?;
    p.finish();
    Ok(bzimage)
}

fn make_cmd(src: &Path, build: &Path, tc: &setup::KernelToolchain) -> Command {
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
        .arg(format!("BINDGEN={}", tc.bindgen.display()));
    cmd
}

// ---------------------------------------------------------------------------------------------
// Upstream.

fn upstream(args: &Args, u: &UpstreamToml) -> Result<Upstream> {
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
            "    warning: {} is Linux {version} (sha256 {}), the series was last rebased on {}; it may not apply",
            tarball.display(),
            &sha[..12],
            u.known_good.version
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
fn tree_version(dir: &Path) -> Result<String> {
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
    let sha = hex(&hasher.finalize());
    fs::create_dir_all(memo.parent().unwrap_or(Path::new(".")))?;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&memo)?;
    writeln!(f, "{id} {sha}")?;
    Ok(sha)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Inputs and the cache key.

/// The patch series in order: kernel/patches/*.patch sorted by name (they are numbered).
fn series() -> Result<Vec<PathBuf>> {
    let dir = kernel_dir().join("patches");
    let mut list: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    list.sort();
    Ok(list)
}

/// Files of a directory tree, relative paths sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            out.push(entry.path().strip_prefix(dir)?.to_path_buf());
        }
    }
    Ok(out)
}

/// The shared no_std crates compiled into the kernel: `(crate dir, identifier)`, from the
/// `shared-crates` list of kernel/kernel.toml.
pub fn shared_crates() -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for name in load_toml()?.shared_crates {
        let dir = paths::root().join("crates").join(&name);
        if !dir.join("src/lib.rs").exists() {
            bail!(
                "kernel/kernel.toml names shared crate `{name}`, but {}/src/lib.rs does not exist",
                dir.display()
            );
        }
        out.push((dir, name.replace('-', "_")));
    }
    Ok(out)
}

fn cache_key(
    u: &Upstream,
    name: &str,
    config: &ConfigToml,
    tc: &setup::KernelToolchain,
) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut feed = |label: &str, data: &[u8]| {
        h.update(label.as_bytes());
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    };
    feed("pipeline", PIPELINE_VERSION.as_bytes());
    feed("tarball", u.sha256.as_bytes());
    feed("config-name", name.as_bytes());
    feed("config-base", config.base.as_bytes());
    for frag in &config.fragments {
        let path = kernel_dir().join("configs").join(frag);
        feed(
            frag,
            &fs::read(&path)
                .with_context(|| format!("config fragment {} is missing", path.display()))?,
        );
    }
    for patch in series()? {
        feed(&patch.display().to_string(), &fs::read(&patch)?);
    }
    let overlay = kernel_dir().join("overlay");
    for rel in files_under(&overlay)? {
        feed(&rel.display().to_string(), &fs::read(overlay.join(&rel))?);
    }
    for (dir, ident) in shared_crates()? {
        for rel in files_under(&dir.join("src"))? {
            feed(
                &format!("{ident}/{}", rel.display()),
                &fs::read(dir.join("src").join(&rel))?,
            );
        }
    }
    let rustc = stage::output(Command::new(&tc.rustc).arg("--version"))?;
    let clang = stage::output(Command::new("clang").arg("--version"))?;
    let bindgen = stage::output(Command::new(&tc.bindgen).arg("--version"))?;
    feed("rustc", rustc.as_bytes());
    feed("clang", clang.as_bytes());
    feed("bindgen", bindgen.as_bytes());
    eprintln!(
        "    toolchain: {} | {} | {}",
        rustc.trim(),
        clang.lines().next().unwrap_or("").trim(),
        bindgen.trim()
    );
    Ok(h.finalize().to_hex().to_string())
}

// ---------------------------------------------------------------------------------------------
// Patch series, overlay, and syncing the tree.

/// Paths a patch modifies (its `+++ b/…` lines).
fn patch_targets(patch: &Path) -> Result<Vec<String>> {
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

/// Where the pristine versions of the files we manage are kept, next to the tree.
fn orig_dir(src: &Path) -> PathBuf {
    src.with_file_name("orig")
}

/// The pristine content of `rel` (None if upstream has no such file).
fn pristine(src: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let saved = orig_dir(src).join(rel);
    let absent = orig_dir(src).join(format!("{rel}.coconut-absent"));
    if absent.exists() {
        return Ok(None);
    }
    if saved.exists() {
        return Ok(Some(fs::read(saved)?));
    }
    // Not managed yet: the tree's file is still the upstream one.
    match fs::read(src.join(rel)) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Applies the series to copies of the pristine files in a staging directory.
fn apply_series(u: &Upstream) -> Result<PathBuf> {
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
                "patch {} does not apply to Linux {}:\n{}{}\nrebase it in a hacking tree: cargo xtask kernel --tree, then --export",
                patch.file_name().unwrap_or_default().to_string_lossy(),
                u.version,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!("    {} patches applied", patches.len());
    Ok(staging)
}

/// Copies the overlay and the shared Rust crates into the staging directory.
fn lay_overlay(staging: &Path) -> Result<()> {
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

fn copy_into(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Makes the tree equal to upstream + staging, writing only files whose content differs.
fn sync_tree(src: &Path, staging: &Path) -> Result<()> {
    let managed_list = src.with_file_name("managed.txt");
    let previous: BTreeSet<String> = fs::read_to_string(&managed_list)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let wanted: BTreeSet<String> = files_under(staging)?
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let orig = orig_dir(src);
    let (mut written, mut restored) = (0, 0);
    for rel in &wanted {
        // Remember the pristine state before we first touch a file.
        if !previous.contains(rel) {
            let target = src.join(rel);
            if target.exists() {
                copy_into(&target, &orig.join(rel))?;
            } else {
                let marker = orig.join(format!("{rel}.coconut-absent"));
                fs::create_dir_all(marker.parent().unwrap_or(&orig))?;
                fs::write(marker, b"")?;
            }
        }
        let new = fs::read(staging.join(rel))?;
        if fs::read(src.join(rel)).ok().as_deref() != Some(new.as_slice()) {
            if let Some(parent) = src.join(rel).parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(src.join(rel), &new)?;
            written += 1;
        }
    }
    for rel in previous.difference(&wanted) {
        match pristine(src, rel)? {
            Some(data) => fs::write(src.join(rel), data)?,
            None => {
                let _ = fs::remove_file(src.join(rel));
            }
        }
        let _ = fs::remove_file(orig.join(rel));
        let _ = fs::remove_file(orig.join(format!("{rel}.coconut-absent")));
        restored += 1;
    }
    let mut list = String::new();
    for rel in &wanted {
        list.push_str(rel);
        list.push('\n');
    }
    fs::write(&managed_list, list)?;
    eprintln!(
        "    {} files managed, {written} rewritten, {restored} restored to upstream",
        wanted.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Configuration and build.

fn configure(
    src: &Path,
    build: &Path,
    config: &ConfigToml,
    tc: &setup::KernelToolchain,
) -> Result<()> {
    // Generate in a scratch output directory so the real build's .config changes only when the
    // result differs (Kbuild then rebuilds only what the changed options touch).
    let scratch = build.with_file_name(format!(
        "{}-kconfig",
        build.file_name().unwrap_or_default().to_string_lossy()
    ));
    fs::create_dir_all(&scratch)?;
    // Kconfig's answer depends on the base target, the fragments, the Kconfig files (upstream's
    // are fixed by the tarball, ours are in the managed list) and the toolchain versions.
    let key = config_key(src, config, tc)?;
    let key_file = scratch.join("config-key");
    if build.join(".config").exists()
        && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str())
    {
        eprintln!("    configuration unchanged");
        return Ok(());
    }
    let _ = fs::remove_file(&key_file);
    let log = scratch.join("config.log");
    stage::run_logged(make_cmd(src, &scratch, tc).arg(&config.base), &log)?;
    let mut merge = Command::new(src.join("scripts/kconfig/merge_config.sh"));
    merge
        .current_dir(src)
        .arg("-m")
        .arg("-O")
        .arg(&scratch)
        .arg(scratch.join(".config"));
    let mut fragments = Vec::new();
    for frag in &config.fragments {
        let path = kernel_dir().join("configs").join(frag);
        merge.arg(&path);
        fragments.push(path);
    }
    stage::run_logged(&mut merge, &scratch.join("merge.log"))?;
    stage::run_logged(make_cmd(src, &scratch, tc).arg("olddefconfig"), &log)?;
    let result = fs::read_to_string(scratch.join(".config"))?;
    verify_config(&result, &fragments)?;
    if fs::read_to_string(build.join(".config")).ok().as_deref() != Some(result.as_str()) {
        fs::write(build.join(".config"), &result)?;
        eprintln!("    .config updated");
    }
    fs::write(&key_file, key)?;
    Ok(())
}

/// The inputs of the configuration step, hashed.
fn config_key(src: &Path, config: &ConfigToml, tc: &setup::KernelToolchain) -> Result<String> {
    let mut h = blake3::Hasher::new();
    h.update(PIPELINE_VERSION.as_bytes());
    // The tree's path names the tarball's sha256 (see `upstream`).
    h.update(src.to_string_lossy().as_bytes());
    h.update(config.base.as_bytes());
    for frag in &config.fragments {
        h.update(&fs::read(kernel_dir().join("configs").join(frag))?);
    }
    let managed = fs::read_to_string(src.with_file_name("managed.txt")).unwrap_or_default();
    for rel in managed.lines().filter(|l| {
        l.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("Kconfig"))
    }) {
        h.update(rel.as_bytes());
        h.update(&fs::read(src.join(rel))?);
    }
    for tool in [tc.rustc.as_path(), Path::new("clang"), tc.bindgen.as_path()] {
        h.update(stage::output(Command::new(tool).arg("--version"))?.as_bytes());
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Every option a fragment sets must survive olddefconfig (Kconfig silently drops options whose
/// dependencies are unmet).
fn verify_config(result: &str, fragments: &[PathBuf]) -> Result<()> {
    let have: BTreeSet<&str> = result.lines().collect();
    let mut lost = Vec::new();
    for frag in fragments {
        for line in fs::read_to_string(frag)?.lines() {
            let line = line.trim();
            let wanted = line.starts_with("CONFIG_")
                || (line.starts_with("# CONFIG_") && line.ends_with(" is not set"));
            if wanted && !have.contains(line) {
                let name = line
                    .trim_start_matches("# ")
                    .split(['=', ' '])
                    .next()
                    .unwrap_or(line);
                let got = result
                    .lines()
                    .find(|l| {
                        l.starts_with(&format!("{name}=")) || l.starts_with(&format!("# {name} "))
                    })
                    .unwrap_or("absent");
                lost.push(format!("{}: wants `{line}`, got `{got}`", frag.display()));
            }
        }
    }
    if !lost.is_empty() {
        bail!(
            "Kconfig did not keep these options (unmet dependencies?):\n  {}",
            lost.join("\n  ")
        );
    }
    Ok(())
}

fn make_bzimage(src: &Path, build: &Path, tc: &setup::KernelToolchain, jobs: usize) -> Result<()> {
    let log_path = build.join("make.log");
    let mut log = fs::File::create(&log_path)?;
    let mut cmd = make_cmd(src, build, tc);
    cmd.arg(format!("-j{jobs}"))
        .arg("bzImage")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("    make -j{jobs} bzImage (log: {})", log_path.display());
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
    }
    let _ = t1.join();
    let _ = t2.join();
    let status = child.wait()?;
    if !status.success() {
        drop(log);
        stage::print_tail(&log_path, 40);
        bail!(
            "kernel build failed ({status}); full log: {}",
            log_path.display()
        );
    }
    Ok(())
}

/// The kernel turns the helpers of 128-bit and float arithmetic into panics; our Rust objects
/// must not call any of them.
fn check_no_forbidden_helpers(build: &Path) -> Result<()> {
    const FORBIDDEN: &[&str] = &[
        "__multi3",
        "__udivti3",
        "__umodti3",
        "__divti3",
        "__modti3",
        "__ashlti3",
        "__ashrti3",
        "__lshrti3",
        "__muloti4",
        "__addsf3",
        "__adddf3",
        "__mulsf3",
        "__muldf3",
        "__divsf3",
        "__divdf3",
        "__floatundidf",
        "__fixdfdi",
    ];
    let dir = build.join("kernel/agent");
    let mut objects = Vec::new();
    for entry in fs::read_dir(&dir)
        .with_context(|| format!("{} missing: is CONFIG_COCONUT_AGENT on?", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "o")
            && path.file_name().is_some_and(|n| n != "built-in.o")
        {
            objects.push(path);
        }
    }
    for obj in &objects {
        let syms = stage::output(Command::new("llvm-nm").arg("--undefined-only").arg(obj))?;
        for sym in syms.lines().filter_map(|l| l.split_whitespace().last()) {
            if FORBIDDEN.contains(&sym) {
                bail!("{} calls `{sym}`, which the kernel turns into a panic (no u128/i128/float in kernel Rust)", obj.display());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Hacking tree and export.

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

fn make_tree(args: &Args, dir: &Path) -> Result<()> {
    if dir.exists() {
        bail!(
            "{} already exists; export it (--export) or remove it first",
            dir.display()
        );
    }
    let toml = load_toml()?;
    let mut p = Pipeline::new("kernel tree", 4);
    p.stage("host tools", || setup::ensure(&[Need::Kernel], true))?;
    let upstream = p.stage("upstream source", || upstream(args, &toml.upstream))?;
    p.stage("git import", || {
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
        "hack in {}; commit your changes, then: cargo xtask kernel --export {}",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn export_tree(dir: &Path) -> Result<()> {
    if !dir.join(".git").exists() {
        bail!(
            "{} is not a tree made by `cargo xtask kernel --tree`",
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
    // after --tree ran) stay, with a warning.
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-kernel-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn verify_config_names_dropped_options() {
        let dir = tmp("verify");
        let frag = dir.join("frag.config");
        fs::write(
            &frag,
            "# comment\nCONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n",
        )
        .unwrap();
        let good = "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n";
        verify_config(good, std::slice::from_ref(&frag)).unwrap();
        let bad = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_D=\"x\"\n";
        let err = verify_config(bad, &[frag]).unwrap_err().to_string();
        assert!(
            err.contains("wants `CONFIG_B=y`, got `# CONFIG_B is not set`"),
            "{err}"
        );
        assert!(
            err.contains("wants `# CONFIG_C is not set`, got `CONFIG_C=y`"),
            "{err}"
        );
        assert!(!err.contains("CONFIG_A"), "{err}");
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

    #[test]
    fn sync_tree_writes_changes_only_and_restores_dropped_files() {
        let root = tmp("sync");
        let src = root.join("src");
        fs::create_dir_all(src.join("kernel")).unwrap();
        fs::write(src.join("kernel/Makefile"), "upstream\n").unwrap();
        fs::write(src.join("untouched.c"), "keep\n").unwrap();
        let staging = root.join("staging");
        fs::create_dir_all(staging.join("kernel/agent")).unwrap();
        fs::write(staging.join("kernel/Makefile"), "patched\n").unwrap();
        fs::write(staging.join("kernel/agent/new.c"), "new\n").unwrap();
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::read_to_string(src.join("kernel/Makefile")).unwrap(),
            "patched\n"
        );
        assert_eq!(
            fs::read_to_string(src.join("kernel/agent/new.c")).unwrap(),
            "new\n"
        );

        // A second sync with the same content rewrites nothing (mtime kept).
        let before = fs::metadata(src.join("kernel/Makefile"))
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::metadata(src.join("kernel/Makefile"))
                .unwrap()
                .modified()
                .unwrap(),
            before
        );

        // Dropping both from the staging restores upstream and removes the new file.
        fs::remove_dir_all(&staging).unwrap();
        fs::create_dir_all(&staging).unwrap();
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::read_to_string(src.join("kernel/Makefile")).unwrap(),
            "upstream\n"
        );
        assert!(!src.join("kernel/agent/new.c").exists());
        assert_eq!(
            fs::read_to_string(src.join("untouched.c")).unwrap(),
            "keep\n"
        );
        assert_eq!(
            pristine(&src, "kernel/Makefile").unwrap().as_deref(),
            Some(&b"upstream\n"[..])
        );
    }
}
