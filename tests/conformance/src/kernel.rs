//! The real kernel: raw agent syscalls through libcoconut's one raw wrapper.
//!
//! Every [`Mem`] becomes real user memory for the duration of the call: a fresh buffer holding
//! its bytes, NULL, or [`UNMAPPED`]. Run on a kernel without the agent syscalls, every call
//! answers `ENOSYS`.

use libcoconut::sys::raw_syscall;

use super::{Call, Invocation, Mem};

/// A user address that is never mapped: inside the first page, below `vm.mmap_min_addr`.
pub const UNMAPPED: u64 = 8;

/// The running kernel.
#[derive(Debug, Default)]
pub struct Kernel;

/// The user memory of one call: buffers live until the call returns.
struct Frame {
    buffers: Vec<Vec<u8>>,
}

impl Frame {
    fn ptr(&mut self, mem: &Mem) -> u64 {
        match mem {
            Mem::Null => 0,
            Mem::Unmapped => UNMAPPED,
            Mem::Bytes(bytes) => {
                // At least one byte, so an empty buffer is still a real, non-NULL address.
                let mut buf = bytes.clone();
                if buf.is_empty() {
                    buf.push(0);
                }
                let p = buf.as_mut_ptr() as u64;
                self.buffers.push(buf);
                p
            }
        }
    }
}

impl Call for Kernel {
    fn name(&self) -> &'static str {
        "the kernel"
    }

    fn call(&mut self, invocation: &Invocation) -> Result<i64, i32> {
        let mut f = Frame {
            buffers: Vec::new(),
        };
        let u = |n: usize| n as u64;
        let args = match invocation {
            Invocation::Spawn { args, size } => [f.ptr(args), u(*size), 0, 0, 0],
            Invocation::Attest {
                aid,
                buf,
                size,
                flags,
            } => [*aid, f.ptr(buf), u(*size), u64::from(*flags), 0],
            Invocation::Quota {
                aid,
                kind,
                budget,
                size,
                flags,
            } => [
                *aid,
                u64::from(*kind),
                f.ptr(budget),
                u(*size),
                u64::from(*flags),
            ],
            Invocation::Cap {
                aid,
                cap,
                scope,
                scope_len,
                flags,
                ..
            } => [
                *aid,
                u64::from(*cap),
                f.ptr(scope),
                u(*scope_len),
                u64::from(*flags),
            ],
            Invocation::AuditQuery {
                filter,
                fsize,
                buf,
                bufsize,
            } => [f.ptr(filter), u(*fsize), f.ptr(buf), u(*bufsize), 0],
            Invocation::MemoryTier {
                aid,
                tier,
                req,
                size,
            } => [*aid, u64::from(*tier), f.ptr(req), u(*size), 0],
        };
        // SAFETY: every pointer argument is NULL, the never-mapped `UNMAPPED`, or a buffer in
        // `f` that lives until this call returns and is as long as the length passed with it
        // (the models guarantee `Mem::Bytes` is exactly that long); the kernel writes only
        // into output buffers, which are ours alone.
        let result = unsafe { raw_syscall(invocation.syscall(), args) };
        drop(f);
        // Every error of raw_syscall is a syscall error, which has an errno.
        result.map_err(|e| e.errno().unwrap_or(0))
    }
}
