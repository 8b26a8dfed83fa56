//! `coconut audit verify`: stream `chain.log` lines through the shared verifiers, check every
//! signed checkpoint, and name the first bad line by file, line, boot and seq.
//!
//! Job: open each input in order (a `*.log.zst` shard is decompressed as a stream; a directory
//! is the persister's history, its shards `<boot>-<first_seq>.log[.zst]` in (boot, first_seq)
//! order, [`expand`]), split it into lines, parse each as [`ChainLogLine::parse`] does
//! (serde_json into a [`ChainLogLine`], refusing anything but the one canonical spelling), keep
//! the row [`ChainLogLine::to_row`] rebuilt for that check and push it into a [`Verifier`]
//! (hash, seq, links, boot and link rows), then into a [`CheckpointVerifier`] (each
//! `checkpoint` row's size, root and key, with one Merkle frontier for the boot being read),
//! and check each checkpoint's Ed25519 signature over its note body here
//! ([`crate::checkpoint::signature_verifies`]). At the end the last hash is compared with the
//! expected head, if one is known: that is the only way to see rows cut off at a line boundary
//! at the end. Rows after a boot's last checkpoint are reported as unauthenticated
//! ([`BootRange::unauthenticated`]): consistent, but not signed.
//!
//! Rules that are this command's own: the first row of the input must be a `boot` row or a
//! `rotate` row (what a `chain.log` or the first shard of a history starts with), so that a
//! deleted first line is seen too; and a shard named `<boot>-<first_seq>` must start with that
//! row, so a renamed shard shows. Later shards start wherever the previous one ended: the
//! inputs are one stream of lines, so the shared verifier joins them (a missing shard in the
//! middle is a seq gap, or, at a boot's end, a link row naming another last row).
//!
//! Constraints: constant memory (one line buffer, bounded at [`LINE_LIMIT`] bytes, one Merkle
//! frontier, and one entry per boot seen); I/O failures are [`Failure::Io`] (exit 2), chain
//! failures [`Failure::Bad`] (exit 1).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use coconut_abi::AuditKind;
use libcoconut::audit::{
    render_json_line, AuditError, AuditRow, ChainLogLine, CheckpointFault, CheckpointVerifier,
    SealedCheckpoint, Verifier, VerifyErrorKind, JSON_LINE_MAX,
};

use crate::checkpoint::{signature_verifies, MachineId};

/// The longest line read: longer than any valid line ([`JSON_LINE_MAX`] with its newline), so
/// that a too-long line is reported as bad rather than buffered without bound.
pub const LINE_LIMIT: usize = JSON_LINE_MAX + 1;

/// Where coconutd's persister keeps the history: `<boot>-<first_seq>.log` (the open shard) and
/// `<boot>-<first_seq>.log.zst` (rotated shards).
pub const HISTORY_DIR: &str = "/var/log/coconut/audit";

/// One input: where its bytes come from and the name used in reports.
pub struct Input<'a> {
    /// The name printed in reports (the path as given).
    pub name: String,
    /// The bytes (plain lines, already decompressed for shards).
    pub reader: Box<dyn BufRead + 'a>,
    /// (boot, seq) its first line must have: a shard's name says it.
    pub expect_first: Option<(u64, u64)>,
    /// The kernel's own `chain.log` ([`KERNEL_CHAIN_LOG`]): it holds the newest rows of the
    /// boot (8192), so it may start at any row, and nobody can delete its first line.
    pub kernel_window: bool,
}

/// Where agentfs serves the running kernel's chain.
pub const KERNEL_CHAIN_LOG: &str = "/agent/audit/chain.log";

impl<'a> Input<'a> {
    /// Opens a file; a name ending in `.zst` is read through a streaming zstd decoder.
    pub fn open(path: &Path) -> Result<Input<'a>, Failure> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Failure::Io(io_message(path, &e)))?;
        let reader: Box<dyn BufRead + 'a> = if path.extension().is_some_and(|e| e == "zst") {
            let dec = zstd::stream::read::Decoder::new(file).map_err(|e| {
                Failure::Io(format!("{name}: cannot start zstd decompression: {e}"))
            })?;
            Box::new(BufReader::new(dec))
        } else {
            Box::new(BufReader::with_capacity(64 * 1024, file))
        };
        let kernel_window =
            std::fs::canonicalize(path).is_ok_and(|p| p == Path::new(KERNEL_CHAIN_LOG));
        Ok(Input {
            name,
            reader,
            expect_first: None,
            kernel_window,
        })
    }

    /// Opens one of [`expand`]'s sources.
    pub fn open_source(source: &Source) -> Result<Input<'a>, Failure> {
        let mut input = Input::open(&source.path)?;
        input.expect_first = source.first;
        Ok(input)
    }

    /// An in-memory input (tests and benchmarks).
    pub fn from_bytes(name: &str, bytes: &'a [u8]) -> Input<'a> {
        Input {
            name: name.to_owned(),
            reader: Box::new(bytes),
            expect_first: None,
            kernel_window: false,
        }
    }
}

/// What to do about an I/O error opening `path`.
fn io_message(path: &Path, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => {
            "check the path (the history is in /var/log/coconut/audit/, the live chain in /agent/audit/)"
        }
        io::ErrorKind::PermissionDenied => "the audit files are root-only (0600): run as root",
        _ => "check that the file is readable",
    };
    format!("cannot read {}: {e}; {hint}", path.display())
}

/// A file to read: a path, and for a shard of a history directory the (boot, first_seq) its
/// name gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// (boot, first_seq) from a shard name `<boot>-<first_seq>.log[.zst]`.
    pub first: Option<(u64, u64)>,
}

/// The (boot, first_seq) of a shard name `<boot>-<first_seq>.log` or `….log.zst` (decimal
/// without leading zeros), and whether it is compressed.
pub fn shard_name(name: &str) -> Option<(u64, u64, bool)> {
    let (stem, zst) = match name.strip_suffix(".log.zst") {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(".log")?, false),
    };
    let (boot, seq) = stem.split_once('-')?;
    let num = |t: &str| {
        let canonical = !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit())
            && (t == "0" || !t.starts_with('0'));
        canonical.then(|| t.parse::<u64>().ok()).flatten()
    };
    Some((num(boot)?, num(seq)?, zst))
}

/// Expands the paths given into the files to read, in order: a file stays as it is; a
/// directory becomes its shards sorted by (boot, first_seq), the `.zst` when a shard is there
/// both plain and compressed. Also returns the files of directories that are not read (not
/// shards, or the plain twin of a `.zst`; the caller mentions them), except the persister's
/// temporary `.<name>.tmp` files.
pub fn expand(paths: &[PathBuf]) -> Result<(Vec<Source>, Vec<PathBuf>), Failure> {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(Source {
                path: path.clone(),
                first: None,
            });
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| Failure::Io(io_message(path, &e)))?;
        let mut shards: Vec<(u64, u64, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Failure::Io(io_message(path, &e)))?;
            let file = entry.path();
            let parsed = entry.file_name().to_str().and_then(shard_name);
            let temporary = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"));
            match parsed {
                Some((boot, seq, _)) if file.is_file() => shards.push((boot, seq, file)),
                _ if temporary => {}
                _ => ignored.push(file),
            }
        }
        // The .zst sorts after the plain file of the same shard: when both exist (a crash
        // between the rename of the .zst into place and the removal of the plain file, which
        // the persister tidies at its next start), the .zst is complete and is read.
        shards.sort();
        let mut kept: Vec<(u64, u64, PathBuf)> = Vec::with_capacity(shards.len());
        for shard in shards {
            match kept.last_mut() {
                Some(last) if (last.0, last.1) == (shard.0, shard.1) => {
                    ignored.push(std::mem::replace(last, shard).2);
                }
                _ => kept.push(shard),
            }
        }
        let shards = kept;
        if shards.is_empty() {
            return Err(Failure::Io(format!(
                "{}: no shards (<boot>-<first_seq>.log or .log.zst) in this directory",
                path.display()
            )));
        }
        out.extend(shards.into_iter().map(|(boot, seq, path)| Source {
            path,
            first: Some((boot, seq)),
        }));
    }
    Ok((out, ignored))
}

/// The rows after a boot's last checkpoint (or all of the boot's rows, without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated {
    /// How many rows.
    pub rows: u64,
    /// The first of them.
    pub first_seq: u64,
    /// The last of them.
    pub last_seq: u64,
}

/// Rows seen of one boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRange {
    /// The boot counter.
    pub boot: u64,
    /// First seq seen of this boot.
    pub first_seq: u64,
    /// Last seq seen of this boot.
    pub last_seq: u64,
    /// Checkpoints verified in this boot.
    pub checkpoints: u64,
    /// The seq of its last checkpoint row.
    pub last_checkpoint: Option<u64>,
    /// Checkpoints whose root could not be recomputed (the input starts after seq 0).
    pub roots_unchecked: u64,
    /// The key its checkpoints are signed with.
    pub key: Option<[u8; 32]>,
}

impl BootRange {
    fn new(boot: u64, seq: u64) -> BootRange {
        BootRange {
            boot,
            first_seq: seq,
            last_seq: seq,
            checkpoints: 0,
            last_checkpoint: None,
            roots_unchecked: 0,
            key: None,
        }
    }

    /// The rows after the boot's last checkpoint (all rows seen, without one); `None` when the
    /// last row is a checkpoint. A checkpoint signs the head before it, which through the hash
    /// chain covers every row before it in the input.
    pub fn unauthenticated(&self) -> Option<Unauthenticated> {
        let first_seq = match self.last_checkpoint {
            Some(c) if c >= self.last_seq => return None,
            Some(c) => c + 1,
            None => self.first_seq,
        };
        Some(Unauthenticated {
            rows: self.last_seq - first_seq + 1,
            first_seq,
            last_seq: self.last_seq,
        })
    }
}

/// An intact chain: what was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    /// Rows verified.
    pub rows: u64,
    /// The boots, in input order, with the seq range seen of each.
    pub boots: Vec<BootRange>,
    /// The last row's hash (`None` for no rows).
    pub head: Option<[u8; 32]>,
    /// Whether the head was checked against an expected head.
    pub head_checked: bool,
    /// Whether every checkpoint had to carry a pinned key.
    pub key_pinned: bool,
    /// (boot, seq) where the kernel's `chain.log` started when that was not a boot row: the
    /// older rows left the kernel's arena (they are in the persisted history).
    pub window_start: Option<(u64, u64)>,
}

/// What an intact result without a head could not show (printed on stderr).
pub const NO_HEAD_NOTE: &str = "note: no head given, so rows cut off at the end cannot be \
     detected; pass --head FILE_OR_HEX (/agent/audit/head on the machine)";

impl Intact {
    /// Checkpoints verified, over all boots.
    pub fn checkpoints(&self) -> u64 {
        self.boots.iter().map(|b| b.checkpoints).sum()
    }

    /// Rows not covered by a checkpoint, over all boots.
    pub fn unauthenticated_rows(&self) -> u64 {
        self.boots
            .iter()
            .filter_map(BootRange::unauthenticated)
            .map(|u| u.rows)
            .sum()
    }

    /// The checkpoint line printed after the summary: how many verified, per boot, and the key.
    pub fn checkpoint_line(&self) -> String {
        let total = self.checkpoints();
        if total == 0 {
            return "checkpoints: none verified (no checkpoint row in the input)".to_owned();
        }
        let per_boot: Vec<String> = self
            .boots
            .iter()
            .map(|b| format!("boot {}: {}", b.boot, b.checkpoints))
            .collect();
        let mut keys: Vec<[u8; 32]> = self.boots.iter().filter_map(|b| b.key).collect();
        keys.dedup();
        let key = match keys.as_slice() {
            [k] => format!(", key {}", hex::encode(k)),
            _ => String::new(),
        };
        let pinned = if self.key_pinned { " (pinned)" } else { "" };
        format!(
            "checkpoints: {total} verified ({}){key}{pinned}",
            per_boot.join(", ")
        )
    }

    /// The warnings and notes printed on stderr: unauthenticated rows per boot, roots that
    /// could not be recomputed, keys that differ between boots.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((boot, seq)) = self.window_start {
            out.push(format!(
                "note: {KERNEL_CHAIN_LOG} starts at boot {boot}, seq {seq}: the kernel keeps the \
                 newest 8192 rows; the older ones are in the persisted history \
                 (/var/log/coconut/audit)"
            ));
        }
        for b in &self.boots {
            if let Some(u) = b.unauthenticated() {
                let why = match b.last_checkpoint {
                    Some(c) => format!("after the boot's last checkpoint (seq {c})"),
                    None => "the boot has no checkpoint in the input (no seed loaded?)".to_owned(),
                };
                out.push(format!(
                    "warning: boot {}: {} rows unauthenticated (seq {}..{}): {why}; they are \
                     consistent with the chain but not signed",
                    b.boot, u.rows, u.first_seq, u.last_seq
                ));
            }
            if b.roots_unchecked > 0 {
                out.push(format!(
                    "note: boot {}: the Merkle root of {} checkpoints was not recomputed, as the \
                     input starts at seq {} (their signatures and heads were checked); verify \
                     the whole history to check the roots too",
                    b.boot, b.roots_unchecked, b.first_seq
                ));
            }
        }
        let mut keyed = self.boots.iter().filter_map(|b| b.key.map(|k| (b.boot, k)));
        if let Some((first_boot, first)) = keyed.next() {
            for (boot, k) in keyed {
                if k != first {
                    out.push(format!(
                        "warning: boot {boot} signs with key {}, boot {first_boot} with {}: \
                         the seed changed (pin the key with --key to refuse this)",
                        hex::encode(k),
                        hex::encode(first)
                    ));
                }
            }
        }
        out
    }
}

impl fmt::Display for Intact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "intact: {} rows", self.rows)?;
        if !self.boots.is_empty() {
            let ranges: Vec<String> = self
                .boots
                .iter()
                .map(|b| format!("boot {} seq {}..{}", b.boot, b.first_seq, b.last_seq))
                .collect();
            write!(f, " ({})", ranges.join(", "))?;
        }
        match self.head {
            Some(h) => write!(f, ", head {}", hex::encode(h))?,
            None => f.write_str(", no head")?,
        }
        Ok(())
    }
}

/// Why a line is bad, in the words of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The line is not a canonical `chain.log` line (bad JSON, wrong shape, not the one
    /// spelling, or not a valid event).
    BadLine(String),
    /// The file ends inside a line (no final newline).
    Unterminated,
    /// The line is longer than any valid line.
    TooLong,
    /// The shared verifier refused the row (or the end of the input).
    Chain(VerifyErrorKind),
    /// There are no rows but a head was expected.
    Empty,
    /// The first row of the input is neither a `boot` row nor a `rotate` row, so rows are
    /// missing before it.
    BadStart,
    /// A shard's first row is not the (boot, seq) its name says.
    ShardName {
        /// What the name says.
        named: (u64, u64),
    },
    /// The checkpoint verifier refused a checkpoint row.
    Checkpoint(CheckpointFault),
    /// A checkpoint's signature does not verify under its key.
    BadSignature {
        /// The machine id the note was rendered with.
        machine_id: String,
    },
}

impl Reason {
    /// A short machine-readable name, for `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::BadLine(_) => "bad_line",
            Reason::Unterminated => "truncated",
            Reason::TooLong => "line_too_long",
            Reason::Empty => "empty",
            Reason::BadStart => "bad_start",
            Reason::ShardName { .. } => "shard_name",
            Reason::BadSignature { .. } => "checkpoint_bad_signature",
            Reason::Checkpoint(k) => match k {
                CheckpointFault::Malformed(_) => "checkpoint_malformed",
                CheckpointFault::SizeMismatch => "checkpoint_size_mismatch",
                CheckpointFault::RootMismatch => "checkpoint_root_mismatch",
                CheckpointFault::KeyChanged => "checkpoint_key_changed",
                CheckpointFault::KeyNotPinned => "checkpoint_key_not_pinned",
            },
            Reason::Chain(k) => match k {
                VerifyErrorKind::Malformed(_) => "malformed",
                VerifyErrorKind::HashMismatch => "hash_mismatch",
                VerifyErrorKind::BrokenLink => "broken_link",
                VerifyErrorKind::SeqGap => "seq_gap",
                VerifyErrorKind::BootChange => "boot_change",
                VerifyErrorKind::MisplacedKind => "misplaced_kind",
                VerifyErrorKind::MissingLink => "missing_link",
                VerifyErrorKind::BadLink => "bad_link",
                VerifyErrorKind::BadGenesis => "bad_genesis",
                VerifyErrorKind::HeadMismatch => "head_mismatch",
            },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BadLine(e) => write!(f, "not a canonical chain.log line: {e}"),
            Reason::Unterminated => {
                f.write_str("the last line has no newline: the file was truncated inside this line")
            }
            Reason::TooLong => write!(f, "line longer than {JSON_LINE_MAX} bytes"),
            Reason::Chain(k) => k.fmt(f),
            Reason::Empty => f.write_str("no rows, but a head was given: the chain was truncated"),
            Reason::BadStart => f.write_str(
                "the first row is neither a boot row (seq 0) nor a rotate row (the first row of \
                 a rotated chain.log): rows are missing before it",
            ),
            Reason::ShardName { named: (boot, seq) } => write!(
                f,
                "the shard's name says it starts at boot {boot}, seq {seq}, but its first row is \
                 another: the shard was renamed or its first rows are missing"
            ),
            Reason::Checkpoint(k) => k.fmt(f),
            Reason::BadSignature { machine_id } => write!(
                f,
                "checkpoint signature does not verify under its key over the note for machine \
                 {machine_id}: the checkpoint or the rows it covers were rewritten, or the chain \
                 is another machine's (--machine-id)"
            ),
        }
    }
}

/// The first bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    /// The input's name.
    pub file: String,
    /// Line number in that input, from 1 (one past the last line for end-of-input failures).
    pub line: u64,
    /// (boot, seq) of the line if it parsed, else `None`.
    pub at: Option<(u64, u64)>,
    /// What is wrong.
    pub reason: Reason,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "first bad row: {}:{} ", self.file, self.line)?;
        match self.at {
            Some((boot, seq)) => write!(f, "(boot {boot}, seq {seq})")?,
            None => f.write_str("(boot ?, seq ?)")?,
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why verification did not say "intact".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The chain is not intact (exit 1).
    Bad(Bad),
    /// An input could not be read, or an argument is unusable; the text says what to do
    /// (exit 2).
    Io(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Bad(b) => b.fmt(f),
            Failure::Io(m) => f.write_str(m),
        }
    }
}

/// Parses 32 bytes given as 64 hex digits, or as a file holding 32 raw bytes or 64 hex digits
/// and an optional newline; `what` names it in the error ("a head", "a key").
pub fn parse_hash_arg(arg: &str, what: &str) -> Result<[u8; 32], Failure> {
    let mut out = [0u8; 32];
    if arg.len() == 64 && hex::decode_to_slice(arg, &mut out).is_ok() {
        return Ok(out);
    }
    let path = PathBuf::from(arg);
    let bytes = std::fs::read(&path).map_err(|e| Failure::Io(io_message(&path, &e)))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if hex::decode_to_slice(text, &mut out).is_ok() {
        return Ok(out);
    }
    Err(Failure::Io(format!(
        "{arg}: {what} is 32 raw bytes or 64 hex digits, this file has {} bytes",
        bytes.len()
    )))
}

/// Parses an expected head: 64 hex digits, or a file holding 32 raw bytes (as
/// `/agent/audit/head` does) or 64 hex digits and an optional newline.
pub fn parse_head(arg: &str) -> Result<[u8; 32], Failure> {
    parse_hash_arg(arg, "a head")
}

/// What a verification checks besides the chain itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The expected last hash, if known.
    pub head: Option<[u8; 32]>,
    /// The key every checkpoint must carry, if pinned.
    pub key: Option<[u8; 32]>,
    /// The machine whose checkpoint notes the signatures cover.
    pub machine_id: MachineId,
}

impl Options {
    /// Only a head (or none): checkpoints under any one key per boot, no machine id (a
    /// checkpoint row is then an error, exit 2).
    pub fn head(head: Option<&[u8; 32]>) -> Options {
        Options {
            head: head.copied(),
            key: None,
            machine_id: MachineId::Unknown("no machine id given".to_owned()),
        }
    }
}

/// One verified row, as [`verify_with`] shows it to its caller.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'r> {
    /// The boot counter.
    pub boot: u64,
    /// The row's seq.
    pub seq: u64,
    /// The row's chain hash.
    pub hash: &'r [u8; 32],
    /// The checkpoint, if the row is one (its signature verified).
    pub checkpoint: Option<&'r SealedCheckpoint>,
}

/// Verifies the inputs in order as one chain; `head` is the expected last hash, if known.
pub fn verify<'a, I>(inputs: I, head: Option<&[u8; 32]>) -> Result<Intact, Failure>
where
    I: IntoIterator<Item = Result<Input<'a>, Failure>>,
{
    verify_with(inputs, &Options::head(head), &mut |_| {})
}

/// Verifies the inputs in order as one chain, with its checkpoints, and shows every verified
/// row to `seen` (the proof commands collect a boot's hashes this way).
pub fn verify_with<'a, I>(
    inputs: I,
    opts: &Options,
    seen: &mut dyn FnMut(Seen<'_>),
) -> Result<Intact, Failure>
where
    I: IntoIterator<Item = Result<Input<'a>, Failure>>,
{
    let head = opts.head.as_ref();
    let mut verifier = Verifier::new();
    let mut checkpoints = match opts.key {
        Some(k) => CheckpointVerifier::new().pin_key(k),
        None => CheckpointVerifier::new(),
    };
    let mut boots: Vec<BootRange> = Vec::new();
    let mut buf = Vec::with_capacity(LINE_LIMIT);
    let mut last_name = String::from("(no input)");
    let mut last_lines = 0u64;
    let mut window_start = None;
    for input in inputs {
        let mut input = input?;
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = (&mut input.reader)
                .take(LINE_LIMIT as u64)
                .read_until(b'\n', &mut buf)
                .map_err(|e| Failure::Io(read_message(&input.name, line_no + 1, &e)))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let bad = |at, reason| {
                Failure::Bad(Bad {
                    file: input.name.clone(),
                    line: line_no,
                    at,
                    reason,
                })
            };
            let Some(text) = buf.strip_suffix(b"\n") else {
                let reason = if n >= LINE_LIMIT {
                    Reason::TooLong
                } else {
                    Reason::Unterminated
                };
                return Err(bad(None, reason));
            };
            let (line, row) = match parse_row(text) {
                Ok(parsed) => parsed,
                Err((at, e)) => return Err(bad(at, Reason::BadLine(e))),
            };
            let at = Some((line.boot, line.seq));
            if let (1, Some(named)) = (line_no, input.expect_first) {
                if named != (line.boot, line.seq) {
                    return Err(bad(at, Reason::ShardName { named }));
                }
            }
            let starts = matches!(row.header.kind, AuditKind::Boot | AuditKind::Rotate);
            if verifier.rows() == 0 && !starts {
                if !input.kernel_window {
                    return Err(bad(at, Reason::BadStart));
                }
                window_start = Some((line.boot, line.seq));
            }
            verifier
                .push(row.as_row_ref())
                .map_err(|e| bad(at, Reason::Chain(e.kind)))?;
            match boots.last_mut() {
                Some(b) if b.boot == line.boot => b.last_seq = line.seq,
                _ => boots.push(BootRange::new(line.boot, line.seq)),
            }
            let sealed = checkpoints
                .push(row.as_row_ref())
                .map_err(|e| bad(at, Reason::Checkpoint(e)))?;
            if let Some(sealed) = &sealed {
                let machine_id = match &opts.machine_id {
                    MachineId::Known(id) => *id,
                    MachineId::Unknown(why) => {
                        return Err(Failure::Io(format!(
                            "{}:{line_no} (boot {}, seq {}) is a checkpoint, whose signature \
                             covers the machine id, and {why}; pass --machine-id HEX (the 32 \
                             hex digits of that machine's /etc/machine-id)",
                            input.name, line.boot, line.seq
                        )))
                    }
                };
                if !signature_verifies(&sealed.checkpoint(machine_id), &sealed.row) {
                    return Err(bad(
                        at,
                        Reason::BadSignature {
                            machine_id: hex::encode(machine_id),
                        },
                    ));
                }
                if let Some(b) = boots.last_mut() {
                    b.checkpoints += 1;
                    b.last_checkpoint = Some(sealed.seq);
                    b.key = Some(sealed.row.key);
                    if !sealed.root_checked {
                        b.roots_unchecked += 1;
                    }
                }
            }
            seen(Seen {
                boot: line.boot,
                seq: line.seq,
                hash: &row.hash,
                checkpoint: sealed.as_ref(),
            });
        }
        last_name = input.name;
        last_lines = line_no;
    }
    let end = |reason| {
        Failure::Bad(Bad {
            file: last_name.clone(),
            line: last_lines + 1,
            at: boots.last().map(|b| (b.boot, b.last_seq)),
            reason,
        })
    };
    if verifier.rows() == 0 && head.is_some() {
        return Err(end(Reason::Empty));
    }
    let summary = verifier
        .finish(head)
        .map_err(|e| end(Reason::Chain(e.kind)))?;
    Ok(Intact {
        rows: summary.rows,
        boots,
        head: summary.head,
        head_checked: head.is_some(),
        key_pinned: opts.key.is_some(),
        window_start,
    })
}

/// Why a line did not parse: (boot, seq) if the line had them, and the parser's message.
type LineError = (Option<(u64, u64)>, String);

/// Parses one line (without its newline) into its fields and the row it describes, refusing
/// anything but the canonical spelling: what [`ChainLogLine::parse`] does, except that the row
/// it rebuilds for the comparison is kept for the verifier instead of being rebuilt a second
/// time, and the rendering is compared as bytes in a stack buffer (together about a quarter of
/// the time per line). The error carries (boot, seq) when the line is JSON
/// of the right shape.
fn parse_row(text: &[u8]) -> Result<(ChainLogLine, AuditRow), LineError> {
    let line: ChainLogLine = serde_json::from_slice(text)
        .map_err(|e| (None, AuditError::Line(e.to_string()).to_string()))?;
    let at = Some((line.boot, line.seq));
    let row = line.to_row().map_err(|e| (at, e.to_string()))?;
    // The shared renderer into a stack buffer, compared as bytes: no String per line.
    let mut out = [0u8; JSON_LINE_MAX];
    let n = render_json_line(row.as_row_ref(), &mut out).map_err(|e| (at, e.to_string()))?;
    let rendered = out.get(..n).unwrap_or(&[]);
    if rendered.strip_suffix(b"\n") != Some(text) {
        let expected = String::from_utf8_lossy(rendered).trim_end().to_owned();
        return Err((at, AuditError::NotCanonical { expected }.to_string()));
    }
    Ok((line, row))
}

/// What to do about a read error inside an input (for a shard, usually a corrupt zstd frame).
fn read_message(name: &str, line: u64, e: &io::Error) -> String {
    if name.ends_with(".zst") {
        format!(
            "{name}: the zstd shard is corrupt ({e}; seen while reading its line {line}); \
             restore it from the archive, or verify the files after it on their own"
        )
    } else {
        format!("{name}: read error at line {line}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8], head: Option<&[u8; 32]>) -> Result<Intact, Failure> {
        verify([Ok(Input::from_bytes("t", bytes))], head)
    }

    fn reason(r: Result<Intact, Failure>) -> (u64, Reason) {
        match r {
            Err(Failure::Bad(b)) => (b.line, b.reason),
            other => panic!("expected a bad row, got {other:?}"),
        }
    }

    #[test]
    fn empty_input_is_intact_without_a_head_and_bad_with_one() {
        let intact = run(b"", None).unwrap();
        assert_eq!(intact.rows, 0);
        assert_eq!(intact.head, None);
        assert_eq!(reason(run(b"", Some(&[0; 32]))), (1, Reason::Empty));
    }

    #[test]
    fn lines_that_are_not_chain_log_lines_are_bad_lines() {
        assert!(matches!(
            reason(run(b"{}\n", None)),
            (1, Reason::BadLine(_))
        ));
        assert!(matches!(
            reason(run(b"\xff\n", None)),
            (1, Reason::BadLine(_))
        ));
        assert!(matches!(reason(run(b"\n", None)), (1, Reason::BadLine(_))));
        assert_eq!(reason(run(b"{\"seq\"", None)), (1, Reason::Unterminated));
    }

    #[test]
    fn an_overlong_line_is_refused_without_buffering_it() {
        let long = vec![b'x'; LINE_LIMIT * 3];
        assert_eq!(reason(run(&long, None)), (1, Reason::TooLong));
    }

    #[test]
    fn heads_are_hex_or_files_of_raw_bytes_or_hex() {
        let hex64 = "ab".repeat(32);
        assert_eq!(parse_head(&hex64).unwrap(), [0xab; 32]);
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [7u8; 32]).unwrap();
        assert_eq!(parse_head(raw.to_str().unwrap()).unwrap(), [7; 32]);
        let text = dir.path().join("text");
        std::fs::write(&text, format!("{hex64}\n")).unwrap();
        assert_eq!(parse_head(text.to_str().unwrap()).unwrap(), [0xab; 32]);
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 5]).unwrap();
        assert!(
            matches!(parse_head(short.to_str().unwrap()), Err(Failure::Io(m)) if m.contains("5 bytes"))
        );
        assert!(matches!(
            parse_head("/nonexistent/head"),
            Err(Failure::Io(_))
        ));
    }

    #[test]
    fn reports_name_file_line_boot_and_seq() {
        let bad = Bad {
            file: "chain.log".into(),
            line: 7,
            at: Some((2, 5)),
            reason: Reason::Chain(VerifyErrorKind::SeqGap),
        };
        assert_eq!(
            bad.to_string(),
            "first bad row: chain.log:7 (boot 2, seq 5): seq does not follow the previous row's \
             seq: rows are missing or out of order"
        );
    }
}
