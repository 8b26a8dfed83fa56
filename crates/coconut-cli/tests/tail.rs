//! `coconut audit tail` through the built binary: the last N rows for humans or raw, and
//! `-f` printing rows appended while it runs.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn last_n_rows_for_humans() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let p = dir.path().join("chain.log");
    fs::write(&p, text(&lines)).unwrap();
    let o = coconut(&["audit", "tail", "-n", "3", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let shown: Vec<&str> = out.lines().collect();
    assert_eq!(shown.len(), 3, "{out}");
    assert_eq!(
        shown[0],
        "     4  2026-01-01T00:00:10.000Z  rotate       a:00000 → a:00000    ok  \
         shard=1-0.log.zst rows=10 last_seq=3"
    );
    assert!(
        shown[2].contains("exit") && shown[2].ends_with("pid=77 status=9"),
        "{out}"
    );

    // The default is 10; more than the file holds shows the whole file; errors are signed.
    let o = coconut(&["audit", "tail", p.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 10);
    let o = coconut(&["audit", "tail", "-n", "100", p.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 13);
    let o = coconut(&["audit", "tail", "-n", "4", p.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("cap_deny     a:00003 → a:00003   -13"),
        "{out}"
    );
}

#[test]
fn json_passes_the_raw_lines() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let p = dir.path().join("chain.log");
    fs::write(&p, text(&lines)).unwrap();
    let o = coconut(&["audit", "tail", "-n", "2", "--json", p.to_str().unwrap()]);
    assert_eq!(o.stdout, text(&lines[11..]));
}

#[test]
fn a_missing_file_says_what_to_check() {
    let o = coconut(&["audit", "tail", "/nonexistent/chain.log"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("agentfs mounted at /agent"));
}

#[test]
fn follow_prints_appended_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lines = chain_lines();
    let p = dir.path().join("chain.log");
    fs::write(&p, text(&lines[..5])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_coconut"))
        .args([
            "audit",
            "tail",
            "-n",
            "1",
            "-f",
            "--json",
            p.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut got = String::new();
    out.read_line(&mut got).unwrap();
    assert_eq!(got.trim_end(), lines[4]);
    // Append a line in two writes: nothing is printed until it is complete.
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    let (a, b) = lines[5].split_at(40);
    f.write_all(a.as_bytes()).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(450));
    f.write_all(format!("{b}\n{}\n", lines[6]).as_bytes())
        .unwrap();
    let start = Instant::now();
    for want in &lines[5..7] {
        got.clear();
        out.read_line(&mut got).unwrap();
        assert_eq!(got.trim_end(), want);
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    child.kill().unwrap();
    child.wait().unwrap();
}
