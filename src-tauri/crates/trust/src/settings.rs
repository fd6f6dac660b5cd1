//! The user's settings: language, devices, privacy choices, display name.
//!
//! One JSON file (`settings.json`) next to the trusted-server list, with the same guarantees:
//! a schema version, atomic writes, an unreadable file kept as a backup and explained (never
//! silently reset), a newer format left untouched (used as far as understood, never overwritten),
//! and a failed save undone in memory so what the user sees is what is stored.
//!
//! Privacy by default: nothing is remembered, microphone and camera start off.
//!
//! The administrator's `lockSettings` locks the privacy choices (and, in the trust store, the
//! server list); language, devices and display name stay the user's to choose.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{OpenNote, backup_path, write_atomically};

/// The schema this build writes.
pub const SETTINGS_VERSION: u32 = 1;
/// The file name inside the configuration folder.
pub const SETTINGS_FILE: &str = "settings.json";

/// Which language the app speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum LanguageChoice {
    /// The operating system's language, when it is one we have; English otherwise.
    #[default]
    System,
    /// English.
    English,
    /// German.
    German,
}

/// Which devices to use; `None` is the system's default device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DeviceChoice {
    /// Microphone id.
    pub microphone: Option<String>,
    /// Speaker id.
    pub speaker: Option<String>,
    /// Camera id.
    pub camera: Option<String>,
}

/// Privacy choices; every one is off unless the user turns it on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PrivacyChoice {
    /// Offer to remember room passwords (in the system keyring).
    pub remember_passwords: bool,
    /// Keep a list of past calls.
    pub call_history: bool,
    /// Join with the microphone on.
    pub microphone_on_join: bool,
    /// Join with the camera on.
    pub camera_on_join: bool,
    /// Look for a newer Runde (at each start and when asked): the only request Runde makes on
    /// its own, so it is off until the user turns it on (and the administrator can forbid it).
    pub look_for_updates: bool,
}

/// Everything the user can set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// The app's language.
    pub language: LanguageChoice,
    /// Devices.
    pub devices: DeviceChoice,
    /// Privacy.
    pub privacy: PrivacyChoice,
    /// The name to offer when joining (pseudonyms are fine); `None` asks every time.
    pub display_name: Option<String>,
    /// Push to talk: while muted in a call, holding this key combination (e.g.
    /// `"Control+Shift+Space"`) speaks, even when Runde's window is in the background. `None`
    /// (the default): off, and no key is taken from other programs.
    pub push_to_talk: Option<String>,
}

/// Why settings could not be read or changed, for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file was written by a newer Runde; it is used as far as understood and left unchanged.
    #[error(
        "your settings were saved by a newer version of Runde (format {found}); they are kept unchanged and cannot be edited here"
    )]
    FutureVersion {
        /// The version in the file.
        found: u32,
    },
    /// The administrator's policy locks this setting.
    #[error("your administrator's policy does not allow changing this setting")]
    Locked,
    /// Reading or writing failed.
    #[error("your settings at {path} cannot be {action}: {reason}")]
    Io {
        /// "read" or "saved".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsFile {
    version: u32,
    #[serde(default)]
    settings: Settings,
}

/// The settings, backed by a file.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    settings: Settings,
    /// From a newer format: nothing is written.
    newer: Option<u32>,
    /// The administrator locked the privacy choices.
    privacy_locked: bool,
}

impl SettingsStore {
    /// Open the settings in `folder` (created when saving). A newer format opens read-only (see
    /// [`OpenNote::Newer`]); an unreadable file is set aside ([`OpenNote::Recovered`]).
    pub fn open(folder: &Path, privacy_locked: bool) -> Result<(Self, OpenNote), SettingsError> {
        let path = folder.join(SETTINGS_FILE);
        let mut store = Self {
            path,
            settings: Settings::default(),
            newer: None,
            privacy_locked,
        };
        let text = match fs::read_to_string(&store.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((store, OpenNote::New));
            }
            Err(e) => {
                return Err(SettingsError::Io {
                    action: "read",
                    path: store.path,
                    reason: e.to_string(),
                });
            }
        };
        match parse(&text) {
            Ok(Parsed::Current(settings)) => {
                store.settings = settings;
                Ok((store, OpenNote::Fine))
            }
            Ok(Parsed::Newer { found, understood }) => {
                store.settings = understood;
                store.newer = Some(found);
                Ok((store, OpenNote::Newer { found }))
            }
            Err(reason) => {
                let backup = backup_path(&store.path);
                fs::rename(&store.path, &backup).map_err(|e| SettingsError::Io {
                    action: "read",
                    path: store.path.clone(),
                    reason: format!("{reason}; and it could not be set aside: {e}"),
                })?;
                Ok((store, OpenNote::Recovered { backup, reason }))
            }
        }
    }

    /// The settings now.
    pub fn get(&self) -> &Settings {
        &self.settings
    }

    /// Where they live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the privacy choices are locked by the administrator.
    pub fn privacy_locked(&self) -> bool {
        self.privacy_locked
    }

    /// Change the settings and save. Refused, with nothing changed, when the file is from a newer
    /// Runde or when the change touches locked privacy choices; undone when saving fails.
    pub fn update(&mut self, change: impl FnOnce(&mut Settings)) -> Result<(), SettingsError> {
        if let Some(found) = self.newer {
            return Err(SettingsError::FutureVersion { found });
        }
        let before = self.settings.clone();
        change(&mut self.settings);
        if self.privacy_locked && self.settings.privacy != before.privacy {
            self.settings = before;
            return Err(SettingsError::Locked);
        }
        if let Err(e) = self.save() {
            self.settings = before;
            return Err(e);
        }
        Ok(())
    }

    fn save(&self) -> Result<(), SettingsError> {
        let io = |reason: String| SettingsError::Io {
            action: "saved",
            path: self.path.clone(),
            reason,
        };
        let file = SettingsFile {
            version: SETTINGS_VERSION,
            settings: self.settings.clone(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| io(e.to_string()))?;
        write_atomically(&self.path, text.as_bytes()).map_err(|e| io(e.to_string()))
    }
}

/// The settings in `folder` as far as they can be read, without changing anything: a broken file
/// stays where it is for [`SettingsStore::open`] to set aside and explain. `None` when there is
/// no file or it cannot be read.
pub fn peek(folder: &Path) -> Option<Settings> {
    let text = fs::read_to_string(folder.join(SETTINGS_FILE)).ok()?;
    match parse(&text).ok()? {
        Parsed::Current(settings) => Some(settings),
        Parsed::Newer { understood, .. } => Some(understood),
    }
}

enum Parsed {
    Current(Settings),
    Newer { found: u32, understood: Settings },
}

fn parse(text: &str) -> Result<Parsed, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let version = value
        .get("version")
        .ok_or("it has no format version")?
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("its format version is not a number")?;
    match version {
        SETTINGS_VERSION => serde_json::from_value::<SettingsFile>(value)
            .map(|file| Parsed::Current(file.settings))
            .map_err(|e| format!("its contents are not understood ({e})")),
        newer if newer > SETTINGS_VERSION => Ok(Parsed::Newer {
            found: newer,
            understood: understood_part(&value["settings"]),
        }),
        older => Err(format!(
            "its format version {older} was never written by Runde"
        )),
    }
}

/// From a newer file, each setting this build understands; defaults for the rest.
fn understood_part(value: &serde_json::Value) -> Settings {
    fn take<T: serde::de::DeserializeOwned + Default>(value: &serde_json::Value) -> T {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }
    let privacy = &value["privacy"];
    let devices = &value["devices"];
    Settings {
        language: take(&value["language"]),
        devices: DeviceChoice {
            microphone: take(&devices["microphone"]),
            speaker: take(&devices["speaker"]),
            camera: take(&devices["camera"]),
        },
        privacy: PrivacyChoice {
            remember_passwords: take(&privacy["rememberPasswords"]),
            call_history: take(&privacy["callHistory"]),
            microphone_on_join: take(&privacy["microphoneOnJoin"]),
            camera_on_join: take(&privacy["cameraOnJoin"]),
            look_for_updates: take(&privacy["lookForUpdates"]),
        },
        display_name: take(&value["displayName"]),
        push_to_talk: take(&value["pushToTalk"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("runde-settings-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn privacy_is_the_default_and_settings_survive_a_restart() -> Result<(), SettingsError> {
        let dir = folder("restart");
        let (mut store, note) = SettingsStore::open(&dir, false)?;
        assert_eq!(note, OpenNote::New);
        let privacy = store.get().privacy;
        assert!(!privacy.remember_passwords && !privacy.call_history);
        assert!(!privacy.microphone_on_join && !privacy.camera_on_join);
        assert!(
            !privacy.look_for_updates,
            "no update check unless the user opts in"
        );
        assert_eq!(store.get().language, LanguageChoice::System);
        store.update(|s| {
            s.language = LanguageChoice::German;
            s.devices.microphone = Some("hw:1".into());
            s.privacy.camera_on_join = true;
            s.privacy.look_for_updates = true;
            s.display_name = Some("Ada".into());
        })?;
        let (again, note) = SettingsStore::open(&dir, false)?;
        assert_eq!(note, OpenNote::Fine);
        assert_eq!(again.get(), store.get());
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn peeking_reads_without_setting_a_broken_file_aside() -> Result<(), SettingsError> {
        let dir = folder("peek");
        assert_eq!(peek(&dir), None);
        let (mut store, _) = SettingsStore::open(&dir, false)?;
        store.update(|s| s.privacy.look_for_updates = true)?;
        assert!(peek(&dir).is_some_and(|s| s.privacy.look_for_updates));
        fs::write(dir.join(SETTINGS_FILE), "{ broken").map_err(|e| SettingsError::Io {
            action: "saved",
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        assert_eq!(peek(&dir), None);
        let (_, note) = SettingsStore::open(&dir, false)?;
        assert!(
            matches!(note, OpenNote::Recovered { .. }),
            "still there to explain"
        );
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn an_unreadable_file_is_kept_and_explained() -> Result<(), SettingsError> {
        for (name, text) in [
            ("truncated", r#"{"version": 1, "settings": {"lang"#),
            (
                "unknown-field",
                r#"{"version": 1, "settings": {"colour": "red"}}"#,
            ),
            (
                "wrong-type",
                r#"{"version": 1, "settings": {"privacy": {"callHistory": "yes"}}}"#,
            ),
            ("no-version", r#"{"settings": {}}"#),
        ] {
            let dir = folder(name);
            fs::create_dir_all(&dir).map_err(|e| SettingsError::Io {
                action: "saved",
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            fs::write(dir.join(SETTINGS_FILE), text).map_err(|e| SettingsError::Io {
                action: "saved",
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            let (store, note) = SettingsStore::open(&dir, false)?;
            let OpenNote::Recovered { backup, reason } = note else {
                panic!("{name}: {note:?}");
            };
            assert!(!reason.is_empty());
            assert_eq!(
                fs::read_to_string(&backup).ok().as_deref(),
                Some(text),
                "{name}"
            );
            assert_eq!(store.get(), &Settings::default());
            let _ = fs::remove_dir_all(&dir);
        }
        Ok(())
    }

    #[test]
    fn a_newer_format_is_used_as_understood_and_never_overwritten() -> Result<(), SettingsError> {
        let dir = folder("newer");
        let text = r#"{"version": 7, "settings": {"language": "german", "privacy": {"callHistory": true, "telepathy": true}, "theme": "dark"}}"#;
        fs::create_dir_all(&dir).ok();
        fs::write(dir.join(SETTINGS_FILE), text).ok();
        let (mut store, note) = SettingsStore::open(&dir, false)?;
        assert_eq!(note, OpenNote::Newer { found: 7 });
        assert_eq!(store.get().language, LanguageChoice::German);
        assert!(store.get().privacy.call_history);
        assert_eq!(
            store.update(|s| s.language = LanguageChoice::English),
            Err(SettingsError::FutureVersion { found: 7 })
        );
        assert_eq!(store.get().language, LanguageChoice::German);
        assert_eq!(
            fs::read_to_string(dir.join(SETTINGS_FILE)).ok().as_deref(),
            Some(text)
        );
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn locked_privacy_choices_cannot_change_but_the_language_can() -> Result<(), SettingsError> {
        let dir = folder("locked");
        let (mut store, _) = SettingsStore::open(&dir, true)?;
        assert_eq!(
            store.update(|s| {
                s.language = LanguageChoice::German;
                s.privacy.remember_passwords = true;
            }),
            Err(SettingsError::Locked)
        );
        assert_eq!(
            store.get(),
            &Settings::default(),
            "nothing of a refused change stays"
        );
        store.update(|s| s.language = LanguageChoice::German)?;
        assert_eq!(store.get().language, LanguageChoice::German);
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_an_error_and_loses_nothing() -> Result<(), SettingsError>
    {
        // A file where the folder should be: root ignores permissions, this it cannot ignore.
        let parent = folder("unwritable");
        fs::create_dir_all(&parent).ok();
        let dir = parent.join("blocked");
        let (mut store, _) = SettingsStore::open(&dir, false)?;
        fs::write(&dir, b"not a folder").ok();
        let result = store.update(|s| s.display_name = Some("Ada".into()));
        assert!(
            matches!(
                result,
                Err(SettingsError::Io {
                    action: "saved",
                    ..
                })
            ),
            "{result:?}"
        );
        assert_eq!(store.get().display_name, None, "the change is undone");
        let _ = fs::remove_dir_all(&parent);
        Ok(())
    }
}
