//! Signed checkpoints: `coconut audit verify` on real chains with checkpoint rows (valid,
//! flipped, each wrong in one way), unauthenticated tails, key pinning, history directories
//! of shards across boots, and the `prove`, `consistency`, `key` and `checkpoint` commands.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use coconut_cli::checkpoint::{render_note, MachineId};
use coconut_cli::prove;
use coconut_cli::verify::{self, Failure, Input, Intact, Options, Reason};
use common::*;
use ed25519_dalek::Signer;
use libcoconut::audit::{Checkpoint, CheckpointFault, NOTE_MAX};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn opts(key: Option<[u8; 32]>) -> Options {
    Options {
        head: None,
        key,
        machine_id: MachineId::Known(MACHINE_ID),
    }
}

/// Verifies lines in process (the bulk mutation tests; the binary is run for the rest).
fn check(lines: &[u8], key: Option<[u8; 32]>) -> Result<Intact, Failure> {
    verify::verify_with([Ok(Input::from_bytes("t", lines))], &opts(key), &mut |_| {})
}

fn bad(r: Result<Intact, Failure>) -> (u64, Reason) {
    match r {
        Err(Failure::Bad(b)) => (b.line, b.reason),
        other => panic!("expected a bad row, got {other:?}"),
    }
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_checkpointed_chain_verifies_and_reports_its_unauthenticated_tail() {
    let dir = tempfile::tempdir().unwrap();
    let lines = checkpointed_history();
    let p = write(dir.path(), "chain.log", &text(&lines));
    let o = verify_cp(&[&p], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("intact: 21 rows (boot 1 seq 0..12, boot 2 seq 0..7)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "checkpoints: 3 verified (boot 1: 2, boot 2: 1), key {}\n",
            key_hex()
        )),
        "{out}"
    );
    let err = stderr(&o);
    // Boot 1 ended at a checkpoint: nothing of it is unauthenticated.
    assert!(!err.contains("boot 1:"), "{err}");
    assert!(
        err.contains("warning: boot 2: 2 rows unauthenticated (seq 6..7): after the boot's last checkpoint (seq 5)"),
        "{err}"
    );

    let o = verify_cp(&[&p], &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "intact");
    assert_eq!(v["checkpoints"], 3);
    assert_eq!(v["unauthenticated_rows"], 2);
    assert_eq!(v["key_pinned"], false);
    assert_eq!(v["boots"][0]["checkpoints"], 2);
    assert_eq!(v["boots"][0]["last_checkpoint_seq"], 12);
    assert_eq!(v["boots"][0]["unauthenticated"], serde_json::Value::Null);
    assert_eq!(v["boots"][0]["key"], key_hex());
    assert_eq!(v["boots"][1]["unauthenticated"]["rows"], 2);
    assert_eq!(v["boots"][1]["unauthenticated"]["first_seq"], 6);
    assert_eq!(v["boots"][1]["unauthenticated"]["last_seq"], 7);
}

#[test]
fn a_chain_without_checkpoints_is_all_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "chain.log", &text(&chain_lines()));
    let o = verify_cp(&[&p], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("checkpoints: none verified"),
        "{}",
        show(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains(
            "warning: boot 1: 6 rows unauthenticated (seq 0..5): the boot has no checkpoint"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: boot 2: 7 rows unauthenticated (seq 0..6)"),
        "{err}"
    );
}

#[test]
fn every_single_byte_flip_of_a_checkpoint_line_fails_at_that_line() {
    let lines = checkpointed_history();
    let good = text(&lines);
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if CHECKPOINT_LINES.contains(&i) {
            for b in start..start + l.len() + 1 {
                let mut t = good.clone();
                t[b] ^= 0x01;
                let (line, reason) = bad(check(&t, None));
                assert_eq!(line, i as u64 + 1, "byte {b} of line {i}: {reason:?}");
            }
        }
        start += l.len() + 1;
    }
}

#[test]
fn every_flip_of_a_checkpoint_detail_is_caught_even_with_the_chain_rebuilt_over_it() {
    // The adversary who rewrites the chain: the flipped detail is sealed, and every later hash
    // recomputed, so only the checkpoint checks can see it.
    let good = checkpointed_history();
    for at in CHECKPOINT_LINES {
        let v: serde_json::Value = serde_json::from_str(&good[at]).unwrap();
        let len = v["detail"].as_str().unwrap().len();
        for pos in 0..len {
            let flip = move |d: String| {
                let mut b = d.into_bytes();
                b[pos] ^= 0x01;
                String::from_utf8(b).unwrap()
            };
            let lines = checkpointed_history_with(at, Tamper::Detail(Box::new(flip)));
            let (line, reason) = bad(check(&text(&lines), None));
            assert_eq!(
                line,
                at as u64 + 1,
                "line {at} detail byte {pos}: {reason:?}"
            );
            assert!(
                reason.code().starts_with("checkpoint_"),
                "line {at} detail byte {pos}: {reason:?}"
            );
        }
    }
}

#[test]
fn each_wrong_checkpoint_fails_with_its_own_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, usize, Tamper, &str)> = vec![
        ("root", 12, Tamper::Root, "checkpoint_root_mismatch"),
        ("size", 12, Tamper::Size, "checkpoint_size_mismatch"),
        // The detail does not repeat the head (it is the row's prev, hash-chained): a
        // signature over another head is a bad signature.
        ("head", 12, Tamper::Head, "checkpoint_bad_signature"),
        ("sig", 12, Tamper::Sig, "checkpoint_bad_signature"),
        (
            "key",
            12,
            Tamper::Key(Box::new(other_key())),
            "checkpoint_key_changed",
        ),
        (
            "malformed",
            12,
            Tamper::Detail(Box::new(|d: String| d.replace("size=", "size=0"))),
            "checkpoint_malformed",
        ),
    ];
    for (what, at, tamper, code) in cases {
        let lines = checkpointed_history_with(at, tamper);
        let p = write(dir.path(), &format!("{what}.log"), &text(&lines));
        let o = verify_cp(&[&p], &["--json"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", show(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["reason"], code, "{what}: {v}");
        assert_eq!(v["line"], at as u64 + 1, "{what}: {v}");
        assert_eq!(v["boot"], 1, "{what}: {v}");
        assert_eq!(v["seq"], 12, "{what}: {v}");
        // The text report names file, line, boot, seq and why.
        let o = verify_cp(&[&p], &[]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", show(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "first bad row: {}:13 (boot 1, seq 12): ",
                p.display()
            )),
            "{what}: {err}"
        );
    }
    let msg = |k: CheckpointFault| Reason::Checkpoint(k).to_string();
    assert!(msg(CheckpointFault::RootMismatch).contains("Merkle root"));
    assert!(msg(CheckpointFault::SizeMismatch).contains("number of this boot's rows"));
    assert!(msg(CheckpointFault::KeyChanged).contains("earlier checkpoints"));
    assert!(msg(CheckpointFault::KeyNotPinned).contains("pinned"));
}

#[test]
fn another_machine_id_is_a_bad_signature_and_none_is_exit_2() {
    let lines = checkpointed_history();
    let t = text(&lines);
    let mut o = opts(None);
    o.machine_id = MachineId::Known([0x4e; 16]);
    let r = verify::verify_with([Ok(Input::from_bytes("t", &t))], &o, &mut |_| {});
    assert!(matches!(bad(r), (7, Reason::BadSignature { .. })));
    o.machine_id = MachineId::Unknown("no machine id given".into());
    let r = verify::verify_with([Ok(Input::from_bytes("t", &t))], &o, &mut |_| {});
    assert!(matches!(r, Err(Failure::Io(m)) if m.contains("--machine-id")));
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "chain.log", &t);
    let o = coconut(&[
        "audit",
        "verify",
        p.to_str().unwrap(),
        "--machine-id",
        "not-hex",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        stderr(&o).contains("32 lowercase hex digits"),
        "{}",
        show(&o)
    );
}

#[test]
fn a_pinned_key_refuses_checkpoints_under_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "chain.log", &text(&checkpointed_history()));
    // The right key, as hex, as a hex file and as a raw file.
    let raw = write(
        dir.path(),
        "key.pub",
        &signing_key().verifying_key().to_bytes(),
    );
    let hexf = write(dir.path(), "key.hex", format!("{}\n", key_hex()).as_bytes());
    for k in [
        key_hex(),
        raw.display().to_string(),
        hexf.display().to_string(),
    ] {
        let o = verify_cp(&[&p], &["--key", &k]);
        assert_eq!(o.status.code(), Some(0), "{k}: {}", show(&o));
        assert!(stdout(&o).contains("(pinned)"), "{}", show(&o));
    }
    // Another key: the first checkpoint fails.
    let other = hex::encode(other_key().verifying_key().to_bytes());
    let o = verify_cp(&[&p], &["--key", &other, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "checkpoint_key_not_pinned");
    assert_eq!(v["line"], 7);
    // A boot whose first checkpoint is signed with another key is consistent on its own but not
    // under the pinned key.
    let lines = checkpointed_history_with(18, Tamper::Key(Box::new(other_key())));
    let q = write(dir.path(), "other.log", &text(&lines));
    let o = verify_cp(&[&q], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stderr(&o).contains("the seed changed"), "{}", show(&o));
    let o = verify_cp(&[&q], &["--key", &key_hex(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "checkpoint_key_not_pinned");
    assert_eq!(v["boot"], 2);
    assert_eq!(v["seq"], 5);
    // A malformed key file is exit 2 with what a key is.
    let short = write(dir.path(), "short", &[1u8; 5]);
    let o = verify_cp(&[&p], &["--key", short.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        stderr(&o).contains("32 raw bytes or 64 hex digits"),
        "{}",
        show(&o)
    );
}

/// A boot of 50 rows with checkpoints at sizes 1, 4, 8, 13, 16, 32 and 50 (the last one is
/// row 50, so the checkpoints themselves are rows too).
const SIZES: [u64; 7] = [1, 4, 8, 13, 16, 32, 50];

fn fifty() -> Builder {
    let mut b = Builder::new(1, None);
    for s in SIZES {
        let have = b.lines.len() as u64;
        b.rows((s - have) as usize);
        b.checkpoint();
    }
    assert_eq!(b.lines.len(), 51);
    b
}

fn tree_of(lines: &[String], boot: Option<u64>) -> prove::BootTree {
    let t = text(lines);
    prove::collect([Ok(Input::from_bytes("t", &t))], &opts(None), boot)
        .unwrap()
        .0
}

#[test]
fn inclusion_proofs_verify_for_every_row_and_fail_for_any_altered_byte() {
    let b = fifty();
    let tree = tree_of(&b.lines, None);
    assert_eq!(tree.checkpoints.len(), SIZES.len());
    let last = *SIZES.last().unwrap();
    for seq in 0..last {
        let p = prove::inclusion(&tree, seq).unwrap();
        assert_eq!(p.checkpoint.row.size, last, "the latest checkpoint");
        assert_eq!(p.hash, b.hashes[seq as usize]);
        p.check().unwrap();
        for h in 0..p.proof.len() {
            for byte in 0..32 {
                let mut q = p.clone();
                q.proof[h][byte] ^= 0x01;
                assert!(q.check().is_err(), "seq {seq} hash {h} byte {byte}");
            }
        }
        let mut q = p.clone();
        q.leaf[0] ^= 1;
        assert!(q.check().is_err());
        let mut q = p.clone();
        q.proof.pop();
        assert!(q.check().is_err() || p.proof.is_empty());
    }
    // Rows after the last checkpoint (here: the checkpoint row itself) are not covered yet.
    match prove::inclusion(&tree, last) {
        Err(Failure::Io(m)) => assert!(m.contains("not covered by a checkpoint yet"), "{m}"),
        other => panic!("{other:?}"),
    }
    match prove::inclusion(&tree, 1000) {
        Err(Failure::Io(m)) => assert!(m.contains("is not in boot 1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn consistency_holds_between_every_pair_of_checkpoints() {
    let tree = tree_of(&fifty().lines, Some(1));
    for (i, &old) in SIZES.iter().enumerate() {
        for &new in &SIZES[i..] {
            let p = prove::consistency(&tree, old, new).unwrap();
            p.check().unwrap();
            for h in 0..p.proof.len() {
                let mut q = p.clone();
                q.proof[h][h % 32] ^= 0x80;
                assert!(q.check().is_err(), "{old}..{new} hash {h}");
            }
        }
    }
    assert!(
        matches!(prove::consistency(&tree, 5, 8), Err(Failure::Io(m)) if m.contains("no checkpoint of size 5"))
    );
    assert!(
        matches!(prove::consistency(&tree, 16, 8), Err(Failure::Io(m)) if m.contains("larger"))
    );
}

#[test]
fn prove_and_consistency_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "chain.log", &text(&fifty().lines));
    let f = p.to_str().unwrap();
    let m = machine_hex();
    let o = coconut(&["audit", "prove", "20", f, "--machine-id", &m]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(out.contains("row: boot 1, seq 20, hash "), "{out}");
    assert!(out.contains("checkpoint: seq 50, size 50, root "), "{out}");
    assert!(
        out.contains("verified: row 20 is leaf 20 of the 50 rows"),
        "{out}"
    );
    let o = coconut(&["audit", "prove", "20", f, "--machine-id", &m, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "verified");
    assert_eq!(v["size"], 50);
    assert_eq!(v["proof"].as_array().unwrap().len(), 6);
    let o = coconut(&[
        "audit",
        "consistency",
        "13",
        "32",
        f,
        "--machine-id",
        &m,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["old_size"], 13);
    assert_eq!(v["new_size"], 32);
    let o = coconut(&["audit", "consistency", "13", "32", f, "--machine-id", &m]);
    assert!(
        stdout(&o).contains("verified: the tree of 13 rows is a prefix of the tree of 32 rows"),
        "{}",
        show(&o)
    );

    // Every bad request is exit 2 with what is wrong.
    for (args, needle) in [
        (vec!["prove", "999"], "seq 999 is not in boot 1"),
        (vec!["prove", "50"], "not covered by a checkpoint yet"),
        (
            vec!["prove", "3", "--boot", "7"],
            "boot 7 is not in the input",
        ),
        (vec!["prove", "x"], "invalid value"),
        (vec!["consistency", "5", "8"], "no checkpoint of size 5"),
        (vec!["consistency", "32", "13"], "larger than new size"),
        (
            vec!["prove", "3", "--key", "/nonexistent/key"],
            "cannot read /nonexistent/key",
        ),
    ] {
        let mut a = vec!["audit"];
        a.extend(&args);
        a.extend([f, "--machine-id", &m]);
        let o = coconut(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", show(&o));
    }
    // A boot without checkpoints cannot be proved.
    let q = write(dir.path(), "plain.log", &text(&chain_lines()));
    let o = coconut(&["audit", "prove", "2", q.to_str().unwrap(), "--boot", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        stderr(&o).contains("boot 1 has no checkpoint"),
        "{}",
        show(&o)
    );
    // A bad chain proves nothing: exit 1.
    let mut lines = fifty().lines;
    lines.swap(3, 4);
    let q = write(dir.path(), "bad.log", &text(&lines));
    let o = coconut(&[
        "audit",
        "prove",
        "20",
        q.to_str().unwrap(),
        "--machine-id",
        &m,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
}

/// Boot 1 in three zstd shards, boot 2 as the open plain shard.
fn history_dir(dir: &Path) -> Vec<PathBuf> {
    let lines = checkpointed_history();
    let zst = |a: usize, b: usize| zstd::encode_all(&text(&lines[a..b])[..], 3).unwrap();
    vec![
        write(dir, "1-0.log.zst", &zst(0, 4)),
        write(dir, "1-4.log.zst", &zst(4, 9)),
        write(dir, "1-9.log.zst", &zst(9, 13)),
        write(dir, "2-0.log", &text(&lines[13..])),
    ]
}

#[test]
fn a_history_directory_verifies_as_one_chain_across_boots() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("audit");
    fs::create_dir(&h).unwrap();
    let shards = history_dir(&h);
    write(&h, "README", b"not a shard");
    let o = verify_cp(&[&h], &["--key", &key_hex()]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).starts_with("intact: 21 rows (boot 1 seq 0..12, boot 2 seq 0..7)"),
        "{}",
        show(&o)
    );
    assert!(
        stdout(&o).contains("checkpoints: 3 verified"),
        "{}",
        show(&o)
    );
    assert!(stderr(&o).contains("ignored"), "{}", show(&o));
    // Proofs read the directory too.
    let o = coconut(&[
        "audit",
        "prove",
        "3",
        h.to_str().unwrap(),
        "--boot",
        "2",
        "--machine-id",
        &machine_hex(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains("checkpoint: seq 5, size 5"),
        "{}",
        show(&o)
    );

    // A shard missing in the middle of a boot: a seq gap at the next shard's first line.
    fs::rename(&shards[1], dir.path().join("moved")).unwrap();
    let o = verify_cp(&[&h], &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "seq_gap");
    assert!(v["file"].as_str().unwrap().ends_with("1-9.log.zst"), "{v}");
    assert_eq!(v["line"], 1);
    fs::rename(dir.path().join("moved"), &shards[1]).unwrap();

    // The last shard of boot 1 missing: boot 2's link row names another last row.
    fs::rename(&shards[2], dir.path().join("moved")).unwrap();
    let o = verify_cp(&[&h], &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "bad_link");
    assert!(v["file"].as_str().unwrap().ends_with("2-0.log"), "{v}");
    assert_eq!(v["line"], 2);
    fs::rename(dir.path().join("moved"), &shards[2]).unwrap();

    // The first shard missing: the history does not start at a boot row.
    fs::rename(&shards[0], dir.path().join("moved")).unwrap();
    let o = verify_cp(&[&h], &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "bad_start");
    fs::rename(dir.path().join("moved"), &shards[0]).unwrap();

    // A renamed shard: its first row is not the one its name says.
    fs::rename(&shards[1], h.join("1-5.log.zst")).unwrap();
    let o = verify_cp(&[&h], &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "shard_name");
    fs::rename(h.join("1-5.log.zst"), &shards[1]).unwrap();

    // The same shard plain and compressed (a crash between the .zst's rename and the plain
    // file's removal): the .zst is read, the plain twin mentioned; a temporary file is skipped.
    let plain = zstd::decode_all(&fs::read(&shards[2]).unwrap()[..]).unwrap();
    write(&h, "1-9.log", &plain[..plain.len() / 2]);
    write(&h, ".1-9.log.zst.tmp", b"partial");
    let o = verify_cp(&[&h], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stderr(&o).contains("1-9.log: not a shard"), "{}", show(&o));
    assert!(!stderr(&o).contains(".1-9.log.zst.tmp"), "{}", show(&o));
}

#[test]
fn a_boot_read_from_the_middle_checks_signatures_but_not_roots() {
    // A chain.log rotated into: it starts at the rotate row, so the rows before are not in the
    // input and the root cannot be recomputed; the signature (over the head before the
    // checkpoint, which the hash chain ties to every row before it) still is checked.
    let mut b = Builder::new(1, None);
    b.rows(3);
    b.seal(
        coconut_abi::AuditKind::Rotate,
        "shard=1-0.log.zst rows=4 last_seq=3",
    );
    b.rows(2);
    b.checkpoint();
    let tail = text(&b.lines[4..]);
    let intact = check(&tail, None).unwrap();
    assert_eq!(intact.checkpoints(), 1);
    assert_eq!(intact.boots[0].roots_unchecked, 1);
    assert!(
        intact
            .warnings()
            .iter()
            .any(|w| w.contains("was not recomputed")),
        "{:?}",
        intact.warnings()
    );
    // A root-tampered checkpoint is then caught only by its signature if the signature covers
    // it: here the root was signed, so reading from the middle cannot see it, and reading the
    // whole boot does.
    let mut b = Builder::new(1, None);
    b.rows(3);
    b.seal(
        coconut_abi::AuditKind::Rotate,
        "shard=1-0.log.zst rows=4 last_seq=3",
    );
    b.rows(2);
    b.checkpoint_tampered(Tamper::Root);
    assert!(check(&text(&b.lines[4..]), None).is_ok());
    // Proofs need the boot from seq 0.
    let tail = text(&b.lines[4..]);
    match prove::collect([Ok(Input::from_bytes("t", &tail))], &opts(None), None) {
        Err(Failure::Io(m)) => assert!(m.contains("boot 1 from seq 4 only"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bad(check(&text(&b.lines), None)),
        (8, Reason::Checkpoint(CheckpointFault::RootMismatch))
    ));
    // shard_name parsing, which the directory order relies on.
    assert_eq!(
        verify::shard_name("12-3400.log.zst"),
        Some((12, 3400, true))
    );
    assert_eq!(verify::shard_name("2-0.log"), Some((2, 0, false)));
    for bad in [
        "02-0.log", "2-00.log", "2-.log", "2-1.txt", "a-1.log", "2_1.log",
    ] {
        assert_eq!(verify::shard_name(bad), None, "{bad}");
    }
}

#[test]
fn key_prints_the_kernel_key_or_says_no_seed_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let key = signing_key().verifying_key().to_bytes();
    let k = write(dir.path(), "key", &key);
    let o = coconut(&["audit", "key", "--file", k.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), format!("{}\n", key_hex()));
    let o = coconut(&["audit", "key", "--hex", "--file", k.to_str().unwrap()]);
    assert_eq!(stdout(&o), format!("{}\n", key_hex()));
    let o = coconut(&["audit", "key", "--raw", "--file", k.to_str().unwrap()]);
    assert_eq!(o.stdout, key);
    let empty = write(dir.path(), "empty", b"");
    let o = coconut(&["audit", "key", "--file", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("no seed is loaded"), "{}", show(&o));
    let short = write(dir.path(), "short", &[0u8; 31]);
    let o = coconut(&["audit", "key", "--file", short.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(stderr(&o).contains("32 raw bytes"), "{}", show(&o));
    let o = coconut(&["audit", "key", "--file", "/nonexistent/key"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn checkpoint_verifies_a_signed_note() {
    let dir = tempfile::tempdir().unwrap();
    let sk = signing_key();
    let key = sk.verifying_key().to_bytes();
    let cp = Checkpoint {
        machine_id: MACHINE_ID,
        boot: 2,
        size: 5,
        root: [3; 32],
        head: [4; 32],
    };
    let mut nb = [0u8; NOTE_MAX];
    let sig = sk.sign(cp.note(&mut nb).as_bytes()).to_bytes();
    let note = render_note(&cp, &key, &sig);
    let n = write(dir.path(), "checkpoint", note.as_bytes());
    let f = n.to_str().unwrap();
    let o = coconut(&["audit", "checkpoint", f, "--key", &key_hex()]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("machine {}, boot 2", machine_hex())),
        "{out}"
    );
    assert!(out.contains("size: 5\n"), "{out}");
    assert!(
        out.contains(&format!("root: {}\n", "03".repeat(32))),
        "{out}"
    );
    assert!(
        out.contains(&format!("head: {}\n", "04".repeat(32))),
        "{out}"
    );
    let o = coconut(&["audit", "checkpoint", f, "--key", &key_hex(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "verified");
    assert_eq!(v["size"], 5);
    // Another key, a changed note, a malformed key: 1, 1, 2.
    let other = hex::encode(other_key().verifying_key().to_bytes());
    let o = coconut(&["audit", "checkpoint", f, "--key", &other]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("no signature line"), "{}", show(&o));
    let changed = write(
        dir.path(),
        "changed",
        note.replacen("\n5\n", "\n6\n", 1).as_bytes(),
    );
    let o = coconut(&[
        "audit",
        "checkpoint",
        changed.to_str().unwrap(),
        "--key",
        &key_hex(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("does not verify"), "{}", show(&o));
    let short = write(dir.path(), "short", &[1u8; 3]);
    let o = coconut(&["audit", "checkpoint", f, "--key", short.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let o = coconut(&[
        "audit",
        "checkpoint",
        "/nonexistent/note",
        "--key",
        &key_hex(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn help_explains_each_command() {
    for (cmd, needles) in [
        (
            "verify",
            vec![
                "--key",
                "--machine-id",
                "unauthenticated",
                "Merkle root",
                "/var/log/coconut/audit",
            ],
        ),
        (
            "prove",
            vec!["inclusion proof", "--boot", "from seq 0", "Exit status"],
        ),
        ("consistency", vec!["prefix", "OLD_SIZE", "Exit status"]),
        (
            "key",
            vec!["/agent/audit/key", "no seed", "off the machine"],
        ),
        (
            "checkpoint",
            vec!["/agent/audit/checkpoint", "key id", "Exit status"],
        ),
    ] {
        let o = coconut(&["audit", cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let help = stdout(&o);
        for n in needles {
            assert!(help.contains(n), "audit {cmd} --help lacks {n:?}:\n{help}");
        }
    }
}
