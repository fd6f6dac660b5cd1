//! Codecs: Opus for audio (and, later, VP8 for video).

pub mod opus;
