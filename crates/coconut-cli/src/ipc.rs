//! The client side of coconutd's socket: where it is, connecting, one request per call.
//!
//! Job: resolve the socket (`--socket`, else `$COCONUT_SOCKET`, else
//! `/run/coconut/coconutd.sock`), connect with an error that says what to do, and exchange
//! frames with the schema of `coconutd::proto` (the one definition, shared with the daemon).
//!
//! Constraints: blocking I/O with a read timeout, so a wedged daemon cannot hang the CLI
//! forever; the response's id must be the request's.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coconutd::proto::{self, ErrorReply, Reply, Request};

/// The environment variable naming the socket.
pub const SOCKET_ENV: &str = "COCONUT_SOCKET";

/// How long the CLI waits for an answer (a start waits for the service to be ready).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The socket to use: the flag, the environment, or the default.
pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(proto::DEFAULT_SOCKET))
}

/// Why a call did not produce a reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No daemon to talk to (exit status 2).
    #[error("{0}")]
    Connect(String),
    /// The exchange broke (exit status 2).
    #[error("talking to coconutd at {path}: {msg}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What broke.
        msg: String,
    },
    /// coconutd answered with an error (exit status 1).
    #[error("{}", .0.message)]
    Refused(ErrorReply),
}

impl CallError {
    /// The exit status for this error: 1 refused, 2 no answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            CallError::Refused(_) => 1,
            _ => 2,
        }
    }
}

/// `io::Error`'s text without the trailing ` (os error N)`.
fn plain(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Connects to coconutd at `path`.
pub fn connect(path: &Path) -> Result<UnixStream, CallError> {
    let s = UnixStream::connect(path).map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                format!(
                    "coconutd is not running: connect {}: {}",
                    path.display(),
                    plain(&e)
                )
            }
            io::ErrorKind::PermissionDenied => format!(
                "cannot reach coconutd: connect {}: {} (the socket's directory is not \
                 accessible to this user)",
                path.display(),
                plain(&e)
            ),
            _ => format!(
                "cannot reach coconutd: connect {}: {}",
                path.display(),
                plain(&e)
            ),
        };
        CallError::Connect(format!(
            "{hint}\n  (pass --socket PATH or set {SOCKET_ENV} if it listens elsewhere)"
        ))
    })?;
    s.set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| CallError::Connect(e.to_string()))?;
    Ok(s)
}

/// Sends `req` to the daemon at `path` and returns its reply.
pub fn call(path: &Path, req: Request) -> Result<Reply, CallError> {
    let mut s = connect(path)?;
    let id = u64::from(std::process::id());
    let io_err = |msg: String| CallError::Io {
        path: path.to_path_buf(),
        msg,
    };
    let r = proto::call(&mut s, id, req).map_err(|e| io_err(plain(&e)))?;
    if r.id != Some(id) && r.err.is_none() {
        return Err(io_err(format!(
            "the reply is for request {:?}, not {id}",
            r.id
        )));
    }
    match (r.ok, r.err) {
        (_, Some(e)) => Err(CallError::Refused(e)),
        (Some(ok), None) => Ok(ok),
        (None, None) => Err(io_err("the reply has neither ok nor err".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_default() {
        assert_eq!(
            socket_path(Some(Path::new("/x.sock"))),
            PathBuf::from("/x.sock")
        );
    }

    #[test]
    fn a_missing_socket_says_coconutd_is_not_running() {
        let e = connect(Path::new("/nonexistent/coconutd.sock")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with(
            "coconutd is not running: connect /nonexistent/coconutd.sock: No such file or directory\n"
        ), "{e}");
    }
}
