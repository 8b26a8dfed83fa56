//! `coconut audit prove` and `coconut audit consistency`: RFC 9162 proofs against a boot's
//! signed checkpoints, computed from the rows in user space.
//!
//! Job: [`collect`] verifies the inputs exactly as `coconut audit verify` does (chain,
//! checkpoints, signatures; a bad chain proves nothing, so it fails the same way) and keeps the
//! chain hashes of one boot, from seq 0, with that boot's checkpoints. [`inclusion`] finds the
//! latest checkpoint covering a seq and builds the inclusion proof of the row's leaf
//! (`leaf_hash(hash_seq)`) against its root; [`consistency`] builds the consistency proof
//! between two checkpoints of the boot, named by their sizes. Both proofs are checked with the
//! shared `verify_inclusion` / `verify_consistency` before they are printed
//! ([`Inclusion::check`], [`Consistency::check`]).
//!
//! Constraints: memory is 32 bytes per row of the selected boot (the leaves of its tree);
//! everything else streams. Bad requests (a boot or seq not in the input, no checkpoint
//! covering the seq, no checkpoint of a size, a boot not read from seq 0) are
//! [`Failure::Io`] (exit 2) with what to do; a chain that does not verify is [`Failure::Bad`]
//! (exit 1).

use libcoconut::audit::{
    consistency_proof_from, inclusion_proof_from, leaf_hash, verify_consistency, verify_inclusion,
    MerkleError, Proof, SealedCheckpoint,
};
use serde_json::{json, Value};

use crate::verify::{verify_with, Failure, Input, Intact, Options};

/// One boot's rows, as the proofs need them.
#[derive(Debug, Clone)]
pub struct BootTree {
    /// The boot counter.
    pub boot: u64,
    /// The chain hash of each row, from seq 0.
    pub hashes: Vec<[u8; 32]>,
    /// The boot's checkpoints, in order (their sizes increase).
    pub checkpoints: Vec<SealedCheckpoint>,
}

impl BootTree {
    /// The leaf hashes of rows `0..size`.
    fn leaves(&self, size: u64) -> Vec<[u8; 32]> {
        self.hashes
            .iter()
            .take(usize::try_from(size).unwrap_or(usize::MAX))
            .map(|h| leaf_hash(h).unwrap_or_default())
            .collect()
    }

    /// The sizes of the boot's checkpoints, for messages.
    fn sizes(&self) -> String {
        if self.checkpoints.is_empty() {
            return "none".to_owned();
        }
        let sizes: Vec<String> = self
            .checkpoints
            .iter()
            .map(|c| c.row.size.to_string())
            .collect();
        sizes.join(", ")
    }
}

/// Verifies the inputs and keeps boot `boot`'s rows (the last boot in the input when `None`).
pub fn collect<'a, I>(
    inputs: I,
    opts: &Options,
    boot: Option<u64>,
) -> Result<(BootTree, Intact), Failure>
where
    I: IntoIterator<Item = Result<Input<'a>, Failure>>,
{
    let mut tree: Option<(BootTree, u64)> = None;
    let intact = verify_with(inputs, opts, &mut |row| {
        if boot.is_some_and(|b| b != row.boot) {
            return;
        }
        match &mut tree {
            Some((t, _)) if t.boot == row.boot => {}
            _ => {
                tree = Some((
                    BootTree {
                        boot: row.boot,
                        hashes: Vec::new(),
                        checkpoints: Vec::new(),
                    },
                    row.seq,
                ))
            }
        }
        if let Some((t, _)) = &mut tree {
            t.hashes.push(*row.hash);
            if let Some(c) = row.checkpoint {
                t.checkpoints.push(*c);
            }
        }
    })?;
    let seen: Vec<String> = intact.boots.iter().map(|b| b.boot.to_string()).collect();
    let (tree, first_seq) = tree.ok_or_else(|| {
        Failure::Io(match boot {
            Some(b) => format!(
                "boot {b} is not in the input (boots in it: {}); pass --boot with one of them",
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.join(", ")
                }
            ),
            None => "the input has no rows".to_owned(),
        })
    })?;
    if first_seq != 0 {
        return Err(Failure::Io(format!(
            "the input holds boot {} from seq {first_seq} only: a proof needs every row of the \
             boot from seq 0; pass the whole history (the directory /var/log/coconut/audit)",
            tree.boot
        )));
    }
    Ok((tree, intact))
}

/// Hex of each hash of a proof.
fn hexes(proof: &[[u8; 32]]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

/// An inclusion proof of one row against a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    /// The boot counter.
    pub boot: u64,
    /// The row's seq: its leaf index.
    pub seq: u64,
    /// The row's chain hash.
    pub hash: [u8; 32],
    /// Its leaf: `BLAKE3(0x00 || hash)`.
    pub leaf: [u8; 32],
    /// The checkpoint proved against.
    pub checkpoint: SealedCheckpoint,
    /// The audit path, leaf side first (RFC 9162 §2.1.3).
    pub proof: Vec<[u8; 32]>,
}

impl Inclusion {
    /// Checks the proof with RFC 9162 §2.1.3.2 against the checkpoint's size and root.
    pub fn check(&self) -> Result<(), MerkleError> {
        verify_inclusion(
            self.seq,
            self.checkpoint.row.size,
            &self.leaf,
            &self.proof,
            &self.checkpoint.row.root,
        )
    }

    /// The text `coconut audit prove` prints.
    pub fn to_text(&self) -> String {
        let c = &self.checkpoint;
        let mut out = format!(
            "row: boot {}, seq {}, hash {}\nleaf: {} (BLAKE3(0x00 || hash), leaf index {})\n\
             checkpoint: seq {}, size {}, root {}, key {}\nproof: {} hashes, leaf side first\n",
            self.boot,
            self.seq,
            hex::encode(self.hash),
            hex::encode(self.leaf),
            self.seq,
            c.seq,
            c.row.size,
            hex::encode(c.row.root),
            hex::encode(c.row.key),
            self.proof.len()
        );
        for h in &self.proof {
            out.push_str(&format!("  {}\n", hex::encode(h)));
        }
        out.push_str(&format!(
            "verified: row {} is leaf {} of the {} rows whose root the checkpoint at seq {} signed\n",
            self.seq, self.seq, c.row.size, c.seq
        ));
        out
    }

    /// The object `coconut audit prove --json` prints.
    pub fn to_json(&self) -> Value {
        let c = &self.checkpoint;
        json!({
            "status": "verified",
            "boot": self.boot,
            "seq": self.seq,
            "hash": hex::encode(self.hash),
            "leaf_index": self.seq,
            "leaf": hex::encode(self.leaf),
            "checkpoint_seq": c.seq,
            "size": c.row.size,
            "root": hex::encode(c.row.root),
            "head": hex::encode(c.head),
            "key": hex::encode(c.row.key),
            "proof": hexes(&self.proof),
        })
    }
}

/// The inclusion proof of row `seq` against the latest checkpoint of the boot that covers it.
pub fn inclusion(tree: &BootTree, seq: u64) -> Result<Inclusion, Failure> {
    let rows = tree.hashes.len() as u64;
    let hash = usize::try_from(seq)
        .ok()
        .and_then(|i| tree.hashes.get(i))
        .copied()
        .ok_or_else(|| {
            Failure::Io(format!(
                "seq {seq} is not in boot {} (the input has its rows seq 0..{})",
                tree.boot,
                rows.saturating_sub(1)
            ))
        })?;
    let checkpoint = tree
        .checkpoints
        .last()
        .filter(|c| c.row.size > seq)
        .copied()
        .ok_or_else(|| {
            Failure::Io(match tree.checkpoints.last() {
                Some(c) => format!(
                    "seq {seq} of boot {} is not covered by a checkpoint yet: the last one (seq \
                     {}) covers seq 0..{}; the kernel seals the next within 1024 rows or 10 s, \
                     and at shutdown",
                    tree.boot,
                    c.seq,
                    c.row.size.saturating_sub(1)
                ),
                None => format!(
                    "boot {} has no checkpoint in the input, so no row of it can be proved \
                     (was a seed loaded?)",
                    tree.boot
                ),
            })
        })?;
    let leaves = tree.leaves(checkpoint.row.size);
    let mut buf: Proof = [[0; 32]; 64];
    let n = inclusion_proof_from(&leaves, seq, &mut buf)
        .map_err(|e| Failure::Io(format!("cannot build the inclusion proof: {e}")))?;
    let proof = Inclusion {
        boot: tree.boot,
        seq,
        hash,
        leaf: leaf_hash(&hash).unwrap_or_default(),
        checkpoint,
        proof: buf[..n].to_vec(),
    };
    proof
        .check()
        .map_err(|e| Failure::Io(format!("the inclusion proof does not verify: {e}")))?;
    Ok(proof)
}

/// A consistency proof between two checkpoints of one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consistency {
    /// The boot counter.
    pub boot: u64,
    /// The older checkpoint.
    pub old: SealedCheckpoint,
    /// The newer checkpoint.
    pub new: SealedCheckpoint,
    /// The proof (RFC 9162 §2.1.4).
    pub proof: Vec<[u8; 32]>,
}

impl Consistency {
    /// Checks the proof with RFC 9162 §2.1.4.2 against both checkpoints' sizes and roots.
    pub fn check(&self) -> Result<(), MerkleError> {
        verify_consistency(
            self.old.row.size,
            self.new.row.size,
            &self.old.row.root,
            &self.new.row.root,
            &self.proof,
        )
    }

    /// The text `coconut audit consistency` prints.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "boot {}\nold: checkpoint at seq {}, size {}, root {}\nnew: checkpoint at seq {}, \
             size {}, root {}\nproof: {} hashes\n",
            self.boot,
            self.old.seq,
            self.old.row.size,
            hex::encode(self.old.row.root),
            self.new.seq,
            self.new.row.size,
            hex::encode(self.new.row.root),
            self.proof.len()
        );
        for h in &self.proof {
            out.push_str(&format!("  {}\n", hex::encode(h)));
        }
        out.push_str(&format!(
            "verified: the tree of {} rows is a prefix of the tree of {} rows\n",
            self.old.row.size, self.new.row.size
        ));
        out
    }

    /// The object `coconut audit consistency --json` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "status": "verified",
            "boot": self.boot,
            "old_size": self.old.row.size,
            "old_root": hex::encode(self.old.row.root),
            "old_checkpoint_seq": self.old.seq,
            "new_size": self.new.row.size,
            "new_root": hex::encode(self.new.row.root),
            "new_checkpoint_seq": self.new.seq,
            "proof": hexes(&self.proof),
        })
    }
}

/// The consistency proof from the boot's checkpoint of size `old` to its checkpoint of size
/// `new`.
pub fn consistency(tree: &BootTree, old: u64, new: u64) -> Result<Consistency, Failure> {
    if old > new {
        return Err(Failure::Io(format!(
            "old size {old} is larger than new size {new}: give the older checkpoint first"
        )));
    }
    let find = |size: u64| {
        tree.checkpoints
            .iter()
            .find(|c| c.row.size == size)
            .copied()
            .ok_or_else(|| {
                Failure::Io(format!(
                    "boot {} has no checkpoint of size {size} in the input (its checkpoint \
                     sizes: {})",
                    tree.boot,
                    tree.sizes()
                ))
            })
    };
    let (old_cp, new_cp) = (find(old)?, find(new)?);
    let leaves = tree.leaves(new);
    let mut buf: Proof = [[0; 32]; 64];
    let n = consistency_proof_from(&leaves, old, &mut buf)
        .map_err(|e| Failure::Io(format!("cannot build the consistency proof: {e}")))?;
    let proof = Consistency {
        boot: tree.boot,
        old: old_cp,
        new: new_cp,
        proof: buf[..n].to_vec(),
    };
    proof
        .check()
        .map_err(|e| Failure::Io(format!("the consistency proof does not verify: {e}")))?;
    Ok(proof)
}
