//! How much delay the network needs: per-packet delay relative to the fastest recent packet,
//! its 95th percentile over a window, and the RFC 3550 jitter estimate for reporting.

use std::collections::VecDeque;

/// Packets remembered for the percentile (about 5 s of 20 ms packets).
const WINDOW: usize = 250;
/// One packet: the floor of the target delay.
const FLOOR_MS: u64 = 20;
/// Longest delay we ever aim for.
const CEILING_MS: u64 = 1000;

#[derive(Default)]
pub(super) struct DelayEstimator {
    relative: VecDeque<i64>,
    last: Option<(u64, u64)>,
    jitter: f64,
}

impl DelayEstimator {
    /// A packet whose media time is `media_ms` arrived at `arrival_ms`.
    pub(super) fn on_packet(&mut self, arrival_ms: u64, media_ms: u64) {
        if let Some((last_arrival, last_media)) = self.last {
            let d =
                (arrival_ms as i64 - last_arrival as i64) - (media_ms as i64 - last_media as i64);
            self.jitter += (d.unsigned_abs() as f64 - self.jitter) / 16.0;
        }
        self.last = Some((arrival_ms, media_ms));
        if self.relative.len() == WINDOW {
            self.relative.pop_front();
        }
        self.relative.push_back(arrival_ms as i64 - media_ms as i64);
    }

    /// The delay to aim for: the 95th percentile of lateness plus one packet.
    pub(super) fn target_ms(&self) -> u64 {
        let Some(fastest) = self.relative.iter().min() else {
            return FLOOR_MS;
        };
        let mut late: Vec<u64> = self.relative.iter().map(|r| (r - fastest) as u64).collect();
        late.sort_unstable();
        let p95 = late[(late.len() - 1) * 95 / 100];
        (p95 + FLOOR_MS).clamp(FLOOR_MS, CEILING_MS)
    }

    /// When to stop waiting for the packet with media time `media_ms` and call it lost: its
    /// expected arrival (as fast as the fastest recent packet) plus the target delay.
    pub(super) fn give_up_ms(&self, media_ms: u64) -> u64 {
        let fastest = self.relative.iter().min().copied().unwrap_or(0);
        (media_ms as i64 + fastest).max(0) as u64 + self.target_ms()
    }

    pub(super) fn jitter_ms(&self) -> f64 {
        self.jitter
    }
}

#[cfg(test)]
mod tests {
    use super::DelayEstimator;

    #[test]
    fn steady_arrivals_need_one_packet() {
        let mut d = DelayEstimator::default();
        for i in 0..100 {
            d.on_packet(1000 + i * 20, i * 20);
        }
        assert_eq!(d.target_ms(), 20);
        assert!(d.jitter_ms() < 0.01);
    }

    #[test]
    fn target_covers_the_95th_percentile_of_lateness() {
        let mut d = DelayEstimator::default();
        for i in 0..200u64 {
            // Every tenth packet is 60 ms late, the rest on time: p95 = 60.
            let late = if i % 10 == 0 { 60 } else { 0 };
            d.on_packet(1000 + i * 20 + late, i * 20);
        }
        assert_eq!(d.target_ms(), 80);
        assert!(d.jitter_ms() > 5.0);
    }
}
