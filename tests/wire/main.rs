//! The userspace wire between the test namespace and a server host: delay and jitter, loss, the
//! kernel's rate limit on the same link, Janus behind it, and nothing left behind. Each test runs
//! in its own network namespace.
#![cfg(target_os = "linux")]
#![allow(clippy::print_stdout)] // the measured numbers are printed for the person running them

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use runde_e2e::cli::CliClient;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::netns::{CLIENT_ADDR, SERVER_ADDR};
use runde_e2e::wire::{CLIENT_TUN, Impairment, ServerHost, Wire};
use runde_e2e::{Result, artifacts, err, netns};

const MS: Duration = Duration::from_millis(1);

/// A UDP echo responder on the server host: its socket is made in the server host's namespace.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start(host: &ServerHost) -> Result<Self> {
        let socket = host
            .run(|| UdpSocket::bind((SERVER_ADDR, 0)))?
            .map_err(|e| err("echo socket", e))?;
        let addr = socket.local_addr().map_err(|e| err("echo", e))?;
        // Only so that the stop flag is seen.
        socket
            .set_read_timeout(Some(50 * MS))
            .map_err(|e| err("echo", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Send `count` numbered, timestamped datagrams to `echo`, one every `gap`, and collect the
/// echoes: (sequence number, round-trip time) in arrival order. Collection ends when all are
/// back or nothing arrived for `quiet`.
fn echo_round(
    echo: &Echo,
    count: u32,
    gap: Duration,
    quiet: Duration,
) -> Result<Vec<(u32, Duration)>> {
    let socket = UdpSocket::bind((CLIENT_ADDR, 0)).map_err(|e| err("client socket", e))?;
    socket.connect(echo.addr).map_err(|e| err("connect", e))?;
    socket
        .set_read_timeout(Some(quiet))
        .map_err(|e| err("client socket", e))?;
    let receiver = socket.try_clone().map_err(|e| err("client socket", e))?;
    let base = Instant::now();
    let collect = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < count as usize {
            let Ok(n) = receiver.recv(&mut buf) else {
                break; // quiet for too long: the rest is lost
            };
            let now = base.elapsed();
            if n < 12 {
                continue;
            }
            let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&buf[4..12]);
            let sent = Duration::from_nanos(u64::from_be_bytes(sent));
            got.push((seq, now.saturating_sub(sent)));
        }
        got
    });
    for seq in 0..count {
        // Pacing, not synchronisation: datagram `seq` leaves at base + seq × gap.
        let due = base + gap * seq;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let sent = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut datagram = [0u8; 12];
        datagram[..4].copy_from_slice(&seq.to_be_bytes());
        datagram[4..].copy_from_slice(&sent.to_be_bytes());
        socket.send(&datagram).map_err(|e| err("send", e))?;
    }
    collect
        .join()
        .map_err(|_| err("collector", "the thread panicked"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn delay_and_jitter_are_as_configured_and_keep_order() -> Result<()> {
    if !netns::enter("delay_and_jitter_are_as_configured_and_keep_order")? {
        return Ok(());
    }
    let wire = Wire::start(7)?;
    let echo = Echo::start(wire.host())?;
    wire.set_uplink(Impairment {
        delay: 50 * MS,
        jitter: 20 * MS,
        loss_percent: 0.0,
    });
    // The downlink adds nothing, so a round trip is the uplink's one-way delay (plus the
    // echo's turnaround, a few microseconds).
    let got = echo_round(&echo, 400, 20 * MS, Duration::from_secs(1))?;
    assert_eq!(got.len(), 400, "every datagram must come back");
    let reordered = got.windows(2).filter(|w| w[1].0 < w[0].0).count();
    let mut delays: Vec<Duration> = got.iter().map(|(_, rtt)| *rtt).collect();
    delays.sort();
    let p = |q: usize| ms(delays[(delays.len() - 1) * q / 100]);
    let mean = delays.iter().map(|d| ms(*d)).sum::<f64>() / delays.len() as f64;
    let up = wire.uplink_stats();
    println!(
        "one-way delay at 50 ± 20 ms: min {:.1} p5 {:.1} mean {mean:.1} p95 {:.1} max {:.1} ms; \
         reordered {reordered}; wire lateness mean {:.3} max {:.3} ms over {} packets",
        p(0),
        p(5),
        p(95),
        p(100),
        ms(up.late_mean()),
        ms(up.late_max),
        up.forwarded,
    );
    assert!(p(5) >= 29.0, "p5 {:.1} ms", p(5));
    assert!(p(95) <= 72.0, "p95 {:.1} ms", p(95));
    assert!((mean - 50.0).abs() <= 4.0, "mean {mean:.1} ms");
    assert!(
        p(0) >= 30.0,
        "no packet may beat delay − jitter: {:.1} ms",
        p(0)
    );
    assert_eq!(reordered, 0);
    Ok(())
}

#[test]
fn loss_is_as_configured_in_each_direction() -> Result<()> {
    if !netns::enter("loss_is_as_configured_in_each_direction")? {
        return Ok(());
    }
    let wire = Wire::start(11)?;
    let echo = Echo::start(wire.host())?;
    let lossy = Impairment {
        loss_percent: 20.0,
        ..Impairment::default()
    };
    for direction in ["uplink", "downlink"] {
        if direction == "uplink" {
            wire.set_uplink(lossy);
            wire.set_downlink(Impairment::default());
        } else {
            wire.set_uplink(Impairment::default());
            wire.set_downlink(lossy);
        }
        let got = echo_round(&echo, 1000, MS, Duration::from_millis(500))?;
        let lost = 100.0 - got.len() as f64 / 10.0;
        println!("{direction}: 20 % configured, {lost:.1} % of 1000 datagrams lost");
        assert!(
            (15.0..=25.0).contains(&lost),
            "{direction}: {lost:.1} % lost"
        );
    }
    Ok(())
}

/// Push bytes into `stream` until it fails (the reader went away) or `stop` is set.
fn blast(mut stream: TcpStream, stop: Arc<AtomicBool>) {
    let chunk = [0x5au8; 16 * 1024];
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    while !stop.load(Ordering::Relaxed) && stream.write_all(&chunk).is_ok() {}
}

/// Goodput in kbit/s read from `stream` over `window`, after `warmup` (the token bucket's burst
/// and TCP's start are not the rate).
fn goodput(mut stream: TcpStream, warmup: Duration, window: Duration) -> Result<f64> {
    let mut buf = [0u8; 64 * 1024];
    let start = Instant::now();
    let mut counted = 0u64;
    let mut measuring: Option<Instant> = None;
    loop {
        let n = stream.read(&mut buf).map_err(|e| err("read", e))?;
        if n == 0 {
            return Err(err("stream", "ended early"));
        }
        match measuring {
            None if start.elapsed() >= warmup => measuring = Some(Instant::now()),
            None => {}
            Some(from) => {
                counted += n as u64;
                if from.elapsed() >= window {
                    return Ok(counted as f64 * 8.0 / from.elapsed().as_secs_f64() / 1000.0);
                }
            }
        }
    }
}

#[test]
fn tbf_limits_the_rate_in_each_direction() -> Result<()> {
    if !netns::enter("tbf_limits_the_rate_in_each_direction")? {
        return Ok(());
    }
    let wire = Wire::start(3)?;
    let listener = wire
        .host()
        .run(|| TcpListener::bind((SERVER_ADDR, 0)))?
        .map_err(|e| err("listener", e))?;
    let addr = listener.local_addr().map_err(|e| err("listener", e))?;
    let (warmup, window) = (Duration::from_secs(1), Duration::from_secs(3));
    for direction in ["downlink", "uplink"] {
        let downlink = direction == "downlink";
        wire.limit_downlink_rate(downlink.then_some(1000))?;
        wire.limit_uplink_rate((!downlink).then_some(1000))?;
        let client = TcpStream::connect(addr).map_err(|e| err("connect", e))?;
        let (server, _) = listener.accept().map_err(|e| err("accept", e))?;
        let (sender, receiver) = if downlink {
            (server, client)
        } else {
            (client, server)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let writer = std::thread::spawn(move || blast(sender, flag));
        let kbit = goodput(receiver, warmup, window);
        stop.store(true, Ordering::Relaxed);
        let _ = writer.join();
        let kbit = kbit?;
        println!("{direction}: tbf 1000 kbit/s configured, TCP goodput {kbit:.0} kbit/s");
        assert!((850.0..=1100.0).contains(&kbit), "{direction}: {kbit:.0}");
    }
    wire.limit_downlink_rate(None)?;
    wire.limit_uplink_rate(Some(0))?;
    Ok(())
}

#[test]
fn janus_behind_the_wire_answers_through_the_relay() -> Result<()> {
    if !netns::enter("janus_behind_the_wire_answers_through_the_relay")? {
        return Ok(());
    }
    use tungstenite::client::IntoClientRequest;
    let dir = artifacts::dir("wire-janus")?;
    let wire = Wire::start(5)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let url = janus.ws_url();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    assert!(janus.link(1234).starts_with("http://127.0.0.1:"));
    // With 50 ms on the uplink, an answer proves the request crossed the wire.
    wire.set_uplink(Impairment {
        delay: 50 * MS,
        ..Impairment::default()
    });
    let mut request = url.into_client_request().map_err(|e| err("request", e))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tungstenite::http::HeaderValue::from_static("janus-protocol"),
    );
    let stream = TcpStream::connect(("127.0.0.1", janus.port())).map_err(|e| err("relay", e))?;
    let (mut socket, _) = tungstenite::client(request, stream).map_err(|e| err("ws", e))?;
    let asked = Instant::now();
    socket
        .send(tungstenite::Message::text(
            r#"{"janus":"create","transaction":"t1"}"#,
        ))
        .map_err(|e| err("ws", e))?;
    let reply = socket.read().map_err(|e| err("ws", e))?;
    let took = asked.elapsed();
    let reply: serde_json::Value =
        serde_json::from_str(reply.to_text().unwrap_or_default()).map_err(|e| err("reply", e))?;
    println!(
        "Janus `create` through relay and wire: {reply} in {:.1} ms",
        ms(took)
    );
    assert_eq!(reply["janus"], "success", "{reply}");
    assert!(reply["data"]["id"].as_u64().is_some(), "{reply}");
    assert!(
        took >= 50 * MS,
        "answered in {took:?}: not through the wire"
    );
    let log = std::fs::read_to_string(janus.log()).map_err(|e| err("janus log", e))?;
    assert!(
        log.contains("Adding 'rt1' to the ICE enforce list"),
        "Janus's ICE must use the wire: {log}"
    );
    Ok(())
}

/// Real media through Janus on the server host: ICE works over the wire's TUN devices, with
/// 50 ± 20 ms each way.
#[test]
fn a_call_through_the_wire_carries_media() -> Result<()> {
    if !netns::enter("a_call_through_the_wire_carries_media")? {
        return Ok(());
    }
    let dir = artifacts::dir("wire-media")?;
    let wire = Wire::start(9)?;
    let janus = JanusServer::start_on(wire.host(), &dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let delayed = Impairment {
        delay: 50 * MS,
        jitter: 20 * MS,
        loss_percent: 0.0,
    };
    wire.set_uplink(delayed);
    wire.set_downlink(delayed);
    let link = janus.link(1234);
    let pin = dir.join("pin");
    std::fs::write(&pin, "pin\n").map_err(|e| err("pin file", e))?;
    let pin = pin.display().to_string();
    let join = |name: &str, media: &[&str]| CliClient::join(&link, &pin, name, 30, media);
    let wait = Duration::from_secs(20);
    let mut alice = join("Alice", &["--audio-in", "tone:440"])?;
    let joined = alice.wait_event("joined", wait, |e| e["event"] == "joined")?;
    let alice_id = joined["me"].as_str().unwrap_or_default().to_owned();
    let mut bob = join("Bob", &[])?;
    let started = Instant::now();
    bob.wait_event("Alice's sound", wait, |e| {
        e["event"] == "mediaStarted" && e["participant"] == alice_id.as_str()
    })?;
    let (up, down) = (wire.uplink_stats(), wire.downlink_stats());
    println!(
        "Bob hears Alice {:.1} s after joining; through the wire: {} packets up, {} down",
        started.elapsed().as_secs_f64(),
        up.forwarded,
        down.forwarded
    );
    assert!(up.forwarded > 50 && down.forwarded > 50, "{up:?} {down:?}");
    alice.save_output(&dir);
    bob.save_output(&dir);
    Ok(())
}

#[test]
fn nothing_is_left_behind() -> Result<()> {
    if !netns::enter("nothing_is_left_behind")? {
        return Ok(());
    }
    let dir = artifacts::dir("wire-cleanup")?;
    let ip_link = |name: &str| {
        std::process::Command::new("ip")
            .args(["link", "show", name])
            .output()
            .map(|o| o.status.success())
            .map_err(|e| err("ip", e))
    };
    for round in 0..2 {
        let wire = Wire::start(round)?;
        let holder = wire.host().pid();
        let janus = JanusServer::start_on(wire.host(), &dir, &[])?;
        let relay = janus.port();
        assert!(ip_link(CLIENT_TUN)?);
        drop(janus);
        drop(wire);
        assert!(
            !std::path::Path::new(&format!("/proc/{holder}")).exists(),
            "holder {holder} still there"
        );
        assert!(!ip_link(CLIENT_TUN)?, "{CLIENT_TUN} still there");
        assert!(
            TcpStream::connect(("127.0.0.1", relay)).is_err(),
            "relay still listening"
        );
        println!("round {round}: holder {holder} gone, {CLIENT_TUN} gone, relay closed");
    }
    Ok(())
}
