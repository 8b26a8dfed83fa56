//! `coconut manifest keygen|new|sign|verify` through the built binary: a round trip, refusals
//! (overwrite, bad budget, tampered envelope) and the `--help` of every agent command.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn coconut(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coconut"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run coconut")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Makes a key, a body and a signed envelope in `dir`; returns the public key hex.
fn make_signed(dir: &Path) -> String {
    let k = coconut(&["manifest", "keygen", "--out", "k"], dir);
    assert!(k.status.success(), "{}", stderr(&k));
    let public = stdout(&k).trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    let n = coconut(
        &[
            "manifest",
            "new",
            "demo",
            "--cap",
            "fs.read:/srv/*",
            "--cap",
            "net.connect:example.com:443",
            "--budget",
            "ram=1048576",
            "--signer",
            &"ab".repeat(32),
            "--out",
            "m.body",
        ],
        dir,
    );
    assert!(n.status.success(), "{}", stderr(&n));
    let s = coconut(
        &["manifest", "sign", "m.body", "--key", "k", "--out", "m"],
        dir,
    );
    assert!(s.status.success(), "{}", stderr(&s));
    assert_eq!(stdout(&s).trim(), public);
    public
}

#[test]
fn keygen_new_sign_verify_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let public = make_signed(d.path());
    let mode = std::fs::metadata(d.path().join("k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let v = coconut(&["manifest", "verify", "m"], d.path());
    assert!(v.status.success(), "{}", stderr(&v));
    let text = stdout(&v);
    assert!(text.contains("name: demo\n"), "{text}");
    assert!(text.contains(&format!("signer: {public}\n")), "{text}");
    assert!(text.contains("budget: ram=1048576\n"), "{text}");
    assert!(text.contains("fs.read:/srv/*"), "{text}");
    let j = coconut(&["manifest", "verify", "m", "--json"], d.path());
    assert!(j.status.success(), "{}", stderr(&j));
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["name"], "demo");
    assert_eq!(j["signer"], public.as_str());
    assert_eq!(j["budget"]["ram"], 1_048_576);
    assert_eq!(j["signers"][0], "ab".repeat(32));
    assert_eq!(j["caps"].as_array().unwrap().len(), 2);
    // The envelope decodes with libcoconut too, signed by the printed key.
    let bytes = std::fs::read(d.path().join("m")).unwrap();
    let (env, m) = libcoconut::verify_envelope(&bytes).unwrap();
    assert_eq!(hex::encode(env.key), public);
    assert_eq!(m.name, "demo");
}

#[test]
fn keygen_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("k"), "keep").unwrap();
    let o = coconut(&["manifest", "keygen", "--out", "k"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(d.path().join("k")).unwrap(), "keep");
}

#[test]
fn tampered_manifest_is_refused_naming_why() {
    let d = tempfile::tempdir().unwrap();
    make_signed(d.path());
    let mut bytes = std::fs::read(d.path().join("m")).unwrap();
    // Flip a byte of the body's agent name: still canonical CBOR, so the signature fails.
    let at = bytes
        .windows(4)
        .position(|w| w == b"demo")
        .expect("name in envelope");
    bytes[at] = b'x';
    std::fs::write(d.path().join("t"), &bytes).unwrap();
    let o = coconut(&["manifest", "verify", "t"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("signature rejected"), "{}", stderr(&o));
    // A truncated file is not CBOR at all.
    std::fs::write(d.path().join("cut"), &bytes[..bytes.len() / 2]).unwrap();
    let o = coconut(&["manifest", "verify", "cut"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cut: refused"), "{}", stderr(&o));
    // A body is not an envelope, and an envelope is not a body to sign.
    let o = coconut(&["manifest", "verify", "m.body"], d.path());
    assert_eq!(o.status.code(), Some(1));
    let o = coconut(
        &["manifest", "sign", "m", "--key", "k", "--out", "mm"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a manifest body"), "{}", stderr(&o));
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let d = tempfile::tempdir().unwrap();
    let o = coconut(
        &["manifest", "new", "x", "--budget", "gpu=1", "--out", "b"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("inference_tokens"), "{}", stderr(&o));
    let o = coconut(&["manifest", "new", "Bad Name", "--out", "b"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[a-z0-9._-]"), "{}", stderr(&o));
    let o = coconut(
        &["manifest", "new", "x", "--cap", "nope", "--out", "b"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let o = coconut(
        &["manifest", "new", "x", "--signer", "12", "--out", "b"],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("64 hex"), "{}", stderr(&o));
    let o = coconut(&["caps", "grant", "b:1", "fs.read"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a:NNNNN"), "{}", stderr(&o));
    let o = coconut(&["caps", "revoke", "a:00001"], d.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "neither CAP nor --all: usage error"
    );
}

#[test]
fn spawn_without_the_agent_subsystem_says_so() {
    if libcoconut::sys::is_supported() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    make_signed(d.path());
    for args in [&["spawn", "m"][..], &["spawn", "m", "--", "/bin/true"][..]] {
        let o = coconut(args, d.path());
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains("no agent subsystem"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty(), "no AID printed: {}", stdout(&o));
    }
    let o = coconut(&["attest", "a:00000"], d.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no agent subsystem"), "{}", stderr(&o));
}

#[test]
fn every_agent_command_has_help() {
    let d = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["manifest", "--help"][..], "keygen"),
        (&["manifest", "keygen", "--help"][..], "0600"),
        (&["manifest", "new", "--help"][..], "--budget"),
        (&["manifest", "sign", "--help"][..], "--key"),
        (&["manifest", "verify", "--help"][..], "strict Ed25519"),
        (&["spawn", "--help"][..], "/agent/policy/signers"),
        (&["caps", "--help"][..], "grant"),
        (&["caps", "show", "--help"][..], "--json"),
        (&["caps", "grant", "--help"][..], "descendant"),
        (&["caps", "revoke", "--help"][..], "--quarantine"),
        (&["attest", "--help"][..], "spawn_seq"),
        (&["tree", "--help"][..], "a:00000"),
        (&["ps", "--help"][..], "--json"),
    ] {
        let o = coconut(args, d.path());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(want), "{args:?}: {}", stdout(&o));
    }
}
