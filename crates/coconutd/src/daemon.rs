//! The event loop: signals, reaping, the supervisor's deadlines, and the IPC server.
//!
//! Job: one `poll(2)` loop over the signal self-pipe, the listening socket, every client and
//! every notify fd. Each turn reaps every exited child (coconutd is a child subreaper, so
//! orphans of services come here too), lets the [`Supervisor`] move, answers requests,
//! settles requests that wait for a service to come up or go down, and lets the audit
//! [`Persister`] (when configured) copy new `chain.log` rows to disk on its timer.
//!
//! Constraints: nothing a client does can block the loop or another client: sockets are
//! non-blocking, each client has bounded buffers ([`MAX_FRAME`] in; [`OUT_LIMIT`] out, past
//! which its requests are not read until it drains), a client stalled mid-frame or not
//! reading its answers for the client timeout is dropped, and at most [`MAX_CLIENTS`] are
//! served at once. A frame with a length over [`MAX_FRAME`] (or 0) gets a `frame_too_large`
//! error and the connection is closed (the framing is lost); malformed CBOR and unknown
//! versions get an error and the connection stays usable.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::persister::{AuditConfig, Persister};
use super::proto::{
    self, DaemonStatus, ErrorCode, Reply, Request, RequestFrame, ResponseFrame, MAX_FRAME,
};
use super::service::{NameDb, Profile};
use super::spawn;
use super::supervisor::{reap_all, Goal, LogFn, Settled, Supervisor};

/// Most clients served at once; one more is answered `unavailable` and closed.
pub const MAX_CLIENTS: usize = 64;

/// Pending output per client past which its further requests wait (256 KiB).
pub const OUT_LIMIT: usize = 256 * 1024;

/// The default client timeout: mid-frame or not reading for this long drops the client.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How coconutd is run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The profile directory (`*.toml` services).
    pub profile: PathBuf,
    /// The socket path.
    pub socket: PathBuf,
    /// Whether this is PID 1 (status only; the PID-1 duties are in `pid1`).
    pub pid1: bool,
    /// The manifest signing key (32-byte seed or 64 hex digits); `None`: ephemeral.
    pub key: Option<PathBuf>,
    /// See [`DEFAULT_CLIENT_TIMEOUT`].
    pub client_timeout: Duration,
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything stopped for a poweroff (request, SIGTERM or SIGPWR).
    Poweroff,
    /// Everything stopped for a reboot (request or SIGINT).
    Reboot,
}

struct Client {
    stream: UnixStream,
    uid: u32,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    partial_since: Option<Instant>,
    stalled_since: Option<Instant>,
    close_after_flush: bool,
    dead: bool,
}

impl Client {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn queue(&mut self, frame: &ResponseFrame) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        self.out.extend_from_slice(&proto::encode_frame(frame));
    }

    fn flush(&mut self, now: Instant) {
        while self.pending() > 0 {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.out_pos += n;
                    self.stalled_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stalled_since.get_or_insert(now);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.close_after_flush {
            self.dead = true;
        }
    }
}

struct Waiter {
    client: u64,
    id: u64,
    name: String,
    goal: Goal,
}

/// Signals the loop reacts to, set by the handlers.
struct Signals {
    chld: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    wake: UnixStream,
}

fn register_signals() -> io::Result<Signals> {
    let (wake, writer) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let chld = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    let int = Arc::new(AtomicBool::new(false));
    use libc::SIGPWR;
    use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
    for (sig, flag) in [
        (SIGCHLD, &chld),
        (SIGTERM, &term),
        (SIGPWR, &term),
        (SIGINT, &int),
    ] {
        signal_hook::flag::register(sig, Arc::clone(flag))?;
        signal_hook::low_level::pipe::register(sig, writer.try_clone()?)?;
    }
    Ok(Signals {
        chld,
        term,
        int,
        wake,
    })
}

/// Binds the socket: creates its directory, replaces a stale socket, refuses a live one.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    if path.exists() {
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another coconutd is listening on {}", path.display()),
                ))
            }
            Err(_) => std::fs::remove_file(path)?,
        }
    }
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    // Anyone may connect and read; changes are authorised by peer credentials.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(l)
}

/// The daemon.
pub struct Daemon {
    cfg: Config,
    sup: Supervisor,
    listener: UnixListener,
    clients: BTreeMap<u64, Client>,
    next_client: u64,
    waiters: Vec<Waiter>,
    started: Instant,
    own_uid: u32,
    shutdown: Option<Exit>,
    booted: bool,
    audit: Option<Persister>,
    log: LogFn,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn logger(prefix: &'static str) -> LogFn {
    Box::new(move |m| eprintln!("{prefix}{m}"))
}

impl Daemon {
    /// Loads the profile, binds the socket and readies the supervisor (nothing started yet),
    /// without the audit persister.
    pub fn new(cfg: Config) -> Result<Daemon, String> {
        Daemon::with_audit(cfg, None)
    }

    /// As [`Daemon::new`], and with `audit`, starts the audit chain and its persister
    /// ([`Persister::start`]) once the socket is bound, before any service starts.
    pub fn with_audit(cfg: Config, audit: Option<AuditConfig>) -> Result<Daemon, String> {
        let mut log = logger("coconutd: ");
        let profile = Profile::load_dir(&cfg.profile, &NameDb::system())
            .map_err(|e| format!("the profile has errors:\n{e}"))?;
        let (key, source) = spawn::load_key(cfg.key.as_deref())?;
        log(&format!(
            "profile {}: {} services; manifest key {source}",
            cfg.profile.display(),
            profile.services.len()
        ));
        let listener = bind(&cfg.socket)
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.socket.display()))?;
        // Orphans of services are re-parented here, so every process is reaped.
        if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
            log(&format!(
                "cannot become a child subreaper ({e}); orphans go to PID 1"
            ));
        }
        let audit = audit.map(|a| Persister::start(a, logger("coconutd: audit: ")));
        Ok(Daemon {
            sup: Supervisor::new(profile, key, logger("coconutd: ")),
            listener,
            clients: BTreeMap::new(),
            next_client: 1,
            waiters: Vec::new(),
            started: Instant::now(),
            own_uid: rustix::process::geteuid().as_raw(),
            shutdown: None,
            booted: false,
            audit,
            cfg,
            log,
        })
    }

    /// Starts every service and serves until a poweroff or reboot has stopped them all.
    pub fn run(mut self) -> Result<Exit, String> {
        let signals =
            register_signals().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        self.sup.start_all();
        loop {
            let now = Instant::now();
            if signals.term.swap(false, Ordering::Relaxed) {
                self.begin_shutdown(Exit::Poweroff, "SIGTERM/SIGPWR");
            }
            if signals.int.swap(false, Ordering::Relaxed) {
                self.begin_shutdown(Exit::Reboot, "SIGINT");
            }
            signals.chld.store(false, Ordering::Relaxed);
            match reap_all() {
                Ok(done) => {
                    for (pid, status) in done {
                        self.sup.on_exit(pid, status, now);
                    }
                }
                Err(e) => (self.log)(&format!("wait failed: {e}")),
            }
            self.sup.step(now);
            self.settle_waiters(now);
            if let Some(a) = self.audit.as_mut() {
                a.pump(now);
            }
            if !self.booted && self.shutdown.is_none() && self.boot_settled() {
                self.booted = true;
                let running = self
                    .sup
                    .statuses()
                    .iter()
                    .filter(|s| s.state == "running")
                    .count();
                (self.log)(&format!(
                    "ready: {running} of {} services running",
                    self.sup.names().len()
                ));
            }
            for c in self.clients.values_mut() {
                if c.pending() > 0 {
                    c.flush(now);
                }
            }
            self.expire_clients(now);
            if let Some(exit) = self.shutdown {
                if self.sup.all_down() {
                    for c in self.clients.values_mut() {
                        c.flush(now);
                    }
                    let _ = std::fs::remove_file(&self.cfg.socket);
                    (self.log)("all services stopped");
                    // Only PID 1's shutdown ends the boot, so only it seals a final checkpoint.
                    if let Some(a) = self.audit.as_mut() {
                        a.shutdown(self.cfg.pid1);
                    }
                    return Ok(exit);
                }
            }
            self.wait_for_events(&signals, now)?;
        }
    }

    fn boot_settled(&self) -> bool {
        self.sup.names().iter().all(|n| {
            !matches!(
                self.sup.state(n),
                Some(super::supervisor::State::Waiting | super::supervisor::State::Starting)
            )
        })
    }

    fn begin_shutdown(&mut self, exit: Exit, why: &str) {
        if self.shutdown.is_none() {
            (self.log)(&format!(
                "{why}: stopping every service for {}",
                if exit == Exit::Reboot {
                    "reboot"
                } else {
                    "poweroff"
                }
            ));
            self.shutdown = Some(exit);
            self.sup.stop_all();
        }
    }

    fn wait_for_events(&mut self, signals: &Signals, now: Instant) -> Result<(), String> {
        let mut deadline = self.sup.next_deadline();
        if let Some(a) = &self.audit {
            let d = a.next_deadline();
            deadline = Some(deadline.map_or(d, |x| x.min(d)));
        }
        let t = self.cfg.client_timeout;
        for c in self.clients.values() {
            for since in [c.partial_since, c.stalled_since].into_iter().flatten() {
                let d = since + t;
                deadline = Some(deadline.map_or(d, |x| x.min(d)));
            }
        }
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(now) + Duration::from_millis(1);
            rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });

        enum Src {
            Wake,
            Listen,
            Client(u64),
            Notify(String),
        }
        let notify = self.sup.notify_fds();
        let mut srcs: Vec<Src> = vec![Src::Wake, Src::Listen];
        let mut fds: Vec<PollFd<'_>> = vec![
            PollFd::new(&signals.wake, PollFlags::IN),
            PollFd::new(&self.listener, PollFlags::IN),
        ];
        for (id, c) in &self.clients {
            let mut flags = PollFlags::empty();
            if c.pending() < OUT_LIMIT && !c.close_after_flush {
                flags |= PollFlags::IN;
            }
            if c.pending() > 0 {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.stream, flags));
            srcs.push(Src::Client(*id));
        }
        for (name, fd) in &notify {
            let fd: &BorrowedFd<'_> = fd;
            fds.push(PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN));
            srcs.push(Src::Notify(name.clone()));
        }
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("poll failed: {e}")),
        }
        let ready: Vec<(usize, PollFlags)> = fds
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.revents().is_empty())
            .map(|(i, f)| (i, f.revents()))
            .collect();
        drop(fds);
        drop(notify);
        let now = Instant::now();
        for (i, rev) in ready {
            match &srcs[i] {
                Src::Wake => {
                    let mut buf = [0u8; 64];
                    while matches!((&signals.wake).read(&mut buf), Ok(n) if n > 0) {}
                }
                Src::Listen => self.accept(now),
                Src::Client(id) => {
                    let id = *id;
                    if rev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                        self.read_client(id, now);
                    }
                    if let Some(c) = self.clients.get_mut(&id) {
                        if rev.contains(PollFlags::OUT) {
                            c.flush(now);
                        }
                    }
                }
                Src::Notify(name) => self.sup.on_notify(name),
            }
        }
        self.clients.retain(|_, c| !c.dead);
        Ok(())
    }

    fn accept(&mut self, now: Instant) {
        // Bounded: a flood of connections cannot keep the loop here.
        for _ in 0..16 {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    (self.log)(&format!("accept failed: {e}"));
                    return;
                }
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let uid = match rustix::net::sockopt::socket_peercred(&stream) {
                Ok(c) => c.uid.as_raw(),
                Err(e) => {
                    (self.log)(&format!("SO_PEERCRED failed ({e}); connection closed"));
                    continue;
                }
            };
            let mut c = Client {
                stream,
                uid,
                inbuf: Vec::new(),
                out: Vec::new(),
                out_pos: 0,
                partial_since: None,
                stalled_since: None,
                close_after_flush: false,
                dead: false,
            };
            if self.clients.len() >= MAX_CLIENTS {
                c.queue(&ResponseFrame::err(
                    None,
                    ErrorCode::Unavailable,
                    format!("coconutd serves at most {MAX_CLIENTS} clients at once; try again"),
                ));
                c.close_after_flush = true;
                c.flush(now);
                continue;
            }
            self.clients.insert(self.next_client, c);
            self.next_client += 1;
        }
    }

    fn read_client(&mut self, id: u64, now: Instant) {
        let mut frames = Vec::new();
        {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            let mut buf = [0u8; 16 * 1024];
            // At most 64 KiB per turn per client, for fairness.
            for _ in 0..4 {
                if c.close_after_flush || c.pending() >= OUT_LIMIT {
                    break;
                }
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.close_after_flush = true;
                        if c.pending() == 0 {
                            c.dead = true;
                        }
                        break;
                    }
                    Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        c.dead = true;
                        return;
                    }
                }
                // Cut complete frames; refuse a bad length as soon as it is known.
                loop {
                    if c.inbuf.len() < 4 {
                        break;
                    }
                    let len = u32::from_be_bytes([c.inbuf[0], c.inbuf[1], c.inbuf[2], c.inbuf[3]])
                        as usize;
                    if len == 0 || len > MAX_FRAME {
                        frames.push(Err(ResponseFrame::err(
                            None,
                            ErrorCode::FrameTooLarge,
                            format!(
                                "a frame of {len} bytes was announced; frames are 1..={MAX_FRAME} \
                                 bytes; closing the connection"
                            ),
                        )));
                        c.inbuf.clear();
                        c.close_after_flush = true;
                        break;
                    }
                    if c.inbuf.len() < 4 + len {
                        break;
                    }
                    frames.push(proto::decode_request(&c.inbuf[4..4 + len]).map_err(|b| *b));
                    c.inbuf.drain(..4 + len);
                }
                c.partial_since = if c.inbuf.is_empty() {
                    None
                } else {
                    Some(c.partial_since.unwrap_or(now))
                };
            }
        }
        for f in frames {
            match f {
                Ok(req) => self.handle(id, req, now),
                Err(resp) => {
                    if let Some(c) = self.clients.get_mut(&id) {
                        c.queue(&resp);
                    }
                }
            }
        }
        if let Some(c) = self.clients.get_mut(&id) {
            c.flush(now);
        }
    }

    fn daemon_status(&self) -> DaemonStatus {
        DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
            pid1: self.cfg.pid1,
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            state: if self.shutdown.is_some() {
                "stopping"
            } else if self.booted {
                "running"
            } else {
                "starting"
            }
            .to_string(),
            profile: self.cfg.profile.display().to_string(),
            agents: self.sup.agents_summary(),
            audit: self.audit.as_ref().map(Persister::status),
        }
    }

    fn handle(&mut self, client: u64, frame: RequestFrame, now: Instant) {
        let RequestFrame { id, req, .. } = frame;
        let uid = self.clients.get(&client).map_or(u32::MAX, |c| c.uid);
        let answer = |d: &mut Daemon, r: ResponseFrame| {
            if let Some(c) = d.clients.get_mut(&client) {
                c.queue(&r);
            }
        };
        if req.is_mutating() && uid != 0 && uid != self.own_uid {
            let r = ResponseFrame::err(
                Some(id),
                ErrorCode::PermissionDenied,
                format!(
                    "uid {uid} may not change services; run as root (or as uid {})",
                    self.own_uid
                ),
            );
            return answer(self, r);
        }
        if req.is_mutating() && self.shutdown.is_some() {
            let r = ResponseFrame::err(
                Some(id),
                ErrorCode::ShuttingDown,
                "coconutd is stopping every service for a poweroff or reboot",
            );
            return answer(self, r);
        }
        let name = match &req {
            Request::SvcStatus { name }
            | Request::SvcStart { name }
            | Request::SvcStop { name }
            | Request::SvcRestart { name } => Some(name.clone()),
            _ => None,
        };
        if let Some(n) = &name {
            if !self.sup.has(n) {
                let r = ResponseFrame::err(
                    Some(id),
                    ErrorCode::NotFound,
                    format!(
                        "no service {n:?}; `coconut svc list` shows the {} services",
                        self.sup.names().len()
                    ),
                );
                return answer(self, r);
            }
        }
        let wait = |d: &mut Daemon, name: String, goal: Goal| {
            d.waiters.push(Waiter {
                client,
                id,
                name,
                goal,
            });
        };
        match req {
            Request::Status => {
                let r = ResponseFrame::ok(
                    id,
                    Reply::Status {
                        daemon: self.daemon_status(),
                        services: self.sup.statuses(),
                    },
                );
                answer(self, r)
            }
            Request::SvcList => {
                let r = ResponseFrame::ok(
                    id,
                    Reply::Services {
                        services: self.sup.statuses(),
                    },
                );
                answer(self, r)
            }
            Request::SvcStatus { name } => {
                let r = match self.sup.status(&name) {
                    Some(service) => ResponseFrame::ok(id, Reply::Service { service }),
                    None => ResponseFrame::err(Some(id), ErrorCode::NotFound, name),
                };
                answer(self, r)
            }
            Request::SvcStart { name } => {
                self.sup.start(&name, now);
                wait(self, name, Goal::Up);
            }
            Request::SvcStop { name } => {
                self.sup.stop(&name);
                wait(self, name, Goal::Down);
            }
            Request::SvcRestart { name } => {
                self.sup.restart(&name, now);
                wait(self, name, Goal::Up);
            }
            Request::Poweroff | Request::Reboot => {
                let (exit, action) = if req == Request::Reboot {
                    (Exit::Reboot, "reboot")
                } else {
                    (Exit::Poweroff, "poweroff")
                };
                let r = ResponseFrame::ok(
                    id,
                    Reply::Accepted {
                        action: action.into(),
                    },
                );
                answer(self, r);
                self.begin_shutdown(exit, &format!("{action} requested by uid {uid}"));
            }
        }
        // The supervisor acts on the request in this turn, so waiters settle promptly.
        self.sup.step(now);
        self.settle_waiters(now);
    }

    fn settle_waiters(&mut self, _now: Instant) {
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if !self.clients.contains_key(&w.client) {
                self.waiters.swap_remove(i);
                continue;
            }
            match self.sup.settled(&w.name, w.goal) {
                None => i += 1,
                Some(outcome) => {
                    let w = self.waiters.swap_remove(i);
                    let r = match outcome {
                        Settled::Reached => match self.sup.status(&w.name) {
                            Some(service) => ResponseFrame::ok(w.id, Reply::Service { service }),
                            None => ResponseFrame::err(Some(w.id), ErrorCode::NotFound, w.name),
                        },
                        Settled::Failed(why) => ResponseFrame::err(
                            Some(w.id),
                            ErrorCode::Failed,
                            format!("{} did not start: {why}", w.name),
                        ),
                    };
                    if let Some(c) = self.clients.get_mut(&w.client) {
                        c.queue(&r);
                    }
                }
            }
        }
    }

    fn expire_clients(&mut self, now: Instant) {
        let t = self.cfg.client_timeout;
        let log = &mut self.log;
        self.clients.retain(|id, c| {
            let stalled = c.stalled_since.is_some_and(|s| now.duration_since(s) >= t);
            let partial = c.partial_since.is_some_and(|s| now.duration_since(s) >= t);
            if stalled || partial {
                log(&format!(
                    "client {id} dropped: {} for {}",
                    if stalled {
                        "not reading its responses"
                    } else {
                        "stalled in the middle of a frame"
                    },
                    humantime::format_duration(t)
                ));
                return false;
            }
            !c.dead
        });
    }
}
