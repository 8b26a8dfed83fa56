//! Shared test code: a real two-boot chain built with the shared sealer, rendered as
//! `chain.log` lines, and a runner for the built `coconut` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use coconut_abi::{Aid, AuditKind};
use libcoconut::audit::shared::{Chain, PrevBoot, Record, EVENT_MAX, LINK_DETAIL_MAX};
use libcoconut::audit::{AuditRow, RowRef};

/// The seed the test chain's genesis comes from.
pub const SEED: [u8; 32] = [0x5a; 32];

/// Index of the rotate row in [`chain_lines`] (the first line of the chain.log after the
/// shard).
pub const ROTATE_AT: usize = 10;

fn rec(kind: AuditKind, actor: u64, subject: u64, result: i32, detail: &str) -> Record<'_> {
    Record {
        kind,
        time_ns: 1_767_225_600_000_000_000,
        actor: Aid::new(actor).unwrap(),
        subject: Aid::new(subject).unwrap(),
        result,
        detail,
    }
}

fn seal(chain: &mut Chain, r: &Record<'_>, time: u64, out: &mut Vec<String>) {
    let mut buf = [0u8; EVENT_MAX];
    let r = Record {
        time_ns: r.time_ns + time,
        ..*r
    };
    let (row, len) = chain.seal(&r, &mut buf).unwrap();
    let row = AuditRow::from_row_ref(RowRef {
        prev: &row.prev,
        event: &buf[..len],
        hash: &row.hash,
    })
    .unwrap();
    out.push(row.to_json().unwrap());
}

/// Thirteen lines over two boots: boot 1 (boot, spawn, state, cap_grant, state, exit) and
/// boot 2 (boot, link, spawn, cap_deny, rotate, state, exit), each without its newline.
pub fn chain_lines() -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Chain::start(&SEED, 1, None);
    let m = "9c".repeat(32);
    let spawn = format!("name=worker manifest={m} signer={} lane=2", "3b".repeat(32));
    let b1 = [
        rec(
            AuditKind::Boot,
            0,
            0,
            0,
            "boot=1 abi=1 kernel=6.12.0-coconut seed=soft",
        ),
        rec(AuditKind::Spawn, 1, 2, 0, &spawn),
        rec(
            AuditKind::State,
            1,
            2,
            0,
            "from=SPAWNING to=ATTESTED why=spawn_verified",
        ),
        rec(AuditKind::CapGrant, 1, 2, 0, "cap=fs.read:/srv/d\"q\\b"),
        rec(
            AuditKind::State,
            2,
            2,
            0,
            "from=ATTESTED to=ACTIVE why=exec",
        ),
        rec(AuditKind::Exit, 2, 2, 0, "pid=4242 status=0"),
    ];
    for (i, r) in b1.iter().enumerate() {
        seal(&mut c, r, i as u64 * 1000, &mut out);
    }
    let prev = PrevBoot {
        boot: 1,
        last_seq: c.next_seq() - 1,
        head: *c.head(),
    };
    let mut c = Chain::start(&SEED, 2, Some(prev));
    let mut lb = [0u8; LINK_DETAIL_MAX];
    let link = c.link_detail(&mut lb).unwrap().to_owned();
    let b2 = [
        rec(
            AuditKind::Boot,
            0,
            0,
            0,
            "boot=2 abi=1 kernel=6.12.0-coconut seed=soft",
        ),
        rec(AuditKind::Link, 0, 0, 0, &link),
        rec(AuditKind::Spawn, 1, 3, 0, &spawn),
        rec(
            AuditKind::CapDeny,
            3,
            3,
            -13,
            "cap=fs.read:/etc/shadow op=file_open pid=77",
        ),
        rec(
            AuditKind::Rotate,
            0,
            0,
            0,
            "shard=1-0.log.zst rows=10 last_seq=3",
        ),
        rec(
            AuditKind::State,
            3,
            3,
            0,
            "from=ACTIVE to=QUARANTINED why=cap_deny",
        ),
        rec(AuditKind::Exit, 3, 3, 0, "pid=77 status=9"),
    ];
    for (i, r) in b2.iter().enumerate() {
        seal(&mut c, r, 10_000_000_000 + i as u64 * 1000, &mut out);
    }
    assert!(out[ROTATE_AT].contains("\"kind\":\"rotate\""));
    out
}

/// Joins lines into chain.log text, each with its newline.
pub fn text(lines: &[String]) -> Vec<u8> {
    let mut t = Vec::new();
    for l in lines {
        t.extend_from_slice(l.as_bytes());
        t.push(b'\n');
    }
    t
}

/// The `hash` field of a line.
pub fn hash_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["hash"].as_str().unwrap().to_owned()
}

/// Runs the built `coconut` binary.
pub fn coconut(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coconut"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `coconut audit verify FILE [--head HEX]`.
pub fn verify(file: &Path, head: Option<&str>) -> Output {
    let f = file.to_str().unwrap();
    match head {
        Some(h) => coconut(&["audit", "verify", f, "--head", h]),
        None => coconut(&["audit", "verify", f]),
    }
}

/// The exit code, stdout and stderr of a run, for messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The line number in a `first bad row: FILE:LINE (…)` report.
pub fn reported_line(o: &Output) -> u64 {
    let err = String::from_utf8_lossy(&o.stderr);
    let rest = err
        .split("first bad row: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", show(o)));
    let before = rest.split(" (").next().unwrap();
    before.rsplit(':').next().unwrap().parse().unwrap()
}
