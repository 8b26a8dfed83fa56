//! The streaming checkpoint checks (`CheckpointVerifier`): a chain sealed with checkpoint rows
//! whose roots come from a `Frontier` kept as the kernel keeps it, then each check failing
//! alone. Signatures are the caller's (user space) to check; here they are placeholders.

use coconut_abi::{Aid, AuditKind};
use coconut_audit::{
    leaf_hash, Chain, CheckpointFault, CheckpointRow, CheckpointRowError, CheckpointVerifier,
    Frontier, Record, RowRef, Verifier, CHECKPOINT_DETAIL_MAX, EVENT_MAX,
};

/// A change to the checkpoint fields, by the checkpoint's index.
type Edit = dyn Fn(usize, &mut CheckpointRow);

struct Owned {
    prev: [u8; 32],
    event: Vec<u8>,
    hash: [u8; 32],
}

/// A boot of `rows` quota rows after its boot row, with a checkpoint after every `every` rows;
/// `edit` may change each checkpoint's fields (by its index) before it is sealed.
fn chain(rows: usize, every: usize, key: [u8; 32], edit: &Edit) -> Vec<Owned> {
    let mut c = Chain::start(&[9; 32], 4, None);
    let mut f = Frontier::new();
    let mut out = Vec::new();
    let mut checkpoints = 0;
    let mut seal = |c: &mut Chain, f: &mut Frontier, kind, detail: &str| {
        let mut buf = [0u8; EVENT_MAX];
        let rec = Record {
            kind,
            time_ns: 1,
            actor: Aid::BOOT,
            subject: Aid::BOOT,
            result: 0,
            detail,
        };
        let (row, len) = c.seal(&rec, &mut buf).unwrap();
        f.push(&leaf_hash(&row.hash).unwrap()).unwrap();
        out.push(Owned {
            prev: row.prev,
            event: buf[..len].to_vec(),
            hash: row.hash,
        });
    };
    seal(
        &mut c,
        &mut f,
        AuditKind::Boot,
        "boot=4 abi=1 kernel=k seed=soft",
    );
    for i in 1..=rows {
        seal(
            &mut c,
            &mut f,
            AuditKind::Quota,
            "op=charge kind=cpu amount=1 used=1",
        );
        if i % every == 0 {
            let mut row = CheckpointRow {
                size: c.next_seq(),
                root: f.root(),
                key,
                sig: [7; 64],
            };
            edit(checkpoints, &mut row);
            checkpoints += 1;
            let mut db = [0u8; CHECKPOINT_DETAIL_MAX];
            let detail = row.encode(&mut db).to_owned();
            seal(&mut c, &mut f, AuditKind::Checkpoint, &detail);
        }
    }
    out
}

/// Runs both verifiers; returns the checkpoints seen or the index and fault of the first bad
/// one.
fn run(
    rows: &[Owned],
    v: CheckpointVerifier,
) -> Result<Vec<(u64, bool)>, (usize, CheckpointFault)> {
    let mut chain = Verifier::new();
    let mut v = v;
    let mut seen = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let row = RowRef {
            prev: &r.prev,
            event: &r.event,
            hash: &r.hash,
        };
        chain.push(row).unwrap();
        match v.push(row) {
            Ok(Some(s)) => {
                assert_eq!(s.head, r.prev, "the head is the row's prev");
                assert_eq!(s.seq, s.row.size);
                seen.push((s.seq, s.root_checked));
            }
            Ok(None) => {}
            Err(e) => return Err((i, e)),
        }
    }
    Ok(seen)
}

#[test]
fn a_checkpointed_chain_passes_with_every_root_recomputed() {
    let rows = chain(40, 7, [1; 32], &|_, _| {});
    let seen = run(&rows, CheckpointVerifier::new()).unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|&(_, checked)| checked));
    // The first checkpoint covers the boot row and 7 rows.
    assert_eq!(seen[0].0, 8);
    assert!(run(&rows, CheckpointVerifier::new().pin_key([1; 32])).is_ok());
}

#[test]
fn each_check_fails_alone() {
    let key = [1; 32];
    let second = |f: fn(&mut CheckpointRow)| {
        move |i: usize, r: &mut CheckpointRow| {
            if i == 1 {
                f(r)
            }
        }
    };
    let cases: [(&Edit, CheckpointFault); 3] = [
        (&second(|r| r.size += 1), CheckpointFault::SizeMismatch),
        (&second(|r| r.root[5] ^= 1), CheckpointFault::RootMismatch),
        (&second(|r| r.key[0] ^= 1), CheckpointFault::KeyChanged),
    ];
    for (edit, fault) in cases {
        let rows = chain(20, 5, key, edit);
        // The second checkpoint is row 12 (boot row, 5 rows, checkpoint, 5 rows).
        assert_eq!(run(&rows, CheckpointVerifier::new()), Err((12, fault)));
    }
    let rows = chain(20, 5, key, &|_, _| {});
    assert_eq!(
        run(&rows, CheckpointVerifier::new().pin_key([2; 32])),
        Err((6, CheckpointFault::KeyNotPinned))
    );
}

#[test]
fn a_malformed_detail_names_its_field() {
    let mut c = Chain::start(&[9; 32], 4, None);
    let mut v = CheckpointVerifier::new();
    let mut buf = [0u8; EVENT_MAX];
    for (kind, detail) in [
        (AuditKind::Boot, "boot=4"),
        (AuditKind::Checkpoint, "size=1 root=x"),
    ] {
        let rec = Record {
            kind,
            time_ns: 1,
            actor: Aid::BOOT,
            subject: Aid::BOOT,
            result: 0,
            detail,
        };
        let (row, len) = c.seal(&rec, &mut buf).unwrap();
        let r = v.push(RowRef {
            prev: &row.prev,
            event: &buf[..len],
            hash: &row.hash,
        });
        if kind == AuditKind::Checkpoint {
            assert_eq!(r, Err(CheckpointFault::Malformed(CheckpointRowError::Root)));
        } else {
            assert_eq!(r, Ok(None));
        }
    }
}

#[test]
fn a_boot_read_from_the_middle_is_not_root_checked_and_a_new_boot_starts_over() {
    let rows = chain(20, 5, [1; 32], &|_, _| {});
    let seen = run(&rows[3..], CheckpointVerifier::new());
    // The verifier of the chain accepts a start anywhere; the roots cannot be recomputed.
    assert_eq!(
        seen,
        Ok(vec![(6, false), (12, false), (18, false), (24, false)])
    );
}
