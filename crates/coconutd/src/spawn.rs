//! Starting one service process, as an agent where the kernel allows it.
//!
//! Job: the sequence of `docs/abi.md` ("Joining"): fork the child, which blocks reading a
//! pipe; `pidfd_open(child)`; `agent_spawn` with the service's signed manifest, its capability
//! template as the set to bind, and the pidfd; release the child, which then sets up its
//! session, notify fd and credentials and execs the program. The kernel's answer to
//! `agent_spawn` is kept verbatim for the service's status (`a:NNNNN`, or
//! `unavailable (ENOSYS: ...)` on a kernel without the agent subsystem); no AID is made up.
//! Either way the service then runs (as a plain process when no agent could be made).
//!
//! Constraints: coconutd is single-threaded, and between `fork` and `execve` the child calls
//! only async-signal-safe functions on memory prepared before the fork (C strings, pointer
//! arrays). A child that fails a step reports `(step, errno)` on a close-on-exec pipe and
//! exits 127; the parent reaps it and returns [`SpawnError::Child`]. Every descriptor
//! coconutd opens is close-on-exec, so a service inherits only stdio and its notify fd.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ed25519_dalek::SigningKey;
use libcoconut::{encode_capset, ManifestBuilder};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{Pid, PidfdFlags};

use super::service::{Ready, Service};

/// The `PATH` every service gets unless its `env` sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A started service process.
#[derive(Debug)]
pub struct Spawned {
    /// The main process (also its process group and session id).
    pub pid: Pid,
    /// The read end of the notify pipe, for `ready = "notify-fd:N"`.
    pub notify: Option<OwnedFd>,
    /// The agent the kernel made, or why it made none.
    pub agent: Agent,
}

/// What `agent_spawn` answered for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    /// Not started yet.
    None,
    /// The kernel's AID for it.
    Aid(libcoconut::Aid),
    /// The kernel's refusal, rendered: `ERRNO: meaning`.
    Unavailable(String),
}

impl std::fmt::Display for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Agent::None => f.write_str("none"),
            Agent::Aid(a) => write!(f, "{a}"),
            Agent::Unavailable(why) => write!(f, "unavailable ({why})"),
        }
    }
}

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Preparing the exec failed before any fork (a NUL byte, a pipe, the manifest).
    #[error("cannot prepare {what}: {source}")]
    Prepare {
        /// What was being prepared.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// fork(2) failed.
    #[error("fork: {0}")]
    Fork(io::Error),
    /// The child failed a step before or at exec.
    #[error("{step}: {source}")]
    Child {
        /// The step (`execve /bin/x`, `setuid 1000`, ...).
        step: String,
        /// The errno.
        source: io::Error,
    },
}

/// Steps the child reports failures of, by number.
const STEPS: [&str; 7] = [
    "setsid",
    "dup2 of the notify fd",
    "clearing close-on-exec of the notify fd",
    "setgroups",
    "setgid",
    "setuid",
    "execve",
];

fn cstring(what: &'static str, s: &[u8]) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|e| SpawnError::Prepare {
        what,
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })
}

fn prep(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> SpawnError {
    move |e| SpawnError::Prepare {
        what,
        source: e.into(),
    }
}

/// The signed manifest envelope and the capability array for `svc`'s agent.
pub fn manifest_for(svc: &Service, key: &SigningKey) -> Result<(Vec<u8>, Vec<u8>), SpawnError> {
    let bad = |e: String| SpawnError::Prepare {
        what: "the service's manifest",
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    };
    let caps = svc.cap_template.caps().map_err(|e| bad(e.to_string()))?;
    let manifest = ManifestBuilder::new(&svc.name)
        .caps(caps.iter().cloned())
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let capset = encode_capset(&caps).map_err(|e| bad(e.to_string()))?;
    Ok((manifest.sign(key).to_bytes(), capset))
}

/// Forks, makes the agent, releases and execs `svc`. Blocks only until the child has exec'd
/// (or failed to).
pub fn spawn(svc: &Service, key: &SigningKey) -> Result<Spawned, SpawnError> {
    let (manifest, capset) = manifest_for(svc, key)?;

    // Everything the child touches, prepared before the fork.
    let path = cstring("exec", svc.exec.as_os_str().as_bytes())?;
    let mut argv = vec![path.clone()];
    for a in &svc.args {
        argv.push(cstring("args", a.as_bytes())?);
    }
    let mut env: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    env.insert("PATH", DEFAULT_PATH);
    env.insert("COCONUT_SERVICE", &svc.name);
    for (k, v) in &svc.env {
        env.insert(k, v);
    }
    let envv = env
        .iter()
        .map(|(k, v)| cstring("env", format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envv.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());

    let (release_r, release_w) = pipe_with(PipeFlags::CLOEXEC).map_err(prep("the release pipe"))?;
    let (err_r, err_w) = pipe_with(PipeFlags::CLOEXEC).map_err(prep("the error pipe"))?;
    let notify = match svc.ready {
        Ready::NotifyFd(n) => Some((
            pipe_with(PipeFlags::CLOEXEC).map_err(prep("the notify pipe"))?,
            n,
        )),
        Ready::None => None,
    };
    let notify_w_raw = notify.as_ref().map(|((_, w), n)| (w.as_raw_fd(), *n));
    let ids = (svc.uid, svc.gid);
    let release_raw = release_r.as_raw_fd();
    let err_raw = err_w.as_raw_fd();

    // SAFETY: coconutd is single-threaded (no lock can be held by another thread across the
    // fork), and the child branch below calls only async-signal-safe libc functions on memory
    // that was prepared above and stays alive (it is the child's copy) until execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SpawnError::Fork(io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see `child`; all pointers are live NUL-terminated arrays built above.
        unsafe {
            child(
                release_raw,
                err_raw,
                notify_w_raw,
                ids,
                &path,
                &argv_p,
                &envp,
            )
        }
    }
    drop(release_r);
    drop(err_w);
    let notify_r = notify.map(|((r, w), _)| {
        drop(w);
        r
    });
    let child_pid =
        Pid::from_raw(pid).ok_or(SpawnError::Fork(io::Error::other("fork returned pid 0")))?;

    // The agent: the kernel's answer is what we report, whatever it is.
    let agent = match rustix::process::pidfd_open(child_pid, PidfdFlags::empty()) {
        Ok(pidfd) => match libcoconut::sys::spawn(&manifest, &capset, Some(pidfd.as_fd()), 0) {
            Ok(aid) => Agent::Aid(aid),
            Err(e) => Agent::Unavailable(render_error(&e)),
        },
        Err(e) => Agent::Unavailable(format!("pidfd_open failed: {e}")),
    };

    // Release the child. If the write fails the child reads EOF and exits 126.
    let _ = rustix::io::write(&release_w, b"g");
    drop(release_w);

    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        match rustix::io::read(&err_r, &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    if got == report.len() {
        let step = u32::from_ne_bytes([report[0], report[1], report[2], report[3]]) as usize;
        let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
        let _ = rustix::process::waitpid(Some(child_pid), rustix::process::WaitOptions::empty());
        let mut step = STEPS.get(step).copied().unwrap_or("setup").to_string();
        match step.as_str() {
            "execve" => step = format!("execve {}", svc.exec.display()),
            "setuid" => step = format!("setuid {}", svc.uid.unwrap_or(0)),
            "setgid" => step = format!("setgid {}", svc.gid.unwrap_or(0)),
            _ => {}
        }
        return Err(SpawnError::Child {
            step,
            source: io::Error::from_raw_os_error(errno),
        });
    }
    Ok(Spawned {
        pid: child_pid,
        notify: notify_r,
        agent,
    })
}

/// `ERRNO: meaning` for a libcoconut error.
pub fn render_error(e: &libcoconut::Error) -> String {
    match e.abi_errno() {
        Some(errno) => format!("{}: {e}", errno.name()),
        None => e.to_string(),
    }
}

/// The child between fork and exec. Never returns.
///
/// # Safety
///
/// Must be called only in the child of a fork of a single-threaded process; `path`, `argv`
/// and `envp` must be NUL-terminated (the arrays ending in a null pointer) and alive.
unsafe fn child(
    release: i32,
    err: i32,
    notify: Option<(i32, i32)>,
    (uid, gid): (Option<u32>, Option<u32>),
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> ! {
    let fail = |step: u32| -> ! {
        // SAFETY: errno location, write(2) and _exit(2) are async-signal-safe; the buffer is
        // on this stack.
        unsafe {
            let errno = *libc::__errno_location();
            let mut buf = [0u8; 8];
            buf[..4].copy_from_slice(&step.to_ne_bytes());
            buf[4..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(err, buf.as_ptr().cast(), buf.len());
            libc::_exit(127)
        }
    };
    // SAFETY: every call below is async-signal-safe and takes either plain integers or
    // pointers to memory prepared before the fork (see the function's safety contract).
    unsafe {
        let mut b = 0u8;
        loop {
            let n = libc::read(release, (&mut b as *mut u8).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            libc::_exit(126);
        }
        // Default signal mask and dispositions for the service (handlers reset at exec).
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if libc::setsid() < 0 {
            fail(0);
        }
        if let Some((w, n)) = notify {
            if w != n {
                if libc::dup2(w, n) < 0 {
                    fail(1);
                }
            } else if libc::fcntl(n, libc::F_SETFD, 0) < 0 {
                fail(2);
            }
        }
        if uid.is_some() || gid.is_some() {
            if libc::geteuid() == 0 && libc::setgroups(0, std::ptr::null()) < 0 {
                fail(3);
            }
            if let Some(g) = gid {
                if libc::setgid(g) < 0 {
                    fail(4);
                }
            }
            if let Some(u) = uid {
                if libc::setuid(u) < 0 {
                    fail(5);
                }
            }
        }
        libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(6)
    }
}

/// Reads a signing key: 32 raw bytes or 64 hex digits (a seed). `None`: a fresh key from the
/// kernel's random source, for this run only.
pub fn load_key(path: Option<&Path>) -> Result<(SigningKey, String), String> {
    match path {
        Some(p) => {
            let bytes =
                std::fs::read(p).map_err(|e| format!("cannot read key {}: {e}", p.display()))?;
            let trimmed: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let seed: [u8; 32] = if bytes.len() == 32 {
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| "key length".to_string())?
            } else if trimmed.len() == 64 {
                let mut out = [0u8; 32];
                for (i, pair) in trimmed.chunks_exact(2).enumerate() {
                    let s = std::str::from_utf8(pair).map_err(|_| "key is not hex".to_string())?;
                    out[i] = u8::from_str_radix(s, 16)
                        .map_err(|_| format!("key {} is not 64 hex digits", p.display()))?;
                }
                out
            } else {
                return Err(format!(
                    "key {} is {} bytes: expected a 32-byte seed or 64 hex digits",
                    p.display(),
                    bytes.len()
                ));
            };
            Ok((
                SigningKey::from_bytes(&seed),
                format!("from {}", p.display()),
            ))
        }
        None => {
            let mut seed = [0u8; 32];
            rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty())
                .map_err(|e| format!("getrandom: {e}"))?;
            Ok((
                SigningKey::from_bytes(&seed),
                "ephemeral (generated at start; pass --key for a key the kernel trusts)".into(),
            ))
        }
    }
}
