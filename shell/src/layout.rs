//! The tiling layout: pure arithmetic from a work area and a window count to rectangles.
//!
//! Job: decide where tiled and floating windows go; know nothing about Wayland. The rule is
//! master–stack (as dwm and many tilers do it): one tiled window fills the work area; with
//! two or more, the first (the master, the oldest) takes the left half and the others share
//! the right half in equal rows, the last row taking the rounding remainder. Floating windows
//! (dialogs: a toplevel with a parent, or one whose minimum and maximum sizes are equal) keep
//! their own size, clamped to the work area, and are centred on it.
//!
//! Constraints: no panics on any input — an empty or negative area yields empty rectangles,
//! never a division by zero.

use smithay::utils::{Logical, Rectangle, Size};

/// The rectangles of `count` tiled windows in `area`, master first.
pub fn tile(area: Rectangle<i32, Logical>, count: usize) -> Vec<Rectangle<i32, Logical>> {
    let w = area.size.w.max(0);
    let h = area.size.h.max(0);
    let (x, y) = (area.loc.x, area.loc.y);
    match count {
        0 => Vec::new(),
        1 => vec![Rectangle::new((x, y).into(), (w, h).into())],
        n => {
            let master_w = w / 2;
            let stack_w = w - master_w;
            let rows = i32::try_from(n - 1).unwrap_or(i32::MAX);
            let row_h = h / rows;
            let mut out = Vec::with_capacity(n);
            out.push(Rectangle::new((x, y).into(), (master_w, h).into()));
            for i in 0..rows {
                let top = y + i * row_h;
                let this_h = if i == rows - 1 { h - i * row_h } else { row_h };
                out.push(Rectangle::new(
                    (x + master_w, top).into(),
                    (stack_w, this_h).into(),
                ));
            }
            out
        }
    }
}

/// Where a floating window of `size` goes in `area`: its size clamped to the area, centred.
/// A window that has no size yet (0×0, before its first buffer) gets half the area.
pub fn float(area: Rectangle<i32, Logical>, size: Size<i32, Logical>) -> Rectangle<i32, Logical> {
    let aw = area.size.w.max(0);
    let ah = area.size.h.max(0);
    let (w, h) = if size.w <= 0 || size.h <= 0 {
        (aw / 2, ah / 2)
    } else {
        (size.w.min(aw), size.h.min(ah))
    };
    Rectangle::new(
        (area.loc.x + (aw - w) / 2, area.loc.y + (ah - h) / 2).into(),
        (w, h).into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: i32, y: i32, w: i32, h: i32) -> Rectangle<i32, Logical> {
        Rectangle::new((x, y).into(), (w, h).into())
    }

    #[test]
    fn one_window_fills_the_area() {
        assert_eq!(tile(r(0, 28, 1280, 772), 1), vec![r(0, 28, 1280, 772)]);
    }

    #[test]
    fn two_windows_side_by_side() {
        assert_eq!(
            tile(r(0, 28, 1280, 772), 2),
            vec![r(0, 28, 640, 772), r(640, 28, 640, 772)]
        );
    }

    #[test]
    fn stack_rows_cover_the_height_exactly() {
        let tiles = tile(r(0, 0, 101, 100), 4);
        assert_eq!(tiles[0], r(0, 0, 50, 100));
        assert_eq!(
            &tiles[1..],
            &[r(50, 0, 51, 33), r(50, 33, 51, 33), r(50, 66, 51, 34)]
        );
    }

    #[test]
    fn degenerate_areas_do_not_panic() {
        assert!(tile(r(0, 0, 0, 0), 0).is_empty());
        assert_eq!(tile(r(0, 0, 0, 0), 3).len(), 3);
        assert_eq!(tile(r(0, 0, 10, 1), 60).len(), 60);
    }

    #[test]
    fn floating_windows_are_centred_and_clamped() {
        let area = r(0, 28, 1280, 772);
        assert_eq!(float(area, (200, 100).into()), r(540, 364, 200, 100));
        assert_eq!(float(area, (5000, 100).into()), r(0, 364, 1280, 100));
        assert_eq!(float(area, (0, 0).into()), r(320, 221, 640, 386));
    }
}
