//! Keeps the kernel fork's restatements of the syscall block in agreement with [`Syscall`].
//!
//! The numbers and names of the eight calls exist once, in `src/syscall.rs`. The kernel needs
//! them in C: the x86_64 syscall table (patch 0001, one `NNN common agent_x sys_agent_x` line
//! per call), the prototypes and `COND_SYSCALL` fallbacks (patch 0002), the `SYSCALL_DEFINEn`s
//! of `agent.c`, and the C↔Rust entry points of `agent.h` and `agent_core.rs`. This test parses
//! each of those files and compares it with the crate, so a renumbered, renamed, missing or
//! extra call fails here, on the host, before any kernel build. The glue files and the Kconfig
//! help restate no number at all (C uses the uapi header's names); a digit string 472..=479 in
//! them fails.

use coconut_abi::Syscall;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The one patch of `kernel/patches/` whose name starts with `prefix` (`"0001-"`).
fn patch(prefix: &str) -> String {
    let dir = repo().join("kernel/patches");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".patch"))
        })
        .collect();
    assert_eq!(found.len(), 1, "exactly one kernel/patches/{prefix}*.patch");
    let path = found.remove(0);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The number of parameters of a C prototype `long name(a, b, c)`.
fn arity(prototype: &str) -> usize {
    let params = prototype
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map(|(params, _)| params.trim())
        .unwrap_or_else(|| panic!("not a prototype: {prototype}"));
    if params.is_empty() || params == "void" {
        0
    } else {
        params.split(',').count()
    }
}

/// The added lines of a patch, without the leading `+`.
fn added_lines(patch: &str) -> impl Iterator<Item = &str> {
    patch
        .lines()
        .filter(|l| !l.starts_with("+++"))
        .filter_map(|l| l.strip_prefix('+'))
}

/// A C source with its comments removed, whitespace runs joined into one space.
fn c_code(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    let out: String = out
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn patch_0001_syscall_table_lines_are_the_crate_s_numbers() {
    let text = patch("0001-");
    let mut table = Vec::new();
    for line in added_lines(&text) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.starts_with('#')) || fields.is_empty() {
            continue;
        }
        assert_eq!(
            fields.len(),
            4,
            "patch 0001 adds a table line that is not `NNN common name entry`: {line:?}"
        );
        let nr: u32 = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("patch 0001: {:?} is not a number", fields[0]));
        assert_eq!(
            fields[1], "common",
            "patch 0001: {line:?} is not an x86_64 `common` entry"
        );
        table.push((nr, fields[2].to_string(), fields[3].to_string()));
    }
    let expected: Vec<(u32, String, String)> = Syscall::ALL
        .iter()
        .map(|s| (s.nr(), s.name().to_string(), format!("sys_{}", s.name())))
        .collect();
    assert_eq!(
        table, expected,
        "patch 0001's syscall table lines disagree with crates/coconut-abi/src/syscall.rs"
    );
}

#[test]
fn patch_0002_declares_every_call_with_its_arity_and_a_sys_ni_fallback() {
    let text = patch("0002-");
    let added = c_code(&added_lines(&text).collect::<Vec<_>>().join("\n"));
    for s in Syscall::ALL {
        let decl = format!("asmlinkage long sys_{}(", s.name());
        let start = added
            .find(&decl)
            .unwrap_or_else(|| panic!("patch 0002 does not declare sys_{}", s.name()));
        let proto = &added[start..];
        let proto = &proto[..proto.find(';').expect("a prototype ends with `;`")];
        assert_eq!(
            arity(proto),
            arity(s.c_signature()),
            "patch 0002: sys_{} has another parameter count than `{}`",
            s.name(),
            s.c_signature()
        );
        assert!(
            added.contains(&format!("COND_SYSCALL({});", s.name())),
            "patch 0002 has no COND_SYSCALL({}) (kernels without CONFIG_COCONUT_AGENT must \
             answer ENOSYS)",
            s.name()
        );
    }
    let declared = added.matches("asmlinkage long sys_agent_").count();
    let fallbacks = added.matches("COND_SYSCALL(agent_").count();
    assert_eq!(
        (declared, fallbacks),
        (Syscall::ALL.len(), Syscall::ALL.len()),
        "patch 0002 declares calls the crate does not have"
    );
}

#[test]
fn agent_c_defines_every_call_and_hands_it_to_its_rust_entry_point() {
    let code = c_code(&read("kernel/overlay/kernel/agent/agent.c"));
    for s in Syscall::ALL {
        let define = format!("SYSCALL_DEFINE{}({},", arity(s.c_signature()), s.name());
        assert!(
            code.contains(&define),
            "agent.c has no `{define} …)` for `{}`",
            s.c_signature()
        );
        assert!(
            code.contains(&format!("return coconut_{}(", s.name())),
            "agent.c's {} does not call coconut_{}()",
            s.name(),
            s.name()
        );
    }
    assert_eq!(
        code.matches("SYSCALL_DEFINE").count(),
        Syscall::ALL.len(),
        "agent.c defines calls the crate does not have"
    );
}

#[test]
fn agent_h_and_agent_core_rs_agree_on_the_entry_points() {
    let header = c_code(&read("kernel/overlay/kernel/agent/agent.h"));
    let core = read("kernel/overlay/kernel/agent/agent_core.rs");
    for s in Syscall::ALL {
        let entry = format!("coconut_{}", s.name());
        let start = header
            .find(&format!("long {entry}("))
            .unwrap_or_else(|| panic!("agent.h does not declare `long {entry}(…)`"));
        let proto = &header[start..];
        let proto = &proto[..proto.find(';').expect("a prototype ends with `;`")];
        assert_eq!(
            arity(proto),
            arity(s.c_signature()),
            "agent.h: {entry} has another parameter count than `{}`",
            s.c_signature()
        );
        assert!(
            core.contains(&format!("pub extern \"C\" fn {entry}(")),
            "agent_core.rs has no `#[no_mangle] pub extern \"C\" fn {entry}`"
        );
    }
}

#[test]
fn the_glue_restates_no_syscall_number() {
    for file in [
        "kernel/overlay/kernel/agent/agent.c",
        "kernel/overlay/kernel/agent/agent.h",
        "kernel/overlay/kernel/agent/Kconfig",
    ] {
        // Kconfig help is prose, read whole; C without its comments.
        let text = read(file);
        let code = if file.ends_with("Kconfig") {
            text
        } else {
            c_code(&text)
        };
        for s in Syscall::ALL {
            let nr = s.nr().to_string();
            let restated = code
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|word| word == nr);
            assert!(
                !restated,
                "{file} restates syscall number {nr}: use the names of coconut_agent.h"
            );
        }
    }
}
