//! Benchmark of `CapSet::contains`, the `agent_cap_present` and LSM hot path, on full sets.
//!
//! Groups: `contains_64_mixed` (64 entries over five capabilities: unscoped, wildcard and exact
//! scopes) and `contains_64_one_cap` (64 `fs.read` entries: the binary search's worst case),
//! each with a hit through a wildcard, an exact hit and a miss. `naive_scan` is the reference:
//! the obvious linear scan over the entries with `coconut_abi::entry_covers`. `getppid` is the
//! syscall the spec compares `agent_cap_present` against (the whole syscall must stay within
//! 1.5× of it, so the set lookup should be a small fraction of it); it is a reference of each
//! group. `cargo xtask bench` reads criterion's estimates and prints ours/reference for each
//! lookup (`coconut/<case>` against `naive_scan/<case>` and against `getppid`).

use std::hint::black_box;
use std::time::Duration;

use coconut_abi::{entry_covers, CapId};
use coconut_caps::CapSet;
use criterion::Criterion;

fn mixed_set() -> (Box<CapSet>, Vec<(CapId, Vec<u8>)>) {
    let mut texts: Vec<String> = vec![
        "agent.spawn".into(),
        "agent.delegate".into(),
        "audit.read".into(),
        "mem.tier".into(),
    ];
    for i in 0..28 {
        texts.push(if i % 3 == 0 {
            format!("fs.read:/srv/data/project-{i:02}/*")
        } else {
            format!("fs.read:/home/agent/work/file-{i:02}.txt")
        });
    }
    for i in 0..12 {
        texts.push(format!("fs.write:/tmp/agent-{i:02}/*"));
    }
    for i in 0..20 {
        texts.push(format!("net.connect:api-{i:02}.example.com:443"));
    }
    build(&texts)
}

fn one_cap_set() -> (Box<CapSet>, Vec<(CapId, Vec<u8>)>) {
    let texts: Vec<String> = (0..64)
        .map(|i| {
            if i % 4 == 0 {
                format!("fs.read:/srv/data/project-{i:02}/*")
            } else {
                format!("fs.read:/srv/data/file-{i:02}.bin")
            }
        })
        .collect();
    build(&texts)
}

fn build(texts: &[String]) -> (Box<CapSet>, Vec<(CapId, Vec<u8>)>) {
    let mut set = Box::new(CapSet::new());
    for t in texts {
        set.insert_text(t.as_bytes()).expect("bench entries fit");
    }
    assert_eq!(set.len(), 64);
    let plain = set.iter().map(|(c, s)| (c, s.to_vec())).collect();
    (set, plain)
}

fn naive_scan(entries: &[(CapId, Vec<u8>)], cap: CapId, scope: &[u8]) -> bool {
    entries
        .iter()
        .any(|(c, s)| entry_covers((*c, s.as_slice()), (cap, scope)))
}

type Request = (&'static str, CapId, &'static [u8], bool);

const MIXED_REQUESTS: [Request; 3] = [
    (
        "wildcard_hit",
        CapId::FsRead,
        b"/srv/data/project-21/model.bin",
        true,
    ),
    (
        "exact_hit",
        CapId::NetConnect,
        b"api-17.example.com:443",
        true,
    ),
    ("miss", CapId::FsRead, b"/etc/shadow", false),
];

const ONE_CAP_REQUESTS: [Request; 3] = [
    (
        "wildcard_hit",
        CapId::FsRead,
        b"/srv/data/project-60/weights",
        true,
    ),
    ("exact_hit", CapId::FsRead, b"/srv/data/file-63.bin", true),
    ("miss", CapId::FsRead, b"/srv/data/file-64.bin", false),
];

fn getppid() -> u32 {
    std::os::unix::process::parent_id()
}

fn criterion_benches(c: &mut Criterion) {
    for (group_name, (set, plain), requests) in [
        ("contains_64_mixed", mixed_set(), MIXED_REQUESTS),
        ("contains_64_one_cap", one_cap_set(), ONE_CAP_REQUESTS),
    ] {
        let mut group = c.benchmark_group(group_name);
        for (name, cap, scope, want) in requests {
            assert_eq!(set.contains(cap, scope), want, "{name}");
            assert_eq!(naive_scan(&plain, cap, scope), want, "{name}");
            group.bench_function(format!("coconut/{name}"), |b| {
                b.iter(|| black_box(&set).contains(black_box(cap), black_box(scope)))
            });
            group.bench_function(format!("naive_scan/{name}"), |b| {
                b.iter(|| naive_scan(black_box(&plain), black_box(cap), black_box(scope)))
            });
        }
        group.bench_function("getppid", |b| b.iter(getppid));
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
