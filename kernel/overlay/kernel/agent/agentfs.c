// SPDX-License-Identifier: GPL-2.0-only
/*
 * agentfs: the /agent inspector tree (docs/formats/agentfs.md). C glue only: a single-instance
 * pseudo filesystem whose files are served by the subsystems that own them.
 *
 * Today it holds the audit chain's directory, audit/ (chain.log, head, stats, link,
 * persisted, served by kernel/audit/coconut). The per-agent directories, live/, policy/ and
 * graveyard/ arrive with the agents themselves.
 */

#include <linux/coconut_audit.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/init.h>
#include <linux/pagemap.h>
#include <linux/printk.h>


/* "agen" */
#define AGENTFS_MAGIC 0x6167656e

static struct dentry *agentfs_add(struct dentry *parent, const char *name, umode_t mode,
				  const struct file_operations *fops)
{
	struct dentry *dentry = d_alloc_name(parent, name);
	struct inode *inode;

	if (!dentry)
		return ERR_PTR(-ENOMEM);
	inode = new_inode(parent->d_sb);
	if (!inode) {
		dput(dentry);
		return ERR_PTR(-ENOMEM);
	}
	inode->i_ino = get_next_ino();
	inode->i_mode = mode;
	simple_inode_init_ts(inode);
	if (S_ISDIR(mode)) {
		inode->i_op = &simple_dir_inode_operations;
		inode->i_fop = &simple_dir_operations;
		inc_nlink(inode);
		inc_nlink(d_inode(parent));
	} else {
		inode->i_fop = fops;
	}
	d_add(dentry, inode);
	return dentry;
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
};

static int agentfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr none[] = { { "" } };
	struct dentry *audit, *file;
	size_t i;
	int err;

	err = simple_fill_super(sb, AGENTFS_MAGIC, none);
	if (err)
		return err;
	audit = agentfs_add(sb->s_root, "audit", S_IFDIR | 0555, NULL);
	if (IS_ERR(audit))
		return PTR_ERR(audit);
	for (i = 0; i < ARRAY_SIZE(agentfs_audit_files); i++) {
		file = agentfs_add(audit, agentfs_audit_files[i].name, agentfs_audit_files[i].mode,
				   agentfs_audit_files[i].fops);
		if (IS_ERR(file))
			return PTR_ERR(file);
	}
	return 0;
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
	int err = register_filesystem(&agentfs_type);

	if (err)
		pr_err("agentfs: cannot register (%d)\n", err);
	return err;
}
fs_initcall(agentfs_init);
