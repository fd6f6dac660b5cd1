//! VP8 over RTP (RFC 7741): the payload descriptor, a packetizer, and a frame assembler that
//! turns received packets back into whole frames — waiting a little for lost packets to be
//! retransmitted — and says when loss has broken the decoder's reference chain.
//!
//! Sans-IO: packets and the current time go in, frames and keyframe requests come out.

use crate::MediaError;
use crate::codec::vp8::{EncodedFrame, TemporalLayer};

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
    /// TL0PICIDX: counts the base layer's frames (a layer-1 frame carries that of the
    /// base-layer frame it refers to).
    pub tl0_pic_idx: Option<u8>,
    /// The frame's temporal layer (TID and the layer-sync bit Y), when the sender says.
    pub temporal: Option<TemporalLayer>,
}

/// Split a VP8 RTP payload into its descriptor and the VP8 data.
pub fn parse_payload(payload: &[u8]) -> Result<(Descriptor, &[u8]), MediaError> {
    let (&first, mut rest) = payload
        .split_first()
        .ok_or_else(|| malformed("empty payload"))?;
    let extended = first & 0x80 != 0;
    let descriptor_start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut descriptor = Descriptor {
        start: descriptor_start,
        partition,
        picture_id: None,
        tl0_pic_idx: None,
        temporal: None,
    };
    let mut take = |what: &str| -> Result<u8, MediaError> {
        let (&b, after) = rest
            .split_first()
            .ok_or_else(|| malformed(&format!("truncated {what}")))?;
        rest = after;
        Ok(b)
    };
    if extended {
        let ext = take("descriptor")?;
        if ext & 0x80 != 0 {
            let b0 = take("picture id")?;
            descriptor.picture_id = Some(if b0 & 0x80 != 0 {
                u16::from(b0 & 0x7f) << 8 | u16::from(take("picture id")?)
            } else {
                u16::from(b0)
            });
        }
        if ext & 0x40 != 0 {
            descriptor.tl0_pic_idx = Some(take("TL0PICIDX")?);
        }
        if ext & 0x30 != 0 {
            let b = take("TID/KEYIDX")?;
            if ext & 0x20 != 0 {
                descriptor.temporal = Some(TemporalLayer {
                    id: b >> 6,
                    sync: b & 0x20 != 0,
                });
            }
        }
    }
    if rest.is_empty() {
        return Err(malformed("no VP8 data"));
    }
    Ok((descriptor, rest))
}

/// Whether VP8 data that begins a frame (S=1, partition 0) begins a keyframe (P bit clear).
fn starts_keyframe(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0x01 == 0)
}

/// Cuts encoded frames into RTP payloads of at most `max_payload` bytes.
pub struct Vp8Packetizer {
    max_payload: usize,
    picture_id: u16,
    /// The TL0PICIDX of the latest base-layer frame.
    tl0_pic_idx: u8,
}

/// The longest descriptor we write: X=1; I=1 with a 15-bit picture ID; for a stream with
/// temporal layers L=1 and T=1 with TL0PICIDX and TID/Y.
const MAX_DESCRIPTOR_LEN: usize = 6;

impl Vp8Packetizer {
    /// Payloads of at most `max_payload` bytes (e.g. 1200 to stay under common MTUs).
    pub fn new(max_payload: usize, first_picture_id: u16) -> Self {
        Self {
            max_payload: max_payload.max(MAX_DESCRIPTOR_LEN + 1),
            picture_id: first_picture_id & 0x7fff,
            // Seeded from the picture ID: a new sender's count should not look like a
            // continuation of an earlier one's.
            tl0_pic_idx: first_picture_id as u8,
        }
    }

    /// The payloads for one frame, in order; the last one carries the RTP marker bit.
    pub fn packetize(&mut self, frame: &EncodedFrame) -> Vec<Vec<u8>> {
        let id = self.picture_id;
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        let mut descriptor = vec![0x80, 0x80, 0x80 | (id >> 8) as u8, id as u8];
        if let Some(layer) = frame.temporal {
            if layer.id == 0 {
                self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
            }
            descriptor[1] |= 0x60;
            descriptor.push(self.tl0_pic_idx);
            descriptor.push((layer.id.min(3) << 6) | if layer.sync { 0x20 } else { 0 });
        }
        let room = self.max_payload - descriptor.len();
        frame
            .data
            .chunks(room)
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = Vec::with_capacity(descriptor.len() + chunk.len());
                p.extend_from_slice(&descriptor);
                if i == 0 {
                    p[0] |= 0x10;
                }
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
