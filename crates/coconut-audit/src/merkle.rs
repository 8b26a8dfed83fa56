//! The Merkle tree over a boot's events that checkpoints sign: RFC 9162 §2.1 with BLAKE3-256.
//!
//! Job: the tree shape and domain separation of RFC 9162 §2.1 with BLAKE3-256 as `H`
//! (`docs/formats/audit.md`, "Checkpoints"): a leaf is `H(0x00 || event)` ([`leaf_hash`]), an
//! inner node `H(0x01 || left || right)` ([`node_hash`]), a tree of `n > 1` leaves splits at the
//! largest power of two smaller than `n`, and the empty tree's root is `H()` ([`empty_root`]).
//!
//! - [`Frontier`] is what the kernel keeps: the roots of the perfect subtrees that make up the
//!   tree so far (at most 64) and its size; [`Frontier::push`] adds one leaf in O(log n) node
//!   hashes (amortised 1), [`Frontier::root`] gives the root of the current size.
//! - [`verify_inclusion`] and [`verify_consistency`] are the verification algorithms of RFC 9162
//!   §2.1.3.2 and §2.1.4.2, each failing with a [`MerkleError`] that says why.
//! - [`inclusion_proof`] and [`consistency_proof`] generate RFC 9162's `PATH` and `PROOF` from a
//!   leaf-hash accessor (user space reads the rows of a boot), [`inclusion_proof_from`] and
//!   [`consistency_proof_from`] from a slice of leaf hashes; the proof goes into a caller's
//!   [`Proof`] buffer, leaf side first, and its length is returned.
//!
//! Constraints: no_std, no heap, no panics on any input. The kernel links all of it, so every
//! frame stays small: a [`Frontier`] (2 KiB) lives in the caller's memory, never in a frame of
//! this module, and proof generation computes subtree roots by recursion (depth at most 64, a
//! frame of about 100 bytes each) instead of with a stack of hashes. Generation costs
//! O(n) leaf reads per proof: the rows are read once anyway.

use super::blake3::hash;
use super::event::EVENT_MAX;

/// The most hashes a [`Frontier`] holds and a [`Proof`] buffer takes: one per bit of a `u64`
/// tree size.
pub const MAX_DEPTH: usize = 64;

/// A caller's buffer for a generated proof; the generators return how many entries they wrote.
pub type Proof = [[u8; 32]; MAX_DEPTH];

/// Why a Merkle proof did not verify or could not be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    IndexOutOfRange,
    /// The first tree of a consistency proof is larger than the second.
    SizeOrder,
    /// The proof has more hashes than the tree sizes call for.
    ProofTooLong,
    /// The proof has fewer hashes than the tree sizes call for.
    ProofTooShort,
    /// The proof, leaf and sizes give another root than the one claimed (of the second tree,
    /// for a consistency proof).
    RootMismatch,
    /// A consistency proof gives another root for the first tree than the one claimed.
    OldRootMismatch,
    /// A leaf longer than an audit event ([`super::EVENT_MAX`] bytes).
    EventTooLong,
    /// The frontier already holds `u64::MAX` leaves.
    TreeFull,
    /// Generation: the proof would need more than [`MAX_DEPTH`] hashes (a consistency proof in a
    /// tree of more than 2^63 leaves can need 65).
    ProofBufferTooSmall,
}

impl core::fmt::Display for MerkleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MerkleError::IndexOutOfRange => "leaf index is not below the tree size",
            MerkleError::SizeOrder => "the first tree is larger than the second",
            MerkleError::ProofTooLong => "proof has more hashes than the tree sizes call for",
            MerkleError::ProofTooShort => "proof has fewer hashes than the tree sizes call for",
            MerkleError::RootMismatch => "proof does not lead to the claimed root",
            MerkleError::OldRootMismatch => {
                "consistency proof does not lead to the claimed root of the first tree"
            }
            MerkleError::EventTooLong => "leaf is longer than an audit event",
            MerkleError::TreeFull => "the tree already holds u64::MAX leaves",
            MerkleError::ProofBufferTooSmall => "proof needs more than 64 hashes",
        })
    }
}

/// The root of the empty tree: `H()` of no input.
pub fn empty_root() -> [u8; 32] {
    hash(&[])
}

/// The leaf hash of an event: `H(0x00 || event)`. Events are at most [`super::EVENT_MAX`]
/// bytes (else [`MerkleError::EventTooLong`]), so the prefixed copy fits a fixed frame.
pub fn leaf_hash(event: &[u8]) -> Result<[u8; 32], MerkleError> {
    let mut buf = [0u8; 1 + EVENT_MAX];
    let len = match event.len().checked_add(1) {
        Some(len) if len <= buf.len() => len,
        _ => return Err(MerkleError::EventTooLong),
    };
    // buf[0] stays 0x00. A plain zip rather than `copy_from_slice`, whose length check the
    // kernel's opt-level=s leaves in with its panic.
    if let Some((_, body)) = buf.split_first_mut() {
        for (dst, src) in body.iter_mut().zip(event) {
            *dst = *src;
        }
    }
    Ok(hash(buf.get(..len).unwrap_or(&[])))
}

/// The hash of an inner node: `H(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut buf = [0u8; 65];
    // Fixed-size splits only: no length is checked at run time.
    if let Some((tag, children)) = buf.split_first_mut() {
        *tag = 0x01;
        if let Some((l, r)) = children.split_first_chunk_mut::<32>() {
            *l = *left;
            if let Some(r) = r.first_chunk_mut::<32>() {
                *r = *right;
            }
        }
    }
    hash(&buf)
}

/// The largest power of two smaller than `n`, for `n >= 2` (1 for smaller `n`).
fn split(n: u64) -> u64 {
    match n {
        0..=2 => 1,
        // n - 1 >= 2, so its leading zeros are below 63 and the shift stays in range.
        _ => 1u64 << (63u32.saturating_sub(n.saturating_sub(1).leading_zeros())),
    }
}

/// The tree so far, as the kernel keeps it: for each set bit `i` of `size`, the root of the
/// perfect subtree of `2^i` leaves that covers its part of the tree (largest first from the
/// left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    /// `nodes[i]` is meaningful when bit `i` of `size` is set.
    nodes: [[u8; 32]; MAX_DEPTH],
    size: u64,
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::new()
    }
}

impl Frontier {
    /// The empty tree.
    pub const fn new() -> Frontier {
        Frontier {
            nodes: [[0; 32]; MAX_DEPTH],
            size: 0,
        }
    }

    /// Empties the tree in place (assigning [`Frontier::new`] would build a 2 KiB temporary,
    /// which -O2 keeps in the caller's stack frame).
    pub fn reset(&mut self) {
        for node in self.nodes.iter_mut() {
            *node = [0; 32];
        }
        self.size = 0;
    }

    /// The number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf hash (see [`leaf_hash`]): merges the perfect subtrees it completes.
    pub fn push(&mut self, leaf: &[u8; 32]) -> Result<(), MerkleError> {
        let next = self.size.checked_add(1).ok_or(MerkleError::TreeFull)?;
        let mut carry = *leaf;
        // size < u64::MAX has a clear bit below 64: the loop stores `carry` there.
        for (bit, node) in self.nodes.iter_mut().enumerate() {
            if (self.size >> bit) & 1 == 0 {
                *node = carry;
                break;
            }
            carry = node_hash(node, &carry);
        }
        self.size = next;
        Ok(())
    }

    /// The root of the tree of the current size ([`empty_root`] when empty).
    pub fn root(&self) -> [u8; 32] {
        let mut root: Option<[u8; 32]> = None;
        for (bit, node) in self.nodes.iter().enumerate() {
            if (self.size >> bit) & 1 == 1 {
                root = Some(match root {
                    None => *node,
                    Some(right) => node_hash(node, &right),
                });
            }
        }
        root.unwrap_or_else(empty_root)
    }
}

/// RFC 9162 §2.1.3.2: checks that `leaf` is leaf `index` of the tree of `size` leaves whose
/// root is `root`, given the inclusion proof `proof` (leaf side first).
///
/// As in RFC 9162, the size enters only through the path's shape: a size whose path puts every
/// hash on the same side verifies too (the root of 3 leaves is also a root of 4 leaves whose
/// last "leaf" is a node). The size is bound by the checkpoint that signs it with the root.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &[u8; 32],
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange);
    }
    let mut f = index;
    // size > index >= 0.
    let mut s = size.saturating_sub(1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::ProofTooLong);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: checks that the tree of `size1` leaves with root `root1` is a prefix of
/// the tree of `size2` leaves with root `root2`, given the consistency proof `proof`.
///
/// RFC 9162 defines proofs for `0 < size1 < size2`; here the two edges are defined too, each with
/// an empty proof: `size1 == size2` holds when the roots are equal, and `size1 == 0` when
/// `root1` is [`empty_root`] (every tree extends the empty one).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &[u8; 32],
    root2: &[u8; 32],
    proof: &[[u8; 32]],
) -> Result<(), MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::SizeOrder);
    }
    if size1 == 0 || size1 == size2 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofTooLong);
        }
        if size1 == 0 && *root1 != empty_root() {
            return Err(MerkleError::OldRootMismatch);
        }
        if size1 == size2 && root1 != root2 {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    // Step 2: a power-of-two first tree is a node of the second, so its root opens the path.
    let (first, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        proof.split_first().ok_or(MerkleError::ProofTooShort)?
    };
    // 0 < size1 < size2.
    let mut f = size1.saturating_sub(1);
    let mut s = size2.saturating_sub(1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if s == 0 {
            return Err(MerkleError::ProofTooLong);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if fr != *root1 {
        return Err(MerkleError::OldRootMismatch);
    }
    if sr != *root2 {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The root of leaves `start..start + len` (`len >= 1`), by RFC 9162's `MTH` recursion.
fn range_root(leaf: &mut dyn FnMut(u64) -> [u8; 32], start: u64, len: u64) -> [u8; 32] {
    if len <= 1 {
        return leaf(start);
    }
    let k = split(len);
    let left = range_root(leaf, start, k);
    let right = range_root(leaf, start.saturating_add(k), len.saturating_sub(k));
    node_hash(&left, &right)
}

/// Reverses `out[..len]` from top-down order to RFC 9162's leaf side first; returns `len`.
fn finish(out: &mut Proof, len: usize) -> usize {
    if let Some(path) = out.get_mut(..len) {
        path.reverse();
    }
    len
}

/// Appends `h` at `out[*len]`.
fn put(out: &mut Proof, len: &mut usize, h: [u8; 32]) -> Result<(), MerkleError> {
    let slot = out.get_mut(*len).ok_or(MerkleError::ProofBufferTooSmall)?;
    *slot = h;
    *len = len.saturating_add(1);
    Ok(())
}

/// RFC 9162 §2.1.3.1 `PATH(index, D[0:size])`, reading leaf hashes through `leaf` (called with
/// indices below `size`): writes the inclusion proof into `out`, leaf side first, and returns
/// its length.
pub fn inclusion_proof(
    leaf: &mut dyn FnMut(u64) -> [u8; 32],
    index: u64,
    size: u64,
    out: &mut Proof,
) -> Result<usize, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange);
    }
    // Top down: the subtree start..start + len holds the leaf; each level adds the sibling.
    let (mut start, mut len, mut n) = (0u64, size, 0usize);
    while len > 1 {
        let k = split(len);
        let mid = start.saturating_add(k);
        if index < mid {
            put(out, &mut n, range_root(leaf, mid, len.saturating_sub(k)))?;
            len = k;
        } else {
            put(out, &mut n, range_root(leaf, start, k))?;
            start = mid;
            len = len.saturating_sub(k);
        }
    }
    Ok(finish(out, n))
}

/// RFC 9162 §2.1.4.1 `PROOF(size1, D[0:size2])`, reading leaf hashes through `leaf` (called
/// with indices below `size2`): writes the consistency proof into `out` and returns its length
/// (0 when `size1` is 0 or `size2`).
pub fn consistency_proof(
    leaf: &mut dyn FnMut(u64) -> [u8; 32],
    size1: u64,
    size2: u64,
    out: &mut Proof,
) -> Result<usize, MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::SizeOrder);
    }
    if size1 == 0 || size1 == size2 {
        return Ok(0);
    }
    // SUBPROOF(m, D[start..start + len], whole) top down; `whole` is RFC 9162's `b`: the
    // subtree is still the first tree's own root, which the verifier knows.
    let (mut start, mut len, mut m, mut whole, mut n) = (0u64, size2, size1, true, 0usize);
    loop {
        if m == len {
            if !whole {
                put(out, &mut n, range_root(leaf, start, len))?;
            }
            break;
        }
        let k = split(len);
        let mid = start.saturating_add(k);
        if m <= k {
            put(out, &mut n, range_root(leaf, mid, len.saturating_sub(k)))?;
            len = k;
        } else {
            put(out, &mut n, range_root(leaf, start, k))?;
            start = mid;
            len = len.saturating_sub(k);
            m = m.saturating_sub(k);
            whole = false;
        }
    }
    Ok(finish(out, n))
}

/// [`inclusion_proof`] over the tree whose leaf hashes are `leaves`.
pub fn inclusion_proof_from(
    leaves: &[[u8; 32]],
    index: u64,
    out: &mut Proof,
) -> Result<usize, MerkleError> {
    let size = u64::try_from(leaves.len()).map_err(|_| MerkleError::TreeFull)?;
    inclusion_proof(&mut slice_leaf(leaves), index, size, out)
}

/// [`consistency_proof`] from the first `size1` of `leaves` to all of them.
pub fn consistency_proof_from(
    leaves: &[[u8; 32]],
    size1: u64,
    out: &mut Proof,
) -> Result<usize, MerkleError> {
    let size2 = u64::try_from(leaves.len()).map_err(|_| MerkleError::TreeFull)?;
    consistency_proof(&mut slice_leaf(leaves), size1, size2, out)
}

/// The accessor of a slice of leaf hashes (the generators ask only for indices below its
/// length).
fn slice_leaf(leaves: &[[u8; 32]]) -> impl FnMut(u64) -> [u8; 32] + '_ {
    |i| {
        usize::try_from(i)
            .ok()
            .and_then(|i| leaves.get(i))
            .copied()
            .unwrap_or([0; 32])
    }
}
