//! The audit persister against a directory standing in for `/agent/audit`.
//!
//! Each test makes a temporary root with `agent/` (the kernel's files as regular files:
//! `chain.log` the tests append real lines to, sealed by `coconut_audit::Chain` and rendered by
//! `render_json_line`; `link`, `persisted`, `seed` whose contents are then checked), `state/`
//! (`/var/lib/coconut/audit`), `log/` (`/var/log/coconut/audit`) and `machine-id`, and runs
//! the library's [`Persister`] on it, turn by turn. A regular file behaves as the kernel's
//! `seq_file` does for the persister: a read at the end returns 0, a later read the new lines.

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use std::time::{Duration, Instant};

use coconutd::persister::{AuditConfig, Persister, IDLE_POLL};

mod common;
use common::chain_lines;

struct Fixture {
    _root: tempfile::TempDir,
    cfg: AuditConfig,
    log: Rc<RefCell<Vec<String>>>,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let agent = root.path().join("agent");
        fs::create_dir(&agent).unwrap();
        let cfg = AuditConfig {
            agent_dir: agent,
            state_dir: root.path().join("state"),
            log_dir: root.path().join("log"),
            machine_id: root.path().join("machine-id"),
            // No TPM here: the soft seed (the TPM path is the image tier's).
            tpm: root.path().join("tpmrm0"),
            shard_max: 1 << 20,
            idle_poll: IDLE_POLL,
            shutdown_drain: Duration::from_millis(600),
        };
        let f = Fixture {
            _root: root,
            cfg,
            log: Rc::default(),
        };
        f.new_kernel_boot();
        f
    }

    /// A fresh set of kernel files, as after a reboot: empty `chain.log`, `link`,
    /// `persisted`, no `stats` (the chain not started).
    fn new_kernel_boot(&self) {
        for name in ["chain.log", "link", "persisted"] {
            fs::write(self.agent(name), "").unwrap();
        }
        let _ = fs::remove_file(self.agent("stats"));
    }

    /// The kernel files as they are when the chain of `boot` has started already.
    fn started(&self, boot: u64) {
        fs::write(self.agent("stats"), format!("started=1\nboot={boot}\n")).unwrap();
    }

    fn agent(&self, name: &str) -> PathBuf {
        self.cfg.agent_dir.join(name)
    }

    fn read(&self, path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_default()
    }

    fn start(&self) -> Persister {
        let log = Rc::clone(&self.log);
        Persister::start(
            self.cfg.clone(),
            Box::new(move |m| log.borrow_mut().push(m.to_string())),
        )
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.borrow().iter().any(|l| l.contains(needle))
    }

    fn append(&self, text: &str) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.agent("chain.log"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn shard(&self, name: &str) -> String {
        self.read(&self.cfg.log_dir.join(name))
    }

    fn shards(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.cfg.log_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Runs the persister until `chain.log` is caught up (a few turns at most).
fn settle(p: &mut Persister) {
    for _ in 0..64 {
        let due = p.next_deadline();
        p.pump(due);
        if p.next_deadline() > due {
            return;
        }
    }
    panic!("the persister did not settle");
}

fn hash_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["hash"].as_str().unwrap().to_string()
}

fn unzstd(path: &Path) -> String {
    String::from_utf8(zstd::stream::decode_all(fs::read(path).unwrap().as_slice()).unwrap())
        .unwrap()
}

#[test]
fn the_boot_counter_starts_at_0_increments_and_survives() {
    let f = Fixture::new();
    let p = f.start();
    assert_eq!(p.boot(), 0);
    assert_eq!(f.read(&f.cfg.state_dir.join("boot")), "0\n");
    assert_eq!(f.read(&f.agent("link")), "boot=0\n");
    assert_eq!(f.read(&f.agent("persisted")), "0\n");
    drop(p);
    for want in 1..=3 {
        f.new_kernel_boot();
        let p = f.start();
        assert_eq!(p.boot(), want);
        assert_eq!(f.read(&f.cfg.state_dir.join("boot")), format!("{want}\n"));
    }
    // Only the counter is in the state directory: no temporary file is left behind.
    let names: Vec<String> = fs::read_dir(&f.cfg.state_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "seed")
        .collect();
    assert_eq!(names, ["boot"]);
}

#[test]
fn a_lost_counter_never_reuses_a_boot_the_shards_have() {
    let f = Fixture::new();
    let mut p = f.start();
    f.append(&chain_lines(0, 2).concat());
    settle(&mut p);
    drop(p);
    fs::write(f.cfg.state_dir.join("boot"), "garbage").unwrap();
    f.new_kernel_boot();
    let p = f.start();
    assert_eq!(p.boot(), 1);
    assert!(f.logged("not a decimal boot number"));
}

#[test]
fn the_link_names_the_previous_boots_last_persisted_row() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 5);
    f.append(&lines.concat());
    settle(&mut p);
    drop(p);

    f.new_kernel_boot();
    let mut p = f.start();
    assert_eq!(p.boot(), 1);
    assert_eq!(
        f.read(&f.agent("link")),
        format!(
            "boot=1 prev_boot=0 prev_seq=4 prev_head={}\n",
            hash_of(&lines[4])
        )
    );
    assert_eq!(p.status().link, f.read(&f.agent("link")).trim_end());
    // The previous boot's plain shard is closed for good: compressed on the first turn.
    settle(&mut p);
    assert_eq!(f.shards(), ["0-0.log.zst"]);
    assert_eq!(unzstd(&f.cfg.log_dir.join("0-0.log.zst")), lines.concat());

    // Boot 1's own rows; the boot after it links to them, from whichever shard has them.
    let lines1 = chain_lines(1, 3);
    f.append(&lines1.concat());
    settle(&mut p);
    drop(p);
    f.new_kernel_boot();
    let _p = f.start();
    assert_eq!(
        f.read(&f.agent("link")),
        format!(
            "boot=2 prev_boot=1 prev_seq=2 prev_head={}\n",
            hash_of(&lines1[2])
        )
    );
}

#[test]
fn rows_land_in_the_shard_byte_for_byte_and_persisted_advances() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 6);
    f.append(&lines[..3].concat());
    settle(&mut p);
    assert_eq!(f.shard("0-0.log"), lines[..3].concat());
    assert_eq!(f.read(&f.agent("persisted")), "3\n");

    // Half a line is not a row yet: nothing is written or acknowledged for it.
    let (a, b) = lines[3].split_at(40);
    f.append(a);
    settle(&mut p);
    assert_eq!(f.shard("0-0.log"), lines[..3].concat());
    assert_eq!(f.read(&f.agent("persisted")), "3\n");
    f.append(b);
    f.append(&lines[4..].concat());
    settle(&mut p);
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "6\n");

    let st = p.status();
    assert_eq!(
        (st.boot, st.persisted_seq, st.acked, st.rows),
        (0, 6, Some(6), 6)
    );
    assert_eq!(st.last_error, None);
    assert!(st.gaps.is_empty());
    let mode = fs::metadata(f.cfg.log_dir.join("0-0.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_full_shard_is_rotated_to_zstd_with_the_exact_lines() {
    let mut f = Fixture::new();
    f.cfg.shard_max = 2000;
    let mut p = f.start();
    let lines = chain_lines(0, 40);
    f.append(&lines.concat());
    settle(&mut p);
    let names = f.shards();
    let zst: Vec<&String> = names.iter().filter(|n| n.ends_with(".zst")).collect();
    assert!(zst.len() >= 3, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with(".log")).count(), 1);
    // In order of first_seq, the shards hold every line once, byte for byte, and each is
    // named after its first line's seq.
    let mut by_seq: Vec<(u64, &String)> = names
        .iter()
        .map(|n| {
            let stem = n.split('.').next().unwrap();
            (stem.split_once('-').unwrap().1.parse().unwrap(), n)
        })
        .collect();
    by_seq.sort();
    let mut all = String::new();
    for (first, name) in by_seq {
        let path = f.cfg.log_dir.join(name);
        let text = if name.ends_with(".zst") {
            unzstd(&path)
        } else {
            f.read(&path)
        };
        assert!(text.starts_with(&lines[first as usize]), "{name}");
        if name.ends_with(".zst") {
            assert!(text.len() as u64 >= 2000, "{name} was rotated early");
        }
        all.push_str(&text);
    }
    assert_eq!(all, lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "40\n");
}

#[test]
fn a_restart_within_the_boot_resumes_without_duplicates_or_holes() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 9);
    f.append(&lines[..5].concat());
    settle(&mut p);
    drop(p);

    // coconutd restarts: the kernel's chain is running, chain.log still has rows 0..5.
    f.started(0);
    fs::write(f.agent("link"), "").unwrap();
    let mut p = f.start();
    assert_eq!(p.boot(), 0);
    assert_eq!(f.read(&f.cfg.state_dir.join("boot")), "0\n");
    assert_eq!(
        f.read(&f.agent("link")),
        "",
        "a started chain is not linked again"
    );
    assert_eq!(p.status().persisted_seq, 5);
    f.append(&lines[5..].concat());
    settle(&mut p);
    assert_eq!(f.shards(), ["0-0.log"]);
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "9\n");
}

#[test]
fn a_torn_last_line_is_cut_and_read_again_from_the_kernel() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 6);
    f.append(&lines[..5].concat());
    settle(&mut p);
    drop(p);
    // Power loss in the middle of writing row 5; the kernel still has it.
    let mut shard = fs::OpenOptions::new()
        .append(true)
        .open(f.cfg.log_dir.join("0-0.log"))
        .unwrap();
    shard.write_all(&lines[5].as_bytes()[..50]).unwrap();
    drop(shard);
    f.append(&lines[5]);

    f.started(0);
    let mut p = f.start();
    assert!(f.logged("cut a torn last line (50 bytes"));
    settle(&mut p);
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(p.status().persisted_seq, 6);
}

#[test]
fn across_boots_a_torn_line_is_cut_and_the_link_names_the_last_whole_row() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 4);
    f.append(&lines.concat());
    settle(&mut p);
    drop(p);
    let mut shard = fs::OpenOptions::new()
        .append(true)
        .open(f.cfg.log_dir.join("0-0.log"))
        .unwrap();
    shard.write_all(b"{\"seq\":4,\"bo").unwrap();
    drop(shard);
    f.new_kernel_boot();
    let _p = f.start();
    assert_eq!(
        f.read(&f.agent("link")),
        format!(
            "boot=1 prev_boot=0 prev_seq=3 prev_head={}\n",
            hash_of(&lines[3])
        )
    );
    assert_eq!(f.shard("0-0.log"), lines.concat());
}

#[test]
fn an_unwritable_log_directory_is_reported_not_acknowledged_and_recovers() {
    let f = Fixture::new();
    // A file where the directory should be: fails for root too (unlike chmod 000).
    fs::write(&f.cfg.log_dir, "not a directory").unwrap();
    let mut p = f.start();
    let lines = chain_lines(0, 3);
    f.append(&lines.concat());
    let due = p.next_deadline();
    p.pump(due);
    let st = p.status();
    let err = st.last_error.expect("the error is in the status");
    assert!(err.contains(&f.cfg.log_dir.display().to_string()), "{err}");
    assert!(err.contains("retrying"), "{err}");
    assert_eq!(st.persisted_seq, 0);
    assert_eq!(f.read(&f.agent("persisted")), "0\n", "nothing acknowledged");
    assert!(f.logged("cannot create the audit log directory"));
    // Retried with backoff: still failing, still nothing acknowledged.
    let again = p.next_deadline();
    assert!(again > due);
    p.pump(again);
    assert!(p.next_deadline() - again > again - due, "the delay grows");
    assert_eq!(f.read(&f.agent("persisted")), "0\n");

    fs::remove_file(&f.cfg.log_dir).unwrap();
    settle(&mut p);
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "3\n");
    assert_eq!(p.status().last_error, None);
    assert!(f.logged("persisting again"));
}

#[test]
fn a_shard_that_cannot_be_written_keeps_the_rows_until_it_can() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 4);
    f.append(&lines[..2].concat());
    settle(&mut p);
    // The shard's place is taken by a directory: writes fail until it is cleared.
    drop(p);
    fs::remove_file(f.cfg.log_dir.join("0-0.log")).unwrap();
    fs::create_dir(f.cfg.log_dir.join("0-0.log")).unwrap();
    f.started(0);
    let mut p = f.start();
    f.append(&lines[2..].concat());
    let due = p.next_deadline();
    p.pump(due);
    assert!(p.status().last_error.is_some());
    assert_eq!(f.read(&f.agent("persisted")), "0\n");
    fs::remove_dir(f.cfg.log_dir.join("0-0.log")).unwrap();
    settle(&mut p);
    // The lost shard's rows are read again from chain.log (the kernel still had them).
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "4\n");
}

#[test]
fn rows_evicted_before_registration_are_reported_as_a_gap() {
    let f = Fixture::new();
    let mut p = f.start();
    let lines = chain_lines(0, 8);
    f.append(&lines[3..].concat());
    settle(&mut p);
    let st = p.status();
    assert_eq!(st.gaps.len(), 1, "{:?}", st.gaps);
    assert!(st.gaps[0].starts_with("boot 0 seq 0..=2"), "{:?}", st.gaps);
    assert!(f.logged("GAP: rows 0..=2 of boot 0"));
    assert_eq!(f.shards(), ["0-3.log"]);
    assert_eq!(f.shard("0-3.log"), lines[3..].concat());
    assert_eq!(f.read(&f.agent("persisted")), "8\n");
}

#[test]
fn shutdown_seals_then_drains_chain_log() {
    let f = Fixture::new();
    fs::write(f.agent("seal"), "").unwrap();
    let mut p = f.start();
    let lines = chain_lines(0, 5);
    f.append(&lines.concat());
    // Not pumped: shutdown itself drains.
    p.shutdown(true);
    assert_eq!(f.read(&f.agent("seal")), "1\n");
    assert!(f.logged("sealed a final checkpoint"));
    assert_eq!(f.shard("0-0.log"), lines.concat());
    assert_eq!(f.read(&f.agent("persisted")), "5\n");

    // Without a seal file (an older kernel) shutdown still drains.
    let g = Fixture::new();
    let mut p = g.start();
    g.append(&lines.concat());
    p.shutdown(true);
    assert!(g.logged("no final checkpoint"));
    assert_eq!(g.shard("0-0.log"), lines.concat());
}

#[test]
fn the_seed_is_created_once_0600_and_offered_to_the_kernel() {
    let f = Fixture::new();
    fs::write(f.agent("seed"), "").unwrap();
    let p = f.start();
    let seed_path = f.cfg.state_dir.join("seed");
    let seed = fs::read(&seed_path).unwrap();
    assert_eq!(seed.len(), 32);
    assert_eq!(
        fs::metadata(&seed_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(f.logged("created a new audit seed; pin the key with `coconut audit key`"));
    let id = f.read(&f.cfg.machine_id);
    let id = id.trim();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // add_key(2) may be refused in a sandbox (seccomp); then the line is not written and the
    // status says why. Where it works, the kernel file gets the one line.
    let st = p.status();
    if st.seed.starts_with("loaded") {
        assert_eq!(
            f.read(&f.agent("seed")),
            format!("type=user machine={id}\n")
        );
    } else {
        assert!(st.seed.contains("add_key"), "{}", st.seed);
        assert_eq!(f.read(&f.agent("seed")), "");
    }
    drop(p);
    f.new_kernel_boot();
    f.log.borrow_mut().clear();
    let _p = f.start();
    assert_eq!(fs::read(&seed_path).unwrap(), seed, "the seed is kept");
    assert!(!f.logged("created a new audit seed"));
}

#[test]
fn a_tpm_device_that_does_not_answer_falls_back_to_the_soft_seed_and_says_so() {
    let mut f = Fixture::new();
    fs::write(f.agent("seed"), "").unwrap();
    // A regular file where the TPM should be: it takes the command and answers nothing.
    let fake = f.cfg.state_dir.with_file_name("tpmrm0");
    fs::write(&fake, "").unwrap();
    f.cfg.tpm = fake;
    let p = f.start();
    let st = p.status();
    assert!(
        st.seed
            .starts_with("soft (TPM unusable: TPM2_ReadPublic: malformed response"),
        "{}",
        st.seed
    );
    assert!(f.logged("cannot seal the audit seed"));
    assert_eq!(fs::read(f.cfg.state_dir.join("seed")).unwrap().len(), 32);
    assert!(!f.cfg.state_dir.join("seed.blob").exists());
}

#[test]
fn a_kernel_without_the_audit_files_is_logged_and_survived() {
    let f = Fixture::new();
    for name in ["chain.log", "link", "persisted"] {
        fs::remove_file(f.agent(name)).unwrap();
    }
    let mut p = f.start();
    let st = p.status();
    assert!(st.link.contains("ENOENT"), "{}", st.link);
    assert!(st.seed.contains("does not exist"), "{}", st.seed);
    let due = p.next_deadline();
    p.pump(due);
    let err = p.status().last_error.unwrap();
    assert!(err.contains("chain.log") && err.contains("ENOENT"), "{err}");
    // Nothing to drain: shutdown does not wait for the deadline.
    let t = Instant::now();
    p.shutdown(true);
    assert!(t.elapsed() < Duration::from_millis(500));
}

#[test]
fn a_failing_disk_at_shutdown_skips_the_seal_and_gives_up_at_the_deadline() {
    let f = Fixture::new();
    fs::write(f.agent("seal"), "").unwrap();
    fs::write(&f.cfg.log_dir, "not a directory").unwrap();
    let mut p = f.start();
    f.append(&chain_lines(0, 3).concat());
    let t = Instant::now();
    p.shutdown(true);
    assert!(t.elapsed() >= Duration::from_millis(600));
    // Sealing would wait for a sealer that waits for our acknowledgements.
    assert_eq!(f.read(&f.agent("seal")), "");
    assert!(f.logged("no final checkpoint: rows are not persisted"));
    assert!(f.logged("giving up at shutdown: rows of boot 0 from seq 0"));
    assert_eq!(f.read(&f.agent("persisted")), "0\n");
}

#[test]
fn an_image_s_uninitialized_machine_id_is_made_on_first_boot_and_kept() {
    for shipped in ["uninitialized\n", "", "\n"] {
        let f = Fixture::new();
        fs::write(f.agent("seed"), "").unwrap();
        fs::write(&f.cfg.machine_id, shipped).unwrap();
        drop(f.start());
        let id = f.read(&f.cfg.machine_id).trim().to_string();
        assert_eq!(id.len(), 32, "{shipped:?} became {id:?}");
        assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert!(f.logged("created"));
        f.new_kernel_boot();
        drop(f.start());
        assert_eq!(f.read(&f.cfg.machine_id).trim(), id, "the id is kept");
    }
    // Anything else that is not an id is left alone and reported.
    let f = Fixture::new();
    fs::write(f.agent("seed"), "").unwrap();
    fs::write(&f.cfg.machine_id, "not-an-id\n").unwrap();
    drop(f.start());
    assert_eq!(f.read(&f.cfg.machine_id), "not-an-id\n");
    assert!(f.logged("is not 32 lowercase hex digits"));
}
