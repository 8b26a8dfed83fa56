//! Reading and writing one item head (initial byte plus argument).
//!
//! The reader is the single place where the accepted subset is decided byte by byte: major
//! types 6 and 7 are classified from the initial byte alone, arguments must be in shortest
//! form, and negative integers must fit `i64`. Everything else builds on it, so the decoder's
//! accessors and the validator cannot disagree on what a head means. No panics, no allocation.

use super::{Error, Feature, Type};

/// A decoded head.
#[derive(Clone, Copy, Debug)]
pub(super) struct Head {
    /// The item's type.
    pub(super) ty: Type,
    /// The argument: the integer value, the string length, the element or pair count, or 1 for
    /// `true` and 0 for `false` and `null`.
    pub(super) arg: u64,
    /// The offset just after the head.
    pub(super) end: usize,
}

/// Reads the head of the item starting at `pos`.
pub(super) fn read(input: &[u8], pos: usize) -> Result<Head, Error> {
    let initial = *input.get(pos).ok_or(Error::Truncated { offset: pos })?;
    // `pos` indexes an existing byte, so `pos < input.len() <= isize::MAX` and this cannot wrap.
    let next = pos.wrapping_add(1);
    let major = initial >> 5;
    let info = initial & 0x1f;
    let ty = match major {
        0 => Type::Unsigned,
        1 => Type::Negative,
        2 => Type::Bytes,
        3 => Type::Text,
        4 => Type::Array,
        5 => Type::Map,
        6 => {
            return Err(Error::Unsupported {
                what: Feature::Tag,
                offset: pos,
            })
        }
        _ => return simple(info, pos, next),
    };
    let (arg, end) = match info {
        0..=23 => (u64::from(info), next),
        24 => {
            let (bytes, end) = fixed(input, next, pos)?;
            let v = u64::from(u8::from_be_bytes(bytes));
            canonical(v, 24, pos)?;
            (v, end)
        }
        25 => {
            let (bytes, end) = fixed(input, next, pos)?;
            let v = u64::from(u16::from_be_bytes(bytes));
            canonical(v, 0x100, pos)?;
            (v, end)
        }
        26 => {
            let (bytes, end) = fixed(input, next, pos)?;
            let v = u64::from(u32::from_be_bytes(bytes));
            canonical(v, 0x1_0000, pos)?;
            (v, end)
        }
        27 => {
            let (bytes, end) = fixed(input, next, pos)?;
            let v = u64::from_be_bytes(bytes);
            canonical(v, 0x1_0000_0000, pos)?;
            (v, end)
        }
        28..=30 => return Err(Error::Reserved { offset: pos }),
        _ if major >= 2 => return Err(Error::IndefiniteLength { offset: pos }),
        _ => return Err(Error::Reserved { offset: pos }),
    };
    if ty == Type::Negative && arg > i64::MAX as u64 {
        return Err(Error::OutOfRange { offset: pos });
    }
    Ok(Head { ty, arg, end })
}

/// Classifies a major type 7 item from its additional information.
fn simple(info: u8, pos: usize, next: usize) -> Result<Head, Error> {
    let (ty, arg) = match info {
        20 => (Type::Bool, 0),
        21 => (Type::Bool, 1),
        22 => (Type::Null, 0),
        23 => return Err(unsupported(Feature::Undefined, pos)),
        25..=27 => return Err(unsupported(Feature::Float, pos)),
        28..=30 => return Err(Error::Reserved { offset: pos }),
        31 => return Err(unsupported(Feature::Break, pos)),
        // 0..=19 and 24: the other simple values.
        _ => return Err(unsupported(Feature::Simple, pos)),
    };
    Ok(Head { ty, arg, end: next })
}

fn unsupported(what: Feature, offset: usize) -> Error {
    Error::Unsupported { what, offset }
}

/// Rejects an argument that would have fit a shorter head.
fn canonical(value: u64, min: u64, pos: usize) -> Result<(), Error> {
    if value < min {
        Err(Error::NonCanonical { offset: pos })
    } else {
        Ok(())
    }
}

/// Reads the `N` argument bytes at `start` and returns them with the offset after them, or
/// reports the head at `pos` as truncated.
fn fixed<const N: usize>(
    input: &[u8],
    start: usize,
    pos: usize,
) -> Result<([u8; N], usize), Error> {
    let end = start
        .checked_add(N)
        .ok_or(Error::Truncated { offset: pos })?;
    input
        .get(start..end)
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .map(|bytes| (bytes, end))
        .ok_or(Error::Truncated { offset: pos })
}

/// Returns the payload of a string item whose head `head` starts at `pos`, checking it against
/// `max_str` and the end of the input, and the offset just after the payload.
pub(super) fn payload<'a>(
    input: &'a [u8],
    pos: usize,
    head: &Head,
    max_str: usize,
) -> Result<(&'a [u8], usize), Error> {
    if head.arg > max_str as u64 {
        return Err(Error::TooLong { offset: pos });
    }
    let end = usize::try_from(head.arg)
        .ok()
        .and_then(|len| head.end.checked_add(len))
        .ok_or(Error::Truncated { offset: pos })?;
    let payload = input
        .get(head.end..end)
        .ok_or(Error::Truncated { offset: pos })?;
    Ok((payload, end))
}

/// Checks a text payload that starts at `start` in the input.
pub(super) fn utf8(payload: &[u8], start: usize) -> Result<&str, Error> {
    core::str::from_utf8(payload).map_err(|e| Error::InvalidUtf8 {
        // `valid_up_to() <= payload.len()` and the payload lies inside the input, so the sum is
        // at most the input length and never saturates.
        offset: start.saturating_add(e.valid_up_to()),
    })
}

/// Encodes a head with the shortest argument; returns the bytes and how many of them to use.
pub(super) fn encode(major: u8, arg: u64) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    let top = major << 5;
    let len = if arg < 24 {
        // `arg < 24` fits the 5 bits of additional information.
        out[0] = top | arg as u8;
        1
    } else if arg <= 0xff {
        out[0] = top | 24;
        out[1] = arg as u8;
        2
    } else if arg <= 0xffff {
        out[0] = top | 25;
        let [a, b] = (arg as u16).to_be_bytes();
        (out[1], out[2]) = (a, b);
        3
    } else if arg <= 0xffff_ffff {
        out[0] = top | 26;
        let [a, b, c, d] = (arg as u32).to_be_bytes();
        (out[1], out[2], out[3], out[4]) = (a, b, c, d);
        5
    } else {
        out[0] = top | 27;
        let [a, b, c, d, e, f, g, h] = arg.to_be_bytes();
        (out[1], out[2], out[3], out[4]) = (a, b, c, d);
        (out[5], out[6], out[7], out[8]) = (e, f, g, h);
        9
    };
    (out, len)
}
