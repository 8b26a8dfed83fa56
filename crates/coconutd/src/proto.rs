//! The IPC schema, version 1: requests, replies, errors, and the frame codec.
//!
//! Job: one definition of what travels on coconutd's socket, shared by the daemon and the
//! `coconut` CLI. A frame is a big-endian `u32` length and that many bytes of CBOR (ciborium);
//! a request is `{"v": 1, "id": u64, "req": {"op": ...}}` and a response
//! `{"v": 1, "id": u64|null, "ok": {...}}` or `{..., "err": {"code", "message"}}`.
//! `docs/formats/ipc.md` is the specification; the tests below pin its examples.
//!
//! Constraints: decoding never trusts the peer: a frame over [`MAX_FRAME`] is refused before
//! it is read, and a request that is not exactly the schema is an [`ErrorCode::Malformed`]
//! answer, never a panic.

use std::io::{self, Read, Write};

use ciborium::Value;
use serde::{Deserialize, Serialize};

/// The schema version this code speaks.
pub const VERSION: u32 = 1;

/// The largest frame body, in bytes (64 KiB), in both directions.
pub const MAX_FRAME: usize = 64 * 1024;

/// The default socket path.
pub const DEFAULT_SOCKET: &str = "/run/coconut/coconutd.sock";

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The daemon and every service.
    Status,
    /// Every service.
    SvcList,
    /// One service.
    SvcStatus {
        /// The service's name.
        name: String,
    },
    /// Start a service (and what it requires); answered once it is ready or has failed.
    SvcStart {
        /// The service's name.
        name: String,
    },
    /// Stop a service (and what requires it); answered once it has stopped.
    SvcStop {
        /// The service's name.
        name: String,
    },
    /// Stop, then start a service; answered once it is ready again or has failed.
    SvcRestart {
        /// The service's name.
        name: String,
    },
    /// Stop everything and power off (outside PID 1: stop everything and exit 0).
    Poweroff,
    /// Stop everything and reboot (outside PID 1: stop everything and exit 0).
    Reboot,
}

impl Request {
    /// Whether the request changes state (and so needs uid 0 or the daemon's uid).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            Request::Status | Request::SvcList | Request::SvcStatus { .. }
        )
    }
}

/// A request frame's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFrame {
    /// Schema version, [`VERSION`].
    pub v: u32,
    /// Chosen by the client, echoed in the response.
    pub id: u64,
    /// The request.
    pub req: Request,
}

/// The daemon's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// coconutd's version.
    pub version: String,
    /// Its pid.
    pub pid: u32,
    /// Whether it runs as PID 1 (mounts, reboot(2)) or as a plain supervisor.
    pub pid1: bool,
    /// Milliseconds since it started.
    pub uptime_ms: u64,
    /// `running`, or `stopping` once a poweroff or reboot has begun.
    pub state: String,
    /// The profile directory.
    pub profile: String,
    /// What agent_spawn answered for coconutd's services as a whole: `available` or
    /// `unavailable (ERRNO: meaning)`.
    pub agents: String,
    /// The audit persister, when it runs (absent from older daemons and with `--no-audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditStatus>,
}

/// The audit persister's state (`docs/coconutd.md`, "The audit persister").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStatus {
    /// This boot's number.
    pub boot: u64,
    /// The first sequence number of this boot not yet durable on disk.
    pub persisted_seq: u64,
    /// The last value written to `/agent/audit/persisted`, if the kernel took one.
    pub acked: Option<u64>,
    /// The shard being appended to.
    pub shard: Option<String>,
    /// Rows written by this run of coconutd.
    pub rows: u64,
    /// The condition being retried (a full disk, an I/O error, …), if any.
    pub last_error: Option<String>,
    /// Rows the kernel evicted before the persister registered, one text per range.
    pub gaps: Vec<String>,
    /// `chain.log` lines without a sequence number (kept in the shard as read).
    pub malformed_lines: u64,
    /// Whether the seed was loaded (checkpoints), and if not, why.
    pub seed: String,
    /// The line written to `/agent/audit/link`, or why none was.
    pub link: String,
}

/// One service's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The name.
    pub name: String,
    /// `stopped`, `waiting`, `starting`, `running`, `stopping`, `backoff` or `failed`.
    pub state: String,
    /// The main process, while there is one.
    pub pid: Option<u32>,
    /// Its agent: `a:NNNNN`, or `unavailable (ERRNO: meaning)` with the kernel's answer, or
    /// `none` before the first start.
    pub agent: String,
    /// How many times it has been started.
    pub starts: u32,
    /// How many of those starts were automatic restarts.
    pub restarts: u32,
    /// The backoff delay chosen before each automatic restart, in milliseconds, oldest first
    /// (at most the last 32).
    pub restart_delays_ms: Vec<u64>,
    /// How the last process ended: `exited N` or `killed by signal N`.
    pub last_exit: Option<String>,
    /// Why it is failed or not starting, if it is.
    pub reason: Option<String>,
    /// The restart policy.
    pub restart: String,
    /// Services it requires.
    pub requires: Vec<String>,
    /// Services it is ordered after.
    pub after: Vec<String>,
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// To `status`.
    Status {
        /// The daemon.
        daemon: DaemonStatus,
        /// Every service, in start order.
        services: Vec<ServiceStatus>,
    },
    /// To `svc_list`.
    Services {
        /// Every service, in start order.
        services: Vec<ServiceStatus>,
    },
    /// To `svc_status`, `svc_start`, `svc_stop`, `svc_restart`: the service afterwards.
    Service {
        /// The service.
        service: ServiceStatus,
    },
    /// To `poweroff` and `reboot`: shutdown has begun; the connection closes when it is done.
    Accepted {
        /// `poweroff` or `reboot`.
        action: String,
    },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not CBOR, or not a request of this schema.
    Malformed,
    /// `v` is not a version this daemon speaks.
    UnsupportedVersion,
    /// The frame's length is over [`MAX_FRAME`] (or 0); the connection is closed.
    FrameTooLarge,
    /// No service by that name.
    NotFound,
    /// The caller's uid may not make this request.
    PermissionDenied,
    /// The daemon is shutting down.
    ShuttingDown,
    /// The service failed to start (the reply's message says why).
    Failed,
    /// The daemon could not answer (too many clients, an internal error).
    Unavailable,
}

impl ErrorCode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Failed => "failed",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The machine-readable cause.
    pub code: ErrorCode,
    /// What went wrong and what to do, for humans.
    pub message: String,
}

/// A response frame's body: exactly one of `ok` and `err`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// Schema version, [`VERSION`].
    pub v: u32,
    /// The request's id; `null` when the request was too broken to have one.
    pub id: Option<u64>,
    /// The reply, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Reply>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<ErrorReply>,
}

impl ResponseFrame {
    /// A success.
    pub fn ok(id: u64, reply: Reply) -> ResponseFrame {
        ResponseFrame {
            v: VERSION,
            id: Some(id),
            ok: Some(reply),
            err: None,
        }
    }

    /// A failure.
    pub fn err(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> ResponseFrame {
        ResponseFrame {
            v: VERSION,
            id,
            ok: None,
            err: Some(ErrorReply {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Encodes `value` as a frame: length prefix and CBOR.
pub fn encode_frame<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    // Writing into a Vec cannot fail, and the schema's types hold nothing ciborium refuses.
    if ciborium::into_writer(value, &mut out).is_err() {
        out.truncate(4);
    }
    let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Decodes a request frame's body; on failure, the error response to send.
pub fn decode_request(body: &[u8]) -> Result<RequestFrame, Box<ResponseFrame>> {
    let value: Value = ciborium::from_reader(body).map_err(|e| {
        Box::new(ResponseFrame::err(
            None,
            ErrorCode::Malformed,
            format!("the frame is not CBOR: {e}"),
        ))
    })?;
    let Value::Map(entries) = &value else {
        return Err(Box::new(ResponseFrame::err(
            None,
            ErrorCode::Malformed,
            "the request is not a CBOR map {v, id, req}",
        )));
    };
    let field = |k: &str| {
        entries
            .iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v)
    };
    let id = field("id")
        .and_then(|v| v.as_integer())
        .and_then(|i| u64::try_from(i).ok());
    let v = field("v")
        .and_then(|v| v.as_integer())
        .and_then(|i| u32::try_from(i).ok());
    match v {
        Some(VERSION) => {}
        Some(other) => {
            return Err(Box::new(ResponseFrame::err(
                id,
                ErrorCode::UnsupportedVersion,
                format!("schema version {other} is not supported; this coconutd speaks v{VERSION}"),
            )))
        }
        None => {
            return Err(Box::new(ResponseFrame::err(
                id,
                ErrorCode::Malformed,
                "the request has no \"v\" (schema version) unsigned integer",
            )))
        }
    }
    value.deserialized::<RequestFrame>().map_err(|e| {
        Box::new(ResponseFrame::err(
            id,
            ErrorCode::Malformed,
            format!("not a v{VERSION} request: {e}"),
        ))
    })
}

/// Reads one frame (blocking): its CBOR body. Used by clients.
pub fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes (allowed 1..={MAX_FRAME})"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Writes `req` as one frame and reads one response (blocking). Used by clients.
pub fn call(stream: &mut (impl Read + Write), id: u64, req: Request) -> io::Result<ResponseFrame> {
    stream.write_all(&encode_frame(&RequestFrame {
        v: VERSION,
        id,
        req,
    }))?;
    let body = read_frame(stream)?;
    ciborium::from_reader(body.as_slice()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("coconutd's response is not a v{VERSION} response: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn request_wire_form_is_the_documented_one() {
        let f = encode_frame(&RequestFrame {
            v: 1,
            id: 7,
            req: Request::SvcStart { name: "web".into() },
        });
        let body = &f[4..];
        assert_eq!(
            u32::from_be_bytes(f[..4].try_into().unwrap()) as usize,
            body.len()
        );
        let expect = cbor(&Value::Map(vec![
            (t("v"), Value::Integer(1.into())),
            (t("id"), Value::Integer(7.into())),
            (
                t("req"),
                Value::Map(vec![(t("op"), t("svc_start")), (t("name"), t("web"))]),
            ),
        ]));
        assert_eq!(body, expect.as_slice());
        // The bytes of the example in docs/formats/ipc.md.
        let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "00000023a36176016269640763726571a2626f70697376635f7374617274646e616d6563776562"
        );
        assert_eq!(
            decode_request(body).unwrap().req,
            Request::SvcStart { name: "web".into() }
        );
    }

    #[test]
    fn bad_requests_get_the_right_codes() {
        let code = |b: &[u8]| decode_request(b).unwrap_err().err.unwrap().code;
        assert_eq!(code(b"\xff\x00"), ErrorCode::Malformed);
        assert_eq!(code(&cbor(&Value::Integer(3.into()))), ErrorCode::Malformed);
        let v2 = cbor(&Value::Map(vec![
            (t("v"), Value::Integer(2.into())),
            (t("id"), Value::Integer(9.into())),
            (t("req"), Value::Map(vec![(t("op"), t("status"))])),
        ]));
        let e = decode_request(&v2).unwrap_err();
        assert_eq!(
            (e.id, e.err.unwrap().code),
            (Some(9), ErrorCode::UnsupportedVersion)
        );
        let unknown_op = cbor(&Value::Map(vec![
            (t("v"), Value::Integer(1.into())),
            (t("id"), Value::Integer(1.into())),
            (t("req"), Value::Map(vec![(t("op"), t("format_disk"))])),
        ]));
        assert_eq!(code(&unknown_op), ErrorCode::Malformed);
        let extra = cbor(&Value::Map(vec![
            (t("v"), Value::Integer(1.into())),
            (t("id"), Value::Integer(1.into())),
            (t("req"), Value::Map(vec![(t("op"), t("status"))])),
            (t("sudo"), Value::Bool(true)),
        ]));
        assert_eq!(code(&extra), ErrorCode::Malformed);
    }

    #[test]
    fn response_round_trips_and_has_one_of_ok_err() {
        let r = ResponseFrame::err(Some(3), ErrorCode::NotFound, "no service \"x\"");
        let f = encode_frame(&r);
        let back: ResponseFrame = ciborium::from_reader(&f[4..]).unwrap();
        assert_eq!(back, r);
        let v: Value = ciborium::from_reader(&f[4..]).unwrap();
        let keys: Vec<_> = v
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_string())
            .collect();
        assert_eq!(keys, vec!["v", "id", "err"]);
    }

    #[test]
    fn mutating_requests_are_the_documented_ones() {
        assert!(!Request::Status.is_mutating());
        assert!(!Request::SvcList.is_mutating());
        assert!(!Request::SvcStatus { name: "a".into() }.is_mutating());
        assert!(Request::SvcStop { name: "a".into() }.is_mutating());
        assert!(Request::Poweroff.is_mutating());
    }
}
