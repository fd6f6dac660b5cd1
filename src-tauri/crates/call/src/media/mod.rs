//! The call's media: what we send (sources → encoders → transport) and what we receive
//! (transport → jitter buffers, frame assembly and lip sync → mix and playout → sinks).

mod devices;
mod receive;
mod screen;
mod send;

use std::path::PathBuf;

pub(crate) use devices::{AudioDevices, DeviceReport, DeviceRole};
pub(crate) use receive::{Engine, EngineReport, FeedTrack};
pub use receive::{MediaSummary, ParticipantMediaStats};
pub use screen::{SELF_VIEW, ScreenFrame, TileCounts, VideoScreen};
pub(crate) use send::{SendOptions, Sender, Sources};

/// Where our sound comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AudioIn {
    /// We send no audio.
    #[default]
    Off,
    /// A sine tone (tests, checks).
    Tone {
        /// Frequency in Hz.
        hz: f64,
    },
    /// A WAV file, looped.
    Wav(PathBuf),
    /// A microphone (`None`: the system default), with echo cancellation, noise suppression and
    /// gain control.
    Microphone(Option<String>),
}

/// Where our picture comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum VideoIn {
    /// We send no video.
    #[default]
    Off,
    /// The test pattern with a machine-readable frame stamp.
    Pattern {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Frames per second.
        fps: u32,
    },
    /// A Y4M file, looped.
    Y4m(PathBuf),
    /// A camera (`None`: the first), at 360p and 30 frames per second.
    Camera(Option<String>),
    /// Already encoded VP8 frames from IVF files, looped, sent as they are (no encoding: for
    /// benchmarks with many senders on one machine). One file is a single stream; several are
    /// simulcast layers, smallest first, read in step at the first file's frame rate. Keyframe
    /// requests wait for the files' next keyframe.
    Ivf(Vec<PathBuf>),
}

/// Where the others' sound goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AudioOut {
    /// Nowhere (still decoded, for levels and speaking detection).
    #[default]
    Off,
    /// The mix, into a 48 kHz WAV file.
    Wav(PathBuf),
    /// A speaker (`None`: the system default).
    Speaker(Option<String>),
}

/// Where the others' pictures go.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum VideoOut {
    /// Nowhere (still decoded and timed).
    #[default]
    Off,
    /// The first participant's video, as shown, into a Y4M file.
    Y4m {
        /// The Y4M file.
        path: PathBuf,
        /// When each frame written to `path` was shown: one line per frame, milliseconds since
        /// the Unix epoch (from one reading of the wall clock when the call's media started,
        /// then a monotonic clock, so the lines never go backwards). For measuring frame rate
        /// and freezes as seen.
        times: Option<PathBuf>,
        /// Every picture at this size (`None`: the size of the first).
        size: Option<(u32, u32)>,
    },
    /// Everyone's video, as shown, to a screen (the newest picture per participant).
    Screen(VideoScreen),
}

/// What the call sends and where received media goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaChoice {
    /// Our sound.
    pub audio_in: AudioIn,
    /// Our picture.
    pub video_in: VideoIn,
    /// The others' sound.
    pub audio_out: AudioOut,
    /// The others' pictures.
    pub video_out: VideoOut,
    /// Where our own picture is shown while we send it (self view), if anywhere.
    pub self_view: Option<VideoScreen>,
    /// Join muted: a microphone stays closed until the user unmutes (privacy by default).
    pub start_muted: bool,
    /// Join with the picture off: a camera stays closed until the user turns it on.
    pub start_video_off: bool,
    /// Send only: receive nobody's media (a load generator for benchmarks).
    pub send_only: bool,
    /// Send our picture in one size only. By default a picture of 360p or more also goes out
    /// smaller (simulcast), so that the server can forward each viewer the size that fits.
    pub single_layer: bool,
}
