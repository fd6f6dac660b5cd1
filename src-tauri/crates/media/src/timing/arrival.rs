//! How late media arrives: for each packet (or frame), arrival time minus media time, over a
//! sliding window. The fastest recent one sets the baseline; the 95th percentile of lateness over
//! that baseline is the delay a receiver needs to play almost everything on time.

use std::collections::VecDeque;

/// Arrival minus media time of the last `capacity` items, in ms.
pub(crate) struct ArrivalWindow {
    relative: VecDeque<i64>,
    capacity: usize,
}

impl ArrivalWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            relative: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Media time `media_ms` arrived at `arrival_ms` (both on their own clocks).
    pub(crate) fn push(&mut self, arrival_ms: u64, media_ms: u64) {
        if self.relative.len() == self.capacity {
            self.relative.pop_front();
        }
        self.relative.push_back(arrival_ms as i64 - media_ms as i64);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.relative.is_empty()
    }

    /// Arrival minus media time of the fastest item in the window (0 when empty).
    pub(crate) fn fastest(&self) -> i64 {
        self.relative.iter().min().copied().unwrap_or(0)
    }

    /// The 95th percentile of how much later than the fastest item items arrive.
    pub(crate) fn p95_lateness_ms(&self) -> u64 {
        let fastest = self.fastest();
        let mut late: Vec<u64> = self
            .relative
            .iter()
            .map(|r| (r - fastest).unsigned_abs())
            .collect();
        if late.is_empty() {
            return 0;
        }
        late.sort_unstable();
        late[(late.len() - 1) * 95 / 100]
    }

    /// The earliest local time media time `media_ms` can be expected: as fast as the fastest
    /// recent item.
    pub(crate) fn expected_arrival_ms(&self, media_ms: u64) -> u64 {
        (media_ms as i64 + self.fastest()).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::ArrivalWindow;

    #[test]
    fn lateness_is_measured_against_the_fastest_item() {
        let mut w = ArrivalWindow::new(100);
        assert_eq!(w.p95_lateness_ms(), 0);
        for i in 0..100u64 {
            let late = if i % 10 == 0 { 60 } else { 0 };
            w.push(5000 + i * 33 + late, i * 33);
        }
        assert_eq!(w.fastest(), 5000);
        assert_eq!(w.p95_lateness_ms(), 60);
        assert_eq!(w.expected_arrival_ms(10_000), 15_000);
    }

    #[test]
    fn the_window_forgets_old_items() {
        let mut w = ArrivalWindow::new(3);
        w.push(1000, 0);
        for i in 1..=3u64 {
            w.push(2000 + i * 20, i * 20);
        }
        assert_eq!(w.fastest(), 2000);
    }
}
