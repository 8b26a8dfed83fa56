//! Screenshots of the panel against the reference images in `tests/reference/`.
//!
//! The compositor renders a full frame on the headless backend; the panel's rows are compared
//! with the reference at a small tolerance (anti-aliasing may move a little between font
//! rasteriser versions; layout may not). To regenerate the references after an intended
//! change, run
//!
//! ```text
//! COCONUT_UPDATE_REFERENCE=1 cargo test -p coconut-shell --test screenshot
//! ```
//!
//! and look at the new PNGs before committing them. A failing comparison writes the actual
//! image next to the reference as `<name>.actual.png` (ignored by git) to look at.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use coconut_shell::headless::Image;
use coconut_shell::panel;
use coconut_shell::state::{Clock, Config};
use common::{Fixture, FIXED_TIME};

/// Per channel, a pixel may differ by this much and still match.
const CHANNEL_TOLERANCE: u8 = 24;
/// At most this share of pixels (per mille) may differ by more.
const MAX_DIFFERENT_PER_MILLE: usize = 2;

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.png"))
}

fn check(name: &str, actual: &Image) {
    let path = reference(name);
    if std::env::var_os("COCONUT_UPDATE_REFERENCE").is_some() {
        actual.write_png(&path).unwrap();
        eprintln!("updated {}", path.display());
        return;
    }
    let expected = Image::read_png(&path).unwrap_or_else(|e| {
        panic!("{e:#}: regenerate with COCONUT_UPDATE_REFERENCE=1 (see this file's header)")
    });
    assert_eq!(
        (actual.width, actual.height),
        (expected.width, expected.height),
        "{name}: size differs"
    );
    let different = actual
        .rgba
        .chunks(4)
        .zip(expected.rgba.chunks(4))
        .filter(|(a, e)| {
            a.iter()
                .zip(e.iter())
                .any(|(a, e)| a.abs_diff(*e) > CHANNEL_TOLERANCE)
        })
        .count();
    let total = (actual.width * actual.height) as usize;
    if different * 1000 > total * MAX_DIFFERENT_PER_MILLE {
        let out = path.with_extension("actual.png");
        actual.write_png(&out).unwrap();
        panic!(
            "{name}: {different} of {total} pixels differ from {}; the frame is in {}",
            path.display(),
            out.display()
        );
    }
}

fn panel_rows(f: &mut Fixture) -> Image {
    f.render().rows(0, panel::HEIGHT as u32)
}

fn fixed_clock() -> Clock {
    Clock::Fixed(UNIX_EPOCH + Duration::from_secs(FIXED_TIME))
}

#[test]
fn panel_without_agentfs_says_the_kernel_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::with(
        Config {
            agent_root: PathBuf::from("/nonexistent-coconut-test/agent"),
            clock: fixed_clock(),
            ..Config::default()
        },
        dir,
    );
    let shown = f.comp.shell.panel.shown().unwrap().clone();
    assert_eq!(
        shown.agents,
        "agents: kernel not ready (/nonexistent-coconut-test/agent missing)"
    );
    assert_eq!(shown.clock, "09:41 UTC");
    check("panel-no-agentfs", &panel_rows(&mut f));
}

#[test]
fn panel_with_agents_shows_the_count_and_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("agent");
    for (aid, status) in [
        ("a:00000", "ACTIVE"),
        ("a:00001", "ACTIVE"),
        ("a:00017", "CAP_DENIED"),
    ] {
        std::fs::create_dir_all(root.join(aid)).unwrap();
        std::fs::write(
            root.join(aid).join("status"),
            format!("{status}\nsince_ns=1\n"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("live")).unwrap();
        std::os::unix::fs::symlink(format!("../{aid}"), root.join("live").join(aid)).unwrap();
    }
    let mut f = Fixture::with(
        Config {
            agent_root: root.clone(),
            clock: fixed_clock(),
            ..Config::default()
        },
        dir,
    );
    let shown = f.comp.shell.panel.shown().unwrap().clone();
    assert_eq!(shown.agents, "agents: 3");
    assert_eq!(shown.alert.as_deref(), Some("! 1 Cap-denied"));
    check("panel-agents-alert", &panel_rows(&mut f));

    // The panel follows agentfs: the denied agent leaves, the alert goes.
    std::fs::remove_file(root.join("live/a:00017")).unwrap();
    f.comp.shell.refresh_panel();
    assert!(f.comp.shell.needs_redraw);
    let shown = f.comp.shell.panel.shown().unwrap().clone();
    assert_eq!(shown.agents, "agents: 2");
    assert_eq!(shown.alert, None);
}
