//! The video path to the screen: the real app under Xvfb in a real Janus call, with `runde-cli`
//! participants sending the moving test pattern — encoded once before the run into IVF files and
//! sent as they are, so that ten senders fit on a small machine beside the app. For each scenario, after a warm-up, it measures
//! over a fixed window the CPU of the app and everything it started (the WebKit processes
//! included), its memory (PSS), and per tile the pictures playout handed over, sent to the page,
//! drawn there, replaced before sending (back-pressure), and drawn over before the screen
//! refreshed (never seen). Prints numbers; asserts nothing.
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark prints its numbers

use std::time::{Duration, Instant};

use runde_e2e::cli::CliClient;
use runde_e2e::desktop::DesktopApp;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::process::wait_until;
use runde_e2e::{Result, artifacts, err, netns, proctree};
use serde_json::Value;

const ROOM: u64 = 5151;
const P180: (u32, u32) = (320, 180);
const P360: (u32, u32) = (640, 360);
const P720: (u32, u32) = (1280, 720);
const PIN: &str = "bench";

struct Scenario {
    name: &'static str,
    /// Each sender's layers, smallest first, as (width, height), all at 30 frames per second:
    /// one for a single stream, several for simulcast.
    senders: Vec<Vec<(u32, u32)>>,
    /// The speaker layout with the last sender pinned (large), instead of the grid.
    speaker_view: bool,
}

fn main() -> Result<()> {
    if !netns::run_inside("video-path", &[])? {
        return Ok(());
    }
    let quick = std::env::var_os("RUNDE_BENCH_QUICK").is_some();
    let (warm_up, window) = if quick {
        (Duration::from_secs(3), Duration::from_secs(4))
    } else {
        (Duration::from_secs(8), Duration::from_secs(20))
    };
    let mut scenarios = vec![
        Scenario {
            name: "1 × 360p30",
            senders: vec![vec![P360]],
            speaker_view: false,
        },
        Scenario {
            name: "4 × 360p30",
            senders: vec![vec![P360]; 4],
            speaker_view: false,
        },
        // The other nine participants run on this machine too (with Janus): the eight shown as
        // thumbnails send 180p and 360p only, so that their 720p layers, which Janus would
        // receive and never forward here, do not take the cores from the app. What the app
        // receives is the same: eight 180p layers and one 720p.
        Scenario {
            name: "10 participants, simulcast: speaker view, one pinned (180p + 360p + 720p sent), 8 thumbnails (180p + 360p sent)",
            senders: {
                let mut senders = vec![vec![P180, P360]; 8];
                senders.push(vec![P180, P360, P720]);
                senders
            },
            speaker_view: true,
        },
    ];
    if !quick {
        let mut nine = vec![vec![P360]; 9];
        nine.push(vec![P720]);
        scenarios.push(Scenario {
            name: "9 × 360p30 + 1 × 720p30, grid",
            senders: nine.clone(),
            speaker_view: false,
        });
        scenarios.push(Scenario {
            name: "9 × 360p30 + 1 × 720p30, speaker view (the 720p one pinned, large)",
            senders: nine,
            speaker_view: true,
        });
        scenarios.push(Scenario {
            name: "10 participants without simulcast: 9 send 720p only, speaker view",
            senders: vec![vec![P720]; 9],
            speaker_view: true,
        });
    }
    let dir = artifacts::dir("bench-video-files")?;
    let files = [P180, P360, P720]
        .into_iter()
        .map(|(w, h)| {
            let path = dir.join(format!("pattern-{w}x{h}.ivf"));
            encode_pattern(&path, w, h).map(|()| ((w, h), path))
        })
        .collect::<Result<std::collections::BTreeMap<_, _>>>()?;
    // `RUNDE_BENCH_ONLY=<tiles>` runs only the scenarios with that many tiles.
    if let Some(only) = std::env::var("RUNDE_BENCH_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        scenarios.retain(|s| s.senders.len() == only);
    }
    println!(
        "| scenario | tiles | app CPU (% of one core, all processes) | per tile | app PSS (MiB) | per tile: shown / sent / drawn / replaced / drawn over before the screen refreshed (frames per s) | rest of the machine: Janus, senders, idle (% of one core) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for scenario in &scenarios {
        run(scenario, &files, warm_up, window)?;
    }
    Ok(())
}

fn stats(app: &DesktopApp) -> Result<Value> {
    app.session.execute_async(
        "const done = arguments[arguments.length - 1];\
         window.__TAURI_INTERNALS__.invoke('video_stats').then(done, (e) => done({ error: String(e) }));",
        serde_json::json!([]),
    )
}

/// Idle time of all cores together, in clock ticks (`/proc/stat`).
fn idle_ticks() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let cpu = stat.lines().next()?.split_whitespace().collect::<Vec<_>>();
            // cpu user nice system idle iowait …
            Some(cpu.get(4)?.parse::<u64>().ok()? + cpu.get(5)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// Two seconds of the test pattern at 30 frames per second, a keyframe every second.
fn encode_pattern(path: &std::path::Path, width: u32, height: u32) -> Result<()> {
    use runde_media::codec::vp8::{Vp8Config, Vp8Encoder};
    use runde_media::video::ivf::{IvfHeader, IvfWriter};
    use runde_media::video::{TestPattern, VideoSource};
    let fail = |e: runde_media::MediaError| err("encoding the test pattern", e);
    let mut writer = IvfWriter::create(
        path,
        IvfHeader {
            width: width as u16,
            height: height as u16,
            fps: (30, 1),
        },
    )
    .map_err(fail)?;
    let mut encoder = Vp8Encoder::new(Vp8Config::camera(width, height)).map_err(fail)?;
    let mut pattern = TestPattern::new(width, height, 30).map_err(fail)?;
    for i in 0..60 {
        let frame = pattern
            .next_frame()
            .map_err(fail)?
            .ok_or_else(|| err("pattern", "ended"))?;
        if i % 30 == 0 {
            encoder.request_keyframe();
        }
        for encoded in encoder.encode(&frame).map_err(fail)? {
            writer.write(&encoded).map_err(fail)?;
        }
    }
    writer.finish().map_err(fail)
}

fn run(
    scenario: &Scenario,
    files: &std::collections::BTreeMap<(u32, u32), std::path::PathBuf>,
    warm_up: Duration,
    window: Duration,
) -> Result<()> {
    let simulcast = scenario.senders.iter().any(|layers| layers.len() > 1);
    let label = format!(
        "{}{}{}",
        scenario.senders.len(),
        if scenario.speaker_view {
            "-speaker"
        } else {
            ""
        },
        if simulcast { "-simulcast" } else { "" }
    );
    let dir = artifacts::dir(&format!("bench-video-{label}"))?;
    let janus = JanusServer::start(
        &dir,
        &[RoomSpec {
            publishers: scenario.senders.len() as u32 + 2,
            ..RoomSpec::with_pin(ROOM, PIN)
        }],
    )?;
    let pin = dir.join("pin");
    std::fs::write(&pin, format!("{PIN}\n")).map_err(|e| err("pin", e))?;
    let pin = pin.display().to_string();
    let link = janus.link(ROOM);
    let mut senders = Vec::new();
    for (i, layers) in scenario.senders.iter().enumerate() {
        let video_in = layers
            .iter()
            .map(|(w, h)| {
                files
                    .get(&(*w, *h))
                    .map(|p| p.display().to_string())
                    .ok_or_else(|| err("video file", format!("none for {w}×{h}")))
            })
            .collect::<Result<Vec<_>>>()?
            .join(",");
        let mut sender = CliClient::spawn(
            &format!("sender-{i}"),
            &[
                "join",
                &link,
                "--json",
                "--name",
                &format!("Sender {i}"),
                "--password-file",
                &pin,
                "--video-in",
                &video_in,
                "--send-only",
                "--duration",
                "600",
            ],
        )?;
        sender.wait_event("joined", Duration::from_secs(20), |e| {
            e["event"] == "joined"
        })?;
        senders.push(sender);
    }

    let app = DesktopApp::launch(&format!("bench_video_{label}"))?;
    let s = &app.session;
    if simulcast {
        // As large as the screen (1280×800): the pinned picture's tile is then tall enough for
        // its biggest layer, as on a user's full-screen window.
        s.set_window_size(1280, 800)?;
    }
    s.type_text(&s.find("[data-testid=link-input]")?, &link)?;
    s.click(&s.find("[data-testid=check-link]")?)?;
    s.type_text(&s.find("[data-testid=password-input]")?, PIN)?;
    s.click(&s.find("[data-testid=join]")?)?;
    s.find("[data-testid=call]")?;
    let tiles = scenario.senders.len();
    if scenario.speaker_view {
        s.execute(
            "document.querySelector('[data-testid=layout-speaker]').click();",
            serde_json::json!([]),
        )?;
        let last = format!("Sender {}", tiles - 1);
        wait_until("the last sender's tile", Duration::from_secs(30), || {
            let found = s.execute(
                "const name = arguments[0];                 const tile = [...document.querySelectorAll('[data-testid=tile]')]                   .find((t) => t.querySelector('[data-testid=tile-name]')?.textContent === name);                 const pin = tile?.querySelector('[data-testid=pin]');                 if (pin && pin.getAttribute('aria-pressed') !== 'true') pin.click();                 return tile?.dataset.pinned === 'true';",
                serde_json::json!([last]),
            )?;
            Ok((found == serde_json::json!(true)).then_some(()))
        })?;
    }
    wait_until("every tile to draw", Duration::from_secs(30), || {
        let v = stats(&app)?;
        let drawing = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|t| t["drawn"].as_u64().unwrap_or(0) > 0)
                    .count()
            })
            .unwrap_or(0);
        Ok((drawing >= tiles).then_some(()))
    })?;
    std::thread::sleep(warm_up); // a benchmark's warm-up, not synchronisation

    let app_pid = app.app_pid()?;
    let cpu = |snapshot: &std::collections::BTreeMap<u32, proctree::ProcessSample>| -> u64 {
        proctree::tree(snapshot, app_pid)
            .iter()
            .filter_map(|pid| snapshot.get(pid))
            .map(|p| p.ticks)
            .sum()
    };
    let before_stats = stats(&app)?;
    let before = proctree::all();
    let idle_before = idle_ticks();
    let started = Instant::now();
    std::thread::sleep(window); // the measurement window
    let after = proctree::all();
    let idle_after = idle_ticks();
    let elapsed = started.elapsed().as_secs_f64();
    let after_stats = stats(&app)?;
    let ticks = (cpu(&after) - cpu(&before)) as f64;
    let percent = ticks / proctree::ticks_per_second() as f64 / elapsed * 100.0;
    let pss: u64 = proctree::tree(&after, app_pid)
        .iter()
        .map(|pid| proctree::pss_kib(*pid))
        .sum();
    let mut per_process: Vec<String> = proctree::tree(&after, app_pid)
        .iter()
        .filter_map(|pid| {
            let a = after.get(pid)?;
            let b = before.get(pid).map(|p| p.ticks).unwrap_or(0);
            let pct = (a.ticks - b) as f64 / proctree::ticks_per_second() as f64 / elapsed * 100.0;
            (pct >= 0.5).then(|| format!("{} {pct:.0} %", a.name))
        })
        .collect();
    per_process.sort();

    let rate = |tile: &Value, field: &str| -> f64 {
        let id = &tile["participant"];
        let old = before_stats
            .as_array()
            .and_then(|a| a.iter().find(|t| &t["participant"] == id))
            .and_then(|t| t[field].as_u64())
            .unwrap_or(0);
        (tile[field].as_u64().unwrap_or(0) - old) as f64 / elapsed
    };
    // Per tile, with the size it arrives in (the layer the server forwards) where that is not
    // what the scenario's senders all send.
    let per_tile: Vec<String> = after_stats
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    let size = if simulcast {
                        format!(" ({}p)", t["receivedHeight"].as_u64().unwrap_or(0))
                    } else {
                        String::new()
                    };
                    format!(
                        "{:.0}/{:.0}/{:.0}/{:.0}/{:.1}{size}",
                        rate(t, "shown"),
                        rate(t, "sent"),
                        rate(t, "drawn"),
                        rate(t, "replaced"),
                        rate(t, "skipped")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let by_name = |name: &str| -> f64 {
        let ticks: u64 = after
            .iter()
            .filter(|(_, p)| p.name == name)
            .map(|(pid, p)| p.ticks - before.get(pid).map(|b| b.ticks).unwrap_or(p.ticks))
            .sum();
        ticks as f64 / proctree::ticks_per_second() as f64 / elapsed * 100.0
    };
    let idle =
        (idle_after - idle_before) as f64 / proctree::ticks_per_second() as f64 / elapsed * 100.0;
    println!(
        "| {} | {tiles} | {percent:.0} % ({}) | {:.1} % | {:.0} | {} | {:.0} %, {:.0} %, {idle:.0} % |",
        scenario.name,
        per_process.join(", "),
        percent / tiles as f64,
        pss as f64 / 1024.0,
        per_tile.join(" · "),
        by_name("janus"),
        by_name("runde-cli"),
    );
    app.screenshot("tiles")?;
    drop(app);
    drop(senders);
    Ok(())
}
