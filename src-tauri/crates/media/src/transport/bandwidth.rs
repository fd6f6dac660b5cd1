//! The bridge between webrtc-rs's send history and our bandwidth estimator.
//!
//! webrtc-rs numbers every packet that leaves (the transport-wide sequence number, TWCC) and its
//! congestion-control interceptor joins the server's feedback with what it recorded, per packet:
//! when it left, when it arrived (on the server's clock), its size. That interceptor drives an
//! estimator through a small trait; ours ([`crate::congestion::Estimator`]) is written and tested
//! on its own, knows nothing of webrtc-rs, and is shared with the sender through a
//! [`Bandwidth`] handle. The interceptor's own pacer is not used: the sender paces video itself,
//! so that audio never waits behind a picture (see `call`'s sender).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, PacketReport};

use super::coverage::Coverage;
use crate::congestion::{EstimateStats, Estimator, EstimatorConfig, PacketResult};

/// How often the estimator gets a chance to notice that feedback stopped.
const TICK: Duration = Duration::from_millis(250);
/// How far back the rate of streams without feedback is measured.
const UNNUMBERED_WINDOW: Duration = Duration::from_secs(1);
/// The estimate is logged (debug) every this many feedback batches (about every 2 s).
const LOG_EVERY: u64 = 20;
/// Gaps (path replacements) remembered after they closed: reports come within a second.
const REMEMBERED_GAPS: usize = 4;

struct Shared {
    estimator: Estimator,
    /// Feedback batches taken so far: none means the server sends no congestion feedback (or
    /// not yet), and the estimate is only the starting guess.
    batches: u64,
    /// Packets of streams the server does not report on (departure, bytes), over the last
    /// [`UNNUMBERED_WINDOW`].
    unnumbered: VecDeque<(Instant, usize)>,
    /// The sequence numbers the server's recent reports named.
    coverage: Coverage,
    /// Packets handed over as "not arrived" that no report named (the report was lost on its
    /// way to us): left out of the estimate, counted for the log.
    unreported: u64,
    /// The path being replaced (an ICE restart): since when it carried nothing back, and when
    /// the replacement began. See [`Bandwidth::path_replaced`].
    gap: Option<(Instant, Instant)>,
    /// The last gaps that closed: (from, until) of departures.
    closed_gaps: VecDeque<(Instant, Instant)>,
    /// Packets reported lost that were sent in a gap: left out, counted for the log.
    lost_in_gaps: u64,
}

impl Shared {
    /// What the streams the server does not report on send, in bit/s.
    fn unnumbered_bps(&self) -> u32 {
        let bytes: usize = self.unnumbered.iter().map(|(_, b)| b).sum();
        (bytes as f64 * 8.0 / UNNUMBERED_WINDOW.as_secs_f64()) as u32
    }

    /// The budget for everything we send: the estimate covers the streams the server reports
    /// on. Traffic it does not report on (audio, on Janus 1.1) is still in the delays and the
    /// queue the estimator sees, so the estimate settles at what the link leaves beside it: that
    /// traffic's own rate is added back.
    fn budget_bps(&self) -> u32 {
        self.estimator
            .target_bps()
            .saturating_add(self.unnumbered_bps())
    }

    /// Whether a packet sent at `departure` went out while the path was replaced.
    fn in_gap(&self, departure: Instant) -> bool {
        self.gap.is_some_and(|(from, _)| departure >= from)
            || self
                .closed_gaps
                .iter()
                .any(|&(from, until)| (from..until).contains(&departure))
    }

    /// A packet sent at `departure` arrived: if the path is being replaced and the packet left
    /// after the replacement began, the new path works and the gap ends there.
    fn note_arrival(&mut self, departure: Instant) {
        if let Some((from, began)) = self.gap
            && departure >= began
        {
            self.gap = None;
            if self.closed_gaps.len() == REMEMBERED_GAPS {
                self.closed_gaps.pop_front();
            }
            self.closed_gaps.push_back((from, departure));
        }
    }
}

/// What the connection can carry, as the estimator sees it. Cheap to clone; shared between the
/// transport (which feeds it) and the sender (which follows it).
#[derive(Clone)]
pub struct Bandwidth {
    shared: Arc<Mutex<Shared>>,
}

impl Bandwidth {
    pub(super) fn new(config: EstimatorConfig) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                estimator: Estimator::new(config),
                batches: 0,
                unnumbered: VecDeque::new(),
                coverage: Coverage::default(),
                unreported: 0,
                gap: None,
                closed_gaps: VecDeque::new(),
                lost_in_gaps: 0,
            })),
        }
    }

    /// A poisoned lock only means a panic elsewhere mid-update; the estimate is still usable.
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What everything we send may take together (bit/s), once the server has reported on
    /// what we sent; `None` while it has not (the server sends no feedback, or the call just
    /// started).
    pub fn target_bps(&self) -> Option<u32> {
        let shared = self.lock();
        (shared.batches > 0).then(|| shared.budget_bps())
    }

    /// The share of what we send that the server reports lost, over the estimator's recent
    /// window; `None` before any report.
    pub fn loss(&self) -> Option<f32> {
        let shared = self.lock();
        (shared.batches > 0).then(|| shared.estimator.stats().loss_fraction)
    }

    /// The estimator's view, for logs and the call's events.
    pub fn stats(&self) -> EstimateStats {
        self.lock().estimator.stats()
    }

    /// A report from the server named `count` of our packets from transport-wide sequence
    /// number `first` on.
    pub(super) fn reported(&self, first: u16, count: u16) {
        self.lock().coverage.note(first, count);
    }

    /// The path is being replaced (an ICE restart) at `now`; the old one last carried anything
    /// back at `since`. What we sent from then on, until the first packet sent after `now`
    /// arrives, may be lost with the old path (and the server drops what reaches it while it
    /// restarts). That says nothing about the rate the path takes: it is left out of the loss
    /// the rate follows.
    pub(super) fn path_replaced(&self, since: Instant, now: Instant) {
        let mut shared = self.lock();
        let from = shared.gap.map_or(since, |(from, _)| from.min(since));
        shared.gap = Some((from.min(now), now));
    }

    pub(super) fn driver(&self) -> Driver {
        Driver {
            bandwidth: self.clone(),
            next_tick: None,
        }
    }
}

/// What webrtc-rs's congestion-control interceptor drives.
pub(super) struct Driver {
    bandwidth: Bandwidth,
    next_tick: Option<Instant>,
}

/// A packet for the estimator: `arrival` `None` means lost.
fn result(report: &PacketReport) -> PacketResult {
    PacketResult {
        departure: report.departure,
        arrival: if report.arrived { report.arrival } else { None },
        size: report.size,
    }
}

impl BandwidthEstimator for Driver {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        let mut shared = self.bandwidth.lock();
        // Only packets that carried a transport-wide number can be reported on. webrtc-rs hands
        // over every packet sent up to the newest one acknowledged, including those of a
        // stream the server did not agree to number (Janus 1.1 numbers video, not audio):
        // those it reports as never arrived, which read as 40 % loss on a clean link. Of the
        // numbered ones, a packet "not arrived" is lost only if a report said so; if none named
        // it, the report was lost on the way to us and says nothing about the uplink.
        // A packet lost while the path was replaced is not judged either, and one reported as
        // arrived without a time (a report with fewer times than arrivals) is neither lost nor
        // timed.
        let mut results = Vec::with_capacity(reports.len());
        let mut lost = Vec::new();
        for report in reports.iter().filter(|r| r.is_twcc) {
            if report.arrived {
                shared.note_arrival(report.departure);
                if report.arrival.is_some() {
                    results.push(result(report));
                }
            } else if !shared.coverage.covers(report.twcc_sequence_number) {
                shared.unreported += 1;
            } else if shared.in_gap(report.departure) {
                shared.lost_in_gaps += 1;
            } else {
                lost.push(report.twcc_sequence_number);
                results.push(result(report));
            }
        }
        shared.unnumbered.extend(
            reports
                .iter()
                .filter(|r| !r.is_twcc)
                .map(|r| (r.departure, r.size)),
        );
        let newest = reports.iter().map(|r| r.departure).max();
        while let (Some(newest), Some((oldest, _))) = (newest, shared.unnumbered.front())
            && newest.saturating_duration_since(*oldest) > UNNUMBERED_WINDOW
        {
            shared.unnumbered.pop_front();
        }
        if results.is_empty() {
            return;
        }
        let ceiling_before = shared.estimator.stats().loss_based_bps;
        shared.estimator.on_feedback(now, &results, None);
        shared.batches += 1;
        let stats = shared.estimator.stats();
        if stats.loss_based_bps < ceiling_before {
            // Rare on a clean path, and the one thing that cuts the rate for loss: which of
            // our packets (transport-wide numbers) this report named as lost.
            lost.truncate(32);
            tracing::debug!(
                from_kbps = ceiling_before / 1000,
                to_kbps = stats.loss_based_bps / 1000,
                window_loss = stats.loss_fraction,
                batch = results.len(),
                ?lost,
                "the loss-based ceiling came down"
            );
        }
        if shared.batches == 1 {
            tracing::info!("the server reports on what we send: the sending rate follows it");
        }
        if shared.batches % LOG_EVERY == 1 {
            let stats = shared.estimator.stats();
            let lost = results.iter().filter(|r| r.arrival.is_none()).count();
            tracing::debug!(
                target_kbps = stats.target_bps / 1000,
                unnumbered_kbps = shared.unnumbered_bps() / 1000,
                delay_kbps = stats.delay_based_bps / 1000,
                loss_kbps = stats.loss_based_bps / 1000,
                loss = stats.loss_fraction,
                acknowledged_kbps = stats.acknowledged_bps.map(|b| b / 1000),
                state = ?stats.delay_state,
                batch = results.len(),
                batch_lost = lost,
                unreported = shared.unreported,
                lost_in_gaps = shared.lost_in_gaps,
                "bandwidth estimate"
            );
        }
        self.next_tick = Some(now + TICK);
    }

    fn target_bitrate(&self) -> f64 {
        f64::from(self.bandwidth.lock().estimator.target_bps())
    }

    fn handle_timeout(&mut self, now: Instant) {
        let mut shared = self.bandwidth.lock();
        shared.estimator.on_timeout(now);
        self.next_tick = Some(now + TICK);
    }

    /// Ticks only once feedback has come: a connection whose server sends none wakes nobody.
    fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::rtcp::transport_feedbacks::cc_feedback_report::Ecn;

    fn report(id: u64, is_twcc: bool, departure: Instant, arrived: bool) -> PacketReport {
        PacketReport {
            ssrc: if is_twcc { 1 } else { 2 },
            id,
            rtp_sequence_number: id as u16,
            is_twcc,
            twcc_sequence_number: if is_twcc { id as u16 } else { 0 },
            size: 1000,
            arrived,
            departure,
            arrival: arrived.then(|| Duration::from_millis(id * 10)),
            ecn: Ecn::default(),
        }
    }

    fn config() -> EstimatorConfig {
        EstimatorConfig {
            start_bps: 500_000,
            min_bps: 50_000,
            max_bps: 3_000_000,
        }
    }

    #[test]
    fn nothing_is_known_before_the_server_reports() {
        let bandwidth = Bandwidth::new(config());
        assert_eq!(bandwidth.target_bps(), None);
        assert_eq!(bandwidth.loss(), None);
        // A batch of nothing but packets the server does not number says nothing either.
        let mut driver = bandwidth.driver();
        let t0 = Instant::now();
        driver.on_reports(t0, &[report(0, false, t0, false)]);
        assert_eq!(bandwidth.target_bps(), None);
    }

    #[test]
    fn streams_without_feedback_are_neither_lost_nor_forgotten() {
        // Video numbered and acknowledged, audio not numbered (as Janus 1.1 negotiates it):
        // webrtc-rs hands the audio over as "not arrived". It must not read as loss, and its
        // rate belongs to the budget.
        let bandwidth = Bandwidth::new(config());
        let mut driver = bandwidth.driver();
        let t0 = Instant::now();
        let mut id = 0;
        for batch in 0..40u64 {
            let mut reports = Vec::new();
            for i in 0..10u64 {
                let at = t0 + Duration::from_millis(batch * 50 + i * 5);
                reports.push(report(id, i % 2 == 0, at, i % 2 == 0));
                id += 1;
            }
            driver.on_reports(t0 + Duration::from_millis(batch * 50 + 50), &reports);
        }
        assert_eq!(bandwidth.loss(), Some(0.0));
        let estimate = bandwidth.stats().target_bps;
        let target = bandwidth.target_bps().unwrap_or(0);
        // Five 1000-byte unnumbered packets per 50 ms: 800 kbit/s beside the estimate.
        let beside = target - estimate;
        assert!((780_000..=820_000).contains(&beside), "{beside}");
    }

    #[test]
    fn only_what_a_report_named_can_be_lost() {
        // Video at 1000 packets a second, every fifth report (200 ms each) lost on the way to
        // us, nothing lost on the way up: webrtc-rs hands the lost report's packets over as "not
        // arrived" with the next report. Only a packet a report names as missing is loss.
        let bandwidth = Bandwidth::new(config());
        let mut driver = bandwidth.driver();
        let t0 = Instant::now();
        let mut pending = Vec::new();
        let mut worst: f32 = 0.0;
        for batch in 0..50u64 {
            let first = batch * 200;
            let delivered = batch % 5 != 4;
            if delivered {
                bandwidth.reported(first as u16, 200);
            }
            for id in first..first + 200 {
                let at = t0 + Duration::from_millis(id);
                // In every delivered report, one packet in a hundred is named as missing.
                let arrived = delivered && id % 100 != 7;
                pending.push(report(id, true, at, arrived));
            }
            if delivered {
                let now = t0 + Duration::from_millis(first + 250);
                driver.on_reports(now, &std::mem::take(&mut pending));
                worst = worst.max(bandwidth.loss().unwrap_or(1.0));
            }
        }
        assert!(
            (0.005..0.03).contains(&worst),
            "the worst loss read: {worst}"
        );
        // 1 % loss never lowers the loss-based ceiling below where it started (the maximum).
        assert_eq!(bandwidth.stats().loss_based_bps, config().max_bps);
        // Nine lost reports were followed by one that came (the tenth, the last, was not).
        assert_eq!(bandwidth.lock().unreported, 9 * 200);
    }

    #[test]
    fn an_arrival_without_a_time_is_no_loss() {
        // A report that names more arrivals than it gives times for (webrtc-rs then reports
        // the rest as arrived without a time): every fourth packet here.
        let bandwidth = Bandwidth::new(config());
        let mut driver = bandwidth.driver();
        let t0 = Instant::now();
        for batch in 0..20u64 {
            let first = batch * 100;
            bandwidth.reported(first as u16, 100);
            let reports: Vec<PacketReport> = (first..first + 100)
                .map(|id| {
                    let mut r = report(id, true, t0 + Duration::from_millis(id), true);
                    if id % 4 == 0 {
                        r.arrival = None;
                    }
                    r
                })
                .collect();
            driver.on_reports(t0 + Duration::from_millis(first + 130), &reports);
        }
        assert_eq!(bandwidth.loss(), Some(0.0));
        assert_eq!(bandwidth.stats().loss_based_bps, config().max_bps);
    }

    /// Video at 1000 packets a second, reported every 200 ms. From 2 s on the path carries
    /// nothing; at 3.5 s the path is replaced (an ICE restart), and from 3.6 s on what we send
    /// arrives on the new one. The server's first report after names everything from 2 s to
    /// 3.6 s as lost.
    fn a_path_replaced(replaced: bool, lost_after: bool) -> Bandwidth {
        let bandwidth = Bandwidth::new(config());
        let mut driver = bandwidth.driver();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut pending = Vec::new();
        for id in 0..6_000u64 {
            let dead = (2_000..3_600).contains(&id);
            // With `lost_after`, a third of what is sent from 4.5 s to 5 s is lost.
            let burst = lost_after && (4_500..5_000).contains(&id) && id % 3 == 0;
            pending.push(report(id, true, ms(id), !dead && !burst));
            if id == 3_500 && replaced {
                bandwidth.path_replaced(ms(2_000), ms(3_500));
            }
            let report_now = id % 200 == 199 && !(2_000..3_800).contains(&id);
            if report_now {
                let first = pending.first().map_or(0, |r| r.id);
                bandwidth.reported(first as u16, pending.len() as u16);
                driver.on_reports(ms(id + 30), &std::mem::take(&mut pending));
            }
        }
        bandwidth
    }

    #[test]
    fn what_is_lost_while_the_path_is_replaced_is_no_reason_to_send_less() {
        let before = a_path_replaced(false, false);
        assert!(
            before.stats().loss_based_bps < 1_000_000,
            "without the restart known, 1.6 s of loss cuts the rate: {}",
            before.stats().loss_based_bps
        );
        let replaced = a_path_replaced(true, false);
        assert_eq!(replaced.stats().loss_based_bps, config().max_bps);
        assert_eq!(replaced.lock().lost_in_gaps, 1_600);
        // Once the new path carried a packet sent after the restart began, loss counts again.
        let later = a_path_replaced(true, true);
        assert!(
            later.stats().loss_based_bps < 1_000_000,
            "{}",
            later.stats().loss_based_bps
        );
    }
}
