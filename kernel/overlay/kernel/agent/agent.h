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
void coconut_agent_tree_lock(void);
void coconut_agent_tree_unlock(void);
u64 coconut_agent_now_ns(void);
u64 coconut_agent_current_aid(void);
bool coconut_agent_capable(int cap);
const u8 *coconut_agent_root_keys(size_t *len);
int coconut_agent_copy_out(unsigned long udst, const void *src, size_t len);
int coconut_agent_clear_out(unsigned long udst, size_t len);

/* The coconut LSM (security/coconut/lsm.c) and the Rust decisions it asks for. */
#define COCONUT_ACCESS_READ 1
#define COCONUT_ACCESS_WRITE 2
#define COCONUT_ACCESS_EXEC 4
u64 coconut_lsm_current_aid(void);
int coconut_lsm_pidfd_join(int pidfd, u64 caller, u64 aid);
void coconut_lsm_kill_members(u64 aid);
int coconut_agent_pidfd_join(int pidfd, u64 caller, u64 aid);
void coconut_agent_kill_members(u64 aid);
int coconut_agent_member_forked(u64 aid);
void coconut_agent_member_exited(u64 aid);
int coconut_agent_member_joined(u64 aid);
int coconut_agent_check_path(u64 aid, u32 access, const char *path, size_t len);
int coconut_agent_check_move(u64 aid, const char *old, size_t old_len, const char *new,
			     size_t new_len, bool exchange);
int coconut_agent_check_net(u64 aid, bool bind, const char *addr, size_t len);
bool coconut_agent_kernel_cap_allowed(int cap);

/* agentfs (agentfs.c), called by Rust outside the tree lock. */
int coconut_agentfs_agent_added(u64 aid);
void coconut_agentfs_agent_ended(u64 aid);
void coconut_agentfs_agent_evicted(u64 aid);

/* Rust, called by agentfs. */
ssize_t coconut_agent_render(u64 aid, u32 what, u8 *buf, size_t len);
int coconut_agent_write_signers(const u8 *buf, size_t len);

#endif /* _KERNEL_AGENT_AGENT_H */
