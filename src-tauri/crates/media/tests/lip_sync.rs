//! Lip sync through the real receive path: Opus packets through the audio jitter buffer, video
//! frames through video playout, tied together by sender reports — on simulated networks where
//! one stream is much slower than the other. What is measured is what a viewer perceives: at the
//! moment each frame appears, the capture time of the sound being heard minus the capture time
//! of the picture being seen.
#![allow(clippy::print_stdout)] // the measured skew is the point of the test

use std::collections::BTreeMap;

use runde_media::audio::{AudioSource, FRAME_10MS, FRAME_20MS, Tone};
use runde_media::codec::opus::{OpusConfig, OpusEncoder};
use runde_media::jitter::AudioJitterBuffer;
use runde_media::measure::TestRng;
use runde_media::sync::{AvSync, SenderReport};
use runde_media::video::VideoPlayout;

/// The sender's wall clock runs this far ahead of the receiver's.
const SENDER_CLOCK_OFFSET_MS: u64 = 3_900_000_000_123;
const AUDIO_RTP_START: u32 = 0xffff_0000;
const VIDEO_RTP_START: u32 = 1_234_567;
const SECONDS: u64 = 20;

struct Network {
    base_ms: u64,
    jitter_ms: u64,
}

#[derive(Debug)]
enum Arrival {
    Audio {
        seq: u16,
        rtp: u32,
        payload: Vec<u8>,
    },
    Video {
        rtp: u32,
        captured_ms: u64,
    },
    AudioReport(SenderReport),
    VideoReport(SenderReport),
}

fn ntp(ms: u64) -> u64 {
    ((ms / 1000) << 32) | (((ms % 1000) << 32) / 1000)
}

fn audio_rtp(captured_ms: u64) -> u32 {
    AUDIO_RTP_START.wrapping_add((captured_ms * 48) as u32)
}

fn video_rtp(captured_ms: u64) -> u32 {
    VIDEO_RTP_START.wrapping_add((captured_ms * 90) as u32)
}

/// Everything the sender sends in `SECONDS`, keyed by arrival time: a tone that speaks 400 ms and
/// pauses 200 ms (pauses are where the jitter buffer may stretch), 30 fps video, sender reports
/// every second.
fn send(audio: &Network, video: &Network, seed: u32) -> BTreeMap<(u64, u64), Arrival> {
    let mut rng = TestRng::new(seed);
    let mut jitter = |net: &Network| net.base_ms + (rng.next_f32() * net.jitter_ms as f32) as u64;
    let mut arrivals = BTreeMap::new();
    let mut order = 0u64;
    let mut add = |at: u64, what: Arrival, arrivals: &mut BTreeMap<(u64, u64), Arrival>| {
        order += 1;
        arrivals.insert((at, order), what);
    };
    let Ok(mut encoder) = OpusEncoder::new(OpusConfig::default()) else {
        panic!("Opus encoder");
    };
    let mut tone = Tone::new(440.0, 0.3);
    let mut pcm = vec![0.0; FRAME_20MS];
    for (seq, captured) in (0..SECONDS * 1000).step_by(20).enumerate() {
        let _ = tone.read(&mut pcm);
        if captured % 600 >= 400 {
            pcm.fill(0.0);
        }
        let Ok(payload) = encoder.encode(&pcm) else {
            panic!("Opus encode");
        };
        let payload = payload.to_vec();
        if payload.len() > 2 {
            let what = Arrival::Audio {
                seq: seq as u16,
                rtp: audio_rtp(captured),
                payload,
            };
            add(captured + jitter(audio), what, &mut arrivals);
        }
    }
    for i in 0..SECONDS * 30 {
        let captured = i * 1000 / 30;
        let what = Arrival::Video {
            rtp: video_rtp(captured),
            captured_ms: captured,
        };
        add(captured + jitter(video), what, &mut arrivals);
    }
    for second in 0..SECONDS {
        let at = second * 1000 + 5;
        let wall = ntp(at + SENDER_CLOCK_OFFSET_MS);
        add(
            at + audio.base_ms,
            Arrival::AudioReport(SenderReport {
                ntp_time: wall,
                rtp_time: audio_rtp(at),
            }),
            &mut arrivals,
        );
        add(
            at + video.base_ms,
            Arrival::VideoReport(SenderReport {
                ntp_time: wall,
                rtp_time: video_rtp(at),
            }),
            &mut arrivals,
        );
    }
    arrivals
}

struct Outcome {
    /// Audio capture time minus video capture time at each frame shown after the first 8 s.
    skews: Vec<f64>,
    audio_min_delay_ms: u64,
    frames_shown: u64,
}

/// The receiver: 1 ms steps, audio pulled every 10 ms, video polled when due.
fn receive(arrivals: BTreeMap<(u64, u64), Arrival>, lip_sync: bool) -> Outcome {
    let Ok(mut jitter) = AudioJitterBuffer::new() else {
        panic!("jitter buffer");
    };
    let mut playout: VideoPlayout<u64> = VideoPlayout::new();
    let mut sync = AvSync::new();
    let mut pending = arrivals.into_iter().peekable();
    let mut out = vec![0.0; FRAME_10MS];
    // The audio capture time of the frame now playing, and when it started.
    let mut hearing: Option<(f64, u64)> = None;
    let mut skews = Vec::new();
    for now in 0..(SECONDS + 1) * 1000 {
        while let Some(((at, _), _)) = pending.peek() {
            if *at > now {
                break;
            }
            let Some((_, what)) = pending.next() else {
                break;
            };
            match what {
                Arrival::Audio { seq, rtp, payload } => jitter.insert(seq, rtp, &payload, now),
                Arrival::Video { rtp, captured_ms } => playout.insert(rtp, now, captured_ms),
                Arrival::AudioReport(r) => sync.on_audio_sender_report(r),
                Arrival::VideoReport(r) => sync.on_video_sender_report(r),
            }
        }
        if now % 10 == 0 {
            if lip_sync {
                jitter.set_min_delay_ms(sync.audio_min_delay_ms());
            }
            if jitter.pull(now, &mut out).is_err() {
                panic!("pull");
            }
            if let Some(next) = jitter.playout_timestamp() {
                let playing = next.wrapping_sub(FRAME_10MS as u32);
                sync.on_audio_played(playing, now, jitter.delay_ms());
                let captured = f64::from(playing.wrapping_sub(AUDIO_RTP_START)) / 48.0;
                hearing = Some((captured, now));
            }
        }
        let video_sync = if lip_sync { Some(&mut sync) } else { None };
        if let (Some(captured), Some((audio_captured, since)), true) =
            (playout.poll(now, video_sync), hearing, now >= 8000)
        {
            let heard = audio_captured + (now - since) as f64;
            skews.push(heard - captured as f64);
        }
    }
    Outcome {
        skews,
        audio_min_delay_ms: sync.audio_min_delay_ms(),
        frames_shown: playout.stats().frames_shown,
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// ITU-R BT.1359 finds sound 45 ms early or 125 ms late detectable; aim far inside that.
fn assert_in_sync(label: &str, outcome: &Outcome) {
    let median = percentile(&outcome.skews, 0.5);
    let p95 = percentile(&outcome.skews, 0.95);
    println!(
        "{label}: |skew| median {median:.1} ms, p95 {p95:.1} ms over {} frames, audio min delay {} ms",
        outcome.skews.len(),
        outcome.audio_min_delay_ms
    );
    assert!(outcome.skews.len() > 300, "{label}: too few frames shown");
    assert!(median <= 12.0, "{label}: median skew {median:.1} ms");
    assert!(p95 <= 25.0, "{label}: p95 skew {p95:.1} ms");
}

#[test]
fn slow_video_makes_audio_wait() {
    let audio = Network {
        base_ms: 40,
        jitter_ms: 30,
    };
    let video = Network {
        base_ms: 180,
        jitter_ms: 40,
    };
    let unsynced = receive(send(&audio, &video, 11), false);
    let unsynced_median = percentile(&unsynced.skews, 0.5);
    println!("without lip sync: picture behind sound by {unsynced_median:.0} ms (median)");
    assert!(
        unsynced_median > 100.0,
        "the scenario must be out of sync without lip sync"
    );
    let synced = receive(send(&audio, &video, 11), true);
    assert_in_sync("slow video", &synced);
    assert!(
        synced.audio_min_delay_ms > 60,
        "audio waits for video: {}",
        synced.audio_min_delay_ms
    );
}

#[test]
fn slow_audio_makes_video_wait() {
    let audio = Network {
        base_ms: 90,
        jitter_ms: 80,
    };
    let video = Network {
        base_ms: 30,
        jitter_ms: 10,
    };
    let synced = receive(send(&audio, &video, 12), true);
    assert_in_sync("slow audio", &synced);
    assert_eq!(
        synced.audio_min_delay_ms, 0,
        "audio is not delayed when video is the faster stream"
    );
    assert!(synced.frames_shown > 500, "{}", synced.frames_shown);
}
