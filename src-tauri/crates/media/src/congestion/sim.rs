//! A deterministic bottleneck for the estimator's tests, in 1 ms steps of virtual time.
//!
//! Sender → FIFO queue (drop-tail at a byte limit, like tbf's `limit`) served at a capacity
//! that may change over time → a fixed propagation delay with optional random loss and jitter
//! (order kept) → receiver, which reports every 50 ms what arrived (transport-wide feedback)
//! → back to the sender after the propagation delay. The sender paces video at the target in
//! 1200-byte packets and sends a 40 kbit/s audio stream (100 bytes every 20 ms) on top.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{EstimateStats, Estimator, EstimatorConfig, PacketResult};

const VIDEO_PACKET: usize = 1200;
const AUDIO_PACKET: usize = 100;
const AUDIO_INTERVAL_MS: u64 = 20;
const FEEDBACK_INTERVAL_MS: u64 = 50;
/// Samples of the trace are taken this often.
pub(super) const TRACE_MS: u64 = 100;

/// The path and the run.
#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub config: EstimatorConfig,
    pub seconds: u64,
    /// (from second, capacity bit/s), in order; the first entry must start at 0.
    pub capacity: Vec<(u64, u32)>,
    /// One way, both directions.
    pub propagation_ms: u64,
    /// Bytes the bottleneck queues before it drops.
    pub buffer_bytes: usize,
    /// Probability that a packet is lost on the wire after the bottleneck.
    pub loss: f64,
    /// Arrivals are shifted by a uniform random amount within ± this (order kept).
    pub jitter_ms: u64,
    /// The receiver clock's reading at virtual time 0.
    pub receiver_epoch: Duration,
    /// The encoder sends at most this much video, whatever the target.
    pub encoder_max_bps: Option<u32>,
    pub seed: u64,
}

impl Scenario {
    /// A link of `capacity_bps`, 40 ms each way, a 31 250-byte buffer (100 ms at 2.5 Mbit/s), no
    /// loss; the estimator starts at 300 kbit/s with a 4 Mbit/s maximum.
    pub fn link(capacity_bps: u32) -> Self {
        Self {
            config: EstimatorConfig {
                start_bps: 300_000,
                min_bps: 50_000,
                max_bps: 4_000_000,
            },
            seconds: 30,
            capacity: vec![(0, capacity_bps)],
            propagation_ms: 40,
            buffer_bytes: 31_250,
            loss: 0.0,
            jitter_ms: 0,
            receiver_epoch: Duration::from_secs(1_000),
            encoder_max_bps: None,
            seed: 1,
        }
    }

    fn capacity_at(&self, ms: u64) -> u32 {
        self.capacity
            .iter()
            .take_while(|(from, _)| from * 1000 <= ms)
            .last()
            .map_or(0, |(_, bps)| *bps)
    }
}

/// One sample of a run, every 100 ms.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub at_ms: u64,
    pub stats: EstimateStats,
    /// The longest time a packet leaving the bottleneck in the last 100 ms spent in its queue.
    pub queue_ms: u64,
    /// What crossed the bottleneck in the last 100 ms, bit/s.
    pub throughput_bps: u64,
}

struct Sent {
    departure_ms: u64,
    size: usize,
    /// Receiver time of arrival, once known; `None` while in flight or when lost.
    arrival_ms: Option<u64>,
}

/// Run the scenario; the estimator's state every 100 ms.
pub(super) fn run(scenario: &Scenario) -> Vec<Sample> {
    Run::new(scenario).go()
}

struct Run<'a> {
    s: &'a Scenario,
    epoch: Instant,
    estimator: Estimator,
    rng: Rng,
    sent: Vec<Sent>,
    /// (seq, enqueued at ms)
    queue: VecDeque<(usize, u64)>,
    queued_bytes: usize,
    link_credit_bits: f64,
    /// (seq, arrival ms) on the way to the receiver, in order.
    wire: VecDeque<(usize, u64)>,
    last_arrival_ms: u64,
    /// Highest seq received, and the first seq not yet reported.
    highest_received: Option<usize>,
    next_report: usize,
    /// (deliver at ms, packets, rtt)
    feedback: VecDeque<(u64, Vec<PacketResult>, Duration)>,
    video_credit_bits: f64,
    window_queue_ms: u64,
    window_bits: u64,
    last_queue_ms: u64,
}

impl<'a> Run<'a> {
    fn new(s: &'a Scenario) -> Self {
        Self {
            s,
            // The only clock reading: an arbitrary epoch for the sender's Instants.
            epoch: Instant::now(),
            estimator: Estimator::new(s.config),
            rng: Rng(s.seed.max(1)),
            sent: Vec::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            link_credit_bits: 0.0,
            wire: VecDeque::new(),
            last_arrival_ms: 0,
            highest_received: None,
            next_report: 0,
            feedback: VecDeque::new(),
            video_credit_bits: 0.0,
            window_queue_ms: 0,
            window_bits: 0,
            last_queue_ms: 0,
        }
    }

    fn go(mut self) -> Vec<Sample> {
        let mut trace = Vec::new();
        for ms in 0..self.s.seconds * 1000 {
            self.send(ms);
            self.serve(ms);
            self.receive(ms);
            if ms.is_multiple_of(FEEDBACK_INTERVAL_MS) {
                self.report(ms);
            }
            self.deliver_feedback(ms);
            if ms % TRACE_MS == TRACE_MS - 1 {
                trace.push(Sample {
                    at_ms: ms + 1,
                    stats: self.estimator.stats(),
                    queue_ms: self.window_queue_ms,
                    throughput_bps: self.window_bits * 1000 / TRACE_MS,
                });
                self.window_queue_ms = 0;
                self.window_bits = 0;
            }
        }
        trace
    }

    fn send(&mut self, ms: u64) {
        let target = f64::from(self.estimator.target_bps());
        let video = self
            .s
            .encoder_max_bps
            .map_or(target, |max| target.min(f64::from(max)));
        self.video_credit_bits += video / 1000.0;
        while self.video_credit_bits >= (VIDEO_PACKET * 8) as f64 {
            self.video_credit_bits -= (VIDEO_PACKET * 8) as f64;
            self.enqueue(ms, VIDEO_PACKET);
        }
        if ms.is_multiple_of(AUDIO_INTERVAL_MS) {
            self.enqueue(ms, AUDIO_PACKET);
        }
    }

    fn enqueue(&mut self, ms: u64, size: usize) {
        let seq = self.sent.len();
        self.sent.push(Sent {
            departure_ms: ms,
            size,
            arrival_ms: None,
        });
        if self.queued_bytes + size <= self.s.buffer_bytes {
            self.queue.push_back((seq, ms));
            self.queued_bytes += size;
        }
    }

    /// The bottleneck passes `capacity × 1 ms` of bits; an idle link saves no more than one
    /// packet's worth.
    fn serve(&mut self, ms: u64) {
        self.link_credit_bits += f64::from(self.s.capacity_at(ms)) / 1000.0;
        while let Some(&(seq, enqueued)) = self.queue.front() {
            let bits = (self.sent[seq].size * 8) as f64;
            if self.link_credit_bits < bits {
                break;
            }
            self.link_credit_bits -= bits;
            self.queue.pop_front();
            self.queued_bytes -= self.sent[seq].size;
            let queued = ms - enqueued;
            self.last_queue_ms = queued;
            self.window_queue_ms = self.window_queue_ms.max(queued);
            self.window_bits += bits as u64;
            if self.rng.chance(self.s.loss) {
                continue;
            }
            let jitter = self.rng.below(2 * self.s.jitter_ms + 1);
            let arrival = (ms + self.s.propagation_ms + self.s.jitter_ms + jitter)
                .saturating_sub(self.s.jitter_ms * 2)
                .max(self.last_arrival_ms);
            self.last_arrival_ms = arrival;
            self.wire.push_back((seq, arrival));
        }
        if self.queue.is_empty() {
            self.link_credit_bits = self.link_credit_bits.min((VIDEO_PACKET * 8) as f64);
        }
    }

    fn receive(&mut self, ms: u64) {
        while let Some(&(seq, arrival)) = self.wire.front() {
            if arrival > ms {
                break;
            }
            self.wire.pop_front();
            self.sent[seq].arrival_ms = Some(arrival);
            self.highest_received = Some(self.highest_received.map_or(seq, |h| h.max(seq)));
        }
    }

    /// Report everything up to the highest received packet; what did not arrive by then (order
    /// is kept) is lost.
    fn report(&mut self, ms: u64) {
        let Some(highest) = self.highest_received else {
            return;
        };
        let packets: Vec<PacketResult> = (self.next_report..=highest)
            .map(|seq| {
                let sent = &self.sent[seq];
                PacketResult {
                    departure: self.epoch + Duration::from_millis(sent.departure_ms),
                    arrival: sent
                        .arrival_ms
                        .map(|a| self.s.receiver_epoch + Duration::from_millis(a)),
                    size: sent.size,
                }
            })
            .collect();
        self.next_report = highest + 1;
        if packets.is_empty() {
            return;
        }
        let rtt = Duration::from_millis(2 * self.s.propagation_ms + self.last_queue_ms);
        self.feedback
            .push_back((ms + self.s.propagation_ms, packets, rtt));
    }

    fn deliver_feedback(&mut self, ms: u64) {
        let now = self.epoch + Duration::from_millis(ms);
        while self.feedback.front().is_some_and(|(at, ..)| *at <= ms) {
            if let Some((_, packets, rtt)) = self.feedback.pop_front() {
                self.estimator.on_feedback(now, &packets, Some(rtt));
            }
        }
        if self.estimator.poll_timeout().is_some_and(|due| due <= now) {
            self.estimator.on_timeout(now);
        }
    }
}

/// xorshift64*: tiny, seeded, good enough for loss and jitter.
pub(super) struct Rng(pub u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0), else 0.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Helpers over a trace.
pub(super) trait Trace {
    fn between(&self, from_s: f64, to_s: f64) -> Vec<Sample>;
    fn mean_target(&self, from_s: f64, to_s: f64) -> f64;
    /// The first time (s) at or after `from_s` when `pred` holds.
    fn first_time(&self, from_s: f64, pred: impl Fn(&Sample) -> bool) -> Option<f64>;
}

impl Trace for [Sample] {
    fn between(&self, from_s: f64, to_s: f64) -> Vec<Sample> {
        self.iter()
            .filter(|s| {
                let t = s.at_ms as f64 / 1e3;
                t > from_s && t <= to_s
            })
            .copied()
            .collect()
    }

    fn mean_target(&self, from_s: f64, to_s: f64) -> f64 {
        let window = self.between(from_s, to_s);
        let sum: f64 = window.iter().map(|s| f64::from(s.stats.target_bps)).sum();
        sum / window.len().max(1) as f64
    }

    fn first_time(&self, from_s: f64, pred: impl Fn(&Sample) -> bool) -> Option<f64> {
        self.iter()
            .filter(|s| s.at_ms as f64 / 1e3 >= from_s)
            .find(|s| pred(s))
            .map(|s| s.at_ms as f64 / 1e3)
    }
}
