//! `coconut`: the Coconut OS command line: `audit`, coconutd's `status`, `svc`, `poweroff` and
//! `reboot`, and the agent commands `manifest`, `spawn`, `caps`, `attest`, `tree` and `ps`.
//!
//! Job: declare the command line (clap derive) and map each outcome to its exit code and
//! output; the work is in the library (`coconut_cli::verify`, `coconut_cli::tail`).
//!
//! Constraints: only commands that exist are declared (no placeholders). Exit codes of
//! `audit verify`, `prove` and `consistency`: 0 intact (and proved), 1 not intact (the first bad
//! row is named), 2 the inputs could not be read or the request names nothing in them; of
//! `audit key` and `audit checkpoint`: 0 done, 1 no seed loaded or the note does not verify, 2
//! unreadable or malformed input. Of the coconutd commands: 0 done, 1 coconutd refused (the reason is printed), 2 no
//! answer (coconutd not running, a broken reply). Of the agent commands: 0 done, 1 refused or
//! failed (the message says what to do), 2 bad usage; `spawn PROGRAM` returns the program's
//! status (128 + signal if killed).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use coconut_cli::agent::{self, Exit, Revoke};
use coconut_cli::checkpoint as cp;
use coconut_cli::manifest::{self as mf, NewArgs};
use coconut_cli::prove;
use coconut_cli::svc::{self, Change};
use coconut_cli::tail::{self, Format};
use coconut_cli::verify::{self, Failure, Input, Options};
use serde_json::{json, Value};

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
    /// The audit chain: verify it and its signed checkpoints, prove rows, read its last rows.
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

/// Which checkpoints to trust: the key, and the machine whose notes they sign.
#[derive(clap::Args)]
struct Trust {
    /// Pin the checkpoint key: every checkpoint must carry this Ed25519 public key (a file of
    /// 32 raw bytes or 64 hex digits, such as a copy of /var/lib/coconut/audit/key.pub or of
    /// `coconut audit key` taken off the machine, or the 64 hex digits themselves). Without it,
    /// each boot's checkpoints need only agree on one key, which proves nothing against root
    /// on the machine.
    #[arg(long, value_name = "FILE_OR_HEX")]
    key: Option<String>,
    /// The machine the chain comes from: the 32 hex digits of its /etc/machine-id. Every
    /// checkpoint signature covers it (the note names coconut-os/audit/<machine-id>/<boot>),
    /// and the rows do not carry it. [default: this machine's /etc/machine-id]
    #[arg(long, value_name = "HEX")]
    machine_id: Option<String>,
}

/// Where the rows come from, for the commands that read the chain.
#[derive(clap::Args)]
struct Sources {
    /// chain.log files, *.log.zst shards and history directories, oldest first. A directory is
    /// read as the persister's history: its <boot>-<first_seq>.log[.zst] shards in (boot,
    /// first_seq) order, as one stream across boots. [default: /var/log/coconut/audit if it
    /// exists, else /agent/audit/chain.log with /agent/audit/head as the head]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Audit {
    /// Verify the chain and its signed checkpoints: prove it intact or name the first bad row.
    ///
    /// Every line must be in the one canonical chain.log spelling, and every row must satisfy
    /// hash = BLAKE3(prev || event), seq = previous seq + 1 within a boot, prev = previous
    /// row's hash, boot rows at seq 0 only, and each later boot's seq-1 link row must name the
    /// previous boot's last seq and hash. Any flipped byte, deleted, duplicated or reordered
    /// line, and a file cut inside a line, fails at the first bad line. The first row must be a
    /// boot row or a rotate row (what chain.log and the first shard of a history start with),
    /// so a deleted first line shows too; a shard named <boot>-<first_seq> must start at that
    /// row, and a missing shard in the middle of a history shows as a gap or a bad link.
    ///
    /// Checkpoints (kind 14, sealed by the kernel every 1024 rows or 10 s once a seed is
    /// loaded): each one's size must be the number of its boot's rows before it, its root the
    /// RFC 9162 Merkle root over those rows (recomputed when the input has the boot from seq
    /// 0), its key the same as the boot's other checkpoints (and the --key one, if pinned), and
    /// its Ed25519 signature must verify over the note body naming the machine id, boot, size,
    /// root and head (the hash of the row before the checkpoint). Rows after a boot's last
    /// checkpoint are reported as unauthenticated: consistent, but not signed (exit 0 with a
    /// warning).
    ///
    /// What cannot be checked here: (1) rows cut off at a line boundary at the END: without
    /// the head (--head, or /agent/audit/head by default for chain.log) a shorter chain is still
    /// a valid chain, so pass the head when you have it; (2) the first row's prev when the input
    /// does not start at the first row; (3) authenticity without checkpoints: a boot row's prev
    /// must be that boot's public genesis (checked), but the genesis is public, so a chain
    /// rewritten from the start with all hashes recomputed verifies unless signed checkpoints
    /// cover it; and a checkpoint proves only as much as its key: pin the key (--key) with a
    /// copy kept off the machine.
    ///
    /// Exit status: 0 intact, 1 not intact, 2 an input or argument could not be used.
    Verify {
        #[command(flatten)]
        sources: Sources,
        /// The expected last hash: 64 hex digits, or a file with 32 raw bytes or 64 hex digits.
        #[arg(long, value_name = "FILE_OR_HEX")]
        head: Option<String>,
        #[command(flatten)]
        trust: Trust,
        /// Print one JSON object instead of lines of text.
        #[arg(long)]
        json: bool,
    },
    /// Prove one row is in a signed checkpoint: print its RFC 9162 inclusion proof and check it.
    ///
    /// Verifies the input as `verify` does, then takes the latest checkpoint of the boot that
    /// covers SEQ (its size is larger than SEQ) and prints the row's hash, its leaf
    /// BLAKE3(0x00 || hash), the checkpoint's seq, size, root and key, and the audit path
    /// (hex, leaf side first), which it checks against the root before printing. The input
    /// must hold the boot from seq 0 (the history directory does).
    ///
    /// Exit status: 0 proved, 1 the chain is not intact, 2 SEQ or the boot is not in the
    /// input, no checkpoint covers SEQ yet, or an input or argument could not be used.
    Prove {
        /// The row's seq within its boot.
        seq: u64,
        /// The boot counter. [default: the last boot in the input]
        #[arg(long)]
        boot: Option<u64>,
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        trust: Trust,
        /// Print one JSON object instead of lines of text.
        #[arg(long)]
        json: bool,
    },
    /// Prove an older checkpoint's tree is a prefix of a newer one's (RFC 9162 consistency).
    ///
    /// Verifies the input as `verify` does, finds the boot's checkpoints of sizes OLD_SIZE and
    /// NEW_SIZE, and prints the consistency proof between their roots (hex), which it checks
    /// before printing. The input must hold the boot from seq 0.
    ///
    /// Exit status: 0 proved, 1 the chain is not intact, 2 no checkpoint of such a size, the
    /// sizes in the wrong order, or an input or argument could not be used.
    Consistency {
        /// The size of the older checkpoint (its seq).
        old_size: u64,
        /// The size of the newer checkpoint.
        new_size: u64,
        /// The boot counter. [default: the last boot in the input]
        #[arg(long)]
        boot: Option<u64>,
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        trust: Trust,
        /// Print one JSON object instead of lines of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the kernel's checkpoint public key (/agent/audit/key), to pin it.
    ///
    /// Prints the Ed25519 public key that signs this machine's checkpoints as 64 hex digits
    /// (what --key accepts). Copy it off the machine: a key kept on the same disk proves
    /// nothing against someone who can rewrite that disk. The key exists once coconutd has
    /// loaded the audit seed; before that the file is empty and this says so.
    ///
    /// Exit status: 0 printed, 1 no seed is loaded, 2 the key file cannot be read or is not 32
    /// bytes.
    Key {
        /// Print 64 hex digits (the default).
        #[arg(long, conflicts_with = "raw")]
        hex: bool,
        /// Write the 32 raw bytes instead.
        #[arg(long)]
        raw: bool,
        /// The key file to read.
        #[arg(long, value_name = "FILE", default_value = cp::KEY_FILE)]
        file: PathBuf,
    },
    /// Verify a signed checkpoint note (/agent/audit/checkpoint) and print what it commits to.
    ///
    /// The note is the C2SP checkpoint body (coconut-os/audit/<machine-id>/<boot>, the size,
    /// the base64 root, "head <base64 head>"), a blank line, and signature lines "— <name>
    /// <base64(key id || signature)>". The line of coconut-os/audit/<machine-id> with the
    /// key's C2SP key id must carry a valid Ed25519 signature of the body under the key (--key,
    /// else /agent/audit/key). Prints machine id, boot, size, root and head.
    ///
    /// Exit status: 0 verified, 1 the note does not verify or no seed is loaded, 2 the note or
    /// key cannot be read or the key is malformed.
    Checkpoint {
        /// The signed note.
        #[arg(default_value = cp::CHECKPOINT_FILE)]
        file: PathBuf,
        /// The key to check against: a file of 32 raw bytes or 64 hex digits, or the hex
        /// itself. [default: /agent/audit/key]
        #[arg(long, value_name = "FILE_OR_HEX")]
        key: Option<String>,
        /// Print one JSON object instead of lines of text.
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
        Command::Audit(Audit::Verify {
            sources,
            head,
            trust,
            json,
        }) => run_verify(sources, head, &trust, json),
        Command::Audit(Audit::Prove {
            seq,
            boot,
            sources,
            trust,
            json,
        }) => run_prove("prove", sources, &trust, boot, json, |tree| {
            prove::inclusion(tree, seq).map(|p| (p.to_text(), p.to_json()))
        }),
        Command::Audit(Audit::Consistency {
            old_size,
            new_size,
            boot,
            sources,
            trust,
            json,
        }) => run_prove("consistency", sources, &trust, boot, json, |tree| {
            prove::consistency(tree, old_size, new_size).map(|p| (p.to_text(), p.to_json()))
        }),
        Command::Audit(Audit::Key { hex: _, raw, file }) => run_key(&file, raw),
        Command::Audit(Audit::Checkpoint { file, key, json }) => {
            run_checkpoint(&file, key.as_deref(), json)
        }
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

/// The files to read: those given, else the history directory, else the live chain.log with
/// the live head as the default head.
fn inputs(
    sources: Sources,
    head: Option<String>,
) -> Result<(Vec<PathBuf>, Option<String>), Failure> {
    if !sources.files.is_empty() {
        return Ok((sources.files, head));
    }
    if Path::new(verify::HISTORY_DIR).is_dir() {
        return Ok((vec![PathBuf::from(verify::HISTORY_DIR)], head));
    }
    if !Path::new(AUDIT_DIR).is_dir() {
        return Err(Failure::Io(format!(
            "neither {} nor {AUDIT_DIR} exists: this machine has no audit history and this \
             kernel no audit chain (agentfs is not mounted at /agent); pass chain.log files or \
             history directories to verify copies",
            verify::HISTORY_DIR
        )));
    }
    let head = head.unwrap_or_else(|| format!("{AUDIT_DIR}/head"));
    Ok((
        vec![PathBuf::from(format!("{AUDIT_DIR}/chain.log"))],
        Some(head),
    ))
}

/// The options of a verification: the head, the pinned key and the machine id.
fn options(head: Option<&str>, trust: &Trust) -> Result<Options, Failure> {
    Ok(Options {
        head: head.map(verify::parse_head).transpose()?,
        key: trust
            .key
            .as_deref()
            .map(|k| verify::parse_hash_arg(k, "a checkpoint key"))
            .transpose()?,
        machine_id: cp::machine_id(trust.machine_id.as_deref())?,
    })
}

/// Expands directories into shards, and says on stderr which files it ignored.
fn sources_of(files: &[PathBuf]) -> Result<Vec<verify::Source>, Failure> {
    let (sources, ignored) = verify::expand(files)?;
    for p in ignored {
        eprintln!(
            "note: ignored {}: not a shard named <boot>-<first_seq>.log or .log.zst, or the \
             plain twin of a .zst (the .zst is read)",
            p.display()
        );
    }
    Ok(sources)
}

/// The JSON object of a failure, for `--json`.
fn failure_json(f: &Failure) -> Value {
    match f {
        Failure::Bad(bad) => json!({
            "status": "bad",
            "file": bad.file,
            "line": bad.line,
            "boot": bad.at.map(|a| a.0),
            "seq": bad.at.map(|a| a.1),
            "reason": bad.reason.code(),
            "message": bad.reason.to_string(),
        }),
        Failure::Io(msg) => json!({"status": "error", "message": msg}),
    }
}

/// The exit code of a failure: 1 a bad chain, 2 unusable input or arguments.
fn failure_code(f: &Failure) -> u8 {
    match f {
        Failure::Bad(_) => 1,
        Failure::Io(_) => 2,
    }
}

fn run_verify(sources: Sources, head: Option<String>, trust: &Trust, json: bool) -> ExitCode {
    let result = (|| {
        let (files, head) = inputs(sources, head)?;
        let opts = options(head.as_deref(), trust)?;
        let sources = sources_of(&files)?;
        verify::verify_with(sources.iter().map(Input::open_source), &opts, &mut |_| {})
    })();
    match &result {
        Ok(intact) => {
            if json {
                let boots: Vec<Value> = intact
                    .boots
                    .iter()
                    .map(|b| {
                        let un = b.unauthenticated();
                        json!({
                            "boot": b.boot,
                            "first_seq": b.first_seq,
                            "last_seq": b.last_seq,
                            "checkpoints": b.checkpoints,
                            "last_checkpoint_seq": b.last_checkpoint,
                            "roots_unchecked": b.roots_unchecked,
                            "key": b.key.map(hex::encode),
                            "unauthenticated": un.map(|u| json!({
                                "rows": u.rows, "first_seq": u.first_seq, "last_seq": u.last_seq,
                            })),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    json!({
                        "status": "intact",
                        "rows": intact.rows,
                        "boots": boots,
                        "head": intact.head.map(hex::encode),
                        "head_checked": intact.head_checked,
                        "checkpoints": intact.checkpoints(),
                        "unauthenticated_rows": intact.unauthenticated_rows(),
                        "key_pinned": intact.key_pinned,
                        "warnings": intact.warnings(),
                    })
                );
            } else {
                println!("{intact}");
                println!("{}", intact.checkpoint_line());
                for w in intact.warnings() {
                    eprintln!("{w}");
                }
                if !intact.head_checked {
                    eprintln!("{}", verify::NO_HEAD_NOTE);
                }
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            if json {
                println!("{}", failure_json(f));
            } else {
                eprintln!("coconut audit verify: {f}");
            }
            ExitCode::from(failure_code(f))
        }
    }
}

/// `prove` and `consistency`: verify, keep the boot, build and check the proof, print it.
fn run_prove(
    what: &str,
    sources: Sources,
    trust: &Trust,
    boot: Option<u64>,
    json: bool,
    make: impl FnOnce(&prove::BootTree) -> Result<(String, Value), Failure>,
) -> ExitCode {
    let result = (|| {
        let (files, _) = inputs(sources, None)?;
        let opts = options(None, trust)?;
        let sources = sources_of(&files)?;
        let (tree, _) = prove::collect(sources.iter().map(Input::open_source), &opts, boot)?;
        make(&tree)
    })();
    match result {
        Ok((text, obj)) => {
            if json {
                println!("{obj}");
            } else {
                print!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(f) => {
            if json {
                println!("{}", failure_json(&f));
            } else {
                eprintln!("coconut audit {what}: {f}");
            }
            ExitCode::from(failure_code(&f))
        }
    }
}

fn run_key(file: &Path, raw: bool) -> ExitCode {
    match cp::read_key(file) {
        Ok(Some(key)) => {
            let mut out = std::io::stdout().lock();
            let written = if raw {
                out.write_all(&key)
            } else {
                writeln!(out, "{}", hex::encode(key))
            };
            match written.and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("coconut audit key: cannot write the key: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Ok(None) => {
            eprintln!("coconut audit key: {}", cp::no_seed_message(file));
            ExitCode::from(1)
        }
        Err(f) => {
            eprintln!("coconut audit key: {f}");
            ExitCode::from(2)
        }
    }
}

fn run_checkpoint(file: &Path, key: Option<&str>, json: bool) -> ExitCode {
    let fail = |code: u8, msg: String| {
        if json {
            let status = if code == 1 { "bad" } else { "error" };
            println!("{}", json!({"status": status, "message": msg}));
        } else {
            eprintln!("coconut audit checkpoint: {msg}");
        }
        ExitCode::from(code)
    };
    let key = match key {
        Some(k) => verify::parse_hash_arg(k, "a checkpoint key"),
        None => match cp::read_key(Path::new(cp::KEY_FILE)) {
            Ok(Some(k)) => Ok(k),
            Ok(None) => return fail(1, cp::no_seed_message(Path::new(cp::KEY_FILE))),
            Err(f) => Err(f),
        },
    };
    let key = match key {
        Ok(k) => k,
        Err(f) => return fail(2, f.to_string()),
    };
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) => return fail(2, format!("cannot read {}: {e}", file.display())),
    };
    match cp::verify_note(&text, &key) {
        Ok(v) => {
            let c = &v.checkpoint;
            if json {
                println!(
                    "{}",
                    json!({
                        "status": "verified",
                        "machine_id": hex::encode(c.machine_id),
                        "boot": c.boot,
                        "size": c.size,
                        "root": hex::encode(c.root),
                        "head": hex::encode(c.head),
                        "key": hex::encode(key),
                        "key_id": hex::encode(v.key_id),
                    })
                );
            } else {
                println!(
                    "verified: checkpoint of machine {}, boot {}, signed by key {} (key id {})
                     size: {}
root: {}
head: {}",
                    hex::encode(c.machine_id),
                    c.boot,
                    hex::encode(key),
                    hex::encode(v.key_id),
                    c.size,
                    hex::encode(c.root),
                    hex::encode(c.head)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("{}: {e}", file.display())),
    }
}
