//! Where things live: the workspace root, the cache outside the work tree, tool locations.
//!
//! The cache is `$COCONUT_CACHE`, else `$XDG_CACHE_HOME/coconut`, else `~/.cache/coconut`. It holds
//! unpacked kernel trees, kernel build outputs and host tools installed by `cargo xtask setup`,
//! all keyed so that a changed input never reuses a stale result.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn root() -> PathBuf {
    // xtask lives at <root>/xtask, and cargo sets CARGO_MANIFEST_DIR to that directory.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cache directory outside the work tree.
pub fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("COCONUT_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("coconut");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("coconut")
}

/// Host tools installed by `cargo xtask setup` (`cargo install --root`).
pub fn tools() -> PathBuf {
    cache().join("tools")
}

/// The workspace's `target/` directory (logs and images land here).
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}
