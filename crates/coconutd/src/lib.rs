//! coconutd: Coconut OS's PID 1, service supervisor and IPC server.
//!
//! Job: bring the system up (as PID 1: [`pid1`]), run the services of a profile directory
//! ([`service`]: strict TOML, documented in `docs/coconutd.md`) in dependency order, each as
//! an agent where the kernel allows it ([`spawn`]: `agent_spawn` with a signed manifest; the
//! kernel's answer is reported, never faked), supervise them ([`supervisor`]: readiness,
//! restarts with exponential backoff, orderly stops), and answer clients on a Unix socket
//! ([`daemon`]: one poll loop; [`proto`]: the versioned CBOR schema of `docs/formats/ipc.md`,
//! shared with the `coconut` CLI), and start and persist the kernel's audit chain
//! ([`persister`], on the same loop).
//!
//! Constraints: one code path in and out of PID 1 (host tests run the real daemon with
//! `--socket` and a test profile, and the persister on directories standing in for
//! `/agent/audit` and `/var`); single-threaded (the fork/exec sequence relies on it).
//!
//! Not built yet (see the issue): supervising agents on request (manifest + caps over IPC),
//! `sd_notify` readiness, per-request capability authorisation (today: uid 0 or coconutd's
//! own uid for changes, anyone for reads), the TPM half of the audit seed.

pub mod daemon;
pub mod persister;
pub mod pid1;
pub mod proto;
pub mod service;
pub mod spawn;
pub mod supervisor;
pub mod tpm;
