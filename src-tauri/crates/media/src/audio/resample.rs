//! Sample-rate conversion between a device's rate and the engine's 48 kHz, on a non-real-time
//! thread. Band-limited (rubato's FFT resampler, fixed ratio); a pass-through when rates match.

use std::collections::VecDeque;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::MediaError;

/// Input frames per conversion step: 10 ms at the input rate (rounded by rubato as it needs).
fn chunk_for(rate: u32) -> usize {
    (rate as usize / 100).max(1)
}

/// A streaming mono resampler: push any amount in, pop fixed-size blocks out.
pub struct StreamResampler {
    fft: Option<Fft<f32>>,
    pending_in: Vec<f32>,
    out_block: Vec<f32>,
    ready: VecDeque<f32>,
}

impl StreamResampler {
    /// Convert from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self, MediaError> {
        let fft = if from == to {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    from as usize,
                    to as usize,
                    chunk_for(from),
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| MediaError::Codec {
                    codec: "resampler",
                    reason: e.to_string(),
                })?,
            )
        };
        let out_max = fft.as_ref().map_or(0, Resampler::output_frames_max);
        Ok(Self {
            fft,
            pending_in: Vec::new(),
            out_block: vec![0.0; out_max],
            ready: VecDeque::new(),
        })
    }

    /// Samples of delay the conversion adds, at the output rate.
    pub fn delay(&self) -> usize {
        self.fft.as_ref().map_or(0, Resampler::output_delay)
    }

    /// Feed input samples.
    pub fn push(&mut self, input: &[f32]) -> Result<(), MediaError> {
        let Some(fft) = self.fft.as_mut() else {
            self.ready.extend(input);
            return Ok(());
        };
        self.pending_in.extend_from_slice(input);
        let mut start = 0;
        while self.pending_in.len() - start >= fft.input_frames_next() {
            let need = fft.input_frames_next();
            let adapter_err = |e: audioadapter_buffers::SizeError| MediaError::Codec {
                codec: "resampler",
                reason: e.to_string(),
            };
            let input = InterleavedSlice::new(&self.pending_in[start..start + need], 1, need)
                .map_err(adapter_err)?;
            let frames = self.out_block.len();
            let mut output =
                InterleavedSlice::new_mut(&mut self.out_block, 1, frames).map_err(adapter_err)?;
            let (used, made) = fft
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| MediaError::Codec {
                    codec: "resampler",
                    reason: e.to_string(),
                })?;
            self.ready.extend(&self.out_block[..made]);
            start += used;
        }
        self.pending_in.drain(..start);
        Ok(())
    }

    /// Take exactly `out.len()` converted samples if that many are ready.
    pub fn pop(&mut self, out: &mut [f32]) -> bool {
        if self.ready.len() < out.len() {
            return false;
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
        true
    }

    /// Samples ready to pop.
    pub fn available(&self) -> usize {
        self.ready.len()
    }
}

/// Convert a whole clip (a file, a test signal) from `from` Hz to `to` Hz, delay removed.
pub fn resample_clip(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, MediaError> {
    let mut r = StreamResampler::new(from, to)?;
    let expected = (samples.len() as u64 * u64::from(to) / u64::from(from.max(1))) as usize;
    r.push(samples)?;
    // Flush: feed silence until the delayed tail has come out.
    let pad = vec![0.0; chunk_for(from)];
    while r.available() < expected + r.delay() {
        r.push(&pad)?;
    }
    let mut out = vec![0.0; expected + r.delay()];
    r.pop(&mut out);
    out.drain(..r.delay());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::dominant_frequency;

    fn sine(rate: u32, freq: f32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| 0.5 * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn converts_44k1_to_48k_keeping_pitch_and_length() -> Result<(), MediaError> {
        let mut r = StreamResampler::new(44_100, 48_000)?;
        let input = sine(44_100, 1000.0, 1.0);
        for chunk in input.chunks(441 * 3) {
            r.push(chunk)?;
        }
        let produced = r.available();
        assert!((47_000..=48_000).contains(&produced), "{produced}");
        let mut out = vec![0.0; 40_000];
        assert!(r.pop(&mut out));
        let tail = &out[r.delay() + 2000..];
        let freq = dominant_frequency(tail, 48_000);
        assert!((freq - 1000.0).abs() < 1.0, "{freq}");
        Ok(())
    }

    #[test]
    fn clips_keep_length_and_timing() -> Result<(), MediaError> {
        let mut input = vec![0.0; 22_050];
        input[11_025] = 1.0; // a click in the middle
        let out = resample_clip(&input, 22_050, 48_000)?;
        assert_eq!(out.len(), 48_000);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i);
        assert!(
            peak.is_some_and(|p| (p as i64 - 24_000).abs() <= 2),
            "{peak:?}"
        );
        Ok(())
    }

    #[test]
    fn equal_rates_pass_through() -> Result<(), MediaError> {
        let mut r = StreamResampler::new(48_000, 48_000)?;
        r.push(&[0.1, 0.2, 0.3])?;
        let mut out = [0.0; 2];
        assert!(r.pop(&mut out));
        assert_eq!(out, [0.1, 0.2]);
        assert!(!r.pop(&mut out));
        Ok(())
    }
}
