// SPDX-License-Identifier: GPL-2.0-only
/*
 * The coconut LSM: the hook table of Coconut OS agent confinement (docs/abi.md, "Design review
 * resolutions"; docs/ARCHITECTURE.md, "The coconut LSM"). C glue only: the blobs, the hook
 * registrations, the context each hook runs in. Every decision is Rust's (kernel/agent/core/
 * lsm.rs, in the agent subsystem's object, which owns the agent tree), except the pure
 * "same agent?" comparisons of hooks that run in atomic context, which compare two AIDs.
 *
 * Blobs:
 *  - cred: the task's AID. Copied by cred_prepare (fork, setuid, ...), so children and exec'd
 *    programs stay in their agent; a blank credential (keyctl_session_to_parent) carries
 *    COCONUT_AID_BLANK until cred_transfer fills it, and every hook refuses a blank one.
 *  - task: the agent the task joins at its next execve (agent_spawn with a pidfd), and the
 *    membership node whose exit is counted (task_free may run in RCU callback context, so the
 *    exit goes to a workqueue through a lock-free list; the node is allocated at fork or at
 *    agent_spawn, never in task_free).
 */

#include <linux/binfmts.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/llist.h>
#include <linux/lsm_hooks.h>
#include <linux/pid.h>
#include <linux/pidfd.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <uapi/linux/lsm.h>

#include "../../kernel/agent/agent.h"

#define COCONUT_AID_BLANK U64_MAX
#define COCONUT_NO_PENDING U64_MAX

struct coconut_cred {
	u64 aid;
};

struct coconut_member {
	struct llist_node node;
	u64 aid;
};

struct coconut_task {
	u64 pending;			/* the agent to join at the next execve */
	struct coconut_member *pending_member;
	struct coconut_member *member;	/* this task's membership, NULL in a:00000 */
};

static struct lsm_blob_sizes coconut_blob_sizes __ro_after_init = {
	.lbs_cred = sizeof(struct coconut_cred),
	.lbs_task = sizeof(struct coconut_task),
};

static struct coconut_cred *coconut_cred(const struct cred *cred)
{
	return cred->security + coconut_blob_sizes.lbs_cred;
}

static struct coconut_task *coconut_task(const struct task_struct *task)
{
	return task->security + coconut_blob_sizes.lbs_task;
}

static bool coconut_ready __ro_after_init;

u64 coconut_lsm_current_aid(void)
{
	if (!coconut_ready)
		return 0;
	return coconut_cred(current_cred())->aid;
}

static u64 task_aid(const struct task_struct *task)
{
	u64 aid;

	rcu_read_lock();
	aid = coconut_cred(__task_cred(task))->aid;
	rcu_read_unlock();
	return aid;
}

/* ---- credentials ---------------------------------------------------------------------- */

static int coconut_cred_alloc_blank(struct cred *cred, gfp_t gfp)
{
	coconut_cred(cred)->aid = COCONUT_AID_BLANK;
	return 0;
}

static int coconut_cred_prepare(struct cred *new, const struct cred *old, gfp_t gfp)
{
	coconut_cred(new)->aid = coconut_cred(old)->aid;
	return 0;
}

static void coconut_cred_transfer(struct cred *new, const struct cred *old)
{
	coconut_cred(new)->aid = coconut_cred(old)->aid;
}

/* ---- membership: fork, exit, join at exec --------------------------------------------- */

static LLIST_HEAD(exited);

static void exits_work_fn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&exited);
	struct coconut_member *m, *next;

	llist_for_each_entry_safe(m, next, list, node) {
		coconut_agent_member_exited(m->aid);
		kfree(m);
	}
}

static DECLARE_WORK(exits_work, exits_work_fn);

static int coconut_task_alloc(struct task_struct *task, unsigned long clone_flags)
{
	struct coconut_task *t = coconut_task(task);
	u64 aid = task_aid(task);
	struct coconut_member *m;
	int err;

	t->pending = COCONUT_NO_PENDING;
	t->pending_member = NULL;
	t->member = NULL;
	if (aid == 0)
		return 0;
	if (aid == COCONUT_AID_BLANK)
		return -EPERM;
	m = kmalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->aid = aid;
	err = coconut_agent_member_forked(aid);
	if (err) {
		kfree(m);
		return err;
	}
	t->member = m;
	return 0;
}

static void coconut_task_free(struct task_struct *task)
{
	struct coconut_task *t = coconut_task(task);

	kfree(t->pending_member);
	t->pending_member = NULL;
	if (t->member) {
		llist_add(&t->member->node, &exited);
		t->member = NULL;
		schedule_work(&exits_work);
	}
}

/*
 * agent_spawn with a pidfd: checks the task (rows 19-21 of agent_spawn's errors) and, with
 * aid != 0, records the agent it joins at its next execve. 0 or -errno.
 */
int coconut_lsm_pidfd_join(int pidfd, u64 caller, u64 aid)
{
	struct coconut_member *m = NULL;
	struct task_struct *task;
	struct coconut_task *t;
	unsigned int flags;
	int err = 0;

	if (!coconut_ready)
		return -EOPNOTSUPP;
	task = pidfd_get_task(pidfd, &flags);
	if (IS_ERR(task))
		return PTR_ERR(task) == -ESRCH ? -ESRCH : -EBADF;
	if (flags & PIDFD_THREAD) {
		err = -EINVAL;
		goto out;
	}
	if (aid) {
		m = kmalloc(sizeof(*m), GFP_KERNEL);
		if (!m) {
			err = -ENOMEM;
			goto out;
		}
		m->aid = aid;
	}
	task_lock(task);
	if (task->flags & PF_EXITING) {
		err = -ESRCH;
	} else if (!task->real_parent || !same_thread_group(task->real_parent, current) ||
		   task_aid(task) != caller || get_nr_threads(task) != 1) {
		err = -EINVAL;
	} else if (aid) {
		t = coconut_task(task);
		if (t->pending != COCONUT_NO_PENDING) {
			err = -EINVAL;
		} else {
			t->pending = aid;
			t->pending_member = m;
			m = NULL;
		}
	}
	task_unlock(task);
out:
	kfree(m);
	put_task_struct(task);
	return err;
}

/*
 * After de_thread() (the exec is past its point of no return and the task has one thread):
 * the pending agent becomes the new credential's, so no other thread can carry it.
 */
static void coconut_bprm_committing_creds(const struct linux_binprm *bprm)
{
	struct coconut_task *t = coconut_task(current);
	u64 old = coconut_cred(current_cred())->aid;
	u64 aid = t->pending;

	if (aid == COCONUT_NO_PENDING)
		return;
	task_lock(current);
	t->pending = COCONUT_NO_PENDING;
	task_unlock(current);
	coconut_cred(bprm->cred)->aid = aid;
	if (t->member) {
		coconut_agent_member_exited(old);
		kfree(t->member);
	}
	t->member = t->pending_member;
	t->pending_member = NULL;
	if (coconut_agent_member_joined(aid))
		force_sig(SIGKILL);
}

/* ---- enforcement --------------------------------------------------------------------- */

static int coconut_check_path(const struct path *path, u32 access)
{
	u64 aid = coconut_lsm_current_aid();
	char *buf, *p;
	int err;

	if (aid == 0)
		return 0;
	if (aid == COCONUT_AID_BLANK)
		return -EACCES;
	/*
	 * Files of internal filesystems (pidfds, pipes, sockets, anonymous inodes: SB_NOUSER)
	 * and private inodes have no path an fs.* capability could name; opening them is the
	 * business of the call that makes them (pidfd_open, pipe2, socket), as in Landlock.
	 */
	if ((path->dentry->d_sb->s_flags & SB_NOUSER) ||
	    (d_is_positive(path->dentry) && IS_PRIVATE(d_backing_inode(path->dentry))))
		return 0;
	buf = __getname();
	if (!buf)
		return -ENOMEM;
	p = d_path(path, buf, PATH_MAX);
	if (IS_ERR(p))
		err = coconut_agent_check_path(aid, access, NULL, 0);
	else
		err = coconut_agent_check_path(aid, access, p, strlen(p));
	__putname(buf);
	return err;
}

static int coconut_file_open(struct file *file)
{
	u32 access = 0;

	if (file->f_mode & FMODE_READ)
		access |= COCONUT_ACCESS_READ;
	if (file->f_mode & FMODE_WRITE)
		access |= COCONUT_ACCESS_WRITE;
	if (!access)
		return 0;
	return coconut_check_path(&file->f_path, access);
}

static int coconut_bprm_check(struct linux_binprm *bprm)
{
	return coconut_check_path(&bprm->file->f_path, COCONUT_ACCESS_EXEC);
}

static int coconut_capable(const struct cred *cred, struct user_namespace *ns, int cap,
			   unsigned int opts)
{
	u64 aid = coconut_cred(cred)->aid;

	if (aid == 0)
		return 0;
	if (aid == COCONUT_AID_BLANK)
		return -EPERM;
	return coconut_agent_kernel_cap_allowed(cap) ? 0 : -EPERM;
}

/* Tasks of different agents cannot trace each other; a:00000 may trace agents (root's debug). */
static int across_agents(u64 actor, u64 target)
{
	if (actor == 0 || actor == target)
		return 0;
	return -EPERM;
}

static int coconut_ptrace_access_check(struct task_struct *child, unsigned int mode)
{
	return across_agents(coconut_lsm_current_aid(), task_aid(child));
}

static int coconut_ptrace_traceme(struct task_struct *parent)
{
	return across_agents(task_aid(parent), coconut_lsm_current_aid());
}

static int coconut_task_kill(struct task_struct *p, struct kernel_siginfo *info, int sig,
			     const struct cred *cred)
{
	u64 actor = cred ? coconut_cred(cred)->aid : coconut_lsm_current_aid();

	/* Kernel-generated signals (SIGKILL of a revocation, SIGCHLD, ...) are not mediated. */
	if (info == SEND_SIG_PRIV || (info != SEND_SIG_NOINFO && SI_FROMKERNEL(info)))
		return 0;
	return across_agents(actor, task_aid(p));
}

/* Agents cannot change what paths mean: mounts, pivot_root, chroot, new user namespaces. */
static int agents_may_not(void)
{
	return coconut_lsm_current_aid() == 0 ? 0 : -EPERM;
}

static int coconut_sb_mount(const char *dev_name, const struct path *path, const char *type,
			    unsigned long flags, void *data)
{
	return agents_may_not();
}

static int coconut_move_mount(const struct path *from, const struct path *to)
{
	return agents_may_not();
}

static int coconut_sb_pivotroot(const struct path *old_path, const struct path *new_path)
{
	return agents_may_not();
}

static int coconut_path_chroot(const struct path *path)
{
	return agents_may_not();
}

static int coconut_userns_create(const struct cred *cred)
{
	return coconut_cred(cred)->aid == 0 ? 0 : -EPERM;
}

/* ---- revocation ---------------------------------------------------------------------- */

/* SIGKILL to every task of agent aid (agent_cap_revoke(AGENT_REVOKE_ALL)). */
void coconut_lsm_kill_members(u64 aid)
{
	struct task_struct *g, *t;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (task_aid(t) == aid)
			send_sig(SIGKILL, t, 1);
	}
	rcu_read_unlock();
}

static const struct lsm_id coconut_lsmid = {
	.name = "coconut",
	.id = LSM_ID_COCONUT,
};

static struct security_hook_list coconut_hooks[] __ro_after_init = {
	LSM_HOOK_INIT(cred_alloc_blank, coconut_cred_alloc_blank),
	LSM_HOOK_INIT(cred_prepare, coconut_cred_prepare),
	LSM_HOOK_INIT(cred_transfer, coconut_cred_transfer),
	LSM_HOOK_INIT(task_alloc, coconut_task_alloc),
	LSM_HOOK_INIT(task_free, coconut_task_free),
	LSM_HOOK_INIT(bprm_committing_creds, coconut_bprm_committing_creds),
	LSM_HOOK_INIT(bprm_check_security, coconut_bprm_check),
	LSM_HOOK_INIT(file_open, coconut_file_open),
	LSM_HOOK_INIT(capable, coconut_capable),
	LSM_HOOK_INIT(ptrace_access_check, coconut_ptrace_access_check),
	LSM_HOOK_INIT(ptrace_traceme, coconut_ptrace_traceme),
	LSM_HOOK_INIT(task_kill, coconut_task_kill),
	LSM_HOOK_INIT(sb_mount, coconut_sb_mount),
	LSM_HOOK_INIT(move_mount, coconut_move_mount),
	LSM_HOOK_INIT(sb_pivotroot, coconut_sb_pivotroot),
	LSM_HOOK_INIT(path_chroot, coconut_path_chroot),
	LSM_HOOK_INIT(userns_create, coconut_userns_create),
};

static int __init coconut_lsm_init(void)
{
	struct coconut_task *t = coconut_task(current);

	/* init_cred's blob is zeroed: AID 0. The init task has no membership. */
	t->pending = COCONUT_NO_PENDING;
	t->pending_member = NULL;
	t->member = NULL;
	security_add_hooks(coconut_hooks, ARRAY_SIZE(coconut_hooks), &coconut_lsmid);
	coconut_ready = true;
	pr_info("coconut: agent confinement active (%zu hooks)\n", ARRAY_SIZE(coconut_hooks));
	return 0;
}

DEFINE_LSM(coconut) = {
	.name = "coconut",
	.init = coconut_lsm_init,
	.blobs = &coconut_blob_sizes,
};
