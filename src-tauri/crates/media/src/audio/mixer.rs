//! Playout: mixes the remote streams into what the speaker plays (which is also the echo
//! canceller's far-end reference), and keeps each stream's level and speaking state.

use std::collections::BTreeMap;

use super::LevelMeter;

/// Identifies one remote audio stream (the call assigns these).
pub type StreamId = u64;

/// A stream counts as speaking after this many loud frames in a row …
const ONSET_FRAMES: u32 = 3;
/// … and stops after this many quiet ones (300 ms: no flicker between words).
const HANGOVER_FRAMES: u32 = 30;
/// Loud means above this, in dBFS.
const SPEAKING_DBFS: f64 = -45.0;

/// A stream's level and speaking state after the last frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamLevel {
    /// For a level meter: 0 (silence) to 1 (full scale), smoothed.
    pub level: f32,
    /// Whether the stream is speaking (with onset and hangover).
    pub speaking: bool,
}

#[derive(Default)]
struct Voice {
    meter: LevelMeter,
    loud_run: u32,
    quiet_run: u32,
    speaking: bool,
}

impl Voice {
    fn push(&mut self, frame: &[f32]) -> StreamLevel {
        let loud = self.meter.push(frame) > SPEAKING_DBFS;
        if loud {
            self.loud_run += 1;
            self.quiet_run = 0;
        } else {
            self.quiet_run += 1;
            self.loud_run = 0;
        }
        if self.loud_run >= ONSET_FRAMES {
            self.speaking = true;
        } else if self.quiet_run >= HANGOVER_FRAMES {
            self.speaking = false;
        }
        StreamLevel {
            level: self.meter.display(),
            speaking: self.speaking,
        }
    }
}

/// Mixes N streams, 10 ms at a time.
#[derive(Default)]
pub struct Mixer {
    voices: BTreeMap<StreamId, Voice>,
}

impl Mixer {
    /// Mix one 10 ms frame from each stream into `out` and return every stream's level. A
    /// stream absent from `inputs` is forgotten (it left or stopped).
    pub fn mix(
        &mut self,
        inputs: &[(StreamId, &[f32])],
        out: &mut [f32],
    ) -> Vec<(StreamId, StreamLevel)> {
        out.fill(0.0);
        self.voices
            .retain(|id, _| inputs.iter().any(|(i, _)| i == id));
        let mut levels = Vec::with_capacity(inputs.len());
        for (id, frame) in inputs {
            for (o, s) in out.iter_mut().zip(frame.iter()) {
                *o += *s;
            }
            levels.push((*id, self.voices.entry(*id).or_default().push(frame)));
        }
        for sample in out.iter_mut() {
            *sample = soft_clip(*sample);
        }
        levels
    }
}

/// Linear up to 0.9 of full scale, then a smooth knee towards ±1: several loud voices at once
/// are compressed instead of wrapping or hard-clipping.
fn soft_clip(x: f32) -> f32 {
    const KNEE: f32 = 0.9;
    let a = x.abs();
    if a <= KNEE {
        x
    } else {
        let over = (a - KNEE) / (1.0 - KNEE);
        x.signum() * (KNEE + (1.0 - KNEE) * over.tanh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{AudioSource, FRAME_10MS, Tone};

    fn tone(freq: f64, amp: f32) -> Vec<f32> {
        let mut t = Tone::new(freq, amp);
        let mut v = vec![0.0; FRAME_10MS];
        t.read(&mut v).expect("tone");
        v
    }

    #[test]
    fn sums_streams_and_never_exceeds_full_scale() {
        let mut mixer = Mixer::default();
        let (a, b) = (tone(300.0, 0.3), tone(500.0, 0.3));
        let mut out = vec![0.0; FRAME_10MS];
        mixer.mix(&[(1, &a), (2, &b)], &mut out);
        for i in 0..FRAME_10MS {
            assert!((out[i] - (a[i] + b[i])).abs() < 1e-6);
        }
        let loud = vec![0.8; FRAME_10MS];
        mixer.mix(&[(1, &loud), (2, &loud), (3, &loud)], &mut out);
        assert!(out.iter().all(|s| *s <= 1.0 && *s > 0.9));
    }

    #[test]
    fn speaking_needs_an_onset_and_keeps_a_hangover() {
        let mut mixer = Mixer::default();
        let (voice, silence) = (tone(200.0, 0.3), vec![0.0; FRAME_10MS]);
        let mut out = vec![0.0; FRAME_10MS];
        let speaking =
            |m: &mut Mixer, f: &[f32], out: &mut [f32]| m.mix(&[(7, f)], out)[0].1.speaking;
        assert!(!speaking(&mut mixer, &voice, &mut out));
        assert!(!speaking(&mut mixer, &voice, &mut out));
        assert!(speaking(&mut mixer, &voice, &mut out));
        for _ in 0..HANGOVER_FRAMES - 1 {
            assert!(speaking(&mut mixer, &silence, &mut out));
        }
        assert!(!speaking(&mut mixer, &silence, &mut out));
    }

    #[test]
    fn a_stream_that_leaves_is_forgotten() {
        let mut mixer = Mixer::default();
        let voice = tone(200.0, 0.3);
        let mut out = vec![0.0; FRAME_10MS];
        for _ in 0..5 {
            mixer.mix(&[(1, &voice), (2, &voice)], &mut out);
        }
        let levels = mixer.mix(&[(2, &voice)], &mut out);
        assert_eq!(levels.len(), 1);
        // Stream 1 comes back: it starts from silence, not from its old state.
        let levels = mixer.mix(&[(1, &voice), (2, &voice)], &mut out);
        assert!(!levels[0].1.speaking && levels[1].1.speaking);
    }
}
