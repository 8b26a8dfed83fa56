//! The parsers of the kernel's post-build object checks (`xtask/src/kernel/objects.rs`, included
//! here by `#[path]`), on small samples of what they read: `rust/compiler_builtins.rs` text and
//! `llvm-objdump -dr --no-show-raw-insn` output captured from `kernel/agent/agent_core.o` (cut
//! down, symbol names as the kernel's v0 mangling writes them), and the allowlist diffing.

#[allow(dead_code)]
#[path = "../src/kernel/objects.rs"]
mod objects;

use std::collections::BTreeSet;

use objects::*;

const BUILTINS: &str = r#"
//! Our own `compiler_builtins`.
#![no_std]

macro_rules! define_panicking_intrinsics(
    ($reason: tt, { $($ident: ident, )* }) => {
        $( pub extern "C" fn $ident() { panic!($reason); } )*
    }
);

define_panicking_intrinsics!("`f32` should not be used", {
    __addsf3,
    __eqsf2,
});

define_panicking_intrinsics!("`u128` should not be used", {
    __udivmodti4,
    __udivti3,
});

#[cfg(target_arch = "arm")]
define_panicking_intrinsics!("`u64` division/modulo should not be used", {
    __aeabi_uldivmod,
});
"#;

#[test]
fn helpers_are_read_from_every_define_panicking_intrinsics_list() {
    let helpers = forbidden_helpers(BUILTINS).unwrap();
    let names: Vec<&str> = helpers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "__addsf3",
            "__eqsf2",
            "__udivmodti4",
            "__udivti3",
            "__aeabi_uldivmod"
        ]
    );
    assert_eq!(helpers[2].reason, "`u128` should not be used");
    assert!(forbidden_helpers("fn main() {}").is_err());
    assert!(forbidden_helpers("define_panicking_intrinsics!(oops);").is_err());
}

#[test]
fn helper_calls_match_the_bare_and_the_redirected_name() {
    let helpers = forbidden_helpers(BUILTINS).unwrap();
    let found = helper_calls(
        &["memcpy", "__udivti3", "__rust__eqsf2", "__udivti"],
        &helpers,
    );
    let names: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["__udivti3", "__rust__eqsf2"]);
}

/// Captured from agent_core.o (instructions cut), plus a hex-immediate frame as GNU-style
/// disassemblers print it.
const OBJDUMP: &str = "
/tmp/agent_core.o:	file format elf64-x86-64

Disassembly of section .text:

00000000000000dc <_RINvMNtCs2DxGA1hvVcO_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejEECsXYUQVSqEEe_10agent_core>:
      dc:      	endbr64
      e7:      	pushq	%rax
      fd:      	callq	0x102 <_RINvMNtCs2DxGA1hvVcO_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejEECsXYUQVSqEEe_10agent_core+0x26>
		00000000000000fe:  R_X86_64_PLT32	_RINvNtNtCs2DxGA1hvVcO_4core5slice5index5rangeINtNtNtB6_3ops5range5RangejEECsXYUQVSqEEe_10agent_core-0x4
     102:      	subq	%rax, %rdx
     128:      	jmp	0x12d <_RINvMNtCs2DxGA1hvVcO_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejEECsXYUQVSqEEe_10agent_core+0x51>
		0000000000000129:  R_X86_64_PLT32	memmove-0x4
     132:      	movq	$0, %rdi
		0000000000000135:  R_X86_64_32S	.rodata+0x10
     13c:      	callq	0x141 <_RINvMNtCs2DxGA1hvVcO_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejEECsXYUQVSqEEe_10agent_core+0x65>
		000000000000013d:  R_X86_64_PLT32	_RNvNtCs2DxGA1hvVcO_4core9panicking9panic_fmt-0x4

0000000000000150 <_RINvNtNtCs2DxGA1hvVcO_4core5slice5index5rangeINtNtNtB6_3ops5range5RangejEECsXYUQVSqEEe_10agent_core>:
     150:      	subq	$40, %rsp
     170:      	callq	0x175 <_RINvNtNtCs2DxGA1hvVcO_4core5slice5index5rangeINtNtNtB6_3ops5range5RangejEECsXYUQVSqEEe_10agent_core+0x25>
		0000000000000171:  R_X86_64_PLT32	_RNvNtNtCs2DxGA1hvVcO_4core5slice5index16slice_index_fail-0x4

000000000000ac2f <_RNvMs5_NtNtCsXYUQVSqEEe_10agent_core12coconut_caps3setNtB5_6CapSet13insert_sorted>:
    ac2f:      	pushq	%rbp
    ac33:      	subq	$216, %rsp
    ac3a:      	subq	$456, %rsp              # imm = 0x1C8
    ac41:      	addq	$456, %rsp              # imm = 0x1C8
    ac60:      	callq	0xac65 <_RNvMs5_NtNtCsXYUQVSqEEe_10agent_core12coconut_caps3setNtB5_6CapSet13insert_sorted+0x36>
		000000000000ac61:  R_X86_64_PLT32	_RINvMNtCs2DxGA1hvVcO_4core5sliceSh11copy_withinINtNtNtB5_3ops5range5RangejEECsXYUQVSqEEe_10agent_core-0x4
    ac70:      	callq	0xac75 <_RNvMs5_NtNtCsXYUQVSqEEe_10agent_core12coconut_caps3setNtB5_6CapSet13insert_sorted+0x46>
		000000000000ac71:  R_X86_64_PLT32	_RNvNtNtCs2DxGA1hvVcO_4core9panicking11panic_const24panic_const_add_overflow-0x4

000000000000bf10 <_RNvMs_NtNtCsXYUQVSqEEe_10agent_core11coconut_abi3aidNtB4_3Aid5parse>:
    bf10:      	endbr64
    bf2d:      	leaq	-2(%rdx), %rax
    bf60:      	callq	0xbf65 <_RNvMs_NtNtCsXYUQVSqEEe_10agent_core11coconut_abi3aidNtB4_3Aid5parse+0x55>
		000000000000bf61:  R_X86_64_PLT32	_RNvNtNtCs2DxGA1hvVcO_4core9panicking11panic_const24panic_const_sub_overflow-0x4

000000000000c000 <_RNvNtCsXYUQVSqEEe_10agent_core14coconut_blake310chain_step>:
    c004:      	sub    $0xb98,%rsp
    c010:      	subq	$16, %rsp
    c020:      	callq	0xc025 <_RNvNtCsXYUQVSqEEe_10agent_core14coconut_blake310chain_step+0x25>
		000000000000c021:  R_X86_64_PLT32	_RNvMNtCsXYUQVSqEEe_10agent_core14coconut_blake3NtB2_6Hasher6update-0x4
";

const INSERT_SORTED: &str = "<agent_core::coconut_caps::set::CapSet>::insert_sorted";
const AID_PARSE: &str = "<agent_core::coconut_abi::aid::Aid>::parse";
const CHAIN_STEP: &str = "agent_core::coconut_blake3::chain_step";

#[test]
fn stack_frames_take_the_largest_rsp_sub_per_function() {
    let frames = stack_frames(OBJDUMP);
    assert_eq!(frames.len(), 5, "{frames:?}");
    // The larger of two subs; llvm-objdump's `# imm = 0x1C8` comment is not an operand.
    assert_eq!(frames[INSERT_SORTED], 456);
    assert_eq!(frames[CHAIN_STEP], 0xb98);
    assert_eq!(frames[AID_PARSE], 0, "a leaf with no frame");
    // `subq %rax, %rdx` is not a frame.
    assert_eq!(
        frames["<[u8]>::copy_within::<core::ops::range::Range<usize>>"],
        0
    );
    assert_eq!(
        largest_frames(&frames, 2),
        [(CHAIN_STEP, 2968), (INSERT_SORTED, 456)]
    );
}

#[test]
fn frames_over_the_bound_fail_unless_excepted_and_stale_exceptions_are_named() {
    let frames = stack_frames(OBJDUMP);
    let check = check_frames(&frames, 1024, &[]);
    assert_eq!(check.problems.len(), 1, "{check:?}");
    assert!(
        check.problems[0].contains("chain_step: stack frame 2968 bytes, over the bound of 1024"),
        "{check:?}"
    );
    assert!(check.stale.is_empty());

    let exceptions = parse_frame_exceptions(
        "# comment\n\n3072 agent_core::coconut_blake3::chain_step -- the hasher lives on the stack\n",
    )
    .unwrap();
    assert_eq!(exceptions[0].bound, 3072);
    let check = check_frames(&frames, 1024, &exceptions);
    assert!(
        check.problems.is_empty() && check.stale.is_empty(),
        "{check:?}"
    );

    let tight =
        parse_frame_exceptions("2048 agent_core::coconut_blake3::chain_step -- x\n").unwrap();
    assert!(check_frames(&frames, 1024, &tight).problems[0]
        .contains("over its exception's bound of 2048"));

    let stale = parse_frame_exceptions(&format!(
        "4096 {INSERT_SORTED} -- no longer needed\n4096 gone::function -- removed\n"
    ))
    .unwrap();
    let check = check_frames(&frames, 4096, &stale);
    assert!(check.problems.is_empty(), "{check:?}");
    assert_eq!(check.stale.len(), 2, "{check:?}");
    assert!(check.stale[0].contains("within the bound of 4096 bytes now; delete its line"));
    assert!(check.stale[1].contains("not in the objects; delete its line"));

    assert!(
        parse_frame_exceptions("1024 f\n").is_err(),
        "a reason is required"
    );
    assert!(parse_frame_exceptions("big f -- why\n").is_err());
}

#[test]
fn panic_references_are_direct_or_through_inlined_library_code() {
    let refs = panic_references(OBJDUMP);
    let names: Vec<&str> = refs.keys().map(String::as_str).collect();
    // Library instantiations are not listed; chain_step calls only our own Hasher::update.
    assert_eq!(names, [AID_PARSE, INSERT_SORTED], "{refs:?}");
    let syms = |f: &str| refs[f].iter().map(String::as_str).collect::<Vec<_>>();
    // Through copy_within → slice::index::range: panic_fmt and slice_index_fail.
    assert_eq!(
        syms(INSERT_SORTED),
        ["panic_const_add_overflow", "panic_fmt", "slice_index_fail"]
    );
    assert_eq!(syms(AID_PARSE), ["panic_const_sub_overflow"]);
}

#[test]
fn the_panic_family_rule() {
    for (demangled, short) in [
        ("core::panicking::panic", "panic"),
        ("core::panicking::panic_fmt", "panic_fmt"),
        ("core::panicking::panic_bounds_check", "panic_bounds_check"),
        (
            "core::panicking::panic_const::panic_const_div_by_zero",
            "panic_const_div_by_zero",
        ),
        (
            "core::slice::index::slice_end_index_len_fail",
            "slice_end_index_len_fail",
        ),
        (
            "<[u8]>::copy_from_slice::len_mismatch_fail",
            "len_mismatch_fail",
        ),
        ("core::option::unwrap_failed", "unwrap_failed"),
        ("core::option::expect_failed", "expect_failed"),
        ("core::str::slice_error_fail", "slice_error_fail"),
        (
            "core::cell::panic_already_borrowed",
            "panic_already_borrowed",
        ),
    ] {
        assert_eq!(
            panic_symbol(demangled).as_deref(),
            Some(short),
            "{demangled}"
        );
    }
    for other in [
        "memmove",
        "core::fmt::write",
        "core::str::converts::from_utf8",
        "agent_core::coconut_cbor::validate_fail",
        "kernel::print::call_printk",
    ] {
        assert_eq!(panic_symbol(other), None, "{other}");
    }
}

#[test]
fn the_allowlist_fails_on_new_and_on_stale_entries_and_round_trips() {
    let found = inventory(&panic_references(OBJDUMP));
    let text = render_allowlist(&found);
    assert!(
        text.contains(&format!("panic_const_sub_overflow {AID_PARSE}\n")),
        "{text}"
    );
    let allowed = parse_allowlist(&text).unwrap();
    assert_eq!(allowed, found);
    assert!(diff_allowlist(&found, &allowed).is_empty());

    // A new panic reference: found, not listed.
    let mut shorter = allowed.clone();
    let pair = (
        "panic_const_sub_overflow".to_string(),
        AID_PARSE.to_string(),
    );
    assert!(shorter.remove(&pair));
    let diff = diff_allowlist(&found, &shorter);
    assert_eq!(diff.new, [pair]);
    assert!(diff.stale.is_empty());

    // A stale line: listed, no longer found.
    let mut longer: BTreeSet<PanicRef> = allowed.clone();
    let gone = (
        "panic_bounds_check".to_string(),
        "agent_core::gone".to_string(),
    );
    longer.insert(gone.clone());
    let diff = diff_allowlist(&found, &longer);
    assert!(diff.new.is_empty());
    assert_eq!(diff.stale, [gone]);

    assert!(parse_allowlist("lonely\n").is_err());
}
