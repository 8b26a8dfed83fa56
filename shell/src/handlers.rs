//! The protocol handlers: one section per protocol family, each delegating to smithay.
//!
//! Job: react to what clients ask — surfaces committed, toplevels and popups created and
//! destroyed, layer surfaces, the seat's focus, the clipboard — by updating [`Shell`] through
//! its methods. Constraints: nothing here trusts a client: smithay validates every request and
//! posts protocol errors itself (which disconnects that client alone); these handlers only see
//! valid requests and must leave the layout consistent when a client vanishes mid-way.

use smithay::backend::renderer::utils::{on_commit_buffer_handler, with_renderer_surface_state};
use smithay::desktop::{
    layer_map_for_output, LayerSurface as DesktopLayer, PopupKind, Window, WindowSurfaceType,
};
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::output::Output;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_output::WlOutput;
use smithay::reexports::wayland_server::protocol::wl_seat::WlSeat;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, Resource};
use smithay::utils::Serial;
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    get_parent, is_sync_subsurface, CompositorClientState, CompositorHandler, CompositorState,
};
use smithay::wayland::output::OutputHandler;
use smithay::wayland::selection::data_device::{
    set_data_device_focus, ClientDndGrabHandler, DataDeviceHandler, DataDeviceState,
    ServerDndGrabHandler,
};
use smithay::wayland::selection::SelectionHandler;
use smithay::wayland::shell::wlr_layer::{
    Layer, LayerSurface as WlrLayerSurface, WlrLayerShellHandler, WlrLayerShellState,
};
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
};
use smithay::wayland::shm::{ShmHandler, ShmState};
use smithay::{
    delegate_compositor, delegate_data_device, delegate_layer_shell, delegate_output,
    delegate_seat, delegate_shm, delegate_xdg_shell,
};

use crate::state::{ClientState, Managed, Shell};

// --- wl_compositor ---------------------------------------------------------------------------

impl CompositorHandler for Shell {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        // Every client is inserted with a ClientState (Compositor::add_client and listen).
        match client.get_data::<ClientState>() {
            Some(data) => &data.compositor_state,
            None => unreachable_client_state(),
        }
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);
        self.needs_redraw = true;
        if !is_sync_subsurface(surface) {
            let mut root = surface.clone();
            while let Some(parent) = get_parent(&root) {
                root = parent;
            }
            if let Some(i) = self.managed(&root) {
                self.windows[i].window.on_commit();
            }
        }
        self.popups.commit(surface);

        if let Some(i) = self.managed(surface) {
            if self.windows[i].mapped && !has_buffer(surface) {
                // A null buffer unmaps the toplevel; its next commit starts over (xdg-shell).
                self.toplevel_unmapped(i);
                return;
            }
            let initial_sent = self.windows[i]
                .window
                .toplevel()
                .is_some_and(|t| t.is_initial_configure_sent());
            if !initial_sent {
                self.toplevel_initial_commit(i);
            } else if !self.windows[i].mapped && has_buffer(surface) {
                self.toplevel_mapped(i);
            }
            return;
        }

        if let Some(PopupKind::Xdg(popup)) = self.popups.find_popup(surface) {
            if !popup.is_initial_configure_sent() {
                if let Err(e) = popup.send_configure() {
                    tracing::warn!("cannot configure a popup: {e}");
                }
            }
            return;
        }

        let output = self.output.clone();
        let mut map = layer_map_for_output(&output);
        if let Some(layer) = map
            .layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
            .cloned()
        {
            let initial_sent = initial_layer_configure_sent(&layer);
            map.arrange();
            if !initial_sent {
                layer.layer_surface().send_configure();
            }
            drop(map);
            self.relayout();
        }
    }
}

/// The client has no ClientState: impossible by construction (all clients are added with
/// one), and smithay's trait returns a reference, so there is no error path to take.
#[allow(clippy::panic)]
fn unreachable_client_state() -> ! {
    panic!("a Wayland client was added without coconut-shell's ClientState")
}

fn has_buffer(surface: &WlSurface) -> bool {
    with_renderer_surface_state(surface, |s| s.buffer().is_some()).unwrap_or(false)
}

fn initial_layer_configure_sent(layer: &DesktopLayer) -> bool {
    use smithay::wayland::compositor::with_states;
    use smithay::wayland::shell::wlr_layer::LayerSurfaceData;
    with_states(layer.wl_surface(), |states| {
        states
            .data_map
            .get::<LayerSurfaceData>()
            .and_then(|d| d.lock().ok().map(|d| d.initial_configure_sent))
            .unwrap_or(false)
    })
}

impl BufferHandler for Shell {
    fn buffer_destroyed(&mut self, _buffer: &WlBuffer) {}
}

impl ShmHandler for Shell {
    fn shm_state(&self) -> &ShmState {
        &self.shm_state
    }
}

delegate_compositor!(Shell);
delegate_shm!(Shell);

// --- xdg-shell -------------------------------------------------------------------------------

impl XdgShellHandler for Shell {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        // Placed at its first commit (Shell::toplevel_initial_commit), when its parent and size
        // limits are known.
        self.windows.push(Managed {
            window: Window::new_wayland_window(surface),
            configured: false,
            mapped: false,
            floating: false,
        });
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        self.toplevel_gone(surface.wl_surface());
    }

    fn parent_changed(&mut self, surface: ToplevelSurface) {
        if let Some(i) = self.managed(surface.wl_surface()) {
            if self.windows[i].configured {
                self.windows[i].floating = surface.parent().is_some();
                self.relayout();
            }
        }
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        // The positioner's rectangle as asked; constraining it to the output is the next step
        // (docs/shell.md).
        surface.with_pending_state(|s| s.geometry = positioner.get_geometry());
        if let Err(e) = self.popups.track_popup(PopupKind::Xdg(surface)) {
            tracing::warn!("cannot track a popup: {e:?}");
        }
    }

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        surface.with_pending_state(|s| {
            s.geometry = positioner.get_geometry();
            s.positioner = positioner;
        });
        surface.send_repositioned(token);
    }

    fn grab(&mut self, surface: PopupSurface, _seat: WlSeat, _serial: Serial) {
        // A grabbing popup is dismissed (popup_done) by a press outside every grabbing popup
        // (Shell::pointer_button). The serial is not checked against the last input event and
        // the grab does not take the keyboard (docs/shell.md, "Missing").
        self.popup_grabs.push(surface);
    }

    fn popup_destroyed(&mut self, surface: PopupSurface) {
        self.popup_grabs.retain(|p| p != &surface);
    }
}

delegate_xdg_shell!(Shell);

// --- wlr-layer-shell -------------------------------------------------------------------------

impl WlrLayerShellHandler for Shell {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.layer_shell_state
    }

    fn new_layer_surface(
        &mut self,
        surface: WlrLayerSurface,
        _output: Option<WlOutput>,
        _layer: Layer,
        namespace: String,
    ) {
        // One output: every layer surface goes on it, whichever output the client named.
        let output = self.output.clone();
        let mut map = layer_map_for_output(&output);
        if let Err(e) = map.map_layer(&DesktopLayer::new(surface, namespace)) {
            tracing::warn!("cannot map a layer surface: {e}");
        }
    }

    fn new_popup(&mut self, _parent: WlrLayerSurface, popup: PopupSurface) {
        if let Err(e) = self.popups.track_popup(PopupKind::Xdg(popup)) {
            tracing::warn!("cannot track a layer popup: {e:?}");
        }
    }

    fn layer_destroyed(&mut self, surface: WlrLayerSurface) {
        let output = self.output.clone();
        let mut map = layer_map_for_output(&output);
        let layer = map
            .layers()
            .find(|l| l.layer_surface() == &surface)
            .cloned();
        if let Some(layer) = layer {
            map.unmap_layer(&layer);
        }
        drop(map);
        self.relayout();
    }
}

delegate_layer_shell!(Shell);

// --- wl_seat, wl_data_device -----------------------------------------------------------------

impl SeatHandler for Shell {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<Self> {
        &mut self.seat_state
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        // The clipboard follows the keyboard focus.
        let client = focused.and_then(|s| self.display_handle.get_client(s.id()).ok());
        set_data_device_focus(&self.display_handle, seat, client);
    }

    fn cursor_image(&mut self, _seat: &Seat<Self>, _image: CursorImageStatus) {}
}

delegate_seat!(Shell);

impl SelectionHandler for Shell {
    type SelectionUserData = ();
}

impl DataDeviceHandler for Shell {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.data_device_state
    }
}

impl ClientDndGrabHandler for Shell {}
impl ServerDndGrabHandler for Shell {}

delegate_data_device!(Shell);

// --- wl_output -------------------------------------------------------------------------------

impl OutputHandler for Shell {
    fn output_bound(&mut self, _output: Output, _wl_output: WlOutput) {}
}

delegate_output!(Shell);
