//! The agent system calls reach our code and answer exactly what `docs/abi.md` says.
//!
//! Two kinds of tests: every call with all-zero arguments (the numbers are wired: the answer is
//! the documented errno, never `ENOSYS`), and a table of crafted calls per syscall that pins the
//! order of the argument checks. Expected values are literals taken from `docs/abi.md`, not
//! computed by the checks under test, so a drift between the ABI crate and the kernel shows.
//!
//! Raw `syscall(2)` is used on purpose: these tests are about the numbers and the raw ABI.

use coconut_abi::limits::AGENT_STRUCT_SIZE_MAX;
use coconut_abi::{
    AgentAuditFilter, AgentBudget, AgentMemRequest, AgentSpawnArgs, CapId, Errno,
    AGENT_ATTEST_ABI_VERSION, AGENT_QUOTA_GET, AGENT_QUOTA_SET, AID_SELF, NR_AGENT_ATTEST,
    NR_AGENT_AUDIT_QUERY, NR_AGENT_CAP_GRANT, NR_AGENT_CAP_PRESENT, NR_AGENT_CAP_REVOKE,
    NR_AGENT_MEMORY_TIER, NR_AGENT_QUOTA, NR_AGENT_SPAWN,
};

use crate::Test;

/// The syscall tests.
pub const TESTS: &[Test] = &[
    (
        "syscalls::zero_args_reach_agent_code",
        zero_args_reach_agent_code,
    ),
    (
        "syscalls::attest_reports_abi_version",
        attest_reports_abi_version,
    ),
    ("syscalls::spawn_check_order", spawn_check_order),
    ("syscalls::attest_check_order", attest_check_order),
    ("syscalls::quota_check_order", quota_check_order),
    ("syscalls::cap_calls_check_order", cap_calls_check_order),
    ("syscalls::audit_query_check_order", audit_query_check_order),
    ("syscalls::memory_tier_check_order", memory_tier_check_order),
];

/// A user address that is never mapped in this process (the first page).
const BAD_PTR: usize = 8;

/// The raw result of a syscall: `Ok(value)` or `Err(errno)`.
fn raw(nr: u32, args: [usize; 5]) -> Result<i64, i32> {
    // SAFETY: the agent syscalls read user memory only through the kernel's uaccess helpers;
    // every pointer we pass is either valid for the size we pass or deliberately bad, which the
    // kernel reports as EFAULT. None of them writes to our memory in the skeleton kernel, and
    // where a later kernel will (attest, audit_query), the buffers passed are valid.
    let ret = unsafe {
        libc::syscall(
            nr as libc::c_long,
            args[0],
            args[1],
            args[2],
            args[3],
            args[4],
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(ret)
    }
}

fn errno_name(e: i32) -> String {
    Errno::from_raw(e)
        .map(|e| e.name().to_string())
        .unwrap_or_else(|| format!("errno {e}"))
}

/// One row of a conformance table: what was called, what it answered, what abi.md says.
type Row<'a> = (&'a str, Result<i64, i32>, Result<i64, Errno>);

/// Checks one call against its documented answer.
fn expect(what: &str, got: Result<i64, i32>, want: Result<i64, Errno>) -> Result<(), String> {
    let want = want.map_err(Errno::get);
    if got == want {
        return Ok(());
    }
    let show = |r: Result<i64, i32>| match r {
        Ok(v) => format!("Ok({v})"),
        Err(e) => errno_name(e),
    };
    Err(format!("{what}: got {}, want {}", show(got), show(want)))
}

/// Runs a table of (description, result, expected) and reports every mismatch.
fn table(rows: Vec<Row<'_>>) -> Result<(), String> {
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(what, got, want)| expect(what, got, want).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn ptr<T>(value: &T) -> usize {
    value as *const T as usize
}

fn zero_args_reach_agent_code() -> Result<(), String> {
    let z = [0usize; 5];
    let rows = vec![
        (
            "agent_spawn(NULL, 0)",
            raw(NR_AGENT_SPAWN, z),
            Err(Errno::EFAULT),
        ),
        (
            "agent_attest(0, NULL, 0, 0)",
            raw(NR_AGENT_ATTEST, z),
            Err(Errno::EOPNOTSUPP),
        ),
        (
            "agent_quota(0, 0, NULL, 0, 0)",
            raw(NR_AGENT_QUOTA, z),
            Err(Errno::EINVAL),
        ),
        (
            "agent_cap_grant(0, 0, NULL, 0, 0)",
            raw(NR_AGENT_CAP_GRANT, z),
            Err(Errno::EINVAL),
        ),
        (
            "agent_cap_revoke(0, 0, NULL, 0, 0)",
            raw(NR_AGENT_CAP_REVOKE, z),
            Err(Errno::EINVAL),
        ),
        (
            "agent_cap_present(0, 0, NULL, 0, 0)",
            raw(NR_AGENT_CAP_PRESENT, z),
            Err(Errno::EINVAL),
        ),
        (
            "agent_audit_query(NULL, 0, NULL, 0)",
            raw(NR_AGENT_AUDIT_QUERY, z),
            Err(Errno::EFAULT),
        ),
        (
            "agent_memory_tier(0, 0, NULL, 0)",
            raw(NR_AGENT_MEMORY_TIER, z),
            Err(Errno::EFAULT),
        ),
    ];
    for (what, got, _) in &rows {
        if *got == Err(libc::ENOSYS) {
            return Err(format!(
                "{what} answered ENOSYS: the syscall number does not reach the agent subsystem"
            ));
        }
    }
    table(rows)
}

fn attest_reports_abi_version() -> Result<(), String> {
    let got = raw(
        NR_AGENT_ATTEST,
        [0, 0, 0, AGENT_ATTEST_ABI_VERSION as usize, 0],
    );
    expect(
        "agent_attest(0, NULL, 0, AGENT_ATTEST_ABI_VERSION)",
        got,
        Ok(1),
    )
}

fn spawn_check_order() -> Result<(), String> {
    let size = std::mem::size_of::<AgentSpawnArgs>();
    let valid = AgentSpawnArgs {
        manifest: BAD_PTR as u64,
        manifest_len: 64,
        ..Default::default()
    };
    // A struct larger than the kernel knows, with a non-zero byte in the unknown tail.
    let mut big = vec![0u8; size + 8];
    // SAFETY: `big` has room for an AgentSpawnArgs at its start; the write is unaligned-safe.
    unsafe { std::ptr::write_unaligned(big.as_mut_ptr().cast::<AgentSpawnArgs>(), valid) };
    let mut big_dirty = big.clone();
    big_dirty[size + 3] = 1;
    let with = |f: &dyn Fn(&mut AgentSpawnArgs)| {
        let mut a = valid;
        f(&mut a);
        a
    };
    let bad_flags = with(&|a| a.flags = 1 << 7);
    let pidfd_no_flag = with(&|a| a.pidfd = 3);
    let empty_manifest = with(&|a| a.manifest_len = 0);
    let huge_manifest = with(&|a| a.manifest_len = 16 * 1024 + 1);
    let huge_caps = with(&|a| a.caps_len = 4 * 1024 + 1);
    table(vec![
        (
            "NULL args",
            raw(NR_AGENT_SPAWN, [0, size, 0, 0, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "size 0",
            raw(NR_AGENT_SPAWN, [ptr(&valid), 0, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "size VER0-1",
            raw(NR_AGENT_SPAWN, [ptr(&valid), size - 1, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "size page+1",
            raw(
                NR_AGENT_SPAWN,
                [ptr(&valid), AGENT_STRUCT_SIZE_MAX + 1, 0, 0, 0],
            ),
            Err(Errno::E2BIG),
        ),
        (
            "unmapped args",
            raw(NR_AGENT_SPAWN, [BAD_PTR, size, 0, 0, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "zero tail",
            raw(NR_AGENT_SPAWN, [big.as_ptr() as usize, size + 8, 0, 0, 0]),
            Err(Errno::EOPNOTSUPP),
        ),
        (
            "non-zero tail",
            raw(
                NR_AGENT_SPAWN,
                [big_dirty.as_ptr() as usize, size + 8, 0, 0, 0],
            ),
            Err(Errno::E2BIG),
        ),
        (
            "unknown flag",
            raw(NR_AGENT_SPAWN, [ptr(&bad_flags), size, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "pidfd without flag",
            raw(NR_AGENT_SPAWN, [ptr(&pidfd_no_flag), size, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "manifest_len 0",
            raw(NR_AGENT_SPAWN, [ptr(&empty_manifest), size, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "manifest_len max+1",
            raw(NR_AGENT_SPAWN, [ptr(&huge_manifest), size, 0, 0, 0]),
            Err(Errno::E2BIG),
        ),
        (
            "caps_len max+1",
            raw(NR_AGENT_SPAWN, [ptr(&huge_caps), size, 0, 0, 0]),
            Err(Errno::E2BIG),
        ),
        (
            "valid (skeleton)",
            raw(NR_AGENT_SPAWN, [ptr(&valid), size, 0, 0, 0]),
            Err(Errno::EOPNOTSUPP),
        ),
    ])
}

fn attest_check_order() -> Result<(), String> {
    let mut buf = [0u8; 64];
    let b = buf.as_mut_ptr() as usize;
    let v = AGENT_ATTEST_ABI_VERSION as usize;
    table(vec![
        (
            "unknown flag",
            raw(NR_AGENT_ATTEST, [0, 0, 0, 1 << 5, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "version with aid",
            raw(NR_AGENT_ATTEST, [1, 0, 0, v, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "version with buf",
            raw(NR_AGENT_ATTEST, [0, b, 0, v, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "aid above AID_MAX",
            raw(NR_AGENT_ATTEST, [1 << 63, 0, 0, 0, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "size without buf",
            raw(NR_AGENT_ATTEST, [0, 0, 64, 0, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "length query (skeleton)",
            raw(NR_AGENT_ATTEST, [AID_SELF as usize, 0, 0, 0, 0]),
            Err(Errno::EOPNOTSUPP),
        ),
        (
            "fill (skeleton)",
            raw(NR_AGENT_ATTEST, [0, b, 64, 0, 0]),
            Err(Errno::EOPNOTSUPP),
        ),
    ])
}

fn quota_check_order() -> Result<(), String> {
    let size = std::mem::size_of::<AgentBudget>();
    let budget = AgentBudget::default();
    let dirty = AgentBudget {
        used: 5,
        ..Default::default()
    };
    let get = AGENT_QUOTA_GET as usize;
    let set = AGENT_QUOTA_SET as usize;
    let ram = 2usize;
    table(vec![
        (
            "no operation",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&budget), size, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "two operations",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&budget), size, get | set]),
            Err(Errno::EINVAL),
        ),
        (
            "kind 0",
            raw(NR_AGENT_QUOTA, [0, 0, ptr(&budget), size, get]),
            Err(Errno::EINVAL),
        ),
        (
            "kind 6",
            raw(NR_AGENT_QUOTA, [0, 6, ptr(&budget), size, get]),
            Err(Errno::EINVAL),
        ),
        (
            "charge of ram",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&budget), size, 4]),
            Err(Errno::EINVAL),
        ),
        (
            "NULL budget",
            raw(NR_AGENT_QUOTA, [0, ram, 0, size, get]),
            Err(Errno::EFAULT),
        ),
        (
            "small size",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&budget), size - 1, get]),
            Err(Errno::EINVAL),
        ),
        (
            "set with used",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&dirty), size, set]),
            Err(Errno::EINVAL),
        ),
        (
            "set unmapped",
            raw(NR_AGENT_QUOTA, [0, ram, BAD_PTR, size, set]),
            Err(Errno::EFAULT),
        ),
        (
            "get (skeleton)",
            raw(NR_AGENT_QUOTA, [0, ram, ptr(&budget), size, get]),
            Err(Errno::EOPNOTSUPP),
        ),
    ])
}

fn cap_calls_check_order() -> Result<(), String> {
    let spawn = CapId::AgentSpawn.id() as usize;
    let scope = b"/home/agent/*";
    let spaced = b"has space";
    let long = [b'a'; 257];
    let s = |b: &[u8]| b.as_ptr() as usize;
    let mut rows = Vec::new();
    for (name, nr) in [
        ("grant", NR_AGENT_CAP_GRANT),
        ("revoke", NR_AGENT_CAP_REVOKE),
        ("present", NR_AGENT_CAP_PRESENT),
    ] {
        let leak =
            |what: &str| -> &'static str { Box::leak(format!("{name}: {what}").into_boxed_str()) };
        rows.push((
            leak("unknown flag"),
            raw(nr, [0, spawn, 0, 0, 1 << 9]),
            Err(Errno::EINVAL),
        ));
        rows.push((leak("cap 0"), raw(nr, [0, 0, 0, 0, 0]), Err(Errno::EINVAL)));
        rows.push((
            leak("cap 9999"),
            raw(nr, [0, 9999, 0, 0, 0]),
            Err(Errno::EINVAL),
        ));
        rows.push((
            leak("aid above AID_MAX"),
            raw(nr, [1 << 63, spawn, 0, 0, 0]),
            Err(Errno::EINVAL),
        ));
        rows.push((
            leak("scope 257 bytes"),
            raw(nr, [0, spawn, s(&long), 257, 0]),
            Err(Errno::E2BIG),
        ));
        rows.push((
            leak("scope NULL"),
            raw(nr, [0, spawn, 0, 4, 0]),
            Err(Errno::EFAULT),
        ));
        rows.push((
            leak("scope unmapped"),
            raw(nr, [0, spawn, BAD_PTR, 4, 0]),
            Err(Errno::EFAULT),
        ));
        rows.push((
            leak("scope with space"),
            raw(nr, [0, spawn, s(spaced), spaced.len(), 0]),
            Err(Errno::EINVAL),
        ));
        rows.push((
            leak("scoped (skeleton)"),
            raw(nr, [AID_SELF as usize, spawn, s(scope), scope.len(), 0]),
            Err(Errno::EOPNOTSUPP),
        ));
        rows.push((
            leak("unscoped (skeleton)"),
            raw(nr, [0, spawn, 0, 0, 0]),
            Err(Errno::EOPNOTSUPP),
        ));
    }
    table(rows)
}

fn audit_query_check_order() -> Result<(), String> {
    let size = std::mem::size_of::<AgentAuditFilter>();
    let filter = AgentAuditFilter {
        aid: u64::MAX - 1,
        ..Default::default()
    };
    let backwards = AgentAuditFilter {
        from_seq: 10,
        to_seq: 5,
        ..filter
    };
    let mut buf = vec![0u8; 4096];
    let b = buf.as_mut_ptr() as usize;
    table(vec![
        (
            "NULL filter",
            raw(NR_AGENT_AUDIT_QUERY, [0, size, b, 4096, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "small fsize",
            raw(NR_AGENT_AUDIT_QUERY, [ptr(&filter), size - 1, b, 4096, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "unmapped filter",
            raw(NR_AGENT_AUDIT_QUERY, [BAD_PTR, size, b, 4096, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "to before from",
            raw(NR_AGENT_AUDIT_QUERY, [ptr(&backwards), size, b, 4096, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "NULL buffer",
            raw(NR_AGENT_AUDIT_QUERY, [ptr(&filter), size, 0, 4096, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "tiny buffer",
            raw(NR_AGENT_AUDIT_QUERY, [ptr(&filter), size, b, 16, 0]),
            Err(Errno::ERANGE),
        ),
        (
            "valid (skeleton)",
            raw(NR_AGENT_AUDIT_QUERY, [ptr(&filter), size, b, 4096, 0]),
            Err(Errno::EOPNOTSUPP),
        ),
    ])
}

fn memory_tier_check_order() -> Result<(), String> {
    let size = std::mem::size_of::<AgentMemRequest>();
    let req = AgentMemRequest {
        length: 4096,
        prot: 3,
        ..Default::default()
    };
    let zero_len = AgentMemRequest { length: 0, ..req };
    let exec = AgentMemRequest { prot: 4, ..req };
    table(vec![
        (
            "tier 9",
            raw(NR_AGENT_MEMORY_TIER, [0, 9, ptr(&req), size, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "aid above AID_MAX",
            raw(NR_AGENT_MEMORY_TIER, [1 << 63, 0, ptr(&req), size, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "NULL request",
            raw(NR_AGENT_MEMORY_TIER, [0, 0, 0, size, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "small size",
            raw(NR_AGENT_MEMORY_TIER, [0, 0, ptr(&req), size - 1, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "PROT_EXEC",
            raw(NR_AGENT_MEMORY_TIER, [0, 0, ptr(&exec), size, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "length 0",
            raw(NR_AGENT_MEMORY_TIER, [0, 0, ptr(&zero_len), size, 0]),
            Err(Errno::EINVAL),
        ),
        (
            "valid (skeleton)",
            raw(
                NR_AGENT_MEMORY_TIER,
                [AID_SELF as usize, 1, ptr(&req), size, 0],
            ),
            Err(Errno::EOPNOTSUPP),
        ),
    ])
}
