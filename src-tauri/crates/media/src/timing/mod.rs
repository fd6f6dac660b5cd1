//! Timing helpers shared by the audio jitter buffer and video playout: extending wrapping RTP
//! counters, and how late packets or frames arrive compared with the fastest recent one.

mod arrival;
mod unwrap;

pub(crate) use arrival::ArrivalWindow;
pub use unwrap::Unwrapper;
