//! Whether a path still carries anything back.
//!
//! ICE (webrtc-rs) judges the path by its own connectivity checks alone: one every 500 ms, and
//! "disconnected" when none was answered for 1.5 s. Two answers lost in a row do that: 1 in 400
//! at 5 % loss on the way back, so every few minutes on a lossy Wi-Fi, while media and the
//! server's reports kept arriving. The call then restarted ICE for nothing; the server dropped
//! what we sent during the restart (21 video packets once, in a test), reported it lost, and
//! the sender cut its rate from 3 Mbit/s to 268 kbit/s.
//!
//! So each connection also notes when the last authenticated packet arrived (SRTP or SRTCP:
//! nobody without the keys can make one), and "disconnected" is passed on only once that has
//! been quiet for as long as ICE waits. A path that really broke carries nothing back and is
//! reported as before; one that stopped answering checks alone goes on until ICE calls it
//! failed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rtc::interceptor::{Slot, TaggedPacket};

use super::inbound::Inbound;

/// An inbound slot below SRTP's end of the chain (everything that reaches it authenticated).
pub(super) const SLOT: Slot = Slot::Custom(110);

/// When the connection last received an authenticated packet.
#[derive(Debug, Clone, Default)]
pub(super) struct Liveness(Arc<Mutex<Option<Instant>>>);

impl Liveness {
    fn note(&self, at: Instant) {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|l| at > l) {
            *last = Some(at);
        }
    }

    /// When the last authenticated packet arrived, if any did.
    pub(super) fn last(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether ICE's "disconnected" at `now` must wait: `Some(when)` to look again if packets
    /// arrived within `quiet` before `now`, `None` to pass it on.
    pub(super) fn hold_until(&self, now: Instant, quiet: Duration) -> Option<Instant> {
        let until = self.last()? + quiet;
        (until > now).then_some(until)
    }
}

/// The interceptor that notes arrivals.
pub(super) struct NoteArrival(pub(super) Liveness);

impl Inbound for NoteArrival {
    fn read(&mut self, msg: TaggedPacket) -> Option<TaggedPacket> {
        self.0.note(msg.now);
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(1500);

    #[test]
    fn disconnected_waits_while_packets_arrive_and_passes_once_they_stop() {
        let t0 = Instant::now();
        let liveness = Liveness::default();
        assert_eq!(liveness.hold_until(t0, QUIET), None, "nothing ever arrived");
        liveness.note(t0);
        let at = t0 + Duration::from_millis(1_000);
        assert_eq!(liveness.hold_until(at, QUIET), Some(t0 + QUIET));
        liveness.note(t0 + Duration::from_millis(1_200));
        // An arrival stamped earlier (a batch read late) does not move it back.
        liveness.note(t0 + Duration::from_millis(900));
        assert_eq!(
            liveness.hold_until(t0 + QUIET, QUIET),
            Some(t0 + Duration::from_millis(2_700))
        );
        assert_eq!(
            liveness.hold_until(t0 + Duration::from_millis(2_700), QUIET),
            None
        );
    }
}
