//! The shared no_std crates, compiled the way the kernel includes them — without a kernel build.
//!
//! `kernel/kernel.toml` lists the crates whose sources the kernel's Rust object includes as
//! sibling modules (`#[path = "shared/<crate>/lib.rs"] pub mod <crate>;`, built with
//! `--cfg CONFIG_RUST`, edition 2021, `panic=abort`, overflow checks on). This test generates
//! such a root pointing at the real sources, compiles it with the `rustc` on PATH and
//! `-D warnings`, and checks that the object references no helper of 128-bit or float arithmetic
//! (the kernel turns those into panics). A second test keeps every source file of those crates
//! free of what the kernel cannot have. The kernel build itself (`cargo xtask kernel`) repeats
//! the helper check on the real object; this one runs in `cargo test` in seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiler helpers of 128-bit integer and float arithmetic (`rust/compiler_builtins.rs`).
const FORBIDDEN_SYMBOLS: &[&str] = &[
    "__multi3",
    "__divti3",
    "__udivti3",
    "__modti3",
    "__umodti3",
    "__ashlti3",
    "__ashrti3",
    "__lshrti3",
    "__muloti4",
    "__udivmodti4",
    "__adddf3",
    "__subdf3",
    "__muldf3",
    "__divdf3",
    "__addsf3",
    "__subsf3",
    "__mulsf3",
    "__divsf3",
    "__floatundidf",
    "__floatdidf",
    "__fixdfdi",
    "__fixunsdfdi",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// `(module identifier, crate directory)` in the order kernel/kernel.toml lists them.
fn shared_crates() -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string(root().join("kernel/kernel.toml"))
        .expect("read kernel/kernel.toml");
    let value: toml::Value = toml::from_str(&text).expect("kernel/kernel.toml parses");
    let list = value["shared-crates"]
        .as_array()
        .expect("shared-crates is an array");
    list.iter()
        .map(|v| {
            let name = v.as_str().expect("crate names are strings");
            (name.replace('-', "_"), root().join("crates").join(name))
        })
        .collect()
}

#[test]
fn shared_crates_compile_as_sibling_kernel_modules() {
    let tmp = std::env::temp_dir().join(format!("coconut-kernel-shared-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("create a temporary directory");
    let mut source =
        String::from("//! The kernel's Rust object, reduced to the shared crates.\n#![no_std]\n");
    for (module, dir) in shared_crates() {
        let lib = dir.join("src/lib.rs");
        assert!(lib.is_file(), "{} is missing", lib.display());
        source.push_str(&format!(
            "/// `{module}`.\n#[path = \"{}\"]\npub mod {module};\n",
            lib.display()
        ));
    }
    let root_file = tmp.join("agent_core.rs");
    std::fs::write(&root_file, source).expect("write the root file");
    let out = Command::new("rustc")
        .env_remove("RUSTFLAGS")
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "rlib",
            "--crate-name",
            "agent_core",
        ])
        .args(["--cfg", "CONFIG_RUST"])
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=2",
            "-C",
            "overflow-checks=on",
        ])
        .args([
            "-D",
            "warnings",
            "-A",
            "dead_code",
            "-W",
            "missing_docs",
            "-D",
            "unsafe_op_in_unsafe_fn",
        ])
        .args(["--emit", "obj", "--out-dir"])
        .arg(&tmp)
        .arg(&root_file)
        .output()
        .expect("run rustc");
    assert!(
        out.status.success(),
        "rustc rejected the kernel layout:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj = std::fs::read(tmp.join("agent_core.o")).expect("read the object");
    for sym in FORBIDDEN_SYMBOLS {
        assert!(
            !obj.windows(sym.len()).any(|w| w == sym.as_bytes()),
            "the kernel object references {sym}: 128-bit or float arithmetic crept in"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The code of a source file without its `//` comments, so prose may name forbidden things, and
/// without its trailing `#[cfg(test)]` module (host-only unit tests may use std).
fn code_of(source: &str) -> String {
    let kernel_part = source.split("#[cfg(test)]").next().unwrap_or(source);
    kernel_part
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shared_sources_follow_the_kernel_rules() {
    for (module, dir) in shared_crates() {
        let mut files = 0;
        for entry in std::fs::read_dir(dir.join("src")).expect("read src/") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                panic!(
                    "{}: shared crates keep a flat module layout",
                    path.display()
                );
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            files += 1;
            let source = std::fs::read_to_string(&path).expect("read a source file");
            assert!(
                source.contains("//!"),
                "{} has no //! module doc",
                path.display()
            );
            if path.file_name().is_some_and(|n| n == "lib.rs") {
                assert!(
                    source.contains("#![cfg_attr(not(CONFIG_RUST), no_std)]"),
                    "{}: lib.rs must open with #![cfg_attr(not(CONFIG_RUST), no_std)]",
                    path.display()
                );
            }
            let code = code_of(&source);
            for bad in [
                "crate::",
                "u128",
                "i128",
                "f32",
                "f64",
                "std::",
                "alloc::",
                "#![no_std]",
            ] {
                assert!(
                    !code.contains(bad),
                    "{} ({module}) uses `{bad}`, which the kernel build cannot have",
                    path.display()
                );
            }
        }
        assert!(files > 0, "{module}: no sources");
    }
}
