//! Streams that arrive but never decrypt.
//!
//! webrtc-rs drops an SRTP packet that fails authentication and tells nobody: a stream whose
//! every packet fails looks exactly like a stream nobody sends. It happens — a server that
//! encrypted a stream's first packets we see with another rollover counter than the one we
//! assume (after an ICE restart that lost the packets before, see docs/MEDIA.md), a middlebox
//! that mangles packets — and only a new subscription (new keys, new streams) cures it.
//!
//! So each connection counts, per SSRC, the RTP packets that reach its UDP sockets (the SSRC is
//! in the clear: RFC 3711 encrypts only the payload) and those that come out of decryption (an
//! interceptor in the wire-most slot sees every packet that authenticated). A stream with
//! [`FAILING_PACKETS`] packets in a row on the wire and none authenticated, across two checks,
//! is reported once; it is reported again only after it authenticated in between.
//!
//! Counted: plain UDP, and TURN channel data on a UDP socket. Not counted: TURN data
//! indications and TCP paths (a stream there is never reported).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc::interceptor::{Packet, Slot, TaggedPacket};
use tokio::sync::mpsc;

use super::LinkEvent;
use super::inbound::Inbound;

/// The wire-most inbound slot: below congestion control (1 000) and RTX unwrapping (6 500),
/// so that every packet that authenticated is seen under the SSRC it arrived with.
pub(super) const SLOT: Slot = Slot::Custom(100);

/// Packets of a stream in a row that failed to decrypt before it is reported (about 1.2 s of
/// a 720p picture, 2 s of sound). A receive batch of the driver is far smaller.
pub(super) const FAILING_PACKETS: u64 = 100;

/// How often the counts are compared.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Streams followed at most (a peer — or anyone who can send to our ports — could name
/// endless SSRCs; those beyond are not followed).
const MAX_STREAMS: usize = 64;

#[derive(Debug, Default, Clone, Copy)]
struct Stream {
    /// RTP packets on the wire.
    arrived: u64,
    /// RTP packets that decrypted.
    authenticated: u64,
    /// `arrived` and `authenticated` at the last check.
    checked: (u64, u64),
    /// Packets on the wire since the stream last authenticated (as of the last check), and
    /// whether the check before saw no authentication either.
    failing: u64,
    quiet_checks: u8,
    reported: bool,
}

/// The counts of one connection (sans-IO: the socket, the interceptor and a timer feed it).
#[derive(Debug, Default)]
pub(super) struct Tally {
    streams: HashMap<u32, Stream>,
}

impl Tally {
    fn stream(&mut self, ssrc: u32) -> Option<&mut Stream> {
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&ssrc) {
            return None;
        }
        Some(self.streams.entry(ssrc).or_default())
    }

    /// A datagram reached a socket.
    pub(super) fn on_datagram(&mut self, datagram: &[u8]) {
        if let Some(ssrc) = rtp_ssrc(datagram)
            && let Some(stream) = self.stream(ssrc)
        {
            stream.arrived += 1;
        }
    }

    /// A packet of this stream decrypted.
    pub(super) fn on_authenticated(&mut self, ssrc: u32) {
        if let Some(stream) = self.stream(ssrc) {
            stream.authenticated += 1;
        }
    }

    /// Compare the counts since the last check: the streams to report now, with how many
    /// packets in a row failed.
    pub(super) fn check(&mut self) -> Vec<(u32, u64)> {
        let mut report = Vec::new();
        for (ssrc, s) in &mut self.streams {
            let (arrived, authenticated) = s.checked;
            s.checked = (s.arrived, s.authenticated);
            if s.authenticated > authenticated {
                s.failing = 0;
                s.quiet_checks = 0;
                s.reported = false;
                continue;
            }
            s.failing += s.arrived - arrived;
            s.quiet_checks = s.quiet_checks.saturating_add(1);
            // Two checks in a row: a receive batch counted on the wire just before a check is
            // decrypted long before the next one.
            if s.failing >= FAILING_PACKETS && s.quiet_checks >= 2 && !s.reported {
                s.reported = true;
                report.push((*ssrc, s.failing));
            }
        }
        report.sort_unstable();
        report
    }
}

/// The SSRC of an RTP packet in a datagram (plain, or in TURN channel data); `None` for RTCP,
/// STUN, DTLS and anything too short.
pub(super) fn rtp_ssrc(datagram: &[u8]) -> Option<u32> {
    let first = *datagram.first()?;
    let packet = if (0x40..=0x4f).contains(&first) {
        // TURN channel data (RFC 8656: channel numbers 0x4000-0x4fff): 4 header bytes.
        datagram.get(4..)?
    } else {
        datagram
    };
    // RTP version 2; RTCP's packet types 192-223 share the second byte (RFC 5761).
    if packet.first()? >> 6 != 2 || (192..=223).contains(packet.get(1)?) {
        return None;
    }
    let ssrc = packet.get(8..12)?;
    Some(u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]))
}

/// One connection's counts, shared by its sockets, its interceptor and its checks.
pub(super) type SharedTally = Arc<Mutex<Tally>>;

/// Compare the counts every [`CHECK_EVERY`] for as long as the connection's events are read,
/// reporting streams that do not decrypt.
pub(super) fn watch(tally: SharedTally, events: mpsc::UnboundedSender<LinkEvent>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !events.is_closed() {
            tick.tick().await;
            let report = match tally.lock() {
                Ok(mut tally) => tally.check(),
                Err(_) => return,
            };
            for (ssrc, packets) in report {
                tracing::warn!(ssrc, packets, "a stream arrives but does not decrypt");
                let _ = events.send(LinkEvent::Undecryptable { ssrc });
            }
        }
    });
}

/// The interceptor that counts what decrypted.
pub(super) struct NoteAuthenticated(pub(super) SharedTally);

impl Inbound for NoteAuthenticated {
    fn read(&mut self, msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtp(packet) = &msg.message.packet
            && let Ok(mut tally) = self.0.lock()
        {
            tally.on_authenticated(packet.header.ssrc);
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ssrc: u32, payload_type: u8) -> Vec<u8> {
        let mut packet = vec![0x80, payload_type, 0, 1, 0, 0, 0, 0];
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(&[0xaa; 20]);
        packet
    }

    #[test]
    fn rtp_is_told_from_rtcp_stun_dtls_and_channel_data() {
        assert_eq!(rtp_ssrc(&rtp(0x1234_5678, 96)), Some(0x1234_5678));
        assert_eq!(rtp_ssrc(&rtp(7, 96 | 0x80)), Some(7), "marker bit set");
        // RTCP: a receiver report (201) and a PLI (206).
        assert_eq!(rtp_ssrc(&rtp(7, 201)), None);
        assert_eq!(rtp_ssrc(&rtp(7, 206)), None);
        // STUN (first byte 0 or 1) and DTLS (20-63).
        assert_eq!(
            rtp_ssrc(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0]),
            None
        );
        assert_eq!(rtp_ssrc(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        // TURN channel data around RTP, and around RTCP.
        let mut channel = vec![0x40, 0x01, 0, 32];
        channel.extend(rtp(99, 111));
        assert_eq!(rtp_ssrc(&channel), Some(99));
        let mut channel = vec![0x40, 0x01, 0, 32];
        channel.extend(rtp(99, 200));
        assert_eq!(rtp_ssrc(&channel), None);
        // Too short to name an SSRC.
        assert_eq!(rtp_ssrc(&[0x80, 96, 0, 1, 0, 0, 0, 0, 1]), None);
        assert_eq!(rtp_ssrc(&[]), None);
    }

    #[test]
    fn a_stream_that_never_decrypts_is_reported_once() {
        let mut tally = Tally::default();
        let (bad, good) = (rtp(1, 96), rtp(2, 111));
        let mut reports = Vec::new();
        for _ in 0..10 {
            // Half a second: 42 video packets fail, 25 audio packets decrypt.
            for _ in 0..42 {
                tally.on_datagram(&bad);
            }
            for _ in 0..25 {
                tally.on_datagram(&good);
                tally.on_authenticated(2);
            }
            reports.push(tally.check());
        }
        // 84 failed after the second check, 126 after the third.
        assert_eq!(reports[1], vec![]);
        assert_eq!(reports[2], vec![(1, 126)]);
        assert!(reports[3..].iter().all(Vec::is_empty), "{reports:?}");
    }

    #[test]
    fn a_burst_counted_before_it_decrypts_is_no_failure() {
        let mut tally = Tally::default();
        let packet = rtp(5, 96);
        // A whole keyframe lands on the wire just before a check, and decrypts just after.
        for _ in 0..150 {
            tally.on_datagram(&packet);
        }
        assert_eq!(tally.check(), vec![]);
        for _ in 0..150 {
            tally.on_authenticated(5);
        }
        assert_eq!(tally.check(), vec![]);
        assert_eq!(tally.check(), vec![], "a quiet stream is no failing one");
    }

    #[test]
    fn a_stream_that_decrypts_again_can_be_reported_again() {
        let mut tally = Tally::default();
        let packet = rtp(9, 96);
        let fail = |tally: &mut Tally| {
            for _ in 0..60 {
                tally.on_datagram(&packet);
            }
            tally.check()
        };
        assert_eq!(fail(&mut tally), vec![]);
        assert_eq!(fail(&mut tally), vec![(9, 120)]);
        assert_eq!(fail(&mut tally), vec![]);
        tally.on_authenticated(9);
        assert_eq!(tally.check(), vec![]);
        assert_eq!(fail(&mut tally), vec![]);
        assert_eq!(fail(&mut tally), vec![(9, 120)]);
    }

    #[test]
    fn any_datagram_is_taken_without_panicking() {
        // Whatever reaches the socket (anyone can send to it): every length up to 64 bytes, and
        // a fixed pseudo-random sequence of contents.
        let mut tally = Tally::default();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..64 {
            for _ in 0..500 {
                let datagram: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                tally.on_datagram(&datagram);
            }
        }
        let _ = tally.check();
        assert!(tally.streams.len() <= MAX_STREAMS);
    }

    #[test]
    fn only_so_many_streams_are_followed() {
        let mut tally = Tally::default();
        for ssrc in 0..1000 {
            tally.on_datagram(&rtp(ssrc, 96));
        }
        assert_eq!(tally.streams.len(), MAX_STREAMS);
    }
}
