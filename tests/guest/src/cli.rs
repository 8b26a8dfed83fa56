//! The `coconut` command in the guest: `manifest keygen|new|sign|verify`, trusting the key
//! through `/agent/policy/signers`, `spawn … -- /bin/true` (the program joins at exec and its
//! status comes back), `tree`, `ps`, `attest` and `caps show` of the new agent. Runs after the
//! agents tests (it spawns agents of a:00000 and leaves them terminated).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::Test;

/// Where the initramfs installs the command.
const COCONUT: &str = "/bin/coconut";

/// Every test of this module, in order.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("cli::manifest_keygen_new_sign_verify", manifest_round_trip),
        Test::new("cli::spawn_tree_attest_caps", spawn_tree_attest_caps),
    ]
}

fn work_dir() -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!("coconut-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}

fn run(dir: &Path, args: &[&str]) -> Result<Output, String> {
    if !Path::new(COCONUT).exists() {
        return Err(format!("{COCONUT} is not in the initramfs"));
    }
    Command::new(COCONUT)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("{COCONUT} {args:?}: {e}"))
}

/// Runs `coconut ARGS`, which must exit 0; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = run(dir, args)?;
    if !o.status.success() {
        return Err(format!(
            "coconut {args:?}: {:?}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Makes key `k`, body `m.body` and envelope `m` (caps `fs.read:/tmp/*`) in `dir`; returns
/// the public key.
fn make_manifest(dir: &Path, name: &str) -> Result<String, String> {
    for f in ["k", "m.body", "m"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let public = ok(dir, &["manifest", "keygen", "--out", "k"])?
        .trim()
        .to_string();
    if public.len() != 64 {
        return Err(format!("keygen printed {public:?}"));
    }
    ok(
        dir,
        &[
            "manifest",
            "new",
            name,
            "--cap",
            "fs.read:/tmp/*",
            "--budget",
            "ram=67108864",
            "--out",
            "m.body",
        ],
    )?;
    let signer = ok(
        dir,
        &["manifest", "sign", "m.body", "--key", "k", "--out", "m"],
    )?;
    if signer.trim() != public {
        return Err(format!("sign printed {signer:?}, keygen {public:?}"));
    }
    Ok(public)
}

fn manifest_round_trip() -> Result<(), String> {
    let dir = work_dir()?;
    let public = make_manifest(&dir, "cli-verify")?;
    let v = ok(&dir, &["manifest", "verify", "m", "--json"])?;
    let want = format!("\"signer\":\"{public}\"");
    if !v.contains("\"name\":\"cli-verify\"") || !v.contains(&want) {
        return Err(format!("verify --json: {v}"));
    }
    let mut bytes = std::fs::read(dir.join("m")).map_err(|e| e.to_string())?;
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.join("t"), &bytes).map_err(|e| e.to_string())?;
    let o = run(&dir, &["manifest", "verify", "t"])?;
    if o.status.code() != Some(1) {
        return Err(format!("a tampered envelope verified: {:?}", o.status));
    }
    Ok(())
}

fn add_signer(public: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/agent/policy/signers")
        .and_then(|mut f| f.write_all(format!("add {public}\n").as_bytes()))
        .map_err(|e| format!("/agent/policy/signers: add: {e}"))
}

fn spawn_tree_attest_caps() -> Result<(), String> {
    let dir = work_dir()?;
    let public = make_manifest(&dir, "cli-spawned")?;
    // Untrusted first: the message names /agent/policy/signers.
    let o = run(&dir, &["spawn", "m"])?;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if o.status.code() != Some(1) || !err.contains("/agent/policy/signers") {
        return Err(format!("untrusted spawn: {:?}: {err}", o.status));
    }
    add_signer(&public)?;
    // A memberless agent stays live: tree, ps, attest and caps show see it.
    let out = ok(&dir, &["spawn", "m", "--cap", "fs.read:/tmp/*"])?;
    let aid = out.trim().to_string();
    if !aid.starts_with("a:") || aid.len() != 7 {
        return Err(format!("spawn printed {out:?}"));
    }
    let tree = ok(&dir, &["tree"])?;
    let line = tree
        .lines()
        .find(|l| l.contains(&aid))
        .ok_or_else(|| format!("{aid} not in tree:\n{tree}"))?;
    if !tree.starts_with("a:00000 coconutd [ACTIVE]")
        || !line.contains("cli-spawned [ATTESTED]")
        || !line.contains("/67108864")
    {
        return Err(format!("tree:\n{tree}"));
    }
    let ps = ok(&dir, &["ps", "--json"])?;
    if !ps.contains(&format!("\"aid\":\"{aid}\"")) {
        return Err(format!("ps --json: {ps}"));
    }
    let chain = ok(&dir, &["attest", &aid, "--json"])?;
    if !chain.contains("\"aid\":\"a:00000\"")
        || !chain.contains(&format!("\"aid\":\"{aid}\""))
        || !chain.contains(&format!("\"signer\":\"{public}\""))
        || !chain.contains("\"name\":\"cli-spawned\"")
    {
        return Err(format!("attest --json: {chain}"));
    }
    let text = ok(&dir, &["attest", &aid])?;
    if !text.contains("spawn_seq") || !text.contains("manifest_hash") {
        return Err(format!("attest: {text}"));
    }
    let caps = ok(&dir, &["caps", "show", &aid])?;
    if caps != "fs.read:/tmp/*\n" {
        return Err(format!("caps show: {caps:?}"));
    }
    ok(&dir, &["caps", "revoke", &aid, "--all"])?;
    let tree = ok(&dir, &["tree"])?;
    if tree.contains(&aid) {
        return Err(format!("{aid} revoked but still in tree:\n{tree}"));
    }
    // With a program: it joins at exec and its status comes back.
    if !Path::new("/bin/true").exists() {
        return Err("/bin/true is not in the initramfs".into());
    }
    let o = run(&dir, &["spawn", "m", "--", "/bin/true"])?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() || !out.trim().starts_with("a:") {
        return Err(format!(
            "spawn -- /bin/true: {:?} {out:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let member = out.trim().to_string();
    if member == aid {
        return Err("the second spawn reused the AID".into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
