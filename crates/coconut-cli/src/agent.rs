//! `coconut spawn`, `caps show|grant|revoke` and `attest`: the agent syscalls from a shell.
//!
//! Job: spawn an agent from a signed envelope, either memberless or with a program as its first
//! member (a forked child waits on a pipe while `agent_spawn` names it by pidfd, then execs,
//! which is where it joins); change and show an agent's capabilities; decode its attestation
//! chain. [`explain`] turns each `libcoconut::Error` into a message that says what to do.
//!
//! Constraints: every syscall goes through `libcoconut::sys`; manifests and capability sets are
//! libcoconut's encodings. The child between fork and exec only reads a pipe and execs.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ciborium::Value as Cbor;
use libcoconut::{encode_capset, sys, Aid, Capability, Error, State};
use serde_json::{json, Value};

/// A message for a libcoconut error that says what went wrong and what to do.
pub fn explain(e: &Error) -> String {
    let hint = match e {
        Error::NotCoconut { .. } | Error::NotSupportedYet { .. } => {
            "this kernel has no agent subsystem (not Coconut OS, or built without \
             CONFIG_COCONUT_AGENT)"
        }
        Error::PermissionDenied { call } if *call == libcoconut::Syscall::AgentSpawn => {
            "the manifest's signer is not trusted by the parent agent: add its public key to \
             /agent/policy/signers (`echo add <hex> > /agent/policy/signers`, as root) or have \
             a trusted key sign it; spawning from a:00000 also needs CAP_SYS_ADMIN"
        }
        Error::PermissionDenied { .. } => {
            "the calling agent may not do this (a:00000 needs CAP_SYS_ADMIN; others need the \
             capability)"
        }
        Error::SignatureRejected { .. } => {
            "the manifest's signature does not verify: re-sign it with `coconut manifest sign`"
        }
        Error::NoSuchAgent { .. } => "no such agent visible to you (see `coconut ps`)",
        Error::CapabilityNotHeld { .. } => "the capability is not held",
        Error::AccessDenied { .. } => {
            "the capability set exceeds what is allowed (the manifest's ceiling or the parent's \
             own capabilities)"
        }
        Error::Busy { .. } => "the agent's state forbids this (terminated or quarantined?)",
        _ => "",
    };
    if hint.is_empty() {
        e.to_string()
    } else {
        format!("{e}: {hint}")
    }
}

/// Parses an AID given as `a:NNNNN` or a plain number.
pub fn parse_aid(text: &str) -> Result<Aid> {
    if let Ok(n) = text.parse::<u64>() {
        return Aid::new(n).map_err(|e| anyhow!("AID {text:?}: {e}"));
    }
    Aid::parse(text.as_bytes()).map_err(|e| anyhow!("AID {text:?} is not a:NNNNN: {e}"))
}

fn parse_caps(caps: &[String]) -> Result<Vec<u8>> {
    if caps.is_empty() {
        return Ok(Vec::new());
    }
    let caps: Vec<Capability> = caps
        .iter()
        .map(|c| c.parse().with_context(|| format!("--cap {c:?}")))
        .collect::<Result<_>>()?;
    Ok(encode_capset(&caps)?)
}

fn sys_err(what: &str) -> impl Fn(Error) -> anyhow::Error + '_ {
    move |e| anyhow!("{what}: {}", explain(&e))
}

/// How a spawned program ended.
pub enum Exit {
    /// No program: the agent was spawned memberless.
    Memberless,
    /// The program's exit status.
    Code(i32),
    /// The program was killed by this signal.
    Signal(i32),
}

/// `coconut spawn`: spawns the agent, prints its AID through `print` as soon as it exists, then
/// runs `program` (if any) as its first member and waits for it.
pub fn spawn(
    manifest: &Path,
    caps: &[String],
    program: &[String],
    print: impl FnOnce(Aid),
) -> Result<Exit> {
    let envelope = std::fs::read(manifest)
        .with_context(|| format!("cannot read manifest {}", manifest.display()))?;
    let capset = parse_caps(caps)?;
    if program.is_empty() {
        let aid = sys::spawn(&envelope, &capset, None, 0).map_err(sys_err("agent_spawn"))?;
        print(aid);
        return Ok(Exit::Memberless);
    }
    let argv: Vec<CString> = program
        .iter()
        .map(|a| CString::new(a.as_bytes()).with_context(|| format!("argument {a:?} has a NUL")))
        .collect::<Result<_>>()?;
    let mut argp: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argp.push(std::ptr::null());
    let (go_r, go_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    // SAFETY: this process is single-threaded here (the CLI starts no threads); the child only
    // calls read, execvp and _exit, all async-signal-safe, on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if pid == 0 {
        use std::os::fd::AsRawFd;
        let r = go_r.as_fd();
        let w = go_w.as_raw_fd();
        let mut b = 0u8;
        // SAFETY: plain system calls in the child on live buffers, then exec or _exit. The
        // child closes its copy of the write end first, so the parent closing its own is EOF.
        unsafe {
            libc::close(w);
            let n = libc::read(r.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            if n == 1 {
                libc::execvp(argp[0], argp.as_ptr());
                libc::_exit(127);
            }
            libc::_exit(126);
        }
    }
    drop(go_r);
    let reap = |pid: i32| {
        let mut status = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    };
    let child = rustix::process::Pid::from_raw(pid).context("fork returned pid 0")?;
    let pidfd = match rustix::process::pidfd_open(child, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            drop(go_w);
            reap(pid);
            bail!("pidfd_open: {e}");
        }
    };
    let spawned = sys::spawn(&envelope, &capset, Some(pidfd.as_fd()), 0);
    let aid = match spawned {
        Ok(aid) => aid,
        Err(e) => {
            // Closing the pipe without a byte makes the child _exit without exec.
            drop(go_w);
            reap(pid);
            return Err(sys_err("agent_spawn")(e));
        }
    };
    print(aid);
    rustix::io::write(&go_w, b"g").context("releasing the child")?;
    drop(go_w);
    drop(pidfd);
    let status = reap(pid);
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        if code == 127 {
            eprintln!(
                "coconut spawn: {} could not be executed (exit 127)",
                program[0]
            );
        }
        Ok(Exit::Code(code))
    } else {
        Ok(Exit::Signal(libc::WTERMSIG(status)))
    }
}

/// `caps show`: the bound set as agentfs renders it (`DIR/a:NNNNN/caps`).
pub fn caps_show(dir: &Path, aid: Aid) -> Result<Vec<String>> {
    let path = dir.join(aid.to_string()).join("caps");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (no such agent visible to you, or agentfs is not mounted at {})",
            path.display(),
            dir.display()
        )
    })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// `caps grant`.
pub fn caps_grant(aid: Aid, cap: &str) -> Result<()> {
    let cap: Capability = cap.parse().with_context(|| format!("capability {cap:?}"))?;
    sys::cap_grant(aid, &cap).map_err(sys_err("agent_cap_grant"))
}

/// What `caps revoke` removes.
pub enum Revoke {
    /// Every entry covered by this capability, in the agent and its descendants.
    Cap(String),
    /// Everything: the subtree ends Terminated-revoked.
    All,
    /// Freeze the subtree.
    Quarantine,
}

/// `caps revoke`.
pub fn caps_revoke(aid: Aid, what: &Revoke) -> Result<()> {
    match what {
        Revoke::Cap(c) => {
            let cap: Capability = c.parse().with_context(|| format!("capability {c:?}"))?;
            sys::cap_revoke(aid, &cap).map_err(sys_err("agent_cap_revoke"))
        }
        Revoke::All => sys::revoke_all(aid).map_err(sys_err("agent_cap_revoke(ALL)")),
        Revoke::Quarantine => sys::quarantine(aid).map_err(sys_err("agent_cap_revoke(QUARANTINE)")),
    }
}

/// One link of an attestation chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The agent.
    pub aid: u64,
    /// Its parent (`None` for a:00000).
    pub parent: Option<u64>,
    /// The manifest name.
    pub name: String,
    /// The state id.
    pub state: u64,
    /// The signer's key.
    pub signer: Vec<u8>,
    /// The audit seq of the spawn row.
    pub spawn_seq: u64,
    /// BLAKE3 of the manifest envelope.
    pub manifest_hash: Vec<u8>,
    /// BLAKE3 of the bound caps array.
    pub caps_hash: Vec<u8>,
}

/// Decodes the CBOR chain `agent_attest` returns (`docs/abi.md`, `agent_attest`, Notes).
pub fn decode_chain(bytes: &[u8]) -> Result<Vec<Link>> {
    let v: Cbor = ciborium::from_reader(bytes).context("attestation chain is not CBOR")?;
    let links = v
        .as_array()
        .context("attestation chain is not a CBOR array")?;
    links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let map = l
                .as_map()
                .with_context(|| format!("link {i} is not a map"))?;
            let get = |k: &str| {
                map.iter()
                    .find(|(key, _)| key.as_text() == Some(k))
                    .map(|(_, v)| v)
            };
            let uint = |k: &str| -> Result<u64> {
                get(k)
                    .and_then(Cbor::as_integer)
                    .and_then(|n| u64::try_from(n).ok())
                    .with_context(|| format!("link {i}: no unsigned `{k}`"))
            };
            let bytes = |k: &str| -> Result<Vec<u8>> {
                get(k)
                    .and_then(Cbor::as_bytes)
                    .cloned()
                    .with_context(|| format!("link {i}: no byte string `{k}`"))
            };
            Ok(Link {
                aid: uint("aid")?,
                parent: if get("parent").is_some() {
                    Some(uint("parent")?)
                } else {
                    None
                },
                name: get("name")
                    .and_then(Cbor::as_text)
                    .with_context(|| format!("link {i}: no text `name`"))?
                    .to_string(),
                state: uint("state")?,
                signer: bytes("signer")?,
                spawn_seq: uint("spawn_seq")?,
                manifest_hash: bytes("manifest_hash")?,
                caps_hash: bytes("caps_hash")?,
            })
        })
        .collect()
}

fn aid_text(n: u64) -> String {
    Aid::new(n).map_or_else(|_| format!("?{n}"), |a| a.to_string())
}

fn state_word(id: u64) -> String {
    u32::try_from(id)
        .ok()
        .and_then(State::from_u32)
        .map_or_else(|| format!("state#{id}"), |s| s.word().to_string())
}

impl Link {
    /// The JSON form, keys as agentfs `attestation/chain.json`.
    pub fn to_json(&self) -> Value {
        json!({
            "aid": aid_text(self.aid),
            "parent": self.parent.map(aid_text),
            "name": self.name,
            "signer": hex::encode(&self.signer),
            "manifest_hash": hex::encode(&self.manifest_hash),
            "caps_hash": hex::encode(&self.caps_hash),
            "spawn_seq": self.spawn_seq,
            "state": state_word(self.state),
        })
    }

    /// The text form: a block of `key: value` lines.
    pub fn to_text(&self) -> String {
        format!(
            "{} {} [{}] parent={}\n  signer        {}\n  spawn_seq     {}\n  manifest_hash {}\n  caps_hash     {}\n",
            aid_text(self.aid),
            self.name,
            state_word(self.state),
            self.parent.map_or_else(|| "none".to_string(), aid_text),
            hex::encode(&self.signer),
            self.spawn_seq,
            hex::encode(&self.manifest_hash),
            hex::encode(&self.caps_hash),
        )
    }
}

/// `coconut attest`: the decoded chain of `aid` and its size in bytes.
pub fn attest(aid: Aid) -> Result<(Vec<Link>, usize)> {
    let bytes = sys::attest(aid).map_err(sys_err("agent_attest"))?;
    Ok((decode_chain(&bytes)?, bytes.len()))
}
