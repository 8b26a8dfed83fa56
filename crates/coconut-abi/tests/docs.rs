//! Keeps `docs/abi.md` and `docs/formats/*.md` in agreement with the crate.
//!
//! Every table that quotes a number of the ABI (syscall numbers, errno values, struct layouts,
//! limits, flags, states and edges, capabilities, kinds, the error matrix of each call in check
//! order) sits between `<!-- BEGIN GENERATED name -->` and `<!-- END GENERATED name -->` and is
//! rendered here from the crate; `UPDATE_EXPECT=1 cargo test -p coconut-abi --test docs`
//! rewrites the blocks. A textual scan then checks the numbers quoted in the prose.

mod common;

use coconut_abi::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const REGEN: &str = "UPDATE_EXPECT=1 cargo test -p coconut-abi --test docs";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("docs/abi.md")];
    let mut formats: Vec<_> = std::fs::read_dir(root().join("docs/formats"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    formats.sort();
    files.extend(
        formats
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    files
}

/// `(name, value, doc)` of every `pub const` in a source file, docs from its `///` lines.
fn documented_consts(file: &str) -> Vec<(String, String)> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let mut out = Vec::new();
    let mut doc = String::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("/// ") {
            if !doc.is_empty() {
                doc.push(' ');
            }
            doc.push_str(d);
        } else if let Some(rest) = t.strip_prefix("pub const ") {
            let name = rest.split(':').next().unwrap().to_string();
            out.push((name, std::mem::take(&mut doc)));
        } else if !t.starts_with("///") {
            doc.clear();
        }
    }
    out
}

macro_rules! values {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), format!("{}", $name as u64))),*]
    };
}

fn const_values() -> Vec<(&'static str, String)> {
    let mut v = with_limits!(values![]);
    v.extend(values![
        AID_MAX,
        AGENT_SPAWN_MASK,
        AGENT_ATTEST_MASK,
        AGENT_QUOTA_MASK,
        AGENT_GRANT_MASK,
        AGENT_REVOKE_MASK,
        AGENT_PRESENT_MASK,
        AGENT_AUDIT_FILTER_MASK,
        AGENT_MEM_MASK,
        AGENT_MEM_PROT_MASK,
        AGENT_SPAWN_PIDFD,
        AGENT_SPAWN_LAST,
        AGENT_ATTEST_ABI_VERSION,
        AGENT_ATTEST_LAST,
        AGENT_QUOTA_GET,
        AGENT_QUOTA_SET,
        AGENT_QUOTA_CHARGE,
        AGENT_QUOTA_LAST,
        AGENT_GRANT_RELEASE,
        AGENT_GRANT_LAST,
        AGENT_REVOKE_ALL,
        AGENT_REVOKE_QUARANTINE,
        AGENT_REVOKE_LAST,
        AGENT_AUDIT_SUBTREE,
        AGENT_AUDIT_FILTER_LAST,
        AGENT_MEM_POPULATE,
        AGENT_MEM_STRICT,
        AGENT_MEM_LAST,
        AGENT_MEM_PROT_READ,
        AGENT_MEM_PROT_WRITE,
        AGENT_MEM_PROT_LAST,
    ]);
    let flags: Vec<String> = documented_consts("src/flags.rs")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for (name, value) in v.iter_mut() {
        let n: u64 = value.parse().unwrap();
        *value = if n == u64::MAX {
            "2^64 - 1".into()
        } else if *name == "AID_MAX" {
            "2^63 - 1".into()
        } else if name.ends_with("_MASK") || flags.iter().any(|f| f == name) {
            format!("{n:#x}")
        } else {
            n.to_string()
        };
    }
    v.push((
        "AGENT_AUDIT_KINDS_MASK",
        format!("{AGENT_AUDIT_KINDS_MASK:#x}"),
    ));
    v
}

fn const_table(file: &str) -> String {
    let values = const_values();
    let mut t = String::from("| constant | value | meaning |\n|---|---|---|\n");
    for (name, doc) in documented_consts(file) {
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} from {file} has no value in docs.rs"));
        let _ = writeln!(t, "| `{name}` | {value} | {} |", doc.replace('|', "\\|"));
    }
    t
}

fn render(name: &str) -> Option<String> {
    let mut t = String::new();
    match name {
        "syscalls" => {
            t.push_str("| nr | name | C prototype |\n|---|---|---|\n");
            for s in Syscall::ALL {
                let _ = writeln!(t, "| {} | `{}` | `{}` |", s.nr(), s.name(), s.c_signature());
            }
        }
        "errno" => {
            t.push_str("| errno | x86_64 value | meaning in the agent ABI |\n|---|---|---|\n");
            for (e, n, d) in ERRNO_TABLE.iter() {
                let _ = writeln!(t, "| `{n}` | {} | {d} |", e.get());
            }
        }
        "limits" => t = const_table("src/limits.rs"),
        "flags" => t = const_table("src/flags.rs"),
        "states" => {
            t.push_str("| id | status word | name | terminal |\n|---|---|---|---|\n");
            for s in State::ALL {
                let _ = writeln!(
                    t,
                    "| {} | `{}` | {} | {} |",
                    s as u32,
                    s.word(),
                    s.title(),
                    if s.is_terminal() { "yes" } else { "no" }
                );
            }
        }
        "transitions" => {
            t.push_str("| # | from | to | trigger | guard |\n|---|---|---|---|---|\n");
            for (i, e) in TRANSITIONS.iter().enumerate() {
                let _ = writeln!(
                    t,
                    "| {} | {} | {} | `{}` | {} |",
                    i + 1,
                    e.from.title(),
                    e.to.title(),
                    e.trigger.name(),
                    e.trigger.guard()
                );
            }
        }
        "caps" => {
            t.push_str("| id | name | C constant | scope names |\n|---|---|---|---|\n");
            for c in CapId::ALL {
                let c_name = format!(
                    "AGENT_CAP_{}",
                    c.name().to_ascii_uppercase().replace('.', "_")
                );
                let scope = if c.scope_meaning().is_empty() {
                    "(unscoped in practice)"
                } else {
                    c.scope_meaning()
                };
                let _ = writeln!(t, "| {} | `{}` | `{c_name}` | {scope} |", c.id(), c.name());
            }
        }
        "quota-kinds" => {
            t.push_str("| id | name | unit of `limit`/`used` | period | charged by |\n|---|---|---|---|---|\n");
            for k in QuotaKind::ALL {
                let _ = writeln!(
                    t,
                    "| {} | `{}` | {} | {} | {} |",
                    k as u32,
                    k.name(),
                    k.unit(),
                    if k.is_periodic() {
                        "`period_ns`"
                    } else {
                        "none (`period_ns` = 0)"
                    },
                    if k.is_brokered() {
                        "brokers (`AGENT_QUOTA_CHARGE`)"
                    } else {
                        "the kernel"
                    }
                );
            }
        }
        "mem-tiers" => {
            t.push_str("| id | name | needs `mem.tier` |\n|---|---|---|\n");
            for m in MemTier::ALL {
                let _ = writeln!(
                    t,
                    "| {} | `{}` | {} |",
                    m as u32,
                    m.name(),
                    if m.needs_capability() { "yes" } else { "no" }
                );
            }
        }
        "audit-kinds" => {
            t.push_str("| id | JSON name | C constant | filter bit |\n|---|---|---|---|\n");
            for k in AuditKind::ALL {
                let _ = writeln!(
                    t,
                    "| {} | `{}` | `AGENT_AUDIT_KIND_{}` | `{:#x}` |",
                    k as u32,
                    k.json_name(),
                    k.json_name().to_ascii_uppercase(),
                    k.filter_bit()
                );
            }
        }
        "event-header" => {
            t.push_str("| offset | size | field | encoding |\n|---|---|---|---|\n");
            for (off, size, field, enc) in [
                (AUDIT_OFF_MAGIC, 4, "magic", "ASCII `CCA1`"),
                (AUDIT_OFF_KIND, 4, "kind", "u32 LE, audit kind id"),
                (AUDIT_OFF_SEQ, 8, "seq", "u64 LE, 0 = this boot's boot row"),
                (AUDIT_OFF_BOOT, 8, "boot", "u64 LE, boot counter"),
                (AUDIT_OFF_TIME_NS, 8, "time_ns", "u64 LE, CLOCK_REALTIME ns"),
                (
                    AUDIT_OFF_ACTOR,
                    8,
                    "actor",
                    "u64 LE, AID of the agent that acted",
                ),
                (
                    AUDIT_OFF_SUBJECT,
                    8,
                    "subject",
                    "u64 LE, AID the event is about",
                ),
                (AUDIT_OFF_RESULT, 4, "result", "i32 LE, 0 or -errno"),
                (
                    AUDIT_OFF_DETAIL_LEN,
                    4,
                    "detail_len",
                    "u32 LE, 0..=AGENT_AUDIT_DETAIL_MAX (256)",
                ),
                (AUDIT_OFF_DETAIL, 0, "detail", "detail_len bytes of UTF-8"),
            ] {
                let size = if size == 0 {
                    "detail_len".to_string()
                } else {
                    size.to_string()
                };
                let _ = writeln!(t, "| {off} | {size} | `{field}` | {enc} |");
            }
        }
        _ => {
            if let Some(call) = name.strip_prefix("errors:") {
                let call = Syscall::from_name(call)?;
                t.push_str("| # | stage | condition | errno |\n|---|---|---|---|\n");
                for (i, s) in check_order(call).iter().enumerate() {
                    let _ = writeln!(
                        t,
                        "| {} | {} | {} | `{}` |",
                        i + 1,
                        s.stage.word(),
                        s.condition,
                        s.errno.name()
                    );
                }
            } else if let Some(st) = name.strip_prefix("struct:") {
                let s = STRUCTS.iter().find(|s| s.c_name == st)?;
                let _ = writeln!(t, "```c\nstruct {} {{", s.c_name);
                for f in s.fields {
                    let decl = match f.c_type.split_once('[') {
                        Some((ty, dim)) => format!("{ty} {}[{dim};", f.name),
                        None => format!("{} {};", f.c_type, f.name),
                    };
                    let _ = writeln!(
                        t,
                        "\t{decl:<28}/* off {:>2}, {} bytes: {} */",
                        f.offset, f.size, f.doc
                    );
                }
                let _ = writeln!(t, "}};\t/* {} = {} */\n```", s.size_const, s.size);
            } else {
                return None;
            }
        }
    }
    Some(t)
}

const BEGIN: &str = "<!-- BEGIN GENERATED ";
const END: &str = "<!-- END GENERATED ";

/// Rewrites every generated block of `text`; returns the new text and the block names.
fn regenerate(text: &str, file: &Path) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let name_end = after
            .find(" -->")
            .unwrap_or_else(|| panic!("{}: unterminated marker", file.display()));
        let name = after[..name_end].to_string();
        let body_start = start + BEGIN.len() + name_end + 4;
        let end_marker = format!("{END}{name} -->");
        let end = rest[body_start..]
            .find(&end_marker)
            .unwrap_or_else(|| panic!("{}: no `{end_marker}`", file.display()))
            + body_start;
        let body =
            render(&name).unwrap_or_else(|| panic!("{}: unknown block {name:?}", file.display()));
        out.push_str(&rest[..body_start]);
        out.push('\n');
        out.push_str(&body);
        out.push_str(&end_marker);
        rest = &rest[end + end_marker.len()..];
        names.push(name);
    }
    out.push_str(rest);
    (out, names)
}

#[test]
fn generated_blocks_are_up_to_date() {
    let mut all = Vec::new();
    let mut stale = Vec::new();
    for file in doc_files() {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (new, names) = regenerate(&text, &file);
        all.extend(names);
        if new != text {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&file, new).unwrap();
            } else {
                stale.push(file.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated tables in {stale:?}; run `{REGEN}`"
    );
    let mut required: Vec<String> = [
        "syscalls",
        "errno",
        "limits",
        "flags",
        "states",
        "transitions",
        "caps",
        "quota-kinds",
        "mem-tiers",
        "audit-kinds",
        "event-header",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    required.extend(Syscall::ALL.iter().map(|s| format!("errors:{}", s.name())));
    required.extend(STRUCTS.iter().map(|s| format!("struct:{}", s.c_name)));
    for r in required {
        assert!(all.contains(&r), "no generated block {r:?} in the docs");
    }
}

/// The prose outside generated blocks, per file.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(END).map_or(rest.len(), |e| start + e);
        rest = &rest[end..];
        rest = rest.find("-->").map_or("", |e| &rest[e + 3..]);
    }
    out.push_str(rest);
    out
}

#[test]
fn prose_quotes_the_crate_correctly() {
    let abi = std::fs::read_to_string(root().join("docs/abi.md")).unwrap();
    let text = prose(&abi);
    // Syscall numbers quoted as `name` (NNN) or name (NNN) or #NNN.
    for s in Syscall::ALL {
        for (i, _) in text.match_indices(s.name()) {
            let after = &text[i + s.name().len()..];
            let after = after.trim_start_matches('`').trim_start_matches("()");
            if let Some(num) = after.strip_prefix(" (").and_then(|a| a.get(..3)) {
                if num.chars().all(|c| c.is_ascii_digit()) {
                    assert_eq!(
                        num,
                        s.nr().to_string(),
                        "docs/abi.md quotes {} as {num}",
                        s.name()
                    );
                }
            }
        }
    }
    // Struct sizes quoted as `struct name` (N bytes).
    for s in STRUCTS.iter() {
        let pat = format!("struct {}` (", s.c_name);
        for (i, _) in text.match_indices(&pat) {
            let after = &text[i + pat.len()..];
            let n: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !n.is_empty() {
                assert_eq!(
                    n,
                    s.size.to_string(),
                    "docs/abi.md quotes {} as {n} bytes",
                    s.c_name
                );
            }
        }
    }
    // Errno names quoted with a value, e.g. `EKEYREJECTED` (129).
    for (e, name, _) in ERRNO_TABLE.iter() {
        let pat = format!("`{name}` (");
        for (i, _) in text.match_indices(&pat) {
            let n: String = text[i + pat.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !n.is_empty() {
                assert_eq!(n, e.get().to_string(), "docs/abi.md quotes {name} as {n}");
            }
        }
    }
    // Every limit named in the prose with "= N" has that value.
    let values = const_values();
    for (name, value) in values {
        let pat = format!("`{name}` = ");
        for (i, _) in text.match_indices(&pat) {
            let after = &text[i + pat.len()..];
            let ok = after.starts_with(&value)
                && !after[value.len()..].starts_with(|c: char| c.is_ascii_alphanumeric());
            let shown: String = after.chars().take(16).collect();
            assert!(
                ok,
                "docs/abi.md quotes {name} = {shown}...; the crate says {value}"
            );
        }
    }
    // Every syscall has the eight sections.
    for s in Syscall::ALL {
        let head = format!("### `{}` ({})", s.name(), s.nr());
        let start = abi
            .find(&head)
            .unwrap_or_else(|| panic!("no section {head:?}"));
        let section = &abi[start..];
        let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 4)];
        for sub in [
            "**Signature**",
            "**Arguments**",
            "**Return value**",
            "**Errors**",
            "**Who may call**",
            "**What it changes**",
            "**Audit row**",
            "**Notes**",
        ] {
            assert!(section.contains(sub), "{head} lacks {sub}");
        }
    }
}
