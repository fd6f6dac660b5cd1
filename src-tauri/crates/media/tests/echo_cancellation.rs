//! Echo cancellation on real speech through a simulated echo path.
//!
//! The far end (an English voice) plays through a "room": 60 ms of delay, three reflections, −6 dB
//! and more, plus a noise floor. The near end (a German voice) talks when the far end is quiet.
//! After convergence the echo must be at least 20 dB down (ERLE), and the near end's speech must
//! come through, alone and in double talk (correlation with the clean near-end signal).
//!
//! Needs `espeak-ng` (`cargo xtask test` installs it); without it the test fails, it never skips.

#![allow(clippy::expect_used)] // a test file: a broken helper should fail the test loudly

use std::path::PathBuf;
use std::process::Command;

use runde_media::audio::processing::{AudioProcessor, ProcessingConfig};
use runde_media::audio::{FRAME_10MS, read_wav_resampled};
use runde_media::measure::{align, rms_dbfs};

const RATE: usize = 48_000;

fn speak(voice: &str, text: &str) -> Vec<f32> {
    let path: PathBuf =
        std::env::temp_dir().join(format!("runde-aec-{}-{voice}.wav", std::process::id()));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&path)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed (cargo xtask test installs it)");
    assert!(status.success(), "espeak-ng failed");
    let samples = read_wav_resampled(&path).expect("espeak-ng output");
    std::fs::remove_file(&path).ok();
    samples
}

/// Deterministic white noise at `dbfs`.
fn noise(len: usize, dbfs: f64) -> Vec<f32> {
    let amplitude = 10f64.powf(dbfs / 20.0) * 3f64.sqrt();
    let mut rng = runde_media::measure::TestRng::new(0x9e37_79b9);
    (0..len)
        .map(|_| ((f64::from(rng.next_u32()) / f64::from(u32::MAX) * 2.0 - 1.0) * amplitude) as f32)
        .collect()
}

/// The room: direct echo after 60 ms at −6 dB, reflections 5 and 15 ms later at −14 and −20 dB.
fn echo_path(far: &[f32]) -> Vec<f32> {
    let taps = [(2880usize, 0.5f32), (3120, 0.2), (3600, 0.1)];
    let mut echo = vec![0.0; far.len()];
    for (delay, gain) in taps {
        for i in delay..far.len() {
            echo[i] += gain * far[i - delay];
        }
    }
    echo
}

/// Second-order high-pass (RBJ biquad) at 200 Hz, applied the same way to both signals compared.
fn high_pass(x: &[f32]) -> Vec<f32> {
    let w0 = std::f64::consts::TAU * 200.0 / RATE as f64;
    let alpha = w0.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
    let cos = w0.cos();
    let a0 = 1.0 + alpha;
    let (b0, b1, b2) = (
        (1.0 + cos) / 2.0 / a0,
        -(1.0 + cos) / a0,
        (1.0 + cos) / 2.0 / a0,
    );
    let (a1, a2) = (-2.0 * cos / a0, (1.0 - alpha) / a0);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    x.iter()
        .map(|&s| {
            let s = f64::from(s);
            let y = b0 * s + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
            (x2, x1, y2, y1) = (x1, s, y1, y);
            y as f32
        })
        .collect()
}

fn place(total: usize, at: usize, signal: &[f32]) -> Vec<f32> {
    let mut v = vec![0.0; total];
    let end = (at + signal.len()).min(total);
    v[at..end].copy_from_slice(&signal[..end - at]);
    v
}

#[test]
fn echo_is_cancelled_by_20_db_and_near_speech_survives() {
    let far_speech = speak(
        "en-gb",
        "Good morning everyone. Thank you for joining this meeting today. \
         We will first look at the budget, and then at the plans for next year.",
    );
    let near_speech = speak(
        "de",
        "Guten Morgen. Ich habe eine Frage zum Haushalt, bitte.",
    );
    let total = 19 * RATE;
    // Far end talks from 0 s (for up to 8 s); the near end from 9 s, when the far end is quiet;
    // from 14 s both talk at once (double talk).
    let far_part = &far_speech[..far_speech.len().min(8 * RATE)];
    let near_part = &near_speech[..near_speech.len().min(4 * RATE)];
    let far: Vec<f32> = place(total, 0, far_part)
        .iter()
        .zip(place(total, 14 * RATE, &far_part[RATE..]))
        .map(|(a, b)| a + b)
        .collect();
    let near: Vec<f32> = place(total, 9 * RATE, near_part)
        .iter()
        .zip(place(total, 14 * RATE, near_part))
        .map(|(a, b)| a + b)
        .collect();
    let echo = echo_path(&far);
    let floor = noise(total, -60.0);
    let mic: Vec<f32> = (0..total).map(|i| echo[i] + near[i] + floor[i]).collect();

    let mut apm = AudioProcessor::new(ProcessingConfig {
        echo_cancellation: true,
        noise_suppression: None,
        gain_control: false,
    });
    let mut out = mic.clone();
    for (far_frame, mic_frame) in far
        .chunks_exact(FRAME_10MS)
        .zip(out.chunks_exact_mut(FRAME_10MS))
    {
        apm.far_end(far_frame).expect("far end");
        apm.near_end(mic_frame).expect("near end");
    }

    // ERLE over the far-end-only stretch after 4 s of convergence: echo in vs echo out.
    let span = 4 * RATE..8 * RATE;
    let erle = rms_dbfs(&mic[span.clone()]) - rms_dbfs(&out[span.clone()]);
    // Near-end speech alone (9–13 s): what comes out must be the near end.
    let near_span = 9 * RATE..13 * RATE;
    // The canceller high-passes its input (as WebRTC's does); compare above 200 Hz, where speech
    // intelligibility lives, by filtering both signals alike.
    let (near_hp, out_hp) = (high_pass(&near), high_pass(&out));
    let (lag, corr) = align(&near_hp[near_span.clone()], &out_hp[near_span.start..], 960);
    let near_loss = rms_dbfs(&near[near_span.clone()]) - rms_dbfs(&out[near_span.clone()]);
    // Syllable by syllable: the loudness contour of the output follows the near end's.
    let contour = |x: &[f32]| -> Vec<f32> {
        x.chunks_exact(FRAME_10MS)
            .map(|f| rms_dbfs(f).max(-70.0) as f32)
            .collect()
    };
    let contour_corr = runde_media::measure::correlation(
        &contour(&near_hp[near_span.clone()]),
        &contour(&out_hp[near_span.start + lag..near_span.end + lag]),
    );
    println!(
        "ERLE {erle:.1} dB (canceller's own estimate {:?}); near end: loudness contour correlation \
         {contour_corr:.3}, waveform correlation {corr:.3} at {lag} samples, level change {:.1} dB",
        apm.stats().erle_db,
        -near_loss
    );
    // Double talk (14–18 s): the near end is not suppressed while the far end talks.
    let dt = 14 * RATE..18 * RATE;
    let dt_corr = runde_media::measure::correlation(
        &contour(&near_hp[dt.clone()]),
        &contour(&out_hp[dt.start + lag..dt.end + lag]),
    );
    let dt_loss = rms_dbfs(&near[dt.clone()]) - rms_dbfs(&out[dt.clone()]);
    println!(
        "double talk: contour correlation {dt_corr:.3}, near-end level change {:.1} dB",
        -dt_loss
    );
    assert!(erle >= 20.0, "echo only {erle:.1} dB down");
    assert!(
        dt_corr > 0.8,
        "near end suppressed in double talk: contour correlation {dt_corr:.3}"
    );
    assert!(
        dt_loss < 6.0,
        "near end {dt_loss:.1} dB quieter in double talk"
    );
    // The canceller works in frequency bands (WebRTC's three-band split), which shifts phase and
    // delays the signal by ~9 ms: the waveform changes while the speech does not. So the contour
    // must match closely, the waveform only broadly.
    assert!(
        contour_corr > 0.95,
        "near-end speech damaged: contour correlation {contour_corr:.3}"
    );
    assert!(
        corr > 0.6,
        "near-end waveform unlike the input: correlation {corr:.3}"
    );
    assert!(
        near_loss.abs() < 3.0,
        "near-end level changed by {near_loss:.1} dB"
    );
}
