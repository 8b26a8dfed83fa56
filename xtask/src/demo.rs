//! `cargo xtask demo NAME`: boot the forked kernel and the test initramfs and run one of the
//! guest runner's demos on the serial console (`coconut-guest-tests --demo NAME`), then power
//! off. The demos are the VM tests' scenarios told for a reader; the tests assert them.

use anyhow::Result;

use crate::qemu;

/// The demos the guest runner knows (tests/guest/src/demo.rs).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Name {
    /// A coordinator agent spawns 30 workers with delegated capabilities; one tries to read
    /// outside its capabilities and is moved to CAP_DENIED; the operator then revokes the team.
    DreamTeam,
}

impl Name {
    fn word(self) -> &'static str {
        match self {
            Name::DreamTeam => "dream-team",
        }
    }
}

/// Arguments of `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Which demo to run.
    #[arg(value_enum)]
    pub name: Name,
    /// Kernel configuration (see `cargo xtask kernel --help`).
    #[arg(long, default_value = "qemu")]
    pub config: String,
}

/// `cargo xtask demo`.
pub fn run(args: &Args) -> Result<()> {
    qemu::run(&qemu::Args {
        config: args.config.clone(),
        kernel: None,
        append: format!("coconut.demo={}", args.name.word()),
        memory: 1024,
    })
}
