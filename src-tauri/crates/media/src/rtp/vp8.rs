//! VP8 over RTP (RFC 7741): the payload descriptor, a packetizer, and a frame assembler that
//! turns received packets back into whole frames and asks for a keyframe when loss has broken
//! the decoder's reference chain.
//!
//! Sans-IO: packets and the current time go in, frames and keyframe requests come out.

use std::collections::BTreeMap;

use crate::MediaError;
use crate::codec::vp8::EncodedFrame;

/// Extended sequence numbers (the transport unwraps RTP's 16-bit ones).
pub type ExtSeq = u64;

fn malformed(reason: &str) -> MediaError {
    MediaError::Codec {
        codec: "vp8 rtp",
        reason: reason.to_owned(),
    }
}

/// The fields of a VP8 payload descriptor this engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Start of a VP8 partition.
    pub start: bool,
    /// Partition index (0 = the first partition, which holds the frame header).
    pub partition: u8,
    /// Picture ID, if present (7 or 15 bits).
    pub picture_id: Option<u16>,
}

/// Split a VP8 RTP payload into its descriptor and the VP8 data.
pub fn parse_payload(payload: &[u8]) -> Result<(Descriptor, &[u8]), MediaError> {
    let (&first, mut rest) = payload
        .split_first()
        .ok_or_else(|| malformed("empty payload"))?;
    let extended = first & 0x80 != 0;
    let descriptor_start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut picture_id = None;
    if extended {
        let (&ext, after) = rest
            .split_first()
            .ok_or_else(|| malformed("truncated descriptor"))?;
        rest = after;
        if ext & 0x80 != 0 {
            let (&b0, after) = rest
                .split_first()
                .ok_or_else(|| malformed("truncated picture id"))?;
            if b0 & 0x80 != 0 {
                let (&b1, after) = after
                    .split_first()
                    .ok_or_else(|| malformed("truncated picture id"))?;
                picture_id = Some(u16::from(b0 & 0x7f) << 8 | u16::from(b1));
                rest = after;
            } else {
                picture_id = Some(u16::from(b0));
                rest = after;
            }
        }
        let extra = usize::from(ext & 0x40 != 0) + usize::from(ext & 0x30 != 0);
        rest = rest
            .get(extra..)
            .ok_or_else(|| malformed("truncated descriptor"))?;
    }
    if rest.is_empty() {
        return Err(malformed("no VP8 data"));
    }
    Ok((
        Descriptor {
            start: descriptor_start,
            partition,
            picture_id,
        },
        rest,
    ))
}

/// Whether VP8 data that begins a frame (S=1, partition 0) begins a keyframe (P bit clear).
fn starts_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0x01 == 0)
}

/// Cuts encoded frames into RTP payloads of at most `max_payload` bytes.
pub struct Vp8Packetizer {
    max_payload: usize,
    picture_id: u16,
}

/// Descriptor bytes we write: X=1, then I=1 with a 15-bit picture ID.
const DESCRIPTOR_LEN: usize = 4;

impl Vp8Packetizer {
    /// Payloads of at most `max_payload` bytes (e.g. 1200 to stay under common MTUs).
    pub fn new(max_payload: usize, first_picture_id: u16) -> Self {
        Self {
            max_payload: max_payload.max(DESCRIPTOR_LEN + 1),
            picture_id: first_picture_id & 0x7fff,
        }
    }

    /// The payloads for one frame, in order; the last one carries the RTP marker bit.
    pub fn packetize(&mut self, frame: &EncodedFrame) -> Vec<Vec<u8>> {
        let room = self.max_payload - DESCRIPTOR_LEN;
        let id = self.picture_id;
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        frame
            .data
            .chunks(room)
            .enumerate()
            .map(|(i, chunk)| {
                let start = if i == 0 { 0x10 } else { 0x00 };
                let mut p = Vec::with_capacity(DESCRIPTOR_LEN + chunk.len());
                p.extend([0x80 | start, 0x80, 0x80 | (id >> 8) as u8, id as u8]);
                p.extend_from_slice(chunk);
                p
            })
            .collect()
    }
}

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
    /// Complete frames, in order.
    pub frames: Vec<AssembledFrame>,
    /// Ask the sender for a keyframe (RTCP PLI) now.
    pub request_keyframe: bool,
}

#[derive(Debug)]
struct Packet {
    timestamp: u32,
    marker: bool,
    descriptor: Descriptor,
    data: Vec<u8>,
}

/// Counters for the stats panel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Frames handed to the decoder.
    pub frames_assembled: u64,
    /// Frames given up (incomplete, or undecodable after a loss).
    pub frames_dropped: u64,
    /// Keyframe requests issued.
    pub keyframe_requests: u64,
}

/// Reassembles frames from VP8 RTP packets. A frame is complete when its packets, from the one
/// that starts partition 0 to the one with the marker bit, are all there. A frame that can no
/// longer complete (a later frame is complete) is dropped; after a drop, delta frames are
/// undecodable until the next keyframe, so they are dropped too and a keyframe is requested
/// (at most once per `KEYFRAME_REQUEST_INTERVAL_MS`).
pub struct FrameAssembler {
    packets: BTreeMap<ExtSeq, Packet>,
    next_seq: Option<ExtSeq>,
    waiting_for_keyframe: bool,
    last_request_ms: Option<u64>,
    stats: AssemblerStats,
}

/// Repeat a keyframe request no more often than this.
const KEYFRAME_REQUEST_INTERVAL_MS: u64 = 300;
/// Packets kept while waiting for gaps to fill.
const MAX_PACKETS: usize = 2000;

impl Default for FrameAssembler {
    fn default() -> Self {
        Self {
            packets: BTreeMap::new(),
            next_seq: None,
            waiting_for_keyframe: true,
            last_request_ms: None,
            stats: AssemblerStats::default(),
        }
    }
}

impl FrameAssembler {
    /// Counters so far.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Take one RTP packet (unwrapped sequence number, timestamp, marker, payload).
    pub fn insert(
        &mut self,
        seq: ExtSeq,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<AssemblerOutput, MediaError> {
        let (descriptor, data) = parse_payload(payload)?;
        if self.next_seq.is_some_and(|next| seq < next) || self.packets.contains_key(&seq) {
            return Ok(AssemblerOutput::default()); // late or duplicate
        }
        self.packets.insert(
            seq,
            Packet {
                timestamp,
                marker,
                descriptor,
                data: data.to_vec(),
            },
        );
        while self.packets.len() > MAX_PACKETS {
            self.packets.pop_first();
        }
        let mut out = AssemblerOutput::default();
        while let Some((first, last, keyframe)) = self.next_complete_frame() {
            if self.drop_before(first) && !keyframe {
                // Lost packets broke the reference chain: deltas are useless until a keyframe.
                self.waiting_for_keyframe = true;
            }
            let frame = self.take(first, last);
            if self.waiting_for_keyframe && !keyframe {
                self.stats.frames_dropped += 1;
                self.request(now_ms, &mut out);
                continue;
            }
            self.waiting_for_keyframe = false;
            self.stats.frames_assembled += 1;
            out.frames.push(frame);
        }
        Ok(out)
    }

    /// The earliest complete frame: its first and last sequence numbers and whether it is a
    /// keyframe. Complete means: a packet starting partition 0, then consecutive packets of the
    /// same timestamp up to one with the marker bit.
    fn next_complete_frame(&self) -> Option<(ExtSeq, ExtSeq, bool)> {
        let mut current: Option<(ExtSeq, bool, u32)> = None;
        let mut previous: Option<ExtSeq> = None;
        for (&seq, p) in &self.packets {
            let begins = p.descriptor.start && p.descriptor.partition == 0;
            let continues = current.is_some_and(|(_, _, ts)| {
                previous.is_some_and(|prev| seq == prev + 1) && p.timestamp == ts
            });
            if begins {
                current = Some((seq, starts_keyframe(&p.data), p.timestamp));
            } else if !continues {
                current = None;
            }
            previous = Some(seq);
            if let (true, Some((first, keyframe, _))) = (p.marker, current) {
                return Some((first, seq, keyframe));
            }
        }
        None
    }

    /// Everything before `first` can no longer complete: drop it. Returns whether anything was
    /// missing or dropped between the last assembled frame and `first`.
    fn drop_before(&mut self, first: ExtSeq) -> bool {
        let gap = self.next_seq.is_some_and(|next| first > next);
        let mut dropped = Vec::new();
        while let Some((&seq, p)) = self.packets.first_key_value() {
            if seq >= first {
                break;
            }
            if dropped.last() != Some(&p.timestamp) {
                dropped.push(p.timestamp);
            }
            self.packets.pop_first();
        }
        self.stats.frames_dropped += dropped.len() as u64;
        gap || !dropped.is_empty()
    }

    fn take(&mut self, first: ExtSeq, last: ExtSeq) -> AssembledFrame {
        let mut data = Vec::new();
        let (mut keyframe, mut timestamp) = (false, 0);
        for seq in first..=last {
            if let Some(p) = self.packets.remove(&seq) {
                if seq == first {
                    keyframe = starts_keyframe(&p.data);
                    timestamp = p.timestamp;
                }
                data.extend_from_slice(&p.data);
            }
        }
        self.next_seq = Some(last + 1);
        AssembledFrame {
            data,
            keyframe,
            rtp_timestamp: timestamp,
        }
    }

    fn request(&mut self, now_ms: u64, out: &mut AssemblerOutput) {
        if self
            .last_request_ms
            .is_some_and(|t| now_ms < t + KEYFRAME_REQUEST_INTERVAL_MS)
        {
            return;
        }
        self.last_request_ms = Some(now_ms);
        self.stats.keyframe_requests += 1;
        out.request_keyframe = true;
    }
}

#[cfg(test)]
mod tests;
