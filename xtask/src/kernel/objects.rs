//! What the post-build checks read, as pure functions on text: the forbidden helpers from the
//! tree's `rust/compiler_builtins.rs`, and per function the largest stack frame and the panic
//! symbols it references from `llvm-objdump -dr` output; the checked-in lists of
//! kernel/checks/ and how the found state is compared with them.
//!
//! No I/O here: [`super::checks`] runs the tools and reads the files, and
//! `xtask/tests/{object_checks,kernel_shared_crates}.rs` include this file by `#[path]` to test
//! the parsers on captured samples and to share the one helper list with the host test.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context, Result};

/// A compiler helper that `rust/compiler_builtins.rs` turns into a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helper {
    /// The symbol, e.g. `__udivti3`.
    pub name: String,
    /// The reason the kernel gives, e.g. "`u128` should not be used".
    pub reason: String,
}

/// One `define_panicking_intrinsics!("reason", { names, })` invocation.
struct Intrinsics {
    reason: syn::LitStr,
    names: syn::punctuated::Punctuated<syn::Ident, syn::Token![,]>,
}

impl syn::parse::Parse for Intrinsics {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let reason = input.parse()?;
        input.parse::<syn::Token![,]>()?;
        let body;
        syn::braced!(body in input);
        let names = body.parse_terminated(syn::Ident::parse, syn::Token![,])?;
        Ok(Intrinsics { reason, names })
    }
}

/// Every helper named in a `define_panicking_intrinsics!` list of `rust/compiler_builtins.rs`
/// (all of them, whatever their `#[cfg(target_arch)]`: a helper of another architecture never
/// appears in an x86_64 object, so listing it costs nothing).
pub fn forbidden_helpers(compiler_builtins_rs: &str) -> Result<Vec<Helper>> {
    let file = syn::parse_file(compiler_builtins_rs)
        .map_err(|e| anyhow!("rust/compiler_builtins.rs does not parse: {e}"))?;
    let mut out = Vec::new();
    for item in file.items {
        let syn::Item::Macro(m) = item else { continue };
        if !m.mac.path.is_ident("define_panicking_intrinsics") {
            continue;
        }
        let list: Intrinsics = m
            .mac
            .parse_body()
            .map_err(|e| anyhow!("a define_panicking_intrinsics! list does not parse: {e}"))?;
        for name in list.names {
            out.push(Helper {
                name: name.to_string(),
                reason: list.reason.value(),
            });
        }
    }
    if out.is_empty() {
        bail!("rust/compiler_builtins.rs has no define_panicking_intrinsics! list");
    }
    Ok(out)
}

/// The helpers an object's undefined symbols name: the helper itself, or its `__rust`-prefixed
/// redirection (the kernel renames core's references to `__rust<helper>`).
pub fn helper_calls<'a>(undefined: &[&str], helpers: &'a [Helper]) -> Vec<(String, &'a Helper)> {
    let mut out = Vec::new();
    for sym in undefined {
        let bare = sym.strip_prefix("__rust").unwrap_or(sym);
        if let Some(h) = helpers.iter().find(|h| h.name == bare) {
            out.push((sym.to_string(), h));
        }
    }
    out
}

/// A function's symbol, demangled without its hash (`coconut_cbor::Decoder::next`).
pub fn demangle(symbol: &str) -> String {
    match rustc_demangle::try_demangle(symbol) {
        Ok(d) => format!("{d:#}"),
        Err(_) => symbol.to_string(),
    }
}

/// Per function of `llvm-objdump -dr` output: the demangled name and the largest immediate of a
/// `sub $N, %rsp` in its body (its stack frame below the saved registers).
pub fn stack_frames(objdump: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in objdump.lines() {
        if let Some(name) = function_header(line) {
            let name = demangle(name);
            out.entry(name.clone()).or_insert(0);
            current = Some(name);
            continue;
        }
        let Some(func) = current.as_ref() else {
            continue;
        };
        if let Some(bytes) = rsp_sub(line) {
            let slot = out.entry(func.clone()).or_insert(0);
            *slot = (*slot).max(bytes);
        }
    }
    out
}

/// `0000000000000000 <symbol>:` → `symbol`.
fn function_header(line: &str) -> Option<&str> {
    let (addr, rest) = line.split_once(' ')?;
    if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    rest.strip_prefix('<')?.strip_suffix(">:")
}

/// The immediate of `sub[q] $N, %rsp` (AT&T syntax, N hex or decimal), if `line` is one.
/// llvm-objdump appends `# imm = 0x128` to large immediates: the comment is dropped.
fn rsp_sub(line: &str) -> Option<u64> {
    let code = line.split('#').next().unwrap_or(line);
    let mut words = code.split_whitespace();
    words.find(|w| *w == "subq" || *w == "sub")?;
    let operands: String = words.collect::<Vec<_>>().join("");
    let (imm, dest) = operands.strip_prefix('$')?.split_once(',')?;
    if dest != "%rsp" {
        return None;
    }
    match imm.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => imm.parse().ok(),
    }
}

/// Per function of `llvm-objdump -dr` output: the panic-family symbols it references (short
/// names, see [`panic_symbol`]).
///
/// A function references a symbol when one of its relocations names it, or when it calls a
/// `core`/`alloc` function instantiated into the same object (`copy_from_slice`,
/// `slice::index::range`, …) that references it: those generic bodies are part of the caller's
/// code in all but inlining, so their panics are attributed to their callers, transitively, and
/// they are not listed themselves.
pub fn panic_references(objdump: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in objdump.lines() {
        if let Some(name) = function_header(line) {
            let name = demangle(name);
            direct.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(func) = current.as_ref() else {
            continue;
        };
        let Some(target) = relocation_target(line) else {
            continue;
        };
        let target = demangle(target);
        match panic_symbol(&target) {
            Some(short) => {
                direct.entry(func.clone()).or_default().insert(short);
            }
            None => {
                calls.entry(func.clone()).or_default().insert(target);
            }
        }
    }
    let mut out = BTreeMap::new();
    for func in direct.keys().filter(|f| !is_library(f)) {
        let mut found = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![func.clone()];
        while let Some(f) = stack.pop() {
            if !seen.insert(f.clone()) {
                continue;
            }
            if let Some(syms) = direct.get(&f) {
                found.extend(syms.iter().cloned());
            }
            for callee in calls.get(&f).into_iter().flatten() {
                if is_library(callee) && direct.contains_key(callee) {
                    stack.push(callee.clone());
                }
            }
        }
        if !found.is_empty() {
            out.insert(func.clone(), found);
        }
    }
    out
}

/// Whether a demangled name is a `core` or `alloc` function: a path in them, or a method of a
/// type they define (`<core::… as …>::len`, `<&mut core::…>::…`), or of a primitive
/// (`<[u8]>::copy_within`, `<str>::…`), whose inherent methods live in `core`.
fn is_library(demangled: &str) -> bool {
    let mut inner = demangled;
    if let Some(rest) = inner.strip_prefix('<') {
        inner = rest;
        for prefix in ["&mut ", "&", "*const ", "*mut "] {
            inner = inner.strip_prefix(prefix).unwrap_or(inner);
        }
        let primitive = inner.starts_with('[')
            || [
                "str", "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize",
            ]
            .iter()
            .any(|p| inner.starts_with(&format!("{p}>")) || inner.starts_with(&format!("{p} as ")));
        if primitive {
            return true;
        }
    }
    inner.starts_with("core::") || inner.starts_with("alloc::")
}

/// `   0000000000000014:  R_X86_64_PLT32  symbol-0x4` → `symbol`.
fn relocation_target(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let offset = words.next()?;
    offset.strip_suffix(':')?;
    if !words.next()?.starts_with("R_X86_64_") {
        return None;
    }
    let target = words.next()?;
    // Strip the addend (`+0x10`, `-0x4`); symbol names never contain `+`, and Rust's and C's
    // never contain `-`.
    let end = target.find(['+', '-']).unwrap_or(target.len());
    Some(&target[..end])
}

/// Whether a demangled symbol belongs to the panic family, and its short name if so.
///
/// The rule, read from what `llvm-objdump -dr` of our objects shows: any function of
/// `core::panicking` (`panic`, `panic_fmt`, `panic_bounds_check`, `panic_const::*`, …), and any
/// function of `core` or `alloc` whose name ends in `_fail` or `_failed` or contains `panic`
/// (`slice_index_fail`, `slice_end_index_len_fail`, `len_mismatch_fail`, `unwrap_failed`,
/// `expect_failed`, `str::slice_error_fail`, `cell::panic_already_borrowed`, …). The short name
/// is the last path segment.
pub fn panic_symbol(demangled: &str) -> Option<String> {
    // `<[T]>::copy_from_slice::len_mismatch_fail`: the last segment after the last `::`.
    let last = demangled.rsplit("::").next().unwrap_or(demangled);
    let in_panicking = demangled.starts_with("core::panicking::");
    let named = last.ends_with("_fail") || last.ends_with("_failed") || last.contains("panic");
    if in_panicking || (is_library(demangled) && named) {
        Some(last.to_string())
    } else {
        None
    }
}

/// One `(panic symbol, function)` pair of the inventory.
pub type PanicRef = (String, String);

/// The inventory as a set of `(symbol, function)` pairs.
pub fn inventory(refs: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<PanicRef> {
    refs.iter()
        .flat_map(|(func, syms)| syms.iter().map(move |s| (s.clone(), func.clone())))
        .collect()
}

/// Reads kernel/checks/panic-allowlist-<config>.txt: `symbol function` per line, `#` comments.
pub fn parse_allowlist(text: &str) -> Result<BTreeSet<PanicRef>> {
    let mut out = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (sym, func) = line
            .split_once(' ')
            .with_context(|| format!("line {}: want `symbol function`, got `{line}`", n + 1))?;
        out.insert((sym.to_string(), func.trim().to_string()));
    }
    Ok(out)
}

/// Renders the allowlist file for `found`.
pub fn render_allowlist(found: &BTreeSet<PanicRef>) -> String {
    let mut out = String::from(
        "# Functions of the kernel's Rust objects that reference a panic symbol, one\n\
         # `symbol function` pair per line (see docs/ARCHITECTURE.md, the object checks).\n\
         # The build fails on a pair not listed here (a new reachable panic) and on a listed pair\n\
         # that is gone (delete its line: the list only shrinks). Regenerate after removing\n\
         # panics: cargo xtask kernel --update-allowlist.\n",
    );
    for (sym, func) in found {
        out.push_str(sym);
        out.push(' ');
        out.push_str(func);
        out.push('\n');
    }
    out
}

/// What differs between the found inventory and the allowlist.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AllowlistDiff {
    /// Found but not listed: new panic references.
    pub new: Vec<PanicRef>,
    /// Listed but not found: lines to delete.
    pub stale: Vec<PanicRef>,
}

impl AllowlistDiff {
    /// Whether found and allowed agree.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.stale.is_empty()
    }
}

/// Compares the found inventory with the allowlist.
pub fn diff_allowlist(found: &BTreeSet<PanicRef>, allowed: &BTreeSet<PanicRef>) -> AllowlistDiff {
    AllowlistDiff {
        new: found.difference(allowed).cloned().collect(),
        stale: allowed.difference(found).cloned().collect(),
    }
}

/// An entry of kernel/checks/stack-frames.txt: a function allowed a larger frame, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameException {
    /// The demangled function name.
    pub function: String,
    /// Its own bound in bytes.
    pub bound: u64,
    /// Why it needs more than the global bound.
    pub reason: String,
}

/// Reads kernel/checks/stack-frames.txt: `BYTES FUNCTION -- REASON` per line, `#` comments.
pub fn parse_frame_exceptions(text: &str) -> Result<Vec<FrameException>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            format!(
                "line {}: want `BYTES FUNCTION -- REASON`, got `{line}`",
                n + 1
            )
        };
        let (bound, rest) = line.split_once(' ').with_context(bad)?;
        let (function, reason) = rest.split_once(" -- ").with_context(bad)?;
        let bound = bound.parse().with_context(bad)?;
        if reason.trim().is_empty() {
            bail!(bad());
        }
        out.push(FrameException {
            function: function.trim().to_string(),
            bound,
            reason: reason.trim().to_string(),
        });
    }
    Ok(out)
}

/// The outcome of checking frames: problems fail the build; stale exceptions (a listed function
/// back within the bound, or gone) are reported so their lines get deleted.
#[derive(Debug, Default)]
pub struct FrameCheck {
    /// Frames over their bound, one line each.
    pub problems: Vec<String>,
    /// Exceptions no longer needed, one line each.
    pub stale: Vec<String>,
}

/// Checks every frame against `bound` (or its exception's bound).
pub fn check_frames(
    frames: &BTreeMap<String, u64>,
    bound: u64,
    exceptions: &[FrameException],
) -> FrameCheck {
    let mut out = FrameCheck::default();
    for (func, &size) in frames {
        match exceptions.iter().find(|e| &e.function == func) {
            Some(e) if size > e.bound => out.problems.push(format!(
                "{func}: stack frame {size} bytes, over its exception's bound of {} bytes",
                e.bound
            )),
            Some(_) => {}
            None if size > bound => out.problems.push(format!(
                "{func}: stack frame {size} bytes, over the bound of {bound} bytes"
            )),
            None => {}
        }
    }
    for e in exceptions {
        match frames.get(&e.function) {
            None => out.stale.push(format!(
                "{}: listed in kernel/checks/stack-frames.txt but not in the objects; delete its line",
                e.function
            )),
            Some(&size) if size <= bound => out.stale.push(format!(
                "{}: stack frame {size} bytes is within the bound of {bound} bytes now; delete its line from kernel/checks/stack-frames.txt",
                e.function
            )),
            Some(_) => {}
        }
    }
    out
}

/// The `n` largest frames, largest first.
pub fn largest_frames(frames: &BTreeMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut all: Vec<(&str, u64)> = frames.iter().map(|(f, &s)| (f.as_str(), s)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(n);
    all
}
