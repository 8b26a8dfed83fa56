//! `coconut status`, `coconut svc …`, `coconut poweroff|reboot`: coconutd over its socket.
//!
//! Job: turn each command into one request of `coconutd::proto`, and its reply into text for
//! humans (a table, or `key: value` lines) or JSON (`--json`: the reply object as the schema
//! defines it, see `docs/formats/ipc.md`).
//!
//! Constraints: no state of its own; everything shown comes from the daemon's reply. Errors
//! are [`CallError`]s: exit 1 when coconutd refused (not found, permission, failed start),
//! 2 when there was no answer.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use coconutd::proto::{DaemonStatus, Reply, Request, ServiceStatus};

use super::ipc::{call, CallError};

/// A change to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `svc start`.
    Start,
    /// `svc stop`.
    Stop,
    /// `svc restart`.
    Restart,
}

fn unexpected(reply: &Reply) -> CallError {
    CallError::Io {
        path: Default::default(),
        msg: format!("unexpected reply kind: {reply:?}"),
    }
}

fn emit(out: &mut impl Write, text: &str) -> Result<(), CallError> {
    out.write_all(text.as_bytes()).map_err(|e| CallError::Io {
        path: Default::default(),
        msg: format!("writing the output: {e}"),
    })
}

fn json(reply: &Reply) -> String {
    let mut s = serde_json::to_string(reply).unwrap_or_default();
    s.push('\n');
    s
}

/// The agent column: `a:00012`, or the errno of a refusal (`unavailable (ENOSYS)`).
pub fn short_agent(agent: &str) -> String {
    match agent.strip_prefix("unavailable (") {
        Some(rest) => {
            let errno = rest.split(':').next().unwrap_or(rest).trim_end_matches(')');
            format!("unavailable ({errno})")
        }
        None => agent.to_string(),
    }
}

/// Services as a table.
pub fn table(services: &[ServiceStatus]) -> String {
    let rows: Vec<[String; 6]> = services
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.state.clone(),
                s.pid.map_or("-".into(), |p| p.to_string()),
                s.restarts.to_string(),
                short_agent(&s.agent),
                s.reason
                    .clone()
                    .or_else(|| s.last_exit.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let head = [
        "SERVICE",
        "STATE",
        "PID",
        "RESTARTS",
        "AGENT",
        "LAST EXIT / REASON",
    ];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(head.map(String::from)).chain(rows) {
        let line = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.clone()
                } else {
                    format!("{c:<0$}", w[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The daemon's lines of `coconut status`.
pub fn daemon_lines(d: &DaemonStatus) -> String {
    let up = humantime::format_duration(std::time::Duration::from_secs(d.uptime_ms / 1000));
    let mut out = format!(
        "coconutd {} (pid {}{}): {}, up {up}\nprofile: {}\nagents: {}\n",
        d.version,
        d.pid,
        if d.pid1 { ", PID 1" } else { ", not PID 1" },
        d.state,
        d.profile,
        d.agents
    );
    match &d.audit {
        None => out.push_str("audit: not persisted by this coconutd (--no-audit, or not PID 1)\n"),
        Some(a) => {
            let _ = writeln!(
                out,
                "audit: boot {}, on disk below seq {}{}, {} rows this run",
                a.boot,
                a.persisted_seq,
                a.shard
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
                a.rows
            );
            let _ = writeln!(out, "audit seed: {}\naudit link: {}", a.seed, a.link);
            if let Some(e) = &a.last_error {
                let _ = writeln!(
                    out,
                    "audit error (retrying; the kernel keeps the rows): {e}"
                );
            }
            for g in &a.gaps {
                let _ = writeln!(out, "audit gap: {g}");
            }
        }
    }
    out
}

/// One service as `key: value` lines.
pub fn service_lines(s: &ServiceStatus) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", s.name, s.state);
    let _ = writeln!(
        out,
        "  pid: {}",
        s.pid.map_or("-".into(), |p| p.to_string())
    );
    let _ = writeln!(out, "  agent: {}", s.agent);
    let _ = writeln!(
        out,
        "  starts: {}, restarts: {} (restart = \"{}\")",
        s.starts, s.restarts, s.restart
    );
    if !s.restart_delays_ms.is_empty() {
        let d: Vec<String> = s
            .restart_delays_ms
            .iter()
            .map(|m| format!("{m}ms"))
            .collect();
        let _ = writeln!(out, "  backoff delays: {}", d.join(", "));
    }
    let _ = writeln!(
        out,
        "  last exit: {}",
        s.last_exit.as_deref().unwrap_or("-")
    );
    if let Some(r) = &s.reason {
        let _ = writeln!(out, "  reason: {r}");
    }
    let _ = writeln!(out, "  requires: {}", list(&s.requires));
    let _ = writeln!(out, "  after: {}", list(&s.after));
    out
}

/// `coconut status [--json]`.
pub fn status(socket: &Path, as_json: bool, out: &mut impl Write) -> Result<(), CallError> {
    let reply = call(socket, Request::Status)?;
    if as_json {
        return emit(out, &json(&reply));
    }
    match &reply {
        Reply::Status { daemon, services } => {
            emit(out, &daemon_lines(daemon))?;
            emit(out, "\n")?;
            emit(out, &table(services))
        }
        other => Err(unexpected(other)),
    }
}

/// `coconut svc list [--json]`.
pub fn list(socket: &Path, as_json: bool, out: &mut impl Write) -> Result<(), CallError> {
    let reply = call(socket, Request::SvcList)?;
    if as_json {
        return emit(out, &json(&reply));
    }
    match &reply {
        Reply::Services { services } => emit(out, &table(services)),
        other => Err(unexpected(other)),
    }
}

/// `coconut svc status NAME [--json]`.
pub fn show(
    socket: &Path,
    name: &str,
    as_json: bool,
    out: &mut impl Write,
) -> Result<(), CallError> {
    let reply = call(socket, Request::SvcStatus { name: name.into() })?;
    if as_json {
        return emit(out, &json(&reply));
    }
    match &reply {
        Reply::Service { service } => emit(out, &service_lines(service)),
        other => Err(unexpected(other)),
    }
}

/// `coconut svc start|stop|restart NAME`: answered once the service is running (or stopped).
pub fn change(
    socket: &Path,
    what: Change,
    name: &str,
    out: &mut impl Write,
) -> Result<(), CallError> {
    let name = name.to_string();
    let req = match what {
        Change::Start => Request::SvcStart { name },
        Change::Stop => Request::SvcStop { name },
        Change::Restart => Request::SvcRestart { name },
    };
    match call(socket, req)? {
        Reply::Service { service: s } => emit(
            out,
            &format!(
                "{}: {}{}\n",
                s.name,
                s.state,
                s.pid.map_or(String::new(), |p| format!(" (pid {p})"))
            ),
        ),
        other => Err(unexpected(&other)),
    }
}

/// `coconut poweroff|reboot`: asks coconutd to stop every service and power off or reboot.
pub fn power(socket: &Path, reboot: bool, out: &mut impl Write) -> Result<(), CallError> {
    let req = if reboot {
        Request::Reboot
    } else {
        Request::Poweroff
    };
    match call(socket, req)? {
        Reply::Accepted { action } => emit(
            out,
            &format!("coconutd: {action} begun: stopping every service\n"),
        ),
        other => Err(unexpected(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, state: &str, agent: &str) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            state: state.into(),
            pid: Some(42),
            agent: agent.into(),
            starts: 1,
            restarts: 0,
            restart_delays_ms: vec![],
            last_exit: None,
            reason: None,
            restart: "on-failure".into(),
            requires: vec![],
            after: vec![],
        }
    }

    #[test]
    fn the_table_aligns_and_shortens_the_agent() {
        let t = table(&[
            svc(
                "web",
                "running",
                "unavailable (ENOSYS: this kernel is not Coconut OS (syscall 472 returned ENOSYS))",
            ),
            svc("logger", "running", "a:00012"),
        ]);
        assert_eq!(
            t,
            "SERVICE  STATE    PID  RESTARTS  AGENT                 LAST EXIT / REASON\n\
             web      running  42   0         unavailable (ENOSYS)  -\n\
             logger   running  42   0         a:00012               -\n"
        );
    }

    #[test]
    fn the_daemon_lines_say_where_the_audit_chain_is_and_what_is_wrong() {
        let mut d = DaemonStatus {
            version: "0.1.0".into(),
            pid: 1,
            pid1: true,
            uptime_ms: 61_000,
            state: "running".into(),
            profile: "/etc/coconut/services".into(),
            agents: "available".into(),
            audit: None,
        };
        assert!(daemon_lines(&d)
            .ends_with("audit: not persisted by this coconutd (--no-audit, or not PID 1)\n"));
        d.audit = Some(coconutd::proto::AuditStatus {
            boot: 3,
            persisted_seq: 120,
            acked: Some(120),
            shard: Some("3-0.log".into()),
            rows: 120,
            last_error: Some("/var/log/coconut/audit/3-0.log: ENOSPC".into()),
            gaps: vec!["seq 0..9 of boot 3 never read".into()],
            malformed_lines: 0,
            seed: "loaded (checkpoints are signed this boot)".into(),
            link: "boot=3 prev_boot=2 prev_seq=99 prev_head=ab".into(),
        });
        let text = daemon_lines(&d);
        for want in [
            "audit: boot 3, on disk below seq 120 (3-0.log), 120 rows this run\n",
            "audit seed: loaded (checkpoints are signed this boot)\n",
            "audit link: boot=3 prev_boot=2",
            "audit error (retrying; the kernel keeps the rows): /var/log/coconut/audit/3-0.log: ENOSPC\n",
            "audit gap: seq 0..9 of boot 3 never read\n",
        ] {
            assert!(text.contains(want), "{want:?} not in {text}");
        }
    }
}
