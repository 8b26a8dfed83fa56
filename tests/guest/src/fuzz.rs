//! A random-argument fuzzer over the eight agent system calls.
//!
//! Every call gets random numbers (AIDs live, dead, never given, sentinels, out of range;
//! capability ids; flags), pointers into mapped, read-only, inaccessible and unmapped pages,
//! NULL, misaligned and kernel addresses, random sizes around every limit, and structs whose
//! inner pointers are random the same way; `agent_spawn` gets signed manifests (valid, by an
//! untrusted key, mutated byte by byte, truncated, spliced) and random CBOR. It checks, call by
//! call, that the kernel answers success or an errno of that call's Errors table (`EINTR` and
//! `ENOMEM` besides), and that it wrote no byte of our memory outside the output buffer the call
//! was given. Whether the kernel survived without a warning is the business of the last test,
//! `kernel::log_has_no_splat`, which reads the kernel log (and, in the `debug` kernel, kmemleak).
//!
//! Two passes: half of the calls from a:00000 (as root: the deep paths), where calls that would
//! change a:00000 or an agent another test made are left out; half from inside an agent of its
//! own, holding every capability and trusting a key for its children, where nothing is left out
//! but revoking itself. The run is reproducible: the seed is printed, and
//! `coconut.fuzz_seed=<n>` on the kernel command line replays it; `coconut.fuzz_calls=<n>` sets
//! the number of calls (default: 1 000 000 in a kernel with KASAN, the `debug` config; 30 000
//! otherwise).

use std::collections::BTreeMap;
use std::io::Read;

use coconut_abi::{
    check_order, CapId, Errno, Syscall, AGENT_AUDIT_FILTER_SIZE_VER0, AGENT_BUDGET_SIZE_VER0,
    AGENT_CAPSET_MAX, AGENT_MANIFEST_MAX, AGENT_MEM_REQUEST_SIZE_VER0, AGENT_SCOPE_MAX,
    AGENT_SPAWN_ARGS_SIZE_VER0, AGENT_STRUCT_SIZE_MAX, AID_ANY, AID_MAX, AID_SELF,
};
use ed25519_dalek::SigningKey;
use libcoconut::{encode_capset, sys, Aid, Capability, ManifestBuilder, QuotaKind};

use crate::agents::{capset, child_key, manifest, root_key, spawn_member, wait};
use crate::Test;

/// The fuzzer's tests.
pub fn tests() -> Vec<Test> {
    vec![Test::new(
        "fuzz::random_arguments_get_documented_answers",
        run,
    )]
}

const PAGE: usize = 4096;
/// Pages 0–1 read-write (the arguments live here), 2 read-only, 3 no access, 4 unmapped.
const ARENA_PAGES: usize = 5;
const RW: usize = 2 * PAGE;
/// A user address that is never mapped (below `vm.mmap_min_addr`).
const LOW: u64 = 8;
/// Kernel text, as a user pointer.
const KERNEL: u64 = 0xffff_ffff_8100_0000;
/// Not canonical on x86_64.
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;
/// How many failures a report spells out.
const SHOWN: usize = 5;

/// Which caller a pass runs as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// a:00000, the runner itself: nothing may change a:00000 or another test's agents.
    Root,
    /// A member of the fuzzer's own agent (this AID): anything goes but revoking itself.
    Agent(u64),
}

/// The test: the a:00000 pass here, the agent pass in a member child, then the chain's health.
fn run() -> Result<(), String> {
    let calls =
        cmdline_u64("coconut.fuzz_calls").unwrap_or(if kasan()? { 1_000_000 } else { 30_000 });
    let seed = cmdline_u64("coconut.fuzz_seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("coconut-fuzz: seed {seed}, {calls} calls (replay: coconut.fuzz_seed={seed})");
    let before = audit_stat("lost")?;
    let started = std::time::Instant::now();
    let mut root = Fuzzer::new(seed, Caller::Root)?;
    root.run(calls / 2);
    let root_report = root.finish();
    // The agent pass: a member of an agent holding every capability, whose manifest trusts
    // child_key for the children it spawns.
    let all: Vec<&str> = CapId::ALL.iter().map(|c| c.name()).collect();
    let m = manifest(
        "fuzz",
        &all,
        &[child_key().verifying_key().to_bytes()],
        &root_key(),
    );
    // The member learns its AID from the first line of its stdin (spawn_member gives the AID
    // only after the fork).
    let arg = format!("{}:{}", seed ^ 0x5eed, calls - calls / 2);
    let (aid, pid, mut stdin, mut stdout) = spawn_member(&m, &capset(&all), &["fuzz", &arg])?;
    {
        use std::io::Write as _;
        let _ = writeln!(stdin, "{}", aid.get());
    }
    drop(stdin);
    let mut agent_report = String::new();
    let _ = stdout.read_to_string(&mut agent_report);
    let status = wait(pid);
    let _ = sys::revoke_all(aid);
    let ms = started.elapsed().as_millis().max(1);
    println!(
        "coconut-fuzz: {calls} calls in {}.{:03}s ({}/s)",
        ms / 1000,
        ms % 1000,
        u128::from(calls) * 1000 / ms
    );
    println!("coconut-fuzz: as a:00000: {}", root_report.summary);
    let (agent_summary, agent_failures) = agent_report
        .split_once('\n')
        .unwrap_or((agent_report.as_str(), ""));
    println!("coconut-fuzz: as {aid}: {}", agent_summary.trim());
    let mut problems = root_report.failures;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        problems.push(format!(
            "the agent pass ({aid}) ended with status {status:#x}: {}",
            agent_failures.trim()
        ));
    }
    let after = audit_stat("lost")?;
    if after != before {
        problems.push(format!(
            "the audit chain lost rows: lost {before} -> {after}"
        ));
    }
    if audit_stat("seal_errors")? != 0 {
        problems.push("the sealer reports seal_errors".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("seed {seed}: {}", problems.join("; ")))
    }
}

/// `--agent-child fuzz <seed>:<calls>`: the agent pass, inside the fuzzer's agent. Prints its
/// summary and failures on stdout; fails if any call failed a check.
pub fn child(arg: Option<&str>) -> Result<(), String> {
    let (seed, calls) = arg
        .and_then(|a| a.split_once(':'))
        .and_then(|(s, c)| Some((s.parse().ok()?, c.parse().ok()?)))
        .ok_or("usage: fuzz <seed>:<calls>")?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    let me: u64 = line
        .trim()
        .parse()
        .map_err(|_| format!("no AID on stdin: {line:?}"))?;
    let mut f = Fuzzer::new(seed, Caller::Agent(me))?;
    f.run(calls);
    let report = f.finish();
    // First line: the summary; second: the failures, if any.
    println!("{}", report.summary);
    if report.failures.is_empty() {
        Ok(())
    } else {
        println!("{}", report.failures.join("; "));
        Err("checks failed".into())
    }
}

/// A number from the kernel command line.
fn cmdline_u64(key: &str) -> Option<u64> {
    let line = std::fs::read_to_string("/proc/cmdline").ok()?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Whether the running kernel has KASAN (the `debug` config).
fn kasan() -> Result<bool, String> {
    Ok(crate::kernel::config()?
        .lines()
        .any(|l| l == "CONFIG_KASAN=y"))
}

fn audit_stat(key: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string("/agent/audit/stats").map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .ok_or_else(|| format!("/agent/audit/stats has no {key}"))
}

/// The pages the arguments live in.
struct Arena {
    base: *mut u8,
}

impl Arena {
    fn new(rng: &mut fastrand::Rng) -> Result<Arena, String> {
        let len = ARENA_PAGES * PAGE;
        // SAFETY: an anonymous private mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let base = base.cast::<u8>();
        // The read-only page: zeros, then random bytes, so reads past an argument meet both.
        // SAFETY: the mapping is `len` bytes; pages 2..5 are inside it.
        unsafe {
            let ro = std::slice::from_raw_parts_mut(base.add(2 * PAGE), PAGE);
            for b in &mut ro[PAGE / 2..] {
                *b = rng.u8(..);
            }
            if libc::mprotect(base.add(2 * PAGE).cast(), PAGE, libc::PROT_READ) != 0
                || libc::mprotect(base.add(3 * PAGE).cast(), PAGE, libc::PROT_NONE) != 0
                || libc::munmap(base.add(4 * PAGE).cast(), PAGE) != 0
            {
                return Err(format!(
                    "mprotect/munmap: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(Arena { base })
    }

    fn addr(&self, offset: usize) -> u64 {
        self.base as u64 + offset as u64
    }

    /// The read-write pages.
    fn rw(&mut self) -> &mut [u8] {
        // SAFETY: pages 0 and 1 are mapped read-write for the arena's life and only reached
        // through this borrow (or by the kernel during a call, which holds no borrow).
        unsafe { std::slice::from_raw_parts_mut(self.base, RW) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmaps the pages this arena mapped (page 4 is gone already: harmless).
        unsafe { libc::munmap(self.base.cast(), ARENA_PAGES * PAGE) };
    }
}

/// One call's worth of argument memory: bytes are laid out in the read-write pages from the
/// front; `place` returns a pointer to them, or somewhere worse.
struct Layout {
    used: usize,
    /// Where the kernel may write: `(offset, len)` in the read-write pages.
    output: Option<(usize, usize)>,
}

/// What one finished pass says.
struct Report {
    summary: String,
    failures: Vec<String>,
}

struct Fuzzer {
    rng: fastrand::Rng,
    caller: Caller,
    arena: Arena,
    /// AIDs this pass spawned (it may revoke, charge or quarantine these).
    mine: Vec<u64>,
    /// AIDs alive before the pass (a:00000 may only look at these).
    others: Vec<u64>,
    /// Answers per call: result name -> count.
    answers: BTreeMap<(&'static str, String), u64>,
    failures: Vec<String>,
    failed: u64,
    calls: u64,
    keys: [SigningKey; 3],
    /// This call's arguments are well formed but for the contents (manifests, capsets,
    /// scopes, struct fields): drawn for half of the calls, so the deep paths (the signature,
    /// the tree) are reached, not only the first checks.
    tame: bool,
}

impl Fuzzer {
    fn new(seed: u64, caller: Caller) -> Result<Fuzzer, String> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let arena = Arena::new(&mut rng)?;
        let others = std::fs::read_dir("/agent/live")
            .map_err(|e| format!("/agent/live: {e}"))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<Aid>().ok())
            .map(|a| a.get())
            .collect();
        Ok(Fuzzer {
            rng,
            caller,
            arena,
            mine: Vec::new(),
            others,
            answers: BTreeMap::new(),
            failures: Vec::new(),
            failed: 0,
            calls: 0,
            keys: [root_key(), child_key(), SigningKey::from_bytes(&[0x42; 32])],
            tame: false,
        })
    }

    /// Makes `calls` calls (draws this caller leaves out do not count).
    fn run(&mut self, calls: u64) {
        while self.calls < calls {
            self.one();
            // Keep the agent table from filling with this pass's agents (a full table is
            // reached anyway in the long run: revoke_all only moves them to the graveyard).
            if self.mine.len() > 64 {
                self.revoke_mine();
            }
        }
        self.revoke_mine();
    }

    fn revoke_mine(&mut self) {
        for aid in std::mem::take(&mut self.mine) {
            if let Ok(aid) = Aid::new(aid) {
                let _ = sys::revoke_all(aid);
            }
        }
    }

    fn finish(self) -> Report {
        let mut per_call: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for ((call, answer), n) in &self.answers {
            per_call
                .entry(call)
                .or_default()
                .push(format!("{answer} {n}"));
        }
        let answers: Vec<String> = per_call
            .iter()
            .map(|(call, a)| format!("{call}: {}", a.join(" ")))
            .collect();
        let mut failures = self.failures;
        if self.failed > failures.len() as u64 {
            failures.push(format!("{} failed checks in all", self.failed));
        }
        Report {
            summary: format!(
                "{} calls, {} failed checks; {}",
                self.calls,
                self.failed,
                answers.join("; ")
            ),
            failures,
        }
    }

    // ---- random values ----

    fn aid(&mut self) -> u64 {
        match self.rng.u8(0..12) {
            0 => 0,
            1 => AID_SELF,
            2 => AID_ANY,
            3 => AID_MAX,
            4 => AID_MAX + 1 + self.rng.u64(..1 << 20),
            5 | 6 if !self.mine.is_empty() => self.mine[self.rng.usize(..self.mine.len())],
            7 | 8 if !self.others.is_empty() => self.others[self.rng.usize(..self.others.len())],
            9 => self.rng.u64(1..100_000),
            10 => self.rng.u64(..),
            _ => self.rng.u64(1..64),
        }
    }

    fn cap_id(&mut self) -> u32 {
        if self.tame {
            return CapId::ALL[self.rng.usize(..CapId::ALL.len())].id();
        }
        match self.rng.u8(0..8) {
            0 => 0,
            1 => u32::MAX,
            2 => self.rng.u32(..),
            _ => self.rng.u32(..CapId::ALL.len() as u32 + 2),
        }
    }

    /// A flag word: 0, one bit, a few bits, or anything (tame: 0 or one of the low bits).
    fn flags(&mut self) -> u64 {
        if self.tame {
            return [0, 0, 1, 2][self.rng.usize(..4)];
        }
        match self.rng.u8(0..6) {
            0 | 1 => 0,
            2 => 1 << self.rng.u32(..4),
            3 => 1 << self.rng.u32(..64),
            4 => self.rng.u64(..8),
            _ => self.rng.u64(..),
        }
    }

    /// A size near `exact`: exact, 0, ±1, a page, the struct limit, huge.
    fn size(&mut self, exact: usize) -> u64 {
        if self.tame {
            return exact as u64;
        }
        match self.rng.u8(0..12) {
            0..=4 => exact as u64,
            5 => 0,
            6 => exact.saturating_sub(1) as u64,
            7 => exact as u64 + 1,
            8 => AGENT_STRUCT_SIZE_MAX as u64 + self.rng.u64(0..2),
            9 => PAGE as u64,
            10 => u64::MAX - self.rng.u64(..2),
            _ => self.rng.u64(..2 * PAGE as u64),
        }
    }

    fn capability_text(&mut self) -> String {
        let name = CapId::ALL[self.rng.usize(..CapId::ALL.len())].name();
        match self.rng.u8(0..6) {
            0 => name.to_owned(),
            1 => format!("{name}:/tmp/*"),
            2 => format!("{name}:/srv/{}", self.rng.u32(..100)),
            3 => format!("{name}:10.0.0.{}:443", self.rng.u8(..)),
            4 => format!("{name}:{}", "x".repeat(self.rng.usize(..300))),
            _ => format!("no.such{}", self.rng.u8(..)),
        }
    }

    fn capabilities(&mut self) -> Vec<Capability> {
        let n = self.rng.usize(..6);
        (0..n)
            .filter_map(|_| self.capability_text().parse().ok())
            .collect()
    }

    /// Scope bytes: empty, a path or address, the limit ±1, a NUL, not UTF-8.
    fn scope(&mut self) -> Vec<u8> {
        match self.rng.u8(0..8) {
            0 | 1 => Vec::new(),
            2 => b"/tmp/*".to_vec(),
            3 => b"10.0.0.1:443".to_vec(),
            4 => vec![b'a'; AGENT_SCOPE_MAX + self.rng.usize(0..2)],
            5 => b"/tmp/\0x".to_vec(),
            6 => vec![0xff, 0xfe, b'/'],
            _ => (0..self.rng.usize(..40)).map(|_| self.rng.u8(..)).collect(),
        }
    }

    /// A manifest envelope: signed by a trusted or untrusted key, maybe mutated, or random
    /// CBOR, or random bytes.
    /// Tame: signed (by any of the keys), or with one byte of the signature (its last 64
    /// bytes) changed, and with the capabilities it grants returned, so the capset can be a
    /// subset of them.
    fn manifest(&mut self) -> (Vec<u8>, Vec<Capability>) {
        let caps = self.capabilities();
        let mut b = ManifestBuilder::new(&format!("f{}", self.rng.u16(..))).caps(caps.clone());
        if self.rng.bool() {
            b = b.signer(self.keys[self.rng.usize(..3)].verifying_key().to_bytes());
        }
        if self.rng.u8(..4) == 0 {
            let kind = QuotaKind::ALL[self.rng.usize(..QuotaKind::ALL.len())];
            b = b.budget(kind, self.rng.u64(..1 << 40));
        }
        let signed = match b.build() {
            Ok(m) => m.sign(&self.keys[self.rng.usize(..3)]).to_bytes(),
            Err(_) => Vec::new(),
        };
        if self.tame {
            let mut m = signed;
            if self.rng.bool() && m.len() > 64 {
                let at = m.len() - 1 - self.rng.usize(..64);
                m[at] ^= 1 << self.rng.u8(..8);
            }
            return (m, caps);
        }
        let bytes = match self.rng.u8(0..10) {
            0..=2 => signed,
            3..=5 => self.mutate(signed),
            6 => self.random_cbor(),
            7 => (0..self.rng.usize(..200))
                .map(|_| self.rng.u8(..))
                .collect(),
            8 => vec![0; self.rng.usize(..AGENT_MANIFEST_MAX as usize + 2)],
            _ => {
                let mut m = signed;
                m.truncate(self.rng.usize(..m.len().max(1)));
                m
            }
        };
        (bytes, caps)
    }

    /// One to four byte-level mutations: flip, set, delete, insert, duplicate a run.
    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for _ in 0..self.rng.usize(1..5) {
            if bytes.is_empty() {
                bytes.push(self.rng.u8(..));
                continue;
            }
            let at = self.rng.usize(..bytes.len());
            match self.rng.u8(0..5) {
                0 => bytes[at] ^= 1 << self.rng.u8(..8),
                1 => bytes[at] = [0, 0xff, 0x7f, 0x80, 0xa0, 0xbf][self.rng.usize(..6)],
                2 => {
                    bytes.remove(at);
                }
                3 => bytes.insert(at, self.rng.u8(..)),
                _ => {
                    let end = (at + self.rng.usize(1..16)).min(bytes.len());
                    let run = bytes[at..end].to_vec();
                    bytes.splice(at..at, run);
                }
            }
        }
        bytes
    }

    /// Random CBOR: maps with the manifest's keys and others, nested, of random types.
    fn random_cbor(&mut self) -> Vec<u8> {
        let value = self.value(3);
        let mut out = Vec::new();
        let _ = ciborium::into_writer(&value, &mut out);
        out
    }

    fn value(&mut self, depth: u32) -> ciborium::Value {
        use ciborium::Value;
        const KEYS: [&str; 9] = [
            "v", "name", "caps", "signers", "budgets", "tenant", "lane", "body", "sig",
        ];
        let leaf = depth == 0 || self.rng.u8(..3) == 0;
        match self.rng.u8(0..if leaf { 5 } else { 7 }) {
            0 => Value::Integer(self.rng.i64(..).into()),
            1 => Value::Text(KEYS[self.rng.usize(..KEYS.len())].into()),
            2 => Value::Bytes((0..self.rng.usize(..70)).map(|_| self.rng.u8(..)).collect()),
            3 => Value::Bool(self.rng.bool()),
            4 => Value::Null,
            5 => Value::Array(
                (0..self.rng.usize(..5))
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
            _ => Value::Map(
                (0..self.rng.usize(..6))
                    .map(|_| {
                        (
                            Value::Text(KEYS[self.rng.usize(..KEYS.len())].into()),
                            self.value(depth - 1),
                        )
                    })
                    .collect(),
            ),
        }
    }

    // ---- memory ----

    /// Puts `bytes` in the read-write pages and returns a pointer to them, or (sometimes) a
    /// pointer that is NULL, unmapped, read-only, inaccessible, misaligned, in the kernel, or
    /// so close to the read-only page that `len_hint` bytes cross into it.
    fn place(&mut self, l: &mut Layout, bytes: &[u8], len_hint: usize) -> u64 {
        match self.rng.u8(if self.tame { 8..20 } else { 0..20 }) {
            0 => return 0,
            1 => return LOW,
            2 => return KERNEL,
            3 => return NON_CANONICAL,
            4 => return self.arena.addr(4 * PAGE + self.rng.usize(..PAGE)),
            5 => return self.arena.addr(3 * PAGE + self.rng.usize(..PAGE)),
            6 => {
                // In the read-only page, its last bytes then the inaccessible one.
                let back = len_hint.clamp(1, PAGE);
                return self.arena.addr(3 * PAGE - self.rng.usize(1..=back));
            }
            7 if bytes.len() < RW => {
                // Ending where the read-only page begins: a longer write crosses into it.
                let at = RW - bytes.len();
                self.arena.rw()[at..].copy_from_slice(bytes);
                return self.arena.addr(at);
            }
            _ => {}
        }
        let misalign = usize::from(!self.tame && self.rng.u8(..8) == 0) * self.rng.usize(1..8);
        let at = l.used.next_multiple_of(8) + misalign;
        if at + bytes.len() > RW {
            return 0;
        }
        self.arena.rw()[at..at + bytes.len()].copy_from_slice(bytes);
        l.used = at + bytes.len();
        self.arena.addr(at)
    }

    /// A size for an output buffer of `len` bytes: mostly `len`, sometimes 0, huge or past
    /// the buffer's end.
    fn out_size(&mut self, len: usize) -> u64 {
        if self.tame {
            return len as u64;
        }
        match self.rng.u8(..8) {
            0 => 0,
            1 => u64::MAX,
            2 => len as u64 + PAGE as u64,
            _ => len as u64,
        }
    }

    /// An output buffer of `len` bytes that the call is told is `size` bytes long, placed like
    /// [`Fuzzer::place`]; the kernel may write the `size` bytes (within our pages) and no
    /// other.
    fn out(&mut self, l: &mut Layout, len: usize, size: u64) -> u64 {
        let len = len.min(RW / 2);
        let fill = vec![0u8; len];
        let used = l.used;
        let p = self.place(l, &fill, len);
        let start = p.wrapping_sub(self.arena.addr(0)) as usize;
        if start < RW {
            // The kernel may write `size` bytes from here (clamped to our pages).
            let end = start.saturating_add(size as usize).min(RW);
            l.output = Some((start, end - start));
        } else {
            l.used = used;
        }
        p
    }

    // ---- one call ----

    fn one(&mut self) {
        let mut l = Layout {
            used: 0,
            output: None,
        };
        // A fresh pattern each call, snapshotted to find stray writes.
        self.tame = self.rng.bool();
        let pattern = self.rng.u8(..);
        self.arena.rw().fill(pattern);
        let (call, args) = self.invocation(&mut l);
        let Some(args) = args else { return };
        let before = self.arena.rw().to_vec();
        // SAFETY: every pointer argument is NULL, unmapped, inaccessible, read-only, in the
        // kernel, or inside this fuzzer's arena, which holds no Rust object: whatever the kernel
        // writes through them lands in the arena or faults (EFAULT), and is checked below.
        let r = unsafe { sys::bare_syscall(call, args) };
        self.calls += 1;
        self.judge(call, &args, r, &before, l.output);
        if let (Syscall::AgentSpawn, Ok(aid)) = (call, r) {
            self.mine.push(aid as u64);
        }
    }

    /// The call and its arguments; None when the call drawn is one this caller leaves out.
    fn invocation(&mut self, l: &mut Layout) -> (Syscall, Option<[u64; 5]>) {
        let call = Syscall::ALL[self.rng.usize(..Syscall::ALL.len())];
        let args = match call {
            Syscall::AgentSpawn => Some(self.spawn_args(l)),
            Syscall::AgentAttest => {
                let aid = self.aid();
                let want = self.rng.usize(..2048);
                let size = self.out_size(want);
                let buf = self.out(l, want, size);
                Some([aid, buf, size, self.flags() & 0xffff_ffff, 0])
            }
            Syscall::AgentQuota => {
                let aid = self.aid();
                let kind = self.rng.u64(..8);
                let flags = self.flags() & 0xffff_ffff;
                if self.caller == Caller::Root && flags != 1 && !self.may_change(aid) {
                    return (call, None);
                }
                let size = self.size(AGENT_BUDGET_SIZE_VER0);
                let ptr = if flags == 1 {
                    // GET writes the budget back.
                    self.out(l, AGENT_BUDGET_SIZE_VER0, size)
                } else {
                    let budget = self.budget();
                    self.place(l, &budget, AGENT_BUDGET_SIZE_VER0)
                };
                Some([aid, kind, ptr, size, flags])
            }
            Syscall::AgentCapGrant | Syscall::AgentCapRevoke | Syscall::AgentCapPresent => {
                let aid = self.aid();
                if call == Syscall::AgentCapRevoke && !self.may_revoke(aid) {
                    return (call, None);
                }
                let cap = u64::from(self.cap_id());
                let scope = self.scope();
                let ptr = if scope.is_empty() && self.rng.bool() {
                    0
                } else {
                    self.place(l, &scope, scope.len())
                };
                let len = match self.rng.u8(if self.tame { 2..6 } else { 0..6 }) {
                    0 => self.rng.u64(..),
                    1 => scope.len() as u64 + 1,
                    _ => scope.len() as u64,
                };
                Some([aid, cap, ptr, len, self.flags() & 0xffff_ffff])
            }
            Syscall::AgentAuditQuery => {
                let mut filter = Vec::with_capacity(AGENT_AUDIT_FILTER_SIZE_VER0 + 8);
                let from = self.rng.u64(..512);
                let to = [0, from + self.rng.u64(..64), self.rng.u64(..)][self.rng.usize(..3)];
                let aid = [AID_ANY, AID_SELF, self.aid()][self.rng.usize(..3)];
                let kinds = [0, self.rng.u64(..1 << 16), self.rng.u64(..)][self.rng.usize(..3)];
                for v in [from, to, aid, kinds, self.flags()] {
                    filter.extend_from_slice(&v.to_ne_bytes());
                }
                if self.rng.u8(..4) == 0 {
                    filter.extend_from_slice(&self.rng.u64(..2).to_ne_bytes());
                }
                let fsize = self.size(AGENT_AUDIT_FILTER_SIZE_VER0);
                let fptr = self.place(l, &filter, filter.len());
                let want = self.rng.usize(..RW / 2);
                let size = self.out_size(want);
                let buf = self.out(l, want, size);
                Some([fptr, fsize, buf, size, 0])
            }
            Syscall::AgentMemoryTier => {
                let aid = self.aid();
                let mut req = Vec::with_capacity(AGENT_MEM_REQUEST_SIZE_VER0);
                req.extend_from_slice(&self.rng.u64(..1 << 48).to_ne_bytes());
                req.extend_from_slice(&self.flags().to_ne_bytes());
                req.extend_from_slice(&(self.flags() as u32).to_ne_bytes());
                req.extend_from_slice(
                    &(u32::from(self.rng.u8(..4) / 3) * self.rng.u32(..)).to_ne_bytes(),
                );
                let ptr = self.place(l, &req, req.len());
                let size = self.size(AGENT_MEM_REQUEST_SIZE_VER0);
                Some([aid, self.rng.u64(..6), ptr, size, 0])
            }
        };
        (call, args)
    }

    /// `struct agent_spawn_args` with its manifest, capset, flags, pidfd and lane.
    fn spawn_args(&mut self, l: &mut Layout) -> [u64; 5] {
        let (manifest, granted) = self.manifest();
        let caps = match self.rng.u8(0..6) {
            _ if self.tame => {
                let n = self.rng.usize(..=granted.len());
                encode_capset(&granted[..n]).unwrap_or_default()
            }
            0 => Vec::new(),
            1 => {
                let mut c = encode_capset(&self.capabilities()).unwrap_or_default();
                c = self.mutate(c);
                c
            }
            2 => vec![0xa0; self.rng.usize(..AGENT_CAPSET_MAX as usize + 2)],
            _ => encode_capset(&self.capabilities()).unwrap_or_default(),
        };
        let m_ptr = self.place(l, &manifest, manifest.len());
        let c_ptr = if caps.is_empty() && self.rng.bool() {
            0
        } else {
            self.place(l, &caps, caps.len())
        };
        let wild = if self.tame { 2..8 } else { 0..8 };
        let m_len = match self.rng.u8(wild.clone()) {
            0 => self.rng.u64(..),
            1 => AGENT_MANIFEST_MAX + 1,
            _ => manifest.len() as u64,
        };
        let c_len = match self.rng.u8(wild) {
            0 => self.rng.u64(..),
            1 => AGENT_CAPSET_MAX + 1,
            _ => caps.len() as u64,
        };
        let flags = self.flags() & 3;
        let pidfd: i32 = match self.rng.u8(..4) {
            0 => -1,
            1 => self.rng.i32(0..8),
            _ => 0,
        };
        let lane: u32 = if self.rng.u8(..8) == 0 {
            self.rng.u32(..)
        } else {
            0
        };
        let mut args = Vec::with_capacity(AGENT_SPAWN_ARGS_SIZE_VER0 + 8);
        for v in [m_ptr, m_len, c_ptr, c_len, flags] {
            args.extend_from_slice(&v.to_ne_bytes());
        }
        args.extend_from_slice(&pidfd.to_ne_bytes());
        args.extend_from_slice(&lane.to_ne_bytes());
        if !self.tame && self.rng.u8(..6) == 0 {
            args.extend_from_slice(&self.rng.u64(..2).to_ne_bytes());
        }
        let size = self.size(AGENT_SPAWN_ARGS_SIZE_VER0);
        let ptr = self.place(l, &args, args.len());
        [ptr, size, 0, 0, 0]
    }

    fn budget(&mut self) -> Vec<u8> {
        let mut b = Vec::with_capacity(AGENT_BUDGET_SIZE_VER0);
        let limit = [u64::MAX, self.rng.u64(..1 << 30), 0][self.rng.usize(..3)];
        let used = self.rng.u64(..1 << 20);
        let period = [0, 1_000_000_000, self.rng.u64(..)][self.rng.usize(..3)];
        let reserved = u64::from(self.rng.u8(..8) == 0);
        for v in [limit, used, period, reserved] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b
    }

    /// Whether a:00000's pass may change `aid` (SET, CHARGE): only agents it spawned, or AIDs
    /// nobody holds.
    fn may_change(&self, aid: u64) -> bool {
        aid != 0 && aid != AID_SELF && !self.others.contains(&aid)
    }

    /// Whether this pass may revoke from `aid`: a:00000's pass as for [`Fuzzer::may_change`];
    /// the agent's pass anything but itself.
    fn may_revoke(&self, aid: u64) -> bool {
        match self.caller {
            Caller::Root => self.may_change(aid),
            Caller::Agent(me) => aid != AID_SELF && aid != me,
        }
    }

    // ---- checks ----

    fn judge(
        &mut self,
        call: Syscall,
        args: &[u64; 5],
        r: Result<i64, i32>,
        before: &[u8],
        output: Option<(usize, usize)>,
    ) {
        let answer = match r {
            Ok(_) => "ok".to_string(),
            Err(e) => Errno::from_raw(e).map_or_else(|| format!("errno{e}"), |e| e.name().into()),
        };
        *self
            .answers
            .entry((call.name(), answer.clone()))
            .or_insert(0) += 1;
        let mut bad = Vec::new();
        if let Err(e) = r {
            // EOPNOTSUPP: agent_memory_tier after its pure checks (no tier API is built;
            // docs/abi.md, "Implementation status").
            let documented = check_order(call).iter().any(|s| s.errno.get() == e)
                || e == libc::EINTR
                || e == libc::ENOMEM
                || (call == Syscall::AgentMemoryTier && e == libc::EOPNOTSUPP);
            if !documented {
                bad.push(format!("answered {answer}, not in its Errors table"));
            }
        }
        let after = self.arena.rw();
        let (lo, hi) = output.map_or((0, 0), |(at, len)| (at, at + len));
        if let Some(i) = (0..RW).find(|&i| (i < lo || i >= hi) && after[i] != before[i]) {
            bad.push(format!(
                "wrote byte {i} of the arena outside the output window {lo}..{hi}"
            ));
        }
        if !bad.is_empty() {
            self.failed += 1;
            if self.failures.len() < SHOWN {
                self.failures.push(format!(
                    "{}({}) {}",
                    call.name(),
                    args.iter()
                        .map(|a| format!("{a:#x}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    bad.join(", ")
                ));
            }
        }
    }
}
