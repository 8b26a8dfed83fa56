//! The shared no_std crates, compiled the way the kernel includes them — without a kernel build.
//!
//! `kernel/kernel.toml` lists the crates whose sources the kernel's Rust object includes as
//! sibling modules (`#[path = "shared/<crate>/lib.rs"] pub mod <crate>;`, built with
//! `--cfg CONFIG_RUST`, edition 2021, `panic=abort`, overflow checks on). This test generates
//! such a root pointing at the real sources, compiles it with the `rustc` on PATH and
//! `-D warnings`, and checks that the object references no helper of 128-bit or float arithmetic
//! (the kernel turns those into panics). A second test keeps every source file of those crates
//! free of what the kernel cannot have. The helper list is the kernel's own: parsed from the
//! tarball's `rust/compiler_builtins.rs` by the function the kernel build's check uses
//! (`xtask/src/kernel/objects.rs`), which repeats the check on the real objects.

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)]
#[path = "../src/kernel/objects.rs"]
mod objects;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The helpers of 128-bit and float arithmetic that the kernel turns into panics, parsed by the
/// same function the kernel build's check uses from `rust/compiler_builtins.rs` of the upstream
/// tarball kernel/kernel.toml names. The file is extracted from the tarball (about 15 s) once per
/// tarball version, into `target/kernel-builtins/`.
fn forbidden_helpers() -> Vec<objects::Helper> {
    let text = std::fs::read_to_string(root().join("kernel/kernel.toml"))
        .expect("read kernel/kernel.toml");
    let value: toml::Value = toml::from_str(&text).expect("kernel/kernel.toml parses");
    let tarball = PathBuf::from(
        value["upstream"]["tarball"]
            .as_str()
            .expect("upstream.tarball is a string"),
    );
    let meta = std::fs::metadata(&tarball).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; install Debian's linux-source-6.12 (cargo xtask setup)",
            tarball.display()
        )
    });
    let mtime = meta
        .modified()
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("mtime after 1970")
        .as_secs();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let cached = target
        .join("kernel-builtins")
        .join(format!("{}-{mtime}-compiler_builtins.rs", meta.len()));
    if !cached.exists() {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(&tarball)
            .args([
                "--wildcards",
                "--occurrence=1",
                "*/rust/compiler_builtins.rs",
            ])
            .output()
            .expect("run tar");
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "cannot extract rust/compiler_builtins.rs from {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::create_dir_all(cached.parent().expect("a parent")).expect("create the cache");
        let tmp = cached.with_extension("tmp");
        std::fs::write(&tmp, &out.stdout).expect("write the extracted file");
        std::fs::rename(&tmp, &cached).expect("rename the extracted file");
    }
    let source = std::fs::read_to_string(&cached).expect("read compiler_builtins.rs");
    objects::forbidden_helpers(&source).expect("parse compiler_builtins.rs")
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
    let helpers = forbidden_helpers();
    assert!(
        helpers.len() >= 20,
        "only {} helpers parsed from compiler_builtins.rs",
        helpers.len()
    );
    for h in &helpers {
        assert!(
            !obj.windows(h.name.len()).any(|w| w == h.name.as_bytes()),
            "the kernel object references {} ({}): 128-bit or float arithmetic crept in",
            h.name,
            h.reason
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
