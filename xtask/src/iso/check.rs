//! The image tier (`cargo xtask test --image`): the ISO built, rebuilt to the same bytes, and
//! booted by SeaBIOS and by OVMF to coconutd's `ready` line.
//!
//! Each check prints `image::<name> ... ok` or `... FAILED` with the console log's tail; all
//! run, and the tier fails if any did. The boots run under the accelerator the VM tier chose
//! (`COCONUT_ACCEL`, else TCG: KVM hangs on these machines).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use coconut_qemu::driver;

use super::swtpm::{self, Swtpm};
use super::Iso;
use crate::paths;

/// coconutd's console line once no service is waiting or starting (docs/coconutd.md, PID 1).
pub const READY: &str = "coconutd: ready:";

/// UEFI firmware (Debian's `ovmf`): code and variables in one image.
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// How a boot gets to the ISO.
#[derive(Clone, Copy)]
pub enum Firmware {
    /// QEMU's default BIOS; the ISO on an IDE CD drive (El Torito, BIOS entry).
    SeaBios,
    /// UEFI; the ISO on an IDE CD drive (El Torito, EFI entry).
    Ovmf,
    /// UEFI; the ISO as a USB stick (the appended GPT partition).
    OvmfUsb,
}

impl Firmware {
    fn name(self) -> &'static str {
        match self {
            Firmware::SeaBios => "seabios_cdrom",
            Firmware::Ovmf => "ovmf_cdrom",
            Firmware::OvmfUsb => "ovmf_usb_stick",
        }
    }
}

/// A headless QEMU machine (1 GiB, 2 CPUs) with its serial console on stdio, under the VM
/// tier's accelerator (`COCONUT_ACCEL`, else TCG), exiting instead of rebooting.
fn machine() -> Command {
    let accel = std::env::var("COCONUT_ACCEL").unwrap_or_else(|_| "tcg".into());
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", &accel, "-m", "1024", "-smp", "2"])
        .args(["-cpu", if accel == "kvm" { "host" } else { "max" }])
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .arg("-no-reboot");
    cmd
}

/// The QEMU command line booting `iso` with `fw`.
pub fn qemu(iso: &Path, fw: Firmware) -> Command {
    let mut cmd = machine();
    match fw {
        Firmware::SeaBios => {
            cmd.arg("-cdrom").arg(iso);
        }
        Firmware::Ovmf => {
            cmd.args(["-bios", OVMF]).arg("-cdrom").arg(iso);
        }
        Firmware::OvmfUsb => {
            cmd.args(["-bios", OVMF])
                .args(["-device", "qemu-xhci", "-device", "usb-storage,drive=stick"])
                .arg("-drive")
                .arg(format!(
                    "if=none,id=stick,format=raw,readonly=on,file={}",
                    iso.display()
                ));
        }
    }
    cmd
}

/// Boots `iso` with `fw` until coconutd is ready; returns the seconds it took.
pub fn boot_to_ready(iso: &Path, fw: Firmware, timeout: Duration) -> Result<f64> {
    let log = log_dir().join(format!("{}.log", fw.name()));
    let boot = driver::run_until(qemu(iso, fw), &log, READY, timeout)?;
    if !boot.finished {
        bail!(
            "no `{READY}` line {} ({}); console log {}:\n{}",
            if boot.timed_out {
                "before the deadline"
            } else {
                "before QEMU exited"
            },
            format_args!("{:.0}s", boot.elapsed.as_secs_f64()),
            log.display(),
            driver::tail(&boot.lines, 25)
        );
    }
    let saw = |s: &str| boot.lines.iter().any(|l| l.contains(s));
    if !saw("coconut-live: medium on") {
        bail!("coconutd is ready but the live initramfs never said where the medium was");
    }
    Ok(boot.elapsed.as_secs_f64())
}

/// The password the unattended install gives `ada` and root.
const PASSWORD: &str = "coconut-test";

/// Boots the live system from the ISO's kernel and initramfs (a direct kernel boot, so the
/// command line can carry the answers; the ISO is on the CD drive as the medium) with an empty
/// 4 GiB virtio disk, and waits for the installer to finish and power off.
fn install_unattended(iso: &Iso, inputs: &super::Inputs, disk: &Path) -> Result<String> {
    let log = log_dir().join("install.log");
    let done = "coconut-install: installed server on /dev/vda";
    let mut boot = install_boot(iso, inputs, disk, &log, done)?;
    if early_panic(&boot) {
        // Seen under TCG only: `Oops: int3` in a static-key text poke before /init (upstream
        // code; the same kernel boots by GRUB every time). One more try, said out loud.
        eprintln!(
            "image: the install boot's kernel panicked before /init ({}); trying once more",
            log.display()
        );
        let _ = std::fs::copy(&log, log.with_extension("panicked.log"));
        boot = install_boot(iso, inputs, disk, &log, done)?;
    }
    if !boot.finished {
        return Err(unfinished(&format!("no `{done}` line"), &boot, &log));
    }
    let line = boot
        .lines
        .iter()
        .find(|l| l.contains(done))
        .cloned()
        .unwrap_or_default();
    Ok(format!(
        "{:.0}s: {}",
        boot.elapsed.as_secs_f64(),
        line.trim_start_matches("coconut-install: ")
    ))
}

/// Whether a boot ended in a kernel panic before the kernel ran `/init`.
fn early_panic(boot: &driver::Boot) -> bool {
    !boot.finished
        && boot.lines.iter().any(|l| l.contains(driver::KERNEL_PANIC))
        && !boot.lines.iter().any(|l| l.contains("Run /init"))
}

/// One unattended install boot onto a new blank `disk`, until `done` is printed.
fn install_boot(
    iso: &Iso,
    inputs: &super::Inputs,
    disk: &Path,
    log: &Path,
    done: &str,
) -> Result<driver::Boot> {
    blank_disk(disk, 4 << 30)?;
    // A new disk is a new machine: its TPM starts empty too.
    let tpm = swtpm::state_of(disk);
    if tpm.exists() {
        std::fs::remove_dir_all(&tpm).with_context(|| format!("removing {}", tpm.display()))?;
    }
    let mut cmd = machine();
    cmd.arg("-kernel")
        .arg(&inputs.bzimage)
        .arg("-initrd")
        .arg(&inputs.initrd)
        .arg("-append")
        .arg(format!(
            "coconut.medium={} coconut.live=server console=ttyS0,115200 \
             coconut.install=server coconut.install.disk=/dev/vda \
             coconut.install.hostname=installed coconut.install.user=ada \
             coconut.install.password={PASSWORD} coconut.install.then=poweroff",
            iso.medium
        ))
        .arg("-cdrom")
        .arg(&iso.path)
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()));
    driver::run_until(cmd, log, done, Duration::from_secs(1200))
}

/// The installed disk alone, by SeaBIOS: GRUB from the disk, coconutd ready, root logs in on
/// the serial console with the installed password, `coconut tree /agent` shows the boot
/// agent (coconutd, a:00000), the hostname is the installed one, and `coconut audit verify`
/// finds the persisted history of this first boot intact with at least one signed checkpoint.
fn installed_login(disk: &Path) -> Result<String> {
    let log = log_dir().join("installed-bios.log");
    let boot = root_runs(
        disk,
        &log,
        "hostname; coconut tree /agent | cat; coconut status | grep 'audit seed'; \
         coconut audit verify; echo VERIFY-$?; echo TREE-$((40+2))",
        "TREE-42",
    )?;
    if !boot.finished {
        return Err(unfinished(
            "the installed system did not get through login to `coconut tree`",
            &boot,
            &log,
        ));
    }
    if !boot.lines.iter().any(|l| l.contains(READY)) {
        bail!(
            "logged in, but coconutd never said `{READY}`; console log {}",
            log.display()
        );
    }
    // Bash's prompt may prefix the output with terminal escapes (bracketed paste).
    if !boot.lines.iter().any(|l| l.trim().ends_with("installed")) {
        bail!(
            "`hostname` did not print the installed hostname `installed`; console log {}",
            log.display()
        );
    }
    let boot_agent = boot
        .lines
        .iter()
        .find(|l| l.starts_with("a:00000 coconutd"))
        .cloned();
    let verified = audit_verified(&boot, &log)?;
    let seed = tpm_seed(&boot, &log, "tpm (new")?;
    match boot_agent {
        Some(l) => Ok(format!(
            "logged in, `{}`, {verified}, seed {seed}, {:.0}s",
            l.trim(),
            boot.elapsed.as_secs_f64()
        )),
        None => bail!(
            "`coconut tree /agent` shows no boot agent `a:00000 coconutd`; console log {}:\n{}",
            log.display(),
            driver::tail(&boot.lines, 20)
        ),
    }
}

/// The live system from the ISO (SeaBIOS, the menu's default entry) with a 1 GiB virtio disk
/// (enough for the interactive installer's early check, too small for the server profile): root logs in on the serial console; the interactive installer, answered `no` at the
/// confirmation, stops having written nothing; an unattended one names the disk as too small;
/// and the disk still holds no partition table.
fn installer_refusals(iso: &Iso) -> Result<String> {
    let disk = paths::target().join("iso").join("small-disk.img");
    blank_disk(&disk, 1 << 30)?;
    let mut cmd = qemu(&iso.path, Firmware::SeaBios);
    cmd.arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()));
    let ex = |expect: &str, send: &str| driver::Exchange {
        expect: expect.into(),
        send: send.into(),
    };
    let script = [
        ex("coconut-server login: ", "root\n"),
        ex(
            "# ",
            "coconut-install --disk /dev/vda --profile server --hostname box --user ada\n",
        ),
        ex("Password for ada (and root): ", "pw\n"),
        ex("Again: ", "pw\n"),
        ex("to go on, anything else to stop: ", "no\n"),
        ex(
            "# ",
            "printf 'disk = \"/dev/vda\"\\nprofile = \"server\"\\nhostname = \"box\"\\nuser = \"ada\"\\npassword = \"pw\"\\nthen = \"none\"\\n' > /tmp/a.toml; coconut-install --answers /tmp/a.toml; echo STATUS-$?; sfdisk -d /dev/vda; echo END-$((40+2))\n",
        ),
    ];
    let log = log_dir().join("installer-refusals.log");
    let boot = driver::converse(cmd, &log, &script, "END-42", Duration::from_secs(300))?;
    if !boot.finished {
        return Err(unfinished(
            "the live session did not get through the installer's refusals",
            &boot,
            &log,
        ));
    }
    let saw = |s: &str| boot.lines.iter().any(|l| l.contains(s));
    let mut missing = Vec::new();
    for want in [
        "stopped: you typed `no`, not `/dev/vda`; nothing was written",
        "/dev/vda is too small: 1.0 GiB",
        "STATUS-1",
        "does not contain a recognized partition table",
    ] {
        if !saw(want) {
            missing.push(want);
        }
    }
    if !missing.is_empty() {
        bail!(
            "the console never showed {}; console log {}:\n{}",
            missing.join(" | "),
            log.display(),
            driver::tail(&boot.lines, 30)
        );
    }
    Ok(format!(
        "`no` stops it, 1 GiB is too small, the disk untouched; {:.0}s",
        boot.elapsed.as_secs_f64()
    ))
}

/// The installed disk alone, by OVMF: the ESP's `EFI/BOOT/BOOTX64.EFI`, coconutd ready.
fn installed_uefi(disk: &Path) -> Result<String> {
    let tpm = Swtpm::start(&swtpm::state_of(disk))?;
    let mut cmd = machine();
    cmd.args(["-bios", OVMF])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .args(tpm.qemu_args());
    let log = log_dir().join("installed-uefi.log");
    let boot = driver::run_until(cmd, &log, READY, Duration::from_secs(300))?;
    if !boot.finished {
        return Err(unfinished(&format!("no `{READY}` line"), &boot, &log));
    }
    Ok(format!(
        "ready {:.1}s after QEMU started",
        boot.elapsed.as_secs_f64()
    ))
}

/// Boots the installed disk alone by SeaBIOS, logs in as root on the serial console with the
/// installed password and types `command`, until `stop` is printed (QEMU is killed then).
fn root_runs(disk: &Path, log: &Path, command: &str, stop: &str) -> Result<driver::Boot> {
    let tpm = Swtpm::start(&swtpm::state_of(disk))?;
    let mut cmd = machine();
    cmd.arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", disk.display()))
        .args(tpm.qemu_args());
    let ex = |expect: &str, send: String| driver::Exchange {
        expect: expect.into(),
        send,
    };
    let script = [
        ex("installed login: ", "root\n".into()),
        ex("Password: ", format!("{PASSWORD}\n")),
        ex("# ", format!("{command}\n")),
    ];
    driver::converse(cmd, log, &script, stop, Duration::from_secs(400))
}

/// The `audit seed: …` line `coconut status` printed in `boot`, which must start with `want`
/// (the installed machine has a TPM: the persister seals the seed to it on the first boot and
/// loads that blob on every later one).
fn tpm_seed(boot: &driver::Boot, log: &Path, want: &str) -> Result<String> {
    let seed = boot
        .lines
        .iter()
        .rev()
        .find_map(|l| {
            l.find("audit seed: ")
                .map(|at| l[at + 12..].trim().to_string())
        })
        .filter(|s| !s.contains("' ")) // the echoed command line
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`coconut status` printed no `audit seed:` line; console log {}",
                log.display()
            )
        })?;
    if !seed.starts_with(want) {
        bail!(
            "the audit seed is `{seed}`, expected `{want}…` (the machine has a TPM); console log {}",
            log.display()
        );
    }
    Ok(seed)
}

/// What `coconut audit verify; echo VERIFY-$?` printed in `boot`: its `intact:` and
/// `checkpoints:` lines, or the error naming what it said instead.
fn audit_verified(boot: &driver::Boot, log: &Path) -> Result<String> {
    // The last line that starts with `prefix` (after the prompt's terminal escapes): the
    // echoed command line holds `VERIFY-$?` too.
    let line = |prefix: &str| {
        boot.lines.iter().rev().find_map(|l| {
            let at = l.find(prefix)?;
            let before = &l[..at];
            (before.is_empty() || before.ends_with('l') || before.trim().is_empty())
                .then(|| l[at..].trim().to_string())
        })
    };
    let (Some(status), Some(intact), Some(checkpoints)) =
        (line("VERIFY-"), line("intact: "), line("checkpoints: "))
    else {
        bail!(
            "`coconut audit verify` did not say intact; console log {}:\n{}",
            log.display(),
            driver::tail(&boot.lines, 20)
        );
    };
    if status != "VERIFY-0" || checkpoints.starts_with("checkpoints: none") {
        bail!(
            "`coconut audit verify`: {status}, `{checkpoints}`; console log {}:\n{}",
            log.display(),
            driver::tail(&boot.lines, 20)
        );
    }
    let rows = intact.split(" (").next().unwrap_or(&intact).to_string();
    let signed = checkpoints
        .split(" (")
        .next()
        .unwrap_or(&checkpoints)
        .to_string();
    Ok(format!("audit {rows}, {signed}"))
}

/// Power loss under load, then the next boot: the installed system (its second boot) runs a
/// loop of audited calls (each `coconut caps grant` to a missing agent seals a row), prints
/// the kernel's audit counters, and QEMU is killed with the loop still running. The boot after
/// it verifies the whole history on the disk: every boot intact and linked to the one before,
/// and no row the persister had acknowledged before the kill is missing.
fn power_loss_keeps_acknowledged_rows(disk: &Path) -> Result<String> {
    let log = log_dir().join("power-loss.log");
    let loaded = root_runs(
        disk,
        &log,
        "(while :; do coconut caps grant a:99999 fs.read:/x >/dev/null 2>&1; done) & sleep 20; \
         grep -E '^(boot|sealed|unpersisted)=' /agent/audit/stats | tr '\\n' ' '; echo; echo LOAD-$((40+2))",
        "LOAD-42",
    )?;
    if !loaded.finished {
        return Err(unfinished(
            "the loaded boot never printed its counters",
            &loaded,
            &log,
        ));
    }
    // `boot=1 sealed=N unpersisted=M`: rows below N - M were durable before the kill.
    let counters = loaded
        .lines
        .iter()
        .find(|l| l.contains("sealed=") && l.contains("unpersisted="))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no audit counters before the kill; console log {}",
                log.display()
            )
        })?;
    let field = |name: &str| -> Option<u64> {
        counters
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    let (Some(boot_n), Some(sealed), Some(unpersisted)) =
        (field("boot="), field("sealed="), field("unpersisted="))
    else {
        bail!(
            "unreadable audit counters `{counters}`; console log {}",
            log.display()
        );
    };
    let durable = sealed.saturating_sub(unpersisted);
    let log2 = log_dir().join("after-power-loss.log");
    let after = root_runs(
        disk,
        &log2,
        "coconut status | grep 'audit seed'; coconut audit verify --json | head -c 4000; echo; \
         coconut audit verify; echo VERIFY-$?; echo END-$((40+2))",
        "END-42",
    )?;
    if !after.finished {
        return Err(unfinished(
            "the boot after the power loss did not verify",
            &after,
            &log2,
        ));
    }
    let json = after
        .lines
        .iter()
        .filter(|l| l.contains("\"status\":"))
        .find_map(|l| l.find('{').map(|at| l[at..].trim().to_string()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`coconut audit verify --json` printed no object; console log {}:\n{}",
                log2.display(),
                driver::tail(&after.lines, 20)
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(&json)
        .with_context(|| format!("`coconut audit verify --json` printed `{json}`"))?;
    if v["status"] != "intact" {
        bail!("after the power loss the history is not intact: {json}");
    }
    let boots = v["boots"].as_array().cloned().unwrap_or_default();
    let lost = boots
        .iter()
        .find(|b| b["boot"].as_u64() == Some(boot_n))
        .ok_or_else(|| anyhow::anyhow!("the history has no boot {boot_n}: {json}"))?;
    let last = lost["last_seq"].as_u64().unwrap_or(0);
    if last.saturating_add(1) < durable {
        bail!(
            "boot {boot_n} had {durable} rows acknowledged before the kill, the disk holds rows up to seq {last}: {json}"
        );
    }
    if !boots.iter().any(|b| b["boot"].as_u64() == Some(boot_n + 1)) {
        bail!("the boot after the power loss is not in the history: {json}");
    }
    // The TPM unsealed the same seed on every boot: one checkpoint key for the whole history.
    let seed = tpm_seed(&after, &log2, "tpm")?;
    audit_verified(&after, &log2)?;
    let one_key = after
        .lines
        .iter()
        .any(|l| l.contains("checkpoints: ") && l.contains(" verified (") && l.contains("), key "));
    if !one_key {
        bail!(
            "the boots' checkpoints are not signed with one key: the sealed seed did not \
             survive the reboots; console log {}",
            log2.display()
        );
    }
    Ok(format!(
        "boot {boot_n}: {durable} rows acknowledged before the kill, {} on disk; {} boots intact and linked, one checkpoint key; seed {seed}",
        last + 1,
        boots.len()
    ))
}

/// The error of a boot that never printed what it was waited for: how long it ran and the
/// console log's tail.
fn unfinished(what: &str, boot: &driver::Boot, log: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} ({:.0}s); console log {}:\n{}",
        boot.elapsed.as_secs_f64(),
        log.display(),
        driver::tail(&boot.lines, 30)
    )
}

/// A new sparse raw disk image of `bytes` at `path` (any old one removed).
fn blank_disk(path: &Path, bytes: u64) -> Result<()> {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path)
        .and_then(|f| f.set_len(bytes))
        .with_context(|| format!("creating {}", path.display()))
}

fn log_dir() -> PathBuf {
    paths::target().join("image-logs")
}

/// Which image checks run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The README's `cargo xtask test`: reproducibility, the SeaBIOS live boot, the unattended
    /// install and the installed disk's BIOS boot with a login.
    Core,
    /// `cargo xtask test --image`: also the OVMF live boots (CD and USB stick) and the
    /// installed disk's UEFI boot.
    Full,
}

/// Runs the image tier against a built ISO and its inputs.
pub fn run(iso: &Iso, inputs: &super::Inputs, scope: Scope) -> Result<()> {
    let mut failed = Vec::new();
    let mut report = |name: &str, r: Result<String>| match r {
        Ok(detail) => eprintln!("image::{name} ... ok ({detail})"),
        Err(e) => {
            eprintln!("image::{name} ... FAILED\n{e:#}");
            failed.push(name.to_string());
        }
    };
    report("iso_assembly_is_reproducible", reproducible(iso, inputs));
    let firmwares: &[Firmware] = match scope {
        Scope::Core => &[Firmware::SeaBios],
        Scope::Full => &[Firmware::SeaBios, Firmware::Ovmf, Firmware::OvmfUsb],
    };
    for &fw in firmwares {
        report(
            &format!("live_boot_{}_reaches_coconutd_ready", fw.name()),
            boot_to_ready(&iso.path, fw, Duration::from_secs(300))
                .map(|s| format!("ready {s:.1}s after QEMU started")),
        );
    }
    if scope == Scope::Full {
        report(
            "installer_refuses_without_confirmation_and_names_a_too_small_disk",
            installer_refusals(iso),
        );
    }
    let disk = paths::target().join("iso").join("install-disk.img");
    let installed = install_unattended(iso, inputs, &disk);
    let ok = installed.is_ok();
    report(
        "unattended_install_of_server_profile_to_a_virtio_disk",
        installed,
    );
    if ok {
        report(
            "installed_disk_boots_by_bios_and_root_logs_in_to_see_the_boot_agent",
            installed_login(&disk),
        );
        if scope == Scope::Full {
            report(
                "installed_disk_boots_by_uefi_to_coconutd_ready",
                installed_uefi(&disk),
            );
            report(
                "audit_history_survives_power_loss_under_load",
                power_loss_keeps_acknowledged_rows(&disk),
            );
        }
    }
    if !failed.is_empty() {
        bail!("image tier: {} failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Assembles the ISO a second time from the same inputs (GRUB images included) and compares
/// the bytes.
fn reproducible(iso: &Iso, inputs: &super::Inputs) -> Result<String> {
    let start = Instant::now();
    let work = paths::target().join("iso").join("work-again");
    let again = paths::target().join("iso").join("again.iso");
    super::grub(&work, &iso.medium)?;
    super::assemble(inputs, &iso.medium, &work, &again)?;
    let a = std::fs::read(&iso.path).with_context(|| format!("reading {}", iso.path.display()))?;
    let b = std::fs::read(&again)?;
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        bail!(
            "{} ({} bytes) and {} ({} bytes) differ, first at byte {first}",
            iso.path.display(),
            a.len(),
            again.display(),
            b.len()
        );
    }
    let _ = std::fs::remove_file(&again);
    let _ = std::fs::remove_dir_all(&work);
    Ok(format!(
        "{} bytes twice, {:.1}s",
        a.len(),
        start.elapsed().as_secs_f64()
    ))
}
