//! The headless backend: smithay's pixman renderer drawing into a memory buffer.
//!
//! Job: render frames on demand — the space (windows and their popups), the layer surfaces and
//! the panel — into an in-memory image the size of the output, read the pixels back, and
//! write PNG screenshots. Tests and `coconut-shell --headless` use it; it needs no GPU, no
//! seat and no DRM device.
//!
//! Constraints: frames are damage-tracked ([`OutputDamageTracker`]): a frame in which nothing
//! changed renders nothing and [`Headless::render`] says so. The buffer keeps its contents
//! between frames (buffer age 1 after the first).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::MemoryRenderBufferRenderElement;
use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::pixman::PixmanRenderer;
use smithay::backend::renderer::{Bind, ExportMem, Offscreen};
use smithay::desktop::space::render_output;
use smithay::reexports::pixman;
use smithay::utils::{Buffer as BufferCoords, Rectangle};

use crate::state::Shell;

/// The colour behind every window (RGBA, 0..1).
pub const BACKGROUND: [f32; 4] = [0.16, 0.18, 0.21, 1.0];

/// A rendered frame's pixels: RGBA, 8 bits per channel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl Image {
    /// The pixel at (`x`, `y`), or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = ((y * self.width + x) * 4) as usize;
        let p = self.rgba.get(i..i + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }

    /// The rows `y0..y1` as their own image.
    pub fn rows(&self, y0: u32, y1: u32) -> Image {
        let (y0, y1) = (
            y0.min(self.height),
            y1.min(self.height).max(y0.min(self.height)),
        );
        let stride = (self.width * 4) as usize;
        Image {
            width: self.width,
            height: y1 - y0,
            rgba: self.rgba[y0 as usize * stride..y1 as usize * stride].to_vec(),
        }
    }

    /// Writes the image as an 8-bit RGBA PNG.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_image_data(&self.rgba)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Reads an 8-bit RGBA PNG (as [`Image::write_png`] writes them).
    pub fn read_png(path: &Path) -> Result<Image> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .with_context(|| format!("{} is not a PNG", path.display()))?;
        let mut rgba = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut rgba)
            .with_context(|| format!("cannot decode {}", path.display()))?;
        if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
            bail!(
                "{} is {:?} {:?}; expected 8-bit RGBA",
                path.display(),
                info.color_type,
                info.bit_depth
            );
        }
        rgba.truncate(info.buffer_size());
        Ok(Image {
            width: info.width,
            height: info.height,
            rgba,
        })
    }
}

/// The pixman renderer and the memory buffer it draws into.
pub struct Headless {
    renderer: PixmanRenderer,
    target: pixman::Image<'static, 'static>,
    damage: OutputDamageTracker,
    width: i32,
    height: i32,
    frames: u64,
}

impl std::fmt::Debug for Headless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headless")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Headless {
    /// A backend for `shell`'s output.
    pub fn new(shell: &Shell) -> Result<Headless> {
        let mode = shell
            .output
            .current_mode()
            .ok_or_else(|| anyhow!("the output has no mode"))?;
        let mut renderer =
            PixmanRenderer::new().map_err(|e| anyhow!("cannot create the pixman renderer: {e}"))?;
        let target = renderer
            .create_buffer(Fourcc::Argb8888, (mode.size.w, mode.size.h).into())
            .map_err(|e| {
                anyhow!(
                    "cannot allocate a {}x{} buffer: {e}",
                    mode.size.w,
                    mode.size.h
                )
            })?;
        Ok(Headless {
            renderer,
            target,
            damage: OutputDamageTracker::from_output(&shell.output),
            width: mode.size.w,
            height: mode.size.h,
            frames: 0,
        })
    }

    /// Renders a frame if anything changed and sends the frame callbacks. Returns whether
    /// any pixel was redrawn.
    pub fn render(&mut self, shell: &mut Shell) -> Result<bool> {
        let age = usize::from(self.frames > 0);
        self.render_with_age(shell, age)
    }

    /// Renders every pixel of the output, damaged or not (the frame-time benchmark's
    /// worst case: what a frame costs when the buffer's old contents cannot be reused).
    pub fn render_full(&mut self, shell: &mut Shell) -> Result<bool> {
        self.render_with_age(shell, 0)
    }

    fn render_with_age(&mut self, shell: &mut Shell, age: usize) -> Result<bool> {
        let panel = MemoryRenderBufferRenderElement::from_buffer(
            &mut self.renderer,
            (0.0, 0.0),
            shell.panel.buffer(),
            None,
            None,
            None,
            Kind::Unspecified,
        )
        .map_err(|e| anyhow!("cannot upload the panel: {e}"))?;
        let mut fb = self
            .renderer
            .bind(&mut self.target)
            .map_err(|e| anyhow!("cannot bind the frame buffer: {e}"))?;
        let result = render_output(
            &shell.output,
            &mut self.renderer,
            &mut fb,
            1.0,
            age,
            [&shell.space],
            &[panel],
            &mut self.damage,
            BACKGROUND,
        )
        .map_err(|e| anyhow!("rendering the frame failed: {e:?}"))?;
        let damaged = result.damage.is_some_and(|d| !d.is_empty());
        self.frames += 1;
        shell.needs_redraw = false;
        shell.send_frames();
        Ok(damaged)
    }

    /// The last frame's pixels.
    pub fn read(&mut self) -> Result<Image> {
        let fb = self
            .renderer
            .bind(&mut self.target)
            .map_err(|e| anyhow!("cannot bind the frame buffer: {e}"))?;
        let region = Rectangle::<i32, BufferCoords>::from_size((self.width, self.height).into());
        // Abgr8888 is R, G, B, A in memory order on little-endian machines.
        let mapping = self
            .renderer
            .copy_framebuffer(&fb, region, Fourcc::Abgr8888)
            .map_err(|e| anyhow!("cannot read the frame back: {e}"))?;
        let bytes = self
            .renderer
            .map_texture(&mapping)
            .map_err(|e| anyhow!("cannot map the frame: {e}"))?;
        let (w, h) = (self.width as u32, self.height as u32);
        let row = (w * 4) as usize;
        let stride = bytes.len() / h.max(1) as usize;
        let mut rgba = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            rgba.extend_from_slice(&bytes[y * stride..y * stride + row]);
        }
        Ok(Image {
            width: w,
            height: h,
            rgba,
        })
    }
}
