//! RTP payload formats: the codec-specific part of sending and receiving media over RTP.

pub mod vp8;

pub use crate::timing::Unwrapper;
