//! Codecs: Opus for audio, VP8 for video.

pub mod opus;
pub mod vp8;
