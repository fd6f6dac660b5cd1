//! One call's orchestration.
//!
//! `runde-call` is the single entry point the desktop shell and the headless `runde-cli` use. It joins
//! a server connector (from `runde-connect`) to the media engine (`runde-media`), consults the user's
//! trust decisions (`runde-trust`), owns the participant list, and derives the three in-call
//! indicators — recording, encryption, operator — from facts the other crates report, never claiming
//! more than they prove. It emits typed events and typed, user-actionable errors; it has no UI and
//! computes nothing for display beyond those facts.
#![deny(missing_docs)]

pub mod check;
pub mod controls;
pub mod devices;
pub mod error;
pub mod indicators;
pub mod layers;
pub mod link;
pub mod media;
pub mod quality;
pub mod rejoin;
mod renew;
mod restart;
pub mod session;
pub mod settings;
pub mod trust;
pub mod updates;

pub use controls::CallControls;
pub use error::UserError;
pub use indicators::Indicators;
pub use link::{LinkReport, inspect_link, inspect_link_known};
pub use media::{
    AudioIn, AudioOut, MediaChoice, MediaSummary, ParticipantMediaStats, SELF_VIEW, ScreenFrame,
    TileCounts, VideoIn, VideoOut, VideoScreen,
};
pub use rejoin::REJOIN_FOR;
pub use runde_connect::{Secret, TlsSettings};
pub use runde_media::transport::{
    TurnCredential, TurnServer, TurnTransport, TurnUrl, TurnUrlError,
};
pub use session::{
    Call, CallEvent, ConnectionState, EndReason, JoinFailure, JoinOptions, ParticipantInfo,
    RetryJoin, SendState, ServerReport, TrackKind, join, probe_server,
};
pub use trust::{KnownServer, SelfDeclaredOperator, ServerReview, TrustOptions};

/// Where the trusted-server list lives by default (the system's settings folder for Runde).
pub fn trust_dir() -> Option<std::path::PathBuf> {
    runde_trust::config_dir()
}

/// What the administrator's policy enforces, for the user to see.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// Where the system policy is looked for.
    pub system_path: String,
    /// The files that apply.
    pub sources: Vec<String>,
    /// Only preset servers may be joined.
    pub only_preset_servers: bool,
    /// Room passwords must not be remembered.
    pub forbid_remembering_passwords: bool,
    /// Settings cannot be changed.
    pub lock_settings: bool,
    /// Preset servers, as "label (origin)".
    pub servers: Vec<String>,
    /// Update checks are forbidden.
    pub forbid_updates: bool,
    /// The administrator's mirror for updates, if any.
    pub update_source: Option<String>,
}

/// Read the administrator's policy (the system file plus `extra` files).
pub fn admin_policy(extra: &[std::path::PathBuf]) -> Result<PolicyReport, UserError> {
    load_policy(extra).map(|policy| PolicyReport::of(&policy))
}

/// The administrator's policy, or why it cannot be used.
pub(crate) fn load_policy(
    extra: &[std::path::PathBuf],
) -> Result<runde_trust::AdminPolicy, UserError> {
    runde_trust::AdminPolicy::load(extra).map_err(|e| UserError::PolicyUnreadable {
        detail: e.to_string(),
    })
}

impl PolicyReport {
    /// What `policy` enforces, for the user to see.
    pub(crate) fn of(policy: &runde_trust::AdminPolicy) -> Self {
        Self {
            system_path: runde_trust::system_policy_path().display().to_string(),
            sources: policy
                .sources
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            only_preset_servers: policy.only_preset_servers,
            forbid_remembering_passwords: policy.forbid_remembering_passwords,
            lock_settings: policy.lock_settings,
            forbid_updates: policy.forbid_updates,
            update_source: policy.update_source.clone(),
            servers: policy
                .servers
                .iter()
                .map(|s| format!("{} ({}, {:?})", s.label, s.origin, s.policy))
                .collect(),
        }
    }
}
