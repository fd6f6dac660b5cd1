//! What the settings screen shows and changes: the user's settings, the trusted servers (with
//! the administrator's presets beside them, marked as such), and what the policy enforces.

use std::path::Path;

use runde_trust::{
    AddedBy, AdminPolicy, OpenNote, Policy, SettingsError, SettingsStore, TrustStore,
};
use serde::Serialize;

pub use runde_trust::{DeviceChoice, LanguageChoice, PrivacyChoice, Settings};

use crate::{PolicyReport, UserError};

/// How a server is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ServerPolicy {
    /// Joined without asking (its key must match).
    Trusted,
    /// Asked about before joining.
    Ask,
    /// Never contacted.
    Blocked,
}

/// Who put a server on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ServerAddedBy {
    /// The user, after reviewing it at first contact.
    UserReview,
    /// The user, by hand.
    User,
    /// The administrator's policy (cannot be changed here).
    Admin,
}

/// One server on the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ServerEntry {
    /// What the user calls it.
    pub label: String,
    /// Scheme, host and port.
    pub origin: String,
    /// Server family, e.g. "janus".
    pub family: String,
    /// Who runs it, as declared by the user or the administrator.
    pub operator: Option<String>,
    /// Accepted key fingerprints (SHA-256 of the public key, base64).
    pub pins: Vec<String>,
    /// How it is treated.
    pub policy: ServerPolicy,
    /// When it was added, seconds since 1970.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub added_at: u64,
    /// Who added it.
    pub added_by: ServerAddedBy,
}

/// Something to tell the user about the files behind the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SettingsNote {
    /// A file could not be read; it was kept under `backup` and Runde started afresh.
    Recovered {
        /// Which file: "settings" or "servers".
        file: String,
        /// Where the unreadable file is now.
        backup: String,
        /// What was wrong.
        reason: String,
    },
    /// A newer Runde wrote the settings: they are used but cannot be changed here.
    Newer {
        /// The format version found.
        found: u32,
    },
}

/// Everything the settings screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The user's settings.
    pub settings: Settings,
    /// The trusted-server list: the administrator's presets first, then the user's.
    pub servers: Vec<ServerEntry>,
    /// What the administrator's policy enforces.
    pub policy: PolicyReport,
    /// The privacy choices are locked by the policy.
    pub privacy_locked: bool,
    /// Notes about the files.
    pub notes: Vec<SettingsNote>,
}

fn settings_error(e: SettingsError) -> UserError {
    match e {
        SettingsError::Locked => UserError::SettingsLocked,
        other => UserError::SettingsFailed {
            detail: other.to_string(),
        },
    }
}

fn store_error(e: impl std::fmt::Display) -> UserError {
    UserError::TrustStoreFailed {
        detail: e.to_string(),
    }
}

fn note(file: &str, opened: OpenNote, notes: &mut Vec<SettingsNote>) {
    match opened {
        OpenNote::Recovered { backup, reason } => notes.push(SettingsNote::Recovered {
            file: file.to_owned(),
            backup: backup.display().to_string(),
            reason,
        }),
        OpenNote::Newer { found } => notes.push(SettingsNote::Newer { found }),
        OpenNote::Fine | OpenNote::New => {}
    }
}

fn entry(server: &runde_trust::TrustedServer, admin: bool) -> ServerEntry {
    ServerEntry {
        label: server.label.clone(),
        origin: server.origin.clone(),
        family: server.family.clone(),
        operator: server.operator.as_ref().map(|o| o.name.clone()),
        pins: server.pins.clone(),
        policy: match server.policy {
            Policy::Trusted => ServerPolicy::Trusted,
            Policy::Ask => ServerPolicy::Ask,
            Policy::Blocked => ServerPolicy::Blocked,
        },
        added_at: server.added_at,
        added_by: if admin {
            ServerAddedBy::Admin
        } else {
            match server.added_by {
                AddedBy::UserReview => ServerAddedBy::UserReview,
                AddedBy::User => ServerAddedBy::User,
                AddedBy::Admin => ServerAddedBy::Admin,
            }
        },
    }
}

/// Everything the settings screen shows, read from `folder`.
pub fn load(folder: &Path) -> Result<SettingsView, UserError> {
    view(folder, &crate::load_policy(&[])?)
}

fn view(folder: &Path, admin: &AdminPolicy) -> Result<SettingsView, UserError> {
    let mut notes = Vec::new();
    let (settings, opened) =
        SettingsStore::open(folder, admin.lock_settings).map_err(settings_error)?;
    note("settings", opened, &mut notes);
    let (store, opened) = TrustStore::open(folder).map_err(store_error)?;
    note("servers", opened, &mut notes);
    // The administrator's presets first; the user's own entries for other servers after them.
    let presets = admin
        .servers
        .iter()
        .filter_map(|p| admin.preset(&p.origin))
        .map(|p| entry(&p, true));
    let own = store
        .servers()
        .iter()
        .filter(|s| admin.preset(&s.origin).is_none())
        .map(|s| entry(s, false));
    Ok(SettingsView {
        settings: settings.get().clone(),
        servers: presets.chain(own).collect(),
        policy: PolicyReport::of(admin),
        privacy_locked: settings.privacy_locked(),
        notes,
    })
}

/// Save the user's settings (refused with nothing changed when locked or from a newer Runde).
pub fn save(folder: &Path, new: Settings) -> Result<SettingsView, UserError> {
    let admin = crate::load_policy(&[])?;
    let (mut store, _) =
        SettingsStore::open(folder, admin.lock_settings).map_err(settings_error)?;
    store.update(|s| *s = new).map_err(settings_error)?;
    view(folder, &admin)
}

/// Change a server the user added: rename it, change how it is treated, or forget it (`None`).
/// The administrator's presets cannot be changed, nor anything when the policy locks settings.
pub fn change_server(
    folder: &Path,
    origin: &str,
    change: Option<(String, ServerPolicy)>,
) -> Result<SettingsView, UserError> {
    let admin = crate::load_policy(&[])?;
    if admin.lock_settings || admin.preset(origin).is_some() {
        return Err(UserError::SettingsLocked);
    }
    let (mut store, _) = TrustStore::open(folder).map_err(store_error)?;
    match change {
        None => store.remove(origin).map_err(store_error)?,
        Some((label, policy)) => {
            let Some(mut server) = store.find(origin).cloned() else {
                return Err(store_error(format!("{origin} is not on the list")));
            };
            server.label = label;
            server.policy = match policy {
                ServerPolicy::Trusted => Policy::Trusted,
                ServerPolicy::Ask => Policy::Ask,
                ServerPolicy::Blocked => Policy::Blocked,
            };
            store.upsert(server).map_err(store_error)?;
        }
    }
    view(folder, &admin)
}
