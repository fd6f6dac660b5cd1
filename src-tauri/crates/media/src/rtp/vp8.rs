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
    /// The index of the base-layer frame this frame belongs to (TL0PICIDX), if present.
    pub tl0_pic_idx: Option<u8>,
    /// The frame's temporal layer (TID), if present.
    pub temporal_layer: Option<u8>,
    /// Layer sync (Y): the frame refers only to the base layer.
    pub layer_sync: bool,
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
    let mut tl0_pic_idx = None;
    let mut temporal_layer = None;
    let mut layer_sync = false;
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
        if ext & 0x40 != 0 {
            let (&index, after) = rest
                .split_first()
                .ok_or_else(|| malformed("truncated TL0PICIDX"))?;
            tl0_pic_idx = Some(index);
            rest = after;
        }
        if ext & 0x30 != 0 {
            let (&tid_keyidx, after) = rest
                .split_first()
                .ok_or_else(|| malformed("truncated TID/KEYIDX"))?;
            if ext & 0x20 != 0 {
                temporal_layer = Some(tid_keyidx >> 6);
                layer_sync = tid_keyidx & 0x20 != 0;
            }
            rest = after;
        }
    }
    if rest.is_empty() {
        return Err(malformed("no VP8 data"));
    }
    Ok((
        Descriptor {
            start: descriptor_start,
            partition,
            picture_id,
            tl0_pic_idx,
            temporal_layer,
            layer_sync,
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
    /// The index of the latest base-layer frame (TL0PICIDX), for frames with temporal layers.
    tl0_pic_idx: u8,
}

/// The most descriptor bytes we write: X=1; I=1 with a 15-bit picture ID; with temporal layers
/// also L=1 and T=1: TL0PICIDX, and TID with the layer-sync bit.
const LAYERED_DESCRIPTOR_LEN: usize = 6;

impl Vp8Packetizer {
    /// Payloads of at most `max_payload` bytes (e.g. 1200 to stay under common MTUs).
    pub fn new(max_payload: usize, first_picture_id: u16) -> Self {
        Self {
            max_payload: max_payload.max(LAYERED_DESCRIPTOR_LEN + 1),
            picture_id: first_picture_id & 0x7fff,
            tl0_pic_idx: 0,
        }
    }

    /// The payloads for one frame, in order; the last one carries the RTP marker bit. A frame
    /// of a temporal layer says which (TID) and which base frame it belongs to (TL0PICIDX); every
    /// frame of ours refers only to the base, so each is marked as a switching point (Y).
    pub fn packetize(&mut self, frame: &EncodedFrame) -> Vec<Vec<u8>> {
        let id = self.picture_id;
        self.picture_id = (self.picture_id + 1) & 0x7fff;
        let mut descriptor = vec![0x80, 0x80, 0x80 | (id >> 8) as u8, id as u8];
        if let Some(layer) = frame.temporal_layer {
            if layer == 0 {
                self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
            }
            descriptor[1] |= 0x40 | 0x20;
            descriptor.push(self.tl0_pic_idx);
            descriptor.push((layer & 0x03) << 6 | 0x20);
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
