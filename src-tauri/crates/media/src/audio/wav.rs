//! WAV files as sources (speech for tests) and sinks (what a receiver played).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{AudioSink, AudioSource, SAMPLE_RATE, from_i16, to_i16};
use crate::MediaError;

/// Read a whole 48 kHz WAV file as mono samples (channels are averaged).
pub fn read_wav(path: &Path) -> Result<Vec<f32>, MediaError> {
    let (samples, rate) = read_wav_at_any_rate(path)?;
    if rate != SAMPLE_RATE {
        return Err(MediaError::file(
            path,
            format!("{rate} Hz; Runde's media files are 48000 Hz"),
        ));
    }
    Ok(samples)
}

/// Read a whole WAV file of any rate, converted to 48 kHz mono.
pub fn read_wav_resampled(path: &Path) -> Result<Vec<f32>, MediaError> {
    let (samples, rate) = read_wav_at_any_rate(path)?;
    super::resample::resample_clip(&samples, rate, SAMPLE_RATE)
}

/// Read a whole WAV file as mono samples at its own rate; returns the samples and the rate.
pub fn read_wav_at_any_rate(path: &Path) -> Result<(Vec<f32>, u32), MediaError> {
    let reader = hound::WavReader::open(path).map_err(|e| MediaError::file(path, e))?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .into_samples::<i16>()
            .map(|s| s.map(from_i16))
            .collect::<Result<_, _>>(),
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect(),
        (format, bits) => {
            return Err(MediaError::file(
                path,
                format!("{bits}-bit {format:?} samples are not supported (16-bit or float)"),
            ));
        }
    }
    .map_err(|e| MediaError::file(path, e))?;
    let channels = usize::from(spec.channels.max(1));
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Write mono samples as a 16-bit, 48 kHz WAV file.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), MediaError> {
    write_wav_at(path, samples, SAMPLE_RATE)
}

/// Write mono samples as a 16-bit WAV file at `rate` Hz.
pub fn write_wav_at(path: &Path, samples: &[f32], rate: u32) -> Result<(), MediaError> {
    let mut sink = WavSink::create_at(path, rate)?;
    sink.write(samples)?;
    sink.finish()
}

/// A WAV file played as a source, optionally looping; ends (returns short reads) when not looping.
#[derive(Debug, Clone)]
pub struct WavSource {
    samples: Vec<f32>,
    position: usize,
    looping: bool,
}

impl WavSource {
    /// Open a WAV file of any rate (converted to 48 kHz mono).
    pub fn open(path: &Path, looping: bool) -> Result<Self, MediaError> {
        Ok(Self::from_samples(read_wav_resampled(path)?, looping))
    }

    /// Play these samples as if they came from a file.
    pub fn from_samples(samples: Vec<f32>, looping: bool) -> Self {
        Self {
            samples,
            position: 0,
            looping,
        }
    }
}

impl AudioSource for WavSource {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, MediaError> {
        let mut written = 0;
        while written < out.len() {
            if self.position == self.samples.len() {
                if !self.looping || self.samples.is_empty() {
                    break;
                }
                self.position = 0;
            }
            let n = (out.len() - written).min(self.samples.len() - self.position);
            out[written..written + n]
                .copy_from_slice(&self.samples[self.position..self.position + n]);
            written += n;
            self.position += n;
        }
        Ok(written)
    }
}

/// Writes what it receives into a 16-bit, 48 kHz mono WAV file.
pub struct WavSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
}

impl WavSink {
    /// Create (or replace) a 48 kHz file.
    pub fn create(path: &Path) -> Result<Self, MediaError> {
        Self::create_at(path, SAMPLE_RATE)
    }

    /// Create (or replace) a file at `rate` Hz.
    pub fn create_at(path: &Path, rate: u32) -> Result<Self, MediaError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| MediaError::file(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            writer: Some(writer),
        })
    }

    /// Complete the file's header. Dropping the sink does this too, but cannot report errors.
    pub fn finish(mut self) -> Result<(), MediaError> {
        match self.writer.take() {
            Some(w) => w.finalize().map_err(|e| MediaError::file(&self.path, e)),
            None => Ok(()),
        }
    }
}

impl AudioSink for WavSink {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        for s in samples {
            writer
                .write_sample(to_i16(*s))
                .map_err(|e| MediaError::file(&self.path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Tone;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("runde-media-{}-{name}", std::process::id()))
    }

    #[test]
    fn wav_round_trip_keeps_the_signal() -> Result<(), MediaError> {
        let path = temp("round.wav");
        let mut tone = Tone::new(440.0, 0.3);
        let mut sent = vec![0.0; 4800];
        tone.read(&mut sent)?;
        write_wav(&path, &sent)?;
        let back = read_wav(&path)?;
        std::fs::remove_file(&path).ok();
        assert_eq!(back.len(), sent.len());
        assert!(crate::measure::snr_db(&sent, &back) > 80.0);
        Ok(())
    }

    #[test]
    fn source_loops_or_ends() -> Result<(), MediaError> {
        let mut once = WavSource::from_samples(vec![1.0, 2.0, 3.0], false);
        let mut buf = [0.0; 5];
        assert_eq!(once.read(&mut buf)?, 3);
        assert_eq!(once.read(&mut buf)?, 0);
        let mut looped = WavSource::from_samples(vec![1.0, 2.0, 3.0], true);
        assert_eq!(looped.read(&mut buf)?, 5);
        assert_eq!(buf, [1.0, 2.0, 3.0, 1.0, 2.0]);
        Ok(())
    }

    #[test]
    fn wrong_rate_and_missing_file_are_clear_errors() {
        let path = temp("22k.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let made = hound::WavWriter::create(&path, spec).and_then(|w| w.finalize());
        assert!(made.is_ok());
        let err = read_wav(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        std::fs::remove_file(&path).ok();
        assert!(err.contains("22050 Hz"), "{err}");
        assert!(read_wav(Path::new("/nonexistent/x.wav")).is_err());
    }
}
