//! Which of our packets the server has actually reported on.
//!
//! webrtc-rs's congestion-control interceptor hands the estimator every packet up to the newest
//! one reported as arrived, and marks "not arrived" both the packets a report named as lost and
//! the packets no report named at all. The second kind appears whenever a report is lost on its
//! way to us: the server reports each packet once (Janus covers consecutive ranges), so the
//! ~200 ms of packets a lost report described look lost, although the uplink delivered them.
//! With 5 % loss on a clean uplink's way back, that read as 17–48 % uplink loss and the sending
//! rate fell to 100–200 kbit/s.
//!
//! An interceptor on the wire side of the congestion controller notes the range of transport-wide
//! sequence numbers each report names, so the bridge to the estimator can tell "reported lost"
//! from "never reported" and leave the latter out.

use std::collections::VecDeque;

use rtc::interceptor::{Packet, Slot, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_cc::TransportLayerCc;

use super::bandwidth::Bandwidth;
use super::inbound::Inbound;

/// Wire-side of [`Slot::CongestionControl`] (1 000): the read walk goes from low to high, so
/// this sees each report before the congestion controller applies it.
pub(super) const SLOT: Slot = Slot::Custom(500);

/// How many reports' ranges are remembered. A packet is handed to the estimator at the latest
/// when the next report naming an arrival comes, so only the last few ranges are ever asked
/// about; Janus reports every 200 ms, libwebrtc every 50–100 ms.
const REMEMBERED: usize = 128;

/// The ranges of transport-wide sequence numbers the recent reports named.
#[derive(Debug, Default)]
pub(super) struct Coverage {
    /// `(first, count)`, oldest first.
    ranges: VecDeque<(u16, u16)>,
}

impl Coverage {
    /// A report named `count` packets from `first` on (wrapping).
    pub(super) fn note(&mut self, first: u16, count: u16) {
        if count == 0 {
            return;
        }
        if self.ranges.len() == REMEMBERED {
            self.ranges.pop_front();
        }
        self.ranges.push_back((first, count));
    }

    /// Whether a recent report named `sequence`.
    pub(super) fn covers(&self, sequence: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(first, count)| sequence.wrapping_sub(first) < count)
    }
}

/// Notes the range of every TWCC report on its way to the congestion controller.
pub(super) struct NoteCoverage {
    bandwidth: Bandwidth,
}

impl NoteCoverage {
    pub(super) fn new(bandwidth: Bandwidth) -> Self {
        Self { bandwidth }
    }
}

impl Inbound for NoteCoverage {
    fn read(&mut self, msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            for feedback in packets
                .iter()
                .filter_map(|p| p.as_any().downcast_ref::<TransportLayerCc>())
            {
                self.bandwidth
                    .reported(feedback.base_sequence_number, feedback.packet_status_count);
            }
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_covers_what_it_names_and_nothing_else() {
        let mut coverage = Coverage::default();
        assert!(!coverage.covers(0));
        coverage.note(100, 50);
        assert!(coverage.covers(100));
        assert!(coverage.covers(149));
        assert!(!coverage.covers(99));
        assert!(!coverage.covers(150));
        // A report that names nothing covers nothing.
        coverage.note(150, 0);
        assert!(!coverage.covers(150));
    }

    #[test]
    fn ranges_wrap_with_the_sequence_numbers() {
        let mut coverage = Coverage::default();
        coverage.note(65_530, 10);
        assert!(coverage.covers(65_535));
        assert!(coverage.covers(0));
        assert!(coverage.covers(3));
        assert!(!coverage.covers(4));
        assert!(!coverage.covers(65_529));
    }

    #[test]
    fn only_the_recent_reports_are_remembered() {
        let mut coverage = Coverage::default();
        for i in 0..=REMEMBERED as u16 {
            coverage.note(i * 10, 10);
        }
        // The first range is forgotten; the second is still there.
        assert!(!coverage.covers(0));
        assert!(coverage.covers(10));
        assert!(coverage.covers(REMEMBERED as u16 * 10 + 9));
    }
}
