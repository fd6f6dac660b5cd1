//! Judging what came out of a call: speech alignment and similarity, tone frequency, frame
//! counters read back from received test-pattern video.

use std::path::Path;
use std::process::Command;

use runde_media::audio::read_wav_resampled;
use runde_media::measure::{correlation, dominant_frequency};
use runde_media::video::{VideoSource, Y4mSource, read_stamp};

use crate::process::find_program;
use crate::{Result, err};

/// Speech from espeak-ng (22 kHz WAV) at `path`.
pub fn speech(path: &Path, text: &str) -> Result<()> {
    let status = Command::new(find_program("espeak-ng")?)
        .args(["-v", "en", "-s", "150", "-w"])
        .arg(path)
        .arg(text)
        .status()
        .map_err(|e| err("espeak-ng", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(err("espeak-ng", status))
    }
}

/// 48 kHz mono samples of a WAV file of any rate.
pub fn wav(path: &Path) -> Result<Vec<f32>> {
    read_wav_resampled(path).map_err(|e| err(&path.display().to_string(), e))
}

/// RMS per 10 ms.
fn envelope(samples: &[f32]) -> Vec<f32> {
    samples
        .chunks(480)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len().max(1) as f32).sqrt())
        .collect()
}

/// How well a stretch of `received` matches the looped `sent`: the loudness contours'
/// correlation and the waveform correlation at the best alignment.
#[derive(Debug, Clone, Copy)]
pub struct SpeechMatch {
    /// Correlation of the 10 ms loudness contours (robust to codec phase changes).
    pub envelope: f64,
    /// Correlation of the waveforms, finely aligned.
    pub waveform: f64,
}

/// The loop position (in 10 ms steps) of `sent` whose loudness contour matches `piece` best, and
/// that correlation.
fn coarse_loop_position(looped: &[f32], loop_len: usize, piece: &[f32]) -> (usize, f64) {
    let env_sent = envelope(looped);
    let env_piece = envelope(piece);
    let positions = envelope(&looped[..loop_len]).len();
    (0..positions)
        .map(|p| {
            let stop = (p + env_piece.len()).min(env_sent.len());
            (p, correlation(&env_sent[p..stop], &env_piece))
        })
        .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a })
}

/// Around a coarse position (10 ms steps), each start within ±15 ms and how well `probe`
/// correlates with the looped signal there.
fn fine_starts<'a>(
    looped: &'a [f32],
    coarse: usize,
    probe: &'a [f32],
) -> impl Iterator<Item = (usize, f64)> + 'a {
    let centre = coarse * 480;
    (centre.saturating_sub(720)..=centre + 720)
        .filter(move |start| start + probe.len() <= looped.len())
        .map(move |start| {
            (
                start,
                correlation(&looped[start..start + probe.len()], probe),
            )
        })
}

/// Compare `window` samples of `received` starting at `from` with the looped `sent` signal.
pub fn match_speech(sent: &[f32], received: &[f32], from: usize, window: usize) -> SpeechMatch {
    let end = (from + window).min(received.len());
    let piece = &received[from.min(end)..end];
    let looped: Vec<f32> = sent.iter().chain(sent.iter()).copied().collect();
    let (coarse, envelope) = coarse_loop_position(&looped, sent.len(), piece);
    let waveform = fine_starts(&looped, coarse, piece)
        .map(|(_, c)| c)
        .fold(f64::MIN, f64::max);
    SpeechMatch { envelope, waveform }
}

/// Where in the looped `sent` signal a received `piece` starts (in samples, 10 ms resolution,
/// then refined to the sample within ±15 ms): to cut the matching stretch of the original for a
/// full-reference score such as PESQ.
pub fn loop_position(sent: &[f32], piece: &[f32]) -> usize {
    let looped: Vec<f32> = sent.iter().chain(sent.iter()).copied().collect();
    let (coarse, _) = coarse_loop_position(&looped, sent.len(), piece);
    let probe = &piece[..piece.len().min(48_000)];
    fine_starts(&looped, coarse, probe)
        .fold(
            (coarse * 480, f64::MIN),
            |a, b| if b.1 > a.1 { b } else { a },
        )
        .0
        % sent.len().max(1)
}

/// The dominant frequency of a stretch of audio.
pub fn tone_hz(samples: &[f32]) -> f64 {
    dominant_frequency(samples, 48_000)
}

/// The sound cues in a recording of what was played, in order: each as the frequencies of its
/// two notes (rounded to Hz) and its start in ms. A cue is a stretch of sound between silences;
/// anything shorter than a note is ignored.
pub fn cues(samples: &[f32]) -> Vec<(u32, [f64; 2])> {
    use runde_media::audio::cue::{GAP_MS, NOTE_MS};
    let per_ms = 48;
    let loud: Vec<bool> = samples
        .chunks(per_ms)
        .map(|ms| ms.iter().fold(0.0_f32, |m, s| m.max(s.abs())) > 0.05)
        .collect();
    // Runs of loud milliseconds.
    let mut notes = Vec::new();
    let mut start = None;
    for (i, is_loud) in loud.iter().chain([&false]).enumerate() {
        match (start, *is_loud) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                if i - s >= NOTE_MS / 2 {
                    notes.push((s, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    let hz = |(s, e): (usize, usize)| {
        let middle = &samples[(s + 20) * per_ms..(e.saturating_sub(20)).max(s + 21) * per_ms];
        tone_hz(middle).round()
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < notes.len() {
        let (a, b) = (notes[i], notes[i + 1]);
        if b.0 - a.1 <= GAP_MS + 20 {
            found.push((a.0 as u32, [hz(a), hz(b)]));
            i += 2;
        } else {
            i += 1;
        }
    }
    found
}

/// Pictures shown in order: frame counters never go backwards. A picture may come twice where
/// the server switches simulcast layers (each layer carries every picture, and Janus switches at
/// the new layer's keyframe, which can be the picture the old layer just brought): once per
/// switch, so a few at most.
pub fn frames_go_forwards(counters: &[u32]) -> bool {
    let repeated = counters.windows(2).filter(|w| w[1] == w[0]).count();
    counters.windows(2).all(|w| w[1] >= w[0]) && repeated <= 3
}

/// The frame counters of every readable test-pattern frame in a Y4M file, and the frame count.
pub fn frame_counters(path: &Path) -> Result<(Vec<u32>, usize)> {
    let mut file = Y4mSource::open(path, false).map_err(|e| err("y4m", e))?;
    let mut counters = Vec::new();
    let mut frames = 0;
    while let Some(frame) = file.next_frame().map_err(|e| err("y4m", e))? {
        frames += 1;
        if let Some(stamp) = read_stamp(&frame) {
            counters.push(stamp.counter);
        }
    }
    Ok((counters, frames))
}

/// A decoded screenshot: width, height and RGB(A) rows.
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    channels: usize,
    data: Vec<u8>,
}

impl Picture {
    /// Read a PNG file (8-bit RGB or RGBA, as WebDriver screenshots are).
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| err("png", e))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .map_err(|e| err("png", e))?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| err("png", "too large"))?;
        let mut data = vec![0; size];
        let info = reader.next_frame(&mut data).map_err(|e| err("png", e))?;
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => return Err(err("png", format!("unexpected colour type {other:?}"))),
        };
        data.truncate(info.buffer_size());
        Ok(Self {
            width: info.width,
            height: info.height,
            channels,
            data,
        })
    }

    /// The RGB values of a rectangle (clipped to the picture), row by row.
    pub fn region(&self, x: u32, y: u32, w: u32, h: u32) -> Vec<[u8; 3]> {
        let mut out = Vec::new();
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row as usize * self.width as usize + col as usize) * self.channels;
                out.push([self.data[i], self.data[i + 1], self.data[i + 2]]);
            }
        }
        out
    }
}

/// A Y4M file of `frames` pictures of the stamped test pattern at 640×360, 30 per second (a
/// browser's fake camera input, the same pictures Runde's pattern source makes).
pub fn pattern_y4m(path: &Path, frames: u32) -> Result<()> {
    use runde_media::video::{TestPattern, VideoSink, Y4mSink};
    let mut pattern = TestPattern::new(640, 360, 30).map_err(|e| err("pattern", e))?;
    let mut sink = Y4mSink::create(path, (30, 1)).map_err(|e| err("y4m", e))?;
    for _ in 0..frames {
        if let Some(frame) = pattern.next_frame().map_err(|e| err("pattern", e))? {
            sink.write(&frame).map_err(|e| err("y4m", e))?;
        }
    }
    sink.finish().map_err(|e| err("y4m", e))
}

/// A latency marker: a 40 ms chirp rising from 600 Hz to 3 kHz at half scale, with 5 ms ramps
/// (short, loud and speech-band, so codecs and voice processing pass it).
pub fn marker() -> Vec<f32> {
    let n = 48 * 40;
    let ramp = 48 * 5;
    let (f0, f1) = (600.0_f64, 3000.0_f64);
    let duration = n as f64 / 48_000.0;
    (0..n)
        .map(|i| {
            let t = i as f64 / 48_000.0;
            let phase =
                2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * duration));
            let edge = (i.min(n - 1 - i) as f64 / ramp as f64).min(1.0);
            let gain = 0.5 * (1.0 - (std::f64::consts::PI * edge).cos());
            (0.5 * gain * phase.sin()) as f32
        })
        .collect()
}

/// Write a WAV file (48 kHz mono) of `count` markers, one every `spacing_ms`, after `spacing_ms`
/// of silence, with silence after the last.
pub fn marker_track(path: &Path, count: usize, spacing_ms: usize) -> Result<()> {
    let spacing = spacing_ms * 48;
    let mut samples = vec![0.0_f32; spacing * (count + 2)];
    let marker = marker();
    for k in 1..=count {
        samples[k * spacing..k * spacing + marker.len()].copy_from_slice(&marker);
    }
    runde_media::audio::write_wav(path, &samples).map_err(|e| err("marker track", e))
}

/// Where markers begin in `samples` (sample indices): where the 1 ms loudness first reaches half
/// of the loudest millisecond of a burst that stands out of at least `quiet_ms` of quiet. The same
/// rule on both ends of a call, so the codec's and the processing's changes to the chirp's shape
/// move both sides alike.
pub fn marker_onsets(samples: &[f32], quiet_ms: usize) -> Vec<usize> {
    let ms: Vec<f32> = samples
        .chunks(48)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len().max(1) as f32).sqrt())
        .collect();
    // Loud: above −30 dBFS (the marker is at −6 dBFS; comfort noise and codec residue are far
    // below).
    let loud = 10f32.powf(-30.0 / 20.0);
    let mut onsets = Vec::new();
    let mut quiet_run = quiet_ms; // the start counts as quiet
    let mut i = 0;
    while i < ms.len() {
        if ms[i] < loud {
            quiet_run += 1;
            i += 1;
            continue;
        }
        if quiet_run >= quiet_ms {
            // The burst: up to the next quiet stretch of 20 ms.
            let mut end = i;
            let mut below = 0;
            while end < ms.len() && below < 20 {
                below = if ms[end] < loud { below + 1 } else { 0 };
                end += 1;
            }
            let peak = ms[i..end].iter().copied().fold(0.0_f32, f32::max);
            let back = i.saturating_sub(10);
            if let Some(first) = (back..end).find(|&j| ms[j] >= peak / 2.0) {
                onsets.push(first * 48);
            }
            i = end;
        } else {
            i += 1;
        }
        quiet_run = 0;
    }
    onsets
}

/// Mouth-to-ear delays in ms: each marker on the mouth channel paired with the first marker on the
/// ear channel that follows it within `max_ms` (keep that below the markers' spacing). Returns
/// the delays and how many mouth markers never arrived.
pub fn mouth_to_ear(mouth: &[f32], ear: &[f32], max_ms: f64) -> (Vec<f64>, usize) {
    let heard = marker_onsets(ear, 300);
    let window = (max_ms * 48.0) as usize;
    let mut delays = Vec::new();
    let mut missing = 0;
    for at in marker_onsets(mouth, 300) {
        match heard.iter().find(|&&h| h > at && h < at + window) {
            Some(&h) => delays.push((h - at) as f64 / 48.0),
            None => missing += 1,
        }
    }
    (delays, missing)
}

/// `received` re-timed utterance by utterance against `reference` (48 kHz, the same stretch,
/// already aligned as a whole). The reference is cut in the middle of each pause (at least
/// 150 ms 40 dB below its loudest 10 ms), and each utterance of the received speech is taken
/// from where it matches the reference best, up to `max_shift` samples earlier or later. A
/// change of delay that a receiver makes inside a pause (a jitter buffer that grows or shrinks
/// there, which no listener hears) is then no damage; one inside an utterance still is, from
/// the change to the utterance's end. WB-PESQ aligns a whole file once and takes any later
/// change of delay as damage to everything after it.
pub fn align_utterances(reference: &[f32], received: &[f32], max_shift: usize) -> Vec<f32> {
    const FRAME: usize = 480;
    const PAUSE_FRAMES: usize = 15;
    let rms = |x: &[f32]| {
        (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    };
    let levels: Vec<f64> = reference.chunks(FRAME).map(rms).collect();
    let loudest = levels.iter().copied().fold(0.0, f64::max);
    let quiet: Vec<bool> = levels.iter().map(|l| *l < loudest * 0.01).collect();
    // Cut points: the middle of every run of at least PAUSE_FRAMES quiet frames.
    let mut cuts = vec![0];
    let mut run_start = None;
    for (i, q) in quiet.iter().chain(std::iter::once(&false)).enumerate() {
        match (q, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if i - start >= PAUSE_FRAMES {
                    cuts.push((start + i) / 2 * FRAME);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    cuts.push(reference.len());
    cuts.dedup();
    let mut out = vec![0.0; reference.len()];
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1].min(reference.len()));
        if from >= to {
            continue;
        }
        let part = &reference[from..to];
        let taken = |shift: isize| -> Vec<f32> {
            (from..to)
                .map(|i| {
                    i.checked_add_signed(shift)
                        .and_then(|j| received.get(j))
                        .copied()
                        .unwrap_or(0.0)
                })
                .collect()
        };
        let max = max_shift as isize;
        let best_of = |shifts: &mut dyn Iterator<Item = isize>| {
            shifts
                .map(|shift| (shift, correlation(part, &taken(shift))))
                .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a })
                .0
        };
        // Coarse in steps of 8 samples, then to the sample around the best.
        let coarse = best_of(&mut (-max..=max).step_by(8));
        let best = best_of(&mut (coarse - 8..=coarse + 8).filter(|s| s.abs() <= max));
        out[from..to].copy_from_slice(&taken(best));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two tone bursts; the receiver adds 10 ms of silence in the pause between them. Re-timed
    /// per utterance, the received speech matches the reference again; delayed inside the first
    /// burst, it does not (that is damage).
    #[test]
    fn utterances_are_re_timed_across_pauses_only() {
        let burst = |hz: f32| {
            (0..24_000).map(move |i| {
                (i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin()
                    * 0.3
                    * (1.0 + (i as f32 / 700.0).sin())
            })
        };
        let mut reference: Vec<f32> = burst(300.0).collect();
        reference.extend(std::iter::repeat_n(0.0, 14_400)); // a 300 ms pause
        reference.extend(burst(450.0));
        let mut received: Vec<f32> = reference[..24_000 + 7_200].to_vec();
        received.extend(std::iter::repeat_n(0.0, 480)); // 10 ms more pause
        received.extend_from_slice(&reference[24_000 + 7_200..]);
        assert!(correlation(&reference[38_400..], &received[38_400..]) < 0.9);
        let aligned = align_utterances(&reference, &received, 960);
        assert!(correlation(&reference, &aligned) > 0.999);

        let mut inside: Vec<f32> = reference[..12_000].to_vec();
        inside.extend(std::iter::repeat_n(0.0, 480));
        inside.extend_from_slice(&reference[12_000..]);
        let aligned = align_utterances(&reference, &inside, 960);
        assert!(correlation(&reference[..24_000], &aligned[..24_000]) < 0.99);
        assert!(
            correlation(&reference[38_400..], &aligned[38_400..]) > 0.999,
            "the next utterance is fine"
        );
    }

    /// A known delay between two channels is measured to the millisecond, through attenuation,
    /// a smeared copy and background noise, and a missing marker is counted as missing.
    #[test]
    fn mouth_to_ear_finds_known_delays() {
        let marker = marker();
        let spacing = 48_000;
        let mut mouth = vec![0.0_f32; spacing * 12];
        let mut ear = vec![0.0_f32; spacing * 12];
        let mut noise = 0x2545_f491_u32;
        for s in &mut ear {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            *s = (noise as f32 / u32::MAX as f32 - 0.5) * 0.002;
        }
        let delays_ms = [80usize, 95, 120, 150, 180, 210, 240, 300, 400, 500];
        for (k, &d) in delays_ms.iter().enumerate() {
            let at = (k + 1) * spacing;
            mouth[at..at + marker.len()].copy_from_slice(&marker);
            if k == 4 {
                continue; // lost on the way
            }
            let to = at + d * 48;
            for (i, m) in marker.iter().enumerate() {
                ear[to + i] += 0.3 * m;
                ear[to + i + 96] += 0.05 * m; // an echo 2 ms later
            }
        }
        let (found, missing) = mouth_to_ear(&mouth, &ear, 900.0);
        assert_eq!(missing, 1);
        let expected: Vec<f64> = delays_ms
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != 4)
            .map(|(_, &d)| d as f64)
            .collect();
        assert_eq!(found.len(), expected.len(), "{found:?}");
        for (f, e) in found.iter().zip(&expected) {
            assert!((f - e).abs() <= 1.0, "{found:?} vs {expected:?}");
        }
    }
}
