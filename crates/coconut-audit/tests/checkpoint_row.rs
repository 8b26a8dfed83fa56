//! The checkpoint row's detail: one spelling each way, within the detail limit, and the key
//! derivation against the reference BLAKE3.

use coconut_audit::{
    check_detail, checkpoint_key_seed, CheckpointRow, CheckpointRowError, CHECKPOINT_DETAIL_MAX,
    CHECKPOINT_KEY_CONTEXT,
};

fn sample(size: u64) -> CheckpointRow {
    CheckpointRow {
        size,
        root: [0xa5; 32],
        key: core::array::from_fn(|i| i as u8),
        sig: core::array::from_fn(|i| 255 - i as u8),
    }
}

#[test]
fn round_trips_and_fits_a_detail() {
    for size in [0, 1, 1024, u64::MAX] {
        let row = sample(size);
        let mut buf = [0u8; CHECKPOINT_DETAIL_MAX];
        let text = row.encode(&mut buf).to_owned();
        assert!(text.len() <= CHECKPOINT_DETAIL_MAX);
        check_detail(&text).unwrap();
        assert_eq!(CheckpointRow::parse(&text), Ok(row));
    }
    let mut buf = [0u8; CHECKPOINT_DETAIL_MAX];
    assert_eq!(
        sample(u64::MAX).encode(&mut buf).len(),
        CHECKPOINT_DETAIL_MAX
    );
}

#[test]
fn every_single_byte_change_is_refused_or_canonical() {
    let mut buf = [0u8; CHECKPOINT_DETAIL_MAX];
    let text = sample(4096).encode(&mut buf).to_owned();
    for at in 0..text.len() {
        for b in 0x20u8..0x7f {
            let mut bytes = text.clone().into_bytes();
            if bytes[at] == b {
                continue;
            }
            bytes[at] = b;
            let changed = String::from_utf8(bytes).unwrap();
            if let Ok(row) = CheckpointRow::parse(&changed) {
                // Accepted only if it is the canonical spelling of a different row.
                let mut again = [0u8; CHECKPOINT_DETAIL_MAX];
                assert_eq!(
                    row.encode(&mut again),
                    changed,
                    "non-canonical text accepted"
                );
                assert_ne!(row, sample(4096));
            }
        }
    }
}

#[test]
fn malformed_details_name_their_field() {
    let mut buf = [0u8; CHECKPOINT_DETAIL_MAX];
    let good = sample(7).encode(&mut buf).to_owned();
    let cases = [
        (
            good.replacen("size=7", "size=07", 1),
            CheckpointRowError::Size,
        ),
        (good.replacen("size=", "sise=", 1), CheckpointRowError::Size),
        (
            good.replacen(" root=", " roof=", 1),
            CheckpointRowError::Root,
        ),
        (good.replacen(" key=", " kee=", 1), CheckpointRowError::Key),
        (good.replacen(" sig=", " sag=", 1), CheckpointRowError::Sig),
        (format!("{good} "), CheckpointRowError::Trailing),
        (format!("{good} x=1"), CheckpointRowError::Trailing),
        (good[..good.len() - 4].to_owned(), CheckpointRowError::Sig),
    ];
    for (text, want) in cases {
        assert_eq!(CheckpointRow::parse(&text), Err(want), "{text}");
    }
}

#[test]
fn the_key_seed_is_blake3_derive_key() {
    let seed = [7u8; 32];
    assert_eq!(
        checkpoint_key_seed(&seed),
        blake3::derive_key(CHECKPOINT_KEY_CONTEXT, &seed)
    );
}
