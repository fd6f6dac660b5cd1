//! What a receiver says about one RTP stream in an RTCP receiver report block (RFC 3550 §6.4.1):
//! packets lost (since the last report and in all), the highest sequence number, interarrival
//! jitter and the last sender report — computed as RFC 3550 Appendix A.3 and A.8 do.
//!
//! Sans-IO: packets, sender reports and the time (µs on the caller's monotonic clock) go in, a
//! report block comes out.

use crate::timing::Unwrapper;

/// One reception report block, as RFC 3550 §6.4.1 lays it out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// Packets lost since the previous report, as a fraction of those expected (fixed point,
    /// 1/256).
    pub fraction_lost: u8,
    /// Packets lost since reception began (24 bits; duplicates never make it negative here).
    pub cumulative_lost: u32,
    /// The highest sequence number received, extended with the count of wraps (cycles) above it.
    pub extended_highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the last sender report's NTP timestamp (0: none yet).
    pub last_sender_report: u32,
    /// Time since that sender report arrived, in 1/65536 s (0: none yet).
    pub delay_since_last_sender_report: u32,
}

/// Reception statistics of one RTP stream.
#[derive(Debug)]
pub struct ReceptionStats {
    clock_rate: u32,
    seq: Unwrapper,
    /// Extended sequence numbers: the first and the highest received.
    base: Option<u64>,
    highest: u64,
    received: u64,
    /// Expected and received at the previous report (for the fraction lost since then).
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in timestamp units, and the previous packet's relative transit time.
    jitter: f64,
    transit: Option<f64>,
    /// The last sender report: middle 32 bits of its NTP time, and when it arrived (µs).
    last_sr: Option<(u32, u64)>,
}

/// The largest cumulative loss a report block can carry (24 bits, signed: RFC 3550 clamps).
const MAX_CUMULATIVE_LOST: u64 = 0x7f_ffff;

impl ReceptionStats {
    /// Statistics for a stream whose RTP clock runs at `clock_rate` Hz (90 000 for video,
    /// 48 000 for Opus).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            seq: Unwrapper::new(16),
            base: None,
            highest: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0.0,
            transit: None,
            last_sr: None,
        }
    }

    /// A packet arrived at `arrival_us`.
    pub fn on_packet(&mut self, sequence: u16, rtp_timestamp: u32, arrival_us: u64) {
        let ext = self.seq.unwrap(u64::from(sequence));
        self.received += 1;
        match self.base {
            None => {
                self.base = Some(ext);
                self.highest = ext;
            }
            Some(_) => self.highest = self.highest.max(ext),
        }
        // A.8: the difference of relative transit times between successive packets, smoothed
        // with gain 1/16. Only the difference matters, so the clocks' offsets cancel.
        let arrival = arrival_us as f64 * f64::from(self.clock_rate) / 1e6;
        let transit = arrival - f64::from(rtp_timestamp);
        if let Some(previous) = self.transit {
            // RTP timestamps wrap at 2^32: the difference is taken modulo that.
            let d = (transit - previous).rem_euclid(4_294_967_296.0);
            let d = if d > 2_147_483_648.0 {
                4_294_967_296.0 - d
            } else {
                d
            };
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// A sender report with this NTP time arrived at `arrival_us`.
    pub fn on_sender_report(&mut self, ntp_time: u64, arrival_us: u64) {
        self.last_sr = Some(((ntp_time >> 16) as u32, arrival_us));
    }

    /// The report block to send at `now_us`; `None` before the first packet. The fraction lost
    /// counts from the previous call.
    pub fn report(&mut self, now_us: u64) -> Option<ReportBlock> {
        let base = self.base?;
        // A.3: expected from the sequence numbers, lost = expected − received.
        let expected = self.highest - base + 1;
        let lost = expected.saturating_sub(self.received);
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| f.min(255) as u8);
        // The unwrapper starts one cycle up (see `Unwrapper`); the report counts cycles from 0.
        let extended_highest_seq = self.highest.saturating_sub(1 << 16) as u32;
        let (last_sender_report, delay_since_last_sender_report) =
            self.last_sr.map_or((0, 0), |(lsr, at)| {
                let delay = now_us.saturating_sub(at) * 65_536 / 1_000_000;
                (lsr, delay.min(u64::from(u32::MAX)) as u32)
            });
        Some(ReportBlock {
            fraction_lost,
            cumulative_lost: lost.min(MAX_CUMULATIVE_LOST) as u32,
            extended_highest_seq,
            jitter: self.jitter as u32,
            last_sender_report,
            delay_since_last_sender_report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_report_before_the_first_packet() {
        assert_eq!(ReceptionStats::new(90_000).report(0), None);
    }

    #[test]
    fn loss_is_counted_in_all_and_since_the_last_report() {
        let mut stats = ReceptionStats::new(90_000);
        // 100 packets, every tenth lost; a packet every 10 ms, timestamps in step.
        for i in 0..100u16 {
            if i % 10 != 5 {
                stats.on_packet(
                    65_500u16.wrapping_add(i),
                    u32::from(i) * 900,
                    u64::from(i) * 10_000,
                );
            }
        }
        let first = stats.report(1_000_000).expect("a report");
        assert_eq!(first.cumulative_lost, 10);
        assert_eq!(first.fraction_lost, (10 * 256 / 100) as u8);
        // 65 500 + 99 wrapped once: cycle 1, sequence number 63.
        assert_eq!(first.extended_highest_seq, (1 << 16) | 63);
        assert_eq!(first.jitter, 0, "evenly spaced packets have no jitter");
        // Ten more, all there: nothing lost since the last report, the total stays.
        for i in 100..110u16 {
            stats.on_packet(
                65_500u16.wrapping_add(i),
                u32::from(i) * 900,
                u64::from(i) * 10_000,
            );
        }
        let second = stats.report(1_100_000).expect("a report");
        assert_eq!((second.fraction_lost, second.cumulative_lost), (0, 10));
    }

    #[test]
    fn duplicates_never_make_the_loss_negative() {
        let mut stats = ReceptionStats::new(90_000);
        for i in 0..10u16 {
            stats.on_packet(i, u32::from(i) * 900, u64::from(i) * 10_000);
        }
        stats.on_packet(9, 9 * 900, 100_000); // a retransmission of a packet that did arrive
        let block = stats.report(100_000).expect("a report");
        assert_eq!((block.fraction_lost, block.cumulative_lost), (0, 0));
    }

    #[test]
    fn jitter_follows_uneven_arrival() {
        let mut stats = ReceptionStats::new(90_000);
        // Frames every 33 ms, arriving alternately 0 and 10 ms late: |D| = 10 ms = 900 units,
        // the estimate converges towards 900.
        for i in 0..400u32 {
            let late_us = if i % 2 == 0 { 0 } else { 10_000 };
            stats.on_packet(i as u16, i * 2970, u64::from(i) * 33_000 + late_us);
        }
        let jitter = stats.report(0).expect("a report").jitter;
        assert!((850..=900).contains(&jitter), "{jitter}");
    }

    #[test]
    fn the_last_sender_report_and_the_time_since() {
        let mut stats = ReceptionStats::new(48_000);
        stats.on_packet(1, 0, 0);
        assert_eq!(stats.report(0).expect("a report").last_sender_report, 0);
        stats.on_sender_report(0x1234_5678_9abc_def0, 2_000_000);
        let block = stats.report(2_500_000).expect("a report");
        assert_eq!(block.last_sender_report, 0x5678_9abc);
        assert_eq!(
            block.delay_since_last_sender_report, 32_768,
            "half a second"
        );
    }
}
