//! The media engine.
//!
//! `runde-media` holds everything between a device and an encoded frame, in both directions: capture
//! (cpal microphone, nokhwa camera, synthetic and file sources), audio processing (echo cancellation,
//! noise suppression, gain control), the Opus and VP8 codecs, the jitter buffer with loss concealment,
//! playout, and the WebRTC transport — with webrtc-rs hidden behind this crate's own types so that an
//! upgrade touches one module — plus end-to-end frame encryption. It knows nothing about conferencing
//! servers, trust decisions or the UI. The audio device callback never blocks, allocates or locks.
//!
//! Conventions: audio inside the engine is 48 kHz mono `f32` in `[-1, 1]`, moved in 10 ms frames
//! ([`audio::FRAME_10MS`] samples); video is I420 ([`video::I420Frame`]).
#![deny(missing_docs)]

pub mod audio;
pub mod codec;
pub mod congestion;
mod error;
pub mod jitter;
pub mod measure;
pub mod pacer;
pub mod rtp;
pub mod sync;
mod timing;
pub mod transport;
pub mod video;

pub use error::MediaError;
