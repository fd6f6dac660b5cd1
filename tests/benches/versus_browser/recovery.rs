//! Recovery: the clients' host moves to another address mid-call, and the server is killed and
//! started again. For each kind of client (a sender and a listener of the same kind), how long
//! until the listener receives the sender's sound again. Runde: its listener reports the sound
//! starting again (`mediaStarted` after the event). Chromium (Debian's janus.js on the interop
//! page): the packets its listener received from any sender, polled every 100 ms; back when they
//! grow again after having stopped.
//!
//! Both reach the server as a real one is reached: over TLS (nginx in front of Janus on the server
//! host, a certificate from the benchmark's own authority) to the server's address, across the
//! wire, from their own address, so that a move breaks their server connection too. Chromium is
//! told to accept the certificate (`--ignore-certificate-errors`), Runde trusts the authority and
//! the server on first contact.

use std::time::{Duration, Instant};

use runde_e2e::Result;
use runde_e2e::browser::{Browser, PageOptions};
use runde_e2e::cli::CliClient;
use runde_e2e::netns::{CLIENT_ADDR, SERVER_ADDR};
use runde_e2e::process::wait_until;
use runde_e2e::tls_proxy::{TestCa, TlsProxy};
use serde_json::Value;

use crate::{Better, PIN, ROOM, Row, Setup, chromium_with_args};

/// The server as the clients reach it here: through a TLS front on its own address.
struct Direct {
    _front: TlsProxy,
    /// The link Runde joins.
    link: String,
    /// The WebSocket the interop page opens.
    ws: String,
    /// The benchmark's certificate authority (PEM), for Runde.
    ca: String,
}

impl Direct {
    fn start(setup: &Setup) -> Result<Self> {
        let ca = TestCa::new(&setup.dir.join("recovery-ca"))?;
        let cert = ca.server_at("janus", SERVER_ADDR)?;
        let front = TlsProxy::start_on_host(
            setup.wire.host(),
            &setup.dir.join("recovery-nginx"),
            &cert,
            setup.janus.ws_addr().port(),
            443,
        )?;
        Ok(Self {
            link: front.link(ROOM),
            ws: format!("wss://{SERVER_ADDR}:{}/janus", front.port()),
            ca: ca.certificate().display().to_string(),
            _front: front,
        })
    }

    /// A Runde client in the room, named `name`, with `extra` arguments.
    fn runde(&self, setup: &Setup, name: &str, extra: &[&str]) -> Result<CliClient> {
        let store = setup
            .dir
            .join(format!("trust-{name}"))
            .display()
            .to_string();
        let mut args = vec![
            "join",
            self.link.as_str(),
            "--json",
            "--name",
            name,
            "--password-file",
            setup.pin.as_str(),
            "--trust-store",
            &store,
            "--accept-new-server",
        ];
        args.extend_from_slice(extra);
        CliClient::spawn_with_env(&name.to_lowercase(), &args, &[("SSL_CERT_FILE", &self.ca)])
    }

    /// A Chromium page in the room (publishing its speech and camera unless `options` says
    /// otherwise).
    fn chromium(&self, setup: &Setup, name: &str, options: &PageOptions) -> Result<Browser> {
        let browser = chromium_with_args(setup, name, None, &["--ignore-certificate-errors"])?;
        browser.open(&self.ws, ROOM, PIN, options)?;
        Ok(browser)
    }
}

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

fn runde_recovers(
    setup: &mut Setup,
    direct: &Direct,
    event: Event,
    name: &str,
) -> Result<Option<f64>> {
    let mut sender = direct.runde(
        setup,
        &format!("Recovery-sender-{name}"),
        &["--audio-in", "tone:660", "--send-only", "--duration", "120"],
    )?;
    sender.wait_event("joined", Duration::from_secs(30), |e| {
        e["event"] == "joined"
    })?;
    let heard = setup.dir.join(format!("recovery-{name}.wav"));
    let heard = heard.display().to_string();
    let mut listener = direct.runde(
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

fn chromium_recovers(
    setup: &mut Setup,
    direct: &Direct,
    event: Event,
    name: &str,
) -> Result<Option<f64>> {
    let sender = direct.chromium(
        setup,
        &format!("chromium-recovery-sender-{name}"),
        &PageOptions::default(),
    )?;
    wait_until("Chromium to publish", Duration::from_secs(30), || {
        Ok((sender.results()?["publishing"] == true).then_some(()))
    })?;
    let listen = PageOptions {
        listen_only: true,
        ..PageOptions::default()
    };
    let listener = direct.chromium(
        setup,
        &format!("chromium-recovery-listener-{name}"),
        &listen,
    )?;
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
    let direct = Direct::start(setup)?;
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
        let ours = runde_recovers(setup, &direct, event, slug)?;
        let theirs = chromium_recovers(setup, &direct, event, slug)?;
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
