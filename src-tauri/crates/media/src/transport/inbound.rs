//! An interceptor that acts only on what arrives; what we send passes through unchanged. Ours
//! are all of that kind: they mark, rewrite or drop incoming packets.

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{Interceptor, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// What an inbound-only interceptor does with each arriving packet.
pub(super) trait Inbound: Send + Sync {
    /// The packet to pass on (changed or not), or `None` to drop it.
    fn read(&mut self, packet: TaggedPacket) -> Option<TaggedPacket>;

    /// A stream we receive was negotiated.
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}

    /// A stream we received is gone.
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// `T` as a webrtc-rs interceptor.
pub(super) struct InboundOnly<T> {
    inner: T,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl<T> InboundOnly<T> {
    pub(super) fn new(inner: T) -> Self {
        Self {
            inner,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

impl<T: Inbound> Protocol<TaggedPacket, TaggedPacket, ()> for InboundOnly<T> {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Some(msg) = self.inner.read(msg) {
            self.read.push_back(msg);
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl<T: Inbound> Interceptor for InboundOnly<T> {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}

    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.bind_remote_stream(info);
    }

    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.inner.unbind_remote_stream(info);
    }
}
