//! Video: I420 frames, the synthetic test pattern with a machine-readable stamp, Y4M files, IVF
//! files of encoded VP8.

pub mod camera;
pub mod convert;
mod frame;
mod input;
pub mod ivf;
pub mod ladder;
pub mod load;
mod pattern;
mod playout;
pub mod simulcast;
mod y4m;

pub use frame::I420Frame;
pub use input::VideoInput;
pub use pattern::{Stamp, TestPattern, read_stamp};
pub use playout::{VideoPlayout, VideoPlayoutStats};
pub use y4m::{Y4mSink, Y4mSource};

use crate::MediaError;

/// Something that produces video frames: a camera, a file, the test pattern.
pub trait VideoSource: Send {
    /// The next frame, or `None` when the source has ended.
    fn next_frame(&mut self) -> Result<Option<I420Frame>, MediaError>;
}

/// Something that consumes video frames: the screen, a file, a callback.
pub trait VideoSink: Send {
    /// Take one frame.
    fn write(&mut self, frame: &I420Frame) -> Result<(), MediaError>;
}

impl<F: FnMut(&I420Frame) + Send> VideoSink for F {
    fn write(&mut self, frame: &I420Frame) -> Result<(), MediaError> {
        self(frame);
        Ok(())
    }
}
