//! Frame assembly: received VP8 packets back into whole frames, handed to the decoder in order.
//!
//! A lost packet is usually not lost for good: the transport asks for it again (RTCP NACK) and
//! the server retransmits it about a round trip later. So a frame that misses packets is waited
//! for — and the frames after it, which the decoder can only use after it, wait too — until the
//! packets come or a deadline passes. The deadline follows how long retransmissions have taken on
//! this path (the slowest of the recent ones, with a margin), within bounds. When it passes, the
//! output says a keyframe is needed, and the frame is still kept a while in case its packets come
//! after all (whichever comes first continues the picture). Only then is it given up: the
//! decoder's reference chain is broken and deltas are useless until a keyframe. A complete
//! keyframe ends any wait at once.
//!
//! A stream with temporal layers says in each frame's descriptor which layer it is and which
//! base-layer frame it follows (TL0PICIDX). Nothing refers to a frame above the base layer, except
//! later frames of its own layer that do not say they are in sync: so when a later frame is
//! complete and needs nothing that is missing — the next base-layer frame, or an upper-layer
//! frame in sync with the last base-layer frame shown — the missing frames are skipped once a
//! usual retransmission would have come (at once on a path where none has come yet): one frame
//! less on the screen instead of a freeze until the deadline. The same lets a picture go on at
//! once when the server starts or stops forwarding the upper layer in the middle of a frame.
//!
//! Sans-IO: packets and the time go in through [`FrameAssembler::insert`]; deadlines pass in
//! [`FrameAssembler::poll`], which the caller runs every few milliseconds.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};

use super::{Descriptor, ExtSeq, parse_payload, starts_keyframe};
use crate::MediaError;

/// A whole frame, ready for the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// The VP8 bitstream.
    pub data: Vec<u8>,
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// The frame's RTP timestamp (90 kHz).
    pub rtp_timestamp: u32,
}

/// What the assembler produced from the packets so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AssemblerOutput {
    /// Complete frames, in order; each is decodable once those before it were decoded.
    pub frames: Vec<AssembledFrame>,
    /// The decoder's reference chain is broken (or has not started): only a keyframe helps.
    /// Said on every call until one comes; the caller asks the sender (RTCP PLI) as often as
    /// [`crate::rtp::keyframe::KeyframeRequests`] allows.
    pub request_keyframe: bool,
}

/// Counters for the stats panel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Frames handed to the decoder.
    pub frames_assembled: u64,
    /// Frames given up (incomplete, or undecodable after a loss).
    pub frames_dropped: u64,
    /// Packets noticed missing that arrived later (retransmitted), in time or not.
    pub packets_recovered: u64,
    /// Packets that arrived after their frame was handed out or given up.
    pub packets_late: u64,
    /// How long a frame that misses packets is waited for now, in ms.
    pub recovery_wait_ms: u64,
}

#[derive(Debug)]
struct Packet {
    timestamp: u32,
    marker: bool,
    descriptor: Descriptor,
    data: Vec<u8>,
    arrived_ms: u64,
}

impl Packet {
    /// Whether this packet begins a frame (the start of partition 0).
    fn begins_frame(&self) -> bool {
        self.descriptor.start && self.descriptor.partition == 0
    }
}

/// Where the frames handed out stand in a stream with temporal layers.
#[derive(Debug, Default, Clone, Copy)]
struct Layers {
    /// The TL0PICIDX of the last base-layer frame handed out (`None`: the stream has no
    /// layers, or no base-layer frame has been handed out since the chain started).
    base: Option<u8>,
    /// Upper layers (1..=3) with a frame skipped since their last frame in sync: their frames
    /// that are not in sync may refer to it.
    broken: [bool; 4],
}

impl Layers {
    /// Whether a frame that begins with this descriptor, after frames that are missing, needs
    /// none of them (`None`: the descriptor does not say).
    fn decodable(&self, d: &Descriptor) -> Option<bool> {
        let (base, tl0, layer) = (self.base?, d.tl0_pic_idx?, d.temporal?);
        Some(if layer.id == 0 {
            tl0 == base.wrapping_add(1)
        } else {
            tl0 == base && (layer.sync || !self.broken[usize::from(layer.id.min(3))])
        })
    }

    /// A frame beginning with `d` was handed out.
    fn handed_out(&mut self, d: &Descriptor, keyframe: bool) {
        match (d.tl0_pic_idx, d.temporal) {
            (Some(tl0), Some(layer)) if keyframe || layer.id == 0 => {
                self.base = Some(tl0);
                if keyframe {
                    self.broken = [false; 4];
                }
            }
            (Some(_), Some(layer)) if layer.sync => {
                self.broken[usize::from(layer.id.min(3))] = false
            }
            (Some(_), Some(_)) => {}
            _ => *self = Self::default(),
        }
    }

    /// Frames were skipped: upper-layer frames not in sync may refer to them.
    fn skipped(&mut self) {
        self.broken[1..].fill(true);
    }

    /// Whether a frame that begins with this descriptor, next in order, may refer to a frame
    /// that was skipped. (Only that: a frame next in order after all the frames before it needs
    /// nothing missing, whatever counts a sender puts into its descriptors.)
    fn refers_to_skipped(&self, d: &Descriptor) -> bool {
        d.temporal
            .is_some_and(|l| l.id > 0 && !l.sync && self.broken[usize::from(l.id.min(3))])
    }
}

/// What a head that cannot be handed out may still come to.
enum Skip {
    /// The frame beginning here is complete and needs nothing before it that is missing.
    To(ExtSeq),
    /// Such a frame may still complete: wait.
    Maybe,
    /// No frame after it can be decoded without it.
    Never,
}

/// The frame that begins at a given sequence number.
enum Head {
    /// All there: its last sequence number.
    Complete(ExtSeq),
    /// Packets still missing.
    Incomplete,
    /// It can never complete: the packet there does not begin a frame, or the next frame's
    /// packets follow without a marker. Only a keyframe helps.
    Broken,
}

/// Packets kept at most (a safety net: deadlines and ageing keep far fewer).
const MAX_PACKETS: usize = 2000;
/// Missing sequence numbers remembered at most; a larger jump is a new start, not loss.
const MAX_MISSING: u64 = 1000;
/// How often the transport repeats a NACK for a packet still missing (webrtc-rs's generator
/// runs every 100 ms): a retransmission that was itself lost comes one such round later.
const NACK_ROUND_MS: u64 = 100;
/// The wait before any retransmission has been seen on this path.
const DEFAULT_WAIT_MS: u64 = 300;
/// The shortest wait: a first NACK round and most of a second, even on the fastest path.
const MIN_WAIT_MS: u64 = 150;
/// The longest wait: beyond this a frozen picture costs more than a keyframe request, and
/// servers keep packets for retransmission about this long at most (Janus: 200 ms to 1 s).
const MAX_WAIT_MS: u64 = 600;
/// The recent retransmissions the wait is based on (about five seconds' worth at 5 % loss).
const RECOVERY_SAMPLES: usize = 32;

/// How long retransmissions have recently taken, from noticing a packet missing to its arrival.
#[derive(Debug, Default)]
struct RecoveryTimes {
    recent: VecDeque<u64>,
}

impl RecoveryTimes {
    fn push(&mut self, ms: u64) {
        if self.recent.len() == RECOVERY_SAMPLES {
            self.recent.pop_front();
        }
        self.recent.push_back(ms);
    }

    /// How long a usual retransmission takes here: the median of the recent ones and a margin
    /// for the playout tick (`None`: none has come yet).
    fn usual_ms(&self) -> Option<u64> {
        let mut recent: Vec<u64> = self.recent.iter().copied().collect();
        recent.sort_unstable();
        recent.get(recent.len() / 2).map(|median| median + 20)
    }

    /// The slowest recent retransmission, one more NACK round (for a retransmission that was
    /// lost too) and a margin for the playout tick — so that nearly every retransmission that
    /// comes at all comes in time.
    fn wait_ms(&self) -> u64 {
        self.recent
            .iter()
            .max()
            .map_or(DEFAULT_WAIT_MS, |&slowest| {
                (slowest + NACK_ROUND_MS + 20).clamp(MIN_WAIT_MS, MAX_WAIT_MS)
            })
    }
}

/// Reassembles frames from VP8 RTP packets. A frame is complete when its packets, from the one
/// that starts partition 0 to the one with the marker bit, are all there.
pub struct FrameAssembler {
    packets: BTreeMap<ExtSeq, Packet>,
    /// Where the next frame to hand out begins (everything before is done). No packet below it
    /// is kept.
    next_seq: Option<ExtSeq>,
    /// The highest sequence number seen.
    highest: Option<ExtSeq>,
    /// Sequence numbers noticed missing (a later one arrived), and when.
    missing: BTreeMap<ExtSeq, u64>,
    /// Since when the next frame has been waiting for missing packets.
    blocked_since: Option<u64>,
    /// The reference chain is broken: only a keyframe can continue it.
    waiting_for_keyframe: bool,
    /// Since when the next frame has been known never to complete, while a later frame that
    /// skips it may still come.
    broken_since: Option<u64>,
    layers: Layers,
    recovery: RecoveryTimes,
    stats: AssemblerStats,
}

impl Default for FrameAssembler {
    fn default() -> Self {
        Self {
            packets: BTreeMap::new(),
            next_seq: None,
            highest: None,
            missing: BTreeMap::new(),
            blocked_since: None,
            waiting_for_keyframe: true,
            broken_since: None,
            layers: Layers::default(),
            recovery: RecoveryTimes::default(),
            stats: AssemblerStats::default(),
        }
    }
}

impl FrameAssembler {
    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        AssemblerStats {
            recovery_wait_ms: self.recovery.wait_ms(),
            ..self.stats
        }
    }

    /// Take one RTP packet (unwrapped sequence number, timestamp, marker, payload) that arrived
    /// at `now_ms`.
    pub fn insert(
        &mut self,
        seq: ExtSeq,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<AssemblerOutput, MediaError> {
        let (descriptor, data) = parse_payload(payload)?;
        self.note_arrival(seq, now_ms);
        if self.next_seq.is_some_and(|next| seq < next) {
            self.stats.packets_late += 1;
        } else if let Entry::Vacant(slot) = self.packets.entry(seq) {
            slot.insert(Packet {
                timestamp,
                marker,
                descriptor,
                data: data.to_vec(),
                arrived_ms: now_ms,
            });
            if self.packets.len() > MAX_PACKETS {
                // Never reached while deadlines work; if it were, the frames are broken anyway.
                self.drop_oldest(self.packets.len() - MAX_PACKETS);
                self.reference_lost();
            }
        }
        Ok(self.poll(now_ms))
    }

    /// Let time pass: a frame whose missing packets are overdue makes the output ask for a
    /// keyframe, and is given up later. Run it every few milliseconds (the engine does every
    /// 10 ms), also when no packets arrive.
    pub fn poll(&mut self, now_ms: u64) -> AssemblerOutput {
        let mut out = AssemblerOutput::default();
        self.hand_out(&mut out, now_ms);
        if self
            .broken_since
            .is_some_and(|since| now_ms >= since + self.recovery.wait_ms())
        {
            // The frame that would skip the broken one did not come in time.
            self.reference_lost();
        }
        if let (false, Some(waited)) = (self.waiting_for_keyframe, self.head_waited(now_ms)) {
            let wait = self.recovery.wait_ms();
            if waited >= (2 * wait).max(MAX_WAIT_MS) {
                // No retransmission is coming any more; every later delta refers to the frame.
                self.reference_lost();
            } else if waited >= wait {
                // The retransmission is overdue: ask for a keyframe now, so the picture does
                // not stay frozen for a packet that may never come, but keep what may still
                // complete the frame — a late retransmission continues the picture sooner.
                out.request_keyframe = true;
            }
        }
        if self.waiting_for_keyframe {
            self.drop_aged(now_ms);
            out.request_keyframe = true;
        }
        self.forget_missing(now_ms);
        out
    }

    /// Whether the reference chain is broken (or has not started) and only a keyframe helps.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.waiting_for_keyframe
    }

    /// The decoder cannot continue from what it was given (a frame did not decrypt or did not
    /// decode): deltas are dropped until a keyframe, and one is asked for.
    pub fn reference_lost(&mut self) {
        self.waiting_for_keyframe = true;
        self.blocked_since = None;
        self.broken_since = None;
        self.layers = Layers::default();
    }

    /// Hand out every frame that can be decoded now: the next one in order when it is complete,
    /// a later one that needs nothing missing (temporal layers), or the earliest complete
    /// keyframe, which needs nothing before it.
    fn hand_out(&mut self, out: &mut AssemblerOutput, now_ms: u64) {
        loop {
            if let (false, Some(next)) = (self.waiting_for_keyframe, self.next_seq) {
                let head = self.frame_at(next);
                if let Head::Complete(last) = head {
                    let skipped_before = self.packets.get(&next).is_some_and(|p| {
                        !starts_keyframe(&p.data) && self.layers.refers_to_skipped(&p.descriptor)
                    });
                    if skipped_before {
                        self.drop_before(last + 1);
                    } else {
                        self.emit(next, last, out);
                    }
                    continue;
                }
                let broken = matches!(head, Head::Broken);
                match self.skip_target(next) {
                    Skip::To(first) if broken || self.retransmission_overdue(now_ms) => {
                        self.drop_before(first);
                        self.layers.skipped();
                        self.broken_since = None;
                        continue;
                    }
                    Skip::Maybe if broken => {
                        self.broken_since.get_or_insert(now_ms);
                    }
                    Skip::Never if broken => self.reference_lost(),
                    _ => {}
                }
            }
            let Some((first, last)) = self.earliest_complete_keyframe() else {
                return;
            };
            self.drop_before(first);
            self.waiting_for_keyframe = false;
            self.emit(first, last, out);
        }
    }

    /// Whether the packets the next frame is missing have waited as long as a usual
    /// retransmission takes on this path (or none has come on it yet).
    fn retransmission_overdue(&mut self, now_ms: u64) -> bool {
        match self.recovery.usual_ms() {
            Some(usual) => self
                .head_waited(now_ms)
                .is_some_and(|waited| waited >= usual),
            None => true,
        }
    }

    /// Whether a frame after the one at `next` (which cannot be handed out now) can go out
    /// without it.
    fn skip_target(&self, next: ExtSeq) -> Skip {
        if self.layers.base.is_none() {
            return Skip::Never;
        }
        let starts = self
            .packets
            .range(next + 1..)
            .filter(|(_, p)| p.begins_frame());
        for (&seq, p) in starts {
            match self.layers.decodable(&p.descriptor) {
                Some(true) => {
                    return match self.frame_at(seq) {
                        Head::Complete(_) => Skip::To(seq),
                        Head::Incomplete => Skip::Maybe,
                        Head::Broken => continue,
                    };
                }
                // A base-layer frame that is not the next one: one is missing for good.
                Some(false) if p.descriptor.temporal.is_some_and(|l| l.id == 0) => {
                    return Skip::Never;
                }
                Some(false) => {}
                None => return Skip::Never,
            }
        }
        Skip::Maybe
    }

    /// The frame that begins at `first`.
    fn frame_at(&self, first: ExtSeq) -> Head {
        let Some(start) = self.packets.get(&first) else {
            return Head::Incomplete;
        };
        if !start.begins_frame() {
            return Head::Broken;
        }
        for (expected, (&seq, p)) in (first..).zip(self.packets.range(first..)) {
            if seq != expected {
                return Head::Incomplete;
            }
            if p.timestamp != start.timestamp {
                return Head::Broken;
            }
            if p.marker {
                return Head::Complete(seq);
            }
        }
        Head::Incomplete
    }

    fn earliest_complete_keyframe(&self) -> Option<(ExtSeq, ExtSeq)> {
        self.packets
            .iter()
            .filter(|(_, p)| p.begins_frame() && starts_keyframe(&p.data))
            .find_map(|(&seq, _)| match self.frame_at(seq) {
                Head::Complete(last) => Some((seq, last)),
                _ => None,
            })
    }

    /// How long the next frame has been waiting for missing packets, if it is.
    fn head_waited(&mut self, now_ms: u64) -> Option<u64> {
        let (next, highest) = (self.next_seq?, self.highest?);
        // Every kept packet is at or above `next`, so fewer packets than sequence numbers up to
        // the highest seen means a hole the next frame is waiting behind.
        let hole = highest >= next && (self.packets.len() as u64) < highest - next + 1;
        if !hole {
            self.blocked_since = None;
            return None;
        }
        let noticed = self.missing.range(next..).next().map(|(_, &at)| at);
        let since = *self.blocked_since.get_or_insert(noticed.unwrap_or(now_ms));
        Some(now_ms.saturating_sub(since))
    }

    /// Learn from the sequence numbers: which are missing, and how long retransmissions take.
    fn note_arrival(&mut self, seq: ExtSeq, now_ms: u64) {
        match self.highest {
            None => self.highest = Some(seq),
            Some(highest) if seq > highest + MAX_MISSING || seq + MAX_MISSING < highest => {
                self.restart(seq);
            }
            Some(highest) if seq > highest => {
                self.missing.extend((highest + 1..seq).map(|s| (s, now_ms)));
                self.highest = Some(seq);
            }
            Some(_) => {
                if let Some(noticed) = self.missing.remove(&seq) {
                    self.stats.packets_recovered += 1;
                    self.recovery.push(now_ms.saturating_sub(noticed));
                }
            }
        }
    }

    /// The sequence numbers jumped far (a long outage, a sender that started anew): nothing kept
    /// belongs with what comes now, and what comes must not be taken for late packets.
    fn restart(&mut self, seq: ExtSeq) {
        self.drop_oldest(self.packets.len());
        self.next_seq = None;
        self.missing.clear();
        self.highest = Some(seq);
        self.reference_lost();
    }

    /// Missing packets are remembered beyond the deadline, so that retransmissions that come too
    /// late still teach the wait — but not for ever.
    fn forget_missing(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(2 * MAX_WAIT_MS);
        self.missing.retain(|_, &mut at| at >= horizon);
        while self.missing.len() as u64 > MAX_MISSING {
            self.missing.pop_first();
        }
    }

    /// Waiting for a keyframe: packets kept longer than the wait no longer complete one.
    fn drop_aged(&mut self, now_ms: u64) {
        let wait = self.recovery.wait_ms();
        let aged = self
            .packets
            .iter()
            .take_while(|(_, p)| p.arrived_ms + wait < now_ms)
            .count();
        self.drop_oldest(aged);
    }

    /// Drop everything before `first`.
    fn drop_before(&mut self, first: ExtSeq) {
        let count = self.packets.range(..first).count();
        self.drop_oldest(count);
        self.next_seq = Some(self.next_seq.map_or(first, |next| next.max(first)));
    }

    /// Drop the `count` oldest packets, counting the frames they belonged to.
    fn drop_oldest(&mut self, count: usize) {
        let mut last_timestamp = None;
        for _ in 0..count {
            let Some((seq, p)) = self.packets.pop_first() else {
                break;
            };
            if last_timestamp != Some(p.timestamp) {
                last_timestamp = Some(p.timestamp);
                self.stats.frames_dropped += 1;
            }
            self.next_seq = Some(seq + 1);
        }
    }

    /// Hand out the frame from `first` to `last`.
    fn emit(&mut self, first: ExtSeq, last: ExtSeq, out: &mut AssemblerOutput) {
        let mut data = Vec::new();
        let (mut keyframe, mut timestamp) = (false, 0);
        for seq in first..=last {
            if let Some(p) = self.packets.remove(&seq) {
                if seq == first {
                    keyframe = starts_keyframe(&p.data);
                    timestamp = p.timestamp;
                    self.layers.handed_out(&p.descriptor, keyframe);
                }
                data.extend_from_slice(&p.data);
            }
        }
        self.next_seq = Some(last + 1);
        self.blocked_since = None;
        self.broken_since = None;
        self.stats.frames_assembled += 1;
        out.frames.push(AssembledFrame {
            data,
            keyframe,
            rtp_timestamp: timestamp,
        });
    }
}
