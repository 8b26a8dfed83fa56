//! The install itself: each step prints `coconut-install: [n/N] what` and its time.
//!
//! Order matters for "nothing half-installed is left bootable": the disk is checked and the
//! source mounted before anything is written; from the moment the old partition table is
//! wiped, any failure unmounts what was mounted and wipes the new signatures again, so the
//! disk is left empty rather than holding a system that boots halfway. GRUB goes on last.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::answers::{Answers, Password};
use crate::disk::{self, Disk, Ids};

/// Where the installer mounts things (under coconutd's tmpfs `/run`).
const WORK: &str = "/run/coconut-install";

/// The services that exist only for the live medium and are left out of the installed
/// system.
pub const LIVE_ONLY_SERVICES: &[&str] = &["installer.toml"];

/// Where the medium is and what it holds.
pub struct Medium {
    /// The medium's mount point (`/live/medium` in the live system).
    pub dir: PathBuf,
}

impl Medium {
    /// The profile's root filesystem on the medium.
    pub fn squashfs(&self, profile: &str) -> PathBuf {
        self.dir.join("coconut").join(format!("{profile}.squashfs"))
    }

    /// The profiles on the medium, sorted.
    pub fn profiles(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.join("coconut"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".squashfs"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The kernel on the medium.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("boot").join("vmlinuz")
    }
}

/// Runs `cmd`; on failure the error names the command and carries its stderr's tail.
pub fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{shown} failed ({}): {}", out.status, tail.join(" / "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Mounts made during the install, unmounted in reverse order on every exit path.
struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn mount(&mut self, args: &[&str], src: &Path, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
        run(Command::new("mount").args(args).arg(src).arg(dir))?;
        self.0.push(dir.to_path_buf());
        Ok(())
    }

    fn unmount_all(&mut self) -> Result<()> {
        let mut first_err = None;
        while let Some(dir) = self.0.pop() {
            if let Err(e) = run(Command::new("umount").arg(&dir)) {
                // Lazy detach so the next attempt is not blocked; the error is still returned.
                let _ = run(Command::new("umount").arg("-l").arg(&dir));
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        let _ = self.unmount_all();
    }
}

/// Progress lines.
struct Steps {
    n: usize,
    total: usize,
    started: Instant,
}

impl Steps {
    fn step<T>(&mut self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.n += 1;
        println!("coconut-install: [{}/{}] {what}", self.n, self.total);
        let t = Instant::now();
        let r = f().with_context(|| format!("step {}/{} ({what})", self.n, self.total));
        if r.is_ok() {
            println!("coconut-install:       done in {}s", t.elapsed().as_secs());
        }
        r
    }
}

/// Total bytes of the regular files under `dir` (what the copy writes).
fn tree_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Used bytes of the filesystem holding `dir`.
fn used_bytes(dir: &Path) -> u64 {
    rustix::fs::statvfs(dir)
        .map(|s| (s.f_blocks - s.f_bfree) * s.f_frsize)
        .unwrap_or(0)
}

/// Installs `a` from `medium`. Prints one line per step; on success the disk boots.
pub fn install(a: &Answers, medium: &Medium) -> Result<()> {
    let started = Instant::now();
    let mut steps = Steps {
        n: 0,
        total: 8,
        started,
    };
    let work = Path::new(WORK);
    let source = work.join("source");
    let target = work.join("target");
    let mut mounts = Mounts(Vec::new());

    let (disk, root_bytes) = steps.step("checking the medium and the disk", || {
        let sfs = medium.squashfs(&a.profile);
        if !sfs.is_file() {
            let have = medium.profiles();
            bail!(
                "the medium {} has no profile `{}` ({}; profiles on it: {})",
                medium.dir.display(),
                a.profile,
                sfs.display(),
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            );
        }
        if !medium.kernel().is_file() {
            bail!("the medium has no kernel at {}", medium.kernel().display());
        }
        mounts.mount(&["-t", "squashfs", "-o", "ro,loop"], &sfs, &source)?;
        let root_bytes = tree_bytes(&source);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        let disk = disk::check(Path::new("/sys"), &a.disk, root_bytes, &mountinfo, &swaps)?;
        exclusive(&disk)?;
        println!(
            "coconut-install:       {} ({}{}), profile {} ({} of files)",
            disk.path().display(),
            disk::human(disk.bytes),
            if disk.model.is_empty() {
                String::new()
            } else {
                format!(", {}", disk.model)
            },
            a.profile,
            disk::human(root_bytes)
        );
        Ok((disk, root_bytes))
    })?;

    let ids = Ids::random()?;
    let result = (|| -> Result<()> {
        steps.step("partitioning (GPT: BIOS boot, EFI system, root)", || {
            partition(&disk, &ids)
        })?;
        let esp = disk::partition(&disk.name, 2);
        let root = disk::partition(&disk.name, 3);
        steps.step("making the filesystems (FAT32 ESP, ext4 root)", || {
            run(Command::new("mkfs.fat")
                .args(["-F", "32", "-n", "COCONUT_ESP", "-i", &ids.esp_vol])
                .arg(&esp))?;
            run(Command::new("mkfs.ext4")
                .args(["-F", "-q", "-L", "coconut-root", "-U", &ids.root_fs])
                .arg(&root))?;
            Ok(())
        })?;
        steps.step(
            &format!(
                "copying the {} root ({})",
                a.profile,
                disk::human(root_bytes)
            ),
            || {
                mounts.mount(&["-t", "ext4"], &root, &target)?;
                copy(&source, &target, root_bytes)?;
                mounts.mount(&["-t", "vfat"], &esp, &target.join("boot/efi"))
            },
        )?;
        let release = steps.step("the kernel", || {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            let to = target.join("boot").join(format!("vmlinuz-{release}"));
            std::fs::copy(medium.kernel(), &to)
                .with_context(|| format!("copying the kernel to {}", to.display()))?;
            let link = target.join("boot/vmlinuz");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("vmlinuz-{release}"), &link)?;
            Ok(release)
        })?;
        steps.step("identity: hostname, fstab, the user and passwords", || {
            configure(a, &ids, &target, &mut mounts)
        })?;
        steps.step("GRUB for BIOS and UEFI", || {
            bootloader(a, &disk, &ids, &target, &release)
        })?;
        steps.step("unmounting and syncing", || {
            rustix::fs::sync();
            mounts.unmount_all()
        })?;
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("coconut-install: the install failed; wiping what it wrote so nothing half-installed boots");
        let _ = mounts.unmount_all();
        for n in 1..=3 {
            let _ = run(Command::new("wipefs")
                .arg("-a")
                .arg(disk::partition(&disk.name, n)));
        }
        let _ = run(Command::new("wipefs").arg("-a").arg(disk.path()));
        rustix::fs::sync();
        return Err(e.context(format!(
            "{} was left without a partition table",
            disk.path().display()
        )));
    }
    println!(
        "coconut-install: installed {} on {} (hostname {}, user {}) in {}s",
        a.profile,
        disk.path().display(),
        a.hostname,
        a.user,
        steps.started.elapsed().as_secs()
    );
    Ok(())
}

/// Opens the disk with `O_EXCL`, which the kernel refuses (`EBUSY`) while anything — a mount,
/// swap, device-mapper, RAID — claims it.
fn exclusive(disk: &Disk) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(disk.path())
        .map(drop)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => anyhow::anyhow!(
                "{} is in use (the kernel refuses exclusive access: something has it open or mounted)",
                disk.path().display()
            ),
            _ => anyhow::Error::new(e).context(format!("cannot open {}", disk.path().display())),
        })
}

/// Wipes the old signatures, writes the GPT and waits for the partitions' device nodes.
fn partition(disk: &Disk, ids: &Ids) -> Result<()> {
    run(Command::new("wipefs").arg("-a").arg(disk.path()))?;
    let mut child = Command::new("sfdisk")
        .args(["--quiet", "--wipe", "always", "--wipe-partitions", "always"])
        .arg(disk.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run sfdisk (package fdisk)")?;
    child
        .stdin
        .take()
        .context("sfdisk stdin")?
        .write_all(disk::sfdisk_script(ids).as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "sfdisk {} failed ({}): {}",
            disk.path().display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in 1..=3 {
        let p = disk::partition(&disk.name, n);
        while !p.exists() {
            if Instant::now() > deadline {
                bail!("{} did not appear after partitioning", p.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// `cp -a source/. target/`, with a progress line every 5 s from the target's used space.
fn copy(source: &Path, target: &Path, total: u64) -> Result<()> {
    let base = used_bytes(target);
    let mut child = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", source.display()))
        .arg(format!("{}/", target.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cp")?;
    let mut last = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if last.elapsed() >= Duration::from_secs(5) {
            let done = used_bytes(target).saturating_sub(base);
            let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
            println!(
                "coconut-install:       {} of {} ({pct}%)",
                disk::human(done),
                disk::human(total)
            );
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let tail: Vec<&str> = err.lines().take(4).collect();
        bail!("copying the root failed ({status}): {}", tail.join(" / "));
    }
    Ok(())
}

/// Hostname, hosts, fstab, the live-only services removed, the user and the passwords.
fn configure(a: &Answers, ids: &Ids, target: &Path, mounts: &mut Mounts) -> Result<()> {
    let write = |rel: &str, text: String| -> Result<()> {
        let p = target.join(rel);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    write("etc/hostname", format!("{}\n", a.hostname))?;
    write(
        "etc/hosts",
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            a.hostname
        ),
    )?;
    write(
        "etc/fstab",
        format!(
            "# Written by coconut-install. <file system> <mount point> <type> <options> <dump> <pass>\n\
             UUID={}\t/\text4\terrors=remount-ro\t0\t1\n\
             UUID={}\t/boot/efi\tvfat\tumask=0077\t0\t2\n",
            ids.root_fs,
            ids.esp_fstab()
        ),
    )?;
    write(
        "etc/issue",
        format!("Coconut OS ({}) \\n on \\l\n\n", a.profile),
    )?;
    for s in LIVE_ONLY_SERVICES {
        let _ = std::fs::remove_file(target.join("etc/coconut/services").join(s));
    }
    // useradd and chpasswd run inside the new system, which needs /dev (random salt) and
    // /proc.
    mounts.mount(&["--bind"], Path::new("/dev"), &target.join("dev"))?;
    mounts.mount(&["-t", "proc"], Path::new("proc"), &target.join("proc"))?;
    run(Command::new("chroot")
        .arg(target)
        .args([
            "useradd",
            "--create-home",
            "--user-group",
            "--shell",
            "/bin/bash",
        ])
        .arg(&a.user))?;
    let (flag, secret) = match &a.password {
        Password::Plain(p) => (None, p),
        Password::Hash(h) => (Some("-e"), h),
    };
    let mut child = Command::new("chroot")
        .arg(target)
        .arg("chpasswd")
        .args(flag)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run chpasswd in the new system")?;
    child
        .stdin
        .take()
        .context("chpasswd stdin")?
        .write_all(format!("{0}:{1}\nroot:{1}\n", a.user, secret).as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "chpasswd failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let proc_dir = target.join("proc");
    let dev_dir = target.join("dev");
    // Unmount the two binds now (they are the last two mounts).
    for d in [proc_dir, dev_dir] {
        if mounts.0.last() == Some(&d) {
            mounts.0.pop();
            run(Command::new("umount").arg(&d))?;
        }
    }
    Ok(())
}

/// GRUB's BIOS core into the BIOS boot partition, its UEFI loader as the ESP's fallback
/// `EFI/BOOT/BOOTX64.EFI` (no NVRAM entry: the disk boots in any machine), and our menu.
fn bootloader(a: &Answers, disk: &Disk, ids: &Ids, target: &Path, release: &str) -> Result<()> {
    let boot = target.join("boot");
    run(Command::new("grub-install")
        .args(["--target=i386-pc", "--no-floppy"])
        .arg(format!("--boot-directory={}", boot.display()))
        .arg(disk.path()))?;
    run(Command::new("grub-install")
        .args(["--target=x86_64-efi", "--removable", "--no-nvram"])
        .arg(format!("--efi-directory={}", boot.join("efi").display()))
        .arg(format!("--boot-directory={}", boot.display())))?;
    let cfg = format!(
        "# Written by coconut-install.\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout=3\n\
         set default=0\n\
         search --no-floppy --fs-uuid --set=root {fs}\n\
         menuentry \"Coconut OS ({profile}), Linux {release}\" {{\n\
         \x20   linux /boot/vmlinuz root=PARTUUID={part} rootfstype=ext4 rw rootwait console=tty0 console=ttyS0,115200\n\
         }}\n",
        fs = ids.root_fs,
        profile = a.profile,
        part = ids.root_part,
    );
    std::fs::write(boot.join("grub/grub.cfg"), cfg).context("writing boot/grub/grub.cfg")?;
    Ok(())
}
