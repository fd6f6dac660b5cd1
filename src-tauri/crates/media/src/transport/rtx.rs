//! Retransmissions on a stream of their own (RFC 4588 RTX), turned back into the packets they
//! repair before anything counts what arrived.
//!
//! A server that retransmits with RTX sends the lost packet again under another SSRC, payload
//! type and sequence number, the original sequence number (OSN) in the payload's first two
//! bytes. webrtc-rs 0.21 unwraps such packets only after its interceptors: its NACK generator
//! never sees the repaired packet arrive and asks for it again until it gives up, and the
//! receiver reports count it as lost. This interceptor sits just below the NACK generator and
//! unwraps them there, so the packet counts as arrived for everything above it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rtc::interceptor::{Packet, Slot, StreamInfo, TaggedPacket};

use super::inbound::Inbound;

/// After the FEC decoder (6 000), before the NACK generator (7 000).
pub(super) const SLOT: Slot = Slot::Custom(6_500);

/// The stream an RTX stream repairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Repairs {
    ssrc: u32,
    payload_type: u8,
    rtx_payload_type: u8,
}

#[derive(Default)]
pub(super) struct UnwrapRtx {
    /// By RTX SSRC.
    streams: HashMap<u32, Repairs>,
    /// Retransmissions unwrapped, for the link's statistics.
    unwrapped: Arc<AtomicU64>,
}

impl UnwrapRtx {
    /// Counting what it unwraps into `unwrapped`.
    pub(super) fn counting(unwrapped: Arc<AtomicU64>) -> Self {
        Self {
            unwrapped,
            ..Self::default()
        }
    }
}

impl Repairs {
    /// Turn an RTX packet back into the packet as it was first sent; `false` when it carries
    /// no OSN (padding a sender uses to probe the path: nothing to repair).
    fn restore(&self, packet: &mut rtc::rtp::Packet) -> bool {
        let Some(&[high, low]) = packet.payload.get(..2) else {
            return false;
        };
        packet.header.sequence_number = u16::from_be_bytes([high, low]);
        packet.header.ssrc = self.ssrc;
        packet.header.payload_type = self.payload_type;
        packet.payload = packet.payload.slice(2..);
        true
    }
}

impl Inbound for UnwrapRtx {
    fn read(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtp(packet) = &mut msg.message.packet
            && let Some(repairs) = self.streams.get(&packet.header.ssrc)
            && packet.header.payload_type == repairs.rtx_payload_type
        {
            if !repairs.restore(packet) {
                return None;
            }
            self.unwrapped.fetch_add(1, Ordering::Relaxed);
        }
        Some(msg)
    }

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if let (Some(rtx), Some(rtx_payload_type)) = (info.ssrc_rtx, info.payload_type_rtx) {
            self.streams.insert(
                rtx,
                Repairs {
                    ssrc: info.ssrc,
                    payload_type: info.payload_type,
                    rtx_payload_type,
                },
            );
        }
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        if let Some(rtx) = info.ssrc_rtx {
            self.streams.remove(&rtx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rtc::interceptor::AttributedPacket;
    use std::time::Instant;

    const MEDIA: u32 = 0x1111;
    const RTX: u32 = 0x2222;

    fn bound() -> UnwrapRtx {
        let mut unwrap = UnwrapRtx::counting(Arc::default());
        unwrap.bind_remote_stream(&StreamInfo {
            ssrc: MEDIA,
            ssrc_rtx: Some(RTX),
            payload_type: 96,
            payload_type_rtx: Some(97),
            ..Default::default()
        });
        // The RTX stream is bound in its own right as well, without a repair flow.
        unwrap.bind_remote_stream(&StreamInfo {
            ssrc: RTX,
            payload_type: 97,
            ..Default::default()
        });
        unwrap
    }

    fn rtp(ssrc: u32, payload_type: u8, sequence_number: u16, payload: &[u8]) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: Default::default(),
            message: AttributedPacket::new(Packet::Rtp(rtc::rtp::Packet {
                header: rtc::rtp::Header {
                    version: 2,
                    ssrc,
                    payload_type,
                    sequence_number,
                    timestamp: 9000,
                    marker: true,
                    ..Default::default()
                },
                payload: Bytes::copy_from_slice(payload),
            })),
        }
    }

    fn read(unwrap: &mut UnwrapRtx, packet: TaggedPacket) -> Option<rtc::rtp::Packet> {
        match unwrap.read(packet)?.message.packet {
            Packet::Rtp(p) => Some(p),
            _ => None,
        }
    }

    #[test]
    fn a_retransmission_becomes_the_packet_it_repairs() {
        let mut unwrap = bound();
        let packet = read(&mut unwrap, rtp(RTX, 97, 5, &[0x01, 0x02, 0xAA, 0xBB])).expect("out");
        assert_eq!(packet.header.ssrc, MEDIA);
        assert_eq!(packet.header.payload_type, 96);
        assert_eq!(packet.header.sequence_number, 0x0102);
        assert_eq!(
            (packet.header.timestamp, packet.header.marker),
            (9000, true)
        );
        assert_eq!(&packet.payload[..], &[0xAA, 0xBB]);
        assert_eq!(unwrap.unwrapped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn media_and_unknown_streams_pass_unchanged() {
        let mut unwrap = bound();
        for (ssrc, pt) in [(MEDIA, 96), (0x3333, 97)] {
            let packet = read(&mut unwrap, rtp(ssrc, pt, 7, &[1, 2, 3])).expect("out");
            assert_eq!(
                (packet.header.ssrc, packet.header.sequence_number),
                (ssrc, 7)
            );
            assert_eq!(&packet.payload[..], &[1, 2, 3]);
        }
        assert_eq!(unwrap.unwrapped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn padding_without_an_original_sequence_number_is_dropped() {
        let mut unwrap = bound();
        assert!(read(&mut unwrap, rtp(RTX, 97, 6, &[])).is_none());
        assert!(read(&mut unwrap, rtp(RTX, 97, 7, &[0x01])).is_none());
    }

    #[test]
    fn an_unbound_stream_is_forgotten() {
        let mut unwrap = bound();
        unwrap.unbind_remote_stream(&StreamInfo {
            ssrc: MEDIA,
            ssrc_rtx: Some(RTX),
            ..Default::default()
        });
        let packet = read(&mut unwrap, rtp(RTX, 97, 5, &[0x01, 0x02, 0xAA])).expect("out");
        assert_eq!(
            (packet.header.ssrc, packet.header.sequence_number),
            (RTX, 5)
        );
    }
}
