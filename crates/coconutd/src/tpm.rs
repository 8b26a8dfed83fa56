//! The little of TPM 2.0 the audit seed needs: a persistent storage root key (SRK) for the
//! kernel's `trusted` keys to be sealed under.
//!
//! The kernel seals and unseals the seed itself (`add_key("trusted", …, "new 32
//! keyhandle=0x81000001")`), but TPM 2.0 trusted keys need a parent key at a persistent handle,
//! and nothing creates one on a machine without a TPM stack. [`ensure_srk`] does: if
//! [`SRK_HANDLE`] holds no object, it creates the primary storage key of the owner hierarchy
//! with the TCG's ECC P-256 SRK template and persists it there.
//!
//! The commands are encoded here (TPM 2.0 Library, Part 3: `TPM2_ReadPublic`,
//! `TPM2_CreatePrimary`, `TPM2_EvictControl`, `TPM2_FlushContext`), big-endian, with the
//! empty-password session for the owner hierarchy; no TPM library is involved (Debian's is
//! C, and there is no well-kept pure-Rust one). Every response code is checked and named. The
//! transports: the kernel's resource manager `/dev/tpmrm0` ([`Device`]) and, for tests,
//! swtpm's TCP command port ([`Tcp`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// Where the SRK is persisted (the TCG provisioning guidance's SRK handle).
pub const SRK_HANDLE: u32 = 0x8100_0001;

const TPM_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_ST_SESSIONS: u16 = 0x8002;
const TPM_CC_EVICT_CONTROL: u32 = 0x120;
const TPM_CC_CREATE_PRIMARY: u32 = 0x131;
const TPM_CC_FLUSH_CONTEXT: u32 = 0x165;
const TPM_CC_READ_PUBLIC: u32 = 0x173;
const TPM_RH_OWNER: u32 = 0x4000_0001;
const TPM_RS_PW: u32 = 0x4000_0009;
const TPM_ALG_AES: u16 = 0x0006;
const TPM_ALG_SHA256: u16 = 0x000B;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ALG_CFB: u16 = 0x0043;
const TPM_ECC_NIST_P256: u16 = 0x0003;
/// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | restricted | decrypt.
const SRK_ATTRIBUTES: u32 =
    (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 10) | (1 << 16) | (1 << 17);
/// The longest response accepted (the TPM's own limit is 4 KiB).
const RESPONSE_MAX: usize = 4096;

/// A way to send one TPM command and get its response.
pub trait Transport {
    /// Sends `command` (a whole TPM command) and returns the whole response.
    fn transact(&mut self, command: &[u8]) -> io::Result<Vec<u8>>;
}

/// The kernel's TPM resource manager (`/dev/tpmrm0`): one write, one read per command.
pub struct Device(File);

impl Device {
    /// Opens the device at `path`.
    pub fn open(path: &Path) -> io::Result<Device> {
        File::options()
            .read(true)
            .write(true)
            .open(path)
            .map(Device)
    }
}

impl Transport for Device {
    fn transact(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        self.0.write_all(command)?;
        let mut buf = vec![0u8; RESPONSE_MAX];
        let n = self.0.read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// swtpm's command port (`swtpm socket --server type=tcp`): the response framed by its size.
pub struct Tcp(TcpStream);

impl Tcp {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> io::Result<Tcp> {
        TcpStream::connect(("127.0.0.1", port)).map(Tcp)
    }
}

impl Transport for Tcp {
    fn transact(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        self.0.write_all(command)?;
        let mut head = [0u8; 10];
        self.0.read_exact(&mut head)?;
        let size = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
        if !(10..=RESPONSE_MAX).contains(&size) {
            return Err(io::Error::other(format!("TPM response of {size} bytes")));
        }
        let mut out = head.to_vec();
        out.resize(size, 0);
        self.0.read_exact(&mut out[10..])?;
        Ok(out)
    }
}

/// A TPM command that failed.
#[derive(Debug, thiserror::Error)]
pub enum TpmError {
    /// The transport failed.
    #[error("{command}: {source}")]
    Io {
        /// The command's name.
        command: &'static str,
        /// What the transport said.
        source: io::Error,
    },
    /// The TPM answered with a response code other than success.
    #[error("{command}: the TPM answered response code {rc:#x}")]
    Rc {
        /// The command's name.
        command: &'static str,
        /// The response code.
        rc: u32,
    },
    /// The response is not a TPM response of the expected shape.
    #[error("{command}: malformed response ({why})")]
    Malformed {
        /// The command's name.
        command: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// A command under construction: header, then the body; the size is patched in at the end.
struct Command(Vec<u8>);

impl Command {
    fn new(tag: u16, code: u32) -> Command {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&tag.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&code.to_be_bytes());
        Command(b)
    }
    fn u16(mut self, v: u16) -> Command {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Command {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(mut self, v: &[u8]) -> Command {
        self.0.extend_from_slice(v);
        self
    }
    /// The authorization area with one empty-password session.
    fn password_session(self) -> Command {
        // sessionHandle, nonce (empty), attributes, hmac (empty password).
        self.u32(4 + 2 + 1 + 2)
            .u32(TPM_RS_PW)
            .u16(0)
            .bytes(&[0])
            .u16(0)
    }
    fn finish(mut self) -> Vec<u8> {
        let size = (self.0.len() as u32).to_be_bytes();
        self.0[2..6].copy_from_slice(&size);
        self.0
    }
}

/// Sends `command` and checks its response header: the response, or the TPM's error.
fn run(t: &mut dyn Transport, name: &'static str, command: Vec<u8>) -> Result<Vec<u8>, TpmError> {
    let r = t.transact(&command).map_err(|source| TpmError::Io {
        command: name,
        source,
    })?;
    let malformed = |why: String| TpmError::Malformed { command: name, why };
    if r.len() < 10 {
        return Err(malformed(format!("{} bytes", r.len())));
    }
    let size = u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize;
    if size != r.len() {
        return Err(malformed(format!("says {size} bytes, has {}", r.len())));
    }
    let rc = u32::from_be_bytes([r[6], r[7], r[8], r[9]]);
    if rc != 0 {
        return Err(TpmError::Rc { command: name, rc });
    }
    Ok(r)
}

/// Whether a response code says "no object at that handle" (`TPM_RC_HANDLE`, format 1, for
/// any handle or parameter number).
fn is_absent_handle(rc: u32) -> bool {
    rc & 0x80 != 0 && rc & 0x3f == 0x0b
}

/// Whether an object is loaded at `handle` (`TPM2_ReadPublic`).
pub fn present(t: &mut dyn Transport, handle: u32) -> Result<bool, TpmError> {
    let cmd = Command::new(TPM_ST_NO_SESSIONS, TPM_CC_READ_PUBLIC)
        .u32(handle)
        .finish();
    match run(t, "TPM2_ReadPublic", cmd) {
        Ok(_) => Ok(true),
        Err(TpmError::Rc { rc, .. }) if is_absent_handle(rc) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `TPM2_CreatePrimary` of the SRK in the owner hierarchy: the transient handle.
fn create_srk(t: &mut dyn Transport) -> Result<u32, TpmError> {
    // TPMT_PUBLIC: ECC, SHA-256 name, the SRK attributes, no policy, AES-128-CFB, no scheme,
    // NIST P-256, no KDF, an empty unique point.
    let public = Command(Vec::new())
        .u16(TPM_ALG_ECC)
        .u16(TPM_ALG_SHA256)
        .u32(SRK_ATTRIBUTES)
        .u16(0)
        .u16(TPM_ALG_AES)
        .u16(128)
        .u16(TPM_ALG_CFB)
        .u16(TPM_ALG_NULL)
        .u16(TPM_ECC_NIST_P256)
        .u16(TPM_ALG_NULL)
        .u16(0)
        .u16(0)
        .0;
    let cmd = Command::new(TPM_ST_SESSIONS, TPM_CC_CREATE_PRIMARY)
        .u32(TPM_RH_OWNER)
        .password_session()
        // TPM2B_SENSITIVE_CREATE: an empty userAuth and data.
        .u16(4)
        .u16(0)
        .u16(0)
        .u16(public.len() as u16)
        .bytes(&public)
        // outsideInfo, creationPCR: none.
        .u16(0)
        .u32(0)
        .finish();
    let r = run(t, "TPM2_CreatePrimary", cmd)?;
    let handle = r.get(10..14).ok_or(TpmError::Malformed {
        command: "TPM2_CreatePrimary",
        why: "no object handle".into(),
    })?;
    Ok(u32::from_be_bytes([
        handle[0], handle[1], handle[2], handle[3],
    ]))
}

/// Ensures an SRK is persisted at [`SRK_HANDLE`]: true when this call created it.
pub fn ensure_srk(t: &mut dyn Transport) -> Result<bool, TpmError> {
    if present(t, SRK_HANDLE)? {
        return Ok(false);
    }
    let transient = create_srk(t)?;
    let evict = Command::new(TPM_ST_SESSIONS, TPM_CC_EVICT_CONTROL)
        .u32(TPM_RH_OWNER)
        .u32(transient)
        .password_session()
        .u32(SRK_HANDLE)
        .finish();
    let persisted = run(t, "TPM2_EvictControl", evict);
    // The transient copy goes whether or not persisting worked (the TPM has few slots).
    let flush = Command::new(TPM_ST_NO_SESSIONS, TPM_CC_FLUSH_CONTEXT)
        .u32(transient)
        .finish();
    let flushed = run(t, "TPM2_FlushContext", flush);
    persisted?;
    flushed?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_absent_handle_codes_are_recognised() {
        // TPM_RC_HANDLE for handle 1 (0x18b), parameter-free format 1; not TPM_RC_VALUE.
        assert!(is_absent_handle(0x18b));
        assert!(is_absent_handle(0x08b));
        assert!(!is_absent_handle(0x084));
        assert!(!is_absent_handle(0x0b));
    }
}
