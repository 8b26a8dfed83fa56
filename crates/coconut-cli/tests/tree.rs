//! `coconut tree`, `ps` and `caps show` over a fixture directory laid out exactly like
//! agentfs (`docs/formats/agentfs.md`; the status, caps and budget renderings of
//! `kernel/overlay/kernel/agent/agent_core.rs`).

use std::path::Path;
use std::process::{Command, Output};

fn coconut(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coconut"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run coconut")
}

fn agent(root: &Path, aid: &str, status: &str, caps: &str, ram: &str, live: bool) {
    let d = root.join(aid);
    std::fs::create_dir_all(d.join("budget")).unwrap();
    std::fs::write(d.join("status"), status).unwrap();
    std::fs::write(d.join("caps"), caps).unwrap();
    std::fs::write(d.join("manifest"), b"").unwrap();
    for kind in ["cpu", "hbm", "net", "inference_tokens"] {
        std::fs::write(
            d.join("budget").join(kind),
            "limit=max used=0 period_ns=0\n",
        )
        .unwrap();
    }
    std::fs::write(d.join("budget/ram"), ram).unwrap();
    let (dir, target) = if live {
        ("live", format!("../{aid}"))
    } else {
        ("graveyard", format!("../{aid}"))
    };
    std::fs::create_dir_all(root.join(dir)).unwrap();
    std::os::unix::fs::symlink(target, root.join(dir).join(aid)).unwrap();
}

fn status(state: &str, parent: &str, name: &str, members: u32, denials: u32) -> String {
    format!(
        "{state}\nsince_ns=1764800000000000000\nparent={parent}\nname={name}\ntenant=none\n\
         lane=0\nmembers={members}\nchildren=0\ndenials={denials}\n"
    )
}

fn fixture() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    agent(
        r,
        "a:00000",
        &status("ACTIVE", "none", "coconutd", 3, 0),
        "agent.admin\nagent.spawn\n",
        "limit=max used=0 period_ns=0\n",
        true,
    );
    agent(
        r,
        "a:00001",
        &status("ACTIVE", "a:00000", "coordinator", 1, 0),
        "agent.spawn\nfs.read:/srv/*\n",
        "limit=1048576 used=4096 period_ns=0\n",
        true,
    );
    agent(
        r,
        "a:00002",
        &status("CAP_DENIED", "a:00001", "worker", 1, 3),
        "fs.read:/srv/data/*\n",
        "limit=max used=0 period_ns=0\n",
        true,
    );
    agent(
        r,
        "a:00004",
        &status("ATTESTED", "a:00000", "idle", 0, 0),
        "",
        "limit=max used=0 period_ns=0\n",
        true,
    );
    let mut dead = status("TERMINATED_REVOKED", "a:00001", "gone", 0, 0);
    dead.push_str("result=0\n");
    agent(
        r,
        "a:00003",
        &dead,
        "",
        "limit=max used=0 period_ns=0\n",
        false,
    );
    d
}

fn text(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn tree_shows_the_live_agents_under_a00000() {
    let d = fixture();
    let out = text(&coconut(&["tree", d.path().to_str().unwrap()]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("a:00000 coconutd [ACTIVE]"), "{out}");
    assert!(
        lines[1].starts_with("├── a:00001 coordinator [ACTIVE]"),
        "{out}"
    );
    assert!(lines[1].contains("budget=ram=4096/1048576"), "{out}");
    assert!(
        lines[2].starts_with("│   └── a:00002 worker [CAP_DENIED]"),
        "{out}"
    );
    assert!(lines[2].contains("denials=3"), "{out}");
    assert!(lines[3].starts_with("└── a:00004 idle [ATTESTED]"), "{out}");
    assert!(!out.contains("a:00003"), "the graveyard is not live: {out}");
    assert!(!out.contains('\x1b'), "no colour off a tty: {out:?}");
}

#[test]
fn tree_json_nests_children() {
    let d = fixture();
    let out = text(&coconut(&["tree", d.path().to_str().unwrap(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let roots = v.as_array().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["aid"], "a:00000");
    let kids = roots[0]["children"].as_array().unwrap();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0]["name"], "coordinator");
    assert_eq!(kids[0]["budget"]["ram"]["limit"], 1_048_576);
    assert_eq!(kids[0]["budget"]["cpu"]["limit"], serde_json::Value::Null);
    assert_eq!(kids[0]["children"][0]["state"], "CAP_DENIED");
    assert_eq!(kids[0]["children"][0]["status"]["denials"], "3");
}

#[test]
fn ps_lists_every_live_agent() {
    let d = fixture();
    let out = text(&coconut(&["ps", d.path().to_str().unwrap()]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("AID"), "{out}");
    let worker: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        worker,
        [
            "a:00002",
            "a:00001",
            "CAP_DENIED",
            "1",
            "1",
            "3",
            "worker",
            "unlimited"
        ],
        "{out}"
    );
    let out = text(&coconut(&["ps", d.path().to_str().unwrap(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let aids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["aid"].as_str().unwrap())
        .collect();
    assert_eq!(aids, ["a:00000", "a:00001", "a:00002", "a:00004"]);
    assert_eq!(v[1]["parent"], "a:00000");
    assert_eq!(v[0]["parent"], serde_json::Value::Null);
}

#[test]
fn caps_show_reads_the_caps_file() {
    let d = fixture();
    let dir = d.path().to_str().unwrap();
    let out = text(&coconut(&["caps", "show", "a:00001", "--dir", dir]));
    assert_eq!(out, "agent.spawn\nfs.read:/srv/*\n");
    let out = text(&coconut(&["caps", "show", "1", "--dir", dir, "--json"]));
    assert_eq!(out.trim(), r#"["agent.spawn","fs.read:/srv/*"]"#);
    let o = coconut(&["caps", "show", "a:00099", "--dir", dir]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such agent visible"));
}

#[test]
fn a_missing_agentfs_is_named() {
    let d = tempfile::tempdir().unwrap();
    let o = coconut(&["tree", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("agentfs is not mounted"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_real_status_format_parses() {
    // Exactly what agent_core.rs renders for a:00000 and for a terminated agent.
    let (state, f) = coconut_cli::tree::parse_status(
        "ACTIVE\nsince_ns=5\nparent=none\nname=coconutd\ntenant=none\nlane=0\nmembers=2\n\
         children=1\ndenials=0\n",
    )
    .unwrap();
    assert_eq!(state, "ACTIVE");
    assert_eq!(f["members"], "2");
    let b = coconut_cli::tree::parse_budget("limit=max used=0 period_ns=0\n").unwrap();
    assert_eq!(b.limit, None);
    let b = coconut_cli::tree::parse_budget("limit=100 used=40 period_ns=1000\n").unwrap();
    assert_eq!((b.limit, b.used, b.period_ns), (Some(100), 40, 1000));
    assert!(coconut_cli::tree::parse_budget("limit=1 used=2\n").is_err());
    assert!(coconut_cli::tree::parse_status("").is_err());
}
