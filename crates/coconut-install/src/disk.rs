//! Disks: which there are (from sysfs), whether one may be wiped, how its partitions are named,
//! and the GPT layout written to it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// One whole disk, as sysfs describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// The kernel's name, e.g. `vda`, `nvme0n1`.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// A removable medium (USB stick, card reader).
    pub removable: bool,
    /// The model string, when the driver gives one.
    pub model: String,
    /// `major:minor`.
    pub dev: String,
}

impl Disk {
    /// `/dev/<name>`.
    pub fn path(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }
}

/// Kernel names that are never install targets: loop and RAM disks, optical drives,
/// compressed swap, device-mapper and RAID nodes built on other disks.
fn is_candidate(name: &str) -> bool {
    !["loop", "ram", "sr", "zram", "dm-", "md", "nbd", "fd"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn read_trim(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The disks under `sys` (normally `/sys`), sorted by name; empty or zero-sized ones left out.
pub fn list(sys: &Path) -> Result<Vec<Disk>> {
    let dir = sys.join("block");
    let mut disks = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !is_candidate(&name) {
            continue;
        }
        let d = entry.path();
        // `size` is in 512-byte sectors whatever the disk's own sector size.
        let sectors: u64 = read_trim(&d.join("size")).parse().unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        disks.push(Disk {
            name,
            bytes: sectors * 512,
            removable: read_trim(&d.join("removable")) == "1",
            model: read_trim(&d.join("device/model")),
            dev: read_trim(&d.join("dev")),
        });
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(disks)
}

/// The device of partition `n` of disk `name`: `vda` → `vda3`, `nvme0n1` → `nvme0n1p3`.
pub fn partition(name: &str, n: u32) -> PathBuf {
    let sep = if name.ends_with(|c: char| c.is_ascii_digit()) {
        "p"
    } else {
        ""
    };
    PathBuf::from(format!("/dev/{name}{sep}{n}"))
}

/// Why `disk` cannot be wiped now: its partitions' or its own mounts (from `mountinfo`, the
/// text of `/proc/self/mountinfo`), swap on it (`swaps`, `/proc/swaps`), and holders in sysfs
/// (device-mapper, RAID). Empty when it is free.
pub fn in_use(sys: &Path, disk: &Disk, mountinfo: &str, swaps: &str) -> Vec<String> {
    let base = sys.join("block").join(&disk.name);
    // major:minor → name, for the disk and each partition.
    let mut nodes = vec![(disk.dev.clone(), disk.name.clone())];
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let p = e.path();
            if p.join("partition").exists() {
                nodes.push((
                    read_trim(&p.join("dev")),
                    e.file_name().to_string_lossy().to_string(),
                ));
            }
        }
    }
    nodes.sort();
    let mut why = Vec::new();
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint ...
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        if let Some((_, name)) = nodes.iter().find(|(dev, _)| dev == f[2]) {
            why.push(format!("/dev/{name} is mounted on {}", f[4]));
        }
    }
    for line in swaps.lines().skip(1) {
        if let Some(dev) = line.split_whitespace().next() {
            if let Some((_, name)) = nodes.iter().find(|(_, name)| dev == format!("/dev/{name}")) {
                why.push(format!("/dev/{name} is in use as swap"));
            }
        }
    }
    for (_, name) in &nodes {
        let holders = if name == &disk.name {
            base.join("holders")
        } else {
            base.join(name).join("holders")
        };
        if let Ok(entries) = std::fs::read_dir(&holders) {
            for h in entries.flatten() {
                why.push(format!(
                    "/dev/{name} is held by {}",
                    h.file_name().to_string_lossy()
                ));
            }
        }
    }
    why
}

/// The partitions written, in order: BIOS boot (GRUB's core for BIOS), the EFI system
/// partition, the root filesystem (the rest of the disk).
pub const BIOS_BOOT_MIB: u64 = 1;
/// Size of the EFI system partition.
pub const ESP_MIB: u64 = 256;
/// The first partition starts here (alignment).
pub const FIRST_MIB: u64 = 1;

/// GPT partition types: BIOS boot, EFI system, Linux x86-64 root (the Discoverable
/// Partitions Specification's).
pub const TYPE_BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
/// See [`TYPE_BIOS_BOOT`].
pub const TYPE_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// See [`TYPE_BIOS_BOOT`].
pub const TYPE_ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// The identifiers of one install: chosen at random, written by `sfdisk` and `mkfs`, and
/// used by fstab and GRUB.
#[derive(Clone, Debug)]
pub struct Ids {
    /// The GPT disk GUID.
    pub disk: String,
    /// The root partition's PARTUUID (the kernel's `root=PARTUUID=`).
    pub root_part: String,
    /// The root ext4 filesystem's UUID.
    pub root_fs: String,
    /// The ESP's FAT volume id (8 hex digits; `XXXX-XXXX` in fstab).
    pub esp_vol: String,
}

impl Ids {
    /// Fresh random identifiers.
    pub fn random() -> Result<Ids> {
        Ok(Ids {
            disk: uuid()?,
            root_part: uuid()?,
            root_fs: uuid()?,
            esp_vol: {
                let mut b = [0u8; 4];
                fill(&mut b)?;
                hex(&b)
            },
        })
    }

    /// The ESP volume id as fstab and blkid write it: `ABCD-EF01`.
    pub fn esp_fstab(&self) -> String {
        let v = self.esp_vol.to_uppercase();
        format!("{}-{}", &v[..4], &v[4..])
    }
}

fn fill(buf: &mut [u8]) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        done += rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty())
            .context("getrandom")?;
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A random (version 4, RFC 9562) UUID.
fn uuid() -> Result<String> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// The `sfdisk` script of the layout.
pub fn sfdisk_script(ids: &Ids) -> String {
    format!(
        "label: gpt\nlabel-id: {disk}\nunit: sectors\n\n\
         start={bios_start}, size={bios}MiB, type={TYPE_BIOS_BOOT}, name=\"bios-boot\"\n\
         size={esp}MiB, type={TYPE_ESP}, name=\"esp\"\n\
         type={TYPE_ROOT_X86_64}, uuid={root}, name=\"coconut-root\"\n",
        disk = ids.disk,
        bios_start = FIRST_MIB * 2048,
        bios = BIOS_BOOT_MIB,
        esp = ESP_MIB,
        root = ids.root_part,
    )
}

/// The smallest disk a root of `root_bytes` fits on, with room to grow: the partitions before
/// it, the root and a quarter more, and 512 MiB.
pub fn minimum_bytes(root_bytes: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    (FIRST_MIB + BIOS_BOOT_MIB + ESP_MIB + 512) * MIB + root_bytes + root_bytes / 4
}

/// Fails with the reason unless `disk` is a disk of `sys` that is free and large enough.
pub fn check(
    sys: &Path,
    path: &Path,
    root_bytes: u64,
    mountinfo: &str,
    swaps: &str,
) -> Result<Disk> {
    let disks = list(sys)?;
    let name = path
        .strip_prefix("/dev")
        .ok()
        .and_then(|p| p.to_str())
        .unwrap_or_default();
    let Some(disk) = disks.iter().find(|d| d.name == name) else {
        let names: Vec<String> = disks
            .iter()
            .map(|d| format!("{} ({})", d.path().display(), human(d.bytes)))
            .collect();
        if sys.join("block").join(name).exists() {
            bail!(
                "{} is not a disk to install on (an optical drive, loop or RAM device, or a partition); disks here: {}",
                path.display(),
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            );
        }
        bail!(
            "no disk {}; disks here: {}",
            path.display(),
            if names.is_empty() {
                "none — attach one".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let need = minimum_bytes(root_bytes);
    if disk.bytes < need {
        bail!(
            "{} is too small: {}, and this profile needs at least {}",
            path.display(),
            human(disk.bytes),
            human(need)
        );
    }
    let why = in_use(sys, disk, mountinfo, swaps);
    if !why.is_empty() {
        bail!(
            "{} is in use: {}; unmount it (or pick another disk) first",
            path.display(),
            why.join("; ")
        );
    }
    Ok(disk.clone())
}

/// `bytes` for people: `20.0 GiB`, `512 MiB`, in integer arithmetic.
pub fn human(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB {
        let tenths = bytes * 10 / GIB;
        format!("{}.{} GiB", tenths / 10, tenths % 10)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs tree with `vda` (20 GiB, partition vda1), `sr0` and `loop0`.
    fn sys() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let b = t.path().join("block");
        let put = |rel: &str, text: &str| {
            let p = b.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("vda/size", "41943040\n");
        put("vda/removable", "0\n");
        put("vda/dev", "253:0\n");
        put("vda/vda1/partition", "1\n");
        put("vda/vda1/dev", "253:1\n");
        std::fs::create_dir_all(b.join("vda/holders")).unwrap();
        put("sr0/size", "1000000\n");
        put("sr0/dev", "11:0\n");
        put("loop0/size", "600000\n");
        put("nvme0n1/size", "2048\n");
        put("nvme0n1/dev", "259:0\n");
        t
    }

    #[test]
    fn lists_only_disks() {
        let t = sys();
        let d = list(t.path()).unwrap();
        let names: Vec<&str> = d.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "vda"]);
        assert_eq!(d[1].bytes, 20 * 1024 * 1024 * 1024);
    }

    #[test]
    fn partition_names() {
        assert_eq!(partition("vda", 3), PathBuf::from("/dev/vda3"));
        assert_eq!(partition("nvme0n1", 1), PathBuf::from("/dev/nvme0n1p1"));
        assert_eq!(partition("mmcblk0", 2), PathBuf::from("/dev/mmcblk0p2"));
    }

    #[test]
    fn checks_say_why() {
        let t = sys();
        let s = t.path();
        let ok = check(s, Path::new("/dev/vda"), 300 << 20, "", "").unwrap();
        assert_eq!(ok.name, "vda");
        let e = check(s, Path::new("/dev/sr0"), 0, "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a disk to install on"), "{e}");
        let e = check(s, Path::new("/dev/vdz"), 0, "", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("no disk /dev/vdz; disks here: /dev/nvme0n1"),
            "{e}"
        );
        let e = check(s, Path::new("/dev/nvme0n1"), 0, "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small: 1 MiB"), "{e}");
        let e = check(s, Path::new("/dev/vda"), 30 << 30, "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("too small: 20.0 GiB"), "{e}");
        let mounts = "36 25 253:1 / /mnt rw,relatime shared:1 - ext4 /dev/vda1 rw\n";
        let e = check(s, Path::new("/dev/vda"), 0, mounts, "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/vda1 is mounted on /mnt"), "{e}");
        let swaps = "Filename Type Size Used Priority\n/dev/vda1 partition 1 0 -2\n";
        let e = check(s, Path::new("/dev/vda"), 0, "", swaps)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/vda1 is in use as swap"), "{e}");
        std::fs::create_dir_all(s.join("block/vda/holders/dm-0")).unwrap();
        let e = check(s, Path::new("/dev/vda"), 0, "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/vda is held by dm-0"), "{e}");
    }

    #[test]
    fn ids_and_script() {
        let ids = Ids::random().unwrap();
        assert_eq!(ids.root_part.len(), 36);
        assert_eq!(&ids.root_part[14..15], "4");
        assert_eq!(ids.esp_fstab().len(), 9);
        let s = sfdisk_script(&ids);
        assert!(s.contains(&format!("uuid={}", ids.root_part)));
        assert!(s.contains("start=2048, size=1MiB"), "{s}");
        assert!(s.contains(TYPE_ESP));
    }
}
