//! `cargo xtask initramfs`: the test initramfs (busybox + the workspace's guest binaries).
//!
//! The guest binaries are built statically against glibc (`+crt-static`; the musl target cannot
//! be installed here) into their own target directory so host builds stay untouched. The archive
//! is a gzip-compressed newc cpio written with the `cpio` crate; every entry is owned by root
//! and carries a fixed mtime, so the same inputs give the same bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use coconut_qemu::protocol::{EXIT_PREFIX, PROBE_OK};

use crate::guest;
use crate::paths;
use crate::setup::{self, Need};
use crate::stage::Pipeline;

/// Arguments of `cargo xtask initramfs`.
#[derive(clap::Args)]
pub struct Args {}

/// The `/init` of the test initramfs, guest content run by busybox `sh`. After the test runner
/// it prints the runner's exit status in a protocol line (`EXIT_PREFIX`), which the VM tier
/// requires to be 0; the probe answer is `PROBE_OK`.
fn init_script() -> String {
    format!(
        r#"#!/bin/busybox sh
# Coconut OS test initramfs: mount the pseudo filesystems, then run the in-guest tests
# (coconut.test=1), benchmarks (coconut.bench=1; coconut.bench=bare: the LSM loops only)
# or a demo (coconut.demo=NAME), answer the
# KVM probe (coconut.probe=1), or give a shell.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mkdir -p /agent
mount -t agentfs agentfs /agent || echo "coconut: agentfs did not mount: the kernel has no agent subsystem?"
case " $(cat /proc/cmdline) " in
  *" coconut.probe=1 "*)
    echo "{PROBE_OK}"
    reboot -f ;;
  *" coconut.bench=bare "*)
    /bin/coconut-guest-tests --bench-bare
    reboot -f ;;
  *" coconut.bench=1 "*)
    /bin/coconut-guest-tests --bench
    reboot -f ;;
  *" coconut.demo="*)
    demo=$(sed -n 's/.*coconut\.demo=\([a-z-]*\).*/\1/p' /proc/cmdline)
    /bin/coconut-guest-tests --demo "$demo"
    reboot -f ;;
  *" coconut.test=1 "*)
    /bin/coconut-guest-tests
    echo "{EXIT_PREFIX}$?"
    reboot -f ;;
esac
echo "Coconut OS test initramfs on $(uname -r). 'reboot -f' leaves QEMU."
setsid cttyhack sh
reboot -f
"#
    )
}

/// `cargo xtask initramfs`: builds and returns the archive's path.
pub fn run(_args: &Args) -> Result<PathBuf> {
    let mut p = Pipeline::new("initramfs", 3);
    p.stage("host tools", || setup::ensure(&[Need::Initramfs], true))?;
    let bins = p.stage("guest binaries", guest::build)?;
    let out = paths::target().join("initramfs").join("initramfs.cpio.gz");
    p.stage("archive", || test_archive(&out, &bins))?;
    p.finish();
    Ok(out)
}

/// An entry of an initramfs archive.
pub enum Entry<'a> {
    /// A directory (mode 0755).
    Dir(&'a str),
    /// A regular file: path, contents, permission bits.
    File(&'a str, Vec<u8>, u32),
    /// A symbolic link: path, target.
    Symlink(&'a str, &'a str),
    /// A character device: path, major, minor.
    CharDev(&'a str, u32, u32),
}

fn test_archive(out: &Path, bins: &guest::Binaries) -> Result<()> {
    let busybox =
        std::fs::read("/bin/busybox").context("reading /bin/busybox (package busybox-static)")?;
    let runner =
        std::fs::read(&bins.tests).with_context(|| format!("reading {}", bins.tests.display()))?;
    let coconut = std::fs::read(&bins.coconut)
        .with_context(|| format!("reading {}", bins.coconut.display()))?;
    let entries = vec![
        Entry::Dir("bin"),
        Entry::Dir("sbin"),
        Entry::Dir("usr"),
        Entry::Dir("usr/bin"),
        Entry::Dir("etc"),
        Entry::Dir("proc"),
        Entry::Dir("sys"),
        Entry::Dir("dev"),
        Entry::Dir("tmp"),
        Entry::Dir("agent"),
        Entry::Dir("root"),
        // The kernel opens /dev/console for init before devtmpfs is mounted.
        Entry::CharDev("dev/console", 5, 1),
        Entry::CharDev("dev/null", 1, 3),
        Entry::File("bin/busybox", busybox, 0o755),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::File("init", init_script().into_bytes(), 0o755),
        Entry::File("bin/coconut-guest-tests", runner, 0o755),
        Entry::File("bin/coconut", coconut, 0o755),
    ];
    write_archive(out, &entries)
}

/// Writes `entries` as a gzip-compressed newc cpio archive at `out` (atomically: a temporary
/// file renamed into place), root-owned, every mtime 0.
pub fn write_archive(out: &Path, entries: &[Entry<'_>]) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = out.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    for (i, entry) in entries.iter().enumerate() {
        let ino = i as u32 + 1;
        let base = |name: &str| {
            cpio::newc::Builder::new(name)
                .ino(ino)
                .uid(0)
                .gid(0)
                .mtime(0)
                .nlink(1)
        };
        match entry {
            Entry::Dir(name) => base(name)
                .mode(0o040755)
                .nlink(2)
                .write(&mut gz, 0)
                .finish()?,
            Entry::File(name, data, mode) => {
                let mut w = base(name)
                    .mode(0o100000 | mode)
                    .write(&mut gz, data.len() as u32);
                w.write_all(data)?;
                w.finish()?
            }
            Entry::Symlink(name, target) => {
                let mut w = base(name)
                    .mode(0o120777)
                    .write(&mut gz, target.len() as u32);
                w.write_all(target.as_bytes())?;
                w.finish()?
            }
            Entry::CharDev(name, major, minor) => base(name)
                .mode(0o020600)
                .rdev_major(*major)
                .rdev_minor(*minor)
                .write(&mut gz, 0)
                .finish()?,
        };
    }
    cpio::newc::trailer(&mut gz)?;
    gz.finish()?;
    std::fs::rename(&tmp, out)?;
    eprintln!(
        "    {} entries, {} KiB",
        entries.len(),
        std::fs::metadata(out)?.len() / 1024
    );
    Ok(())
}
