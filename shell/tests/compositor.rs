//! The compositor with real clients: mapping, focus, tiling, floating dialogs, popups,
//! layer-shell and a client that breaks the protocol. Placement is checked twice: in the
//! configures the clients receive and in the pixels of the compositor's rendered frame.

mod common;

use common::Fixture;
use wayland_client::Proxy;
use wayland_protocols::xdg::shell::client::xdg_positioner::{Anchor, Gravity};
use wayland_protocols_wlr::layer_shell::v1::client::zwlr_layer_shell_v1::Layer;
use wayland_protocols_wlr::layer_shell::v1::client::zwlr_layer_surface_v1::Anchor as LayerAnchor;

const RED: u32 = 0xffff_0000;
const BLUE: u32 = 0xff00_00ff;
const GREEN: u32 = 0xff00_ff00;
const YELLOW: u32 = 0xffff_ff00;

const RED_PX: [u8; 4] = [255, 0, 0, 255];
const BLUE_PX: [u8; 4] = [0, 0, 255, 255];
const GREEN_PX: [u8; 4] = [0, 255, 0, 255];
const YELLOW_PX: [u8; 4] = [255, 255, 0, 255];

/// The work area below the 28-pixel panel on the 1280x800 output.
const AREA: (i32, i32) = (1280, 772);

#[test]
fn a_toplevel_maps_fills_the_work_area_and_gets_the_keyboard() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let w = f.client(c).toplevel("one");
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).size_of(&w), Some(AREA));
    assert_eq!(
        f.client(c).seen.keyboard_focus,
        None,
        "no focus before a buffer"
    );

    f.client(c).draw(&w.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).seen.keyboard_focus, Some(w.surface.id()));
    assert!(f.comp.shell.windows[0].mapped);

    let frame = f.render();
    assert_eq!(frame.pixel(640, 400), Some(RED_PX));
    assert_eq!(
        frame.pixel(0, 28),
        Some(RED_PX),
        "the window starts below the panel"
    );
    assert_ne!(
        frame.pixel(640, 27),
        Some(RED_PX),
        "the panel is above the window"
    );
}

#[test]
fn a_second_toplevel_tiles_beside_the_first_and_takes_the_focus() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let one = f.client(c).toplevel("one");
    f.roundtrip(c).unwrap();
    f.client(c).draw(&one.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();

    let d = f.add_client();
    let two = f.client(d).toplevel("two");
    f.roundtrip_all();
    assert_eq!(
        f.client(c).size_of(&one),
        Some((640, 772)),
        "the master shrinks to the left half"
    );
    assert_eq!(f.client(d).size_of(&two), Some((640, 772)));

    f.client(c).draw(&one.surface, 640, 772, RED);
    f.client(d).draw(&two.surface, 640, 772, BLUE);
    f.roundtrip_all();
    assert_eq!(f.client(d).seen.keyboard_focus, Some(two.surface.id()));
    assert_eq!(
        f.client(c).seen.keyboard_focus,
        None,
        "the first window lost the focus"
    );

    let frame = f.render();
    assert_eq!(frame.pixel(320, 400), Some(RED_PX));
    assert_eq!(frame.pixel(960, 400), Some(BLUE_PX));
    assert_eq!(frame.pixel(639, 799), Some(RED_PX));
    assert_eq!(frame.pixel(640, 799), Some(BLUE_PX));
}

#[test]
fn a_dialog_with_a_parent_floats_centred_at_its_own_size() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let main = f.client(c).toplevel("main");
    f.roundtrip(c).unwrap();
    f.client(c).draw(&main.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();

    let dialog = {
        let cl = f.client(c);
        let surface = cl
            .seen
            .compositor
            .as_ref()
            .unwrap()
            .create_surface(&cl.qh, ());
        let xdg = cl
            .seen
            .wm_base
            .as_ref()
            .unwrap()
            .get_xdg_surface(&surface, &cl.qh, ());
        let toplevel = xdg.get_toplevel(&cl.qh, ());
        toplevel.set_parent(Some(&main.toplevel));
        surface.commit();
        common::TestWindow {
            surface,
            xdg,
            toplevel,
        }
    };
    f.roundtrip_all();
    assert_eq!(
        f.client(c).size_of(&main),
        Some(AREA),
        "a dialog does not take a tile"
    );
    assert_eq!(
        f.client(c).size_of(&dialog),
        Some((0, 0)),
        "the dialog picks its own size"
    );
    f.client(c).draw(&dialog.surface, 300, 200, GREEN);
    f.roundtrip_all();
    assert!(f.comp.shell.windows[1].floating);
    assert_eq!(f.client(c).seen.keyboard_focus, Some(dialog.surface.id()));

    let frame = f.render();
    // Centred in the work area: x 490..790, y 28 + 286 .. 28 + 486.
    assert_eq!(frame.pixel(490, 314), Some(GREEN_PX));
    assert_eq!(frame.pixel(789, 513), Some(GREEN_PX));
    assert_eq!(frame.pixel(489, 314), Some(RED_PX));
    assert_eq!(frame.pixel(790, 513), Some(RED_PX));
}

#[test]
fn a_popup_maps_at_its_positioner_rectangle() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let w = f.client(c).toplevel("menu owner");
    f.roundtrip(c).unwrap();
    f.client(c).draw(&w.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();

    let (popup_surface, popup) = {
        let cl = f.client(c);
        let wm = cl.seen.wm_base.clone().unwrap();
        let positioner = wm.create_positioner(&cl.qh, ());
        positioner.set_size(100, 50);
        positioner.set_anchor_rect(200, 100, 1, 1);
        positioner.set_anchor(Anchor::TopLeft);
        positioner.set_gravity(Gravity::BottomRight);
        let surface = cl
            .seen
            .compositor
            .as_ref()
            .unwrap()
            .create_surface(&cl.qh, ());
        let xdg = wm.get_xdg_surface(&surface, &cl.qh, ());
        let popup = xdg.get_popup(Some(&w.xdg), &positioner, &cl.qh, ());
        surface.commit();
        (surface, popup)
    };
    f.roundtrip(c).unwrap();
    assert_eq!(
        f.client(c).seen.popup_geometry.get(&popup.id()),
        Some(&(200, 100, 100, 50))
    );

    f.client(c).draw(&popup_surface, 100, 50, GREEN);
    f.roundtrip(c).unwrap();
    let frame = f.render();
    // The parent's origin is (0, 28).
    assert_eq!(frame.pixel(200, 128), Some(GREEN_PX));
    assert_eq!(frame.pixel(299, 177), Some(GREEN_PX));
    assert_eq!(frame.pixel(300, 178), Some(RED_PX));
    assert_eq!(frame.pixel(199, 127), Some(RED_PX));
}

#[test]
fn a_layer_surface_maps_at_its_anchor_and_its_exclusive_zone_shrinks_the_tiles() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let w = f.client(c).toplevel("tiled");
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).size_of(&w), Some(AREA));

    let (surface, layer) = {
        let cl = f.client(c);
        let surface = cl
            .seen
            .compositor
            .as_ref()
            .unwrap()
            .create_surface(&cl.qh, ());
        let shell = cl.seen.layer_shell.clone().unwrap();
        let layer = shell.get_layer_surface(&surface, None, Layer::Top, "dock".into(), &cl.qh, ());
        layer.set_size(200, 40);
        layer.set_anchor(LayerAnchor::Bottom);
        layer.set_exclusive_zone(40);
        surface.commit();
        (surface, layer)
    };
    f.roundtrip(c).unwrap();
    assert_eq!(
        f.client(c).seen.layer_sizes.get(&layer.id()),
        Some(&(200, 40))
    );
    f.client(c).draw(&surface, 200, 40, YELLOW);
    f.roundtrip_all();
    assert_eq!(
        f.client(c).size_of(&w),
        Some((1280, 772 - 40)),
        "the dock's zone is excluded"
    );

    f.client(c).draw(&w.surface, 1280, 732, RED);
    f.roundtrip_all();
    let frame = f.render();
    // Bottom-centre: x 540..740, y 760..800.
    assert_eq!(frame.pixel(540, 760), Some(YELLOW_PX));
    assert_eq!(frame.pixel(739, 799), Some(YELLOW_PX));
    assert_ne!(frame.pixel(539, 799), Some(YELLOW_PX));
    assert_eq!(frame.pixel(640, 759), Some(RED_PX));
}

#[test]
fn a_protocol_error_disconnects_that_client_only() {
    let mut f = Fixture::new();
    let good = f.add_client();
    let kept = f.client(good).toplevel("kept");
    f.roundtrip(good).unwrap();
    f.client(good).draw(&kept.surface, AREA.0, AREA.1, BLUE);
    f.roundtrip(good).unwrap();

    let bad = f.add_client();
    let doomed = f.client(bad).toplevel("doomed");
    f.roundtrip_all();
    f.client(bad).draw(&doomed.surface, 640, 772, RED);
    f.roundtrip_all();
    assert_eq!(f.comp.shell.windows.len(), 2);

    // xdg_positioner.set_size with a zero size is invalid_input (xdg-shell).
    {
        let cl = f.client(bad);
        let positioner = cl
            .seen
            .wm_base
            .as_ref()
            .unwrap()
            .create_positioner(&cl.qh, ());
        positioner.set_size(0, 0);
    }
    assert!(
        f.roundtrip(bad).is_err(),
        "the bad client's connection ends"
    );
    let err = f
        .client(bad)
        .conn
        .protocol_error()
        .expect("a protocol error");
    assert_eq!(err.object_interface, "xdg_positioner");

    // The other client keeps working; its window gets the whole area back.
    f.roundtrip(good).unwrap();
    f.roundtrip(good).unwrap();
    assert_eq!(f.comp.shell.windows.len(), 1);
    assert_eq!(f.client(good).size_of(&kept), Some(AREA));
    assert_eq!(f.client(good).seen.keyboard_focus, Some(kept.surface.id()));
    f.client(good).draw(&kept.surface, AREA.0, AREA.1, GREEN);
    f.roundtrip(good).unwrap();
    let frame = f.render();
    assert_eq!(frame.pixel(960, 400), Some(GREEN_PX));
}

#[test]
fn the_pointer_focuses_what_it_clicks_and_keys_go_to_the_focus() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let one = f.client(c).toplevel("one");
    let two = f.client(c).toplevel("two");
    f.roundtrip_all();
    f.client(c).draw(&one.surface, 640, 772, RED);
    f.client(c).draw(&two.surface, 640, 772, BLUE);
    f.roundtrip_all();
    assert_eq!(f.client(c).seen.keyboard_focus, Some(two.surface.id()));

    f.comp.shell.pointer_motion((100.0, 300.0).into(), 1);
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).seen.pointer_focus, Some(one.surface.id()));
    const BTN_LEFT: u32 = 0x110;
    f.comp.shell.pointer_button(BTN_LEFT, true, 2);
    f.comp.shell.pointer_button(BTN_LEFT, false, 3);
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).seen.keyboard_focus, Some(one.surface.id()));

    // xkb keycode 38 is evdev KEY_A (30).
    f.comp.shell.key(38, true, 4);
    f.comp.shell.key(38, false, 5);
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).seen.keys, vec![(30, true), (30, false)]);
}

#[test]
fn an_idle_frame_renders_nothing() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let w = f.client(c).toplevel("idle");
    f.roundtrip(c).unwrap();
    f.client(c).draw(&w.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();
    assert!(
        f.headless.render(&mut f.comp.shell).unwrap(),
        "the first frame draws"
    );
    assert!(
        !f.headless.render(&mut f.comp.shell).unwrap(),
        "nothing changed: no damage"
    );
    f.client(c).draw(&w.surface, AREA.0, AREA.1, BLUE);
    f.roundtrip(c).unwrap();
    assert!(
        f.headless.render(&mut f.comp.shell).unwrap(),
        "a new buffer damages"
    );
}

#[test]
fn a_null_buffer_unmaps_a_toplevel_until_it_maps_again() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let one = f.client(c).toplevel("one");
    let two = f.client(c).toplevel("two");
    f.roundtrip_all();
    f.client(c).draw(&one.surface, 640, 772, RED);
    f.client(c).draw(&two.surface, 640, 772, BLUE);
    f.roundtrip_all();
    assert_eq!(f.client(c).seen.keyboard_focus, Some(two.surface.id()));

    two.surface.attach(None, 0, 0);
    two.surface.commit();
    f.roundtrip_all();
    assert_eq!(
        f.client(c).size_of(&one),
        Some(AREA),
        "the remaining window fills the area"
    );
    assert_eq!(f.client(c).seen.keyboard_focus, Some(one.surface.id()));
    f.client(c).draw(&one.surface, AREA.0, AREA.1, RED);
    f.roundtrip_all();
    assert_eq!(f.render().pixel(960, 400), Some(RED_PX));

    // The new initial commit gets a configure and a tile again.
    two.surface.commit();
    f.roundtrip_all();
    assert_eq!(f.client(c).size_of(&two), Some((640, 772)));
    f.client(c).draw(&one.surface, 640, 772, RED);
    f.client(c).draw(&two.surface, 640, 772, BLUE);
    f.roundtrip_all();
    assert_eq!(f.client(c).seen.keyboard_focus, Some(two.surface.id()));
    assert_eq!(f.render().pixel(960, 400), Some(BLUE_PX));
}

#[test]
fn a_grabbing_popup_is_dismissed_by_a_press_outside_it() {
    let mut f = Fixture::new();
    let c = f.add_client();
    let w = f.client(c).toplevel("menu owner");
    f.roundtrip(c).unwrap();
    f.client(c).draw(&w.surface, AREA.0, AREA.1, RED);
    f.roundtrip(c).unwrap();

    let (popup_surface, popup) = {
        let cl = f.client(c);
        let wm = cl.seen.wm_base.clone().unwrap();
        let positioner = wm.create_positioner(&cl.qh, ());
        positioner.set_size(100, 50);
        positioner.set_anchor_rect(200, 100, 1, 1);
        positioner.set_anchor(Anchor::TopLeft);
        positioner.set_gravity(Gravity::BottomRight);
        let surface = cl
            .seen
            .compositor
            .as_ref()
            .unwrap()
            .create_surface(&cl.qh, ());
        let xdg = wm.get_xdg_surface(&surface, &cl.qh, ());
        let popup = xdg.get_popup(Some(&w.xdg), &positioner, &cl.qh, ());
        popup.grab(cl.seen.seat.as_ref().unwrap(), 1);
        surface.commit();
        (surface, popup)
    };
    f.roundtrip(c).unwrap();
    f.client(c).draw(&popup_surface, 100, 50, GREEN);
    f.roundtrip(c).unwrap();

    const BTN_LEFT: u32 = 0x110;
    // A press inside the popup keeps it.
    f.comp.shell.pointer_motion((250.0, 150.0).into(), 1);
    f.comp.shell.pointer_button(BTN_LEFT, true, 2);
    f.comp.shell.pointer_button(BTN_LEFT, false, 3);
    f.roundtrip(c).unwrap();
    assert!(f.client(c).seen.popups_done.is_empty());
    assert_eq!(f.client(c).seen.pointer_focus, Some(popup_surface.id()));

    // A press outside dismisses it.
    f.comp.shell.pointer_motion((900.0, 600.0).into(), 4);
    f.comp.shell.pointer_button(BTN_LEFT, true, 5);
    f.roundtrip(c).unwrap();
    assert_eq!(f.client(c).seen.popups_done, vec![popup.id()]);
    assert!(f.comp.shell.popup_grabs.is_empty());
}

#[test]
fn the_keyboard_layout_is_configurable_and_a_bad_one_is_a_clear_error() {
    use coconut_shell::state::{Compositor, Config};
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        agent_root: dir.path().join("agent"),
        xkb_layout: "de".into(),
        ..Config::default()
    };
    Compositor::new(config.clone()).unwrap();
    let err = Compositor::new(Config {
        xkb_layout: "no-such-layout".into(),
        ..config
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("layout `no-such-layout`"), "{msg}");
}
