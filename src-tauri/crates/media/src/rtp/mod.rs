//! RTP payload formats: the codec-specific part of sending and receiving media over RTP.

pub mod keyframe;
pub mod report;
pub mod vp8;

pub use crate::timing::Unwrapper;

/// A random starting value for an RTP counter (SSRC, sequence number, timestamp, picture id):
/// RFC 3550 wants them unpredictable to make known-plaintext attacks harder and collisions
/// unlikely; not a secret.
pub fn random_start() -> u32 {
    use std::hash::BuildHasher;
    let seed = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (seed ^ (seed >> 32)) as u32
}

/// A random first sequence number for a stream we send, in the lower half of the range
/// (1 to 32767), as libwebrtc does. SRTP counts wraps of the sequence number (its rollover
/// counter) on both sides, each from the packets it handled: a stream that started near 65535
/// wraps within a second, and a receiver that missed the packets before the wrap (sent while it
/// was still finishing DTLS, or on a path that did not work yet) takes the first ones it sees
/// for the counter's first round and can decrypt none of them, ever. From the lower half a
/// stream needs over 32 000 packets to wrap.
pub fn first_sequence() -> u16 {
    (random_start() % 0x7fff) as u16 + 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_sequence_numbers_stay_in_the_lower_half() {
        for _ in 0..10_000 {
            let first = super::first_sequence();
            assert!((1..=0x7fff).contains(&first), "{first}");
        }
    }
}
