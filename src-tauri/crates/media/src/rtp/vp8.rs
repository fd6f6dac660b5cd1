//! VP8 over RTP (RFC 7741): the payload descriptor, a packetizer, and a frame assembler that
//! turns received packets back into whole frames — waiting a little for lost packets to be
//! retransmitted — and says when loss has broken the decoder's reference chain.
//!
//! Sans-IO: packets and the current time go in, frames and keyframe requests come out.

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

mod assembler;
pub use assembler::{AssembledFrame, AssemblerOutput, AssemblerStats, FrameAssembler};

#[cfg(test)]
mod tests;
