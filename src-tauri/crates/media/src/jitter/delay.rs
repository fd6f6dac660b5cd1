//! How much delay the network needs: per-packet delay relative to the fastest recent packet,
//! its 95th percentile over a window, and the RFC 3550 jitter estimate for reporting.

use crate::timing::ArrivalWindow;

/// Packets remembered for the percentile (about 5 s of 20 ms packets).
const WINDOW: usize = 250;
/// One packet: the floor of the target delay.
const FLOOR_MS: u64 = 20;
/// Longest delay we ever aim for.
const CEILING_MS: u64 = 1000;

/// For this long after a loss, keep one packet more in the buffer so that the next packet's FEC
/// is at hand when a packet is missing.
const LOSS_MEMORY_MS: u64 = 10_000;
/// The extra delay then: the next packet (20 ms later) plus half a playout tick of margin.
const FEC_RESERVE_MS: u64 = 30;

pub(super) struct DelayEstimator {
    window: ArrivalWindow,
    last: Option<(u64, u64)>,
    jitter: f64,
    last_loss_ms: Option<u64>,
    now_ms: u64,
    /// The sender protects its packets with FEC (it expects loss): keep the reserve always.
    fec_in_stream: bool,
}

impl Default for DelayEstimator {
    fn default() -> Self {
        Self {
            window: ArrivalWindow::new(WINDOW),
            last: None,
            jitter: 0.0,
            last_loss_ms: None,
            now_ms: 0,
            fec_in_stream: false,
        }
    }
}

impl DelayEstimator {
    /// A packet whose media time is `media_ms` arrived at `arrival_ms`.
    pub(super) fn on_packet(&mut self, arrival_ms: u64, media_ms: u64) {
        self.now_ms = self.now_ms.max(arrival_ms);
        if let Some((last_arrival, last_media)) = self.last {
            let d =
                (arrival_ms as i64 - last_arrival as i64) - (media_ms as i64 - last_media as i64);
            self.jitter += (d.unsigned_abs() as f64 - self.jitter) / 16.0;
        }
        self.last = Some((arrival_ms, media_ms));
        self.window.push(arrival_ms, media_ms);
    }

    /// Whether the sender currently sends in-band FEC.
    pub(super) fn set_fec_in_stream(&mut self, fec: bool) {
        self.fec_in_stream = fec;
    }

    /// A packet was declared lost at `now_ms`.
    pub(super) fn on_loss(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.last_loss_ms = Some(now_ms);
    }

    /// The delay to aim for: the 95th percentile of lateness plus one packet, plus one more
    /// packet while losses are recent (so FEC in the following packet can be used at once).
    pub(super) fn target_ms(&self) -> u64 {
        let lossy = self.fec_in_stream
            || self
                .last_loss_ms
                .is_some_and(|t| self.now_ms.saturating_sub(t) < LOSS_MEMORY_MS);
        let fec_reserve = if lossy { FEC_RESERVE_MS } else { 0 };
        (self.window.p95_lateness_ms() + FLOOR_MS + fec_reserve).clamp(FLOOR_MS, CEILING_MS)
    }

    /// When to stop waiting for the packet with media time `media_ms` and call it lost: its
    /// expected arrival (as fast as the fastest recent packet) plus the usual lateness. Waiting
    /// longer would stretch the audio for a packet that is most likely gone.
    pub(super) fn give_up_ms(&self, media_ms: u64) -> u64 {
        self.window.expected_arrival_ms(media_ms) + self.window.p95_lateness_ms()
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
