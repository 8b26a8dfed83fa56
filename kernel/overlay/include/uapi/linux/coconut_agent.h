/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Coconut OS agent ABI: constants and structs of the agent system calls
 * agent_spawn (472) through agent_memory_tier (479). See docs/abi.md.
 *
 * GENERATED from crates/coconut-abi; do not edit. Regenerate with:
 *   UPDATE_EXPECT=1 cargo test -p coconut-abi --test uapi_header
 * The syscall numbers (__NR_agent_*) live in the syscall table, not here.
 */
#ifndef _UAPI_LINUX_COCONUT_AGENT_H
#define _UAPI_LINUX_COCONUT_AGENT_H

#include <linux/types.h>

/* ABI version and limits. */
#define AGENT_ABI_VERSION          1U
#define AGENT_STRUCT_SIZE_MAX      4096
#define AGENT_MANIFEST_MAX         16384ULL
#define AGENT_CAPSET_MAX           4096ULL
#define AGENT_SCOPE_MAX            256
#define AGENT_CAPS_MAX             64
#define AGENT_CAP_NAME_MAX         16
#define AGENT_NAME_MAX             64
#define AGENT_TENANT_MAX           64
#define AGENT_SIGNERS_MAX          8
#define AGENT_MAX_AGENTS           4096U
#define AGENT_DEPTH_MAX            32U
#define AGENT_DENY_LIMIT           8U
#define AGENT_DENY_WINDOW_NS       10000000000ULL
#define AGENT_QUOTA_UNLIMITED      0xffffffffffffffffULL
#define AGENT_CPU_PERIOD_MIN_NS    1000000ULL
#define AGENT_CPU_PERIOD_MAX_NS    1000000000ULL
#define AGENT_CPU_LIMIT_MIN_US     1000ULL
#define AGENT_PERIOD_MIN_NS        1000000ULL
#define AGENT_PERIOD_MAX_NS        86400000000000ULL
#define AGENT_MEM_LENGTH_MAX       (1ULL << 46)
#define AGENT_AUDIT_DETAIL_MAX     256
#define AGENT_AUDIT_EVENT_HDR_SIZE 56
#define AGENT_AUDIT_ROW_HDR_LEN    72
#define AGENT_AUDIT_ROW_MIN        128
#define AGENT_AUDIT_ROW_MAX        384
#define AGENT_AUDIT_TAIL_LINES     64

/* Agent identifiers (AIDs). */
#define AGENT_AID_BOOT     0	/* a:00000, the boot agent */
#define AGENT_AID_MAX      0x7fffffffffffffffULL
#define AGENT_AID_SELF     0xffffffffffffffffULL
#define AGENT_AID_ANY      0xfffffffffffffffeULL
#define AGENT_AID_TEXT_MAX 21

/* agent_spawn_args.flags. */
#define AGENT_SPAWN_PIDFD (1ULL << 0)
#define AGENT_SPAWN_LAST  (1ULL << 0)
#define AGENT_SPAWN_MASK  ((AGENT_SPAWN_LAST << 1) - 1)

/* agent_attest flags. */
#define AGENT_ATTEST_ABI_VERSION (1U << 0)
#define AGENT_ATTEST_LAST        (1U << 0)
#define AGENT_ATTEST_MASK        ((AGENT_ATTEST_LAST << 1) - 1)

/* agent_quota flags (exactly one per call). */
#define AGENT_QUOTA_GET    (1U << 0)
#define AGENT_QUOTA_SET    (1U << 1)
#define AGENT_QUOTA_CHARGE (1U << 2)
#define AGENT_QUOTA_LAST   (1U << 2)
#define AGENT_QUOTA_MASK   ((AGENT_QUOTA_LAST << 1) - 1)

/* agent_cap_grant flags. */
#define AGENT_GRANT_RELEASE (1U << 0)
#define AGENT_GRANT_LAST    (1U << 0)
#define AGENT_GRANT_MASK    ((AGENT_GRANT_LAST << 1) - 1)

/* agent_cap_revoke and agent_cap_present flags. */
#define AGENT_REVOKE_ALL        (1U << 0)
#define AGENT_REVOKE_QUARANTINE (1U << 1)
#define AGENT_REVOKE_LAST       (1U << 1)
#define AGENT_REVOKE_MASK       ((AGENT_REVOKE_LAST << 1) - 1)
#define AGENT_PRESENT_MASK      0	/* agent_cap_present takes no flags yet */

/* agent_audit_filter.flags and .kinds. */
#define AGENT_AUDIT_SUBTREE     (1ULL << 0)
#define AGENT_AUDIT_FILTER_LAST (1ULL << 0)
#define AGENT_AUDIT_FILTER_MASK ((AGENT_AUDIT_FILTER_LAST << 1) - 1)
#define AGENT_AUDIT_KINDS_MASK  (((1ULL << (AGENT_AUDIT_KIND_LAST + 1)) - 1) & ~1ULL)	/* every defined kind bit of agent_audit_filter.kinds */

/* agent_mem_request.flags and .prot. */
#define AGENT_MEM_POPULATE   (1ULL << 0)
#define AGENT_MEM_STRICT     (1ULL << 1)
#define AGENT_MEM_LAST       (1ULL << 1)
#define AGENT_MEM_MASK       ((AGENT_MEM_LAST << 1) - 1)
#define AGENT_MEM_PROT_READ  (1U << 0)
#define AGENT_MEM_PROT_WRITE (1U << 1)
#define AGENT_MEM_PROT_LAST  (1U << 1)
#define AGENT_MEM_PROT_MASK  ((AGENT_MEM_PROT_LAST << 1) - 1)

/* Agent states. */
#define AGENT_STATE_SPAWNING           0	/* Spawning */
#define AGENT_STATE_ATTESTED           1	/* Attested */
#define AGENT_STATE_ACTIVE             2	/* Active */
#define AGENT_STATE_INF_BLOCKED        3	/* Inference-blocked */
#define AGENT_STATE_CAP_DENIED         4	/* Cap-denied */
#define AGENT_STATE_QUARANTINED        5	/* Quarantined */
#define AGENT_STATE_TERMINATED_CLEAN   6	/* Terminated-clean */
#define AGENT_STATE_TERMINATED_REVOKED 7	/* Terminated-revoked */
#define AGENT_STATE_LAST               7

/* Capability ids. */
#define AGENT_CAP_AGENT_SPAWN      1	/* agent.spawn */
#define AGENT_CAP_AGENT_DELEGATE   2	/* agent.delegate */
#define AGENT_CAP_AGENT_QUOTA      3	/* agent.quota */
#define AGENT_CAP_AGENT_ADMIN      4	/* agent.admin */
#define AGENT_CAP_AUDIT_READ       5	/* audit.read */
#define AGENT_CAP_MEM_TIER         6	/* mem.tier */
#define AGENT_CAP_FS_READ          7	/* fs.read */
#define AGENT_CAP_FS_WRITE         8	/* fs.write */
#define AGENT_CAP_FS_EXEC          9	/* fs.exec */
#define AGENT_CAP_NET_CONNECT      10	/* net.connect */
#define AGENT_CAP_NET_BIND         11	/* net.bind */
#define AGENT_CAP_INFERENCE        12	/* inference */
#define AGENT_CAP_BROKER_INFERENCE 13	/* broker.inference */
#define AGENT_CAP_BROKER_NET       14	/* broker.net */
#define AGENT_CAP_PROC_SIGNAL      15	/* proc.signal */
#define AGENT_CAP_LAST             15

/* agent_quota kinds. */
#define AGENT_QUOTA_CPU              1	/* microseconds per period */
#define AGENT_QUOTA_RAM              2	/* bytes */
#define AGENT_QUOTA_HBM              3	/* bytes */
#define AGENT_QUOTA_NET              4	/* bytes per period */
#define AGENT_QUOTA_INFERENCE_TOKENS 5	/* tokens per period */
#define AGENT_QUOTA_KIND_LAST        5

/* Memory tiers of agent_memory_tier. */
#define AGENT_MEM_TIER_DEFAULT 0
#define AGENT_MEM_TIER_FAST    1
#define AGENT_MEM_TIER_DRAM    2
#define AGENT_MEM_TIER_SLOW    3
#define AGENT_MEM_TIER_LAST    3

/* Audit event kinds (bit 1 << kind in agent_audit_filter.kinds). */
#define AGENT_AUDIT_KIND_BOOT        1	/* boot */
#define AGENT_AUDIT_KIND_LINK        2	/* link */
#define AGENT_AUDIT_KIND_SPAWN       3	/* spawn */
#define AGENT_AUDIT_KIND_ATTEST      4	/* attest */
#define AGENT_AUDIT_KIND_QUOTA       5	/* quota */
#define AGENT_AUDIT_KIND_CAP_GRANT   6	/* cap_grant */
#define AGENT_AUDIT_KIND_CAP_REVOKE  7	/* cap_revoke */
#define AGENT_AUDIT_KIND_CAP_DENY    8	/* cap_deny */
#define AGENT_AUDIT_KIND_AUDIT_QUERY 9	/* audit_query */
#define AGENT_AUDIT_KIND_MEMORY_TIER 10	/* memory_tier */
#define AGENT_AUDIT_KIND_STATE       11	/* state */
#define AGENT_AUDIT_KIND_EXIT        12	/* exit */
#define AGENT_AUDIT_KIND_ROTATE      13	/* rotate */
#define AGENT_AUDIT_KIND_CHECKPOINT  14	/* checkpoint */
#define AGENT_AUDIT_KIND_SUPPRESSED  15	/* suppressed */
#define AGENT_AUDIT_KIND_LAST        15

/* Audit event layout (little-endian; detail follows the 56-byte header). */
#define AGENT_AUDIT_MAGIC           "CCA1"	/* first 4 bytes of every event */
#define AGENT_AUDIT_MAGIC_LE32      0x31414343U	/* the magic read as a little-endian __u32 */
#define AGENT_AUDIT_GENESIS_CONTEXT "coconut-os audit genesis v1"	/* BLAKE3 derive_key context of a boot's genesis hash */
#define AGENT_AUDIT_OFF_MAGIC       0
#define AGENT_AUDIT_OFF_KIND        4
#define AGENT_AUDIT_OFF_SEQ         8
#define AGENT_AUDIT_OFF_BOOT        16
#define AGENT_AUDIT_OFF_TIME_NS     24
#define AGENT_AUDIT_OFF_ACTOR       32
#define AGENT_AUDIT_OFF_SUBJECT     40
#define AGENT_AUDIT_OFF_RESULT      48
#define AGENT_AUDIT_OFF_DETAIL_LEN  52
#define AGENT_AUDIT_OFF_DETAIL      56

/**
 * struct agent_spawn_args - argument of agent_spawn (size-versioned)
 * @manifest: user pointer: signed manifest envelope (canonical CBOR)
 * @manifest_len: 1..=AGENT_MANIFEST_MAX
 * @caps: user pointer: CBOR array of "name[:scope]" strings
 * @caps_len: 0..=AGENT_CAPSET_MAX, 0 = bind nothing
 * @flags: AGENT_SPAWN_*
 * @pidfd: first member task, with AGENT_SPAWN_PIDFD; else 0
 * @lane: tenant fair-share lane, 0 = parent's lane
 */
struct agent_spawn_args {
	__aligned_u64 manifest;
	__aligned_u64 manifest_len;
	__aligned_u64 caps;
	__aligned_u64 caps_len;
	__aligned_u64 flags;
	__s32 pidfd;
	__u32 lane;
};
#define AGENT_SPAWN_ARGS_SIZE_VER0 48

/**
 * struct agent_budget - one budget, read or written by agent_quota (size-versioned)
 * @limit: limit, unit per kind; AGENT_QUOTA_UNLIMITED = none
 * @used: used this period (GET) or amount to add (CHARGE)
 * @period_ns: period in ns for cpu/net/inference_tokens, else 0
 * @reserved: must be 0
 */
struct agent_budget {
	__aligned_u64 limit;
	__aligned_u64 used;
	__aligned_u64 period_ns;
	__aligned_u64 reserved;
};
#define AGENT_BUDGET_SIZE_VER0 32

/**
 * struct agent_audit_filter - row selection of agent_audit_query (size-versioned)
 * @from_seq: first sequence number (inclusive)
 * @to_seq: last sequence number (inclusive), 0 = head
 * @aid: subject AID, AGENT_AID_ANY or AGENT_AID_SELF
 * @kinds: bitmask 1 << AGENT_AUDIT_KIND_*, 0 = all
 * @flags: AGENT_AUDIT_*
 */
struct agent_audit_filter {
	__aligned_u64 from_seq;
	__aligned_u64 to_seq;
	__aligned_u64 aid;
	__aligned_u64 kinds;
	__aligned_u64 flags;
};
#define AGENT_AUDIT_FILTER_SIZE_VER0 40

/**
 * struct agent_mem_request - mapping made by agent_memory_tier (size-versioned)
 * @length: bytes, 1..=AGENT_MEM_LENGTH_MAX, rounded up to pages
 * @flags: AGENT_MEM_*
 * @prot: AGENT_MEM_PROT_*
 * @reserved: must be 0
 */
struct agent_mem_request {
	__aligned_u64 length;
	__aligned_u64 flags;
	__u32 prot;
	__u32 reserved;
};
#define AGENT_MEM_REQUEST_SIZE_VER0 24

/**
 * struct agent_audit_row_hdr - header of each row written by agent_audit_query (output only)
 * @row_len: 72 + event length
 * @reserved: 0
 * @prev: chain hash before this event
 * @hash: BLAKE3(prev || event)
 */
struct agent_audit_row_hdr {
	__u32 row_len;
	__u32 reserved;
	__u8 prev[32];
	__u8 hash[32];
};
#define AGENT_AUDIT_ROW_HDR_SIZE 72

#endif /* _UAPI_LINUX_COCONUT_AGENT_H */
