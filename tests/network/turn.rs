//! TURN over TCP and TLS on a network that lets only TCP to port 443 through (schools, companies,
//! hotel Wi-Fi): Runde and Janus on two hosts joined by the wire, coturn on the server host, and
//! nftables on the client host dropping all UDP (except loopback) and all TCP except to port 443
//! of the TURN host and to Janus's signalling port. Signalling is allowed because it is a TLS
//! connection to the conference server itself, which such networks let through (in deployments
//! it is wss:// on port 443 behind a web server; here Janus's WebSocket port stands in for it):
//! what such a network blocks is media.

use std::path::Path;
use std::time::{Duration, Instant};

use runde_e2e::cli::CliClient;
use runde_e2e::coturn::Coturn;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::netns::SERVER_ADDR;
use runde_e2e::tls_proxy::TestCa;
use runde_e2e::wire::Wire;
use runde_e2e::{Result, analysis, artifacts, err, netns};
use serde_json::Value;

const TURN_USER: &str = "runde-test";
/// The port coturn listens on for TURN over TCP and TLS alike.
const TURN_PORT: u16 = 443;
/// Janus's signalling port on the server host ([`JanusServer::start_on`]).
const SIGNALLING_PORT: u16 = 8188;

/// On the client host (this namespace): drop every UDP packet that does not stay on loopback,
/// and every TCP connection except to the TURN server's port 443 and the signalling port.
fn only_tcp_443() -> Result<()> {
    let allowed = format!("{{ {TURN_PORT}, {SIGNALLING_PORT} }}");
    for command in [
        "add table inet runde_tcp443".to_owned(),
        "add chain inet runde_tcp443 out { type filter hook output priority 0; policy accept; }"
            .to_owned(),
        "add rule inet runde_tcp443 out oifname lo accept".to_owned(),
        format!("add rule inet runde_tcp443 out ip daddr {SERVER_ADDR} tcp dport {allowed} accept"),
        "add rule inet runde_tcp443 out meta l4proto { tcp, udp } counter drop".to_owned(),
    ] {
        netns::nft(&[&command])?;
    }
    Ok(())
}

/// Packets the rule above dropped so far.
fn dropped() -> u64 {
    netns::nft(&["list", "table", "inet", "runde_tcp443"])
        .ok()
        .and_then(|listing| {
            let rest = listing.split("packets ").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

fn media_started(e: &Value) -> bool {
    e["event"] == "mediaStarted" && e["kind"] == "audio"
}

/// What a two-person call over one kind of path showed.
struct CallRun {
    /// Milliseconds from Bob's join to Alice's sound reaching him (his `mediaStarted`).
    bob_heard_after_ms: u64,
    /// Milliseconds from Alice's join to Bob's sound reaching her.
    alice_heard_after_ms: u64,
    /// Everything both printed (events and trace logs).
    output: String,
}

/// Alice (440 Hz) joins, then Bob (660 Hz), both with `extra` options and environment: each must
/// hear the other's tone; `label` names the run's files.
fn call_both_ways(
    dir: &Path,
    link: &str,
    pin: &str,
    label: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<CallRun> {
    let wav = |who: &str| dir.join(format!("{label}-{who}.wav")).display().to_string();
    let (alice_wav, bob_wav) = (wav("alice"), wav("bob"));
    let join = |who: &str, tone: &str, out: &str| {
        let mut args = vec![
            "join",
            link,
            "--json",
            "--name",
            who,
            "--password-file",
            pin,
            "--duration",
            "40",
            "--audio-in",
            tone,
            "--audio-out",
            out,
        ];
        args.extend_from_slice(extra);
        CliClient::spawn_with_env(&format!("{label}-{}", who.to_lowercase()), &args, env)
    };
    let wait = Duration::from_secs(30);
    let mut alice = join("Alice", "tone:440", &alice_wav)?;
    alice.wait_event("joined", wait, |e| e["event"] == "joined")?;
    let mut bob = join("Bob", "tone:660", &bob_wav)?;
    let bob_heard = bob.wait_event("Alice's sound", wait, media_started)?;
    let alice_heard = alice.wait_event("Bob's sound", wait, media_started)?;
    // A few seconds of sound both ways, then both leave.
    std::thread::sleep(Duration::from_secs(4));
    alice.interrupt()?;
    bob.interrupt()?;
    let (a, b) = (
        alice.wait_exit(Duration::from_secs(20))?,
        bob.wait_exit(Duration::from_secs(20))?,
    );
    alice.save_output(dir);
    bob.save_output(dir);
    assert!(a.success() && b.success(), "{label}: alice {a}, bob {b}");
    for (who, file, hz) in [("Alice", &alice_wav, 660.0), ("Bob", &bob_wav, 440.0)] {
        let samples = analysis::wav(Path::new(file))?;
        // One second that ends 1.5 s before the file does (both left at once).
        let end = samples.len().saturating_sub(72_000);
        let heard = analysis::tone_hz(&samples[end.saturating_sub(48_000)..end]);
        println!("{label}: {who} heard {heard:.0} Hz");
        assert!(
            (heard - hz).abs() < 15.0,
            "{label}: {who} heard {heard:.0} Hz, not {hz}"
        );
    }
    let after = |e: &Value| e["afterMs"].as_u64().unwrap_or(u64::MAX);
    let output = [&alice, &bob]
        .iter()
        .flat_map(|c| c.stderr().into_iter().chain(c.stdout()))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(CallRun {
        bob_heard_after_ms: after(&bob_heard),
        alice_heard_after_ms: after(&alice_heard),
        output,
    })
}

/// Whether every media path the clients logged goes through a TURN relay (and there was one).
fn all_paths_relayed(output: &str) -> (usize, usize) {
    let paths: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("media path selected"))
        .collect();
    let relayed = paths.iter().filter(|l| l.contains("local=relay")).count();
    (relayed, paths.len())
}

/// On a network that lets only TCP to port 443 through: without TURN the call says within
/// seconds that no media gets through (a typed `MediaBlocked`, not a hang); with TURN over TCP
/// and over TLS on port 443 (given on the command line, or by the administrator's policy for
/// this server), sound flows both ways through the relay; the TURN credential reaches no log. Times to the first remote sound are measured against the direct UDP path.
#[test]
fn media_goes_through_turn_over_tcp_and_tls_when_only_tcp_443_is_open() -> Result<()> {
    let name = "turn::media_goes_through_turn_over_tcp_and_tls_when_only_tcp_443_is_open";
    if !netns::enter(name)? {
        return Ok(());
    }
    let dir = artifacts::dir("network-turn-tcp-443")?;
    let wire = Wire::start(443)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let ca = TestCa::new(&dir.join("ca"))?;
    let cert = ca.server_at("turn", SERVER_ADDR)?;
    // Made up here, different each run: it must appear in no log.
    let credential = format!(
        "turn-credential-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| err("clock", e))?
            .as_nanos()
    );
    let coturn = Coturn::start_on(wire.host(), &dir, TURN_PORT, &cert, TURN_USER, &credential)?;
    let link = janus.link(1234);
    let pin = dir.join("pin");
    std::fs::write(&pin, "pin\n").map_err(|e| err("pin file", e))?;
    let pin = pin.display().to_string();
    let credential_file = dir.join("turn-credential");
    std::fs::write(&credential_file, format!("{credential}\n"))
        .map_err(|e| err("credential file", e))?;
    let credential_file = credential_file.display().to_string();
    let ca_bundle = ca.certificate().display().to_string();

    // The direct path, before the network is restricted.
    let direct = call_both_ways(&dir, &link, &pin, "direct", &[], &[])?;

    only_tcp_443()?;
    // (a) No TURN server: the call must end by itself, saying that media is blocked.
    let started = Instant::now();
    let mut alone = CliClient::join(&link, &pin, "Blocked", 60, &["--audio-in", "tone:440"])?;
    let ended = alone.wait_event("the call to end", Duration::from_secs(30), |e| {
        e["event"] == "ended"
    })?;
    let blocked_after = started.elapsed();
    let status = alone.wait_exit(Duration::from_secs(20))?;
    alone.save_output(&dir);
    println!("without TURN: {ended} after {blocked_after:?}, exit {status}");
    assert_eq!(ended["reason"]["error"]["code"], "MediaBlocked", "{ended}");
    assert_eq!(status.code(), Some(9), "exit code");
    assert!(blocked_after < Duration::from_secs(15), "{blocked_after:?}");
    assert!(
        dropped() > 0,
        "the firewall dropped nothing: the test proves nothing"
    );

    // (b) TURN over TCP on port 443, the credential from a file.
    let tcp_url = format!("turn:{SERVER_ADDR}:{TURN_PORT}?transport=tcp");
    let tcp = call_both_ways(
        &dir,
        &link,
        &pin,
        "turn-tcp",
        &[
            "--turn",
            &tcp_url,
            "--turn-user",
            TURN_USER,
            "--turn-credential-file",
            &credential_file,
        ],
        &[],
    )?;
    // (c) TURN over TLS on port 443 (its certificate from the test's CA, checked against the
    // trust store as for any server), the credential from the environment.
    let tls_url = format!("turns:{SERVER_ADDR}:{TURN_PORT}");
    let tls = call_both_ways(
        &dir,
        &link,
        &pin,
        "turn-tls",
        &["--turn", &tls_url, "--turn-user", TURN_USER],
        &[
            ("SSL_CERT_FILE", ca_bundle.as_str()),
            ("RUNDE_TURN_CREDENTIAL", credential.as_str()),
        ],
    )?;
    // A TLS TURN server whose certificate nobody vouches for (the test CA not trusted): no
    // connection to it, and the call says that media is blocked.
    let mut untrusted = CliClient::spawn_with_env(
        "untrusted-turn",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Untrusted",
            "--password-file",
            &pin,
            "--duration",
            "60",
            "--audio-in",
            "tone:440",
            "--turn",
            &tls_url,
            "--turn-user",
            TURN_USER,
        ],
        &[("RUNDE_TURN_CREDENTIAL", credential.as_str())],
    )?;
    let ended = untrusted.wait_event("the call to end", Duration::from_secs(30), |e| {
        e["event"] == "ended"
    })?;
    untrusted.wait_exit(Duration::from_secs(20))?;
    untrusted.save_output(&dir);
    assert_eq!(ended["reason"]["error"]["code"], "MediaBlocked", "{ended}");
    let log = untrusted.stderr().join("\n");
    assert!(
        log.contains("TLS with the TURN server failed"),
        "no TLS refusal in the log:\n{log}"
    );
    assert!(
        !log.contains(&credential),
        "the TURN credential reached a log"
    );

    // (e) The same TURN server from the administrator's policy, as the server's own.
    let policy = dir.join("policy.json");
    let policy_text = serde_json::json!({
        "version": 1,
        "servers": [{
            "label": "Test server",
            "origin": format!("ws://127.0.0.1:{}", janus.port()),
            "turn": [{"urls": [tcp_url], "username": TURN_USER, "credential": credential}],
        }],
    });
    std::fs::write(&policy, policy_text.to_string()).map_err(|e| err("policy file", e))?;
    let policy = policy.display().to_string();
    let preset = call_both_ways(
        &dir,
        &link,
        &pin,
        "turn-policy",
        &["--policy-file", &policy],
        &[],
    )?;

    println!(
        "first remote sound after joining (Bob hearing Alice / Alice hearing Bob): direct UDP \
         {} / {} ms, TURN over TCP {} / {} ms, TURN over TLS {} / {} ms; without TURN the call \
         ended as blocked after {:.1} s",
        direct.bob_heard_after_ms,
        direct.alice_heard_after_ms,
        tcp.bob_heard_after_ms,
        tcp.alice_heard_after_ms,
        tls.bob_heard_after_ms,
        tls.alice_heard_after_ms,
        blocked_after.as_secs_f64()
    );
    let log = coturn.log();
    let allocations = log.matches("ALLOCATE processed, success").count();
    let permissions = log.matches("CREATE_PERMISSION processed, success").count();
    println!("coturn: {allocations} allocations, {permissions} permissions granted");
    for (label, run) in [
        ("TCP", &tcp),
        ("TLS", &tls),
        ("TCP from the policy", &preset),
    ] {
        let (relayed, paths) = all_paths_relayed(&run.output);
        println!("TURN over {label}: {relayed} of {paths} media paths relayed");
        assert!(
            paths >= 4 && relayed == paths,
            "{label}: {relayed} of {paths} relayed"
        );
        assert!(
            !run.output.contains(&credential),
            "the TURN credential reached a log"
        );
    }
    assert!(
        allocations >= 4 && permissions >= 4,
        "coturn relayed nothing:\n{log}"
    );
    let (relayed, paths) = all_paths_relayed(&direct.output);
    assert!(
        relayed == 0 && paths >= 4,
        "direct: {relayed} of {paths} relayed"
    );
    Ok(())
}
