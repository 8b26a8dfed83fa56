//! The capability calls' fast path, `validate_unscoped_cap_call`, answers exactly what the
//! full pipeline `validate_cap_call` answers for every unscoped call, and declines every scoped
//! one. The kernel (`agent_core.rs`) calls the fast path first and falls back to the pipeline,
//! so this is what makes the kernel's pair equal to the tested pipeline.

use coconut_abi::*;
use proptest::prelude::*;

/// The kernel's composition: the fast path, else the pipeline with a scope buffer.
fn kernel_cap_call(
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_is_null: bool,
    scope_len: usize,
    flags: u32,
    scope: &[u8],
) -> Result<CapRequest, Errno> {
    if let Some(r) = validate_unscoped_cap_call(call, aid, cap, scope_is_null, scope_len, flags) {
        return r;
    }
    let mut buf = [0u8; AGENT_SCOPE_MAX];
    validate_cap_call(
        call,
        aid,
        cap,
        scope_is_null,
        scope_len,
        flags,
        &mut buf,
        |dst| copy(dst, scope),
    )
}

/// A user copy of `scope` into `dst`: `EFAULT` when the "user memory" is shorter.
fn copy(dst: &mut [u8], scope: &[u8]) -> Result<(), Errno> {
    let src = scope.get(..dst.len()).ok_or(Errno::EFAULT)?;
    dst.copy_from_slice(src);
    Ok(())
}

fn pipeline(
    call: CapCall,
    aid: u64,
    cap: u32,
    scope_is_null: bool,
    scope_len: usize,
    flags: u32,
    scope: &[u8],
) -> Result<CapRequest, Errno> {
    let mut buf = [0u8; AGENT_SCOPE_MAX];
    validate_cap_call(
        call,
        aid,
        cap,
        scope_is_null,
        scope_len,
        flags,
        &mut buf,
        |dst| copy(dst, scope),
    )
}

const CALLS: [CapCall; 3] = [CapCall::Grant, CapCall::Revoke, CapCall::Present];

#[test]
fn unscoped_calls_take_the_fast_path_and_scoped_calls_do_not() {
    for call in CALLS {
        for flags in [0, 1, 2, 3, 4, u32::MAX] {
            for aid in [0, 1, AID_MAX, AID_MAX + 1, AID_ANY, AID_SELF] {
                for cap in [0, 1, CapId::LAST as u32, CapId::LAST as u32 + 1] {
                    for null in [false, true] {
                        let fast = validate_unscoped_cap_call(call, aid, cap, null, 0, flags);
                        assert_eq!(
                            fast,
                            Some(pipeline(call, aid, cap, null, 0, flags, b"")),
                            "{call:?} aid={aid:#x} cap={cap} null={null} flags={flags:#x}"
                        );
                        for len in [1, AGENT_SCOPE_MAX, AGENT_SCOPE_MAX + 1, usize::MAX] {
                            assert_eq!(
                                validate_unscoped_cap_call(call, aid, cap, null, len, flags),
                                None
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_fast_path_never_copies() {
    // An unscoped call with a bad scope pointer still succeeds: nothing is read.
    let r = validate_unscoped_cap_call(CapCall::Present, AID_SELF, 1, false, 0, 0);
    assert!(matches!(r, Some(Ok(CapRequest { scope_len: 0, .. }))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// The kernel's composition equals the pipeline on arbitrary arguments and scopes.
    #[test]
    fn kernel_composition_equals_the_pipeline(
        call in prop::sample::select(CALLS.to_vec()),
        aid in prop_oneof![Just(AID_SELF), Just(AID_ANY), 0..=AID_MAX, any::<u64>()],
        cap in prop_oneof![0u32..=(CapId::LAST as u32 + 1), any::<u32>()],
        scope_is_null: bool,
        scope_len in prop_oneof![Just(0usize), 0..=(AGENT_SCOPE_MAX + 2), any::<usize>()],
        flags in prop_oneof![0u32..8, any::<u32>()],
        scope in proptest::collection::vec(any::<u8>(), 0..=AGENT_SCOPE_MAX),
    ) {
        prop_assert_eq!(
            kernel_cap_call(call, aid, cap, scope_is_null, scope_len, flags, &scope),
            pipeline(call, aid, cap, scope_is_null, scope_len, flags, &scope)
        );
    }
}
