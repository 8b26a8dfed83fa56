//! `coconut-shell`: the Coconut OS Wayland compositor's command line.
//!
//! `coconut-shell --headless --screenshot out.png` renders one frame (panel included) to a PNG;
//! `coconut-shell --headless` serves clients on a `wayland-N` socket and renders in memory.
//! `--winit` and `--backend drm` are not built yet and say so.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use coconut_shell::backend::Backend;
use coconut_shell::state::{Clock, Config};

/// The Coconut OS Wayland shell.
#[derive(Parser, Debug)]
#[command(name = "coconut-shell", version)]
struct Cli {
    /// The backend (default: headless).
    #[arg(long, value_enum, conflicts_with_all = ["headless", "winit"])]
    backend: Option<Backend>,
    /// Same as `--backend headless`.
    #[arg(long)]
    headless: bool,
    /// Same as `--backend winit` (not built yet).
    #[arg(long, conflicts_with = "headless")]
    winit: bool,
    /// Render one frame to this PNG and exit (headless only).
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// The output size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x800", value_parser = parse_size)]
    size: (i32, i32),
    /// Where agentfs is mounted.
    #[arg(long, default_value = coconut_shell::agents::DEFAULT_ROOT)]
    agent_root: PathBuf,
    /// The panel's font file.
    #[arg(long, default_value = coconut_shell::panel::DEFAULT_FONT)]
    font: PathBuf,
    /// The keyboard layout(s), as xkb names them (`us`, `de`, `de,us`).
    #[arg(long, default_value = "", value_name = "LAYOUT")]
    xkb_layout: String,
    /// Show this Unix time (seconds) on the clock instead of the system clock.
    #[arg(long, value_name = "SECONDS")]
    fixed_time: Option<u64>,
}

fn parse_size(s: &str) -> Result<(i32, i32), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT (e.g. 1280x800)"))?;
    let w: i32 = w.parse().map_err(|_| format!("`{w}` is not a width"))?;
    let h: i32 = h.parse().map_err(|_| format!("`{h}` is not a height"))?;
    if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) {
        return Err(format!("{w}x{h} is outside 1x1..16384x16384"));
    }
    Ok((w, h))
}

fn run(cli: Cli) -> Result<()> {
    let backend = match (cli.backend, cli.headless, cli.winit) {
        (Some(b), _, _) => b,
        (None, _, true) => Backend::Winit,
        (None, _, false) => Backend::Headless,
    };
    if cli.screenshot.is_some() && backend != Backend::Headless {
        bail!("--screenshot needs the headless backend");
    }
    let clock = match cli.fixed_time {
        Some(s) => Clock::Fixed(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)),
        None => Clock::System,
    };
    let config = Config {
        size: cli.size,
        agent_root: cli.agent_root,
        font: cli.font,
        clock,
        xkb_layout: cli.xkb_layout,
    };
    backend
        .run(config, cli.screenshot.as_deref())
        .context("coconut-shell stopped")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coconut-shell: {e:#}");
            ExitCode::FAILURE
        }
    }
}
