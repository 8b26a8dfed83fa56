//! The real coconutd (the built binary, outside PID 1) with small `/bin/sh` services and real
//! clients on its socket.
//!
//! Each test writes a profile into a temporary directory, starts `coconutd --profile DIR
//! --socket DIR/s.sock`, and talks to it with the schema of `coconutd::proto`. Services log
//! what they do to a file; the tests assert on the order of those lines and on the
//! supervisor's recorded counts and backoff delays, never on how long anything took (waits
//! poll with a generous cap that only turns a hang into a failure).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coconutd::proto::{self, AuditStatus, ErrorCode, Reply, Request, ResponseFrame, ServiceStatus};

mod common;

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    next_id: u64,
}

impl Daemon {
    fn start(services: &[(&str, &str)], extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        for (name, text) in services {
            let text = text.replace("$LOG", &log.display().to_string());
            std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
        }
        let child = Command::new(env!("CARGO_BIN_EXE_coconutd"))
            .arg("--profile")
            .arg(dir.path())
            .arg("--socket")
            .arg(dir.path().join("s.sock"))
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut d = Daemon {
            child,
            dir,
            next_id: 1,
        };
        d.wait_for("the socket", |d| UnixStream::connect(d.socket()).is_ok());
        d
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }

    fn call(&mut self, req: Request) -> ResponseFrame {
        let mut s = self.connect();
        self.next_id += 1;
        let r = proto::call(&mut s, self.next_id, req).unwrap();
        assert_eq!(r.id, Some(self.next_id));
        r
    }

    fn services(&mut self) -> Vec<ServiceStatus> {
        match self.call(Request::SvcList).ok {
            Some(Reply::Services { services }) => services,
            other => panic!("{other:?}"),
        }
    }

    fn svc(&mut self, name: &str) -> ServiceStatus {
        self.services()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    }

    /// Polls `cond` until it holds; fails (with `what`) only after a minute.
    fn wait_for(&mut self, what: &str, mut cond: impl FnMut(&mut Daemon) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("coconutd exited ({st}) while waiting for {what}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "coconutd did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SIGTERM: the orderly stop, so no service outlives the test.
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_child(&self.child),
                rustix::process::Signal::TERM,
            );
            let _ = self.child.wait();
        }
    }
}

/// A long-running service that logs its start (after `pre`) and its stop (on SIGTERM).
fn long(name: &str, pre: &str, deps: &str) -> String {
    format!(
        "exec = \"/bin/sh\"\nargs = [\"-c\", '''\ntrap 'echo stop-{name} >> $LOG; exit 0' TERM\n\
         {pre}\necho start-{name} >> $LOG\n{notify}sleep 1000 &\nwait\n''']\n{deps}\n",
        notify = if deps.contains("notify-fd") {
            "echo >&3\n"
        } else {
            ""
        },
    )
}

fn all_running(d: &mut Daemon) -> bool {
    d.services().iter().all(|s| s.state == "running")
}

#[test]
fn dependency_order_readiness_and_reverse_stop_order() {
    // a is ready only after a pause; b requires a; c is after b. Without readiness gating b
    // would log first.
    let mut d = Daemon::start(
        &[
            ("a", &long("a", "sleep 0.3", "ready = \"notify-fd:3\"")),
            ("b", &long("b", "", "requires = [\"a\"]")),
            ("c", &long("c", "", "after = [\"b\"]")),
        ],
        &[],
    );
    d.wait_for("every service running", all_running);
    d.wait_for("three start lines", |d| d.log().len() == 3);
    assert_eq!(d.log(), ["start-a", "start-b", "start-c"]);
    for s in d.services() {
        assert_eq!(s.starts, 1);
        assert!(s.pid.is_some());
        // No Coconut kernel on the host: the kernel's refusal is reported, not an AID.
        assert!(s.agent.starts_with("unavailable ("), "{}", s.agent);
    }
    let status = d.call(Request::Status);
    match status.ok {
        Some(Reply::Status { daemon, services }) => {
            assert!(!daemon.pid1);
            assert_eq!(daemon.state, "running");
            assert_eq!(services.len(), 3);
        }
        other => panic!("{other:?}"),
    }

    let r = d.call(Request::Poweroff);
    assert_eq!(
        r.ok,
        Some(Reply::Accepted {
            action: "poweroff".into()
        })
    );
    assert!(d.wait_exit().success());
    assert_eq!(
        d.log()[3..],
        ["stop-c", "stop-b", "stop-a"],
        "stop order is reverse dependency order"
    );
    assert!(!d.socket().exists(), "the socket is removed on exit");
}

#[test]
fn a_crashing_service_restarts_with_growing_backoff() {
    let crash = "exec = \"/bin/sh\"\nargs = [\"-c\", \"echo run >> $LOG; exit 3\"]\n\
                 [backoff]\ninitial = \"20ms\"\nmax = \"160ms\"\nfactor = 2\nreset_after = \"1h\"\n";
    let mut d = Daemon::start(&[("crash", crash)], &[]);
    d.wait_for("six restarts", |d| d.svc("crash").restarts >= 6);
    let s = d.svc("crash");
    assert_eq!(s.restart_delays_ms[..6], [20, 40, 80, 160, 160, 160]);
    assert_eq!(s.last_exit.as_deref(), Some("exited 3"));
    assert!(s.starts >= 6);
    // Every start ran the script once.
    d.wait_for("the log to catch up", |d| d.log().len() >= 6);
}

#[test]
fn a_stable_run_resets_the_backoff() {
    // Each run lasts 0.3 s, longer than reset_after, so every delay is the initial one.
    let svc = "exec = \"/bin/sh\"\nargs = [\"-c\", \"sleep 0.3; exit 1\"]\n\
               [backoff]\ninitial = \"10ms\"\nmax = \"10s\"\nfactor = 4\nreset_after = \"100ms\"\n";
    let mut d = Daemon::start(&[("flappy", svc)], &[]);
    d.wait_for("three restarts", |d| d.svc("flappy").restarts >= 3);
    assert_eq!(d.svc("flappy").restart_delays_ms[..3], [10, 10, 10]);
}

#[test]
fn restart_no_and_exec_failure_end_in_failed_with_the_reason() {
    let mut d = Daemon::start(
        &[
            (
                "once",
                "exec = \"/bin/sh\"\nargs = [\"-c\", \"exit 4\"]\nrestart = \"no\"\n",
            ),
            ("ghost", "exec = \"/nonexistent/program\"\n"),
            ("needy", &long("needy", "", "requires = [\"ghost\"]")),
        ],
        &[],
    );
    d.wait_for("all failed", |d| {
        d.services().iter().all(|s| s.state == "failed")
    });
    let once = d.svc("once");
    assert_eq!(once.reason.as_deref(), Some("exited 4 (restart = \"no\")"));
    assert_eq!(once.restarts, 0);
    let ghost = d.svc("ghost");
    assert!(
        ghost
            .reason
            .as_deref()
            .unwrap()
            .contains("execve /nonexistent/program"),
        "{ghost:?}"
    );
    assert_eq!(
        d.svc("needy").reason.as_deref(),
        Some("requires ghost, which is failed")
    );
    // Starting it again runs it again (ready = none: answered once it runs), and it fails
    // again by the same policy.
    let r = d.call(Request::SvcStart {
        name: "once".into(),
    });
    assert!(r.ok.is_some(), "{:?}", r.err);
    d.wait_for("the second failure", |d| {
        let s = d.svc("once");
        s.starts == 2 && s.state == "failed"
    });
    // A service that cannot exec is answered with the failure.
    let r = d.call(Request::SvcStart {
        name: "ghost".into(),
    });
    let e = r.err.unwrap();
    assert_eq!(e.code, ErrorCode::Failed);
    assert!(
        e.message.contains("No such file or directory"),
        "{}",
        e.message
    );
}

#[test]
fn svc_stop_start_restart_follow_requires() {
    let mut d = Daemon::start(
        &[
            ("a", &long("a", "", "")),
            ("b", &long("b", "", "requires = [\"a\"]")),
            ("c", &long("c", "", "after = [\"a\"]")),
        ],
        &[],
    );
    d.wait_for("every service running", all_running);
    d.wait_for("three start lines", |d| d.log().len() == 3);
    // Stopping a stops b (which requires it) first; c is only ordered after a and stays.
    let r = d.call(Request::SvcStop { name: "a".into() });
    match r.ok {
        Some(Reply::Service { service }) => assert_eq!(service.state, "stopped"),
        other => panic!("{other:?} {:?}", r.err),
    }
    assert_eq!(d.svc("b").state, "stopped");
    assert_eq!(d.svc("c").state, "running");
    let log = d.log();
    let b = log.iter().position(|l| l == "stop-b").unwrap();
    let a = log.iter().position(|l| l == "stop-a").unwrap();
    assert!(b < a, "{log:?}");

    // Starting b starts a first (it is answered once b is running).
    let r = d.call(Request::SvcStart { name: "b".into() });
    assert_eq!(r.ok.map(|_| ()), Some(()), "{:?}", r.err);
    assert_eq!(d.svc("a").state, "running");
    d.wait_for("b's start line", |d| {
        d.log().last().is_some_and(|l| l == "start-b")
    });
    let log = d.log();
    assert_eq!(log[log.len() - 2..], ["start-a", "start-b"]);

    let old = d.svc("c").pid;
    let r = d.call(Request::SvcRestart { name: "c".into() });
    match r.ok {
        Some(Reply::Service { service }) => {
            assert_eq!(service.state, "running");
            assert_ne!(service.pid, old);
            assert_eq!(service.starts, 2);
        }
        other => panic!("{other:?} {:?}", r.err),
    }
    let r = d.call(Request::SvcStatus {
        name: "nope".into(),
    });
    assert_eq!(r.err.unwrap().code, ErrorCode::NotFound);
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn read_response(s: &mut UnixStream) -> ResponseFrame {
    let body = proto::read_frame(s).unwrap();
    ciborium::from_reader(body.as_slice()).unwrap()
}

#[test]
fn malformed_and_oversized_requests_get_errors_and_others_keep_working() {
    let mut d = Daemon::start(&[("a", &long("a", "", ""))], &[]);
    d.wait_for("a running", all_running);

    // Not CBOR: an error, and the same connection still answers.
    let mut s = d.connect();
    s.write_all(&frame(b"\xff\xfe garbage")).unwrap();
    let r = read_response(&mut s);
    assert_eq!((r.id, r.err.unwrap().code), (None, ErrorCode::Malformed));
    let r = proto::call(&mut s, 5, Request::Status).unwrap();
    assert!(r.ok.is_some());

    // A newer schema version: refused by name, id echoed.
    let mut v2 = Vec::new();
    ciborium::into_writer(
        &ciborium::Value::Map(vec![
            (ciborium::Value::Text("v".into()), 2.into()),
            (ciborium::Value::Text("id".into()), 8.into()),
            (
                ciborium::Value::Text("req".into()),
                ciborium::Value::Map(vec![(
                    ciborium::Value::Text("op".into()),
                    ciborium::Value::Text("status".into()),
                )]),
            ),
        ]),
        &mut v2,
    )
    .unwrap();
    s.write_all(&frame(&v2)).unwrap();
    let r = read_response(&mut s);
    assert_eq!(
        (r.id, r.err.unwrap().code),
        (Some(8), ErrorCode::UnsupportedVersion)
    );

    // An oversized frame: an error, then the connection is closed (the framing is lost).
    let mut big = d.connect();
    big.write_all(&((proto::MAX_FRAME as u32) + 1).to_be_bytes())
        .unwrap();
    let r = read_response(&mut big);
    assert_eq!(r.err.unwrap().code, ErrorCode::FrameTooLarge);
    let mut rest = Vec::new();
    assert_eq!(
        big.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the error"
    );

    // Meanwhile everyone else is served.
    assert!(d.call(Request::Status).ok.is_some());
}

#[test]
fn a_client_that_never_reads_does_not_block_others_and_stallers_are_dropped() {
    let mut d = Daemon::start(&[("a", &long("a", "", ""))], &["--client-timeout", "1s"]);
    d.wait_for("a running", all_running);

    // Write status requests, never reading an answer, until coconutd stops taking them
    // (its output to the hog is at the limit, so it leaves the hog's requests unread).
    let mut hog = d.connect();
    hog.set_nonblocking(true).unwrap();
    let req = proto::encode_frame(&proto::RequestFrame {
        v: 1,
        id: 1,
        req: Request::Status,
    });
    let mut sent = 0usize;
    let mut refused_in_a_row = 0;
    let mut pending: &[u8] = &[];
    while refused_in_a_row < 50 {
        if pending.is_empty() {
            pending = &req;
        }
        match hog.write(pending) {
            Ok(n) => {
                pending = &pending[n..];
                sent += 1;
                refused_in_a_row = 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                refused_in_a_row += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent > 100, "the hog filled its buffers ({sent} writes)");
    // Another client is answered while the hog's output sits unread.
    for _ in 0..3 {
        assert!(d.call(Request::Status).ok.is_some());
    }

    // A client stalled half-way through a frame is dropped after the client timeout.
    let mut staller = d.connect();
    staller.write_all(&[0, 0, 0, 40, 0xa3]).unwrap();
    let mut rest = Vec::new();
    assert_eq!(staller.read_to_end(&mut rest).unwrap(), 0);

    // The hog, not reading, is dropped too: its socket reports the end after its data.
    hog.set_nonblocking(false).unwrap();
    hog.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut all = Vec::new();
    match hog.read_to_end(&mut all) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(d.call(Request::Status).ok.is_some());
}

#[test]
fn sigterm_stops_everything_and_exits_zero() {
    let mut d = Daemon::start(
        &[
            ("a", &long("a", "", "")),
            ("b", &long("b", "", "after = [\"a\"]")),
        ],
        &[],
    );
    d.wait_for("every service running", all_running);
    d.wait_for("two start lines", |d| d.log().len() == 2);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&d.child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(d.wait_exit().success());
    assert_eq!(d.log()[2..], ["stop-b", "stop-a"]);
}

#[test]
fn a_service_that_ignores_sigterm_gets_sigkill_after_stop_timeout() {
    let svc = "exec = \"/bin/sh\"\nargs = [\"-c\", \"trap '' TERM; echo up >> $LOG; while :; do sleep 0.05; done\"]\n\
               stop_timeout = \"200ms\"\n";
    let mut d = Daemon::start(&[("stubborn", svc)], &[]);
    d.wait_for("it to log", |d| !d.log().is_empty());
    let r = d.call(Request::SvcStop {
        name: "stubborn".into(),
    });
    match r.ok {
        Some(Reply::Service { service }) => {
            assert_eq!(service.state, "stopped");
            assert_eq!(service.last_exit.as_deref(), Some("killed by signal 9"));
        }
        other => panic!("{other:?} {:?}", r.err),
    }
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coconutd"))
        .arg("--check")
        .arg("--profile")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn toml_errors_name_file_and_line_and_the_daemon_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.toml"),
        "exec = \"/bin/true\"\nrequires = [\"db\"]\n\nrestrat = \"always\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("db.toml"),
        "exec = \"/bin/true\"\ncap_template = \"god-mode\"\n",
    )
    .unwrap();
    let (ok, err) = check(dir.path());
    assert!(!ok);
    let db = format!(
        "{}/db.toml:2:16: cap_template = \"god-mode\" is not a known template",
        dir.path().display()
    );
    let web = format!(
        "{}/web.toml:4:1: unknown field `restrat`",
        dir.path().display()
    );
    assert!(err.contains(&db), "{err}");
    assert!(err.contains(&web), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_coconutd"))
        .arg("--profile")
        .arg(dir.path())
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the profile has errors"));
    assert!(!dir.path().join("s.sock").exists());

    // The checked-in test profile loads.
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/test");
    let (ok, err) = check(&profile);
    assert!(ok, "{err}");
}

#[test]
fn the_checked_in_test_profile_runs() {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/test");
    let sock = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_coconutd"))
        .arg("--profile")
        .arg(&profile)
        .arg("--socket")
        .arg(sock.path().join("s.sock"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut d = Daemon {
        child,
        dir: sock,
        next_id: 1,
    };
    d.wait_for("the socket", |d| UnixStream::connect(d.socket()).is_ok());
    d.wait_for("every service running", all_running);
    let names: Vec<String> = d.services().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["logger", "web", "cron"]);
    assert!(d.call(Request::Reboot).ok.is_some());
    assert!(d.wait_exit().success());
}

fn audit_status(d: &mut Daemon) -> Option<AuditStatus> {
    match d.call(Request::Status).ok {
        Some(Reply::Status { daemon, .. }) => daemon.audit,
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_audit_options_the_persister_is_off() {
    let mut d = Daemon::start(&[("a", &long("a", "", ""))], &[]);
    d.wait_for("a running", all_running);
    assert_eq!(audit_status(&mut d), None);
}

#[test]
fn the_persister_runs_in_the_daemon_and_drains_at_poweroff() {
    let audit = tempfile::tempdir().unwrap();
    let root = audit.path();
    let agent = root.join("agent");
    std::fs::create_dir(&agent).unwrap();
    for name in ["chain.log", "link", "persisted"] {
        std::fs::write(agent.join(name), "").unwrap();
    }
    let arg = |p: PathBuf| p.display().to_string();
    let args = [
        "--audit".to_string(),
        "--audit-dir".into(),
        arg(agent.clone()),
        "--audit-state".into(),
        arg(root.join("state")),
        "--audit-log".into(),
        arg(root.join("log")),
        "--machine-id".into(),
        arg(root.join("machine-id")),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::start(&[("a", &long("a", "", ""))], &args);
    d.wait_for("a running", all_running);
    // The chain was started before any service.
    assert_eq!(
        std::fs::read_to_string(agent.join("link")).unwrap(),
        "boot=0\n"
    );
    let st = audit_status(&mut d).expect("the status has the persister");
    assert_eq!((st.boot, st.persisted_seq), (0, 0));

    let lines = common::chain_lines(0, 4);
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(agent.join("chain.log"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(&lines[..2].concat());
    d.wait_for("rows 0 and 1 persisted", |d| {
        audit_status(d).is_some_and(|s| s.persisted_seq == 2)
    });
    assert_eq!(
        std::fs::read_to_string(root.join("log/0-0.log")).unwrap(),
        lines[..2].concat()
    );
    // Rows appended just before the poweroff are drained on the way out.
    append(&lines[2..].concat());
    assert!(d.call(Request::Poweroff).ok.is_some());
    assert!(d.wait_exit().success());
    assert_eq!(
        std::fs::read_to_string(root.join("log/0-0.log")).unwrap(),
        lines.concat()
    );
    assert_eq!(
        std::fs::read_to_string(agent.join("persisted")).unwrap(),
        "4\n"
    );
}
