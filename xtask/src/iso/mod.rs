//! `cargo xtask iso`: the installable, live-bootable ISO.
//!
//! Pipeline (each stage prints its progress line and time; see docs/image.md):
//! 1. host tools — mkosi, debootstrap, systemd-nspawn, squashfs-tools, GRUB for BIOS and UEFI,
//!    mtools, dosfstools, xorriso;
//! 2. the `generic` kernel (`cargo xtask kernel --config generic`);
//! 3. our static binaries (coconutd, coconut);
//! 4. per profile: the Debian root tree from mkosi (`image/mkosi.conf` + the profile's
//!    packages), cached under `~/.cache/coconut/image/` by those inputs;
//! 5. per profile: the root laid out (our binaries, `/sbin/init` = coconutd, the profile's
//!    services, identity) and packed as a squashfs, cached by the tree's inputs;
//! 6. the live initramfs (busybox + `image/live-init.sh`);
//! 7. GRUB's BIOS El Torito core and UEFI `BOOTX64.EFI` (both with `image/grub/early.cfg`
//!    built in) and the FAT image holding the latter;
//! 8. the hybrid ISO (xorriso): bootable from CD and USB stick, by BIOS and UEFI.
//!
//! Stages 5–8 are reproducible: every timestamp is `SOURCE_DATE_EPOCH` (default
//! [`DEFAULT_EPOCH`]), every identifier is derived from the inputs, so the same root trees,
//! kernel and binaries give the same ISO bytes (`image::iso_assembly_is_reproducible` checks
//! it). The root trees themselves come from Debian's mirror and change when Debian does.

pub mod check;
pub mod profile;
mod swtpm;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::initramfs::{self, Entry};
use crate::paths;
use crate::setup::{self, Need};
use crate::stage::{self, Pipeline};
use crate::{guest, kernel};
use profile::{Profile, PROFILES};

/// The timestamp of every file in the ISO when `SOURCE_DATE_EPOCH` is not set
/// (2026-01-01T00:00:00Z).
pub const DEFAULT_EPOCH: u64 = 1_767_225_600;

/// The ISO 9660 volume label.
pub const VOLUME_ID: &str = "COCONUT_OS";

/// Arguments of `cargo xtask iso`.
#[derive(clap::Args)]
pub struct Args {
    /// Write the ISO here [default: target/iso/coconut-os.iso].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// What `cargo xtask iso` built.
pub struct Iso {
    /// The ISO image.
    pub path: PathBuf,
    /// The medium id the live initramfs looks for.
    pub medium: String,
    /// The kernel release in it.
    pub kernel_version: String,
}

/// `cargo xtask iso`: builds the ISO and returns its path.
pub fn run(args: &Args) -> Result<PathBuf> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| paths::target().join("iso").join("coconut-os.iso"));
    let (iso, _) = build(&out)?;
    let size = std::fs::metadata(&iso.path)?.len();
    eprintln!(
        "    {}: {}, Linux {}, medium {}",
        iso.path.display(),
        mib(size),
        iso.kernel_version,
        iso.medium
    );
    Ok(iso.path)
}

/// The inputs of the assembly stages, shared with the reproducibility test.
pub struct Inputs {
    /// The generic kernel's bzImage.
    pub bzimage: PathBuf,
    /// Its release string.
    pub kernel_version: String,
    /// `(profile, squashfs)` in menu order.
    pub roots: Vec<(String, PathBuf)>,
    /// The live initramfs.
    pub initrd: PathBuf,
}

/// Builds every input of the ISO (stages 1–6), then assembles it into `out`.
pub fn build(out: &Path) -> Result<(Iso, Inputs)> {
    let mut p = Pipeline::new("iso", 5 + 2 * PROFILES.len() + 2);
    p.stage("host tools", || setup::ensure(&[Need::Image], true))?;
    let built = p.stage("kernel (generic config)", || {
        kernel::build(&kernel::BuildArgs::of_config("generic"))
    })?;
    let bins = p.stage(
        "static binaries (coconutd, coconut, coconut-install)",
        guest::build,
    )?;
    let mut roots = Vec::new();
    for name in PROFILES {
        let profile = Profile::load(name)?;
        let tree = p.stage(&format!("{name}: Debian root tree (mkosi)"), || {
            debian_tree(&profile)
        })?;
        let sfs = p.stage(&format!("{name}: root filesystem (squashfs)"), || {
            squashfs(&profile, &tree, &bins)
        })?;
        roots.push((name.to_string(), sfs));
    }
    let initrd = p.stage("live initramfs", live_initramfs)?;
    let inputs = Inputs {
        bzimage: built.bzimage,
        kernel_version: built.version,
        roots,
        initrd,
    };
    let medium = medium_id(&inputs)?;
    let work = paths::target().join("iso").join("work");
    p.stage("GRUB (BIOS and UEFI)", || grub(&work, &medium))?;
    p.stage("ISO (xorriso)", || assemble(&inputs, &medium, &work, out))?;
    p.finish();
    let iso = Iso {
        path: out.to_path_buf(),
        medium,
        kernel_version: inputs.kernel_version.clone(),
    };
    Ok((iso, inputs))
}

/// `bytes` as MiB with one decimal, in integer arithmetic.
fn mib(bytes: u64) -> String {
    let tenths = bytes * 10 / (1024 * 1024);
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

/// The image cache, `~/.cache/coconut/image/`.
fn cache() -> PathBuf {
    paths::cache().join("image")
}

/// The source epoch: `SOURCE_DATE_EPOCH`, else [`DEFAULT_EPOCH`].
pub fn epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds")),
        Err(_) => Ok(DEFAULT_EPOCH),
    }
}

/// A hasher for cache keys: every input is fed with its name and length.
struct Key(blake3::Hasher);

impl Key {
    fn new(what: &str) -> Key {
        let mut k = Key(blake3::Hasher::new());
        k.feed("what", what.as_bytes());
        k
    }
    fn feed(&mut self, name: &str, data: &[u8]) {
        self.0.update(name.as_bytes());
        self.0.update(&(data.len() as u64).to_le_bytes());
        self.0.update(data);
    }
    fn file(&mut self, path: &Path) -> Result<()> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.feed(&path.to_string_lossy(), &data);
        Ok(())
    }
    fn hex(&self) -> String {
        self.0.finalize().to_hex()[..16].to_string()
    }
}

/// Stage 4: the profile's Debian tree from mkosi, cached by `image/mkosi.conf` and the package
/// list. A build that fails or is interrupted leaves no tree that looks finished.
fn debian_tree(profile: &Profile) -> Result<PathBuf> {
    let conf = paths::root().join("image").join("mkosi.conf");
    let mut key = Key::new("debian-tree");
    key.file(&conf)?;
    key.feed("packages", profile.packages.join(",").as_bytes());
    let dir = cache().join(format!("tree-{}-{}", profile.name, key.hex()));
    let done = dir.with_extension("done");
    if done.exists() && dir.join("usr").is_dir() {
        eprintln!("    {} is up to date", dir.display());
        return Ok(dir);
    }
    let _ = std::fs::remove_file(&done);
    remove_tree(&dir)?;
    let work = cache().join("mkosi-work");
    remove_tree(&work)?;
    std::fs::create_dir_all(&work)?;
    // mkosi 14 writes a dracut hook into etc/kernel/install.d/ even without systemd (which
    // would have made that directory): the skeleton makes it, the config removes the hook.
    let skel = work.join("skeleton");
    std::fs::create_dir_all(skel.join("etc/kernel/install.d"))?;
    let pkg_cache = cache().join("apt-cache");
    std::fs::create_dir_all(&pkg_cache)?;
    let log = work.join("mkosi.log");
    eprintln!(
        "    {}: {}\n    mkosi: Debian bookworm + {} packages (log: {})",
        profile.name,
        profile.description,
        profile.packages.len(),
        log.display()
    );
    let mut cmd = Command::new("mkosi");
    cmd.current_dir(&work)
        .arg("--default")
        .arg(&conf)
        .arg("--force")
        .arg("--output")
        .arg(&dir)
        .arg("--cache")
        .arg(&pkg_cache)
        .arg("--skeleton-tree")
        .arg(&skel)
        .arg("--package")
        .arg(profile.packages.join(","))
        .arg("build");
    stage::run_logged(&mut cmd, &log)?;
    let _ = std::fs::remove_file(
        dir.join("etc/kernel/install.d/50-mkosi-dpkg-reconfigure-dracut.install"),
    );
    for banned in ["usr/lib/systemd/systemd", "lib/systemd/systemd"] {
        if dir.join(banned).exists() {
            bail!(
                "{}: the tree has /{banned}: a package of profile `{}` pulled in systemd, which Coconut OS replaces",
                dir.display(),
                profile.name
            );
        }
    }
    std::fs::write(&done, key.hex())?;
    remove_tree(&work)?;
    Ok(dir)
}

fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", dir.display())),
    }
}

/// Stage 5: the tree with our parts laid over it, packed as a squashfs (zstd), cached by the
/// tree, the binaries, the services and the epoch.
fn squashfs(profile: &Profile, tree: &Path, bins: &guest::Binaries) -> Result<PathBuf> {
    let epoch = epoch()?;
    let mut key = Key::new("squashfs");
    key.feed("tree", tree.to_string_lossy().as_bytes());
    key.feed("epoch", &epoch.to_le_bytes());
    let services = service_files(&profile.services)?;
    let files = our_files(profile, bins, &services)?;
    for f in &files {
        key.feed(&f.rel, &f.data);
        key.feed("mode", &f.mode.to_le_bytes());
    }
    let out = cache().join(format!("root-{}-{}.squashfs", profile.name, key.hex()));
    if out.exists() {
        eprintln!("    {} is up to date", out.display());
        return Ok(out);
    }
    // The profile must load under the coconutd that will run it.
    let check = stage::output(
        Command::new(&bins.coconutd)
            .arg("--check")
            .arg("--profile")
            .arg(&profile.services),
    )
    .with_context(|| format!("profile `{}`'s services do not load", profile.name))?;
    eprintln!("    {}", check.trim());

    let stage_dir = cache().join(format!("stage-{}", profile.name));
    remove_tree(&stage_dir)?;
    stage::run(
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(tree)
            .arg(&stage_dir),
    )?;
    lay_over(&stage_dir, &files)?;
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let log = cache().join(format!("mksquashfs-{}.log", profile.name));
    stage::run_logged(
        Command::new("mksquashfs")
            .arg(&stage_dir)
            .arg(&tmp)
            .args([
                "-noappend",
                "-no-progress",
                "-comp",
                "zstd",
                "-Xcompression-level",
                "15",
            ])
            // mksquashfs 4.5 refuses SOURCE_DATE_EPOCH together with these options, and an
            // inherited one would stand in for ours: the options alone set every timestamp.
            .args([
                "-mkfs-time",
                &epoch.to_string(),
                "-all-time",
                &epoch.to_string(),
            ])
            .env_remove("SOURCE_DATE_EPOCH"),
        &log,
    )?;
    std::fs::rename(&tmp, &out)?;
    remove_tree(&stage_dir)?;
    eprintln!(
        "    {}: {}",
        out.display(),
        mib(std::fs::metadata(&out)?.len())
    );
    Ok(out)
}

/// `profiles/<p>/services/*.toml`, sorted.
fn service_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// One file of our part of a root: path relative to it, content, mode.
struct Put {
    rel: String,
    data: Vec<u8>,
    mode: u32,
}

/// Our part of a root: binaries, services, identity, the live login banner. The same list
/// feeds the squashfs cache key and is written, so a change to any of it rebuilds the root.
fn our_files(profile: &Profile, bins: &guest::Binaries, services: &[PathBuf]) -> Result<Vec<Put>> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let put = |rel: &str, data: Vec<u8>, mode: u32| Put {
        rel: rel.to_string(),
        data,
        mode,
    };
    let mut v = vec![
        put("usr/sbin/coconutd", read(&bins.coconutd)?, 0o755),
        put("usr/bin/coconut", read(&bins.coconut)?, 0o755),
        put("usr/sbin/coconut-install", read(&bins.install)?, 0o755),
    ];
    for s in services {
        let name = s
            .file_name()
            .context("service file name")?
            .to_string_lossy();
        v.push(put(
            &format!("etc/coconut/services/{name}"),
            read(s)?,
            0o644,
        ));
    }
    let h = &profile.hostname;
    v.push(put("etc/hostname", format!("{h}\n").into_bytes(), 0o644));
    v.push(put(
        "etc/hosts",
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{h}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        .into_bytes(),
        0o644,
    ));
    v.push(put(
        "etc/os-release",
        format!(
            "PRETTY_NAME=\"Coconut OS ({0})\"\nNAME=\"Coconut OS\"\nID=coconut\nID_LIKE=debian\nVARIANT_ID={0}\nVERSION_ID={1}\nHOME_URL=\"https://coconut-os.invalid/\"\n",
            profile.name,
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes(),
        0o644,
    ));
    // agetty prints /etc/issue above the login prompt; coconut-install puts its own on the
    // installed system.
    v.push(put(
        "etc/issue",
        format!(
            "Coconut OS live ({}) on \\l\n\nLog in as root (no password). To install on a disk: coconut-install\n\n",
            profile.name
        )
        .into_bytes(),
        0o644,
    ));
    Ok(v)
}

/// Writes `files` into `root`, makes `/sbin/init` coconutd, and empties the live root's
/// password.
fn lay_over(root: &Path, files: &[Put]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let path = root.join(&f.rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, &f.data).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
    }
    // merged /usr: /sbin is usr/sbin.
    let init = root.join("usr/sbin/init");
    let _ = std::fs::remove_file(&init);
    std::os::unix::fs::symlink("coconutd", &init)?;
    // The live system: root logs in on the console without a password (pam_unix `nullok`);
    // the installer sets the installed system's password.
    let shadow = root.join("etc/shadow");
    let text = std::fs::read_to_string(&shadow).context("reading the tree's /etc/shadow")?;
    let mut out = String::new();
    for line in text.lines() {
        match line.split_once(':') {
            Some(("root", rest)) => {
                let rest = rest.split_once(':').map(|(_, r)| r).unwrap_or("");
                out.push_str(&format!("root::{rest}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    std::fs::write(&shadow, out).context("writing the tree's /etc/shadow")?;
    std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o640))?;
    Ok(())
}

/// Stage 6: the live initramfs: busybox and `image/live-init.sh` as `/init`.
fn live_initramfs() -> Result<PathBuf> {
    let busybox =
        std::fs::read("/bin/busybox").context("reading /bin/busybox (package busybox-static)")?;
    let init = std::fs::read(paths::root().join("image").join("live-init.sh"))?;
    let out = paths::target().join("iso").join("live-initrd.cpio.gz");
    let entries = vec![
        Entry::Dir("bin"),
        Entry::Dir("proc"),
        Entry::Dir("sys"),
        Entry::Dir("dev"),
        Entry::Dir("live"),
        Entry::Dir("newroot"),
        Entry::CharDev("dev/console", 5, 1),
        Entry::CharDev("dev/null", 1, 3),
        Entry::File("bin/busybox", busybox, 0o755),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::File("init", init, 0o755),
    ];
    initramfs::write_archive(&out, &entries)?;
    Ok(out)
}

/// The medium id: a hash of everything the ISO holds, so the live initramfs takes this build's
/// medium and no other.
pub fn medium_id(inputs: &Inputs) -> Result<String> {
    let mut key = Key::new("medium");
    key.file(&inputs.bzimage)?;
    key.file(&inputs.initrd)?;
    for (name, sfs) in &inputs.roots {
        key.feed("profile", name.as_bytes());
        // A squashfs's name carries its own input hash (see `squashfs`).
        key.feed(
            "root",
            sfs.file_name().unwrap_or_default().as_encoded_bytes(),
        );
        let len = std::fs::metadata(sfs)?.len();
        key.feed("root-len", &len.to_le_bytes());
    }
    key.feed(
        "grub.cfg",
        &std::fs::read(paths::root().join("image/grub/grub.cfg"))?,
    );
    key.feed(
        "early.cfg",
        &std::fs::read(paths::root().join("image/grub/early.cfg"))?,
    );
    Ok(key.hex())
}

/// GRUB modules built into both core images (no module directory on the medium).
const GRUB_COMMON: &[&str] = &[
    "iso9660",
    "part_gpt",
    "part_msdos",
    "fat",
    "search",
    "search_fs_file",
    "configfile",
    "normal",
    "linux",
    "echo",
    "test",
    "serial",
    "terminal",
    "all_video",
    "gfxterm",
    "ls",
    "cat",
    "reboot",
    "halt",
];

/// Stage 7: `work/eltorito.img` (BIOS) and `work/efi.img` (a FAT image with
/// `EFI/BOOT/BOOTX64.EFI`).
fn grub(work: &Path, medium: &str) -> Result<()> {
    remove_tree(work)?;
    std::fs::create_dir_all(work)?;
    let early = std::fs::read_to_string(paths::root().join("image/grub/early.cfg"))?
        .replace("@MEDIUM@", medium);
    let early_path = work.join("early.cfg");
    std::fs::write(&early_path, early)?;
    let mkimage = |format: &str, out: &Path, extra: &[&str]| -> Result<()> {
        stage::output(
            Command::new("grub-mkimage")
                .args(["-O", format, "-p", "/boot/grub", "-c"])
                .arg(&early_path)
                .arg("-o")
                .arg(out)
                .args(GRUB_COMMON)
                .args(extra),
        )?;
        Ok(())
    };
    mkimage(
        "i386-pc-eltorito",
        &work.join("eltorito.img"),
        &["biosdisk"],
    )?;
    let efi = work.join("BOOTX64.EFI");
    mkimage("x86_64-efi", &efi, &["efi_gop", "efi_uga"])?;
    // The FAT image: fixed volume id, `--invariant` (no time or random fields), and mtools
    // stamping files with SOURCE_DATE_EPOCH.
    let img = work.join("efi.img");
    let kib = (std::fs::metadata(&efi)?.len() / 1024 + 512).max(1440);
    stage::output(
        Command::new("mkfs.fat")
            .args(["--invariant", "-i", "c0c0a001", "-n", "COCONUT_EFI", "-C"])
            .arg(&img)
            .arg(kib.to_string()),
    )?;
    let sde = epoch()?.to_string();
    stage::output(
        Command::new("mmd")
            .arg("-i")
            .arg(&img)
            .args(["::/EFI", "::/EFI/BOOT"])
            .env("SOURCE_DATE_EPOCH", &sde),
    )?;
    stage::output(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI")
            .env("SOURCE_DATE_EPOCH", &sde),
    )?;
    Ok(())
}

/// Stage 8: the ISO tree and xorriso. The BIOS core is the El Torito boot image (and, through
/// GRUB's hybrid MBR, the USB-stick boot); the FAT image is an appended GPT partition that is
/// also the UEFI El Torito image.
pub fn assemble(inputs: &Inputs, medium: &str, work: &Path, out: &Path) -> Result<()> {
    let tree = work.join("tree");
    remove_tree(&tree)?;
    let put = |rel: &str, from: &Path| -> Result<()> {
        let to = tree.join(rel);
        std::fs::create_dir_all(to.parent().context("parent")?)?;
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        Ok(())
    };
    put("boot/vmlinuz", &inputs.bzimage)?;
    put("boot/initrd.img", &inputs.initrd)?;
    put("boot/grub/i386-pc/eltorito.img", &work.join("eltorito.img"))?;
    for (name, sfs) in &inputs.roots {
        put(&format!("coconut/{name}.squashfs"), sfs)?;
    }
    let cfg = std::fs::read_to_string(paths::root().join("image/grub/grub.cfg"))?
        .replace("@MEDIUM@", medium)
        .replace("@VERSION@", &inputs.kernel_version);
    std::fs::write(tree.join("boot/grub/grub.cfg"), cfg)?;
    std::fs::write(
        tree.join(format!("coconut/medium-{medium}")),
        format!(
            "Coconut OS medium {medium}, Linux {}\n",
            inputs.kernel_version
        ),
    )?;
    // xorriso dates each file by its mtime (SOURCE_DATE_EPOCH makes that the default).
    let sde = epoch()?;
    stamp_tree(&tree, sde)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = out.with_extension("iso.tmp");
    let _ = std::fs::remove_file(&tmp);
    let log = work.join("xorriso.log");
    stage::run_logged(
        Command::new("xorriso")
            .args([
                "-as",
                "mkisofs",
                "-iso-level",
                "3",
                "-full-iso9660-filenames",
                "-R",
                "-J",
            ])
            .args(["-volid", VOLUME_ID])
            .args(["-b", "boot/grub/i386-pc/eltorito.img", "-no-emul-boot"])
            .args([
                "-boot-load-size",
                "4",
                "-boot-info-table",
                "--grub2-boot-info",
            ])
            .args(["--grub2-mbr", "/usr/lib/grub/i386-pc/boot_hybrid.img"])
            .arg("-append_partition")
            .arg("2")
            .arg("0xef")
            .arg(work.join("efi.img"))
            .arg("-appended_part_as_gpt")
            .args([
                "-eltorito-alt-boot",
                "-e",
                "--interval:appended_partition_2:all::",
            ])
            .arg("-no-emul-boot")
            .arg("-o")
            .arg(&tmp)
            .arg(&tree)
            .env("SOURCE_DATE_EPOCH", sde.to_string()),
        &log,
    )?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// Sets the access and modification times of `dir` and everything under it to `epoch`.
fn stamp_tree(dir: &Path, epoch: u64) -> Result<()> {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    let times = std::fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(when);
    for entry in walkdir::WalkDir::new(dir).contents_first(true) {
        let entry = entry?;
        std::fs::File::open(entry.path())
            .and_then(|f| f.set_times(times))
            .with_context(|| format!("cannot stamp {}", entry.path().display()))?;
    }
    Ok(())
}
