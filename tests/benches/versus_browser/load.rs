//! CPU and memory in a call with video from everyone.

use std::time::Duration;

use runde_e2e::browser::PageOptions;
use runde_e2e::desktop::{DesktopApp, VirtualDisplay};
use runde_e2e::process::wait_until;
use runde_e2e::{Result, proctree};

use crate::{Better, PIN, ROOM, Row, Setup, chromium, runde};

/// A call with `others` other participants (1: a 2-party call), everyone sending 360p30 video
/// and sound; the measured client sends its own and shows everyone else's.
pub fn cpu_and_memory(setup: &Setup, rows: &mut Vec<Row>, others: usize) -> Result<()> {
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
    println!("{call} (window {window:?}):");
    for (who, usage) in [("Runde", &ours), ("Chromium", &theirs)] {
        println!(
            "  {who}: {:.0} % CPU, {:.0} MiB PSS, {} processes; busiest threads:",
            usage.cpu_percent, usage.pss_mib, usage.processes
        );
        for t in &usage.busiest_threads {
            println!("    {:5.1} %  {} / {}", t.cpu_percent, t.process, t.thread);
        }
    }
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
