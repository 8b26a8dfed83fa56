// SPDX-License-Identifier: GPL-2.0-only
/*
 * agentfs: the /agent inspector tree (docs/formats/agentfs.md). C glue only: a single-instance
 * pseudo filesystem whose files are rendered by the subsystems that own them.
 *
 *   audit/{chain.log,head,stats,link,persisted,key,checkpoint,seed,seal} kernel/audit/coconut
 *   a:NNNNN/{status,manifest,caps,budget/<kind>}    the agent tree (agent_core.rs)
 *   live/a:NNNNN -> ../a:NNNNN                      every agent in a non-terminal state
 *   graveyard/a:NNNNN -> ../a:NNNNN                 terminated agents still kept
 *   policy/signers                                  a:00000's root keys (CAP_SYS_ADMIN writes)
 *
 * The superblock is created at boot by an internal mount, so agent directories exist before
 * anyone mounts /agent; every mount shares it. Directories are created and removed as the
 * tree changes, always outside the tree lock; an open file keeps the snapshot it rendered at
 * open, and opening a file of an evicted agent fails with ENOENT.
 */

#include <linux/capability.h>
#include <linux/coconut_audit.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/init.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "agent.h"

/* "agen" */
#define AGENTFS_MAGIC 0x6167656e

/* What coconut_agent_render() renders (agent_core.rs, RENDER_*). */
#define RENDER_STATUS 0
#define RENDER_MANIFEST 1
#define RENDER_CAPS 2
#define RENDER_SIGNERS 3
#define RENDER_BUDGET 10

/* The largest rendered file: a 16 KiB manifest, or 64 capabilities with 256-byte scopes. */
#define RENDER_MAX (20 * 1024)

static struct vfsmount *agentfs_mnt;
static struct dentry *live_dir, *graveyard_dir;

/* A file's i_private: (aid << 8) | what. agentfs serves AIDs below 2^56. */
static void *file_key(u64 aid, u32 what)
{
	return (void *)(uintptr_t)((aid << 8) | what);
}

struct rendered {
	size_t len;
	u8 buf[];
};

static int agent_file_open(struct inode *inode, struct file *file)
{
	u64 key = (u64)(uintptr_t)inode->i_private;
	struct rendered *r;
	ssize_t n;

	r = kvmalloc(sizeof(*r) + RENDER_MAX, GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	n = coconut_agent_render(key >> 8, key & 0xff, r->buf, RENDER_MAX);
	if (n < 0) {
		kvfree(r);
		return n;
	}
	r->len = n;
	file->private_data = r;
	return 0;
}

static ssize_t agent_file_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct rendered *r = file->private_data;

	return simple_read_from_buffer(buf, count, ppos, r->buf, r->len);
}

static int agent_file_release(struct inode *inode, struct file *file)
{
	kvfree(file->private_data);
	return 0;
}

static const struct file_operations agent_file_fops = {
	.open = agent_file_open,
	.read = agent_file_read,
	.release = agent_file_release,
	.llseek = default_llseek,
};

static ssize_t signers_write(struct file *file, const char __user *ubuf, size_t count,
			     loff_t *ppos)
{
	char *buf;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (*ppos != 0 || count == 0 || count > PAGE_SIZE)
		return -EINVAL;
	buf = memdup_user(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	err = coconut_agent_write_signers(buf, count);
	kfree(buf);
	return err ? err : count;
}

static const struct file_operations signers_fops = {
	.open = agent_file_open,
	.read = agent_file_read,
	.write = signers_write,
	.release = agent_file_release,
	.llseek = default_llseek,
};

/*
 * Creates name under parent: a directory, a file with fops, or (link != NULL) a symlink. The
 * new dentry is pinned (one extra reference, dropped by simple_recursive_removal()).
 */
static struct dentry *agentfs_create(struct dentry *parent, const char *name, umode_t mode,
				     const struct file_operations *fops, void *priv,
				     const char *link)
{
	struct dentry *dentry;
	struct inode *inode;

	inode_lock(d_inode(parent));
	dentry = lookup_one_len(name, parent, strlen(name));
	if (IS_ERR(dentry))
		goto out;
	if (d_really_is_positive(dentry)) {
		dput(dentry);
		dentry = ERR_PTR(-EEXIST);
		goto out;
	}
	inode = new_inode(parent->d_sb);
	if (!inode) {
		dput(dentry);
		dentry = ERR_PTR(-ENOMEM);
		goto out;
	}
	inode->i_ino = get_next_ino();
	inode->i_mode = mode;
	inode->i_private = priv;
	simple_inode_init_ts(inode);
	if (S_ISDIR(mode)) {
		inode->i_op = &simple_dir_inode_operations;
		inode->i_fop = &simple_dir_operations;
		inc_nlink(inode);
		inc_nlink(d_inode(parent));
	} else if (S_ISLNK(mode)) {
		inode->i_link = kstrdup(link, GFP_KERNEL);
		if (!inode->i_link) {
			iput(inode);
			dput(dentry);
			dentry = ERR_PTR(-ENOMEM);
			goto out;
		}
		inode->i_op = &simple_symlink_inode_operations;
	} else {
		inode->i_fop = fops;
	}
	d_instantiate(dentry, inode);
	dget(dentry);
out:
	inode_unlock(d_inode(parent));
	return dentry;
}

/* Creates and drops the caller's reference (the pin stays); 0 or -errno. */
static int agentfs_add(struct dentry *parent, const char *name, umode_t mode,
		       const struct file_operations *fops, void *priv, const char *link)
{
	struct dentry *d = agentfs_create(parent, name, mode, fops, priv, link);

	if (IS_ERR(d))
		return PTR_ERR(d);
	dput(d);
	return 0;
}

/* Removes name under parent and everything below it, if it exists. */
static void agentfs_remove(struct dentry *parent, const char *name)
{
	struct dentry *d = lookup_one_len_unlocked(name, parent, strlen(name));

	if (IS_ERR(d))
		return;
	if (d_really_is_positive(d))
		simple_recursive_removal(d, NULL);
	dput(d);
}

static const char *const budget_names[] = { "cpu", "ram", "hbm", "net", "inference_tokens" };

static int agent_dir_fill(struct dentry *dir, u64 aid)
{
	struct dentry *budget;
	int err, i;

	err = agentfs_add(dir, "status", S_IFREG | 0444, &agent_file_fops,
			  file_key(aid, RENDER_STATUS), NULL);
	if (!err)
		err = agentfs_add(dir, "manifest", S_IFREG | 0400, &agent_file_fops,
				  file_key(aid, RENDER_MANIFEST), NULL);
	if (!err)
		err = agentfs_add(dir, "caps", S_IFREG | 0444, &agent_file_fops,
				  file_key(aid, RENDER_CAPS), NULL);
	if (err)
		return err;
	budget = agentfs_create(dir, "budget", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(budget))
		return PTR_ERR(budget);
	for (i = 0; i < ARRAY_SIZE(budget_names) && !err; i++)
		err = agentfs_add(budget, budget_names[i], S_IFREG | 0444, &agent_file_fops,
				  file_key(aid, RENDER_BUDGET + 1 + i), NULL);
	dput(budget);
	return err;
}

/* /agent/a:NNNNN/ and live/a:NNNNN for a new agent; 0 or -errno (nothing left behind). */
int coconut_agentfs_agent_added(u64 aid)
{
	struct dentry *root, *dir;
	char name[32], link[40];
	int err;

	if (!agentfs_mnt)
		return -ENODEV;
	root = agentfs_mnt->mnt_root;
	snprintf(name, sizeof(name), "a:%05llu", aid);
	snprintf(link, sizeof(link), "../%s", name);
	dir = agentfs_create(root, name, S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(dir))
		return PTR_ERR(dir);
	err = agent_dir_fill(dir, aid);
	dput(dir);
	if (!err)
		err = agentfs_add(live_dir, name, S_IFLNK | 0777, NULL, NULL, link);
	if (err) {
		agentfs_remove(root, name);
		agentfs_remove(live_dir, name);
	}
	return err;
}

/* A terminated agent: out of live/, into graveyard/ (its directory stays). */
void coconut_agentfs_agent_ended(u64 aid)
{
	char name[32], link[40];

	if (!agentfs_mnt)
		return;
	snprintf(name, sizeof(name), "a:%05llu", aid);
	snprintf(link, sizeof(link), "../%s", name);
	agentfs_remove(live_dir, name);
	if (agentfs_add(graveyard_dir, name, S_IFLNK | 0777, NULL, NULL, link))
		pr_warn("agentfs: no graveyard entry for %s\n", name);
}

/* An agent evicted from the graveyard: every trace goes. */
void coconut_agentfs_agent_evicted(u64 aid)
{
	char name[32];

	if (!agentfs_mnt)
		return;
	snprintf(name, sizeof(name), "a:%05llu", aid);
	agentfs_remove(graveyard_dir, name);
	agentfs_remove(agentfs_mnt->mnt_root, name);
}

static const struct {
	const char *name;
	umode_t mode;
	const struct file_operations *fops;
} agentfs_audit_files[] = {
	{ "chain.log", S_IFREG | 0440, &coconut_audit_chain_log_fops },
	{ "head", S_IFREG | 0444, &coconut_audit_head_fops },
	{ "stats", S_IFREG | 0444, &coconut_audit_stats_fops },
	{ "link", S_IFREG | 0200, &coconut_audit_link_fops },
	{ "persisted", S_IFREG | 0200, &coconut_audit_persisted_fops },
	{ "key", S_IFREG | 0444, &coconut_audit_key_fops },
	{ "checkpoint", S_IFREG | 0444, &coconut_audit_checkpoint_fops },
	{ "seed", S_IFREG | 0200, &coconut_audit_seed_fops },
	{ "seal", S_IFREG | 0200, &coconut_audit_seal_fops },
};

static void agentfs_free_inode(struct inode *inode)
{
	if (S_ISLNK(inode->i_mode))
		kfree(inode->i_link);
	free_inode_nonrcu(inode);
}

static const struct super_operations agentfs_super_ops = {
	.statfs = simple_statfs,
	.drop_inode = generic_delete_inode,
	.free_inode = agentfs_free_inode,
};

static int agentfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr none[] = { { "" } };
	struct dentry *root, *audit, *policy, *dir;
	size_t i;
	int err;

	err = simple_fill_super(sb, AGENTFS_MAGIC, none);
	if (err)
		return err;
	sb->s_op = &agentfs_super_ops;
	root = sb->s_root;
	audit = agentfs_create(root, "audit", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(audit))
		return PTR_ERR(audit);
	for (i = 0; i < ARRAY_SIZE(agentfs_audit_files) && !err; i++)
		err = agentfs_add(audit, agentfs_audit_files[i].name, agentfs_audit_files[i].mode,
				  agentfs_audit_files[i].fops, NULL, NULL);
	dput(audit);
	if (err)
		return err;
	policy = agentfs_create(root, "policy", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(policy))
		return PTR_ERR(policy);
	err = agentfs_add(policy, "signers", S_IFREG | 0600, &signers_fops,
			  file_key(0, RENDER_SIGNERS), NULL);
	dput(policy);
	if (err)
		return err;
	live_dir = agentfs_create(root, "live", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(live_dir))
		return PTR_ERR(live_dir);
	dput(live_dir);
	graveyard_dir = agentfs_create(root, "graveyard", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(graveyard_dir))
		return PTR_ERR(graveyard_dir);
	dput(graveyard_dir);
	/* a:00000, Active from boot to power-off. */
	dir = agentfs_create(root, "a:00000", S_IFDIR | 0555, NULL, NULL, NULL);
	if (IS_ERR(dir))
		return PTR_ERR(dir);
	err = agent_dir_fill(dir, 0);
	dput(dir);
	if (!err)
		err = agentfs_add(live_dir, "a:00000", S_IFLNK | 0777, NULL, NULL, "../a:00000");
	return err;
}

static int agentfs_get_tree(struct fs_context *fc)
{
	return get_tree_single(fc, agentfs_fill_super);
}

static const struct fs_context_operations agentfs_context_ops = {
	.get_tree = agentfs_get_tree,
};

static int agentfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &agentfs_context_ops;
	return 0;
}

static struct file_system_type agentfs_type = {
	.owner = THIS_MODULE,
	.name = "agentfs",
	.init_fs_context = agentfs_init_fs_context,
	.kill_sb = kill_litter_super,
};

static int __init agentfs_init(void)
{
	struct vfsmount *mnt;
	int err = register_filesystem(&agentfs_type);

	if (err) {
		pr_err("agentfs: cannot register (%d)\n", err);
		return err;
	}
	/* The internal mount keeps the one superblock alive from boot on. */
	mnt = kern_mount(&agentfs_type);
	if (IS_ERR(mnt)) {
		pr_err("agentfs: cannot create the superblock (%ld)\n", PTR_ERR(mnt));
		return PTR_ERR(mnt);
	}
	agentfs_mnt = mnt;
	return 0;
}
fs_initcall(agentfs_init);
