//! coconutd's TPM client against a real software TPM (swtpm, installed by `cargo xtask
//! setup`): the storage root key is created once, found afterwards (also by a restarted TPM on
//! the same state), and a malformed response is an error.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use coconutd::tpm::{ensure_srk, present, Tcp, TpmError, Transport, SRK_HANDLE};

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// swtpm on `state`, its command port connected.
struct Swtpm {
    child: Child,
    port: u16,
}

impl Swtpm {
    fn start(state: &Path) -> Swtpm {
        let (port, ctrl) = (free_port(), free_port());
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start swtpm ({e}): run `cargo xtask setup`, which installs it")
            });
        Swtpm { child, port }
    }

    fn connect(&self) -> Tcp {
        let start = Instant::now();
        loop {
            match Tcp::connect(self.port) {
                Ok(t) => return t,
                Err(e) if start.elapsed() > Duration::from_secs(10) => {
                    panic!("swtpm's port {} never opened: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_srk_is_created_once_and_found_after_a_restart() {
    let state = tempfile::tempdir().unwrap();
    {
        let tpm = Swtpm::start(state.path());
        let mut t = tpm.connect();
        assert!(
            !present(&mut t, SRK_HANDLE).unwrap(),
            "a new TPM has no SRK"
        );
        assert!(ensure_srk(&mut t).unwrap(), "created the first time");
        assert!(present(&mut t, SRK_HANDLE).unwrap());
        assert!(!ensure_srk(&mut t).unwrap(), "found the second time");
    }
    let tpm = Swtpm::start(state.path());
    let mut t = tpm.connect();
    assert!(!ensure_srk(&mut t).unwrap(), "persisted in the TPM's state");
}

/// Answers every command with fixed bytes.
struct Fixed(Vec<u8>);

impl Transport for Fixed {
    fn transact(&mut self, _: &[u8]) -> std::io::Result<Vec<u8>> {
        Ok(self.0.clone())
    }
}

#[test]
fn short_or_inconsistent_responses_are_errors() {
    for bad in [
        vec![],
        vec![0x80, 0x01, 0, 0],
        vec![0x80, 0x01, 0, 0, 0, 99, 0, 0, 0, 0],
    ] {
        match present(&mut Fixed(bad.clone()), SRK_HANDLE) {
            Err(TpmError::Malformed { .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // A failure code other than "no such handle" is the TPM's error, named.
    let failure = vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01];
    let e = present(&mut Fixed(failure), SRK_HANDLE).unwrap_err();
    assert_eq!(
        e.to_string(),
        "TPM2_ReadPublic: the TPM answered response code 0x101"
    );
}
