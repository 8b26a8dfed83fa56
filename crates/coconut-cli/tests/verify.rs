//! `coconut audit verify` on a real two-boot chain, and on every single-byte, line-level and
//! truncation mutation of it, run through the built binary.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn the_real_chain_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let head = hash_of(lines.last().unwrap());
    let p = write(dir.path(), "chain.log", &text(&lines));
    let o = verify(&p, Some(&head));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "intact: 13 rows (boot 1 seq 0..5, boot 2 seq 0..6), head {head}\n\
             checkpoints: none verified (no checkpoint row in the input)\n"
        )
    );
    // A head file of 32 raw bytes, as /agent/audit/head is, works the same.
    let raw = hex::decode(&head).unwrap();
    let hp = write(dir.path(), "head", &raw);
    let o = verify(&p, Some(hp.to_str().unwrap()));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Without a head it says what it could not check.
    let o = verify(&p, None);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!(", head {head}\n")));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no head given"),
        "{}",
        show(&o)
    );
}

#[test]
fn json_output_is_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let p = write(dir.path(), "chain.log", &text(&lines));
    let o = coconut(&["audit", "verify", p.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "intact");
    assert_eq!(v["rows"], 13);
    assert_eq!(v["boots"][1]["last_seq"], 6);
    assert_eq!(v["head"], hash_of(lines.last().unwrap()));

    let mut bad = lines.clone();
    bad.swap(3, 4);
    let p = write(dir.path(), "bad.log", &text(&bad));
    let o = coconut(&["audit", "verify", p.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "bad");
    assert_eq!(v["line"], 4);
    assert_eq!(v["boot"], 1);
    assert_eq!(v["seq"], 4);
    assert_eq!(v["reason"], "seq_gap");
}

#[test]
fn every_single_byte_flip_fails() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let good = text(&lines);
    let p = dir.path().join("chain.log");
    for i in 0..good.len() {
        let mut t = good.clone();
        t[i] ^= 0x01;
        fs::write(&p, &t).unwrap();
        let o = verify(&p, None);
        assert_eq!(o.status.code(), Some(1), "byte {i} flipped: {}", show(&o));
        // The report names the line the flipped byte is on (or, for a newline turned into
        // another byte, the line it ended, now joined with the next).
        let line = good[..i].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert_eq!(reported_line(&o), line, "byte {i} flipped: {}", show(&o));
    }
}

/// The first 1-based line where `mutated` differs from `orig`, if it is not a prefix.
fn first_difference(orig: &[String], mutated: &[String]) -> Option<usize> {
    (0..mutated.len())
        .find(|&i| orig.get(i) != mutated.get(i))
        .map(|i| i + 1)
}

/// Runs one line-level mutation with and without the head, checking the reported line.
fn check_mutation(dir: &Path, what: &str, orig: &[String], mutated: &[String]) {
    let head = hash_of(orig.last().unwrap());
    let p = write(dir, "chain.log", &text(mutated));
    let o = verify(&p, None);
    match first_difference(orig, mutated) {
        Some(line) => {
            assert_eq!(o.status.code(), Some(1), "{what}: {}", show(&o));
            let got = reported_line(&o);
            // A boot row fits after any row of an earlier boot (that boot may simply have
            // ended there); what is wrong shows at the row after it.
            let is_boot = mutated[line - 1].contains("\"kind\":\"boot\"");
            assert!(
                got == line as u64 || (is_boot && got == line as u64 + 1),
                "{what}: first different line {line}, reported {got}: {}",
                show(&o)
            );
        }
        None => {
            // A prefix: indistinguishable from a shorter chain without the head.
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{what}: {}",
                show(&o)
            );
        }
    }
    let o = verify(&p, Some(&head));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what} (with --head): {}",
        show(&o)
    );
}

#[test]
fn every_deleted_duplicated_or_swapped_line_fails_at_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    for i in 0..lines.len() {
        let mut m = lines.clone();
        m.remove(i);
        check_mutation(dir.path(), &format!("line {} deleted", i + 1), &lines, &m);
        let mut m = lines.clone();
        m.insert(i, lines[i].clone());
        check_mutation(
            dir.path(),
            &format!("line {} duplicated", i + 1),
            &lines,
            &m,
        );
        if i + 1 < lines.len() {
            let mut m = lines.clone();
            m.swap(i, i + 1);
            check_mutation(
                dir.path(),
                &format!("lines {}/{} swapped", i + 1, i + 2),
                &lines,
                &m,
            );
        }
    }
}

#[test]
fn deleting_the_last_line_is_seen_only_with_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let head = hash_of(lines.last().unwrap());
    let p = write(dir.path(), "chain.log", &text(&lines[..lines.len() - 1]));
    let o = verify(&p, None);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = verify(&p, Some(&head));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("chain.log:{} (boot 2, seq 5)", lines.len())),
        "{err}"
    );
    assert!(err.contains("not the expected head"), "{err}");
}

#[test]
fn truncation_at_every_line_boundary_fails_with_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let head = hash_of(lines.last().unwrap());
    for k in 0..lines.len() {
        let p = write(dir.path(), "chain.log", &text(&lines[..k]));
        let o = verify(&p, Some(&head));
        assert_eq!(
            o.status.code(),
            Some(1),
            "cut after {k} lines: {}",
            show(&o)
        );
        assert_eq!(
            reported_line(&o),
            k as u64 + 1,
            "cut after {k} lines: {}",
            show(&o)
        );
    }
}

#[test]
fn truncation_inside_a_line_fails_without_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let good = text(&lines);
    let last_start = good.len() - lines.last().unwrap().len() - 1;
    for cut in last_start + 1..good.len() {
        let p = write(dir.path(), "chain.log", &good[..cut]);
        let o = verify(&p, None);
        assert_eq!(o.status.code(), Some(1), "cut at byte {cut}: {}", show(&o));
        assert_eq!(reported_line(&o), lines.len() as u64, "{}", show(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("truncated inside this line"));
    }
}

#[test]
fn a_zstd_shard_then_chain_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let head = hash_of(lines.last().unwrap());
    let shard = zstd::encode_all(&text(&lines[..ROTATE_AT])[..], 3).unwrap();
    let s = write(dir.path(), "1-0.log.zst", &shard);
    let c = write(dir.path(), "chain.log", &text(&lines[ROTATE_AT..]));
    let args = |s: &Path, c: &Path| {
        coconut(&[
            "audit",
            "verify",
            s.to_str().unwrap(),
            c.to_str().unwrap(),
            "--head",
            &head,
        ])
    };
    let o = args(&s, &c);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("intact: 13 rows"));

    // chain.log alone starts at its rotate row and verifies as far as it goes.
    let o = verify(&c, Some(&head));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // Shard and chain.log in the wrong order: the first bad row is the shard's first line.
    let o = args(&c, &s);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1-0.log.zst:1"),
        "{}",
        show(&o)
    );

    // A corrupt frame: every flipped byte of the shard is exit 1 or 2 and names the shard,
    // unless the flip leaves the decompressed lines exactly as they were (a frame header flag
    // such as "content size present"): what is verified is the lines, not the container.
    let plain = text(&lines[..ROTATE_AT]);
    for i in 0..shard.len() {
        let mut bad = shard.clone();
        bad[i] ^= 0x01;
        fs::write(&s, &bad).unwrap();
        let o = args(&s, &c);
        if zstd::decode_all(&bad[..]).is_ok_and(|d| d == plain) {
            assert_eq!(o.status.code(), Some(0), "shard byte {i}: {}", show(&o));
            continue;
        }
        assert!(
            matches!(o.status.code(), Some(1 | 2)),
            "shard byte {i}: {}",
            show(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("1-0.log.zst"),
            "shard byte {i}: {}",
            show(&o)
        );
    }
}

#[test]
fn unreadable_inputs_exit_2_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.log");
    let o = verify(&p, None);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("check the path"));
    let o = coconut(&["audit", "verify", "--json", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "error");
    if !Path::new("/agent/audit").exists() {
        let o = coconut(&["audit", "verify"]);
        assert_eq!(o.status.code(), Some(2), "{}", show(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("agentfs is not mounted at /agent"));
    }
}

#[test]
fn help_says_what_is_and_is_not_verified() {
    let o = coconut(&["audit", "verify", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "BLAKE3(prev || event)",
        "--head",
        "at a line boundary",
        "public genesis",
        "Exit status",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    // Only the audit group exists.
    let o = coconut(&["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("audit"), "{help}");
    let o = coconut(&["audit", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("verify") && help.contains("tail"), "{help}");
}
