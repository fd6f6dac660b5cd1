//! Is the bottleneck's queue growing? A straight line fitted through the recent accumulated
//! delay variation: its slope is how fast the queue grows (ms of queue per ms of time), and
//! that slope, compared with a threshold that adapts to the path's own noise, says overusing,
//! underusing or normal.
//!
//! A line over ~20 groups rather than the last sample: one late group is jitter, twenty groups
//! each a bit later than the last is a queue.

use std::collections::VecDeque;
use std::time::Duration;

use super::DelayState;
use super::arrival::{GroupDelta, signed_duration_ms};

/// Groups in the fitted window (about 100 ms of a paced 2 Mbit/s stream).
const WINDOW: usize = 20;
/// Weight of the old value when smoothing the accumulated delay before fitting.
const SMOOTHING: f64 = 0.9;
/// The slope is scaled by the number of samples behind it (up to this many) and this gain, so
/// that a slope of a few percent compares with a threshold of some milliseconds.
const MAX_DELTAS: f64 = 60.0;
const GAIN: f64 = 4.0;
/// The threshold starts here and stays in this range (same unit as the scaled slope).
const THRESHOLD_START: f64 = 12.5;
const THRESHOLD_MIN: f64 = 6.0;
const THRESHOLD_MAX: f64 = 600.0;
/// How fast the threshold follows the scaled slope, per ms: up slowly (so that a real queue is
/// not absorbed into the threshold), down fast (so that sensitivity returns after jitter).
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// A slope this far above the threshold may be a spike (a route change, a paused sender); it
/// raises the threshold only as much as one this far above would. libwebrtc ignores such
/// slopes altogether, but then ±20 ms of jitter (slopes always far above) never raises the
/// threshold at all and reads as overuse again and again; capped, a lone spike moves the
/// threshold by at most ~0.6 per group while sustained jitter lifts it within a second.
const SPIKE_MARGIN: f64 = 15.0;
/// The longest step of threshold adaptation, in ms.
const MAX_ADAPT_STEP_MS: f64 = 100.0;
/// The slope must stay above the threshold for this much send time before it counts as
/// overuse: a single burst of cross traffic is not congestion.
const OVERUSE_TIME_MS: f64 = 10.0;

/// Trend of the queueing delay and the overuse decision.
#[derive(Debug)]
pub(super) struct Trendline {
    /// (arrival ms since `first_arrival`, smoothed accumulated delay ms).
    samples: VecDeque<(f64, f64)>,
    first_arrival: Option<Duration>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    deltas: u32,
    /// The last fitted slope (ms per ms).
    slope: f64,
    previous_slope: f64,
    threshold: f64,
    last_adapt_ms: Option<f64>,
    /// Send time spent above the threshold so far; `None` when below it.
    time_over_ms: Option<f64>,
    over_count: u32,
    state: DelayState,
}

impl Default for Trendline {
    fn default() -> Self {
        Self {
            samples: VecDeque::with_capacity(WINDOW + 1),
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            deltas: 0,
            slope: 0.0,
            previous_slope: 0.0,
            threshold: THRESHOLD_START,
            last_adapt_ms: None,
            time_over_ms: None,
            over_count: 0,
            state: DelayState::Normal,
        }
    }
}

impl Trendline {
    /// One more group compared with its predecessor: the new delay state.
    pub(super) fn on_delta(&mut self, delta: &GroupDelta) -> DelayState {
        let first = *self.first_arrival.get_or_insert(delta.arrival);
        let at_ms = signed_duration_ms(delta.arrival, first);
        self.deltas = self.deltas.saturating_add(1);
        self.accumulated_ms += delta.arrival_ms - delta.send_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        self.samples.push_back((at_ms, self.smoothed_ms));
        if self.samples.len() > WINDOW {
            self.samples.pop_front();
        }
        if self.samples.len() == WINDOW
            && let Some(slope) = fitted_slope(&self.samples)
        {
            self.slope = slope;
        }
        self.detect(delta.send_ms, at_ms);
        self.state
    }

    /// The current decision.
    pub(super) fn state(&self) -> DelayState {
        self.state
    }

    /// Forget the history but keep the threshold learned for this path.
    pub(super) fn reset(&mut self) {
        *self = Self {
            threshold: self.threshold,
            ..Self::default()
        };
    }

    fn detect(&mut self, send_ms: f64, at_ms: f64) {
        if self.deltas < 2 {
            self.state = DelayState::Normal;
            return;
        }
        let scaled = f64::from(self.deltas).min(MAX_DELTAS) * self.slope * GAIN;
        if scaled > self.threshold {
            // Half the first step: the slope crossed somewhere within it.
            let over = self.time_over_ms.map_or(send_ms / 2.0, |t| t + send_ms);
            self.over_count += 1;
            self.time_over_ms = Some(over);
            if over > OVERUSE_TIME_MS && self.over_count > 1 && self.slope >= self.previous_slope {
                self.time_over_ms = Some(0.0);
                self.over_count = 0;
                self.state = DelayState::Overusing;
            }
        } else {
            self.time_over_ms = None;
            self.over_count = 0;
            self.state = if scaled < -self.threshold {
                DelayState::Underusing
            } else {
                DelayState::Normal
            };
        }
        self.previous_slope = self.slope;
        self.adapt_threshold(scaled, at_ms);
    }

    fn adapt_threshold(&mut self, scaled: f64, at_ms: f64) {
        let last = *self.last_adapt_ms.get_or_insert(at_ms);
        self.last_adapt_ms = Some(at_ms);
        let error = (scaled.abs() - self.threshold).min(SPIKE_MARGIN);
        let k = if error < 0.0 { K_DOWN } else { K_UP };
        let step_ms = (at_ms - last).clamp(0.0, MAX_ADAPT_STEP_MS);
        self.threshold += k * error * step_ms;
        self.threshold = self.threshold.clamp(THRESHOLD_MIN, THRESHOLD_MAX);
    }
}

/// Least-squares slope of y over x; `None` when all x are equal.
fn fitted_slope(samples: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = samples.len() as f64;
    let mean_x = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for &(x, y) in samples {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups every 5 ms whose arrival spacing is `5 + growth_ms`.
    fn feed(trend: &mut Trendline, groups: usize, growth_ms: f64, start: &mut f64) -> DelayState {
        let mut state = DelayState::Normal;
        for _ in 0..groups {
            *start += 5.0 + growth_ms;
            state = trend.on_delta(&GroupDelta {
                send_ms: 5.0,
                arrival_ms: 5.0 + growth_ms,
                arrival: Duration::from_secs_f64(*start / 1e3),
            });
        }
        state
    }

    #[test]
    fn a_steady_path_is_normal() {
        let mut trend = Trendline::default();
        assert_eq!(feed(&mut trend, 200, 0.0, &mut 0.0), DelayState::Normal);
    }

    #[test]
    fn a_growing_queue_is_overuse_and_a_draining_one_underuse() {
        let mut trend = Trendline::default();
        let mut at = 0.0;
        feed(&mut trend, 100, 0.0, &mut at);
        // Each group 0.5 ms later than the last: a queue growing by 10 %.
        assert_eq!(feed(&mut trend, 30, 0.5, &mut at), DelayState::Overusing);
        assert_eq!(feed(&mut trend, 30, -0.5, &mut at), DelayState::Underusing);
    }

    #[test]
    fn the_threshold_rises_with_jitter_and_falls_back() {
        let mut trend = Trendline::default();
        let mut at = 0.0;
        // Arrivals wobbling by ±20 ms over ~60 groups: jitter, no queue.
        let wobble = |i: i32| 20.0 * (f64::from(i) * 0.1).sin();
        let mut jittery = 0.0f64;
        for i in 1..2_000 {
            feed(&mut trend, 1, wobble(i) - wobble(i - 1), &mut at);
            jittery = jittery.max(trend.threshold);
        }
        // Slopes far above the threshold still lift it (libwebrtc's rule would leave it at 12.5).
        assert!(jittery > 2.0 * THRESHOLD_START, "{jittery}");
        feed(&mut trend, 400, 0.0, &mut at);
        assert!(trend.threshold < jittery / 2.0, "{}", trend.threshold);
    }
}
