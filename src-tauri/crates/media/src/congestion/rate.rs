//! The delay-based rate: what the trendline's verdict does to the sending rate (increase, hold,
//! decrease — AIMD with a search phase).
//!
//! - **Overuse**: the rate becomes 0.85 × what the receiver acknowledged, not 0.85 × what we
//!   asked for: the acknowledged rate is what the bottleneck actually passes, so the new rate
//!   lies just under the link and the queue drains, however far above the link we were.
//! - **Near the last known capacity** (at least 80 % of it): add about one packet per
//!   response time (round trip + 100 ms), so that the queue grows by at most a packet before
//!   the next verdict can stop it.
//! - **Far from it, or with none known** (at the start, after the link grew, after a long
//!   back-off): search multiplicatively, starting at 8 %/s and speeding up by 8 %/s for every
//!   second the search goes on without overuse, up to 50 %/s. Plain 8 %/s needs ~25 s from
//!   300 kbit/s to 2 Mbit/s and ~17 s from 550 kbit/s back to 2 Mbit/s after a link grew
//!   back; every second without overuse is evidence of more headroom, so growing faster the
//!   longer it lasts finds a big link in seconds while the first second stays as cautious as
//!   plain GCC (a link that is only a little larger is met at ~8 %/s).
//! - **Never above 1.5 × acknowledged + 10 kbit/s**: an encoder that sends less than allowed
//!   (a still picture) gives no evidence that more would get through, so the estimate must not
//!   float up on silence.

use std::time::{Duration, Instant};

use super::DelayState;
use super::capacity::LinkCapacity;

/// Multiplicative decrease on overuse, applied to the acknowledged rate.
const BETA: f64 = 0.85;
/// At or above this fraction of the known capacity, increase additively.
const NEAR_CAPACITY: f64 = 0.8;
/// Search growth per second: starts here, grows by `SEARCH_ACCELERATION` per second of search,
/// capped at `SEARCH_MAX`.
const SEARCH_START: f64 = 0.08;
const SEARCH_ACCELERATION: f64 = 0.08;
const SEARCH_MAX: f64 = 0.5;
/// Additive increase: one packet of this size (or one frame at 30 fps when that is smaller)
/// per response time, but at least `ADDITIVE_MIN_BPS` per second.
const PACKET_BITS: f64 = 1200.0 * 8.0;
const FRAMES_PER_SECOND: f64 = 30.0;
const ADDITIVE_MIN_BPS: f64 = 4_000.0;
/// Added to the round trip for the response time: the feedback interval and detection delay.
const RESPONSE_EXTRA: Duration = Duration::from_millis(100);
/// The rate may not exceed acknowledged × `ACKED_HEADROOM` + `ACKED_SLACK_BPS`.
const ACKED_HEADROOM: f64 = 1.5;
const ACKED_SLACK_BPS: f64 = 10_000.0;
/// The longest time step one increase accounts for, so that a gap is not read as a long
/// period of good news.
const MAX_STEP: Duration = Duration::from_secs(1);
/// A further decrease needs at least this long (the round trip, within these bounds) since the
/// last one, so that the last one could show its effect.
const MIN_DECREASE_GAP: Duration = Duration::from_millis(10);
const MAX_DECREASE_GAP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Wait: a decrease has yet to show its effect, or the queue is draining.
    Hold,
    Increase,
}

/// The delay-based rate controller.
#[derive(Debug)]
pub(super) struct DelayRateControl {
    rate_bps: f64,
    min_bps: f64,
    max_bps: f64,
    phase: Phase,
    capacity: LinkCapacity,
    last_change: Option<Instant>,
    last_decrease: Option<Instant>,
    /// When the current search (increase far from any known capacity) began.
    search_since: Option<Instant>,
    /// The last increase was held at what arrives × [`ACKED_HEADROOM`]: we send less than the
    /// rate would allow (an encoder with nothing more to say, layers switched off), and the
    /// rate cannot find out whether the path carries more.
    held_by_sending: bool,
}

impl DelayRateControl {
    pub(super) fn new(start_bps: f64, min_bps: f64, max_bps: f64) -> Self {
        Self {
            rate_bps: start_bps,
            min_bps,
            max_bps,
            phase: Phase::Increase,
            capacity: LinkCapacity::default(),
            last_change: None,
            last_decrease: None,
            search_since: None,
            held_by_sending: false,
        }
    }

    pub(super) fn rate_bps(&self) -> f64 {
        self.rate_bps
    }

    /// Whether the rate is held by what we send rather than by the path.
    pub(super) fn held_by_sending(&self) -> bool {
        self.held_by_sending
    }

    /// One feedback batch's verdict.
    pub(super) fn update(
        &mut self,
        now: Instant,
        state: DelayState,
        acked_bps: Option<f64>,
        rtt: Duration,
    ) {
        if state != DelayState::Normal {
            self.held_by_sending = false;
        }
        match state {
            DelayState::Overusing => {
                if self.may_decrease(now, acked_bps, rtt) {
                    self.decrease(now, acked_bps);
                }
            }
            DelayState::Underusing => {
                // The queue drains: our last decrease works. Adding now would refill it.
                self.phase = Phase::Hold;
                self.last_change = Some(now);
            }
            DelayState::Normal => {
                if self.phase == Phase::Increase {
                    self.increase(now, acked_bps, rtt);
                } else {
                    self.phase = Phase::Increase;
                    self.last_change = Some(now);
                }
            }
        }
    }

    /// Multiply the rate by `factor` (no feedback for a long time).
    pub(super) fn back_off(&mut self, now: Instant, factor: f64) {
        self.rate_bps = (self.rate_bps * factor).clamp(self.min_bps, self.max_bps);
        self.held_by_sending = false;
        self.phase = Phase::Hold;
        self.last_change = Some(now);
        self.search_since = None;
    }

    fn may_decrease(&self, now: Instant, acked_bps: Option<f64>, rtt: Duration) -> bool {
        let gap = rtt.clamp(MIN_DECREASE_GAP, MAX_DECREASE_GAP);
        let waited = self
            .last_decrease
            .is_none_or(|t| now.saturating_duration_since(t) >= gap);
        // Far less gets through than we send: no need to wait for the last decrease to show.
        let collapsed = acked_bps.is_some_and(|a| a < self.rate_bps / 2.0);
        waited || collapsed
    }

    fn decrease(&mut self, now: Instant, acked_bps: Option<f64>) {
        let base = acked_bps.unwrap_or(self.rate_bps);
        self.rate_bps = (BETA * base)
            .min(self.rate_bps)
            .clamp(self.min_bps, self.max_bps);
        if let Some(acked) = acked_bps {
            if self.capacity.lower_bps().is_some_and(|lower| acked < lower) {
                self.capacity.reset();
            }
            self.capacity.on_overuse(acked);
        }
        // The decrease is done at once; then wait for its effect.
        self.phase = Phase::Hold;
        self.last_change = Some(now);
        self.last_decrease = Some(now);
        self.search_since = None;
    }

    fn increase(&mut self, now: Instant, acked_bps: Option<f64>, rtt: Duration) {
        let step = self
            .last_change
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(MAX_STEP);
        self.last_change = Some(now);
        if let (Some(acked), Some(upper)) = (acked_bps, self.capacity.upper_bps())
            && acked > upper
        {
            self.capacity.reset();
        }
        let near = self
            .capacity
            .estimate_bps()
            .is_some_and(|c| self.rate_bps >= NEAR_CAPACITY * c);
        let added = if near {
            self.search_since = None;
            self.additive_bps_per_s(rtt) * step.as_secs_f64()
        } else {
            let since = *self.search_since.get_or_insert(now);
            let growth = search_growth(now.saturating_duration_since(since));
            self.rate_bps * ((1.0 + growth).powf(step.as_secs_f64()) - 1.0)
        };
        let mut rate = self.rate_bps + added;
        self.held_by_sending = false;
        if let Some(acked) = acked_bps {
            let limit = ACKED_HEADROOM * acked + ACKED_SLACK_BPS;
            self.held_by_sending = rate > limit && self.rate_bps < self.max_bps;
            // Above the limit already (the encoder just fell silent): hold, do not jump down;
            // delay, not the encoder, decides decreases.
            rate = if self.rate_bps < limit {
                rate.min(limit)
            } else {
                self.rate_bps
            };
        }
        self.rate_bps = rate.clamp(self.min_bps, self.max_bps);
    }

    fn additive_bps_per_s(&self, rtt: Duration) -> f64 {
        let packet = PACKET_BITS.min(self.rate_bps / FRAMES_PER_SECOND);
        let response = (rtt + RESPONSE_EXTRA).as_secs_f64();
        (packet / response).max(ADDITIVE_MIN_BPS)
    }
}

/// Relative growth per second after searching for `elapsed` without overuse.
pub(super) fn search_growth(elapsed: Duration) -> f64 {
    (SEARCH_START + SEARCH_ACCELERATION * elapsed.as_secs_f64()).min(SEARCH_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(100);

    fn run(control: &mut DelayRateControl, t0: Instant, from_ms: u64, to_ms: u64, acked: f64) {
        for ms in (from_ms..to_ms).step_by(50) {
            let now = t0 + Duration::from_millis(ms);
            control.update(now, DelayState::Normal, Some(acked), RTT);
        }
    }

    #[test]
    fn overuse_goes_to_085_of_what_got_through() {
        let t0 = Instant::now();
        let mut control = DelayRateControl::new(2_000_000.0, 50_000.0, 10_000_000.0);
        control.update(t0, DelayState::Overusing, Some(1_000_000.0), RTT);
        assert_eq!(control.rate_bps(), 850_000.0);
        // Still overusing 50 ms later: too soon to decrease again.
        let soon = t0 + Duration::from_millis(50);
        control.update(soon, DelayState::Overusing, Some(800_000.0), RTT);
        assert_eq!(control.rate_bps(), 850_000.0);
    }

    #[test]
    fn the_search_accelerates_and_creeps_near_the_capacity() {
        let t0 = Instant::now();
        let mut control = DelayRateControl::new(300_000.0, 50_000.0, 10_000_000.0);
        let mut rates = Vec::new();
        for second in 0..6 {
            let acked = control.rate_bps();
            run(&mut control, t0, second * 1000, (second + 1) * 1000, acked);
            rates.push(control.rate_bps());
        }
        let growth: Vec<f64> = rates.windows(2).map(|w| w[1] / w[0]).collect();
        assert!(growth.windows(2).all(|g| g[1] > g[0]), "{growth:?}");
        // Learn a capacity of 1 Mbit/s, then sit right under it: additive, ~48 kbit/s per s.
        let t1 = t0 + Duration::from_secs(10);
        control.update(t1, DelayState::Overusing, Some(1_000_000.0), RTT);
        run(&mut control, t1, 0, 3000, 900_000.0);
        let added = control.rate_bps() - 850_000.0;
        assert!((120_000.0..160_000.0).contains(&added), "{added}");
    }

    #[test]
    fn an_encoder_sending_less_caps_the_increase() {
        let t0 = Instant::now();
        let mut control = DelayRateControl::new(300_000.0, 50_000.0, 10_000_000.0);
        run(&mut control, t0, 0, 30_000, 200_000.0);
        assert_eq!(control.rate_bps(), 310_000.0);
    }
}
