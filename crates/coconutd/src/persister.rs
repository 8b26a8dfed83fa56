//! The audit persister: starts the kernel's audit chain at boot and keeps it on disk.
//!
//! Job: at start, before any service, [`Persister::start`] takes this boot's number from the
//! boot counter (`<state>/boot`), loads the soft seed (`<state>/seed`) into the kernel through a
//! short-lived `user` key, and writes `/agent/audit/link` naming the previous boot's last
//! persisted row, which starts the chain. Then, on coconutd's poll loop, [`Persister::pump`]
//! reads new `chain.log` lines, appends them to `<log>/<boot>-<first_seq>.log`, `fdatasync`s,
//! and acknowledges the first not-yet-durable sequence number in `/agent/audit/persisted`; a
//! shard past [`AuditConfig::shard_max`] is compressed to `.log.zst`. At orderly shutdown
//! [`Persister::shutdown`] asks the kernel for a final checkpoint (`/agent/audit/seal`) and
//! drains `chain.log` to disk. `docs/coconutd.md` ("The audit persister") is the specification.
//!
//! Constraints: single-threaded, on the daemon's loop: every step is bounded (at most
//! [`READS_PER_TURN`] reads of [`READ_CHUNK`] bytes a turn; compressing one shard is the
//! longest step, ~20 ms for 4 MiB at zstd level 3), and nothing here blocks on the kernel.
//! Nothing is fatal: every failure is logged with its path, kept in the status, and retried
//! with backoff. A row is acknowledged only after it is durable in a shard, so on a full disk or
//! an I/O error the kernel keeps it (its arena stalls and back-pressures appenders) and nothing
//! is lost. The only `unsafe` is the two key syscalls (`add_key`, `keyctl`).

use std::ffi::{c_long, CStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::proto::AuditStatus;
use super::supervisor::LogFn;
use super::tpm;

/// The kernel's audit directory (agentfs).
pub const DEFAULT_AGENT_DIR: &str = "/agent/audit";
/// The boot counter and the soft seed.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/coconut/audit";
/// The persisted chain: one shard file per `<boot>-<first_seq>`.
pub const DEFAULT_LOG_DIR: &str = "/var/log/coconut/audit";
/// The machine id the seed line names.
pub const DEFAULT_MACHINE_ID: &str = "/etc/machine-id";
/// The kernel's TPM resource manager: when it exists, the seed is sealed to the TPM.
pub const DEFAULT_TPM: &str = "/dev/tpmrm0";
/// A shard past this many bytes is compressed and a new one begun (4 MiB).
pub const DEFAULT_SHARD_MAX: u64 = 4 << 20;
/// How often `chain.log` is read when the last read found nothing more.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
/// One read of `chain.log`.
pub const READ_CHUNK: usize = 64 * 1024;
/// Most reads of `chain.log` in one turn of the loop (1 MiB), for the loop's other work.
pub const READS_PER_TURN: usize = 16;
/// Lines read but not yet durable past which `chain.log` is not read further.
const BACKLOG_MAX: usize = 4 << 20;
/// A `chain.log` line is under 1 KiB; a "line" longer than this without a newline is not one.
const LINE_MAX: usize = 64 * 1024;
/// The first retry delay after an error, doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// The longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long shutdown keeps trying to drain `chain.log` to a failing disk.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// The seed's length.
pub const SEED_LEN: usize = 32;
/// The description of the seed's `user` key, which the kernel looks up.
pub const SEED_KEY: &CStr = c"coconut:audit-seed";

/// Where the persister reads and writes. [`AuditConfig::system`] is the booted system's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The kernel's files: `chain.log`, `stats`, `link`, `persisted`, `seed`, `seal`.
    pub agent_dir: PathBuf,
    /// `boot` (the boot counter) and `seed` (the soft seed).
    pub state_dir: PathBuf,
    /// The shards.
    pub log_dir: PathBuf,
    /// `/etc/machine-id`, created when missing.
    pub machine_id: PathBuf,
    /// The TPM device ([`DEFAULT_TPM`]); absent: the soft seed.
    pub tpm: PathBuf,
    /// See [`DEFAULT_SHARD_MAX`].
    pub shard_max: u64,
    /// See [`IDLE_POLL`].
    pub idle_poll: Duration,
    /// See [`SHUTDOWN_DRAIN`].
    pub shutdown_drain: Duration,
}

impl AuditConfig {
    /// The booted system's paths and limits.
    pub fn system() -> AuditConfig {
        AuditConfig {
            agent_dir: DEFAULT_AGENT_DIR.into(),
            state_dir: DEFAULT_STATE_DIR.into(),
            log_dir: DEFAULT_LOG_DIR.into(),
            machine_id: DEFAULT_MACHINE_ID.into(),
            tpm: DEFAULT_TPM.into(),
            shard_max: DEFAULT_SHARD_MAX,
            idle_poll: IDLE_POLL,
            shutdown_drain: SHUTDOWN_DRAIN,
        }
    }
}

/// A shard's name: `<boot>-<first_seq>.log` or `.log.zst`, decimal without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShardName {
    /// The boot of every line in it.
    pub boot: u64,
    /// Its first line's seq.
    pub first_seq: u64,
    /// Whether it is compressed (closed for good).
    pub zst: bool,
}

fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

impl ShardName {
    /// Parses a file name; anything else in the directory is not a shard.
    pub fn parse(name: &str) -> Option<ShardName> {
        let (stem, zst) = match name.strip_suffix(".log.zst") {
            Some(s) => (s, true),
            None => (name.strip_suffix(".log")?, false),
        };
        let (boot, first) = stem.split_once('-')?;
        Some(ShardName {
            boot: decimal(boot)?,
            first_seq: decimal(first)?,
            zst,
        })
    }

    /// The file name.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.log{}",
            self.boot,
            self.first_seq,
            if self.zst { ".zst" } else { "" }
        )
    }
}

/// The keys of a `chain.log` line the persister needs (serde_json; the other keys are the
/// verifier's business, so a line of a newer kernel with kinds this build does not know is
/// still persisted).
#[derive(Debug, Deserialize)]
struct LineKeys {
    seq: u64,
    boot: u64,
    hash: String,
}

fn line_keys(line: &[u8]) -> Option<LineKeys> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let k: LineKeys = serde_json::from_slice(line).ok()?;
    let hex_ok = k.hash.len() == 64
        && k.hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    hex_ok.then_some(k)
}

/// The last line of `bytes` that has the keys of a `chain.log` line.
fn last_row(bytes: &[u8]) -> Option<LineKeys> {
    bytes
        .split(|b| *b == b'\n')
        .rev()
        .filter(|l| !l.is_empty())
        .find_map(line_keys)
}

/// The errno's name, for messages that name the kernel's answer.
fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EBUSY) => "EBUSY",
        Some(libc::EPERM) => "EPERM",
        Some(libc::EACCES) => "EACCES",
        Some(libc::ENOKEY) => "ENOKEY",
        Some(libc::EKEYREJECTED) => "EKEYREJECTED",
        Some(libc::E2BIG) => "E2BIG",
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENOSYS) => "ENOSYS",
        Some(libc::EIO) => "EIO",
        Some(libc::ENOTDIR) => "ENOTDIR",
        Some(libc::EEXIST) => "EEXIST",
        Some(libc::EDQUOT) => "EDQUOT",
        Some(libc::ENODATA) => "ENODATA",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
        Some(libc::EINTR) => "EINTR",
        _ => return e.to_string(),
    };
    format!("{name}: {e}")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` durably: a temporary file in the same directory, written and fsynced,
/// renamed over `path`, then the directory fsynced. A crash leaves the old or the new content.
fn replace_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

fn make_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes one line to a kernel control file in one `write(2)` (the kernel takes each line
/// whole, at offset 0, from a fresh open).
fn write_control(path: &Path, line: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    let n = f.write(line)?;
    if n != line.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", line.len()),
        ));
    }
    Ok(())
}

fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `add_key("user", desc, payload, KEY_SPEC_PROCESS_KEYRING)`: the key's serial.
fn add_user_key(desc: &CStr, payload: &[u8]) -> io::Result<i32> {
    add_key(c"user", desc, payload)
}

/// `add_key(kind, desc, payload, KEY_SPEC_PROCESS_KEYRING)`: the key's serial.
fn add_key(kind: &CStr, desc: &CStr, payload: &[u8]) -> io::Result<i32> {
    // SAFETY: add_key(2) reads the three NUL-terminated strings and `payload.len()` bytes at
    // `payload`, all of which live for the call, and writes no user memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            libc::KEY_SPEC_PROCESS_KEYRING,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    i32::try_from(r).map_err(|_| io::Error::other(format!("add_key returned serial {r}")))
}

/// `keyctl(KEYCTL_READ)` of a key: its payload as the key type shows it (a `trusted` key: the
/// sealed blob in hex).
fn read_key(serial: i32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: KEYCTL_READ writes at most `buf.len()` bytes into `buf`, which lives for the
    // call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            c_long::from(libc::KEYCTL_READ),
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(r).unwrap_or(usize::MAX);
    if n > buf.len() {
        return Err(io::Error::other(format!(
            "the key holds {n} bytes, over 16 KiB"
        )));
    }
    buf.truncate(n);
    Ok(buf)
}

/// `keyctl(op, a, b)` for the operations that take two integers (INVALIDATE, UNLINK).
fn keyctl(op: u32, a: i32, b: i32) -> io::Result<()> {
    // SAFETY: KEYCTL_INVALIDATE and KEYCTL_UNLINK take integer arguments only and touch no
    // user memory.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, c_long::from(op), a, b) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `/agent/audit/stats`, the two keys the persister reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KernelState {
    started: bool,
    boot: u64,
}

fn read_stats(path: &Path) -> Option<KernelState> {
    let text = fs::read_to_string(path).ok()?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .and_then(decimal)
    };
    Some(KernelState {
        started: get("started")? == 1,
        boot: get("boot")?,
    })
}

/// Rows the kernel no longer had when the persister asked (evicted before its first ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    boot: u64,
    from: u64,
    to: u64,
}

/// The shard being appended to.
#[derive(Debug)]
struct Shard {
    name: ShardName,
    path: PathBuf,
    /// `None` after a write error: reopened and cut back to `good_len` before the next write.
    file: Option<File>,
    /// Bytes written, durable or not.
    len: u64,
    /// Bytes known durable (fdatasync returned).
    good_len: u64,
}

enum Progress {
    /// `chain.log` may have more right now (a read filled its buffer).
    More,
    /// Caught up.
    Idle,
}

/// The persister. See the module documentation.
pub struct Persister {
    cfg: AuditConfig,
    log: LogFn,
    boot: u64,
    chain: Option<File>,
    partial: Vec<u8>,
    backlog: Vec<u8>,
    shard: Option<Shard>,
    /// The first seq not yet durable (of `boot`).
    committed_seq: u64,
    acked: Option<u64>,
    ack_note: Option<String>,
    ack_errno: Option<i32>,
    compress_queue: Vec<PathBuf>,
    compress_error: Option<String>,
    due: Instant,
    backoff: Duration,
    error: Option<String>,
    gaps: Vec<Gap>,
    rows: u64,
    malformed: u64,
    seed: String,
    link: String,
}

impl std::fmt::Debug for Persister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persister")
            .field("cfg", &self.cfg)
            .field("boot", &self.boot)
            .field("committed_seq", &self.committed_seq)
            .finish_non_exhaustive()
    }
}

impl Persister {
    /// Starts this boot's chain (boot counter, seed, link) and readies persisting, resuming
    /// where the shards of this boot end. Never fails: what goes wrong is logged and kept in
    /// [`Persister::status`].
    pub fn start(cfg: AuditConfig, log: LogFn) -> Persister {
        let mut p = Persister {
            cfg,
            log,
            boot: 0,
            chain: None,
            partial: Vec::new(),
            backlog: Vec::new(),
            shard: None,
            committed_seq: 0,
            acked: None,
            ack_note: None,
            ack_errno: None,
            compress_queue: Vec::new(),
            compress_error: None,
            due: Instant::now(),
            backoff: BACKOFF_MIN,
            error: None,
            gaps: Vec::new(),
            rows: 0,
            malformed: 0,
            seed: "not loaded".into(),
            link: "not written".into(),
        };
        let kernel = read_stats(&p.cfg.agent_dir.join("stats"));
        let shards = p.tidy_log_dir();
        match kernel {
            Some(k) if k.started => {
                p.log(&format!(
                    "the kernel's chain of boot {} was started already (coconut.audit_boot= on \
                     the kernel command line, or coconutd restarted); persisting it",
                    k.boot
                ));
                p.boot = k.boot;
                p.link = format!("started before coconutd (boot {})", k.boot);
                p.keep_counter_at_least(k.boot);
            }
            _ => p.boot = p.next_boot(&shards),
        }
        p.load_seed();
        if !kernel.is_some_and(|k| k.started) {
            p.write_link(&shards);
        }
        p.resume(&shards);
        for s in &shards {
            let current = p.shard.as_ref().is_some_and(|c| c.name == *s);
            if !s.zst && !current {
                p.compress_queue.push(p.cfg.log_dir.join(s.file_name()));
            }
        }
        // Acknowledging registers the persister: from now on the kernel evicts no row we
        // have not made durable.
        p.ack(p.committed_seq);
        p
    }

    fn log(&mut self, msg: &str) {
        (self.log)(msg);
    }

    /// This boot's number.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    /// When [`Persister::pump`] next has work.
    pub fn next_deadline(&self) -> Instant {
        self.due
    }

    /// Persists what `chain.log` has, if the timer is due; errors are retried with backoff.
    pub fn pump(&mut self, now: Instant) {
        if now < self.due {
            return;
        }
        match self.step() {
            Ok(Progress::More) => {
                self.recovered();
                self.due = now;
            }
            Ok(Progress::Idle) => {
                self.recovered();
                self.due = now + self.cfg.idle_poll;
            }
            Err(e) => {
                if self.error.as_deref() != Some(e.as_str()) {
                    self.log(&format!(
                        "{e}; retrying with backoff (the kernel keeps the rows not \
                         acknowledged)"
                    ));
                }
                self.error = Some(e);
                self.due = now + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    fn recovered(&mut self) {
        if self.error.take().is_some() {
            let seq = self.committed_seq;
            self.log(&format!(
                "persisting again: boot {} is durable up to seq {seq}",
                self.boot
            ));
        }
        self.backoff = BACKOFF_MIN;
    }

    /// Orderly shutdown, after every service has stopped: drains `chain.log` to disk, asks
    /// the kernel to seal a final checkpoint (when `seal`: PID 1 only), and drains again so
    /// the checkpoint row is on disk too.
    ///
    /// The first drain matters: writing `seal` waits until the checkpoint row is sealed, and
    /// a sealer whose arena is full of unacknowledged rows waits for us, so sealing with rows
    /// not acknowledged could wait forever. So when the first drain fails (a full disk),
    /// there is no final checkpoint, and the log says so.
    pub fn shutdown(&mut self, seal: bool) {
        let drained = self.drain();
        if seal {
            if drained {
                self.seal();
                self.drain();
            } else {
                self.log(
                    "no final checkpoint: rows are not persisted, and the kernel could not \
                     seal one while its arena waits for them",
                );
            }
        }
        let shard = self
            .shard
            .as_ref()
            .map_or("none".to_string(), |s| s.path.display().to_string());
        let seq = self.committed_seq;
        self.log(&format!(
            "boot {} persisted up to seq {seq} (shard {shard})",
            self.boot
        ));
    }

    fn seal(&mut self) {
        let path = self.cfg.agent_dir.join("seal");
        match write_control(&path, b"1\n") {
            Ok(()) => self.log("sealed a final checkpoint"),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.log(&format!(
                "{} does not exist on this kernel: no final checkpoint",
                path.display()
            )),
            Err(e) if e.raw_os_error() == Some(libc::ENOKEY) => self.log(&format!(
                "{}: ENOKEY: no checkpoint key this boot (the seed was not loaded): no final \
                 checkpoint",
                path.display()
            )),
            Err(e) => self.log(&format!(
                "{}: {}: no final checkpoint",
                path.display(),
                errno_name(&e)
            )),
        }
    }

    /// Persists everything `chain.log` has; retries a failing disk for
    /// [`AuditConfig::shutdown_drain`]. Whether everything read is durable and acknowledged.
    fn drain(&mut self) -> bool {
        let deadline = Instant::now() + self.cfg.shutdown_drain;
        loop {
            let result = self.step();
            let late = Instant::now() >= deadline;
            match result {
                Ok(Progress::Idle) => {
                    self.recovered();
                    return true;
                }
                Ok(Progress::More) if !late => {}
                Ok(Progress::More) => {
                    self.log("chain.log still grows at the shutdown deadline; stopping there");
                    return false;
                }
                Err(e) => {
                    let first = self.error.as_deref() != Some(e.as_str());
                    self.error = Some(e.clone());
                    if self.backlog.is_empty() {
                        // chain.log itself cannot be read: nothing to wait for.
                        if first {
                            self.log(&e);
                        }
                        return false;
                    }
                    if late {
                        self.log(&format!(
                            "{e}; giving up at shutdown: rows of boot {} from seq {} are not \
                             persisted",
                            self.boot, self.committed_seq
                        ));
                        return false;
                    }
                    if first {
                        self.log(&format!("{e}; retrying until the shutdown deadline"));
                    }
                    std::thread::sleep(BACKOFF_MIN);
                }
            }
        }
    }

    /// The persister's part of `coconut status`.
    pub fn status(&self) -> AuditStatus {
        AuditStatus {
            boot: self.boot,
            persisted_seq: self.committed_seq,
            acked: self.acked,
            shard: self.shard.as_ref().map(|s| s.path.display().to_string()),
            rows: self.rows,
            last_error: self
                .error
                .as_ref()
                .map(|e| format!("{e}; retrying (the kernel keeps the rows not acknowledged)"))
                .or_else(|| self.compress_error.clone())
                .or_else(|| self.ack_note.clone()),
            gaps: self
                .gaps
                .iter()
                .map(|g| {
                    format!(
                        "boot {} seq {}..={}: evicted by the kernel before the persister \
                         registered",
                        g.boot, g.from, g.to
                    )
                })
                .collect(),
            malformed_lines: self.malformed,
            seed: self.seed.clone(),
            link: self.link.clone(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Start

    /// Lists the shards, after removing what a crash can leave: temporary files, a plain
    /// shard whose `.zst` is complete, and a torn last line.
    fn tidy_log_dir(&mut self) -> Vec<ShardName> {
        let dir = self.cfg.log_dir.clone();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.log(&format!(
                    "cannot list the audit log directory {}: {}",
                    dir.display(),
                    errno_name(&e)
                ));
                return Vec::new();
            }
        };
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            } else if let Some(s) = ShardName::parse(&name) {
                names.push(s);
            }
        }
        names.sort();
        let mut out: Vec<ShardName> = Vec::new();
        for s in names {
            if s.zst {
                if out
                    .last()
                    .is_some_and(|p| !p.zst && (p.boot, p.first_seq) == (s.boot, s.first_seq))
                {
                    // The .zst was renamed into place after its fsync: it is complete.
                    let plain = out.pop().map(|p| dir.join(p.file_name()));
                    if let Some(plain) = plain {
                        let _ = fs::remove_file(plain);
                    }
                }
                out.push(s);
                continue;
            }
            let path = dir.join(s.file_name());
            match cut_torn_tail(&path) {
                Ok(0) => {}
                Ok(cut) => self.log(&format!(
                    "{}: cut a torn last line ({cut} bytes, from a crash or power loss); \
                     rows of this boot are read again from the kernel while it has them",
                    path.display()
                )),
                Err(e) => self.log(&format!(
                    "{}: cannot repair its last line: {}",
                    path.display(),
                    errno_name(&e)
                )),
            }
            out.push(s);
        }
        out
    }

    /// Increments the boot counter durably and returns the new boot's number: the counter
    /// plus one (0 when there is none), and never a boot that shards already have.
    fn next_boot(&mut self, shards: &[ShardName]) -> u64 {
        let path = self.cfg.state_dir.join("boot");
        let stored = match fs::read_to_string(&path) {
            Ok(t) => match decimal(t.trim_end_matches('\n')) {
                Some(n) => Some(n),
                None => {
                    self.log(&format!(
                        "{}: not a decimal boot number ({:?}); counting on from the shards",
                        path.display(),
                        t.chars().take(40).collect::<String>()
                    ));
                    None
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.log(&format!(
                    "cannot read the boot counter {}: {}; counting on from the shards",
                    path.display(),
                    errno_name(&e)
                ));
                None
            }
        };
        let after_counter = stored.map_or(0, |n| n.saturating_add(1));
        let after_shards = shards
            .iter()
            .map(|s| s.boot.saturating_add(1))
            .max()
            .unwrap_or(0);
        let boot = after_counter.max(after_shards);
        if let Err(e) = self.store_counter(boot) {
            self.log(&format!(
                "cannot save the boot counter {}: {}; this is boot {boot}, and the next boot \
                 may get the same number",
                path.display(),
                errno_name(&e)
            ));
        }
        boot
    }

    fn store_counter(&self, boot: u64) -> io::Result<()> {
        make_dir(&self.cfg.state_dir)?;
        replace_file(
            &self.cfg.state_dir.join("boot"),
            format!("{boot}\n").as_bytes(),
            0o600,
        )
    }

    fn keep_counter_at_least(&mut self, boot: u64) {
        let path = self.cfg.state_dir.join("boot");
        let stored = fs::read_to_string(&path)
            .ok()
            .and_then(|t| decimal(t.trim_end_matches('\n')));
        if stored.is_some_and(|n| n >= boot) {
            return;
        }
        if let Err(e) = self.store_counter(boot) {
            self.log(&format!(
                "cannot save the boot counter {}: {}",
                path.display(),
                errno_name(&e)
            ));
        }
    }

    /// Loads the soft seed into the kernel: a `user` key in our process keyring, the kernel
    /// told to take it by writing `/agent/audit/seed`, the key revoked.
    fn load_seed(&mut self) {
        let target = self.cfg.agent_dir.join("seed");
        if !target.exists() {
            self.seed = format!(
                "not loaded: {} does not exist on this kernel (no checkpoints)",
                target.display()
            );
            let s = self.seed.clone();
            self.log(&s);
            return;
        }
        let machine = self.machine_id();
        // With a TPM: a `trusted` key sealed by it; without one, or when it fails, the soft seed.
        let mut source = String::new();
        if self.cfg.tpm.exists() {
            match self.tpm_seed() {
                Ok((serial, how)) => {
                    self.offer_seed("trusted", serial, &machine, &format!("tpm ({how})"));
                    return;
                }
                Err(e) => {
                    source = format!("soft (TPM unusable: {e})");
                    self.log(&format!(
                        "the TPM at {} cannot seal the audit seed: {e}; using the soft seed \
                         (the chain then guards against accidents only)",
                        self.cfg.tpm.display()
                    ));
                }
            }
        }
        let mut seed = match self.soft_seed() {
            Ok(s) => s,
            Err(e) => {
                self.seed = format!("not loaded: {e} (no checkpoints this boot)");
                let s = self.seed.clone();
                self.log(&s);
                return;
            }
        };
        let serial = add_user_key(SEED_KEY, &seed);
        seed.fill(0);
        std::hint::black_box(&seed);
        let serial = match serial {
            Ok(s) => s,
            Err(e) => {
                self.seed = format!(
                    "not loaded: add_key(user, {}): {} (no checkpoints this boot)",
                    SEED_KEY.to_string_lossy(),
                    errno_name(&e)
                );
                let s = self.seed.clone();
                self.log(&s);
                return;
            }
        };
        self.offer_seed("user", serial, &machine, &source);
    }

    /// Tells the kernel to take the seed key `serial` of `kind` (`user` or `trusted`), then
    /// revokes it; `source` (may be empty) prefixes the status.
    fn offer_seed(&mut self, kind: &str, serial: i32, machine: &str, source: &str) {
        let target = self.cfg.agent_dir.join("seed");
        let line = format!("type={kind} machine={machine}\n");
        let outcome = write_control(&target, line.as_bytes());
        let revoked = keyctl(libc::KEYCTL_INVALIDATE, serial, 0)
            .or_else(|_| keyctl(libc::KEYCTL_UNLINK, serial, libc::KEY_SPEC_PROCESS_KEYRING));
        if let Err(e) = revoked {
            self.log(&format!(
                "cannot revoke the seed key {serial} ({}); it stays in coconutd's process \
                 keyring",
                errno_name(&e)
            ));
        }
        let status = match outcome {
            Ok(()) => "loaded (checkpoints are signed this boot)".into(),
            Err(e) => {
                let why = match e.raw_os_error() {
                    Some(libc::EBUSY) => "a seed was loaded already this boot",
                    Some(libc::ENOKEY) => "the kernel did not find the key",
                    Some(libc::EKEYREJECTED) => "the kernel refused the key's size",
                    Some(libc::EINVAL) => "the kernel refused the line as malformed",
                    Some(libc::EPERM) => "coconutd lacks CAP_AUDIT_CONTROL",
                    _ => "the kernel refused it",
                };
                format!(
                    "not loaded: {}: {}: {why}",
                    target.display(),
                    errno_name(&e)
                )
            }
        };
        self.seed = if source.is_empty() {
            status
        } else {
            format!("{source}: {status}")
        };
        let s = self.seed.clone();
        self.log(&format!("seed: {s}"));
    }

    /// The seed as a `trusted` key sealed by the TPM: the storage root key made if missing,
    /// then `<state>/seed.blob` unsealed, or a new seed sealed and its blob saved. The key's
    /// serial and how it came (`blob unsealed`, `new blob sealed`, …), or why the TPM cannot.
    fn tpm_seed(&mut self) -> Result<(i32, String), String> {
        let mut dev = tpm::Device::open(&self.cfg.tpm)
            .map_err(|e| format!("cannot open {}: {}", self.cfg.tpm.display(), errno_name(&e)))?;
        if tpm::ensure_srk(&mut dev).map_err(|e| e.to_string())? {
            self.log(&format!(
                "created the TPM's storage root key at {:#x} (the audit seed's parent)",
                tpm::SRK_HANDLE
            ));
        }
        let handle = format!("keyhandle={:#x}", tpm::SRK_HANDLE);
        let blob_path = self.cfg.state_dir.join("seed.blob");
        let mut how = "new blob sealed".to_owned();
        match fs::read_to_string(&blob_path) {
            Ok(blob) => {
                let payload = format!("load {} {handle}", blob.trim());
                match add_key(c"trusted", SEED_KEY, payload.as_bytes()) {
                    Ok(serial) => return Ok((serial, "blob unsealed".into())),
                    Err(e) => {
                        // Another TPM, or this one cleared: the old seed is gone for good.
                        let aside = self
                            .cfg
                            .state_dir
                            .join(format!("seed.blob.unloadable-{}", self.boot));
                        let _ = fs::rename(&blob_path, &aside);
                        how = format!(
                            "new blob sealed: the TPM would not unseal the old one ({}), moved \
                             to {}; the checkpoint key changes at this boot",
                            errno_name(&e),
                            aside.display()
                        );
                        self.log(&format!("audit seed: {how}"));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "cannot read {}: {}",
                    blob_path.display(),
                    errno_name(&e)
                ))
            }
        }
        let payload = format!("new {SEED_LEN} {handle}");
        let serial = add_key(c"trusted", SEED_KEY, payload.as_bytes()).map_err(|e| {
            format!(
                "add_key(trusted, {payload}): {} (a kernel without trusted keys?)",
                errno_name(&e)
            )
        })?;
        let saved = read_key(serial).and_then(|blob| {
            make_dir(&self.cfg.state_dir).and_then(|()| replace_file(&blob_path, &blob, 0o600))
        });
        if let Err(e) = saved {
            how = format!(
                "{how}; its blob could not be saved to {} ({}): the next boot seals another",
                blob_path.display(),
                errno_name(&e)
            );
            self.log(&format!("audit seed: {how}"));
        }
        Ok((serial, how))
    }

    /// Reads `<state>/seed`, creating it (32 random bytes, mode 0600) when missing.
    fn soft_seed(&mut self) -> Result<[u8; SEED_LEN], String> {
        let path = self.cfg.state_dir.join("seed");
        match fs::read(&path) {
            Ok(bytes) => {
                let mode = fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o777);
                if mode & 0o077 != 0 {
                    self.log(&format!(
                        "{} is open to others (mode {mode:o}); it should be 0600",
                        path.display()
                    ));
                }
                <[u8; SEED_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                    format!(
                        "{} has {} bytes, not {SEED_LEN}; left as it is",
                        path.display(),
                        bytes.len()
                    )
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut seed = [0u8; SEED_LEN];
                getrandom(&mut seed).map_err(|e| format!("getrandom: {e}"))?;
                make_dir(&self.cfg.state_dir)
                    .and_then(|()| replace_file(&path, &seed, 0o600))
                    .map_err(|e| format!("cannot create {}: {}", path.display(), errno_name(&e)))?;
                self.log(&format!(
                    "created a new audit seed; pin the key with `coconut audit key` ({})",
                    path.display()
                ));
                Ok(seed)
            }
            Err(e) => Err(format!(
                "cannot read {}: {}",
                path.display(),
                errno_name(&e)
            )),
        }
    }

    /// The 32 lowercase hex digits of the machine id, creating the file when it is missing,
    /// empty or `uninitialized` (what a freshly built image ships: the id is made on the
    /// machine's first boot, as systemd-machine-id-setup(1) does).
    fn machine_id(&mut self) -> String {
        let zeros = "0".repeat(32);
        let path = self.cfg.machine_id.clone();
        match fs::read_to_string(&path) {
            Ok(t) if !matches!(t.trim(), "" | "uninitialized") => {
                let id = t.trim();
                if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return id.to_string();
                }
                self.log(&format!(
                    "{} is not 32 lowercase hex digits; the seed line names machine {zeros}",
                    path.display()
                ));
                zeros
            }
            Ok(_) => self.new_machine_id(&path, &zeros),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.new_machine_id(&path, &zeros),
            Err(e) => {
                self.log(&format!(
                    "cannot read {} ({}); the seed line names machine {zeros}",
                    path.display(),
                    errno_name(&e)
                ));
                zeros
            }
        }
    }

    /// Writes a new random machine id to `path`; `zeros` if it cannot.
    fn new_machine_id(&mut self, path: &Path, zeros: &str) -> String {
        let mut raw = [0u8; 16];
        let made = getrandom(&mut raw).and_then(|()| {
            let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            replace_file(path, format!("{id}\n").as_bytes(), 0o444).map(|()| id)
        });
        match made {
            Ok(id) => {
                self.log(&format!("created {} ({id})", path.display()));
                id
            }
            Err(e) => {
                self.log(&format!(
                    "{} cannot be created ({}); the seed line names machine {zeros}",
                    path.display(),
                    errno_name(&e)
                ));
                zeros.to_string()
            }
        }
    }

    /// The line for `/agent/audit/link`: this boot, and the last persisted row of the newest
    /// earlier boot, if any.
    fn link_line(&mut self, shards: &[ShardName]) -> String {
        let boot = self.boot;
        let mut earlier: Vec<&ShardName> = shards.iter().filter(|s| s.boot < boot).collect();
        earlier.sort();
        let Some(prev_boot) = earlier.last().map(|s| s.boot) else {
            return format!("boot={boot}\n");
        };
        for s in earlier.iter().rev().take_while(|s| s.boot == prev_boot) {
            let path = self.cfg.log_dir.join(s.file_name());
            match read_shard(&path) {
                Ok(bytes) => {
                    if let Some(k) = last_row(&bytes) {
                        if k.boot == prev_boot {
                            return format!(
                                "boot={boot} prev_boot={prev_boot} prev_seq={} prev_head={}\n",
                                k.seq, k.hash
                            );
                        }
                    }
                }
                Err(e) => self.log(&format!(
                    "cannot read {} for the link: {}",
                    path.display(),
                    errno_name(&e)
                )),
            }
        }
        self.log(&format!(
            "no readable row of boot {prev_boot} in {}; this boot's chain is not linked to it",
            self.cfg.log_dir.display()
        ));
        format!("boot={boot}\n")
    }

    /// Starts the chain.
    fn write_link(&mut self, shards: &[ShardName]) {
        let path = self.cfg.agent_dir.join("link");
        let line = self.link_line(shards);
        let mut attempt = write_control(&path, line.as_bytes());
        let plain = format!("boot={}\n", self.boot);
        if attempt
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EINVAL))
            && line != plain
        {
            self.log(&format!(
                "{}: EINVAL for {:?}; starting the chain unlinked",
                path.display(),
                line.trim_end()
            ));
            attempt = write_control(&path, plain.as_bytes());
            if attempt.is_ok() {
                self.link = format!("{} (the link was refused)", plain.trim_end());
                return;
            }
        }
        self.link = match attempt {
            Ok(()) => line.trim_end().to_string(),
            Err(e) => {
                let why = match e.raw_os_error() {
                    Some(libc::EBUSY) => "the chain was started already this boot",
                    Some(libc::ENOENT) => "this kernel has no audit chain",
                    Some(libc::EPERM) => "coconutd lacks CAP_AUDIT_CONTROL",
                    _ => "the kernel refused it",
                };
                format!("not written: {}: {}: {why}", path.display(), errno_name(&e))
            }
        };
        let l = self.link.clone();
        self.log(&format!("link: {l}"));
    }

    /// Finds where this boot's shards end: the next seq, and the shard to append to.
    fn resume(&mut self, shards: &[ShardName]) {
        let boot = self.boot;
        let Some(newest) = shards.iter().filter(|s| s.boot == boot).max().copied() else {
            self.committed_seq = 0;
            return;
        };
        let path = self.cfg.log_dir.join(newest.file_name());
        let bytes = match read_shard(&path) {
            Ok(b) => b,
            Err(e) => {
                self.log(&format!(
                    "cannot read {} to resume: {}; taking rows from seq {}",
                    path.display(),
                    errno_name(&e),
                    newest.first_seq
                ));
                Vec::new()
            }
        };
        self.committed_seq = last_row(&bytes).map_or(newest.first_seq, |k| k.seq + 1);
        let len = bytes.len() as u64;
        if !newest.zst && len < self.cfg.shard_max {
            self.shard = Some(Shard {
                name: newest,
                path,
                file: None,
                len,
                good_len: len,
            });
        }
        let seq = self.committed_seq;
        self.log(&format!(
            "resuming boot {boot} at seq {seq} after {}",
            newest.file_name()
        ));
    }

    // -----------------------------------------------------------------------------------------
    // The loop

    fn step(&mut self) -> Result<Progress, String> {
        self.compress_pending();
        self.flush()?;
        let more = self.read_chain()?;
        self.flush()?;
        Ok(if more { Progress::More } else { Progress::Idle })
    }

    fn read_chain(&mut self) -> Result<bool, String> {
        let path = self.cfg.agent_dir.join("chain.log");
        if self.chain.is_none() {
            match File::open(&path) {
                Ok(f) => self.chain = Some(f),
                Err(e) => {
                    let why = match e.raw_os_error() {
                        Some(libc::ENOENT) => {
                            "this kernel has no audit chain, or agentfs is \
                                               not mounted"
                        }
                        Some(libc::EACCES) => "opening it needs CAP_AUDIT_READ",
                        _ => "cannot open it",
                    };
                    return Err(format!("{}: {}: {why}", path.display(), errno_name(&e)));
                }
            }
        }
        let mut buf = vec![0u8; READ_CHUNK];
        for _ in 0..READS_PER_TURN {
            if self.backlog.len() >= BACKLOG_MAX {
                return Ok(true);
            }
            let Some(f) = self.chain.as_mut() else {
                return Ok(false);
            };
            let n = match f.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading {}: {}", path.display(), errno_name(&e))),
            };
            self.partial.extend_from_slice(&buf[..n]);
            if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
                self.backlog.extend(self.partial.drain(..=end));
            }
            if self.partial.len() > LINE_MAX {
                let len = self.partial.len();
                self.partial.clear();
                self.malformed += 1;
                self.log(&format!(
                    "{}: {len} bytes without a newline are not a chain.log line; discarded",
                    path.display()
                ));
            }
            if n < buf.len() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the backlog's lines to shards and acknowledges them once durable. On error the
    /// undurable part stays in the backlog and the shard is cut back on the next try.
    fn flush(&mut self) -> Result<(), String> {
        if self.backlog.is_empty() {
            return Ok(());
        }
        let backlog = std::mem::take(&mut self.backlog);
        let mut committed = 0;
        let result = self.write_lines(&backlog, &mut committed);
        if result.is_err() {
            if let Some(sh) = self.shard.as_mut() {
                sh.len = sh.good_len;
                sh.file = None;
            }
        }
        self.backlog = backlog[committed..].to_vec();
        result
    }

    fn write_lines(&mut self, backlog: &[u8], committed: &mut usize) -> Result<(), String> {
        let mut pos = 0;
        let mut seq = self.committed_seq;
        let mut rows = 0;
        while pos < backlog.len() {
            let rest = &backlog[pos..];
            let end = pos
                + rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
            let line = &backlog[pos..end];
            let Some(k) = line_keys(line) else {
                self.malformed += 1;
                self.log(&format!(
                    "a chain.log line after seq {} of boot {} is not a chain.log line; kept in \
                     the shard as read: {:?}",
                    seq.saturating_sub(1),
                    self.boot,
                    String::from_utf8_lossy(&line[..line.len().min(120)])
                ));
                self.write_line(line, seq)?;
                pos = end;
                continue;
            };
            if k.boot != self.boot {
                self.commit(seq, &mut rows)?;
                *committed = pos;
                self.log(&format!(
                    "chain.log has rows of boot {} while this is boot {}; following the kernel",
                    k.boot, self.boot
                ));
                self.boot = k.boot;
                self.shard = None;
                let shards = self.tidy_log_dir();
                self.resume(&shards);
                seq = self.committed_seq;
            }
            if k.seq < seq {
                pos = end;
                continue;
            }
            if k.seq > seq {
                let gap = Gap {
                    boot: self.boot,
                    from: seq,
                    to: k.seq - 1,
                };
                if !self.gaps.contains(&gap) {
                    self.gaps.push(gap);
                    self.log(&format!(
                        "GAP: rows {}..={} of boot {} are not in chain.log any more (the kernel \
                         evicted them before the persister registered); the shards skip them",
                        gap.from, gap.to, gap.boot
                    ));
                }
            }
            if self
                .shard
                .as_ref()
                .is_some_and(|s| s.name.boot != self.boot)
            {
                self.shard = None;
            }
            self.write_line(line, k.seq)?;
            rows += 1;
            seq = k.seq + 1;
            pos = end;
            if self
                .shard
                .as_ref()
                .is_some_and(|s| s.len >= self.cfg.shard_max)
            {
                self.commit(seq, &mut rows)?;
                *committed = pos;
                self.rotate();
            }
        }
        self.commit(seq, &mut rows)?;
        *committed = pos;
        Ok(())
    }

    /// Appends one line to the current shard, opening `<boot>-<first_seq>.log` if there is
    /// none, reopening (and cutting back to what is durable) after an error.
    fn write_line(&mut self, line: &[u8], first_seq: u64) -> Result<(), String> {
        if self.shard.is_none() {
            let name = ShardName {
                boot: self.boot,
                first_seq,
                zst: false,
            };
            let dir = &self.cfg.log_dir;
            make_dir(dir).map_err(|e| {
                format!(
                    "cannot create the audit log directory {}: {}",
                    dir.display(),
                    errno_name(&e)
                )
            })?;
            self.shard = Some(Shard {
                name,
                path: dir.join(name.file_name()),
                file: None,
                len: 0,
                good_len: 0,
            });
        }
        let Some(sh) = self.shard.as_mut() else {
            return Err("internal: no shard".into());
        };
        let ctx =
            |what: &str, e: io::Error| format!("{what} {}: {}", sh.path.display(), errno_name(&e));
        if sh.file.is_none() {
            let existed = sh.path.exists();
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&sh.path)
                .map_err(|e| ctx("cannot open the shard", e))?;
            f.set_len(sh.good_len)
                .map_err(|e| ctx("cannot cut back the shard", e))?;
            if !existed {
                sync_dir(parent(&sh.path)).map_err(|e| ctx("cannot fsync the directory of", e))?;
            }
            sh.file = Some(f);
            sh.len = sh.good_len;
        }
        let Some(f) = sh.file.as_mut() else {
            return Err("internal: no shard file".into());
        };
        f.write_all(line).map_err(|e| ctx("cannot write to", e))?;
        sh.len += line.len() as u64;
        Ok(())
    }

    /// Makes what was written durable, then acknowledges `seq`.
    fn commit(&mut self, seq: u64, rows: &mut u64) -> Result<(), String> {
        if let Some(sh) = self.shard.as_mut() {
            if sh.len > sh.good_len {
                let Some(f) = sh.file.as_ref() else {
                    return Err("internal: unsynced shard without a file".into());
                };
                f.sync_data().map_err(|e| {
                    format!("cannot fdatasync {}: {}", sh.path.display(), errno_name(&e))
                })?;
                sh.good_len = sh.len;
            }
        }
        self.rows += std::mem::take(rows);
        self.committed_seq = seq;
        self.ack(seq);
        Ok(())
    }

    /// Tells the kernel that every row before `seq` is durable (never backwards).
    fn ack(&mut self, seq: u64) {
        if self.acked.is_some_and(|a| a >= seq) {
            return;
        }
        let path = self.cfg.agent_dir.join("persisted");
        match write_control(&path, format!("{seq}\n").as_bytes()) {
            Ok(()) => {
                self.acked = Some(seq);
                self.ack_note = None;
                self.ack_errno = None;
            }
            Err(e) => {
                let why = match e.raw_os_error() {
                    Some(libc::ENOENT) => "this kernel takes no acknowledgements",
                    Some(libc::EINVAL) => "the kernel's acknowledgement is already further",
                    Some(libc::EPERM) => "coconutd lacks CAP_AUDIT_CONTROL",
                    _ => "the kernel refused it",
                };
                let note = format!(
                    "cannot acknowledge seq {seq} in {}: {}: {why}",
                    path.display(),
                    errno_name(&e)
                );
                if self.ack_errno != e.raw_os_error() || self.ack_note.is_none() {
                    self.log(&note);
                }
                self.ack_errno = e.raw_os_error();
                self.ack_note = Some(note);
            }
        }
    }

    /// Closes the current shard and compresses it.
    fn rotate(&mut self) {
        if let Some(sh) = self.shard.take() {
            self.compress_queue.push(sh.path);
            self.compress_pending();
        }
    }

    fn compress_pending(&mut self) {
        while let Some(path) = self.compress_queue.first().cloned() {
            match compress_shard(&path) {
                Ok((from, to)) => {
                    self.compress_queue.remove(0);
                    self.compress_error = None;
                    self.log(&format!(
                        "rotated {} ({from} bytes) to .zst ({to} bytes)",
                        path.display()
                    ));
                }
                Err(e) => {
                    let msg = format!(
                        "cannot compress {}: {}; the plain shard is kept and retried",
                        path.display(),
                        errno_name(&e)
                    );
                    if self.compress_error.as_deref() != Some(msg.as_str()) {
                        self.log(&msg);
                    }
                    self.compress_error = Some(msg);
                    return;
                }
            }
        }
    }
}

/// Cuts a plain shard back to its last complete line; returns the bytes cut.
fn cut_torn_tail(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let cut = (bytes.len() - keep) as u64;
    if cut > 0 {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    Ok(cut)
}

/// A shard's lines, decompressed if need be.
fn read_shard(path: &Path) -> io::Result<Vec<u8>> {
    let bytes = fs::read(path)?;
    if path.extension().is_some_and(|e| e == "zst") {
        zstd::stream::decode_all(bytes.as_slice())
    } else {
        Ok(bytes)
    }
}

/// Compresses `X.log` to `X.log.zst` (one zstd frame, written to a temporary file, fsynced,
/// renamed, the directory fsynced), then removes `X.log`. Returns both sizes.
fn compress_shard(path: &Path) -> io::Result<(u64, u64)> {
    let data = fs::read(path)?;
    let packed = zstd::stream::encode_all(data.as_slice(), 3)?;
    let mut zst = path.as_os_str().to_owned();
    zst.push(".zst");
    let zst = PathBuf::from(zst);
    replace_file(&zst, &packed, 0o600)?;
    fs::remove_file(path)?;
    sync_dir(parent(path))?;
    Ok((data.len() as u64, packed.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_decimal_without_padding() {
        let s = ShardName::parse("3-8192.log.zst").unwrap();
        assert_eq!(
            s,
            ShardName {
                boot: 3,
                first_seq: 8192,
                zst: true
            }
        );
        assert_eq!(s.file_name(), "3-8192.log.zst");
        assert_eq!(ShardName::parse("0-0.log").unwrap().file_name(), "0-0.log");
        for bad in [
            "03-1.log", "3-01.log", "3.log", "a-1.log", "3-1.txt", "-1.log", "3-.log",
        ] {
            assert_eq!(ShardName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_last_row_skips_what_is_not_a_line() {
        let h = "ab".repeat(32);
        let text = format!(
            "{{\"seq\":4,\"boot\":2,\"hash\":\"{h}\"}}\n{{\"seq\":5,\"boot\":2,\"hash\":\"{h}\"}}\n\
             garbage\n"
        );
        let k = last_row(text.as_bytes()).unwrap();
        assert_eq!((k.seq, k.boot), (5, 2));
        assert!(line_keys(b"{\"seq\":1,\"boot\":1,\"hash\":\"ABAB\"}").is_none());
    }

    #[test]
    fn stats_give_started_and_boot() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stats");
        fs::write(&p, "started=1\nboot=7\nsealed=3\n").unwrap();
        assert_eq!(
            read_stats(&p),
            Some(KernelState {
                started: true,
                boot: 7
            })
        );
        fs::write(&p, "started=0\nboot=0\n").unwrap();
        assert!(!read_stats(&p).unwrap().started);
        assert_eq!(read_stats(&dir.path().join("none")), None);
    }
}
