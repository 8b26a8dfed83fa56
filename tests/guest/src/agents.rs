//! Agents as kernel objects: the root keys of `/agent/policy/signers`, `agent_spawn` from
//! a:00000 (trusted signer, CAP_SYS_ADMIN, the subset rule, bad input leaving nothing behind),
//! the per-agent agentfs files, the capability calls with cascading revocation, attestation,
//! budgets, and the coconut LSM: a task joins its agent at exec (the pidfd), is confined to its
//! capabilities (a denial moves the agent to CAP_DENIED with a `cap_deny` row), cannot signal,
//! trace, mount or use administrative capabilities across agents, and the last member's exit
//! finishes the agent. These run after the conformance and wrapper tests (which assume only
//! a:00000 exists).

use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use coconut_abi::{AgentAuditFilter, AidTarget, AuditKind, AID_ANY};
use ed25519_dalek::SigningKey;
use libcoconut::audit::AuditRow;
use libcoconut::{encode_capset, sys, Aid, Capability, Error, ManifestBuilder, QuotaKind};

use crate::Test;

/// Every test of this module, in order (later ones use the root key the first one adds).
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("agents::a00000_is_in_agentfs", a00000_in_agentfs),
        Test::new("agents::policy_signers_adds_root_keys", policy_signers),
        Test::new("agents::spawn_needs_a_trusted_signer", untrusted_signer),
        Test::new("agents::spawn_creates_an_attested_agent", spawn_creates),
        Test::new(
            "agents::spawn_refuses_bad_input_and_leaves_nothing",
            spawn_bad_input,
        ),
        Test::new(
            "agents::unprivileged_a00000_has_no_agent_powers",
            unprivileged,
        ),
        Test::new("agents::grant_revoke_present_and_the_ceiling", grant_revoke),
        Test::new("agents::attestation_chain", attestation),
        Test::new("agents::quota_set_charge_and_limits", quota),
        Test::new(
            "agents::a_member_joins_at_exec_and_is_confined",
            member_confined,
        ),
        Test::new("agents::revocation_reaches_descendants_and_kills", cascade),
    ]
}

/// The child side of the LSM tests: the runner re-executes itself with `--agent-child ACTION`
/// (so the exec is the join). Returns the exit code.
pub fn child(action: &str, arg: Option<&str>) -> i32 {
    match child_action(action, arg) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("agent child {action}: {msg}");
            1
        }
    }
}

fn child_action(action: &str, arg: Option<&str>) -> Result<(), String> {
    match action {
        // Inside its agent: what it holds, what the LSM refuses.
        "confined" => {
            let held = cap("fs.read:/tmp/*");
            if sys::cap_present(AidTarget::SelfAgent, &held) != Ok(true) {
                return Err("does not hold fs.read:/tmp/*".into());
            }
            if sys::cap_present(AidTarget::SelfAgent, &cap("agent.admin")) != Ok(false) {
                return Err("holds agent.admin".into());
            }
            match std::fs::File::open("/init") {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                other => return Err(format!("open outside fs.read: {other:?}")),
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open("/tmp/agent-w")
            {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                other => return Err(format!("write without fs.write: {other:?}")),
            }
            // SAFETY: plain system calls with valid arguments.
            unsafe {
                if libc::kill(1, 0) == 0 || errno() != libc::EPERM {
                    return Err("signalled pid 1 (a:00000) across agents".into());
                }
                if libc::sethostname(b"x".as_ptr().cast(), 1) == 0 {
                    return Err("CAP_SYS_ADMIN worked inside an agent".into());
                }
                let src = c"none";
                let dst = c"/tmp";
                let ty = c"tmpfs";
                if libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) == 0 {
                    return Err("mounted inside an agent".into());
                }
                if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                    return Err("created a user namespace inside an agent".into());
                }
            }
            Ok(())
        }
        // Spawns a grandchild from the manifest file `arg`, prints its AID, waits for stdin EOF.
        "coordinator" => {
            let path = arg.ok_or("no manifest path")?;
            let manifest = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
            let caps = encode_capset(&[cap("fs.read:/tmp/*")]).map_err(|e| e.to_string())?;
            let aid = sys::spawn(&manifest, &caps, None, 0).map_err(|e| format!("spawn: {e}"))?;
            println!("{aid}");
            let _ = std::io::stdout().flush();
            let mut rest = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut rest);
            Ok(())
        }
        "fuzz" => crate::fuzz::child(arg),
        "confine" => crate::confine::child(),
        "bench-lsm" => crate::lsmbench::child(),
        "prop-coordinator" => crate::property::child(),
        _ => crate::team::child_action(action, arg),
    }
}

/// a:00000.
fn root() -> Aid {
    Aid::new(0).expect("a:00000")
}

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The root key the tests add to `/agent/policy/signers`.
pub(crate) fn root_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The key a coordinator agent's manifest trusts for its children.
pub(crate) fn child_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn cap(text: &str) -> Capability {
    text.parse().expect("test capability")
}

/// A signed manifest envelope.
pub(crate) fn manifest(
    name: &str,
    caps: &[&str],
    signers: &[[u8; 32]],
    key: &SigningKey,
) -> Vec<u8> {
    let mut b = ManifestBuilder::new(name).caps(caps.iter().map(|c| cap(c)));
    for s in signers {
        b = b.signer(*s);
    }
    b.build().expect("test manifest").sign(key).to_bytes()
}

pub(crate) fn capset(caps: &[&str]) -> Vec<u8> {
    let caps: Vec<Capability> = caps.iter().map(|c| cap(c)).collect();
    encode_capset(&caps).expect("test capset")
}

fn errno_of(r: Result<impl std::fmt::Debug, Error>) -> Option<i32> {
    r.err().and_then(|e| e.errno())
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

pub(crate) fn status(aid: Aid) -> Result<String, String> {
    read(&format!("/agent/{aid}/status"))
}

pub(crate) fn state(aid: Aid) -> Result<String, String> {
    Ok(status(aid)?.lines().next().unwrap_or("").to_string())
}

fn live() -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir("/agent/live")
        .map_err(|e| format!("/agent/live: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Every sealed row about `aid` (waits briefly for the sealer).
pub(crate) fn rows_about(aid: u64) -> Result<Vec<AuditRow>, String> {
    let filter = AgentAuditFilter {
        from_seq: 0,
        to_seq: 0,
        aid: AID_ANY,
        kinds: 0,
        flags: 0,
    };
    let mut out = Vec::new();
    let mut from = 0;
    std::thread::sleep(std::time::Duration::from_millis(50));
    loop {
        let rows = sys::audit_query(
            &AgentAuditFilter {
                from_seq: from,
                ..filter
            },
            1 << 16,
        )
        .map_err(|e| format!("audit_query: {e}"))?;
        let Some(last) = rows.last() else { break };
        from = last.header.seq + 1;
        out.extend(rows.into_iter().filter(|r| r.header.subject == aid));
    }
    Ok(out)
}

fn a00000_in_agentfs() -> Result<(), String> {
    let s = status(root())?;
    let lines: Vec<&str> = s.lines().collect();
    if lines.first() != Some(&"ACTIVE") || !lines.contains(&"parent=none") {
        return Err(format!("a:00000 status: {s:?}"));
    }
    if !lines.contains(&"name=coconutd") {
        return Err(format!("a:00000 name: {s:?}"));
    }
    let link = std::fs::read_link("/agent/live/a:00000").map_err(|e| format!("live link: {e}"))?;
    if link.to_str() != Some("../a:00000") {
        return Err(format!("live/a:00000 -> {link:?}"));
    }
    let caps = read("/agent/a:00000/caps")?;
    if caps.lines().count() != 15 || !caps.contains("agent.spawn\n") {
        return Err(format!("a:00000 caps: {caps:?}"));
    }
    let b = read("/agent/a:00000/budget/cpu")?;
    if b != "limit=max used=0 period_ns=0\n" {
        return Err(format!("budget/cpu: {b:?}"));
    }
    Ok(())
}

fn write_signers(text: &str) -> Result<(), i32> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/agent/policy/signers")
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    f.write_all(text.as_bytes())
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// For the demos, outside the test order: starts the audit chain if nothing has (`boot=1`) and
/// makes the root key a trusted signer, as `policy_signers` does.
pub(crate) fn trust_root_key() -> Result<(), String> {
    let stats = read("/agent/audit/stats")?;
    if stats.contains("started=0\n") {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open("/agent/audit/link")
            .map_err(|e| format!("/agent/audit/link: {e}"))?;
        f.write_all(b"boot=1\n")
            .map_err(|e| format!("start the chain: {e}"))?;
    }
    let key = hex(root_key().verifying_key().as_bytes());
    write_signers(&format!("add {key}\n")).map_err(|e| format!("add the root key: errno {e}"))
}

fn policy_signers() -> Result<(), String> {
    let key = hex(root_key().verifying_key().as_bytes());
    for bad in [
        "add 1234\n",
        "remove {key}\n",
        "add\n",
        &format!("add {key} extra\n"),
    ] {
        if write_signers(bad) != Err(libc::EINVAL) {
            return Err(format!("{bad:?} was not EINVAL"));
        }
    }
    write_signers(&format!("add {key}\n")).map_err(|e| format!("add: errno {e}"))?;
    // Idempotent.
    write_signers(&format!("add {key}\n")).map_err(|e| format!("second add: errno {e}"))?;
    let list = read("/agent/policy/signers")?;
    if !list.contains(&format!("{key} added\n")) {
        return Err(format!("signers: {list:?}"));
    }
    // A revoked key is refused for the rest of the boot.
    let other = hex(SigningKey::from_bytes(&[8; 32]).verifying_key().as_bytes());
    write_signers(&format!("revoke {other}\n")).map_err(|e| format!("revoke: errno {e}"))?;
    if write_signers(&format!("add {other}\n")) != Err(libc::EPERM) {
        return Err("re-adding a revoked key was not EPERM".into());
    }
    Ok(())
}

fn untrusted_signer() -> Result<(), String> {
    let stranger = SigningKey::from_bytes(&[3; 32]);
    let m = manifest("stranger", &["fs.read:/tmp/*"], &[], &stranger);
    let r = sys::spawn(&m, &[], None, 0);
    if errno_of(r) != Some(libc::EPERM) {
        return Err("a manifest signed by an unknown key was not EPERM".into());
    }
    let revoked = SigningKey::from_bytes(&[8; 32]);
    let m = manifest("revoked", &["fs.read:/tmp/*"], &[], &revoked);
    if errno_of(sys::spawn(&m, &[], None, 0)) != Some(libc::EPERM) {
        return Err("a manifest signed by a revoked key was not EPERM".into());
    }
    // The refusal is sealed, with the signer it names, subject a:00000.
    let rows = rows_about(0)?;
    let signer = hex(stranger.verifying_key().as_bytes());
    if !rows.iter().any(|r| {
        r.header.kind == AuditKind::Spawn
            && r.header.result == -libc::EPERM
            && r.detail.contains(&format!("signer={signer}"))
    }) {
        return Err("no spawn row with -EPERM names the untrusted signer".into());
    }
    Ok(())
}

fn spawn_creates() -> Result<(), String> {
    let m = manifest(
        "worker",
        &["fs.read:/srv/*", "net.connect:10.0.0.1:443"],
        &[],
        &root_key(),
    );
    let aid =
        sys::spawn(&m, &capset(&["fs.read:/srv/*"]), None, 0).map_err(|e| format!("spawn: {e}"))?;
    if state(aid)? != "ATTESTED" {
        return Err(format!("{aid} status: {:?}", status(aid)));
    }
    let s = status(aid)?;
    if !s.contains("parent=a:00000\n") || !s.contains("name=worker\n") {
        return Err(format!("{aid} status: {s:?}"));
    }
    let caps = read(&format!("/agent/{aid}/caps"))?;
    if caps != "fs.read:/srv/*\n" {
        return Err(format!("{aid} caps: {caps:?}"));
    }
    let bytes = std::fs::read(format!("/agent/{aid}/manifest")).map_err(|e| e.to_string())?;
    if bytes != m {
        return Err("agentfs manifest differs from the envelope spawned".into());
    }
    if !live()?.contains(&aid.to_string()) {
        return Err(format!("{aid} is not in /agent/live"));
    }
    // Rows: SPAWNING -> ATTESTED, then the spawn row with the manifest's hash.
    let rows = rows_about(aid.get())?;
    let kinds: Vec<(AuditKind, &str)> = rows
        .iter()
        .map(|r| (r.header.kind, r.detail.as_str()))
        .collect();
    let hash = hex(&coconut_blake3::hash(&m));
    match kinds.as_slice() {
        [(AuditKind::State, s), (AuditKind::Spawn, d), ..]
            if *s == "from=SPAWNING to=ATTESTED why=spawn_verified"
                && d.contains("name=worker")
                && d.contains(&format!("manifest={hash}")) => {}
        other => return Err(format!("rows of {aid}: {other:?}")),
    }
    Ok(())
}

fn spawn_bad_input() -> Result<(), String> {
    let before = live()?;
    let good = manifest("bad", &["fs.read:/srv/*"], &[], &root_key());
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, i32)> = vec![
        ("tampered body", tampered, Vec::new(), libc::EKEYREJECTED),
        ("garbage CBOR", vec![0xff; 40], Vec::new(), libc::EINVAL),
        (
            "caps beyond the manifest",
            good.clone(),
            capset(&["fs.read"]),
            libc::EPERM,
        ),
        (
            "manifest beyond the parent",
            manifest("big", &["fs.read:/srv/*"], &[], &root_key()),
            capset(&["fs.write:/srv/*"]),
            libc::EPERM,
        ),
    ];
    for (what, m, caps, want) in cases {
        let got = errno_of(sys::spawn(&m, &caps, None, 0));
        if got != Some(want) {
            return Err(format!("{what}: errno {got:?}, want {want}"));
        }
    }
    if errno_of(sys::spawn(&good, &[], None, 1)) != Some(libc::EINVAL) {
        return Err("an unconfigured lane was not EINVAL".into());
    }
    // No partial agent: /agent/live is unchanged, and the next AID follows the last one given.
    if live()? != before {
        return Err(format!("live changed: {before:?} -> {:?}", live()?));
    }
    let last_aid: u64 = before
        .iter()
        .filter_map(|n| n.parse::<Aid>().ok())
        .map(|a| a.get())
        .max()
        .unwrap_or(0);
    let next = sys::spawn(&good, &[], None, 0).map_err(|e| format!("spawn: {e}"))?;
    if next.get() != last_aid + 1 {
        return Err(format!(
            "next AID {next} after a:{last_aid:05}: a failure consumed an AID"
        ));
    }
    sys::revoke_all(next).map_err(|e| format!("revoke_all: {e}"))?;
    Ok(())
}

/// Runs `f` in a child forked as uid/gid 65534 (no capabilities); its result.
fn as_nobody(f: fn() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0i32; 2];
    // SAFETY: a pipe into a valid array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err("pipe".into());
    }
    // SAFETY: the runner is single-threaded here; the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls in the child.
        let msg = unsafe {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                Err("setuid".to_string())
            } else {
                f()
            }
        };
        let text = msg.err().unwrap_or_default();
        // SAFETY: writes to the pipe, then leaves without the parent's destructors.
        unsafe {
            libc::write(fds[1], text.as_ptr().cast(), text.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closes our copy of the write end; the read end is owned below.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is a pipe end this process owns.
    let mut r = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    let mut text = String::new();
    let _ = r.read_to_string(&mut text);
    // SAFETY: reaps the child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    if text.is_empty() {
        Ok(())
    } else {
        Err(text)
    }
}

fn unprivileged() -> Result<(), String> {
    as_nobody(|| {
        let m = manifest("nobody", &["fs.read:/tmp/*"], &[], &root_key());
        if errno_of(sys::spawn(&m, &[], None, 0)) != Some(libc::EPERM) {
            return Err("uid 65534 spawned".into());
        }
        if sys::cap_present(AidTarget::SelfAgent, &cap("agent.spawn")) != Ok(false) {
            return Err("uid 65534 holds agent.spawn".into());
        }
        if sys::cap_present(AidTarget::SelfAgent, &cap("fs.read:/etc")) != Ok(true) {
            return Err("a:00000 does not hold fs.read for uid 65534".into());
        }
        // Other agents are invisible: the first spawned one answers ESRCH like none.
        let one = Aid::new(1).expect("aid");
        if errno_of(sys::attest(one)) != Some(libc::ESRCH) {
            return Err("uid 65534 attested a:00001".into());
        }
        if errno_of(sys::revoke_all(one)) != Some(libc::ESRCH) {
            return Err("uid 65534 could name a:00001 to revoke".into());
        }
        Ok(())
    })
}

fn grant_revoke() -> Result<(), String> {
    let m = manifest(
        "grantee",
        &["fs.read:/srv/*", "net.connect:10.0.0.1:443"],
        &[],
        &root_key(),
    );
    let aid =
        sys::spawn(&m, &capset(&["fs.read:/srv/*"]), None, 0).map_err(|e| format!("spawn: {e}"))?;
    let has = |c: &str| sys::cap_present(aid, &cap(c));
    if has("fs.read:/srv/a") != Ok(true) || has("net.connect:10.0.0.1:443") != Ok(false) {
        return Err("present before the grant".into());
    }
    sys::cap_grant(aid, &cap("net.connect:10.0.0.1:443")).map_err(|e| format!("grant: {e}"))?;
    if has("net.connect:10.0.0.1:443") != Ok(true) {
        return Err("the grant did not take".into());
    }
    // The manifest is the ceiling.
    if errno_of(sys::cap_grant(aid, &cap("fs.write:/srv/*"))) != Some(libc::EPERM) {
        return Err("a grant beyond the manifest was not EPERM".into());
    }
    sys::cap_revoke(aid, &cap("fs.read:/srv/*")).map_err(|e| format!("revoke: {e}"))?;
    if has("fs.read:/srv/a") != Ok(false) {
        return Err("the revoke did not take".into());
    }
    let caps = read(&format!("/agent/{aid}/caps"))?;
    if caps != "net.connect:10.0.0.1:443\n" {
        return Err(format!("caps after grant and revoke: {caps:?}"));
    }
    // a:00000 is immune; unknown agents are ESRCH.
    if errno_of(sys::revoke_all(root())) != Some(libc::EPERM) {
        return Err("revoke_all(a:00000) was not EPERM".into());
    }
    if errno_of(sys::cap_present(
        Aid::new(99_999).expect("aid"),
        &cap("fs.read"),
    )) != Some(libc::ESRCH)
    {
        return Err("a never-spawned AID was not ESRCH".into());
    }
    // Terminated: EBUSY for further changes, and the directory moves to the graveyard.
    sys::revoke_all(aid).map_err(|e| format!("revoke_all: {e}"))?;
    if state(aid)? != "TERMINATED_REVOKED" {
        return Err(format!("after revoke_all: {:?}", status(aid)));
    }
    if errno_of(sys::cap_grant(aid, &cap("net.connect:10.0.0.1:443"))) != Some(libc::EBUSY) {
        return Err("a grant to a terminated agent was not EBUSY".into());
    }
    if live()?.contains(&aid.to_string()) {
        return Err("a terminated agent is still in live/".into());
    }
    std::fs::read_link(format!("/agent/graveyard/{aid}")).map_err(|e| format!("graveyard: {e}"))?;
    Ok(())
}

fn attestation() -> Result<(), String> {
    let m = manifest("attested", &["fs.read:/srv/*"], &[], &root_key());
    let aid = sys::spawn(&m, &[], None, 0).map_err(|e| format!("spawn: {e}"))?;
    let chain = sys::attest(aid).map_err(|e| format!("attest: {e}"))?;
    let v: ciborium::Value = ciborium::from_reader(chain.as_slice()).map_err(|e| e.to_string())?;
    let links = v.as_array().ok_or("not an array")?;
    if links.len() != 2 {
        return Err(format!("{} links", links.len()));
    }
    let field = |link: &ciborium::Value, key: &str| -> Option<ciborium::Value> {
        link.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v.clone())
    };
    let leaf = &links[1];
    let want_hash = coconut_blake3::hash(&m);
    let ok = field(leaf, "aid")
        .and_then(|v| v.as_integer())
        .map(u64::try_from)
        == Some(Ok(aid.get()))
        && field(leaf, "parent")
            .and_then(|v| v.as_integer())
            .map(u64::try_from)
            == Some(Ok(0))
        && field(leaf, "name")
            .and_then(|v| v.as_text().map(str::to_string))
            .as_deref()
            == Some("attested")
        && field(leaf, "manifest_hash")
            .and_then(|v| v.as_bytes().cloned())
            .as_deref()
            == Some(want_hash.as_slice())
        && field(leaf, "signer")
            .and_then(|v| v.as_bytes().cloned())
            .as_deref()
            == Some(root_key().verifying_key().as_bytes().as_slice());
    if !ok {
        return Err(format!("leaf link: {leaf:?}"));
    }
    // spawn_seq names the agent's sealed spawn row.
    let seq = field(leaf, "spawn_seq")
        .and_then(|v| v.as_integer())
        .and_then(|i| u64::try_from(i).ok())
        .ok_or("no spawn_seq")?;
    let rows = rows_about(aid.get())?;
    if !rows
        .iter()
        .any(|r| r.header.seq == seq && r.header.kind == AuditKind::Spawn)
    {
        return Err(format!("spawn_seq {seq} is not {aid}'s spawn row"));
    }
    if !rows.iter().any(|r| {
        r.header.kind == AuditKind::Attest && r.detail == format!("links=2 bytes={}", chain.len())
    }) {
        return Err("no attest row".into());
    }
    sys::revoke_all(aid).map_err(|e| format!("revoke_all: {e}"))?;
    Ok(())
}

fn quota() -> Result<(), String> {
    let m = manifest("budgeted", &["inference"], &[], &root_key());
    let aid = sys::spawn(&m, &[], None, 0).map_err(|e| format!("spawn: {e}"))?;
    sys::quota_set(aid, QuotaKind::InferenceTokens, 100, 0).map_err(|e| format!("set: {e}"))?;
    let b = sys::quota_get(aid, QuotaKind::InferenceTokens).map_err(|e| format!("get: {e}"))?;
    if b.limit != 100 || b.used != 0 {
        return Err(format!("after SET: {b:?}"));
    }
    sys::quota_charge(aid, QuotaKind::InferenceTokens, 40).map_err(|e| format!("charge: {e}"))?;
    if errno_of(sys::quota_charge(aid, QuotaKind::InferenceTokens, 60)) != Some(libc::EDQUOT) {
        return Err("reaching the limit was not EDQUOT".into());
    }
    let b = sys::quota_get(aid, QuotaKind::InferenceTokens).map_err(|e| format!("get: {e}"))?;
    if b.used != 100 {
        return Err(format!("the charge was not recorded: {b:?}"));
    }
    let f = read(&format!("/agent/{aid}/budget/inference_tokens"))?;
    if f != "limit=100 used=100 period_ns=0\n" {
        return Err(format!("budget file: {f:?}"));
    }
    if errno_of(sys::quota_set(root(), QuotaKind::Cpu, 50_000, 100_000_000)) != Some(libc::EPERM) {
        return Err("SET on a:00000 was not EPERM".into());
    }
    sys::revoke_all(aid).map_err(|e| format!("revoke_all: {e}"))?;
    if errno_of(sys::quota_charge(aid, QuotaKind::InferenceTokens, 1)) != Some(libc::EBUSY) {
        return Err("CHARGE of a terminated agent was not EBUSY".into());
    }
    Ok(())
}

/// Forks a child that waits on a pipe, spawns an agent with it as the pidfd member, then lets
/// it exec the runner with `args`. Returns the AID, the child's pid, its stdin and stdout.
pub(crate) fn spawn_member(
    m: &[u8],
    caps: &[u8],
    args: &[&str],
) -> Result<(Aid, i32, std::fs::File, std::fs::File), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut go = [0i32; 2];
    let mut input = [0i32; 2];
    let mut output = [0i32; 2];
    // SAFETY: pipes into valid arrays.
    unsafe {
        // Close-on-exec: the program the child execs (and its own children) hold only its
        // stdin and stdout, so a reader sees the end of a pipe when the child ends.
        if libc::pipe2(go.as_mut_ptr(), libc::O_CLOEXEC) != 0
            || libc::pipe2(input.as_mut_ptr(), libc::O_CLOEXEC) != 0
            || libc::pipe2(output.as_mut_ptr(), libc::O_CLOEXEC) != 0
        {
            return Err("pipe".into());
        }
    }
    let mut cargs: Vec<std::ffi::CString> =
        vec![std::ffi::CString::new(exe.to_string_lossy().as_bytes()).unwrap()];
    cargs.push(c"--agent-child".into());
    cargs.extend(args.iter().map(|a| std::ffi::CString::new(*a).unwrap()));
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: the runner is single-threaded here; the child only calls async-signal-safe
    // functions before exec.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls in the child, then exec or _exit.
        unsafe {
            let mut b = 0u8;
            // The parent's ends: without them, the read below ends if the parent dies.
            libc::close(go[1]);
            libc::close(input[1]);
            libc::close(output[0]);
            libc::dup2(input[0], 0);
            libc::dup2(output[1], 1);
            // No go-ahead (the parent died or refused the spawn): no exec.
            if libc::read(go[0], (&mut b as *mut u8).cast(), 1) != 1 {
                libc::_exit(125);
            }
            libc::execv(argv[0], argv.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: closes the child's ends in the parent.
    unsafe {
        libc::close(go[0]);
        libc::close(input[0]);
        libc::close(output[1]);
    }
    // SAFETY: pidfd_open of our own child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if pidfd < 0 {
        return Err("pidfd_open".into());
    }
    // SAFETY: a pidfd this process owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let spawned = sys::spawn(m, caps, Some(pidfd.as_fd()), 0);
    // SAFETY: releases the child (to exec, or to _exit if the spawn failed and it is killed).
    unsafe {
        if spawned.is_err() {
            libc::kill(pid, libc::SIGKILL);
        }
        libc::write(go[1], b"g".as_ptr().cast(), 1);
        libc::close(go[1]);
    }
    let aid = spawned.map_err(|e| format!("spawn with pidfd: {e}"))?;
    // SAFETY: the pipe ends this process owns.
    let (stdin, stdout) = unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(input[1])),
            std::fs::File::from(OwnedFd::from_raw_fd(output[0])),
        )
    };
    Ok((aid, pid, stdin, stdout))
}

pub(crate) fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: reaps our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

/// Polls `f` for up to 5 s (the exit of a member is counted by a workqueue).
pub(crate) fn eventually(what: &str, f: impl Fn() -> Result<bool, String>) -> Result<(), String> {
    for _ in 0..100 {
        if f()? {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("{what}: not within 5 s"))
}

fn member_confined() -> Result<(), String> {
    let caps = ["fs.read:/tmp/*"];
    let m = manifest("confined", &caps, &[], &root_key());
    let (aid, pid, stdin, _stdout) = spawn_member(&m, &capset(&caps), &["confined"])?;
    drop(stdin);
    let status = wait(pid);
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "the confined child failed (status {status:#x}; its stderr is on the console)"
        ));
    }
    // It joined (ACTIVE), was denied (CAP_DENIED, cap_deny rows), and its exit finished it.
    eventually("TERMINATED_CLEAN after the last member's exit", || {
        Ok(state(aid)? == "TERMINATED_CLEAN")
    })?;
    let rows = rows_about(aid.get())?;
    let details: Vec<String> = rows
        .iter()
        .map(|r| format!("{:?} {}", r.header.kind, r.detail))
        .collect();
    let has = |k: AuditKind, d: &str| {
        rows.iter()
            .any(|r| r.header.kind == k && r.detail.contains(d))
    };
    if !has(AuditKind::State, "to=ACTIVE why=member_joined")
        || !has(AuditKind::CapDeny, "cap=fs.read:/")
        || !has(AuditKind::State, "from=ACTIVE to=CAP_DENIED why=cap_denied")
        || !has(AuditKind::State, "to=TERMINATED_CLEAN why=finished")
    {
        return Err(format!("rows of {aid}: {details:?}"));
    }
    Ok(())
}

fn cascade() -> Result<(), String> {
    // The coordinator may spawn children signed by child_key, within its own caps (the C
    // library's start-up reads /proc/<pid>/maps).
    let caps = ["agent.spawn", "fs.read:/proc/*", "fs.read:/tmp/*"];
    let m = manifest(
        "coordinator",
        &caps,
        &[*child_key().verifying_key().as_bytes()],
        &root_key(),
    );
    let grand = manifest("helper", &["fs.read:/tmp/*"], &[], &child_key());
    std::fs::write("/tmp/helper.manifest", &grand).map_err(|e| e.to_string())?;
    let (aid, pid, stdin, mut stdout) =
        spawn_member(&m, &capset(&caps), &["coordinator", "/tmp/helper.manifest"])?;
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).map_err(|e| e.to_string())? == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    let gc: Aid = line
        .trim()
        .parse()
        .map_err(|e| format!("grandchild AID {line:?}: {e:?}"))?;
    if state(aid)? != "ACTIVE" {
        let denials: Vec<String> = rows_about(aid.get())?
            .into_iter()
            .filter(|r| r.header.kind == AuditKind::CapDeny)
            .map(|r| r.detail)
            .collect();
        return Err(format!(
            "coordinator: {:?}, denials {denials:?}",
            status(aid)
        ));
    }
    if !status(aid)?.contains("members=1\n") {
        return Err(format!("coordinator members: {:?}", status(aid)));
    }
    if !status(gc)?.contains(&format!("parent={aid}\n")) {
        return Err(format!("grandchild status: {:?}", status(gc)));
    }
    // Revoking from the coordinator's subtree reaches the grandchild in the same call.
    sys::cap_revoke(aid, &cap("fs.read:/tmp/*")).map_err(|e| format!("revoke: {e}"))?;
    for a in [aid, gc] {
        if sys::cap_present(a, &cap("fs.read:/tmp/x")) != Ok(false) {
            return Err(format!("{a} still holds fs.read:/tmp/* after the revoke"));
        }
    }
    // A grant to the grandchild of what its parent no longer holds is refused (P1-10).
    if errno_of(sys::cap_grant(gc, &cap("fs.read:/tmp/*"))) != Some(libc::EPERM) {
        return Err("a grant above the parent's set was not EPERM".into());
    }
    // REVOKE_ALL terminates both and kills the coordinator's task.
    sys::revoke_all(aid).map_err(|e| format!("revoke_all: {e}"))?;
    let status = wait(pid);
    drop(stdin);
    if !libc::WIFSIGNALED(status) || libc::WTERMSIG(status) != libc::SIGKILL {
        return Err(format!(
            "the coordinator was not killed (status {status:#x})"
        ));
    }
    for a in [aid, gc] {
        if state(a)? != "TERMINATED_REVOKED" {
            return Err(format!("{a}: {:?}", status_of(a)));
        }
    }
    Ok(())
}

fn status_of(aid: Aid) -> String {
    status(aid).unwrap_or_default()
}
