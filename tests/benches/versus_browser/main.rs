//! Runde beside a browser: the same scenarios, the same Janus, the same private network and the
//! same media, once with Runde and once with Debian's Chromium running janus.js (fed the same WAV
//! and Y4M through its fake capture devices). Prints one table — metric, Runde, Chromium, ratio —
//! and asserts nothing about the numbers.
//!
//! - mouth-to-ear latency: chirps played into the sender's microphone and heard from the
//!   receiver's speaker, both devices of one private PulseAudio paced in real time, on one
//!   recording (see `runde_e2e::sound`);
//! - join time: link → first decoded remote sound (Runde: `runde-cli` started per join, so process
//!   start counts; Chromium: the interop page opened in an already running browser);
//! - speech under random loss of what the server sends (nftables in the namespace): WB-PESQ of
//!   what the receiver played against the sent speech, sender and receiver the same client;
//! - CPU (whole process tree: the app with its WebKit processes; Chromium with all of its
//!   processes) and memory (PSS) in a 2-party call, each side sending and showing 360p30 video,
//!   both on the same Xvfb display;
//! - video as received from a sender of the same kind, under loss of what the server sends:
//!   frame rate, freezes (gaps over 200 ms) and PSNR/SSIM (ffmpeg) of the received pictures
//!   against the sent ones of the same frame counter;
//! - a bottleneck step: the uplink narrows from 2.5 Mbit/s to 500 kbit/s and widens again under
//!   a sender of each kind; the rate each offered (the kernel's counters at the limit), what the
//!   limit dropped, how soon the rate came back, and WB-PESQ at a Runde receiver right after
//!   the step, against the 8 s before it and against the same speech one loop earlier;
//! - a deep router buffer: 500 kbit/s with 500 ms of queue under a sender of each kind; how much
//!   waited in the queue (sampled) and what went through;
//! - recovery: how soon a listener hears its sender again after the clients' address changed
//!   and after the server was restarted.
//!
//! `RUNDE_BENCH_QUICK=1`: a few seconds per scenario (part of `cargo xtask test`, so the harness
//! cannot rot). `RUNDE_BENCH_ONLY=join,latency,speech,video,step,bloat,load2,load4,recovery`: only the scenarios
//! named.
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark prints its numbers

mod bloat;
mod join;
mod latency;
mod load;
mod recovery;
mod speech;
mod step;
mod video;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runde_e2e::browser::Browser;
use runde_e2e::cli::CliClient;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::wire::{Impairment, Wire};
use runde_e2e::{Result, analysis, artifacts, err, netns};
use serde_json::Value;

const ROOM: u64 = 6161;
const PIN: &str = "bench";

/// Whether a smaller number is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
    /// Neither is better in itself (e.g. how much a sender sends on a wide link).
    Neither,
}

struct Row {
    metric: String,
    /// `None`: nothing to measure (e.g. no media arrived), said in the table.
    runde: Option<f64>,
    chromium: Option<f64>,
    unit: &'static str,
    better: Better,
}

struct Setup {
    dir: PathBuf,
    janus: JanusServer,
    pin: String,
    speech: PathBuf,
    camera: PathBuf,
    page: PathBuf,
    quick: bool,
    /// The link between the clients' host and the server's (dropped after Janus).
    wire: Wire,
}

/// What the network between the clients and the server does. Everything is measured on the
/// same link: the clients on this host, Janus on a second one behind a userspace wire
/// (`runde_e2e::wire`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Network {
    /// As fast and clean as the machine allows.
    Clean,
    /// This % of what the server sends is lost at random (nftables, on arrival here).
    Loss(u32),
    /// Each way, a delay of 50 ms ± 20 ms (uniform per packet; packets keep their order).
    Jitter,
    /// Each way, a 1 Mbit/s bottleneck (the kernel's tbf on the wire).
    Bottleneck,
}

impl Network {
    /// For the table.
    fn name(self) -> String {
        match self {
            Self::Clean => "clean network".into(),
            Self::Loss(p) => format!("{p} % loss"),
            Self::Jitter => "50 ± 20 ms delay each way".into(),
            Self::Bottleneck => "1 Mbit/s each way".into(),
        }
    }

    /// For file names.
    fn slug(self) -> String {
        match self {
            Self::Clean => "clean".into(),
            Self::Loss(p) => format!("loss{p}"),
            Self::Jitter => "jitter".into(),
            Self::Bottleneck => "rate1m".into(),
        }
    }

    /// Make the link behave so (replacing whatever it did before).
    fn apply(self, wire: &Wire) -> Result<()> {
        let jitter = Impairment {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(20),
            loss_percent: 0.0,
        };
        let (impairment, rate, loss) = match self {
            Self::Clean => (Impairment::default(), None, 0),
            Self::Loss(p) => (Impairment::default(), None, p),
            Self::Jitter => (jitter, None, 0),
            Self::Bottleneck => (Impairment::default(), Some(1000), 0),
        };
        wire.set_uplink(impairment);
        wire.set_downlink(impairment);
        wire.limit_uplink_rate(rate)?;
        wire.limit_downlink_rate(rate)?;
        netns::lose_server_media(loss)
    }
}

fn main() -> Result<()> {
    if !netns::run_inside("versus-browser", &[])? {
        return Ok(());
    }
    let quick = std::env::var_os("RUNDE_BENCH_QUICK").is_some();
    // `RUNDE_BENCH_ONLY=latency,speech`: only those scenarios (while working on one), in a
    // folder of their own.
    let only = std::env::var("RUNDE_BENCH_ONLY").ok();
    let dir = match &only {
        Some(only) => artifacts::dir(&format!("bench-versus-browser-{}", only.replace(',', "-")))?,
        None => artifacts::dir("bench-versus-browser")?,
    };
    let wire = Wire::start(0x5eed_2026)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(ROOM, PIN)])?;
    let pin = dir.join("pin");
    std::fs::write(&pin, format!("{PIN}\n")).map_err(|e| err("pin", e))?;
    let speech = dir.join("speech.wav");
    analysis::speech(
        &speech,
        "Please call Stella and ask her to bring these things with her from the store. \
         We meet on Thursday at half past four in the small room next to the library.",
    )?;
    let camera = dir.join("camera.y4m");
    analysis::pattern_y4m(&camera, 300)?;
    let mut setup = Setup {
        pin: pin.display().to_string(),
        page: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("janus/page"),
        dir,
        janus,
        speech,
        camera,
        quick,
        wire,
    };
    let mut rows = Vec::new();
    type Scenario = fn(&Setup, &mut Vec<Row>) -> Result<()>;
    let scenarios: [(&str, Scenario); 8] = [
        ("join", join::join_times),
        ("latency", latency::mouth_to_ear),
        ("speech", speech::speech_under_loss),
        ("video", video::video_quality),
        ("step", step::bottleneck_step),
        ("bloat", bloat::deep_buffer),
        ("load2", |s, r| load::cpu_and_memory(s, r, 1)),
        ("load4", |s, r| load::cpu_and_memory(s, r, 3)),
    ];
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|only| only.split(',').any(|o| o.trim() == name))
    };
    for (name, run) in scenarios {
        if wanted(name) {
            run(&setup, &mut rows)?;
        }
    }
    // Last: it restarts the server and moves the clients' address.
    if wanted("recovery") {
        recovery::recovery(&mut setup, &mut rows)?;
    }

    println!("\n| metric | Runde | Chromium | Runde ÷ Chromium |");
    println!("|---|---:|---:|---:|");
    let cell = |v: Option<f64>, unit: &str| match v {
        // Scores below 1 (SSIM) differ in the third and fourth decimal.
        Some(v) if v != 0.0 && v.abs() < 1.0 => format!("{v:.4} {unit}"),
        Some(v) => format!("{v:.2} {unit}"),
        None => "no media".to_owned(),
    };
    for row in &rows {
        let ratio = match (row.runde, row.chromium) {
            // Nothing to divide by (e.g. no freezes on Chromium's side): no ratio.
            (Some(a), Some(b)) if b != 0.0 => {
                let ratio = a / b;
                let verdict = match row.better {
                    Better::Neither => "",
                    Better::Lower if ratio <= 1.0 => " (better)",
                    Better::Higher if ratio >= 1.0 => " (better)",
                    _ => " (worse)",
                };
                format!("{ratio:.2}{verdict}")
            }
            _ => "–".to_owned(),
        };
        println!(
            "| {} | {} | {} | {ratio} |",
            row.metric,
            cell(row.runde, row.unit),
            cell(row.chromium, row.unit)
        );
    }
    let json: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::json!({"metric": r.metric, "runde": r.runde, "chromium": r.chromium, "unit": r.unit}))
        .collect();
    let _ = std::fs::write(
        setup.dir.join("results.json"),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn chromium(setup: &Setup, name: &str, display: Option<&str>) -> Result<Browser> {
    chromium_with_args(setup, name, display, &[])
}

/// [`chromium`] with more command-line switches for it.
fn chromium_with_args(
    setup: &Setup,
    name: &str,
    display: Option<&str>,
    extra: &[&str],
) -> Result<Browser> {
    let dir = setup.dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| err(name, e))?;
    Browser::start_with_args(
        &dir,
        &setup.page,
        &setup.speech,
        &setup.camera,
        display,
        extra,
    )
}

/// A Chromium page in the room, publishing the speech and the camera file.
fn chromium_publishing(setup: &Setup, name: &str) -> Result<Browser> {
    let browser = chromium(setup, name, None)?;
    browser.open(
        &setup.janus.ws_url(),
        ROOM,
        PIN,
        &runde_e2e::browser::PageOptions::default(),
    )?;
    runde_e2e::process::wait_until("Chromium to publish", Duration::from_secs(30), || {
        Ok((browser.results()?["publishing"] == true).then_some(()))
    })?;
    Ok(browser)
}

/// A Runde client in the room publishing the speech and the camera file for `seconds`, once its
/// media connection is up.
fn runde_publishing(setup: &Setup, name: &str, seconds: u32) -> Result<CliClient> {
    let (speech, camera) = (
        setup.speech.display().to_string(),
        setup.camera.display().to_string(),
    );
    let seconds = seconds.to_string();
    let mut sender = runde(
        setup,
        name,
        &[
            "--audio-in",
            &speech,
            "--video-in",
            &camera,
            "--send-only",
            "--duration",
            &seconds,
        ],
    )?;
    sender.wait_event("connected", Duration::from_secs(30), |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    Ok(sender)
}

fn runde(setup: &Setup, name: &str, extra: &[&str]) -> Result<CliClient> {
    runde_with_env(setup, name, extra, &[])
}

/// [`runde`] with extra environment variables (e.g. its sound devices).
fn runde_with_env(
    setup: &Setup,
    name: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<CliClient> {
    let link = setup.janus.link(ROOM);
    let mut args = vec![
        "join",
        link.as_str(),
        "--json",
        "--name",
        name,
        "--password-file",
        setup.pin.as_str(),
    ];
    args.extend_from_slice(extra);
    CliClient::spawn_with_env(&name.to_lowercase(), &args, env)
}
