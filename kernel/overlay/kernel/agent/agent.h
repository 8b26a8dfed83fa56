/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Coconut OS agent subsystem: the boundary between the C glue (agent.c) and the Rust core
 * (agent_core.rs).
 *
 * C -> Rust: one entry point per system call. Arguments are passed as the syscall received
 * them; user addresses travel as unsigned long and Rust never dereferences them itself.
 * Each returns a non-negative result or -errno.
 *
 * Rust -> C: the struct-copy helper, because copy_struct_from_user() is inline C and the
 * 6.12 kernel crate has no equivalent. It returns 0 or -errno (-EFAULT, -E2BIG). Plain byte
 * copies use the kernel crate's UserSlice.
 */
#ifndef _KERNEL_AGENT_AGENT_H
#define _KERNEL_AGENT_AGENT_H

#include <linux/types.h>

long coconut_agent_init(void);
long coconut_agent_spawn(unsigned long uargs, size_t size);
long coconut_agent_attest(u64 aid, unsigned long ubuf, size_t size, unsigned int flags);
long coconut_agent_quota(u64 aid, unsigned int kind, unsigned long ubudget, size_t size,
			 unsigned int flags);
long coconut_agent_cap_grant(u64 aid, u32 cap, unsigned long uscope, size_t scope_len,
			     unsigned int flags);
long coconut_agent_cap_revoke(u64 aid, u32 cap, unsigned long uscope, size_t scope_len,
			      unsigned int flags);
long coconut_agent_cap_present(u64 aid, u32 cap, unsigned long uscope, size_t scope_len,
			       unsigned int flags);
long coconut_agent_audit_query(unsigned long ufilter, size_t fsize, unsigned long ubuf,
			       size_t bufsize);
long coconut_agent_memory_tier(u64 aid, unsigned int tier, unsigned long ureq, size_t size);

int coconut_agent_copy_struct(void *dst, size_t ksize, unsigned long usrc, size_t usize);

#endif /* _KERNEL_AGENT_AGENT_H */
