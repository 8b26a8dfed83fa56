//! `coconut audit tail`: the last lines of `chain.log`, rendered for humans, optionally
//! following appended lines.
//!
//! Job: keep the last N complete lines while reading the file once (constant memory for a
//! fixed N), print them, and with `follow` poll the file's size every 200 ms and print each
//! new complete line as it appears. When the file shrinks (the sealer rotated it into a shard
//! and started a new `chain.log`), reading starts again at its beginning. Lines are parsed with
//! the shared parser ([`ChainLogLine::parse`]); a line that does not parse is shown as it is,
//! marked, and never stops the tail.
//!
//! Constraints: never changes the file; stdout is flushed after each batch so a pipe sees lines
//! at once; SIGINT keeps its default action (the process ends; nothing is left half-written
//! because every line is written whole).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use libcoconut::audit::ChainLogLine;

/// How often `--follow` looks at the file's size.
pub const POLL: Duration = Duration::from_millis(200);

/// How a line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One aligned line per row: seq, time, kind, actor → subject, result, detail.
    Human,
    /// The raw `chain.log` line.
    Raw,
}

/// Renders one `chain.log` line (without its newline) for humans.
pub fn render(line: &str) -> String {
    match ChainLogLine::parse(line) {
        Ok(l) => {
            let time = UNIX_EPOCH + Duration::from_nanos(l.time_ns);
            let result = if l.result == 0 {
                "ok".to_owned()
            } else {
                l.result.to_string()
            };
            format!(
                "{:>6}  {}  {:<11}  {} → {}  {:>4}  {}",
                l.seq,
                humantime::format_rfc3339_millis(time),
                l.kind,
                l.actor,
                l.subject,
                result,
                l.detail
            )
        }
        Err(e) => format!("(unparsable line: {e}) {line}"),
    }
}

fn emit(out: &mut impl Write, line: &[u8], format: Format) -> io::Result<()> {
    let text = String::from_utf8_lossy(line);
    match format {
        Format::Raw => writeln!(out, "{text}"),
        Format::Human => writeln!(out, "{}", render(&text)),
    }
}

/// Reads complete lines from `reader` and keeps the last `n`; returns them and the number of
/// bytes consumed (up to the end of the last complete line).
fn last_lines(reader: impl Read, n: usize) -> io::Result<(VecDeque<Vec<u8>>, u64)> {
    let mut reader = BufReader::new(reader);
    let mut kept = VecDeque::with_capacity(n.min(1024));
    let mut consumed = 0u64;
    loop {
        let mut line = Vec::new();
        let got = reader.read_until(b'\n', &mut line)?;
        if got == 0 || line.last() != Some(&b'\n') {
            break;
        }
        consumed += got as u64;
        line.pop();
        if n > 0 {
            if kept.len() == n {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    }
    Ok((kept, consumed))
}

/// Prints the last `n` lines of `path` to `out`; with `follow`, then waits for more, forever.
pub fn tail(
    path: &Path,
    n: usize,
    follow: bool,
    format: Format,
    out: &mut impl Write,
) -> Result<()> {
    let open = || {
        File::open(path).with_context(|| {
            format!(
                "cannot read {}; is agentfs mounted at /agent (and are you root)?",
                path.display()
            )
        })
    };
    let file = open()?;
    let (lines, mut pos) = last_lines(&file, n)?;
    for l in &lines {
        emit(out, l, format)?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let mut file = file;
    loop {
        std::thread::sleep(POLL);
        let (len, ino) = match std::fs::metadata(path) {
            Ok(m) => (m.len(), m.ino()),
            // Between rotation's rename and the new file: look again at the next poll.
            Err(_) => continue,
        };
        if len < pos || ino != file.metadata()?.ino() {
            // Rotated: a new chain.log, read from its start.
            file = open()?;
            pos = 0;
        }
        if len == pos {
            continue;
        }
        file.seek(SeekFrom::Start(pos))?;
        let (lines, got) = last_lines(&file, usize::MAX)?;
        pos += got;
        for l in &lines {
            emit(out, l, format)?;
        }
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_are_kept_and_only_the_last_n() {
        let (kept, consumed) = last_lines(&b"a\nb\nc\npartial"[..], 2).unwrap();
        assert_eq!(kept, [b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(consumed, 6);
        let (kept, consumed) = last_lines(&b"a\nb\n"[..], 0).unwrap();
        assert!(kept.is_empty());
        assert_eq!(consumed, 4);
    }

    #[test]
    fn an_unparsable_line_is_shown_marked() {
        let shown = render("not json");
        assert!(shown.starts_with("(unparsable line: "), "{shown}");
        assert!(shown.ends_with(" not json"), "{shown}");
    }
}
