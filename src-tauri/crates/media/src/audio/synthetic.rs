//! Synthetic audio that stands in for a microphone: a sine tone and silence.

use super::{AudioSource, SAMPLE_RATE};
use crate::MediaError;

/// A continuous sine tone.
#[derive(Debug, Clone)]
pub struct Tone {
    phase: f64,
    step: f64,
    amplitude: f32,
}

impl Tone {
    /// A tone of `frequency` Hz at `amplitude` (0..=1 of full scale).
    pub fn new(frequency: f64, amplitude: f32) -> Self {
        Self {
            phase: 0.0,
            step: std::f64::consts::TAU * frequency / f64::from(SAMPLE_RATE),
            amplitude: amplitude.clamp(0.0, 1.0),
        }
    }
}

impl AudioSource for Tone {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, MediaError> {
        for sample in out.iter_mut() {
            *sample = self.amplitude * self.phase.sin() as f32;
            self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        }
        Ok(out.len())
    }
}

/// Digital silence, forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silence;

impl AudioSource for Silence {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, MediaError> {
        out.fill(0.0);
        Ok(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{dominant_frequency, rms_dbfs};

    #[test]
    fn tone_has_its_frequency_and_level() -> Result<(), MediaError> {
        let mut tone = Tone::new(1000.0, 0.5);
        let mut buf = vec![0.0; SAMPLE_RATE as usize];
        assert_eq!(tone.read(&mut buf)?, buf.len());
        let freq = dominant_frequency(&buf, SAMPLE_RATE);
        assert!((freq - 1000.0).abs() < 2.0, "{freq}");
        // A sine of amplitude 0.5 has an RMS of 0.5/sqrt(2): -9.03 dBFS.
        assert!((rms_dbfs(&buf) + 9.03).abs() < 0.05, "{}", rms_dbfs(&buf));
        Ok(())
    }

    #[test]
    fn silence_is_silent() -> Result<(), MediaError> {
        let mut buf = vec![1.0; 480];
        Silence.read(&mut buf)?;
        assert!(buf.iter().all(|s| *s == 0.0));
        Ok(())
    }
}
