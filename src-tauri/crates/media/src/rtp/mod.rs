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
