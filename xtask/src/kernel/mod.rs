//! `cargo xtask kernel`: the kernel fork, from upstream tarball + patch series + overlay + config
//! fragments to a checked `bzImage`.
//!
//! Pipeline: host tools → [`upstream`] (unpack once per tarball) → [`key`] (cache key) →
//! [`series`] (patch series, overlay) → [`sync`] (the tree) → [`config`] → [`make`] (bzImage) →
//! [`checks`] (the Rust objects). The unpacked tree and the build output live in the cache, in
//! `<cache>/kernel/linux-<sha12>/{src,build-<config>}` (`<cache>` is [`crate::paths::cache`],
//! `<sha12>` the start of the tarball's sha256); the last successful build of each configuration
//! records a BLAKE3 hash of every input (tarball, patches, overlay, shared Rust core sources,
//! config fragments, toolchain versions). An unchanged second run returns at once; a changed
//! input re-syncs the tree writing only files whose content changed, so `make` rebuilds
//! incrementally and never from stale sources.
//!
//! `cargo xtask kernel tree` makes a git tree with the series applied for hacking; `cargo xtask
//! kernel export` turns the commits and new files in such a tree back into `kernel/patches/` and
//! `kernel/overlay/` (see [`tree`]).

pub mod checks;
pub mod config;
pub mod key;
pub mod make;
pub mod objects;
pub mod series;
pub mod sync;
pub mod tree;
pub mod upstream;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::paths;
use crate::setup::{self, Need};
use crate::stage::Pipeline;

/// Bumped when the pipeline itself changes in a way that must invalidate cached builds.
const PIPELINE_VERSION: &str = "3";

/// Where shared no_std crates are laid inside the kernel tree (see docs/ARCHITECTURE.md).
pub const SHARED_DIR: &str = "kernel/agent/shared";

/// Arguments of `cargo xtask kernel`: a verb, or none to build.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    verb: Option<Verb>,
    #[command(flatten)]
    build: BuildArgs,
}

/// What `cargo xtask kernel` does besides building.
#[derive(clap::Subcommand)]
enum Verb {
    /// Write a git tree with the series applied to DIR, for hacking (default DIR:
    /// <cache>/kernel-tree). Edit and commit there, then run `cargo xtask kernel export`.
    Tree(tree::TreeArgs),
    /// Turn the commits and new files of a hacking tree (made by `cargo xtask kernel tree`) back
    /// into kernel/patches/ and kernel/overlay/.
    Export(tree::ExportArgs),
}

/// Which upstream tarball to build from.
#[derive(clap::Args, Clone, Default)]
pub struct UpstreamArgs {
    /// Build from this 6.12.y tarball instead of Debian's linux-source-6.12 (needs --sha256).
    #[arg(long, value_name = "TARBALL", requires = "sha256")]
    pub upstream: Option<PathBuf>,
    /// Expected sha256 of the --upstream tarball.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

/// Arguments of a kernel build.
#[derive(clap::Args, Clone)]
pub struct BuildArgs {
    /// Kernel configuration, from kernel/kernel.toml (`qemu`: small, for tests; `generic`: bare metal).
    #[arg(long, default_value = "qemu")]
    pub config: String,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// Parallel make jobs (default: the number of CPUs).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Rewrite kernel/checks/panic-allowlist-<config>.txt from the built objects instead of failing on a
    /// difference (also: COCONUT_UPDATE_ALLOWLIST=1).
    #[arg(long)]
    pub update_allowlist: bool,
}

impl BuildArgs {
    /// A build of `config` from the default upstream.
    pub fn of_config(config: &str) -> Self {
        BuildArgs {
            config: config.to_string(),
            upstream: UpstreamArgs::default(),
            jobs: None,
            update_allowlist: false,
        }
    }
}

/// kernel/kernel.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KernelToml {
    upstream: upstream::UpstreamToml,
    shared_crates: Vec<String>,
    /// Tree directories holding our Rust objects (checked after each build, clippy'd by lint).
    pub rust_dirs: Vec<String>,
    /// Bounds of the post-build object checks.
    pub checks: checks::ChecksToml,
    configs: BTreeMap<String, config::ConfigToml>,
}

/// The fork's directory in the repository (`kernel/`).
pub fn kernel_dir() -> PathBuf {
    paths::root().join("kernel")
}

/// Reads and validates kernel/kernel.toml.
pub fn load_toml() -> Result<KernelToml> {
    let path = kernel_dir().join("kernel.toml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let toml: KernelToml =
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
    if toml.rust_dirs.is_empty() {
        bail!("{}: rust-dirs lists no directory", path.display());
    }
    Ok(toml)
}

/// `cargo xtask kernel [tree|export]`: builds and returns the bzImage path, or makes/exports a
/// hacking tree and returns its directory.
pub fn run(args: &Args) -> Result<PathBuf> {
    match &args.verb {
        Some(Verb::Tree(t)) => tree::make_tree(t),
        Some(Verb::Export(e)) => tree::export_tree(e),
        None => Ok(build(&args.build)?.bzimage),
    }
}

/// Builds the kernel of a named configuration from the default upstream and returns the
/// bzImage path (what `test`, `qemu` and `bench --vm` boot).
pub fn build_config(config: &str) -> Result<PathBuf> {
    Ok(build(&BuildArgs::of_config(config))?.bzimage)
}

/// What a kernel build produced.
pub struct Built {
    /// The absolute bzImage path.
    pub bzimage: PathBuf,
    /// The unpacked, synced source tree.
    pub src: PathBuf,
    /// The build output directory (`O=`).
    pub build: PathBuf,
    /// The Linux version built.
    pub version: String,
}

/// Builds the kernel for `args.config`, checks its Rust objects, and says where it is.
pub fn build(args: &BuildArgs) -> Result<Built> {
    let toml = load_toml()?;
    let config = toml.configs.get(&args.config).ok_or_else(|| {
        anyhow!(
            "unknown kernel config `{}`; kernel/kernel.toml defines: {}",
            args.config,
            toml.configs.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let mut p = Pipeline::new("kernel", 9);
    p.stage("host tools", || setup::ensure(&[Need::Kernel], true))?;
    let tc = setup::kernel_toolchain();
    let upstream = p.stage("upstream source", || {
        upstream::resolve(&args.upstream, &toml.upstream)
    })?;
    let v = &upstream.version;
    let build_dir = upstream
        .dir
        .with_file_name(format!("build-{}", args.config));
    let stamp = upstream
        .dir
        .with_file_name(format!("stamp-{}", args.config));
    let built = Built {
        bzimage: build_dir.join("arch/x86/boot/bzImage"),
        src: upstream.dir.clone(),
        build: build_dir.clone(),
        version: v.clone(),
    };

    let key = p.stage(&format!("cache key (Linux {v})"), || {
        key::cache_key(&upstream, &args.config, config, &tc)
    })?;
    let update = args.update_allowlist || std::env::var_os("COCONUT_UPDATE_ALLOWLIST").is_some();
    if built.bzimage.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) {
        eprintln!(
            "    Linux {v} ({} config) is up to date (inputs unchanged since the last build)",
            args.config
        );
        // The checks are cheap and their lists (kernel/checks/) are not in the cache key.
        p.stage(&format!("object checks (Linux {v})"), || {
            checks::run(&toml, &args.config, &built, update)
        })?;
        p.finish();
        return Ok(built);
    }
    // A failed or interrupted build must not look finished.
    let _ = fs::remove_file(&stamp);

    let staging = p.stage("patch series", || series::apply_series(&upstream))?;
    p.stage("overlay", || series::lay_overlay(&staging))?;
    p.stage("sync tree", || sync::sync_tree(&upstream.dir, &staging))?;
    fs::create_dir_all(&build_dir)?;
    p.stage("config", || {
        config::configure(&upstream.dir, &build_dir, config, &tc)
    })?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    p.stage(
        &format!("build bzImage (Linux {v}, {} config)", args.config),
        || make::make_bzimage(&upstream.dir, &build_dir, &tc, jobs),
    )?;
    p.stage(&format!("object checks (Linux {v})"), || {
        checks::run(&toml, &args.config, &built, update)
    })?;
    fs::write(&stamp, &key)?;
    p.finish();
    Ok(built)
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

/// Files of a directory tree, relative paths sorted.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
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

/// Copies one file, creating the destination's directories.
pub fn copy_into(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_toml_parses_and_names_rust_dirs() {
        let toml = load_toml().unwrap();
        assert!(toml.rust_dirs.iter().any(|d| d == "kernel/agent"));
        assert!(toml.configs.contains_key("qemu"));
    }
}
