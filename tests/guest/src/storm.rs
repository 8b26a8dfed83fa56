//! Concurrency: threads spawning, granting, revoking, quarantining, releasing, asking,
//! attesting and revoking whole agents at once over one shared set of agents, while another
//! thread reads every agent's agentfs files as directories appear and vanish. Afterwards the
//! quiet tree must hold the subset rule, nothing the storm made may be left alive, and no
//! audit row may be lost. Under `--config debug` lockdep, KASAN and kmemleak watch the same
//! storm (their findings fail `kernel::log_has_no_splat`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libcoconut::{encode_capset, sys, Aid, Capability};

use crate::agents::{child_key, manifest, root_key, wait};
use crate::property::{Coordinator, UNIVERSE};
use crate::Test;

/// This module's tests.
pub fn tests() -> Vec<Test> {
    vec![Test::new(
        "storm::concurrent_calls_keep_the_tree_sound",
        run,
    )]
}

const THREADS: u64 = 4;
/// Steps per thread (the `debug` kernel: three times more).
const STEPS: u64 = 600;
/// Agents alive at once, at most (a whole-agent revocation when over).
const LIVE_MAX: usize = 32;

fn lost() -> Result<u64, String> {
    let text = std::fs::read_to_string("/agent/audit/stats").map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("lost=")?.parse().ok())
        .ok_or_else(|| "no lost= in /agent/audit/stats".into())
}

fn run() -> Result<(), String> {
    let debug = crate::kernel::config()?
        .lines()
        .any(|l| l == "CONFIG_KASAN=y");
    let steps = if debug { STEPS * 3 } else { STEPS };
    let lost_before = lost()?;
    // A coordinator agent spawns grandchildren for the workers while they grant and revoke
    // around it (it is never revoked whole until the end).
    let coord = Arc::new(Mutex::new(Coordinator::start()?));
    let coord_aid = coord.lock().map_err(|_| "poisoned")?.aid;
    let agents: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![coord_aid]));
    let made: Arc<Mutex<Vec<u64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(3, |d| d.as_nanos() as u64);
    println!("coconut-storm: seed {seed}, {THREADS} threads x {steps} steps and a reader");
    let reader = {
        let (done, reads) = (done.clone(), reads.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Ok(dir) = std::fs::read_dir("/agent/live") else {
                    continue;
                };
                for e in dir.flatten() {
                    for f in ["status", "caps", "manifest", "attestation"] {
                        // Directories vanish while read: any error is fine, a crash is not.
                        let _ = std::fs::read(e.path().join(f));
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (agents, made, coord) = (agents.clone(), made.clone(), coord.clone());
            std::thread::spawn(move || {
                worker(
                    seed.wrapping_add(i),
                    steps,
                    &agents,
                    &made,
                    &coord,
                    coord_aid,
                )
            })
        })
        .collect();
    let mut problems = Vec::new();
    let mut calls = 0u64;
    for w in workers {
        match w.join() {
            Ok(Ok(n)) => calls += n,
            Ok(Err(e)) => problems.push(e),
            Err(_) => problems.push("a worker panicked".into()),
        }
    }
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
    // The quiet tree: every child covered by its parent, then everything revoked.
    let live = agents.lock().map_err(|_| "poisoned")?.clone();
    for &aid in &live {
        if let Err(e) = crate::property::check_one(aid) {
            problems.push(e);
        }
    }
    // The workers are done: closing its stdin ends the coordinator's member.
    if let Ok(c) = Arc::try_unwrap(coord).map(|m| m.into_inner()) {
        let c = c.map_err(|_| "poisoned")?;
        drop(c.to);
        wait(c.pid);
    }
    let mut all = made.lock().map_err(|_| "poisoned")?.clone();
    all.push(coord_aid);
    for &aid in &all {
        if let Ok(a) = Aid::new(aid) {
            let _ = sys::revoke_all(a);
        }
    }
    let left: Vec<u64> = all
        .iter()
        .copied()
        .filter(|&a| crate::property::is_live(a))
        .collect();
    if !left.is_empty() {
        problems.push(format!("agents left alive after revoke_all: {left:?}"));
    }
    let lost_after = lost()?;
    if lost_after != lost_before {
        problems.push(format!("audit rows lost: {lost_before} -> {lost_after}"));
    }
    println!(
        "coconut-storm: {calls} calls, {} agents made, {} agentfs reads",
        all.len(),
        reads.load(Ordering::Relaxed)
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("seed {seed}: {}", problems.join("; ")))
    }
}

/// One worker's steps; the number of calls it made.
fn worker(
    seed: u64,
    steps: u64,
    agents: &Mutex<Vec<u64>>,
    made: &Mutex<Vec<u64>>,
    coord: &Mutex<Coordinator>,
    coord_aid: u64,
) -> Result<u64, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let key = root_key();
    let pick = |rng: &mut fastrand::Rng| -> Capability {
        UNIVERSE[rng.usize(..UNIVERSE.len())]
            .parse()
            .expect("universe capability")
    };
    for _ in 0..steps {
        let target = {
            let list = agents.lock().map_err(|_| "poisoned")?;
            if list.is_empty() {
                None
            } else {
                Some(list[rng.usize(..list.len())])
            }
        };
        let too_many = agents.lock().map_err(|_| "poisoned")?.len() > LIVE_MAX;
        match (rng.u8(..10), target.and_then(|t| Aid::new(t).ok())) {
            (0 | 1, _) | (_, None) if !too_many => {
                let listed: Vec<&str> = (0..rng.usize(1..5))
                    .map(|_| UNIVERSE[rng.usize(..UNIVERSE.len())])
                    .collect();
                let asked: Vec<Capability> = listed
                    .iter()
                    .filter(|_| rng.bool())
                    .filter_map(|c| c.parse().ok())
                    .collect();
                let caps = encode_capset(&asked).map_err(|e| format!("{e:?}"))?;
                let spawned = if rng.bool() {
                    let m = manifest("storm", &listed, &[], &key);
                    sys::spawn(&m, &caps, None, 0).ok().map(|a| a.get())
                } else {
                    let m = manifest("storm", &listed, &[], &child_key());
                    let mut c = coord.lock().map_err(|_| "poisoned")?;
                    c.spawn(&m, &caps)?.ok()
                };
                if let Some(aid) = spawned {
                    agents.lock().map_err(|_| "poisoned")?.push(aid);
                    made.lock().map_err(|_| "poisoned")?.push(aid);
                }
            }
            (_, None) => {}
            (2 | 3, Some(t)) => {
                let _ = sys::cap_grant(t, &pick(&mut rng));
            }
            (4 | 5, Some(t)) => {
                let _ = sys::cap_revoke(t, &pick(&mut rng));
            }
            (6, Some(t)) => {
                let _ = sys::cap_present(t, &pick(&mut rng));
                let _ = sys::attest(t);
            }
            (7, Some(t)) => {
                let _ = if rng.bool() {
                    sys::quarantine(t)
                } else {
                    sys::release(t)
                };
            }
            (_, Some(t)) if t.get() == coord_aid => {}
            (_, Some(t)) => {
                let _ = sys::revoke_all(t);
                agents
                    .lock()
                    .map_err(|_| "poisoned")?
                    .retain(|&a| a != t.get());
            }
        }
    }
    Ok(steps)
}
