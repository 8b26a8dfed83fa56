//! The `coconut` command's library: what its subcommands do, apart from argument parsing.
//!
//! Job: [`verify`] checks `chain.log` files and rotated `*.log.zst` shards line by line with
//! the shared parser (`libcoconut::audit::ChainLogLine`) and the shared verifier
//! (`coconut_audit::Verifier`), and names the first bad line; [`tail`] renders the last lines
//! of `chain.log` for humans and follows appended lines; [`svc`] (`status`, `svc …`,
//! `poweroff`, `reboot`) talks to coconutd through [`ipc`]; [`manifest`] makes keys, bodies
//! and signed envelopes; [`agent`] spawns agents and calls the capability and attestation
//! syscalls; [`tree`] reads agentfs for `tree` and `ps`. `src/main.rs` declares the command
//! line (clap) and maps outcomes to exit codes.
//!
//! Constraints: no second parser or verifier here: every rule about what a line or a chain
//! may be lives in `libcoconut`/`coconut-audit`. Reading is streaming, in constant memory.

pub mod agent;
pub mod checkpoint;
pub mod ipc;
pub mod manifest;
pub mod prove;
pub mod svc;
pub mod tail;
pub mod tree;
pub mod verify;
