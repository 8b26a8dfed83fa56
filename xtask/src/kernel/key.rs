//! The cache key of a kernel build: a BLAKE3 hash of every input, so an unchanged run skips
//! `make` and a changed input never reuses a stale build.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};

use super::config::ConfigToml;
use super::upstream::Upstream;
use super::{files_under, kernel_dir, series, shared_crates, PIPELINE_VERSION};
use crate::setup;
use crate::stage;

/// Hashes the tarball's sha256, the configuration, every patch, overlay file and shared crate
/// source, and the toolchain versions.
pub fn cache_key(
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
    for patch in series::series()? {
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
