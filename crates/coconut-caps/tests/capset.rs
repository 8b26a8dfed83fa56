//! Example-based tests of `CapSet`: each documented behaviour once, with readable data.

mod common;

use coconut_abi::{CapError, CapId, AGENT_CAPS_MAX};
use coconut_caps::{CapSet, CapSetError, AGENT_CAPSET_ARENA, NAME_ORDER};
use common::model::{check_invariants, lines_of};

fn set(texts: &[&str]) -> Box<CapSet> {
    let mut s = Box::new(CapSet::new());
    for t in texts {
        s.insert_text(t.as_bytes())
            .unwrap_or_else(|e| panic!("{t}: {e}"));
    }
    check_invariants(&s);
    s
}

fn lines(s: &CapSet) -> Vec<String> {
    lines_of(s)
}

#[test]
fn a_new_set_is_empty_and_small_enough_to_embed() {
    let s = CapSet::new();
    assert!(s.is_empty());
    assert_eq!(s.len(), 0);
    assert_eq!(s.scope_bytes(), 0);
    assert!(!s.contains(CapId::FsRead, b""));
    assert_eq!(s.iter().count(), 0);
    assert_eq!(s.to_string(), "");
    // 64 entries of 6 bytes, the 4 KiB arena, the bitmap and two counters.
    let size = std::mem::size_of::<CapSet>();
    assert!(size <= 4096 + 64 * 6 + 32, "CapSet is {size} bytes");
}

#[test]
fn zeroed_memory_is_an_empty_set() {
    // The kernel may hold a CapSet in kzalloc'ed memory without running `new`.
    // SAFETY: every field of CapSet is an integer or an array of integers, for which all-zero
    // bytes are a valid value.
    let zeroed: Box<CapSet> = unsafe { Box::new(std::mem::zeroed()) };
    assert_eq!(*zeroed, CapSet::new());
    let mut z = zeroed;
    z.insert_text(b"fs.read:/srv/*").unwrap();
    assert!(z.contains(CapId::FsRead, b"/srv/a"));
}

#[test]
fn the_name_order_is_bytewise_and_no_name_prefixes_another() {
    let mut names: Vec<&str> = CapId::ALL.iter().map(|c| c.name()).collect();
    names.sort();
    let ordered: Vec<&str> = NAME_ORDER.iter().map(|c| c.name()).collect();
    assert_eq!(ordered, names);
    for a in &names {
        for b in &names {
            assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
        }
    }
}

#[test]
fn insert_keeps_the_set_minimal() {
    let mut s = set(&["fs.read:/srv/a", "fs.read:/srv/b", "net.connect:api:443"]);
    assert_eq!(s.len(), 3);
    // A wildcard swallows the entries it covers.
    s.insert_text(b"fs.read:/srv/*").unwrap();
    assert_eq!(lines(&s), ["fs.read:/srv/*", "net.connect:api:443"]);
    // An entry already covered changes nothing.
    let before = s.clone();
    s.insert_text(b"fs.read:/srv/x/y").unwrap();
    s.insert_text(b"fs.read:/srv/x*").unwrap();
    assert_eq!(s, before);
    // Unscoped swallows every scope of its capability, and nothing else.
    s.insert_text(b"fs.read").unwrap();
    assert_eq!(lines(&s), ["fs.read", "net.connect:api:443"]);
    check_invariants(&s);
}

#[test]
fn star_is_stored_as_unscoped() {
    let a = set(&["fs.read:*"]);
    let b = set(&["fs.read"]);
    assert_eq!(a, b);
    assert_eq!(a.to_string(), "fs.read\n");
    assert!(a.contains(CapId::FsRead, b""));
    assert!(a.contains(CapId::FsRead, b"*"));
    assert!(a.contains(CapId::FsRead, b"/anything"));
}

#[test]
fn contains_follows_the_coverage_rule() {
    let s = set(&[
        "fs.read:/srv/*",
        "fs.read:/etc/hosts",
        "net.connect:api.example.com:443",
        "agent.spawn",
        "inference:llama-*",
    ]);
    let cases: &[(CapId, &str, bool)] = &[
        (CapId::FsRead, "/srv/a", true),
        (CapId::FsRead, "/srv/", true),
        (CapId::FsRead, "/srv/x*", true),
        (CapId::FsRead, "/srv", false),
        (CapId::FsRead, "/srvx", false),
        (CapId::FsRead, "", false),
        (CapId::FsRead, "/etc/hosts", true),
        (CapId::FsRead, "/etc/hosts2", false),
        (CapId::FsRead, "/etc/host", false),
        (CapId::FsWrite, "/srv/a", false),
        (CapId::NetConnect, "api.example.com:443", true),
        (CapId::NetConnect, "api.example.com:80", false),
        (CapId::AgentSpawn, "", true),
        (CapId::AgentSpawn, "anything", true),
        (CapId::Inference, "llama-3", true),
        (CapId::Inference, "llama", false),
        (CapId::ProcSignal, "", false),
    ];
    for &(cap, req, want) in cases {
        assert_eq!(s.contains(cap, req.as_bytes()), want, "{cap}:{req}");
    }
}

#[test]
fn contains_finds_the_covering_neighbour_on_either_side() {
    // '!' (0x21) sorts before '*' (0x2a), 'z' after it: the wildcard entry is the successor of
    // the first request's position and the predecessor of the second's.
    let s = set(&["fs.read:/p/*", "fs.read:/p!", "fs.read:/pz", "fs.read:/q"]);
    assert!(s.contains(CapId::FsRead, b"/p/!"));
    assert!(s.contains(CapId::FsRead, b"/p/z"));
    assert!(s.contains(CapId::FsRead, b"/p/"));
    assert!(!s.contains(CapId::FsRead, b"/p"));
    assert!(s.contains(CapId::FsRead, b"/p!"));
    assert!(!s.contains(CapId::FsRead, b"/p!!"));
}

#[test]
fn render_writes_the_caps_file_sorted_bytewise() {
    let s = set(&[
        "proc.signal",
        "net.connect:b:1",
        "agent.spawn",
        "fs.read:/z",
        "net.connect:a:1",
        "agent.admin",
        "fs.read",
        "fs.exec:/bin/*",
    ]);
    let want = "agent.admin\nagent.spawn\nfs.exec:/bin/*\nfs.read\nnet.connect:a:1\nnet.connect:b:1\nproc.signal\n";
    let mut buf = [0u8; 256];
    let n = s.render(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), want);
    assert_eq!(s.rendered_len(), want.len());
    assert_eq!(s.to_string(), want);
    let mut sorted: Vec<&str> = want.lines().collect();
    sorted.sort();
    assert_eq!(sorted, want.lines().collect::<Vec<_>>());
    // Every prefix of the buffer that is too short fails cleanly.
    for len in 0..want.len() {
        assert_eq!(
            s.render(&mut buf[..len]),
            Err(CapSetError::BufferTooSmall),
            "len {len}"
        );
    }
    // The rendering parses back into the same set.
    let mut back = Box::new(CapSet::new());
    for line in want.lines() {
        back.insert_text(line.as_bytes()).unwrap();
    }
    assert_eq!(*back, *s);
}

#[test]
fn insert_text_reports_what_is_wrong() {
    let mut s = Box::new(CapSet::new());
    let long = format!("fs.read:/{}", "a".repeat(256));
    let cases: &[(&[u8], CapSetError)] = &[
        (b"nope", CapSetError::UnknownName),
        (b"fs.reed:/a", CapSetError::UnknownName),
        (b"", CapSetError::UnknownName),
        (b"fs.read:", CapSetError::InvalidScope(CapError::EmptyScope)),
        (
            b"fs.read:a*b",
            CapSetError::InvalidScope(CapError::MisplacedWildcard),
        ),
        (
            b"fs.read:a b",
            CapSetError::InvalidScope(CapError::BadScopeByte),
        ),
        (
            b"fs.read:\xff",
            CapSetError::InvalidScope(CapError::BadScopeByte),
        ),
        (long.as_bytes(), CapSetError::ScopeTooLong),
    ];
    for (text, err) in cases {
        assert_eq!(
            s.insert_text(text),
            Err(*err),
            "{}",
            String::from_utf8_lossy(text)
        );
        assert!(s.is_empty());
    }
    assert_eq!(
        s.insert(CapId::FsRead, b"**"),
        Err(CapSetError::InvalidScope(CapError::MisplacedWildcard))
    );
    assert_eq!(
        s.remove_covered_by(CapId::FsRead, b"a b"),
        Err(CapSetError::InvalidScope(CapError::BadScopeByte))
    );
    s.insert_text(b"net.connect:api.example.com:443").unwrap();
    assert!(s.contains(CapId::NetConnect, b"api.example.com:443"));
}

#[test]
fn full_sets_refuse_without_changing() {
    let mut s = Box::new(CapSet::new());
    for i in 0..AGENT_CAPS_MAX {
        s.insert(CapId::FsRead, format!("/a/{i:02}").as_bytes())
            .unwrap();
    }
    assert_eq!(s.len(), AGENT_CAPS_MAX);
    let before = s.clone();
    assert_eq!(s.insert(CapId::FsWrite, b"/x"), Err(CapSetError::Full));
    assert_eq!(s, before);
    // Already covered: succeeds without room.
    s.insert(CapId::FsRead, b"/a/07").unwrap();
    // An entry that makes others redundant fits even when the set is full.
    s.insert(CapId::FsRead, b"/a/0*").unwrap();
    assert_eq!(s.len(), AGENT_CAPS_MAX - 10 + 1);
    check_invariants(&s);

    // The arena: 16 scopes of 256 bytes fill 4096 bytes exactly.
    let mut s = Box::new(CapSet::new());
    for i in 0..16u8 {
        let mut scope = vec![b'a' + i; 256];
        scope[0] = b'/';
        s.insert(CapId::FsRead, &scope).unwrap();
    }
    assert_eq!(s.scope_bytes(), AGENT_CAPSET_ARENA);
    let before = s.clone();
    assert_eq!(s.insert(CapId::FsRead, b"/z"), Err(CapSetError::ArenaFull));
    assert_eq!(s, before);
    s.insert(CapId::FsWrite, b"").unwrap();
    s.insert(CapId::FsRead, b"/*").unwrap();
    assert_eq!(lines(&s), ["fs.read:/*", "fs.write"]);
    assert_eq!(s.scope_bytes(), 2);
}

#[test]
fn revocation_removes_what_the_revoked_entry_covers_and_keeps_wider_entries() {
    let mut s = set(&[
        "fs.read:/srv/a",
        "fs.read:/srv/b/*",
        "fs.read:/home/x",
        "fs.write",
    ]);
    assert_eq!(s.remove_covered_by(CapId::FsRead, b"/srv/*"), Ok(2));
    assert_eq!(lines(&s), ["fs.read:/home/x", "fs.write"]);
    // Nothing covered: nothing removed.
    assert_eq!(s.remove_covered_by(CapId::FsRead, b"/srv/*"), Ok(0));
    assert_eq!(s.remove_covered_by(CapId::NetBind, b""), Ok(0));
    // A wider entry is kept (a set cannot say "all but"), and still covers the request.
    assert_eq!(s.remove_covered_by(CapId::FsWrite, b"/tmp/*"), Ok(0));
    assert!(s.contains(CapId::FsWrite, b"/tmp/x"));
    // Unscoped (or `*`) revokes every scope of the capability.
    assert_eq!(s.remove_covered_by(CapId::FsRead, b"*"), Ok(1));
    assert_eq!(s.remove_covered_by(CapId::FsWrite, b""), Ok(1));
    assert!(s.is_empty());
    assert_eq!(*s, CapSet::new());
}

#[test]
fn subset_is_coverage_of_every_entry() {
    let parent = set(&["fs.read:/srv/*", "net.connect", "agent.spawn"]);
    let child = set(&["fs.read:/srv/a/*", "net.connect:api:443"]);
    assert!(child.is_subset_of(&parent));
    assert!(!parent.is_subset_of(&child));
    assert!(CapSet::new().is_subset_of(&child));
    assert!(parent.is_subset_of(&parent));
    let other = set(&["fs.read:/srv"]);
    assert!(!other.is_subset_of(&parent));
}

#[test]
fn union_and_intersection_examples() {
    let a = set(&["fs.read:/srv/*", "net.connect:api:443", "agent.spawn"]);
    let b = set(&[
        "fs.read:/srv/a/*",
        "fs.read:/etc/x",
        "net.connect",
        "mem.tier",
    ]);
    let mut out = Box::new(CapSet::new());
    CapSet::union_into(&a, &b, &mut out).unwrap();
    assert_eq!(
        lines(&out),
        [
            "agent.spawn",
            "fs.read:/etc/x",
            "fs.read:/srv/*",
            "mem.tier",
            "net.connect"
        ]
    );
    CapSet::intersection_into(&a, &b, &mut out).unwrap();
    assert_eq!(lines(&out), ["fs.read:/srv/a/*", "net.connect:api:443"]);
    // Disjoint scopes intersect to nothing.
    let c = set(&["fs.read:/a"]);
    let d = set(&["fs.read:/b", "fs.read:/c*"]);
    CapSet::intersection_into(&c, &d, &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn union_capacity_does_not_depend_on_insertion_order() {
    // `a` is full; `b` adds one capability but its wildcard makes all of `a` redundant.
    let mut a = Box::new(CapSet::new());
    for i in 0..AGENT_CAPS_MAX {
        a.insert(CapId::FsRead, format!("/p/{i:02}").as_bytes())
            .unwrap();
    }
    let b = set(&["agent.spawn", "fs.read:/p/*"]);
    let mut out = Box::new(CapSet::new());
    CapSet::union_into(&a, &b, &mut out).unwrap();
    assert_eq!(lines(&out), ["agent.spawn", "fs.read:/p/*"]);
    CapSet::union_into(&b, &a, &mut out).unwrap();
    assert_eq!(lines(&out), ["agent.spawn", "fs.read:/p/*"]);
    // A union that really does not fit fails and leaves `out` empty.
    let c = set(&["agent.spawn"]);
    assert_eq!(CapSet::union_into(&a, &c, &mut out), Err(CapSetError::Full));
    assert!(out.is_empty());
}

#[test]
fn intersection_that_does_not_fit_fails_cleanly() {
    // Each side is 63 exact paths under one prefix plus a wildcard covering the other side's.
    let mut a = Box::new(CapSet::new());
    let mut b = Box::new(CapSet::new());
    for i in 0..63 {
        a.insert(CapId::FsRead, format!("/x/{i:02}").as_bytes())
            .unwrap();
        b.insert(CapId::FsRead, format!("/y/{i:02}").as_bytes())
            .unwrap();
    }
    a.insert(CapId::FsRead, b"/y/*").unwrap();
    b.insert(CapId::FsRead, b"/x/*").unwrap();
    let mut out = Box::new(CapSet::new());
    assert_eq!(
        CapSet::intersection_into(&a, &b, &mut out),
        Err(CapSetError::Full)
    );
    assert!(out.is_empty());
}

#[test]
fn assign_clone_and_clear() {
    let a = set(&["fs.read:/srv/*", "agent.spawn"]);
    let mut b = set(&["net.bind:0.0.0.0:80", "fs.write:/tmp/a", "fs.write:/tmp/b"]);
    b.assign(&a);
    assert_eq!(*b, *a);
    assert_eq!(b.clone(), a);
    b.clear();
    assert_eq!(*b, CapSet::new());
    assert_eq!(
        format!("{:?}", a),
        r#"CapSet [agent.spawn, fs.read:/srv/*]"#
    );
}

#[test]
fn errors_say_what_failed() {
    let all = [
        CapSetError::Full,
        CapSetError::ArenaFull,
        CapSetError::ScopeTooLong,
        CapSetError::InvalidScope(CapError::BadScopeByte),
        CapSetError::UnknownName,
        CapSetError::BufferTooSmall,
    ];
    for e in all {
        let msg = e.to_string();
        assert!(msg.len() > 20, "{e:?}: {msg}");
    }
    assert!(CapSetError::InvalidScope(CapError::MisplacedWildcard)
        .to_string()
        .contains("'*'"));
}
