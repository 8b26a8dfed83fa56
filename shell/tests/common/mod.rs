//! The in-process test fixture: the real compositor on the headless backend, and real
//! Wayland clients (wayland-client's pure-Rust backend) over `UnixStream::pair()`.
//!
//! Everything runs on the test's thread: a roundtrip sends `wl_display.sync`, then alternates
//! server dispatch and client reads until the callback is done (as niri's fixture does). The
//! clients draw solid colours into wl_shm buffers (memfd), so tests can check placement by
//! reading pixels back from the compositor's frame.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use coconut_shell::headless::{Headless, Image};
use coconut_shell::state::{Clock, Compositor, Config};
use wayland_client::backend::{ObjectId, WaylandError};
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_callback::WlCallback,
    wl_compositor::WlCompositor,
    wl_keyboard::{self, WlKeyboard},
    wl_output::WlOutput,
    wl_pointer::{self, WlPointer},
    wl_registry::{self, WlRegistry},
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface,
};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum};
use wayland_protocols::xdg::shell::client::{
    xdg_popup::{self, XdgPopup},
    xdg_positioner::XdgPositioner,
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::ZwlrLayerShellV1,
    zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
};

/// The fixed instant the panel's clock shows in tests: 2026-12-03 09:41 UTC.
pub const FIXED_TIME: u64 = 1_796_204_460;

/// What a test client has seen.
#[derive(Default)]
pub struct Seen {
    pub compositor: Option<WlCompositor>,
    pub shm: Option<WlShm>,
    pub seat: Option<WlSeat>,
    pub wm_base: Option<XdgWmBase>,
    pub layer_shell: Option<ZwlrLayerShellV1>,
    pub output: Option<WlOutput>,
    pub keyboard: Option<WlKeyboard>,
    pub pointer: Option<WlPointer>,
    /// The surface with the keyboard focus.
    pub keyboard_focus: Option<ObjectId>,
    /// The surface with the pointer focus.
    pub pointer_focus: Option<ObjectId>,
    /// Keys received (evdev code, pressed).
    pub keys: Vec<(u32, bool)>,
    /// The last configured size of each toplevel.
    pub toplevel_sizes: HashMap<ObjectId, (i32, i32)>,
    /// The last geometry of each popup.
    pub popup_geometry: HashMap<ObjectId, (i32, i32, i32, i32)>,
    /// Popups that got popup_done.
    pub popups_done: Vec<ObjectId>,
    /// The last configured size of each layer surface.
    pub layer_sizes: HashMap<ObjectId, (u32, u32)>,
    /// xdg_surfaces that got at least one configure.
    pub configured: Vec<ObjectId>,
    /// Sync callbacks that are done.
    pub done: Vec<ObjectId>,
}

/// A Wayland client of the fixture.
pub struct TestClient {
    pub conn: Connection,
    pub queue: EventQueue<Seen>,
    pub qh: QueueHandle<Seen>,
    pub seen: Seen,
}

/// A toplevel of a test client.
pub struct TestWindow {
    pub surface: WlSurface,
    pub xdg: XdgSurface,
    pub toplevel: XdgToplevel,
}

/// The compositor, its headless backend and its clients.
pub struct Fixture {
    pub comp: Compositor,
    pub headless: Headless,
    pub clients: Vec<TestClient>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A 1280x800 compositor whose agentfs root does not exist and whose clock is fixed.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        Fixture::with(
            Config {
                size: (1280, 800),
                agent_root: dir.path().join("agent"),
                clock: Clock::Fixed(UNIX_EPOCH + Duration::from_secs(FIXED_TIME)),
                ..Config::default()
            },
            dir,
        )
    }

    /// A compositor with `config`.
    pub fn with(config: Config, dir: tempfile::TempDir) -> Fixture {
        let comp = Compositor::new(config).unwrap();
        let headless = Headless::new(&comp.shell).unwrap();
        Fixture {
            comp,
            headless,
            clients: Vec::new(),
            _dir: dir,
        }
    }

    /// The temp directory of the fixture.
    pub fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Connects a new client, binds the globals and returns its index.
    pub fn add_client(&mut self) -> usize {
        let (server, client) = UnixStream::pair().unwrap();
        self.comp.add_client(server).unwrap();
        let conn = Connection::from_socket(client).unwrap();
        let queue = conn.new_event_queue();
        let qh = queue.handle();
        conn.display().get_registry(&qh, ());
        self.clients.push(TestClient {
            conn,
            queue,
            qh,
            seen: Seen::default(),
        });
        let id = self.clients.len() - 1;
        self.roundtrip(id).unwrap();
        // The seat's capabilities arrive after the bind: one more roundtrip for the devices.
        self.roundtrip(id).unwrap();
        id
    }

    /// Sends `wl_display.sync` and runs server and client until it is done.
    pub fn roundtrip(&mut self, id: usize) -> Result<(), WaylandError> {
        let c = &mut self.clients[id];
        let cb = c.conn.display().sync(&c.qh, ());
        let cb_id = cb.id();
        for _ in 0..1000 {
            let c = &mut self.clients[id];
            c.conn.flush()?;
            self.comp.dispatch(Some(Duration::ZERO)).unwrap();
            let c = &mut self.clients[id];
            if let Some(guard) = c.queue.prepare_read() {
                match guard.read() {
                    Ok(_) => {}
                    Err(WaylandError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            c.queue.dispatch_pending(&mut c.seen).map_err(|e| match e {
                wayland_client::DispatchError::Backend(b) => b,
                other => panic!("client dispatch failed: {other}"),
            })?;
            if c.seen.done.contains(&cb_id) {
                return Ok(());
            }
        }
        panic!("roundtrip of client {id} did not finish");
    }

    /// Roundtrips every client (the configure after a commit can need two).
    pub fn roundtrip_all(&mut self) {
        for _ in 0..2 {
            for id in 0..self.clients.len() {
                if self.clients[id].conn.protocol_error().is_none() {
                    self.roundtrip(id).unwrap();
                }
            }
        }
    }

    /// Renders a frame and reads it back.
    pub fn render(&mut self) -> Image {
        self.headless.render(&mut self.comp.shell).unwrap();
        self.headless.read().unwrap()
    }

    pub fn client(&mut self, id: usize) -> &mut TestClient {
        &mut self.clients[id]
    }
}

impl TestClient {
    /// A toplevel with its initial (buffer-less) commit done.
    pub fn toplevel(&mut self, title: &str) -> TestWindow {
        let surface = self
            .seen
            .compositor
            .as_ref()
            .unwrap()
            .create_surface(&self.qh, ());
        let xdg = self
            .seen
            .wm_base
            .as_ref()
            .unwrap()
            .get_xdg_surface(&surface, &self.qh, ());
        let toplevel = xdg.get_toplevel(&self.qh, ());
        toplevel.set_title(title.into());
        surface.commit();
        TestWindow {
            surface,
            xdg,
            toplevel,
        }
    }

    /// Attaches a `w`x`h` buffer of one colour (ARGB8888 as a u32) and commits.
    pub fn draw(&mut self, surface: &WlSurface, w: i32, h: i32, argb: u32) {
        let buffer = self.buffer(w, h, argb);
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, w, h);
        surface.commit();
    }

    /// A wl_shm buffer of one colour.
    pub fn buffer(&mut self, w: i32, h: i32, argb: u32) -> WlBuffer {
        let len = (w * h * 4) as usize;
        let fd = rustix::fs::memfd_create("coconut-shell-test", rustix::fs::MemfdFlags::CLOEXEC)
            .unwrap();
        let mut file = File::from(fd);
        let bytes: Vec<u8> = std::iter::repeat_n(argb.to_le_bytes(), (w * h) as usize)
            .flatten()
            .collect();
        file.write_all(&bytes).unwrap();
        let shm = self.seen.shm.as_ref().unwrap();
        let pool = shm.create_pool(file.as_fd(), len as i32, &self.qh, ());
        let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Argb8888, &self.qh, ());
        pool.destroy();
        buffer
    }

    /// The configured size of `window`'s toplevel.
    pub fn size_of(&self, window: &TestWindow) -> Option<(i32, i32)> {
        self.seen.toplevel_sizes.get(&window.toplevel.id()).copied()
    }
}

// --- Dispatch impls: record what the tests assert on; ack every configure at once. ----------

impl Dispatch<WlRegistry, ()> for Seen {
    fn event(
        s: &mut Self,
        reg: &WlRegistry,
        ev: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name,
            interface,
            version,
        } = ev
        {
            match interface.as_str() {
                "wl_compositor" => s.compositor = Some(reg.bind(name, version.min(6), qh, ())),
                "wl_shm" => s.shm = Some(reg.bind(name, 1, qh, ())),
                "wl_seat" => s.seat = Some(reg.bind(name, version.min(7), qh, ())),
                "xdg_wm_base" => s.wm_base = Some(reg.bind(name, version.min(5), qh, ())),
                "zwlr_layer_shell_v1" => {
                    s.layer_shell = Some(reg.bind(name, version.min(4), qh, ()))
                }
                "wl_output" => s.output = Some(reg.bind(name, version.min(4), qh, ())),
                _ => {}
            }
        }
    }
}

impl Dispatch<WlCallback, ()> for Seen {
    fn event(
        s: &mut Self,
        cb: &WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        s.done.push(cb.id());
    }
}

impl Dispatch<WlSeat, ()> for Seen {
    fn event(
        s: &mut Self,
        seat: &WlSeat,
        ev: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities {
            capabilities: WEnum::Value(caps),
        } = ev
        {
            if caps.contains(wl_seat::Capability::Keyboard) && s.keyboard.is_none() {
                s.keyboard = Some(seat.get_keyboard(qh, ()));
            }
            if caps.contains(wl_seat::Capability::Pointer) && s.pointer.is_none() {
                s.pointer = Some(seat.get_pointer(qh, ()));
            }
        }
    }
}

impl Dispatch<WlKeyboard, ()> for Seen {
    fn event(
        s: &mut Self,
        _: &WlKeyboard,
        ev: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match ev {
            wl_keyboard::Event::Enter { surface, .. } => s.keyboard_focus = Some(surface.id()),
            wl_keyboard::Event::Leave { .. } => s.keyboard_focus = None,
            wl_keyboard::Event::Key { key, state, .. } => s
                .keys
                .push((key, state == WEnum::Value(wl_keyboard::KeyState::Pressed))),
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for Seen {
    fn event(
        s: &mut Self,
        _: &WlPointer,
        ev: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match ev {
            wl_pointer::Event::Enter { surface, .. } => s.pointer_focus = Some(surface.id()),
            wl_pointer::Event::Leave { .. } => s.pointer_focus = None,
            _ => {}
        }
    }
}

impl Dispatch<XdgWmBase, ()> for Seen {
    fn event(
        _: &mut Self,
        wm: &XdgWmBase,
        ev: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = ev {
            wm.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for Seen {
    fn event(
        s: &mut Self,
        xdg: &XdgSurface,
        ev: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = ev {
            xdg.ack_configure(serial);
            s.configured.push(xdg.id());
        }
    }
}

impl Dispatch<XdgToplevel, ()> for Seen {
    fn event(
        s: &mut Self,
        tl: &XdgToplevel,
        ev: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_toplevel::Event::Configure { width, height, .. } = ev {
            s.toplevel_sizes.insert(tl.id(), (width, height));
        }
    }
}

impl Dispatch<XdgPopup, ()> for Seen {
    fn event(
        s: &mut Self,
        p: &XdgPopup,
        ev: xdg_popup::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match ev {
            xdg_popup::Event::Configure {
                x,
                y,
                width,
                height,
            } => {
                s.popup_geometry.insert(p.id(), (x, y, width, height));
            }
            xdg_popup::Event::PopupDone => s.popups_done.push(p.id()),
            _ => {}
        }
    }
}

impl Dispatch<ZwlrLayerSurfaceV1, ()> for Seen {
    fn event(
        s: &mut Self,
        l: &ZwlrLayerSurfaceV1,
        ev: zwlr_layer_surface_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_layer_surface_v1::Event::Configure {
            serial,
            width,
            height,
        } = ev
        {
            l.ack_configure(serial);
            s.layer_sizes.insert(l.id(), (width, height));
        }
    }
}

wayland_client::delegate_noop!(Seen: ignore WlCompositor);
wayland_client::delegate_noop!(Seen: ignore WlSurface);
wayland_client::delegate_noop!(Seen: ignore WlShm);
wayland_client::delegate_noop!(Seen: ignore WlShmPool);
wayland_client::delegate_noop!(Seen: ignore WlBuffer);
wayland_client::delegate_noop!(Seen: ignore WlOutput);
wayland_client::delegate_noop!(Seen: ignore XdgPositioner);
wayland_client::delegate_noop!(Seen: ignore ZwlrLayerShellV1);
