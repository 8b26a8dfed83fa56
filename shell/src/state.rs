//! The compositor state ([`Shell`]) and the event loop that drives it ([`Compositor`]).
//!
//! Job: own every smithay protocol state, the [`Space`] of windows, the seat, the one output,
//! the panel and the window list the layout works on; wire the Wayland display into a calloop
//! event loop; offer the operations backends and tests drive (add a client, dispatch, move the
//! pointer, press a key).
//!
//! Constraints: one output for now (the headless buffer or the winit window); state changes
//! only through the protocol handlers and the methods here, so a misbehaving client can at
//! worst be disconnected by wayland-server, never leave a half-updated layout behind.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use smithay::desktop::{layer_map_for_output, PopupManager, Space, Window, WindowSurfaceType};
use smithay::input::keyboard::{FilterResult, XkbConfig};
use smithay::input::pointer::{ButtonEvent, MotionEvent};
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Subpixel};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{
    EventLoop, Interest, LoopHandle, LoopSignal, Mode as CalloopMode, PostAction,
};
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, Display, DisplayHandle};
use smithay::utils::{Logical, Point, Rectangle, SERIAL_COUNTER};
use smithay::wayland::compositor::{with_states, CompositorClientState, CompositorState};
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::shell::wlr_layer::WlrLayerShellState;
use smithay::wayland::shell::xdg::{PopupSurface, SurfaceCachedState, XdgShellState};
use smithay::wayland::shm::ShmState;
use smithay::wayland::socket::ListeningSocketSource;

use crate::agents::AgentView;
use crate::layout;
use crate::panel::{self, Panel, PanelText};

/// How the compositor is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The output's size in pixels.
    pub size: (i32, i32),
    /// Where agentfs is mounted (`/agent`).
    pub agent_root: PathBuf,
    /// The panel's font file.
    pub font: PathBuf,
    /// Where the clock comes from.
    pub clock: Clock,
    /// The xkb keyboard layout(s), comma-separated as xkb takes them (`us`, `de,us`); empty
    /// for xkb's default.
    pub xkb_layout: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            size: (1280, 800),
            agent_root: PathBuf::from(crate::agents::DEFAULT_ROOT),
            font: PathBuf::from(panel::DEFAULT_FONT),
            clock: Clock::System,
            xkb_layout: String::new(),
        }
    }
}

/// The panel clock's source.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant (screenshots and tests).
    Fixed(SystemTime),
}

/// Per-client data smithay needs.
#[derive(Debug, Default)]
pub struct ClientState {
    /// The compositor protocol's per-client state.
    pub compositor_state: CompositorClientState,
}

impl ClientData for ClientState {
    fn initialized(&self, client_id: ClientId) {
        tracing::debug!(?client_id, "client connected");
    }

    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        match reason {
            DisconnectReason::ProtocolError(err) => {
                tracing::warn!(
                    ?client_id,
                    "client disconnected for a protocol error: {err}"
                )
            }
            DisconnectReason::ConnectionClosed => tracing::debug!(?client_id, "client left"),
        }
    }
}

/// A toplevel the layout manages.
#[derive(Debug, Clone)]
pub struct Managed {
    /// The smithay window.
    pub window: Window,
    /// The client made its initial commit (it has a place in the layout).
    pub configured: bool,
    /// It has shown a buffer.
    pub mapped: bool,
    /// A dialog: a parent, or a fixed size. Floating windows keep their size and are centred.
    pub floating: bool,
}

/// The compositor's state.
pub struct Shell {
    /// The display's handle.
    pub display_handle: DisplayHandle,
    /// The event loop's handle.
    pub loop_handle: LoopHandle<'static, Shell>,
    /// Stops the event loop.
    pub loop_signal: LoopSignal,
    /// When the compositor started (frame-callback times count from here).
    pub start: Instant,
    /// wl_compositor, wl_subcompositor.
    pub compositor_state: CompositorState,
    /// xdg_wm_base.
    pub xdg_shell_state: XdgShellState,
    /// zwlr_layer_shell_v1.
    pub layer_shell_state: WlrLayerShellState,
    /// wl_shm.
    pub shm_state: ShmState,
    /// wl_output and xdg-output.
    pub output_manager_state: OutputManagerState,
    /// wl_seat.
    pub seat_state: SeatState<Shell>,
    /// wl_data_device_manager (clipboard, drag and drop).
    pub data_device_state: DataDeviceState,
    /// Popups of toplevels and layer surfaces.
    pub popups: PopupManager,
    /// Popups that asked for a grab, oldest first.
    pub popup_grabs: Vec<PopupSurface>,
    /// Where windows are.
    pub space: Space<Window>,
    /// The seat (one keyboard, one pointer).
    pub seat: Seat<Shell>,
    /// The output.
    pub output: Output,
    /// Toplevels in layout order (oldest first).
    pub windows: Vec<Managed>,
    /// The top panel.
    pub panel: Panel,
    /// agentfs's root.
    pub agent_root: PathBuf,
    /// The panel clock's source.
    pub clock: Clock,
    /// Something changed since the last frame.
    pub needs_redraw: bool,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("windows", &self.windows.len())
            .field("panel", &self.panel)
            .finish_non_exhaustive()
    }
}

/// The event loop and the state it drives.
pub struct Compositor {
    /// The calloop event loop.
    pub event_loop: EventLoop<'static, Shell>,
    /// The compositor state.
    pub shell: Shell,
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shell.fmt(f)
    }
}

impl Compositor {
    /// A compositor with one output of `config.size`, the globals, the seat and the panel.
    pub fn new(config: Config) -> Result<Compositor> {
        let event_loop: EventLoop<'static, Shell> =
            EventLoop::try_new().context("cannot create the event loop")?;
        let display: Display<Shell> =
            Display::new().context("cannot create the Wayland display")?;
        let dh = display.handle();
        event_loop
            .handle()
            .insert_source(
                Generic::new(display, Interest::READ, CalloopMode::Level),
                |_, display, shell: &mut Shell| {
                    // SAFETY: the display is only dispatched here, never dropped or replaced
                    // while the source is registered, which is what `get_mut` requires.
                    let display = unsafe { display.get_mut() };
                    if let Err(e) = display.dispatch_clients(shell) {
                        tracing::error!("dispatching clients failed: {e}");
                    }
                    Ok(PostAction::Continue)
                },
            )
            .map_err(|e| anyhow::anyhow!("cannot watch the Wayland display: {e}"))?;

        let (w, h) = config.size;
        if w <= 0 || h <= panel::HEIGHT {
            anyhow::bail!(
                "an output of {w}x{h} is too small: it needs a positive width and more than the panel's {} rows",
                panel::HEIGHT
            );
        }
        let output = Output::new(
            "coconut-0".into(),
            PhysicalProperties {
                size: (0, 0).into(),
                subpixel: Subpixel::Unknown,
                make: "Coconut OS".into(),
                model: "virtual".into(),
            },
        );
        let mode = Mode {
            size: (w, h).into(),
            refresh: 60_000,
        };
        output.change_current_state(Some(mode), None, None, Some((0, 0).into()));
        output.set_preferred(mode);
        let _global = output.create_global::<Shell>(&dh);

        let mut seat_state = SeatState::new();
        let mut seat = seat_state.new_wl_seat(&dh, "seat0");
        let xkb = XkbConfig {
            layout: &config.xkb_layout,
            ..XkbConfig::default()
        };
        seat.add_keyboard(xkb, 600, 25).with_context(|| {
            format!(
                "cannot compile the xkb keymap for layout `{}` (is the layout spelled as in \
                 /usr/share/X11/xkb/symbols, and is Debian's xkb-data installed?)",
                config.xkb_layout
            )
        })?;
        seat.add_pointer();

        let mut space = Space::default();
        space.map_output(&output, (0, 0));

        let panel = Panel::new(w, &config.font)?;
        let mut shell = Shell {
            compositor_state: CompositorState::new::<Shell>(&dh),
            xdg_shell_state: XdgShellState::new::<Shell>(&dh),
            layer_shell_state: WlrLayerShellState::new::<Shell>(&dh),
            shm_state: ShmState::new::<Shell>(&dh, vec![]),
            output_manager_state: OutputManagerState::new_with_xdg_output::<Shell>(&dh),
            data_device_state: DataDeviceState::new::<Shell>(&dh),
            seat_state,
            seat,
            display_handle: dh,
            loop_handle: event_loop.handle(),
            loop_signal: event_loop.get_signal(),
            start: Instant::now(),
            popups: PopupManager::default(),
            popup_grabs: Vec::new(),
            space,
            output,
            windows: Vec::new(),
            panel,
            agent_root: config.agent_root,
            clock: config.clock,
            needs_redraw: true,
        };
        shell.refresh_panel();
        event_loop
            .handle()
            .insert_source(
                Timer::from_duration(Duration::from_secs(1)),
                |_, _, shell| {
                    shell.refresh_panel();
                    TimeoutAction::ToDuration(Duration::from_secs(1))
                },
            )
            .map_err(|e| anyhow::anyhow!("cannot start the panel timer: {e}"))?;
        Ok(Compositor { event_loop, shell })
    }

    /// Accepts clients on a new `wayland-N` socket in `$XDG_RUNTIME_DIR`; returns its name.
    pub fn listen(&mut self) -> Result<String> {
        let source = ListeningSocketSource::new_auto()
            .context("cannot create a Wayland socket (is XDG_RUNTIME_DIR set?)")?;
        let name = source.socket_name().to_string_lossy().into_owned();
        self.event_loop
            .handle()
            .insert_source(source, |stream, _, shell| {
                if let Err(e) = shell
                    .display_handle
                    .insert_client(stream, Arc::new(ClientState::default()))
                {
                    tracing::warn!("cannot add a client: {e}");
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot watch the Wayland socket: {e}"))?;
        Ok(name)
    }

    /// Adds a client on `stream` (one end of a socket pair, in tests).
    pub fn add_client(&mut self, stream: UnixStream) -> Result<Client> {
        self.shell
            .display_handle
            .insert_client(stream, Arc::new(ClientState::default()))
            .context("cannot add the client")
    }

    /// Dispatches pending events (waiting at most `timeout`), then flushes the clients.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.event_loop
            .dispatch(timeout, &mut self.shell)
            .context("the event loop failed")?;
        self.shell.space.refresh();
        self.shell.popups.cleanup();
        layer_map_for_output(&self.shell.output).cleanup();
        self.shell
            .display_handle
            .flush_clients()
            .context("cannot flush the clients")?;
        Ok(())
    }
}

impl Shell {
    /// The area windows tile in: the output minus the panel and the layer surfaces' exclusive
    /// zones.
    pub fn work_area(&self) -> Rectangle<i32, Logical> {
        let zone = layer_map_for_output(&self.output).non_exclusive_zone();
        let top = zone.loc.y.max(panel::HEIGHT);
        let bottom = zone.loc.y + zone.size.h;
        Rectangle::new(
            (zone.loc.x, top).into(),
            (zone.size.w, (bottom - top).max(0)).into(),
        )
    }

    /// Recomputes every window's place and sends the configures that changed.
    pub fn relayout(&mut self) {
        let area = self.work_area();
        let tiled: Vec<usize> = (0..self.windows.len())
            .filter(|&i| self.windows[i].configured && !self.windows[i].floating)
            .collect();
        let rects = layout::tile(area, tiled.len());
        for (&i, rect) in tiled.iter().zip(rects) {
            let window = self.windows[i].window.clone();
            if let Some(toplevel) = window.toplevel() {
                toplevel.with_pending_state(|s| s.size = Some(rect.size));
                if toplevel.is_initial_configure_sent() {
                    toplevel.send_pending_configure();
                }
            }
            self.place(&window, rect.loc);
        }
        for i in 0..self.windows.len() {
            let m = &self.windows[i];
            if !m.configured || !m.floating {
                continue;
            }
            let window = m.window.clone();
            let rect = layout::float(area, window.geometry().size);
            self.place(&window, rect.loc);
        }
        self.needs_redraw = true;
    }

    fn place(&mut self, window: &Window, loc: Point<i32, Logical>) {
        if self.space.element_location(window) != Some(loc) {
            // Keep the stacking order: map_element raises, so re-raise the focused window after.
            self.space.map_element(window.clone(), loc, false);
        }
    }

    /// The managed toplevel whose surface is `surface`.
    pub fn managed(&self, surface: &WlSurface) -> Option<usize> {
        self.windows
            .iter()
            .position(|m| m.window.toplevel().map(|t| t.wl_surface()) == Some(surface))
    }

    /// A toplevel's first commit: decide tiled or floating, lay out, send the first configure.
    pub(crate) fn toplevel_initial_commit(&mut self, i: usize) {
        let Some(toplevel) = self.windows[i].window.toplevel().cloned() else {
            return;
        };
        let (min, max) = with_states(toplevel.wl_surface(), |states| {
            let mut cached = states.cached_state.get::<SurfaceCachedState>();
            let cur = cached.current();
            (cur.min_size, cur.max_size)
        });
        let fixed = min.w > 0 && min.h > 0 && min == max;
        self.windows[i].floating = toplevel.parent().is_some() || fixed;
        self.windows[i].configured = true;
        self.relayout();
        toplevel.send_configure();
    }

    /// A toplevel showed its first buffer: it is mapped and takes the keyboard focus.
    pub(crate) fn toplevel_mapped(&mut self, i: usize) {
        self.windows[i].mapped = true;
        let window = self.windows[i].window.clone();
        if self.windows[i].floating {
            self.relayout();
        }
        self.focus(Some(&window));
    }

    /// Gives `window` the keyboard focus and raises it (or clears the focus).
    pub fn focus(&mut self, window: Option<&Window>) {
        let serial = SERIAL_COUNTER.next_serial();
        let surface = window
            .and_then(|w| w.toplevel())
            .map(|t| t.wl_surface().clone());
        if let Some(window) = window {
            self.space.raise_element(window, true);
        }
        for w in self.space.elements() {
            if let Some(t) = w.toplevel() {
                t.send_pending_configure();
            }
        }
        if let Some(keyboard) = self.seat.get_keyboard() {
            keyboard.set_focus(self, surface, serial);
        }
        self.needs_redraw = true;
    }

    /// A toplevel was destroyed: forget it, lay out the rest, move the focus to the newest.
    pub(crate) fn toplevel_gone(&mut self, surface: &WlSurface) {
        let Some(i) = self.managed(surface) else {
            return;
        };
        let m = self.windows.remove(i);
        self.space.unmap_elem(&m.window);
        self.relayout();
        self.refocus_if(surface);
    }

    /// A mapped toplevel attached a null buffer: it leaves the layout until it maps again,
    /// after a new initial commit and configure.
    pub(crate) fn toplevel_unmapped(&mut self, i: usize) {
        let m = &mut self.windows[i];
        m.mapped = false;
        m.configured = false;
        let window = m.window.clone();
        if let Some(toplevel) = window.toplevel() {
            toplevel.reset_initial_configure_sent();
        }
        self.space.unmap_elem(&window);
        self.relayout();
        if let Some(surface) = window.toplevel().map(|t| t.wl_surface().clone()) {
            self.refocus_if(&surface);
        }
    }

    /// If `surface` had the keyboard focus (or nothing has), gives it to the newest mapped
    /// window.
    fn refocus_if(&mut self, surface: &WlSurface) {
        let next = self
            .windows
            .iter()
            .rev()
            .find(|m| m.mapped)
            .map(|m| m.window.clone());
        let focused_elsewhere = self
            .seat
            .get_keyboard()
            .and_then(|k| k.current_focus())
            .is_some_and(|f| &f != surface);
        if !focused_elsewhere {
            self.focus(next.as_ref());
        }
    }

    /// The surface under `pos` (layer surfaces above and below the windows, then windows), and
    /// where that surface's origin is.
    pub fn surface_under(
        &self,
        pos: Point<f64, Logical>,
    ) -> Option<(WlSurface, Point<f64, Logical>)> {
        use smithay::wayland::shell::wlr_layer::Layer;
        let map = layer_map_for_output(&self.output);
        let layer_hit = |layers: &[Layer]| {
            layers.iter().find_map(|&l| {
                map.layers_on(l).find_map(|layer| {
                    let geo = map.layer_geometry(layer)?;
                    layer
                        .surface_under(pos - geo.loc.to_f64(), WindowSurfaceType::ALL)
                        .map(|(s, p)| (s, (p + geo.loc).to_f64()))
                })
            })
        };
        if let Some(hit) = layer_hit(&[Layer::Overlay, Layer::Top]) {
            return Some(hit);
        }
        if let Some((window, loc)) = self.space.element_under(pos) {
            if let Some((s, p)) = window.surface_under(pos - loc.to_f64(), WindowSurfaceType::ALL) {
                return Some((s, (p + loc).to_f64()));
            }
        }
        layer_hit(&[Layer::Bottom, Layer::Background])
    }

    /// Moves the pointer to `pos` (output coordinates) and updates the pointer focus.
    pub fn pointer_motion(&mut self, pos: Point<f64, Logical>, time_ms: u32) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let under = self.surface_under(pos);
        pointer.motion(
            self,
            under,
            &MotionEvent {
                location: pos,
                serial: SERIAL_COUNTER.next_serial(),
                time: time_ms,
            },
        );
        pointer.frame(self);
    }

    /// A pointer button: a press focuses the window under the pointer, then the client gets it.
    pub fn pointer_button(&mut self, button: u32, pressed: bool, time_ms: u32) {
        use smithay::backend::input::ButtonState;
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        if pressed {
            let pos = pointer.current_location();
            self.dismiss_popups_outside(pos);
            if let Some(window) = self.space.element_under(pos).map(|(w, _)| w.clone()) {
                self.focus(Some(&window));
            }
        }
        let state = if pressed {
            ButtonState::Pressed
        } else {
            ButtonState::Released
        };
        pointer.button(
            self,
            &ButtonEvent {
                serial,
                time: time_ms,
                button,
                state,
            },
        );
        pointer.frame(self);
    }

    /// A press at `pos` outside every grabbing popup dismisses them, newest first.
    fn dismiss_popups_outside(&mut self, pos: Point<f64, Logical>) {
        self.popup_grabs.retain(|p| p.alive());
        if self.popup_grabs.is_empty() {
            return;
        }
        let under = self.surface_under(pos).map(|(s, _)| s);
        let inside = under
            .as_ref()
            .is_some_and(|s| self.popup_grabs.iter().any(|p| p.wl_surface() == s));
        if !inside {
            for popup in self.popup_grabs.drain(..).rev() {
                popup.send_popup_done();
            }
            self.needs_redraw = true;
        }
    }

    /// A key (evdev code + 8, as xkb counts) goes to the focused client.
    pub fn key(&mut self, keycode: u32, pressed: bool, time_ms: u32) {
        use smithay::backend::input::KeyState;
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        let state = if pressed {
            KeyState::Pressed
        } else {
            KeyState::Released
        };
        keyboard.input::<(), _>(
            self,
            keycode.into(),
            state,
            SERIAL_COUNTER.next_serial(),
            time_ms,
            |_, _, _| FilterResult::Forward,
        );
    }

    /// Re-reads the clock and agentfs; redraws the panel if its text changed.
    pub fn refresh_panel(&mut self) {
        let now = match self.clock {
            Clock::System => SystemTime::now(),
            Clock::Fixed(t) => t,
        };
        let view = AgentView::read(&self.agent_root);
        let text = PanelText {
            clock: panel::clock_text(now),
            agents: view.summary(),
            alert: view.alert(),
        };
        if self.panel.update(text) {
            self.needs_redraw = true;
        }
    }

    /// Sends the frame callbacks of every visible surface (after a frame was rendered).
    pub fn send_frames(&self) {
        let time = self.start.elapsed();
        let output = self.output.clone();
        for window in self.space.elements() {
            window.send_frame(&self.output, time, Some(Duration::ZERO), |_, _| {
                Some(output.clone())
            });
        }
        let map = layer_map_for_output(&self.output);
        for layer in map.layers() {
            layer.send_frame(&self.output, time, Some(Duration::ZERO), |_, _| {
                Some(output.clone())
            });
        }
    }
}
