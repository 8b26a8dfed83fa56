//! Host set-up: every tool the build needs, checked and installed by the project itself.
//!
//! Debian packages are checked with `dpkg-query` and installed with `apt-get` when we run as
//! root; otherwise the error names the exact `sudo apt-get install …` line. The host must be
//! Debian 12: on another system a missing package is reported as that, not as a list of Debian
//! package names. `bindgen` is pinned and installed with `cargo install --locked` into the
//! cache's tools directory.
//!
//! The kernel's Rust is built with Debian's `rustc-web` (1.96, + `rust-web-src`), not rustup's
//! toolchain: rustup here cannot fetch `rust-src`, which the kernel needs to build `core`. The
//! kernel's `CLIPPY=1` uses the matching `rust-web-clippy`.

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
    /// The workspace's host tests (`cargo test --workspace`).
    HostTests,
    /// Building the ISO (`cargo xtask iso`) and booting it (`--image` tests).
    Image,
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
        why: "llvm-ar/llvm-nm/llvm-objcopy for LLVM=1, llvm-objdump for the object checks",
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
        name: "rust-web-clippy",
        why: "clippy-driver for the kernel's CLIPPY=1 (matches rustc-web)",
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
    // coconut-shell (host tier: `cargo test --workspace` builds and runs it). Tagged Kernel
    // because the host tier ensures that need; the shell needs no kernel.
    Package {
        name: "libpixman-1-dev",
        why: "coconut-shell links libpixman-1 (smithay's pixman renderer, the headless backend)",
        needs: &[Need::Kernel],
    },
    Package {
        name: "libxkbcommon-dev",
        why: "coconut-shell links libxkbcommon (the seat's keyboard keymaps)",
        needs: &[Need::Kernel],
    },
    Package {
        name: "xkb-data",
        why: "the XKB keymaps coconut-shell's keyboard compiles at start",
        needs: &[Need::Kernel],
    },
    Package {
        name: "fonts-dejavu-core",
        why: "DejaVu Sans, the font of coconut-shell's panel and its reference screenshots",
        needs: &[Need::Kernel],
    },
    Package {
        name: "busybox-static",
        why: "the initramfs userland",
        needs: &[Need::Initramfs, Need::Image],
    },
    Package {
        name: "libc6-dev",
        why: "static glibc for the guest binaries",
        needs: &[Need::Initramfs, Need::Image],
    },
    Package {
        name: "qemu-system-x86",
        why: "booting the kernel",
        needs: &[Need::Qemu, Need::Image],
    },
    Package {
        name: "swtpm",
        why: "a software TPM 2.0: coconutd's TPM tests and the image tier's TPM-sealed audit seed",
        needs: &[Need::HostTests, Need::Image],
    },
    Package {
        name: "mkosi",
        why: "builds the profiles' Debian root trees (mkosi 14)",
        needs: &[Need::Image],
    },
    Package {
        name: "debootstrap",
        why: "mkosi's Debian installer",
        needs: &[Need::Image],
    },
    Package {
        name: "systemd-container",
        why: "systemd-nspawn, in which mkosi runs apt",
        needs: &[Need::Image],
    },
    Package {
        name: "squashfs-tools",
        why: "mksquashfs packs the live root filesystems",
        needs: &[Need::Image],
    },
    Package {
        name: "grub-common",
        why: "grub-mkimage",
        needs: &[Need::Image],
    },
    Package {
        name: "grub-pc-bin",
        why: "GRUB's BIOS core and hybrid MBR",
        needs: &[Need::Image],
    },
    Package {
        name: "grub-efi-amd64-bin",
        why: "GRUB's UEFI core (BOOTX64.EFI)",
        needs: &[Need::Image],
    },
    Package {
        name: "mtools",
        why: "writes the ISO's EFI system image",
        needs: &[Need::Image],
    },
    Package {
        name: "dosfstools",
        why: "mkfs.fat for the ISO's EFI system image",
        needs: &[Need::Image],
    },
    Package {
        name: "xorriso",
        why: "assembles the hybrid BIOS+UEFI ISO",
        needs: &[Need::Image],
    },
    Package {
        name: "ovmf",
        why: "UEFI firmware for booting the ISO in QEMU",
        needs: &[Need::Image],
    },
];

/// The pinned bindgen the kernel's Rust build uses.
pub const BINDGEN_VERSION: &str = "0.69.5";

/// Paths of the toolchain the kernel build uses.
pub struct KernelToolchain {
    /// Debian's rustc (rustc-web).
    pub rustc: PathBuf,
    /// Debian's clippy-driver (rust-web-clippy), for the kernel's `CLIPPY=1`.
    pub clippy_driver: PathBuf,
    /// The pinned bindgen.
    pub bindgen: PathBuf,
}

/// `cargo xtask setup`.
pub fn run(args: &Args) -> Result<()> {
    ensure(
        &[
            Need::Kernel,
            Need::Initramfs,
            Need::Qemu,
            Need::HostTests,
            Need::Image,
        ],
        !args.check,
    )?;
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
        if let Some(os) = not_debian_12() {
            bail!(
                "Debian 12 is required: the build's host tools are Debian 12 packages (rustc-web, \
                 rust-web-src, linux-source-6.12, …) and this host is {os}"
            );
        }
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
        clippy_driver: PathBuf::from("/usr/bin/clippy-driver"),
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

/// Whether we may run apt-get: the effective user is root.
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `None` on Debian 12, else the host's name from /etc/os-release.
fn not_debian_12() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    os_release_not_debian_12(&text)
}

fn os_release_not_debian_12(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    if field("ID").as_deref() == Some("debian") && field("VERSION_ID").as_deref() == Some("12") {
        return None;
    }
    Some(
        field("PRETTY_NAME")
            .or_else(|| field("ID"))
            .unwrap_or_else(|| "an unknown system (no /etc/os-release)".into()),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_debian_12_passes_the_host_check() {
        let bookworm =
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(os_release_not_debian_12(bookworm), None);
        let fedora =
            "NAME=\"Fedora Linux\"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME=\"Fedora Linux 40\"\n";
        assert_eq!(
            os_release_not_debian_12(fedora).as_deref(),
            Some("Fedora Linux 40")
        );
        let trixie = "ID=debian\nVERSION_ID=\"13\"\n";
        assert_eq!(os_release_not_debian_12(trixie).as_deref(), Some("debian"));
        assert!(os_release_not_debian_12("").is_some());
    }
}
