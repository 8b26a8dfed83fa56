/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Coconut OS audit chain: the boundary between the C glue (audit.c) and the Rust core
 * (audit_core.rs). The interface for the rest of the kernel is <linux/coconut_audit.h>.
 *
 * C -> Rust: init, start, the sealer's two calls, and the readers and writers of the files.
 * Rust -> C: the kernel primitives Rust in 6.12 has no binding for (the two spinlocks, the
 * wait queues, the context check, the clock, the release string).
 */
#ifndef _KERNEL_AUDIT_COCONUT_AUDIT_H
#define _KERNEL_AUDIT_COCONUT_AUDIT_H

#include <linux/types.h>

/* A checkpoint at least this often while rows arrive (docs/formats/audit.md, "Checkpoints"). */
#define COCONUT_AUDIT_CHECKPOINT_SECS 10

/* coconut_audit_seed_type(): the key type a /agent/audit/seed line names. */
#define COCONUT_AUDIT_SEED_USER    1
#define COCONUT_AUDIT_SEED_TRUSTED 2

/* Rust, called by the glue. */
int coconut_audit_init(const u8 *boot_id);
int coconut_audit_start_boot(u64 boot);
bool coconut_audit_space_available(void);
bool coconut_audit_work_pending(void);
long coconut_audit_seal_pending(bool tick);
s64 coconut_audit_request_checkpoint(const u8 *buf, size_t len);
int coconut_audit_seed_type(const u8 *buf, size_t len);
int coconut_audit_load_seed(const u8 *buf, size_t len, const u8 *seed, u8 *public_key);
int coconut_audit_note_name(u8 *buf, size_t len);
void coconut_audit_set_key_id(const u8 *digest);
bool coconut_audit_public_key(u8 *out);
size_t coconut_audit_note_max(void);
ssize_t coconut_audit_signed_note(u8 *buf, size_t len);
void coconut_audit_bounds(u64 *oldest, u64 *next);
size_t coconut_audit_line_max(void);
ssize_t coconut_audit_render(u64 seq, u8 *buf, size_t len);
void coconut_audit_head(u8 *out);
ssize_t coconut_audit_stats(u8 *buf, size_t len);
int coconut_audit_write_link(const u8 *buf, size_t len);
int coconut_audit_write_persisted(const u8 *buf, size_t len);
bool coconut_audit_flush_suppressed(bool all);

/* The glue, called by Rust. */
void coconut_audit_stage_lock(void);
void coconut_audit_stage_unlock(void);
void coconut_audit_chain_lock(void);
void coconut_audit_chain_unlock(void);
int coconut_audit_wait_space(void);
void coconut_audit_wake_space(void);
void coconut_audit_wake_sealer(void);
bool coconut_audit_may_sleep(void);
u64 coconut_audit_now_ns(void);
u64 coconut_audit_mono_ns(void);
const char *coconut_audit_release(void);
void coconut_audit_schedule_flush(void);

#endif /* _KERNEL_AUDIT_COCONUT_AUDIT_H */
