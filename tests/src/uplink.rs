//! What the clients send through the wire's uplink rate limit, read from the kernel's counters
//! over time: the rate that passed, and how much the limit dropped because more was offered than
//! it carries. Shared by the network tests and the benchmark's bottleneck step.

use std::time::{Duration, Instant};

use crate::Result;
use crate::wire::Wire;

/// How often the counters are read.
pub const SAMPLE: Duration = Duration::from_millis(250);

/// One reading of the uplink's rate limit.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the log started.
    pub at: f64,
    /// Bytes the limit let through so far.
    pub sent_bytes: u64,
    /// Packets it let through so far.
    pub sent_packets: u64,
    /// Packets it dropped so far.
    pub dropped: u64,
    /// Bytes waiting in its queue at the reading.
    pub backlog: u64,
}

/// What passed the limit between two readings, in kbit/s, and the share of the offered packets
/// it dropped.
pub fn between(a: &Sample, b: &Sample) -> (f64, f64) {
    let seconds = (b.at - a.at).max(1e-3);
    let kbps = b.sent_bytes.saturating_sub(a.sent_bytes) as f64 * 8.0 / seconds / 1000.0;
    let dropped = b.dropped.saturating_sub(a.dropped);
    let offered = b.sent_packets.saturating_sub(a.sent_packets) + dropped;
    (kbps, dropped as f64 / offered.max(1) as f64)
}

/// Readings of the uplink, with a clock of their own.
pub struct RateLog {
    start: Instant,
    /// The readings in order.
    pub samples: Vec<Sample>,
}

impl RateLog {
    /// An empty log; its clock starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            samples: Vec::new(),
        }
    }

    /// Seconds since the log started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Read the uplink every [`SAMPLE`] for `length`.
    pub fn record(&mut self, wire: &Wire, length: Duration) -> Result<()> {
        let until = Instant::now() + length;
        let mut next = Instant::now();
        while Instant::now() < until {
            let q = wire.uplink_queue()?;
            self.samples.push(Sample {
                at: self.now(),
                sent_bytes: q.sent_bytes,
                sent_packets: q.sent_packets,
                dropped: q.dropped,
                backlog: q.backlog_bytes,
            });
            next += SAMPLE;
            // Paces the readings; nothing waits for the call here.
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        Ok(())
    }

    fn nearest(&self, t: f64) -> Option<Sample> {
        self.samples
            .iter()
            .min_by(|a, b| (a.at - t).abs().total_cmp(&(b.at - t).abs()))
            .copied()
    }

    /// Rate (kbit/s) and dropped share between the readings nearest `from` and `to` (seconds).
    pub fn span(&self, from: f64, to: f64) -> (f64, f64) {
        match (self.nearest(from), self.nearest(to)) {
            (Some(a), Some(b)) if b.at > a.at => between(&a, &b),
            _ => (0.0, 0.0),
        }
    }

    /// Seconds after `from` until a `window`-second stretch first carried at least `kbps`
    /// (counted to the end of that stretch); `None` if none did by `until`.
    pub fn reached(&self, from: f64, until: f64, window: f64, kbps: f64) -> Option<f64> {
        self.samples
            .iter()
            .filter(|s| s.at >= from && s.at + window <= until)
            .find(|s| self.span(s.at, s.at + window).0 >= kbps)
            .map(|s| s.at + window - from)
    }

    /// The rate second by second, `!` where the limit dropped packets: for the person reading.
    pub fn per_second(&self) -> String {
        let per = (1.0 / SAMPLE.as_secs_f64()).round() as usize;
        self.samples
            .windows(per + 1)
            .step_by(per)
            .map(|pair| {
                let (kbps, dropped) = between(&pair[0], &pair[per]);
                format!(
                    "{:.0}s {:.0}{}",
                    pair[0].at,
                    kbps,
                    if dropped > 0.0 { "!" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Default for RateLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(points: &[(f64, u64, u64, u64)]) -> RateLog {
        RateLog {
            start: Instant::now(),
            samples: points
                .iter()
                .map(|&(at, sent_bytes, sent_packets, dropped)| Sample {
                    at,
                    sent_bytes,
                    sent_packets,
                    dropped,
                    backlog: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn rates_and_drops_between_readings() {
        // 125 000 bytes a second = 1000 kbit/s; then 10 of 110 packets dropped.
        let l = log(&[
            (0.0, 0, 0, 0),
            (1.0, 125_000, 100, 0),
            (2.0, 250_000, 200, 10),
            (3.0, 312_500, 300, 10),
        ]);
        let (kbps, dropped) = l.span(0.0, 1.0);
        assert!((kbps - 1000.0).abs() < 1e-9);
        assert_eq!(dropped, 0.0);
        let (_, dropped) = l.span(1.0, 2.0);
        assert!((dropped - 10.0 / 110.0).abs() < 1e-9);
        assert_eq!(l.reached(0.0, 3.0, 1.0, 900.0), Some(1.0));
        assert_eq!(l.reached(2.0, 3.0, 1.0, 900.0), None);
        assert_eq!(l.span(2.0, 2.0), (0.0, 0.0));
    }
}
