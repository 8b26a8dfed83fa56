//! `coconut-install`: installs a Coconut OS profile from the live medium onto a disk.
//!
//! Interactive in a terminal (disk, profile, hostname, user, password, then a confirmation
//! that names the disk before it is wiped), or unattended from an answer file or the kernel
//! command line (`--boot`, the live system's `installer` service). The format of both and
//! the disk layout are in docs/image.md ("Installing").

mod answers;
mod disk;
mod install;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;

use answers::{AnswerFile, Answers, Password, Then};
use install::Medium;

/// Install Coconut OS from the live medium onto a disk.
///
/// The disk gets a GPT with a BIOS boot partition, an EFI system partition and an ext4 root;
/// the profile's root filesystem is copied onto it with the medium's kernel, the hostname,
/// one user (root gets the same password) and GRUB for BIOS and UEFI. Everything on the disk
/// is lost. Without `--answers` or `--boot`, every answer not given as an option is asked
/// for on the terminal, and the disk is wiped only after you type its name.
#[derive(Parser)]
#[command(name = "coconut-install", version)]
struct Cli {
    /// The whole disk to install on (`/dev/vda`, `/dev/nvme0n1`); see `--list-disks`.
    #[arg(long)]
    disk: Option<PathBuf>,
    /// The profile to install: one of the medium's `/coconut/<profile>.squashfs`.
    #[arg(long)]
    profile: Option<String>,
    /// The new system's hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// The first user's login name.
    #[arg(long)]
    user: Option<String>,
    /// Read the answers from this TOML file (keys: disk, profile, hostname, user, password or
    /// password_hash, then) and ask nothing: an unattended install. Options given on the
    /// command line override the file.
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Unattended install as the kernel command line asks (`coconut.install=<profile>`,
    /// `coconut.install.disk=…`, see docs/image.md); without `coconut.install=` there, exit
    /// at once with status 0. The live system's `installer` service runs this.
    #[arg(long, conflicts_with_all = ["answers", "disk", "profile", "hostname", "user"])]
    boot: bool,
    /// After an unattended install: `reboot` (the default), `poweroff` or `none`.
    #[arg(long)]
    then: Option<Then>,
    /// Where the live medium is mounted.
    #[arg(long, default_value = "/live/medium", value_name = "DIR")]
    medium: PathBuf,
    /// List the disks one can install on, and exit.
    #[arg(long)]
    list_disks: bool,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = real_main(cli) {
        eprintln!("coconut-install: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(cli: Cli) -> Result<()> {
    let medium = Medium {
        dir: cli.medium.clone(),
    };
    if cli.list_disks {
        return list_disks();
    }
    let (answers, unattended) = if cli.boot {
        let cmdline = std::fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
        let Some((from_cmdline, file)) = AnswerFile::from_cmdline(&cmdline)? else {
            println!(
                "coconut-install: no coconut.install= on the kernel command line: nothing to install"
            );
            return Ok(());
        };
        let file = match file {
            Some(f) => read_answers(&f)?,
            None => AnswerFile::default(),
        };
        let mut a = from_cmdline.over(file);
        a.then = cli.then.or(a.then);
        (a.complete()?, true)
    } else if let Some(path) = &cli.answers {
        let a = AnswerFile {
            disk: cli.disk.clone(),
            profile: cli.profile.clone(),
            hostname: cli.hostname.clone(),
            user: cli.user.clone(),
            then: cli.then,
            ..AnswerFile::default()
        }
        .over(read_answers(path)?);
        (a.complete()?, true)
    } else {
        (interactive(&cli, &medium)?, false)
    };
    if unattended {
        println!(
            "coconut-install: unattended install of {} onto {} (everything on it is lost)",
            answers.profile,
            answers.disk.display()
        );
    }
    install::install(&answers, &medium)?;
    match answers.then {
        Then::None => {
            if !unattended {
                println!("coconut-install: remove the medium and run `coconut reboot`.");
            }
        }
        Then::Reboot | Then::Poweroff if !unattended => {}
        Then::Reboot => signal_init(rustix::process::Signal::INT, "reboot")?,
        Then::Poweroff => signal_init(rustix::process::Signal::POWER, "poweroff")?,
    }
    Ok(())
}

fn read_answers(path: &Path) -> Result<AnswerFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the answer file {}", path.display()))?;
    AnswerFile::parse(&text, &path.display().to_string())
}

/// Asks coconutd (PID 1) for an orderly reboot (SIGINT) or poweroff (SIGPWR).
fn signal_init(sig: rustix::process::Signal, what: &str) -> Result<()> {
    println!("coconut-install: asking coconutd to {what}");
    let init = rustix::process::Pid::from_raw(1).context("pid 1")?;
    rustix::process::kill_process(init, sig)
        .with_context(|| format!("cannot signal PID 1 to {what}"))?;
    Ok(())
}

fn list_disks() -> Result<()> {
    let disks = disk::list(Path::new("/sys"))?;
    if disks.is_empty() {
        println!("no disks (attach one; optical drives, loop and RAM devices are not listed)");
    }
    for d in disks {
        println!(
            "{}\t{}\t{}{}",
            d.path().display(),
            disk::human(d.bytes),
            if d.model.is_empty() { "-" } else { &d.model },
            if d.removable { "\tremovable" } else { "" }
        );
    }
    Ok(())
}

/// Reads one line from the terminal; end of input is an error (no answer, no install).
fn ask(prompt: &str, default: Option<&str>) -> Result<String> {
    loop {
        match default {
            Some(d) => print!("{prompt} [{d}]: "),
            None => print!("{prompt}: "),
        }
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            bail!("no answer (end of input): nothing was written to any disk");
        }
        let line = line.trim();
        match (line.is_empty(), default) {
            (false, _) => return Ok(line.to_string()),
            (true, Some(d)) => return Ok(d.to_string()),
            (true, None) => continue,
        }
    }
}

/// Reads a password with the terminal's echo off.
fn ask_secret(prompt: &str) -> Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    print!("{prompt}: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    let n = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
    }
    println!();
    if n? == 0 {
        bail!("no answer (end of input): nothing was written to any disk");
    }
    Ok(line.trim_end_matches('\n').to_string())
}

/// Asks until `check` accepts.
fn ask_valid(
    prompt: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<()>,
) -> Result<String> {
    loop {
        let v = ask(prompt, default)?;
        match check(&v) {
            Ok(()) => return Ok(v),
            Err(e) => println!("  {e}"),
        }
    }
}

fn interactive(cli: &Cli, medium: &Medium) -> Result<Answers> {
    println!("Coconut OS installer. Everything on the disk you choose is erased.\n");
    let disks = disk::list(Path::new("/sys"))?;
    if disks.is_empty() {
        bail!("no disk to install on: attach a disk and run coconut-install again");
    }
    let disk = match &cli.disk {
        Some(d) => d.clone(),
        None => {
            println!("Disks:");
            for (i, d) in disks.iter().enumerate() {
                println!(
                    "  {}) {}  {}  {}",
                    i + 1,
                    d.path().display(),
                    disk::human(d.bytes),
                    d.model
                );
            }
            let pick = ask_valid("Disk (number or /dev/…)", Some("1"), |v| {
                if v.parse::<usize>()
                    .is_ok_and(|n| (1..=disks.len()).contains(&n))
                    || v.starts_with("/dev/")
                {
                    Ok(())
                } else {
                    bail!("give a number from 1 to {} or a /dev path", disks.len())
                }
            })?;
            match pick.parse::<usize>() {
                Ok(n) => disks[n - 1].path(),
                Err(_) => PathBuf::from(pick),
            }
        }
    };
    // Whether the disk exists and is free is told now, before the other questions (its size
    // against the profile is checked once the profile's root is mounted).
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    disk::check(Path::new("/sys"), &disk, 0, &mountinfo, &swaps)
        .context("run coconut-install --list-disks for the disks here")?;
    let profiles = medium.profiles();
    let profile = match &cli.profile {
        Some(p) => p.clone(),
        None => {
            if profiles.is_empty() {
                bail!(
                    "the medium {} holds no profile (/coconut/*.squashfs): is this the live system?",
                    medium.dir.display()
                );
            }
            ask_valid(
                &format!("Profile ({})", profiles.join(", ")),
                profiles.first().map(String::as_str),
                |v| {
                    if profiles.iter().any(|p| p == v) {
                        Ok(())
                    } else {
                        bail!("one of: {}", profiles.join(", "))
                    }
                },
            )?
        }
    };
    let hostname = match &cli.hostname {
        Some(h) => h.clone(),
        None => ask_valid("Hostname", Some("coconut"), answers::check_hostname)?,
    };
    let user = match &cli.user {
        Some(u) => u.clone(),
        None => ask_valid("User name", None, answers::check_user)?,
    };
    let password = loop {
        let p = ask_secret(&format!("Password for {user} (and root)"))?;
        if p.is_empty() {
            println!("  the password is empty");
            continue;
        }
        if ask_secret("Again")? != p {
            println!("  the two differ; again");
            continue;
        }
        break p;
    };
    let a = Answers {
        disk,
        profile,
        hostname,
        user,
        password: Password::Plain(password),
        then: Then::None,
    };
    a.validate()?;
    let name = a.disk.display().to_string();
    println!(
        "\nAbout to ERASE {name} and install the {} profile (hostname {}, user {}).",
        a.profile, a.hostname, a.user
    );
    let typed = ask(
        &format!("Type {name} to go on, anything else to stop"),
        None,
    )?;
    if typed != name {
        bail!("stopped: you typed `{typed}`, not `{name}`; nothing was written");
    }
    Ok(a)
}
