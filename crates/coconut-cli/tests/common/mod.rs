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

// Chains with signed checkpoints.

use ed25519_dalek::{Signer, SigningKey};
use libcoconut::audit::{leaf_hash, Checkpoint, CheckpointRow, Frontier, NOTE_MAX};

/// The machine id the checkpoint fixtures sign for.
pub const MACHINE_ID: [u8; 16] = [0x4d; 16];

/// [`MACHINE_ID`] as `--machine-id` takes it.
pub fn machine_hex() -> String {
    hex::encode(MACHINE_ID)
}

/// The checkpoint signing key of the fixtures.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// Another key, for checkpoints that must not verify under the fixtures' key.
pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[0x24; 32])
}

/// The fixtures' public key in hex.
pub fn key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

/// How a checkpoint is made wrong (each signed correctly otherwise, so that only the named
/// check can catch it).
pub enum Tamper {
    /// A correct checkpoint.
    None,
    /// The root of another tree (signed).
    Root,
    /// A size one too large (signed).
    Size,
    /// The signature covers another head than the row's prev.
    Head,
    /// A flipped bit in the signature.
    Sig,
    /// Signed with another key (which the detail names).
    Key(Box<SigningKey>),
    /// The rendered detail, rewritten (then sealed as it is).
    Detail(Box<dyn Fn(String) -> String>),
}

/// Builds one boot's chain with the shared sealer, keeping the Merkle frontier the kernel
/// keeps, and signs checkpoint rows with ed25519-dalek.
pub struct Builder {
    chain: Chain,
    frontier: Frontier,
    /// The lines so far, without newlines.
    pub lines: Vec<String>,
    /// The chain hash of each row so far.
    pub hashes: Vec<[u8; 32]>,
    key: SigningKey,
}

impl Builder {
    /// A boot's chain: its boot row, and its link row when it follows `previous`.
    pub fn new(boot: u64, previous: Option<PrevBoot>) -> Builder {
        let mut b = Builder {
            chain: Chain::start(&SEED, boot, previous),
            frontier: Frontier::new(),
            lines: Vec::new(),
            hashes: Vec::new(),
            key: signing_key(),
        };
        let detail = format!("boot={boot} abi=1 kernel=6.12.0-coconut seed=soft");
        b.seal(AuditKind::Boot, &detail);
        let mut lb = [0u8; LINK_DETAIL_MAX];
        if let Some(link) = b.chain.link_detail(&mut lb).map(str::to_owned) {
            b.seal(AuditKind::Link, &link);
        }
        b
    }

    /// Seals one row.
    pub fn seal(&mut self, kind: AuditKind, detail: &str) {
        let seq = self.chain.next_seq();
        let mut out = Vec::new();
        let r = rec(kind, 0, 0, 0, detail);
        seal(&mut self.chain, &r, seq * 1000, &mut out);
        let hash: [u8; 32] = hex::decode(hash_of(&out[0])).unwrap().try_into().unwrap();
        self.frontier.push(&leaf_hash(&hash).unwrap()).unwrap();
        self.hashes.push(hash);
        self.lines.extend(out);
    }

    /// Seals `n` ordinary rows.
    pub fn rows(&mut self, n: usize) {
        for _ in 0..n {
            let seq = self.chain.next_seq();
            self.seal(
                AuditKind::Quota,
                &format!("op=charge kind=cpu amount={seq} used={}", seq * 2),
            );
        }
    }

    /// Seals a correct checkpoint row.
    pub fn checkpoint(&mut self) {
        self.checkpoint_tampered(Tamper::None);
    }

    /// Seals a checkpoint row made wrong as `t` says.
    pub fn checkpoint_tampered(&mut self, t: Tamper) {
        let mut size = self.chain.next_seq();
        let mut root = self.frontier.root();
        let mut head = *self.chain.head();
        let key = match &t {
            Tamper::Key(k) => (**k).clone(),
            _ => self.key.clone(),
        };
        match &t {
            Tamper::Root => root[0] ^= 1,
            Tamper::Size => size += 1,
            Tamper::Head => head[0] ^= 1,
            _ => {}
        }
        let cp = Checkpoint {
            machine_id: MACHINE_ID,
            boot: self.chain.boot(),
            size,
            root,
            head,
        };
        let mut nb = [0u8; NOTE_MAX];
        let mut sig = key.sign(cp.note(&mut nb).as_bytes()).to_bytes();
        if let Tamper::Sig = t {
            sig[10] ^= 1;
        }
        let row = CheckpointRow {
            size,
            root,
            key: key.verifying_key().to_bytes(),
            sig,
        };
        let mut db = [0u8; libcoconut::audit::shared::CHECKPOINT_DETAIL_MAX];
        let mut detail = row.encode(&mut db).to_owned();
        if let Tamper::Detail(f) = &t {
            detail = f(detail);
        }
        self.seal(AuditKind::Checkpoint, &detail);
    }

    /// Where this boot ends, for the next boot's link.
    pub fn end(&self) -> PrevBoot {
        PrevBoot {
            boot: self.chain.boot(),
            last_seq: self.chain.next_seq() - 1,
            head: *self.chain.head(),
        }
    }
}

/// Line index of each checkpoint in [`checkpointed_history`].
pub const CHECKPOINT_LINES: [usize; 3] = [6, 12, 18];

/// Two boots with checkpoints, built with `tamper` applied to the checkpoint at line
/// `tampered` (one of [`CHECKPOINT_LINES`]), everything after it sealed on top: boot 1 is rows
/// 0..=5, a checkpoint at seq 6, rows 7..=11, a checkpoint at seq 12 (it ends at a checkpoint,
/// as an orderly shutdown does); boot 2 is its boot and link rows, rows 2..=4, a checkpoint at
/// seq 5, and rows 6 and 7, which no checkpoint covers. 21 lines.
pub fn checkpointed_history_with(tampered: usize, tamper: Tamper) -> Vec<String> {
    let mut tamper = Some(tamper);
    let mut take = |line: usize| {
        if line == tampered {
            tamper.take().unwrap_or(Tamper::None)
        } else {
            Tamper::None
        }
    };
    let mut b1 = Builder::new(1, None);
    b1.rows(5);
    b1.checkpoint_tampered(take(6));
    b1.rows(5);
    b1.checkpoint_tampered(take(12));
    let mut b2 = Builder::new(2, Some(b1.end()));
    b2.rows(3);
    b2.checkpoint_tampered(take(18));
    b2.rows(2);
    let mut lines = b1.lines;
    lines.extend(b2.lines);
    assert_eq!(lines.len(), 21);
    for i in CHECKPOINT_LINES {
        assert!(lines[i].contains("\"kind\":\"checkpoint\""), "line {i}");
    }
    lines
}

/// [`checkpointed_history_with`] without tampering.
pub fn checkpointed_history() -> Vec<String> {
    checkpointed_history_with(usize::MAX, Tamper::None)
}

/// Runs `coconut audit verify` on files with the fixtures' machine id and extra arguments.
pub fn verify_cp(files: &[&Path], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["audit".into(), "verify".into()];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
    args.push("--machine-id".into());
    args.push(machine_hex());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    coconut(&args)
}
