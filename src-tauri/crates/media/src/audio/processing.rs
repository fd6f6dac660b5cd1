//! Capture processing on 10 ms frames: echo cancellation (AEC3), noise suppression and automatic
//! gain control, through `sonora`, a pure-Rust port of WebRTC's audio processing module.
//!
//! Why this one (see docs/MEDIA.md for the numbers): it is the same algorithm family browsers
//! use (AEC3, NS, AGC2), it builds with cargo alone on all three systems (no C++ toolchain, no
//! system library to ship in installers), and on our echo-path test it cancels well over the
//! 20 dB we require while keeping near-end speech intact.
//!
//! The far-end reference must be what the speaker really plays: feed [`AudioProcessor::far_end`]
//! the mixed playout signal, frame by frame, before the matching microphone frames arrive.

use sonora::config::{EchoCanceller, GainController2, NoiseSuppression, NoiseSuppressionLevel};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::{FRAME_10MS, SAMPLE_RATE};
use crate::MediaError;

/// Which processing to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingConfig {
    /// Cancel the far end's echo from the microphone signal.
    pub echo_cancellation: bool,
    /// Noise suppression strength, if any.
    pub noise_suppression: Option<NoiseStrength>,
    /// Keep the speaking level steady.
    pub gain_control: bool,
}

/// How hard to suppress noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseStrength {
    /// About 6 dB.
    Low,
    /// About 12 dB.
    Moderate,
    /// About 18 dB.
    High,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: Some(NoiseStrength::Moderate),
            gain_control: true,
        }
    }
}

/// What the echo canceller reports about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessingStats {
    /// Echo return loss enhancement in dB, as the canceller estimates it.
    pub erle_db: Option<f64>,
    /// Estimated echo path delay in ms.
    pub delay_ms: Option<i32>,
}

fn apm_error(e: impl std::fmt::Debug) -> MediaError {
    MediaError::Codec {
        codec: "audio processing",
        reason: format!("{e:?}"),
    }
}

/// Processes microphone frames against the speaker's signal. 48 kHz mono, 10 ms frames.
pub struct AudioProcessor {
    apm: AudioProcessing,
    render_out: Vec<f32>,
    capture_out: Vec<f32>,
}

impl AudioProcessor {
    /// A processor with this configuration.
    pub fn new(config: ProcessingConfig) -> Self {
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(Config {
                echo_canceller: config.echo_cancellation.then(EchoCanceller::default),
                noise_suppression: config.noise_suppression.map(|s| NoiseSuppression {
                    level: match s {
                        NoiseStrength::Low => NoiseSuppressionLevel::Low,
                        NoiseStrength::Moderate => NoiseSuppressionLevel::Moderate,
                        NoiseStrength::High => NoiseSuppressionLevel::High,
                    },
                    ..NoiseSuppression::default()
                }),
                gain_controller2: config.gain_control.then(GainController2::default),
                ..Config::default()
            })
            .capture_config(stream)
            .render_config(stream)
            .build();
        Self {
            apm,
            render_out: vec![0.0; FRAME_10MS],
            capture_out: vec![0.0; FRAME_10MS],
        }
    }

    fn check(frame: &[f32]) -> Result<(), MediaError> {
        if frame.len() == FRAME_10MS {
            Ok(())
        } else {
            Err(MediaError::Codec {
                codec: "audio processing",
                reason: format!("frames are {FRAME_10MS} samples, got {}", frame.len()),
            })
        }
    }

    /// Tell the processor what the speaker plays (10 ms).
    pub fn far_end(&mut self, frame: &[f32]) -> Result<(), MediaError> {
        Self::check(frame)?;
        self.apm
            .process_render_f32(&[frame], &mut [&mut self.render_out])
            .map_err(apm_error)
    }

    /// Process one microphone frame (10 ms) in place.
    pub fn near_end(&mut self, frame: &mut [f32]) -> Result<(), MediaError> {
        Self::check(frame)?;
        self.apm
            .process_capture_f32(&[frame], &mut [&mut self.capture_out])
            .map_err(apm_error)?;
        frame.copy_from_slice(&self.capture_out);
        Ok(())
    }

    /// A hint of the delay between a far-end frame and its echo in the microphone, in ms.
    pub fn set_delay_hint_ms(&mut self, ms: u32) {
        let _ = self.apm.set_stream_delay_ms(ms.min(500) as i32);
    }

    /// What the canceller reports.
    pub fn stats(&self) -> ProcessingStats {
        let s = self.apm.statistics();
        ProcessingStats {
            erle_db: s.echo_return_loss_enhancement,
            delay_ms: s.delay_ms,
        }
    }
}
