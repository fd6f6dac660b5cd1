//! Audio under packet loss, scored like a listener would: speech (espeak-ng) → our Opus encoder
//! (48 kbit/s, 20 ms, deep redundancy, FEC told the loss rate) → random i.i.d. loss → our jitter
//! buffer with FEC, deep redundancy (DRED) and PLC → wideband PESQ (ITU-T P.862.2, the PyPI
//! `pesq` package) against the clean speech.
//!
//! Two yardsticks: the same packets decoded offline with hindsight (FEC from the next packet
//! whenever it arrived, else PLC; no DRED), which our real-time path must come within 0.15 of; and the reference measured with Debian's libopus 1.3.1
//! and the same settings, which we must not fall more than 0.15 below (its speech sample and codec
//! version differ). The table is printed every run; `docs/BENCHMARKS.md` quotes it.
//!
//! Needs `espeak-ng` and a Python with `pesq` (`cargo xtask test` provides both; the Python is
//! `$RUNDE_PESQ_PYTHON`, or `target/tools/pesq-venv/bin/python`). Missing tools fail the test.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use runde_media::audio::resample::resample_clip;
use runde_media::audio::{FRAME_10MS, FRAME_20MS, read_wav_resampled, write_wav_at};
use runde_media::codec::opus::{OpusConfig, OpusDecoder, OpusEncoder};
use runde_media::jitter::AudioJitterBuffer;
use runde_media::measure::TestRng;

const LOSS_PERCENT: [u32; 5] = [0, 5, 10, 20, 30];
const REFERENCE: [f64; 5] = [3.95, 3.18, 2.82, 2.16, 1.69];
const SEEDS: [u32; 3] = [11, 23, 37];
const TEXT: &str = "The quick brown fox jumps over the lazy dog. \
    Please call Stella and ask her to bring these things with her from the store. \
    We meet on Thursday at half past four in the small room next to the library. \
    Bring your notes, and do not forget the printed agenda for the board.";

type Check = Result<(), String>;

fn python() -> Result<PathBuf, String> {
    let path = match std::env::var_os("RUNDE_PESQ_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../target/tools/pesq-venv/bin/python"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: run `cargo xtask test` (it installs PESQ), or set RUNDE_PESQ_PYTHON",
            path.display()
        ))
    }
}

fn speech(dir: &Path) -> Result<Vec<f32>, String> {
    let wav = dir.join("speech-22k.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "en-gb", "-s", "150", "-w"])
        .arg(&wav)
        .arg(TEXT)
        .status()
        .map_err(|e| format!("espeak-ng: {e} (install espeak-ng; `cargo xtask test` does)"))?;
    if !status.success() {
        return Err(format!("espeak-ng failed: {status}"));
    }
    read_wav_resampled(&wav).map_err(|e| e.to_string())
}

/// i.i.d. loss with a fixed seed.
struct Loss {
    rng: TestRng,
    percent: u32,
}

impl Loss {
    fn drop_next(&mut self) -> bool {
        self.rng.next_u32() % 100 < self.percent
    }
}

/// One 20 ms packet as the sender made it and the link treated it.
struct Packet {
    payload: Vec<u8>,
    /// DTX packets of 1-2 bytes are not sent, as in WebRTC.
    sent: bool,
    /// Sent and not lost.
    arrived: bool,
}

/// Encode the speech as a sender would after the receiver reported `percent` loss (FEC on),
/// and let the link lose packets i.i.d. with that rate and seed.
fn send(speech: &[f32], percent: u32, seed: u32) -> Result<Vec<Packet>, String> {
    let mut encoder = OpusEncoder::new(OpusConfig::default()).map_err(|e| e.to_string())?;
    encoder
        .set_measured_loss(percent as f32 / 100.0)
        .map_err(|e| e.to_string())?;
    let mut loss = Loss {
        rng: TestRng::new(seed),
        percent,
    };
    speech
        .chunks_exact(FRAME_20MS)
        .map(|frame| {
            let payload = encoder.encode(frame).map_err(|e| e.to_string())?.to_vec();
            let sent = payload.len() > 2;
            let arrived = sent && !loss.drop_next();
            Ok(Packet {
                payload,
                sent,
                arrived,
            })
        })
        .collect()
}

/// The packets through the real-time receive path: one every 20 ms (no jitter), pulled every
/// 10 ms. Sent packets take the next sequence number whether the link loses them or not.
fn through_link(speech: &[f32], percent: u32, seed: u32) -> Result<Vec<f32>, String> {
    let packets = send(speech, percent, seed)?;
    let mut jb = AudioJitterBuffer::new().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(speech.len() + 9600);
    let mut frame = vec![0.0; FRAME_10MS];
    let mut seq = 0u16;
    // Run on past the last packet so the tail plays out too.
    for tick in 0..packets.len() * 2 + 20 {
        let now = tick as u64 * 10;
        if let Some(p) = packets.get(tick / 2).filter(|p| tick % 2 == 0 && p.sent) {
            if p.arrived {
                jb.insert(seq, (tick / 2 * FRAME_20MS) as u32, &p.payload, now);
            }
            seq = seq.wrapping_add(1);
        }
        jb.pull(now, &mut frame).map_err(|e| e.to_string())?;
        out.extend_from_slice(&frame);
    }
    if seed == SEEDS[0] {
        let s = jb.stats();
        println!(
            "    {percent:>2} % loss: lost {}, FEC-recovered {}, rebuilt from DRED {}, concealed {} ms, target {} ms, mean delay {:.0} ms, removed {} ms, inserted {} ms",
            s.packets_lost,
            s.fec_recovered,
            s.dred_recovered,
            s.concealed_samples / 48,
            s.target_delay_ms,
            s.mean_emitted_delay_ms(),
            s.removed_samples / 48,
            s.inserted_samples / 48
        );
    }
    Ok(out)
}

/// The same packets decoded offline with hindsight: a lost packet is rebuilt from the next one's
/// FEC whenever that one arrived, else concealed; no timing at all. The best a receive path can
/// do with FEC and concealment alone, so the gap to it is what our jitter buffer costs (deep
/// redundancy lets ours pass it at high loss).
fn offline_ideal(speech: &[f32], percent: u32, seed: u32) -> Result<Vec<f32>, String> {
    let packets = send(speech, percent, seed)?;
    let mut decoder = OpusDecoder::new().map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(speech.len());
    let mut buf = vec![0.0; 5760];
    for (i, p) in packets.iter().enumerate() {
        let next = packets.get(i + 1).filter(|next| next.arrived);
        let n = if p.arrived {
            decoder
                .decode(&p.payload, &mut buf)
                .map_err(|e| e.to_string())?
        } else if !p.sent {
            buf[..FRAME_20MS].fill(0.0);
            FRAME_20MS
        } else if let Some(next) = next {
            decoder
                .recover(&next.payload, &mut buf[..FRAME_20MS])
                .map_err(|e| e.to_string())?
        } else {
            decoder
                .conceal(&mut buf[..FRAME_20MS])
                .map_err(|e| e.to_string())?
        };
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

const SCORER: &str = r#"
import json, sys, wave
import numpy as np
from pesq import pesq

def load(path):
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)

ref = load(sys.argv[1])
print(json.dumps({p: pesq(16000, ref, load(p), "wb") for p in sys.argv[2:]}))
"#;

fn score(python: &Path, reference: &Path, degraded: &[PathBuf]) -> Result<Vec<f64>, String> {
    let out = Command::new(python)
        .arg("-c")
        .arg(SCORER)
        .arg(reference)
        .args(degraded)
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "PESQ scoring failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let scores: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("PESQ output: {e}"))?;
    degraded
        .iter()
        .map(|p| {
            scores[p.to_string_lossy().as_ref()]
                .as_f64()
                .ok_or_else(|| format!("no score for {}", p.display()))
        })
        .collect()
}

fn run(dir: &Path) -> Check {
    let python = python()?;
    let clean = speech(dir)?;
    println!(
        "    speech: {:.1} s from espeak-ng",
        clean.len() as f64 / 48_000.0
    );
    let to_16k = |x: &[f32]| resample_clip(x, 48_000, 16_000).map_err(|e| e.to_string());
    let reference = dir.join("ref.wav");
    write_wav_at(&reference, &to_16k(&clean)?, 16_000).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for percent in LOSS_PERCENT {
        for seed in SEEDS {
            let received = through_link(&clean, percent, seed)?;
            let path = dir.join(format!("loss{percent}-seed{seed}.wav"));
            write_wav_at(&path, &to_16k(&received)?, 16_000).map_err(|e| e.to_string())?;
            files.push(path);
            let ideal = offline_ideal(&clean, percent, seed)?;
            let path = dir.join(format!("ideal{percent}-seed{seed}.wav"));
            write_wav_at(&path, &to_16k(&ideal)?, 16_000).map_err(|e| e.to_string())?;
            files.push(path);
        }
    }
    let scores = score(&python, &reference, &files)?;
    println!(
        "\n    | loss | Runde (mean of {} seeds) | offline ideal, same codec | reference, libopus 1.3.1 | Runde − reference |",
        SEEDS.len()
    );
    println!("    |---:|---:|---:|---:|---:|");
    let mut failures = Vec::new();
    for (i, percent) in LOSS_PERCENT.iter().enumerate() {
        let runs = &scores[i * 2 * SEEDS.len()..(i + 1) * 2 * SEEDS.len()];
        let mean =
            |offset: usize| runs.iter().skip(offset).step_by(2).sum::<f64>() / SEEDS.len() as f64;
        let (ours, ideal) = (mean(0), mean(1));
        let diff = ours - REFERENCE[i];
        println!(
            "    | {percent} % | {ours:.2} | {ideal:.2} | {:.2} | {diff:+.2} |",
            REFERENCE[i]
        );
        // What the real-time receive path costs against hindsight: at most 0.15 at every loss rate.
        if ours < ideal - 0.15 {
            failures.push(format!(
                "{percent} % loss: {ours:.2} is more than 0.15 below the offline ideal {ideal:.2}"
            ));
        }
        // Against the reference: within 0.1 of it at every loss rate.
        if diff < -0.1 {
            failures.push(format!(
                "{percent} % loss: {ours:.2} < reference {:.2} - 0.1",
                REFERENCE[i]
            ));
        }
    }
    println!();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("runde-loss-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    println!("\nrunning 1 test");
    let result = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => {
            println!("test speech_under_loss_scores_near_the_ideal_and_the_reference ... ok");
            println!(
                "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "test speech_under_loss_scores_near_the_ideal_and_the_reference ... FAILED\n    {e}"
            );
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n"
            );
            ExitCode::FAILURE
        }
    }
}
