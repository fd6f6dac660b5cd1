//! The receive side for audio: an adaptive jitter buffer in front of the Opus decoder.
//!
//! Sans-IO: packets go in with their arrival time, 10 ms frames come out when the playout clock
//! asks; the caller supplies the time (milliseconds on any monotonic clock). Nothing here reads a
//! clock, sleeps or spawns.
//!
//! - **Target delay follows measured jitter**: the 95th percentile of each packet's delay over the
//!   fastest recent packet, plus a small margin, never below one packet (20 ms). A target the
//!   network needed is held for 10 s and then released slowly, so that a queue's swings grow the
//!   delay once instead of shrinking and growing it again with each swing.
//! - **The delay it steers** is how long after its earliest possible arrival audio plays, not the
//!   amount queued: a packet that is late, but within the target, changes nothing.
//! - **Playout follows RTP timestamps**, so DTX pauses stay pauses.
//! - **Loss**: a missing packet is rebuilt from the next packet's in-band FEC when it carries it,
//!   else from the deep redundancy (DRED) of the next packet there is, otherwise concealed by
//!   Opus PLC. An empty buffer is bridged by PLC without skipping ahead, so the delay grows when
//!   the network needs it; speech lost while it was empty (a narrowing link's queue delays and
//!   drops at once) is rebuilt and played after that PLC, not replaced by it.
//! - **Shrinking** the delay drops 10 ms of a pause (or, when far too late, any audio);
//!   **growing** it inserts 10 ms of silence in a pause. A pause is 100 ms of near-silence, not
//!   the closure of a consonant within a word.
//! - Counters in the spirit of WebRTC's `getStats()` ([`JitterStats`]).

mod delay;

use std::collections::{BTreeMap, VecDeque};

use crate::MediaError;
use crate::audio::FRAME_10MS;
use crate::codec::opus::OpusDecoder;
use crate::timing::Unwrapper;
use delay::DelayEstimator;

/// Samples per millisecond at 48 kHz.
const PER_MS: u64 = 48;
/// Frames quieter than this may be dropped or stretched unnoticed, in dBFS.
const QUIET_DBFS: f64 = -55.0;
/// Near-silence this long is a pause between words or phrases, where silence can be inserted
/// unnoticed (stop consonants hold the mouth closed for up to about 100 ms).
const PAUSE_MS: u64 = 100;
/// The delay is brought down in the next pause once it is this much above the target.
const SHRINK_ABOVE_MS: f64 = 30.0;
/// So much above the target, speech is dropped too, without waiting for a pause. A single stall
/// of the network (a queue filling at once) leaves the delay it caused well below this: it is
/// given back in the next pause, not by cutting into the words that were waited for.
const DROP_ABOVE_MS: f64 = 250.0;
/// Half of a 20 ms packet: how much more a buffer holds, on average, than the delay it adds.
const HALF_PACKET_MS: f64 = 10.0;
/// At most this many packets lost in a stall are rebuilt and played after it (80 ms at 20 ms a
/// packet): a longer gap is an outage, and playing it late would add too much delay.
const MAX_REBUILT_AFTER_STALL: u64 = 4;
/// Never hold more than this much audio; older packets are dropped.
const MAX_BUFFER_MS: u64 = 2000;
/// The most delay lip sync may add to audio.
pub const MAX_MIN_DELAY_MS: u64 = 1000;

/// What one call to [`AudioJitterBuffer::pull`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// Still filling up before playout starts: silence.
    Buffering,
    /// Decoded from received packets.
    Decoded,
    /// At least partly concealed (loss or underrun).
    Concealed,
}

/// Receive-side counters, named after their `getStats()` cousins where one exists.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub packets_received: u64,
    /// Packets never received in time (gaps in the sequence).
    pub packets_lost: u64,
    /// Packets that arrived after their slot was played (discarded).
    pub packets_late: u64,
    /// Packets received twice (discarded).
    pub packets_duplicated: u64,
    /// Lost packets rebuilt from in-band FEC.
    pub fec_recovered: u64,
    /// Packets rebuilt from the deep redundancy (DRED) of a later one.
    pub dred_recovered: u64,
    /// Samples synthesised by concealment (`concealedSamples`).
    pub concealed_samples: u64,
    /// Samples dropped to shrink the delay (`removedSamplesForAcceleration`).
    pub removed_samples: u64,
    /// Silence inserted to grow the delay (`insertedSamplesForDeceleration`).
    pub inserted_samples: u64,
    /// Samples emitted from decoded packets (`jitterBufferEmittedCount`).
    pub emitted_samples: u64,
    /// Sum over emitted decoded samples of their time in the buffer, in ms·samples
    /// (`jitterBufferDelay`; divide by `emitted_samples` for the mean).
    pub emitted_delay_ms_samples: f64,
    /// Current target delay in ms (`jitterBufferTargetDelay`).
    pub target_delay_ms: u64,
    /// Measured inter-arrival jitter in ms (RFC 3550 estimator).
    pub jitter_ms: f64,
}

impl JitterStats {
    /// Mean time a played sample spent in the buffer, in ms.
    pub fn mean_emitted_delay_ms(&self) -> f64 {
        if self.emitted_samples == 0 {
            0.0
        } else {
            self.emitted_delay_ms_samples / self.emitted_samples as f64
        }
    }
}

struct Stored {
    ts: u64,
    arrival_ms: u64,
    payload: Vec<u8>,
}

/// Adaptive jitter buffer and decoder for one Opus stream (48 kHz mono).
pub struct AudioJitterBuffer {
    decoder: OpusDecoder,
    packets: BTreeMap<u64, Stored>,
    seq: Unwrapper,
    ts: Unwrapper,
    next_seq: Option<u64>,
    next_ts: u64,
    started: bool,
    out: VecDeque<f32>,
    /// Arrival times of the decoded samples in `out`, as (samples, arrival ms); `None` for
    /// concealed or inserted samples.
    out_origin: VecDeque<(usize, Option<u64>)>,
    last_duration: u64,
    /// Whether the last decoded packet was near-silent (the sender may be in DTX).
    last_was_quiet: bool,
    /// Whether playout has concealed speech, with nothing buffered, since the last packet it
    /// decoded, rather than played a pause (see [`Self::after_stall`]).
    stalled: bool,
    /// For how long what was played has been near-silent, in ms.
    played_quiet_ms: u64,
    delay: DelayEstimator,
    /// A floor for the target delay set from outside (lip sync asks for more when video lags).
    min_delay_ms: u64,
    /// How far playout runs behind media time ([`Self::playout_lag_ms`]), smoothed over about
    /// ten pulls, in ms.
    smoothed_lag_ms: f64,
    /// No delay changes before this time, so that the last one can take effect.
    settle_until_ms: u64,
    scratch: Vec<f32>,
    stats: JitterStats,
}

impl AudioJitterBuffer {
    /// An empty buffer with its own decoder.
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            decoder: OpusDecoder::new()?,
            packets: BTreeMap::new(),
            seq: Unwrapper::new(16),
            ts: Unwrapper::new(32),
            next_seq: None,
            next_ts: 0,
            started: false,
            out: VecDeque::new(),
            out_origin: VecDeque::new(),
            last_duration: 960,
            last_was_quiet: false,
            stalled: false,
            played_quiet_ms: 0,
            delay: DelayEstimator::default(),
            min_delay_ms: 0,
            smoothed_lag_ms: 0.0,
            settle_until_ms: 0,
            scratch: vec![0.0; 5760],
            stats: JitterStats::default(),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.target_delay_ms = self.target_ms();
        s.jitter_ms = self.delay.jitter_ms();
        s
    }

    /// Ask for at least this much delay (capped at [`MAX_MIN_DELAY_MS`]): lip sync raises it when
    /// video needs longer than audio, so that the audio waits for the picture.
    pub fn set_min_delay_ms(&mut self, ms: u64) {
        self.min_delay_ms = ms.min(MAX_MIN_DELAY_MS);
    }

    /// The delay the buffer aims for: what the network needs, or the floor set from outside.
    fn target_ms(&self) -> u64 {
        self.delay.target_ms().max(self.min_delay_ms)
    }

    /// The RTP timestamp of the next sample to be played, once playout has started: the audio
    /// clock that lip sync aligns video to. Pair it with the time that sample reaches the
    /// speaker.
    pub fn playout_timestamp(&self) -> Option<u32> {
        if !self.started {
            return None;
        }
        let position = self.next_ts.saturating_sub(self.out.len() as u64);
        Some((position & 0xffff_ffff) as u32)
    }

    /// Take one RTP packet: its sequence number, RTP timestamp (48 kHz) and Opus payload.
    pub fn insert(&mut self, seq: u16, timestamp: u32, payload: &[u8], now_ms: u64) {
        let seq = self.seq.unwrap(u64::from(seq));
        let ts = self.ts.unwrap(u64::from(timestamp));
        if payload.is_empty() {
            return;
        }
        if self.next_seq.is_some_and(|next| seq < next) {
            self.stats.packets_late += 1;
            return;
        }
        if self.packets.contains_key(&seq) {
            self.stats.packets_duplicated += 1;
            return;
        }
        self.delay
            .set_fec_in_stream(OpusDecoder::carries_fec(payload));
        self.delay.on_packet(now_ms, ts / PER_MS);
        self.stats.packets_received += 1;
        self.packets.insert(
            seq,
            Stored {
                ts,
                arrival_ms: now_ms,
                payload: payload.to_vec(),
            },
        );
        if self.next_seq.is_none() {
            self.next_seq = Some(seq);
            self.next_ts = ts;
        }
        self.trim_overflow();
    }

    /// Audio buffered ahead of the playout position, in ms.
    pub fn level_ms(&self) -> u64 {
        let queued = self.out.len() as u64;
        let ahead = self.packets.last_key_value().map_or(0, |(_, p)| {
            (p.ts + self.last_duration).saturating_sub(self.next_ts)
        });
        (queued + ahead) / PER_MS
    }

    /// The delay the buffer adds, in the terms of its target (what [`Self::set_min_delay_ms`]
    /// asks for): how long after its earliest possible arrival audio plays, plus half a packet.
    /// This is what the buffer steers, so it is what lip sync should count as buffered: a
    /// request for more is met exactly, not by whatever amount happens to be queued.
    pub fn delay_ms(&self) -> u64 {
        if !self.started {
            return 0;
        }
        self.steered_delay_ms().max(0.0) as u64
    }

    /// [`Self::delay_ms`] unrounded. The lag is smoothed on its own clock, so it does not jump
    /// when the fastest packet changes (a queue that stays full becomes the new baseline), and
    /// the target moves with that baseline exactly. The target is an amount to hold, counted to
    /// the end of the newest packet; a buffer that plays audio this long after its arrival holds
    /// on average half a packet more.
    fn steered_delay_ms(&self) -> f64 {
        self.smoothed_lag_ms - self.delay.fastest_ms() as f64 + HALF_PACKET_MS
    }

    /// Fill `out` (10 ms, 480 samples) for the playout clock at `now_ms`.
    pub fn pull(&mut self, now_ms: u64, out: &mut [f32]) -> Result<PullKind, MediaError> {
        if !self.started {
            // Wait for the target, and for a second packet: the first cannot say whether the
            // sender protects its packets with FEC (which raises the target).
            if self.stats.packets_received < 2 || self.level_ms() < self.target_ms() {
                out.fill(0.0);
                return Ok(PullKind::Buffering);
            }
            self.started = true;
            self.smoothed_lag_ms = self.playout_lag_ms(now_ms);
        }
        let concealed_before = self.stats.concealed_samples;
        while self.out.len() < out.len() {
            self.produce(now_ms)?;
        }
        self.adapt_delay(now_ms, out.len())?;
        self.emit(now_ms, out);
        self.played_quiet_ms = if is_quiet(out.iter()) {
            self.played_quiet_ms + out.len() as u64 / PER_MS
        } else {
            0
        };
        Ok(if self.stats.concealed_samples > concealed_before {
            PullKind::Concealed
        } else {
            PullKind::Decoded
        })
    }

    /// Append the next piece of audio to `out`: a decoded packet, a pause, FEC or concealment.
    /// The timeline (`next_ts`) moves with the audio produced, except while waiting for a packet
    /// that may still come, which is how the delay grows when the network needs more.
    fn produce(&mut self, now_ms: u64) -> Result<(), MediaError> {
        let next_seq = self.next_seq.unwrap_or(0);
        let overdue = now_ms >= self.delay.give_up_ms(self.next_ts / PER_MS);
        let Some((&seq, first)) = self.packets.first_key_value() else {
            return self.underrun(overdue);
        };
        // In-band FEC only when the packet carries it; otherwise the deep redundancy (below) is
        // the better rebuild, and FEC decoding would be plain concealment.
        let (first_ts, fec_capable) = (first.ts, OpusDecoder::carries_fec(&first.payload));
        if seq == next_seq {
            if first_ts > self.next_ts {
                // Nothing was sent for a while (DTX): the pause plays as silence, in time.
                let gap = ((first_ts - self.next_ts) as usize).min(FRAME_10MS);
                self.push_samples_zero(gap);
                self.next_ts += gap as u64;
                return Ok(());
            }
            if let Some(packet) = self.packets.remove(&seq) {
                self.decode(&packet)?;
            }
            self.next_seq = Some(seq + 1);
            return Ok(());
        }
        // Packets next_seq..seq are missing.
        if first_ts <= self.next_ts {
            // Their time has already been filled, while nothing was buffered.
            return self.after_stall(next_seq, seq, fec_capable, now_ms);
        }
        let duration = (first_ts - self.next_ts).min(self.last_duration);
        if seq == next_seq + 1 && fec_capable {
            // Exactly one packet is missing and the next one carries its redundancy. When part
            // of its time was already concealed (an underrun), only the rest is played.
            let payload = self.payload_of(seq);
            let whole = self.last_duration as usize;
            let n = self.decoder.recover(&payload, &mut self.scratch[..whole])?;
            let rest = (duration as usize).min(n);
            self.scratch.copy_within(n - rest..n, 0);
            self.push_rebuilt(rest, 1, true);
        } else if !overdue {
            // It may still come (reordering, jitter): wait, without moving the timeline.
            return self.conceal(FRAME_10MS);
        } else {
            // Gone: rebuilt from the deep redundancy of the next packet there is, if it reaches
            // back this far, else concealed.
            let before = (first_ts - self.next_ts) as usize;
            let payload = self.payload_of(seq);
            let samples = duration as usize;
            match self
                .decoder
                .recover_from_dred(&payload, before, &mut self.scratch[..samples])
            {
                Ok(Some(n)) => self.push_rebuilt(n, 1, false),
                _ => self.conceal(samples)?,
            }
        }
        self.count_lost(1, now_ms);
        self.next_seq = Some(next_seq + 1);
        self.next_ts += duration;
        Ok(())
    }

    /// Packets `missing..first` never came, and their time was filled while nothing was
    /// buffered. If playout stalled in speech (concealing while it waited), the stall has grown
    /// the delay already: a packet that ends it late is played after the concealment, not
    /// dropped. The same goes for lost packets whose speech the first packet to come can
    /// rebuild (its FEC for the one before it, its deep redundancy for a few more): played after
    /// the concealment, so a narrowed link's queue, which delays and drops packets at once,
    /// costs a moment of concealment but no words. If a pause was playing instead, they are
    /// played only when what they carried is speech (a word starting just then). The delay
    /// grows by their length and is given back in a pause if the network does not need it.
    /// Otherwise they are skipped.
    fn after_stall(
        &mut self,
        missing: u64,
        first: u64,
        fec_capable: bool,
        now_ms: u64,
    ) -> Result<(), MediaError> {
        let count = first - missing;
        self.count_lost(count, now_ms);
        self.next_seq = Some(first);
        let samples = (count * self.last_duration) as usize;
        if count > MAX_REBUILT_AFTER_STALL || samples > self.scratch.len() {
            return Ok(());
        }
        let payload = self.payload_of(first);
        let from_fec = count == 1 && fec_capable;
        let rebuilt = if from_fec {
            self.decoder
                .recover(&payload, &mut self.scratch[..samples])?
        } else {
            match self
                .decoder
                .recover_from_dred(&payload, samples, &mut self.scratch[..samples])?
            {
                Some(n) => n,
                None => return Ok(()),
            }
        };
        // While a pause played, only speech is worth the delay it adds (the start of a word
        // that came with the link's queue); packets of the pause itself stay left out.
        if !self.stalled && is_quiet(self.scratch[..rebuilt].iter()) {
            return Ok(());
        }
        self.push_rebuilt(rebuilt, count, from_fec);
        Ok(())
    }

    /// Play the first `n` samples of the scratch buffer, rebuilt for `packets` lost ones from
    /// in-band FEC or deep redundancy (they count among the concealed samples too).
    fn push_rebuilt(&mut self, n: usize, packets: u64, from_fec: bool) {
        if from_fec {
            self.stats.fec_recovered += packets;
        } else {
            self.stats.dred_recovered += packets;
        }
        self.stats.concealed_samples += n as u64;
        self.push_decoded(n, None);
    }

    /// A copy of the buffered packet `seq`'s payload (empty if it is not there), to rebuild an
    /// earlier lost one from (the decoder needs `&mut self` meanwhile).
    fn payload_of(&self, seq: u64) -> Vec<u8> {
        self.packets
            .get(&seq)
            .map(|p| p.payload.clone())
            .unwrap_or_default()
    }

    /// Nothing buffered. A quiet sender is pausing (DTX sends nothing): silence, in time. A packet
    /// that is overdue is lost: conceal its time. Otherwise it may still come: conceal while
    /// holding the timeline, so the delay grows.
    fn underrun(&mut self, overdue: bool) -> Result<(), MediaError> {
        if self.last_was_quiet {
            self.push_samples_zero(FRAME_10MS);
        } else {
            self.stalled = true;
            self.conceal(FRAME_10MS)?;
            if !overdue {
                return Ok(());
            }
        }
        self.next_ts += FRAME_10MS as u64;
        Ok(())
    }

    fn count_lost(&mut self, packets: u64, now_ms: u64) {
        self.stats.packets_lost += packets;
        self.delay.on_loss(now_ms);
    }

    fn decode(&mut self, packet: &Stored) -> Result<(), MediaError> {
        match self.decoder.decode(&packet.payload, &mut self.scratch) {
            Ok(n) => {
                self.stalled = false;
                self.last_duration = n as u64;
                self.last_was_quiet = is_quiet(self.scratch[..n].iter());
                self.next_ts = packet.ts + n as u64;
                self.push_decoded(n, Some(packet.arrival_ms));
                Ok(())
            }
            // A corrupt packet is treated as lost: conceal its slot and carry on.
            Err(_) => {
                self.next_ts = packet.ts + self.last_duration;
                self.conceal(self.last_duration as usize)
            }
        }
    }

    fn conceal(&mut self, samples: usize) -> Result<(), MediaError> {
        let n = self.decoder.conceal(&mut self.scratch[..samples])?;
        self.stats.concealed_samples += n as u64;
        self.push_decoded(n, None);
        Ok(())
    }

    fn push_decoded(&mut self, n: usize, arrival: Option<u64>) {
        self.out.extend(&self.scratch[..n]);
        self.out_origin.push_back((n, arrival));
    }

    fn push_samples_zero(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(0.0, n));
        self.out_origin.push_back((n, None));
    }

    /// How far playout runs behind media time at `now_ms` (local time minus the media time of
    /// the audio about to play; the two clocks differ by a constant).
    fn playout_lag_ms(&self, now_ms: u64) -> f64 {
        let position = self.next_ts.saturating_sub(self.out.len() as u64);
        now_ms as f64 - (position / PER_MS) as f64
    }

    /// Drop or insert 10 ms, in pauses, to bring the delay the buffer adds towards the target.
    ///
    /// That delay is how long after its earliest possible arrival (as fast as the fastest recent
    /// packet) audio is played. Unlike the amount buffered, it does not swing with each packet's
    /// own lateness: a packet that is late, but within what the target covers, changes nothing,
    /// and the buffer stretches or shrinks only when the target itself moves. After each change
    /// the buffer gets time to settle.
    fn adapt_delay(&mut self, now_ms: u64, frame: usize) -> Result<(), MediaError> {
        // In a pause the sender sends nothing (DTX) and playout keeps time with silence: the lag
        // stays what it was, and a pause is the best place to change it.
        let lag = self.playout_lag_ms(now_ms);
        self.smoothed_lag_ms += (lag - self.smoothed_lag_ms) * 0.1;
        if now_ms < self.settle_until_ms {
            return Ok(());
        }
        let delay = self.steered_delay_ms();
        let target = self.target_ms() as f64;
        let quiet = is_quiet(self.out.range(..frame));
        // Silence is inserted only in a pause, not in the closure of a consonant within a word.
        let pause = quiet && self.played_quiet_ms >= PAUSE_MS;
        let step = (frame as u64 / PER_MS) as f64;
        if (delay > target + SHRINK_ABOVE_MS && pause) || delay > target + DROP_ABOVE_MS {
            self.discard_front(frame);
            self.stats.removed_samples += frame as u64;
            while self.out.len() < frame {
                self.produce(now_ms)?;
            }
            self.smoothed_lag_ms -= step;
        } else if delay + 5.0 < target && pause {
            for _ in 0..frame {
                self.out.push_front(0.0);
            }
            self.out_origin.push_front((frame, None));
            self.stats.inserted_samples += frame as u64;
            self.smoothed_lag_ms += step;
        } else {
            return Ok(());
        }
        self.settle_until_ms = now_ms + 200;
        Ok(())
    }

    fn discard_front(&mut self, mut n: usize) {
        self.out.drain(..n.min(self.out.len()));
        while n > 0 {
            let Some(front) = self.out_origin.front_mut() else {
                break;
            };
            let take = front.0.min(n);
            front.0 -= take;
            n -= take;
            if front.0 == 0 {
                self.out_origin.pop_front();
            }
        }
    }

    fn emit(&mut self, now_ms: u64, out: &mut [f32]) {
        let mut n = out.len();
        for (o, s) in out.iter_mut().zip(self.out.drain(..n)) {
            *o = s;
        }
        while n > 0 {
            let Some(front) = self.out_origin.front_mut() else {
                break;
            };
            let take = front.0.min(n);
            if let Some(arrival) = front.1 {
                self.stats.emitted_samples += take as u64;
                self.stats.emitted_delay_ms_samples +=
                    (now_ms.saturating_sub(arrival) * take as u64) as f64;
            }
            front.0 -= take;
            n -= take;
            if front.0 == 0 {
                self.out_origin.pop_front();
            }
        }
    }

    /// Keep at most [`MAX_BUFFER_MS`]: a stalled playout must not hoard memory.
    fn trim_overflow(&mut self) {
        while self.level_ms() > MAX_BUFFER_MS {
            let Some((seq, p)) = self.packets.pop_first() else {
                break;
            };
            self.stats.packets_lost += 1;
            self.next_seq = Some(seq + 1);
            self.next_ts = p.ts + self.last_duration;
        }
    }
}

/// Whether a stretch of audio is quiet enough to drop or stretch unnoticed.
fn is_quiet<'a>(samples: impl ExactSizeIterator<Item = &'a f32>) -> bool {
    let n = samples.len().max(1) as f64;
    let energy: f64 = samples.map(|s| f64::from(*s).powi(2)).sum();
    10.0 * (energy / n).log10() < QUIET_DBFS
}

#[cfg(test)]
mod tests;
