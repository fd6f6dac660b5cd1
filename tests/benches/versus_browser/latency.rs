//! Mouth-to-ear latency with devices paced in real time: a private PulseAudio (see
//! `runde_e2e::sound`) plays chirp markers into the sender's microphone and takes what the
//! receiver plays out, both on one recording; the delay per marker is read from it.
//!
//! Both clients get the same kind of devices: Runde through ALSA's `pulse` plugin (its ordinary
//! ALSA path), Chromium through its own PulseAudio backend. Each uses its default voice
//! processing, as a person's would.

use std::path::Path;
use std::time::Duration;

use runde_e2e::browser::{Browser, PageOptions};
use runde_e2e::process::{ChildGuard, wait_until};
use runde_e2e::sound::{Port, SoundServer};
use runde_e2e::{Result, analysis, err};

use crate::{Better, Network, PIN, ROOM, Row, Setup, percentile, runde_with_env};

/// Markers are 1 s apart; a marker heard more than this after it was sent counts as lost.
const SPACING_MS: usize = 1000;
const MAX_MS: f64 = 900.0;

pub fn mouth_to_ear(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    let count = if setup.quick { 12 } else { 65 };
    let networks: &[Network] = if setup.quick {
        &[Network::Clean]
    } else {
        &[Network::Clean, Network::Jitter]
    };
    let dir = setup.dir.join("latency");
    std::fs::create_dir_all(&dir).map_err(|e| err("latency", e))?;
    let markers = dir.join("markers.wav");
    analysis::marker_track(&markers, count, SPACING_MS)?;
    let sound = SoundServer::start(&dir)?;
    for &network in networks {
        // Joining happens on the clean network; the markers cross the impaired one.
        let ours = runde_pair(setup, &sound, &markers, &dir, count, network)?;
        let theirs = chromium_pair(setup, &sound, &markers, &dir, count, network)?;
        let on = match network {
            Network::Clean => String::new(),
            other => format!(", {}", other.name()),
        };
        for (label, p) in [("p50", 0.5), ("p95", 0.95)] {
            rows.push(Row {
                metric: format!("mouth-to-ear latency, {label} ({count} markers{on})"),
                runde: ours.as_ref().map(|d| percentile(&d.0, p)),
                chromium: theirs.as_ref().map(|d| percentile(&d.0, p)),
                unit: "ms",
                better: Better::Lower,
            });
        }
        rows.push(Row {
            metric: format!("mouth-to-ear: markers not heard within {MAX_MS} ms (of {count}{on})"),
            runde: ours.as_ref().map(|d| d.1 as f64),
            chromium: theirs.as_ref().map(|d| d.1 as f64),
            unit: "",
            better: Better::Lower,
        });
    }
    Ok(())
}

/// A Runde sender on the mouth and a Runde receiver on the ear (the command-line client on ALSA
/// devices, its default logging).
fn runde_pair(
    setup: &Setup,
    sound: &SoundServer,
    markers: &Path,
    dir: &Path,
    count: usize,
    network: Network,
) -> Result<Option<(Vec<f64>, usize)>> {
    let wait = Duration::from_secs(30);
    let slug = network.slug();
    let mouth_alsa = sound.alsa_config(&dir.join("alsa-mouth.conf"), Port::Mouth, Port::Void)?;
    let ear_alsa = sound.alsa_config(&dir.join("alsa-ear.conf"), Port::Void, Port::Ear)?;
    let join = |name: &str, extra: &[&str], alsa: &str| {
        let mut args = vec!["--duration", "900"];
        args.extend_from_slice(extra);
        runde_with_env(
            setup,
            &format!("Latency-{name}-{slug}"),
            &args,
            &[
                ("ALSA_CONFIG_PATH", alsa),
                ("RUNDE_LOG", "warn,runde_call::media::devices=info"),
            ],
        )
    };
    let mut sender = join("Mouth", &["--audio-in", "mic", "--send-only"], &mouth_alsa)?;
    sender.wait_event("the sender to connect", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    let mut receiver = join("Ear", &["--audio-out", "speaker"], &ear_alsa)?;
    receiver.wait_event("the receiver's first sound packet", wait, |e| {
        e["event"] == "mediaStarted" && e["kind"] == "audio"
    })?;
    network.apply(&setup.wire)?;
    let result = measure(
        sound,
        markers,
        &dir.join(format!("runde-{slug}.raw")),
        count,
    );
    Network::Clean.apply(&setup.wire)?;
    // Leave normally, for the receiver's statistics (its jitter buffer's delay).
    for client in [&mut receiver, &mut sender] {
        client.interrupt()?;
        client.wait_exit(wait)?;
    }
    if let Ok(stats) = receiver.stats() {
        println!("Runde's receiver at the end: {}", stats["participants"]);
    }
    for line in receiver
        .stderr()
        .iter()
        .filter(|l| l.contains("speaker closed"))
    {
        println!("Runde's receiver: {line}");
    }
    sender.save_output(dir);
    receiver.save_output(dir);
    result
}

/// Two Chromiums on the same sound server: one publishing its microphone (the mouth), one
/// listening (on the ear).
fn chromium_pair(
    setup: &Setup,
    sound: &SoundServer,
    markers: &Path,
    dir: &Path,
    count: usize,
    network: Network,
) -> Result<Option<(Vec<f64>, usize)>> {
    let wait = Duration::from_secs(30);
    let slug = network.slug();
    let page = &setup.page;
    let speaker_dir = dir.join(format!("chromium-mouth-{slug}"));
    let listener_dir = dir.join(format!("chromium-ear-{slug}"));
    for d in [&speaker_dir, &listener_dir] {
        std::fs::create_dir_all(d).map_err(|e| err("latency", e))?;
    }
    let speaker =
        Browser::start_with_sound_server(&speaker_dir, page, &sound.env(Port::Mouth, Port::Void))?;
    let talk = PageOptions {
        audio_only: true,
        ..PageOptions::default()
    };
    speaker.open(&setup.janus.ws_url(), ROOM, PIN, &talk)?;
    wait_until("Chromium to publish its microphone", wait, || {
        let r = speaker.results()?;
        if let Some(e) = r["errors"].as_array().filter(|e| !e.is_empty()) {
            return Err(err("Chromium's page", format!("{e:?} {}", r["devices"])));
        }
        Ok((r["publishing"] == true).then_some(()))
    })?;
    let listener =
        Browser::start_with_sound_server(&listener_dir, page, &sound.env(Port::Void, Port::Ear))?;
    let listen = PageOptions {
        listen_only: true,
        ..PageOptions::default()
    };
    listener.open(&setup.janus.ws_url(), ROOM, PIN, &listen)?;
    wait_until("Chromium's first sound packet", wait, || {
        let r = listener.results()?;
        let receiving = r["feeds"].as_object().is_some_and(|f| {
            f.values()
                .any(|f| f["packetsReceived"].as_u64().unwrap_or(0) > 0)
        });
        Ok(receiving.then_some(()))
    })?;
    network.apply(&setup.wire)?;
    let result = measure(
        sound,
        markers,
        &dir.join(format!("chromium-{slug}.raw")),
        count,
    );
    Network::Clean.apply(&setup.wire)?;
    result
}

/// Play the markers into the mouth while recording the room; the sorted delays and how many
/// markers were not heard, or `None` if none was.
fn measure(
    sound: &SoundServer,
    markers: &Path,
    out: &Path,
    count: usize,
) -> Result<Option<(Vec<f64>, usize)>> {
    let recorder = sound.record(out)?;
    let mut player = sound.play_into_mouth(markers)?;
    // The track ends with a second of silence, longer than any delay counted.
    let length = Duration::from_millis(((count + 2) * SPACING_MS) as u64);
    wait_until(
        "the markers to be played",
        length + Duration::from_secs(10),
        || player.child_mut().try_wait().map_err(|e| err("paplay", e)),
    )?;
    drop::<ChildGuard>(player);
    let (mouth, ear) = recorder.finish()?;
    let (mut delays, missing) = analysis::mouth_to_ear(&mouth, &ear, MAX_MS);
    let sent = analysis::marker_onsets(&mouth, 300).len();
    println!(
        "{}: {sent} markers sent, {} heard, {missing} not; delays (ms) {delays:.0?}",
        out.display(),
        delays.len()
    );
    if sent < count {
        return Err(err(
            "mouth-to-ear",
            format!("only {sent} of {count} markers reached the recording"),
        ));
    }
    delays.sort_by(f64::total_cmp);
    Ok((!delays.is_empty()).then_some((delays, missing)))
}
