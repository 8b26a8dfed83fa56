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
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/llist.h>
#include <linux/lsm_hooks.h>
#include <linux/mman.h>
#include <linux/net.h>
#include <linux/pid.h>
#include <linux/pidfd.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/sock.h>
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

/*
 * Whether the current task is confined: 1 (its agent in *aid), 0 for a:00000 (nothing is
 * checked), -EACCES for a blank credential.
 */
static int confined(u64 *aid)
{
	*aid = coconut_lsm_current_aid();
	if (*aid == 0)
		return 0;
	if (*aid == COCONUT_AID_BLANK)
		return -EACCES;
	return 1;
}

static int coconut_check_path(const struct path *path, u32 access)
{
	char *buf, *p;
	int err;
	u64 aid;

	err = confined(&aid);
	if (err <= 0)
		return err;
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
	/* open_exec(): the binary and its ELF interpreter (__FMODE_EXEC is in f_flags). */
	if (file->f_flags & __FMODE_EXEC)
		access |= COCONUT_ACCESS_EXEC;
	if (!access)
		return 0;
	return coconut_check_path(&file->f_path, access);
}

static int coconut_bprm_check(struct linux_binprm *bprm)
{
	return coconut_check_path(&bprm->file->f_path, COCONUT_ACCESS_EXEC);
}

/*
 * Executable file mappings need fs.exec on the file, so ld.so, mmap(PROT_EXEC) and
 * mprotect(PROT_EXEC) reach no code an exec could not. Not during an execve: its own mappings
 * (the binary, the interpreter) were checked when they were opened, as the caller's (the
 * exec that joins an agent runs as the spawner until its credentials are committed).
 */
static int coconut_mmap_file(struct file *file, unsigned long reqprot, unsigned long prot,
			     unsigned long flags)
{
	if (!file || !(prot & PROT_EXEC) || current->in_execve)
		return 0;
	return coconut_check_path(&file->f_path, COCONUT_ACCESS_EXEC);
}

static int coconut_file_mprotect(struct vm_area_struct *vma, unsigned long reqprot,
				 unsigned long prot)
{
	if (!vma->vm_file || !(prot & PROT_EXEC) || (vma->vm_flags & VM_EXEC))
		return 0;
	return coconut_check_path(&vma->vm_file->f_path, COCONUT_ACCESS_EXEC);
}

/*
 * The absolute path of `dentry` in directory `dir` (which the VFS holds locked, so the name is
 * stable): the directory's path and the name. Not d_path() of the dentry itself: a dentry
 * being created is not hashed yet and d_path() would call it "(deleted)". NULL if the
 * directory has no path; `buf` is PATH_MAX bytes.
 */
static char *child_path(const struct path *dir, const struct dentry *dentry, char *buf)
{
	const struct qstr *name = &dentry->d_name;
	char *p, *end;

	if (name->len > NAME_MAX)
		return NULL;
	/* d_path() ends its string at buf + buflen - 1; the name goes after it. */
	p = d_path(dir, buf, PATH_MAX - NAME_MAX - 1);
	if (IS_ERR(p))
		return NULL;
	end = buf + (PATH_MAX - NAME_MAX - 1) - 1;
	if (end - p != 1 || p[0] != '/')
		*end++ = '/';
	memcpy(end, name->name, name->len);
	end[name->len] = '\0';
	return p;
}

/* A change to the name `dentry` in `dir` needs fs.write on its path. */
static int coconut_check_name(const struct path *dir, struct dentry *dentry)
{
	char *buf, *p;
	int err;
	u64 aid;

	err = confined(&aid);
	if (err <= 0)
		return err;
	if (dir->dentry->d_sb->s_flags & SB_NOUSER)
		return 0;
	buf = __getname();
	if (!buf)
		return -ENOMEM;
	p = child_path(dir, dentry, buf);
	err = coconut_agent_check_path(aid, COCONUT_ACCESS_WRITE, p, p ? strlen(p) : 0);
	__putname(buf);
	return err;
}

static int coconut_path_mknod(const struct path *dir, struct dentry *dentry, umode_t mode,
			      unsigned int dev)
{
	/* Also O_CREAT: the file is not created before the open is refused. */
	return coconut_check_name(dir, dentry);
}

static int coconut_path_mkdir(const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return coconut_check_name(dir, dentry);
}

static int coconut_path_symlink(const struct path *dir, struct dentry *dentry,
				const char *old_name)
{
	return coconut_check_name(dir, dentry);
}

static int coconut_path_unlink(const struct path *dir, struct dentry *dentry)
{
	return coconut_check_name(dir, dentry);
}

static int coconut_path_rmdir(const struct path *dir, struct dentry *dentry)
{
	return coconut_check_name(dir, dentry);
}

static int coconut_path_truncate(const struct path *path)
{
	return coconut_check_path(path, COCONUT_ACCESS_WRITE);
}

static int coconut_path_chmod(const struct path *path, umode_t mode)
{
	return coconut_check_path(path, COCONUT_ACCESS_WRITE);
}

static int coconut_path_chown(const struct path *path, kuid_t uid, kgid_t gid)
{
	return coconut_check_path(path, COCONUT_ACCESS_WRITE);
}

/* Both names of a rename or link: fs.write on each, and no access gained by the new name. */
static int coconut_check_move(const struct path *old_dir, struct dentry *old_dentry,
			      const struct path *new_dir, struct dentry *new_dentry, bool exchange)
{
	char *old_buf, *new_buf, *old, *new;
	int err;
	u64 aid;

	err = confined(&aid);
	if (err <= 0)
		return err;
	err = -ENOMEM;
	if (new_dir->dentry->d_sb->s_flags & SB_NOUSER)
		return 0;
	old_buf = __getname();
	new_buf = __getname();
	if (old_buf && new_buf) {
		old = child_path(old_dir, old_dentry, old_buf);
		new = child_path(new_dir, new_dentry, new_buf);
		err = coconut_agent_check_move(aid, old, old ? strlen(old) : 0, new,
					       new ? strlen(new) : 0, exchange);
	}
	if (old_buf)
		__putname(old_buf);
	if (new_buf)
		__putname(new_buf);
	return err;
}

static int coconut_path_link(struct dentry *old_dentry, const struct path *new_dir,
			     struct dentry *new_dentry)
{
	/* A hard link stays on its mount: the old name's directory is on new_dir's mount. */
	struct path old_dir = { .mnt = new_dir->mnt, .dentry = old_dentry->d_parent };

	return coconut_check_move(&old_dir, old_dentry, new_dir, new_dentry, false);
}

static int coconut_path_rename(const struct path *old_dir, struct dentry *old_dentry,
			       const struct path *new_dir, struct dentry *new_dentry,
			       unsigned int flags)
{
	return coconut_check_move(old_dir, old_dentry, new_dir, new_dentry,
				  flags & RENAME_EXCHANGE);
}

/*
 * An IP socket address as net.connect/net.bind scopes name it: `10.0.0.1:443`,
 * `[2001:db8::1]:443`. 0 and the length, or 1 when it is not an IP address of `family`
 * (the stack answers for those).
 */
static int ip_scope(int family, const struct sockaddr *addr, int len, bool bind, char *out,
		    size_t size, int *n)
{
	/* inet_bind() takes AF_UNSPEC as AF_INET (for INADDR_ANY), so must we. */
	if (family == AF_INET && len >= (int)sizeof(struct sockaddr_in) &&
	    (addr->sa_family == AF_INET || (bind && addr->sa_family == AF_UNSPEC))) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		*n = snprintf(out, size, "%pI4:%u", &in->sin_addr, ntohs(in->sin_port));
		return 0;
	}
	if (family == AF_INET6 && len >= (int)offsetofend(struct sockaddr_in6, sin6_addr) &&
	    addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

		*n = snprintf(out, size, "[%pI6c]:%u", &in6->sin6_addr, ntohs(in6->sin6_port));
		return 0;
	}
	return 1;
}

static int coconut_check_net(struct socket *sock, struct sockaddr *addr, int len, bool bind)
{
	char scope[64];
	int n, err;
	u64 aid;

	err = confined(&aid);
	if (err <= 0)
		return err;
	if (!sock->sk || ip_scope(sock->sk->sk_family, addr, len, bind, scope, sizeof(scope), &n))
		return 0;
	return coconut_agent_check_net(aid, bind, scope, n);
}

static int coconut_socket_bind(struct socket *sock, struct sockaddr *address, int addrlen)
{
	return coconut_check_net(sock, address, addrlen, true);
}

static int coconut_socket_connect(struct socket *sock, struct sockaddr *address, int addrlen)
{
	return coconut_check_net(sock, address, addrlen, false);
}

/* A datagram (or TCP Fast Open) to an address is a connect to it. */
static int coconut_socket_sendmsg(struct socket *sock, struct msghdr *msg, int size)
{
	if (!msg->msg_name)
		return 0;
	return coconut_check_net(sock, msg->msg_name, msg->msg_namelen, false);
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
	LSM_HOOK_INIT(mmap_file, coconut_mmap_file),
	LSM_HOOK_INIT(file_mprotect, coconut_file_mprotect),
	LSM_HOOK_INIT(path_mknod, coconut_path_mknod),
	LSM_HOOK_INIT(path_mkdir, coconut_path_mkdir),
	LSM_HOOK_INIT(path_symlink, coconut_path_symlink),
	LSM_HOOK_INIT(path_unlink, coconut_path_unlink),
	LSM_HOOK_INIT(path_rmdir, coconut_path_rmdir),
	LSM_HOOK_INIT(path_truncate, coconut_path_truncate),
	LSM_HOOK_INIT(path_chmod, coconut_path_chmod),
	LSM_HOOK_INIT(path_chown, coconut_path_chown),
	LSM_HOOK_INIT(path_link, coconut_path_link),
	LSM_HOOK_INIT(path_rename, coconut_path_rename),
	LSM_HOOK_INIT(socket_bind, coconut_socket_bind),
	LSM_HOOK_INIT(socket_connect, coconut_socket_connect),
	LSM_HOOK_INIT(socket_sendmsg, coconut_socket_sendmsg),
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
