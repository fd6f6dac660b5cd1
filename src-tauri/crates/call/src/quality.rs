//! How well someone's media arrives, for the connection-quality hint on their tile.
//!
//! Judged only from what we measure ourselves at the receiver, over short windows: audio packets
//! that never arrived or came too late to play, and video frames we could not decode without asking
//! for a new keyframe. Silence (no packets sent) is not loss and says nothing. Getting worse shows at
//! once; getting better needs two good windows in a row, so the hint does not flicker.

use serde::Serialize;

/// How well a participant's media arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum Quality {
    /// Nothing lost worth mentioning.
    Good,
    /// Some sound or picture lost: audible or visible, still understandable.
    Reduced,
    /// Much lost: speech breaks up or the picture stalls.
    Poor,
}

/// What one window measured for one participant (counter differences).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Audio packets that arrived in time.
    pub audio_received: u64,
    /// Audio packets that never arrived or came too late.
    pub audio_missing: u64,
    /// Keyframes we had to ask for (video we could not decode).
    pub video_keyframe_requests: u64,
}

impl Window {
    /// The share of audio packets missing, in percent (0 with too few packets to judge).
    pub fn audio_missing_percent(&self) -> u8 {
        let expected = self.audio_received + self.audio_missing;
        if expected < MIN_PACKETS {
            return 0;
        }
        ((self.audio_missing * 100 + expected / 2) / expected).min(100) as u8
    }

    fn quality(&self) -> Quality {
        let missing = self.audio_missing_percent();
        if missing >= POOR_PERCENT || self.video_keyframe_requests >= 2 {
            Quality::Poor
        } else if missing >= REDUCED_PERCENT || self.video_keyframe_requests >= 1 {
            Quality::Reduced
        } else {
            Quality::Good
        }
    }
}

/// Fewer audio packets than this in a window (silence, mute) say nothing about loss.
const MIN_PACKETS: u64 = 20;
const REDUCED_PERCENT: u8 = 3;
const POOR_PERCENT: u8 = 10;

/// Follows one participant's quality window by window.
#[derive(Debug, Clone)]
pub struct QualityTracker {
    shown: Quality,
    better_windows: u32,
}

impl Default for QualityTracker {
    fn default() -> Self {
        Self {
            shown: Quality::Good,
            better_windows: 0,
        }
    }
}

impl QualityTracker {
    /// Take one window; returns the quality to show when it changed.
    pub fn push(&mut self, window: &Window) -> Option<Quality> {
        let now = window.quality();
        if now > self.shown {
            self.shown = now;
            self.better_windows = 0;
            return Some(now);
        }
        if now < self.shown {
            self.better_windows += 1;
            if self.better_windows >= 2 {
                self.shown = now;
                self.better_windows = 0;
                return Some(now);
            }
        } else {
            self.better_windows = 0;
        }
        None
    }

    /// The quality shown now.
    pub fn shown(&self) -> Quality {
        self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(received: u64, missing: u64) -> Window {
        Window {
            audio_received: received,
            audio_missing: missing,
            video_keyframe_requests: 0,
        }
    }

    #[test]
    fn loss_is_judged_by_share_and_silence_says_nothing() {
        assert_eq!(audio(100, 0).quality(), Quality::Good);
        assert_eq!(audio(98, 2).quality(), Quality::Good);
        assert_eq!(audio(96, 4).quality(), Quality::Reduced);
        assert_eq!(audio(88, 12).quality(), Quality::Poor);
        // Three packets, two lost: too few to judge (muted, or silence with DTX).
        assert_eq!(audio(1, 2).quality(), Quality::Good);
        assert_eq!(audio(1, 2).audio_missing_percent(), 0);
        let video = Window {
            video_keyframe_requests: 2,
            ..audio(100, 0)
        };
        assert_eq!(video.quality(), Quality::Poor);
    }

    #[test]
    fn worse_shows_at_once_and_better_after_two_good_windows() {
        let mut tracker = QualityTracker::default();
        assert_eq!(tracker.push(&audio(100, 0)), None);
        assert_eq!(tracker.push(&audio(80, 20)), Some(Quality::Poor));
        assert_eq!(tracker.push(&audio(100, 0)), None);
        // A bad window in between starts the count again.
        assert_eq!(tracker.push(&audio(80, 20)), None);
        assert_eq!(tracker.push(&audio(100, 0)), None);
        assert_eq!(tracker.push(&audio(100, 0)), Some(Quality::Good));
        assert_eq!(tracker.shown(), Quality::Good);
    }
}
