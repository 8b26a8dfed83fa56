//! Keeps the tree honest: every Rust module says what it is for, no test is switched off, and
//! every crate takes the workspace lints.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Every `.rs` file of the workspace's own code (not build outputs, not fuzz corpora).
fn rust_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for top in ["crates", "xtask", "tests", "kernel/overlay"] {
        for entry in walkdir::WalkDir::new(root().join(top))
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                !(name == "target" || name == "corpus" || name == "artifacts")
            })
        {
            let entry = entry.expect("walk the tree");
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "rs") {
                out.push(entry.into_path());
            }
        }
    }
    assert!(out.len() > 20, "found only {} Rust files", out.len());
    out
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let mut missing = Vec::new();
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let rel = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        // Parsed, not scanned: `//!` lines are the file's inner `doc` attributes, which come
        // before any item (an SPDX comment and other inner attributes may precede them).
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        if !file.attrs.iter().any(|a| a.path().is_ident("doc")) {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` doc comment:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn no_test_is_ignored() {
    let needle = ["#[", "ignore]"].concat();
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&needle)))
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "ignored tests hide behaviour; assert it with a FIXME instead:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    let mut manifests = vec![root().join("xtask/Cargo.toml")];
    for dir in ["crates", "tests"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("read the crate directory") {
            let manifest = entry.expect("entry").path().join("Cargo.toml");
            if manifest.exists() {
                manifests.push(manifest);
            }
        }
    }
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest).expect("read Cargo.toml");
        let value: toml::Value = toml::from_str(&text).expect("Cargo.toml parses");
        let inherits = value
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        assert!(
            inherits,
            "{} lacks `[lints] workspace = true`",
            manifest.display()
        );
    }
}
