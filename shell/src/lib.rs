//! coconut-shell: the Coconut OS Wayland compositor (issue 7, first layer).
//!
//! Job: a smithay 0.7 compositor driven by a calloop event loop — xdg-shell toplevels and
//! popups, wlr-layer-shell, a seat with an xkb keyboard and a pointer, the data device
//! (clipboard), a tiling layout with floating dialogs — plus a top panel the compositor draws
//! itself, and a headless backend (pixman into memory) that tests and screenshots run on.
//!
//! Constraints: protocol errors disconnect only the offending client (wayland-server posts the
//! error and kills that client; the compositor state stays intact); the panel never invents
//! an agent count: it reads `/agent/live/` or says why it cannot. The DRM/KMS backend is not
//! built yet and says so (see [`backend::Backend`]).
//!
//! Layout of the crate: [`state`] (the compositor state and its event loop), [`handlers`] (one
//! section per protocol family), [`layout`] (pure tiling arithmetic), [`agents`] (reading
//! agentfs), [`panel`] (the panel's text and pixels), [`headless`] (the pixman backend),
//! [`backend`] (backend selection for the binary).

// User space: the workspace's float ban is for the kernel-side crates; text layout and
// smithay's renderer APIs are in f32/f64.
#![allow(clippy::float_arithmetic)]

pub mod agents;
pub mod backend;
pub mod handlers;
pub mod headless;
pub mod layout;
pub mod panel;
pub mod state;

pub use state::{ClientState, Shell};
