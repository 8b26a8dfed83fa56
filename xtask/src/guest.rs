//! Static builds of the binaries that run inside the guest.
//!
//! They are built with glibc's static libraries (`-C target-feature=+crt-static`) for the
//! explicit host target, so RUSTFLAGS reach only them and not build scripts, into
//! `target/guest/` so host builds keep their cache.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Result};

use crate::paths;
use crate::stage;

/// The triple the guest binaries are built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Paths of the built guest binaries.
pub struct Binaries {
    /// The in-guest test runner.
    pub tests: PathBuf,
}

/// Builds the guest binaries (release, static).
pub fn build() -> Result<Binaries> {
    let target_dir = paths::target().join("guest");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(paths::root())
        .args([
            "build",
            "--release",
            "--package",
            "coconut-guest-tests",
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    stage::run(&mut cmd)?;
    let tests = target_dir
        .join(TARGET)
        .join("release")
        .join("coconut-guest-tests");
    let file = stage::output(Command::new("file").arg(&tests)).unwrap_or_default();
    if file.contains("dynamically linked") {
        bail!(
            "{} is dynamically linked; the initramfs has no libc",
            tests.display()
        );
    }
    Ok(Binaries { tests })
}
