//! The `coconut-shell` binary: a headless screenshot, and the clear errors of what is not
//! built or not given right.

use std::process::Command;

use coconut_shell::headless::Image;

fn shell() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coconut-shell"))
}

#[test]
fn headless_screenshot_writes_a_png_of_the_output_size() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("out.png");
    let out = shell()
        .args(["--headless", "--size", "640x400", "--agent-root"])
        .arg(dir.path().join("agent"))
        .arg("--screenshot")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = Image::read_png(&png).unwrap();
    assert_eq!((image.width, image.height), (640, 400));
}

#[test]
fn backends_that_are_not_built_say_so() {
    for args in [&["--backend", "drm"][..], &["--winit"][..]] {
        let out = shell().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not built yet"), "{args:?}: {err}");
    }
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = shell().args(["--size", "12x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a height"));

    let out = shell()
        .args([
            "--headless",
            "--size",
            "100x20",
            "--screenshot",
            "/tmp/never.png",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));

    let out = shell()
        .args([
            "--headless",
            "--font",
            "/nonexistent.ttf",
            "--screenshot",
            "/tmp/never.png",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fonts-dejavu-core"));
}
