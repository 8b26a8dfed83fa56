//! Host set-up: every tool the build needs, checked and installed by the project itself.
//!
//! Debian packages are checked with `dpkg-query` and installed with `apt-get` when we run as
//! root; otherwise the error names the exact `sudo apt-get install …` line. `bindgen` is pinned
//! and installed with `cargo install --locked` into the cache's tools directory.
//!
//! The kernel's Rust is built with Debian's `rustc-web` (+ `rust-web-src`), not rustup's
//! toolchain: rustup here cannot fetch `rust-src`, which the kernel needs to build `core`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths;
use crate::stage;

/// Arguments of `cargo xtask setup`.
#[derive(clap::Args)]
pub struct Args {
    /// Only check; install nothing, fail listing what is missing.
    #[arg(long)]
    pub check: bool,
}

/// What a part of the build needs from the host.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Building the kernel fork.
    Kernel,
    /// Building the initramfs.
    Initramfs,
    /// Booting QEMU.
    Qemu,
}

/// One Debian package and why it is needed.
struct Package {
    name: &'static str,
    why: &'static str,
    needs: &'static [Need],
}

const PACKAGES: &[Package] = &[
    Package {
        name: "clang",
        why: "the kernel is built with LLVM=1",
        needs: &[Need::Kernel],
    },
    Package {
        name: "lld",
        why: "LLVM linker for LLVM=1",
        needs: &[Need::Kernel],
    },
    Package {
        name: "llvm",
        why: "llvm-ar/llvm-nm/llvm-objcopy for LLVM=1",
        needs: &[Need::Kernel],
    },
    Package {
        name: "libclang-dev",
        why: "bindgen needs libclang",
        needs: &[Need::Kernel],
    },
    Package {
        name: "rustc-web",
        why: "the kernel's Rust compiler (1.96, matches rust-web-src)",
        needs: &[Need::Kernel],
    },
    Package {
        name: "rust-web-src",
        why: "Rust standard library source the kernel compiles `core` from",
        needs: &[Need::Kernel],
    },
    Package {
        name: "linux-source-6.12",
        why: "the upstream 6.12 LTS tarball the fork is based on",
        needs: &[Need::Kernel],
    },
    Package {
        name: "flex",
        why: "kconfig lexer",
        needs: &[Need::Kernel],
    },
    Package {
        name: "bison",
        why: "kconfig parser",
        needs: &[Need::Kernel],
    },
    Package {
        name: "bc",
        why: "kernel build arithmetic",
        needs: &[Need::Kernel],
    },
    Package {
        name: "libelf-dev",
        why: "objtool",
        needs: &[Need::Kernel],
    },
    Package {
        name: "libssl-dev",
        why: "kernel signing tools",
        needs: &[Need::Kernel],
    },
    Package {
        name: "make",
        why: "the kernel's build system",
        needs: &[Need::Kernel],
    },
    Package {
        name: "patch",
        why: "applying the patch series",
        needs: &[Need::Kernel],
    },
    Package {
        name: "xz-utils",
        why: "unpacking the upstream tarball",
        needs: &[Need::Kernel],
    },
    Package {
        name: "git",
        why: "the hackable kernel tree (`cargo xtask kernel --tree`)",
        needs: &[Need::Kernel],
    },
    Package {
        name: "busybox-static",
        why: "the initramfs userland",
        needs: &[Need::Initramfs],
    },
    Package {
        name: "libc6-dev",
        why: "static glibc for the guest binaries",
        needs: &[Need::Initramfs],
    },
    Package {
        name: "qemu-system-x86",
        why: "booting the kernel",
        needs: &[Need::Qemu],
    },
];

/// The pinned bindgen the kernel's Rust build uses.
pub const BINDGEN_VERSION: &str = "0.69.5";

/// Paths of the toolchain the kernel build uses.
pub struct KernelToolchain {
    /// Debian's rustc (rustc-web).
    pub rustc: PathBuf,
    /// The pinned bindgen.
    pub bindgen: PathBuf,
}

/// `cargo xtask setup`.
pub fn run(args: &Args) -> Result<()> {
    ensure(&[Need::Kernel, Need::Initramfs, Need::Qemu], !args.check)?;
    eprintln!("host set-up complete");
    Ok(())
}

/// Checks (and unless `check_only`, installs) what `needs` require.
pub fn ensure(needs: &[Need], install: bool) -> Result<()> {
    let missing: Vec<&Package> = PACKAGES
        .iter()
        .filter(|p| p.needs.iter().any(|n| needs.contains(n)))
        .filter(|p| !package_installed(p.name))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
        for p in &missing {
            eprintln!("missing host package {:<18} ({})", p.name, p.why);
        }
        if !install || !is_root() {
            bail!(
                "missing host packages; install them with:\n    sudo apt-get install -y {}",
                names.join(" ")
            );
        }
        eprintln!("==> installing {} with apt-get", names.join(" "));
        apt_install(&names)?;
    }
    if needs.contains(&Need::Kernel) {
        ensure_bindgen(install)?;
    }
    Ok(())
}

/// The kernel toolchain, after [`ensure`] ran for [`Need::Kernel`].
pub fn kernel_toolchain() -> KernelToolchain {
    KernelToolchain {
        rustc: PathBuf::from("/usr/bin/rustc"),
        bindgen: bindgen_path(),
    }
}

fn bindgen_path() -> PathBuf {
    paths::tools().join("bin").join("bindgen")
}

fn ensure_bindgen(install: bool) -> Result<()> {
    let path = bindgen_path();
    if let Ok(out) = stage::output(Command::new(&path).arg("--version")) {
        if out.contains(BINDGEN_VERSION) {
            return Ok(());
        }
        eprintln!(
            "bindgen at {} is `{}`, need {BINDGEN_VERSION}",
            path.display(),
            out.trim()
        );
    }
    let cmd = format!(
        "cargo install --locked bindgen-cli --version {BINDGEN_VERSION} --root {}",
        paths::tools().display()
    );
    if !install {
        bail!("bindgen {BINDGEN_VERSION} is missing; install it with:\n    {cmd}");
    }
    eprintln!("==> installing bindgen {BINDGEN_VERSION} (a few minutes, once)");
    stage::run(
        Command::new("cargo")
            .args([
                "install",
                "--locked",
                "bindgen-cli",
                "--version",
                BINDGEN_VERSION,
                "--root",
            ])
            .arg(paths::tools()),
    )
    .with_context(|| format!("installing bindgen failed; try by hand:\n    {cmd}"))
}

fn package_installed(name: &str) -> bool {
    match Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).contains("install ok installed"),
        Err(_) => false,
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn apt_install(names: &[&str]) -> Result<()> {
    let install = |names: &[&str]| {
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(names)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if install(names) {
        return Ok(());
    }
    // The package lists may be missing or stale on a fresh machine: refresh once and retry.
    stage::run(Command::new("apt-get").arg("update")).context("apt-get update failed")?;
    if !install(names) {
        bail!(
            "apt-get install {} failed (see its output above)",
            names.join(" ")
        );
    }
    Ok(())
}
