//! The top panel, drawn by the compositor itself: clock, agent count, alert marker.
//!
//! Job: lay out the panel's text with cosmic-text (shaping and rasterisation by cosmic-text and
//! swash; no glyph code here) and composite it into an RGBA buffer that smithay renders as a
//! [`MemoryRenderBuffer`] element above every window. The buffer is redrawn only when the text
//! changes, so an idle panel adds no damage.
//!
//! Constraints: deterministic pixels for the screenshot tests: one font file is loaded (DejaVu
//! Sans from Debian's `fonts-dejavu-core` unless `--font` names another), never the system's
//! font list, and the clock is passed in (tests fix it). Integer blending only.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use cosmic_text::{fontdb, Attrs, Buffer, Color, Family, FontSystem, Metrics, Shaping, SwashCache};
use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::utils::{Buffer as BufferCoords, Rectangle, Transform};

/// The panel's height in pixels.
pub const HEIGHT: i32 = 28;

/// The font used when `--font` is not given (Debian package `fonts-dejavu-core`).
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const BACKGROUND: [u8; 4] = [0x1d, 0x23, 0x2b, 0xff];
const FOREGROUND: [u8; 4] = [0xe8, 0xe6, 0xe3, 0xff];
const ALERT_BACKGROUND: [u8; 4] = [0xc0, 0x39, 0x2b, 0xff];
const PAD: i32 = 10;

/// What the panel shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelText {
    /// The clock, e.g. `16:48 UTC`.
    pub clock: String,
    /// The agent summary, e.g. `agents: 3`.
    pub agents: String,
    /// The alert marker, e.g. `! 1 Cap-denied`, or none.
    pub alert: Option<String>,
}

/// The panel: its font, its pixels and the smithay buffer they are shown through.
pub struct Panel {
    fonts: FontSystem,
    glyphs: SwashCache,
    width: i32,
    pixels: Vec<u8>,
    buffer: MemoryRenderBuffer,
    shown: Option<PanelText>,
}

impl std::fmt::Debug for Panel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel")
            .field("width", &self.width)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Panel {
    /// A panel `width` pixels wide with the font at `font`.
    pub fn new(width: i32, font: &Path) -> Result<Panel> {
        if width <= 0 {
            bail!("the panel needs a positive width, got {width}");
        }
        let data = std::fs::read(font).with_context(|| {
            format!(
                "cannot read the panel font {}: install Debian's fonts-dejavu-core or pass --font PATH",
                font.display()
            )
        })?;
        let mut db = fontdb::Database::new();
        db.load_font_data(data);
        if db.is_empty() {
            bail!("{} is not a font file fontdb can read", font.display());
        }
        let fonts = FontSystem::new_with_locale_and_db("en-US".into(), db);
        let len = usize::try_from(width * HEIGHT * 4).context("panel size overflows")?;
        let buffer = MemoryRenderBuffer::new(
            Fourcc::Abgr8888,
            (width, HEIGHT),
            1,
            Transform::Normal,
            None,
        );
        Ok(Panel {
            fonts,
            glyphs: SwashCache::new(),
            width,
            pixels: vec![0; len],
            buffer,
            shown: None,
        })
    }

    /// The smithay buffer the compositor renders.
    pub fn buffer(&self) -> &MemoryRenderBuffer {
        &self.buffer
    }

    /// The panel's RGBA pixels (straight = premultiplied: the panel is opaque).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The panel's width in pixels.
    pub fn width(&self) -> i32 {
        self.width
    }

    /// What the panel shows now.
    pub fn shown(&self) -> Option<&PanelText> {
        self.shown.as_ref()
    }

    /// Shows `text`; redraws (and damages the buffer) only if it differs from what is shown.
    /// Returns whether it redrew.
    pub fn update(&mut self, text: PanelText) -> bool {
        if self.shown.as_ref() == Some(&text) {
            return false;
        }
        self.draw(&text);
        let pixels = &self.pixels;
        let full = Rectangle::<i32, BufferCoords>::from_size((self.width, HEIGHT).into());
        let mut ctx = self.buffer.render();
        let copied: Result<(), std::convert::Infallible> = ctx.draw(|mem| {
            let n = mem.len().min(pixels.len());
            mem[..n].copy_from_slice(&pixels[..n]);
            Ok(vec![full])
        });
        let Ok(()) = copied;
        drop(ctx);
        self.shown = Some(text);
        true
    }

    fn draw(&mut self, text: &PanelText) {
        fill(&mut self.pixels, self.width, 0, self.width, BACKGROUND);
        // Left: the name; centre: the clock; right: agents, then the alert marker.
        self.text("Coconut OS", Anchor::Left(PAD), FOREGROUND);
        self.text(&text.clock, Anchor::Centre, FOREGROUND);
        let mut right = self.width - PAD;
        if let Some(alert) = &text.alert {
            let w = self.measure(alert);
            let x0 = right - w - 2 * 6;
            fill(&mut self.pixels, self.width, x0, right, ALERT_BACKGROUND);
            self.text(alert, Anchor::Left(x0 + 6), FOREGROUND);
            right = x0 - PAD;
        }
        self.text(&text.agents, Anchor::Right(right), FOREGROUND);
    }

    fn layout(&mut self, s: &str) -> Buffer {
        let mut buffer = Buffer::new(&mut self.fonts, Metrics::new(14.0, HEIGHT as f32));
        buffer.set_size(&mut self.fonts, None, Some(HEIGHT as f32));
        buffer.set_text(
            &mut self.fonts,
            s,
            &Attrs::new().family(Family::SansSerif),
            Shaping::Advanced,
        );
        buffer.shape_until_scroll(&mut self.fonts, false);
        buffer
    }

    fn measure(&mut self, s: &str) -> i32 {
        let buffer = self.layout(s);
        let w = buffer.layout_runs().map(|r| r.line_w).fold(0.0, f32::max);
        w.ceil() as i32
    }

    fn text(&mut self, s: &str, anchor: Anchor, rgba: [u8; 4]) {
        let w = self.measure(s);
        let x0 = match anchor {
            Anchor::Left(x) => x,
            Anchor::Centre => (self.width - w) / 2,
            Anchor::Right(x) => x - w,
        };
        let buffer = self.layout(s);
        let color = Color::rgba(rgba[0], rgba[1], rgba[2], rgba[3]);
        let (width, pixels) = (self.width, &mut self.pixels);
        buffer.draw(&mut self.fonts, &mut self.glyphs, color, |x, y, w, h, c| {
            for dy in 0..h as i32 {
                for dx in 0..w as i32 {
                    blend(pixels, width, x0 + x + dx, y + dy, c);
                }
            }
        });
    }
}

enum Anchor {
    Left(i32),
    Centre,
    Right(i32),
}

/// Fills columns `x0..x1` of every row with `rgba`.
fn fill(pixels: &mut [u8], width: i32, x0: i32, x1: i32, rgba: [u8; 4]) {
    let (x0, x1) = (x0.clamp(0, width), x1.clamp(0, width));
    for y in 0..HEIGHT {
        for x in x0..x1 {
            let i = ((y * width + x) * 4) as usize;
            if let Some(px) = pixels.get_mut(i..i + 4) {
                px.copy_from_slice(&rgba);
            }
        }
    }
}

/// Source-over of one glyph pixel onto the opaque panel, in integers.
fn blend(pixels: &mut [u8], width: i32, x: i32, y: i32, c: Color) {
    if x < 0 || y < 0 || x >= width || y >= HEIGHT {
        return;
    }
    let i = ((y * width + x) * 4) as usize;
    let Some(px) = pixels.get_mut(i..i + 3) else {
        return;
    };
    let a = u32::from(c.a());
    for (d, s) in px.iter_mut().zip([c.r(), c.g(), c.b()]) {
        let v = (u32::from(s) * a + u32::from(*d) * (255 - a) + 127) / 255;
        *d = v as u8;
    }
}

/// The clock text for `now`, in UTC (`HH:MM UTC`; local time zones arrive with the session).
pub fn clock_text(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clock_is_hours_and_minutes_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 16 * 3600 + 48 * 60 + 59);
        assert_eq!(clock_text(t), "16:48 UTC");
        assert_eq!(clock_text(UNIX_EPOCH), "00:00 UTC");
    }

    #[test]
    fn a_missing_font_names_the_package() {
        let err = Panel::new(100, Path::new("/nonexistent/font.ttf")).unwrap_err();
        assert!(format!("{err:#}").contains("fonts-dejavu-core"), "{err:#}");
    }

    #[test]
    fn redraws_only_on_change() {
        let mut panel = Panel::new(400, Path::new(DEFAULT_FONT)).unwrap();
        let text = PanelText {
            clock: "12:00 UTC".into(),
            agents: "agents: 2".into(),
            alert: Some("! 1 Cap-denied".into()),
        };
        assert!(panel.update(text.clone()));
        assert!(!panel.update(text.clone()));
        // The alert marker is drawn: some pixel near the right edge is the alert colour.
        let row = 2;
        let alert_px = (0..400).any(|x| {
            let i = ((row * 400 + x) * 4) as usize;
            panel.pixels()[i..i + 4] == ALERT_BACKGROUND
        });
        assert!(alert_px);
        assert!(panel.update(PanelText {
            alert: None,
            ..text
        }));
    }
}
