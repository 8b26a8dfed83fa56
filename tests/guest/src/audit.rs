//! The audit chain in the kernel (`kernel/audit/coconut`): agentfs's `audit/` files, the start
//! of the chain by `/agent/audit/link`, every audited call sealed in order with correct hashes,
//! appends from every CPU and a flood losing nothing, flood control of malformed calls,
//! `agent_audit_query`'s filters, limits and permissions, and the persister's acknowledgements.
//!
//! These run first: `audit::link_starts_the_chain` starts the chain the later tests (and the
//! syscall tests after them) append to; [`final_tests`] run last.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use coconut_abi::{
    AgentAuditFilter, AuditKind, Syscall, AGENT_AUDIT_ROW_MIN, AGENT_AUDIT_SUBTREE, AID_ANY,
    AID_MAX, AID_SELF,
};
use coconut_audit::{public_genesis, Verifier, BOOT_ID_LEN};
use libcoconut::audit::{AuditRow, ChainLogLine};
use libcoconut::{sys, Error};

use crate::Test;

/// Where the test initramfs's `/init` mounts agentfs.
const AUDIT_DIR: &str = "/agent/audit";
/// The boot counter the runner starts the chain at.
const BOOT: u64 = 7;

/// Tests of the audit chain, in the order they must run.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("audit::agentfs_has_the_audit_files", agentfs_files),
        Test::new("audit::link_starts_the_chain", link_starts_the_chain),
        Test::new("audit::boot_row_has_the_public_genesis", boot_row_genesis),
        Test::new("audit::calls_are_sealed_in_order", calls_sealed_in_order),
        Test::new("audit::chain_log_verifies_against_head", chain_log_verifies),
        Test::new(
            "audit::coconut_audit_verify_on_the_live_chain",
            coconut_verify,
        ),
        Test::new("audit::query_filters_and_limits", query_filters),
        Test::new("audit::unprivileged_callers_see_nothing", unprivileged),
        Test::new("audit::appends_from_every_cpu_lose_nothing", every_cpu),
        Test::new("audit::a_flood_loses_nothing", flood),
        Test::new(
            "audit::malformed_calls_beyond_the_burst_are_counted_in_suppressed_rows",
            malformed_rate_limited,
        ),
    ]
}

/// Tests that must run after every other test: once a persister has acknowledged rows, the
/// kernel keeps every unacknowledged row, so later appends would wait for a persister the
/// runner does not have.
pub fn final_tests() -> Vec<Test> {
    vec![
        Test::new("audit::persisted_acknowledgements", persisted),
        Test::new(
            "audit::a_full_arena_holds_callers_until_persisted",
            held_until_persisted,
        ),
        Test::new(
            "audit::checkpoints_are_signed_with_the_seed_key",
            checkpoints,
        ),
    ]
}

fn path(name: &str) -> String {
    format!("{AUDIT_DIR}/{name}")
}

/// Writes `text` to an agentfs file in one write; the errno on failure.
fn write_file(name: &str, text: &str) -> Result<(), i32> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(name))
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    f.write_all(text.as_bytes())
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// `/agent/audit/stats`, parsed.
type Stats = BTreeMap<String, u64>;

/// `/agent/audit/stats` as a map.
fn stats() -> Result<Stats, String> {
    let text = std::fs::read_to_string(path("stats")).map_err(|e| format!("stats: {e}"))?;
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("stats line `{line}` is not key=value"))?;
        let v = v
            .parse()
            .map_err(|_| format!("stats line `{line}`: not a number"))?;
        map.insert(k.to_string(), v);
    }
    Ok(map)
}

fn stat(map: &Stats, key: &str) -> Result<u64, String> {
    map.get(key)
        .copied()
        .ok_or_else(|| format!("stats has no `{key}`"))
}

/// Waits until the sealer has sealed everything appended (`queued=0`, `reserved=0`) and flood
/// control has no counted calls waiting for their `suppressed` row (`suppressing=0`, about a
/// second after the last one), for at most 60 s (TCG is slow); returns the stats then.
fn settle() -> Result<Stats, String> {
    let start = Instant::now();
    loop {
        let s = stats()?;
        if stat(&s, "queued")? == 0
            && stat(&s, "reserved")? == 0
            && stat(&s, "sealing")? == 0
            && stat(&s, "suppressing")? == 0
        {
            return Ok(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!("the sealer did not catch up in 60 s: {s:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The head file: 32 bytes.
fn head() -> Result<[u8; 32], String> {
    let mut f = std::fs::File::open(path("head")).map_err(|e| format!("head: {e}"))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| format!("head: {e}"))?;
    <[u8; 32]>::try_from(buf.as_slice())
        .map_err(|_| format!("head is {} bytes, want 32", buf.len()))
}

/// Every row of `filter`'s range (`to_seq` must be set: each query seals an `audit_query` row
/// of its own, so an open range would never end), querying again from the last seq + 1 until
/// the range is done.
fn query_all(filter: AgentAuditFilter) -> Result<Vec<AuditRow>, String> {
    assert!(filter.to_seq != 0, "query_all needs a closed range");
    let mut out: Vec<AuditRow> = Vec::new();
    let mut f = filter;
    loop {
        let rows = sys::audit_query(&f, 64 * 1024).map_err(|e| format!("audit_query: {e}"))?;
        let Some(last) = rows.last() else {
            return Ok(out);
        };
        f.from_seq = last.header.seq + 1;
        out.extend(rows);
        if f.from_seq > f.to_seq {
            return Ok(out);
        }
    }
}

/// Every kind, every subject, `from..=to`.
fn range(from_seq: u64, to_seq: u64) -> AgentAuditFilter {
    AgentAuditFilter {
        from_seq,
        to_seq,
        aid: AID_ANY,
        ..Default::default()
    }
}

/// Every kind, every subject, `from..` (for single queries).
fn all_from(from_seq: u64) -> AgentAuditFilter {
    range(from_seq, 0)
}

/// Rows of one chain segment link up: each `prev` is the previous `hash`, seqs consecutive.
fn contiguous(rows: &[AuditRow]) -> Result<(), String> {
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.header.seq != a.header.seq + 1 {
            return Err(format!("seq {} follows seq {}", b.header.seq, a.header.seq));
        }
        if b.prev != a.hash {
            return Err(format!(
                "row {}'s prev is not row {}'s hash",
                b.header.seq, a.header.seq
            ));
        }
    }
    let mut v = Verifier::new().allow_gaps();
    for r in rows {
        v.push(r.as_row_ref())
            .map_err(|e| format!("row {} does not verify: {e:?}", r.header.seq))?;
    }
    Ok(())
}

/// One invalid `agent_spawn` (an empty manifest): `EINVAL` from coconut-abi's pure checks, so
/// a malformed call under flood control (a `spawn` row with result -EINVAL, or a count).
fn bad_spawn() -> Result<(), String> {
    match sys::spawn(&[], &[], None, 0) {
        Err(Error::InvalidArgument { .. }) => Ok(()),
        other => Err(format!("spawn(empty): {other:?}")),
    }
}

/// The agent no test spawns (far above any AID a test run reaches).
const MISSING: u64 = 99_999;

/// One refused `agent_cap_grant` (to an agent that does not exist): `ESRCH`, a decision of the
/// kernel part, so always sealed in its own `cap_grant` row with result -ESRCH.
fn refused_grant() -> Result<(), String> {
    let aid = coconut_abi::Aid::new(MISSING).map_err(|e| format!("{e:?}"))?;
    match sys::cap_grant(
        aid,
        &libcoconut::Capability::unscoped(coconut_abi::CapId::AgentSpawn),
    ) {
        Err(Error::NoSuchAgent { .. }) => Ok(()),
        other => Err(format!("cap_grant(a:{MISSING}): {other:?}")),
    }
}

fn agentfs_files() -> Result<(), String> {
    for name in ["chain.log", "head", "stats", "link", "persisted"] {
        std::fs::metadata(path(name)).map_err(|e| format!("{}: {e}", path(name)))?;
    }
    let s = stats()?;
    if stat(&s, "started")? != 0 {
        return Err("the chain started before /agent/audit/link was written".into());
    }
    if stat(&s, "lost")? != 0 {
        return Err("stats says lost != 0".into());
    }
    Ok(())
}

fn link_starts_the_chain() -> Result<(), String> {
    for bad in [
        "boot=",
        "boot=01",
        "boot=x",
        "boot=7 prev_boot=9 prev_seq=1 prev_head=00",
        "boot=7 trailing",
    ] {
        if write_file("link", bad) != Err(libc::EINVAL) {
            return Err(format!("link `{bad}` was not refused with EINVAL"));
        }
    }
    if stat(&stats()?, "started")? != 0 {
        return Err("a malformed link line started the chain".into());
    }
    write_file("link", &format!("boot={BOOT}\n")).map_err(|e| format!("link: errno {e}"))?;
    if write_file("link", &format!("boot={}\n", BOOT + 1)) != Err(libc::EBUSY) {
        return Err("a second link write was not refused with EBUSY".into());
    }
    let s = settle()?;
    if stat(&s, "started")? != 1 || stat(&s, "boot")? != BOOT {
        return Err(format!("after the link: {s:?}"));
    }
    Ok(())
}

fn boot_row_genesis() -> Result<(), String> {
    let rows = sys::audit_query(
        &AgentAuditFilter {
            to_seq: 0,
            aid: AID_ANY,
            kinds: AuditKind::Boot.filter_bit(),
            ..Default::default()
        },
        4096,
    )
    .map_err(|e| format!("audit_query: {e}"))?;
    let [boot] = rows.as_slice() else {
        return Err(format!("{} boot rows, want 1", rows.len()));
    };
    if boot.header.seq != 0 || boot.header.boot != BOOT {
        return Err(format!(
            "boot row at seq {} boot {}",
            boot.header.seq, boot.header.boot
        ));
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let want_start = format!("boot={BOOT} abi=1 kernel={} boot_id=", release.trim());
    let id_hex = boot
        .detail
        .strip_prefix(&want_start)
        .and_then(|rest| rest.strip_suffix(" seed=none"))
        .ok_or_else(|| format!("boot detail `{}`", boot.detail))?;
    let mut id = [0u8; BOOT_ID_LEN];
    if id_hex.len() != 2 * BOOT_ID_LEN {
        return Err(format!("boot_id `{id_hex}`"));
    }
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id_hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("boot_id `{id_hex}`"))?;
    }
    if boot.prev != public_genesis(&id, BOOT) {
        return Err("the boot row's prev is not the public genesis of its boot_id".into());
    }
    Ok(())
}

fn calls_sealed_in_order() -> Result<(), String> {
    let before = settle()?;
    let from = stat(&before, "sealed")?;
    const N: u64 = 50;
    for _ in 0..N {
        refused_grant()?;
    }
    // A presence check is not audited; an ABI version probe neither.
    let _ = sys::cap_present(
        coconut_abi::AidTarget::SelfAgent,
        &libcoconut::Capability::unscoped(coconut_abi::CapId::AgentSpawn),
    );
    let _ = sys::abi_version();
    let after = settle()?;
    let sealed = stat(&after, "sealed")? - from;
    if sealed != N {
        return Err(format!("{N} audited calls sealed {sealed} rows"));
    }
    let rows = query_all(range(from, from + N - 1))?;
    if rows.len() as u64 != N {
        return Err(format!(
            "query from {from} returned {} rows, want {N}",
            rows.len()
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let ok = r.header.seq == from + i as u64
            && r.header.kind == AuditKind::CapGrant
            && r.header.result == -libc::ESRCH
            && r.header.actor == 0
            && r.header.subject == MISSING
            && r.detail == "cap=agent.spawn";
        if !ok {
            return Err(format!("row {i}: {:?} `{}`", r.header, r.detail));
        }
    }
    contiguous(&rows)
}

fn chain_log_verifies() -> Result<(), String> {
    let text = std::fs::read_to_string(path("chain.log")).map_err(|e| format!("chain.log: {e}"))?;
    let head_before = head()?;
    let mut v = Verifier::new();
    let mut last_hash = None;
    let mut count = 0u64;
    for (i, line) in text.lines().enumerate() {
        let parsed = ChainLogLine::parse(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let row = parsed
            .to_row()
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        v.push(row.as_row_ref())
            .map_err(|e| format!("line {} (seq {}): {e:?}", i + 1, row.header.seq))?;
        last_hash = Some(row.hash);
        count += 1;
    }
    if count == 0 {
        return Err("chain.log is empty".into());
    }
    // Rows sealed after the read (none should be: nothing appends meanwhile) would move the
    // head; the file's last hash is the head read after it.
    let head_after = head()?;
    if last_hash != Some(head_after) || head_before != head_after {
        return Err("chain.log's last hash is not /agent/audit/head".into());
    }
    v.finish(Some(&head_after))
        .map_err(|e| format!("finish: {e:?}"))?;
    // The same rows through the syscall render to the same lines.
    let rows = query_all(range(0, count - 1))?;
    let lines: Vec<&str> = text.lines().collect();
    if rows.len() < lines.len() {
        return Err(format!(
            "query has {} rows, chain.log {} lines",
            rows.len(),
            lines.len()
        ));
    }
    for (row, line) in rows.iter().zip(&lines) {
        let rendered = row.to_json().map_err(|e| format!("render: {e}"))?;
        if rendered != *line {
            return Err(format!(
                "seq {}: query renders `{rendered}`, chain.log has `{line}`",
                row.header.seq
            ));
        }
    }
    // Reading from an offset inside the file gives the rest of it (seq_file positions).
    let mut f = std::fs::File::open(path("chain.log")).map_err(|e| format!("chain.log: {e}"))?;
    let first_len = lines[0].len() + 1;
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(first_len as u64))
        .map_err(|e| format!("seek: {e}"))?;
    let mut rest = String::new();
    f.read_to_string(&mut rest)
        .map_err(|e| format!("read: {e}"))?;
    if !text[first_len..].starts_with(&rest[..rest.len().min(text.len() - first_len)])
        || rest.is_empty()
    {
        return Err("reading chain.log from the second line's offset did not give the rest".into());
    }
    Ok(())
}

fn query_filters() -> Result<(), String> {
    let call = Syscall::AgentAuditQuery;
    // Kinds: only audit_query rows (the queries just made).
    let next = stat(&settle()?, "sealed")?;
    let rows = query_all(AgentAuditFilter {
        to_seq: next - 1,
        aid: AID_ANY,
        kinds: AuditKind::AuditQuery.filter_bit(),
        ..Default::default()
    })?;
    if rows.is_empty() || rows.iter().any(|r| r.header.kind != AuditKind::AuditQuery) {
        return Err(format!(
            "kinds=audit_query returned {} rows, some of another kind",
            rows.len()
        ));
    }
    let detail = &rows[0].detail;
    if !detail.starts_with("from=") || !detail.contains(" rows=") {
        return Err(format!("audit_query detail `{detail}`"));
    }
    // A range: exactly from..=to.
    let ranged = sys::audit_query(
        &AgentAuditFilter {
            from_seq: 1,
            to_seq: 3,
            aid: AID_ANY,
            ..Default::default()
        },
        4096,
    )
    .map_err(|e| format!("range: {e}"))?;
    let seqs: Vec<u64> = ranged.iter().map(|r| r.header.seq).collect();
    if seqs != [1, 2, 3] {
        return Err(format!("from 1 to 3 returned seqs {seqs:?}"));
    }
    // SELF sees the rows about a:00000 (every row but those about agents that never existed,
    // like the refused grants' a:99999); the SUBTREE of a:00000 is every row.
    let all = sys::audit_query(
        &AgentAuditFilter {
            from_seq: 0,
            to_seq: 2,
            aid: AID_ANY,
            ..Default::default()
        },
        4096,
    )
    .map_err(|e| format!("any: {e}"))?;
    let about_a0 = all.iter().filter(|r| r.header.subject == 0).count();
    for (what, aid, flags, want) in [
        ("self", AID_SELF, 0, about_a0),
        ("subtree of a:00000", 0, AGENT_AUDIT_SUBTREE, all.len()),
    ] {
        let rows = sys::audit_query(
            &AgentAuditFilter {
                from_seq: 0,
                to_seq: 2,
                aid,
                flags,
                ..Default::default()
            },
            4096,
        )
        .map_err(|e| format!("{what}: {e}"))?;
        if rows.len() != want {
            return Err(format!("{what}: {} rows of 0..=2, want {want}", rows.len()));
        }
    }
    // An AID naming no agent: ESRCH.
    let none = sys::audit_query(
        &AgentAuditFilter {
            aid: AID_MAX,
            ..Default::default()
        },
        4096,
    );
    if !matches!(none, Err(Error::NoSuchAgent { .. })) {
        return Err(format!("aid AID_MAX: {none:?}, want ESRCH"));
    }
    // A buffer smaller than the first matching row: ERANGE (the boot row is > 128 bytes).
    let small = sys::audit_query(&all_from(0), AGENT_AUDIT_ROW_MIN);
    if !matches!(small, Err(Error::BufferTooSmall { .. })) {
        return Err(format!("bufsize 128: {small:?}, want ERANGE"));
    }
    // A buffer that holds some rows: whole rows only, never a split one.
    let some = sys::audit_query(&all_from(0), 700).map_err(|e| format!("700 bytes: {e}"))?;
    let bytes: usize = some.iter().map(|r| 72 + r.event.len()).sum();
    if some.is_empty() || bytes > 700 {
        return Err(format!(
            "700-byte buffer: {} rows, {bytes} bytes",
            some.len()
        ));
    }
    // An unmapped buffer: EFAULT, nothing else changes.
    let filter = all_from(0);
    // SAFETY: the kernel writes to `buf` only through its uaccess checks; the address is
    // unmapped, which is the point.
    let r = unsafe {
        sys::raw_syscall(
            call,
            [
                &filter as *const AgentAuditFilter as u64,
                std::mem::size_of::<AgentAuditFilter>() as u64,
                8,
                4096,
                0,
            ],
        )
    };
    if !matches!(r, Err(Error::BadAddress { .. })) {
        return Err(format!("buf at address 8: {r:?}, want EFAULT"));
    }
    Ok(())
}

fn unprivileged() -> Result<(), String> {
    // SAFETY: fork in a single-threaded moment of the runner (no other test thread runs);
    // the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        // SAFETY: plain system calls in the child.
        let code = unsafe {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                10
            } else {
                let rows = sys::audit_query(&all_from(0), 4096);
                let open = std::fs::File::open(path("chain.log"));
                let link = write_file("link", "boot=9\n");
                match (rows, open, link) {
                    (Ok(r), Err(e), Err(_))
                        if r.is_empty() && e.raw_os_error() == Some(libc::EACCES) =>
                    {
                        0
                    }
                    (Ok(r), _, _) if !r.is_empty() => 11,
                    (Err(_), _, _) => 12,
                    (_, Ok(_), _) => 13,
                    _ => 14,
                }
            }
        };
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        10 => Err("setuid(65534) failed".into()),
        11 => Err("an unprivileged query returned rows".into()),
        12 => Err("an unprivileged query failed instead of returning no rows".into()),
        13 => Err("an unprivileged task opened chain.log".into()),
        n => Err(format!(
            "unprivileged child exited {n} (link write accepted?)"
        )),
    }
}

/// `threads` threads make `each` refused grants; every one is sealed, each thread's rows in its
/// own order, the chain contiguous.
fn storm(threads: usize, each: u64) -> Result<(Stats, Stats), String> {
    let before = settle()?;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..each {
                    refused_grant()?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| "a storm thread panicked".to_string())??;
    }
    let after = settle()?;
    let total = threads as u64 * each;
    // Checkpoint rows (none before a seed is loaded) are rows too, but no caller appended them.
    let checkpoints = stat(&after, "checkpoints")? - stat(&before, "checkpoints")?;
    for (key, want) in [("sealed", total + checkpoints), ("appended", total)] {
        let delta = stat(&after, key)? - stat(&before, key)?;
        if delta != want {
            return Err(format!(
                "{total} calls from {threads} threads: {key} grew by {delta}"
            ));
        }
    }
    if stat(&after, "refused")? != 0 || stat(&after, "seal_errors")? != 0 {
        return Err(format!("refused or seal errors: {after:?}"));
    }
    Ok((before, after))
}

fn every_cpu() -> Result<(), String> {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (before, _) = storm(2 * cpus, 500)?;
    let want = 2 * cpus as u64 * 500;
    let from = stat(&before, "sealed")?;
    let rows = query_all(range(from, from + want - 1))?;
    if rows.len() as u64 != want {
        return Err(format!("query returned {} of {want} rows", rows.len()));
    }
    contiguous(&rows)
}

fn flood() -> Result<(), String> {
    // Whether the 1024-slot staging ring fills here depends on how the sealer is scheduled;
    // `a_full_arena_holds_callers_until_persisted` shows the back-pressure deterministically.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (_, after) = storm(cpus, 6000)?;
    // The arena (8192 rows) keeps the newest rows; they still chain up to the head (read
    // before the queries below, which seal rows of their own).
    let head = head()?;
    let (oldest, next) = (stat(&after, "oldest_seq")?, stat(&after, "sealed")?);
    let rows = query_all(range(oldest, next - 1))?;
    if rows.len() as u64 != next - oldest {
        return Err(format!(
            "the arena holds {} rows of {oldest}..{next}",
            rows.len()
        ));
    }
    contiguous(&rows)?;
    if rows.last().map(|r| r.hash) != Some(head) {
        return Err("the newest row's hash is not the head".into());
    }
    Ok(())
}

/// Flood control (`docs/formats/audit.md`, "Flood control"): a burst of malformed calls is
/// sealed one row each while a:00000's bucket has tokens (32, refilled at 8 a second), then
/// counted; the counts reach `suppressed` rows (kind 15) within about a second, and every call
/// is in a row of its own or in a count.
fn malformed_rate_limited() -> Result<(), String> {
    // Earlier tests' malformed calls may have emptied the bucket: 4 s fill it again.
    std::thread::sleep(Duration::from_millis(4200));
    let before = settle()?;
    let from = stat(&before, "sealed")?;
    const N: u64 = 1000;
    let start = Instant::now();
    for _ in 0..N {
        bad_spawn()?;
    }
    let ms = start.elapsed().as_millis() as u64;
    let after = settle()?;
    let rows = query_all(range(from, stat(&after, "sealed")? - 1))?;
    let own = rows
        .iter()
        .filter(|r| r.header.kind == AuditKind::Spawn && r.header.actor == 0)
        .count() as u64;
    let mut counted = 0u64;
    let mut suppressed = 0u64;
    for r in rows
        .iter()
        .filter(|r| r.header.kind == AuditKind::Suppressed)
    {
        let count = r
            .detail
            .strip_prefix("count=")
            .and_then(|t| t.strip_suffix(" reason=rate_limit call=agent_spawn errno=22"))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|_| r.header.actor == 0 && r.header.subject == 0)
            .filter(|_| r.header.result == -libc::EINVAL)
            .ok_or_else(|| format!("a suppressed row: {:?} `{}`", r.header, r.detail))?;
        counted += count;
        suppressed += 1;
    }
    if own + counted != N {
        return Err(format!(
            "{N} malformed calls: {own} rows of their own + {counted} counted in {suppressed} \
             suppressed rows"
        ));
    }
    // The burst, plus what the bucket regained while the loop ran.
    let most = 32 + (8 * ms).div_ceil(1000) + 1;
    if !(32..=most).contains(&own) || suppressed == 0 {
        return Err(format!(
            "{own} calls sealed individually in {ms} ms (want 32..={most}), \
             {suppressed} suppressed rows"
        ));
    }
    for (key, want) in [("suppressed", counted), ("suppressed_rows", suppressed)] {
        let grew = stat(&after, key)? - stat(&before, key)?;
        if grew != want {
            return Err(format!("stats {key} grew by {grew}, want {want}"));
        }
    }
    Ok(())
}

fn persisted() -> Result<(), String> {
    let s = settle()?;
    let next = stat(&s, "sealed")?;
    for bad in ["x", "01", &format!("{}", next + 1000)] {
        if write_file("persisted", bad) != Err(libc::EINVAL) {
            return Err(format!("persisted `{bad}` was not refused with EINVAL"));
        }
    }
    write_file("persisted", &format!("{next}\n")).map_err(|e| format!("persisted: errno {e}"))?;
    if write_file("persisted", &format!("{}\n", next - 1)) != Err(libc::EINVAL) {
        return Err("persisted went backwards".into());
    }
    let s = stats()?;
    if stat(&s, "persister")? != 1 || stat(&s, "unpersisted")? > 1 {
        return Err(format!("after acknowledging {next}: {s:?}"));
    }
    Ok(())
}

/// Rows the arena holds, and the staging ring's slots callers may hold (1024, less the one
/// kept for the sealer's checkpoint marker; docs/formats/audit.md).
const ARENA_ROWS: u64 = 8192;
const STAGING_SLOTS: u64 = 1023;

/// With a persister registered, the sealer may not evict an unacknowledged row: once the
/// arena holds 8192 of them it stalls, the staging ring fills, and callers wait — none is
/// refused and no row is lost. Acknowledging the rows lets every waiting caller through.
fn held_until_persisted() -> Result<(), String> {
    let before = settle()?;
    let room = ARENA_ROWS - stat(&before, "unpersisted")?;
    // Enough calls to fill the arena and the staging ring, and to leave callers waiting.
    let (threads, each) = (2u64, (room + STAGING_SLOTS + 1000) / 2);
    let flooders: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..each {
                    refused_grant()?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    // Only agentfs files are read while the sealer is stalled: a syscall that seals a row
    // would wait too.
    let start = Instant::now();
    let stalled = loop {
        let s = stats()?;
        if stat(&s, "stalled")? == 1
            && stat(&s, "queued")? + stat(&s, "reserved")? == STAGING_SLOTS
            && stat(&s, "waits")? > stat(&before, "waits")?
        {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "the sealer never stalled with the staging ring full and callers waiting: {s:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if stat(&stalled, "unpersisted")? != ARENA_ROWS || stat(&stalled, "refused")? != 0 {
        return Err(format!("stalled: {stalled:?}"));
    }
    // Still stalled a moment later: nothing is evicted while the persister lags.
    std::thread::sleep(Duration::from_millis(200));
    let still = stats()?;
    if stat(&still, "sealed")? != stat(&stalled, "sealed")? {
        return Err(format!(
            "the sealer went on without an acknowledgement: {stalled:?} then {still:?}"
        ));
    }
    let next = stat(&still, "sealed")?;
    write_file("persisted", &format!("{next}\n"))
        .map_err(|e| format!("persisted {next}: errno {e}"))?;
    for h in flooders {
        h.join()
            .map_err(|_| "a flood thread panicked".to_string())??;
    }
    let after = settle()?;
    // Every held call was sealed; other rows (an earlier test's agent finishing, sealed from
    // the kernel's workqueue) may have been sealed meanwhile, and were not lost either.
    let total = threads * each;
    let sealed = stat(&after, "sealed")? - stat(&before, "sealed")?;
    let appended = stat(&after, "appended")? - stat(&before, "appended")?;
    if sealed < total || sealed != appended {
        return Err(format!(
            "{total} held calls: {appended} rows appended, {sealed} sealed"
        ));
    }
    for key in ["refused", "seal_errors", "lost"] {
        if stat(&after, key)? != 0 {
            return Err(format!("{key} is not 0 after the hold: {after:?}"));
        }
    }
    // Rows evicted before the persister registered are counted from the boot on; none may be
    // added while it is registered.
    let key = "overwritten_unpersisted";
    if stat(&after, key)? != stat(&before, key)? {
        return Err(format!(
            "rows were evicted unacknowledged: {before:?} then {after:?}"
        ));
    }
    Ok(())
}

/// Runs `/bin/coconut` with `args`: (exit code, stdout, stderr).
fn coconut(args: &[&str]) -> Result<(i32, String, String), String> {
    let out = std::process::Command::new("/bin/coconut")
        .args(args)
        .output()
        .map_err(|e| format!("running /bin/coconut: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The user's tool on the kernel's chain: `coconut audit verify` with its defaults
/// (`/agent/audit/chain.log` against `/agent/audit/head`) says intact; a copy with one byte of
/// one row's hash changed is named at that line.
fn coconut_verify() -> Result<(), String> {
    let (code, out, err) = coconut(&["audit", "verify"])?;
    if code != 0 || !out.starts_with("intact: ") {
        return Err(format!(
            "coconut audit verify: exit {code}, `{out}` `{err}`"
        ));
    }
    let text = std::fs::read_to_string(path("chain.log")).map_err(|e| format!("chain.log: {e}"))?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() < 3 {
        return Err(format!("chain.log has {} lines", lines.len()));
    }
    // Change the last hex digit of line 3's hash.
    let line = &mut lines[2];
    let last = line.len() - 3;
    let flipped = if &line[last..last + 1] == "0" {
        "1"
    } else {
        "0"
    };
    line.replace_range(last..last + 1, flipped);
    let copy = "/tmp/tampered-chain.log";
    std::fs::write(copy, lines.join("\n") + "\n").map_err(|e| format!("{copy}: {e}"))?;
    let (code, out, err) = coconut(&["audit", "verify", copy])?;
    let report = format!("{out}{err}");
    if code != 1 || !report.contains(&format!("{copy}:3")) {
        return Err(format!(
            "tampered copy: exit {code}, `{report}` (want exit 1 naming {copy}:3)"
        ));
    }
    Ok(())
}

/// A machine id for the seed line (any 32 lowercase hex digits).
const MACHINE_ID: &str = "00112233445566778899aabbccddeeff";

/// `add_key("user", "coconut:audit-seed", payload)` into this process's keyring (replacing
/// the payload of an earlier one): the key's serial, or the errno.
fn add_seed_key(payload: &[u8]) -> Result<i64, i32> {
    const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
    // SAFETY: NUL-terminated strings and a payload valid for its length, as add_key(2) wants.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"coconut:audit-seed".as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_PROCESS_KEYRING,
        )
    };
    if serial < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(serial)
}

/// Reads an agentfs file whole.
fn read_bytes(name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path(name)).map_err(|e| format!("{}: {e}", path(name)))
}

/// Checks a checkpoint row: its detail parses, `size` is its seq, the key is `public`, and
/// the signature over the note body (the head being the row's `prev`) verifies.
fn check_checkpoint_row(
    row: &AuditRow,
    public: &[u8; 32],
) -> Result<(coconut_audit::Checkpoint, [u8; 64]), String> {
    use coconut_audit::{Checkpoint, CheckpointRow, NOTE_MAX};
    let seq = row.header.seq;
    let cp = CheckpointRow::parse(&row.detail)
        .map_err(|e| format!("checkpoint row {seq}: {e}: {}", row.detail))?;
    if cp.size != seq || &cp.key != public {
        return Err(format!(
            "checkpoint row {seq}: size {} or key wrong",
            cp.size
        ));
    }
    let mut machine_id = [0u8; 16];
    for (i, b) in machine_id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&MACHINE_ID[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    let note = Checkpoint {
        machine_id,
        boot: row.header.boot,
        size: cp.size,
        root: cp.root,
        head: row.prev,
    };
    let mut body = [0u8; NOTE_MAX];
    let text = note.note(&mut body);
    let key = ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|e| e.to_string())?;
    key.verify_strict(
        text.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&cp.sig),
    )
    .map_err(|e| format!("checkpoint row {seq}: the signature does not verify: {e}"))?;
    Ok((note, cp.sig))
}

/// The checkpoint rows among `from..=to`.
fn checkpoint_rows(from: u64, to: u64) -> Result<Vec<AuditRow>, String> {
    let mut f = range(from, to);
    f.kinds = AuditKind::Checkpoint.filter_bit();
    let mut rows = query_all(f)?;
    rows.retain(|r| r.header.kind == AuditKind::Checkpoint);
    Ok(rows)
}

/// Loading the seed: every malformed line and unusable key is refused with its errno and
/// changes nothing; then the key file holds the public key derived from the seed, the first
/// checkpoint covers the boot so far, `/agent/audit/seal` seals one on demand and returns once
/// it is sealed, and 1024 more rows bring one by themselves. Each checkpoint row's signature
/// verifies under the derived key over the note body, and `/agent/audit/checkpoint` serves
/// the latest as a signed note. (The roots are recomputed from seq 0 by `coconut audit verify`
/// on the persisted history in the image tier: the arena here no longer holds the boot's first
/// rows.)
fn checkpoints() -> Result<(), String> {
    // A persister is registered (earlier tests): keep acknowledging, or the arena stalls.
    let ack = || -> Result<(), String> {
        let next = stat(&settle()?, "sealed")?;
        write_file("persisted", &format!("{next}\n")).map_err(|e| format!("persisted: errno {e}"))
    };
    ack()?;
    if !read_bytes("key")?.is_empty() || !read_bytes("checkpoint")?.is_empty() {
        return Err("key or checkpoint is not empty before a seed is loaded".into());
    }
    if write_file("seal", "1") != Err(libc::ENOKEY) {
        return Err("seal without a seed was not refused with ENOKEY".into());
    }
    let good = format!("type=user machine={MACHINE_ID}\n");
    for bad in [
        "type=user".to_string(),
        format!("type=usr machine={MACHINE_ID}"),
        "type=user machine=0011".to_string(),
        format!("type=user machine={}", MACHINE_ID.to_uppercase()),
        format!("type=user  machine={MACHINE_ID}"),
    ] {
        if write_file("seed", &bad) != Err(libc::EINVAL) {
            return Err(format!("seed line `{bad}` was not refused with EINVAL"));
        }
    }
    if write_file("seed", &good) != Err(libc::ENOKEY) {
        return Err(
            "a seed line without the key in the keyring was not refused with ENOKEY".into(),
        );
    }
    add_seed_key(&[7; 16]).map_err(|e| format!("add_key: errno {e}"))?;
    if write_file("seed", &good) != Err(libc::EKEYREJECTED) {
        return Err("a 16-byte seed was not refused with EKEYREJECTED".into());
    }
    match write_file("seed", &format!("type=trusted machine={MACHINE_ID}")) {
        Err(libc::EOPNOTSUPP) | Err(libc::ENOKEY) => {}
        other => return Err(format!("a trusted seed on this kernel: {other:?}")),
    }
    if stat(&stats()?, "key")? != 0 {
        return Err("a refused seed line loaded a key".into());
    }
    let seed = [0x5a; 32];
    add_seed_key(&seed).map_err(|e| format!("add_key: errno {e}"))?;
    write_file("seed", &good).map_err(|e| format!("seed: errno {e}"))?;
    if write_file("seed", &good) != Err(libc::EBUSY) {
        return Err("a second seed was not refused with EBUSY".into());
    }
    let public = ed25519_dalek::SigningKey::from_bytes(&coconut_audit::checkpoint_key_seed(&seed))
        .verifying_key()
        .to_bytes();
    if read_bytes("key")? != public {
        return Err("/agent/audit/key is not the public key derived from the seed".into());
    }
    for bad in ["0", "2", "1 "] {
        if write_file("seal", bad) != Err(libc::EINVAL) {
            return Err(format!("seal `{bad}` was not refused with EINVAL"));
        }
    }
    let from = stat(&settle()?, "sealed")?;
    write_file("seal", "1\n").map_err(|e| format!("seal: errno {e}"))?;
    // seal returned: the checkpoint it asked for is sealed already.
    let s = settle()?;
    let next = stat(&s, "sealed")?;
    let rows = checkpoint_rows(from.saturating_sub(2), next - 1)?;
    let Some(last) = rows.last() else {
        return Err(format!("no checkpoint row after seal: {s:?}"));
    };
    if stat(&s, "checkpoints")? < 2 {
        return Err(format!(
            "want the first checkpoint and the requested one: {s:?}"
        ));
    }
    let (note, sig) = check_checkpoint_row(last, &public)?;
    // The signed note of the latest checkpoint.
    let text = String::from_utf8(read_bytes("checkpoint")?).map_err(|e| e.to_string())?;
    let mut body = [0u8; coconut_audit::NOTE_MAX];
    let body = note.note(&mut body);
    let sig_line = text
        .strip_prefix(body)
        .and_then(|t| t.strip_prefix('\n'))
        .and_then(|t| t.strip_prefix(&format!("\u{2014} coconut-os/audit/{MACHINE_ID} ")))
        .and_then(|t| t.strip_suffix('\n'))
        .ok_or_else(|| format!("/agent/audit/checkpoint is not the latest note: {text:?}"))?;
    let mut blob = [0u8; 68];
    if coconut_audit::base64_decode(sig_line.as_bytes(), &mut blob) != Some(68) || blob[4..] != sig
    {
        return Err(format!("the note's signature line is wrong: {sig_line}"));
    }
    // 1024 rows bring a checkpoint without asking.
    ack()?;
    let before = stat(&settle()?, "checkpoints")?;
    for _ in 0..1100 {
        refused_grant()?;
    }
    ack()?;
    let s = settle()?;
    if stat(&s, "checkpoints")? <= before {
        return Err(format!("1100 rows brought no checkpoint: {s:?}"));
    }
    for row in checkpoint_rows(next, stat(&s, "sealed")? - 1)? {
        check_checkpoint_row(&row, &public)?;
    }
    ack()
}
