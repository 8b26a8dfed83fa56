//! The post-build checks of our kernel Rust objects, driven by the tree and by data, not by hand
//! lists. For every directory in `rust-dirs` of kernel/kernel.toml, every `<name>.rs` there that
//! Kbuild compiled to `<name>.o`:
//!
//! 1. No forbidden helper: the object's undefined symbols must not name a helper of float or
//!    128-bit arithmetic, as listed by the tree's own `rust/compiler_builtins.rs`.
//! 2. Bounded stack frames: no function's `sub $N, %rsp` above `checks.stack-frame-bound` of
//!    kernel/kernel.toml (1024 bytes) unless kernel/checks/stack-frames.txt lists it with its own
//!    bound and a reason; the five largest frames are always printed, and an exception no longer
//!    needed is named with a warning.
//! 3. The panic inventory: the `(panic symbol, function)` pairs the objects' relocations name
//!    must equal kernel/checks/panic-allowlist-<config>.txt: a new pair fails (a new reachable
//!    panic), a stale pair fails (delete the line; the list only shrinks). `--update-allowlist`
//!    or `COCONUT_UPDATE_ALLOWLIST=1` rewrites the file instead. The list is per configuration
//!    because the configs optimise differently (`qemu`: `-Os`; `generic`: defconfig's `-O2`),
//!    so the same panics are inlined into different functions.
//!
//! The parsing is in [`super::objects`]; this module runs `llvm-nm`/`llvm-objdump` and reads
//! the lists.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::objects::{self, PanicRef};
use super::{kernel_dir, Built, KernelToml};
use crate::stage;

/// `[checks]` of kernel/kernel.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChecksToml {
    /// The largest stack frame a function may have, in bytes.
    pub stack_frame_bound: u64,
}

/// The `.rs` files directly in `dir` of the tree (each one a Kbuild Rust object), relative to
/// `dir`, sorted. Files in subdirectories are included by these, not compiled on their own.
pub fn rust_sources(src: &Path, dir: &str) -> Result<Vec<PathBuf>> {
    let path = src.join(dir);
    let mut out = Vec::new();
    for entry in fs::read_dir(&path)
        .with_context(|| format!("{} is missing from the tree", path.display()))?
    {
        let entry = entry?;
        let p = entry.path();
        if p.is_file() && p.extension().is_some_and(|e| e == "rs") {
            out.push(PathBuf::from(entry.file_name()));
        }
    }
    out.sort();
    Ok(out)
}

/// The Rust objects of every kernel Rust directory in `built`.
pub fn rust_objects(toml: &KernelToml, built: &Built) -> Result<Vec<PathBuf>> {
    let mut objects = Vec::new();
    for dir in &toml.rust_dirs {
        let sources = rust_sources(&built.src, dir)?;
        if sources.is_empty() {
            bail!("kernel/kernel.toml lists rust-dir {dir}, but the tree has no .rs file there");
        }
        for rs in sources {
            let obj = built.build.join(dir).join(rs.with_extension("o"));
            if !obj.exists() {
                bail!(
                    "{} was not built from {dir}/{}: is its Kconfig option on in this config?",
                    obj.display(),
                    rs.display()
                );
            }
            objects.push(obj);
        }
    }
    Ok(objects)
}

/// Runs the three checks over the Rust objects of `built`.
pub fn run(toml: &KernelToml, config: &str, built: &Built, update_allowlist: bool) -> Result<()> {
    let objects = rust_objects(toml, built)?;
    let builtins = built.src.join("rust/compiler_builtins.rs");
    let helpers = objects::forbidden_helpers(
        &fs::read_to_string(&builtins)
            .with_context(|| format!("cannot read {}", builtins.display()))?,
    )?;
    let mut frames = BTreeMap::new();
    let mut panics = BTreeMap::new();
    let mut problems = Vec::new();
    for obj in &objects {
        let nm = stage::output(Command::new("llvm-nm").arg("--undefined-only").arg(obj))?;
        let undefined: Vec<&str> = nm
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        for (sym, h) in objects::helper_calls(&undefined, &helpers) {
            problems.push(format!(
                "{} calls `{sym}`, which rust/compiler_builtins.rs turns into a panic ({}): no floats or 128-bit integers in kernel Rust",
                obj.display(),
                h.reason
            ));
        }
        let dump = stage::output(
            Command::new("llvm-objdump")
                .args(["-dr", "--no-show-raw-insn"])
                .arg(obj),
        )?;
        frames.extend(objects::stack_frames(&dump));
        for (func, syms) in objects::panic_references(&dump) {
            panics
                .entry(func)
                .or_insert_with(BTreeSet::new)
                .extend(syms);
        }
    }
    eprintln!(
        "    {} objects, {} functions, {} forbidden helpers (from rust/compiler_builtins.rs)",
        objects.len(),
        frames.len(),
        helpers.len()
    );

    let bound = toml.checks.stack_frame_bound;
    eprintln!("    largest stack frames (bound {bound} bytes):");
    for (func, size) in objects::largest_frames(&frames, 5) {
        eprintln!("      {size:>6}  {func}");
    }
    let exceptions_path = kernel_dir().join("checks/stack-frames.txt");
    let exceptions = objects::parse_frame_exceptions(
        &fs::read_to_string(&exceptions_path)
            .with_context(|| format!("cannot read {}", exceptions_path.display()))?,
    )
    .with_context(|| format!("{} is not valid", exceptions_path.display()))?;
    let frame_check = objects::check_frames(&frames, bound, &exceptions);
    for line in &frame_check.stale {
        eprintln!("    warning: {line}");
    }
    problems.extend(frame_check.problems);

    let found = objects::inventory(&panics);
    let allow_path = kernel_dir().join(format!("checks/panic-allowlist-{config}.txt"));
    let allowed = objects::parse_allowlist(&fs::read_to_string(&allow_path).unwrap_or_default())
        .with_context(|| format!("{} is not valid", allow_path.display()))?;
    let diff = objects::diff_allowlist(&found, &allowed);
    eprintln!(
        "    {} functions reference panic symbols ({} pairs; {} listed in {})",
        panics.len(),
        found.len(),
        allowed.len(),
        allow_path.display()
    );
    if update_allowlist {
        if !diff.is_empty() {
            fs::write(&allow_path, objects::render_allowlist(&found))?;
            eprintln!(
                "    rewrote {}: {} pairs added, {} removed",
                allow_path.display(),
                diff.new.len(),
                diff.stale.len()
            );
        }
    } else {
        problems.extend(allowlist_problems(&diff, &allow_path));
    }

    if !problems.is_empty() {
        bail!(
            "the kernel's Rust objects fail {} check(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn allowlist_problems(diff: &objects::AllowlistDiff, list: &Path) -> Vec<String> {
    let line = |(sym, func): &PanicRef| format!("{sym} {func}");
    let list = list
        .strip_prefix(crate::paths::root())
        .unwrap_or(list)
        .display();
    let mut out = Vec::new();
    for pair in &diff.new {
        out.push(format!(
            "new panic reference: `{}` references `{}` (not in {list}: remove the panic, or if it is unreachable add the line `{}`)",
            pair.1,
            pair.0,
            line(pair)
        ));
    }
    for pair in &diff.stale {
        out.push(format!(
            "`{}` no longer references `{}`: delete the line `{}` from {list} (or run with --update-allowlist)",
            pair.1,
            pair.0,
            line(pair)
        ));
    }
    out
}
