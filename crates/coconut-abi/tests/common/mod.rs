//! Lists shared by the tests that render `docs/abi.md` and the uapi header from the crate.
//!
//! [`with_limits!`] names every numeric limit of `src/limits.rs` once (the masks are derived
//! and listed with their flag groups), so the documentation table and the C header cannot
//! cover different sets. A test's macro receives the names: `with_limits!(values![])` expands
//! to `values![AGENT_ABI_VERSION, …]`, `with_limits!(defs![c:])` to `defs![c: AGENT_ABI_VERSION, …]`.

/// Calls `$m![$($prefix)* <every numeric limit of src/limits.rs but AID_MAX>]`.
#[macro_export]
macro_rules! with_limits {
    ($m:ident![$($prefix:tt)*]) => {
        $m![$($prefix)*
            AGENT_ABI_VERSION,
            AGENT_STRUCT_SIZE_MAX,
            AGENT_MANIFEST_MAX,
            AGENT_CAPSET_MAX,
            AGENT_SCOPE_MAX,
            AGENT_CAPS_MAX,
            AGENT_CAP_NAME_MAX,
            AGENT_NAME_MAX,
            AGENT_TENANT_MAX,
            AGENT_SIGNERS_MAX,
            AGENT_MAX_AGENTS,
            AGENT_DEPTH_MAX,
            AGENT_DENY_LIMIT,
            AGENT_DENY_WINDOW_NS,
            AGENT_QUOTA_UNLIMITED,
            AGENT_CPU_PERIOD_MIN_NS,
            AGENT_CPU_PERIOD_MAX_NS,
            AGENT_CPU_LIMIT_MIN_US,
            AGENT_PERIOD_MIN_NS,
            AGENT_PERIOD_MAX_NS,
            AGENT_MEM_LENGTH_MAX,
            AGENT_AUDIT_DETAIL_MAX,
            AGENT_AUDIT_EVENT_HDR_SIZE,
            AGENT_AUDIT_ROW_HDR_LEN,
            AGENT_AUDIT_ROW_MIN,
            AGENT_AUDIT_ROW_MAX,
            AGENT_AUDIT_TAIL_LINES,
        ]
    };
}
