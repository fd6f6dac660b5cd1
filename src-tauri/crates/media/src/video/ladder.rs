//! What picture to send for the bandwidth we have: size, frame rate and encoder bitrate.
//!
//! Audio comes first: its share is set aside before video gets anything, and below a floor
//! video pauses rather than take speech's place. What is left is spent the way a viewer prefers
//! it: a sharp smaller picture over a mushy big one (each size has a bitrate below which it
//! looks worse than the next smaller one), and smooth motion over detail (the frame rate drops
//! only at the smallest size). The source's size is the largest we send; smaller sizes are
//! halves of it.
//!
//! A change of size costs a keyframe (several times a normal picture), so the ladder steps down
//! at once when the budget no longer carries the size, but steps up only after the budget has
//! carried the bigger size with margin for a while: an estimate that wobbles does not make the
//! picture jump. The encoder's bitrate follows the budget closely, without hysteresis; it costs
//! nothing to change.
//!
//! Sans-IO: time comes in milliseconds from the caller.

/// Set aside for audio before video gets anything (bit/s): Opus at 48 kbit/s (deep redundancy
/// included) and the packet overhead of 50 packets a second (IP, UDP, SRTP, RTP with
/// extensions).
pub const AUDIO_RESERVE_BPS: u32 = 76_000;
/// Video below this (bit/s) is not worth sending: it pauses and audio keeps the link.
pub const MIN_VIDEO_BPS: u32 = 25_000;
/// The share of the video budget the encoder may spend on the picture itself; the rest is packet
/// overhead (60 bytes on a packet of about 1160).
pub(crate) const PAYLOAD_SHARE: f64 = 0.95;
/// Stepping up needs this much more than the bigger size's minimum ...
pub(crate) const UP_MARGIN: f64 = 1.25;
/// ... for this long.
pub(crate) const UP_AFTER_MS: u64 = 4_000;

/// Bit/s a picture of `pixels` needs at least, at full frame rate, before it looks better than
/// the half-size picture (VP8, real-time settings; about 720p at 900 kbit/s, 360p at 280 kbit/s,
/// 180p at 90 kbit/s).
pub(crate) fn min_bps(pixels: u32) -> u32 {
    (f64::from(pixels) * 0.95 + 35_000.0) as u32
}

/// Bit/s beyond which a picture of `pixels` gains nothing visible (720p at 2.5 Mbit/s, 360p at
/// 800 kbit/s, 180p at 260 kbit/s).
pub(crate) fn max_bps(pixels: u32) -> u32 {
    (f64::from(pixels) * 2.6 + 110_000.0) as u32
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPlan {
    /// Picture width (even).
    pub width: u32,
    /// Picture height (even).
    pub height: u32,
    /// Send every n-th source frame (1: all of them).
    pub frame_divisor: u32,
    /// The encoder's target bitrate, kbit/s.
    pub bitrate_kbps: u32,
    /// No video at all: the budget carries only audio.
    pub paused: bool,
}

/// The ladder for one source: how far it is scaled down, and since when the budget would carry
/// a bigger picture.
#[derive(Debug, Clone)]
pub struct VideoLadder {
    source: (u32, u32),
    /// How many times the source is halved (0: full size).
    halvings: u32,
    /// Since when the budget has carried the next bigger size with margin.
    up_since: Option<u64>,
    /// At full size, the encoder may spend up to this much even past what the picture needs
    /// (see [`set_headroom`](Self::set_headroom)).
    headroom_bps: u32,
}

/// Halve both sides, kept even and at least 2.
pub(crate) fn halve(size: (u32, u32), times: u32) -> (u32, u32) {
    let side = |v: u32| ((v >> times) & !1).max(2);
    (side(size.0), side(size.1))
}

impl VideoLadder {
    /// At most this many halvings (a 720p source down to 160×90).
    const MAX_HALVINGS: u32 = 3;

    /// A ladder for a source of this size, starting at full size.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            source: (width, height),
            halvings: 0,
            up_since: None,
            headroom_bps: 0,
        }
    }

    /// Let the full-size picture spend up to `bps` of video budget even past what it needs:
    /// for a simulcast base layer, enough that what arrives lets the estimate grow to the next
    /// layer's threshold (the estimate never grows past 1.5 × what arrives).
    pub fn set_headroom(&mut self, bps: u32) {
        self.headroom_bps = bps;
    }

    /// The source changed size (another camera): start again from its full size, which the
    /// next [`plan`](Self::plan) corrects at once if the budget does not carry it.
    pub fn set_source(&mut self, width: u32, height: u32) {
        if (width, height) != self.source {
            let headroom = self.headroom_bps;
            *self = Self::new(width, height);
            self.headroom_bps = headroom;
        }
    }

    fn pixels(&self, halvings: u32) -> u32 {
        let (w, h) = halve(self.source, halvings);
        w * h
    }

    /// The deepest halving that still makes sense for this source (never below about 160×90).
    fn deepest(&self) -> u32 {
        (0..=Self::MAX_HALVINGS)
            .take_while(|h| {
                let (w, hgt) = halve(self.source, *h);
                *h == 0 || (w >= 160 && hgt >= 90)
            })
            .last()
            .unwrap_or(0)
    }

    /// The plan for a total sending estimate of `estimate_bps` at `now_ms`.
    pub fn plan(&mut self, now_ms: u64, estimate_bps: u32) -> VideoPlan {
        let video = estimate_bps.saturating_sub(AUDIO_RESERVE_BPS);
        let deepest = self.deepest();
        self.halvings = self.halvings.min(deepest);
        // Down at once, as far as needed.
        while self.halvings < deepest && video < min_bps(self.pixels(self.halvings)) {
            self.halvings += 1;
            self.up_since = None;
        }
        // Up one step once the budget has carried the bigger size with margin for a while.
        if self.halvings > 0 {
            let bigger = min_bps(self.pixels(self.halvings - 1));
            if f64::from(video) >= f64::from(bigger) * UP_MARGIN {
                let since = *self.up_since.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= UP_AFTER_MS {
                    self.halvings -= 1;
                    self.up_since = None;
                }
            } else {
                self.up_since = None;
            }
        }
        let (width, height) = halve(self.source, self.halvings);
        let pixels = width * height;
        // At the smallest size, fewer frames rather than mush: half the rate below its minimum,
        // a quarter well below it.
        let floor = min_bps(pixels);
        let frame_divisor = if self.halvings < deepest || video >= floor {
            1
        } else if f64::from(video) >= f64::from(floor) * 0.6 {
            2
        } else {
            4
        };
        // Below the full size, the encoder may spend enough to carry the next bigger size's
        // step up: the estimate never grows past 1.5 × what arrives (it cannot tell a link
        // that is full from an encoder that has nothing more to say), so a small picture capped
        // at what it needs would hold the estimate below what the bigger one needs, for good.
        let cap = if self.halvings > 0 {
            let bigger = min_bps(self.pixels(self.halvings - 1));
            max_bps(pixels).max((f64::from(bigger) * UP_MARGIN * 1.1) as u32)
        } else {
            max_bps(pixels).max(self.headroom_bps)
        };
        let payload = (f64::from(video.min(cap)) * PAYLOAD_SHARE) as u32;
        VideoPlan {
            width,
            height,
            frame_divisor,
            bitrate_kbps: (payload / 1000).max(30),
            paused: video < MIN_VIDEO_BPS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_link_sends_the_full_picture_capped_at_what_it_needs() {
        let mut ladder = VideoLadder::new(1280, 720);
        let plan = ladder.plan(0, 5_000_000);
        assert_eq!(
            (plan.width, plan.height, plan.frame_divisor),
            (1280, 720, 1)
        );
        // 720p gains nothing past about 2.5 Mbit/s: the encoder is not told to spend more.
        assert!(
            plan.bitrate_kbps > 2000 && plan.bitrate_kbps < 2500,
            "{plan:?}"
        );
        assert!(!plan.paused);
        let mut small = VideoLadder::new(640, 360);
        let plan = small.plan(0, 5_000_000);
        assert_eq!((plan.width, plan.height), (640, 360));
        assert!(plan.bitrate_kbps < 800, "{plan:?}");
    }

    #[test]
    fn audio_is_set_aside_first() {
        let mut ladder = VideoLadder::new(640, 360);
        let plan = ladder.plan(0, 500_000);
        // 424 kbit/s for video, 95 % of it for the picture.
        assert_eq!(plan.bitrate_kbps, 402);
        // Below audio and the smallest video together: video pauses, audio keeps its share.
        let plan = ladder.plan(0, AUDIO_RESERVE_BPS + MIN_VIDEO_BPS - 1);
        assert!(plan.paused, "{plan:?}");
        assert!(!ladder.plan(0, AUDIO_RESERVE_BPS + MIN_VIDEO_BPS).paused);
        assert!(ladder.plan(0, 0).paused);
    }

    #[test]
    fn the_picture_shrinks_at_once_and_grows_back_only_after_a_while() {
        let mut ladder = VideoLadder::new(1280, 720);
        assert_eq!(ladder.plan(0, 2_500_000).width, 1280);
        // 500 kbit/s: 720p (needs ~900k) and not 360p? 424k carries 360p (needs ~250k).
        let plan = ladder.plan(1_000, 500_000);
        assert_eq!((plan.width, plan.height), (640, 360), "{plan:?}");
        // 180 kbit/s: down to 180p in one step.
        assert_eq!(ladder.plan(2_000, 180_000).width, 320);
        // Back at 2.5 Mbit/s: one size at a time, each after four seconds.
        let mut sizes: Vec<(u32, u64)> = Vec::new();
        for t in (3_000..20_000).step_by(100) {
            let w = ladder.plan(t, 2_500_000).width;
            if sizes.last().map(|s| s.0) != Some(w) {
                sizes.push((w, t));
            }
        }
        assert_eq!(
            sizes,
            vec![(320, 3_000), (640, 7_000), (1280, 11_100)],
            "{sizes:?}"
        );
    }

    #[test]
    fn a_small_picture_may_spend_enough_for_the_estimate_to_grow_past_it() {
        let mut ladder = VideoLadder::new(640, 360);
        assert_eq!(ladder.plan(0, 200_000).width, 320);
        // Plenty again, but not yet for long: still 180p, allowed more than 180p needs, so
        // that what arrives (× 1.5, the estimator's ceiling) carries 360p's step up.
        let plan = ladder.plan(100, 1_000_000);
        assert_eq!(plan.width, 320);
        assert!(plan.bitrate_kbps > 300, "{plan:?}");
        // The full size is capped at what it needs.
        assert!(VideoLadder::new(640, 360).plan(0, 1_000_000).bitrate_kbps < 700);
    }

    #[test]
    fn a_wobbling_estimate_does_not_make_the_picture_jump() {
        let mut ladder = VideoLadder::new(1280, 720);
        ladder.plan(0, 400_000);
        assert_eq!(ladder.plan(0, 400_000).width, 640);
        // Alternating between plenty and just enough for 360p: the bigger size is never
        // carried for four seconds in a row, so it stays at 360p.
        for step in 0..100u64 {
            let estimate = if step % 20 < 10 { 2_000_000 } else { 600_000 };
            assert_eq!(ladder.plan(step * 300, estimate).width, 640, "at {step}");
        }
    }

    #[test]
    fn the_smallest_picture_trades_frames_for_sharpness() {
        let mut ladder = VideoLadder::new(640, 360);
        let plan = ladder.plan(0, AUDIO_RESERVE_BPS + 200_000);
        assert_eq!((plan.width, plan.frame_divisor), (320, 1), "{plan:?}");
        let plan = ladder.plan(0, AUDIO_RESERVE_BPS + 70_000);
        assert_eq!((plan.width, plan.frame_divisor), (160, 1), "{plan:?}");
        // 160×90 needs about 48.7 kbit/s at full rate: below, half the frames; below 60 % of
        // it, a quarter, down to the pause.
        let plan = ladder.plan(0, AUDIO_RESERVE_BPS + 45_000);
        assert_eq!((plan.width, plan.frame_divisor), (160, 2), "{plan:?}");
        let plan = ladder.plan(0, AUDIO_RESERVE_BPS + MIN_VIDEO_BPS);
        assert_eq!((plan.frame_divisor, plan.paused), (4, false), "{plan:?}");
    }

    #[test]
    fn odd_and_tiny_sources_stay_valid() {
        for (w, h) in [(2, 2), (161, 91), (1920, 1080), (4, 3000)] {
            let mut ladder = VideoLadder::new(w, h);
            for estimate in [0, 50_000, 100_000, 300_000, 10_000_000] {
                let plan = ladder.plan(0, estimate);
                assert!(plan.width >= 2 && plan.height >= 2, "{w}x{h}: {plan:?}");
                assert_eq!(plan.width % 2, 0);
                assert_eq!(plan.height % 2, 0);
                assert!(
                    plan.width <= w.max(2) && plan.height <= h.max(2),
                    "{plan:?}"
                );
                assert!(plan.bitrate_kbps >= 30);
            }
        }
        let mut ladder = VideoLadder::new(1280, 720);
        ladder.plan(0, 100_000);
        ladder.set_source(640, 480);
        assert_eq!(ladder.plan(0, 5_000_000).width, 640);
    }
}
