//! The `coconut` command's library: what its subcommands do, apart from argument parsing.
//!
//! Job: [`verify`] checks `chain.log` files, `*.log.zst` shards and history directories line by
//! line with the shared parser (`libcoconut::audit::ChainLogLine`) and the shared verifiers
//! (`coconut_audit::Verifier`, `coconut_audit::CheckpointVerifier`), checks each checkpoint's
//! signature ([`checkpoint`], which also reads signed notes and the kernel's key), and names
//! the first bad line; [`prove`] builds and checks inclusion and consistency proofs against a
//! boot's checkpoints; [`tail`] renders the last lines
//! of `chain.log` for humans and follows appended lines; [`svc`] (`status`, `svc …`,
//! `poweroff`, `reboot`) talks to coconutd through [`ipc`]; [`manifest`] makes keys, bodies
//! and signed envelopes; [`agent`] spawns agents and calls the capability and attestation
//! syscalls; [`tree`] reads agentfs for `tree` and `ps`. `src/main.rs` declares the command
//! line (clap) and maps outcomes to exit codes.
//!
//! Constraints: no second parser or verifier here: every rule about what a line or a chain
//! may be lives in `libcoconut`/`coconut-audit`, except the Ed25519 check of a checkpoint's
//! signature ([`checkpoint`], with `ed25519-dalek`: the shared crate is the kernel's, which only
//! signs). Reading is streaming, in constant memory; a proof keeps 32 bytes per row of its boot.

pub mod agent;
pub mod checkpoint;
pub mod ipc;
pub mod manifest;
pub mod prove;
pub mod svc;
pub mod tail;
pub mod tree;
pub mod verify;
