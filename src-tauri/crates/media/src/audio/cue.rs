//! Short sound cues mixed into what the speaker plays, so that a change the user must notice (a
//! recording that may now be running) is heard even when the window is hidden.
//!
//! Two notes each, a fifth apart: rising for "more may be recorded now", falling for "less".
//! Soft attack and release (no clicks), quiet enough not to drown speech.

use super::SAMPLE_RATE;

/// Which cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// Rising: something now records, or may record, more than before.
    Rising,
    /// Falling: less than before.
    Falling,
    /// The speaker test before a call: three notes up (C, E, G), clearly not a recording cue.
    SpeakerTest,
}

/// The speaker test's notes, in Hz.
pub const SPEAKER_TEST_HZ: [f64; 3] = [523.25, 659.26, 783.99];

/// The lower note, in Hz.
pub const LOW_HZ: f64 = 587.33;
/// The higher note, in Hz (a fifth above [`LOW_HZ`]).
pub const HIGH_HZ: f64 = 880.0;
/// How long each note lasts, in ms.
pub const NOTE_MS: usize = 160;
/// The pause between the notes, in ms.
pub const GAP_MS: usize = 40;
const AMPLITUDE: f32 = 0.25;
const RAMP_MS: usize = 10;

impl Cue {
    /// The notes, in the order they play.
    pub fn notes(self) -> &'static [f64] {
        match self {
            Cue::Rising => &[LOW_HZ, HIGH_HZ],
            Cue::Falling => &[HIGH_HZ, LOW_HZ],
            Cue::SpeakerTest => &SPEAKER_TEST_HZ,
        }
    }

    /// The whole cue as 48 kHz mono samples.
    pub fn samples(self) -> Vec<f32> {
        let per_ms = SAMPLE_RATE as usize / 1000;
        let note = NOTE_MS * per_ms;
        let ramp = RAMP_MS * per_ms;
        let notes = self.notes();
        let mut out = Vec::with_capacity(notes.len() * (NOTE_MS + GAP_MS) * per_ms);
        for (i, &hz) in notes.iter().enumerate() {
            if i > 0 {
                out.resize(out.len() + GAP_MS * per_ms, 0.0);
            }
            let step = std::f64::consts::TAU * hz / f64::from(SAMPLE_RATE);
            for n in 0..note {
                // A raised-cosine ramp at both ends.
                let edge = n.min(note - 1 - n);
                let gain = if edge < ramp {
                    0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / ramp as f64).cos()
                } else {
                    1.0
                };
                out.push(AMPLITUDE * (gain * (step * n as f64).sin()) as f32);
            }
        }
        out
    }
}

/// Plays cues into an audio stream: [`CuePlayer::mix_into`] adds the next part of the cue that is
/// playing (if any) to each frame on its way to the speaker. A new cue replaces one still playing.
#[derive(Debug, Default)]
pub struct CuePlayer {
    playing: Vec<f32>,
    at: usize,
}

impl CuePlayer {
    /// Start `cue` with the next frame.
    pub fn play(&mut self, cue: Cue) {
        self.playing = cue.samples();
        self.at = 0;
    }

    /// Whether a cue is still sounding.
    pub fn is_playing(&self) -> bool {
        self.at < self.playing.len()
    }

    /// Add the cue's next samples to `frame`, limiting to full scale.
    pub fn mix_into(&mut self, frame: &mut [f32]) {
        if !self.is_playing() {
            return;
        }
        let rest = &self.playing[self.at..];
        for (out, cue) in frame.iter_mut().zip(rest) {
            *out = (*out + cue).clamp(-1.0, 1.0);
        }
        self.at += frame.len().min(rest.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::FRAME_10MS;
    use crate::measure::dominant_frequency;

    fn note(samples: &[f32], index: usize) -> &[f32] {
        let per_ms = SAMPLE_RATE as usize / 1000;
        let start = index * (NOTE_MS + GAP_MS) * per_ms;
        // The steady middle of the note.
        &samples[start + 20 * per_ms..start + (NOTE_MS - 20) * per_ms]
    }

    #[test]
    fn rising_goes_up_and_falling_goes_down() {
        for (cue, first, second) in [
            (Cue::Rising, LOW_HZ, HIGH_HZ),
            (Cue::Falling, HIGH_HZ, LOW_HZ),
        ] {
            let samples = cue.samples();
            assert_eq!(samples.len(), (2 * NOTE_MS + GAP_MS) * 48);
            let a = dominant_frequency(note(&samples, 0), SAMPLE_RATE);
            let b = dominant_frequency(note(&samples, 1), SAMPLE_RATE);
            assert!((a - first).abs() < 10.0, "{cue:?}: first note {a} Hz");
            assert!((b - second).abs() < 10.0, "{cue:?}: second note {b} Hz");
        }
    }

    #[test]
    fn the_speaker_test_plays_three_notes_upwards() {
        let samples = Cue::SpeakerTest.samples();
        assert_eq!(samples.len(), (3 * NOTE_MS + 2 * GAP_MS) * 48);
        for (i, want) in SPEAKER_TEST_HZ.into_iter().enumerate() {
            let got = dominant_frequency(note(&samples, i), SAMPLE_RATE);
            assert!((got - want).abs() < 10.0, "note {i}: {got} Hz, want {want}");
        }
    }

    #[test]
    fn the_cue_starts_and_ends_without_a_click() {
        let samples = Cue::Rising.samples();
        assert!(samples[0].abs() < 1e-6);
        assert!(samples[samples.len() - 1].abs() < 0.01);
        let steepest = samples
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0_f32, f32::max);
        // A 880 Hz sine of amplitude 0.25 moves at most 0.029 per sample; a jump would be a click.
        assert!(steepest < 0.03, "{steepest}");
        let peak = samples.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
        assert!((peak - AMPLITUDE).abs() < 0.01, "{peak}");
    }

    #[test]
    fn the_player_adds_the_cue_to_the_stream_then_stops() {
        let mut player = CuePlayer::default();
        let mut frame = vec![0.5; FRAME_10MS];
        player.mix_into(&mut frame);
        assert!(
            frame.iter().all(|s| *s == 0.5),
            "nothing playing: untouched"
        );

        player.play(Cue::Falling);
        let cue = Cue::Falling.samples();
        let mut heard = Vec::new();
        while player.is_playing() {
            let mut frame = vec![0.9; FRAME_10MS];
            player.mix_into(&mut frame);
            heard.extend(frame);
        }
        assert_eq!(heard.len(), cue.len().div_ceil(FRAME_10MS) * FRAME_10MS);
        for (h, c) in heard.iter().zip(&cue) {
            assert!((h - (0.9 + c).min(1.0)).abs() < 1e-6, "mixed and limited");
        }
        assert!(heard[cue.len()..].iter().all(|s| *s == 0.9));
    }
}
