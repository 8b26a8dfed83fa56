//! Booting a kernel + initramfs in QEMU on the serial console.
//!
//! [`boot`] runs a VM headless, copies every line the guest prints to a log file, stops at a
//! protocol line or a deadline, and always kills QEMU; [`Vm::command`] is also the interactive
//! command line of `cargo xtask qemu`.
//!
//! The accelerator is TCG unless KVM is proven to work: on some hosts `/dev/kvm` exists but a
//! KVM guest hangs while the kernel decompresses, so [`detect_accel`] boots a probe first and
//! remembers the answer per host boot.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::protocol::PROBE_OK;

/// A QEMU accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: always works, slow on computation.
    Tcg,
    /// Hardware virtualisation, used only after a probe boot succeeded.
    Kvm,
}

impl Accel {
    /// The name QEMU and our reports use.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// One VM boot.
#[derive(Clone, Debug)]
pub struct Vm {
    /// The bzImage.
    pub kernel: PathBuf,
    /// The initramfs (gzip-compressed newc cpio).
    pub initramfs: PathBuf,
    /// Extra kernel command-line words (the console is always ttyS0).
    pub append: String,
    /// The accelerator.
    pub accel: Accel,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
}

impl Vm {
    /// A VM with the defaults tests use: 1 GiB, 2 CPUs, two emulated NUMA nodes.
    pub fn new(kernel: &Path, initramfs: &Path, accel: Accel) -> Self {
        Vm {
            kernel: kernel.to_path_buf(),
            initramfs: initramfs.to_path_buf(),
            append: String::new(),
            accel,
            memory_mib: 1024,
            cpus: 2,
        }
    }

    /// The QEMU command line; `interactive` puts serial and monitor on this terminal.
    pub fn command(&self, interactive: bool) -> Result<Command> {
        which::which("qemu-system-x86_64").context(
            "qemu-system-x86_64 is not installed; run `cargo xtask setup` or `sudo apt-get install qemu-system-x86`",
        )?;
        for (what, path) in [("kernel", &self.kernel), ("initramfs", &self.initramfs)] {
            if !path.exists() {
                bail!("{what} {} does not exist", path.display());
            }
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.arg("-accel").arg(self.accel.name());
        if self.accel == Accel::Kvm {
            cmd.args(["-cpu", "host"]);
        } else {
            cmd.args(["-cpu", "max"]);
        }
        let half = self.memory_mib / 2;
        cmd.arg("-m")
            .arg(format!("{}M", self.memory_mib))
            .arg("-smp")
            .arg(self.cpus.to_string())
            // Two NUMA nodes so memory tiers have something to bind to.
            .args(["-object", &format!("memory-backend-ram,id=m0,size={half}M")])
            .args([
                "-object",
                &format!("memory-backend-ram,id=m1,size={}M", self.memory_mib - half),
            ])
            .args(["-numa", "node,nodeid=0,memdev=m0,cpus=0"])
            .args([
                "-numa",
                &format!(
                    "node,nodeid=1,memdev=m1{}",
                    if self.cpus > 1 {
                        format!(",cpus=1-{}", self.cpus - 1)
                    } else {
                        String::new()
                    }
                ),
            ])
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&self.initramfs)
            .arg("-append")
            .arg(format!("console=ttyS0 panic=-1 {}", self.append).trim())
            // Without ACPI `poweroff -f` does not end QEMU; the guest ends with `reboot -f`.
            .arg("-no-reboot");
        if interactive {
            cmd.args(["-nographic", "-serial", "mon:stdio"]);
        } else {
            cmd.args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
        Ok(cmd)
    }
}

/// What a headless boot produced.
#[derive(Debug)]
pub struct Boot {
    /// Every line the guest printed on its serial console (and QEMU on stderr).
    pub lines: Vec<String>,
    /// Whether the stop line was seen.
    pub finished: bool,
    /// Whether the deadline passed first.
    pub timed_out: bool,
    /// How long it took.
    pub elapsed: Duration,
}

/// Boots `vm` headless, copying the console to `log`, until a line contains `stop` (kernel
/// messages can interleave with the guest's output on the console), QEMU exits, or `timeout`
/// passes (then QEMU is killed). Lines QEMU or the guest print after the stop line, until QEMU
/// exits (at most 5 s later), are kept too.
pub fn boot(vm: &Vm, log: &Path, stop: &str, timeout: Duration) -> Result<Boot> {
    run_until(vm.command(false)?, log, stop, timeout)
}

/// The console line of a guest kernel panic: a boot that prints it will not go on (a kernel
/// without `panic=` hangs), so [`run_until`] and [`converse`] stop waiting at once.
pub const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// Runs a headless QEMU command line (its serial console on stdout, stdin null) as [`boot`]
/// does: until a console line contains `stop`, QEMU exits, or `timeout` passes. For boots that
/// [`Vm`] does not describe (an ISO on a CD drive, a disk image, UEFI firmware).
pub fn run_until(mut cmd: Command, log: &Path, stop: &str, timeout: Duration) -> Result<Boot> {
    let mut file = create_log(log)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let tx2 = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                let _ = tx.send(
                    String::from_utf8_lossy(&line)
                        .trim_end_matches('\r')
                        .to_string(),
                );
            }
        }),
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let _ = tx2.send(format!("[qemu] {}", String::from_utf8_lossy(&line)));
            }
        }),
    ];
    let start = Instant::now();
    let mut lines = Vec::new();
    let (mut finished, mut timed_out) = (false, false);
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        match rx.recv_timeout(left) {
            Ok(line) => {
                writeln!(file, "{line}")?;
                let stop_here = line.contains(stop);
                let panicked = line.contains(KERNEL_PANIC);
                lines.push(line);
                if stop_here {
                    finished = true;
                    break;
                }
                if panicked {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // The guest reboots (= QEMU exits) by itself after the stop line; give it a moment.
    let grace = Instant::now();
    while child.try_wait()?.is_none() && grace.elapsed() < Duration::from_secs(5) && !timed_out {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    for reader in readers {
        let _ = reader.join();
    }
    for line in rx.try_iter() {
        writeln!(file, "{line}")?;
        lines.push(line);
    }
    if timed_out {
        writeln!(
            file,
            "[vmtest] deadline of {}s passed; QEMU killed",
            timeout.as_secs()
        )?;
    }
    Ok(Boot {
        lines,
        finished,
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// One exchange of a [`converse`] script: once the console shows `expect` (in a finished line
/// or in the unfinished one, as a prompt is), `send` is typed on the serial console.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Text to wait for.
    pub expect: String,
    /// Text to type (include the `\n`).
    pub send: String,
}

/// Like [`run_until`], but with the serial console on stdin too, typing each [`Exchange`]'s
/// answer in order when its prompt appears. `stop` is looked for only after the last
/// exchange. QEMU is always killed at the end.
pub fn converse(
    mut cmd: Command,
    log: &Path,
    script: &[Exchange],
    stop: &str,
    timeout: Duration,
) -> Result<Boot> {
    use std::io::Read;
    let mut file = create_log(log)?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut lines = Vec::new();
    let mut partial = String::new();
    let mut next = 0;
    let (mut finished, mut timed_out) = (false, false);
    'outer: loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        let chunk = match rx.recv_timeout(left) {
            Ok(c) => c,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        file.write_all(&chunk)?;
        partial.push_str(&String::from_utf8_lossy(&chunk));
        loop {
            // Prompts: the unfinished line (and the finished ones before it in this chunk).
            if let Some(ex) = script.get(next) {
                if partial.contains(&ex.expect) {
                    stdin.write_all(ex.send.as_bytes())?;
                    stdin.flush()?;
                    next += 1;
                    // What was matched is used up.
                    let at = partial.find(&ex.expect).unwrap_or(0) + ex.expect.len();
                    let (done, rest) = partial.split_at(at);
                    lines.extend(done.lines().map(|l| l.trim_end_matches('\r').to_string()));
                    partial = rest.to_string();
                    continue;
                }
            } else if partial.contains(stop) {
                finished = true;
                lines.extend(
                    partial
                        .lines()
                        .map(|l| l.trim_end_matches('\r').to_string()),
                );
                partial.clear();
                break 'outer;
            }
            break;
        }
        // Keep only the unfinished line once no prompt is in the finished ones.
        if let Some(nl) = partial.rfind('\n') {
            let (done, rest) = partial.split_at(nl + 1);
            lines.extend(done.lines().map(|l| l.trim_end_matches('\r').to_string()));
            partial = rest.to_string();
        }
        if lines
            .iter()
            .rev()
            .take(64)
            .any(|l| l.contains(KERNEL_PANIC))
        {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    let _ = reader.join();
    for chunk in rx.try_iter() {
        file.write_all(&chunk)?;
        partial.push_str(&String::from_utf8_lossy(&chunk));
    }
    lines.extend(
        partial
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string()),
    );
    if timed_out {
        writeln!(
            file,
            "\n[vmtest] deadline of {}s passed; QEMU killed (exchanges done: {next} of {})",
            timeout.as_secs(),
            script.len()
        )?;
    }
    Ok(Boot {
        lines,
        finished,
        timed_out,
        elapsed: start.elapsed(),
    })
}

/// Creates the console log `log` and its directory.
fn create_log(log: &Path) -> Result<std::fs::File> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))
}

/// The last `n` lines, joined, for failure messages.
pub fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Chooses the accelerator: `$COCONUT_ACCEL` (`tcg`/`kvm`) if set, else KVM only if a probe boot
/// of this kernel reaches the initramfs within 20 s. The answer is remembered per host boot in
/// `cache_file`.
pub fn detect_accel(kernel: &Path, initramfs: &Path, cache_file: &Path) -> Result<Accel> {
    match std::env::var("COCONUT_ACCEL").as_deref() {
        Ok("tcg") => return Ok(Accel::Tcg),
        Ok("kvm") => return Ok(Accel::Kvm),
        Ok(other) if !other.is_empty() => {
            bail!("COCONUT_ACCEL must be `tcg` or `kvm`, not `{other}`")
        }
        _ => {}
    }
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return Ok(Accel::Tcg);
    }
    let host_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let host_boot = host_boot.trim();
    if let Ok(text) = std::fs::read_to_string(cache_file) {
        if let Some(answer) = text.strip_prefix(host_boot).map(str::trim) {
            return Ok(if answer == "kvm" {
                Accel::Kvm
            } else {
                Accel::Tcg
            });
        }
    }
    let mut vm = Vm::new(kernel, initramfs, Accel::Kvm);
    vm.append = "coconut.probe=1".into();
    vm.memory_mib = 512;
    let log = cache_file.with_extension("log");
    let probe = boot(&vm, &log, PROBE_OK, Duration::from_secs(20))?;
    let accel = if probe.finished {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    if accel == Accel::Tcg {
        eprintln!(
            "note: /dev/kvm exists but a KVM guest did not boot within 20 s; using TCG (log: {})",
            log.display()
        );
    }
    if let Some(dir) = cache_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(cache_file, format!("{host_boot} {}\n", accel.name()))?;
    Ok(accel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_takes_the_last_lines() {
        let lines: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(tail(&lines, 2), "3\n4");
        assert_eq!(tail(&lines, 10), "0\n1\n2\n3\n4");
    }
}
