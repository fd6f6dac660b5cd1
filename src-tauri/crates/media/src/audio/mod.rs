//! Audio: sources, sinks, files, levels. Everything here is 48 kHz mono `f32`.

pub mod cue;
pub mod device;
pub mod input;
mod level;
pub mod mixer;
pub mod processing;
pub mod resample;
mod synthetic;
mod wav;

pub use level::LevelMeter;
pub use synthetic::{Silence, Tone};
pub use wav::{
    WavSink, WavSource, read_wav, read_wav_at_any_rate, read_wav_resampled, write_wav, write_wav_at,
};

use crate::MediaError;

/// The engine's sample rate, in Hz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 10 ms frame, the unit of audio processing.
pub const FRAME_10MS: usize = (SAMPLE_RATE / 100) as usize;
/// Samples in one 20 ms frame, Opus's default packet duration.
pub const FRAME_20MS: usize = 2 * FRAME_10MS;

/// Something that produces audio: a microphone, a file, a tone generator.
pub trait AudioSource: Send {
    /// Fill `out` with the next samples. Returns how many were written; fewer than `out.len()`
    /// only when the source has ended (a file), never because data is "not ready yet".
    fn read(&mut self, out: &mut [f32]) -> Result<usize, MediaError>;
}

/// Something that consumes audio: a speaker, a file, a callback.
pub trait AudioSink: Send {
    /// Take these samples.
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError>;
}

/// Any closure that takes samples is a sink (for tests and frame callbacks).
impl<F: FnMut(&[f32]) + Send> AudioSink for F {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        self(samples);
        Ok(())
    }
}

/// Convert `f32` samples to 16-bit PCM, clipping at full scale.
pub fn to_i16(sample: f32) -> i16 {
    // The cast saturates; scaling by 32767 keeps +1.0 and -1.0 symmetric.
    (sample.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Convert a 16-bit PCM sample to `f32`.
pub fn from_i16(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}
