//! `coconut`: the Coconut OS command line: `audit`, and coconutd's `status`, `svc`,
//! `poweroff` and `reboot`.
//!
//! Job: declare the command line (clap derive) and map each outcome to its exit code and
//! output; the work is in the library (`coconut_cli::verify`, `coconut_cli::tail`).
//!
//! Constraints: only commands that exist are declared (no placeholders). Exit codes of
//! `audit verify`: 0 intact, 1 not intact (the first bad row is named), 2 the inputs could not
//! be read. Of the coconutd commands: 0 done, 1 coconutd refused (the reason is printed), 2 no
//! answer (coconutd not running, a broken reply).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use coconut_cli::svc::{self, Change};
use coconut_cli::tail::{self, Format};
use coconut_cli::verify::{self, Failure, Input};
use serde_json::json;

/// Where agentfs keeps the audit files.
const AUDIT_DIR: &str = "/agent/audit";

#[derive(Parser)]
#[command(name = "coconut", version, about = "The Coconut OS command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The audit chain: verify it, read its last rows.
    #[command(subcommand)]
    Audit(Audit),
    /// coconutd and every service: state, pid, restarts, agent.
    Status {
        /// Print the reply as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// coconutd's services: list, status, start, stop, restart.
    #[command(subcommand)]
    Svc(Svc),
    /// Stop every service in reverse dependency order and power off (outside PID 1: coconutd
    /// exits).
    Poweroff {
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop every service in reverse dependency order and reboot (outside PID 1: coconutd
    /// exits).
    Reboot {
        #[command(flatten)]
        conn: Conn,
    },
}

/// Where coconutd listens.
#[derive(clap::Args)]
struct Conn {
    /// coconutd's socket [default: $COCONUT_SOCKET, else /run/coconut/coconutd.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Svc {
    /// Every service: state, pid, restarts, agent, last exit.
    List {
        /// Print the reply as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// One service in detail (backoff delays, dependencies, the agent's full answer).
    Status {
        /// The service.
        name: String,
        /// Print the reply as one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Start a service and what it requires; returns once it is ready (or failed).
    Start {
        /// The service.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop a service and what requires it; returns once they have stopped.
    Stop {
        /// The service.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop, then start a service; returns once it is ready again (or failed).
    Restart {
        /// The service.
        name: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum Audit {
    /// Verify chain.log and rotated shards: prove the chain intact or name the first bad row.
    ///
    /// Every line must be in the one canonical chain.log spelling, and every row must satisfy
    /// hash = BLAKE3(prev || event), seq = previous seq + 1 within a boot, prev = previous
    /// row's hash, boot rows at seq 0 only, and each later boot's seq-1 link row must name the
    /// previous boot's last seq and hash. Any flipped byte, deleted, duplicated or reordered
    /// line, and a file cut inside a line, fails at the first bad line. The first row must be a
    /// boot row or a rotate row (what chain.log and its shards start with), so a deleted first
    /// line shows too.
    ///
    /// What cannot be checked here: (1) rows cut off at a line boundary at the END: without
    /// the head (--head, or /agent/audit/head by default) a shorter chain is still a valid
    /// chain, so pass the head when you have it; (2) the first row's prev when the input does
    /// not start at the first row; (3) authenticity: a boot row the kernel sealed names its
    /// boot_id and its prev must be that boot's public genesis (checked), but the genesis is
    /// public, so a chain rewritten from the start with all hashes recomputed is internally
    /// consistent and verifies here; signed checkpoints, which would catch it, are not built
    /// yet.
    ///
    /// Exit status: 0 intact, 1 not intact, 2 an input could not be read.
    Verify {
        /// chain.log files and *.log.zst shards, oldest first
        /// [default: /agent/audit/chain.log, with /agent/audit/head as the head]
        files: Vec<PathBuf>,
        /// The expected last hash: 64 hex digits, or a file with 32 raw bytes or 64 hex digits.
        #[arg(long, value_name = "FILE_OR_HEX")]
        head: Option<String>,
        /// Print one JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
    },
    /// Show the last rows of chain.log: seq, time, kind, actor → subject, result, detail.
    Tail {
        /// How many rows to show.
        #[arg(short = 'n', long = "lines", default_value_t = 10)]
        lines: usize,
        /// Keep printing rows as they are appended (polls every 200 ms; Ctrl-C stops).
        #[arg(short = 'f', long)]
        follow: bool,
        /// The chain.log to read.
        #[arg(default_value = "/agent/audit/chain.log")]
        file: PathBuf,
        /// Print the raw chain.log lines (JSON, one per line).
        #[arg(long)]
        json: bool,
    },
}

fn coconutd(
    what: &str,
    conn: &Conn,
    f: impl FnOnce(&Path, &mut std::io::StdoutLock<'_>) -> Result<(), coconut_cli::ipc::CallError>,
) -> ExitCode {
    let socket = coconut_cli::ipc::socket_path(conn.socket.as_deref());
    let mut out = std::io::stdout().lock();
    match f(&socket, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = out.flush();
            eprintln!("coconut {what}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Status { json, conn } => coconutd("status", &conn, |s, o| svc::status(s, json, o)),
        Command::Svc(Svc::List { json, conn }) => {
            coconutd("svc list", &conn, |s, o| svc::list(s, json, o))
        }
        Command::Svc(Svc::Status { name, json, conn }) => {
            coconutd("svc status", &conn, |s, o| svc::show(s, &name, json, o))
        }
        Command::Svc(Svc::Start { name, conn }) => coconutd("svc start", &conn, |s, o| {
            svc::change(s, Change::Start, &name, o)
        }),
        Command::Svc(Svc::Stop { name, conn }) => coconutd("svc stop", &conn, |s, o| {
            svc::change(s, Change::Stop, &name, o)
        }),
        Command::Svc(Svc::Restart { name, conn }) => coconutd("svc restart", &conn, |s, o| {
            svc::change(s, Change::Restart, &name, o)
        }),
        Command::Poweroff { conn } => coconutd("poweroff", &conn, |s, o| svc::power(s, false, o)),
        Command::Reboot { conn } => coconutd("reboot", &conn, |s, o| svc::power(s, true, o)),
        Command::Audit(Audit::Verify { files, head, json }) => run_verify(files, head, json),
        Command::Audit(Audit::Tail {
            lines,
            follow,
            file,
            json,
        }) => {
            let format = if json { Format::Raw } else { Format::Human };
            let mut out = std::io::stdout().lock();
            match tail::tail(&file, lines, follow, format, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let _ = out.flush();
                    eprintln!("coconut audit tail: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run_verify(files: Vec<PathBuf>, head: Option<String>, json: bool) -> ExitCode {
    let result = (|| {
        let (files, head) = if files.is_empty() {
            if !Path::new(AUDIT_DIR).is_dir() {
                return Err(Failure::Io(format!(
                    "{AUDIT_DIR} does not exist: this kernel has no audit chain yet (agentfs is \
                     not mounted at /agent); pass chain.log files to verify copies"
                )));
            }
            let head = head.unwrap_or_else(|| format!("{AUDIT_DIR}/head"));
            (
                vec![PathBuf::from(format!("{AUDIT_DIR}/chain.log"))],
                Some(head),
            )
        } else {
            (files, head)
        };
        let head = head.as_deref().map(verify::parse_head).transpose()?;
        verify::verify(files.iter().map(|f| Input::open(f)), head.as_ref())
    })();
    let (code, text, obj) = match &result {
        Ok(intact) => (
            0,
            intact.to_string(),
            json!({
                "status": "intact",
                "rows": intact.rows,
                "boots": intact.boots.iter().map(|b| json!({
                    "boot": b.boot, "first_seq": b.first_seq, "last_seq": b.last_seq,
                })).collect::<Vec<_>>(),
                "head": intact.head.map(hex::encode),
                "head_checked": intact.head_checked,
            }),
        ),
        Err(Failure::Bad(bad)) => (
            1,
            bad.to_string(),
            json!({
                "status": "bad",
                "file": bad.file,
                "line": bad.line,
                "boot": bad.at.map(|a| a.0),
                "seq": bad.at.map(|a| a.1),
                "reason": bad.reason.code(),
                "message": bad.reason.to_string(),
            }),
        ),
        Err(Failure::Io(msg)) => (2, msg.clone(), json!({"status": "error", "message": msg})),
    };
    if json {
        println!("{obj}");
    } else if code == 0 {
        println!("{text}");
        if matches!(&result, Ok(i) if !i.head_checked) {
            eprintln!("{}", verify::NO_HEAD_NOTE);
        }
    } else {
        eprintln!("coconut audit verify: {text}");
    }
    ExitCode::from(code)
}
