//! A profile's description, `profiles/<name>/profile.toml`, read strictly.
//!
//! The description drives the image: the Debian packages mkosi installs, the hostname, and
//! (from `profiles/<name>/services/`) the coconutd services, each of which names its
//! capability template. Unknown keys, an empty package list and package names Debian would
//! refuse are errors naming the file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::paths;

/// The profiles an ISO carries, in menu order.
pub const PROFILES: &[&str] = &["server"];

/// `profiles/<name>/profile.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// One line for menus and the installer.
    pub description: String,
    /// `/etc/hostname` of the live system and the installer's default.
    pub hostname: String,
    /// Debian bookworm packages installed on top of the base (`image/mkosi.conf`).
    pub packages: Vec<String>,
    /// The profile's name (its directory), filled in after parsing.
    #[serde(skip)]
    pub name: String,
    /// `profiles/<name>/services/`.
    #[serde(skip)]
    pub services: PathBuf,
}

impl Profile {
    /// Loads `profiles/<name>/profile.toml`.
    pub fn load(name: &str) -> Result<Profile> {
        Self::load_from(&paths::root().join("profiles").join(name), name)
    }

    fn load_from(dir: &Path, name: &str) -> Result<Profile> {
        let path = dir.join("profile.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut p: Profile =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        if p.packages.is_empty() {
            bail!("{}: `packages` is empty", path.display());
        }
        for pkg in &p.packages {
            if !is_debian_package_name(pkg) {
                bail!(
                    "{}: `{pkg}` is not a Debian package name (lower-case letters, digits, + - .; at least 2 characters, starting with a letter or digit)",
                    path.display()
                );
            }
        }
        if p.hostname.is_empty()
            || p.hostname.len() > 63
            || !p
                .hostname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!(
                "{}: hostname `{}` is not a host name (1–63 letters, digits and -)",
                path.display(),
                p.hostname
            );
        }
        p.name = name.to_string();
        p.services = dir.join("services");
        if !p.services.is_dir() {
            bail!(
                "{} does not exist: a profile needs its services directory",
                p.services.display()
            );
        }
        Ok(p)
    }
}

/// Debian policy 5.6.1: lower case letters, digits, `+`, `-`, `.`; at least two characters;
/// starts with an alphanumeric.
fn is_debian_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Profile> {
        let dir = std::env::temp_dir().join(format!("xtask-profile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("services")).unwrap();
        std::fs::write(dir.join("profile.toml"), text).unwrap();
        let r = Profile::load_from(&dir, "t");
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn every_shipped_profile_loads() {
        for name in PROFILES {
            let p = Profile::load(name).unwrap();
            assert_eq!(p.name, *name);
            assert!(!p.packages.is_empty());
        }
    }

    #[test]
    fn unknown_keys_bad_packages_and_bad_hostnames_are_refused() {
        let ok = "description = \"d\"\nhostname = \"h\"\npackages = [\"foot\"]\n";
        load_text(ok).unwrap();
        let err = format!("{:#}", load_text(&format!("{ok}colour = 1\n")).unwrap_err());
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = format!(
            "{:#}",
            load_text("description = \"d\"\nhostname = \"h\"\npackages = [\"Foot\"]\n")
                .unwrap_err()
        );
        assert!(err.contains("`Foot` is not a Debian package name"), "{err}");
        let err = format!(
            "{:#}",
            load_text("description = \"d\"\nhostname = \"a b\"\npackages = [\"foot\"]\n")
                .unwrap_err()
        );
        assert!(err.contains("is not a host name"), "{err}");
        let err = format!(
            "{:#}",
            load_text("description = \"d\"\nhostname = \"h\"\npackages = []\n").unwrap_err()
        );
        assert!(err.contains("`packages` is empty"), "{err}");
    }
}
