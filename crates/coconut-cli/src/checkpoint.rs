//! Checkpoint signatures: the Ed25519 check of a checkpoint row, the C2SP signed note of
//! `/agent/audit/checkpoint`, the machine id the notes name, and `/agent/audit/key`.
//!
//! Job: what `coconut audit verify`, `key` and `checkpoint` need beyond the shared crate,
//! which has no signature verification: [`signature_verifies`] checks a checkpoint row's
//! signature over its note body ([`Checkpoint::note`]) with `ed25519-dalek` (strict: no
//! small-order keys, canonical signatures only); [`verify_note`] parses a signed note (the body
//! of [`Checkpoint::parse_note`], a blank line, signature lines `— <name> <base64(key_id ||
//! sig)>`) and checks the line of `coconut-os/audit/<machine-id>` whose key id (C2SP
//! signed-note: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key)) is the key's;
//! [`machine_id`] finds the machine id (`--machine-id`, else `/etc/machine-id`) and
//! [`read_key`] reads the kernel's public key.
//!
//! Constraints: no second note or detail parser: the body is `coconut-audit`'s, base64 too;
//! only the signature lines are parsed here.

use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use libcoconut::audit::{Checkpoint, CheckpointRow, NoteError, NOTE_MAX, NOTE_ORIGIN_PREFIX};
use sha2::{Digest, Sha256};

use crate::verify::Failure;

/// Where the machine id is read from when `--machine-id` is not given.
pub const MACHINE_ID_FILE: &str = "/etc/machine-id";

/// The kernel's checkpoint public key: 32 raw bytes, empty before a seed is loaded.
pub const KEY_FILE: &str = "/agent/audit/key";

/// The latest checkpoint as a signed note.
pub const CHECKPOINT_FILE: &str = "/agent/audit/checkpoint";

/// What starts a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The machine a chain's checkpoints name, or why it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineId {
    /// The 16 bytes of the machine id.
    Known([u8; 16]),
    /// Not known; the text says why (for the error when a checkpoint needs it).
    Unknown(String),
}

/// Parses a machine id: 32 hex digits (lowercase, as `/etc/machine-id` holds them), with an
/// optional newline.
pub fn parse_machine_id(text: &str) -> Option<[u8; 16]> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.len() != 32 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// The machine id: `arg` if given (else exit 2 when it is not 32 hex digits), otherwise
/// [`MACHINE_ID_FILE`] if it reads and parses, otherwise unknown with the reason.
pub fn machine_id(arg: Option<&str>) -> Result<MachineId, Failure> {
    if let Some(arg) = arg {
        return parse_machine_id(arg).map(MachineId::Known).ok_or_else(|| {
            Failure::Io(format!(
                "--machine-id {arg:?}: a machine id is 32 lowercase hex digits (as in \
                 /etc/machine-id)"
            ))
        });
    }
    Ok(match std::fs::read_to_string(MACHINE_ID_FILE) {
        Ok(text) => match parse_machine_id(&text) {
            Some(id) => MachineId::Known(id),
            None => MachineId::Unknown(format!("{MACHINE_ID_FILE} is not 32 lowercase hex digits")),
        },
        Err(e) => MachineId::Unknown(format!("{MACHINE_ID_FILE} cannot be read ({e})")),
    })
}

/// Whether `sig` is a valid Ed25519 signature of `msg` under `key` (strict verification).
pub fn ed25519_verifies(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key)
        .is_ok_and(|k| k.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
}

/// Whether a checkpoint row's signature verifies: `row.sig` over `checkpoint`'s note body under
/// `row.key`.
pub fn signature_verifies(checkpoint: &Checkpoint, row: &CheckpointRow) -> bool {
    let mut buf = [0u8; NOTE_MAX];
    ed25519_verifies(&row.key, checkpoint.note(&mut buf).as_bytes(), &row.sig)
}

/// The signer name of a machine's checkpoints: `coconut-os/audit/<machine-id>`.
pub fn signer_name(machine_id: &[u8; 16]) -> String {
    format!("{NOTE_ORIGIN_PREFIX}{}", hex::encode(machine_id))
}

/// The C2SP signed-note key id of an Ed25519 key: the first 4 bytes of SHA-256(name || 0x0A ||
/// 0x01 || key).
pub fn key_id(name: &str, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Renders a signed note as the kernel serves it: the body, a blank line and the signature line.
/// (Tests and fixtures; the kernel renders its own.)
pub fn render_note(checkpoint: &Checkpoint, key: &[u8; 32], sig: &[u8; 64]) -> String {
    let mut buf = [0u8; NOTE_MAX];
    let body = checkpoint.note(&mut buf);
    let name = signer_name(&checkpoint.machine_id);
    let mut blob = [0u8; 68];
    blob[..4].copy_from_slice(&key_id(&name, key));
    blob[4..].copy_from_slice(sig);
    let mut b64 = [0u8; 92];
    let n = libcoconut::audit::shared::base64_encode(&blob, &mut b64).unwrap_or(0);
    format!(
        "{body}\n{SIG_PREFIX}{name} {}\n",
        String::from_utf8_lossy(&b64[..n])
    )
}

/// Why a signed note does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteFault {
    /// The text is not a signed note: no blank line after the body, or a signature line that is
    /// not `— <name> <base64>`.
    Shape(String),
    /// The body is not a checkpoint note body.
    Body(NoteError),
    /// No signature line of `coconut-os/audit/<machine-id>` carries this key's id.
    NoSignature {
        /// The name looked for.
        name: String,
        /// The key id looked for, in hex.
        key_id: String,
    },
    /// The signature line of this key does not verify.
    BadSignature,
}

impl std::fmt::Display for NoteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoteFault::Shape(why) => write!(f, "not a signed note: {why}"),
            NoteFault::Body(e) => write!(f, "not a checkpoint note: {e}"),
            NoteFault::NoSignature { name, key_id } => write!(
                f,
                "no signature line by {name} with key id {key_id}: the note is signed by \
                 another key or another machine"
            ),
            NoteFault::BadSignature => f.write_str(
                "the signature does not verify under the key: the note was changed after signing",
            ),
        }
    }
}

/// A signed note that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// What the body says.
    pub checkpoint: Checkpoint,
    /// The key id of the signature line that verified.
    pub key_id: [u8; 4],
}

/// Parses a signed note and checks it under `key`: the body must be a checkpoint note body, and
/// the signature line of `coconut-os/audit/<its machine id>` with `key`'s key id must verify.
/// Other signature lines (other signers, other keys) are ignored, as C2SP says.
pub fn verify_note(text: &[u8], key: &[u8; 32]) -> Result<VerifiedNote, NoteFault> {
    let text = std::str::from_utf8(text)
        .map_err(|_| NoteFault::Shape("the text is not UTF-8".to_owned()))?;
    let split = text
        .find("\n\n")
        .ok_or_else(|| NoteFault::Shape("no blank line after the body".to_owned()))?;
    let (body, sigs) = (&text[..split + 1], &text[split + 2..]);
    let checkpoint = Checkpoint::parse_note(body.as_bytes()).map_err(NoteFault::Body)?;
    let name = signer_name(&checkpoint.machine_id);
    let want = key_id(&name, key);
    if sigs.is_empty() {
        return Err(NoteFault::Shape("no signature line".to_owned()));
    }
    if !sigs.ends_with('\n') {
        return Err(NoteFault::Shape(
            "the last signature line does not end in a newline".to_owned(),
        ));
    }
    let mut found = None;
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            NoteFault::Shape(format!(
                "signature line {line:?} does not start with \"— \""
            ))
        })?;
        let (signer, b64) = rest
            .split_once(' ')
            .ok_or_else(|| NoteFault::Shape(format!("signature line {line:?} has no space")))?;
        let mut blob = [0u8; 128];
        let n = libcoconut::audit::shared::base64_decode(b64.as_bytes(), &mut blob)
            .filter(|&n| n >= 5)
            .ok_or_else(|| {
                NoteFault::Shape(format!(
                    "signature line {line:?} is not base64 of a key id and a signature"
                ))
            })?;
        if signer != name || blob[..4] != want {
            continue;
        }
        let sig = <[u8; 64]>::try_from(&blob[4..n]).map_err(|_| NoteFault::BadSignature)?;
        found = Some(sig);
    }
    let sig = found.ok_or_else(|| NoteFault::NoSignature {
        name,
        key_id: hex::encode(want),
    })?;
    if !ed25519_verifies(key, body.as_bytes(), &sig) {
        return Err(NoteFault::BadSignature);
    }
    Ok(VerifiedNote {
        checkpoint,
        key_id: want,
    })
}

/// Reads the kernel's public key file: `Ok(None)` when it is empty (no seed loaded yet).
pub fn read_key(path: &Path) -> Result<Option<[u8; 32]>, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "this kernel serves no checkpoint key (agentfs not mounted at /agent, or a kernel \
             without checkpoints)"
        } else {
            "check that the file is readable"
        };
        Failure::Io(format!("cannot read {}: {e}; {hint}", path.display()))
    })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Some)
        .map_err(|_| {
            Failure::Io(format!(
                "{}: a checkpoint key is 32 raw bytes, this file has {}",
                path.display(),
                bytes.len()
            ))
        })
}

/// What `coconut audit key` and `checkpoint` say when the key file is empty.
pub fn no_seed_message(path: &Path) -> String {
    format!(
        "no seed is loaded: {} is empty until coconutd loads the audit seed \
         (/agent/audit/seed), so no checkpoint is signed yet",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            machine_id: [0x11; 16],
            boot: 3,
            size: 42,
            root: [1; 32],
            head: [2; 32],
        }
    }

    #[test]
    fn machine_ids_are_32_lowercase_hex_digits() {
        assert_eq!(
            parse_machine_id(&format!("{}\n", "ab".repeat(16))),
            Some([0xab; 16])
        );
        assert_eq!(parse_machine_id(&"AB".repeat(16)), None);
        assert_eq!(parse_machine_id(&"ab".repeat(15)), None);
        assert_eq!(parse_machine_id(&"zz".repeat(16)), None);
        assert!(matches!(machine_id(Some("xyz")), Err(Failure::Io(_))));
    }

    #[test]
    fn a_rendered_note_verifies_and_every_flipped_byte_fails() {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let key = sk.verifying_key().to_bytes();
        let cp = checkpoint();
        let mut buf = [0u8; NOTE_MAX];
        let sig = sk.sign(cp.note(&mut buf).as_bytes()).to_bytes();
        let note = render_note(&cp, &key, &sig);
        assert!(note.contains("\n\n\u{2014} coconut-os/audit/1111"));
        let ok = verify_note(note.as_bytes(), &key).unwrap();
        assert_eq!(ok.checkpoint, cp);
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x01;
            assert!(
                verify_note(&bad, &key).is_err(),
                "byte {i} flipped verifies"
            );
        }
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(matches!(
            verify_note(bytes, &other),
            Err(NoteFault::NoSignature { .. })
        ));
    }
}
