//! Chunks and node outputs: the leaves of the BLAKE3 tree and the "output" that either becomes
//! a chaining value or, at the root, the hash and its extended output.
//!
//! Job: the incremental [`ChunkState`] used by the streaming hasher, the direct whole-chunk and
//! single-chunk paths used by the one-shot functions (no buffering, no copies except the final
//! zero-padded block), and [`Output`], the not-yet-compressed last block of a node.
//!
//! Constraints: no panics (slices are split with `split_first_chunk`/`split_at_checked`, never
//! indexed), no heap, fixed-size state (a chunk state is under 128 bytes).

use super::compress::{
    block_words, compress_cv, compress_xof, concat_words, cv_bytes, key_words, store_le, CHUNK_END,
    CHUNK_START, PARENT, ROOT,
};
use super::{BLOCK_LEN, CHUNK_LEN};

/// The last block of a node, kept uncompressed until it is known whether the node is the root
/// (then it gets the `ROOT` flag and may be squeezed for any number of output bytes) or an
/// inner node (then it yields an 8-word chaining value).
#[derive(Clone)]
pub(super) struct Output {
    /// The chaining value going into the last compression.
    input_cv: [u32; 8],
    /// The last block as words, zero padded past `block_len`.
    block: [u32; 16],
    /// The chunk counter for chunk nodes, zero for parent nodes.
    counter: u64,
    /// How many bytes of `block` are message bytes (0..=64).
    block_len: u32,
    /// The domain flags of the last compression, without `ROOT`.
    flags: u32,
}

impl Output {
    /// The chaining value of this node as an inner node of the tree.
    #[inline]
    pub(super) fn chaining_value(&self) -> [u32; 8] {
        compress_cv(
            &self.input_cv,
            &self.block,
            self.counter,
            self.block_len,
            self.flags,
        )
    }

    /// The first eight output words, treating this node as the root.
    #[inline]
    pub(super) fn root_words(&self) -> [u32; 8] {
        compress_cv(
            &self.input_cv,
            &self.block,
            0,
            self.block_len,
            self.flags | ROOT,
        )
    }

    /// The 32-byte hash, treating this node as the root.
    #[inline]
    pub(super) fn root_hash(&self) -> [u8; 32] {
        cv_bytes(&self.root_words())
    }

    /// Fills `out` with the extended output of this node as the root, from output offset 0.
    /// Each 64 bytes of output are one root compression with the output block index as counter.
    pub(super) fn root_xof(&self, out: &mut [u8]) {
        let mut output_block: u64 = 0;
        for dest in out.chunks_mut(BLOCK_LEN) {
            let words = compress_xof(
                &self.input_cv,
                &self.block,
                output_block,
                self.block_len,
                self.flags | ROOT,
            );
            let mut bytes = [0u8; BLOCK_LEN];
            store_le(&words, &mut bytes);
            for (d, s) in dest.iter_mut().zip(bytes) {
                *d = s;
            }
            // A slice holds fewer than 2^64 / 64 blocks, so this cannot wrap; wrapping_add only
            // keeps the kernel's overflow checks out of the loop.
            output_block = output_block.wrapping_add(1);
        }
    }
}

/// The output of a parent node whose children have chaining values `left` and `right`.
#[inline]
pub(super) fn parent_output(
    left: &[u32; 8],
    right: &[u32; 8],
    key: &[u32; 8],
    flags: u32,
) -> Output {
    Output {
        input_cv: *key,
        block: concat_words(left, right),
        counter: 0,
        block_len: BLOCK_LEN as u32,
        flags: PARENT | flags,
    }
}

/// Copies up to 64 bytes into a zeroed block. Bytes past 64 are ignored (callers never pass
/// them).
#[inline(always)]
fn padded_block(bytes: &[u8]) -> [u8; BLOCK_LEN] {
    let mut block = [0u8; BLOCK_LEN];
    for (d, s) in block.iter_mut().zip(bytes) {
        *d = *s;
    }
    block
}

/// Compresses the blocks of `input` (the rest of one chunk, at most 1024 bytes) except the last,
/// straight from the caller's slice, and returns the chunk's output. `cv` is the chaining value
/// so far and `start` is `CHUNK_START` if no block of this chunk has been compressed yet, else 0.
/// An empty `input` is a chunk whose last block is empty (only valid for the empty message).
#[inline(always)]
pub(super) fn chunk_tail_output(
    mut cv: [u32; 8],
    mut start: u32,
    mut input: &[u8],
    counter: u64,
    flags: u32,
) -> Output {
    while let Some((block, rest)) = input.split_first_chunk::<BLOCK_LEN>() {
        if rest.is_empty() {
            break;
        }
        cv = compress_cv(
            &cv,
            &block_words(block),
            counter,
            BLOCK_LEN as u32,
            flags | start,
        );
        start = 0;
        input = rest;
    }
    Output {
        input_cv: cv,
        block: block_words(&padded_block(input)),
        counter,
        // The loop leaves at most one block (0..=64 bytes), so this cast is exact.
        block_len: input.len() as u32,
        flags: flags | start | CHUNK_END,
    }
}

/// The root output of a message of at most 1024 bytes (a single chunk with counter 0).
#[inline]
pub(super) fn single_chunk_output(key: &[u32; 8], input: &[u8], flags: u32) -> Output {
    chunk_tail_output(*key, CHUNK_START, input, 0, flags)
}

/// The output of the message `prefix || input` where the whole message fits in one chunk
/// (`input.len() <= 992`), without concatenating: the first block is assembled from the prefix
/// and the first 32 input bytes, the remaining blocks are read straight from `input`.
#[inline]
pub(super) fn prefixed_chunk_output(
    key: &[u32; 8],
    prefix: &[u8; 32],
    input: &[u8],
    flags: u32,
) -> Output {
    match input.split_first_chunk::<32>() {
        Some((head, rest)) if !rest.is_empty() => {
            let first = concat_words(&key_words(prefix), &key_words(head));
            let cv = compress_cv(key, &first, 0, BLOCK_LEN as u32, flags | CHUNK_START);
            chunk_tail_output(cv, 0, rest, 0, flags)
        }
        _ => {
            // The whole message fits in one block.
            let mut tail = [0u8; 32];
            for (d, s) in tail.iter_mut().zip(input) {
                *d = *s;
            }
            Output {
                input_cv: *key,
                block: concat_words(&key_words(prefix), &key_words(&tail)),
                counter: 0,
                // `input` has at most 32 bytes here, so the sum is at most 64.
                block_len: (input.len() as u32).wrapping_add(32),
                flags: flags | CHUNK_START | CHUNK_END,
            }
        }
    }
}

/// The chaining value of one complete, non-root chunk read straight from the caller's slice.
#[inline]
pub(super) fn whole_chunk_cv(
    key: &[u32; 8],
    chunk: &[u8; CHUNK_LEN],
    counter: u64,
    flags: u32,
) -> [u32; 8] {
    chunk_tail_output(*key, CHUNK_START, chunk, counter, flags).chaining_value()
}

/// The incremental state of the chunk currently being filled by the streaming hasher.
#[derive(Clone)]
pub(super) struct ChunkState {
    /// The chaining value after the blocks compressed so far.
    cv: [u32; 8],
    /// The index of this chunk in the message.
    pub(super) chunk_counter: u64,
    /// Bytes of the current, not yet compressed block.
    buf: [u8; BLOCK_LEN],
    /// How many bytes of `buf` are valid (0..=64).
    buf_len: u8,
    /// How many blocks of this chunk have been compressed (0..=15).
    blocks_compressed: u8,
}

impl ChunkState {
    /// A fresh chunk with index `chunk_counter`.
    pub(super) const fn new(key: &[u32; 8], chunk_counter: u64) -> Self {
        Self {
            cv: *key,
            chunk_counter,
            buf: [0; BLOCK_LEN],
            buf_len: 0,
            blocks_compressed: 0,
        }
    }

    /// Bytes absorbed into this chunk so far (0..=1024).
    #[inline]
    pub(super) fn len(&self) -> usize {
        // At most 16 blocks of 64 bytes: neither operation can wrap.
        BLOCK_LEN
            .wrapping_mul(usize::from(self.blocks_compressed))
            .wrapping_add(usize::from(self.buf_len))
    }

    /// `CHUNK_START` while the first block is still to be compressed.
    #[inline]
    fn start_flag(&self) -> u32 {
        if self.blocks_compressed == 0 {
            CHUNK_START
        } else {
            0
        }
    }

    /// Absorbs `input`; the caller guarantees `self.len() + input.len() <= 1024`. The last block
    /// is always kept buffered, because only the next byte (or finalization) tells whether it is
    /// the chunk's last block.
    pub(super) fn update(&mut self, mut input: &[u8], flags: u32) {
        if self.buf_len > 0 {
            let want = BLOCK_LEN.saturating_sub(usize::from(self.buf_len));
            let take = want.min(input.len());
            let (head, rest) = input.split_at_checked(take).unwrap_or((input, &[]));
            if let Some(dest) = self.buf.get_mut(usize::from(self.buf_len)..) {
                for (d, s) in dest.iter_mut().zip(head) {
                    *d = *s;
                }
            }
            // `take` is at most `want`, so the new length is at most 64 and the cast is exact.
            self.buf_len = self.buf_len.wrapping_add(take as u8);
            input = rest;
            if input.is_empty() {
                return;
            }
            self.compress_buffer(flags);
        }
        // The buffer is empty here: compress whole blocks in place while more input follows.
        while let Some((block, rest)) = input.split_first_chunk::<BLOCK_LEN>() {
            if rest.is_empty() {
                break;
            }
            self.cv = compress_cv(
                &self.cv,
                &block_words(block),
                self.chunk_counter,
                BLOCK_LEN as u32,
                flags | self.start_flag(),
            );
            // The caller's bound keeps a chunk to 16 blocks, the last of them buffered.
            self.blocks_compressed = self.blocks_compressed.wrapping_add(1);
            input = rest;
        }
        for (d, s) in self.buf.iter_mut().zip(input) {
            *d = *s;
        }
        // At most one block remains after the loop, so this is at most 64.
        self.buf_len = input.len() as u8;
    }

    /// Compresses the full buffer as a non-final block of this chunk.
    fn compress_buffer(&mut self, flags: u32) {
        self.cv = compress_cv(
            &self.cv,
            &block_words(&self.buf),
            self.chunk_counter,
            BLOCK_LEN as u32,
            flags | self.start_flag(),
        );
        self.blocks_compressed = self.blocks_compressed.wrapping_add(1);
        self.buf_len = 0;
    }

    /// The output of this chunk, its buffered block being the last one.
    pub(super) fn output(&self, flags: u32) -> Output {
        let valid = self.buf.get(..usize::from(self.buf_len)).unwrap_or(&[]);
        Output {
            input_cv: self.cv,
            block: block_words(&padded_block(valid)),
            counter: self.chunk_counter,
            block_len: u32::from(self.buf_len),
            flags: flags | self.start_flag() | CHUNK_END,
        }
    }
}
