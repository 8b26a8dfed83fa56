//! `coconut status`, `svc …` and `poweroff` against a real coconutd.
//!
//! The daemon is coconutd's library run in a child process: this test binary re-executes
//! itself with `COCONUT_CLI_TEST_DAEMON=<dir>` and the filter `daemon_host`, and that one
//! test then serves `<dir>`'s profile on `<dir>/s.sock` until a poweroff (without the
//! variable it does nothing: it is the daemon's host, not a check). The CLI is the built
//! `coconut` binary.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const HOST_ENV: &str = "COCONUT_CLI_TEST_DAEMON";

#[test]
fn daemon_host() {
    let Some(dir) = std::env::var_os(HOST_ENV).map(PathBuf::from) else {
        return;
    };
    let cfg = coconutd::daemon::Config {
        profile: dir.clone(),
        socket: dir.join("s.sock"),
        pid1: false,
        key: None,
        client_timeout: coconutd::daemon::DEFAULT_CLIENT_TIMEOUT,
    };
    let code = match coconutd::daemon::Daemon::new(cfg).and_then(|d| d.run()) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("coconutd: {e}");
            1
        }
    };
    std::process::exit(code);
}

struct Host {
    child: Child,
    dir: tempfile::TempDir,
}

impl Host {
    fn start() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let long = "exec = \"/bin/sh\"\nargs = [\"-c\", \"exec sleep 100000\"]\n";
        std::fs::write(dir.path().join("db.toml"), long).unwrap();
        std::fs::write(
            dir.path().join("web.toml"),
            format!("{long}requires = [\"db\"]\n"),
        )
        .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "daemon_host", "--nocapture", "--test-threads=1"])
            .env(HOST_ENV, dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let h = Host { child, dir };
        let start = Instant::now();
        while !h.socket().exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "coconutd never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        h
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    fn coconut(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_coconut"))
            .args(args)
            .arg("--socket")
            .arg(self.socket())
            .output()
            .unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_running(h: &Host) {
    let start = Instant::now();
    loop {
        let o = h.coconut(&["svc", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if v["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "running")
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "services never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_svc_and_poweroff_through_the_cli() {
    let mut h = Host::start();
    wait_running(&h);

    let o = h.coconut(&["status"]);
    assert!(o.status.success(), "{}", err(&o));
    let out = text(&o);
    assert!(out.starts_with("coconutd "), "{out}");
    assert!(out.contains(", not PID 1): running"), "{out}");
    assert!(out.contains("\nSERVICE  STATE"), "{out}");
    assert!(out.contains("unavailable (ENOSYS)"), "{out}");

    let o = h.coconut(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "status");
    assert_eq!(v["daemon"]["pid1"], false);
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "web"]);

    // Stopping db stops web (it requires db); starting web starts db.
    let o = h.coconut(&["svc", "stop", "db"]);
    assert_eq!(text(&o), "db: stopped\n", "{}", err(&o));
    let o = h.coconut(&["svc", "status", "web", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["service"]["state"], "stopped");
    let o = h.coconut(&["svc", "start", "web"]);
    assert!(text(&o).starts_with("web: running (pid "), "{}", err(&o));
    let o = h.coconut(&["svc", "restart", "db"]);
    assert!(text(&o).starts_with("db: running (pid "), "{}", err(&o));

    let o = h.coconut(&["svc", "status", "db"]);
    let out = text(&o);
    assert!(out.starts_with("db: running\n  pid: "), "{out}");
    assert!(out.contains("  starts: 3, restarts: 0"), "{out}");

    // Refusals exit 1 with the daemon's message.
    let o = h.coconut(&["svc", "start", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("coconut svc start: no service \"nope\""),
        "{}",
        err(&o)
    );

    let o = h.coconut(&["poweroff"]);
    assert_eq!(
        text(&o),
        "coconutd: poweroff begun: stopping every service\n"
    );
    let st = h.child.wait().unwrap();
    assert!(st.success());
}

#[test]
fn no_daemon_is_exit_2_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let o = Command::new(env!("CARGO_BIN_EXE_coconut"))
        .args(["status"])
        .env("COCONUT_SOCKET", &sock)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.starts_with(&format!(
            "coconut status: coconutd is not running: connect {}: No such file or directory\n",
            sock.display()
        )),
        "{e}"
    );
    assert!(e.contains("--socket PATH or set COCONUT_SOCKET"), "{e}");
}

#[test]
fn other_uids_may_read_but_not_change() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        // Only root can run a client as another uid; as non-root, the caller is the daemon's
        // own uid, which is always allowed (covered by the test above).
        eprintln!("not root: the cross-uid check needs root to run a client as uid 65534");
        return;
    }
    let h = Host::start();
    std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_running(&h);
    let as_nobody = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coconut"))
            .args(args)
            .arg("--socket")
            .arg(h.socket())
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let o = as_nobody(&["svc", "list"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(text(&o).contains("db "));
    let o = as_nobody(&["svc", "stop", "db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).starts_with("coconut svc stop: uid 65534 may not change services"),
        "{}",
        err(&o)
    );
    let o = as_nobody(&["poweroff"]);
    assert_eq!(o.status.code(), Some(1));
    // Nothing changed.
    let o = h.coconut(&["svc", "status", "db", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["service"]["state"], "running");
    assert_eq!(v["service"]["starts"], 1);
}
