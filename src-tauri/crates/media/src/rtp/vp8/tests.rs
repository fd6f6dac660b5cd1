use super::*;
use crate::codec::vp8::TemporalLayer;
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
    let layer = |id, sync| Some(TemporalLayer { id, sync });
    assert_eq!((d.tl0_pic_idx, d.temporal), (Some(7), layer(1, false)));
    // TID 2 with Y; K without T says nothing about the layer.
    let (d, _) = parse_payload(&[0x90, 0x60, 0x09, 0xa0, 0xdd]).expect("L, T");
    assert_eq!((d.tl0_pic_idx, d.temporal), (Some(9), layer(2, true)));
    let (d, data) = parse_payload(&[0x90, 0x10, 0x1f, 0xee]).expect("K only");
    assert_eq!((d.temporal, data), (None, &[0xee][..]));
    for bad in [
        &[][..],
        &[0x90][..],
        &[0x90, 0x80][..],
        &[0x90, 0x80, 0x81][..],
        &[0x10][..],
        &[0x90, 0x60, 0x09][..],
        &[0x90, 0x40][..],
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
    /// Every frame a reference: a lost frame breaks the chain.
    fn new() -> Self {
        Self::with_layers(1)
    }

    fn with_layers(temporal_layers: u8) -> Self {
        let config = Vp8Config {
            temporal_layers,
            ..Vp8Config::camera(640, 360)
        };
        Self {
            source: TestPattern::new(640, 360, 30).expect("pattern"),
            encoder: Vp8Encoder::new(config).expect("encoder"),
            // Small packets, so that delta frames take several too.
            packetizer: Vp8Packetizer::new(300, 300),
            seq: 100_000,
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
}

impl Receiver {
    fn new() -> Self {
        Self {
            assembler: FrameAssembler::default(),
            decoder: Vp8Decoder::new().expect("decoder"),
            counters: Vec::new(),
        }
    }

    /// Take these packets at `now_ms`; whether a keyframe is still needed after them.
    fn receive(&mut self, packets: &[Wire], now_ms: u64) -> bool {
        let mut needed = false;
        for (seq, ts, marker, payload) in packets {
            let out = self
                .assembler
                .insert(*seq, *ts, *marker, payload, now_ms)
                .expect("valid payload");
            needed = self.decode(out);
        }
        needed
    }

    /// Let time pass to `now_ms`; whether the assembler said a keyframe is needed.
    fn tick(&mut self, now_ms: u64) -> bool {
        let out = self.assembler.poll(now_ms);
        self.decode(out)
    }

    fn decode(&mut self, out: AssemblerOutput) -> bool {
        for frame in out.frames {
            let picture = self
                .decoder
                .decode(&frame.data)
                .expect("decodable")
                .expect("a picture");
            self.counters
                .push(read_stamp(&picture).expect("stamp").counter);
        }
        out.request_keyframe
    }
}

/// A receiver that has decoded frames 0..n (sent at 33 ms intervals, arriving at once).
fn streaming(n: u32) -> (Sender, Receiver) {
    streaming_from(Sender::new(), n)
}

fn streaming_from(mut tx: Sender, n: u32) -> (Sender, Receiver) {
    let mut rx = Receiver::new();
    for i in 0..n {
        rx.receive(&tx.frame(), u64::from(i) * 33);
    }
    assert_eq!(rx.counters, (0..n).collect::<Vec<_>>());
    (tx, rx)
}

#[test]
fn frames_survive_packetization_and_reordering() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    let mut largest = 0;
    for i in 0..30 {
        let mut packets = tx.frame();
        largest = largest.max(packets.len());
        packets.reverse(); // worst-case reordering inside the frame
        rx.receive(&packets, i * 33);
    }
    assert!(largest > 2, "the keyframe should need several packets");
    assert_eq!(rx.counters, (0..30).collect::<Vec<_>>());
    assert_eq!(rx.assembler.stats().frames_dropped, 0);
}

#[test]
fn a_retransmitted_packet_completes_its_frame_and_the_frames_after_it() {
    let (mut tx, mut rx) = streaming(10);
    let mut lossy = tx.frame(); // frame 10 loses its first packet...
    let lost = lossy.remove(0);
    rx.receive(&lossy, 330);
    // ...frames 11 and 12 arrive whole, but depend on 10: they wait.
    assert!(!rx.receive(&tx.frame(), 363));
    assert!(!rx.tick(380));
    assert!(!rx.receive(&tx.frame(), 396));
    assert_eq!(rx.counters.len(), 10);
    // The retransmission comes a NACK round later: all three go out, in order.
    assert!(!rx.receive(&[lost], 430));
    assert_eq!(rx.counters, (0..13).collect::<Vec<_>>());
    let stats = rx.assembler.stats();
    assert_eq!((stats.frames_dropped, stats.packets_recovered), (0, 1));
}

/// Frames 0..10 decoded, then frame 10 loses its first packet; the rest of it shows the hole at
/// 330 ms and frames 11 and 12 follow whole. Before any retransmission was seen, the wait is
/// 300 ms: no keyframe is needed before 630 ms. Returns the lost packet.
fn lose_a_packet_and_wait_for_it(tx: &mut Sender, rx: &mut Receiver) -> Wire {
    let mut lossy = tx.frame();
    let lost = lossy.remove(0);
    rx.receive(&lossy, 330);
    rx.receive(&tx.frame(), 363);
    rx.receive(&tx.frame(), 396);
    for now in (400..630).step_by(10) {
        assert!(!rx.tick(now), "still waiting at {now} ms");
    }
    assert!(rx.tick(630), "overdue at 630 ms: a keyframe is needed");
    assert_eq!(rx.counters.len(), 10);
    lost
}

#[test]
fn a_packet_that_never_comes_brings_a_keyframe_request_at_the_deadline() {
    let (mut tx, mut rx) = streaming(10);
    lose_a_packet_and_wait_for_it(&mut tx, &mut rx);
    tx.encoder.request_keyframe();
    assert!(!rx.receive(&tx.frame(), 660), "the keyframe ends the need");
    rx.receive(&tx.frame(), 693);
    let expected: Vec<u32> = (0..10).chain([13, 14]).collect();
    assert_eq!(rx.counters, expected);
    assert_eq!(
        rx.assembler.stats().frames_dropped,
        3,
        "frames 10, 11 and 12"
    );
}

#[test]
fn a_retransmission_after_the_deadline_still_continues_the_picture() {
    // The keyframe request went out (or was lost): whichever comes first continues.
    let (mut tx, mut rx) = streaming(10);
    let lost = lose_a_packet_and_wait_for_it(&mut tx, &mut rx);
    assert!(!rx.receive(&[lost], 700));
    assert_eq!(rx.counters, (0..13).collect::<Vec<_>>());
}

#[test]
fn a_packet_later_than_any_retransmission_is_given_up() {
    let (mut tx, mut rx) = streaming(10);
    let lost = lose_a_packet_and_wait_for_it(&mut tx, &mut rx);
    // 600 ms after the hole showed, the frames are dropped; the packet is too late now.
    assert!(rx.tick(930));
    assert!(rx.receive(&[lost], 940), "still only a keyframe helps");
    assert!(rx.receive(&tx.frame(), 960));
    assert_eq!(rx.counters.len(), 10);
    assert_eq!(rx.assembler.stats().packets_late, 1);
}

#[test]
fn the_wait_follows_how_long_retransmissions_take() {
    let (mut tx, mut rx) = streaming(1);
    assert_eq!(
        rx.assembler.stats().recovery_wait_ms,
        300,
        "nothing learnt yet"
    );
    // Retransmissions that take 45 ms from the loss showing: the wait shrinks to one more NACK
    // round (100 ms) and 20 ms beyond that, but not below 150 ms.
    let mut now = 33;
    for _ in 0..5 {
        let mut packets = tx.frame();
        let lost = packets.remove(0);
        rx.receive(&packets, now);
        rx.receive(&tx.frame(), now + 5);
        rx.receive(&[lost], now + 45);
        now += 66;
    }
    assert_eq!(rx.assembler.stats().recovery_wait_ms, 165);
    // One that takes 200 ms: the wait grows to cover it and another round.
    let mut packets = tx.frame();
    let lost = packets.remove(0);
    rx.receive(&packets, now);
    rx.receive(&tx.frame(), now + 5);
    rx.receive(&[lost], now + 200);
    assert_eq!(rx.assembler.stats().recovery_wait_ms, 320);
    assert_eq!(rx.counters, (0..13).collect::<Vec<_>>(), "nothing was lost");
}

#[test]
fn a_keyframe_missing_a_packet_is_completed_by_its_retransmission() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    let mut key = tx.frame(); // the first frame is a keyframe of several packets
    assert!(key.len() > 2);
    let lost = key.remove(1);
    assert!(rx.receive(&key, 0), "nothing decodable yet");
    rx.receive(&tx.frame(), 33);
    rx.receive(&tx.frame(), 66);
    assert!(rx.counters.is_empty());
    assert!(
        !rx.receive(&[lost], 120),
        "the keyframe is whole: no more need"
    );
    assert_eq!(rx.counters, vec![0, 1, 2], "and the deltas after it follow");
}

#[test]
fn a_complete_keyframe_ends_any_wait() {
    let (mut tx, mut rx) = streaming(10);
    let mut lossy = tx.frame();
    lossy.remove(0);
    rx.receive(&lossy, 330);
    rx.receive(&tx.frame(), 363);
    tx.encoder.request_keyframe();
    assert!(!rx.receive(&tx.frame(), 396));
    let expected: Vec<u32> = (0..10).chain([12]).collect();
    assert_eq!(
        rx.counters, expected,
        "frame 12 is a keyframe: 10 and 11 are not waited for"
    );
}

#[test]
fn joining_mid_stream_waits_for_a_keyframe_and_duplicates_do_nothing() {
    let (mut tx, mut rx) = (Sender::new(), Receiver::new());
    for _ in 0..5 {
        tx.frame(); // sent before we joined
    }
    assert!(
        rx.receive(&tx.frame(), 0),
        "a delta first: a keyframe is needed"
    );
    assert!(rx.tick(100), "and still needed while none comes");
    tx.encoder.request_keyframe();
    let key = tx.frame();
    assert!(!rx.receive(&key, 133));
    rx.receive(&key, 134);
    assert_eq!(rx.counters, vec![6]);
    assert_eq!(rx.assembler.stats().packets_late, key.len() as u64);
}

#[test]
fn a_frame_the_decoder_could_not_use_needs_a_keyframe() {
    // A frame that did not decrypt or decode: the frames after it refer to a picture the decoder
    // never saw.
    let (mut tx, mut rx) = streaming(5);
    rx.assembler.reference_lost();
    assert!(rx.receive(&tx.frame(), 165));
    assert!(rx.receive(&tx.frame(), 198));
    tx.encoder.request_keyframe();
    assert!(!rx.receive(&tx.frame(), 231));
    rx.receive(&tx.frame(), 264);
    let expected: Vec<u32> = (0..5).chain([7, 8]).collect();
    assert_eq!(rx.counters, expected);
}

#[test]
fn sequence_numbers_that_jump_back_start_anew_instead_of_freezing() {
    // A sender that starts again with new sequence numbers, lower than before: its packets must
    // not all be taken for late ones.
    let (mut tx, mut rx) = streaming(5);
    tx.seq -= 20_000;
    tx.encoder.request_keyframe();
    rx.receive(&tx.frame(), 165);
    rx.receive(&tx.frame(), 198);
    assert_eq!(rx.counters, (0..7).collect::<Vec<_>>());
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
        if i % 16 == 0 {
            let _ = assembler.poll(i);
        }
    }
}

/// A receiver that has decoded frames 0..n of a sender with two temporal layers (even frames
/// are the base layer, odd ones the upper layer).
fn streaming_layers(n: u32) -> (Sender, Receiver) {
    streaming_from(Sender::with_layers(2), n)
}

#[test]
fn the_packetizer_counts_base_layer_frames_and_marks_the_upper_layer_in_sync() {
    let mut tx = Sender::with_layers(2);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (_, _, _, first) = tx.frame().remove(0);
        let (d, _) = parse_payload(&first).expect("descriptor");
        let (tl0, layer) = (d.tl0_pic_idx.expect("L"), d.temporal.expect("T"));
        seen.push((tl0, layer.id, layer.sync));
    }
    let t = seen[0].0;
    let next = |k: u8| t.wrapping_add(k);
    assert_eq!(
        seen,
        vec![
            (t, 0, false),
            (t, 1, true),
            (next(1), 0, false),
            (next(1), 1, true),
            (next(2), 0, false),
            (next(2), 1, true)
        ]
    );
}

#[test]
fn a_lost_upper_layer_frame_is_skipped_without_a_wait() {
    let (mut tx, mut rx) = streaming_layers(11);
    tx.frame(); // frame 11 (upper layer) is lost whole
    assert!(!rx.receive(&tx.frame(), 396), "no keyframe is needed");
    assert!(!rx.receive(&tx.frame(), 429));
    let expected: Vec<u32> = (0..11).chain([12, 13]).collect();
    assert_eq!(rx.counters, expected, "frame 12 went out as it came");
}

#[test]
fn an_upper_layer_frame_missing_a_packet_is_skipped_once_the_next_base_frame_is_whole() {
    let (mut tx, mut rx) = streaming_layers(11);
    let mut lossy = tx.frame();
    assert!(lossy.len() > 1, "frame 11 needs several packets");
    let lost = lossy.remove(lossy.len() / 2);
    rx.receive(&lossy, 363);
    assert!(!rx.receive(&tx.frame(), 396));
    let expected: Vec<u32> = (0..11).chain([12]).collect();
    assert_eq!(rx.counters, expected);
    // Its retransmission comes too late to matter, and harms nothing.
    assert!(!rx.receive(&[lost], 420));
    assert!(!rx.receive(&tx.frame(), 429));
    assert_eq!(rx.counters.last(), Some(&13));
    let stats = rx.assembler.stats();
    assert_eq!((stats.frames_dropped, stats.packets_late), (1, 1));
}

#[test]
fn a_base_layer_frame_missing_a_packet_is_still_waited_for() {
    let (mut tx, mut rx) = streaming_layers(10);
    // Frame 10 is a base-layer frame: 11 and 12 refer to it.
    let lost = lose_a_packet_and_wait_for_it(&mut tx, &mut rx);
    assert!(!rx.receive(&[lost], 700));
    assert_eq!(rx.counters, (0..13).collect::<Vec<_>>());
}

/// Janus renumbers what it forwards, so frames it does not forward leave no hole.
fn renumber(packets: Vec<Wire>, seq: &mut ExtSeq) -> Vec<Wire> {
    packets
        .into_iter()
        .map(|(_, ts, marker, payload)| {
            *seq += 1;
            (*seq, ts, marker, payload)
        })
        .collect()
}

#[test]
fn the_server_stopping_the_upper_layer_inside_a_frame_costs_that_frame_only() {
    let (mut tx, mut rx) = streaming_layers(11);
    let mut seq = tx.seq - 1;
    // The server forwards frame 11's first packet, then only the base layer.
    let cut = tx.frame();
    assert!(cut.len() > 1);
    rx.receive(&renumber(cut[..1].to_vec(), &mut seq), 363);
    let mut now = 396;
    for frame in 12..20 {
        let packets = tx.frame();
        if frame % 2 == 0 {
            assert!(!rx.receive(&renumber(packets, &mut seq), now), "at {frame}");
        }
        now += 33;
    }
    assert!(!rx.tick(now + 1000), "no keyframe was needed at any time");
    let expected: Vec<u32> = (0..11).chain([12, 14, 16, 18]).collect();
    assert_eq!(rx.counters, expected);
    assert_eq!(rx.assembler.stats().frames_dropped, 1);
}

#[test]
fn the_server_starting_the_upper_layer_inside_a_frame_costs_that_frame_only() {
    let (mut tx, mut rx) = streaming_layers(11);
    let mut seq = tx.seq - 1;
    tx.frame(); // 11: not forwarded
    rx.receive(&renumber(tx.frame(), &mut seq), 396); // 12
    // From the second packet of frame 13 on, the server forwards everything.
    let frame13 = tx.frame();
    assert!(frame13.len() > 1);
    assert!(!rx.receive(&renumber(frame13[1..].to_vec(), &mut seq), 429));
    assert!(!rx.receive(&renumber(tx.frame(), &mut seq), 462));
    assert!(!rx.receive(&renumber(tx.frame(), &mut seq), 495));
    let expected: Vec<u32> = (0..11).chain([12, 14, 15]).collect();
    assert_eq!(rx.counters, expected);
}

#[test]
fn a_frame_that_never_completes_is_given_up_when_nothing_skips_it() {
    let (mut tx, mut rx) = streaming_layers(11);
    let mut seq = tx.seq - 1;
    let cut = tx.frame(); // 11 loses its tail for good, and nothing follows for a while
    rx.receive(&renumber(cut[..1].to_vec(), &mut seq), 363);
    // The next frame begins, but its packets stop too.
    let next = tx.frame();
    assert!(next.len() > 1);
    rx.receive(&renumber(next[..1].to_vec(), &mut seq), 396);
    assert!(
        !rx.tick(500),
        "the next base-layer frame may still complete"
    );
    assert!(rx.tick(700), "it did not: a keyframe is needed");
    assert_eq!(rx.counters, (0..11).collect::<Vec<_>>());
}

/// A frame of a sender whose upper layer refers to itself (as libwebrtc's patterns do): one
/// packet, the descriptor with TL0PICIDX and TID/Y, VP8 data that is a keyframe or not.
fn layered(seq: ExtSeq, tl0: u8, tid: u8, sync: bool, keyframe: bool) -> Wire {
    let y = if sync { 0x20 } else { 0 };
    let data = if keyframe { 0x00 } else { 0x01 };
    let payload = vec![0x90, 0x60, tl0, (tid << 6) | y, data];
    (seq, seq as u32 * 3000, true, payload)
}

/// Frames of [`layered`] inserted 33 ms apart, none of which may need a keyframe: the frames
/// handed out (by their sequence numbers), and the assembler.
fn hand_out_without_keyframe_requests(frames: &[Wire]) -> (Vec<u32>, FrameAssembler) {
    let mut assembler = FrameAssembler::default();
    let mut out = Vec::new();
    for (i, (seq, ts, marker, payload)) in frames.iter().enumerate() {
        let got = assembler
            .insert(*seq, *ts, *marker, payload, i as u64 * 33)
            .expect("valid");
        assert!(!got.request_keyframe, "at {seq}");
        out.extend(got.frames.iter().map(|f| f.rtp_timestamp / 3000));
    }
    (out, assembler)
}

#[test]
fn upper_layer_frames_that_refer_to_a_skipped_one_wait_for_a_frame_in_sync() {
    let frames = [
        layered(1, 1, 0, false, true),
        layered(2, 1, 1, false, false),
        layered(3, 2, 0, false, false),
        // 4: (2, upper layer) lost
        layered(5, 3, 0, false, false),
        layered(6, 3, 1, false, false), // may refer to 4: dropped
        layered(7, 4, 0, false, false),
        layered(8, 4, 1, true, false), // in sync again
        layered(9, 4, 1, false, false),
    ];
    let (out, assembler) = hand_out_without_keyframe_requests(&frames);
    assert_eq!(out, vec![1, 2, 3, 5, 7, 8, 9]);
    assert_eq!(assembler.stats().frames_dropped, 1);
}

/// Frames 0..14 of a two-layer sender shown; on the way, two base-layer frames lost a packet
/// whose retransmission came 45 ms after the loss showed. Then upper-layer frame 15 loses its
/// first packet (the loss shows at 533 ms) and base-layer frame 16 comes whole at 566 ms.
/// Returns the lost packet.
fn lose_an_upper_layer_packet_where_retransmissions_take_45_ms(
    tx: &mut Sender,
    rx: &mut Receiver,
) -> Wire {
    let mut now = 330;
    for _ in 0..2 {
        let mut packets = tx.frame(); // a base-layer frame...
        let lost = packets.remove(0);
        rx.receive(&packets, now);
        rx.receive(&tx.frame(), now + 5); // ...and the upper-layer frame that refers to it
        rx.receive(&[lost], now + 45);
        now += 66;
    }
    rx.receive(&tx.frame(), 462);
    assert_eq!(rx.counters, (0..15).collect::<Vec<_>>());
    let mut packets = tx.frame();
    let lost = packets.remove(0);
    rx.receive(&packets, 533);
    assert!(!rx.receive(&tx.frame(), 566));
    assert_eq!(rx.counters.len(), 15, "frame 16 waits with 15 for a while");
    lost
}

#[test]
fn a_lost_upper_layer_packet_is_waited_for_as_long_as_retransmissions_usually_take() {
    let (mut tx, mut rx) = streaming_layers(10);
    let lost = lose_an_upper_layer_packet_where_retransmissions_take_45_ms(&mut tx, &mut rx);
    assert!(!rx.tick(590));
    assert!(
        !rx.receive(&[lost], 595),
        "52 ms after the loss showed: in time"
    );
    assert_eq!(rx.counters, (0..17).collect::<Vec<_>>());
}

#[test]
fn a_lost_upper_layer_packet_that_does_not_come_again_in_the_usual_time_is_skipped() {
    let (mut tx, mut rx) = streaming_layers(10);
    lose_an_upper_layer_packet_where_retransmissions_take_45_ms(&mut tx, &mut rx);
    // The usual retransmission: 45 ms and a 20 ms margin.
    assert!(!rx.tick(597));
    assert_eq!(rx.counters.len(), 15);
    assert!(!rx.tick(598), "no keyframe is needed");
    let expected: Vec<u32> = (0..15).chain([16]).collect();
    assert_eq!(rx.counters, expected);
}

#[test]
fn frames_in_order_go_out_whatever_counts_their_descriptors_carry() {
    // A sender that never counts its base-layer frames, and a keyframe with any count: in
    // order, nothing is missing, so nothing is dropped.
    let frames = [
        layered(1, 5, 0, false, true),
        layered(2, 5, 0, false, false),
        layered(3, 5, 1, false, false),
        layered(4, 5, 0, false, false),
        layered(5, 200, 0, false, true),
        layered(6, 7, 0, false, false),
    ];
    let (out, _) = hand_out_without_keyframe_requests(&frames);
    assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
}

/// 300 frames with `percent` of the packets lost at random and nothing retransmitted; the
/// receiver asks for a keyframe (granted at most every 10 frames) when it needs one. Every frame
/// handed out must decode to its own picture (the stamp's checksum fails on a picture decoded
/// from the wrong reference) and in order. Returns the frames shown and the keyframes asked for.
fn under_loss(temporal_layers: u8, percent: u32, seed: u32) -> (usize, u32) {
    let (mut tx, mut rx) = (Sender::with_layers(temporal_layers), Receiver::new());
    tx.packetizer = Vp8Packetizer::new(1200, 300);
    let mut rng = crate::measure::TestRng::new(seed);
    let (mut keyframes, mut last_granted) = (0, 0);
    for i in 0..300u64 {
        let now = i * 33;
        let packets: Vec<Wire> = tx
            .frame()
            .into_iter()
            .filter(|_| rng.next_u32() % 100 >= percent)
            .collect();
        let mut needed = rx.receive(&packets, now);
        needed |= rx.tick(now + 16);
        if needed && i >= last_granted + 10 {
            tx.encoder.request_keyframe();
            keyframes += 1;
            last_granted = i;
        }
    }
    assert!(
        rx.counters.windows(2).all(|w| w[0] < w[1]),
        "frames go forwards"
    );
    (rx.counters.len(), keyframes)
}

/// Measured with more runs (three seeds each, 900 frames): 1 % loss 651 → 798 frames shown and
/// 24 → 6 keyframes asked for; 2 % 605 → 722 and 28 → 12; 5 % 313 → 512 and 56 → 28.
#[test]
fn under_random_loss_temporal_layers_show_more_frames_and_each_one_right() {
    let (mut one, mut three) = ((0, 0), (0, 0));
    for seed in [3, 11] {
        let (a, b) = (under_loss(1, 3, seed), under_loss(3, 3, seed));
        one = (one.0 + a.0, one.1 + a.1);
        three = (three.0 + b.0, three.1 + b.1);
    }
    println!("3 % loss, two runs: one layer {one:?}, three layers {three:?} (shown, keyframes)");
    assert!(three.0 > one.0 + one.0 / 10, "{one:?} {three:?}");
    assert!(three.1 < one.1, "{one:?} {three:?}");
}
