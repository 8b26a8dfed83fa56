//! `coconut tree` and `coconut ps`: the live agents as agentfs shows them.
//!
//! Job: list `DIR/live` (symlinks named `a:NNNNN`), read each agent's `status`, `caps` and
//! `budget/<kind>` files (formats: `docs/formats/agentfs.md`, rendered by
//! `kernel/overlay/kernel/agent/agent_core.rs`), and print them as a tree under a:00000 or as a
//! table. `DIR` is an argument so tests can use a fixture laid out like agentfs.
//!
//! Constraints: read-only; an agent that vanishes between the listing and the read (it
//! terminated) is skipped, any other unreadable file is an error naming it.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcoconut::{Aid, QuotaKind};
use serde_json::{json, Value};

/// One budget file: `limit=<n|max> used=<n> period_ns=<n>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The limit, `None` for `max` (unlimited).
    pub limit: Option<u64>,
    /// Used in the current period.
    pub used: u64,
    /// The period, 0 for none.
    pub period_ns: u64,
}

/// One agent as agentfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The AID.
    pub aid: Aid,
    /// The state word (first line of `status`).
    pub state: String,
    /// `parent=` (`None` for a:00000).
    pub parent: Option<Aid>,
    /// Every `key=value` line of `status` after the state.
    pub fields: BTreeMap<String, String>,
    /// The bound capabilities.
    pub caps: Vec<String>,
    /// Budgets by kind name (the files present).
    pub budget: BTreeMap<String, Budget>,
}

impl Agent {
    fn field(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    /// The manifest name.
    pub fn name(&self) -> &str {
        self.field("name")
    }

    /// Denials in the current deny window.
    pub fn denials(&self) -> u64 {
        self.field("denials").parse().unwrap_or(0)
    }

    /// Member tasks.
    pub fn members(&self) -> u64 {
        self.field("members").parse().unwrap_or(0)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "aid": self.aid.to_string(),
            "state": self.state,
            "parent": self.parent.map(|p| p.to_string()),
            "name": self.name(),
            "status": self.fields,
            "caps": self.caps,
            "budget": self.budget.iter().map(|(k, b)| (k.clone(), json!({
                "limit": b.limit, "used": b.used, "period_ns": b.period_ns,
            }))).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The limited budgets as `kind=used/limit`, unlimited ones left out.
    pub fn budget_text(&self) -> String {
        let parts: Vec<String> = self
            .budget
            .iter()
            .filter_map(|(k, b)| b.limit.map(|l| format!("{k}={}/{l}", b.used)))
            .collect();
        if parts.is_empty() {
            "unlimited".into()
        } else {
            parts.join(",")
        }
    }
}

/// Parses a `status` file.
pub fn parse_status(text: &str) -> Result<(String, BTreeMap<String, String>)> {
    let mut lines = text.lines();
    let state = lines
        .next()
        .filter(|s| !s.is_empty())
        .context("empty status")?;
    let mut fields = BTreeMap::new();
    for l in lines {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("status line {l:?} is not key=value"))?;
        fields.insert(k.to_string(), v.to_string());
    }
    Ok((state.to_string(), fields))
}

/// Parses a `budget/<kind>` file.
pub fn parse_budget(text: &str) -> Result<Budget> {
    let mut limit = None;
    let mut used = None;
    let mut period = None;
    for part in text.trim_end_matches('\n').split(' ') {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("budget {text:?}: {part:?} is not key=value"))?;
        let num = || {
            v.parse::<u64>()
                .with_context(|| format!("budget {text:?}: {k}={v:?}"))
        };
        match k {
            "limit" if v == "max" => limit = Some(None),
            "limit" => limit = Some(Some(num()?)),
            "used" => used = Some(num()?),
            "period_ns" => period = Some(num()?),
            _ => bail!("budget {text:?}: unknown key {k:?}"),
        }
    }
    match (limit, used, period) {
        (Some(limit), Some(used), Some(period_ns)) => Ok(Budget {
            limit,
            used,
            period_ns,
        }),
        _ => bail!("budget {text:?}: needs limit, used and period_ns"),
    }
}

/// Reads `path`; `Ok(None)` if it does not exist (the agent terminated meanwhile).
fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Reads one agent's files under `dir/a:NNNNN/`; `None` if it is gone.
pub fn read_agent(dir: &Path, aid: Aid) -> Result<Option<Agent>> {
    let base = dir.join(aid.to_string());
    let Some(status) = read_opt(&base.join("status"))? else {
        return Ok(None);
    };
    let (state, fields) =
        parse_status(&status).with_context(|| format!("{}/status", base.display()))?;
    let parent = match fields.get("parent").map(String::as_str) {
        None | Some("none") => None,
        Some(p) => Some(
            Aid::parse(p.as_bytes())
                .map_err(|e| anyhow::anyhow!("{}/status: parent {p:?}: {e}", base.display()))?,
        ),
    };
    let caps = read_opt(&base.join("caps"))?
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut budget = BTreeMap::new();
    for kind in QuotaKind::ALL {
        let path = base.join("budget").join(kind.name());
        if let Some(text) = read_opt(&path)? {
            let b = parse_budget(&text).with_context(|| path.display().to_string())?;
            budget.insert(kind.name().to_string(), b);
        }
    }
    Ok(Some(Agent {
        aid,
        state,
        parent,
        fields,
        caps,
        budget,
    }))
}

/// Every live agent under `dir` (from `dir/live`), ascending by AID.
pub fn live(dir: &Path) -> Result<Vec<Agent>> {
    let live = dir.join("live");
    let entries = std::fs::read_dir(&live).with_context(|| {
        format!(
            "cannot list {} (agentfs is not mounted at {}, or this kernel has no agents)",
            live.display(),
            dir.display()
        )
    })?;
    let mut aids = Vec::new();
    for e in entries {
        let e = e.with_context(|| format!("listing {}", live.display()))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let aid = Aid::parse(name.as_bytes())
            .map_err(|err| anyhow::anyhow!("{}/{name}: not an AID: {err}", live.display()))?;
        aids.push(aid);
    }
    aids.sort();
    let mut out = Vec::new();
    for aid in aids {
        if let Some(a) = read_agent(dir, aid)? {
            out.push(a);
        }
    }
    Ok(out)
}

fn colour(state: &str) -> &'static str {
    match state {
        "ACTIVE" => "\x1b[32m",
        "ATTESTED" | "SPAWNING" => "\x1b[36m",
        "INF_BLOCKED" => "\x1b[33m",
        "CAP_DENIED" | "QUARANTINED" => "\x1b[31m",
        _ => "\x1b[2m",
    }
}

fn state_text(state: &str, tty: bool) -> String {
    if tty {
        format!("{}{state}\x1b[0m", colour(state))
    } else {
        state.to_string()
    }
}

fn line(a: &Agent, tty: bool) -> String {
    let mut s = format!(
        "{} {} [{}] members={} caps={} budget={}",
        a.aid,
        a.name(),
        state_text(&a.state, tty),
        a.members(),
        a.caps.len(),
        a.budget_text()
    );
    if a.denials() > 0 {
        s += &format!(" denials={}", a.denials());
    }
    s
}

/// The tree under a:00000 as text (colour only when `tty`). Agents whose parent is not live
/// (possible only in a torn listing) are printed at the top level after the tree.
pub fn render_tree(agents: &[Agent], tty: bool) -> String {
    let mut kids: BTreeMap<Option<Aid>, Vec<&Agent>> = BTreeMap::new();
    for a in agents {
        kids.entry(a.parent).or_default().push(a);
    }
    let present: std::collections::BTreeSet<Aid> = agents.iter().map(|a| a.aid).collect();
    let mut out = String::new();
    fn walk(
        a: &Agent,
        prefix: &str,
        last: bool,
        top: bool,
        kids: &BTreeMap<Option<Aid>, Vec<&Agent>>,
        tty: bool,
        out: &mut String,
    ) {
        let (branch, next) = if top {
            ("", String::new())
        } else if last {
            ("└── ", format!("{prefix}    "))
        } else {
            ("├── ", format!("{prefix}│   "))
        };
        out.push_str(&format!("{prefix}{branch}{}\n", line(a, tty)));
        if let Some(ch) = kids.get(&Some(a.aid)) {
            for (i, c) in ch.iter().enumerate() {
                walk(c, &next, i + 1 == ch.len(), false, kids, tty, out);
            }
        }
    }
    for a in agents {
        let orphan = match a.parent {
            None => true,
            Some(p) => !present.contains(&p),
        };
        if orphan {
            walk(a, "", true, true, &kids, tty, &mut out);
        }
    }
    out
}

/// The tree as JSON: each agent with a `children` array.
pub fn tree_json(agents: &[Agent]) -> Value {
    let present: std::collections::BTreeSet<Aid> = agents.iter().map(|a| a.aid).collect();
    fn node(a: &Agent, agents: &[Agent]) -> Value {
        let mut v = a.to_json();
        let children: Vec<Value> = agents
            .iter()
            .filter(|c| c.parent == Some(a.aid))
            .map(|c| node(c, agents))
            .collect();
        v["children"] = Value::Array(children);
        v
    }
    Value::Array(
        agents
            .iter()
            .filter(|a| a.parent.is_none_or(|p| !present.contains(&p)))
            .map(|a| node(a, agents))
            .collect(),
    )
}

/// The `ps` table (colour only when `tty`).
pub fn render_ps(agents: &[Agent], tty: bool) -> String {
    let mut out = format!(
        "{:<8} {:<8} {:<18} {:>7} {:>4} {:>7}  {:<20} BUDGET\n",
        "AID", "PARENT", "STATE", "MEMBERS", "CAPS", "DENIALS", "NAME"
    );
    for a in agents {
        let pad = 18usize.saturating_sub(a.state.len());
        out += &format!(
            "{:<8} {:<8} {}{} {:>7} {:>4} {:>7}  {:<20} {}\n",
            a.aid.to_string(),
            a.parent.map_or_else(|| "-".to_string(), |p| p.to_string()),
            state_text(&a.state, tty),
            " ".repeat(pad),
            a.members(),
            a.caps.len(),
            a.denials(),
            a.name(),
            a.budget_text()
        );
    }
    out
}
