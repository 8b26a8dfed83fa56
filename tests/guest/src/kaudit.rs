//! The benchmarks' anchor: the kernel's own audit (`kernel/audit.c`) at work on the same
//! machine, in the same boot as our chain's figures.
//!
//! What auditd does to the kernel, without auditd's disk: this process registers as the audit
//! daemon over `NETLINK_AUDIT` (`AUDIT_SET`: enabled, our pid, a backlog of 8192 like auditd's
//! usual `-b 8192`, records dropped rather than waited for when it is full), adds one rule (`-a always,exit -F arch=b64 -S openat`), and a thread reads
//! every record the kernel sends (a child process: the daemon's own calls are never audited). An open+close loop is timed without the rule and with it; the
//! `AUDIT_SYSCALL` records read and the kernel's `lost` counter say whether it kept up. The
//! rule and the registration are removed afterwards. (The uapi numbers are from
//! `include/uapi/linux/audit.h`; the libc crate does not carry them.)

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use coconut_qemu::protocol::BenchFigure;

const AUDIT_GET: u16 = 1000;
const AUDIT_SET: u16 = 1001;
const AUDIT_ADD_RULE: u16 = 1011;
const AUDIT_DEL_RULE: u16 = 1012;
const AUDIT_SYSCALL: u16 = 1300;
const AUDIT_STATUS_ENABLED: u32 = 0x1;
const AUDIT_STATUS_PID: u32 = 0x4;
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x10;
const AUDIT_STATUS_BACKLOG_WAIT_TIME: u32 = 0x20;
const AUDIT_FILTER_EXIT: u32 = 0x04;
const AUDIT_ALWAYS: u32 = 2;
const AUDIT_ARCH: u32 = 11;
const AUDIT_EQUAL: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// `struct audit_status`: eleven `__u32`s.
const STATUS_LEN: usize = 11 * 4;
/// `struct audit_rule_data` without its trailing buffer: 3 + 64 + 3 * 64 + 1 `__u32`s.
const RULE_LEN: usize = (3 + 64 + 3 * 64 + 1) * 4;

/// A `NETLINK_AUDIT` socket.
struct Audit {
    fd: OwnedFd,
    seq: u32,
}

impl Audit {
    fn open() -> Result<Audit, String> {
        // SAFETY: plain socket(2) with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_AUDIT,
            )
        };
        if fd < 0 {
            return Err(format!(
                "socket(NETLINK_AUDIT): {} (is CONFIG_AUDIT on?)",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Audit { fd, seq: 0 })
    }

    /// Sends one request and waits for the kernel's acknowledgement (`NLMSG_ERROR` with 0),
    /// skipping records that arrive meanwhile; a reply of type `want` is returned when given.
    fn request(&mut self, kind: u16, payload: &[u8], want: Option<u16>) -> Result<Vec<u8>, String> {
        self.seq += 1;
        let len = 16 + payload.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        // SAFETY: `msg` is a readable buffer of `msg.len()` bytes; the kernel is the default
        // destination of an unbound netlink send.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(format!(
                "netlink send of {kind}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut reply = None;
        let mut acked = false;
        let mut buf = vec![0u8; 16384];
        loop {
            // SAFETY: `buf` is a writable buffer of `buf.len()` bytes.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(format!("netlink recv: {}", std::io::Error::last_os_error()));
            }
            let mut at = 0usize;
            while at + 16 <= n as usize {
                let mlen = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                let mtype = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap());
                if mlen < 16 || at + mlen > n as usize {
                    break;
                }
                let body = &buf[at + 16..at + mlen];
                if mseq == self.seq && Some(mtype) == want {
                    reply = Some(body.to_vec());
                }
                if mseq == self.seq && mtype == NLMSG_ERROR && body.len() >= 4 {
                    let err = i32::from_ne_bytes(body[..4].try_into().unwrap());
                    if err != 0 {
                        return Err(format!("audit request {kind}: errno {}", -err));
                    }
                    acked = true;
                }
                // The kernel acknowledges at once but sends a reply from a kthread: either
                // may come first.
                if acked && (want.is_none() || reply.is_some()) {
                    return Ok(reply.unwrap_or_default());
                }
                at += (mlen + 3) & !3;
            }
        }
    }

    /// `AUDIT_SET` of the masked fields of a status (the others 0; `backlog_wait_time` 0).
    fn set(&mut self, mask: u32, enabled: u32, pid: u32, backlog: u32) -> Result<(), String> {
        let mut st = [0u32; 11];
        st[0] = mask;
        st[1] = enabled;
        st[3] = pid;
        st[5] = backlog;
        st[9] = 0;
        let bytes: Vec<u8> = st.iter().flat_map(|v| v.to_ne_bytes()).collect();
        self.request(AUDIT_SET, &bytes, None).map(drop)
    }

    /// `AUDIT_GET`: the kernel's `lost` counter.
    fn lost(&mut self) -> Result<u32, String> {
        let st = self.request(AUDIT_GET, &[], Some(AUDIT_GET))?;
        if st.len() < STATUS_LEN - 8 {
            return Err(format!("AUDIT_GET answered {} bytes", st.len()));
        }
        Ok(u32::from_ne_bytes(st[24..28].try_into().unwrap()))
    }
}

/// `-a always,exit -F arch=b64 -S openat` as a `struct audit_rule_data`.
fn openat_rule() -> Vec<u8> {
    let mut r = vec![0u32; RULE_LEN / 4];
    r[0] = AUDIT_FILTER_EXIT;
    r[1] = AUDIT_ALWAYS;
    r[2] = 1; // field_count
    let nr = libc::SYS_openat as usize;
    r[3 + nr / 32] |= 1 << (nr % 32);
    r[3 + 64] = AUDIT_ARCH; // fields[0]
    r[3 + 64 + 64] = AUDIT_ARCH_X86_64; // values[0]
    r[3 + 64 + 128] = AUDIT_EQUAL; // fieldflags[0]
    r.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// One open+close of `path` (a tmpfs file): `Ok(0)` or the errno.
fn open_close(path: &std::ffi::CStr) -> Result<i64, i32> {
    // SAFETY: `path` is NUL-terminated; the fd returned is closed right away.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    Ok(0)
}

/// The benchmarks' timer (`bench::measure`): a name, the expected result, its name, the call.
pub type Measure =
    fn(&str, Result<i64, i32>, String, &mut dyn FnMut() -> Result<i64, i32>) -> BenchFigure;

/// What the anchor measured.
pub struct Anchor {
    /// The loop without audit, and with the rule and a reader.
    pub bare: BenchFigure,
    pub audited: BenchFigure,
}

/// Times open+close without audit and with one kernel audit rule and a reader.
///
/// The reader is a child process registered as the audit daemon: the kernel never audits the
/// daemon's own process (`auditd_test_task` in `__audit_syscall_entry`), so the loop runs in
/// this one, in a thread created after audit was enabled (only tasks created after that get
/// an audit context, `audit_alloc`, as every process does on a system whose auditd starts at
/// boot).
pub fn figures(measure: Measure) -> Result<Anchor, String> {
    let path = c"/tmp/coconut-kaudit";
    std::fs::write("/tmp/coconut-kaudit", b"x").map_err(|e| format!("/tmp: {e}"))?;
    let bare = measure("openat_close", Ok(0), "0".into(), &mut || open_close(path));
    let mut ready = [0i32; 2];
    let mut stop = [0i32; 2];
    // SAFETY: pipe2 into valid arrays.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0
        // SAFETY: as above.
        || unsafe { libc::pipe2(stop.as_mut_ptr(), libc::O_CLOEXEC) } != 0
    {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the child runs `daemon` (sockets, pipes, allocation) and `_exit`s; no thread of
    // the runner is running at this point of the benchmarks.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: the child's copies of the parent's pipe ends.
        unsafe {
            libc::close(ready[0]);
            libc::close(stop[1]);
        }
        let code = match daemon(ready[1], stop[0]) {
            Ok(()) => 0,
            Err(e) => {
                let line = format!("E{e}\n");
                // SAFETY: writes a buffer of its own length to our pipe end.
                unsafe { libc::write(ready[1], line.as_ptr().cast(), line.len()) };
                1
            }
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: the parent's copies of the child's ends; then ours are owned here.
    let (ready_rx, stop_tx) = unsafe {
        libc::close(ready[1]);
        libc::close(stop[0]);
        (
            std::fs::File::from(OwnedFd::from_raw_fd(ready[0])),
            std::fs::File::from(OwnedFd::from_raw_fd(stop[1])),
        )
    };
    let mut lines = std::io::BufReader::new(ready_rx);
    let mut line = String::new();
    use std::io::BufRead as _;
    let _ = lines.read_line(&mut line);
    let reap = || {
        let mut status = 0;
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    };
    if line.trim() != "ready" {
        drop(stop_tx);
        reap();
        return Err(format!(
            "the audit reader did not start: {}",
            line.trim().trim_start_matches('E')
        ));
    }
    let audited = std::thread::spawn(move || {
        measure("openat_close_kernel_audit", Ok(0), "0".into(), &mut || {
            open_close(path)
        })
    })
    .join()
    .map_err(|_| "the audited loop panicked".to_string());
    drop(stop_tx);
    line.clear();
    let _ = lines.read_line(&mut line);
    reap();
    let audited = audited?;
    let mut read = None;
    let mut lost = None;
    for word in line.split_whitespace() {
        if let Some(v) = word.strip_prefix("records=") {
            read = v.parse::<u64>().ok();
        } else if let Some(v) = word.strip_prefix("lost=") {
            lost = v.parse::<u32>().ok();
        }
    }
    let (Some(read), Some(lost)) = (read, lost) else {
        return Err(format!(
            "the audit reader's report: {:?}",
            line.trim().trim_start_matches('E')
        ));
    };
    if read == 0 {
        return Err(format!(
            "the rule's open+close loop gave no AUDIT_SYSCALL record (lost {lost}): no figure \
             reported"
        ));
    }
    // One word (the bench protocol's `returns=`): the records read and the kernel's `lost`.
    let audited = BenchFigure {
        returns: format!("0,syscall_records={read}/{},lost={lost}", audited.calls),
        ..audited
    };
    Ok(Anchor { bare, audited })
}

/// The reader child: registers as the audit daemon, adds the rule, says `ready`, counts the
/// `AUDIT_SYSCALL` records that reach it until `stop` closes (then drains for 500 ms), removes
/// rule and registration, and reports `records=<n> lost=<n>` on `ready`.
fn daemon(ready: i32, stop: i32) -> Result<(), String> {
    let mut ctl = Audit::open()?;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    // A full backlog drops (and counts) records instead of holding the caller for
    // auditd's usual 60 s: the loop must end, and `lost` says what it cost.
    ctl.set(
        AUDIT_STATUS_ENABLED
            | AUDIT_STATUS_PID
            | AUDIT_STATUS_BACKLOG_LIMIT
            | AUDIT_STATUS_BACKLOG_WAIT_TIME,
        1,
        pid,
        8192,
    )?;
    let rule = openat_rule();
    ctl.request(AUDIT_ADD_RULE, &rule, None)?;
    let lost_before = ctl.lost()?;
    // SAFETY: writes a constant buffer to our pipe end.
    unsafe { libc::write(ready, b"ready\n".as_ptr().cast(), 6) };
    let mut records = 0u64;
    let mut buf = vec![0u8; 65536];
    let mut stopped: Option<std::time::Instant> = None;
    loop {
        if stopped.is_some_and(|t| t.elapsed() > std::time::Duration::from_millis(500)) {
            break;
        }
        let mut fds = [
            libc::pollfd {
                fd: ctl.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let watched = if stopped.is_some() { 1 } else { 2 };
        // SAFETY: `fds` holds `watched` valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), watched, 100) };
        if watched == 2 && fds[1].revents != 0 {
            stopped = Some(std::time::Instant::now());
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        // SAFETY: `buf` is writable for its length; MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::recv(
                ctl.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        let mut at = 0usize;
        while n > 0 && at + 16 <= n as usize {
            let mlen = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let mtype = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
            if mlen < 16 {
                break;
            }
            if mtype == AUDIT_SYSCALL {
                records += 1;
            }
            at += (mlen + 3) & !3;
        }
    }
    let lost = ctl.lost()?.saturating_sub(lost_before);
    ctl.request(AUDIT_DEL_RULE, &rule, None)?;
    ctl.set(AUDIT_STATUS_ENABLED | AUDIT_STATUS_PID, 0, 0, 0)?;
    let line = format!("records={records} lost={lost}\n");
    // SAFETY: writes a buffer of its own length to our pipe end.
    unsafe { libc::write(ready, line.as_ptr().cast(), line.len()) };
    Ok(())
}
