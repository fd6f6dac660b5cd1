//! One call's orchestration.
//!
//! `runde-call` is the single entry point the desktop shell and the headless `runde-cli` use. It joins
//! a server connector (from `runde-connect`) to the media engine (`runde-media`), consults the user's
//! trust decisions (`runde-trust`), owns the participant list, and derives the three in-call
//! indicators — recording, encryption, operator — from facts the other crates report, never claiming
//! more than they prove. It emits typed events and typed, user-actionable errors; it has no UI and
//! computes nothing for display beyond those facts.
#![deny(missing_docs)]

pub mod error;
pub mod indicators;
pub mod link;
pub mod media;
pub mod session;
pub mod trust;

pub use error::UserError;
pub use indicators::Indicators;
pub use link::{LinkReport, inspect_link};
pub use media::{
    AudioIn, AudioOut, MediaChoice, MediaSummary, ParticipantMediaStats, VideoIn, VideoOut,
};
pub use runde_connect::{Secret, TlsSettings};
pub use session::{
    Call, CallEvent, ConnectionState, EndReason, JoinFailure, JoinOptions, ParticipantInfo,
    RetryJoin, ServerReport, TrackKind, join, probe_server,
};
pub use trust::{ServerReview, TrustOptions};

/// Where the trusted-server list lives by default (the system's settings folder for Runde).
pub fn trust_dir() -> Option<std::path::PathBuf> {
    runde_trust::config_dir()
}
