//! Syncing the tree: make the unpacked tree equal to upstream + staging, writing only files
//! whose content differs (so `make` rebuilds incrementally) and restoring files we no longer
//! manage from their saved pristine copies.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{copy_into, files_under};

/// Where the pristine versions of the files we manage are kept, next to the tree.
fn orig_dir(src: &Path) -> PathBuf {
    src.with_file_name("orig")
}

/// The pristine content of `rel` (None if upstream has no such file).
pub fn pristine(src: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let saved = orig_dir(src).join(rel);
    let absent = orig_dir(src).join(format!("{rel}.coconut-absent"));
    if absent.exists() {
        return Ok(None);
    }
    if saved.exists() {
        return Ok(Some(fs::read(saved)?));
    }
    // Not managed yet: the tree's file is still the upstream one.
    match fs::read(src.join(rel)) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Makes the tree equal to upstream + staging, writing only files whose content differs.
pub fn sync_tree(src: &Path, staging: &Path) -> Result<()> {
    let managed_list = src.with_file_name("managed.txt");
    let previous: BTreeSet<String> = fs::read_to_string(&managed_list)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let wanted: BTreeSet<String> = files_under(staging)?
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let orig = orig_dir(src);
    let (mut written, mut restored) = (0, 0);
    for rel in &wanted {
        // Remember the pristine state before we first touch a file.
        if !previous.contains(rel) {
            let target = src.join(rel);
            if target.exists() {
                copy_into(&target, &orig.join(rel))?;
            } else {
                let marker = orig.join(format!("{rel}.coconut-absent"));
                fs::create_dir_all(marker.parent().unwrap_or(&orig))?;
                fs::write(marker, b"")?;
            }
        }
        let new = fs::read(staging.join(rel))?;
        if fs::read(src.join(rel)).ok().as_deref() != Some(new.as_slice()) {
            if let Some(parent) = src.join(rel).parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(src.join(rel), &new)?;
            written += 1;
        }
    }
    for rel in previous.difference(&wanted) {
        match pristine(src, rel)? {
            Some(data) => fs::write(src.join(rel), data)?,
            None => {
                let _ = fs::remove_file(src.join(rel));
            }
        }
        let _ = fs::remove_file(orig.join(rel));
        let _ = fs::remove_file(orig.join(format!("{rel}.coconut-absent")));
        restored += 1;
    }
    let mut list = String::new();
    for rel in &wanted {
        list.push_str(rel);
        list.push('\n');
    }
    fs::write(&managed_list, list)?;
    eprintln!(
        "    {} files managed, {written} rewritten, {restored} restored to upstream",
        wanted.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_tree_writes_changes_only_and_restores_dropped_files() {
        let root = std::env::temp_dir().join(format!("xtask-sync-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let src = root.join("src");
        fs::create_dir_all(src.join("kernel")).unwrap();
        fs::write(src.join("kernel/Makefile"), "upstream\n").unwrap();
        fs::write(src.join("untouched.c"), "keep\n").unwrap();
        let staging = root.join("staging");
        fs::create_dir_all(staging.join("kernel/agent")).unwrap();
        fs::write(staging.join("kernel/Makefile"), "patched\n").unwrap();
        fs::write(staging.join("kernel/agent/new.c"), "new\n").unwrap();
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::read_to_string(src.join("kernel/Makefile")).unwrap(),
            "patched\n"
        );
        assert_eq!(
            fs::read_to_string(src.join("kernel/agent/new.c")).unwrap(),
            "new\n"
        );

        // A second sync with the same content rewrites nothing (mtime kept).
        let before = fs::metadata(src.join("kernel/Makefile"))
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::metadata(src.join("kernel/Makefile"))
                .unwrap()
                .modified()
                .unwrap(),
            before
        );

        // Dropping both from the staging restores upstream and removes the new file.
        fs::remove_dir_all(&staging).unwrap();
        fs::create_dir_all(&staging).unwrap();
        sync_tree(&src, &staging).unwrap();
        assert_eq!(
            fs::read_to_string(src.join("kernel/Makefile")).unwrap(),
            "upstream\n"
        );
        assert!(!src.join("kernel/agent/new.c").exists());
        assert_eq!(
            fs::read_to_string(src.join("untouched.c")).unwrap(),
            "keep\n"
        );
        assert_eq!(
            pristine(&src, "kernel/Makefile").unwrap().as_deref(),
            Some(&b"upstream\n"[..])
        );
    }
}
