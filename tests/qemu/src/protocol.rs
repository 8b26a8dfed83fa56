//! The line protocol the guest speaks on the serial console, in one place: the in-guest runner
//! prints its lines with the functions here and the host parses them with the functions here.
//!
//! ```text
//! @@COCONUT-TEST ok <name>
//! @@COCONUT-TEST fail <name> <one-line message>
//! @@COCONUT-TESTS done pass=<n> fail=<m>        the runner, after its last test
//! @@COCONUT-TESTS exit=<status>                 /init, after the runner exited
//! @@COCONUT-BENCH <name> p50_ns=<n> p90_ns=<n> calls=<n> returns=<r> unexpected=<n>
//! @@COCONUT-BENCH error <one-line message>      the benchmarks cannot measure in this boot
//! @@COCONUT-BENCH done
//! @@COCONUT-PROBE ok                            /init, booted with coconut.probe=1
//! ```
//!
//! Kernel messages can interleave with the guest's output on the console, so a marker is
//! recognised anywhere in a line. The parsers keep everything they see, in order (a repeated
//! test name is kept twice, a second `done` line is reported), and name every line that carries
//! a marker but does not parse: judging a run is the caller's job (`coconut-vmtest`).
//!
//! Constraints: std only, no I/O; the guest links this module too.

/// The marker of a per-test line.
pub const TEST_PREFIX: &str = "@@COCONUT-TEST ";
/// The marker of the runner's and `/init`'s summary lines.
pub const TESTS_PREFIX: &str = "@@COCONUT-TESTS ";
/// The line the runner prints after its last test starts with this.
pub const DONE_PREFIX: &str = "@@COCONUT-TESTS done";
/// `/init` prints this, then the runner's exit status, once the runner has exited.
pub const EXIT_PREFIX: &str = "@@COCONUT-TESTS exit=";
/// The marker of a benchmark line.
pub const BENCH_PREFIX: &str = "@@COCONUT-BENCH ";
/// The line the benchmark runner prints after its last benchmark.
pub const BENCH_DONE: &str = "@@COCONUT-BENCH done";
/// The marker of a line saying why the benchmarks cannot measure in this boot.
pub const BENCH_ERROR: &str = "@@COCONUT-BENCH error ";
/// Printed by the initramfs when booted with `coconut.probe=1`.
pub const PROBE_OK: &str = "@@COCONUT-PROBE ok";

/// One in-guest test result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The test passed.
    Ok,
    /// The test failed with this message.
    Fail(String),
}

/// The counts of the runner's `done` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Tests that passed.
    pub pass: u32,
    /// Tests that failed.
    pub fail: u32,
}

/// Everything a test boot said in the protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestLog {
    /// Every result line, in order; a name reported twice is here twice.
    pub results: Vec<(String, Outcome)>,
    /// The runner's `done` line, if it printed one.
    pub done: Option<Counts>,
    /// The runner's exit status as `/init` printed it.
    pub exit: Option<i32>,
    /// Lines that carry a marker but do not parse, or repeat a `done`/`exit` line.
    pub malformed: Vec<String>,
}

/// The line reporting that test `name` passed.
pub fn ok_line(name: &str) -> String {
    format!("{TEST_PREFIX}ok {name}")
}

/// The line reporting that test `name` failed; `message` is folded onto one line.
pub fn fail_line(name: &str, message: &str) -> String {
    let message = message.replace('\n', " | ");
    format!("{TEST_PREFIX}fail {name} {message}")
}

/// The runner's last line.
pub fn done_line(counts: Counts) -> String {
    format!("{DONE_PREFIX} pass={} fail={}", counts.pass, counts.fail)
}

/// The value of `key=` in `word`, as a number.
fn field<T: std::str::FromStr>(word: Option<&str>, key: &str) -> Option<T> {
    word?.strip_prefix(key)?.strip_prefix('=')?.parse().ok()
}

/// Parses the protocol lines of a test boot.
pub fn parse_tests(lines: &[String]) -> TestLog {
    let mut log = TestLog::default();
    for line in lines {
        if let Some(idx) = line.find(TEST_PREFIX) {
            let rest = &line[idx + TEST_PREFIX.len()..];
            let mut parts = rest.splitn(3, ' ');
            let result = match (parts.next(), parts.next().filter(|n| !n.is_empty())) {
                (Some("ok"), Some(name)) if parts.next().is_none() => Some((name, Outcome::Ok)),
                (Some("fail"), Some(name)) => {
                    Some((name, Outcome::Fail(parts.next().unwrap_or("").to_string())))
                }
                _ => None,
            };
            match result {
                Some((name, outcome)) => log.results.push((name.to_string(), outcome)),
                None => log.malformed.push(line.clone()),
            }
        } else if let Some(idx) = line.find(TESTS_PREFIX) {
            let rest = &line[idx + TESTS_PREFIX.len()..];
            let mut words = rest.split(' ');
            let parsed = match words.next() {
                Some("done") => {
                    let pass = field(words.next(), "pass");
                    let fail = field(words.next(), "fail");
                    match (pass, fail, words.next(), log.done) {
                        (Some(pass), Some(fail), None, None) => {
                            log.done = Some(Counts { pass, fail });
                            true
                        }
                        _ => false,
                    }
                }
                Some(word) => match (word.strip_prefix("exit="), log.exit) {
                    (Some(status), None) => status
                        .parse()
                        .ok()
                        .map(|status| log.exit = Some(status))
                        .is_some(),
                    _ => false,
                },
                None => false,
            };
            if !parsed {
                log.malformed.push(line.clone());
            }
        }
    }
    log
}

/// One benchmark figure: per-call nanoseconds over batches of calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchFigure {
    /// What was timed (`getppid`, `agent_cap_present`, …).
    pub name: String,
    /// The median per-call time over the batches, in nanoseconds.
    pub p50_ns: u64,
    /// The 90th percentile, in nanoseconds.
    pub p90_ns: u64,
    /// How many calls were made and checked (the timed batches and the warm-up).
    pub calls: u64,
    /// What every call was expected to return (`ok`, a value, or an errno name).
    pub returns: String,
    /// How many of those calls returned something else.
    pub unexpected: u64,
}

impl BenchFigure {
    /// The protocol line of this figure.
    pub fn line(&self) -> String {
        format!(
            "{BENCH_PREFIX}{} p50_ns={} p90_ns={} calls={} returns={} unexpected={}",
            self.name, self.p50_ns, self.p90_ns, self.calls, self.returns, self.unexpected
        )
    }
}

/// Everything a benchmark boot said in the protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BenchLog {
    /// Every figure, in order.
    pub figures: Vec<BenchFigure>,
    /// Whether the `done` line was seen.
    pub done: bool,
    /// The messages of `error` lines.
    pub errors: Vec<String>,
    /// Lines that carry the marker but do not parse.
    pub malformed: Vec<String>,
}

/// The line saying why the benchmarks cannot measure; `message` is folded onto one line.
pub fn bench_error_line(message: &str) -> String {
    format!("{BENCH_ERROR}{}", message.replace('\n', " | "))
}

/// Parses the protocol lines of a benchmark boot.
pub fn parse_bench(lines: &[String]) -> BenchLog {
    let mut log = BenchLog::default();
    for line in lines {
        if line.contains(BENCH_DONE) {
            log.done = true;
            continue;
        }
        if let Some(idx) = line.find(BENCH_ERROR) {
            log.errors.push(line[idx + BENCH_ERROR.len()..].to_string());
            continue;
        }
        let Some(idx) = line.find(BENCH_PREFIX) else {
            continue;
        };
        let mut words = line[idx + BENCH_PREFIX.len()..].split(' ');
        let figure = (|| {
            let name = words.next().filter(|n| !n.is_empty())?.to_string();
            let p50_ns = field(words.next(), "p50_ns")?;
            let p90_ns = field(words.next(), "p90_ns")?;
            let calls = field(words.next(), "calls")?;
            let returns: String = field(words.next(), "returns")?;
            let unexpected = field(words.next(), "unexpected")?;
            words.next().is_none().then_some(BenchFigure {
                name,
                p50_ns,
                p90_ns,
                calls,
                returns,
                unexpected,
            })
        })();
        match figure {
            Some(figure) => log.figures.push(figure),
            None => log.malformed.push(line.clone()),
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_results_even_when_kernel_lines_interleave() {
        let log = parse_tests(&lines(&[
            "[    1.0] random kernel line",
            "@@COCONUT-TEST ok kernel::release",
            "[    1.2] x@@COCONUT-TEST fail syscalls::spawn got EINVAL, want EFAULT",
            "@@COCONUT-TESTS done pass=1 fail=1",
            "@@COCONUT-TESTS exit=1",
        ]));
        assert_eq!(
            log.results,
            vec![
                ("kernel::release".to_string(), Outcome::Ok),
                (
                    "syscalls::spawn".to_string(),
                    Outcome::Fail("got EINVAL, want EFAULT".into())
                ),
            ]
        );
        assert_eq!(log.done, Some(Counts { pass: 1, fail: 1 }));
        assert_eq!(log.exit, Some(1));
        assert!(log.malformed.is_empty(), "{:?}", log.malformed);
    }

    #[test]
    fn keeps_a_repeated_name_twice() {
        let log = parse_tests(&lines(&[
            "@@COCONUT-TEST fail a::b first",
            "@@COCONUT-TEST ok a::b",
        ]));
        assert_eq!(log.results.len(), 2);
        assert_eq!(log.results[0].1, Outcome::Fail("first".into()));
    }

    #[test]
    fn names_malformed_and_repeated_summary_lines() {
        let log = parse_tests(&lines(&[
            "@@COCONUT-TEST bogus",
            "@@COCONUT-TEST ok",
            "@@COCONUT-TEST ok a b",
            "@@COCONUT-TESTS done pass=1",
            "@@COCONUT-TESTS done pass=1 fail=0",
            "@@COCONUT-TESTS done pass=2 fail=0",
            "@@COCONUT-TESTS exit=x",
            "@@COCONUT-TESTS exit=0",
            "@@COCONUT-TESTS exit=0",
        ]));
        assert!(log.results.is_empty());
        assert_eq!(log.done, Some(Counts { pass: 1, fail: 0 }));
        assert_eq!(log.exit, Some(0));
        assert_eq!(log.malformed.len(), 7, "{:?}", log.malformed);
    }

    #[test]
    fn printed_lines_parse_back() {
        let log = parse_tests(&[
            ok_line("m::a"),
            fail_line("m::b", "two\nlines"),
            done_line(Counts { pass: 1, fail: 1 }),
        ]);
        assert_eq!(log.results[1].1, Outcome::Fail("two | lines".into()));
        assert_eq!(log.done, Some(Counts { pass: 1, fail: 1 }));
        let figure = BenchFigure {
            name: "getppid".into(),
            p50_ns: 120,
            p90_ns: 130,
            calls: 30_000,
            returns: "ok".into(),
            unexpected: 0,
        };
        let bench = parse_bench(&[
            figure.line(),
            bench_error_line("no usable\nclock"),
            "x @@COCONUT-BENCH done".into(),
        ]);
        assert_eq!(bench.figures, vec![figure]);
        assert_eq!(bench.errors, ["no usable | clock"]);
        assert!(bench.done);
        assert!(bench.malformed.is_empty());
    }

    #[test]
    fn names_malformed_bench_lines() {
        let bench = parse_bench(&lines(&[
            "@@COCONUT-BENCH getppid p50_ns=1 p90_ns=2 calls=3",
            "@@COCONUT-BENCH getppid p50_ns=x p90_ns=2 calls=3 returns=ok unexpected=0",
        ]));
        assert!(bench.figures.is_empty());
        assert!(!bench.done);
        assert_eq!(bench.malformed.len(), 2);
    }
}
