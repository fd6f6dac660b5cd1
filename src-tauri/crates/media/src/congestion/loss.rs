//! The loss-based rate: a ceiling that heavy loss lowers and loss-free windows raise again.
//!
//! It starts at the configured maximum, i.e. loss limits nothing until it has been heavy once.
//! Plain GCC holds a loss-based *rate* in the 2–10 % band, which pins a call that starts on a
//! lossy Wi-Fi (5 % random loss) at its start rate forever; as a ceiling, moderate loss only
//! stops it from rising, and the delay-based rate finds the link.
//!
//! Loss is counted over windows of at least 100 packets (or 20 packets and a second): a single
//! 50 ms feedback batch holds a dozen packets, and one unlucky loss among them would read as
//! 8 %, two as 15 % — random 5 % loss would then cut the rate every few seconds.

use std::time::{Duration, Instant};

use super::rate::search_growth;

/// Above this loss fraction, decrease.
const HEAVY_LOSS: f64 = 0.10;
/// Below this, the ceiling may rise.
const LIGHT_LOSS: f64 = 0.02;
/// While loss is light the ceiling grows like the delay-based search (8 %/s, faster the longer
/// loss stays light, see `rate`), plus this constant so that a ceiling at a few kbit/s still
/// moves. Plain 8 %/s would take half a minute to give back a rate that one burst of loss (a
/// dead second, a handover) took away, although every window since says the path is clean.
const GROWTH_BPS_PER_S: f64 = 1_000.0;
/// A window closes with this many packets, or with `MIN_PACKETS` once `MAX_WINDOW` has passed.
const WINDOW_PACKETS: u32 = 100;
const MIN_PACKETS: u32 = 20;
const MAX_WINDOW: Duration = Duration::from_secs(1);
/// A window closes early, with at least `MIN_PACKETS`, once more than this share is lost: the
/// link just narrowed below what we send and drops a third of everything, speech included.
/// Random loss does not look like this: at 5 %, 6 of 20 packets lost has a chance of 3 in
/// 10 000.
const BURST_LOSS: f64 = 0.25;
/// After heavy loss, at most this share of what got through.
const THROUGH_SHARE: f64 = 0.85;
/// After a decrease, wait this plus a round trip before the next: the packets in flight were
/// sent at the old rate and will be lost just the same.
const DECREASE_GAP: Duration = Duration::from_millis(300);
/// Between light and heavy loss the ceiling still grows, slowly: a lossy Wi-Fi (steady random
/// loss of a few percent) makes a window heavy now and then, each such window takes a few
/// percent off, and without growth in between the ceiling would only ever fall over a long call.
/// Whether the link has room is the delay-based rate's business; this only undoes the loss
/// windows' cuts, by 1 %/s.
const MODERATE_GROWTH_PER_S: f64 = 0.01;
/// The longest time step one increase accounts for.
const MAX_STEP: Duration = Duration::from_secs(1);

/// The loss-based rate controller.
#[derive(Debug)]
pub(super) struct LossRateControl {
    ceiling_bps: f64,
    min_bps: f64,
    max_bps: f64,
    received: u32,
    lost: u32,
    window_start: Option<Instant>,
    /// The loss fraction of the last closed window.
    fraction: f64,
    last_increase: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Since when every window had light loss.
    light_since: Option<Instant>,
}

impl LossRateControl {
    pub(super) fn new(min_bps: f64, max_bps: f64) -> Self {
        Self {
            ceiling_bps: max_bps,
            min_bps,
            max_bps,
            received: 0,
            lost: 0,
            window_start: None,
            fraction: 0.0,
            last_increase: None,
            last_decrease: None,
            light_since: None,
        }
    }

    pub(super) fn rate_bps(&self) -> f64 {
        self.ceiling_bps
    }

    /// The loss fraction of the last complete window.
    pub(super) fn fraction(&self) -> f64 {
        self.fraction
    }

    /// A feedback batch reported `received` and `lost` packets; `target_bps` is what we send.
    /// `acked_bps` is what the receiver got lately, if measured (used after a burst of loss).
    pub(super) fn on_feedback(
        &mut self,
        now: Instant,
        received: u32,
        lost: u32,
        target_bps: f64,
        acked_bps: Option<f64>,
        rtt: Duration,
    ) {
        self.received = self.received.saturating_add(received);
        self.lost = self.lost.saturating_add(lost);
        let start = *self.window_start.get_or_insert(now);
        let packets = self.received.saturating_add(self.lost);
        let long_enough = now.saturating_duration_since(start) >= MAX_WINDOW;
        let burst =
            packets >= MIN_PACKETS && f64::from(self.lost) > BURST_LOSS * f64::from(packets);
        if packets < WINDOW_PACKETS && !(long_enough && packets >= MIN_PACKETS) && !burst {
            return;
        }
        self.fraction = f64::from(self.lost) / f64::from(packets);
        self.received = 0;
        self.lost = 0;
        self.window_start = Some(now);
        // Only a burst says the link narrowed below what we send; random loss in a window that
        // happened to be heavy does not, and cutting to what got through each time would ratchet
        // the rate down (what gets through follows what we send).
        self.decide(now, target_bps, acked_bps.filter(|_| burst), rtt);
    }

    fn decide(&mut self, now: Instant, target_bps: f64, acked_bps: Option<f64>, rtt: Duration) {
        if self.fraction > HEAVY_LOSS {
            let waited = self
                .last_decrease
                .is_none_or(|t| now.saturating_duration_since(t) >= DECREASE_GAP + rtt);
            if waited {
                // Halve the loss off what we send, and go below what got through (as the
                // delay-based rate does on overuse, so the queue drains): a link that narrowed
                // to a fifth drops 80 %, and halving the loss off would take several rounds of
                // loss (speech lost with everything else) to get there.
                let base = self.ceiling_bps.min(target_bps);
                let through = acked_bps.map_or(f64::MAX, |a| a * THROUGH_SHARE);
                self.ceiling_bps = (base * (1.0 - 0.5 * self.fraction)).min(through);
                self.last_decrease = Some(now);
            }
        } else {
            let step = self
                .last_increase
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
                .min(MAX_STEP)
                .as_secs_f64();
            if self.fraction < LIGHT_LOSS {
                let light_for = now.saturating_duration_since(*self.light_since.get_or_insert(now));
                let growth = search_growth(light_for);
                self.ceiling_bps =
                    self.ceiling_bps * (1.0 + growth).powf(step) + GROWTH_BPS_PER_S * step;
            } else {
                self.ceiling_bps *= (1.0 + MODERATE_GROWTH_PER_S).powf(step);
            }
        }
        if self.fraction >= LIGHT_LOSS {
            self.light_since = None;
        }
        self.last_increase = Some(now);
        self.ceiling_bps = self.ceiling_bps.clamp(self.min_bps, self.max_bps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(100);

    #[test]
    fn moderate_loss_limits_nothing_heavy_loss_cuts() {
        let t0 = Instant::now();
        let mut loss = LossRateControl::new(50_000.0, 5_000_000.0);
        loss.on_feedback(t0, 95, 5, 1_000_000.0, None, RTT);
        assert_eq!(loss.fraction(), 0.05);
        assert_eq!(loss.rate_bps(), 5_000_000.0);
        loss.on_feedback(t0 + Duration::from_secs(1), 80, 20, 1_000_000.0, None, RTT);
        assert_eq!(loss.rate_bps(), 900_000.0);
    }

    #[test]
    fn under_steady_moderate_loss_a_heavy_window_is_undone_slowly() {
        let t0 = Instant::now();
        let mut loss = LossRateControl::new(50_000.0, 5_000_000.0);
        // An unlucky window of 12 % takes 6 % off.
        loss.on_feedback(t0, 88, 12, 1_000_000.0, None, RTT);
        assert!(
            (loss.rate_bps() - 940_000.0).abs() < 1.0,
            "{}",
            loss.rate_bps()
        );
        // Then 5 % loss goes on: the ceiling grows back by 1 %/s, not faster.
        for s in 1..=7 {
            loss.on_feedback(t0 + Duration::from_secs(s), 95, 5, 1_000_000.0, None, RTT);
        }
        let after = loss.rate_bps();
        assert!(after > 1_000_000.0 && after < 1_010_000.0, "{after}");
    }

    #[test]
    fn a_burst_of_loss_is_answered_at_once_down_to_what_got_through() {
        let t0 = Instant::now();
        let mut loss = LossRateControl::new(50_000.0, 5_000_000.0);
        // 8 of 24 lost in the first batch after the link narrowed: no waiting for 100 packets
        // or a second; below the 520 kbit/s that arrived.
        loss.on_feedback(t0, 16, 8, 800_000.0, Some(520_000.0), RTT);
        assert!((loss.fraction() - 1.0 / 3.0).abs() < 1e-9);
        assert!(
            (loss.rate_bps() - 442_000.0).abs() < 1.0,
            "{}",
            loss.rate_bps()
        );
        // A full window that happened to be heavy (random loss) is cut gently, not to what got
        // through: 12 of 100 lost takes 6 % off.
        let mut unlucky = LossRateControl::new(50_000.0, 5_000_000.0);
        unlucky.on_feedback(t0, 88, 12, 800_000.0, Some(500_000.0), RTT);
        assert!(
            (unlucky.rate_bps() - 752_000.0).abs() < 1.0,
            "{}",
            unlucky.rate_bps()
        );
        // Random loss of 5 % in a batch of 24 does not close the window early.
        let mut random = LossRateControl::new(50_000.0, 5_000_000.0);
        random.on_feedback(t0, 23, 1, 800_000.0, Some(760_000.0), RTT);
        assert_eq!(random.fraction(), 0.0);
        assert_eq!(random.rate_bps(), 5_000_000.0);
    }

    #[test]
    fn a_small_batch_waits_for_more_packets() {
        let t0 = Instant::now();
        let mut loss = LossRateControl::new(50_000.0, 5_000_000.0);
        // Two of twelve lost (17 %) in one batch: not yet a verdict.
        loss.on_feedback(t0, 10, 2, 1_000_000.0, None, RTT);
        assert_eq!(loss.fraction(), 0.0);
        assert_eq!(loss.rate_bps(), 5_000_000.0);
    }

    #[test]
    fn the_ceiling_rises_again_without_loss() {
        let t0 = Instant::now();
        let mut loss = LossRateControl::new(50_000.0, 5_000_000.0);
        loss.on_feedback(t0, 50, 50, 1_000_000.0, None, RTT);
        assert_eq!(loss.rate_bps(), 750_000.0);
        for s in 1..=5 {
            loss.on_feedback(t0 + Duration::from_secs(s), 100, 0, 750_000.0, None, RTT);
        }
        // 8 %/s in the first second, then faster: 16, 24, 32, 40 %.
        let expected = 750_000.0 * 1.08 * 1.16 * 1.24 * 1.32 * 1.40;
        let rate = loss.rate_bps();
        assert!((rate - expected).abs() < 20_000.0, "{rate} vs {expected}");
    }
}
