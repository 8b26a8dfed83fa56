//! `cargo xtask`: the one entry point for building, booting and testing Coconut OS.
//!
//! The command line is declared here, in one place; each subcommand lives in its own module.
//! Long work is a pipeline of named stages that print a progress line each (see [`stage`]).
//! Everything a subcommand needs from the host is checked first by [`setup`], which installs what
//! is missing or names the exact command to run.

mod bench;
mod demo;
mod guest;
mod initramfs;
mod iso;
mod kernel;
mod lint;
mod paths;
mod qemu;
mod setup;
mod stage;
mod test;

use std::path::Path;

use clap::{Parser, Subcommand};

/// Build, boot and test Coconut OS.
///
/// A newcomer on a fresh Debian 12 machine needs two commands: `cargo xtask qemu` builds the
/// kernel fork and an initramfs and boots them, `cargo xtask test` runs every check and test
/// tier. Both install the host tools they need (apt-get as root, `cargo install` for bindgen).
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the host tools every other subcommand needs and install what is missing.
    Setup(setup::Args),
    /// Build the forked kernel (bzImage) and check its Rust objects; the last line on stdout is
    /// its absolute path. `kernel tree` / `kernel export`: a git tree for hacking on the fork.
    Kernel(kernel::Args),
    /// Build the test initramfs (busybox + the workspace's guest binaries); prints its path last.
    Initramfs(initramfs::Args),
    /// Build kernel and initramfs, then boot them in QEMU on this terminal (serial console).
    Qemu(qemu::Args),
    /// Run the lints: workspace clippy and rustfmt, the fuzz crates, the kernel overlay's rustfmt
    /// and the kernel's CLIPPY=1 build of our Rust directories.
    Lint(lint::Args),
    /// Run every check and test tier: lints, host tests, kernel build and object checks, kernel
    /// lints, then the in-VM tests.
    Test(test::Args),
    /// Run the benchmarks (criterion, host) and print their ratios against the reference crates.
    Bench(bench::Args),
    /// Build the installable, live-bootable ISO (hybrid BIOS+UEFI, CD and USB stick) from the
    /// generic kernel and the profiles' root filesystems; prints its path last.
    Iso(iso::Args),
    /// Boot the kernel and run a scenario on its console: `demo dream-team` shows a coordinator
    /// agent, 30 workers with delegated capabilities, and one worker refused and CAP_DENIED.
    Demo(demo::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup(args) => setup::run(&args),
        Command::Kernel(args) => kernel::run(&args).map(|path| print_path(&path)),
        Command::Initramfs(args) => initramfs::run(&args).map(|path| print_path(&path)),
        Command::Qemu(args) => qemu::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Iso(args) => iso::run(&args).map(|path| print_path(&path)),
        Command::Demo(args) => demo::run(&args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// Prints a built artifact's path as the last line on stdout, for other tools to consume.
fn print_path(path: &Path) {
    println!("{}", path.display());
}
