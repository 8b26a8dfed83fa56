//! The validating walk over one complete item.
//!
//! Iterative, never recursive: each open array or map is a fixed-size [`Frame`] in an array of
//! [`DEPTH_CAP`] entries on the stack (well under 1 KiB), so the stack use does not depend on
//! the input. Every item consumes at least one byte and each byte is inspected a bounded number
//! of times (key comparisons touch each key at most twice), so the work is linear in the input.

use super::head::{self, Head};
use super::{Error, Limits, Type, DEPTH_CAP};

/// One open array or map.
#[derive(Clone, Copy)]
struct Frame {
    /// Items still to read: elements for an array, keys plus values for a map (never zero while
    /// the frame is open).
    remaining: u64,
    /// Whether this is a map, whose items alternate key, value.
    map: bool,
    /// Start of the key being read (maps only).
    key_start: usize,
    /// Start and end of the previous key; `prev_end == 0` means no key yet (a key can never end
    /// at offset 0 because its map's head comes first).
    prev_start: usize,
    prev_end: usize,
}

const EMPTY: Frame = Frame {
    remaining: 0,
    map: false,
    key_start: 0,
    prev_start: 0,
    prev_end: 0,
};

/// Walks the item starting at `start`, checking it completely against `limits` (except
/// `max_input`, which is the caller's), and returns the offset just after it.
pub(super) fn item(input: &[u8], start: usize, limits: &Limits) -> Result<usize, Error> {
    let max_depth = limits.max_depth.min(DEPTH_CAP) as usize;
    let max_items = u64::from(limits.max_items);
    let mut frames = [EMPTY; DEPTH_CAP as usize];
    let mut depth = 0usize;
    // The top-level item is the first one.
    let mut items = 1u64;
    if items > max_items {
        return Err(Error::TooManyItems { offset: start });
    }
    let mut pos = start;
    loop {
        if let Some(top) = top(&mut frames, depth) {
            if top.map && top.remaining % 2 == 0 {
                top.key_start = pos;
            }
        }
        let item_start = pos;
        let h: Head = head::read(input, pos)?;
        pos = h.end;
        match h.ty {
            Type::Bytes | Type::Text => {
                let (payload, end) = head::payload(input, item_start, &h, limits.max_str)?;
                if h.ty == Type::Text {
                    head::utf8(payload, h.end)?;
                }
                pos = end;
            }
            Type::Array | Type::Map => {
                if depth >= max_depth {
                    return Err(Error::TooDeep { offset: item_start });
                }
                let map = h.ty == Type::Map;
                let children = if map {
                    h.arg.checked_mul(2)
                } else {
                    Some(h.arg)
                };
                items = children
                    .and_then(|c| items.checked_add(c))
                    .filter(|&total| total <= max_items)
                    .ok_or(Error::TooManyItems { offset: item_start })?;
                if let Some(children @ 1..) = children {
                    let frame = frames
                        .get_mut(depth)
                        .ok_or(Error::TooDeep { offset: item_start })?;
                    *frame = Frame {
                        remaining: children,
                        map,
                        ..EMPTY
                    };
                    // `depth < max_depth <= DEPTH_CAP`, so this cannot wrap.
                    depth = depth.wrapping_add(1);
                    continue;
                }
            }
            Type::Unsigned | Type::Negative | Type::Bool | Type::Null => {}
        }
        // The item ending at `pos` is complete: count it off its container, and close every
        // container it completes in turn.
        loop {
            let Some(top) = top(&mut frames, depth) else {
                return Ok(pos);
            };
            // Open frames have `remaining >= 1`, so this cannot wrap.
            top.remaining = top.remaining.wrapping_sub(1);
            if top.map && top.remaining % 2 == 1 {
                // A key just ended at `pos`.
                let key = input.get(top.key_start..pos);
                if top.prev_end != 0 && key <= input.get(top.prev_start..top.prev_end) {
                    return Err(Error::KeysOutOfOrder {
                        offset: top.key_start,
                    });
                }
                top.prev_start = top.key_start;
                top.prev_end = pos;
            }
            if top.remaining != 0 {
                break;
            }
            // `top` exists, so `depth >= 1` and this cannot wrap.
            depth = depth.wrapping_sub(1);
        }
    }
}

/// The innermost open frame, if any.
fn top(frames: &mut [Frame; DEPTH_CAP as usize], depth: usize) -> Option<&mut Frame> {
    depth.checked_sub(1).and_then(|i| frames.get_mut(i))
}
