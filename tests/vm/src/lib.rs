//! Judging a VM test run: which tests to expect, and what each of them, and the run as a whole,
//! amounts to. Pure functions of the runner's `--list` output and the parsed serial log, so
//! every way a run can be dishonest is a host unit test here.
//!
//! A run passes only if the listing names at least one test and no name twice, every listed
//! test reported exactly once and passed, the guest reported no test the listing does not name,
//! and the [`GUEST_FINISHED`] trial holds: the runner printed its `done` line, the counts on it
//! match the result lines seen, `/init` printed the runner's exit status and it is 0, and no
//! protocol line was malformed.

use coconut_qemu::protocol::{Counts, Outcome, TestLog};

/// The name of the trial that judges the run as a whole.
pub const GUEST_FINISHED: &str = "vm::guest_finished";

/// The tests to expect, from the runner's `--list` output (one name per line). An empty
/// listing or a repeated name is an error: a run against it could not be honest.
pub fn plan(listing: &str) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for name in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if name.contains(char::is_whitespace) {
            return Err(format!("the runner lists `{name}`, a name with a space"));
        }
        if names.iter().any(|n| n == name) {
            return Err(format!("the runner lists `{name}` twice"));
        }
        if name == GUEST_FINISHED {
            return Err(format!("the runner lists `{name}`, the host's own trial"));
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        return Err(
            "the runner's --list names no test; a run would pass without testing anything".into(),
        );
    }
    Ok(names)
}

/// How a boot ended, as the driver saw it.
#[derive(Clone, Debug)]
pub struct Run {
    /// The parsed protocol lines.
    pub log: TestLog,
    /// The deadline passed (QEMU was killed).
    pub timed_out: bool,
    /// The deadline, in seconds.
    pub timeout_s: u64,
    /// Where the serial log is.
    pub log_path: String,
    /// The last lines of the serial log.
    pub log_tail: String,
}

impl Run {
    fn where_to_look(&self) -> String {
        format!("serial log {}, tail:\n{}", self.log_path, self.log_tail)
    }

    /// Why the guest did not get to the end, if it did not.
    fn unfinished(&self) -> Option<String> {
        if self.timed_out {
            Some(format!(
                "the guest did not finish within {}s",
                self.timeout_s
            ))
        } else if self.log.exit.is_none() {
            Some("the guest stopped (crash, panic or reboot) before /init reported the runner's exit status".into())
        } else {
            None
        }
    }
}

/// The verdict on one trial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The trial's name.
    pub name: String,
    /// `Err(message)` if it failed.
    pub result: Result<(), String>,
}

/// Judges a run: one verdict per listed test, one per reported but unlisted test
/// (`unlisted::<name>`), and the [`GUEST_FINISHED`] verdict last.
pub fn judge(names: &[String], run: &Run) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for name in names {
        let reports: Vec<&Outcome> = run
            .log
            .results
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, o)| o)
            .collect();
        let result = match reports.as_slice() {
            [] => Err(format!(
                "{}; {}",
                run.unfinished()
                    .unwrap_or_else(|| "the guest runner did not report this test".into()),
                run.where_to_look()
            )),
            [Outcome::Ok] => Ok(()),
            [Outcome::Fail(msg)] => Err(msg.clone()),
            many => Err(format!(
                "reported {} times ({}); a name must be reported once",
                many.len(),
                many.iter()
                    .map(|o| match o {
                        Outcome::Ok => "ok".to_string(),
                        Outcome::Fail(m) => format!("fail: {m}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        verdicts.push(Verdict {
            name: name.clone(),
            result,
        });
    }
    let mut unlisted: Vec<&String> = Vec::new();
    for (name, _) in &run.log.results {
        if !names.contains(name) && !unlisted.contains(&name) {
            unlisted.push(name);
        }
    }
    for name in unlisted {
        verdicts.push(Verdict {
            name: format!("unlisted::{name}"),
            result: Err(format!(
                "guest reported `{name}`, which `--list` does not name (a stale runner?)"
            )),
        });
    }
    verdicts.push(Verdict {
        name: GUEST_FINISHED.into(),
        result: guest_finished(run),
    });
    verdicts
}

/// The run as a whole: finished, `done` line present and consistent, exit status 0, no
/// malformed protocol line.
fn guest_finished(run: &Run) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(why) = run.unfinished() {
        problems.push(why);
    }
    let seen = Counts {
        pass: count(&run.log, |o| *o == Outcome::Ok),
        fail: count(&run.log, |o| matches!(o, Outcome::Fail(_))),
    };
    match run.log.done {
        None => problems.push("the runner printed no `done` line".into()),
        Some(done) if done != seen => problems.push(format!(
            "the `done` line says pass={} fail={}, but the log has {} ok and {} fail lines",
            done.pass, done.fail, seen.pass, seen.fail
        )),
        Some(_) => {}
    }
    match run.log.exit {
        Some(0) | None => {}
        Some(status) => problems.push(format!("the runner exited with status {status}")),
    }
    for line in &run.log.malformed {
        problems.push(format!("malformed protocol line `{line}`"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; {}", problems.join("; "), run.where_to_look()))
    }
}

fn count(log: &TestLog, f: impl Fn(&Outcome) -> bool) -> u32 {
    let n = log.results.iter().filter(|(_, o)| f(o)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use coconut_qemu::protocol::{done_line, fail_line, ok_line, parse_tests, EXIT_PREFIX};

    use super::*;

    fn names() -> Vec<String> {
        plan("a::one\na::two\n").unwrap()
    }

    fn run(lines: &[String]) -> Run {
        Run {
            log: parse_tests(lines),
            timed_out: false,
            timeout_s: 600,
            log_path: "target/vm-logs/guest-tests.log".into(),
            log_tail: "last line".into(),
        }
    }

    fn exit(status: i32) -> String {
        format!("{EXIT_PREFIX}{status}")
    }

    fn good() -> Vec<String> {
        vec![
            ok_line("a::one"),
            ok_line("a::two"),
            done_line(Counts { pass: 2, fail: 0 }),
            exit(0),
        ]
    }

    fn failures(verdicts: &[Verdict]) -> Vec<(&str, &str)> {
        verdicts
            .iter()
            .filter_map(|v| {
                v.result
                    .as_ref()
                    .err()
                    .map(|e| (v.name.as_str(), e.as_str()))
            })
            .collect()
    }

    #[test]
    fn a_good_run_passes_every_trial() {
        let verdicts = judge(&names(), &run(&good()));
        assert_eq!(verdicts.len(), 3);
        assert_eq!(verdicts[2].name, GUEST_FINISHED);
        assert!(failures(&verdicts).is_empty(), "{verdicts:?}");
    }

    #[test]
    fn an_empty_listing_fails() {
        let err = plan("\n  \n").unwrap_err();
        assert!(err.contains("names no test"), "{err}");
    }

    #[test]
    fn a_repeated_listed_name_fails() {
        let err = plan("a::one\na::two\na::one\n").unwrap_err();
        assert!(err.contains("`a::one` twice"), "{err}");
    }

    #[test]
    fn a_repeated_reported_name_fails_even_if_the_last_report_is_ok() {
        let mut lines = good();
        lines.insert(0, fail_line("a::one", "boom"));
        let verdicts = judge(&names(), &run(&lines));
        let f = failures(&verdicts);
        assert_eq!(f[0].0, "a::one");
        assert!(f[0].1.contains("reported 2 times"), "{}", f[0].1);
        assert!(f[0].1.contains("fail: boom"), "{}", f[0].1);
    }

    #[test]
    fn a_missing_done_line_fails_the_run() {
        let mut lines = good();
        lines.remove(2);
        let verdicts = judge(&names(), &run(&lines));
        let f = failures(&verdicts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, GUEST_FINISHED);
        assert!(f[0].1.contains("no `done` line"), "{}", f[0].1);
    }

    #[test]
    fn wrong_counts_fail_the_run() {
        let mut lines = good();
        lines[2] = done_line(Counts { pass: 3, fail: 0 });
        let verdicts = judge(&names(), &run(&lines));
        let f = failures(&verdicts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].1
                .contains("says pass=3 fail=0, but the log has 2 ok and 0 fail lines"),
            "{}",
            f[0].1
        );
    }

    #[test]
    fn a_non_zero_exit_status_fails_the_run() {
        let mut lines = good();
        lines[3] = exit(101);
        let verdicts = judge(&names(), &run(&lines));
        let f = failures(&verdicts);
        assert_eq!(f.len(), 1);
        assert!(f[0].1.contains("exited with status 101"), "{}", f[0].1);
    }

    #[test]
    fn a_guest_that_never_finishes_fails_with_the_log_path_and_tail() {
        let mut r = run(&[ok_line("a::one")]);
        r.timed_out = true;
        let verdicts = judge(&names(), &r);
        let f = failures(&verdicts);
        assert_eq!(f.len(), 2, "{f:?}");
        for (_, msg) in &f {
            assert!(msg.contains("did not finish within 600s"), "{msg}");
            assert!(msg.contains("target/vm-logs/guest-tests.log"), "{msg}");
            assert!(msg.contains("last line"), "{msg}");
        }
        // A guest that crashed (no exit line, no deadline) says so.
        let f = judge(&names(), &run(&[ok_line("a::one")]));
        assert!(f[1].result.as_ref().unwrap_err().contains("stopped"));
    }

    #[test]
    fn unlisted_and_malformed_lines_fail() {
        let mut lines = good();
        lines.insert(0, ok_line("a::stale"));
        lines.insert(0, "@@COCONUT-TEST maybe a::one".into());
        let verdicts = judge(&names(), &run(&lines));
        let f = failures(&verdicts);
        assert_eq!(f[0].0, "unlisted::a::stale");
        assert_eq!(f[1].0, GUEST_FINISHED);
        assert!(f[1].1.contains("malformed protocol line"), "{}", f[1].1);
        // The stale line also breaks the counts.
        assert!(f[1].1.contains("3 ok"), "{}", f[1].1);
    }
}
