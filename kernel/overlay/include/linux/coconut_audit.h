/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Coconut OS audit chain: the interface of kernel/audit/coconut for the rest of the kernel.
 *
 * An event is a kind (AGENT_AUDIT_KIND_*, uapi/linux/coconut_agent.h; not BOOT or LINK, which
 * only the chain's start writes), the agent that acted, the agent it is about, 0 or -errno,
 * and a detail of at most AGENT_AUDIT_DETAIL_MAX bytes of UTF-8 without control characters
 * (docs/formats/audit.md, "Detail grammar"). Appending queues the event in the staging ring;
 * the sealer kthread gives it its sequence number and hash. No appended event is dropped.
 *
 * All of these run in process context and may sleep while the ring is full (TASK_KILLABLE).
 * A caller about to take a decision whose row must not be lost reserves first:
 *
 *	err = coconut_audit_reserve();		// 0, -EINTR, -EWOULDBLOCK
 *	if (err)
 *		return err;			// nothing decided, nothing to record
 *	result = decide();
 *	coconut_audit_commit(kind, actor, subject, result, detail, len);
 *
 * Returns: 0; -EINTR (a fatal signal ended the wait for space); -EWOULDBLOCK (the ring is full
 * and the caller may not sleep); -EINVAL (a malformed event: a kernel bug, counted in
 * /agent/audit/stats as refused).
 */
#ifndef _LINUX_COCONUT_AUDIT_H
#define _LINUX_COCONUT_AUDIT_H

#include <linux/types.h>

int coconut_audit_reserve(void);
void coconut_audit_cancel(void);
int coconut_audit_commit(u32 kind, u64 actor, u64 subject, int result, const u8 *detail,
			 size_t detail_len);
/* commit, also giving the event's commit ticket (its place in the total order). */
int coconut_audit_commit_ticket(u32 kind, u64 actor, u64 subject, int result, const u8 *detail,
				size_t detail_len, u64 *ticket);
/*
 * commit for the row of a malformed call (nothing authorised or refused), under flood control:
 * 0 a row was queued, 1 the call was counted into the actor's next `suppressed` row (the
 * reservation is given back), else as commit.
 */
int coconut_audit_commit_limited(u32 kind, u64 actor, u64 subject, int result, const u8 *detail,
				 size_t detail_len);
/* Whether ticket's event is sealed; its sequence number in *seq if so. Any context. */
bool coconut_audit_ticket_seq(u64 ticket, u64 *seq);
/* Waits (killable: -EINTR) until ticket's event is sealed; its sequence number in *seq. */
int coconut_audit_wait_sealed(u64 ticket, u64 *seq);
int coconut_audit_append(u32 kind, u64 actor, u64 subject, int result, const u8 *detail,
			 size_t detail_len);

/* agent_audit_query's kernel part (kernel/agent calls it after the ABI checks). */
long coconut_audit_query(u64 from_seq, u64 to_seq, u64 aid, u64 kinds, bool subtree,
			 u64 caller, bool read_all, unsigned long ubuf, size_t bufsize, u64 *rows);
/* Whether the caller may read every row (until capability sets exist: CAP_AUDIT_READ). */
bool coconut_audit_may_read_all(void);

/* The files of /agent/audit/, for agentfs (kernel/agent/agentfs.c). */
extern const struct file_operations coconut_audit_chain_log_fops;
extern const struct file_operations coconut_audit_head_fops;
extern const struct file_operations coconut_audit_stats_fops;
extern const struct file_operations coconut_audit_link_fops;
extern const struct file_operations coconut_audit_persisted_fops;
extern const struct file_operations coconut_audit_key_fops;
extern const struct file_operations coconut_audit_checkpoint_fops;
extern const struct file_operations coconut_audit_seed_fops;
extern const struct file_operations coconut_audit_seal_fops;

#endif /* _LINUX_COCONUT_AUDIT_H */
