//! A property test of the subset rule against the running kernel: random sequences of spawns
//! (children of a:00000, and grandchildren spawned from inside a coordinator agent), grants,
//! revocations, quarantines, releases and whole-agent revocations, with the tree read back
//! from agentfs after every step. It never may show
//!
//! - a child holding an entry its parent's set does not cover (caps(child) ⊆ caps(parent));
//! - an agent or a descendant still holding what was just revoked from it;
//! - a granted capability missing right after the grant succeeded.
//!
//! The run is reproducible: the seed is printed and `coconut.prop_seed=<n>` replays it;
//! `coconut.prop_ops=<n>` sets the number of steps (default 10 000; the `debug` kernel 2000, where a
//! step costs about 50 times more, ~100 ms: it reads every agent's files back).

use std::io::{BufRead, BufReader, Write};

use coconut_abi::{entry_covers, parse_capability};
use libcoconut::{encode_capset, sys, Aid, Capability};

use crate::agents::{capset, child_key, manifest, root_key, spawn_member, wait};
use crate::Test;

/// This module's tests.
pub fn tests() -> Vec<Test> {
    vec![Test::new(
        "property::random_grants_revokes_and_spawns_keep_the_subset_rule",
        run,
    )]
}

/// The capabilities the steps draw from: overlapping scopes, so coverage is exercised.
pub(crate) const UNIVERSE: [&str; 10] = [
    "fs.read:/tmp/p/*",
    "fs.read:/tmp/p/a/*",
    "fs.read:/tmp/p/a/x",
    "fs.read",
    "fs.write:/tmp/p/*",
    "fs.write:/tmp/p/b",
    "net.connect:127.0.0.1:*",
    "net.connect:127.0.0.1:80",
    "inference",
    "proc.signal",
];

/// At most this many agents alive at once (whole-agent revocations keep it so).
const LIVE_MAX: usize = 24;

/// One agent of the run: its AID and its parent's.
#[derive(Clone, Copy)]
struct Node {
    aid: u64,
    parent: u64,
}

fn cmdline_u64(key: &str) -> Option<u64> {
    let line = std::fs::read_to_string("/proc/cmdline").ok()?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// The entries of `aid`'s set as agentfs shows them.
fn caps_of(aid: u64) -> Result<Vec<String>, String> {
    let path = format!("/agent/a:{aid:05}/caps");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text.lines().map(str::to_owned).collect())
}

pub(crate) fn is_live(aid: u64) -> bool {
    std::fs::read_to_string(format!("/agent/a:{aid:05}/status"))
        .is_ok_and(|s| !s.starts_with("TERMINATED"))
}

/// Whether some entry of `held` covers the entry `want` (both in text form).
fn covered(held: &[String], want: &str) -> bool {
    let Ok(w) = parse_capability(want.as_bytes()) else {
        return false;
    };
    held.iter()
        .any(|h| parse_capability(h.as_bytes()).is_ok_and(|h| entry_covers(h, w)))
}

/// The coordinator: a member of an agent that spawns children on request (`spawn <hex
/// manifest> <hex capset>` on stdin, the AID or `err <errno>` on stdout).
pub(crate) struct Coordinator {
    pub(crate) aid: u64,
    pub(crate) pid: i32,
    pub(crate) to: std::fs::File,
    from: BufReader<std::fs::File>,
}

impl Coordinator {
    pub(crate) fn start() -> Result<Coordinator, String> {
        let mut caps: Vec<&str> = UNIVERSE.to_vec();
        caps.push("agent.spawn");
        let m = manifest(
            "prop-coordinator",
            &caps,
            &[child_key().verifying_key().to_bytes()],
            &root_key(),
        );
        let (aid, pid, to, from) = spawn_member(&m, &capset(&caps), &["prop-coordinator"])?;
        Ok(Coordinator {
            aid: aid.get(),
            pid,
            to,
            from: BufReader::new(from),
        })
    }

    pub(crate) fn spawn(&mut self, m: &[u8], caps: &[u8]) -> Result<Result<u64, i32>, String> {
        writeln!(self.to, "spawn {} {}", hex(m), hex(caps)).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.from
            .read_line(&mut line)
            .map_err(|e| format!("coordinator: {e}"))?;
        let line = line.trim();
        if let Some(e) = line.strip_prefix("err ") {
            return Ok(Err(e.parse().unwrap_or(0)));
        }
        line.parse()
            .map(Ok)
            .map_err(|_| format!("the coordinator answered {line:?} (is it still alive?)"))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `--agent-child prop-coordinator`: serves spawn requests until stdin ends.
pub fn child() -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let (Some("spawn"), Some(m), Some(c)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("unknown request {line:?}"));
        };
        let (m, c) = (unhex(m).ok_or("bad hex")?, unhex(c).ok_or("bad hex")?);
        let answer = match sys::spawn(&m, &c, None, 0) {
            Ok(aid) => aid.get().to_string(),
            Err(e) => format!("err {}", e.errno().unwrap_or(0)),
        };
        writeln!(out, "{answer}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let debug = crate::kernel::config()?
        .lines()
        .any(|l| l == "CONFIG_KASAN=y");
    let ops = cmdline_u64("coconut.prop_ops").unwrap_or(if debug { 2000 } else { 10_000 });
    let seed = cmdline_u64("coconut.prop_seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
    });
    println!("coconut-prop: seed {seed}, {ops} steps (replay: coconut.prop_seed={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut coord = Coordinator::start()?;
    let mut nodes = vec![Node {
        aid: coord.aid,
        parent: 0,
    }];
    let mut counts = [[0u64; 2]; 7];
    let mut result = Ok(());
    let started = std::time::Instant::now();
    for step in 0..ops {
        if step > 0 && step % 1000 == 0 {
            println!(
                "coconut-prop: {step} steps, {} s",
                started.elapsed().as_secs()
            );
        }
        let r = one_step(&mut rng, &mut coord, &mut nodes, &mut counts)
            .and_then(|what| check(&nodes).map_err(|e| format!("after {what}: {e}")));
        if let Err(e) = r {
            result = Err(format!("seed {seed}, step {step}: {e}"));
            break;
        }
    }
    drop(coord.to);
    let _ = wait(coord.pid);
    for n in &nodes {
        if let Ok(aid) = Aid::new(n.aid) {
            let _ = sys::revoke_all(aid);
        }
    }
    let names = [
        "spawns from a:00000",
        "spawns from the coordinator",
        "grants",
        "revokes",
        "quarantines",
        "releases",
        "whole-agent revocations",
    ];
    let tally: Vec<String> = names
        .iter()
        .zip(counts)
        .map(|(n, [tried, ok])| format!("{n} {ok}/{tried}"))
        .collect();
    println!("coconut-prop: succeeded/tried: {}", tally.join(", "));
    result
}

fn pick(rng: &mut fastrand::Rng) -> &'static str {
    UNIVERSE[rng.usize(..UNIVERSE.len())]
}

/// One random step; what it did, for the failure message.
fn one_step(
    rng: &mut fastrand::Rng,
    coord: &mut Coordinator,
    nodes: &mut Vec<Node>,
    counts: &mut [[u64; 2]; 7],
) -> Result<String, String> {
    nodes.retain(|n| is_live(n.aid));
    if !nodes.iter().any(|n| n.aid == coord.aid) {
        return Err(format!(
            "the coordinator a:{:05} ended (it is never revoked)",
            coord.aid
        ));
    }
    let target = nodes[rng.usize(..nodes.len())].aid;
    let Ok(target_aid) = Aid::new(target) else {
        return Err(format!("AID {target} out of range"));
    };
    let cap: Capability = pick(rng).parse().map_err(|e| format!("{e:?}"))?;
    let what = match rng.u8(..10) {
        0 | 1 if nodes.len() < LIVE_MAX => {
            // A child of a:00000 or of the coordinator, with a random manifest and subset.
            let listed: Vec<&str> = (0..rng.usize(1..5)).map(|_| pick(rng)).collect();
            let asked: Vec<Capability> = listed
                .iter()
                .filter(|_| rng.bool())
                .filter_map(|c| c.parse().ok())
                .collect();
            let asked = encode_capset(&asked).map_err(|e| format!("{e:?}"))?;
            let from_root = rng.bool();
            let key = if from_root { root_key() } else { child_key() };
            let m = manifest("prop", &listed, &[], &key);
            let (got, parent) = if from_root {
                counts[0][0] += 1;
                (
                    sys::spawn(&m, &asked, None, 0)
                        .map(|a| a.get())
                        .map_err(|e| e.errno().unwrap_or(0)),
                    0,
                )
            } else {
                counts[1][0] += 1;
                (coord.spawn(&m, &asked)?, coord.aid)
            };
            if let Ok(aid) = got {
                counts[usize::from(!from_root)][1] += 1;
                nodes.push(Node { aid, parent });
            }
            format!("spawn under a:{parent:05} of {listed:?}: {got:?}")
        }
        2 | 3 => {
            counts[2][0] += 1;
            let r = sys::cap_grant(target_aid, &cap);
            counts[2][1] += u64::from(r.is_ok());
            if r.is_ok() && !covered(&caps_of(target)?, &cap.to_string()) {
                return Err(format!(
                    "grant of {cap} to {target_aid} succeeded, yet it lacks it"
                ));
            }
            format!("grant {cap} to {target_aid}: {r:?}")
        }
        4..=6 => {
            counts[3][0] += 1;
            let r = sys::cap_revoke(target_aid, &cap);
            counts[3][1] += u64::from(r.is_ok());
            let revoked = cap.to_string();
            if r.is_ok() {
                // Neither the agent nor a descendant keeps an entry the revoked one covers.
                let mut subtree = vec![target];
                let mut i = 0;
                while let Some(&a) = subtree.get(i) {
                    subtree.extend(nodes.iter().filter(|n| n.parent == a).map(|n| n.aid));
                    i += 1;
                }
                for a in subtree {
                    if !is_live(a) {
                        continue;
                    }
                    for held in caps_of(a)? {
                        let (Ok(h), Ok(c)) = (
                            parse_capability(held.as_bytes()),
                            parse_capability(revoked.as_bytes()),
                        ) else {
                            continue;
                        };
                        if entry_covers(c, h) {
                            return Err(format!(
                                "revoke of {cap} from {target_aid} succeeded, yet a:{a:05} holds {held}"
                            ));
                        }
                    }
                }
            }
            format!("revoke {cap} from {target_aid}: {r:?}")
        }
        7 => {
            counts[4][0] += 1;
            let r = sys::quarantine(target_aid);
            counts[4][1] += u64::from(r.is_ok());
            format!("quarantine {target_aid}: {r:?}")
        }
        8 => {
            counts[5][0] += 1;
            let r = sys::release(target_aid);
            counts[5][1] += u64::from(r.is_ok());
            format!("release {target_aid}: {r:?}")
        }
        _ if target != coord.aid => {
            counts[6][0] += 1;
            let r = sys::revoke_all(target_aid);
            counts[6][1] += u64::from(r.is_ok());
            format!("revoke_all {target_aid}: {r:?}")
        }
        _ => "nothing".into(),
    };
    Ok(what)
}

/// The subset rule for one agent, its parent read from its status (`parent=a:NNNNN`):
/// nothing to check for a terminated agent or a child of a:00000.
pub(crate) fn check_one(aid: u64) -> Result<(), String> {
    let Ok(status) = std::fs::read_to_string(format!("/agent/a:{aid:05}/status")) else {
        return Ok(());
    };
    if status.starts_with("TERMINATED") {
        return Ok(());
    }
    let parent = status
        .lines()
        .find_map(|l| l.strip_prefix("parent=")?.parse::<Aid>().ok())
        .ok_or_else(|| format!("a:{aid:05} status names no parent: {status:?}"))?
        .get();
    if parent == 0 {
        return Ok(());
    }
    let held = caps_of(parent)?;
    for entry in caps_of(aid)? {
        if !covered(&held, &entry) {
            return Err(format!(
                "a:{aid:05} holds {entry}, which its parent a:{parent:05} ({held:?}) does not cover"
            ));
        }
    }
    Ok(())
}

/// The subset rule over every live agent of the run.
fn check(nodes: &[Node]) -> Result<(), String> {
    for n in nodes.iter().filter(|n| n.parent != 0 && is_live(n.aid)) {
        if !is_live(n.parent) {
            return Err(format!(
                "a:{:05} is live but its parent a:{:05} is not",
                n.aid, n.parent
            ));
        }
        let parent = caps_of(n.parent)?;
        for held in caps_of(n.aid)? {
            if !covered(&parent, &held) {
                return Err(format!(
                    "a:{:05} holds {held}, which its parent a:{:05} ({parent:?}) does not cover",
                    n.aid, n.parent
                ));
            }
        }
    }
    Ok(())
}
