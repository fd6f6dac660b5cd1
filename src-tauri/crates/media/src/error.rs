//! Errors of the media engine.

use std::path::PathBuf;

/// Something in the media engine went wrong. Device errors are typed so the call can tell the user
/// what to do (plug a device in, close another app, pick another device).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The system has no audio or video device of the kind asked for.
    #[error("no {kind} found on this computer")]
    NoDevice {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
    },
    /// The device exists but cannot be opened now (in use, unplugged, or not permitted).
    #[error("the {kind} '{name}' cannot be used: {reason}")]
    DeviceUnavailable {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
        /// The device's name as the system reports it.
        name: String,
        /// What the system said.
        reason: String,
    },
    /// The device offers no format we can convert from.
    #[error("the {kind} '{name}' offers no usable format")]
    UnsupportedFormat {
        /// "microphone", "speaker" or "camera".
        kind: &'static str,
        /// The device's name.
        name: String,
    },
    /// A media file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A codec refused its input or configuration.
    #[error("{codec}: {reason}")]
    Codec {
        /// "opus" or "vp8".
        codec: &'static str,
        /// What the codec said.
        reason: String,
    },
    /// The network transport (ICE, DTLS, RTP) failed.
    #[error("transport: {reason}")]
    Transport {
        /// What went wrong.
        reason: String,
    },
}

impl MediaError {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn opus(reason: impl std::fmt::Display) -> Self {
        Self::Codec {
            codec: "opus",
            reason: reason.to_string(),
        }
    }
}
