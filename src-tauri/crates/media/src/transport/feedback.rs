//! webrtc-rs stops all incoming RTCP before the application unless an interceptor vouches for
//! it. The engine needs two kinds: sender reports (lip sync) and keyframe requests (PLI, FIR).
//! This interceptor, closest to the application, marks exactly those for delivery.

use rtc::interceptor::{Attribute, Packet, Slot, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::sender_report::SenderReport;

use super::inbound::Inbound;

/// After every built-in interceptor (the jitter-buffer slot is 13 000).
pub(super) const SLOT: Slot = Slot::Custom(14_000);

pub(super) struct DeliverFeedback;

fn wanted(packet: &Packet) -> bool {
    let Packet::Rtcp(packets) = packet else {
        return false;
    };
    packets.iter().any(|p| {
        let any = p.as_any();
        any.is::<SenderReport>()
            || any.is::<PictureLossIndication>()
            || any.is::<FullIntraRequest>()
    })
}

impl Inbound for DeliverFeedback {
    fn read(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        if wanted(&msg.message.packet) {
            msg.message.add(Attribute::DeliverToApplication);
        }
        Some(msg)
    }
}
