//! Binary rows: `struct agent_audit_row_hdr` (72 bytes) followed by the event, as
//! `agent_audit_query` returns them.
//!
//! Job: encode one row into a caller buffer ([`encode_row`]), decode one row from the front of
//! a buffer ([`decode_row`]), and walk a segment of whole rows ([`Rows`]). The header is
//! encoded and checked by `coconut_abi` (`row_len` within 128..=384, `reserved` 0); this module
//! adds that the buffer holds `row_len` bytes. Whether the event inside is well formed is the
//! verifier's question ([`super::Verifier`]), so a segment with a bad event still walks.
//!
//! Constraints: no_std, no heap, no panics on any input.

use super::abi::{
    decode_row_header, encode_row_header, AgentAuditRowHdr, AuditDecodeError,
    AGENT_AUDIT_EVENT_HDR_SIZE, AGENT_AUDIT_ROW_HDR_LEN,
};
use super::error::AuditError;
use super::event::EVENT_MAX;

/// A row by reference: the hashes around an event, and the event bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    /// The chain hash before the event.
    pub prev: &'a [u8; 32],
    /// The encoded event.
    pub event: &'a [u8],
    /// The chain hash after the event.
    pub hash: &'a [u8; 32],
}

impl<'a> From<(&'a [u8; 32], &'a [u8], &'a [u8; 32])> for RowRef<'a> {
    fn from((prev, event, hash): (&'a [u8; 32], &'a [u8], &'a [u8; 32])) -> RowRef<'a> {
        RowRef { prev, event, hash }
    }
}

/// Writes the binary row (header, then `event`) into the start of `out`; returns its length
/// (`72 + event.len()`). The event must be 56..=312 bytes long (its content is not checked).
pub fn encode_row(
    prev: &[u8; 32],
    hash: &[u8; 32],
    event: &[u8],
    out: &mut [u8],
) -> Result<usize, AuditError> {
    if event.len() < AGENT_AUDIT_EVENT_HDR_SIZE || event.len() > EVENT_MAX {
        return Err(AuditError::Decode(AuditDecodeError::LengthMismatch));
    }
    // At most 72 + 312.
    let row_len = AGENT_AUDIT_ROW_HDR_LEN.saturating_add(event.len());
    let dst = out.get_mut(..row_len).ok_or(AuditError::BufferTooSmall)?;
    let (hdr, body) = dst.split_at_mut(AGENT_AUDIT_ROW_HDR_LEN);
    hdr.copy_from_slice(&encode_row_header(&AgentAuditRowHdr {
        row_len: row_len as u32,
        reserved: 0,
        prev: *prev,
        hash: *hash,
    }));
    body.copy_from_slice(event);
    Ok(row_len)
}

/// Decodes the row at the front of `bytes`; returns it and the bytes after it.
pub fn decode_row(bytes: &[u8]) -> Result<(RowRef<'_>, &[u8]), AuditError> {
    decode_row_header(bytes)?;
    let (hdr, _) = bytes
        .split_at_checked(AGENT_AUDIT_ROW_HDR_LEN)
        .ok_or(AuditDecodeError::Truncated)?;
    let row_len = hdr
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_le_bytes(*b) as usize);
    let (row, rest) = bytes
        .split_at_checked(row_len)
        .ok_or(AuditDecodeError::Truncated)?;
    let (hdr, event) = row
        .split_at_checked(AGENT_AUDIT_ROW_HDR_LEN)
        .ok_or(AuditDecodeError::Truncated)?;
    let prev = hdr
        .get(8..40)
        .and_then(|s| <&[u8; 32]>::try_from(s).ok())
        .ok_or(AuditDecodeError::Truncated)?;
    let hash = hdr
        .get(40..72)
        .and_then(|s| <&[u8; 32]>::try_from(s).ok())
        .ok_or(AuditDecodeError::Truncated)?;
    Ok((RowRef { prev, event, hash }, rest))
}

/// The rows of a segment of whole binary rows, in order. Yields `Err` once for the first row
/// that does not decode, then stops.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Rows<'a> {
    /// Walks `segment` (for example an `agent_audit_query` result).
    pub fn new(segment: &'a [u8]) -> Rows<'a> {
        Rows {
            rest: segment,
            failed: false,
        }
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<RowRef<'a>, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match decode_row(self.rest) {
            Ok((row, rest)) => {
                self.rest = rest;
                Some(Ok(row))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
