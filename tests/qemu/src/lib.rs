//! The QEMU driver of Coconut OS, shared by `cargo xtask` (`qemu`, `bench --vm`) and the VM test
//! tier (`coconut-vmtest`), and the serial-console protocol the guest speaks to it.
//!
//! - [`driver`]: the QEMU command line ([`Vm`]), a headless [`boot`] with a log file and a
//!   deadline, and the accelerator choice ([`detect_accel`]: KVM only after a probe boot
//!   succeeded).
//! - [`protocol`]: the `@@COCONUT-…` lines, printed by the in-guest runner and `/init`, parsed
//!   here; the guest links this module for its printing side.
//!
//! **Architecture Invariant:** this crate knows nothing about which tests exist or what a
//! passing run is; `coconut-vmtest` judges a run, xtask decides what to boot.

pub mod driver;
pub mod protocol;

pub use self::driver::{boot, detect_accel, tail, Accel, Boot, Vm};
