use super::*;
use crate::codec::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder};
use crate::video::{TestPattern, VideoSource, read_stamp};

#[test]
fn descriptors_parse_in_all_their_forms() {
    // Minimal: S=1, partition 0.
    let (d, data) = parse_payload(&[0x10, 0xaa]).expect("short form");
    assert_eq!(
        (d.start, d.partition, d.picture_id, data),
        (true, 0, None, &[0xaa][..])
    );
    // X, I with a 7-bit picture id.
    let (d, data) = parse_payload(&[0x90, 0x80, 0x05, 0xbb]).expect("7-bit id");
    assert_eq!((d.picture_id, data), (Some(5), &[0xbb][..]));
    // X, I (15-bit), L, T: id, TL0PICIDX, TID byte.
    let (d, data) = parse_payload(&[0x81, 0xe0, 0x81, 0x02, 0x07, 0x40, 0xcc]).expect("full form");
    assert_eq!(
        (d.start, d.partition, d.picture_id, data),
        (false, 1, Some(0x0102), &[0xcc][..])
    );
    for bad in [
        &[][..],
        &[0x90][..],
        &[0x90, 0x80][..],
        &[0x90, 0x80, 0x81][..],
        &[0x10][..],
    ] {
        assert!(parse_payload(bad).is_err(), "{bad:?}");
    }
}

struct Sender {
    source: TestPattern,
    encoder: Vp8Encoder,
    packetizer: Vp8Packetizer,
    seq: ExtSeq,
}

/// One RTP packet as the network sees it.
type Wire = (ExtSeq, u32, bool, Vec<u8>);

impl Sender {
    fn new() -> Self {
        Self {
            source: TestPattern::new(640, 360, 30).expect("pattern"),
            encoder: Vp8Encoder::new(Vp8Config::camera(640, 360)).expect("encoder"),
            packetizer: Vp8Packetizer::new(1200, 300),
            seq: 1000,
        }
    }

    /// Packets of the next frame.
    fn frame(&mut self) -> Vec<Wire> {
        let frame = self.source.next_frame().expect("frame").expect("endless");
        let mut wire = Vec::new();
        for encoded in self.encoder.encode(&frame).expect("encode") {
            let payloads = self.packetizer.packetize(&encoded);
            let n = payloads.len();
            for (i, p) in payloads.into_iter().enumerate() {
                wire.push((self.seq, encoded.pts_90k as u32, i + 1 == n, p));
                self.seq += 1;
            }
        }
        wire
    }
}

struct Receiver {
    assembler: FrameAssembler,
    decoder: Vp8Decoder,
    counters: Vec<u32>,
    requests: u32,
}

impl Receiver {
    fn new() -> Self {
        Self {
            assembler: FrameAssembler::default(),
            decoder: Vp8Decoder::new().expect("decoder"),
            counters: Vec::new(),
            requests: 0,
        }
    }

    fn receive(&mut self, packets: &[Wire], now_ms: u64) -> bool {
        let mut requested = false;
        for (seq, ts, marker, payload) in packets {
            let out = self
                .assembler
                .insert(*seq, *ts, *marker, payload, now_ms)
                .expect("valid payload");
            requested |= out.request_keyframe;
            for frame in out.frames {
                let picture = self
                    .decoder
                    .decode(&frame.data)
                    .expect("decodable")
                    .expect("a picture");
                self.counters
                    .push(read_stamp(&picture).expect("stamp").counter);
            }
        }
        self.requests += u32::from(requested);
        requested
    }
}

#[test]
fn frames_survive_packetization_and_reordering() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    let mut largest = 0;
    for i in 0..30 {
        let mut packets = tx.frame();
        largest = largest.max(packets.len());
        packets.reverse(); // worst-case reordering inside the frame
        assert!(!rx.receive(&packets, i * 33));
    }
    assert!(largest > 1, "the keyframe should need several packets");
    assert_eq!(rx.counters, (0..30).collect::<Vec<_>>());
    assert_eq!(rx.assembler.stats().frames_dropped, 0);
}

#[test]
fn a_lost_packet_drops_frames_until_the_requested_keyframe() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    for i in 0..10 {
        rx.receive(&tx.frame(), i * 33);
    }
    let mut lossy = tx.frame(); // frame 10 loses its first packet
    lossy.remove(0);
    assert!(
        !rx.receive(&lossy, 330),
        "no request until a later frame shows the gap"
    );
    // Frame 11 completes: 10 is gone, 11 is a delta built on it — dropped, keyframe requested.
    assert!(rx.receive(&tx.frame(), 363));
    rx.receive(&tx.frame(), 396); // frame 12: still waiting (request rate-limited)
    tx.encoder.request_keyframe();
    rx.receive(&tx.frame(), 429); // frame 13: the keyframe
    rx.receive(&tx.frame(), 462);
    let expected: Vec<u32> = (0..10).chain([13, 14]).collect();
    assert_eq!(rx.counters, expected);
    let stats = rx.assembler.stats();
    assert_eq!((stats.frames_dropped, stats.keyframe_requests), (3, 1));
}

#[test]
fn joining_mid_stream_waits_for_a_keyframe_and_duplicates_do_nothing() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    for _ in 0..5 {
        tx.frame(); // sent before we joined
    }
    assert!(
        rx.receive(&tx.frame(), 0),
        "a delta first: ask for a keyframe"
    );
    assert!(!rx.receive(&tx.frame(), 100), "requests are rate-limited");
    assert!(
        rx.receive(&tx.frame(), 400),
        "and repeated while none comes"
    );
    tx.encoder.request_keyframe();
    let key = tx.frame();
    rx.receive(&key, 433);
    rx.receive(&key, 434);
    assert_eq!(rx.counters, vec![8]);
}

/// Deterministic random packets (the libFuzzer target in `fuzz/` explores further): any bytes,
/// sequence numbers and markers in any order give frames or typed errors, never a panic.
#[test]
fn random_packets_never_panic() {
    let mut rng = crate::measure::TestRng::new(0xdead_beef);
    let mut next = || rng.next_u32();
    let mut assembler = FrameAssembler::default();
    for i in 0..20_000u64 {
        let len = (next() % 24) as usize;
        let payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let seq = u64::from(next() % 64) + i / 8;
        let _ = parse_payload(&payload);
        let _ = assembler.insert(seq, next() % 4, next() % 3 == 0, &payload, i);
    }
}
