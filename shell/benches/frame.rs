//! Frame time of the headless pixman backend at 1920x1080 with 1, 10 and 50 tiled windows.
//!
//! `full`: every pixel redrawn (buffer age 0) — the cost of a frame that cannot reuse the old
//! contents. `idle`: nothing changed — what the damage tracker makes an idle screen cost.
//! `one_window_commit`: one client commits a new buffer (upload + the damaged region).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, UNIX_EPOCH};

use coconut_shell::state::{Clock, Config};
use common::{Fixture, FIXED_TIME};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn fixture(windows: usize) -> (Fixture, Vec<common::TestWindow>) {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::with(
        Config {
            size: (1920, 1080),
            agent_root: dir.path().join("agent"),
            clock: Clock::Fixed(UNIX_EPOCH + Duration::from_secs(FIXED_TIME)),
            ..Config::default()
        },
        dir,
    );
    let c = f.add_client();
    let ws: Vec<_> = (0..windows)
        .map(|i| f.client(c).toplevel(&format!("w{i}")))
        .collect();
    f.roundtrip_all();
    for (i, w) in ws.iter().enumerate() {
        let (wd, ht) = f.client(c).size_of(w).unwrap();
        let colour = 0xff00_0000 | ((i as u32 * 0x0004_0813) & 0x00ff_ffff);
        f.client(c).draw(&w.surface, wd.max(1), ht.max(1), colour);
    }
    f.roundtrip_all();
    f.headless.render(&mut f.comp.shell).unwrap();
    (f, ws)
}

fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_1920x1080");
    for n in [1usize, 10, 50] {
        let (mut f, ws) = fixture(n);
        g.bench_with_input(BenchmarkId::new("full", n), &n, |b, _| {
            b.iter(|| f.headless.render_full(&mut f.comp.shell).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("idle", n), &n, |b, _| {
            b.iter(|| f.headless.render(&mut f.comp.shell).unwrap())
        });
        let w = &ws[0];
        let (wd, ht) = f.client(0).size_of(w).unwrap();
        let mut flip = false;
        g.bench_with_input(BenchmarkId::new("one_window_commit", n), &n, |b, _| {
            b.iter(|| {
                flip = !flip;
                let colour = if flip { 0xff20_4060 } else { 0xff60_4020 };
                f.client(0).draw(&w.surface, wd, ht, colour);
                f.roundtrip(0).unwrap();
                f.headless.render(&mut f.comp.shell).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
