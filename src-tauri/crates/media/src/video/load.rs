//! Whether this computer keeps up with encoding: the share of each frame interval that scaling
//! and encoding take, and how many simulcast layers that leaves room for.
//!
//! A 720p layer costs four times a 360p one. A computer that cannot encode every picture in time
//! sends pictures late and in bursts, and everything else on it (the sound, the window) waits
//! too. So, as browsers do, the biggest layer goes when encoding takes most of the frame interval
//! for a while, and comes back only when the work with it, predicted from what encoding costs
//! now, would leave plenty of room. A layer that comes back and is too much again waits twice as
//! long next time.
//!
//! Sans-IO: the caller measures and says when; time comes in milliseconds.

/// Encoding that takes more than this share of the frame interval is too much (libwebrtc's
/// default threshold).
const HIGH: f64 = 0.85;
/// A layer comes back when the work with it is predicted to take at most this share.
const ROOM: f64 = 0.6;
/// Too much for this long, and the biggest layer goes.
const OVERUSE_FOR_MS: u64 = 3_000;
/// Room for this long (at first; doubled after each return that did not last), and it comes
/// back.
const ROOM_FOR_MS: u64 = 10_000;
/// The longest wait before trying a layer again.
const MAX_ROOM_FOR_MS: u64 = 160_000;
/// A layer that is too much again within this time after it came back did not last.
const LASTS_MS: u64 = 30_000;
/// After each change the measure starts over: the encoders of the new set need a moment.
const SETTLE_MS: u64 = 2_000;
/// The share is smoothed over about this long.
const SMOOTHING_MS: f64 = 1_000.0;

/// How many simulcast layers encoding can afford, from how long it takes.
#[derive(Debug, Clone)]
pub struct EncodeLoad {
    layers: usize,
    allowed: usize,
    /// The smoothed share of the frame interval spent encoding.
    usage: Option<f64>,
    over_since: Option<u64>,
    room_since: Option<u64>,
    room_for_ms: u64,
    /// When the last layer came back.
    came_back_ms: Option<u64>,
    settle_until_ms: u64,
}

impl EncodeLoad {
    /// For a track of `layers` layers, all allowed at first.
    pub fn new(layers: usize) -> Self {
        let layers = layers.max(1);
        Self {
            layers,
            allowed: layers,
            usage: None,
            over_since: None,
            room_since: None,
            room_for_ms: ROOM_FOR_MS,
            came_back_ms: None,
            settle_until_ms: 0,
        }
    }

    /// How many layers (the smallest first) encoding can afford now.
    pub fn allowed(&self) -> usize {
        self.allowed
    }

    /// The smoothed share of the frame interval spent encoding (`None` before the first frame).
    pub fn usage(&self) -> Option<f64> {
        self.usage
    }

    /// One source picture took `busy_us` to scale and encode, at `now_ms`; pictures come every
    /// `interval_us`. `next_layer_factor` is how much the work would grow with one more layer
    /// (the pixels to encode with it over the pixels encoded now). Returns the new number of
    /// layers allowed when it changed.
    pub fn on_frame(
        &mut self,
        now_ms: u64,
        busy_us: u64,
        interval_us: u64,
        next_layer_factor: f64,
    ) -> Option<usize> {
        if now_ms < self.settle_until_ms {
            return None;
        }
        let share = busy_us as f64 / interval_us.max(1) as f64;
        let weight = (interval_us as f64 / 1000.0 / SMOOTHING_MS).clamp(0.0, 1.0);
        let usage = match self.usage {
            Some(u) => u + (share - u) * weight,
            None => share,
        };
        self.usage = Some(usage);
        if usage > HIGH && self.allowed > 1 {
            self.room_since = None;
            let since = *self.over_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= OVERUSE_FOR_MS {
                if self
                    .came_back_ms
                    .is_some_and(|t| now_ms.saturating_sub(t) < LASTS_MS)
                {
                    self.room_for_ms = (self.room_for_ms * 2).min(MAX_ROOM_FOR_MS);
                }
                self.came_back_ms = None;
                return Some(self.change(now_ms, self.allowed - 1));
            }
            return None;
        }
        self.over_since = None;
        // Nothing encoded now (an infinite factor) predicts nothing.
        let predicted = usage * next_layer_factor.max(1.0);
        if self.allowed < self.layers && predicted.is_finite() && predicted <= ROOM {
            let since = *self.room_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= self.room_for_ms {
                self.came_back_ms = Some(now_ms);
                return Some(self.change(now_ms, self.allowed + 1));
            }
        } else {
            self.room_since = None;
        }
        None
    }

    fn change(&mut self, now_ms: u64, allowed: usize) -> usize {
        self.allowed = allowed;
        self.usage = None;
        self.over_since = None;
        self.room_since = None;
        self.settle_until_ms = now_ms + SETTLE_MS;
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::EncodeLoad;

    const FRAME_US: u64 = 33_333;

    /// Frames at 30 fps for `secs` from `t` ms, each taking `share` of the interval; the
    /// changes reported, with their times.
    fn run(
        load: &mut EncodeLoad,
        t: &mut u64,
        secs: u64,
        share: f64,
        factor: f64,
    ) -> Vec<(u64, usize)> {
        let mut changes = Vec::new();
        for _ in 0..secs * 30 {
            *t += 33;
            let busy = (FRAME_US as f64 * share) as u64;
            if let Some(n) = load.on_frame(*t, busy, FRAME_US, factor) {
                changes.push((*t, n));
            }
        }
        changes
    }

    #[test]
    fn light_encoding_keeps_every_layer() {
        let mut load = EncodeLoad::new(3);
        let mut t = 0;
        assert!(run(&mut load, &mut t, 60, 0.5, 1.0).is_empty());
        assert_eq!(load.allowed(), 3);
    }

    #[test]
    fn lasting_overuse_drops_the_biggest_layer_and_a_moment_does_not() {
        let mut load = EncodeLoad::new(3);
        let mut t = 0;
        run(&mut load, &mut t, 2, 0.4, 1.0);
        // A second of slow encoding (another program starting) changes nothing.
        assert!(run(&mut load, &mut t, 1, 1.5, 1.0).is_empty());
        assert!(run(&mut load, &mut t, 3, 0.4, 1.0).is_empty());
        // Encoding that takes the whole interval: after about 3 s, one layer less, then after
        // the settling time and 3 s more another.
        let changes = run(&mut load, &mut t, 12, 1.0, 1.0);
        assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), vec![2, 1]);
        assert!(changes[1].0 - changes[0].0 >= 5_000, "{changes:?}");
        // Never below one layer.
        assert!(run(&mut load, &mut t, 10, 1.0, 1.0).is_empty());
        assert_eq!(load.allowed(), 1);
    }

    #[test]
    fn a_layer_comes_back_only_when_the_work_with_it_fits() {
        let mut load = EncodeLoad::new(3);
        let mut t = 0;
        run(&mut load, &mut t, 6, 1.0, 1.0);
        assert_eq!(load.allowed(), 2);
        // 20 % now, but the 720p layer would make it five times that: it stays off.
        assert!(run(&mut load, &mut t, 30, 0.2, 5.0).is_empty());
        // 10 %, five times is 50 %: it comes back after 10 s of that.
        let changes = run(&mut load, &mut t, 15, 0.1, 5.0);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(load.allowed(), 3);
    }

    #[test]
    fn a_layer_that_is_too_much_again_waits_twice_as_long() {
        let mut load = EncodeLoad::new(2);
        let mut t = 0;
        run(&mut load, &mut t, 6, 1.0, 1.0);
        let back = run(&mut load, &mut t, 15, 0.1, 4.0);
        assert_eq!(back.len(), 1);
        let (first_back, _) = back[0];
        // Too much again at once: it goes, and the next return takes 20 s of room, not 10.
        let gone = run(&mut load, &mut t, 6, 1.0, 1.0);
        assert_eq!(gone.iter().map(|c| c.1).collect::<Vec<_>>(), vec![1]);
        assert!(gone[0].0 - first_back < 30_000);
        let before = t;
        let again = run(&mut load, &mut t, 30, 0.1, 4.0);
        assert_eq!(again.len(), 1, "{again:?}");
        assert!(again[0].0 - before >= 20_000, "{again:?}");
    }
}
