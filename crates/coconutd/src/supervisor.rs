//! The supervisor: each service's state machine, dependency order, restarts with backoff, and
//! orderly stops.
//!
//! Job: decide, on every turn of the event loop ([`Supervisor::step`]), what each service does
//! next, and do it: start a waiting service once what it `requires` is running and what it is
//! `after` is no longer starting; mark a `notify-fd` service running when it writes a newline;
//! on an exit, restart by policy after an exponential backoff (reset after a stable run); stop
//! in reverse dependency order, SIGTERM to the process group, then SIGKILL after
//! `stop_timeout`.
//!
//! States: `stopped` → `waiting` → `starting` (notify-fd only) → `running` → `stopping` →
//! `stopped`; an unexpected exit goes to `backoff` (then `waiting`) or `failed`. A service
//! is *wanted* while it should run; requests and shutdown change only that wish, and `step`
//! moves the states toward it.
//!
//! Constraints: the same code runs as PID 1 and as a plain process. Time comes in as an
//! argument (`now`), so the decisions are reproducible; the only side effects are spawning
//! ([`super::spawn`]) and signals to process groups.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rustix::process::{Pid, Signal, WaitStatus};

use super::proto::ServiceStatus;
use super::service::{Profile, Ready, Restart, Service};
use super::spawn::{self, Agent};

/// How many backoff delays a status keeps.
const DELAY_HISTORY: usize = 32;

/// Where a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not running, and not asked to.
    Stopped,
    /// Wanted; waiting for its dependencies.
    Waiting,
    /// Spawned; waiting for its readiness notification.
    Starting,
    /// Running (and ready).
    Running,
    /// SIGTERM sent; SIGKILL at `deadline` unless `killed` already.
    Stopping {
        /// When SIGKILL is due.
        deadline: Instant,
        /// Whether SIGKILL has been sent.
        killed: bool,
    },
    /// Exited; restarted at `until`.
    Backoff {
        /// When it restarts.
        until: Instant,
    },
    /// Gave up: exited by policy, could not be spawned, or a requirement failed.
    Failed,
}

impl State {
    /// The spelling in status replies.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "stopped",
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Stopping { .. } => "stopping",
            State::Backoff { .. } => "backoff",
            State::Failed => "failed",
        }
    }

    fn has_process(self) -> bool {
        matches!(
            self,
            State::Starting | State::Running | State::Stopping { .. }
        )
    }
}

/// One service's run-time record.
#[derive(Debug)]
struct Runtime {
    state: State,
    want: bool,
    restart_pending: bool,
    pid: Option<Pid>,
    notify: Option<OwnedFd>,
    agent: Agent,
    started_at: Option<Instant>,
    starts: u32,
    restarts: u32,
    delays: VecDeque<Duration>,
    last_delay: Option<Duration>,
    last_exit: Option<String>,
    reason: Option<String>,
}

impl Runtime {
    fn new() -> Runtime {
        Runtime {
            state: State::Stopped,
            want: false,
            restart_pending: false,
            pid: None,
            notify: None,
            agent: Agent::None,
            started_at: None,
            starts: 0,
            restarts: 0,
            delays: VecDeque::new(),
            last_delay: None,
            last_exit: None,
            reason: None,
        }
    }
}

/// What a waiting request wants to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The service running (start, restart).
    Up,
    /// The service stopped (stop).
    Down,
}

/// The outcome of a goal, once settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Reached.
    Reached,
    /// Cannot be reached; why.
    Failed(String),
}

/// A line of the supervisor's log (what it did and why), for the console and tests.
pub type LogFn = Box<dyn FnMut(&str)>;

/// The supervisor of one profile.
pub struct Supervisor {
    profile: Profile,
    order: Vec<String>,
    rt: BTreeMap<String, Runtime>,
    key: SigningKey,
    log: LogFn,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

fn describe(status: WaitStatus) -> (String, bool) {
    if let Some(code) = status.exit_status() {
        (format!("exited {code}"), code != 0)
    } else if let Some(sig) = status.terminating_signal() {
        (format!("killed by signal {sig}"), true)
    } else {
        ("ended".to_string(), true)
    }
}

impl Supervisor {
    /// A supervisor with every service stopped and unwanted.
    pub fn new(profile: Profile, key: SigningKey, log: LogFn) -> Supervisor {
        let order = profile.start_order();
        let rt = order.iter().map(|n| (n.clone(), Runtime::new())).collect();
        Supervisor {
            profile,
            order,
            rt,
            key,
            log,
        }
    }

    /// The services' names in start order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// Whether `name` is a service.
    pub fn has(&self, name: &str) -> bool {
        self.rt.contains_key(name)
    }

    /// The state of `name`.
    pub fn state(&self, name: &str) -> Option<State> {
        self.rt.get(name).map(|r| r.state)
    }

    fn svc(&self, name: &str) -> &Service {
        &self.profile.services[name]
    }

    /// Wants every service (boot).
    pub fn start_all(&mut self) {
        for r in self.rt.values_mut() {
            r.want = true;
        }
    }

    /// Wants `name` and, transitively, what it requires. A service in backoff restarts now.
    pub fn start(&mut self, name: &str, now: Instant) {
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            let requires = self.svc(&n).requires.clone();
            if let Some(r) = self.rt.get_mut(&n) {
                if r.want && !matches!(r.state, State::Backoff { .. }) {
                    continue;
                }
                r.want = true;
                r.reason = None;
                if let State::Backoff { .. } = r.state {
                    r.state = State::Backoff { until: now };
                }
            }
            todo.extend(requires);
        }
    }

    /// Unwants `name` and, transitively, what requires it (stopped first).
    pub fn stop(&mut self, name: &str) {
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            if let Some(r) = self.rt.get_mut(&n) {
                if !r.want && !r.restart_pending {
                    continue;
                }
                r.want = false;
                r.restart_pending = false;
            }
            for (dn, d) in &self.profile.services {
                if d.requires.contains(&n) {
                    todo.push(dn.clone());
                }
            }
        }
    }

    /// Stops `name` (if it runs) and starts it again once it has stopped.
    pub fn restart(&mut self, name: &str, now: Instant) {
        let active = self.rt.get(name).is_some_and(|r| r.state.has_process());
        if active {
            if let Some(r) = self.rt.get_mut(name) {
                r.want = false;
                r.restart_pending = true;
            }
        } else {
            self.start(name, now);
        }
    }

    /// Unwants everything (shutdown).
    pub fn stop_all(&mut self) {
        for r in self.rt.values_mut() {
            r.want = false;
            r.restart_pending = false;
        }
    }

    /// Whether no service has a process.
    pub fn all_down(&self) -> bool {
        self.rt.values().all(|r| !r.state.has_process())
    }

    /// Whether `goal` for `name` is settled, and how.
    pub fn settled(&self, name: &str, goal: Goal) -> Option<Settled> {
        let r = self.rt.get(name)?;
        match goal {
            Goal::Down => match r.state {
                State::Stopped | State::Failed => Some(Settled::Reached),
                _ => None,
            },
            Goal::Up if r.restart_pending => None,
            Goal::Up => match r.state {
                State::Running => Some(Settled::Reached),
                State::Failed | State::Stopped => Some(Settled::Failed(
                    r.reason
                        .clone()
                        .or_else(|| r.last_exit.clone())
                        .unwrap_or_else(|| "stopped".into()),
                )),
                State::Backoff { until } => Some(Settled::Failed(format!(
                    "{}; restarting in {}",
                    r.last_exit.as_deref().unwrap_or("exited"),
                    humantime::format_duration(
                        until
                            .saturating_duration_since(Instant::now())
                            .max(Duration::from_millis(1))
                    )
                ))),
                _ => None,
            },
        }
    }

    /// The notify fds to poll, with their service's name.
    pub fn notify_fds(&self) -> Vec<(String, BorrowedFd<'_>)> {
        self.rt
            .iter()
            .filter_map(|(n, r)| r.notify.as_ref().map(|fd| (n.clone(), fd.as_fd())))
            .collect()
    }

    /// The earliest time `step` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.rt
            .values()
            .filter_map(|r| match r.state {
                State::Backoff { until } if r.want => Some(until),
                State::Stopping {
                    deadline,
                    killed: false,
                } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Moves every service toward what is wanted, until nothing changes.
    pub fn step(&mut self, now: Instant) {
        // Each pass changes at least one state or stops; a bound keeps a bug from spinning.
        for _ in 0..(4 * self.order.len() + 4) {
            if !self.pass(now) {
                break;
            }
        }
    }

    fn pass(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for i in 0..self.order.len() {
            let name = self.order[i].clone();
            changed |= self.advance(&name, now);
        }
        // Stops go in reverse order, so dependents are signalled first.
        for i in (0..self.order.len()).rev() {
            let name = self.order[i].clone();
            changed |= self.advance_stop(&name, now);
        }
        changed
    }

    fn advance(&mut self, name: &str, now: Instant) -> bool {
        let (state, want) = {
            let r = &self.rt[name];
            (r.state, r.want)
        };
        match state {
            State::Stopped | State::Failed if want => {
                self.set(name, State::Waiting);
                true
            }
            State::Backoff { .. } if !want => {
                self.set(name, State::Stopped);
                true
            }
            State::Backoff { until } if now >= until => {
                self.set(name, State::Waiting);
                true
            }
            State::Waiting if !want => {
                self.set(name, State::Stopped);
                true
            }
            State::Waiting => match self.blocked_on(name) {
                Blocked::No => {
                    self.launch(name, now);
                    true
                }
                Blocked::Wait => false,
                Blocked::Never(why) => {
                    let r = self.rt.get_mut(name).expect("known service");
                    r.want = false;
                    r.reason = Some(why.clone());
                    self.set(name, State::Failed);
                    (self.log)(&format!("{name}: not started: {why}"));
                    true
                }
            },
            _ => false,
        }
    }

    fn advance_stop(&mut self, name: &str, now: Instant) -> bool {
        let r = &self.rt[name];
        match r.state {
            State::Starting | State::Running if !r.want => {
                if self.dependents_active(name) {
                    return false;
                }
                let timeout = self.svc(name).stop_timeout;
                self.signal(name, Signal::TERM);
                self.set(
                    name,
                    State::Stopping {
                        deadline: now + timeout,
                        killed: false,
                    },
                );
                true
            }
            State::Stopping {
                deadline,
                killed: false,
            } if now >= deadline => {
                let msg = format!(
                    "{name}: still running {} after SIGTERM; sending SIGKILL",
                    humantime::format_duration(self.svc(name).stop_timeout)
                );
                (self.log)(&msg);
                self.signal(name, Signal::KILL);
                self.set(
                    name,
                    State::Stopping {
                        deadline,
                        killed: true,
                    },
                );
                true
            }
            _ => false,
        }
    }

    /// Whether a service that depends on `name` and is going down still has a process.
    fn dependents_active(&self, name: &str) -> bool {
        self.profile.services.values().any(|d| {
            (d.requires.iter().any(|x| x == name) || d.after.iter().any(|x| x == name))
                && self
                    .rt
                    .get(&d.name)
                    .is_some_and(|r| !r.want && r.state.has_process())
        })
    }

    fn blocked_on(&self, name: &str) -> Blocked {
        let svc = self.svc(name);
        let mut wait = false;
        for dep in &svc.requires {
            let r = &self.rt[dep];
            match r.state {
                State::Running => {}
                State::Failed | State::Stopped if !r.want => {
                    return Blocked::Never(format!("requires {dep}, which is {}", r.state.as_str()))
                }
                _ => wait = true,
            }
        }
        for dep in &svc.after {
            let r = &self.rt[dep];
            if r.want && matches!(r.state, State::Waiting | State::Starting) {
                wait = true;
            }
        }
        if wait {
            Blocked::Wait
        } else {
            Blocked::No
        }
    }

    fn launch(&mut self, name: &str, now: Instant) {
        let svc = self.profile.services[name].clone();
        match spawn::spawn(&svc, &self.key) {
            Ok(s) => {
                let r = self.rt.get_mut(name).expect("known service");
                r.pid = Some(s.pid);
                r.notify = s.notify;
                r.agent = s.agent;
                r.started_at = Some(now);
                r.starts += 1;
                r.reason = None;
                let next = match svc.ready {
                    Ready::None => State::Running,
                    Ready::NotifyFd(_) => State::Starting,
                };
                let msg = format!(
                    "{name}: started pid {} (agent: {})",
                    s.pid.as_raw_nonzero(),
                    r.agent
                );
                self.set(name, next);
                (self.log)(&msg);
            }
            Err(e) => {
                let why = format!("cannot start: {e}");
                (self.log)(&format!("{name}: {why}"));
                let r = self.rt.get_mut(name).expect("known service");
                r.want = false;
                r.reason = Some(why);
                self.set(name, State::Failed);
            }
        }
    }

    fn signal(&mut self, name: &str, sig: Signal) {
        if let Some(pid) = self.rt[name].pid {
            // The service leads its own session and process group (setsid in the child).
            if let Err(e) = rustix::process::kill_process_group(pid, sig) {
                if e != rustix::io::Errno::SRCH {
                    (self.log)(&format!("{name}: kill({sig:?}) failed: {e}"));
                }
            }
        }
    }

    fn set(&mut self, name: &str, state: State) {
        if let Some(r) = self.rt.get_mut(name) {
            r.state = state;
        }
    }

    /// A child exited. Returns whether it was a service's main process (orphans are only
    /// reaped).
    pub fn on_exit(&mut self, pid: Pid, status: WaitStatus, now: Instant) -> bool {
        let Some(name) = self
            .rt
            .iter()
            .find(|(_, r)| r.pid == Some(pid))
            .map(|(n, _)| n.clone())
        else {
            return false;
        };
        let (how, failure) = describe(status);
        let svc = self.profile.services[&name].clone();
        let r = self.rt.get_mut(&name).expect("known service");
        r.pid = None;
        r.notify = None;
        r.last_exit = Some(how.clone());
        let ran = r
            .started_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        match r.state {
            State::Stopping { .. } => {
                r.state = State::Stopped;
                if r.restart_pending {
                    r.restart_pending = false;
                    r.want = true;
                    r.last_delay = None;
                }
                (self.log)(&format!("{name}: stopped ({how})"));
            }
            _ => {
                let again = r.want
                    && match svc.restart {
                        Restart::Always => true,
                        Restart::OnFailure => failure,
                        Restart::No => false,
                    };
                if again {
                    let prev = if ran >= svc.backoff.reset_after {
                        None
                    } else {
                        r.last_delay
                    };
                    let delay = svc.backoff.next(prev);
                    r.last_delay = Some(delay);
                    if r.delays.len() == DELAY_HISTORY {
                        r.delays.pop_front();
                    }
                    r.delays.push_back(delay);
                    r.restarts += 1;
                    r.state = State::Backoff { until: now + delay };
                    (self.log)(&format!(
                        "{name}: {how}; restarting in {}",
                        humantime::format_duration(delay)
                    ));
                } else {
                    r.want = false;
                    r.state = if failure {
                        State::Failed
                    } else {
                        State::Stopped
                    };
                    if failure {
                        r.reason = Some(format!("{how} (restart = \"{}\")", svc.restart.as_str()));
                    }
                    (self.log)(&format!("{name}: {how}; not restarted"));
                }
            }
        }
        true
    }

    /// The notify fd of `name` is readable: a newline makes it running; end of file without
    /// one is logged and the fd dropped (it stays `starting`).
    pub fn on_notify(&mut self, name: &str) {
        let Some(r) = self.rt.get_mut(name) else {
            return;
        };
        let Some(fd) = r.notify.as_ref() else { return };
        let mut buf = [0u8; 256];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => {
                r.notify = None;
                let why = "closed its notify fd without writing a newline; not ready".to_string();
                r.reason = Some(why.clone());
                (self.log)(&format!("{name}: {why}"));
            }
            Ok(n) => {
                if buf[..n].contains(&b'\n') {
                    r.notify = None;
                    if r.state == State::Starting {
                        r.state = State::Running;
                        (self.log)(&format!("{name}: ready"));
                    }
                }
            }
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
            Err(e) => {
                r.notify = None;
                (self.log)(&format!("{name}: reading its notify fd failed: {e}"));
            }
        }
    }

    /// The status of `name`.
    pub fn status(&self, name: &str) -> Option<ServiceStatus> {
        let r = self.rt.get(name)?;
        let svc = self.svc(name);
        Some(ServiceStatus {
            name: name.to_string(),
            state: r.state.as_str().to_string(),
            pid: r.pid.map(|p| p.as_raw_nonzero().get() as u32),
            agent: r.agent.to_string(),
            starts: r.starts,
            restarts: r.restarts,
            restart_delays_ms: r
                .delays
                .iter()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .collect(),
            last_exit: r.last_exit.clone(),
            reason: r.reason.clone(),
            restart: svc.restart.as_str().to_string(),
            requires: svc.requires.clone(),
            after: svc.after.clone(),
        })
    }

    /// Every service's status, in start order.
    pub fn statuses(&self) -> Vec<ServiceStatus> {
        self.order.iter().filter_map(|n| self.status(n)).collect()
    }

    /// The agent outcome shared by the services: `available` if any got an AID, else the
    /// first refusal, else `not tried yet`.
    pub fn agents_summary(&self) -> String {
        let mut refusal = None;
        for r in self.rt.values() {
            match &r.agent {
                Agent::Aid(_) => return "available".into(),
                Agent::Unavailable(_) if refusal.is_none() => refusal = Some(r.agent.to_string()),
                _ => {}
            }
        }
        refusal.unwrap_or_else(|| "not tried yet".into())
    }
}

enum Blocked {
    No,
    Wait,
    Never(String),
}

/// Reaps every exited child without blocking: `(pid, status)` pairs.
pub fn reap_all() -> io::Result<Vec<(Pid, WaitStatus)>> {
    let mut out = Vec::new();
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => out.push((pid, status)),
            Ok(None) => return Ok(out),
            Err(rustix::io::Errno::CHILD) => return Ok(out),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
