//! A software TPM 2.0 (Debian's `swtpm`) for the image tier's installed machine.
//!
//! The installed disk has a TPM of its own: its state directory lives beside the disk image
//! and is made new with it, so every boot of that disk sees the same TPM (its persistent
//! storage key, the sealed audit seed's parent) the way a real machine would. QEMU talks to
//! it over swtpm's control socket (`-tpmdev emulator`) and shows the guest a TIS device,
//! which the firmware's ACPI tables describe.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A running swtpm, killed when dropped (it also ends when QEMU closes its socket).
pub struct Swtpm {
    child: Child,
    socket: PathBuf,
}

impl Swtpm {
    /// Starts swtpm on the TPM state in `state` (created if missing), waiting until its control
    /// socket exists.
    pub fn start(state: &Path) -> Result<Swtpm> {
        std::fs::create_dir_all(state)
            .with_context(|| format!("creating the TPM state directory {}", state.display()))?;
        let socket = state.join("swtpm.sock");
        let _ = std::fs::remove_file(&socket);
        let log = state.join("swtpm.log");
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--terminate"])
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .arg("--log")
            .arg(format!("file={},level=1", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting swtpm (installed by `cargo xtask setup`)")?;
        let mut tpm = Swtpm { child, socket };
        let start = Instant::now();
        while !tpm.socket.exists() {
            if let Some(status) = tpm.child.try_wait()? {
                bail!(
                    "swtpm exited ({status}) before opening {}; its log: {}",
                    tpm.socket.display(),
                    log.display()
                );
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("swtpm did not open {} within 10 s", tpm.socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tpm)
    }

    /// QEMU's arguments attaching this TPM as a TIS device.
    pub fn qemu_args(&self) -> Vec<String> {
        vec![
            "-chardev".into(),
            format!("socket,id=chrtpm,path={}", self.socket.display()),
            "-tpmdev".into(),
            "emulator,id=tpm0,chardev=chrtpm".into(),
            "-device".into(),
            "tpm-tis,tpmdev=tpm0".into(),
        ]
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TPM state directory of the installed disk image `disk`.
pub fn state_of(disk: &Path) -> PathBuf {
    disk.with_extension("tpm")
}
