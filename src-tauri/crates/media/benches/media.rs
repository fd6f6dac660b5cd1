//! How fast each media stage runs on this machine, single-threaded, printed as a Markdown table.
//! Run with `cargo xtask bench` (release build). Numbers, not pass/fail: see docs/BENCHMARKS.md.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use runde_media::audio::processing::{AudioProcessor, ProcessingConfig};
use runde_media::audio::resample::StreamResampler;
use runde_media::audio::{AudioSource, FRAME_10MS, FRAME_20MS, LevelMeter, Tone};
use runde_media::codec::opus::{OpusConfig, OpusDecoder, OpusEncoder};
use runde_media::codec::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder};
use runde_media::jitter::AudioJitterBuffer;
use runde_media::video::convert::{i420_to_rgba, scale_i420};
use runde_media::video::{I420Frame, TestPattern, VideoSource, read_stamp};

/// Run `f` `n` times after a warm-up; return the mean time per run.
fn time(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(10) {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn row(what: &str, per: &str, value: String, note: String) {
    println!("| {what} | {per} | {value} | {note} |");
}

fn audio(seconds: f32) -> Vec<f32> {
    let mut t = Tone::new(220.0, 0.4);
    let mut v = vec![0.0; (seconds * 48_000.0) as usize];
    t.read(&mut v).unwrap();
    v
}

fn opus_rows() {
    let signal = audio(2.0);
    for (frame, label) in [(FRAME_20MS, "20 ms"), (FRAME_10MS, "10 ms")] {
        let config = OpusConfig {
            frame: if frame == FRAME_20MS {
                runde_media::codec::opus::FrameDuration::Ms20
            } else {
                runde_media::codec::opus::FrameDuration::Ms10
            },
            ..OpusConfig::default()
        };
        let mut enc = OpusEncoder::new(config).unwrap();
        enc.set_measured_loss(0.1).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut out = vec![0.0; 5760];
        let mut chunks = signal.chunks_exact(frame).cycle();
        let t = time(2000, || {
            let packet = enc.encode(chunks.next().unwrap()).unwrap().to_vec();
            black_box(dec.decode(&packet, &mut out).unwrap());
        });
        let share = t.as_secs_f64() / (frame as f64 / 48_000.0) * 100.0;
        row(
            "Opus encode + decode, 48 kbit/s, FEC on, deep redundancy (20 ms only)",
            label,
            us(t),
            format!("{share:.2} % of real time"),
        );
    }
    // Concealment is the expensive decoder path with deep PLC: time a lost packet after speech.
    let mut enc = OpusEncoder::new(OpusConfig::default()).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = vec![0.0; FRAME_20MS];
    let mut chunks = signal.chunks_exact(FRAME_20MS).cycle();
    let mut conceal_time = std::time::Duration::ZERO;
    let rounds = 500u32;
    for _ in 0..rounds {
        for _ in 0..3 {
            let packet = enc.encode(chunks.next().unwrap()).unwrap().to_vec();
            dec.decode(&packet, &mut out).unwrap();
        }
        let _ = enc.encode(chunks.next().unwrap()).unwrap();
        let start = Instant::now();
        black_box(dec.conceal(&mut out).unwrap());
        conceal_time += start.elapsed();
    }
    let t = conceal_time / rounds;
    row(
        "Opus concealment of a lost packet (deep PLC)",
        "20 ms",
        us(t),
        format!("{:.1} % of real time", t.as_secs_f64() / 0.02 * 100.0),
    );
}

fn receive_rows() {
    let signal = audio(4.0);
    let mut enc = OpusEncoder::new(OpusConfig::default()).unwrap();
    let packets: Vec<Vec<u8>> = signal
        .chunks_exact(FRAME_20MS)
        .map(|f| enc.encode(f).unwrap().to_vec())
        .collect();
    let mut frame = vec![0.0; FRAME_10MS];
    let start = Instant::now();
    let mut pulls = 0u32;
    for round in 0..5u64 {
        let mut jb = AudioJitterBuffer::new().unwrap();
        for (i, p) in packets.iter().enumerate() {
            let now = round * 10_000 + i as u64 * 20;
            jb.insert(i as u16, (i * FRAME_20MS) as u32, p, now);
            for half in 0..2 {
                jb.pull(now + half * 10, &mut frame).unwrap();
                pulls += 1;
            }
        }
    }
    let t = start.elapsed() / pulls;
    row(
        "Jitter buffer + Opus decode",
        "10 ms pulled",
        us(t),
        format!("{:.2} % of real time", t.as_secs_f64() / 0.01 * 100.0),
    );

    let mut r = StreamResampler::new(44_100, 48_000).unwrap();
    let input = vec![0.1f32; 441];
    let mut out = vec![0.0; 480];
    let t = time(5000, || {
        r.push(&input).unwrap();
        black_box(r.pop(&mut out));
    });
    row(
        "Resample 44.1 → 48 kHz (FFT, band-limited)",
        "10 ms",
        us(t),
        String::new(),
    );

    for (label, config) in [
        (
            "Echo cancellation (AEC3)",
            ProcessingConfig {
                echo_cancellation: true,
                noise_suppression: None,
                gain_control: false,
            },
        ),
        (
            "AEC3 + noise suppression + gain control",
            ProcessingConfig::default(),
        ),
    ] {
        let mut apm = AudioProcessor::new(config);
        let far: Vec<f32> = signal[..FRAME_10MS].to_vec();
        let mut near = signal[FRAME_10MS..2 * FRAME_10MS].to_vec();
        let t = time(3000, || {
            apm.far_end(&far).unwrap();
            apm.near_end(&mut near).unwrap();
        });
        row(
            label,
            "10 ms",
            us(t),
            format!("{:.1} % of real time", t.as_secs_f64() / 0.01 * 100.0),
        );
    }

    let mut meter = LevelMeter::default();
    let chunk = &signal[..FRAME_10MS];
    let t = time(20_000, || {
        black_box(meter.push(chunk));
    });
    row("Level meter", "10 ms", us(t), String::new());
}

fn vp8_rows() {
    for (w, h) in [(640u32, 360u32), (1280, 720)] {
        let mut source = TestPattern::new(w, h, 30).unwrap();
        let frames: Vec<I420Frame> = (0..90)
            .map(|_| source.next_frame().unwrap().unwrap())
            .collect();
        for cpu_used in [6, 10] {
            let bitrate = if h == 720 { 1500 } else { 800 };
            let mut enc = Vp8Encoder::new(Vp8Config {
                cpu_used,
                bitrate_kbps: bitrate,
                ..Vp8Config::camera(w, h)
            })
            .unwrap();
            let mut encoded = Vec::new();
            let start = Instant::now();
            for f in &frames {
                encoded.extend(enc.encode(f).unwrap());
            }
            let per = start.elapsed() / frames.len() as u32;
            let core = per.as_secs_f64() * 30.0 * 100.0;
            row(
                &format!("VP8 encode {w}×{h}, {bitrate} kbit/s, cpu-used {cpu_used}, 1 thread"),
                "frame",
                format!("{:.2} ms", per.as_secs_f64() * 1e3),
                format!(
                    "{:.0} fps max; {core:.0} % of one core at 30 fps",
                    1.0 / per.as_secs_f64()
                ),
            );
            if cpu_used == 6 {
                let mut dec = Vp8Decoder::new().unwrap();
                let start = Instant::now();
                let mut readable = 0;
                for e in &encoded {
                    if let Some(frame) = dec.decode(&e.data).unwrap() {
                        readable += usize::from(read_stamp(&frame).is_some());
                    }
                }
                let per = start.elapsed() / encoded.len() as u32;
                row(
                    &format!("VP8 decode {w}×{h}"),
                    "frame",
                    format!("{:.2} ms", per.as_secs_f64() * 1e3),
                    format!(
                        "{:.0} fps max; stamps readable in {readable}/{}",
                        1.0 / per.as_secs_f64(),
                        encoded.len()
                    ),
                );
            }
        }
    }
    let frame720 = TestPattern::new(1280, 720, 30)
        .unwrap()
        .next_frame()
        .unwrap()
        .unwrap();
    let t = time(100, || {
        black_box(scale_i420(&frame720, 640, 360).unwrap());
    });
    row(
        "Scale I420 1280×720 → 640×360 (bilinear)",
        "frame",
        us(t),
        String::new(),
    );
    let t = time(100, || {
        black_box(scale_i420(&frame720, 1066, 600).unwrap());
    });
    row(
        "Scale I420 1280×720 → 1066×600 (a large tile, for display)",
        "frame",
        us(t),
        String::new(),
    );
    let t = time(100, || {
        black_box(scale_i420(&frame720, 320, 180).unwrap());
    });
    row(
        "Scale I420 1280×720 → 320×180 (bilinear)",
        "frame",
        us(t),
        String::new(),
    );
    let frame360 = scale_i420(&frame720, 640, 360).unwrap();
    let mut rgba = Vec::new();
    let t = time(200, || {
        i420_to_rgba(&frame360, &mut rgba).unwrap();
    });
    row(
        "I420 → RGBA 640×360 (for display)",
        "frame",
        us(t),
        String::new(),
    );
    let t = time(100, || {
        i420_to_rgba(&frame720, &mut rgba).unwrap();
    });
    row(
        "I420 → RGBA 1280×720 (for display)",
        "frame",
        us(t),
        String::new(),
    );

    let mut pattern = TestPattern::new(640, 360, 30).unwrap();
    let t = time(200, || {
        black_box(pattern.next_frame().unwrap());
    });
    row(
        "Test pattern 640×360 with stamp",
        "frame",
        us(t),
        String::new(),
    );
}

fn main() {
    println!("\n| stage | per | time | note |");
    println!("|---|---|---:|---|");
    opus_rows();
    receive_rows();
    vp8_rows();
    println!();
}
