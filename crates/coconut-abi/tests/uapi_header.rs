//! Renders the C uapi header `kernel/overlay/include/uapi/linux/coconut_agent.h` from this
//! crate's constants, tables and field descriptions, and compares it with the file on disk;
//! `UPDATE_EXPECT=1 cargo test -p coconut-abi --test uapi_header` rewrites the file. A second
//! test compiles a C file against the header with `_Static_assert`s on every struct size,
//! every field offset and every constant's value, so C and Rust cannot drift.

mod common;

use coconut_abi::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const REGEN: &str = "UPDATE_EXPECT=1 cargo test -p coconut-abi --test uapi_header";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn header_path() -> PathBuf {
    repo_root().join("kernel/overlay/include/uapi/linux/coconut_agent.h")
}

/// A constant's C spelling: `flag()` for flag bits (`(1ULL << n)`), `c()` for numbers
/// (decimal; large powers of two as shifts; huge values in hex).
trait CValue: Copy {
    fn c(self) -> String;
    fn flag(self) -> String;
}

fn c_number(v: u64, suffix: &str) -> String {
    if v.is_power_of_two() && v >= 1 << 20 {
        format!("(1{suffix} << {})", v.trailing_zeros())
    } else if v >= 1_000_000_000_000_000 {
        format!("0x{v:x}{suffix}")
    } else {
        format!("{v}{suffix}")
    }
}

impl CValue for u64 {
    fn c(self) -> String {
        c_number(self, "ULL")
    }
    fn flag(self) -> String {
        format!("(1ULL << {})", self.trailing_zeros())
    }
}

impl CValue for u32 {
    fn c(self) -> String {
        c_number(u64::from(self), "U")
    }
    fn flag(self) -> String {
        format!("(1U << {})", self.trailing_zeros())
    }
}

impl CValue for usize {
    fn c(self) -> String {
        c_number(self as u64, "")
    }
    fn flag(self) -> String {
        format!("(1 << {})", self.trailing_zeros())
    }
}

/// One `#define`: C name, C value, and the value as a number for the static asserts.
struct Define {
    name: String,
    value: String,
    number: Option<u64>,
    comment: Option<String>,
}

/// Declares defines from Rust constants with the same name (`AGENT_*`) or with `AGENT_`
/// prepended (`AID_*`).
macro_rules! defs {
    ($how:ident: $($name:ident),* $(,)?) => {
        vec![$(Define {
            name: c_name(stringify!($name)),
            value: $name.$how(),
            number: Some($name as u64),
            comment: None,
        }),*]
    };
}

fn c_name(rust: &str) -> String {
    if rust.starts_with("AGENT_") {
        rust.to_string()
    } else {
        format!("AGENT_{rust}")
    }
}

fn num(name: &str, value: u64, comment: Option<&str>) -> Define {
    Define {
        name: name.to_string(),
        value: format!("{value}"),
        number: Some(value),
        comment: comment.map(str::to_string),
    }
}

fn mask(name: &str, last: &str, value: u64) -> Define {
    Define {
        name: name.to_string(),
        value: format!("(({last} << 1) - 1)"),
        number: Some(value),
        comment: None,
    }
}

fn sections() -> Vec<(&'static str, Vec<Define>)> {
    let limits = with_limits!(defs![c:]);
    let mut aids = vec![num("AGENT_AID_BOOT", 0, Some("a:00000, the boot agent"))];
    aids.extend(defs![c: AID_MAX, AID_SELF, AID_ANY, AID_TEXT_MAX]);

    let mut spawn = defs![flag: AGENT_SPAWN_PIDFD, AGENT_SPAWN_LAST];
    spawn.push(mask(
        "AGENT_SPAWN_MASK",
        "AGENT_SPAWN_LAST",
        AGENT_SPAWN_MASK,
    ));
    let mut attest = defs![flag: AGENT_ATTEST_ABI_VERSION, AGENT_ATTEST_LAST];
    attest.push(mask(
        "AGENT_ATTEST_MASK",
        "AGENT_ATTEST_LAST",
        u64::from(AGENT_ATTEST_MASK),
    ));
    let mut quota =
        defs![flag: AGENT_QUOTA_GET, AGENT_QUOTA_SET, AGENT_QUOTA_CHARGE, AGENT_QUOTA_LAST];
    quota.push(mask(
        "AGENT_QUOTA_MASK",
        "AGENT_QUOTA_LAST",
        u64::from(AGENT_QUOTA_MASK),
    ));
    let mut grant = defs![flag: AGENT_GRANT_RELEASE, AGENT_GRANT_LAST];
    grant.push(mask(
        "AGENT_GRANT_MASK",
        "AGENT_GRANT_LAST",
        u64::from(AGENT_GRANT_MASK),
    ));
    let mut revoke = defs![flag: AGENT_REVOKE_ALL, AGENT_REVOKE_QUARANTINE, AGENT_REVOKE_LAST];
    revoke.push(mask(
        "AGENT_REVOKE_MASK",
        "AGENT_REVOKE_LAST",
        u64::from(AGENT_REVOKE_MASK),
    ));
    revoke.push(num(
        "AGENT_PRESENT_MASK",
        u64::from(AGENT_PRESENT_MASK),
        Some("agent_cap_present takes no flags yet"),
    ));
    let mut audit_flags = defs![flag: AGENT_AUDIT_SUBTREE, AGENT_AUDIT_FILTER_LAST];
    audit_flags.push(mask(
        "AGENT_AUDIT_FILTER_MASK",
        "AGENT_AUDIT_FILTER_LAST",
        AGENT_AUDIT_FILTER_MASK,
    ));
    audit_flags.push(Define {
        name: "AGENT_AUDIT_KINDS_MASK".into(),
        value: "(((1ULL << (AGENT_AUDIT_KIND_LAST + 1)) - 1) & ~1ULL)".into(),
        number: Some(AGENT_AUDIT_KINDS_MASK),
        comment: Some("every defined kind bit of agent_audit_filter.kinds".into()),
    });
    let mut mem = defs![flag: AGENT_MEM_POPULATE, AGENT_MEM_STRICT, AGENT_MEM_LAST];
    mem.push(mask("AGENT_MEM_MASK", "AGENT_MEM_LAST", AGENT_MEM_MASK));
    mem.extend(defs![flag: AGENT_MEM_PROT_READ, AGENT_MEM_PROT_WRITE, AGENT_MEM_PROT_LAST]);
    mem.push(mask(
        "AGENT_MEM_PROT_MASK",
        "AGENT_MEM_PROT_LAST",
        u64::from(AGENT_MEM_PROT_MASK),
    ));

    let upper = |s: &str| s.to_ascii_uppercase().replace('.', "_");
    let mut states: Vec<_> = State::ALL
        .iter()
        .map(|s| {
            num(
                &format!("AGENT_STATE_{}", s.word()),
                *s as u64,
                Some(s.title()),
            )
        })
        .collect();
    states.push(num("AGENT_STATE_LAST", State::LAST as u64, None));
    let mut caps: Vec<_> = CapId::ALL
        .iter()
        .map(|c| {
            num(
                &format!("AGENT_CAP_{}", upper(c.name())),
                u64::from(c.id()),
                Some(c.name()),
            )
        })
        .collect();
    caps.push(num("AGENT_CAP_LAST", CapId::LAST as u64, None));
    let mut kinds: Vec<_> = QuotaKind::ALL
        .iter()
        .map(|k| {
            num(
                &format!("AGENT_QUOTA_{}", upper(k.name())),
                *k as u64,
                Some(k.unit()),
            )
        })
        .collect();
    kinds.push(num("AGENT_QUOTA_KIND_LAST", QuotaKind::LAST as u64, None));
    let mut tiers: Vec<_> = MemTier::ALL
        .iter()
        .map(|t| {
            num(
                &format!("AGENT_MEM_TIER_{}", upper(t.name())),
                *t as u64,
                None,
            )
        })
        .collect();
    tiers.push(num("AGENT_MEM_TIER_LAST", MemTier::LAST as u64, None));
    let mut audit_kinds: Vec<_> = AuditKind::ALL
        .iter()
        .map(|k| {
            num(
                &format!("AGENT_AUDIT_KIND_{}", upper(k.json_name())),
                *k as u64,
                Some(k.json_name()),
            )
        })
        .collect();
    audit_kinds.push(num("AGENT_AUDIT_KIND_LAST", AuditKind::LAST as u64, None));

    let mut event = vec![
        Define {
            name: "AGENT_AUDIT_MAGIC".into(),
            value: "\"CCA1\"".into(),
            number: None,
            comment: Some("first 4 bytes of every event".into()),
        },
        Define {
            name: "AGENT_AUDIT_MAGIC_LE32".into(),
            value: format!("0x{:08x}U", u32::from_le_bytes(AUDIT_EVENT_MAGIC)),
            number: Some(u64::from(u32::from_le_bytes(AUDIT_EVENT_MAGIC))),
            comment: Some("the magic read as a little-endian __u32".into()),
        },
        Define {
            name: "AGENT_AUDIT_GENESIS_CONTEXT".into(),
            value: format!("\"{AUDIT_GENESIS_CONTEXT}\""),
            number: None,
            comment: Some("BLAKE3 derive_key context of a boot's genesis hash".into()),
        },
    ];
    for (name, off) in [
        ("MAGIC", AUDIT_OFF_MAGIC),
        ("KIND", AUDIT_OFF_KIND),
        ("SEQ", AUDIT_OFF_SEQ),
        ("BOOT", AUDIT_OFF_BOOT),
        ("TIME_NS", AUDIT_OFF_TIME_NS),
        ("ACTOR", AUDIT_OFF_ACTOR),
        ("SUBJECT", AUDIT_OFF_SUBJECT),
        ("RESULT", AUDIT_OFF_RESULT),
        ("DETAIL_LEN", AUDIT_OFF_DETAIL_LEN),
        ("DETAIL", AUDIT_OFF_DETAIL),
    ] {
        event.push(num(&format!("AGENT_AUDIT_OFF_{name}"), off as u64, None));
    }

    vec![
        ("ABI version and limits", limits),
        ("Agent identifiers (AIDs)", aids),
        ("agent_spawn_args.flags", spawn),
        ("agent_attest flags", attest),
        ("agent_quota flags (exactly one per call)", quota),
        ("agent_cap_grant flags", grant),
        ("agent_cap_revoke and agent_cap_present flags", revoke),
        ("agent_audit_filter.flags and .kinds", audit_flags),
        ("agent_mem_request.flags and .prot", mem),
        ("Agent states", states),
        ("Capability ids", caps),
        ("agent_quota kinds", kinds),
        ("Memory tiers of agent_memory_tier", tiers),
        (
            "Audit event kinds (bit 1 << kind in agent_audit_filter.kinds)",
            audit_kinds,
        ),
        (
            "Audit event layout (little-endian; detail follows the 56-byte header)",
            event,
        ),
    ]
}

fn render() -> String {
    let mut h = String::new();
    h.push_str(
        "/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */\n\
         /*\n \
         * Coconut OS agent ABI: constants and structs of the agent system calls\n \
         * agent_spawn (472) through agent_memory_tier (479). See docs/abi.md.\n \
         *\n \
         * GENERATED from crates/coconut-abi; do not edit. Regenerate with:\n \
         *   ",
    );
    h.push_str(REGEN);
    h.push_str(
        "\n \
         * The syscall numbers (__NR_agent_*) live in the syscall table, not here.\n \
         */\n\
         #ifndef _UAPI_LINUX_COCONUT_AGENT_H\n\
         #define _UAPI_LINUX_COCONUT_AGENT_H\n\n\
         #include <linux/types.h>\n",
    );
    for (title, defs) in sections() {
        let _ = write!(h, "\n/* {title}. */\n");
        let width = defs.iter().map(|d| d.name.len()).max().unwrap_or(0);
        for d in defs {
            let _ = write!(h, "#define {:width$} {}", d.name, d.value);
            if let Some(c) = d.comment {
                let _ = write!(h, "\t/* {c} */");
            }
            h.push('\n');
        }
    }
    for s in &STRUCTS {
        let _ = write!(h, "\n/**\n * struct {} - {}\n", s.c_name, s.doc);
        for f in s.fields {
            let _ = writeln!(h, " * @{}: {}", f.name, f.doc);
        }
        let _ = writeln!(h, " */\nstruct {} {{", s.c_name);
        for f in s.fields {
            match f.c_type.split_once('[') {
                Some((ty, dim)) => {
                    let _ = writeln!(h, "\t{ty} {}[{dim};", f.name);
                }
                None => {
                    let _ = writeln!(h, "\t{} {};", f.c_type, f.name);
                }
            }
        }
        let _ = writeln!(h, "}};");
        let _ = writeln!(h, "#define {} {}", s.size_const, s.size);
    }
    h.push_str("\n#endif /* _UAPI_LINUX_COCONUT_AGENT_H */\n");
    h
}

#[test]
fn header_on_disk_is_rendered_from_the_crate() {
    let text = render();
    let path = header_path();
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; run `{REGEN}`", path.display()));
    assert!(
        on_disk == text,
        "{} is out of date with crates/coconut-abi; run `{REGEN}`",
        path.display()
    );
}

#[test]
fn every_public_constant_of_limits_and_flags_is_in_the_header() {
    let text = render();
    for file in ["src/limits.rs", "src/flags.rs"] {
        let src =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        for line in src.lines() {
            if let Some(rest) = line.strip_prefix("pub const ") {
                let name = rest.split(':').next().unwrap();
                assert!(
                    text.contains(&format!("#define {} ", c_name(name))),
                    "{name} from {file} is missing in the uapi header"
                );
            }
        }
    }
}

fn find_cc() -> String {
    for cc in ["cc", "gcc", "clang"] {
        if Command::new(cc)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return cc.to_string();
        }
    }
    panic!("no C compiler (cc, gcc or clang) found: install gcc (Debian: apt-get install gcc)");
}

#[test]
fn header_compiles_as_c_and_agrees_with_rust_layouts() {
    let dir = std::env::temp_dir().join(format!("coconut-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = String::from("#include <stddef.h>\n#include <linux/coconut_agent.h>\n\n");
    for s in &STRUCTS {
        let _ = writeln!(
            c,
            "_Static_assert(sizeof(struct {}) == {}, \"sizeof {}\");",
            s.c_name, s.size, s.c_name
        );
        let _ = writeln!(
            c,
            "_Static_assert({} == sizeof(struct {}), \"{}\");",
            s.size_const, s.c_name, s.size_const
        );
        for f in s.fields {
            let _ = writeln!(
                c,
                "_Static_assert(offsetof(struct {}, {}) == {}, \"{}.{}\");",
                s.c_name, f.name, f.offset, s.c_name, f.name
            );
            let _ = writeln!(
                c,
                "_Static_assert(sizeof(((struct {}*)0)->{}) == {}, \"size of {}.{}\");",
                s.c_name, f.name, f.size, s.c_name, f.name
            );
        }
    }
    for (_, defs) in sections() {
        for d in defs {
            if let Some(n) = d.number {
                let _ = writeln!(
                    c,
                    "_Static_assert((unsigned long long)({}) == {}ULL, \"{}\");",
                    d.name, n, d.name
                );
            }
        }
    }
    let _ = writeln!(
        c,
        "_Static_assert(sizeof(AGENT_AUDIT_MAGIC) == 5, \"magic is 4 chars\");\n\
         _Static_assert(_Alignof(struct agent_spawn_args) == 8, \"aligned u64\");"
    );
    let test_c = dir.join("uapi_test.c");
    std::fs::write(&test_c, c).unwrap();

    let mut cmd = Command::new(find_cc());
    cmd.args([
        "-std=c11",
        "-fsyntax-only",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
    ])
    .arg("-I")
    .arg(repo_root().join("kernel/overlay/include/uapi"));
    // Debian's linux-libc-dev provides <linux/types.h>; without it, use a minimal shim.
    if !Path::new("/usr/include/linux/types.h").exists() {
        let shim = dir.join("shim/linux");
        std::fs::create_dir_all(&shim).unwrap();
        std::fs::write(
            shim.join("types.h"),
            "#pragma once\ntypedef unsigned char __u8;\ntypedef unsigned int __u32;\n\
             typedef signed int __s32;\ntypedef unsigned long long __u64;\n\
             #define __aligned_u64 __u64 __attribute__((aligned(8)))\n",
        )
        .unwrap();
        cmd.arg("-I").arg(dir.join("shim"));
    }
    let out = cmd.arg(&test_c).output().unwrap();
    assert!(
        out.status.success(),
        "the uapi header does not compile or disagrees with coconut-abi:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}
