//! Who the user trusts.
//!
//! `runde-trust` keeps the trusted-server store and reads the administrator's policy, verifies TLS
//! certificates with key pinning, establishes who operates a server (declared by the user or an admin
//! and pinned, certificate organisation, self-declared by the server, or unknown), and owns settings
//! (in the OS-conventional folders) and secrets (only in the OS keyring, only when the user asks). It is
//! pure logic with small IO edges and knows nothing about media, signalling protocols or the UI.
#![deny(missing_docs)]

pub mod policy;
pub mod secrets;
pub mod settings;
pub mod store;

pub use policy::{
    AdminPolicy, PolicyError, PolicySecret, PresetServer, PresetTurn, UpdatesRule,
    system_policy_path,
};
pub use settings::{
    DeviceChoice, LanguageChoice, PrivacyChoice, Settings, SettingsError, SettingsStore,
};
pub use store::{
    AddedBy, OpenNote, Operator, Policy, SCHEMA_VERSION, StoreError, TrustStore, TrustedServer,
};

/// The folder where Runde keeps its settings and the trusted-server list, by the system's
/// conventions (`~/.config/runde` on Linux, `~/Library/Application Support/org.Runde.Runde` on
/// macOS, `%APPDATA%\Runde\Runde\config` on Windows). `None` when the system names no home folder.
pub fn config_dir() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("org", "Runde", "Runde").map(|d| d.config_dir().to_path_buf())
}
