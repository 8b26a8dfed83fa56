//! `coconutd`: the command line of the daemon.
//!
//! Job: parse the options, choose PID-1 mode (`getpid() == 1` or `--pid1`), run the daemon,
//! and map its end to an exit status (outside PID 1) or to `reboot(2)` (as PID 1).
//!
//! Constraints: as PID 1 nothing may end the process: errors and panics go to the emergency
//! shell ([`coconutd::pid1::emergency`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use coconutd::daemon::{Config, Daemon, DEFAULT_CLIENT_TIMEOUT};
use coconutd::persister::{self, AuditConfig};
use coconutd::{pid1, proto};

#[derive(Parser)]
#[command(
    name = "coconutd",
    version,
    about = "Coconut OS PID 1 and service supervisor"
)]
struct Args {
    /// The profile directory: one <service>.toml per service (see docs/coconutd.md).
    #[arg(long, default_value = "/etc/coconut/services")]
    profile: PathBuf,
    /// The IPC socket.
    #[arg(long, default_value = proto::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Run the PID-1 duties (mounts, hostname, reboot(2)) even if our pid is not 1.
    #[arg(long)]
    pid1: bool,
    /// The Ed25519 seed (32 bytes or 64 hex digits) that signs services' manifests
    /// [default: a fresh key for this run].
    #[arg(long)]
    key: Option<PathBuf>,
    /// Drop a client stalled mid-frame or not reading its responses after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    client_timeout: Duration,
    /// Check the profile and exit: 0 if it loads, 1 with every error otherwise.
    #[arg(long)]
    check: bool,
    /// Run the audit persister outside PID 1 too (as PID 1 it always runs, unless
    /// --no-audit).
    #[arg(long, conflicts_with = "no_audit")]
    audit: bool,
    /// Do not start the audit chain nor persist it, even as PID 1.
    #[arg(long)]
    no_audit: bool,
    /// The kernel's audit directory (chain.log, link, persisted, seed, seal, stats).
    #[arg(long, default_value = persister::DEFAULT_AGENT_DIR)]
    audit_dir: PathBuf,
    /// The boot counter and the soft seed.
    #[arg(long, default_value = persister::DEFAULT_STATE_DIR)]
    audit_state: PathBuf,
    /// Where the chain is persisted, one <boot>-<first_seq>.log[.zst] shard at a time.
    #[arg(long, default_value = persister::DEFAULT_LOG_DIR)]
    audit_log: PathBuf,
    /// The machine id the seed line names (created when missing).
    #[arg(long, default_value = persister::DEFAULT_MACHINE_ID)]
    machine_id: PathBuf,
    /// The TPM that seals the audit seed (a `trusted` key under a storage root key at
    /// 0x81000001, created when missing); without this device, the soft seed file.
    #[arg(long, default_value = persister::DEFAULT_TPM)]
    tpm: PathBuf,
    /// Compress a shard and begin the next once it has this many bytes [default: 4 MiB].
    #[arg(long, default_value_t = persister::DEFAULT_SHARD_MAX)]
    audit_shard_max: u64,
}

fn main() -> ExitCode {
    let pid_is_1 = rustix::process::getpid().is_init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if pid_is_1 => pid1::emergency(&format!("bad command line: {e}")),
        Err(e) => e.exit(),
    };
    if args.check {
        return match coconutd::service::Profile::load_dir(
            &args.profile,
            &coconutd::service::NameDb::system(),
        ) {
            Ok(p) => {
                println!(
                    "{}: {} services, no errors",
                    args.profile.display(),
                    p.services.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let is_pid1 = pid_is_1 || args.pid1;
    let audit = ((is_pid1 || args.audit) && !args.no_audit).then(|| AuditConfig {
        agent_dir: args.audit_dir,
        state_dir: args.audit_state,
        log_dir: args.audit_log,
        machine_id: args.machine_id,
        tpm: args.tpm,
        shard_max: args.audit_shard_max.max(1),
        idle_poll: persister::IDLE_POLL,
        shutdown_drain: persister::SHUTDOWN_DRAIN,
    });
    let cfg = Config {
        profile: args.profile,
        socket: args.socket,
        pid1: is_pid1,
        key: args.key,
        client_timeout: if args.client_timeout.is_zero() {
            DEFAULT_CLIENT_TIMEOUT
        } else {
            args.client_timeout
        },
    };
    if is_pid1 {
        pid1::init();
        let outcome =
            std::panic::catch_unwind(|| Daemon::with_audit(cfg, audit).and_then(Daemon::run));
        match outcome {
            Ok(Ok(exit)) => pid1::finish(exit),
            Ok(Err(e)) => pid1::emergency(&e),
            Err(_) => pid1::emergency("coconutd panicked (the message is above)"),
        }
    }
    match Daemon::with_audit(cfg, audit).and_then(Daemon::run) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coconutd: {e}");
            ExitCode::FAILURE
        }
    }
}
