//! `coconut`: the Coconut OS command line: `audit`, coconutd's `status`, `svc`, `poweroff` and
//! `reboot`, and the agent commands `manifest`, `spawn`, `caps`, `attest`, `tree` and `ps`.
//!
//! Job: declare the command line (clap derive) and map each outcome to its exit code and
//! output; the work is in the library (`coconut_cli::verify`, `coconut_cli::tail`).
//!
//! Constraints: only commands that exist are declared (no placeholders). Exit codes of
//! `audit verify`: 0 intact, 1 not intact (the first bad row is named), 2 the inputs could not
//! be read. Of the coconutd commands: 0 done, 1 coconutd refused (the reason is printed), 2 no
//! answer (coconutd not running, a broken reply). Of the agent commands: 0 done, 1 refused or
//! failed (the message says what to do), 2 bad usage; `spawn PROGRAM` returns the program's
//! status (128 + signal if killed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use coconut_cli::agent::{self, Exit, Revoke};
use coconut_cli::manifest::{self as mf, NewArgs};
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
    /// Agent manifests: keygen, new, sign, verify.
    #[command(subcommand)]
    Manifest(ManifestCmd),
    /// Spawn an agent from a signed manifest, as a child of the caller's agent.
    ///
    /// Without PROGRAM the agent is memberless. With one, a child process waits while the
    /// agent is spawned with it as first member (by pidfd), then execs PROGRAM, which is where
    /// it joins the agent. Prints the AID (a:NNNNN), then waits and exits with PROGRAM's
    /// status. The manifest's signer must be trusted by the parent (for a:00000:
    /// /agent/policy/signers).
    Spawn {
        /// The signed envelope (`coconut manifest sign`).
        manifest: PathBuf,
        /// A capability to bind now (repeatable); must be within the manifest's ceiling.
        #[arg(long = "cap", value_name = "CAP")]
        caps: Vec<String>,
        /// The program and its arguments (after `--`).
        #[arg(last = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
    /// An agent's capabilities: show, grant, revoke.
    #[command(subcommand)]
    Caps(CapsCmd),
    /// Print an agent's attestation chain (agent_attest) from a:00000 down: aid, name,
    /// state, parent, signer, spawn_seq and hashes of each link.
    Attest {
        /// The agent, a:NNNNN or its number.
        aid: String,
        /// Print the chain as a JSON array (the keys of agentfs attestation/chain.json).
        #[arg(long)]
        json: bool,
    },
    /// The live agents as a tree under a:00000: state, members, caps, budgets, denials.
    Tree {
        /// Where agentfs is mounted.
        #[arg(default_value = AGENT_DIR)]
        dir: PathBuf,
        /// Print a JSON array of root nodes, each with `children`.
        #[arg(long)]
        json: bool,
    },
    /// The live agents as a table: AID, parent, state, members, caps, denials, name, budget.
    Ps {
        /// Where agentfs is mounted.
        #[arg(default_value = AGENT_DIR)]
        dir: PathBuf,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
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

/// Where agentfs is mounted.
const AGENT_DIR: &str = "/agent";

#[derive(Subcommand)]
enum ManifestCmd {
    /// Make a new Ed25519 signing key: writes the 32-byte seed as hex to FILE (mode 0600,
    /// never overwriting) and prints the public key (64 hex), which is what goes into
    /// /agent/policy/signers or a parent manifest's --signer.
    Keygen {
        /// The key file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write an unsigned manifest body (canonical CBOR) for agent NAME; sign it with
    /// `coconut manifest sign`.
    New {
        /// The agent name: 1..=64 bytes of [a-z0-9._-].
        name: String,
        /// A capability of the ceiling, `name` or `name:scope` (repeatable), e.g.
        /// `fs.read:/srv/*`.
        #[arg(long = "cap", value_name = "CAP")]
        caps: Vec<String>,
        /// A budget, KIND=N with KIND one of cpu, ram, hbm, net, inference_tokens (repeatable).
        #[arg(long = "budget", value_name = "KIND=N")]
        budgets: Vec<String>,
        /// A public key (64 hex) trusted to sign this agent's children's manifests
        /// (repeatable, at most 8).
        #[arg(long = "signer", value_name = "HEX")]
        signers: Vec<String>,
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The tenant fair-share lane.
        #[arg(long)]
        lane: Option<u64>,
        /// The body file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Sign a body written by `manifest new` with a key from `manifest keygen`, writing the
    /// envelope `coconut spawn` takes.
    Sign {
        /// The body.
        body: PathBuf,
        /// The key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The envelope file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Decode a signed envelope and check it exactly as the kernel does (canonical CBOR,
    /// strict Ed25519, the body's shape); print name, signer, caps and budgets. Whether the
    /// signer is trusted is decided at spawn by the parent agent, not here.
    Verify {
        /// The envelope.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CapsCmd {
    /// The agent's bound capabilities (agentfs `a:NNNNN/caps`).
    Show {
        /// The agent, a:NNNNN or its number.
        aid: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
        /// Where agentfs is mounted.
        #[arg(long, default_value = AGENT_DIR)]
        dir: PathBuf,
    },
    /// Delegate a capability the calling agent holds to a descendant (agent_cap_grant).
    Grant {
        /// The agent, a:NNNNN or its number.
        aid: String,
        /// The capability, `name` or `name:scope`.
        cap: String,
    },
    /// Revoke a capability from an agent and all its descendants, or everything (--all: the
    /// subtree ends Terminated-revoked and its tasks are killed), or freeze the subtree
    /// (--quarantine).
    Revoke {
        /// The agent, a:NNNNN or its number.
        aid: String,
        /// The capability to revoke, `name` or `name:scope`.
        #[arg(required_unless_present_any = ["all", "quarantine"], conflicts_with_all = ["all", "quarantine"])]
        cap: Option<String>,
        /// Revoke everything.
        #[arg(long, conflicts_with = "quarantine")]
        all: bool,
        /// Quarantine the agent and its live descendants.
        #[arg(long)]
        quarantine: bool,
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

/// Runs an agent command: errors go to stderr as `coconut WHAT: message`, exit 1.
fn run(what: &str, f: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match f() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coconut {what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn run_spawn(manifest: &Path, caps: &[String], program: &[String]) -> ExitCode {
    let r = agent::spawn(manifest, caps, program, |aid| {
        println!("{aid}");
        let _ = std::io::stdout().flush();
    });
    match r {
        Ok(Exit::Memberless) => ExitCode::SUCCESS,
        Ok(Exit::Code(c)) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        Ok(Exit::Signal(s)) => ExitCode::from(u8::try_from(128 + s).unwrap_or(255)),
        Err(e) => {
            eprintln!("coconut spawn: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_manifest(cmd: ManifestCmd) -> ExitCode {
    match cmd {
        ManifestCmd::Keygen { out } => run("manifest keygen", || {
            println!("{}", hex::encode(mf::keygen(&out)?));
            Ok(())
        }),
        ManifestCmd::New {
            name,
            caps,
            budgets,
            signers,
            tenant,
            lane,
            out,
        } => run("manifest new", || {
            let args = NewArgs {
                name: &name,
                caps: &caps,
                budgets: &budgets,
                signers: &signers,
                tenant: tenant.as_deref(),
                lane,
            };
            mf::new(&args, &out)?;
            eprintln!(
                "wrote the body of {name} to {}; sign it with `coconut manifest sign`",
                out.display()
            );
            Ok(())
        }),
        ManifestCmd::Sign { body, key, out } => run("manifest sign", || {
            let signer = mf::sign(&body, &key, &out)?;
            println!("{}", hex::encode(signer));
            Ok(())
        }),
        ManifestCmd::Verify { file, json } => run("manifest verify", || {
            let v = mf::verify(&file)?;
            if json {
                println!("{}", v.to_json());
            } else {
                print!("{}", v.to_text());
            }
            Ok(())
        }),
    }
}

fn run_caps(cmd: CapsCmd) -> ExitCode {
    match cmd {
        CapsCmd::Show { aid, json, dir } => run("caps show", || {
            let caps = agent::caps_show(&dir, agent::parse_aid(&aid)?)?;
            if json {
                println!("{}", json!(caps));
            } else {
                for c in caps {
                    println!("{c}");
                }
            }
            Ok(())
        }),
        CapsCmd::Grant { aid, cap } => run("caps grant", || {
            agent::caps_grant(agent::parse_aid(&aid)?, &cap)
        }),
        CapsCmd::Revoke {
            aid,
            cap,
            all,
            quarantine,
        } => run("caps revoke", || {
            let what = match (cap, all, quarantine) {
                (Some(c), _, _) => Revoke::Cap(c),
                (None, true, _) => Revoke::All,
                (None, false, _) => Revoke::Quarantine,
            };
            agent::caps_revoke(agent::parse_aid(&aid)?, &what)
        }),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Manifest(cmd) => run_manifest(cmd),
        Command::Spawn {
            manifest,
            caps,
            program,
        } => run_spawn(&manifest, &caps, &program),
        Command::Caps(cmd) => run_caps(cmd),
        Command::Attest { aid, json } => run("attest", || {
            let (links, _) = agent::attest(agent::parse_aid(&aid)?)?;
            if json {
                println!(
                    "{}",
                    json!(links.iter().map(|l| l.to_json()).collect::<Vec<_>>())
                );
            } else {
                for l in &links {
                    print!("{}", l.to_text());
                }
            }
            Ok(())
        }),
        Command::Tree { dir, json } => run("tree", || {
            let agents = coconut_cli::tree::live(&dir)?;
            if json {
                println!("{}", coconut_cli::tree::tree_json(&agents));
            } else {
                print!("{}", coconut_cli::tree::render_tree(&agents, is_tty()));
            }
            Ok(())
        }),
        Command::Ps { dir, json } => run("ps", || {
            let agents = coconut_cli::tree::live(&dir)?;
            if json {
                println!(
                    "{}",
                    json!(agents.iter().map(|a| a.to_json()).collect::<Vec<_>>())
                );
            } else {
                print!("{}", coconut_cli::tree::render_ps(&agents, is_tty()));
            }
            Ok(())
        }),
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
