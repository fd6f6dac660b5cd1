//! Join time: link → first decoded remote sound.

use std::time::{Duration, Instant};

use runde_e2e::Result;
use runde_e2e::browser::PageOptions;
use runde_e2e::process::wait_until;

use crate::{Better, PIN, ROOM, Row, Setup, chromium, now_ms, percentile, runde};

/// Link → first decoded remote sound, while a Runde participant plays a tone in the room.
pub fn join_times(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
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
