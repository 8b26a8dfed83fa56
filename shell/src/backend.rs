//! Backend selection and the headless run loop of the binary.
//!
//! Job: map the command line's backend to a run function. Built: `headless` (pixman into
//! memory; a screenshot, or a compositor serving `$XDG_RUNTIME_DIR/wayland-N` that renders
//! when something changed). Not built yet, with a clear error: `winit` (nested) and `drm`
//! (udev + DRM/KMS + libinput + libseat) — see docs/shell.md.

use anyhow::{bail, Result};
use std::path::Path;

use crate::headless::Headless;
use crate::state::{Compositor, Config};

/// Where frames go and input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Pixman into a memory buffer: no GPU, no input devices.
    Headless,
    /// A window on another Wayland or X11 session (not built yet).
    Winit,
    /// udev + DRM/KMS + libinput on a libseat session (not built yet).
    Drm,
}

impl Backend {
    /// Runs the compositor on this backend until it is stopped.
    pub fn run(self, config: Config, screenshot: Option<&Path>) -> Result<()> {
        match self {
            Backend::Headless => run_headless(config, screenshot),
            Backend::Winit => bail!(
                "the winit backend is not built yet (issue 7): use --headless, or see docs/shell.md"
            ),
            Backend::Drm => bail!(
                "the DRM/KMS backend (udev, libinput, libseat) is not built yet (issue 7): use \
                 --headless, or see docs/shell.md"
            ),
        }
    }
}

/// Renders one frame into `screenshot`, or serves clients and renders on change.
pub fn run_headless(config: Config, screenshot: Option<&Path>) -> Result<()> {
    let mut compositor = Compositor::new(config)?;
    let mut headless = Headless::new(&compositor.shell)?;
    if let Some(path) = screenshot {
        headless.render(&mut compositor.shell)?;
        headless.read()?.write_png(path)?;
        eprintln!("wrote {}", path.display());
        return Ok(());
    }
    let socket = compositor.listen()?;
    eprintln!("coconut-shell (headless) listening on WAYLAND_DISPLAY={socket}");
    // Block until a client or the panel's one-second tick has something: an idle shell
    // wakes once a second and renders nothing.
    loop {
        compositor.dispatch(None)?;
        if compositor.shell.needs_redraw {
            headless.render(&mut compositor.shell)?;
        }
    }
}
