//! Named pipeline stages with a progress line each, and running external commands.
//!
//! Every stage prints `==> [n/N] name` when it starts and `    done in 1.2s` when it ends, on
//! stderr, so stdout stays free for the one path a subcommand prints last.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// A pipeline of named stages, numbered as they run.
pub struct Pipeline {
    name: &'static str,
    total: usize,
    done: usize,
    started: Instant,
}

impl Pipeline {
    /// Starts a pipeline of `total` stages.
    pub fn new(name: &'static str, total: usize) -> Self {
        Pipeline {
            name,
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Runs one stage, printing its name before and its duration after.
    pub fn stage<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.done += 1;
        eprintln!("==> {} [{}/{}] {name}", self.name, self.done, self.total);
        let start = Instant::now();
        let value = f().with_context(|| format!("{} stage `{name}` failed", self.name))?;
        eprintln!("    done in {:.1}s", start.elapsed().as_secs_f64());
        Ok(value)
    }

    /// Prints the total time.
    pub fn finish(self) {
        eprintln!(
            "==> {} finished in {:.1}s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Runs a command to completion, inheriting stdio; fails with the command line on error.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs a command with its output sent to `log`; on failure prints the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = file.try_clone()?;
    let status = cmd
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        print_tail(log, 40);
        bail!(
            "{} failed ({status}); full log: {}",
            describe(cmd),
            log.display()
        );
    }
    Ok(())
}

/// Runs a command and returns its stdout as a string.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Prints the last `lines` lines of a file to stderr.
pub fn print_tail(path: &Path, lines: usize) {
    if let Ok(text) = std::fs::read(path) {
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        eprintln!(
            "---- last {} lines of {} ----",
            all.len() - start,
            path.display()
        );
        for line in &all[start..] {
            eprintln!("{line}");
        }
        eprintln!("---- end of log ----");
    }
}

/// A command line as the user would type it, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
