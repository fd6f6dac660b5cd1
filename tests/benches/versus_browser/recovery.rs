//! Recovery: the clients' host moves to another address mid-call, and the server is killed and
//! started again. For each kind of client (a sender and a listener of the same kind), how long
//! until the listener receives the sender's sound again. Runde: its listener reports the sound
//! starting again (`mediaStarted` after the event). Chromium (Debian's janus.js on the interop
//! page): the packets its listener received from any sender, polled every 100 ms; back when they
//! grow again after having stopped.

use std::time::{Duration, Instant};

use runde_e2e::Result;
use runde_e2e::browser::{Browser, PageOptions};
use runde_e2e::netns::CLIENT_ADDR;
use runde_e2e::process::wait_until;
use serde_json::Value;

use crate::{Better, PIN, ROOM, Row, Setup, chromium, chromium_publishing, runde};

/// The address the clients' host moves to.
const MOVED_ADDR: &str = "198.18.0.3";
/// Longer than this is "not back".
const GIVE_UP: Duration = Duration::from_secs(20);
/// The server is down for this long before it is started again.
const DOWN: Duration = Duration::from_secs(3);

#[derive(Clone, Copy)]
enum Event {
    AddressChange,
    ServerRestart,
}

/// Make it happen; returns when the recovery clock starts (for a restart: when the server is
/// back).
fn happen(setup: &mut Setup, event: Event) -> Result<Instant> {
    match event {
        Event::AddressChange => {
            setup.wire.move_client_address(CLIENT_ADDR, MOVED_ADDR)?;
            Ok(Instant::now())
        }
        Event::ServerRestart => {
            setup.janus.kill();
            // The scenario: a server that is away for a few seconds.
            std::thread::sleep(DOWN);
            setup.janus.restart_on(setup.wire.host())?;
            Ok(Instant::now())
        }
    }
}

/// Put the network back as it was for what follows.
fn undo(setup: &Setup, event: Event) -> Result<()> {
    if let Event::AddressChange = event {
        setup.wire.move_client_address(MOVED_ADDR, CLIENT_ADDR)?;
    }
    Ok(())
}

fn runde_recovers(setup: &mut Setup, event: Event, name: &str) -> Result<Option<f64>> {
    let mut sender = runde(
        setup,
        &format!("Recovery-sender-{name}"),
        &["--audio-in", "tone:660", "--send-only", "--duration", "120"],
    )?;
    sender.wait_event("joined", Duration::from_secs(30), |e| {
        e["event"] == "joined"
    })?;
    let heard = setup.dir.join(format!("recovery-{name}.wav"));
    let heard = heard.display().to_string();
    let mut listener = runde(
        setup,
        &format!("Recovery-listener-{name}"),
        &["--audio-out", &heard, "--duration", "120"],
    )?;
    let plays = |e: &Value| e["event"] == "mediaStarted" && e["kind"] == "audio";
    listener.wait_event("the tone", Duration::from_secs(30), plays)?;
    let before = listener.events().len();
    let started = happen(setup, event)?;
    let back = listener
        .wait_event_from(before, "the tone again", GIVE_UP, plays)
        .ok()
        .map(|_| started.elapsed().as_secs_f64());
    listener.save_output(&setup.dir);
    sender.save_output(&setup.dir);
    drop(listener);
    drop(sender);
    undo(setup, event)?;
    Ok(back)
}

/// Packets Chromium's listener has received from every sender so far.
fn received(listener: &Browser) -> Result<u64> {
    let results = listener.results()?;
    Ok(results["feeds"]
        .as_object()
        .map(|feeds| {
            feeds
                .values()
                .map(|f| f["packetsReceived"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0))
}

fn chromium_recovers(setup: &mut Setup, event: Event, name: &str) -> Result<Option<f64>> {
    let sender = chromium_publishing(setup, &format!("chromium-recovery-sender-{name}"))?;
    let listener = chromium(setup, &format!("chromium-recovery-listener-{name}"), None)?;
    let listen = PageOptions {
        listen_only: true,
        ..PageOptions::default()
    };
    listener.open(&setup.janus.ws_url(), ROOM, PIN, &listen)?;
    wait_until("Chromium to hear", Duration::from_secs(30), || {
        Ok((received(&listener)? > 50).then_some(()))
    })?;
    let started = happen(setup, event)?;
    // Stopped: a poll without new packets; back: new packets after that.
    let mut last = received(&listener)?;
    let mut stopped = false;
    let mut back = None;
    while started.elapsed() < GIVE_UP {
        std::thread::sleep(Duration::from_millis(100));
        let now = received(&listener).unwrap_or(last);
        if now == last {
            stopped = true;
        } else if stopped {
            back = Some(started.elapsed().as_secs_f64());
            break;
        }
        last = now;
    }
    if !stopped {
        back = Some(0.0);
    }
    drop(listener);
    drop(sender);
    undo(setup, event)?;
    Ok(back)
}

pub fn recovery(setup: &mut Setup, rows: &mut Vec<Row>) -> Result<()> {
    for (event, label, slug) in [
        (
            Event::AddressChange,
            "sound back after the clients' address changed",
            "address",
        ),
        (
            Event::ServerRestart,
            "sound back after the server restarted (down 3 s)",
            "restart",
        ),
    ] {
        let ours = runde_recovers(setup, event, slug)?;
        let theirs = chromium_recovers(setup, event, slug)?;
        let say = |v: Option<f64>| {
            v.map_or(format!("not within {} s", GIVE_UP.as_secs()), |s| {
                format!("{s:.2} s")
            })
        };
        println!("  {label}: Runde {}, Chromium {}", say(ours), say(theirs));
        rows.push(Row {
            metric: format!("{label} (not back: no number)"),
            runde: ours,
            chromium: theirs,
            unit: "s",
            better: Better::Lower,
        });
    }
    Ok(())
}
