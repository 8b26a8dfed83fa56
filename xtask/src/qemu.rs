//! `cargo xtask qemu`: build the kernel and the initramfs, then boot them on this terminal.
//!
//! The serial console and QEMU's monitor share the terminal (`Ctrl-A X` quits QEMU, `Ctrl-A C`
//! toggles the monitor). In the guest, `reboot -f` ends QEMU.

use std::path::PathBuf;

use anyhow::Result;
use coconut_qemu::{detect_accel, Vm};

use crate::setup::{self, Need};
use crate::{initramfs, kernel, paths, stage};

/// Arguments of `cargo xtask qemu`.
#[derive(clap::Args)]
pub struct Args {
    /// Kernel configuration (see `cargo xtask kernel --help`).
    #[arg(long, default_value = "qemu")]
    pub config: String,
    /// Boot this bzImage instead of building one.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Extra kernel command-line words.
    #[arg(long, default_value = "")]
    pub append: String,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024)]
    pub memory: u32,
}

/// `cargo xtask qemu`.
pub fn run(args: &Args) -> Result<()> {
    setup::ensure(&[Need::Qemu], true)?;
    let bzimage = match &args.kernel {
        Some(path) => path.clone(),
        None => kernel::build_config(&args.config)?,
    };
    let initrd = initramfs::run(&initramfs::Args {})?;
    let accel = detect_accel(
        &bzimage,
        &initrd,
        &paths::target().join("vm-logs").join("kvm-probe"),
    )?;
    let mut vm = Vm::new(&bzimage, &initrd, accel);
    vm.append = args.append.clone();
    vm.memory_mib = args.memory;
    eprintln!(
        "==> booting {} under {} — Ctrl-A X quits, `reboot -f` in the guest too",
        bzimage.display(),
        accel.name()
    );
    stage::run(&mut vm.command(true)?)
}
