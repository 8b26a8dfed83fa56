//! `coconut audit verify`: stream `chain.log` lines through the shared verifier and name the
//! first bad one by file, line, boot and seq.
//!
//! Job: open each input in order (a `*.log.zst` shard is decompressed as a stream), split it
//! into lines, parse each as [`ChainLogLine::parse`] does (serde_json into a [`ChainLogLine`],
//! refusing anything but the one canonical spelling), keep the row [`ChainLogLine::to_row`]
//! rebuilt for that check and push it into a
//! [`Verifier`] (hash, seq, links, boot and link rows). At the end the last hash is compared
//! with the expected head, if one is known: that is the only way to see rows cut off at a line
//! boundary at the end. One rule is this command's own: the first row of the input must be a
//! `boot` row or a `rotate` row (the only rows a `chain.log` or a shard starts with), so that a
//! deleted first line is seen too.
//!
//! Constraints: constant memory (one line buffer, bounded at [`LINE_LIMIT`] bytes, and one
//! entry per boot seen); I/O failures are [`Failure::Io`] (exit 2), chain failures
//! [`Failure::Bad`] (exit 1).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use coconut_abi::AuditKind;
use libcoconut::audit::{
    render_json_line, AuditError, AuditRow, ChainLogLine, Verifier, VerifyErrorKind, JSON_LINE_MAX,
};

/// The longest line read: longer than any valid line ([`JSON_LINE_MAX`] with its newline), so
/// that a too-long line is reported as bad rather than buffered without bound.
pub const LINE_LIMIT: usize = JSON_LINE_MAX + 1;

/// One input: where its bytes come from and the name used in reports.
pub struct Input<'a> {
    /// The name printed in reports (the path as given).
    pub name: String,
    /// The bytes (plain lines, already decompressed for shards).
    pub reader: Box<dyn BufRead + 'a>,
}

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
        Ok(Input { name, reader })
    }

    /// An in-memory input (tests and benchmarks).
    pub fn from_bytes(name: &str, bytes: &'a [u8]) -> Input<'a> {
        Input {
            name: name.to_owned(),
            reader: Box::new(bytes),
        }
    }
}

/// What to do about an I/O error opening `path`.
fn io_message(path: &Path, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => "check the path (shards are in /agent/audit/rotated/)",
        io::ErrorKind::PermissionDenied => "the audit files are root-only (0600): run as root",
        _ => "check that the file is readable",
    };
    format!("cannot read {}: {e}; {hint}", path.display())
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
}

/// What an intact result without a head could not show (printed on stderr).
pub const NO_HEAD_NOTE: &str = "note: no head given, so rows cut off at the end cannot be \
     detected; pass --head FILE_OR_HEX (/agent/audit/head on the machine)";

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
    /// An input could not be read; the text says what to do (exit 2).
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

/// Parses an expected head: 64 hex digits, or a file holding 32 raw bytes (as
/// `/agent/audit/head` does) or 64 hex digits and an optional newline.
pub fn parse_head(arg: &str) -> Result<[u8; 32], Failure> {
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
        "{arg}: a head is 32 raw bytes or 64 hex digits, this file has {} bytes",
        bytes.len()
    )))
}

/// Verifies the inputs in order as one chain; `head` is the expected last hash, if known.
pub fn verify<'a, I>(inputs: I, head: Option<&[u8; 32]>) -> Result<Intact, Failure>
where
    I: IntoIterator<Item = Result<Input<'a>, Failure>>,
{
    let mut verifier = Verifier::new();
    let mut boots: Vec<BootRange> = Vec::new();
    let mut buf = Vec::with_capacity(LINE_LIMIT);
    let mut last_name = String::from("(no input)");
    let mut last_lines = 0u64;
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
            let starts = matches!(row.header.kind, AuditKind::Boot | AuditKind::Rotate);
            if verifier.rows() == 0 && !starts {
                return Err(bad(at, Reason::BadStart));
            }
            verifier
                .push(row.as_row_ref())
                .map_err(|e| bad(at, Reason::Chain(e.kind)))?;
            match boots.last_mut() {
                Some(b) if b.boot == line.boot => b.last_seq = line.seq,
                _ => boots.push(BootRange {
                    boot: line.boot,
                    first_seq: line.seq,
                    last_seq: line.seq,
                }),
            }
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
