//! Staying in the call when the network gets bad: Runde behind a userspace wire to a real Janus
//! on a host of its own, with the kernel's rate limit stepped under a running call. Each test
//! runs in its own network namespace.
#![cfg(target_os = "linux")]
#![allow(clippy::print_stdout)] // the measured numbers are printed for the person running them

mod turn;

use std::process::ExitStatus;
use std::time::Duration;

use runde_e2e::cli::CliClient;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::tls_proxy::{TestCa, TlsProxy};
use runde_e2e::uplink::RateLog;
use runde_e2e::wire::{Impairment, Wire};
use runde_e2e::{Result, analysis, artifacts, err, netns};

/// The uplink steps from 2.5 Mbit/s to 500 kbit/s and back under a running call. Runde's
/// sending rate must fit the narrow link within 5 s (the limit all but stops dropping), not collapse
/// far below it, and come back to at least 80 % of what it sent before within 15 s of the step
/// up; the other side keeps hearing the speech throughout.
#[test]
fn the_sending_rate_follows_a_bottleneck_step() -> Result<()> {
    if !netns::enter("the_sending_rate_follows_a_bottleneck_step")? {
        return Ok(());
    }
    let dir = artifacts::dir("network-bottleneck-step")?;
    let wire = Wire::start(21)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let speech = dir.join("speech.wav");
    analysis::speech(
        &speech,
        "The link narrows to a fifth and widens again. Speech goes first, the picture adapts.",
    )?;
    let (wide, narrow) = (2_500, 500);
    wire.limit_uplink_rate(Some(wide))?;
    let link = janus.link(1234);
    let pin = pin_file(&dir)?;
    let heard = dir.join("bob.wav").display().to_string();
    let speech_arg = speech.display().to_string();
    let join = |name: &str, media: &[&str]| CliClient::join(&link, &pin, name, 50, media);
    let wait = Duration::from_secs(20);
    let mut alice = join(
        "Alice",
        &[
            "--audio-in",
            &speech_arg,
            "--video-in",
            "pattern:640x360@30",
            "--send-only",
        ],
    )?;
    let joined = alice.wait_event("joined", wait, |e| e["event"] == "joined")?;
    let alice_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let mut bob = join("Bob", &["--audio-out", &heard])?;
    bob.wait_event("Alice's video", wait, |e| {
        e["event"] == "mediaStarted"
            && e["participant"] == alice_id.as_str()
            && e["kind"] == "video"
    })?;
    let mut log = RateLog::new();
    log.record(&wire, Duration::from_secs(12))?;
    let step_down = log.now();
    wire.limit_uplink_rate(Some(narrow))?;
    log.record(&wire, Duration::from_secs(15))?;
    let step_up = log.now();
    wire.limit_uplink_rate(Some(wide))?;
    log.record(&wire, Duration::from_secs(18))?;

    println!(
        "uplink kbit/s per second (! = the limit dropped packets): {}",
        log.per_second()
    );
    let before = log.span(step_down - 4.0, step_down).0;
    let (fitting, fitting_drops) = log.span(step_down + 5.0, step_up);
    let (settled, _) = log.span(step_up - 6.0, step_up);
    // When, after the step up, a 2 s stretch first carried 80 % of what went before.
    let recovered = log.reached(step_up, log.now(), 2.0, 0.8 * before);
    println!(
        "before the step: {before:.0} kbit/s; at {narrow} kbit/s from 5 s on: {fitting:.0} kbit/s, \
         {:.2} % dropped by the limit (last 6 s: {settled:.0}); back to 80 % after the step up: {}",
        fitting_drops * 100.0,
        recovered.map_or("never".into(), |s| format!("{s:.1} s"))
    );
    alice.save_output(&dir);
    bob.save_output(&dir);
    assert!(
        before > f64::from(narrow) * 1.2,
        "the step must matter: {before:.0} kbit/s before it"
    );
    // A picture that steps up a size (its keyframe) may overrun the shallow queue once: under
    // 2 % of the packets over the stretch; an estimate that does not follow drops about half.
    assert!(
        fitting_drops < 0.02,
        "still overrunning the link 5 s after the step: {:.2} % dropped",
        fitting_drops * 100.0
    );
    assert!(
        settled > f64::from(narrow) * 0.5,
        "collapsed below the link: {settled:.0} kbit/s"
    );
    assert!(
        recovered.is_some_and(|s| s <= 15.0),
        "not back to 80 % of {before:.0} kbit/s within 15 s: {recovered:?}"
    );

    // Bob heard the speech throughout: 2 s windows over the narrow and the wide stretch.
    bob.wait_exit(Duration::from_secs(40))?;
    let sent = analysis::wav(&speech)?;
    let got = analysis::wav(std::path::Path::new(&heard))?;
    let second = 48_000;
    let ends = got.len() / second;
    let windows: Vec<_> = (ends.saturating_sub(40)..ends.saturating_sub(2))
        .step_by(3)
        .map(|s| analysis::match_speech(&sent, &got, s * second, 2 * second))
        .collect();
    let envelopes: Vec<String> = windows
        .iter()
        .map(|m| format!("{:.2}", m.envelope))
        .collect();
    println!("speech at Bob, 2 s windows: {}", envelopes.join(" "));
    assert!(windows.len() >= 10, "{} windows", windows.len());
    let clear = windows.iter().filter(|m| m.envelope > 0.85).count();
    assert!(
        clear + 1 >= windows.len(),
        "speech clear in only {clear} of {} windows: {envelopes:?}",
        windows.len()
    );
    Ok(())
}

/// A call whose participants' host moves to another address mid-call, as far as the move: the
/// speaker (tone and a picture) and the listener (the tone into a file), both on the client side,
/// the listener hearing the tone. What both printed before the move is counted in `before`.
struct MovedCall {
    dir: std::path::PathBuf,
    speaker: CliClient,
    listener: CliClient,
    /// How many events each had printed before the move (listener, speaker).
    before: (usize, usize),
    moved: std::time::Instant,
    /// Kept until the clients are gone (in this order).
    _front: Option<TlsProxy>,
    _janus: JanusServer,
    _wire: Wire,
}

impl MovedCall {
    /// Both leave (interrupted, as when the window is closed); what they printed is kept whether
    /// they left cleanly or not. Their exit statuses (listener, speaker).
    fn leave(&mut self) -> Result<(ExitStatus, ExitStatus)> {
        self.listener.interrupt()?;
        self.speaker.interrupt()?;
        let (l, s) = (
            self.listener.wait_exit(Duration::from_secs(20)),
            self.speaker.wait_exit(Duration::from_secs(20)),
        );
        self.listener.save_output(&self.dir);
        self.speaker.save_output(&self.dir);
        Ok((l?, s?))
    }
}

/// How the participants reach the server.
#[derive(Clone, Copy, PartialEq)]
enum Signalling {
    /// Across the wire, from their own address, over TLS to the server's address (nginx in
    /// front of Janus on the server host): as a real server is reached. A move breaks this
    /// connection too, and Runde sees that it left from the address that went away.
    Direct,
    /// Beside the wire (a relay on loopback that connects from the server host): a move
    /// breaks only the media paths.
    BesideTheWire,
}

/// Start a call on a server behind a wire (reached as `signalling` says), end-to-end
/// encrypted with `passphrase` if given, then move the client side from its address to another.
fn move_during_a_call(
    name: &str,
    signalling: Signalling,
    passphrase: Option<&str>,
    video: &str,
) -> Result<MovedCall> {
    break_during_a_call(name, signalling, passphrase, video, |wire| {
        wire.move_client_address(runde_e2e::netns::CLIENT_ADDR, "198.18.0.3")
    })
}

/// Before the listener joins: nothing (the picture must show before the network breaks), or
/// the wire holds back all video to the client side until the test lets it through.
#[derive(Clone, Copy, PartialEq)]
enum Picture {
    ShownBefore,
    HeldBack,
}

/// Start a call as [`move_during_a_call`] does (the speaker's picture: `video`), then break its
/// network with `disrupt`.
fn break_during_a_call(
    name: &str,
    signalling: Signalling,
    passphrase: Option<&str>,
    video: &str,
    disrupt: impl FnOnce(&Wire) -> Result<()>,
) -> Result<MovedCall> {
    break_during_a_call_with(
        name,
        signalling,
        passphrase,
        video,
        Picture::ShownBefore,
        disrupt,
    )
}

/// [`break_during_a_call`], with the picture as `picture` says.
fn break_during_a_call_with(
    name: &str,
    signalling: Signalling,
    passphrase: Option<&str>,
    video: &str,
    picture: Picture,
    disrupt: impl FnOnce(&Wire) -> Result<()>,
) -> Result<MovedCall> {
    let dir = artifacts::dir(name)?;
    let wire = Wire::start(33)?;
    let rooms = [RoomSpec::with_pin(1234, "pin")];
    let mut trust = Vec::new();
    let (janus, front, link) = match signalling {
        Signalling::BesideTheWire => {
            let janus = JanusServer::start_on_beside_the_wire(wire.host(), &dir, &rooms)?;
            let link = janus.link(1234);
            (janus, None, link)
        }
        Signalling::Direct => {
            let janus = JanusServer::start_on(wire.host(), &dir, &rooms)?;
            let ca = TestCa::new(&dir.join("ca"))?;
            let cert = ca.server_at("janus", runde_e2e::netns::SERVER_ADDR)?;
            let front = TlsProxy::start_on_host(
                wire.host(),
                &dir.join("nginx"),
                &cert,
                janus.ws_addr().port(),
                443,
            )?;
            let link = front.link(1234);
            trust.push(("SSL_CERT_FILE", ca.certificate().display().to_string()));
            (janus, Some(front), link)
        }
    };
    let pin = pin_file(&dir)?;
    let heard = dir.join("ear.wav").display().to_string();
    let e2ee = match passphrase {
        Some(words) => {
            let file = dir.join("e2ee");
            std::fs::write(&file, format!("{words}\n")).map_err(|e| err("passphrase file", e))?;
            vec![
                "--e2ee-passphrase-file".to_owned(),
                file.display().to_string(),
            ]
        }
        None => Vec::new(),
    };
    let env: Vec<(&str, &str)> = trust.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let join = |name: &str, media: &[&str]| {
        let mut args: Vec<&str> = media.to_vec();
        args.extend(e2ee.iter().map(String::as_str));
        // Each participant's own trusted-server list; the server is new to both.
        let store = dir.join(format!("trust-{name}")).display().to_string();
        args.extend(["--trust-store", &store, "--accept-new-server"]);
        CliClient::join_with_env(&link, &pin, name, 40, &args, &env)
    };
    let wait = Duration::from_secs(20);
    let mut speaker = join("Tone", &["--audio-in", "tone:660", "--video-in", video])?;
    speaker.wait_event("joined", wait, |e| e["event"] == "joined")?;
    if picture == Picture::HeldBack {
        // VP8 is payload type 96 in the server's offer to its subscribers.
        wire.hold_back_downlink(Some(96));
    }
    let mut listener = join("Ear", &["--audio-out", &heard])?;
    listener.wait_event("the tone plays", wait, audio_plays)?;
    if picture == Picture::ShownBefore {
        // The picture too: what is measured is media coming back, so all of it was there
        // before. (A picture whose first packets come only after an ICE restart can fail to
        // decrypt: "Known faults" in docs/MEDIA.md, and the test of its own below.)
        listener.wait_event("the picture shows", wait, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })?;
    }
    // The speaker receives the listener's nothing, but its own path must be up too.
    speaker.wait_event("the speaker's media connected", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    let before = (listener.events().len(), speaker.events().len());
    disrupt(&wire)?;
    Ok(MovedCall {
        dir,
        speaker,
        listener,
        before,
        moved: std::time::Instant::now(),
        _front: front,
        _janus: janus,
        _wire: wire,
    })
}

/// The room's password (`pin`, as every test room here has it) in a file in `dir`, for
/// `--password-file`.
fn pin_file(dir: &std::path::Path) -> Result<String> {
    let pin = dir.join("pin");
    std::fs::write(&pin, "pin\n").map_err(|e| err("pin file", e))?;
    Ok(pin.display().to_string())
}

/// A sender of a tone and a 720p picture that receives nothing.
const SENDS_720P: [&str; 5] = [
    "--audio-in",
    "tone:440",
    "--video-in",
    "pattern:1280x720@30",
    "--send-only",
];

fn audio_plays(e: &serde_json::Value) -> bool {
    e["event"] == "mediaStarted" && e["kind"] == "audio"
}

/// The events named `names` among `events` after the first `from`.
fn named(events: &[serde_json::Value], from: usize, names: &[&str]) -> Vec<serde_json::Value> {
    events
        .iter()
        .skip(from)
        .filter(|e| names.iter().any(|n| e["event"] == *n))
        .cloned()
        .collect()
}

/// The events `client` printed after the first `from`, named `names`.
fn events_after(client: &CliClient, from: usize, names: &[&str]) -> Vec<serde_json::Value> {
    named(&client.events(), from, names)
}

/// Both participants' host moves to another address mid-call, and their server connection (TLS
/// to the server's address, as to a real server) left from the address that goes away: the
/// connection is gone with it, whether it noticed yet or not, so the call rejoins at once rather
/// than first trying an ICE restart nobody would answer. Media must be back within 3 s, and the
/// reason given while reconnecting is the broken media connection, with the address.
#[test]
fn media_comes_back_after_an_address_change() -> Result<()> {
    if !netns::enter("media_comes_back_after_an_address_change")? {
        return Ok(());
    }
    let mut call = move_during_a_call(
        "network-address-change",
        Signalling::Direct,
        None,
        "pattern:320x180@15",
    )?;
    let (listener_before, speaker_before) = call.before;
    // Waited for longer than the goal, so that a slow recovery is measured and its logs kept.
    let wait_back = Duration::from_secs(15);
    let listener_back = call
        .listener
        .wait_event_from(
            listener_before,
            "the tone plays again",
            wait_back,
            audio_plays,
        )
        .map(|_| call.moved.elapsed());
    let speaker_back = call
        .speaker
        .wait_event_from(speaker_before, "rejoined", wait_back, |e| {
            e["event"] == "rejoined"
        })
        .map(|_| call.moved.elapsed());
    println!(
        "after the address change: the listener heard the tone again after {listener_back:?}, \
         the speaker was back after {speaker_back:?}"
    );
    let reasons: Vec<serde_json::Value> =
        events_after(&call.listener, listener_before, &["reconnecting"])
            .iter()
            .map(|e| e["error"].clone())
            .collect();
    println!("the listener's reconnecting events: {reasons:?}");
    call.leave()?;
    let first = reasons
        .first()
        .ok_or_else(|| err("listener", "it never noticed"))?;
    assert_eq!(first["code"], "MediaPathLost", "{first}");
    let moved_from = format!("address {} went away", runde_e2e::netns::CLIENT_ADDR);
    assert!(
        first["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&moved_from)),
        "rejoined for another reason than the address: {first}"
    );
    let limit = Duration::from_secs(3);
    let listener_back = listener_back?;
    assert!(listener_back <= limit, "sound back after {listener_back:?}");
    let speaker_back = speaker_back?;
    assert!(speaker_back <= limit, "speaker back after {speaker_back:?}");
    Ok(())
}

/// Both participants' host moves to another address mid-call while the server connection holds
/// (signalling reaches the server beside the wire): the media paths are repaired by an ICE
/// restart on the same handles. The tone is heard again within 3 s; neither participant sees
/// the other leave or join, nobody rejoins, and both show "reconnecting" until their media
/// connection is back. The call is end-to-end encrypted: the tone that plays again was decrypted
/// with the same call key (no new safety code, nobody reported as undecryptable).
#[test]
fn an_ice_restart_brings_media_back_without_leaving_the_room() -> Result<()> {
    if !netns::enter("an_ice_restart_brings_media_back_without_leaving_the_room")? {
        return Ok(());
    }
    let mut call = move_during_a_call(
        "network-ice-restart",
        Signalling::BesideTheWire,
        Some("Kaffee Kanne Kuchen Kerze"),
        // Two simulcast layers: the restart offer carries them as the first offer did.
        "pattern:640x360@15",
    )?;
    let (listener_before, speaker_before) = call.before;
    let wait_back = Duration::from_secs(15);
    let connected_again =
        |e: &serde_json::Value| e["event"] == "connection" && e["state"] == "connected";
    let listener_back = call
        .listener
        .wait_event_from(
            listener_before,
            "the tone plays again",
            wait_back,
            audio_plays,
        )
        .map(|_| call.moved.elapsed());
    let speaker_back = call
        .speaker
        .wait_event_from(
            speaker_before,
            "the speaker's media connected again",
            wait_back,
            connected_again,
        )
        .map(|_| call.moved.elapsed());
    let picture_back = call
        .listener
        .wait_event_from(listener_before, "the picture shows again", wait_back, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })
        .map(|_| call.moved.elapsed());
    println!(
        "after the address change: the listener heard the tone again after {listener_back:?}, \
         the speaker's media connection was back after {speaker_back:?}, the picture showed \
         again after {picture_back:?}"
    );
    // Hear it for a moment: a rejoin or a leave that came late would show now.
    let settle = call.listener.wait_event_from(
        call.listener.events().len(),
        "nothing (a second of the call going on)",
        Duration::from_secs(1),
        |e| e["event"] == "participantLeft" || e["event"] == "rejoined",
    );
    assert!(settle.is_err(), "after the repair: {settle:?}");
    // What each printed during the call (leaving comes after).
    let during = (call.listener.events(), call.speaker.events());
    let (l, s) = call.leave()?;
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    let membership = [
        "participantLeft",
        "participantJoined",
        "rejoined",
        "reconnecting",
        "endToEnd",
        "newPassphraseAdvised",
    ];
    let printed = [
        (&call.listener, &during.0, listener_before),
        (&call.speaker, &during.1, speaker_before),
    ];
    for (client, events, from) in printed {
        let seen = named(events, from, &membership);
        assert!(seen.is_empty(), "{} saw {seen:?}", client.name());
        let undecryptable: Vec<_> = named(events, from, &["decryption"])
            .into_iter()
            .filter(|e| e["decrypting"] != true)
            .collect();
        assert!(
            undecryptable.is_empty(),
            "{}: {undecryptable:?}",
            client.name()
        );
        let states: Vec<String> = named(events, from, &["connection"])
            .iter()
            .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
            .collect();
        println!(
            "{}'s connection states after the move: {states:?}",
            client.name()
        );
        assert_eq!(
            states.first().map(String::as_str),
            Some("reconnecting"),
            "{} showed the repair",
            client.name()
        );
        assert_eq!(
            states.last().map(String::as_str),
            Some("connected"),
            "{} came back",
            client.name()
        );
    }
    let limit = Duration::from_secs(3);
    let listener_back = listener_back?;
    assert!(listener_back <= limit, "sound back after {listener_back:?}");
    let speaker_back = speaker_back?;
    assert!(speaker_back <= limit, "speaker back after {speaker_back:?}");
    // The picture needs a keyframe after the gap (asked for as after any loss).
    let picture_back = picture_back?;
    assert!(picture_back <= limit, "picture back after {picture_back:?}");
    Ok(())
}

/// The network stops delivering to the ports the call's media used (as a NAT does that forgot
/// its mappings) while the addresses and the server connection stay: nothing comes back on the
/// media paths, ICE reports them disconnected after 1.5 s, and the restart moves them to new
/// sockets. The tone is back within 3 s; nobody leaves, joins or rejoins.
#[test]
fn a_path_that_stops_delivering_is_restarted_on_new_sockets() -> Result<()> {
    if !netns::enter("a_path_that_stops_delivering_is_restarted_on_new_sockets")? {
        return Ok(());
    }
    let mut blocked = Vec::new();
    let mut call = break_during_a_call(
        "network-ice-restart-silent",
        Signalling::BesideTheWire,
        None,
        "pattern:320x180@15",
        |_| {
            let client = runde_e2e::netns::CLIENT_ADDR
                .parse()
                .map_err(|e| err("client address", e))?;
            blocked = netns::udp_ports_on(client)?;
            netns::drop_arriving_udp(&blocked)
        },
    )?;
    println!("no more delivery to the media ports {blocked:?}");
    let (listener_before, speaker_before) = call.before;
    let wait_back = Duration::from_secs(15);
    let listener_back = call
        .listener
        .wait_event_from(
            listener_before,
            "the tone plays again",
            wait_back,
            audio_plays,
        )
        .map(|_| call.moved.elapsed());
    let speaker_back = call
        .speaker
        .wait_event_from(
            speaker_before,
            "the speaker's media connected again",
            wait_back,
            |e| e["event"] == "connection" && e["state"] == "connected",
        )
        .map(|_| call.moved.elapsed());
    println!(
        "after the ports went silent: the listener heard the tone again after {listener_back:?}, \
         the speaker's media connection was back after {speaker_back:?}"
    );
    let during = (call.listener.events(), call.speaker.events());
    let left = call.leave();
    netns::drop_arriving_udp(&[])?;
    let (l, s) = left?;
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    assert!(!blocked.is_empty(), "no media ports found");
    let membership = [
        "participantLeft",
        "participantJoined",
        "rejoined",
        "reconnecting",
    ];
    for (name, events, from) in [
        ("listener", &during.0, listener_before),
        ("speaker", &during.1, speaker_before),
    ] {
        let seen = named(events, from, &membership);
        assert!(seen.is_empty(), "the {name} saw {seen:?}");
    }
    let limit = Duration::from_secs(3);
    let listener_back = listener_back?;
    assert!(listener_back <= limit, "sound back after {listener_back:?}");
    let speaker_back = speaker_back?;
    assert!(speaker_back <= limit, "speaker back after {speaker_back:?}");
    Ok(())
}

/// Connectivity checks go unanswered for 4 s while media flows: the wire drops every STUN
/// message on the way to the clients. ICE alone calls a path disconnected after 1.5 s without
/// an answer (two lost in a row did it on a lossy link, every few minutes at 5 % loss); the
/// path still carries media, so nothing is restarted and nobody sees "reconnecting".
#[test]
fn unanswered_connectivity_checks_do_not_restart_a_path_that_carries_media() -> Result<()> {
    if !netns::enter("unanswered_connectivity_checks_do_not_restart_a_path_that_carries_media")? {
        return Ok(());
    }
    let mut call = break_during_a_call(
        "network-unanswered-checks",
        Signalling::BesideTheWire,
        None,
        "pattern:320x180@15",
        |wire| {
            wire.drop_downlink_stun(true);
            Ok(())
        },
    )?;
    let forwarded = call._wire.downlink_stats().forwarded;
    // The fault's length: well past ICE's 1.5 s, short of its 7.5 s to "failed".
    std::thread::sleep(Duration::from_secs(4));
    call._wire.drop_downlink_stun(false);
    let dropped = call._wire.downlink_stun_dropped();
    let media = call._wire.downlink_stats().forwarded - forwarded;
    let (listener_before, speaker_before) = call.before;
    let during = (call.listener.events(), call.speaker.events());
    let left = call.leave();
    let (l, s) = left?;
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    println!(
        "in 4 s: {dropped} STUN messages dropped on the way to the clients, {media} other packets \
         delivered"
    );
    assert!(dropped >= 6, "only {dropped} STUN messages dropped");
    // ICE did call both clients' paths disconnected, and they were kept.
    for client in [&call.listener, &call.speaker] {
        assert!(
            client
                .stderr()
                .iter()
                .any(|l| l.contains("connectivity checks went unanswered")),
            "{}'s path was never found disconnected",
            client.name()
        );
    }
    for (name, events, from) in [
        ("listener", &during.0, listener_before),
        ("speaker", &during.1, speaker_before),
    ] {
        let seen = named(
            events,
            from,
            &[
                "connection",
                "participantLeft",
                "participantJoined",
                "rejoined",
                "reconnecting",
            ],
        );
        assert!(seen.is_empty(), "the {name} saw {seen:?}");
    }
    // The tone (50 packets a second) and the picture went on.
    assert!(media >= 200, "only {media} packets reached the clients");
    Ok(())
}

/// The first picture the server sends the listener is held back until after an ICE restart
/// (the address changed right after the listener joined; the packets before went nowhere). That
/// is when the server's first video packets we see can be encrypted with a rollover counter
/// webrtc-rs does not expect, and never decrypt ("Known faults" in docs/MEDIA.md; 1 run in 20
/// here, each time renewed). Either way the picture must show within 6 s of the wire letting it
/// through, and nobody leaves or rejoins. Holding the picture back for 200 packets before the
/// move made the fault rarer (none in 8 runs): it comes from the subscription's first packets.
#[test]
fn a_picture_whose_first_packets_come_after_an_ice_restart_shows() -> Result<()> {
    if !netns::enter("a_picture_whose_first_packets_come_after_an_ice_restart_shows")? {
        return Ok(());
    }
    let mut call = break_during_a_call_with(
        "network-picture-after-restart",
        Signalling::BesideTheWire,
        None,
        "pattern:640x360@15",
        Picture::HeldBack,
        |wire| wire.move_client_address(runde_e2e::netns::CLIENT_ADDR, "198.18.0.3"),
    )?;
    let (listener_before, _) = call.before;
    let wait = Duration::from_secs(10);
    let restarted = call.listener.wait_event_from(
        listener_before,
        "the listener's media connected again",
        wait,
        |e| e["event"] == "connection" && e["state"] == "connected",
    );
    let restarted_after = call.moved.elapsed();
    call._wire.hold_back_downlink(None);
    let released = std::time::Instant::now();
    let picture = call
        .listener
        .wait_event_from(listener_before, "the picture shows", wait, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })
        .map(|_| released.elapsed());
    let renewed = call
        .listener
        .stderr()
        .iter()
        .any(|l| l.contains("does not decrypt; subscribing anew"));
    println!(
        "restarted after {restarted_after:?}; the picture showed {picture:?} after the wire let \
         it through; renewed: {renewed}"
    );
    let during = call.listener.events();
    let (l, s) = call.leave()?;
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    restarted?;
    let picture = picture?;
    assert!(
        picture <= Duration::from_secs(6),
        "picture after {picture:?}"
    );
    let membership = ["participantLeft", "participantJoined", "rejoined"];
    let seen = named(&during, listener_before, &membership);
    assert!(seen.is_empty(), "the listener saw {seen:?}");
    Ok(())
}

/// Every packet of the first picture the server sends the listener arrives mangled (as from a
/// broken middlebox, or keys out of step: see "Known faults" in docs/MEDIA.md), so none of it
/// decrypts while the sound beside it does. Runde notices the stream that arrives and never
/// decrypts and subscribes anew (a new server handle, a new media connection); the new stream is
/// not mangled, and the picture shows. Nobody leaves or rejoins; the listener shows
/// "reconnecting" while it renews, then "connected", and hears the tone again.
#[test]
fn a_picture_that_never_decrypts_comes_back_on_a_new_subscription() -> Result<()> {
    if !netns::enter("a_picture_that_never_decrypts_comes_back_on_a_new_subscription")? {
        return Ok(());
    }
    let dir = artifacts::dir("network-undecryptable")?;
    let wire = Wire::start(34)?;
    let rooms = [RoomSpec::with_pin(1234, "pin")];
    let janus = JanusServer::start_on_beside_the_wire(wire.host(), &dir, &rooms)?;
    let link = janus.link(1234);
    let pin = pin_file(&dir)?;
    let heard = dir.join("ear.wav").display().to_string();
    let join = |name: &str, media: &[&str]| {
        let mut args: Vec<&str> = media.to_vec();
        let store = dir.join(format!("trust-{name}")).display().to_string();
        args.extend(["--trust-store", &store, "--accept-new-server"]);
        CliClient::join(&link, &pin, name, 40, &args)
    };
    let wait = Duration::from_secs(20);
    let mut speaker = join(
        "Tone",
        &["--audio-in", "tone:660", "--video-in", "pattern:640x360@15"],
    )?;
    speaker.wait_event("joined", wait, |e| e["event"] == "joined")?;
    // VP8 is payload type 96 in the server's offer to its subscribers.
    wire.mangle_first_downlink_stream(96);
    let mut listener = join("Ear", &["--audio-out", &heard])?;
    listener.wait_event("the tone plays", wait, audio_plays)?;
    let heard_at = std::time::Instant::now();
    let first_sound = listener.events().len();
    let picture = listener.wait_event("the picture shows", wait, |e| {
        e["event"] == "mediaStarted" && e["kind"] == "video"
    });
    let picture_after = heard_at.elapsed();
    let (mangled_stream, mangled) = wire.downlink_mangled();
    println!(
        "the picture showed {picture_after:?} after the first sound: {}; the wire mangled \
         {mangled} packets of {mangled_stream:?}",
        picture.is_ok()
    );
    let during = listener.events();
    let mut call = MovedCall {
        dir,
        speaker,
        listener,
        before: (first_sound, 0),
        moved: heard_at,
        _front: None,
        _janus: janus,
        _wire: wire,
    };
    let (l, s) = call.leave()?;
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    picture?;
    assert!(
        mangled_stream.is_some() && mangled >= 100,
        "the first picture was mangled on the way: {mangled} packets"
    );
    let log = call.listener.stderr().join("\n");
    assert!(
        log.contains("does not decrypt; subscribing anew"),
        "the listener said why it subscribed anew"
    );
    let membership = [
        "participantLeft",
        "participantJoined",
        "rejoined",
        "reconnecting",
    ];
    let seen = named(&during, first_sound, &membership);
    assert!(seen.is_empty(), "the listener saw {seen:?}");
    let again = named(&during, first_sound, &["mediaStarted"]);
    assert!(
        again.iter().any(audio_plays),
        "the tone plays again on the new subscription: {again:?}"
    );
    let states: Vec<String> = named(&during, first_sound, &["connection"])
        .iter()
        .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    println!("the listener's connection states after the first sound: {states:?}");
    assert_eq!(
        states.first().map(String::as_str),
        Some("reconnecting"),
        "the renewal showed"
    );
    assert_eq!(states.last().map(String::as_str), Some("connected"));
    Ok(())
}

/// Video keeps flowing when 5 % of what the server sends is lost at random: Alice sends a tone
/// and the test pattern at 360p30, Bob shows it. Lost packets are asked for again (NACK); Janus
/// sends them again on a retransmission stream of their own (RTX), which Bob takes; when that is
/// too late, a keyframe is asked for. The picture must never freeze for good. The tone matters:
/// with an audio m-line first, Janus 1.1 routed a keyframe request that named the video only in
/// its media SSRC to the audio, and dropped it.
#[test]
fn video_keeps_flowing_when_what_the_server_sends_is_lost() -> Result<()> {
    if !netns::enter("video_keeps_flowing_when_what_the_server_sends_is_lost")? {
        return Ok(());
    }
    video_under_loss("network-video-loss-down", 41, Lost::OnTheWayDown)
}

/// The same with 5 % of what reaches the server lost: Alice's video (Janus asks her to
/// retransmit, and Runde as a sender answers on the original stream) and Bob's feedback.
#[test]
fn video_keeps_flowing_when_what_reaches_the_server_is_lost() -> Result<()> {
    if !netns::enter("video_keeps_flowing_when_what_reaches_the_server_is_lost")? {
        return Ok(());
    }
    video_under_loss("network-video-loss-up", 43, Lost::OnTheWayUp)
}

/// Where the packets are lost.
#[derive(PartialEq)]
enum Lost {
    /// What the server sends: Janus repairs it for its subscriber, as RTX.
    OnTheWayDown,
    /// What reaches the server: the sender repairs it for Janus.
    OnTheWayUp,
}

/// A Runde → Runde video call across the wire, 20 ms each way, with 5 % loss where `lost`
/// says, joined under it. Over ten seconds after a warm-up, the receiver shows at least
/// `MIN_FPS` frames a second and never stops for longer than `MAX_GAP_MS`; with the loss on the
/// way down, the sender does not take it for loss of its own packets.
///
/// The delay is not decoration: Janus sizes its retransmission buffer from the round trip it
/// measures in milliseconds, and a round trip under 1 ms (two namespaces on one machine) reads
/// as none, so Janus kept nothing to retransmit until a slow moment happened to measure 1 ms.
fn video_under_loss(artifacts: &str, seed: u64, lost: Lost) -> Result<()> {
    // Measured with the debug build on the 2-core test machine, before the wire (three runs each
    // way, on runs where Janus retransmitted): 28–30 fps, the longest gap 80–280 ms (a packet that
    // no retransmission brought costs a keyframe round trip after the wait; a lost request, 250 ms
    // more). Before NACK worked: 0 fps after the first loss. Chromium under the same loss shows
    // 16–30 fps with freezes of up to 3 s. The thresholds allow for a loaded machine (half the
    // frame rate; a gap of two lost keyframe requests in a row) without letting a recurring or
    // lasting freeze through.
    const MIN_FPS: f64 = 15.0;
    const MAX_GAP_MS: f64 = 1_000.0;
    const MIN_LOSS_CEILING_KBPS: u64 = 1_000;
    // Janus retransmits nothing until it has measured the round trip from our receiver reports
    // (one to two seconds after the start): the window begins after that.
    const WARM_UP_MS: f64 = 3_000.0;
    const WINDOW_MS: f64 = 10_000.0;
    let dir = artifacts::dir(artifacts)?;
    let wire = Wire::start(seed)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let way = Duration::from_millis(20);
    let clean = Impairment {
        delay: way,
        jitter: Duration::ZERO,
        loss_percent: 0.0,
    };
    let lossy = Impairment {
        loss_percent: 5.0,
        ..clean
    };
    wire.set_uplink(clean);
    wire.set_downlink(clean);
    let link = janus.link(1234);
    let pin = pin_file(&dir)?;
    let wait = Duration::from_secs(20);
    let (y4m, times_file) = (dir.join("bob.y4m"), dir.join("bob-times.txt"));
    let (y4m_arg, times_arg) = (y4m.display().to_string(), times_file.display().to_string());
    // Debug rather than trace: tracing every packet in a debug build costs real time on two
    // cores, and this test measures timing.
    let join = |name: &str, media: &[&str]| {
        CliClient::join_with_env(&link, &pin, name, 90, media, &[("RUNDE_LOG", "debug")])
    };
    let mut alice = join(
        "Alice",
        &[
            "--audio-in",
            "tone:440",
            "--video-in",
            "pattern:640x360@30",
            "--send-only",
        ],
    )?;
    alice.wait_event("Alice connected", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    match lost {
        Lost::OnTheWayDown => wire.set_downlink(lossy),
        Lost::OnTheWayUp => wire.set_uplink(lossy),
    }
    let mut bob = join(
        "Bob",
        &["--video-out", &y4m_arg, "--video-out-times", &times_arg],
    )?;
    // What crosses the uplink in the window: Alice's media (and Bob's few reports).
    let watched = bob
        .wait_event("Alice's picture", wait, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })
        .map(|_| {
            std::thread::sleep(Duration::from_secs_f64(WARM_UP_MS / 1000.0));
            let before = wire.uplink_stats().forwarded_bytes;
            std::thread::sleep(Duration::from_secs_f64(WINDOW_MS / 1000.0));
            let sent = wire.uplink_stats().forwarded_bytes - before;
            std::thread::sleep(Duration::from_millis(1_500));
            sent as f64 * 8.0 / WINDOW_MS
        });
    wire.set_uplink(clean);
    wire.set_downlink(clean);
    for client in [&mut bob, &mut alice] {
        client.interrupt()?;
        client.wait_exit(wait)?;
        client.save_output(&dir);
    }
    let uplink_kbps = watched?;
    let stats = bob.stats()?;
    println!("Bob's receive statistics: {stats}");

    let times: Vec<f64> = std::fs::read_to_string(&times_file)
        .map_err(|e| err("bob's times", e))?
        .lines()
        .map(|l| l.parse().map_err(|_| err("bob's times", l.to_owned())))
        .collect::<Result<_>>()?;
    let first = *times.first().ok_or_else(|| err("bob", "no frame shown"))?;
    let (start, end) = (first + WARM_UP_MS, first + WARM_UP_MS + WINDOW_MS);
    let mut shown: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| (start..end).contains(t))
        .collect();
    let fps = shown.len() as f64 * 1000.0 / WINDOW_MS;
    // The window's edges count as frames: a picture frozen across an edge is a gap too.
    shown.insert(0, start);
    shown.push(end);
    let longest = shown.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let rtx = stats["retransmissionsReceived"].as_u64().unwrap_or(0);
    println!(
        "with 5 % loss: {fps:.1} fps, longest gap {longest:.0} ms, {rtx} retransmissions as RTX \
         ({} packets lost on the way down, {} on the way up); Alice sent {uplink_kbps:.0} kbit/s",
        wire.downlink_stats().dropped,
        wire.uplink_stats().dropped
    );
    // Every two seconds: packets, frames decoded and given up, keyframes awaited and asked for.
    let reception: Vec<String> = bob
        .stderr()
        .into_iter()
        .filter(|l| l.contains("video reception") || l.contains("picture's size changed"))
        .map(|l| {
            l.split_once("receive: ")
                .map_or(l.clone(), |(_, rest)| rest.to_owned())
        })
        .collect();
    println!("Bob's video reception:\n{}", reception.join("\n"));
    let (counters, _) = analysis::frame_counters(&y4m)?;
    assert!(
        analysis::frames_go_forwards(&counters),
        "frames go forwards: {counters:?}"
    );
    assert!(fps >= MIN_FPS, "{fps:.1} fps");
    assert!(longest <= MAX_GAP_MS, "a gap of {longest:.0} ms");
    if lost == Lost::OnTheWayDown {
        // Loss on the way down alone (a clean uplink) is no reason to send less. Before the
        // sender told a lost report from lost packets, it read 17–48 % loss of its own packets:
        // its loss-based ceiling (in its estimate log lines) fell to 102–216 kbit/s, and it sent
        // 222, 262 and 693 kbit/s in three runs; since, the ceiling stays at its maximum
        // (3 Mbit/s) and Alice sends 925–959 kbit/s. The ceiling is asserted rather than the
        // rate: on a loaded machine the sender may drop a layer for its encoder's sake.
        let ceilings: Vec<u64> = alice
            .stderr()
            .iter()
            .filter(|l| l.contains("bandwidth estimate"))
            .filter_map(|l| {
                l.split("loss_kbps=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        println!("Alice's loss-based ceiling in her estimate log lines (kbit/s): {ceilings:?}");
        assert!(!ceilings.is_empty(), "no estimate in Alice's log");
        // Taking the loss for her own kept it down (3000, 337, 147, 307 with the fix undone); a
        // single dip on a loaded machine (3000, 3000, 3000, 681 once, two tests at a time) is not
        // that: at least three quarters of the lines stay up.
        let up = ceilings
            .iter()
            .filter(|c| **c >= MIN_LOSS_CEILING_KBPS)
            .count();
        assert!(
            up * 4 >= ceilings.len() * 3,
            "Alice took the loss on the way down for her own: {ceilings:?}"
        );
        // 5 % of about 13 s of 360p30 video (60–80 packets a second) is some 50 packets lost on
        // the way to Bob, and Janus repairs only those it still holds: 34, 43, 48 and 52 came in
        // four runs.
        assert!(rtx >= 10, "only {rtx} retransmissions came as RTX");
    }
    Ok(())
}

/// A viewer whose downlink (1 Mbit/s) cannot carry the 720p layer their tile asks for. Poor
/// reception takes them a layer down; they must not go straight back up to the layer that did
/// not fit as soon as reception is good again, but wait longer each time it fails. Measured
/// before that wait (debug build): back up every 6 s, 7 poor spells in 45 s, 8 freezes, 29
/// keyframe requests; after: 3 poor spells (at the start, and the tries after 10 and 20 s), 4–5
/// freezes, 16 keyframe requests.
#[test]
fn a_viewer_on_a_narrow_downlink_settles_on_a_layer_that_fits() -> Result<()> {
    // Long enough for two tries of 720p (after 10 and 20 s); it ends half-way between the second
    // and the third (40 s later), when the picture has settled at 360p.
    const WATCH: Duration = Duration::from_secs(52);
    const MAX_POOR_SPELLS: usize = 4;
    if !netns::enter("a_viewer_on_a_narrow_downlink_settles_on_a_layer_that_fits")? {
        return Ok(());
    }
    let dir = artifacts::dir("network-narrow-downlink")?;
    let wire = Wire::start(51)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let way = Impairment {
        delay: Duration::from_millis(20),
        jitter: Duration::ZERO,
        loss_percent: 0.0,
    };
    wire.set_uplink(way);
    wire.set_downlink(way);
    let link = janus.link(1234);
    let pin = pin_file(&dir)?;
    let heard = dir.join("bob.wav").display().to_string();
    let join = |name: &str, media: &[&str]| {
        CliClient::join_with_env(&link, &pin, name, 90, media, &[("RUNDE_LOG", "debug")])
    };
    let wait = Duration::from_secs(20);
    // At 15 frames a second: what is tested is the viewer's choice of layer, and the sender must
    // afford all three. Beside another test's 720p sender on two cores, encoding three layers of
    // 30 frames took 92 % of the frame time and the sender rightly dropped the 720p layer (then
    // nothing was too big for the viewer).
    let mut alice = join(
        "Alice",
        &[
            "--audio-in",
            "tone:440",
            "--video-in",
            "pattern:1280x720@15",
            "--send-only",
        ],
    )?;
    alice.wait_event("joined", wait, |e| e["event"] == "joined")?;
    wire.limit_downlink_rate(Some(1_000))?;
    let mut bob = join("Bob", &["--audio-out", &heard, "--tile", "1280x720"])?;
    let started = bob
        .wait_event("Alice's picture", wait, |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })
        .map(|_| bob.events().len());
    // Watching is the test: the viewer's choices over this long a call.
    if started.is_ok() {
        std::thread::sleep(WATCH);
    }
    for client in [&mut bob, &mut alice] {
        client.interrupt()?;
        client.wait_exit(wait)?;
        client.save_output(&dir);
    }
    let started = started?;
    let poor = events_after(&bob, started, &["quality"])
        .iter()
        .filter(|e| e["quality"] == "poor")
        .count();
    let stats = bob.stats()?;
    println!("on a 1 Mbit/s downlink: {poor} poor spells in {WATCH:?}; Bob's statistics: {stats}");
    let alice_stats = &stats["participants"][0];
    assert!(
        poor <= MAX_POOR_SPELLS,
        "{poor} poor spells: the viewer keeps going back to a layer that does not fit"
    );
    assert!(
        poor >= 1,
        "the 720p layer fitted: the test does not test anything"
    );
    assert_eq!(alice_stats["videoHeight"], 360, "{alice_stats}");
    Ok(())
}

/// A home router that buffers half a second before it drops (bufferbloat): the sender must find
/// the link's rate from the growing delay, not wait for loss, or everything it sends (speech
/// included) waits behind up to 500 ms of its own video. The uplink is 1 Mbit/s and Alice sends a
/// 720p picture, which alone would take more. Measured (debug build): the queue sampled every
/// 250 ms held 0–56 ms, 4–5 ms on average, while 938 kbit/s went through. With the loss-based
/// rate alone (the delay-based one taken out for the measurement): 103 ms on average, up to
/// 523 ms, over 100 ms in 29 of 120 readings, 15 % dropped.
#[test]
fn a_deep_router_buffer_is_not_filled() -> Result<()> {
    const KBIT: u32 = 1_000;
    const SETTLE: Duration = Duration::from_secs(10);
    const WATCH: Duration = Duration::from_secs(30);
    if !netns::enter("a_deep_router_buffer_is_not_filled")? {
        return Ok(());
    }
    let dir = artifacts::dir("network-deep-buffer")?;
    let wire = Wire::start(61)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    wire.limit_uplink_rate_queue(Some(KBIT), Duration::from_millis(500))?;
    let link = janus.link(1234);
    let pin = pin_file(&dir)?;
    let join = |name: &str, media: &[&str]| {
        CliClient::join_with_env(&link, &pin, name, 90, media, &[("RUNDE_LOG", "debug")])
    };
    let wait = Duration::from_secs(20);
    let mut alice = join("Alice", &SENDS_720P)?;
    alice.wait_event("joined", wait, |e| e["event"] == "joined")?;
    let mut bob = join("Bob", &[])?;
    bob.wait_event("Alice's picture", wait, |e| {
        e["event"] == "mediaStarted" && e["kind"] == "video"
    })?;
    let mut log = RateLog::new();
    log.record(&wire, SETTLE + WATCH)?;
    for client in [&mut bob, &mut alice] {
        client.interrupt()?;
        client.wait_exit(wait)?;
        client.save_output(&dir);
    }
    println!("uplink kbit/s: {}", log.per_second());
    let from = SETTLE.as_secs_f64();
    let queue_ms: Vec<f64> = log
        .samples
        .iter()
        .filter(|s| s.at >= from)
        .map(|s| s.backlog as f64 * 8.0 / f64::from(KBIT))
        .collect();
    let mean = queue_ms.iter().sum::<f64>() / queue_ms.len().max(1) as f64;
    let long = queue_ms.iter().filter(|q| **q > 100.0).count();
    let worst = queue_ms.iter().copied().fold(0.0, f64::max);
    let (kbps, dropped) = log.span(from, log.now());
    println!(
        "in the router's queue after {SETTLE:?}: {mean:.0} ms on average, the most {worst:.0} ms, \
         over 100 ms in {long} of {} readings; {kbps:.0} kbit/s through, {:.2} % dropped",
        queue_ms.len(),
        dropped * 100.0
    );
    assert!(queue_ms.len() >= 100, "{} readings", queue_ms.len());
    assert!(mean <= 50.0, "the queue held {mean:.0} ms on average");
    assert!(
        long * 10 <= queue_ms.len(),
        "the queue held over 100 ms in {long} of {} readings",
        queue_ms.len()
    );
    // Not by sending little: most of the link is used.
    assert!(
        kbps >= 0.6 * f64::from(KBIT),
        "only {kbps:.0} kbit/s through"
    );
    Ok(())
}

/// The client side's network interface goes down mid-call (Wi-Fi lost) and comes back on the same
/// network with the same address. Runde keeps trying to rejoin while nothing gets out, waiting
/// longer between attempts (up to 4 s); when the interface is back it must not sit out the rest
/// of such a wait: it watches for the way to the server to return and tries at once. The link
/// comes back right after an attempt failed, when the next one is 4 s away: the tone must be
/// heard again within 2 s of the link coming back. Measured: 0.33 and 0.36 s; with the watch
/// switched off, 4.1 s (the rest of the wait, then the rejoin).
#[test]
fn the_call_rejoins_at_once_when_the_network_interface_comes_back() -> Result<()> {
    if !netns::enter("the_call_rejoins_at_once_when_the_network_interface_comes_back")? {
        return Ok(());
    }
    let mut call = break_during_a_call(
        "network-interface-down-up",
        Signalling::Direct,
        None,
        "pattern:320x180@15",
        |wire| wire.set_client_link(false),
    )?;
    let (listener_before, _) = call.before;
    // Attempt 5 starts 7.5 s into rejoining and fails at once (no route); the sixth is 4 s away.
    let fifth = call.listener.wait_event_from(
        listener_before,
        "the fifth attempt to rejoin",
        Duration::from_secs(30),
        |e| e["event"] == "reconnecting" && e["attempt"].as_u64() >= Some(5),
    );
    call._wire.set_client_link(true)?;
    let up = std::time::Instant::now();
    let back = fifth.and_then(|_| {
        call.listener
            .wait_event_from(
                listener_before,
                "the tone plays again",
                Duration::from_secs(20),
                audio_plays,
            )
            .map(|_| up.elapsed())
    });
    println!("the tone was heard again {back:?} after the network interface came back");
    call.leave()?;
    let back = back?;
    assert!(
        back <= Duration::from_secs(2),
        "the tone came back {back:?} after the interface"
    );
    Ok(())
}
