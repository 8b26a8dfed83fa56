//! Service definitions: one TOML file per service in a profile directory, loaded strictly.
//!
//! Job: read `<dir>/*.toml` (the service's name is the file's stem), reject unknown keys
//! (`deny_unknown_fields`), check every value into the validated [`Service`] type (users and
//! groups resolved, durations parsed, the capability template known), and check the dependency
//! graph (no unknown names, no cycles). The format is documented in `docs/coconutd.md`.
//!
//! Constraints: every error names its file and line (and column); all errors of a load are
//! collected and reported together ([`ProfileError`]), so one run shows every mistake. A
//! failed load changes nothing: the caller keeps what it had.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcoconut::{Capability, CapabilityError};
use serde::Deserialize;
use toml::Spanned;

/// One service, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The name: the file's stem, a valid agent name (`[a-z0-9._-]`, 1..=64 bytes).
    pub name: String,
    /// The file it was read from.
    pub source: PathBuf,
    /// The program: an absolute path.
    pub exec: PathBuf,
    /// Arguments after `argv[0]` (which is `exec`).
    pub args: Vec<String>,
    /// Extra environment variables, on top of `PATH` (see `docs/coconutd.md`).
    pub env: BTreeMap<String, String>,
    /// The uid to run as; `None` keeps coconutd's.
    pub uid: Option<u32>,
    /// The gid to run as; `None` keeps coconutd's (or the user's primary group when `user` is
    /// a name).
    pub gid: Option<u32>,
    /// Services that must be ready before this one starts, and are started with it.
    pub requires: Vec<String>,
    /// Services that, when they are being started too, must be ready (or have given up) first.
    pub after: Vec<String>,
    /// How the service says it is ready.
    pub ready: Ready,
    /// When it is restarted after it exits.
    pub restart: Restart,
    /// The delays between restarts.
    pub backoff: Backoff,
    /// How long after SIGTERM the process group gets SIGKILL.
    pub stop_timeout: Duration,
    /// The capability template of its agent.
    pub cap_template: CapTemplate,
}

/// How a service signals readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Ready as soon as it has been executed.
    None,
    /// s6 style: the service writes a newline on this file descriptor.
    NotifyFd(i32),
}

/// When a service is restarted after its process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Never.
    No,
    /// When it exits with a non-zero status or is killed by a signal.
    OnFailure,
    /// Whenever it exits (unless coconutd stopped it).
    Always,
}

impl Restart {
    /// The spelling in service files and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::No => "no",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        }
    }
}

/// Exponential backoff between restarts: `initial`, then times `factor` each time, at most
/// `max`; back to `initial` once a run lasted `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
    /// The geometric factor, an integer 1..=16 (1 = constant delay).
    pub factor: u32,
    /// A run at least this long resets the delay to `initial`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 2,
            reset_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The delay after `previous` (`None`: the first restart or after a reset).
    pub fn next(&self, previous: Option<Duration>) -> Duration {
        match previous {
            None => self.initial.min(self.max),
            Some(p) => p.saturating_mul(self.factor).min(self.max),
        }
    }
}

/// The default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A named capability template: the capability ceiling of a service's agent.
///
/// These are coconutd's built-in definitions until the operator-side templates of the policy
/// layer (`/agent/policy/caps/`) exist; `docs/coconutd.md` lists their contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapTemplate {
    /// No capabilities at all.
    None,
    /// A network service: read the system, write `/var`, run `/usr`, bind and connect.
    Server,
    /// The server set plus inference through the broker.
    Workstation,
    /// A tenant's web service: its own `/srv`, network, inference.
    IndieSaas,
}

impl CapTemplate {
    /// Every template, in documentation order.
    pub const ALL: [CapTemplate; 4] = [
        CapTemplate::None,
        CapTemplate::Server,
        CapTemplate::Workstation,
        CapTemplate::IndieSaas,
    ];

    /// The spelling in service files.
    pub fn name(self) -> &'static str {
        match self {
            CapTemplate::None => "none",
            CapTemplate::Server => "server",
            CapTemplate::Workstation => "workstation",
            CapTemplate::IndieSaas => "indie-saas",
        }
    }

    /// The capability texts of the template.
    pub fn texts(self) -> &'static [&'static str] {
        match self {
            CapTemplate::None => &[],
            CapTemplate::Server => &[
                "fs.exec:/usr/*",
                "fs.read:/*",
                "fs.write:/var/*",
                "net.bind",
                "net.connect",
            ],
            CapTemplate::Workstation => &[
                "fs.exec:/usr/*",
                "fs.read:/*",
                "fs.write:/var/*",
                "inference",
                "net.bind",
                "net.connect",
            ],
            CapTemplate::IndieSaas => &[
                "fs.read:/srv/*",
                "fs.write:/srv/*",
                "inference",
                "net.bind",
                "net.connect",
            ],
        }
    }

    /// The template's capabilities, parsed by libcoconut.
    pub fn caps(self) -> Result<Vec<Capability>, CapabilityError> {
        self.texts().iter().map(|t| t.parse()).collect()
    }

    fn from_name(name: &str) -> Option<CapTemplate> {
        CapTemplate::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One mistake in a service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, 0) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            (l, c) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
        }
    }
}

/// Every mistake of a profile load, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError(pub Vec<LoadError>);

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    exec: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    user: Option<Spanned<IdSpec>>,
    group: Option<Spanned<IdSpec>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    ready: Option<Spanned<String>>,
    restart: Option<Spanned<String>>,
    backoff: Option<RawBackoff>,
    stop_timeout: Option<Spanned<String>>,
    cap_template: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: Option<Spanned<String>>,
    max: Option<Spanned<String>>,
    factor: Option<Spanned<i64>>,
    reset_after: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdSpec {
    Id(i64),
    Name(String),
}

/// Where user and group names are looked up (`/etc/passwd`, `/etc/group`; files only, no NSS:
/// PID 1 runs before any name service).
#[derive(Debug, Clone)]
pub struct NameDb {
    /// `name -> (uid, primary gid)`.
    pub users: BTreeMap<String, (u32, u32)>,
    /// `name -> gid`.
    pub groups: BTreeMap<String, u32>,
}

impl NameDb {
    /// Reads `/etc/passwd` and `/etc/group` (missing files are empty databases).
    pub fn system() -> NameDb {
        NameDb::from_texts(
            &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            &std::fs::read_to_string("/etc/group").unwrap_or_default(),
        )
    }

    /// Parses passwd and group texts (`name:x:uid:gid:...` and `name:x:gid:...`).
    pub fn from_texts(passwd: &str, group: &str) -> NameDb {
        let mut users = BTreeMap::new();
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if let (Some(name), Some(uid), Some(gid)) = (f.first(), f.get(2), f.get(3)) {
                if let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse()) {
                    users.insert((*name).to_string(), (uid, gid));
                }
            }
        }
        let mut groups = BTreeMap::new();
        for line in group.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if let (Some(name), Some(gid)) = (f.first(), f.get(2)) {
                if let Ok(gid) = gid.parse() {
                    groups.insert((*name).to_string(), gid);
                }
            }
        }
        NameDb { users, groups }
    }
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

struct FileCtx<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<LoadError>,
}

impl FileCtx<'_> {
    fn err(&mut self, span: Option<Range<usize>>, message: String) {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        self.errors.push(LoadError {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
        });
    }

    fn duration(&mut self, key: &str, v: Option<&Spanned<String>>, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.err(
                    Some(v.span()),
                    format!(
                        "{key} = {:?} is not a duration: {e} (write e.g. \"500ms\", \"10s\", \"2m\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }
}

/// Parses one service file's text. `name` is the service's name (the file's stem).
pub fn parse_service(
    name: &str,
    file: &Path,
    text: &str,
    names: &NameDb,
) -> Result<Service, Vec<LoadError>> {
    let mut cx = FileCtx {
        file,
        text,
        errors: Vec::new(),
    };
    if !libcoconut::abi::is_valid_agent_name(name.as_bytes()) {
        cx.err(
            None,
            format!(
                "{name:?} is not a valid service name: the file's stem must be 1..=64 bytes of \
                 [a-z0-9._-] (it is the name of the service's agent); rename the file"
            ),
        );
    }
    let raw: RawService = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let msg = e.message().trim_end().to_string();
            cx.err(e.span(), msg);
            return Err(cx.errors);
        }
    };

    let exec = PathBuf::from(raw.exec.get_ref());
    if !exec.is_absolute() {
        cx.err(
            Some(raw.exec.span()),
            format!(
                "exec = {:?} is not an absolute path; write the program's full path (e.g. \"/bin/sh\")",
                raw.exec.get_ref()
            ),
        );
    }
    for k in raw.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            cx.err(
                None,
                format!("env key {k:?} is not a variable name (no '=', no NUL, not empty)"),
            );
        }
    }
    for a in raw.args.iter().chain(raw.env.values()) {
        if a.contains('\0') {
            cx.err(
                None,
                format!("{a:?} contains a NUL byte, which exec cannot pass"),
            );
        }
    }

    let mut uid = None;
    let mut gid = None;
    if let Some(u) = &raw.user {
        match u.get_ref() {
            IdSpec::Id(n) => match u32::try_from(*n) {
                Ok(n) => uid = Some(n),
                Err(_) => cx.err(
                    Some(u.span()),
                    format!("user = {n} is not a uid (0..=4294967295)"),
                ),
            },
            IdSpec::Name(n) => match names.users.get(n) {
                Some(&(u, g)) => {
                    uid = Some(u);
                    gid = Some(g);
                }
                None => cx.err(
                    Some(u.span()),
                    format!("user {n:?} is not in /etc/passwd; add the user or give a numeric uid"),
                ),
            },
        }
    }
    if let Some(g) = &raw.group {
        match g.get_ref() {
            IdSpec::Id(n) => match u32::try_from(*n) {
                Ok(n) => gid = Some(n),
                Err(_) => cx.err(
                    Some(g.span()),
                    format!("group = {n} is not a gid (0..=4294967295)"),
                ),
            },
            IdSpec::Name(n) => match names.groups.get(n) {
                Some(&g) => gid = Some(g),
                None => cx.err(
                    Some(g.span()),
                    format!(
                        "group {n:?} is not in /etc/group; add the group or give a numeric gid"
                    ),
                ),
            },
        }
    }

    let ready = match &raw.ready {
        None => Ready::None,
        Some(r) => match parse_ready(r.get_ref()) {
            Ok(ready) => ready,
            Err(msg) => {
                cx.err(Some(r.span()), msg);
                Ready::None
            }
        },
    };
    let restart = match raw
        .restart
        .as_ref()
        .map(|r| (r.get_ref().as_str(), r.span()))
    {
        None => Restart::OnFailure,
        Some(("no", _)) => Restart::No,
        Some(("on-failure", _)) => Restart::OnFailure,
        Some(("always", _)) => Restart::Always,
        Some((other, span)) => {
            cx.err(
                Some(span),
                format!("restart = {other:?} is not one of \"no\", \"on-failure\", \"always\""),
            );
            Restart::OnFailure
        }
    };
    let d = Backoff::default();
    let backoff = match &raw.backoff {
        None => d,
        Some(b) => {
            let factor = match &b.factor {
                None => d.factor,
                Some(f) => match u32::try_from(*f.get_ref()) {
                    Ok(n @ 1..=16) => n,
                    _ => {
                        cx.err(
                            Some(f.span()),
                            format!(
                                "backoff.factor = {} is out of range: an integer 1..=16",
                                f.get_ref()
                            ),
                        );
                        d.factor
                    }
                },
            };
            Backoff {
                initial: cx.duration("backoff.initial", b.initial.as_ref(), d.initial),
                max: cx.duration("backoff.max", b.max.as_ref(), d.max),
                factor,
                reset_after: cx.duration(
                    "backoff.reset_after",
                    b.reset_after.as_ref(),
                    d.reset_after,
                ),
            }
        }
    };
    if backoff.initial > backoff.max {
        cx.err(
            None,
            format!(
                "backoff.initial ({}) is larger than backoff.max ({}); make max at least initial",
                humantime::format_duration(backoff.initial),
                humantime::format_duration(backoff.max)
            ),
        );
    }
    let stop_timeout = cx.duration(
        "stop_timeout",
        raw.stop_timeout.as_ref(),
        DEFAULT_STOP_TIMEOUT,
    );
    let cap_template = match &raw.cap_template {
        None => CapTemplate::None,
        Some(t) => match CapTemplate::from_name(t.get_ref()) {
            Some(t) => t,
            None => {
                let known: Vec<&str> = CapTemplate::ALL.iter().map(|t| t.name()).collect();
                cx.err(
                    Some(t.span()),
                    format!(
                        "cap_template = {:?} is not a known template; known: {}",
                        t.get_ref(),
                        known.join(", ")
                    ),
                );
                CapTemplate::None
            }
        },
    };

    for dep in raw.requires.iter().chain(&raw.after) {
        if dep.get_ref() == name {
            cx.err(
                Some(dep.span()),
                format!("service {name:?} cannot depend on itself"),
            );
        }
    }

    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    Ok(Service {
        name: name.to_string(),
        source: file.to_path_buf(),
        exec,
        args: raw.args,
        env: raw.env,
        uid,
        gid,
        requires: raw.requires.iter().map(|s| s.get_ref().clone()).collect(),
        after: raw.after.iter().map(|s| s.get_ref().clone()).collect(),
        ready,
        restart,
        backoff,
        stop_timeout,
        cap_template,
    })
}

fn parse_ready(s: &str) -> Result<Ready, String> {
    if s == "none" {
        return Ok(Ready::None);
    }
    if let Some(n) = s.strip_prefix("notify-fd:") {
        return match n.parse::<i32>() {
            Ok(fd @ 3..=1023) => Ok(Ready::NotifyFd(fd)),
            _ => Err(format!(
                "ready = {s:?}: the notify fd must be a number 3..=1023 (0-2 are stdio)"
            )),
        };
    }
    if s == "sd_notify" {
        return Err(
            "ready = \"sd_notify\" is not supported yet (READY=1 on $NOTIFY_SOCKET is not built); \
             use \"notify-fd:N\" and have the service write a newline on fd N"
                .to_string(),
        );
    }
    Err(format!(
        "ready = {s:?} is not one of \"none\", \"notify-fd:N\" (e.g. \"notify-fd:3\")"
    ))
}

/// A loaded, checked profile: services by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The services, by name.
    pub services: BTreeMap<String, Service>,
}

impl Profile {
    /// Loads every `*.toml` file of `dir` (not recursive; other files are ignored).
    pub fn load_dir(dir: &Path, names: &NameDb) -> Result<Profile, ProfileError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            ProfileError(vec![LoadError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the profile directory: {e}"),
            }])
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => texts.push((f, t)),
                Err(e) => errors.push(LoadError {
                    file: f,
                    line: 0,
                    column: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        match Profile::from_texts(texts.iter().map(|(f, t)| (f.as_path(), t.as_str())), names) {
            Ok(p) if errors.is_empty() => Ok(p),
            Ok(_) => Err(ProfileError(errors)),
            Err(ProfileError(mut more)) => {
                errors.append(&mut more);
                Err(ProfileError(errors))
            }
        }
    }

    /// Checks a set of `(file, text)` pairs as one profile; each service is named after its
    /// file's stem.
    pub fn from_texts<'a>(
        files: impl IntoIterator<Item = (&'a Path, &'a str)>,
        names: &NameDb,
    ) -> Result<Profile, ProfileError> {
        let mut errors = Vec::new();
        let mut services = BTreeMap::new();
        let mut lines: BTreeMap<String, &'a str> = BTreeMap::new();
        for (file, text) in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match parse_service(&name, file, text, names) {
                Ok(s) => {
                    lines.insert(name.clone(), text);
                    services.insert(name, s);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let profile = Profile { services };
        // Unknown dependencies, pointing at the line that names them.
        for s in profile.services.values() {
            for (key, dep) in s
                .requires
                .iter()
                .map(|d| ("requires", d))
                .chain(s.after.iter().map(|d| ("after", d)))
            {
                if !profile.services.contains_key(dep) {
                    let text = lines.get(&s.name).copied().unwrap_or("");
                    let (line, column) =
                        find_quoted(text, dep).map_or((0, 0), |o| line_col(text, o));
                    errors.push(LoadError {
                        file: s.source.clone(),
                        line,
                        column,
                        message: format!(
                            "{key}: service {dep:?} does not exist in this profile (no {dep}.toml)"
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            if let Some(cycle) = profile.find_cycle() {
                let first = &profile.services[&cycle[0]];
                errors.push(LoadError {
                    file: first.source.clone(),
                    line: 0,
                    column: 0,
                    message: format!(
                        "dependency cycle: {} (requires/after must not loop)",
                        cycle.join(" -> ")
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(ProfileError(errors))
        }
    }

    /// Every dependency (requires and after) of `name` inside the profile.
    pub fn deps<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.services
            .get(name)
            .into_iter()
            .flat_map(|s| s.requires.iter().chain(&s.after).map(String::as_str))
    }

    /// A cycle as its service names, first name repeated at the end, if there is one.
    fn find_cycle(&self) -> Option<Vec<String>> {
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
        let mut stack: Vec<&str> = Vec::new();
        fn visit<'a>(
            p: &'a Profile,
            n: &'a str,
            mark: &mut BTreeMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match mark.get(n) {
                Some(2) => return None,
                Some(1) => {
                    let from = stack.iter().position(|s| *s == n).unwrap_or(0);
                    let mut c: Vec<String> = stack[from..].iter().map(|s| s.to_string()).collect();
                    c.push(n.to_string());
                    return Some(c);
                }
                _ => {}
            }
            mark.insert(n, 1);
            stack.push(n);
            for d in p.deps(n) {
                if let Some(c) = visit(p, d, mark, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            mark.insert(n, 2);
            None
        }
        for n in self.services.keys() {
            if let Some(c) = visit(self, n, &mut mark, &mut stack) {
                return Some(c);
            }
        }
        None
    }

    /// The services in an order where each comes after all its dependencies.
    pub fn start_order(&self) -> Vec<String> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < self.services.len() {
            let before = out.len();
            for n in self.services.keys() {
                if !done.contains(n.as_str()) && self.deps(n).all(|d| done.contains(d)) {
                    done.insert(n);
                    out.push(n.clone());
                }
            }
            if out.len() == before {
                break; // Only reachable with a cycle, which loading rejects.
            }
        }
        out
    }
}

/// The byte offset of `"name"` (or `'name'`) in `text`.
fn find_quoted(text: &str, name: &str) -> Option<usize> {
    text.find(&format!("\"{name}\""))
        .or_else(|| text.find(&format!("'{name}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> NameDb {
        NameDb::from_texts(
            "root:x:0:0:root:/root:/bin/sh\nsvc:x:1001:1002::/:/bin/false\n",
            "root:x:0:\nwheel:x:10:\n",
        )
    }

    fn one(text: &str) -> Result<Service, Vec<LoadError>> {
        parse_service("s", Path::new("p/s.toml"), text, &db())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = one("exec = \"/bin/true\"\n").unwrap();
        assert_eq!(s.ready, Ready::None);
        assert_eq!(s.restart, Restart::OnFailure);
        assert_eq!(s.backoff, Backoff::default());
        assert_eq!(s.stop_timeout, Duration::from_secs(10));
        assert_eq!(s.cap_template, CapTemplate::None);
        assert_eq!((s.uid, s.gid), (None, None));
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let e = one("exec = \"/bin/true\"\n\nrestrat = \"always\"\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].column), (3, 1));
        assert!(
            e[0].to_string()
                .starts_with("p/s.toml:3:1: unknown field `restrat`"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn semantic_errors_are_collected_with_lines() {
        let e = one(
            "exec = \"bin/true\"\nuser = \"nobody-here\"\nready = \"notify-fd:1\"\n\
             restart = \"sometimes\"\ncap_template = \"root\"\nstop_timeout = \"soon\"\n",
        )
        .unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 6, 5], "{e:?}");
        assert!(e[4].message.contains("not a duration"));
        assert!(e[5]
            .message
            .contains("known: none, server, workstation, indie-saas"));
    }

    #[test]
    fn users_and_groups_resolve() {
        let s = one("exec = \"/bin/true\"\nuser = \"svc\"\n").unwrap();
        assert_eq!((s.uid, s.gid), (Some(1001), Some(1002)));
        let s = one("exec = \"/bin/true\"\nuser = \"svc\"\ngroup = \"wheel\"\n").unwrap();
        assert_eq!((s.uid, s.gid), (Some(1001), Some(10)));
        let s = one("exec = \"/bin/true\"\nuser = 5\ngroup = 6\n").unwrap();
        assert_eq!((s.uid, s.gid), (Some(5), Some(6)));
        assert!(one("exec = \"/bin/true\"\nuser = -1\n").is_err());
    }

    #[test]
    fn sd_notify_is_refused_clearly() {
        let e = one("exec = \"/bin/true\"\nready = \"sd_notify\"\n").unwrap_err();
        assert!(e[0].message.contains("not supported yet"), "{}", e[0]);
    }

    #[test]
    fn backoff_grows_geometrically_to_max() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            factor: 3,
            reset_after: Duration::from_secs(1),
        };
        let mut d = None;
        let mut seen = Vec::new();
        for _ in 0..4 {
            let n = b.next(d);
            seen.push(n.as_millis());
            d = Some(n);
        }
        assert_eq!(seen, vec![100, 300, 500, 500]);
    }

    #[test]
    fn templates_parse() {
        for t in CapTemplate::ALL {
            assert_eq!(t.caps().unwrap().len(), t.texts().len());
        }
    }

    fn profile(files: &[(&str, &str)]) -> Result<Profile, ProfileError> {
        let owned: Vec<(PathBuf, &str)> = files
            .iter()
            .map(|(n, t)| (PathBuf::from(format!("p/{n}.toml")), *t))
            .collect();
        Profile::from_texts(owned.iter().map(|(p, t)| (p.as_path(), *t)), &db())
    }

    #[test]
    fn unknown_dependency_names_the_line() {
        let e = profile(&[("a", "exec = \"/bin/true\"\n\nrequires = [\"ghost\"]\n")]).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].line, 3);
        assert!(e.0[0].message.contains("\"ghost\" does not exist"), "{e}");
    }

    #[test]
    fn cycles_name_the_services() {
        let e = profile(&[
            ("a", "exec = \"/bin/true\"\nrequires = [\"b\"]\n"),
            ("b", "exec = \"/bin/true\"\nafter = [\"c\"]\n"),
            ("c", "exec = \"/bin/true\"\nrequires = [\"a\"]\n"),
        ])
        .unwrap_err();
        assert!(
            e.to_string().contains("dependency cycle: a -> b -> c -> a"),
            "{e}"
        );
    }

    #[test]
    fn start_order_respects_dependencies() {
        let p = profile(&[
            (
                "web",
                "exec = \"/bin/true\"\nrequires = [\"db\"]\nafter = [\"log\"]\n",
            ),
            ("db", "exec = \"/bin/true\"\nafter = [\"log\"]\n"),
            ("log", "exec = \"/bin/true\"\n"),
        ])
        .unwrap();
        assert_eq!(p.start_order(), vec!["log", "db", "web"]);
    }

    #[test]
    fn bad_service_name_is_refused() {
        let e = parse_service(
            "Bad Name",
            Path::new("p/Bad Name.toml"),
            "exec = \"/bin/true\"\n",
            &db(),
        )
        .unwrap_err();
        assert!(e[0].message.contains("not a valid service name"));
    }
}
