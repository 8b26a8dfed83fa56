//! Fuzz target: the whole kernel-side manifest path on arbitrary bytes never panics.
//!
//! The input is tried as an envelope (decode, then signature verification, then the body it
//! carries), as a body on its own, and as an `agent_spawn` capability set. Every error's
//! offset lies inside its document and its message renders. Bodies and capability sets are
//! also compared with libcoconut's decoders (ciborium-based, the independent user-space
//! implementation), and whole envelopes with its `verify_envelope` (ed25519-dalek): both must
//! accept exactly the same documents, whatever their nesting.

#![no_main]

use coconut_manifest::{
    decode_body, decode_capset, decode_envelope, decode_manifest, verify, Body, ManifestError,
};
use libfuzzer_sys::fuzz_target;

fn check_error(e: &ManifestError<'_>, doc_len: usize) {
    if let Some(offset) = e.offset() {
        assert!(offset <= doc_len, "{e:?} points past {doc_len}");
    }
    assert!(!e.to_string().is_empty());
}

fn walk(body: &Body<'_>) {
    let caps: Vec<_> = body.caps().collect();
    assert_eq!(caps.len(), body.caps().len());
    assert!(caps.len() <= 64);
    assert!(caps.windows(2).all(|w| w[0].text < w[1].text));
    let signers: Vec<_> = body.signers().collect();
    assert!(signers.len() <= 8);
    assert!(signers.windows(2).all(|w| w[0] < w[1]));
    assert!(!body.name.is_empty() && body.name.len() <= 64);
}

fuzz_target!(|data: &[u8]| {
    match decode_envelope(data) {
        Ok(env) => {
            if let Err(e) = verify(&env) {
                check_error(&e, data.len());
            }
            match decode_body(env.body) {
                Ok(body) => walk(&body),
                Err(e) => check_error(&e, env.body.len()),
            }
        }
        Err(e) => check_error(&e, data.len()),
    }
    let ours = decode_manifest(data);
    let theirs = libcoconut::verify_envelope(data);
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "envelope verdicts differ: ours {ours:?}, libcoconut {theirs:?}"
    );

    match decode_body(data) {
        Ok(body) => {
            walk(&body);
            let reference = libcoconut::Manifest::from_cbor(data);
            assert!(
                reference.is_ok(),
                "we accept a body libcoconut rejects: {reference:?}"
            );
        }
        Err(e) => {
            check_error(&e, data.len());
            // Above 16 KiB only we have a length limit.
            if data.len() <= 16384 {
                let reference = libcoconut::Manifest::from_cbor(data);
                assert!(
                    reference.is_err(),
                    "libcoconut accepts a body we reject: {e:?}, theirs {reference:?}"
                );
            }
        }
    }

    match decode_capset(data) {
        Ok(caps) => {
            let n = caps.count();
            if !data.is_empty() {
                let theirs =
                    libcoconut::decode_capset(data).expect("libcoconut accepts our capset");
                assert_eq!(theirs.len(), n);
            }
        }
        Err(e) => {
            check_error(&e, data.len());
            if data.len() <= 4096 {
                assert!(
                    libcoconut::decode_capset(data).is_err(),
                    "libcoconut accepts a capset we reject: {e:?}"
                );
            }
        }
    }
});
