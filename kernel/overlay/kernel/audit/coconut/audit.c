// SPDX-License-Identifier: GPL-2.0-only
/*
 * Coconut OS audit chain: C glue only. The locks, wait queues and clock the Rust core
 * (audit_core.rs) asks for, the sealer kthread's loop, the boot parameter, and the file
 * operations of /agent/audit/ (agentfs, kernel/agent/agentfs.c, creates the files). Every
 * decision — order, space, retention, the chain itself, the text of every file — is Rust's.
 */

#include <crypto/sha2.h>
#include <keys/trusted-type.h>
#include <keys/user-type.h>
#include <linux/capability.h>
#include <linux/coconut_audit.h>
#include <linux/key.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kthread.h>
#include <linux/printk.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "audit.h"

/* <keys/trusted-type.h> sets pr_fmt to "trusted_key: "; our messages name themselves. */
#undef pr_fmt
#define pr_fmt(fmt) fmt

static DEFINE_SPINLOCK(stage_lock);
static DEFINE_SPINLOCK(chain_lock);
static DECLARE_WAIT_QUEUE_HEAD(space_wq);
static DECLARE_WAIT_QUEUE_HEAD(sealer_wq);
static DECLARE_WAIT_QUEUE_HEAD(sealed_wq);

void coconut_audit_stage_lock(void)
{
	spin_lock(&stage_lock);
}

void coconut_audit_stage_unlock(void)
{
	spin_unlock(&stage_lock);
}

void coconut_audit_chain_lock(void)
{
	spin_lock(&chain_lock);
}

void coconut_audit_chain_unlock(void)
{
	spin_unlock(&chain_lock);
}

int coconut_audit_wait_space(void)
{
	return wait_event_killable(space_wq, coconut_audit_space_available()) ? -EINTR : 0;
}

void coconut_audit_wake_space(void)
{
	wake_up_all(&space_wq);
}

/*
 * Flood control's flush (docs/formats/audit.md, "Flood control"): counted malformed calls reach
 * their `suppressed` row from this work item about a second after the window opened, if no
 * later call of the same agent carried it. A kworker is process context, so the flush reserves
 * slots like any appender.
 */
static void flush_suppressed(struct work_struct *work);
static DECLARE_DELAYED_WORK(suppressed_work, flush_suppressed);

static void flush_suppressed(struct work_struct *work)
{
	if (coconut_audit_flush_suppressed(false))
		schedule_delayed_work(&suppressed_work, HZ / 4);
}

void coconut_audit_schedule_flush(void)
{
	/* Already queued: that run (or the ones it schedules) will see this window too. */
	schedule_delayed_work(&suppressed_work, HZ + 1);
}

void coconut_audit_wake_sealer(void)
{
	wake_up(&sealer_wq);
}

static bool ticket_sealed(u64 ticket)
{
	u64 seq;

	return coconut_audit_ticket_seq(ticket, &seq);
}

int coconut_audit_wait_sealed(u64 ticket, u64 *seq)
{
	if (wait_event_killable(sealed_wq, ticket_sealed(ticket)))
		return -EINTR;
	coconut_audit_ticket_seq(ticket, seq);
	return 0;
}

bool coconut_audit_may_sleep(void)
{
	return in_task() && !irqs_disabled();
}

u64 coconut_audit_now_ns(void)
{
	return ktime_get_real_ns();
}

u64 coconut_audit_mono_ns(void)
{
	return ktime_get_ns();
}

const char *coconut_audit_release(void)
{
	return init_utsname()->release;
}

bool coconut_audit_may_read_all(void)
{
	return capable(CAP_AUDIT_READ);
}

/* The sealer: sleeps until an event is queued (and the arena has room), seals, repeats. */
static int coconut_audit_sealer(void *unused)
{
	while (!kthread_should_stop()) {
		long left = wait_event_interruptible_timeout(sealer_wq,
				coconut_audit_work_pending() || kthread_should_stop(),
				COCONUT_AUDIT_CHECKPOINT_SECS * HZ);

		if (coconut_audit_seal_pending(left == 0) > 0)
			wake_up_all(&sealed_wq);
		cond_resched();
	}
	return 0;
}


/* coconut.audit_boot=<n>: start the chain at boot counter n during boot. */
static u64 audit_boot_param = U64_MAX;

static int __init coconut_audit_boot_setup(char *arg)
{
	if (kstrtou64(arg, 10, &audit_boot_param) || audit_boot_param == U64_MAX)
		pr_err("coconut_audit: ignoring malformed coconut.audit_boot=%s\n", arg);
	return 1;
}
__setup("coconut.audit_boot=", coconut_audit_boot_setup);

static int __init coconut_audit_setup(void)
{
	struct task_struct *sealer;
	u8 boot_id[16];
	int err;

	get_random_bytes(boot_id, sizeof(boot_id));
	err = coconut_audit_init(boot_id);
	if (err)
		return err;
	sealer = kthread_run(coconut_audit_sealer, NULL, "coconut_sealer");
	if (IS_ERR(sealer)) {
		pr_err("coconut_audit: cannot start the sealer (%ld)\n", PTR_ERR(sealer));
		return PTR_ERR(sealer);
	}
	if (audit_boot_param != U64_MAX)
		return coconut_audit_start_boot(audit_boot_param);
	pr_info("coconut_audit: sealer running; the chain starts when /agent/audit/link is written\n");
	return 0;
}
subsys_initcall(coconut_audit_setup);

/* /agent/audit/chain.log: a seq_file positioned by sequence number. */

static void *chain_log_start(struct seq_file *m, loff_t *pos)
{
	u64 oldest, next;

	coconut_audit_bounds(&oldest, &next);
	if (*pos < 0)
		return NULL;
	if ((u64)*pos < oldest)
		*pos = oldest;
	return (u64)*pos < next ? pos : NULL;
}

static void *chain_log_next(struct seq_file *m, void *v, loff_t *pos)
{
	u64 oldest, next;

	++*pos;
	coconut_audit_bounds(&oldest, &next);
	return (u64)*pos < next ? pos : NULL;
}

static void chain_log_stop(struct seq_file *m, void *v)
{
}

static int chain_log_show(struct seq_file *m, void *v)
{
	ssize_t n = coconut_audit_render(*(loff_t *)v, m->private, coconut_audit_line_max());

	if (n == -ENOENT)
		return SEQ_SKIP;	/* evicted while we read */
	if (n < 0)
		return n;
	seq_write(m, m->private, n);
	return 0;
}

static const struct seq_operations chain_log_seq_ops = {
	.start = chain_log_start,
	.next = chain_log_next,
	.stop = chain_log_stop,
	.show = chain_log_show,
};

static int chain_log_open(struct inode *inode, struct file *file)
{
	if (!coconut_audit_may_read_all())
		return -EACCES;
	return seq_open_private(file, &chain_log_seq_ops, coconut_audit_line_max());
}

const struct file_operations coconut_audit_chain_log_fops = {
	.owner = THIS_MODULE,
	.open = chain_log_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = seq_release_private,
};

/* /agent/audit/head: 32 raw bytes. */

static ssize_t head_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	u8 head[32];

	coconut_audit_head(head);
	return simple_read_from_buffer(buf, count, ppos, head, sizeof(head));
}

const struct file_operations coconut_audit_head_fops = {
	.owner = THIS_MODULE,
	.read = head_read,
	.llseek = default_llseek,
};

/*
 * /agent/audit/stats: key=value lines, rendered once per open (single_open), so a reader
 * that reads in small pieces still sees one consistent snapshot.
 */

#define STATS_MAX 2048

static int stats_show(struct seq_file *m, void *v)
{
	u8 *text = kmalloc(STATS_MAX, GFP_KERNEL);
	ssize_t n;

	if (!text)
		return -ENOMEM;
	n = coconut_audit_stats(text, STATS_MAX);
	if (n >= 0)
		seq_write(m, text, n);
	kfree(text);
	return n < 0 ? n : 0;
}

static int stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, stats_show, NULL);
}

const struct file_operations coconut_audit_stats_fops = {
	.owner = THIS_MODULE,
	.open = stats_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* /agent/audit/key: the checkpoint key's 32 public bytes; empty until a seed is loaded. */

static ssize_t key_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	u8 key[32];

	if (!coconut_audit_public_key(key))
		return 0;
	return simple_read_from_buffer(buf, count, ppos, key, sizeof(key));
}

const struct file_operations coconut_audit_key_fops = {
	.owner = THIS_MODULE,
	.read = key_read,
	.llseek = default_llseek,
};

/* /agent/audit/checkpoint: the latest checkpoint as a signed note; empty before the first. */

static int checkpoint_show(struct seq_file *m, void *v)
{
	size_t max = coconut_audit_note_max();
	u8 *text = kmalloc(max, GFP_KERNEL);
	ssize_t n;

	if (!text)
		return -ENOMEM;
	n = coconut_audit_signed_note(text, max);
	if (n > 0)
		seq_write(m, text, n);
	kfree(text);
	return n < 0 ? n : 0;
}

static int checkpoint_open(struct inode *inode, struct file *file)
{
	return single_open(file, checkpoint_show, NULL);
}

const struct file_operations coconut_audit_checkpoint_fops = {
	.owner = THIS_MODULE,
	.open = checkpoint_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

/* /agent/audit/link and /agent/audit/persisted: one short line each, written whole. */

#define LINE_MAX_BYTES 255

static ssize_t write_line(const char __user *ubuf, size_t count, loff_t *ppos,
			  int (*handle)(const u8 *, size_t))
{
	u8 line[LINE_MAX_BYTES];
	int err;

	if (!capable(CAP_AUDIT_CONTROL))
		return -EPERM;
	if (*ppos != 0 || count == 0)
		return -EINVAL;
	if (count > sizeof(line))
		return -E2BIG;
	if (copy_from_user(line, ubuf, count))
		return -EFAULT;
	err = handle(line, count);
	return err ? err : count;
}

static ssize_t link_write(struct file *file, const char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	return write_line(ubuf, count, ppos, coconut_audit_write_link);
}

const struct file_operations coconut_audit_link_fops = {
	.owner = THIS_MODULE,
	.write = link_write,
	.llseek = noop_llseek,
};

static ssize_t persisted_write(struct file *file, const char __user *ubuf, size_t count,
			       loff_t *ppos)
{
	return write_line(ubuf, count, ppos, coconut_audit_write_persisted);
}

const struct file_operations coconut_audit_persisted_fops = {
	.owner = THIS_MODULE,
	.write = persisted_write,
	.llseek = noop_llseek,
};

/*
 * /agent/audit/seed: `type=user|trusted machine=<32 hex>`. The seed is the payload of the key
 * `coconut:audit-seed` of that type in the writer's keyrings (request_key); its 32 bytes are
 * handed to Rust, which derives the checkpoint key, and wiped here. The key id of the C2SP
 * signature line needs SHA-256, which the kernel's library has.
 */

#define SEED_DESC "coconut:audit-seed"

static int load_seed_key(struct key_type *type, u8 seed[32])
{
	struct key *key = request_key(type, SEED_DESC, NULL);
	int err = 0;

	if (IS_ERR(key))
		return PTR_ERR(key) == -ENOKEY || PTR_ERR(key) == -EKEYREVOKED ? -ENOKEY :
										 PTR_ERR(key);
	down_read(&key->sem);
	if (type == &key_type_user) {
		const struct user_key_payload *p = user_key_payload_locked(key);

		if (!p || p->datalen != 32)
			err = -EKEYREJECTED;
		else
			memcpy(seed, p->data, 32);
	}
#if IS_REACHABLE(CONFIG_TRUSTED_KEYS)
	else if (type == &key_type_trusted) {
		const struct trusted_key_payload *p = key->payload.data[0];

		if (!p || p->key_len != 32)
			err = -EKEYREJECTED;
		else
			memcpy(seed, p->key, 32);
	}
#endif
	else {
		err = -EINVAL;
	}
	up_read(&key->sem);
	key_put(key);
	return err;
}

static int write_seed(const u8 *line, size_t len)
{
	struct key_type *type = NULL;
	u8 seed[32], public[32], msg[128], digest[SHA256_DIGEST_SIZE];
	int kind, err, n;

	kind = coconut_audit_seed_type(line, len);
	if (kind < 0)
		return kind;
	if (kind == COCONUT_AUDIT_SEED_USER)
		type = &key_type_user;
#if IS_REACHABLE(CONFIG_TRUSTED_KEYS)
	else if (kind == COCONUT_AUDIT_SEED_TRUSTED)
		type = &key_type_trusted;
#endif
	if (!type)
		return -EOPNOTSUPP;	/* trusted keys are not configured in this kernel */
	err = load_seed_key(type, seed);
	if (!err)
		err = coconut_audit_load_seed(line, len, seed, public);
	memzero_explicit(seed, sizeof(seed));
	if (err)
		return err;
	/* C2SP signed-note key id: SHA-256(name || 0x0a || 0x01 || public key)[:4]. */
	n = coconut_audit_note_name(msg, sizeof(msg) - 2 - sizeof(public));
	if (n < 0)
		return n;
	msg[n] = 0x0a;
	msg[n + 1] = 0x01;
	memcpy(msg + n + 2, public, sizeof(public));
	sha256(msg, n + 2 + sizeof(public), digest);
	coconut_audit_set_key_id(digest);
	return 0;
}

static ssize_t seed_write(struct file *file, const char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	return write_line(ubuf, count, ppos, write_seed);
}

const struct file_operations coconut_audit_seed_fops = {
	.owner = THIS_MODULE,
	.write = seed_write,
	.llseek = noop_llseek,
};

/* /agent/audit/seal: seal a checkpoint now and wait for it (orderly shutdown, rotation). */

static int write_seal(const u8 *line, size_t len)
{
	s64 n = coconut_audit_request_checkpoint(line, len);
	u64 seq;

	if (n < 0)
		return n;
	/* n is the marker's ticket + 1: wait until its checkpoint row is sealed. */
	return coconut_audit_wait_sealed(n - 1, &seq);
}

static ssize_t seal_write(struct file *file, const char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	return write_line(ubuf, count, ppos, write_seal);
}

const struct file_operations coconut_audit_seal_fops = {
	.owner = THIS_MODULE,
	.write = seal_write,
	.llseek = noop_llseek,
};
