//! One-shot hashing of messages longer than one chunk, by a walk down the BLAKE3 tree.
//!
//! Job: the root output of a message that is in memory as a whole (the one-shot functions, and
//! [`super::chain_step`] for events over 992 bytes) without a [`super::Hasher`], whose 54-entry
//! chaining value stack is 1.9 KiB. The message is `prefix || body`, the prefix being empty or
//! the audit chain's previous head, so `prev || event` is never concatenated.
//!
//! The tree of a message of n > 1 chunks has a perfect left subtree of the largest power of two
//! chunks below n and a right subtree of the rest (paper, section 2.1). [`subtree_cv`] follows
//! that definition recursively, as the `blake3` crate's own one-shot path does. Each level is one
//! small frame (two chaining values and the saved registers, about 180 bytes on x86_64: the
//! chunk and parent compressions are separate, non-inlined functions), and the depth is the tree
//! height, log2 of the chunk count: 4 levels (0.7 KiB) for 16 KiB, 14 levels (2.5 KiB) for
//! 16 MiB. A [`super::Hasher`] (1.9 KiB whatever the length) is the better tool past a few
//! MiB; kernel callers hash small messages.
//!
//! Constraints: no panics (slices are split with `split_at_checked`), no heap, no `unsafe`, no
//! frame over a few hundred bytes.

use super::chunk::{chunk_tail_output, parent_output, prefixed_chunk_output, Output};
use super::compress::CHUNK_START;
use super::CHUNK_LEN;

/// A message given as an optional 32-byte prefix followed by the body.
#[derive(Clone, Copy)]
pub(super) struct Parts<'a> {
    /// The first 32 bytes of the message, if it has such a prefix.
    pub(super) prefix: Option<&'a [u8; 32]>,
    /// The rest of the message.
    pub(super) body: &'a [u8],
}

impl<'a> Parts<'a> {
    /// The length of the whole message. A slice holds at most `isize::MAX` bytes, so adding 32
    /// cannot overflow `usize`.
    fn len(&self) -> usize {
        let prefix = if self.prefix.is_some() { 32 } else { 0 };
        self.body.len().wrapping_add(prefix)
    }

    /// Splits the message after its first `at` bytes. Needs `at >= 32` when there is a prefix
    /// (callers split at whole chunks, at least 1024 bytes); an `at` past the end gives an empty
    /// right part.
    fn split(self, at: usize) -> (Parts<'a>, Parts<'a>) {
        let body_at = if self.prefix.is_some() {
            at.saturating_sub(32)
        } else {
            at
        };
        let (left, right) = self
            .body
            .split_at_checked(body_at)
            .unwrap_or((self.body, &[]));
        (
            Parts {
                prefix: self.prefix,
                body: left,
            },
            Parts {
                prefix: None,
                body: right,
            },
        )
    }
}

/// The length of the left subtree of a message of `len > CHUNK_LEN` bytes: the largest power
/// of two of chunks that leaves at least one byte for the right subtree.
fn left_len(len: usize) -> usize {
    // `len > CHUNK_LEN`, so `full` (the chunks before the last one) is at least 1.
    let full = len.saturating_sub(1) / CHUNK_LEN;
    let chunks = 1usize << full.checked_ilog2().unwrap_or(0);
    // `chunks <= full`, so the product is below `len`.
    chunks.wrapping_mul(CHUNK_LEN)
}

/// The root output of a message longer than one chunk (`message.len() > CHUNK_LEN`), hashed
/// under `key` with mode `flags`: the parent of its two subtrees.
#[inline(never)]
pub(super) fn root_output(key: &[u32; 8], flags: u32, message: Parts<'_>) -> Output {
    let split = left_len(message.len());
    let (left, right) = message.split(split);
    let left_cv = subtree_cv(key, flags, left, 0);
    // A chunk counter is below 2^54 for any slice, so this conversion is exact.
    let right_cv = subtree_cv(key, flags, right, (split / CHUNK_LEN) as u64);
    parent_output(&left_cv, &right_cv, key, flags)
}

/// The chaining value of the non-root subtree holding `message`, whose first chunk has index
/// `counter`.
#[inline(never)]
fn subtree_cv(key: &[u32; 8], flags: u32, message: Parts<'_>, counter: u64) -> [u32; 8] {
    if message.len() <= CHUNK_LEN {
        return chunk_cv(key, flags, message, counter);
    }
    let split = left_len(message.len());
    let (left, right) = message.split(split);
    let left_cv = subtree_cv(key, flags, left, counter);
    // The counter of the right half stays below 2^54 (module docs), so this cannot wrap.
    let right_counter = counter.wrapping_add((split / CHUNK_LEN) as u64);
    let right_cv = subtree_cv(key, flags, right, right_counter);
    parent_cv(key, flags, &left_cv, &right_cv)
}

/// The chaining value of one chunk that is not the root.
#[inline(never)]
fn chunk_cv(key: &[u32; 8], flags: u32, message: Parts<'_>, counter: u64) -> [u32; 8] {
    match message.prefix {
        // Only the first chunk of a message has the prefix, and its counter is 0.
        Some(prefix) => prefixed_chunk_cv(key, flags, prefix, message.body),
        None => chunk_tail_output(*key, CHUNK_START, message.body, counter, flags).chaining_value(),
    }
}

/// The chaining value of the first chunk of `prefix || body`, out of line: with both chunk
/// paths in one function the compiler stopped inlining the compression into their loops, which
/// cost about 5% on long messages.
#[inline(never)]
fn prefixed_chunk_cv(key: &[u32; 8], flags: u32, prefix: &[u8; 32], body: &[u8]) -> [u32; 8] {
    prefixed_chunk_output(key, prefix, body, flags).chaining_value()
}

/// The chaining value of a parent node that is not the root.
#[inline(never)]
fn parent_cv(key: &[u32; 8], flags: u32, left: &[u32; 8], right: &[u32; 8]) -> [u32; 8] {
    parent_output(left, right, key, flags).chaining_value()
}
