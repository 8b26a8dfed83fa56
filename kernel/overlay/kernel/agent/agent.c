// SPDX-License-Identifier: GPL-2.0-only
/*
 * Coconut OS agent subsystem: system call entry points and the struct-copy helper (C glue
 * only).
 *
 * Every SYSCALL_DEFINE hands its arguments unchanged to the Rust core (agent_core.rs), which
 * runs the checks of docs/abi.md in their documented order and calls back into the helper
 * below when the order reaches a size-versioned struct (copy_struct_from_user() is inline C;
 * plain byte copies use the kernel crate's UserSlice). The layouts of the uapi structs are
 * asserted here against the sizes the Rust ABI crate defines; the syscall numbers live in the
 * syscall table only (a host test checks it against coconut-abi).
 */

#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/init.h>
#include <linux/mutex.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/syscalls.h>
#include <linux/uaccess.h>
#include <uapi/linux/coconut_agent.h>

#include "agent.h"

static_assert(sizeof(struct agent_spawn_args) == AGENT_SPAWN_ARGS_SIZE_VER0);
static_assert(sizeof(struct agent_budget) == AGENT_BUDGET_SIZE_VER0);
static_assert(sizeof(struct agent_audit_filter) == AGENT_AUDIT_FILTER_SIZE_VER0);
static_assert(sizeof(struct agent_mem_request) == AGENT_MEM_REQUEST_SIZE_VER0);

/*
 * The agent tree's one lock (docs/abi.md, "Design review resolutions", P1-9): spawn-link,
 * grant, revoke, quota, state changes and capability reads all run under it.
 */
static DEFINE_MUTEX(agent_tree_lock);

void coconut_agent_tree_lock(void)
{
	mutex_lock(&agent_tree_lock);
}

void coconut_agent_tree_unlock(void)
{
	mutex_unlock(&agent_tree_lock);
}

u64 coconut_agent_now_ns(void)
{
	return ktime_get_real_ns();
}

/* The calling task's agent, from its credential (security/coconut); a:00000 without it. */
u64 coconut_agent_current_aid(void)
{
#ifdef CONFIG_SECURITY_COCONUT
	return coconut_lsm_current_aid();
#else
	return 0;
#endif
}

/* agent_spawn's pidfd: checks the task and (aid != 0) makes it join aid at its next exec. */
int coconut_agent_pidfd_join(int pidfd, u64 caller, u64 aid)
{
#ifdef CONFIG_SECURITY_COCONUT
	return coconut_lsm_pidfd_join(pidfd, caller, aid);
#else
	return -EOPNOTSUPP;
#endif
}

void coconut_agent_kill_members(u64 aid)
{
#ifdef CONFIG_SECURITY_COCONUT
	coconut_lsm_kill_members(aid);
#endif
}

bool coconut_agent_capable(int cap)
{
	return capable(cap);
}

int coconut_agent_copy_out(unsigned long udst, const void *src, size_t len)
{
	return copy_to_user((void __user *)udst, src, len) ? -EFAULT : 0;
}

int coconut_agent_clear_out(unsigned long udst, size_t len)
{
	return clear_user((void __user *)udst, len) ? -EFAULT : 0;
}

const u8 *coconut_agent_root_keys(size_t *len)
{
	static const char keys[] = CONFIG_COCONUT_AGENT_ROOT_KEYS;

	*len = strlen(keys);
	return (const u8 *)keys;
}

int coconut_agent_copy_struct(void *dst, size_t ksize, unsigned long usrc, size_t usize)
{
	return copy_struct_from_user(dst, ksize, (const void __user *)usrc, usize);
}

SYSCALL_DEFINE2(agent_spawn, const struct agent_spawn_args __user *, args, size_t, size)
{
	return coconut_agent_spawn((unsigned long)args, size);
}

SYSCALL_DEFINE4(agent_attest, u64, aid, void __user *, buf, size_t, size, unsigned int, flags)
{
	return coconut_agent_attest(aid, (unsigned long)buf, size, flags);
}

SYSCALL_DEFINE5(agent_quota, u64, aid, unsigned int, kind, struct agent_budget __user *, budget,
		size_t, size, unsigned int, flags)
{
	return coconut_agent_quota(aid, kind, (unsigned long)budget, size, flags);
}

SYSCALL_DEFINE5(agent_cap_grant, u64, aid, u32, cap, const char __user *, scope, size_t, scope_len,
		unsigned int, flags)
{
	return coconut_agent_cap_grant(aid, cap, (unsigned long)scope, scope_len, flags);
}

SYSCALL_DEFINE5(agent_cap_revoke, u64, aid, u32, cap, const char __user *, scope, size_t, scope_len,
		unsigned int, flags)
{
	return coconut_agent_cap_revoke(aid, cap, (unsigned long)scope, scope_len, flags);
}

SYSCALL_DEFINE5(agent_cap_present, u64, aid, u32, cap, const char __user *, scope,
		size_t, scope_len, unsigned int, flags)
{
	return coconut_agent_cap_present(aid, cap, (unsigned long)scope, scope_len, flags);
}

SYSCALL_DEFINE4(agent_audit_query, const struct agent_audit_filter __user *, filter, size_t, fsize,
		void __user *, buf, size_t, bufsize)
{
	return coconut_agent_audit_query((unsigned long)filter, fsize, (unsigned long)buf, bufsize);
}

SYSCALL_DEFINE4(agent_memory_tier, u64, aid, unsigned int, tier,
		const struct agent_mem_request __user *, req, size_t, size)
{
	return coconut_agent_memory_tier(aid, tier, (unsigned long)req, size);
}

static int __init coconut_agent_setup(void)
{
	long err = coconut_agent_init();

	if (err)
		pr_err("coconut_agent: Rust core failed to initialise (%ld)\n", err);
	return err ? (int)err : 0;
}
late_initcall(coconut_agent_setup);
