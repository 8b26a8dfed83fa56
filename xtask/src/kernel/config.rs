//! The kernel configuration: a base target of the kernel's Makefile plus our fragments, generated
//! in a scratch directory and copied only if different; every option a fragment sets is verified.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};
use serde::Deserialize;

use super::make::make_cmd;
use super::{kernel_dir, PIPELINE_VERSION};
use crate::setup;
use crate::stage;

/// `[configs.NAME]` of kernel/kernel.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigToml {
    #[allow(dead_code)]
    description: String,
    /// The Makefile target the configuration starts from (`tinyconfig`, `defconfig`).
    pub base: String,
    /// Fragments under kernel/configs/, merged in order.
    pub fragments: Vec<String>,
}

/// Writes `build/.config` for `config`, touching it only when the result changes.
pub fn configure(
    src: &Path,
    build: &Path,
    config: &ConfigToml,
    tc: &setup::KernelToolchain,
) -> Result<()> {
    // Generate in a scratch output directory so the real build's .config changes only when the
    // result differs (Kbuild then rebuilds only what the changed options touch).
    let scratch = build.with_file_name(format!(
        "{}-kconfig",
        build.file_name().unwrap_or_default().to_string_lossy()
    ));
    fs::create_dir_all(&scratch)?;
    // Kconfig's answer depends on the base target, the fragments, the Kconfig files (upstream's
    // are fixed by the tarball, ours are in the managed list) and the toolchain versions.
    let key = config_key(src, config, tc)?;
    let key_file = scratch.join("config-key");
    if build.join(".config").exists()
        && fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str())
    {
        eprintln!("    configuration unchanged");
        return Ok(());
    }
    let _ = fs::remove_file(&key_file);
    let log = scratch.join("config.log");
    stage::run_logged(make_cmd(src, &scratch, tc).arg(&config.base), &log)?;
    let mut merge = Command::new(src.join("scripts/kconfig/merge_config.sh"));
    merge
        .current_dir(src)
        .arg("-m")
        .arg("-O")
        .arg(&scratch)
        .arg(scratch.join(".config"));
    let mut fragments = Vec::new();
    for frag in &config.fragments {
        let path = kernel_dir().join("configs").join(frag);
        merge.arg(&path);
        fragments.push(path);
    }
    stage::run_logged(&mut merge, &scratch.join("merge.log"))?;
    stage::run_logged(make_cmd(src, &scratch, tc).arg("olddefconfig"), &log)?;
    let result = fs::read_to_string(scratch.join(".config"))?;
    verify_config(&result, &fragments)?;
    if fs::read_to_string(build.join(".config")).ok().as_deref() != Some(result.as_str()) {
        fs::write(build.join(".config"), &result)?;
        eprintln!("    .config updated");
    }
    fs::write(&key_file, key)?;
    Ok(())
}

/// The inputs of the configuration step, hashed.
fn config_key(src: &Path, config: &ConfigToml, tc: &setup::KernelToolchain) -> Result<String> {
    let mut h = blake3::Hasher::new();
    h.update(PIPELINE_VERSION.as_bytes());
    // The tree's path names the tarball's sha256 (see `upstream`).
    h.update(src.to_string_lossy().as_bytes());
    h.update(config.base.as_bytes());
    for frag in &config.fragments {
        h.update(&fs::read(kernel_dir().join("configs").join(frag))?);
    }
    let managed = fs::read_to_string(src.with_file_name("managed.txt")).unwrap_or_default();
    for rel in managed.lines().filter(|l| {
        l.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("Kconfig"))
    }) {
        h.update(rel.as_bytes());
        h.update(&fs::read(src.join(rel))?);
    }
    for tool in [tc.rustc.as_path(), Path::new("clang"), tc.bindgen.as_path()] {
        h.update(stage::output(Command::new(tool).arg("--version"))?.as_bytes());
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Every option a fragment sets must survive olddefconfig (Kconfig silently drops options whose
/// dependencies are unmet).
fn verify_config(result: &str, fragments: &[PathBuf]) -> Result<()> {
    let have: BTreeSet<&str> = result.lines().collect();
    let mut lost = Vec::new();
    for frag in fragments {
        for line in fs::read_to_string(frag)?.lines() {
            let line = line.trim();
            let wanted = line.starts_with("CONFIG_")
                || (line.starts_with("# CONFIG_") && line.ends_with(" is not set"));
            if wanted && !have.contains(line) {
                let name = line
                    .trim_start_matches("# ")
                    .split(['=', ' '])
                    .next()
                    .unwrap_or(line);
                let got = result
                    .lines()
                    .find(|l| {
                        l.starts_with(&format!("{name}=")) || l.starts_with(&format!("# {name} "))
                    })
                    .unwrap_or("absent");
                lost.push(format!("{}: wants `{line}`, got `{got}`", frag.display()));
            }
        }
    }
    if !lost.is_empty() {
        bail!(
            "Kconfig did not keep these options (unmet dependencies?):\n  {}",
            lost.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_config_names_dropped_options() {
        let dir = std::env::temp_dir().join(format!("xtask-config-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let frag = dir.join("frag.config");
        fs::write(
            &frag,
            "# comment\nCONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n",
        )
        .unwrap();
        let good = "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n";
        verify_config(good, std::slice::from_ref(&frag)).unwrap();
        let bad = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_D=\"x\"\n";
        let err = verify_config(bad, &[frag]).unwrap_err().to_string();
        assert!(
            err.contains("wants `CONFIG_B=y`, got `# CONFIG_B is not set`"),
            "{err}"
        );
        assert!(
            err.contains("wants `# CONFIG_C is not set`, got `CONFIG_C=y`"),
            "{err}"
        );
        assert!(!err.contains("CONFIG_A"), "{err}");
    }
}
