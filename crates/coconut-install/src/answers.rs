//! What to install where: the answers, from the kernel command line, an answer file or the
//! terminal, and their validation. Everything here is pure, so it is tested on the host.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// What to do once the system is installed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Then {
    /// Ask coconutd (PID 1) to reboot (SIGINT).
    #[default]
    Reboot,
    /// Ask coconutd to power off (SIGPWR).
    Poweroff,
    /// Return and leave the live system running.
    None,
}

impl std::str::FromStr for Then {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Then> {
        match s {
            "reboot" => Ok(Then::Reboot),
            "poweroff" => Ok(Then::Poweroff),
            "none" => Ok(Then::None),
            _ => bail!("`{s}` is not one of reboot, poweroff, none"),
        }
    }
}

/// The login password, as typed or as a crypt(3) hash (`$y$…`, `$6$…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    /// Hashed by `chpasswd` in the new system (its `/etc/login.defs` method: yescrypt).
    Plain(String),
    /// Taken as is (`chpasswd -e`).
    Hash(String),
}

/// Complete, validated answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers {
    /// The whole disk to wipe, e.g. `/dev/vda`.
    pub disk: PathBuf,
    /// The profile: `/coconut/<profile>.squashfs` on the medium.
    pub profile: String,
    /// `/etc/hostname` of the new system.
    pub hostname: String,
    /// The first user (also in group `sudo` if it exists).
    pub user: String,
    /// The user's password; root gets the same one.
    pub password: Password,
    /// What follows a successful install.
    pub then: Then,
}

/// The answer file (`--answers FILE`, `coconut.install.answers=FILE`), read strictly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerFile {
    /// See [`Answers::disk`].
    pub disk: Option<PathBuf>,
    /// See [`Answers::profile`].
    pub profile: Option<String>,
    /// See [`Answers::hostname`].
    pub hostname: Option<String>,
    /// See [`Answers::user`].
    pub user: Option<String>,
    /// A password in clear.
    pub password: Option<String>,
    /// A crypt(3) hash, instead of `password`.
    pub password_hash: Option<String>,
    /// See [`Answers::then`].
    pub then: Option<Then>,
}

impl AnswerFile {
    /// Parses an answer file's text; errors name `origin` and the line.
    pub fn parse(text: &str, origin: &str) -> Result<AnswerFile> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            });
            match line {
                Some(l) => anyhow::anyhow!("{origin}:{l}: {}", e.message()),
                None => anyhow::anyhow!("{origin}: {}", e.message()),
            }
        })
    }

    /// The `coconut.install.*` words of a kernel command line, as an answer file. Returns
    /// `None` when there is no `coconut.install=` word (no unattended install wanted).
    /// `coconut.install.answers=` is returned as the second value, to be read and merged under
    /// these.
    pub fn from_cmdline(cmdline: &str) -> Result<Option<(AnswerFile, Option<PathBuf>)>> {
        let mut a = AnswerFile::default();
        let mut wanted = false;
        let mut file = None;
        for word in cmdline.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                continue;
            };
            match key {
                "coconut.install" => {
                    wanted = true;
                    a.profile = Some(value.to_string());
                }
                "coconut.install.disk" => a.disk = Some(value.into()),
                "coconut.install.hostname" => a.hostname = Some(value.into()),
                "coconut.install.user" => a.user = Some(value.into()),
                "coconut.install.password" => a.password = Some(value.into()),
                "coconut.install.password-hash" => a.password_hash = Some(value.into()),
                "coconut.install.then" => {
                    a.then = Some(
                        value
                            .parse()
                            .with_context(|| format!("kernel command line `{word}`"))?,
                    )
                }
                "coconut.install.answers" => file = Some(PathBuf::from(value)),
                k if k.starts_with("coconut.install.") => {
                    bail!("kernel command line: unknown installer option `{key}` (known: coconut.install, .disk, .hostname, .user, .password, .password-hash, .then, .answers)")
                }
                _ => {}
            }
        }
        Ok(wanted.then_some((a, file)))
    }

    /// `self` with every unset field taken from `under`.
    pub fn over(self, under: AnswerFile) -> AnswerFile {
        AnswerFile {
            disk: self.disk.or(under.disk),
            profile: self.profile.or(under.profile),
            hostname: self.hostname.or(under.hostname),
            user: self.user.or(under.user),
            password: self.password.or(under.password),
            password_hash: self.password_hash.or(under.password_hash),
            then: self.then.or(under.then),
        }
    }

    /// Complete answers, or an error naming every missing or invalid one.
    pub fn complete(self) -> Result<Answers> {
        let mut missing = Vec::new();
        if self.disk.is_none() {
            missing.push("disk");
        }
        if self.profile.is_none() {
            missing.push("profile");
        }
        if self.hostname.is_none() {
            missing.push("hostname");
        }
        if self.user.is_none() {
            missing.push("user");
        }
        let password = match (self.password, self.password_hash) {
            (Some(_), Some(_)) => bail!("give `password` or `password_hash`, not both"),
            (Some(p), None) => Some(Password::Plain(p)),
            (None, Some(h)) => Some(Password::Hash(h)),
            (None, None) => {
                missing.push("password (or password_hash)");
                None
            }
        };
        if !missing.is_empty() {
            bail!("unattended install: missing {}", missing.join(", "));
        }
        let (Some(disk), Some(profile), Some(hostname), Some(user), Some(password)) =
            (self.disk, self.profile, self.hostname, self.user, password)
        else {
            unreachable!("every missing answer was reported above");
        };
        let a = Answers {
            disk,
            profile,
            hostname,
            user,
            password,
            then: self.then.unwrap_or_default(),
        };
        a.validate()?;
        Ok(a)
    }
}

impl Answers {
    /// Checks each answer's form (not the disk itself: see `disk::check`).
    pub fn validate(&self) -> Result<()> {
        check_hostname(&self.hostname)?;
        check_user(&self.user)?;
        check_profile(&self.profile)?;
        if !self.disk.is_absolute() || !self.disk.starts_with("/dev") {
            bail!(
                "disk `{}`: give the whole disk's device, like /dev/vda or /dev/nvme0n1",
                self.disk.display()
            );
        }
        match &self.password {
            Password::Plain(p) if p.is_empty() => bail!("the password is empty"),
            Password::Plain(p) if p.contains(['\n', ':']) => {
                bail!("the password cannot contain a newline or `:`")
            }
            Password::Hash(h) if !h.starts_with('$') || h.contains(['\n', ':']) => {
                bail!("password_hash is not a crypt(3) hash (like `$y$…` or `$6$…`)")
            }
            _ => Ok(()),
        }
    }
}

/// A hostname: 1–63 letters, digits and `-`, not starting or ending with `-`.
pub fn check_hostname(h: &str) -> Result<()> {
    let ok = (1..=63).contains(&h.len())
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !h.starts_with('-')
        && !h.ends_with('-');
    if !ok {
        bail!("hostname `{h}`: use 1–63 letters, digits and `-` (not first or last)");
    }
    Ok(())
}

/// A user name as Debian's `useradd` takes it by default: `[a-z_][a-z0-9_-]*`, at most 32,
/// and not `root`.
pub fn check_user(u: &str) -> Result<()> {
    let mut bytes = u.bytes();
    let ok = (1..=32).contains(&u.len())
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        bail!("user name `{u}`: use lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32");
    }
    if u == "root" {
        bail!("user name `root`: root exists already (it gets the same password)");
    }
    Ok(())
}

/// A profile name: the stem of a squashfs on the medium.
pub fn check_profile(p: &str) -> Result<()> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        bail!("profile `{p}`: a profile name is lower-case letters and `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "BOOT_IMAGE=/boot/vmlinuz coconut.medium=ab coconut.install=server \
        coconut.install.disk=/dev/vda coconut.install.hostname=box \
        coconut.install.user=ada coconut.install.password=s3cret coconut.install.then=poweroff";

    #[test]
    fn cmdline_without_install_wants_nothing() {
        let r = AnswerFile::from_cmdline("console=ttyS0 coconut.live=server").unwrap();
        assert!(r.is_none());
    }

    #[test]
    fn full_cmdline_is_complete() {
        let (a, file) = AnswerFile::from_cmdline(FULL).unwrap().unwrap();
        assert!(file.is_none());
        let a = a.complete().unwrap();
        assert_eq!(a.disk, PathBuf::from("/dev/vda"));
        assert_eq!(a.profile, "server");
        assert_eq!(a.hostname, "box");
        assert_eq!(a.user, "ada");
        assert_eq!(a.password, Password::Plain("s3cret".into()));
        assert_eq!(a.then, Then::Poweroff);
    }

    #[test]
    fn missing_answers_are_all_named() {
        let (a, _) = AnswerFile::from_cmdline("coconut.install=server")
            .unwrap()
            .unwrap();
        let e = a.complete().unwrap_err().to_string();
        assert!(e.contains("disk, hostname, user, password"), "{e}");
    }

    #[test]
    fn unknown_cmdline_option_is_an_error() {
        let e = AnswerFile::from_cmdline("coconut.install=server coconut.install.dsik=/dev/vda")
            .unwrap_err()
            .to_string();
        assert!(e.contains("coconut.install.dsik"), "{e}");
        let e = AnswerFile::from_cmdline("coconut.install=server coconut.install.then=halt")
            .unwrap_err();
        assert!(format!("{e:#}").contains("`halt` is not one of"), "{e:#}");
    }

    #[test]
    fn answer_file_is_strict_and_names_the_line() {
        let e = AnswerFile::parse("disk = \"/dev/vda\"\nhostnme = \"x\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:2:"), "{e}");
        assert!(e.contains("hostnme"), "{e}");
    }

    #[test]
    fn cmdline_overrides_the_answer_file() {
        let file = AnswerFile::parse(
            "disk = \"/dev/sda\"\nprofile = \"server\"\nhostname = \"filehost\"\nuser = \"bob\"\npassword_hash = \"$6$salt$hash\"\nthen = \"none\"\n",
            "a.toml",
        )
        .unwrap();
        let (cmd, _) =
            AnswerFile::from_cmdline("coconut.install=server coconut.install.disk=/dev/vdb")
                .unwrap()
                .unwrap();
        let a = cmd.over(file).complete().unwrap();
        assert_eq!(a.disk, PathBuf::from("/dev/vdb"));
        assert_eq!(a.hostname, "filehost");
        assert_eq!(a.password, Password::Hash("$6$salt$hash".into()));
        assert_eq!(a.then, Then::None);
    }

    #[test]
    fn bad_values_are_refused() {
        let base = || {
            let (a, _) = AnswerFile::from_cmdline(FULL).unwrap().unwrap();
            a
        };
        let mut a = base();
        a.hostname = Some("-bad".into());
        assert!(a.complete().unwrap_err().to_string().contains("hostname"));
        let mut a = base();
        a.user = Some("Root".into());
        assert!(a.complete().unwrap_err().to_string().contains("user name"));
        let mut a = base();
        a.user = Some("root".into());
        assert!(a
            .complete()
            .unwrap_err()
            .to_string()
            .contains("root exists"));
        let mut a = base();
        a.disk = Some("vda".into());
        assert!(a.complete().unwrap_err().to_string().contains("whole disk"));
        let mut a = base();
        a.password = Some("a:b".into());
        assert!(a.complete().unwrap_err().to_string().contains("`:`"));
        let mut a = base();
        a.password_hash = Some("$6$x".into());
        assert!(a.complete().unwrap_err().to_string().contains("not both"));
        let mut a = base();
        a.profile = Some("../etc".into());
        assert!(a.complete().unwrap_err().to_string().contains("profile"));
    }
}
