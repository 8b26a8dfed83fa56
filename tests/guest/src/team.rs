//! The dream team: a coordinator agent spawns 30 worker agents with capabilities delegated
//! from its own; one worker (the rogue) tries to read outside them. The kernel refuses the
//! read, moves the rogue to CAP_DENIED and seals the denial in the chain; the other workers do
//! their job and finish. The operator then revokes the whole team with one call.
//!
//! `agents::dream_team` asserts each step; `--demo dream-team` (`cargo xtask demo
//! dream-team`) runs the same scenario and prints what an operator would look at: the agent
//! tree from `/agent`, the rogue's status, its rows and the global chain's line.

use std::io::{BufRead, BufReader, Read, Write};

use coconut_abi::{AidTarget, AuditKind};
use libcoconut::{sys, Aid};

use crate::agents::{
    cap, capset, child_key, eventually, manifest, root_key, rows_about, spawn_member, state,
    status, wait,
};
use crate::Test;

/// Workers the coordinator spawns, and which one is the rogue.
const WORKERS: usize = 30;
const ROGUE: usize = 13;

/// The coordinator's capabilities: spawning, and what its workers and their execs need (the
/// runner binary under /bin, the C library's start-up reads of /proc, the team's files).
const COORDINATOR_CAPS: [&str; 5] = [
    "agent.spawn",
    "fs.read:/bin/*",
    "fs.exec:/bin/*",
    "fs.read:/proc/*",
    "fs.read:/tmp/team/*",
];

/// Each worker's capabilities: a subset of the coordinator's.
const WORKER_CAPS: [&str; 2] = ["fs.read:/proc/*", "fs.read:/tmp/team/*"];

/// What the rogue reads, outside `fs.read:/tmp/team/*`.
const OUTSIDE: &str = "/init";

pub fn tests() -> Vec<Test> {
    vec![Test::new("agents::dream_team", dream_team)]
}

/// The child actions of this scenario (`--agent-child team|worker|rogue`).
pub fn child_action(action: &str, arg: Option<&str>) -> Result<(), String> {
    match action {
        "team" => coordinate(arg.ok_or("no worker count")?),
        "worker" => work(),
        "rogue" => {
            work()?;
            match std::fs::File::open(OUTSIDE) {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                other => return Err(format!("read of {OUTSIDE} outside the caps: {other:?}")),
            }
            // Stays a member (so the agent stays CAP_DENIED) until the coordinator goes.
            let mut rest = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut rest);
            Ok(())
        }
        _ => Err(format!("unknown action {action}")),
    }
}

/// A worker's job: it holds its delegated cap and nothing more, and reads the team's brief.
fn work() -> Result<(), String> {
    if sys::cap_present(AidTarget::SelfAgent, &cap("fs.read:/tmp/team/brief")) != Ok(true) {
        return Err("does not hold fs.read:/tmp/team/*".into());
    }
    if sys::cap_present(AidTarget::SelfAgent, &cap("agent.spawn")) != Ok(false) {
        return Err("holds agent.spawn, which was not delegated".into());
    }
    std::fs::read("/tmp/team/brief").map_err(|e| format!("read the brief: {e}"))?;
    Ok(())
}

/// The coordinator: spawns the workers from `/tmp/team/worker-<i>.manifest`, prints each AID
/// on its own line, waits for the workers other than the rogue, prints `done failed=<n>`, then
/// waits for stdin's end (holding the rogue's stdin, so the rogue stays).
fn coordinate(count: &str) -> Result<(), String> {
    let n: usize = count
        .parse()
        .map_err(|_| format!("worker count {count:?}"))?;
    let caps = capset(&WORKER_CAPS);
    let mut out = std::io::stdout();
    let mut pids = Vec::new();
    let mut held = Vec::new();
    for i in 0..n {
        let path = format!("/tmp/team/worker-{i}.manifest");
        let m = std::fs::read(&path).map_err(|e| format!("read {path}: {e}"))?;
        let role = if i == ROGUE { "rogue" } else { "worker" };
        let (aid, pid, stdin, stdout) =
            spawn_member(&m, &caps, &[role]).map_err(|e| format!("worker {i}: {e}"))?;
        writeln!(out, "{aid}").map_err(|e| e.to_string())?;
        if i == ROGUE {
            held.push((stdin, stdout));
        } else {
            pids.push(pid);
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    let failed = pids
        .into_iter()
        .map(wait)
        .filter(|&s| !libc::WIFEXITED(s) || libc::WEXITSTATUS(s) != 0)
        .count();
    writeln!(out, "done failed={failed}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    Ok(())
}

/// A running team: the coordinator's agent and task, the pipe that keeps it, its workers.
struct Team {
    coordinator: Aid,
    pid: i32,
    stdin: std::fs::File,
    workers: Vec<Aid>,
}

/// Writes the brief and the manifests (the coordinator's signed by the root key and trusting
/// the child key; the workers' signed by the child key), spawns the coordinator with a member
/// and reads its workers' AIDs.
fn start() -> Result<Team, String> {
    std::fs::create_dir_all("/tmp/team").map_err(|e| format!("/tmp/team: {e}"))?;
    std::fs::write("/tmp/team/brief", "ship it\n").map_err(|e| e.to_string())?;
    for i in 0..WORKERS {
        let m = manifest(&format!("worker-{i}"), &WORKER_CAPS, &[], &child_key());
        std::fs::write(format!("/tmp/team/worker-{i}.manifest"), m).map_err(|e| e.to_string())?;
    }
    let m = manifest(
        "coordinator",
        &COORDINATOR_CAPS,
        &[*child_key().verifying_key().as_bytes()],
        &root_key(),
    );
    let count = WORKERS.to_string();
    let (coordinator, pid, stdin, stdout) =
        spawn_member(&m, &capset(&COORDINATOR_CAPS), &["team", &count])?;
    let mut lines = BufReader::new(stdout).lines();
    let mut workers = Vec::new();
    let mut next = || -> Result<String, String> {
        match lines.next() {
            Some(line) => line.map_err(|e| e.to_string()),
            None => Err(format!(
                "the coordinator ended early: {:?} (its stderr is on the console)",
                status(coordinator)
            )),
        }
    };
    for _ in 0..WORKERS {
        let line = next()?;
        workers.push(
            line.trim()
                .parse::<Aid>()
                .map_err(|e| format!("worker AID {line:?}: {e:?}"))?,
        );
    }
    let done = next()?;
    if done != "done failed=0" {
        return Err(format!("the coordinator reports `{done}`"));
    }
    Ok(Team {
        coordinator,
        pid,
        stdin,
        workers,
    })
}

/// The rogue's denial as the global chain shows it: its `cap_deny` line in chain.log.
fn chain_line(rogue: Aid) -> Result<String, String> {
    let log = std::fs::read_to_string("/agent/audit/chain.log")
        .map_err(|e| format!("/agent/audit/chain.log: {e}"))?;
    log.lines()
        .rev()
        .find(|l| {
            l.contains("\"kind\":\"cap_deny\"") && l.contains(&format!("\"subject\":\"{rogue}\""))
        })
        .map(str::to_string)
        .ok_or_else(|| format!("chain.log has no cap_deny line about {rogue}"))
}

fn dream_team() -> Result<(), String> {
    let team = start()?;
    let rogue = team.workers[ROGUE];
    eventually("the rogue is CAP_DENIED", || {
        Ok(state(rogue)? == "CAP_DENIED")
    })?;
    let st = status(rogue)?;
    let parent = format!("parent={}\n", team.coordinator);
    if !st.contains("denials=1\n") || !st.contains(&parent) || !st.contains("members=1\n") {
        return Err(format!("the rogue's status: {st:?}"));
    }
    for (i, &w) in team.workers.iter().enumerate().filter(|&(i, _)| i != ROGUE) {
        eventually(&format!("worker {i} ({w}) finishes"), || {
            Ok(state(w)? == "TERMINATED_CLEAN")
        })?;
        let st = status(w)?;
        if !st.contains(&parent) || !st.contains("denials=0\n") {
            return Err(format!("worker {i}: {st:?}"));
        }
    }
    if state(team.coordinator)? != "ACTIVE" {
        return Err(format!("the coordinator: {:?}", status(team.coordinator)));
    }
    let rows = rows_about(rogue.get())?;
    let denied = rows.iter().any(|r| {
        r.header.kind == AuditKind::CapDeny && r.detail.contains(&format!("cap=fs.read:{OUTSIDE}"))
    });
    let moved = rows.iter().any(|r| {
        r.header.kind == AuditKind::State && r.detail.contains("to=CAP_DENIED why=cap_denied")
    });
    if !denied || !moved {
        let details: Vec<String> = rows.iter().map(|r| r.detail.clone()).collect();
        return Err(format!("the rogue's rows: {details:?}"));
    }
    chain_line(rogue)?;
    // One call from the operator ends the team: the coordinator's task and the rogue are
    // killed, and every live agent of the subtree is TERMINATED_REVOKED.
    sys::revoke_all(team.coordinator).map_err(|e| format!("revoke_all: {e}"))?;
    let s = wait(team.pid);
    drop(team.stdin);
    if !libc::WIFSIGNALED(s) || libc::WTERMSIG(s) != libc::SIGKILL {
        return Err(format!("the coordinator was not killed (status {s:#x})"));
    }
    for a in [team.coordinator, rogue] {
        eventually(&format!("{a} is TERMINATED_REVOKED"), || {
            Ok(state(a)? == "TERMINATED_REVOKED")
        })?;
    }
    Ok(())
}

/// `--demo dream-team`: the scenario, told on the console. Returns the exit status.
pub fn demo() -> i32 {
    match demo_steps() {
        Ok(()) => 0,
        Err(msg) => {
            println!("dream-team: {msg}");
            1
        }
    }
}

fn show(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({path}: {e})\n"))
}

fn demo_steps() -> Result<(), String> {
    crate::agents::trust_root_key()?;
    println!("== a coordinator agent spawns {WORKERS} workers with fs.read:/tmp/team/* delegated");
    let team = start()?;
    let rogue = team.workers[ROGUE];
    eventually("the rogue is CAP_DENIED", || {
        Ok(state(rogue)? == "CAP_DENIED")
    })?;
    println!("\n== the agent tree (/agent/a:NNNNN/status, first line)");
    println!(
        "{} coordinator {}",
        team.coordinator,
        state(team.coordinator)?
    );
    for (i, &w) in team.workers.iter().enumerate() {
        let mark = if i == ROGUE {
            "   <- read outside its caps"
        } else {
            ""
        };
        println!("  └─ {w} worker-{i} {}{mark}", state(w)?);
    }
    println!("\n== cat /agent/{rogue}/status");
    print!("{}", show(&format!("/agent/{rogue}/status")));
    println!("\n== cat /agent/{rogue}/caps");
    print!("{}", show(&format!("/agent/{rogue}/caps")));
    println!("\n== the rogue's audit rows (agent_audit_query)");
    for r in rows_about(rogue.get())? {
        println!("  seq={} {:?} {}", r.header.seq, r.header.kind, r.detail);
    }
    println!("\n== its denial in the global chain (/agent/audit/chain.log)");
    println!("{}", chain_line(rogue)?);
    println!(
        "\n== the operator revokes the team: agent_cap_revoke({}, ALL)",
        team.coordinator
    );
    sys::revoke_all(team.coordinator).map_err(|e| format!("revoke_all: {e}"))?;
    wait(team.pid);
    drop(team.stdin);
    eventually("the rogue is TERMINATED_REVOKED", || {
        Ok(state(rogue)? == "TERMINATED_REVOKED")
    })?;
    println!("{} {}", team.coordinator, state(team.coordinator)?);
    println!("{rogue} {}", state(rogue)?);
    println!("\n== /agent/audit/stats");
    print!("{}", show("/agent/audit/stats"));
    Ok(())
}
