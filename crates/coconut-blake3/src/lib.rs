#![cfg_attr(not(CONFIG_RUST), no_std)]
//! BLAKE3 for the kernel side of Coconut OS: hashing, keyed hashing, key derivation and
//! extended output, written from the BLAKE3 specification.
//!
//! Job: hash the tamper-evident audit chain (`head' = BLAKE3(head || event)`, see
//! [`chain_step`]) millions of times per second, plus the general BLAKE3 modes for everything
//! else. The serial speed of one ~200-byte message is what matters, so messages of at most one
//! chunk (1024 bytes) take a direct path that reads blocks straight from the caller's slices;
//! the compression function is straight-line code with the message schedule as fixed index
//! tables.
//!
//! Constraints: the same source is built by cargo on the host and included into the kernel's
//! Rust object, so it is `no_std`, has no dependencies, no heap, no `unsafe`, no SIMD, no floats,
//! no 128-bit integers, and cannot panic on any input (`clippy::arithmetic_side_effects` is
//! denied: every operation that could wrap is written as the wrapping or checked operation it
//! is, with the bound that makes it exact). Stack use is bounded: no function has a frame over
//! about 650 bytes (x86_64, the kernel's build; [`chain_step`]'s deepest chain is about 850
//! bytes). The one-shot functions and [`chain_step`] hash a message of at most one chunk in one
//! small frame, and a longer one by a walk down its tree, about 180 bytes of stack per level,
//! log2 of the chunk count levels (`tree.rs`). [`Hasher`] itself is about 1.9 KiB (the 54-entry chaining
//! value stack that lets it absorb up to 2^64 bytes), so kernel code that streams should keep a
//! hasher in a long-lived allocation rather than on the stack; no function of this crate keeps
//! one in its frame.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
#![deny(unsafe_code)]

mod chunk;
mod compress;
mod tree;

use self::chunk::{
    parent_output, prefixed_chunk_output, single_chunk_output, whole_chunk_cv, ChunkState,
};
use self::compress::{key_words, DERIVE_KEY_CONTEXT, DERIVE_KEY_MATERIAL, IV, KEYED_HASH};

/// The length of a hash, in bytes.
pub const OUT_LEN: usize = 32;
/// The length of a key for keyed hashing, in bytes.
pub const KEY_LEN: usize = 32;
/// The length of one compression block, in bytes.
pub const BLOCK_LEN: usize = 64;
/// The length of one chunk (a leaf of the hash tree), in bytes.
pub const CHUNK_LEN: usize = 1024;

/// Entries of the chaining value stack: a message of up to 2^64 bytes has at most 2^54 chunks,
/// so at most 54 subtrees are pending at once (one per set bit of the chunk count).
const MAX_DEPTH: usize = 54;

/// An incremental BLAKE3 hasher.
///
/// Fixed size (a chunk state plus a stack of 54 chaining values), no heap. `finalize` and
/// `finalize_xof` take `&self`, so a hasher can be finalized and then fed more input.
#[derive(Clone)]
pub struct Hasher {
    /// The key words: the IV, the user's key, or the derived context key.
    key: [u32; 8],
    /// The mode flags (`KEYED_HASH`, `DERIVE_KEY_MATERIAL` or none).
    flags: u32,
    /// The chunk being filled.
    chunk: ChunkState,
    /// Chaining values of completed subtrees, left to right.
    cv_stack: [[u32; 8]; MAX_DEPTH],
    /// How many entries of `cv_stack` are in use.
    cv_stack_len: u8,
}

impl Hasher {
    /// A hasher for the default (unkeyed) hash mode.
    pub fn new() -> Self {
        Self::with_key_words(IV, 0)
    }

    /// A hasher for the keyed hash mode (a MAC or PRF) with a 32-byte key.
    pub fn new_keyed(key: &[u8; KEY_LEN]) -> Self {
        Self::with_key_words(key_words(key), KEYED_HASH)
    }

    /// A hasher for the key derivation mode. `context` should be a hardcoded, globally unique,
    /// application-specific string; the key material is then fed with [`Hasher::update`].
    pub fn new_derive_key(context: &str) -> Self {
        let context_key = hash_words(&IV, DERIVE_KEY_CONTEXT, context.as_bytes());
        Self::with_key_words(context_key, DERIVE_KEY_MATERIAL)
    }

    /// A hasher under `key` with mode `flags`.
    fn with_key_words(key: [u32; 8], flags: u32) -> Self {
        // Starting from the constant empty hasher lets the compiler build the result in the
        // caller's return slot: a literal `[[0; 8]; 54]` here was zeroed in a 1.9 KiB temporary
        // on the stack first and then copied.
        let mut hasher = Self::EMPTY;
        hasher.key = key;
        hasher.flags = flags;
        hasher.chunk = ChunkState::new(&key, 0);
        hasher
    }

    /// The default-mode hasher with no input, as a constant.
    const EMPTY: Hasher = Hasher {
        key: IV,
        flags: 0,
        chunk: ChunkState::new(&IV, 0),
        cv_stack: [[0; 8]; MAX_DEPTH],
        cv_stack_len: 0,
    };

    /// Absorbs more input. Splitting a message into any sequence of `update` calls gives the
    /// same hash as hashing it at once.
    pub fn update(&mut self, mut input: &[u8]) -> &mut Self {
        while !input.is_empty() {
            if self.chunk.len() == CHUNK_LEN {
                // More input follows, so the full chunk is not the root: retire it.
                let cv = self.chunk.output(self.flags).chaining_value();
                let total_chunks = self.chunk.chunk_counter.wrapping_add(1);
                self.push_chunk_cv(cv, total_chunks);
                self.chunk = ChunkState::new(&self.key, total_chunks);
            }
            if self.chunk.len() == 0 {
                // Whole chunks followed by more input are hashed straight from the slice.
                while let Some((whole, rest)) = input.split_first_chunk::<CHUNK_LEN>() {
                    if rest.is_empty() {
                        break;
                    }
                    let counter = self.chunk.chunk_counter;
                    let cv = whole_chunk_cv(&self.key, whole, counter, self.flags);
                    let total_chunks = counter.wrapping_add(1);
                    self.push_chunk_cv(cv, total_chunks);
                    self.chunk.chunk_counter = total_chunks;
                    input = rest;
                }
            }
            let take = CHUNK_LEN.saturating_sub(self.chunk.len()).min(input.len());
            let (head, rest) = input.split_at_checked(take).unwrap_or((input, &[]));
            self.chunk.update(head, self.flags);
            input = rest;
        }
        self
    }

    /// Pushes the chaining value of a completed chunk, first merging every subtree it completes:
    /// after `total_chunks` chunks, one merge happens per trailing zero bit of `total_chunks`.
    fn push_chunk_cv(&mut self, mut cv: [u32; 8], mut total_chunks: u64) {
        while total_chunks & 1 == 0 {
            let Some(top) = self.cv_stack_len.checked_sub(1) else {
                break;
            };
            self.cv_stack_len = top;
            let left = self
                .cv_stack
                .get(usize::from(self.cv_stack_len))
                .copied()
                .unwrap_or([0; 8]);
            cv = parent_output(&left, &cv, &self.key, self.flags).chaining_value();
            total_chunks >>= 1;
        }
        // The stack holds one entry per set bit of the chunk count, at most 54 for 2^64 bytes.
        let slot = self.cv_stack.get_mut(usize::from(self.cv_stack_len));
        debug_assert!(slot.is_some(), "BLAKE3 chaining value stack overflow");
        if let Some(slot) = slot {
            *slot = cv;
            // `get_mut` succeeded, so the length is below 54 and this cannot wrap.
            self.cv_stack_len = self.cv_stack_len.wrapping_add(1);
        }
    }

    /// The root output of the input absorbed so far.
    fn root_output(&self) -> chunk::Output {
        let mut output = self.chunk.output(self.flags);
        let pending = self
            .cv_stack
            .get(..usize::from(self.cv_stack_len))
            .unwrap_or(&[]);
        for left in pending.iter().rev() {
            output = parent_output(left, &output.chaining_value(), &self.key, self.flags);
        }
        output
    }

    /// The 32-byte hash of the input absorbed so far.
    pub fn finalize(&self) -> [u8; OUT_LEN] {
        self.root_output().root_hash()
    }

    /// Fills `out` with the extended output of the input absorbed so far, starting at output
    /// offset 0. Any length works; the first 32 bytes equal [`Hasher::finalize`].
    pub fn finalize_xof(&self, out: &mut [u8]) {
        self.root_output().root_xof(out);
    }

    /// Forgets all input, keeping the mode and key.
    pub fn reset(&mut self) -> &mut Self {
        self.chunk = ChunkState::new(&self.key, 0);
        self.cv_stack_len = 0;
        self
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

/// The root output of `input` hashed under `key` with mode `flags`. Messages of at most one
/// chunk take the direct path; longer ones walk the tree (`tree.rs`).
#[inline]
fn root_output(key: &[u32; 8], flags: u32, input: &[u8]) -> chunk::Output {
    if input.len() <= CHUNK_LEN {
        single_chunk_output(key, input, flags)
    } else {
        let message = tree::Parts {
            prefix: None,
            body: input,
        };
        tree::root_output(key, flags, message)
    }
}

/// The root chaining value of `input` as words (the context key of the derive-key mode).
fn hash_words(key: &[u32; 8], flags: u32, input: &[u8]) -> [u32; 8] {
    root_output(key, flags, input).root_words()
}

/// The 32-byte hash of `input` under `key` with mode `flags`.
#[inline]
fn hash_bytes(key: &[u32; 8], flags: u32, input: &[u8]) -> [u8; OUT_LEN] {
    root_output(key, flags, input).root_hash()
}

/// The BLAKE3 hash of `input`.
pub fn hash(input: &[u8]) -> [u8; OUT_LEN] {
    hash_bytes(&IV, 0, input)
}

/// The keyed BLAKE3 hash of `input` under a 32-byte `key` (a MAC or PRF).
pub fn keyed_hash(key: &[u8; KEY_LEN], input: &[u8]) -> [u8; OUT_LEN] {
    hash_bytes(&key_words(key), KEYED_HASH, input)
}

/// Derives a 32-byte key from `key_material` for the purpose named by `context` (a hardcoded,
/// globally unique, application-specific string).
pub fn derive_key(context: &str, key_material: &[u8]) -> [u8; OUT_LEN] {
    let context_key = hash_words(&IV, DERIVE_KEY_CONTEXT, context.as_bytes());
    hash_bytes(&context_key, DERIVE_KEY_MATERIAL, key_material)
}

/// One audit-chain step: BLAKE3(prev || event) without concatenating into a buffer.
///
/// Events of up to 992 bytes (so that `prev || event` fits one chunk) are hashed straight from
/// the two slices; longer events walk the tree of `prev || event` out of line, also without a
/// copy, so the hot path's frame holds only one chunk's state.
pub fn chain_step(prev: &[u8; OUT_LEN], event: &[u8]) -> [u8; OUT_LEN] {
    if event.len() <= CHUNK_LEN - OUT_LEN {
        prefixed_chunk_output(&IV, prev, event, 0).root_hash()
    } else {
        chain_step_long(prev, event)
    }
}

/// [`chain_step`] for events over 992 bytes: rare, and kept out of the hot path's frame.
#[cold]
#[inline(never)]
fn chain_step_long(prev: &[u8; OUT_LEN], event: &[u8]) -> [u8; OUT_LEN] {
    let message = tree::Parts {
        prefix: Some(prev),
        body: event,
    };
    tree::root_output(&IV, 0, message).root_hash()
}

/// Compile-time checks of the sizes the module docs promise.
const _: () = {
    assert!(core::mem::size_of::<ChunkState>() <= 128);
    assert!(core::mem::size_of::<Hasher>() <= 2048);
};
