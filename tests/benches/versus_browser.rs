//! Runde beside a browser: the same scenarios, the same Janus, the same private network and the
//! same media, once with Runde and once with Debian's Chromium running janus.js (fed the same WAV
//! and Y4M through its fake capture devices). Prints one table — metric, Runde, Chromium, ratio —
//! and asserts nothing about the numbers.
//!
//! - join time: link → first decoded remote sound (Runde: `runde-cli` started per join, so process
//!   start counts; Chromium: the interop page opened in an already running browser);
//! - speech under random loss of what the server sends (nftables in the namespace): WB-PESQ of
//!   what the receiver played against the sent speech, sender and receiver the same client;
//! - CPU (whole process tree: the app with its WebKit processes; Chromium with all of its
//!   processes) and memory (PSS) in a 2-party call, each side sending and showing 360p30 video,
//!   both on the same Xvfb display.
//!
//! `RUNDE_BENCH_QUICK=1`: a few seconds per scenario (part of `cargo xtask test`, so the harness
//! cannot rot). Not yet here: mouth-to-ear latency (needs a paced sound server), video quality
//! (PSNR/SSIM, freezes), delay and jitter (a userspace impairment step).
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark prints its numbers

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runde_e2e::browser::{Browser, PageOptions};
use runde_e2e::cli::CliClient;
use runde_e2e::desktop::{DesktopApp, VirtualDisplay};
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::process::wait_until;
use runde_e2e::{Result, analysis, artifacts, err, netns, proctree};
use serde_json::Value;

const ROOM: u64 = 6161;
const PIN: &str = "bench";

/// Whether a smaller number is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
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
}

fn main() -> Result<()> {
    if !netns::run_inside("versus-browser", &[])? {
        return Ok(());
    }
    let quick = std::env::var_os("RUNDE_BENCH_QUICK").is_some();
    let dir = artifacts::dir("bench-versus-browser")?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN)])?;
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
    let setup = Setup {
        pin: pin.display().to_string(),
        page: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("janus/page"),
        dir,
        janus,
        speech,
        camera,
        quick,
    };
    let mut rows = Vec::new();
    join_times(&setup, &mut rows)?;
    speech_under_loss(&setup, &mut rows)?;
    cpu_and_memory(&setup, &mut rows, 1)?;
    cpu_and_memory(&setup, &mut rows, 3)?;

    println!("\n| metric | Runde | Chromium | Runde ÷ Chromium |");
    println!("|---|---:|---:|---:|");
    let cell = |v: Option<f64>, unit: &str| match v {
        Some(v) => format!("{v:.2} {unit}"),
        None => "no media".to_owned(),
    };
    for row in &rows {
        let ratio = match (row.runde, row.chromium) {
            (Some(a), Some(b)) => {
                let ratio = a / b;
                let verdict = match row.better {
                    Better::Lower if ratio <= 1.0 => "better",
                    Better::Higher if ratio >= 1.0 => "better",
                    _ => "worse",
                };
                format!("{ratio:.2} ({verdict})")
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
    let dir = setup.dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| err(name, e))?;
    Browser::start(&dir, &setup.page, &setup.speech, &setup.camera, display)
}

fn runde(setup: &Setup, name: &str, extra: &[&str]) -> Result<CliClient> {
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
    CliClient::spawn(&name.to_lowercase(), &args)
}

/// Link → first decoded remote sound, while a Runde participant plays a tone in the room.
fn join_times(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    let joins = if setup.quick { 3 } else { 20 };
    let wait = Duration::from_secs(20);
    let mut talker = runde(
        setup,
        "Talker",
        &["--audio-in", "tone", "--send-only", "--duration", "900"],
    )?;
    talker.wait_event("joined", wait, |e| e["event"] == "joined")?;
    let mut ours = Vec::new();
    for i in 0..joins {
        let started = Instant::now();
        let mut listener = runde(setup, &format!("Listener-{i}"), &["--duration", "1.5"])?;
        listener.wait_event("first sound", wait, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "audio"
        })?;
        ours.push(started.elapsed().as_secs_f64() * 1000.0);
        listener.wait_exit(wait)?;
    }
    let browser = chromium(setup, "chromium-join", None)?;
    let mut theirs = Vec::new();
    let listen = PageOptions {
        listen_only: true,
        ..PageOptions::default()
    };
    for _ in 0..joins {
        let started = now_ms();
        browser.open(&setup.janus.ws_url(), ROOM, PIN, &listen)?;
        let first = wait_until("Chromium's first sound", wait, || {
            Ok(browser.results()?["firstAudioAt"].as_f64())
        })?;
        theirs.push(first - started);
        browser.leave()?;
    }
    drop(browser);
    drop(talker);
    for v in [&mut ours, &mut theirs] {
        v.sort_by(f64::total_cmp);
    }
    println!("join times over {joins} joins (ms): Runde {ours:.0?}, Chromium {theirs:.0?}");
    for (label, p) in [("p50", 0.5), ("p95", 0.95)] {
        rows.push(Row {
            metric: format!("join time, link → first sound, {label} ({joins} joins)"),
            runde: Some(percentile(&ours, p)),
            chromium: Some(percentile(&theirs, p)),
            unit: "ms",
            better: Better::Lower,
        });
    }
    Ok(())
}

fn pesq_python() -> Result<PathBuf> {
    let path = std::env::var_os("RUNDE_PESQ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/pesq-venv/bin/python")
        });
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(
            "PESQ",
            format!(
                "{} not found: `cargo xtask setup test` installs it",
                path.display()
            ),
        ))
    }
}

/// WB-PESQ of one loop of the speech as received (from 2 s in), against the same stretch of
/// what was sent.
fn pesq(setup: &Setup, sent: &[f32], received: &[f32], name: &str) -> Result<Option<f64>> {
    // No sound at all (the media path never came up): nothing to score.
    let Some(start) = received
        .chunks(480)
        .position(|w| runde_media::measure::rms_dbfs(w) > -50.0)
    else {
        println!("{name}: no sound arrived");
        return Ok(None);
    };
    let received = &received[start * 480..];
    use runde_media::audio::resample::resample_clip;
    use runde_media::audio::write_wav_at;
    let from = 48_000 * 2;
    let Some(piece) = received.get(from..from + sent.len()) else {
        println!("{name}: sound for only {} samples", received.len());
        return Ok(None);
    };
    let at = analysis::loop_position(sent, piece);
    let looped: Vec<f32> = sent.iter().chain(sent.iter()).copied().collect();
    let reference = &looped[at..at + piece.len()];
    let to_16k = |x: &[f32]| resample_clip(x, 48_000, 16_000).map_err(|e| err("resample", e));
    let (ref_path, deg_path) = (
        setup.dir.join(format!("{name}-ref16k.wav")),
        setup.dir.join(format!("{name}-deg16k.wav")),
    );
    write_wav_at(&ref_path, &to_16k(reference)?, 16_000).map_err(|e| err("wav", e))?;
    write_wav_at(&deg_path, &to_16k(piece)?, 16_000).map_err(|e| err("wav", e))?;
    let script = "import sys, wave\nimport numpy as np\nfrom pesq import pesq\n\
        def load(p):\n    w = wave.open(p, 'rb')\n    return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)\n\
        print(pesq(16000, load(sys.argv[1]), load(sys.argv[2]), 'wb'))\n";
    let out = std::process::Command::new(pesq_python()?)
        .arg("-c")
        .arg(script)
        .arg(&ref_path)
        .arg(&deg_path)
        .output()
        .map_err(|e| err("PESQ", e))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| err("PESQ", String::from_utf8_lossy(&out.stderr).into_owned()))
}

fn decode_base64_pcm(text: &str) -> Result<Vec<f32>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| err("recording", e))?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect())
}

/// The speech from one client to another of the same kind, through Janus, with each loss rate on
/// the receivers' downlink.
fn speech_under_loss(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    let levels: &[u32] = if setup.quick {
        &[0, 20]
    } else {
        &[0, 5, 10, 20, 30]
    };
    let sent = analysis::wav(&setup.speech)?;
    // One loop of the speech is scored, from 2 s after the first sound; with loss, the media
    // path itself takes longer to come up (lost connectivity checks and handshakes are resent),
    // so the recordings run well past that.
    let seconds = sent.len() / 48_000 + 8;
    let wait = Duration::from_secs(30);
    let mut ours = Vec::new();
    let speech = setup.speech.display().to_string();
    let mut sender = runde(
        setup,
        "Speaker",
        &["--audio-in", &speech, "--send-only", "--duration", "900"],
    )?;
    sender.wait_event("connected", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    for &percent in levels {
        netns::lose_server_media(percent)?;
        let out = setup.dir.join(format!("runde-loss{percent}.wav"));
        let out_arg = out.display().to_string();
        let mut receiver = runde(
            setup,
            &format!("Receiver-{percent}"),
            &[
                "--audio-out",
                &out_arg,
                "--duration",
                &(seconds + 1).to_string(),
            ],
        )?;
        receiver.wait_exit(Duration::from_secs(seconds as u64 + 30))?;
        receiver.save_output(&setup.dir);
        // Its file starts when it joined; the score starts after the first sound.
        let received = analysis::wav(&out)?;
        ours.push(pesq(
            setup,
            &sent,
            &received,
            &format!("runde-loss{percent}"),
        )?);
    }
    netns::lose_server_media(0)?;
    drop(sender);

    let mut theirs = Vec::new();
    let speaker = chromium(setup, "chromium-speaker", None)?;
    speaker.open(&setup.janus.ws_url(), ROOM, PIN, &PageOptions::default())?;
    wait_until("Chromium to publish", wait, || {
        Ok((speaker.results()?["publishing"] == true).then_some(()))
    })?;
    let listener = chromium(setup, "chromium-listener", None)?;
    for &percent in levels {
        netns::lose_server_media(percent)?;
        let record = PageOptions {
            listen_only: true,
            record_seconds: Some(seconds as u32),
            ..PageOptions::default()
        };
        listener.open(&setup.janus.ws_url(), ROOM, PIN, &record)?;
        let recording = wait_until(
            "Chromium's recording",
            Duration::from_secs(seconds as u64 + 30),
            || Ok(listener.results()?["recording"].as_str().map(str::to_owned)),
        )?;
        listener.leave()?;
        let received = decode_base64_pcm(&recording)?;
        theirs.push(pesq(
            setup,
            &sent,
            &received,
            &format!("chromium-loss{percent}"),
        )?);
    }
    netns::lose_server_media(0)?;
    for (i, &percent) in levels.iter().enumerate() {
        rows.push(Row {
            metric: format!("speech quality (WB-PESQ), {percent} % loss"),
            runde: ours[i],
            chromium: theirs[i],
            unit: "",
            better: Better::Higher,
        });
    }
    Ok(())
}

/// A call with `others` other participants (1: a 2-party call), everyone sending 360p30 video
/// and sound; the measured client sends its own and shows everyone else's.
fn cpu_and_memory(setup: &Setup, rows: &mut Vec<Row>, others: usize) -> Result<()> {
    let (warm_up, window) = if setup.quick {
        (Duration::from_secs(3), Duration::from_secs(4))
    } else {
        (Duration::from_secs(10), Duration::from_secs(30))
    };
    let wait = Duration::from_secs(30);
    // The others: Runde's command-line client, sending only (not measured).
    let mut peers = Vec::new();
    for i in 0..others {
        let mut peer = runde(
            setup,
            &format!("Peer-{i}"),
            &[
                "--audio-in",
                "tone",
                "--video-in",
                "pattern:640x360@30",
                "--send-only",
                "--duration",
                "900",
            ],
        )?;
        peer.wait_event("connected", wait, |e| {
            e["event"] == "connection" && e["state"] == "connected"
        })?;
        peers.push(peer);
    }
    let call = format!("{}-party call, 360p30 from everyone", others + 1);

    // Runde: the app (with its synthetic camera at 360p30 and a tone), microphone and camera on.
    let link = setup.janus.link(ROOM);
    let app = DesktopApp::launch_with_env(
        &format!("bench_versus_app_{}", others + 1),
        &[&link],
        &[("RUNDE_SYNTHETIC_DEVICES", "1")],
        |_| Ok(()),
    )?;
    let s = &app.session;
    s.type_text(&s.find("[data-testid=password-input]")?, PIN)?;
    s.type_text(&s.find("[data-testid=name-input]")?, "Runde")?;
    s.click(&s.find("[data-testid=join]")?)?;
    s.find("[data-testid=call]")?;
    s.click(&s.find("[data-testid=mute]")?)?;
    s.click(&s.find("[data-testid=camera]")?)?;
    wait_until("the app to draw everyone", wait, || {
        let drawn = s.execute(
            "return [...document.querySelectorAll('[data-testid=tile] canvas')]\
               .filter((c) => Number(c.drawnFrames || 0) >= 30).length;",
            serde_json::json!([]),
        )?;
        Ok((drawn.as_u64().unwrap_or(0) >= others as u64).then_some(()))
    })?;
    std::thread::sleep(warm_up);
    let ours = proctree::usage(app.app_pid()?, window, &[]);
    drop(app);

    // Chromium: a window on its own Xvfb display, sending its fake camera (the same pattern at
    // 360p30) and the speech, showing the peer.
    let display = VirtualDisplay::start()?;
    let browser = chromium(
        setup,
        &format!("chromium-call-{}", others + 1),
        display.display(),
    )?;
    browser.open(&setup.janus.ws_url(), ROOM, PIN, &PageOptions::default())?;
    wait_until("Chromium to show everyone", wait, || {
        let r = browser.results()?;
        let shown = r["feeds"].as_object().map_or(0, |f| {
            f.values()
                .filter(|f| f["framesDecoded"].as_u64().unwrap_or(0) >= 30)
                .count()
        });
        Ok((shown >= others && r["publishing"] == true).then_some(()))
    })?;
    std::thread::sleep(warm_up);
    let theirs = proctree::usage(browser.driver_pid(), window, &["chromedriver"]);
    drop(browser);
    drop(display);
    drop(peers);
    println!("{call}: Runde {ours:?}; Chromium {theirs:?} (window {window:?})");
    rows.push(Row {
        metric: format!("CPU, {call} (% of one core)"),
        runde: Some(ours.cpu_percent),
        chromium: Some(theirs.cpu_percent),
        unit: "%",
        better: Better::Lower,
    });
    rows.push(Row {
        metric: format!("memory (PSS), {call}"),
        runde: Some(ours.pss_mib),
        chromium: Some(theirs.pss_mib),
        unit: "MiB",
        better: Better::Lower,
    });
    Ok(())
}
