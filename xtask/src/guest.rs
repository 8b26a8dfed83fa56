//! Static builds of the binaries that run inside the guest.
//!
//! They are built with glibc's static libraries (`-C target-feature=+crt-static`) for the
//! explicit host target, so RUSTFLAGS reach only them and not build scripts, into
//! `target/guest/` so host builds keep their cache. The initramfs has no libc and no dynamic
//! loader, so each binary is checked with the `object` crate: an ELF executable without a
//! `PT_INTERP` program header (the loader request of a dynamic executable) and without a
//! `PT_DYNAMIC` segment that names shared libraries.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use object::elf::{FileHeader64, PT_DYNAMIC, PT_INTERP};
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::Endianness;

use crate::paths;
use crate::stage;

/// The triple the guest binaries are built for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Paths of the built guest binaries.
pub struct Binaries {
    /// The in-guest test runner.
    pub tests: PathBuf,
    /// The `coconut` command (crates/coconut-cli), which the runner calls as a user would.
    pub coconut: PathBuf,
    /// `coconutd` (crates/coconutd), PID 1 of the ISO's root filesystems.
    pub coconutd: PathBuf,
    /// `coconut-install` (crates/coconut-install), the ISO's installer.
    pub install: PathBuf,
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
            "--package",
            "coconut-cli",
            "--package",
            "coconutd",
            "--package",
            "coconut-install",
            "--bin",
            "coconutd",
            "--bin",
            "coconut-install",
            "--bin",
            "coconut-guest-tests",
            "--bin",
            "coconut",
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    stage::run(&mut cmd)?;
    let release = target_dir.join(TARGET).join("release");
    let tests = release.join("coconut-guest-tests");
    let coconut = release.join("coconut");
    let coconutd = release.join("coconutd");
    let install = release.join("coconut-install");
    for bin in [&tests, &coconut, &coconutd, &install] {
        let bytes = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
        check_static(&bytes).with_context(|| {
            format!(
                "{} cannot run in the initramfs, which has no libc or dynamic loader",
                bin.display()
            )
        })?;
    }
    Ok(Binaries {
        tests,
        coconut,
        coconutd,
        install,
    })
}

/// Fails unless `elf` is a 64-bit ELF executable that needs no dynamic loader: no `PT_INTERP`
/// program header and no `DT_NEEDED` entry in its dynamic section (a static-pie binary has a
/// `PT_DYNAMIC` for its own relocations, which is fine).
fn check_static(elf: &[u8]) -> Result<()> {
    let header = FileHeader64::<Endianness>::parse(elf).context("not a 64-bit ELF file")?;
    let endian = header.endian().context("ELF byte order")?;
    for segment in header
        .program_headers(endian, elf)
        .context("ELF program headers")?
    {
        match segment.p_type(endian) {
            PT_INTERP => {
                let interp = segment
                    .data(endian, elf)
                    .map(|d| {
                        String::from_utf8_lossy(d)
                            .trim_end_matches('\0')
                            .to_string()
                    })
                    .unwrap_or_default();
                bail!("it is dynamically linked (PT_INTERP requests the loader `{interp}`)");
            }
            PT_DYNAMIC => {
                let entries = segment
                    .dynamic(endian, elf)
                    .context("ELF dynamic section")?
                    .unwrap_or(&[]);
                if entries
                    .iter()
                    .any(|d| d.d_tag(endian) == u64::from(object::elf::DT_NEEDED))
                {
                    bail!("it is dynamically linked (DT_NEEDED names shared libraries)");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_check_refuses_a_dynamic_executable_and_garbage() {
        // This test binary itself is dynamically linked against glibc.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = check_static(&me).unwrap_err().to_string();
        assert!(err.contains("PT_INTERP"), "{err}");
        assert!(check_static(b"#!/bin/sh\n").is_err());
    }
}
