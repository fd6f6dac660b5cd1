//! How fast we may send: a send-side bandwidth estimator in the manner of Google Congestion
//! Control (draft-ietf-rmcat-gcc-02, libwebrtc's goog_cc), fed with transport-wide feedback.
//!
//! Sans-IO: the transport turns each feedback report (every 50–100 ms) into [`PacketResult`]s
//! and calls [`Estimator::on_feedback`] with the time; [`Estimator::target_bps`] is what the
//! encoders may use together. Nothing here reads a clock, sleeps or knows webrtc-rs.
//!
//! Two estimates, the lower one wins:
//! - **Delay-based**: packets are grouped into bursts (`arrival`), a line through the growing
//!   or shrinking delay between bursts says whether the bottleneck's queue fills
//!   (`trendline`), and the verdict drives an increase/hold/decrease controller (`rate`) built
//!   on the rate the receiver acknowledged (`acked`) and the capacity seen at past overuse
//!   (`capacity`). Delay rises before loss does, so this keeps queues (and our latency) short.
//! - **Loss-based** (`loss`): a ceiling for links that drop without queueing (policers, a
//!   shallow buffer). Heavy loss (> 10 %) lowers it, light loss (< 2 %) lets it rise.
//!
//! Feedback that stops is its own signal; see [`Estimator::on_timeout`].

mod acked;
mod arrival;
mod capacity;
mod loss;
mod rate;
mod trendline;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use acked::AckedRate;
use arrival::{GroupEvent, PacketGroups};
use loss::LossRateControl;
use rate::DelayRateControl;
use trendline::Trendline;

/// Round trip assumed until the caller reports one.
const DEFAULT_RTT: Duration = Duration::from_millis(100);
/// Round trips beyond this are treated as this (a stalled report, not a path).
const MAX_RTT: Duration = Duration::from_secs(2);
/// Without any feedback for this long, the estimate starts to back off.
const FEEDBACK_TIMEOUT: Duration = Duration::from_secs(1);
/// Each further second without feedback multiplies the target by this.
const TIMEOUT_BACKOFF: f64 = 0.8;

/// What the receiver reported about one packet we sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    /// When the packet left (sender's clock).
    pub departure: Instant,
    /// When it arrived, on the receiver's clock with an arbitrary epoch; `None` if the receiver
    /// reported it lost. Only differences between arrivals are used.
    pub arrival: Option<Duration>,
    /// Bytes on the wire.
    pub size: usize,
}

/// Limits for the estimate, in bit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimatorConfig {
    /// The estimate before any feedback.
    pub start_bps: u32,
    /// Never below this: what audio and a minimal video need.
    pub min_bps: u32,
    /// Never above this: what the encoders can use.
    pub max_bps: u32,
}

/// The delay-based detector's verdict on the bottleneck's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelayState {
    /// The queue stays as it is.
    #[default]
    Normal,
    /// The queue grows: we send more than the link carries.
    Overusing,
    /// The queue drains.
    Underusing,
}

/// The estimator's inner numbers, for logs and the UI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateStats {
    /// The target: the lower of the two estimates, within the configured limits.
    pub target_bps: u32,
    /// What delay allows.
    pub delay_based_bps: u32,
    /// What loss allows (the configured maximum while loss has not been heavy).
    pub loss_based_bps: u32,
    /// Lost packets / reported packets over the last complete loss window (0..=1).
    pub loss_fraction: f32,
    /// What the receiver got over the last half second, once measurable.
    pub acknowledged_bps: Option<u32>,
    /// The delay detector's current verdict.
    pub delay_state: DelayState,
    /// The target is held at what arrives × 1.5, not by the path: we send less than the
    /// target allows (an encoder with little to say, layers switched off), so the estimate
    /// cannot learn whether the path carries more. Sending more (another layer) is how it
    /// finds out.
    pub held_by_sending: bool,
}

/// The send-side bandwidth estimator for one transport (all streams together).
#[derive(Debug)]
pub struct Estimator {
    min_bps: f64,
    max_bps: f64,
    groups: PacketGroups,
    trendline: Trendline,
    acked: AckedRate,
    delay: DelayRateControl,
    loss: LossRateControl,
    rtt: Duration,
    target_bps: f64,
    last_feedback: Option<Instant>,
    last_backoff: Option<Instant>,
}

impl Estimator {
    /// An estimator at `config.start_bps`. Limits that contradict each other are made
    /// consistent rather than refused: a maximum below the minimum is raised to it, and the
    /// start is brought within them.
    pub fn new(config: EstimatorConfig) -> Self {
        let min_bps = f64::from(config.min_bps);
        let max_bps = f64::from(config.max_bps.max(config.min_bps));
        let start_bps = f64::from(config.start_bps).clamp(min_bps, max_bps);
        Self {
            min_bps,
            max_bps,
            groups: PacketGroups::default(),
            trendline: Trendline::default(),
            acked: AckedRate::default(),
            delay: DelayRateControl::new(start_bps, min_bps, max_bps),
            loss: LossRateControl::new(min_bps, max_bps),
            rtt: DEFAULT_RTT,
            target_bps: start_bps,
            last_feedback: None,
            last_backoff: None,
        }
    }

    /// One feedback report arrived at `now`: `packets` in the order they were sent, with the
    /// round trip if the caller knows one.
    pub fn on_feedback(&mut self, now: Instant, packets: &[PacketResult], rtt: Option<Duration>) {
        if let Some(rtt) = rtt {
            self.rtt = rtt.min(MAX_RTT);
        }
        if packets.is_empty() {
            return;
        }
        self.last_feedback = Some(now);
        self.last_backoff = None;
        let mut received = 0u32;
        for packet in packets {
            let Some(arrival) = packet.arrival else {
                continue;
            };
            received += 1;
            self.acked.on_packet(arrival, packet.size);
            match self.groups.on_packet(packet.departure, arrival) {
                Some(GroupEvent::Delta(delta)) => {
                    self.trendline.on_delta(&delta);
                }
                Some(GroupEvent::Reset) => self.trendline.reset(),
                None => {}
            }
        }
        let lost = u32::try_from(packets.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(received);
        // A batch with nothing received says nothing about delay; only loss learns from it.
        if received > 0 {
            let acked = self.acked.rate_bps();
            self.delay
                .update(now, self.trendline.state(), acked, self.rtt);
        }
        let acked = self.acked.rate_bps();
        self.loss
            .on_feedback(now, received, lost, self.target_bps, acked, self.rtt);
        self.update_target();
    }

    /// Call when [`Estimator::poll_timeout`] says so (or more often). Feedback that stops for
    /// over a second means the reverse path or the whole path is gone; either way the send
    /// rate we had is not confirmed. We back off by 20 % per further second rather than drop
    /// to the minimum at once (a second of lost feedback on a wireless link is common and
    /// harmless), and rather than hold (a path that died under our load must not be hit at full
    /// rate when it comes back). When feedback returns, the search phase regains the rate
    /// within seconds. Nothing happens before the first feedback. Call it only while sending:
    /// a transport that sends nothing gets no feedback, and that is no sign of trouble.
    pub fn on_timeout(&mut self, now: Instant) {
        let Some(due) = self.poll_timeout() else {
            return;
        };
        if now < due {
            return;
        }
        self.delay.back_off(now, TIMEOUT_BACKOFF);
        self.last_backoff = Some(now);
        // Comparing groups across the silence would read it as a drained queue.
        self.groups.reset();
        self.trendline.reset();
        self.update_target();
    }

    /// When [`Estimator::on_timeout`] next has something to do, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.last_backoff {
            Some(at) => Some(at + Duration::from_secs(1)),
            None => self.last_feedback.map(|at| at + FEEDBACK_TIMEOUT),
        }
    }

    /// What all streams together may send, in bit/s.
    pub fn target_bps(&self) -> u32 {
        to_bps(self.target_bps)
    }

    /// The inner numbers behind the target.
    pub fn stats(&self) -> EstimateStats {
        EstimateStats {
            target_bps: self.target_bps(),
            delay_based_bps: to_bps(self.delay.rate_bps()),
            loss_based_bps: to_bps(self.loss.rate_bps()),
            loss_fraction: self.loss.fraction() as f32,
            acknowledged_bps: self.acked.rate_bps().map(to_bps),
            delay_state: self.trendline.state(),
            held_by_sending: self.delay.held_by_sending()
                && self.delay.rate_bps() <= self.loss.rate_bps(),
        }
    }

    fn update_target(&mut self) {
        self.target_bps = self
            .delay
            .rate_bps()
            .min(self.loss.rate_bps())
            .clamp(self.min_bps, self.max_bps);
    }
}

/// A rate in bit/s as a whole number (saturating; the rates are finite by construction).
fn to_bps(rate: f64) -> u32 {
    rate.round().clamp(0.0, f64::from(u32::MAX)) as u32
}
