//! How fast the receiver got our packets: bytes over the last half second of arrivals, on the
//! receiver's clock. When the link is congested this is the link's rate, whatever we sent; the
//! decrease and the increase limit are both built on it.

use std::collections::VecDeque;
use std::time::Duration;

/// Arrivals this far back count. Long enough to average out an encoder's frame bursts, short
/// enough that half a second after a link shrank the rate shows it.
const WINDOW: Duration = Duration::from_millis(500);
/// Fewer than this much arrival time gives no rate: two packets 1 ms apart are no measure.
const MIN_SPAN: Duration = Duration::from_millis(100);
/// An arrival this far before the latest one is a receiver clock that jumped back.
const CLOCK_JUMP: Duration = Duration::from_secs(3);

/// The acknowledged (received) bitrate.
#[derive(Debug, Default)]
pub(super) struct AckedRate {
    /// (arrival, bytes), roughly in arrival order.
    packets: VecDeque<(Duration, usize)>,
    bytes: usize,
    latest: Option<Duration>,
}

impl AckedRate {
    /// A packet of `size` bytes arrived at `arrival`.
    pub(super) fn on_packet(&mut self, arrival: Duration, size: usize) {
        let latest = *self.latest.get_or_insert(arrival);
        if latest.saturating_sub(arrival) > CLOCK_JUMP {
            *self = Self::default();
            self.latest = Some(arrival);
        }
        let latest = self.latest.map_or(arrival, |l| l.max(arrival));
        self.latest = Some(latest);
        if latest.saturating_sub(arrival) > WINDOW {
            return; // reported too late to count
        }
        self.packets.push_back((arrival, size));
        self.bytes = self.bytes.saturating_add(size);
        while let Some(&(at, bytes)) = self.packets.front() {
            if latest.saturating_sub(at) <= WINDOW {
                break;
            }
            self.packets.pop_front();
            self.bytes = self.bytes.saturating_sub(bytes);
        }
    }

    /// Bits per second over the window, once it spans enough time.
    pub(super) fn rate_bps(&self) -> Option<f64> {
        let (first_at, first_bytes) = *self.packets.front()?;
        let span = self.latest?.checked_sub(first_at)?;
        if span < MIN_SPAN {
            return None;
        }
        // The first packet marks the start of the span; its bytes arrived before it.
        let bytes = self.bytes.saturating_sub(first_bytes);
        Some(bytes as f64 * 8.0 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_stream_is_measured_over_half_a_second() {
        let mut acked = AckedRate::default();
        // 1000 bytes every 8 ms: 1 Mbit/s.
        for i in 0..200u64 {
            acked.on_packet(Duration::from_millis(5_000 + i * 8), 1000);
            if i == 5 {
                assert_eq!(acked.rate_bps(), None, "40 ms is too short to measure");
            }
        }
        let rate = acked.rate_bps().unwrap();
        assert!((rate - 1_000_000.0).abs() < 1.0, "{rate}");
    }

    #[test]
    fn a_receiver_clock_jumping_back_starts_afresh() {
        let mut acked = AckedRate::default();
        for i in 0..100u64 {
            acked.on_packet(Duration::from_millis(60_000 + i * 8), 1000);
        }
        for i in 0..100u64 {
            acked.on_packet(Duration::from_millis(i * 4), 1000);
        }
        let rate = acked.rate_bps().unwrap();
        assert!((rate - 2_000_000.0).abs() < 1.0, "{rate}");
    }
}
