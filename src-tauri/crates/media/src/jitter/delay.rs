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
/// A target the network once needed is held this long after it was last needed: delay that
/// grew for a queue is kept rather than given back and grown again with the queue's next swing
/// (every change is an audible stretch or a jump).
const HOLD_MS: u64 = 10_000;
/// After the hold, the target comes down this many ms per second.
const RELEASE_MS_PER_S: u64 = 10;

pub(super) struct DelayEstimator {
    window: ArrivalWindow,
    last: Option<(u64, u64)>,
    jitter: f64,
    last_loss_ms: Option<u64>,
    now_ms: u64,
    /// The sender protects its packets with FEC (it expects loss): keep the reserve always.
    fec_in_stream: bool,
    /// The target held after a peak, as the latest arrival it covers relative to media time
    /// (see [`Self::hold`]), and when the network last needed that much.
    held: Option<(i64, u64)>,
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
            held: None,
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
        self.hold();
    }

    /// Follow the network's target up at once; come down only after [`HOLD_MS`], slowly.
    ///
    /// What is held is the latest arrival the target covers, relative to media time (the
    /// fastest packet's plus the target). When a queue stays full, the window's fastest packet
    /// is soon one that waited in it too, and the lateness over it shrinks by as much: the
    /// arrivals to cover have not changed, and neither does what is held.
    fn hold(&mut self) {
        let needed = self.fastest_plus(self.needed_ms());
        let now = self.now_ms;
        self.held = Some(match self.held {
            // A jump beyond any target (the sender's clock restarted): start over.
            Some((held, _)) if held.abs_diff(needed) > CEILING_MS => (needed, now),
            Some((held, _)) if needed >= held => (needed, now),
            None => (needed, now),
            Some((held, since)) => {
                let released = now.saturating_sub(since + HOLD_MS) * RELEASE_MS_PER_S / 1000;
                let lowered = (held - released as i64).max(needed);
                if lowered < held {
                    // Release from here on, at the release rate.
                    (lowered, now.saturating_sub(HOLD_MS))
                } else {
                    (held, since)
                }
            }
        });
    }

    /// `ms` after the fastest packet's arrival, relative to media time.
    fn fastest_plus(&self, ms: u64) -> i64 {
        self.window.fastest() + ms as i64
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

    /// The delay to aim for: the highest the network needed in the last [`HOLD_MS`], released
    /// slowly after that.
    pub(super) fn target_ms(&self) -> u64 {
        match self.held {
            Some((held, _)) => {
                (held - self.window.fastest()).clamp(FLOOR_MS as i64, CEILING_MS as i64) as u64
            }
            None => self.needed_ms(),
        }
    }

    /// The delay the network needs now: the 95th percentile of lateness plus one packet, plus
    /// one more packet while losses are recent (so FEC in the following packet can be used at
    /// once).
    fn needed_ms(&self) -> u64 {
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

    /// Arrival minus media time of the fastest recent packet, in ms: the earliest any audio
    /// can be expected is its media time plus this.
    pub(super) fn fastest_ms(&self) -> i64 {
        self.window.fastest()
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

    #[test]
    fn a_grown_target_is_held_then_released_slowly() {
        let mut d = DelayEstimator::default();
        let mut media = 0;
        // One 20 ms packet; every `late_every`th is 60 ms late (0: none).
        let mut send = |d: &mut DelayEstimator, late_every: u64| {
            let late = if late_every > 0 && (media / 20) % late_every == 0 {
                60
            } else {
                0
            };
            d.on_packet(1000 + media + late, media);
            media += 20;
        };
        // 6 s of a queue's swings, then a steady network again.
        for _ in 0..300 {
            send(&mut d, 10);
        }
        assert_eq!(d.target_ms(), 80);
        let mut steady = 0;
        while d.needed_ms() > 20 {
            send(&mut d, 0);
            steady += 1;
        }
        assert!(steady < 250, "the window forgets the swings within 5 s");
        // Held for 10 s from when the network stopped needing it...
        for _ in 0..495 {
            send(&mut d, 0);
        }
        assert_eq!(d.target_ms(), 80);
        // ...then released at 10 ms per second (1.1 s later: 10 ms less).
        for _ in 0..55 {
            send(&mut d, 0);
        }
        assert!((68..=72).contains(&d.target_ms()), "{}", d.target_ms());
        for _ in 0..3000 {
            send(&mut d, 0);
        }
        assert_eq!(d.target_ms(), 20);
        // A new swing is followed at once.
        for _ in 0..100 {
            send(&mut d, 5);
        }
        assert_eq!(d.target_ms(), 80);
    }

    #[test]
    fn a_queue_that_stays_full_moves_the_baseline_not_what_is_covered() {
        let mut d = DelayEstimator::default();
        for i in 0..150u64 {
            d.on_packet(1000 + i * 20, i * 20);
        }
        // From now on every packet waits 50 to 80 ms in a queue.
        let covered = |d: &DelayEstimator| d.fastest_ms() + d.target_ms() as i64;
        let mut state = 99u32;
        let mut at = Vec::new();
        for i in 150..700u64 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            d.on_packet(1000 + i * 20 + 50 + u64::from((state >> 16) % 31), i * 20);
            if i == 300 || i == 600 {
                at.push((d.fastest_ms(), d.target_ms(), covered(&d)));
            }
        }
        let ((fast_then, target_then, covered_then), (fast_now, target_now, covered_now)) =
            (at[0], at[1]);
        // 3 s into the queue, the fastest packet is one from before it; 9 s in, one that waited.
        assert_eq!(fast_then, 1000);
        assert!(fast_now >= 1050, "{fast_now}");
        // The target over the fastest shrank by as much; the arrivals it covers stayed.
        assert!(
            target_then >= 90 && target_now <= target_then - 40,
            "{at:?}"
        );
        assert!(
            (covered_then..=covered_then + 5).contains(&covered_now),
            "{at:?}"
        );
    }
}
