//! `cargo xtask test`: every check and test tier, in order, cheapest failure first.
//!
//! 1. Host tools ([`crate::setup`]).
//! 2. Workspace lints ([`crate::lint`]): clippy `-D warnings`, `cargo fmt --check`, the fuzz
//!    crates compiled.
//! 3. The host tier: `cargo test --workspace` (every crate, property tests, the shared
//!    kernel-side core against the reference crates).
//! 4. The kernel (`qemu` config unless `--config` says otherwise), with the post-build checks of
//!    its Rust objects (forbidden helpers, stack frames, panic inventory; see
//!    [`crate::kernel::checks`]).
//! 5. Kernel lints: the kernel's `CLIPPY=1`, the overlay's rustfmt with the tree's config.
//! 6. The initramfs, then the VM tier: the kernel and the initramfs booted in QEMU; the
//!    in-guest runner's tests are reported one by one by `coconut-vmtest`.
//! 7. The image tier's core checks ([`crate::iso::check`]): the ISO built (`cargo xtask iso`)
//!    and assembled again to the same bytes, its live boot by SeaBIOS, an unattended install to
//!    a virtual disk, and that disk booted with a login. `--image` runs every image check
//!    (also the OVMF boots) and nothing else.

use std::process::Command;

use anyhow::Result;

use crate::iso::check;
use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};
use crate::{guest, initramfs, kernel, lint, paths};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Only the lints and the host tier (`cargo test --workspace`): no kernel, no VM.
    #[arg(long, conflicts_with = "vm_only")]
    pub host_only: bool,
    /// Only the kernel (with its checks) and the VM tier: no lints, no host tier.
    #[arg(long)]
    pub vm_only: bool,
    /// Only the image tier, every check of it: build the ISO with `cargo xtask iso`, assemble
    /// it again and compare the bytes; boot it from a CD drive with SeaBIOS and with OVMF and
    /// as a USB stick with OVMF, each to coconutd's ready line; install it unattended onto a
    /// virtual disk and boot that disk by BIOS (logging in) and by UEFI. The default run has
    /// the core of these (no OVMF boots).
    #[arg(long, conflicts_with_all = ["host_only", "vm_only"])]
    pub image: bool,
    /// Kernel configuration the VM tier boots (see `cargo xtask kernel --help`). `debug` is
    /// the qemu kernel with KASAN, lockdep, DEBUG_ATOMIC_SLEEP and kmemleak: the guest's
    /// fuzzer then makes 1 000 000 calls (30 000 otherwise) and the run may take an hour.
    #[arg(long, default_value = "qemu")]
    pub config: String,
    /// How many calls the in-guest fuzzer makes (`fuzz::random_arguments_get_documented_answers`)
    /// [default: 1000000 in the debug kernel, 30000 otherwise].
    #[arg(long, value_name = "N")]
    pub fuzz_calls: Option<u64>,
    /// The fuzzer's seed, to replay a run (each run prints its seed) [default: the clock].
    #[arg(long, value_name = "N")]
    pub fuzz_seed: Option<u64>,
    /// Report only the in-guest tests whose name contains this string (the guest still runs
    /// every test, and the run as a whole, `vm::guest_finished`, is always judged).
    pub filter: Option<String>,
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(paths::root());
    cmd
}

/// `cargo xtask test`.
pub fn run(args: &Args) -> Result<()> {
    if args.image {
        return image_tier(check::Scope::Full);
    }
    let stages = match (args.host_only, args.vm_only) {
        (true, _) => 5,
        (_, true) => 4,
        _ => 11,
    };
    let mut p = Pipeline::new("test", stages);
    let needs: &[Need] = match (args.host_only, args.vm_only) {
        (true, _) => &[Need::Kernel, Need::HostTests],
        (_, true) => &[Need::Kernel, Need::Initramfs, Need::Qemu],
        _ => &[Need::Kernel, Need::Initramfs, Need::Qemu, Need::HostTests],
    };
    // The host tier reads the kernel tarball (the forbidden-helper list), so tools come first.
    p.stage("host tools", || setup::ensure(needs, true))?;
    if !args.vm_only {
        lint::workspace(&mut p)?;
        p.stage("host tier: cargo test --workspace", || {
            stage::run(cargo().args(["test", "--workspace"]))
        })?;
    }
    if args.host_only {
        p.finish();
        return Ok(());
    }
    let built = p.stage(
        &format!("kernel ({} config) and object checks", args.config),
        || kernel::build(&kernel::BuildArgs::of_config(&args.config)),
    )?;
    if !args.vm_only {
        lint::kernel_lints(&mut p, &built)?;
    }
    let initrd = p.stage("initramfs", || initramfs::run(&initramfs::Args {}))?;
    p.stage(
        &format!("VM tier: in-guest tests (Linux {})", built.version),
        || {
            let runner = paths::target()
                .join("guest")
                .join(guest::TARGET)
                .join("release")
                .join("coconut-guest-tests");
            let mut cmd = cargo();
            cmd.args(["run", "--quiet", "--package", "coconut-vmtest", "--"])
                .env("COCONUT_KERNEL", &built.bzimage)
                .env("COCONUT_INITRAMFS", &initrd)
                .env("COCONUT_GUEST_TESTS", &runner)
                .env("COCONUT_VM_LOG_DIR", paths::target().join("vm-logs"));
            // COCONUT_VM_APPEND from the environment (`coconut.prop_ops=N`, ...) goes first.
            let mut append: Vec<String> = std::env::var("COCONUT_VM_APPEND")
                .ok()
                .filter(|a| !a.trim().is_empty())
                .into_iter()
                .collect();
            if let Some(n) = args.fuzz_calls {
                append.push(format!("coconut.fuzz_calls={n}"));
            }
            if let Some(n) = args.fuzz_seed {
                append.push(format!("coconut.fuzz_seed={n}"));
            }
            cmd.env("COCONUT_VM_APPEND", append.join(" "));
            // The debug kernel runs the suite several times slower, and its fuzzer longer.
            if args.config == "debug" && std::env::var_os("COCONUT_VM_TIMEOUT").is_none() {
                cmd.env("COCONUT_VM_TIMEOUT", "5400");
            }
            if let Some(filter) = &args.filter {
                cmd.arg(filter);
            }
            stage::run(&mut cmd)
        },
    )?;
    if !args.host_only && !args.vm_only {
        p.stage("image tier (core checks; all with --image)", || {
            image_tier(check::Scope::Core)
        })?;
    }
    p.finish();
    Ok(())
}

/// The image tier: `cargo xtask test --image` (every check), and the last stage of the
/// default run (the core checks).
fn image_tier(scope: check::Scope) -> Result<()> {
    let out = paths::target().join("iso").join("coconut-os.iso");
    let (iso, inputs) = crate::iso::build(&out)?;
    let mut p = Pipeline::new("test --image", 1);
    p.stage(
        &format!(
            "image tier: {} (Linux {})",
            out.display(),
            iso.kernel_version
        ),
        || check::run(&iso, &inputs, scope),
    )?;
    p.finish();
    Ok(())
}
