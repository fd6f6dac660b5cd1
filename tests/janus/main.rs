//! Runde against a real Janus VideoRoom (Debian's `janus`), each test in its own private network
//! namespace: probing, joining with wrong and missing passwords, seeing others come and go, and
//! losing the server mid-call. The participants are real `runde-cli` processes.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use runde_e2e::cli::{self, CliClient};
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::{Result, analysis, artifacts, err, netns};
use serde_json::Value;

const ROOM: u64 = 1234;
const PIN: &str = "correct horse";

fn server(test: &str) -> Result<(std::path::PathBuf, JanusServer)> {
    let dir = artifacts::dir(test)?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN)])?;
    Ok((dir, janus))
}

fn password_file(dir: &std::path::Path, name: &str, password: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{password}\n")).map_err(|e| err("password file", e))?;
    Ok(path.display().to_string())
}

/// Run `runde-cli` to its end (at most 20 s), keeping its output in `dir`: exit status, JSON
/// events, standard error (its log).
fn run_to_end(
    dir: &std::path::Path,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(std::process::ExitStatus, Vec<Value>, Vec<String>)> {
    let mut client = CliClient::spawn_with_env(name, args, env)?;
    let status = client.wait_exit(Duration::from_secs(20))?;
    client.save_output(dir);
    Ok((status, client.events(), client.stderr()))
}

fn event_is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

#[test]
fn probe_tells_janus_from_other_servers() -> Result<()> {
    if !netns::enter("probe_tells_janus_from_other_servers")? {
        return Ok(());
    }
    let (_dir, janus) = server("janus-probe")?;
    let (status, out, _) = cli::run(&["probe", &janus.link(ROOM)], Duration::from_secs(15))?;
    assert!(status.success(), "{out:?}");
    assert!(out.iter().any(|l| l.contains("family:  janus")), "{out:?}");
    assert!(out.iter().any(|l| l.contains("1.1.2")), "{out:?}");

    // Something that answers HTTP but is no conferencing server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| err("listener", e))?
        .port();
    let http = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let link = format!("http://127.0.0.1:{port}/?room=1");
    let (status, _, errout) = cli::run(&["probe", &link], Duration::from_secs(15))?;
    let _ = http.join();
    assert_eq!(status.code(), Some(6), "{errout:?}");
    assert!(
        errout
            .iter()
            .any(|l| l.contains("not a conferencing server")),
        "{errout:?}"
    );

    // Nothing listening at all.
    let free = runde_e2e::process::free_port()?;
    let link = format!("http://127.0.0.1:{free}/?room=1");
    let (status, _, errout) = cli::run(&["probe", &link], Duration::from_secs(15))?;
    assert_eq!(status.code(), Some(6), "{errout:?}");
    assert!(
        errout.iter().any(|l| l.contains("cannot be reached")),
        "{errout:?}"
    );
    Ok(())
}

#[test]
fn wrong_and_missing_passwords_and_unknown_rooms_are_told_apart() -> Result<()> {
    if !netns::enter("wrong_and_missing_passwords_and_unknown_rooms_are_told_apart")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-join-errors")?;
    let link = janus.link(ROOM);
    let timeout = Duration::from_secs(20);

    let (status, out, errout) = cli::run(&["join", &link, "--json"], timeout)?;
    assert_eq!(status.code(), Some(4), "{out:?} {errout:?}");
    assert!(
        out.iter()
            .any(|l| l.contains("\"code\":\"PasswordRequired\"")),
        "{out:?}"
    );

    let wrong = password_file(&dir, "wrong-pin", "hunter2-wrong")?;
    let (status, out, errout) = cli::run(
        &["join", &link, "--json", "--password-file", &wrong],
        timeout,
    )?;
    assert_eq!(status.code(), Some(4), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"code\":\"WrongPassword\"")),
        "{out:?}"
    );
    let everything = [out, errout].concat().join("\n");
    assert!(
        !everything.contains("hunter2-wrong"),
        "the password must never be printed or logged"
    );

    let right = password_file(&dir, "pin", PIN)?;
    let unknown = janus.link(999_999);
    let (status, out, errout) = cli::run(
        &["join", &unknown, "--json", "--password-file", &right],
        timeout,
    )?;
    assert_eq!(status.code(), Some(5), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"code\":\"RoomNotFound\"")),
        "{out:?}"
    );

    let (status, out, errout) = cli::run(
        &[
            "join",
            &link,
            "--json",
            "--password-file",
            &right,
            "--duration",
            "1",
        ],
        timeout,
    )?;
    assert!(status.success(), "{out:?} {errout:?}");
    assert!(
        out.iter().any(|l| l.contains("\"event\":\"joined\"")),
        "{out:?}"
    );
    let everything = [out, errout].concat().join("\n");
    assert!(
        !everything.contains(PIN),
        "the password must never be printed or logged"
    );
    Ok(())
}

#[test]
fn participants_see_each_other_come_and_go() -> Result<()> {
    if !netns::enter("participants_see_each_other_come_and_go")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-participants")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let wait = Duration::from_secs(15);

    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Alice",
            "--password-file",
            &pin,
            "--duration",
            "60",
        ],
    )?;
    alice.wait_event("joined", wait, event_is("joined"))?;
    let mut bob = CliClient::spawn(
        "bob",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Bob",
            "--password-file",
            &pin,
            "--duration",
            "60",
        ],
    )?;
    let joined = bob.wait_event("joined", wait, event_is("joined"))?;
    assert_eq!(joined["participants"][0]["name"], "Alice", "{joined}");
    let bob_id = joined["me"].as_str().unwrap_or_default().to_owned();

    let seen = alice.wait_event("Bob joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Bob"
    })?;
    assert_eq!(seen["participant"]["id"], bob_id.as_str());

    // A third participant comes and goes on its own.
    let carol = cli::run(
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Carol",
            "--password-file",
            &pin,
            "--duration",
            "1",
        ],
        wait,
    )?;
    assert!(carol.0.success(), "{carol:?}");
    let carol_joined = alice.wait_event("Carol joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Carol"
    })?;
    let carol_id = carol_joined["participant"]["id"].clone();
    bob.wait_event("Carol joins", wait, |e| {
        e["event"] == "participantJoined" && e["participant"]["name"] == "Carol"
    })?;
    for client in [&mut alice, &mut bob] {
        client.wait_event("Carol leaves", wait, |e| {
            e["event"] == "participantLeft" && e["id"] == carol_id
        })?;
    }
    alice.save_output(&dir);
    bob.save_output(&dir);
    Ok(())
}

/// With rejoining turned off (`--rejoin-for 0`), a server that dies ends the call at once.
#[test]
fn a_server_that_dies_ends_the_call_with_server_lost() -> Result<()> {
    if !netns::enter("a_server_that_dies_ends_the_call_with_server_lost")? {
        return Ok(());
    }
    let (dir, mut janus) = server("janus-server-lost")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &janus.link(ROOM),
            "--json",
            "--password-file",
            &pin,
            "--duration",
            "60",
            "--rejoin-for",
            "0",
        ],
    )?;
    alice.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let killed = Instant::now();
    janus.kill();
    let status = alice.wait_exit(Duration::from_secs(3))?;
    let took = killed.elapsed();
    alice.save_output(&dir);
    assert_eq!(status.code(), Some(7), "exit code for a lost server");
    let ended = alice
        .events()
        .into_iter()
        .find(|e| e["event"] == "ended")
        .ok_or_else(|| err("alice", "no ended event"))?;
    assert_eq!(ended["reason"]["kind"], "lost", "{ended}");
    assert_eq!(ended["reason"]["error"]["code"], "ServerLost", "{ended}");
    println!("server lost noticed after {took:?}");
    Ok(())
}

/// A server that is killed and started again (same configuration, same port): both
/// participants report that they are rejoining, are back within 5 s of the server, and the
/// listener hears the tone again; the password never reaches a log.
#[test]
fn a_call_rejoins_when_the_server_comes_back() -> Result<()> {
    if !netns::enter("a_call_rejoins_when_the_server_comes_back")? {
        return Ok(());
    }
    let (dir, mut janus) = server("janus-rejoin")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let heard = dir.join("listener.wav").display().to_string();
    let join = |name: &str, display: &str, media: &[&str]| -> Result<CliClient> {
        let mut args = vec![
            "join",
            &link,
            "--json",
            "--name",
            display,
            "--password-file",
            &pin,
            "--duration",
            "120",
        ];
        args.extend_from_slice(media);
        CliClient::spawn(name, &args)
    };
    let mut speaker = join("speaker", "Tone", &["--audio-in", "tone:660"])?;
    speaker.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let mut listener = join("listener", "Ear", &["--audio-out", &heard])?;
    let audio_plays = |e: &Value| e["event"] == "mediaStarted" && e["kind"] == "audio";
    listener.wait_event("the tone plays", Duration::from_secs(15), audio_plays)?;
    let (listener_before, speaker_before) = (listener.events().len(), speaker.events().len());

    janus.kill();
    let killed = Instant::now();
    let reconnecting = listener.wait_event_from(
        listener_before,
        "reconnecting",
        Duration::from_secs(15),
        event_is("reconnecting"),
    )?;
    speaker.wait_event_from(
        speaker_before,
        "reconnecting",
        Duration::from_secs(15),
        event_is("reconnecting"),
    )?;
    println!(
        "the loss was noticed after {:?}: {reconnecting}",
        killed.elapsed()
    );
    let state = listener
        .events()
        .into_iter()
        .skip(listener_before)
        .find(|e| e["event"] == "connection")
        .ok_or_else(|| err("listener", "no connection state after the loss"))?;
    assert_eq!(state["state"], "reconnecting", "{state}");
    // Without the server, the recording indicator claims nothing it cannot prove any more.
    let indicators = listener
        .events()
        .into_iter()
        .skip(listener_before)
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("listener", "no indicators after the loss"))?;
    assert_eq!(
        indicators["indicators"]["recording"]["reason"], "connectionLost",
        "{indicators}"
    );

    // Down for a few seconds (attempts fail meanwhile), then back as it was.
    std::thread::sleep(Duration::from_secs(3));
    janus.restart()?;
    let restarted = Instant::now();
    let down = restarted - killed;
    let limit = Duration::from_secs(5);
    let rejoined =
        listener.wait_event_from(listener_before, "rejoined", limit, event_is("rejoined"))?;
    let listener_back = restarted.elapsed();
    speaker.wait_event_from(speaker_before, "rejoined", limit, event_is("rejoined"))?;
    let speaker_back = restarted.elapsed();
    listener.wait_event_from(
        listener_before,
        "the tone plays again",
        Duration::from_secs(15),
        audio_plays,
    )?;
    let media_back = restarted.elapsed();
    println!(
        "after the restart: listener rejoined in {listener_back:?} ({rejoined}), speaker in \
         {speaker_back:?}, the tone played again after {media_back:?} (the server was down \
         for {down:?})"
    );
    let connected = listener
        .events()
        .into_iter()
        .skip(listener_before)
        .rfind(|e| e["event"] == "connection")
        .ok_or_else(|| err("listener", "no connection state"))?;
    assert_eq!(connected["state"], "connected", "{connected}");

    // Hear it for a while, then leave.
    std::thread::sleep(Duration::from_secs(4));
    listener.interrupt()?;
    speaker.interrupt()?;
    let (l, s) = (
        listener.wait_exit(Duration::from_secs(20))?,
        speaker.wait_exit(Duration::from_secs(20))?,
    );
    listener.save_output(&dir);
    speaker.save_output(&dir);
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    // The speaker's old id left and its new one came; nobody else.
    let events = listener.events();
    let left = events
        .iter()
        .filter(|e| e["event"] == "participantLeft")
        .count();
    let came = events
        .iter()
        .filter(|e| e["event"] == "participantJoined")
        .count();
    println!("the listener saw {left} leave and {came} come");
    assert!(left >= 1 && came >= 1, "left {left}, came {came}");
    for client in [&listener, &speaker] {
        let everything = client.stderr().join("\n") + &client.stdout().join("\n");
        assert!(!everything.contains(PIN), "the password reached the output");
    }

    // The listener's file: the tone, a silence while the server was away, the tone again.
    let samples = analysis::wav(std::path::Path::new(&heard))?;
    let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt();
    let loud: Vec<bool> = samples.chunks(4_800).map(|c| rms(c) > 0.02).collect();
    let silent_run = loud.split(|l| *l).map(<[bool]>::len).max().unwrap_or(0);
    println!(
        "the longest silence in the listener's file: {} ms",
        silent_run * 100
    );
    assert!(silent_run >= 20, "no outage heard: {silent_run} × 100 ms");
    let tail = &samples[samples.len().saturating_sub(48_000 * 3)..samples.len() - 14_400];
    let hz = analysis::tone_hz(tail);
    println!(
        "the end of the listener's file: {hz:.1} Hz, RMS {:.3}",
        rms(tail)
    );
    assert!(
        (hz - 660.0).abs() < 5.0,
        "the listener hears {hz} Hz after the restart"
    );
    assert!(rms(tail) > 0.05, "the tone after the restart is too quiet");
    Ok(())
}

/// The hotel Wi-Fi: the network goes away without a word (no reset, no close: every packet is
/// dropped) and comes back. Runde notices from unanswered requests, keeps trying while nothing
/// gets through, and rejoins once the network is back; the listener hears the tone again.
#[test]
fn a_call_rejoins_after_the_network_was_gone() -> Result<()> {
    if !netns::enter("a_call_rejoins_after_the_network_was_gone")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-rejoin-network")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let join = |name: &str, media: &[&str]| CliClient::join(&link, &pin, name, 120, media);
    let mut speaker = join("Tone", &["--audio-in", "tone:660"])?;
    speaker.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let mut listener = join("Ear", &[])?;
    let audio_plays = |e: &Value| e["event"] == "mediaStarted" && e["kind"] == "audio";
    listener.wait_event("the tone plays", Duration::from_secs(15), audio_plays)?;
    let before = listener.events().len();

    netns::cut_network(true)?;
    let cut = Instant::now();
    // Unanswered requests are noticed within the room-facts interval plus the reply timeout.
    let reconnecting = listener.wait_event_from(
        before,
        "reconnecting",
        Duration::from_secs(20),
        event_is("reconnecting"),
    );
    let noticed = cut.elapsed();
    if reconnecting.is_err() {
        netns::cut_network(false)?;
    }
    let reconnecting = reconnecting?;
    println!("a silent network loss was noticed after {noticed:?}: {reconnecting}");
    // Away a little longer: attempts meanwhile get no answer at all.
    std::thread::sleep(Duration::from_secs(4));
    netns::cut_network(false)?;
    let restored = Instant::now();
    let rejoined = listener.wait_event_from(
        before,
        "rejoined",
        Duration::from_secs(20),
        event_is("rejoined"),
    )?;
    let back = restored.elapsed();
    listener.wait_event_from(
        before,
        "the tone plays again",
        Duration::from_secs(20),
        audio_plays,
    )?;
    println!(
        "network back: rejoined after {back:?} ({rejoined}), the tone plays again after {:?}",
        restored.elapsed()
    );
    listener.interrupt()?;
    speaker.interrupt()?;
    let (l, s) = (
        listener.wait_exit(Duration::from_secs(20)),
        speaker.wait_exit(Duration::from_secs(20)),
    );
    listener.save_output(&dir);
    speaker.save_output(&dir);
    let (l, s) = (l?, s?);
    assert!(l.success() && s.success(), "listener {l}, speaker {s}");
    assert!(
        back < Duration::from_secs(15),
        "rejoined {back:?} after the network came back"
    );
    for client in [&listener, &speaker] {
        assert!(
            client.stderr().iter().all(|l| !l.contains(PIN)),
            "the password never reaches the log"
        );
    }
    Ok(())
}

/// End-to-end encryption carries over a rejoin: the same call key (the same safety code), the
/// indicator claims end to end only while it is proven (not while the server is away, again once
/// the other side's media opens after the rejoin), and nobody is said to have left.
#[test]
fn an_end_to_end_encrypted_call_stays_encrypted_across_a_rejoin() -> Result<()> {
    if !netns::enter("an_end_to_end_encrypted_call_stays_encrypted_across_a_rejoin")? {
        return Ok(());
    }
    let (dir, mut janus) = server("janus-rejoin-e2ee")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let passphrase = password_file(&dir, "e2ee", "Kaffee Kanne Kuchen Kerze")?;
    let wait = Duration::from_secs(20);
    let join = |name: &str, extra: &[&str]| {
        let media = [&["--e2ee-passphrase-file", passphrase.as_str()], extra].concat();
        CliClient::join(&link, &pin, name, 120, &media)
    };
    let mut alice = join("Alice", &["--audio-in", "tone:440"])?;
    alice.wait_event("joined", wait, event_is("joined"))?;
    let mut bob = join("Bob", &["--audio-in", "tone:660"])?;
    let end_to_end = |e: &Value| {
        e["event"] == "indicators" && e["indicators"]["encryption"]["state"] == "endToEnd"
    };
    bob.wait_event("end to end at Bob's", wait, end_to_end)?;
    let code =
        bob.wait_event("Bob's safety code", wait, event_is("endToEnd"))?["safetyCode"].clone();
    let (bob_before, alice_before) = (bob.events().len(), alice.events().len());

    janus.kill();
    bob.wait_event_from(bob_before, "reconnecting", wait, event_is("reconnecting"))?;
    alice.wait_event_from(alice_before, "reconnecting", wait, event_is("reconnecting"))?;
    let degraded = bob
        .events()
        .into_iter()
        .skip(bob_before)
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("bob", "no indicators after the loss"))?;
    println!(
        "Bob's encryption while away: {}",
        degraded["indicators"]["encryption"]
    );
    assert_ne!(
        degraded["indicators"]["encryption"]["state"], "endToEnd",
        "{degraded}"
    );
    std::thread::sleep(Duration::from_secs(1));
    janus.restart()?;
    let restarted = Instant::now();
    let rejoined = bob.wait_event_from(bob_before, "rejoined", wait, event_is("rejoined"))?;
    alice.wait_event_from(alice_before, "rejoined", wait, event_is("rejoined"))?;
    let back = bob
        .events()
        .iter()
        .position(|e| e == &rejoined)
        .unwrap_or(bob_before);
    bob.wait_event_from(back, "Alice's media opens again", wait, |e| {
        e["event"] == "decryption" && e["decrypting"] == true
    })?;
    bob.wait_event_from(back, "end to end again at Bob's", wait, end_to_end)?;
    println!(
        "end to end again at Bob's {:?} after the restart",
        restarted.elapsed()
    );
    let before_leaving = bob.events().len();
    alice.interrupt()?;
    bob.interrupt()?;
    let (a, b) = (
        alice.wait_exit(Duration::from_secs(20)),
        bob.wait_exit(Duration::from_secs(20)),
    );
    alice.save_output(&dir);
    bob.save_output(&dir);
    let (a, b) = (a?, b?);
    assert!(a.success() && b.success(), "alice {a}, bob {b}");
    // (When Alice leaves at the end, Bob is advised a new passphrase: that is not the rejoin.)
    let after: Vec<Value> = bob.events()[bob_before..before_leaving].to_vec();
    assert!(
        after
            .iter()
            .filter(|e| e["event"] == "endToEnd")
            .all(|e| e["safetyCode"] == code),
        "the call key changed: {after:?}"
    );
    assert!(
        !after.iter().any(|e| e["event"] == "newPassphraseAdvised"),
        "Alice came back; nobody left: {after:?}"
    );
    Ok(())
}

/// A server that never comes back: the call keeps trying for the time given (`--rejoin-for`),
/// then ends as lost, saying so.
#[test]
fn a_server_that_never_comes_back_ends_the_call_after_the_rejoin_time() -> Result<()> {
    if !netns::enter("a_server_that_never_comes_back_ends_the_call_after_the_rejoin_time")? {
        return Ok(());
    }
    let (dir, mut janus) = server("janus-never-back")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let rejoin_for = Duration::from_secs(6);
    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &janus.link(ROOM),
            "--json",
            "--password-file",
            &pin,
            "--duration",
            "60",
            "--rejoin-for",
            "6",
        ],
    )?;
    alice.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    janus.kill();
    let killed = Instant::now();
    let status = alice.wait_exit(Duration::from_secs(20))?;
    let took = killed.elapsed();
    alice.save_output(&dir);
    let events = alice.events();
    let attempts = events
        .iter()
        .filter(|e| e["event"] == "reconnecting")
        .count();
    let ended = events
        .iter()
        .find(|e| e["event"] == "ended")
        .ok_or_else(|| err("alice", "no ended event"))?;
    println!("gave up after {took:?} and {attempts} attempts: {ended}");
    assert_eq!(status.code(), Some(7), "exit code for a lost server");
    assert_eq!(ended["reason"]["kind"], "lost", "{ended}");
    assert_eq!(ended["reason"]["error"]["code"], "ServerLost", "{ended}");
    let detail = ended["reason"]["error"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("could not rejoin"), "{detail}");
    assert!(attempts >= 4, "{attempts} attempts");
    assert!(
        took >= rejoin_for && took < rejoin_for + Duration::from_secs(3),
        "ended after {took:?}"
    );
    Ok(())
}

/// Rejoining checks the server as the first join did: behind TLS, a server that comes back with
/// its pinned key is rejoined; one that comes back with another key (same authority, same name)
/// blocks the call instead.
#[test]
fn a_rejoin_checks_the_servers_key_again() -> Result<()> {
    use runde_e2e::tls_proxy::{TestCa, TlsProxy};
    if !netns::enter("a_rejoin_checks_the_servers_key_again")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-rejoin-tls")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let ca = TestCa::new(&dir.join("ca"))?;
    let ca_bundle = ca.certificate().display().to_string();
    let store = dir.join("trust-store").display().to_string();
    let first = ca.server("first", "Beratung Test e.V.")?;
    let proxy = TlsProxy::start(&dir.join("nginx-1"), &first, janus.port())?;
    let port = proxy.port();
    let link = proxy.link(ROOM);
    let mut alice = CliClient::spawn_with_env(
        "alice",
        &[
            "join",
            &link,
            "--json",
            "--password-file",
            &pin,
            "--trust-store",
            &store,
            "--accept-new-server",
            "--audio-in",
            "tone:440",
            "--duration",
            "60",
        ],
        &[("SSL_CERT_FILE", ca_bundle.as_str())],
    )?;
    alice.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;

    // The server goes away and comes back with the key Alice pinned: she is back.
    drop(proxy);
    alice.wait_event(
        "reconnecting",
        Duration::from_secs(15),
        event_is("reconnecting"),
    )?;
    let proxy = TlsProxy::start_on(&dir.join("nginx-2"), &first, janus.port(), port)?;
    let back = Instant::now();
    alice.wait_event("rejoined", Duration::from_secs(10), event_is("rejoined"))?;
    println!(
        "rejoined behind TLS {:?} after the server was back",
        back.elapsed()
    );
    let seen = alice.events().len();

    // Away again, back with another key: blocked, not rejoined.
    drop(proxy);
    alice.wait_event_from(
        seen,
        "reconnecting",
        Duration::from_secs(15),
        event_is("reconnecting"),
    )?;
    let second = ca.server("second", "Beratung Test e.V.")?;
    let _proxy = TlsProxy::start_on(&dir.join("nginx-3"), &second, janus.port(), port)?;
    let status = alice.wait_exit(Duration::from_secs(20))?;
    alice.save_output(&dir);
    let events: Vec<Value> = alice.events().into_iter().skip(seen).collect();
    let ended = events
        .iter()
        .find(|e| e["event"] == "ended")
        .ok_or_else(|| err("alice", "no ended event"))?;
    println!("with another key: {}", ended["reason"]["error"]["code"]);
    assert_eq!(
        ended["reason"]["error"]["code"], "ServerKeyChanged",
        "{ended}"
    );
    assert_eq!(status.code(), Some(10), "exit code for a changed key");
    assert!(
        !events.iter().any(|e| e["event"] == "rejoined"),
        "a changed key must not be rejoined: {events:?}"
    );
    assert!(
        alice.stderr().iter().all(|l| !l.contains(PIN)),
        "the password never reaches the log"
    );
    Ok(())
}

#[test]
fn two_clients_exchange_audio_and_video() -> Result<()> {
    if !netns::enter("two_clients_exchange_audio_and_video")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-media")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let speech = dir.join("speech.wav");
    analysis::speech(
        &speech,
        "Runde connects people on servers they trust. The quick brown fox jumps over the lazy dog.",
    )?;
    let speech_arg = speech.display().to_string();
    let out = |name: &str| dir.join(name).display().to_string();
    let (alice_wav, alice_y4m, bob_wav, bob_y4m, bob_times) = (
        out("alice.wav"),
        out("alice.y4m"),
        out("bob.wav"),
        out("bob.y4m"),
        out("bob-times.txt"),
    );
    let seconds = "20";
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| err("clock", e))?
        .as_millis() as f64;
    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Alice",
            "--password-file",
            &pin,
            "--audio-in",
            &speech_arg,
            "--video-in",
            "pattern:320x180@30",
            "--audio-out",
            &alice_wav,
            "--video-out",
            &alice_y4m,
            "--duration",
            seconds,
        ],
    )?;
    alice.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let mut bob = CliClient::spawn(
        "bob",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Bob",
            "--password-file",
            &pin,
            "--audio-in",
            "tone:660",
            "--video-in",
            "pattern:320x180@30",
            "--audio-out",
            &bob_wav,
            "--video-out",
            &bob_y4m,
            "--video-out-times",
            &bob_times,
            "--duration",
            seconds,
        ],
    )?;
    let started = bob.wait_event("Alice's audio plays", Duration::from_secs(15), |e| {
        e["event"] == "mediaStarted" && e["kind"] == "audio"
    })?;
    println!(
        "Bob hears Alice {} ms after joining started",
        started["afterMs"]
    );
    let limit = Duration::from_secs(45);
    let (a, b) = (alice.wait_exit(limit)?, bob.wait_exit(limit)?);
    alice.save_output(&dir);
    bob.save_output(&dir);
    assert!(a.success() && b.success(), "alice {a}, bob {b}");
    // Names are shown to participants, never written to a log (stderr at trace level).
    for client in [&alice, &bob] {
        let log = client.stderr().join("\n");
        assert!(
            !log.contains("Alice") && !log.contains("Bob") && !log.contains(PIN),
            "a display name or the password reached the log"
        );
    }

    // Bob heard Alice's speech.
    let sent = analysis::wav(&speech)?;
    let heard = analysis::wav(std::path::Path::new(&bob_wav))?;
    assert!(heard.len() > 48_000 * 15, "{} samples", heard.len());
    let mut matches = Vec::new();
    for second in [6, 9, 12, 15] {
        matches.push(analysis::match_speech(
            &sent,
            &heard,
            second * 48_000,
            96_000,
        ));
    }
    println!("speech at Bob: {matches:?}");
    // The loudness contour must match everywhere. The waveform must match closely in most windows;
    // a window in which the jitter buffer legitimately stretched or shrank playout (it adapts its
    // delay under load) correlates less sample by sample, but still clearly.
    for m in &matches {
        assert!(m.envelope > 0.9, "loudness contour: {m:?}");
        assert!(m.waveform > 0.5, "waveform: {m:?}");
    }
    let close = matches.iter().filter(|m| m.waveform > 0.9).count();
    assert!(
        close >= 3,
        "waveform close in only {close} of 4 windows: {matches:?}"
    );
    // Alice heard Bob's tone.
    let at_alice = analysis::wav(std::path::Path::new(&alice_wav))?;
    let hz = analysis::tone_hz(&at_alice[48_000 * 8..48_000 * 14]);
    assert!((hz - 660.0).abs() < 5.0, "Alice hears {hz} Hz");

    // Both saw the other's pattern, with under 1 % of frames missing.
    for (name, file) in [("Alice", &alice_y4m), ("Bob", &bob_y4m)] {
        let (counters, frames) = analysis::frame_counters(std::path::Path::new(file))?;
        assert!(
            counters.len() > 300,
            "{name}: {} stamped frames of {frames}",
            counters.len()
        );
        assert!(
            counters.windows(2).all(|w| w[1] > w[0]),
            "{name}: frames go forwards"
        );
        let (first, last) = (counters[0], counters[counters.len() - 1]);
        let expected = (last - first + 1) as usize;
        let missing = expected - counters.len();
        println!("{name} saw frames {first}..={last}: {missing} of {expected} missing");
        assert!(
            missing * 100 < expected,
            "{name}: {missing} of {expected} frames missing"
        );
    }
    // Bob's times file: a line per frame in his Y4M file, when it was shown (wall clock, ms),
    // never going backwards, about 33 ms apart at 30 frames per second.
    let times: Vec<f64> = std::fs::read_to_string(&bob_times)
        .map_err(|e| err("bob's times", e))?
        .lines()
        .map(|l| l.parse().map_err(|_| err("bob's times", l.to_owned())))
        .collect::<Result<_>>()?;
    let (_, frames) = analysis::frame_counters(std::path::Path::new(&bob_y4m))?;
    assert_eq!(times.len(), frames, "a shown time per frame");
    assert!(times.windows(2).all(|w| w[1] >= w[0]), "times go forwards");
    assert!(
        times[0] > started_unix_ms && times[0] < started_unix_ms + 30_000.0,
        "shown at {} (Unix ms), the test started at {started_unix_ms}",
        times[0]
    );
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    println!("Bob's frames were shown a median {median} ms apart");
    assert!((20.0..=50.0).contains(&median), "median gap {median} ms");
    let stats = bob.stats()?;
    println!("Bob's receive statistics: {stats}");
    Ok(())
}

/// The connection-quality hint: when a fifth of the media the server forwards is lost (nftables
/// drops Janus's media packets at random), the receiver reports that participant's reception as
/// poor, with the share of sound lost; when the loss ends, it reports good again.
#[test]
fn lost_media_shows_as_poor_reception_and_recovers() -> Result<()> {
    if !netns::enter("lost_media_shows_as_poor_reception_and_recovers")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-quality")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let wait = Duration::from_secs(15);
    let join = |name: &str, media: &[&str]| CliClient::join(&link, &pin, name, 60, media);
    let mut alice = join("Alice", &["--audio-in", "tone:440"])?;
    let joined = alice.wait_event("joined", wait, event_is("joined"))?;
    let alice_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let mut bob = join("Bob", &[])?;
    bob.wait_event("Alice's sound", wait, |e| {
        e["event"] == "mediaStarted" && e["participant"] == alice_id.as_str()
    })?;
    let quality = |e: &Value, q: &str| {
        e["event"] == "quality" && e["participant"] == alice_id.as_str() && e["quality"] == q
    };
    assert!(
        !bob.events().iter().any(|e| e["event"] == "quality"),
        "reception is good without loss: nothing to report"
    );

    // 20 % of what Janus sends from its media ports is lost on the way to the clients.
    netns::lose_server_media(20)?;
    let before = bob.events().len();
    let poor = bob.wait_event_from(before, "poor reception", wait, |e| quality(e, "poor"))?;
    println!("with 20 % loss: {poor}");
    let lost = poor["audioLostPercent"].as_u64().unwrap_or(0);
    assert!((8..=40).contains(&lost), "{poor}");

    netns::lose_server_media(0)?;
    let before = bob.events().len();
    let good = bob.wait_event_from(before, "good reception again", wait, |e| quality(e, "good"))?;
    println!("loss ended: {good}");
    alice.save_output(&dir);
    bob.save_output(&dir);
    Ok(())
}

/// Simulcast: Alice's 720p picture goes out in three sizes (180p, 360p, 720p), each layer coming
/// on as the bandwidth estimate allows; Janus forwards each viewer the layer its tile asks for. A
/// viewer with a thumbnail gets 180p, one with a large tile 720p, from the same sender at the
/// same time (or the largest layer still sent, once a loaded machine made the sender drop 720p).
/// A viewer that shows nobody's picture gets 180p at half its frame rate (temporal layers 0 and
/// 1 of three), without a keyframe asked for beyond the first.
#[test]
#[allow(clippy::print_stdout)] // the measurements are part of the test's report
fn each_viewer_gets_the_layer_that_fits_its_tile() -> Result<()> {
    if !netns::enter("each_viewer_gets_the_layer_that_fits_its_tile")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-simulcast")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let wait = Duration::from_secs(15);
    let sender = [
        "--audio-in",
        "tone:440",
        "--video-in",
        "pattern:1280x720@15",
    ];
    let mut alice = CliClient::join(&link, &pin, "Alice", 60, &sender)?;
    alice.wait_event("joined", wait, event_is("joined"))?;
    let viewer = |name: &str, tile: &str| CliClient::join(&link, &pin, name, 30, &["--tile", tile]);
    let mut small = viewer("Small", "320x180")?;
    let mut large = viewer("Large", "1280x720")?;
    let mut hidden = viewer("Hidden", "hidden")?;
    let mut sizes = Vec::new();
    let mut receptions = Vec::new();
    for client in [&mut small, &mut large, &mut hidden] {
        client.wait_exit(Duration::from_secs(60))?;
        client.save_output(&dir);
        let stats = client.stats()?;
        let alice_stats = stats["participants"]
            .as_array()
            .and_then(|p| p.first())
            .cloned()
            .unwrap_or_default();
        println!("{}'s reception: {alice_stats}", client.name());
        let least = if client.name() == "hidden" { 100 } else { 200 };
        assert!(
            alice_stats["videoFramesDecoded"].as_u64().unwrap_or(0) > least,
            "{alice_stats}"
        );
        receptions.push(alice_stats.clone());
        sizes.push((
            alice_stats["videoWidth"].as_u64().unwrap_or(0),
            alice_stats["videoHeight"].as_u64().unwrap_or(0),
        ));
    }
    alice.interrupt()?;
    alice.wait_exit(Duration::from_secs(20))?;
    alice.save_output(&dir);
    let layers: Vec<String> = alice
        .stderr()
        .into_iter()
        .filter(|l| l.contains("video follows the bandwidth"))
        .collect();
    println!("Alice's layers:\n{}", layers.join("\n"));
    assert!(
        layers
            .iter()
            .any(|l| l.contains("320x180") && l.contains("640x360") && l.contains("1280x720")),
        "all three layers were never sent at once"
    );
    // A sender whose encoder cannot keep up drops its largest layer (a loaded machine, e.g. two
    // such tests at once on two cores): the large tile then ends on the largest layer still sent,
    // and must have shown 720p while it was sent.
    let still_sends_720p = layers.last().is_some_and(|l| l.contains("1280x720"));
    let large_last = if still_sends_720p {
        (1280, 720)
    } else {
        (640, 360)
    };
    assert_eq!(
        sizes,
        vec![(320, 180), large_last, (320, 180)],
        "the last pictures' sizes"
    );
    // The same 180p layer for 30 s: the hidden viewer decodes half as many of its frames, and
    // the frames it does not get are no loss to it.
    let decoded = |r: &Value| r["videoFramesDecoded"].as_u64().unwrap_or(0) as f64;
    let share = decoded(&receptions[2]) / decoded(&receptions[0]).max(1.0);
    println!(
        "the hidden viewer decoded {:.2} of the small tile's frames",
        share
    );
    assert!((0.35..=0.65).contains(&share), "{share:.2}");
    assert!(
        receptions[2]["videoKeyframeRequests"].as_u64() <= Some(2),
        "{}",
        receptions[2]
    );
    let large_saw_720p = large
        .stderr()
        .iter()
        .any(|l| l.contains("their picture's size changed") && l.contains("width=1280"));
    assert!(large_saw_720p, "the large tile never showed 720p");
    Ok(())
}

/// End-to-end encryption through real Janus: Alice sends a tone and the test pattern encrypted
/// with the key from a passphrase. Bob, with the same passphrase, decrypts both (the tone at
/// 440 Hz, the pattern's frame counters advancing); Mallory, with another passphrase, is told
/// "cannot decrypt" and decodes nothing; Eve, without end-to-end encryption, gets only noise and
/// no readable picture — what the server forwards (and could record) is not the media.
#[test]
fn an_end_to_end_encrypted_call_opens_only_with_the_passphrase() -> Result<()> {
    if !netns::enter("an_end_to_end_encrypted_call_opens_only_with_the_passphrase")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-e2ee")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let right = password_file(&dir, "e2ee", "Kaffee Kanne Kuchen Kerze")?;
    let wrong = password_file(&dir, "e2ee-wrong", "Tee Tasse Torte Tulpe")?;
    let out = |name: &str| dir.join(name).display().to_string();
    let wait = Duration::from_secs(20);
    // The receivers stay four seconds and leave by themselves (their files are then complete).
    let join = |name: &str, extra: &[&str]| {
        let seconds = if name == "Alice" { 60 } else { 4 };
        CliClient::join(&link, &pin, name, seconds, extra)
    };
    let mut alice = join(
        "Alice",
        &[
            "--audio-in",
            "tone:440",
            // 360p: sent as two simulcast layers, each end-to-end encrypted.
            "--video-in",
            "pattern:640x360@15",
            "--e2ee-passphrase-file",
            &right,
        ],
    )?;
    let joined = alice.wait_event("joined", wait, event_is("joined"))?;
    let alice_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let (bob_wav, bob_y4m) = (out("bob.wav"), out("bob.y4m"));
    let (eve_wav, eve_y4m) = (out("eve.wav"), out("eve.y4m"));
    let mallory_y4m = out("mallory.y4m");
    let mut bob = join(
        "Bob",
        &[
            "--e2ee-passphrase-file",
            &right,
            "--audio-out",
            &bob_wav,
            "--video-out",
            &bob_y4m,
        ],
    )?;
    let mut mallory = join(
        "Mallory",
        &[
            "--e2ee-passphrase-file",
            &wrong,
            "--video-out",
            &mallory_y4m,
        ],
    )?;
    let mut eve = join("Eve", &["--audio-out", &eve_wav, "--video-out", &eve_y4m])?;
    let from_alice =
        |e: &Value, name: &str| e["event"] == name && e["participant"] == alice_id.as_str();
    bob.wait_event("Bob decrypts Alice", wait, |e| {
        from_alice(e, "decryption") && e["decrypting"] == true
    })?;
    for kind in ["audio", "video"] {
        bob.wait_event(&format!("Bob plays Alice's {kind}"), wait, |e| {
            from_alice(e, "mediaStarted") && e["kind"] == kind
        })?;
    }
    mallory.wait_event("Mallory cannot decrypt Alice", wait, |e| {
        from_alice(e, "decryption") && e["decrypting"] == false
    })?;
    // The encryption indicator follows what opened: end to end at Bob's, only partly at Mallory's
    // (she seals what she sends, but Alice's media does not open), transport only at Eve's.
    let encryption = |state: &'static str, reason: &'static str| {
        move |e: &Value| {
            e["event"] == "indicators"
                && e["indicators"]["encryption"]["state"] == state
                && e["indicators"]["encryption"]["reason"] == reason
        }
    };
    bob.wait_event(
        "Bob's indicator: end to end",
        wait,
        encryption("endToEnd", "allStreamsOpenWithCallKey"),
    )?;
    mallory.wait_event(
        "Mallory's indicator: partly",
        wait,
        encryption("mixed", "someCannotBeDecrypted"),
    )?;
    eve.wait_event(
        "Eve's indicator: transport only",
        wait,
        encryption("transportOnly", "serverDecryptsMedia"),
    )?;
    // Eve receives the same packets for a while (her video must have arrived to judge it).
    eve.wait_event("Eve receives Alice's stream", wait, |e| {
        from_alice(e, "trackAdded") && e["kind"] == "video"
    })?;
    bob.wait_event("Bob hears Alice speak", wait, |e| {
        from_alice(e, "speaking") && e["speaking"] == true
    })?;
    for client in [&mut bob, &mut mallory, &mut eve] {
        client.wait_exit(wait)?;
        client.save_output(&dir);
    }
    alice.interrupt()?;
    alice.wait_exit(wait)?;
    alice.save_output(&dir);
    assert!(
        !mallory
            .events()
            .iter()
            .any(|e| from_alice(e, "mediaStarted")),
        "Mallory played or showed something of Alice's"
    );
    // What was loud in each recording (10 ms windows above -35 dBFS).
    let loud = |path: &str| -> Result<Vec<f32>> {
        let samples = analysis::wav(std::path::Path::new(path))?;
        Ok(samples
            .chunks_exact(480)
            .filter(|w| runde_media::measure::rms_dbfs(w) > -35.0)
            .flatten()
            .copied()
            .collect())
    };
    let at_bob = loud(&bob_wav)?;
    let hz = analysis::tone_hz(&at_bob);
    println!("Bob hears {hz:.0} Hz for {} ms", at_bob.len() / 48);
    assert!(
        at_bob.len() >= 48 * 300 && (hz - 440.0).abs() < 10.0,
        "Bob hears {hz} Hz"
    );
    let (counters, frames) = analysis::frame_counters(std::path::Path::new(&bob_y4m))?;
    println!(
        "Bob: {frames} pictures, {} with readable stamps",
        counters.len()
    );
    assert!(
        counters.len() >= 15 && analysis::frames_go_forwards(&counters),
        "{counters:?}"
    );
    // Eve has no key: her decoder gets ciphertext. Whatever it makes of it is not Alice's tone or
    // picture.
    let at_eve = loud(&eve_wav)?;
    if !at_eve.is_empty() {
        let eve_hz = analysis::tone_hz(&at_eve);
        println!("Eve hears {eve_hz:.0} Hz for {} ms", at_eve.len() / 48);
        assert!((eve_hz - 440.0).abs() > 20.0, "Eve heard the tone");
    }
    if std::path::Path::new(&eve_y4m)
        .metadata()
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        let (eve_counters, eve_frames) = analysis::frame_counters(std::path::Path::new(&eve_y4m))?;
        println!(
            "Eve: {eve_frames} pictures, {} with readable stamps",
            eve_counters.len()
        );
        assert!(eve_counters.is_empty(), "Eve read Alice's picture");
    }
    Ok(())
}

/// Someone leaves an end-to-end encrypted call: the others are advised to change the passphrase,
/// do so mid-call (each on their own signal, not at the same moment), and get the same new safety
/// code; the media keeps flowing through the change, and whoever knows only the old passphrase
/// (the one who left, coming back) cannot open anything sent after it.
#[test]
fn a_new_passphrase_after_someone_left_shuts_them_out() -> Result<()> {
    if !netns::enter("a_new_passphrase_after_someone_left_shuts_them_out")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-e2ee-rotation")?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let old = password_file(&dir, "e2ee-old", "Kaffee Kanne Kuchen Kerze")?;
    let new = password_file(&dir, "e2ee-new", "Milch Zucker Loeffel Teller")?;
    let bob_y4m = dir.join("bob.y4m").display().to_string();
    let wait = Duration::from_secs(20);
    // `extra` starts with the passphrase file.
    let join = |name: &str, seconds: u32, extra: &[&str]| {
        let media = [&["--e2ee-passphrase-file"], extra].concat();
        CliClient::join(&link, &pin, name, seconds, &media)
    };
    let mut alice = join(
        "Alice",
        60,
        &[
            &old,
            "--e2ee-next-passphrase-file",
            &new,
            "--audio-in",
            "tone:440",
            "--video-in",
            "pattern:320x180@15",
        ],
    )?;
    let alice_id = alice.wait_event("joined", wait, event_is("joined"))?["me"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut bob = join(
        "Bob",
        60,
        &[
            &old,
            "--e2ee-next-passphrase-file",
            &new,
            "--video-out",
            &bob_y4m,
        ],
    )?;
    let mut carol = join("Carol", 3, &[&old])?;
    let from_alice = |e: &Value, decrypting: bool, previous: bool| {
        e["event"] == "decryption"
            && e["participant"] == alice_id.as_str()
            && e["decrypting"] == decrypting
            && e["previousKey"] == previous
    };
    carol.wait_event("Carol opens Alice's media", wait, |e| {
        from_alice(e, true, false)
    })?;
    carol.wait_exit(wait)?;
    carol.save_output(&dir);
    let first_code = |c: &mut CliClient| -> Result<String> {
        let e = c.wait_event("the first safety code", wait, |e| {
            e["event"] == "endToEnd" && e["generation"] == 0
        })?;
        Ok(e["safetyCode"].as_str().unwrap_or_default().to_owned())
    };
    let before = first_code(&mut bob)?;
    assert_eq!(first_code(&mut alice)?, before);
    for client in [&mut alice, &mut bob] {
        client.wait_event("the advice to change the passphrase", wait, |e| {
            e["event"] == "newPassphraseAdvised" && e["left"] == "Carol"
        })?;
    }
    // Alice changes first; Bob, a moment later, on his own.
    alice.change_passphrase()?;
    let at_alice = alice.wait_event("Alice's new key", wait, |e| {
        e["event"] == "endToEnd" && e["generation"] == 1
    })?;
    let mark = bob.events().len();
    bob.change_passphrase()?;
    let at_bob = bob.wait_event_from(mark, "Bob's new key", wait, |e| {
        e["event"] == "endToEnd" && e["generation"] == 1
    })?;
    println!(
        "safety code before {before}, after {}",
        at_bob["safetyCode"]
    );
    assert_eq!(at_alice["safetyCode"], at_bob["safetyCode"]);
    assert_ne!(at_bob["safetyCode"].as_str(), Some(before.as_str()));
    // After his change Bob opens Alice's frames with the new key (reported anew after the
    // change), and the indicator is back to end to end.
    let changed = bob
        .events()
        .iter()
        .position(|e| e["event"] == "endToEnd" && e["generation"] == 1)
        .unwrap_or(mark);
    bob.wait_event_from(
        changed,
        "Bob opens Alice's media with the new key",
        wait,
        |e| from_alice(e, true, false),
    )?;
    bob.wait_event_from(changed, "Bob's indicator: end to end", wait, |e| {
        e["event"] == "indicators" && e["indicators"]["encryption"]["state"] == "endToEnd"
    })?;
    // Carol comes back with the old passphrase: nothing of Alice's opens for her.
    let mut carol_again = join("Carol", 4, &[&old])?;
    carol_again.wait_event("Carol, back, cannot open Alice's media", wait, |e| {
        from_alice(e, false, false)
    })?;
    carol_again.wait_exit(wait)?;
    carol_again.save_output(&dir);
    assert!(
        !carol_again
            .events()
            .iter()
            .any(|e| from_alice(e, true, false) || from_alice(e, true, true)),
        "Carol opened something sent after the change"
    );
    for client in [&mut alice, &mut bob] {
        client.interrupt()?;
        client.wait_exit(wait)?;
        client.save_output(&dir);
    }
    // Bob's picture of Alice went on through the change: the counters rise throughout, and no
    // broken picture was shown (after frames that did not open, nothing is decoded until a
    // keyframe).
    let (counters, frames) = analysis::frame_counters(std::path::Path::new(&bob_y4m))?;
    println!(
        "Bob: {frames} pictures, {} with readable stamps",
        counters.len()
    );
    assert!(
        counters.len() >= 60 && counters.windows(2).all(|w| w[1] > w[0]),
        "{counters:?}"
    );
    assert!(
        frames - counters.len() <= 1,
        "{frames} pictures, {} readable",
        counters.len()
    );
    Ok(())
}

/// A room that requires end-to-end encryption. With a passphrase Runde publishes and nothing is
/// refused. Without one it learns the requirement from the room list before offering anything:
/// it says so in words, opens no microphone or camera, and shows the others' media as "cannot
/// decrypt" instead of decoding ciphertext into noise.
#[test]
fn a_room_requiring_end_to_end_encryption_is_explained() -> Result<()> {
    if !netns::enter("a_room_requiring_end_to_end_encryption_is_explained")? {
        return Ok(());
    }
    let dir = artifacts::dir("janus-require-e2ee")?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(ROOM, PIN).requiring_e2ee()])?;
    let link = janus.link(ROOM);
    let pin = password_file(&dir, "pin", PIN)?;
    let passphrase = password_file(&dir, "e2ee", "Kaffee Kanne Kuchen Kerze")?;
    let wait = Duration::from_secs(20);
    let plain_y4m = dir.join("plain.y4m").display().to_string();
    let base = |name: &'static str, seconds: &'static str| {
        vec![
            "join",
            link.as_str(),
            "--json",
            "--name",
            name,
            "--password-file",
            pin.as_str(),
            "--audio-in",
            "tone:440",
            "--duration",
            seconds,
        ]
    };
    let mut args = base("Sealed", "30");
    args.extend_from_slice(&[
        "--video-in",
        "pattern:320x180@15",
        "--e2ee-passphrase-file",
        passphrase.as_str(),
    ]);
    let mut sealed = CliClient::spawn("sealed", &args)?;
    let joined = sealed.wait_event("joined", wait, event_is("joined"))?;
    let sealed_id = joined["me"].as_str().unwrap_or_default().to_owned();
    sealed.wait_event("the sealed call connected", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    let mut args = base("Plain", "6");
    args.extend_from_slice(&["--video-out", plain_y4m.as_str()]);
    let mut plain = CliClient::spawn("plain", &args)?;
    let told = plain.wait_event("the requirement explained", wait, |e| {
        e["event"] == "warning" && e["error"]["code"] == "E2eeRequired"
    })?;
    println!("without a passphrase: {told}");
    plain.wait_event("the sealed media shown as undecryptable", wait, |e| {
        e["event"] == "decryption"
            && e["participant"] == sealed_id.as_str()
            && e["decrypting"] == false
    })?;
    plain.wait_exit(wait)?;
    plain.save_output(&dir);
    sealed.interrupt()?;
    sealed.wait_exit(wait)?;
    sealed.save_output(&dir);
    let events = plain.events();
    // Nothing was offered (the tone it was given never became a track) and nothing of the
    // sealed participant was played or shown.
    let sending = events.iter().filter(|e| e["event"] == "sending");
    assert!(
        sending
            .clone()
            .all(|e| e["microphone"] == "unavailable" && e["camera"] == "unavailable"),
        "{:?}",
        sending.collect::<Vec<_>>()
    );
    assert!(
        !events.iter().any(|e| e["event"] == "mediaStarted"),
        "{events:?}"
    );
    assert!(
        !sealed.events().iter().any(|e| e["event"] == "warning"),
        "{:?}",
        sealed.events()
    );
    Ok(())
}

/// Runde and a browser (Chromium with janus.js) in one call: each sees and hears the other. The
/// room records, and what Janus wrote down decodes back to both (so the recording check of the
/// encrypted call below can fail).
#[test]
fn runde_and_chromium_see_and_hear_each_other() -> Result<()> {
    if !netns::enter("runde_and_chromium_see_and_hear_each_other")? {
        return Ok(());
    }
    call_with_chromium("janus-chromium", false)
}

/// The same call end-to-end encrypted, in a room that requires it: the browser seals and opens
/// frames with an independent implementation of Runde's scheme (WebCrypto in an
/// RTCRtpScriptTransform worker, checked against RFC 9605's test vectors first), each side decodes
/// the other, and what Janus recorded decodes to nothing recognisable.
#[test]
fn runde_and_chromium_decode_each_others_encrypted_media() -> Result<()> {
    if !netns::enter("runde_and_chromium_decode_each_others_encrypted_media")? {
        return Ok(());
    }
    call_with_chromium("janus-chromium-e2ee", true)
}

#[allow(clippy::print_stdout)] // it reports what it measured, as the tests do
fn call_with_chromium(name: &str, e2ee: bool) -> Result<()> {
    let dir = artifacts::dir(name)?;
    let room = RoomSpec::with_pin(ROOM, PIN).recording();
    let room = if e2ee { room.requiring_e2ee() } else { room };
    let mut janus = JanusServer::start(&dir, &[room])?;
    let pin = password_file(&dir, "pin", PIN)?;
    let passphrase = "Kaffee Kanne Kuchen Kerze";
    let passphrase_file = password_file(&dir, "e2ee", passphrase)?;
    // The browser gets the call key itself (the page has no Argon2id): the same derivation from
    // the passphrase and the room's identity (signalling origin and room) that Runde makes.
    let call_key = if e2ee {
        let identity = format!("ws://127.0.0.1:{}/{ROOM}", janus.port());
        let key = runde_e2ee::CallKey::derive(passphrase, &identity).map_err(|e| err("key", e))?;
        Some(key.expose_bytes())
    } else {
        None
    };
    let speech = dir.join("speech.wav");
    analysis::speech(
        &speech,
        "This voice comes from a browser. Runde decodes it and compares it with what was sent.",
    )?;
    let camera = dir.join("camera.y4m");
    analysis::pattern_y4m(&camera, 150)?;
    let out = |name: &str| dir.join(name).display().to_string();
    let (heard, seen) = (out("runde.wav"), out("runde.y4m"));
    let link = janus.link(ROOM);
    let mut args = vec![
        "join",
        link.as_str(),
        "--json",
        "--name",
        "Runde",
        "--password-file",
        pin.as_str(),
        "--audio-in",
        "tone:660",
        "--video-in",
        "pattern:320x180@30",
        "--audio-out",
        heard.as_str(),
        "--video-out",
        seen.as_str(),
        "--duration",
        "25",
    ];
    if e2ee {
        args.extend(["--e2ee-passphrase-file", passphrase_file.as_str()]);
    }
    let mut runde = CliClient::spawn("runde", &args)?;
    let joined = runde.wait_event("joined", Duration::from_secs(15), event_is("joined"))?;
    let runde_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let page = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("janus/page");
    let browser = runde_e2e::browser::Browser::join(
        &dir,
        &page,
        &janus.ws_url(),
        ROOM,
        PIN,
        &speech,
        &camera,
        call_key.as_ref(),
    )?;
    // Chromium decodes Runde's video and hears Runde's audio (opened by its transform, if sealed).
    let results = runde_e2e::process::wait_until(
        "Chromium to decode Runde's media",
        Duration::from_secs(20),
        || {
            let r = browser.results()?;
            let feed = &r["feeds"][runde_id.as_str()];
            let decoding = feed["framesDecoded"].as_u64().unwrap_or(0) >= 60
                && feed["audioEnergy"].as_f64().unwrap_or(0.0) > 0.0;
            let opened = !e2ee || r["e2ee"]["opened"]["video"].as_u64().unwrap_or(0) >= 60;
            Ok((decoding && opened).then_some(r))
        },
    )
    .map_err(|e| {
        let state = browser.results().map(|r| r.to_string()).unwrap_or_default();
        err(&format!("{e}; page state"), state)
    })?;
    println!("Chromium's view: {results}");
    assert_eq!(results["errors"], serde_json::json!([]), "{results}");
    if e2ee {
        let sealing = &results["e2ee"];
        assert_eq!(results["scriptTransform"], true, "{results}");
        assert_eq!(sealing["selfTest"], "ok", "{results}");
        assert_eq!(
            sealing["failed"],
            serde_json::json!({"audio": 0, "video": 0}),
            "{results}"
        );
        assert!(
            sealing["opened"]["audio"].as_u64().unwrap_or(0) > 0,
            "{results}"
        );
    }
    // Runde decodes Chromium's audio and video; sealed, it says it opens them, and the indicator
    // then says end to end.
    runde.wait_event("Chromium's video", Duration::from_secs(15), |e| {
        e["event"] == "mediaStarted" && e["kind"] == "video"
    })?;
    let (state, reason) = if e2ee {
        ("endToEnd", "allStreamsOpenWithCallKey")
    } else {
        ("transportOnly", "serverDecryptsMedia")
    };
    runde.wait_event(
        &format!("the indicator: {state}"),
        Duration::from_secs(15),
        |e| {
            e["event"] == "indicators"
                && e["indicators"]["encryption"]["state"] == state
                && e["indicators"]["encryption"]["reason"] == reason
        },
    )?;
    let status = runde.wait_exit(Duration::from_secs(40))?;
    runde.save_output(&dir);
    assert!(status.success(), "{status}");
    // What Chromium sealed, when it seals: Runde can see no more than that.
    let mut chromium_sealed_video = None;
    if e2ee {
        assert!(
            !runde
                .events()
                .iter()
                .any(|e| e["event"] == "decryption" && e["decrypting"] == false),
            "Runde could not open some of Chromium's frames"
        );
        let sealed = browser.results()?;
        println!("Chromium sealed and opened: {}", sealed["e2ee"]);
        let video = sealed["e2ee"]["sealed"]["video"].as_u64().unwrap_or(0);
        assert!(video >= 150, "{sealed}");
        chromium_sealed_video = Some(video);
    }
    drop(browser);

    let (counters, frames) = analysis::frame_counters(std::path::Path::new(&seen))?;
    println!(
        "Runde saw {frames} frames of Chromium's camera, {} with readable stamps",
        counters.len()
    );
    // Unencrypted, Chromium sends 30 fps and Runde must see more than 150 pictures. Sealing each
    // frame in script, Chromium sends fewer on a loaded machine (151 in one run): then Runde
    // must see nine in ten of those it sealed (the first ones go out before Runde subscribes).
    let needed = chromium_sealed_video.map_or(151, |sealed| (sealed * 9).div_ceil(10) as usize);
    assert!(
        counters.len() >= needed,
        "{} stamped of {frames}, needed {needed}",
        counters.len()
    );
    let sent = analysis::wav(&speech)?;
    let got = analysis::wav(std::path::Path::new(&heard))?;
    // Three 2 s windows over the last 10 s (Chromium joined well before). Broken audio fails them
    // all; one window may hold a glitch of an overloaded machine (the browser's capture or our
    // playout stretching), so two of three must match.
    let matches: Vec<_> = [10, 8, 6]
        .iter()
        .map(|s| analysis::match_speech(&sent, &got, got.len().saturating_sub(48_000 * s), 96_000))
        .collect();
    println!("Chromium's speech at Runde: {matches:?}");
    let matching = matches.iter().filter(|m| m.envelope > 0.8).count();
    assert!(
        matching >= 2,
        "loudness contour matches in {matching} of 3: {matches:?}"
    );

    // What the server kept: Janus's recordings, decoded as the operator would.
    janus.kill();
    let recordings = runde_e2e::janus::decode_recordings(janus.recordings(), &dir.join("decoded"))?;
    let mut judged = 0;
    for rec in &recordings {
        let who = if rec.participant == runde_id {
            "Runde"
        } else {
            "Chromium"
        };
        let readable = match (&rec.decoded, rec.kind) {
            (Ok(path), "video") => {
                let (stamps, pictures) = analysis::frame_counters(path)?;
                println!(
                    "recorded {who} video: {pictures} pictures, {} readable",
                    stamps.len()
                );
                stamps.len() >= 30
            }
            (Ok(path), _) if who == "Runde" => {
                let samples = analysis::wav(path)?;
                let loud: Vec<f32> = samples
                    .chunks_exact(480)
                    .filter(|w| runde_media::measure::rms_dbfs(w) > -35.0)
                    .flatten()
                    .copied()
                    .collect();
                let hz = if loud.is_empty() {
                    0.0
                } else {
                    analysis::tone_hz(&loud)
                };
                println!(
                    "recorded Runde audio: {} ms loud, {hz:.0} Hz",
                    loud.len() / 48
                );
                loud.len() >= 48 * 1000 && (hz - 660.0).abs() < 10.0
            }
            (Ok(path), _) => {
                let m = analysis::match_speech(&sent, &analysis::wav(path)?, 48_000 * 4, 96_000);
                println!("recorded Chromium speech: {m:?}");
                m.envelope > 0.8
            }
            (Err(why), kind) => {
                println!(
                    "recorded {who} {kind}: nothing decodable ({})",
                    why.lines().last().unwrap_or("")
                );
                false
            }
        };
        assert_eq!(readable, !e2ee, "{who}'s recorded {}: {rec:?}", rec.kind);
        judged += 1;
    }
    assert_eq!(judged, 4, "{recordings:?}");
    Ok(())
}

/// A microphone or camera the user chose that does not exist fails the join with a clear
/// MediaFailed; a speaker that cannot be opened only means a call without sound, said so.
#[test]
fn missing_devices_are_reported_clearly() -> Result<()> {
    if !netns::enter("missing_devices_are_reported_clearly")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-no-devices")?;
    let pin = password_file(&dir, "pin", PIN)?;
    // An ALSA configuration without a single device: what a machine without sound hardware sees.
    let alsa = dir.join("no-devices.conf");
    std::fs::write(&alsa, "# no devices\n").map_err(|e| err("alsa config", e))?;
    let alsa = alsa.display().to_string();
    let link = janus.link(ROOM);
    for (what, args) in [
        ("microphone", ["--audio-in", "mic"]),
        ("camera", ["--video-in", "camera:/dev/video99"]),
    ] {
        let mut client = CliClient::spawn_with_env(
            what,
            &[
                "join",
                &link,
                "--json",
                "--password-file",
                &pin,
                args[0],
                args[1],
            ],
            &[("ALSA_CONFIG_PATH", &alsa)],
        )?;
        let status = client.wait_exit(Duration::from_secs(20))?;
        let out = client.stdout();
        assert_eq!(
            status.code(),
            Some(9),
            "{what}: {out:?} {:?}",
            client.stderr()
        );
        let failed = client
            .events()
            .into_iter()
            .find(|e| e["event"] == "joinFailed")
            .ok_or_else(|| err(what, format!("no joinFailed event: {out:?}")))?;
        assert_eq!(failed["error"]["code"], "MediaFailed", "{failed}");
        println!("{what}: {}", failed["error"]["detail"]);
    }
    // A speaker that cannot be opened keeps nobody out: the call goes on without sound, and the
    // user is told why.
    let mut client = CliClient::spawn_with_env(
        "speaker",
        &[
            "join",
            &link,
            "--json",
            "--password-file",
            &pin,
            "--audio-out",
            "speaker",
            "--duration",
            "1",
        ],
        &[("ALSA_CONFIG_PATH", &alsa)],
    )?;
    let lost = client.wait_event("the speaker reported lost", Duration::from_secs(20), |e| {
        e["event"] == "deviceChanged" && e["device"] == "speaker" && e["inUse"] == false
    })?;
    println!("speaker: {}", lost["reason"]);
    assert!(
        lost["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{lost}"
    );
    let status = client.wait_exit(Duration::from_secs(20))?;
    assert_eq!(status.code(), Some(0), "{:?}", client.stdout());
    assert!(client.events().iter().any(|e| e["event"] == "joined"));
    Ok(())
}

/// The recording indicator says what the server proves and nothing more: a room set to record
/// shows so within one poll; an ordinary room is "not announced" (Janus cannot show that nobody
/// records), never "off"; a private room is "not announced" because the server says nothing.
#[test]
fn the_recording_indicator_shows_what_the_server_proves() -> Result<()> {
    if !netns::enter("the_recording_indicator_shows_what_the_server_proves")? {
        return Ok(());
    }
    let dir = artifacts::dir("janus-recording-indicator")?;
    let rooms = [
        RoomSpec::with_pin(1234, PIN),
        RoomSpec::with_pin(1235, PIN).recording(),
        RoomSpec::with_pin(1236, PIN).private(),
    ];
    let janus = JanusServer::start(&dir, &rooms)?;
    let pin = password_file(&dir, "pin", PIN)?;
    for (room, state, reason) in [
        (1234, "notAnnounced", "serverCannotTell"),
        (1235, "roomSetToRecord", "roomRecordFlagOn"),
        (1236, "notAnnounced", "privateRoom"),
    ] {
        let mut client = CliClient::spawn(
            &format!("room-{room}"),
            &[
                "join",
                &janus.link(room),
                "--json",
                "--password-file",
                &pin,
                "--duration",
                "30",
            ],
        )?;
        let first = client.wait_event(
            "first indicators",
            Duration::from_secs(15),
            event_is("indicators"),
        )?;
        assert_eq!(
            first["indicators"]["recording"]["reason"], "notYetKnown",
            "{first}"
        );
        assert_eq!(
            first["indicators"]["encryption"]["state"], "transportOnly",
            "{first}"
        );
        let known = client.wait_event("recording known", Duration::from_secs(10), |e| {
            e["event"] == "indicators" && e["indicators"]["recording"]["reason"] != "notYetKnown"
        })?;
        assert_eq!(
            known["indicators"]["recording"]["state"], state,
            "room {room}: {known}"
        );
        assert_eq!(
            known["indicators"]["recording"]["reason"], reason,
            "room {room}: {known}"
        );
        assert!(
            client
                .events()
                .iter()
                .all(|e| e["indicators"]["recording"]["state"] != "off"),
            "Janus never proves that nothing is recorded"
        );
        client.save_output(&dir);
    }
    Ok(())
}

/// Trusted servers and key pinning against Janus behind a real TLS proxy (nginx) with a CA of the
/// test's own: first contact stops for review; accepting pins the key and the operator indicator
/// names the certificate's organisation; a changed key blocks the call; a certificate no trusted
/// authority vouches for joins only after an explicit review.
#[test]
fn trusted_servers_are_pinned_and_a_changed_key_blocks_the_call() -> Result<()> {
    use runde_e2e::tls_proxy::{TestCa, TlsProxy};
    if !netns::enter("trusted_servers_are_pinned_and_a_changed_key_blocks_the_call")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-tls")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let ca = TestCa::new(&dir.join("ca"))?;
    let ca_bundle = ca.certificate().display().to_string();
    let store = dir.join("trust-store");
    let store_arg = store.display().to_string();
    let trusted_env = [("SSL_CERT_FILE", ca_bundle.as_str())];
    let join = |name: &str, link: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "join",
            link,
            "--json",
            "--password-file",
            &pin,
            "--trust-store",
            &store_arg,
            "--duration",
            "1",
        ];
        args.extend_from_slice(extra);
        run_to_end(&dir, name, &args, env)
    };
    let first = ca.server("first", "Beratung Test e.V.")?;
    let proxy = TlsProxy::start(&dir.join("nginx-1"), &first, janus.port())?;
    let link = proxy.link(ROOM);

    // 1. First contact: the join stops and shows the certificate.
    let (status, events, errout) = join("first-contact", &link, &[], &trusted_env)?;
    assert_eq!(status.code(), Some(10), "{events:?} {errout:?}");
    let failed = events.iter().find(|e| e["event"] == "joinFailed").cloned();
    let failed = failed.ok_or_else(|| err("first contact", "no joinFailed"))?;
    assert_eq!(failed["error"]["code"], "NewServer", "{failed}");
    assert_eq!(failed["error"]["review"]["trustedBySystem"], true);
    assert_eq!(
        failed["error"]["review"]["organisation"],
        "Beratung Test e.V."
    );
    let key = failed["error"]["review"]["keySha256"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        errout.iter().any(|l| l.contains(&key)),
        "the key is shown: {errout:?}"
    );
    assert!(
        !store.join("trusted-servers.json").exists(),
        "nothing pinned without consent"
    );

    // 2. Accepted: joined, the key is pinned, the operator comes from the certificate.
    let (status, events, errout) = join("accept", &link, &["--accept-new-server"], &trusted_env)?;
    assert!(status.success(), "{events:?} {errout:?}");
    let saved = std::fs::read_to_string(store.join("trusted-servers.json"))
        .map_err(|e| err("trust store", e))?;
    assert!(saved.contains(&key), "{saved}");
    assert!(
        !saved.contains(PIN),
        "the room password is never stored with the server"
    );
    assert!(
        errout.iter().all(|l| !l.contains(PIN)),
        "the password never reaches the log"
    );
    let indicators = events
        .iter()
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("accept", "no indicators"))?;
    assert_eq!(
        indicators["indicators"]["operator"]["source"],
        "certificateOrganisation"
    );
    assert_eq!(
        indicators["indicators"]["operator"]["name"],
        "Beratung Test e.V."
    );

    // 3. Known and pinned: joins without questions.
    let (status, _, errout) = join("known", &link, &[], &trusted_env)?;
    assert!(status.success(), "{errout:?}");

    // 4. The server now presents another key (same CA, same name): blocked.
    let port = proxy.port();
    drop(proxy);
    let second = ca.server("second", "Beratung Test e.V.")?;
    let proxy = TlsProxy::start_on(&dir.join("nginx-2"), &second, janus.port(), port)?;
    let (status, events, errout) = join("key-changed", &proxy.link(ROOM), &[], &trusted_env)?;
    assert_eq!(status.code(), Some(10), "{events:?} {errout:?}");
    assert!(
        events
            .iter()
            .any(|e| e["error"]["code"] == "ServerKeyChanged"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "joined"),
        "a changed key must block the call"
    );

    // 5. A certificate no trusted authority vouches for (the CA is not trusted now), at a store
    //    that does not know the server: only an explicit review admits it, by pinning its key.
    let fresh = dir.join("trust-store-2").display().to_string();
    let second_link = proxy.link(ROOM);
    let untrusted = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "join",
            &second_link,
            "--json",
            "--password-file",
            &pin,
            "--trust-store",
            &fresh,
            "--duration",
            "1",
        ];
        args.extend_from_slice(extra);
        run_to_end(&dir, name, &args, &[]).map(|(status, events, _)| (status, events))
    };
    let (status, events) = untrusted("untrusted", &[])?;
    assert_eq!(status.code(), Some(10), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["error"]["code"] == "ServerNotTrusted"),
        "{events:?}"
    );
    let (status, events) = untrusted("untrusted-accepted", &["--accept-new-server"])?;
    assert!(status.success(), "{events:?}");
    let indicators = events
        .iter()
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("untrusted-accepted", "no indicators"))?;
    assert_eq!(
        indicators["indicators"]["operator"]["source"], "unknown",
        "an organisation nobody vouches for is not shown as the operator"
    );

    // 6. An expired certificate from the trusted CA: a TLS error, not a review.
    let port = proxy.port();
    drop(proxy);
    let expired = ca.expired_server("expired")?;
    let proxy = TlsProxy::start_on(&dir.join("nginx-3"), &expired, janus.port(), port)?;
    let fresh3 = dir.join("trust-store-3").display().to_string();
    let expired_link = proxy.link(ROOM);
    let mut client = CliClient::spawn_with_env(
        "expired",
        &[
            "join",
            &expired_link,
            "--json",
            "--password-file",
            &pin,
            "--trust-store",
            &fresh3,
            "--accept-new-server",
            "--duration",
            "1",
        ],
        &trusted_env,
    )?;
    let status = client.wait_exit(Duration::from_secs(20))?;
    client.save_output(&dir);
    assert_eq!(status.code(), Some(6), "{:?}", client.stdout());
    let failed = client
        .events()
        .into_iter()
        .find(|e| e["event"] == "joinFailed");
    let failed = failed.ok_or_else(|| err("expired", "no joinFailed"))?;
    assert_eq!(failed["error"]["code"], "TlsFailed", "{failed}");
    assert!(
        failed["error"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{failed}"
    );
    assert!(
        !std::path::Path::new(&fresh3)
            .join("trusted-servers.json")
            .exists(),
        "an expired certificate is never pinned, not even with --accept-new-server"
    );
    Ok(())
}

/// The room's owner turns recording on and off during a call; Janus tells nobody, Runde shows it
/// within one poll (asked: within 5 s).
#[test]
fn recording_turned_on_mid_call_shows_within_five_seconds() -> Result<()> {
    if !netns::enter("recording_turned_on_mid_call_shows_within_five_seconds")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-recording-toggle")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let heard = dir.join("alice-heard.wav");
    let mut alice = CliClient::spawn(
        "alice",
        &[
            "join",
            &janus.link(ROOM),
            "--json",
            "--password-file",
            &pin,
            "--audio-out",
            &heard.display().to_string(),
            "--duration",
            "60",
        ],
    )?;
    let recording = |state: &'static str| {
        move |e: &Value| {
            e["event"] == "indicators" && e["indicators"]["recording"]["state"] == state
        }
    };
    alice.wait_event(
        "not announced",
        Duration::from_secs(15),
        recording("notAnnounced"),
    )?;
    alice.wait_event("known", Duration::from_secs(10), |e| {
        e["event"] == "indicators" && e["indicators"]["recording"]["reason"] == "serverCannotTell"
    })?;
    let mut owner = runde_e2e::janus::RoomOwner::connect(&janus)?;
    for (record, state, change) in [
        (true, "roomSetToRecord", "raised"),
        (false, "notAnnounced", "lowered"),
    ] {
        let before = alice.events().len();
        let changed = Instant::now();
        owner.set_recording(ROOM, record)?;
        let event =
            alice.wait_event_from(before, state, Duration::from_secs(5), recording(state))?;
        println!("recording {record}: shown after {:?}", changed.elapsed());
        assert_eq!(
            event["recordingChange"], change,
            "announced as a change: {event}"
        );
    }
    // Alone in the room, Alice hears nothing but the two cues: rising, then falling. Playout
    // writes the file in real time: let it take in 0.6 s more (the cue lasts 0.36 s) before leaving.
    let size = || std::fs::metadata(&heard).map(|m| m.len()).unwrap_or(0);
    let announced_at = size();
    runde_e2e::process::wait_until("the cue to be played", Duration::from_secs(5), || {
        Ok((size() >= announced_at + 2 * 48_000 * 6 / 10).then_some(()))
    })?;
    alice.interrupt()?;
    alice.wait_exit(Duration::from_secs(10))?;
    alice.save_output(&dir);
    let cues = runde_e2e::analysis::cues(&runde_e2e::analysis::wav(&heard)?);
    println!("cues heard (start ms, notes Hz): {cues:?}");
    use runde_media::audio::cue::{HIGH_HZ, LOW_HZ};
    let near = |hz: f64, want: f64| (hz - want).abs() < 10.0;
    assert_eq!(cues.len(), 2, "one cue per change: {cues:?}");
    assert!(
        near(cues[0].1[0], LOW_HZ) && near(cues[0].1[1], HIGH_HZ),
        "rising first: {cues:?}"
    );
    assert!(
        near(cues[1].1[0], HIGH_HZ) && near(cues[1].1[1], LOW_HZ),
        "then falling: {cues:?}"
    );
    Ok(())
}

/// Egress: during a whole call with audio and video, the clients and the server send nothing to
/// any host but each other. Every packet to another address is counted; the counter is first
/// shown to work, then must stay at zero.
#[test]
fn a_call_talks_to_no_host_but_the_server() -> Result<()> {
    if !netns::enter("a_call_talks_to_no_host_but_the_server")? {
        return Ok(());
    }
    let watch =
        netns::EgressWatch::start(&["127.0.0.0/8", netns::SERVER_ADDR, netns::CLIENT_ADDR])?;
    // The counter counts: one datagram to a host in the test range that is not the server.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| err("probe", e))?;
    probe
        .send_to(b"counted", "198.18.0.99:9")
        .map_err(|e| err("probe", e))?;
    let baseline = watch.packets()?;
    assert!(baseline >= 1, "the egress counter must see a stray packet");

    let (dir, janus) = server("janus-egress")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let link = janus.link(ROOM);
    let mut clients = Vec::new();
    for (name, tone) in [("alice", "tone:440"), ("bob", "tone:660")] {
        let client = CliClient::spawn(
            name,
            &[
                "join",
                &link,
                "--json",
                "--name",
                name,
                "--password-file",
                &pin,
                "--audio-in",
                tone,
                "--video-in",
                "pattern:320x180@15",
                "--duration",
                "6",
            ],
        )?;
        clients.push(client);
    }
    for client in &mut clients {
        client.wait_event("remote video", Duration::from_secs(15), |e| {
            e["event"] == "mediaStarted" && e["kind"] == "video"
        })?;
    }
    for client in &mut clients {
        assert!(client.wait_exit(Duration::from_secs(20))?.success());
        client.save_output(&dir);
    }
    let stray = watch.packets()? - baseline;
    println!("packets to other hosts during the call: {stray}");
    println!("destinations: {}", watch.destinations()?);
    assert_eq!(
        stray, 0,
        "Runde and the server talked to a host other than each other"
    );
    Ok(())
}

/// The administrator's policy: with "only preset servers" an unlisted server is refused before
/// any connection; a preset server names its operator in the indicator; a policy file that cannot
/// be read stops every join instead of being ignored; users cannot weaken it.
#[test]
fn the_administrators_policy_is_enforced_and_shown() -> Result<()> {
    if !netns::enter("the_administrators_policy_is_enforced_and_shown")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-policy")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let link = janus.link(ROOM);
    let origin = format!("ws://127.0.0.1:{}", janus.port());
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| err("policy", e))?;
        Ok::<_, runde_e2e::Error>(path.display().to_string())
    };
    let strict_elsewhere = write(
        "only-other.json",
        r#"{"version": 1, "onlyPresetServers": true, "allowRememberingPasswords": false,
            "servers": [{"label": "Elsewhere", "origin": "wss://198.18.0.77:443"}]}"#
            .to_owned(),
    )?;
    let preset_here = write(
        "preset-here.json",
        format!(
            r#"{{"version": 1, "onlyPresetServers": true, "servers": [{{"label": "Beratung",
            "origin": "{origin}", "operator": {{"name": "Beratungsstelle Nord e.V.", "country": "DE"}}}}]}}"#
        ),
    )?;
    let broken = write(
        "broken.json",
        "{ \"version\": 1, \"onlyPresetServer\": true }".to_owned(),
    )?;
    let run = |name: &str, policy: &str| {
        let args = [
            "join",
            &link,
            "--json",
            "--password-file",
            &pin,
            "--policy-file",
            policy,
            "--duration",
            "1",
        ];
        run_to_end(&dir, name, &args, &[]).map(|(status, events, _)| (status, events))
    };

    let (status, events) = run("not-allowed", &strict_elsewhere)?;
    assert_eq!(status.code(), Some(10), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["error"]["code"] == "NotAllowedByPolicy"),
        "{events:?}"
    );
    let log = std::fs::read_to_string(janus.log()).map_err(|e| err("janus log", e))?;
    assert!(
        !log.contains("Creating new session"),
        "refused before connecting:\n{log}"
    );

    let (status, events) = run("preset", &preset_here)?;
    assert!(status.success(), "{events:?}");
    let indicators = events
        .iter()
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("preset", "no indicators"))?;
    assert_eq!(
        indicators["indicators"]["operator"]["source"],
        "declaredByAdmin"
    );
    assert_eq!(
        indicators["indicators"]["operator"]["name"],
        "Beratungsstelle Nord e.V."
    );

    let (status, events) = run("broken", &broken)?;
    assert_eq!(status.code(), Some(10), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["error"]["code"] == "PolicyUnreadable"),
        "{events:?}"
    );

    let (status, out, _) = cli::run(
        &["policy", "--policy-file", &strict_elsewhere],
        Duration::from_secs(10),
    )?;
    assert!(status.success());
    let shown = out.join("\n");
    assert!(
        shown.contains("only preset servers:         true"),
        "{shown}"
    );
    assert!(
        shown.contains("passwords may be remembered: false"),
        "{shown}"
    );
    assert!(shown.contains("Elsewhere"), "{shown}");
    Ok(())
}

/// An operator statement published on the server is part of the first-contact review and, when
/// nothing stronger is known, names the operator — labelled self-declared.
#[test]
fn a_published_operator_statement_is_shown_as_self_declared() -> Result<()> {
    use runde_e2e::tls_proxy::{TestCa, TlsProxy};
    if !netns::enter("a_published_operator_statement_is_shown_as_self_declared")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-operator-statement")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let ca = TestCa::new(&dir.join("ca"))?;
    let ca_bundle = ca.certificate().display().to_string();
    let cert = ca.server_without_organisation("plain")?;
    let proxy_dir = dir.join("nginx");
    std::fs::create_dir_all(&proxy_dir).map_err(|e| err("nginx dir", e))?;
    std::fs::write(
        proxy_dir.join("operator.json"),
        r#"{"version": 1, "name": "Jugendberatung Süd", "legalEntity": "Jugendhilfe Süd gGmbH",
            "country": "DE", "contact": "datenschutz@jugendhilfe.example",
            "privacyPolicyUrl": "https://jugendhilfe.example/datenschutz",
            "recordingPolicy": "Calls are never recorded.", "logRetentionDays": 7}"#,
    )
    .map_err(|e| err("statement", e))?;
    let proxy = TlsProxy::start(&proxy_dir, &cert, janus.port())?;
    let link = proxy.link(ROOM);
    let store = dir.join("trust-store").display().to_string();
    let env = [("SSL_CERT_FILE", ca_bundle.as_str())];
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "join",
            &link,
            "--json",
            "--password-file",
            &pin,
            "--trust-store",
            &store,
            "--duration",
            "1",
        ];
        args.extend_from_slice(extra);
        run_to_end(&dir, name, &args, &env)
    };
    let (status, events, errout) = run("review", &[])?;
    assert_eq!(status.code(), Some(10), "{events:?}");
    let review = events
        .iter()
        .find(|e| e["error"]["code"] == "NewServer")
        .map(|e| e["error"]["review"].clone())
        .ok_or_else(|| err("review", format!("{events:?}")))?;
    assert_eq!(
        review["operatorStatement"]["name"], "Jugendberatung Süd",
        "{review}"
    );
    assert_eq!(
        review["operatorStatement"]["logRetentionDays"], 7,
        "{review}"
    );
    assert!(
        errout
            .iter()
            .any(|l| l.contains("self-declared") && l.contains("Jugendberatung Süd")),
        "{errout:?}"
    );
    let (status, events, _) = run("accept", &["--accept-new-server"])?;
    assert!(status.success(), "{events:?}");
    let indicators = events
        .iter()
        .find(|e| e["event"] == "indicators")
        .ok_or_else(|| err("accept", "no indicators"))?;
    assert_eq!(
        indicators["indicators"]["operator"]["source"],
        "selfDeclared"
    );
    assert_eq!(
        indicators["indicators"]["operator"]["name"],
        "Jugendberatung Süd"
    );
    Ok(())
}

/// "Remember the password": after an accepted join with `--remember-password`, the next join
/// needs no password — it comes from the system keyring (gnome-keyring in a private D-Bus
/// session), never from a file; with the policy forbidding it, nothing is remembered.
#[test]
fn a_remembered_password_comes_from_the_keyring() -> Result<()> {
    if !netns::enter("a_remembered_password_comes_from_the_keyring")? {
        return Ok(());
    }
    let (dir, janus) = server("janus-keyring")?;
    let pin = password_file(&dir, "pin", PIN)?;
    let cli = runde_e2e::desktop::cli_binary()?.display().to_string();
    let home = dir.join("home");
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).map_err(|e| err("home", e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        for d in [&home, &runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err("home", e))?;
        }
    }
    let forbid = dir.join("forbid.json");
    std::fs::write(
        &forbid,
        r#"{"version": 1, "allowRememberingPasswords": false}"#,
    )
    .map_err(|e| err("policy", e))?;
    let link = janus.link(ROOM);
    let other = janus.link(ROOM); // the same room, joined again
    let script = format!(
        r#"eval "$(printf %s keyring-pw | gnome-keyring-daemon --unlock --components=secrets)"
{cli} join '{link}' --json --password-file '{pin}' --remember-password --duration 1 > remember.out 2>&1; echo "remember $?"
{cli} join '{other}' --json --duration 1 > recall.out 2>&1; echo "recall $?"
"#
    );
    let output = std::process::Command::new(runde_e2e::process::find_program("dbus-run-session")?)
        .args(["--", "sh", "-c", &script])
        .current_dir(&dir)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("RUNDE_LOG", "trace")
        .output()
        .map_err(|e| err("dbus-run-session", e))?;
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (remembered, recalled) = (read("remember.out"), read("recall.out"));
    assert!(said.contains("remember 0"), "{said}\n{remembered}");
    assert!(
        said.contains("recall 0"),
        "joined with the remembered password: {said}\n{recalled}"
    );
    assert!(recalled.contains("\"event\":\"joined\""), "{recalled}");
    assert!(
        !remembered.contains(PIN) && !recalled.contains(PIN),
        "the password never appears in output or logs"
    );
    // Nothing of ours on disk holds it either.
    for entry in walk(&home) {
        if let Ok(text) = std::fs::read_to_string(&entry) {
            assert!(
                !text.contains(PIN),
                "{} holds the password in clear",
                entry.display()
            );
        }
    }

    // With the administrator forbidding it: a warning, and nothing is remembered.
    let forbid = forbid.display().to_string();
    let script = format!(
        r#"eval "$(printf %s keyring-pw | gnome-keyring-daemon --unlock --components=secrets)"
{cli} join '{link}' --json --password-file '{pin}' --remember-password --policy-file '{forbid}' --duration 1 > forbidden.out 2>&1; echo "forbidden $?"
{cli} join '{other}' --json --duration 1 > after.out 2>&1; echo "after $?"
"#
    );
    let fresh_home = dir.join("home2");
    let fresh_runtime = fresh_home.join("run");
    std::fs::create_dir_all(&fresh_runtime).map_err(|e| err("home", e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        for d in [&fresh_home, &fresh_runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err("home", e))?;
        }
    }
    let output = std::process::Command::new(runde_e2e::process::find_program("dbus-run-session")?)
        .args(["--", "sh", "-c", &script])
        .current_dir(&dir)
        .env("HOME", &fresh_home)
        .env("XDG_RUNTIME_DIR", &fresh_runtime)
        .output()
        .map_err(|e| err("dbus-run-session", e))?;
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let forbidden = read("forbidden.out");
    assert!(said.contains("forbidden 0"), "{said}\n{forbidden}");
    assert!(forbidden.contains("PasswordNotRemembered"), "{forbidden}");
    assert!(
        said.contains("after 4"),
        "nothing was remembered: {said}\n{}",
        read("after.out")
    );
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
