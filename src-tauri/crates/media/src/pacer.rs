//! Spreading a picture's packets over time instead of sending them in one burst.
//!
//! An encoded picture leaves the encoder all at once: a delta frame is a few packets, a keyframe
//! can be thirty. Sent back to back, they arrive at a narrow link faster than it drains, fill its
//! queue and are dropped there (a `tbf` or a home router holds tens of milliseconds), and the
//! delay they cause for a moment reads to the bandwidth estimator as congestion. The pacer gives
//! each packet its release time so that video leaves at a multiple of the estimate: fast enough
//! that a picture is out well before the next one, slow enough that the link never sees more
//! than a short burst. Audio does not pass through it: speech leaves the moment it is encoded.
//!
//! Sans-IO: the caller says what it wants to send and when, and sleeps until the time it is told.

use std::time::{Duration, Instant};

/// Video leaves at this multiple of the estimate (libwebrtc's pacing factor): a picture the
/// encoder made for the estimate leaves in 40 % of a frame interval.
pub const PACING_FACTOR: f64 = 2.5;
/// This much may leave at once, without waiting: a link's scheduler passes a few packets
/// together anyway, and a delta frame of two or three packets should not wait for itself.
const BURST: Duration = Duration::from_millis(5);
/// Bytes each packet costs beyond its payload on the wire: IP, UDP, SRTP's tag, the RTP header
/// and its extensions.
pub const PACKET_OVERHEAD: usize = 60;

/// Release times for packets at a given rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_bps: f64,
    /// When the link, as the pacer models it, is free again.
    free_at: Option<Instant>,
}

impl Pacer {
    /// A pacer sending at `rate_bps` (already multiplied by the pacing factor).
    pub fn new(rate_bps: u32) -> Self {
        Self {
            rate_bps: f64::from(rate_bps.max(1)),
            free_at: None,
        }
    }

    /// A new rate, for packets scheduled from now on.
    pub fn set_rate(&mut self, rate_bps: u32) {
        self.rate_bps = f64::from(rate_bps.max(1));
    }

    /// The rate in bit/s.
    pub fn rate_bps(&self) -> u32 {
        self.rate_bps as u32
    }

    /// When a packet of `bytes` (payload) that is ready at `now` may leave. Call in sending
    /// order; each call books the link for that packet.
    pub fn release_at(&mut self, now: Instant, bytes: usize) -> Instant {
        // What leaves within the burst allowance of now goes at once; beyond that, in turn.
        let start = match self.free_at {
            Some(free) if free > now + BURST => free - BURST,
            _ => now,
        };
        let busy = Duration::from_secs_f64(((bytes + PACKET_OVERHEAD) * 8) as f64 / self.rate_bps);
        let from = self.free_at.filter(|free| *free > now).unwrap_or(now);
        self.free_at = Some(from + busy);
        start
    }

    /// How long what is booked takes to leave, seen from `now`: the sender's queue. A sender
    /// whose queue grows faster than it drains makes pictures the link cannot carry, and should
    /// skip one.
    pub fn queued(&self, now: Instant) -> Duration {
        self.free_at
            .map(|free| free.saturating_duration_since(now))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_small_picture_leaves_at_once() {
        let t0 = Instant::now();
        // 1 Mbit/s: a 1100-byte packet (with overhead) books 9.28 ms.
        let mut pacer = Pacer::new(1_000_000);
        assert_eq!(pacer.release_at(t0, 1100), t0);
        // The second is within the 5 ms burst allowance only if the first's booking ends by
        // then: it does not (9.28 ms), so it waits until 5 ms before the link is free.
        let second = pacer.release_at(t0, 1100);
        assert!(second > t0 && second - t0 < 5 * MS, "{:?}", second - t0);
    }

    #[test]
    fn a_keyframe_is_spread_at_the_rate() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(2_000_000);
        let times: Vec<Instant> = (0..30).map(|_| pacer.release_at(t0, 1100)).collect();
        // 30 × 1160 bytes × 8 at 2 Mbit/s = 139 ms in all, minus the burst allowance.
        let spread = *times.last().unwrap_or(&t0) - t0;
        assert!(spread > 125 * MS && spread < 140 * MS, "{spread:?}");
        // In order, and evenly: 4.64 ms apart after the first.
        for pair in times.windows(2).skip(1) {
            let gap = pair[1] - pair[0];
            assert!(gap > 4 * MS && gap < 5 * MS, "{gap:?}");
        }
        assert!(pacer.queued(t0) > 135 * MS);
        assert_eq!(pacer.queued(t0 + 200 * MS), Duration::ZERO);
    }

    #[test]
    fn an_idle_pacer_keeps_no_credit() {
        // After a second of nothing, a burst is not sent all at once: idle time is not saved up.
        let t0 = Instant::now();
        let mut pacer = Pacer::new(1_000_000);
        pacer.release_at(t0, 1100);
        let later = t0 + Duration::from_secs(1);
        let times: Vec<Instant> = (0..10).map(|_| pacer.release_at(later, 1100)).collect();
        assert!(times[9] - later > 75 * MS, "{:?}", times[9] - later);
    }

    #[test]
    fn a_new_rate_applies_to_what_comes_next() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(1_000_000);
        pacer.release_at(t0, 1100);
        pacer.set_rate(250_000);
        assert_eq!(pacer.rate_bps(), 250_000);
        let a = pacer.release_at(t0, 1100);
        let b = pacer.release_at(t0, 1100);
        // 1160 bytes at 250 kbit/s: 37 ms apart.
        let gap = b - a;
        assert!(gap > 36 * MS && gap < 38 * MS, "{gap:?}");
        // A zero rate is taken as the slowest possible, not a division by zero.
        pacer.set_rate(0);
        assert!(pacer.release_at(t0, 1) > t0);
    }
}
