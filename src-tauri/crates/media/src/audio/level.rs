//! Audio level for meters and speaking indicators, per 10 ms frame.

use crate::measure::rms_dbfs;

/// Levels below this count as silence, in dBFS.
const FLOOR_DBFS: f64 = -60.0;

/// Follows the level of a stream frame by frame: fast to rise, slow to fall, like a VU meter, so
/// the UI can draw it without flicker. The UI gets a number from 0 (silence) to 1 (full scale).
#[derive(Debug, Clone)]
pub struct LevelMeter {
    smoothed_dbfs: f64,
    /// dB the displayed level may fall per 10 ms frame.
    release_per_frame: f64,
}

impl Default for LevelMeter {
    fn default() -> Self {
        Self {
            smoothed_dbfs: FLOOR_DBFS,
            // 20 dB per 100 ms: a word's end is visible, a syllable gap is not.
            release_per_frame: 2.0,
        }
    }
}

impl LevelMeter {
    /// Take one frame; returns the frame's own RMS level in dBFS.
    pub fn push(&mut self, frame: &[f32]) -> f64 {
        let level = rms_dbfs(frame).max(FLOOR_DBFS);
        self.smoothed_dbfs = if level >= self.smoothed_dbfs {
            level
        } else {
            (self.smoothed_dbfs - self.release_per_frame).max(level)
        };
        level
    }

    /// The smoothed level in dBFS (at least the floor, -60).
    pub fn dbfs(&self) -> f64 {
        self.smoothed_dbfs
    }

    /// The smoothed level mapped to 0..=1 for drawing (0 at -60 dBFS, 1 at 0 dBFS).
    pub fn display(&self) -> f32 {
        ((self.smoothed_dbfs - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_at_once_and_falls_slowly() {
        let mut meter = LevelMeter::default();
        assert_eq!(meter.display(), 0.0);
        let loud = vec![0.5_f32; 480];
        let level = meter.push(&loud);
        assert!((level + 6.02).abs() < 0.01);
        assert!((meter.display() - 0.8997).abs() < 0.001);
        meter.push(&[0.0; 480]);
        assert!((meter.dbfs() - (level - 2.0)).abs() < 1e-9);
        for _ in 0..40 {
            meter.push(&[0.0; 480]);
        }
        assert_eq!(meter.display(), 0.0);
    }
}
