//! The WebRTC transport between two real peers over real UDP sockets on loopback: a publisher
//! offers Opus and VP8, a subscriber answers; real encoded media goes through and is judged by
//! content (tone frequency and correlation, frame stamps read back from decoded pictures), and
//! the RTCP paths the engine relies on work: sender reports arrive for lip sync, a keyframe
//! request reaches the sender.
#![allow(clippy::expect_used, clippy::print_stdout)] // a test file: a broken helper fails the test loudly

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use runde_media::audio::{AudioSource, FRAME_10MS, FRAME_20MS, Tone};
use runde_media::codec::opus::{OpusConfig, OpusEncoder};
use runde_media::codec::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder};
use runde_media::jitter::AudioJitterBuffer;
use runde_media::measure::dominant_frequency;
use runde_media::rtp::Unwrapper;
use runde_media::rtp::vp8::{FrameAssembler, Vp8Packetizer};
use runde_media::transport::{
    LinkEvent, LinkOptions, LinkState, LocalTrack, PeerLink, RemoteEvent, RemoteTrack, TrackKind,
};
use runde_media::video::{TestPattern, VideoSource, read_stamp};

fn loopback() -> LinkOptions {
    LinkOptions {
        udp_bind: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        include_loopback: true,
        ..LinkOptions::default()
    }
}

/// A publisher and a subscriber link on loopback, not connected yet.
async fn links() -> (PeerLink, PeerLink) {
    let publisher = PeerLink::new(&loopback()).await.expect("publisher");
    let subscriber = PeerLink::new(&loopback()).await.expect("subscriber");
    (publisher, subscriber)
}

async fn wait_connected(link: &mut PeerLink) -> Vec<RemoteTrack> {
    let mut tracks = Vec::new();
    while let Some(event) = link.next_event().await {
        match event {
            LinkEvent::State(LinkState::Connected) => return tracks,
            LinkEvent::State(LinkState::Failed | LinkState::Closed) => panic!("link failed"),
            LinkEvent::Track(t) => tracks.push(t),
            LinkEvent::AddressLost(a) => panic!("address {a} went away during the test"),
            LinkEvent::Undecryptable { ssrc } => panic!("stream {ssrc} does not decrypt"),
            LinkEvent::State(_) => {}
        }
    }
    panic!("link ended before connecting");
}

async fn send_audio(track: &LocalTrack, seconds: u32) {
    let mut encoder = OpusEncoder::new(OpusConfig::default()).expect("opus");
    let mut tone = Tone::new(440.0, 0.3);
    let mut pcm = vec![0.0; FRAME_20MS];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for i in 0..seconds * 50 {
        ticker.tick().await;
        let _ = tone.read(&mut pcm);
        let packet = Bytes::copy_from_slice(encoder.encode(&pcm).expect("encode"));
        track
            .send(packet, i * FRAME_20MS as u32, i == 0)
            .await
            .expect("send audio");
    }
}

/// Send a test pattern; how many keyframes went out.
async fn send_video(track: &LocalTrack, seconds: u32) -> usize {
    let mut encoder = Vp8Encoder::new(Vp8Config::camera(320, 180)).expect("vp8");
    let mut pattern = TestPattern::new(320, 180, 30).expect("pattern");
    let mut packetizer = Vp8Packetizer::new(1100, 7);
    let mut ticker = tokio::time::interval(Duration::from_micros(33_333));
    let mut keyframes_sent = 0;
    for i in 0..seconds * 30 {
        ticker.tick().await;
        // A keyframe request that arrived meanwhile is honoured with the next frame.
        while let Ok(Some(true)) = tokio::time::timeout(Duration::ZERO, track.next_feedback()).await
        {
            encoder.request_keyframe();
        }
        let frame = pattern
            .next_frame()
            .expect("frame")
            .expect("pattern frames");
        for encoded in encoder.encode(&frame).expect("encode") {
            keyframes_sent += usize::from(encoded.keyframe);
            let timestamp = i * 3000;
            let payloads = packetizer.packetize(&encoded);
            let last = payloads.len().saturating_sub(1);
            for (n, payload) in payloads.into_iter().enumerate() {
                track
                    .send(Bytes::from(payload), timestamp, n == last)
                    .await
                    .expect("send video");
            }
        }
    }
    keyframes_sent
}

#[derive(Default)]
struct Received {
    audio: Vec<f32>,
    frames: Vec<u32>,
    sender_reports: usize,
}

async fn receive(track: RemoteTrack, until: Instant) -> Received {
    let mut got = Received::default();
    let mut jitter = AudioJitterBuffer::new().expect("jitter buffer");
    let mut assembler = FrameAssembler::default();
    let mut decoder = Vp8Decoder::new().expect("decoder");
    let mut seq = Unwrapper::new(16);
    let start = Instant::now();
    let mut out = vec![0.0; FRAME_10MS];
    let mut asked_for_keyframe = false;
    while Instant::now() < until {
        let Ok(Some(event)) = tokio::time::timeout(
            until.saturating_duration_since(Instant::now()),
            track.next(),
        )
        .await
        else {
            break;
        };
        let now_ms = start.elapsed().as_millis() as u64;
        match event {
            RemoteEvent::SenderReport(_) => got.sender_reports += 1,
            RemoteEvent::Rtp(packet) if track.kind == TrackKind::Audio => {
                jitter.insert(packet.sequence, packet.timestamp, &packet.payload, now_ms);
                for _ in 0..2 {
                    jitter.pull(now_ms, &mut out).expect("pull");
                    got.audio.extend_from_slice(&out);
                }
            }
            RemoteEvent::Rtp(packet) => {
                let ext = seq.unwrap(u64::from(packet.sequence));
                let output = assembler
                    .insert(
                        ext,
                        packet.timestamp,
                        packet.marker,
                        &packet.payload,
                        now_ms,
                    )
                    .expect("assemble");
                for frame in output.frames {
                    if let Some(stamp) = decoder
                        .decode(&frame.data)
                        .expect("decode")
                        .as_ref()
                        .and_then(read_stamp)
                    {
                        got.frames.push(stamp.counter);
                    }
                }
                // Once pictures flow, ask for one keyframe, as a receiver does after a loss.
                if got.frames.len() == 30 && !asked_for_keyframe {
                    asked_for_keyframe = true;
                    track.request_keyframe().await;
                }
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_and_video_cross_a_real_webrtc_connection() {
    let started = Instant::now();
    let (mut publisher, mut subscriber) = links().await;
    let audio = publisher
        .add_track(TrackKind::Audio)
        .await
        .expect("audio track");
    let video = publisher
        .add_track(TrackKind::Video)
        .await
        .expect("video track");
    let offer = publisher.create_offer().await.expect("offer");
    assert!(
        offer.contains("opus/48000/2") && offer.contains("VP8/90000"),
        "{offer}"
    );
    assert!(
        offer.contains("a=candidate:"),
        "a complete offer, candidates included"
    );
    assert!(!offer.contains(".local"), "no mDNS names");
    let answer = subscriber.answer_offer(offer).await.expect("answer");
    publisher.accept_answer(answer).await.expect("accept");
    wait_connected(&mut publisher).await;
    println!("connected after {:?}", started.elapsed());
    let path = publisher.path().await;
    assert_eq!(
        path.as_ref().map(|p| p.local.as_str()),
        Some("host"),
        "the selected path, from the statistics"
    );
    assert_eq!(
        path.as_ref().map(|p| p.srtp.as_str()),
        Some("SRTP_AES128_CM_HMAC_SHA1_80"),
        "not AES-GCM: retransmissions reuse their packet's SRTP index"
    );

    let seconds = 4;
    let sending = tokio::spawn(async move {
        let ((), keyframes) =
            tokio::join!(send_audio(&audio, seconds), send_video(&video, seconds));
        assert!(keyframes >= 2, "the keyframe request was honoured");
    });
    let until = Instant::now() + Duration::from_secs(u64::from(seconds) + 2);
    let mut receivers = Vec::new();
    while receivers.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), subscriber.next_event()).await {
            Ok(Some(LinkEvent::Track(track))) => {
                receivers.push(tokio::spawn(receive(track, until)));
            }
            Ok(Some(_)) => {}
            _ => panic!("tracks did not arrive"),
        }
    }
    sending.await.expect("sender");
    let mut audio_got = None;
    let mut video_got = None;
    for r in receivers {
        let got = r.await.expect("receiver");
        if got.audio.is_empty() {
            video_got = Some(got);
        } else {
            audio_got = Some(got);
        }
    }
    let (audio_got, video_got) = (audio_got.expect("audio"), video_got.expect("video"));

    let steady = &audio_got.audio[audio_got.audio.len() / 4..audio_got.audio.len() * 3 / 4];
    let frequency = dominant_frequency(steady, 48_000);
    println!(
        "audio: {} samples, {frequency:.1} Hz; video: {} frames, counters {:?}..{:?}; SRs {} + {}",
        audio_got.audio.len(),
        video_got.frames.len(),
        video_got.frames.first(),
        video_got.frames.last(),
        audio_got.sender_reports,
        video_got.sender_reports,
    );
    assert!(
        (frequency - 440.0).abs() < 5.0,
        "the tone arrives: {frequency} Hz"
    );
    let frames = &video_got.frames;
    assert!(
        frames.len() >= 100,
        "{} of 120 frames decoded",
        frames.len()
    );
    assert!(frames.windows(2).all(|w| w[1] > w[0]), "frames in order");
    assert!(
        audio_got.sender_reports + video_got.sender_reports >= 2,
        "sender reports arrive for lip sync"
    );
    publisher.close().await;
    subscriber.close().await;
}

fn ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
}

/// The ports our candidates name (host candidates on loopback here).
fn candidate_ports(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_owned))
        .collect()
}

/// An ICE restart on a running connection, as after a network change: the offerer restarts with
/// new credentials and new sockets (new candidates), the answerer sees the new credentials in the
/// offer and restarts too, and the same track keeps carrying packets afterwards — no new track,
/// no new DTLS handshake (its keys stay; packets that arrive decrypt). Twice, as a call may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_keeps_the_connection_and_its_tracks() {
    let (mut publisher, mut subscriber) = links().await;
    let audio = publisher
        .add_track(TrackKind::Audio)
        .await
        .expect("audio track");
    let offer = publisher.create_offer().await.expect("offer");
    let answer = subscriber
        .answer_offer(offer.clone())
        .await
        .expect("answer");
    publisher
        .accept_answer(answer.clone())
        .await
        .expect("accept");
    wait_connected(&mut publisher).await;
    let sending = tokio::spawn(async move { send_audio(&audio, 8).await });
    let track = loop {
        match tokio::time::timeout(Duration::from_secs(5), subscriber.next_event()).await {
            Ok(Some(LinkEvent::Track(track))) => break track,
            Ok(Some(_)) => {}
            _ => panic!("the track did not arrive"),
        }
    };
    // Packets flow before the restarts.
    let first = tokio::time::timeout(Duration::from_secs(2), track.next()).await;
    assert!(matches!(first, Ok(Some(_))), "no packet before the restart");

    let (mut last_offer, mut last_answer) = (offer, answer);
    for round in 1..=2 {
        let restart = publisher.restart_offer().await.expect("restart offer");
        assert_ne!(ufrag(&restart), ufrag(&last_offer), "new credentials");
        assert!(ufrag(&restart).is_some());
        let ports = candidate_ports(&restart);
        assert!(
            !ports.is_empty(),
            "the restart offer has candidates: {restart}"
        );
        assert!(
            ports
                .iter()
                .all(|p| !candidate_ports(&last_offer).contains(p)),
            "candidates of new sockets: {ports:?} after {:?}",
            candidate_ports(&last_offer)
        );
        let restarted = Instant::now();
        let answer = subscriber
            .answer_offer(restart.clone())
            .await
            .expect("restart answer");
        assert_ne!(
            ufrag(&answer),
            ufrag(&last_answer),
            "the answerer restarts too"
        );
        assert!(
            candidate_ports(&answer)
                .iter()
                .all(|p| !candidate_ports(&last_answer).contains(p)),
            "the answerer gathers on new sockets"
        );
        publisher
            .accept_answer(answer.clone())
            .await
            .expect("accept restart answer");
        // Drain what queued up meanwhile, then wait for a packet sent after the restart.
        loop {
            let next = tokio::time::timeout(Duration::from_secs(3), track.next()).await;
            match next {
                Ok(Some(RemoteEvent::Rtp(_)))
                    if restarted.elapsed() > Duration::from_millis(100) =>
                {
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!(
                    "round {round}: nothing after the restart: {:?}",
                    other.is_ok()
                ),
            }
        }
        // No second track: the same one carries on.
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(50), subscriber.next_event()).await
        {
            assert!(
                !matches!(event, LinkEvent::Track(_)),
                "a new track after the restart"
            );
        }
        (last_offer, last_answer) = (restart, answer);
    }
    sending.abort();
    publisher.close().await;
    subscriber.close().await;
}

/// What the relay does to one stream on its way to the subscriber.
#[derive(Clone, Copy)]
enum Fault {
    /// Flip the last byte (in the authentication tag) of every packet, as a broken middlebox
    /// would.
    Mangle(u32),
    /// Drop the stream's `n`th packet, once.
    DropOnce(u32, usize),
}

/// The RTP datagrams of the faulty stream that reached the relay, in order: sequence number and
/// bytes as on the wire (SRTP: the header in the clear).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u16, Vec<u8>)>>>;

/// A UDP relay between two links on loopback: the publisher sees the subscriber at one of its
/// sockets, the subscriber sees the publisher at the other; one stream meets a [`Fault`].
struct Relay {
    toward_subscriber: tokio::net::UdpSocket,
    toward_publisher: tokio::net::UdpSocket,
}

impl Relay {
    async fn new() -> Self {
        let bind = || tokio::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        Self {
            toward_publisher: bind().await.expect("relay socket"),
            toward_subscriber: bind().await.expect("relay socket"),
        }
    }

    /// Offer and answer between `publisher` and `subscriber` with the relay between them, and
    /// start it: its task, and what it saw of the faulty stream.
    async fn between(
        publisher: &mut PeerLink,
        subscriber: &mut PeerLink,
        fault: Fault,
    ) -> (tokio::task::JoinHandle<()>, Seen) {
        let relay = Self::new().await;
        let offer = publisher.create_offer().await.expect("offer");
        let answer = subscriber
            .answer_offer(Self::through(&offer, &relay.toward_subscriber))
            .await
            .expect("answer");
        let subscriber_at = Self::candidate(&answer);
        publisher
            .accept_answer(Self::through(&answer, &relay.toward_publisher))
            .await
            .expect("accept");
        let seen = Seen::default();
        let relaying = tokio::spawn(relay.run(subscriber_at, fault, seen.clone()));
        (relaying, seen)
    }

    /// `sdp` with its candidates' address replaced by `socket`'s.
    fn through(sdp: &str, socket: &tokio::net::UdpSocket) -> String {
        let at = socket.local_addr().expect("relay address");
        sdp.split_inclusive('\n')
            .map(|line| {
                if !line.starts_with("a=candidate:") {
                    return line.to_owned();
                }
                let mut fields: Vec<String> =
                    line.trim_end().split(' ').map(str::to_owned).collect();
                fields[4] = at.ip().to_string();
                fields[5] = at.port().to_string();
                format!("{}\r\n", fields.join(" "))
            })
            .collect()
    }

    /// The first candidate's address in `sdp`.
    fn candidate(sdp: &str) -> SocketAddr {
        let line = sdp
            .lines()
            .find(|l| l.starts_with("a=candidate:"))
            .expect("a candidate");
        let fields: Vec<&str> = line.split(' ').collect();
        format!("{}:{}", fields[4], fields[5])
            .parse()
            .expect("candidate address")
    }

    /// Forward between `publisher` (learnt from its first datagram) and `subscriber`, with
    /// `fault` on the way to the subscriber; what reached the relay of that stream goes to
    /// `seen`.
    async fn run(self, subscriber: SocketAddr, fault: Fault, seen: Seen) {
        let mut publisher = None;
        let (mut up, mut down) = (vec![0u8; 2048], vec![0u8; 2048]);
        let ssrc = match fault {
            Fault::Mangle(ssrc) | Fault::DropOnce(ssrc, _) => ssrc,
        };
        let mut count = 0;
        loop {
            tokio::select! {
                Ok((n, from)) = self.toward_publisher.recv_from(&mut up) => {
                    publisher = Some(from);
                    let datagram = &mut up[..n];
                    let rtp = n > 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1]);
                    if rtp && datagram[8..12] == ssrc.to_be_bytes() {
                        count += 1;
                        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
                        if let Ok(mut seen) = seen.lock() {
                            seen.push((seq, datagram.to_vec()));
                        }
                        match fault {
                            Fault::Mangle(_) => datagram[n - 1] ^= 0x5a,
                            Fault::DropOnce(_, nth) if nth == count => continue,
                            Fault::DropOnce(..) => {}
                        }
                    }
                    let _ = self.toward_subscriber.send_to(datagram, subscriber).await;
                }
                Ok((n, _)) = self.toward_subscriber.recv_from(&mut down) => {
                    if let Some(publisher) = publisher {
                        let _ = self.toward_publisher.send_to(&down[..n], publisher).await;
                    }
                }
            }
        }
    }
}

/// A stream whose every packet fails SRTP authentication (webrtc-rs drops such packets and
/// tells nobody) is reported by the receiving link, once, while the stream beside it that
/// decrypts is not: the call replaces a subscription with a stream that stays dark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_arrives_but_never_decrypts_is_reported() {
    let (mut publisher, mut subscriber) = links().await;
    let audio = publisher
        .add_track(TrackKind::Audio)
        .await
        .expect("audio track");
    let video = publisher
        .add_track(TrackKind::Video)
        .await
        .expect("video track");
    let (relaying, _) =
        Relay::between(&mut publisher, &mut subscriber, Fault::Mangle(video.ssrc())).await;
    wait_connected(&mut publisher).await;

    let (audio_ssrc, video_ssrc) = (audio.ssrc(), video.ssrc());
    let seconds = 6;
    let sending = tokio::spawn(async move {
        tokio::join!(send_audio(&audio, seconds), send_video(&video, seconds));
    });
    let mut undecryptable = Vec::new();
    let mut readers = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(u64::from(seconds));
    while let Ok(event) = tokio::time::timeout_at(until, subscriber.next_event()).await {
        match event {
            Some(LinkEvent::Undecryptable { ssrc }) => undecryptable.push(ssrc),
            Some(LinkEvent::Track(track)) => readers.push(tokio::spawn(async move {
                let mut packets = 0u32;
                while let Ok(Some(event)) =
                    tokio::time::timeout(Duration::from_secs(1), track.next()).await
                {
                    packets += u32::from(matches!(event, RemoteEvent::Rtp(_)));
                }
                (track.kind, packets)
            })),
            Some(_) => {}
            None => panic!("the link ended"),
        }
    }
    sending.await.expect("sender");
    let mut arrived = Vec::new();
    for reader in readers {
        arrived.push(reader.await.expect("reader"));
    }
    println!(
        "undecryptable {undecryptable:?} (video {video_ssrc}, audio {audio_ssrc}); arrived {arrived:?}"
    );
    assert_eq!(
        undecryptable,
        vec![video_ssrc],
        "only the mangled stream, once"
    );
    let audio_packets: u32 = arrived
        .iter()
        .filter(|(kind, _)| *kind == TrackKind::Audio)
        .map(|(_, n)| n)
        .sum();
    assert!(
        audio_packets >= 200,
        "the sound decrypts: {audio_packets} packets"
    );
    assert!(
        arrived
            .iter()
            .all(|(kind, n)| *kind == TrackKind::Audio || *n == 0),
        "no video packet came through: {arrived:?}"
    );
    relaying.abort();
    publisher.close().await;
    subscriber.close().await;
}

/// A video packet lost on the way is asked for again (NACK) and sent again under its own
/// sequence number on its own stream — the same SRTP packet index — with a new transport-wide
/// sequence number in its header: two different packets under one index. That is why the links
/// agree only on AES-CM with HMAC-SHA1, under which it gives nothing away (under AES-GCM it
/// would be one nonce for two messages). The payload, encrypted under the same index, is the
/// same bytes both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmission_reuses_its_index_and_the_profile_allows_that() {
    let (mut publisher, mut subscriber) = links().await;
    let video = publisher
        .add_track(TrackKind::Video)
        .await
        .expect("video track");
    let (relaying, seen) = Relay::between(
        &mut publisher,
        &mut subscriber,
        Fault::DropOnce(video.ssrc(), 40),
    )
    .await;
    wait_connected(&mut publisher).await;
    let sending = tokio::spawn(async move { send_video(&video, 3).await });
    let until = Instant::now() + Duration::from_secs(4);
    let track = loop {
        match tokio::time::timeout(Duration::from_secs(5), subscriber.next_event()).await {
            Ok(Some(LinkEvent::Track(track))) => break track,
            Ok(Some(_)) => {}
            _ => panic!("the track did not arrive"),
        }
    };
    let received = tokio::spawn(receive(track, until));
    sending.await.expect("sender");
    let got = received.await.expect("receiver");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let dropped = seen.get(39).cloned().expect("the dropped packet");
    let again: Vec<&Vec<u8>> = seen
        .iter()
        .skip(40)
        .filter(|(seq, _)| *seq == dropped.0)
        .map(|(_, bytes)| bytes)
        .collect();
    println!(
        "packet {} was dropped and sent again {} time(s); {} frames decoded",
        dropped.0,
        again.len(),
        got.frames.len()
    );
    assert!(!again.is_empty(), "the lost packet was sent again");
    for bytes in &again {
        assert_ne!(*bytes, &dropped.1, "another header (transport-wide number)");
        // The payload sits after the header; both copies have the same length of it.
        let tail = |b: &[u8]| b[b.len() - 40..b.len() - 10].to_vec();
        assert_eq!(tail(bytes), tail(&dropped.1), "the same encrypted payload");
    }
    let path = publisher.path().await;
    assert_eq!(
        path.as_ref().map(|p| p.srtp.as_str()),
        Some("SRTP_AES128_CM_HMAC_SHA1_80"),
        "not AES-GCM"
    );
    assert_eq!(
        subscriber.path().await.map(|p| p.srtp),
        Some("SRTP_AES128_CM_HMAC_SHA1_80".to_owned())
    );
    relaying.abort();
    publisher.close().await;
    subscriber.close().await;
}
