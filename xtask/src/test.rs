//! `cargo xtask test`: every test tier, in order.
//!
//! 1. `cargo test --workspace` on the host (every crate, property tests, the shared kernel-side
//!    core against the reference crates).
//! 2. The VM tier: the forked kernel (`qemu` config unless `--config` says otherwise) and the
//!    test initramfs booted in QEMU; the in-guest runner's tests are reported one by one by
//!    `coconut-vmtest`.

use std::process::Command;

use anyhow::Result;

use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};
use crate::{guest, initramfs, kernel, paths};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Only the host tier (`cargo test --workspace`).
    #[arg(long, conflicts_with = "vm_only")]
    pub host_only: bool,
    /// Only the VM tier.
    #[arg(long)]
    pub vm_only: bool,
    /// Kernel configuration the VM tier boots (see `cargo xtask kernel --help`).
    #[arg(long, default_value = "qemu")]
    pub config: String,
    /// Run only the in-guest tests whose name contains this string.
    pub filter: Option<String>,
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(paths::root());
    cmd
}

/// `cargo xtask test`.
pub fn run(args: &Args) -> Result<()> {
    let mut p = Pipeline::new(
        "test",
        if args.host_only {
            1
        } else if args.vm_only {
            4
        } else {
            5
        },
    );
    if !args.vm_only {
        p.stage("host tier: cargo test --workspace", || {
            stage::run(cargo().args(["test", "--workspace"]))
        })?;
    }
    if args.host_only {
        p.finish();
        return Ok(());
    }
    p.stage("host tools", || {
        setup::ensure(&[Need::Kernel, Need::Initramfs, Need::Qemu], true)
    })?;
    let bzimage = p.stage(&format!("kernel ({} config)", args.config), || {
        kernel::build_config(&args.config)
    })?;
    let initrd = p.stage("initramfs", || initramfs::run(&initramfs::Args {}))?;
    p.stage("VM tier: in-guest tests", || {
        let runner = paths::target()
            .join("guest")
            .join(guest::TARGET)
            .join("release")
            .join("coconut-guest-tests");
        let mut cmd = cargo();
        cmd.args(["run", "--quiet", "--package", "coconut-vmtest", "--"])
            .env("COCONUT_KERNEL", &bzimage)
            .env("COCONUT_INITRAMFS", &initrd)
            .env("COCONUT_GUEST_TESTS", &runner)
            .env("COCONUT_VM_LOG_DIR", paths::target().join("vm-logs"));
        if let Some(filter) = &args.filter {
            cmd.arg(filter);
        }
        stage::run(&mut cmd)
    })?;
    p.finish();
    Ok(())
}
