//! The trusted-server store: which servers the user (or their administrator) trusts, with the
//! keys pinned for each and who operates them.
//!
//! One JSON file in the OS-conventional configuration folder, with a schema version. Writes are
//! atomic (a temporary file in the same folder, flushed, then renamed over the old one), so a
//! crash leaves the old or the new file, never half of one. A file that cannot be read is never
//! silently replaced: it is kept as a backup next to the store and the caller gets an explanation
//! to show. A file from a newer Runde is left untouched and the store opens read-only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The schema this build writes.
pub const SCHEMA_VERSION: u32 = 1;
/// The file name inside the configuration folder.
pub const FILE_NAME: &str = "trusted-servers.json";

/// What the user decided about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Policy {
    /// Join without asking (its key must still match a pin).
    Trusted,
    /// Show the server and ask before joining.
    Ask,
    /// Never connect.
    Blocked,
}

/// Who decided to add the server, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AddedBy {
    /// The user, after reviewing the server at first contact.
    UserReview,
    /// The user, by hand (settings).
    User,
    /// The administrator's policy file.
    Admin,
}

/// Who operates a server, as far as someone stated it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    /// The name people know it by.
    pub name: String,
    /// The legal entity responsible (GDPR Art. 13: the controller).
    #[serde(default)]
    pub legal_entity: Option<String>,
    /// Country of establishment (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub country: Option<String>,
    /// How to reach them.
    #[serde(default)]
    pub contact: Option<String>,
    /// Their privacy policy.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
}

/// One trusted server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedServer {
    /// What the user calls it.
    pub label: String,
    /// Scheme, host and port, e.g. `wss://meet.example.org:443`.
    pub origin: String,
    /// The server family, e.g. `janus`.
    pub family: String,
    /// Who operates it, as declared by the user or the administrator.
    #[serde(default)]
    pub operator: Option<Operator>,
    /// SHA-256 hashes of the accepted public keys (SPKI), base64; several allow key rotation.
    #[serde(default)]
    pub pins: Vec<String>,
    /// What to do when joining.
    pub policy: Policy,
    /// When it was added, seconds since 1970 (UTC).
    pub added_at: u64,
    /// How it was added.
    pub added_by: AddedBy,
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoreFile {
    version: u32,
    servers: Vec<TrustedServer>,
}

/// Why the store could not be read or written, for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The file was written by a newer Runde; it is left as it is.
    #[error(
        "the list of trusted servers was saved by a newer version of Runde (format {found}); it is kept unchanged and cannot be edited here"
    )]
    FutureVersion {
        /// The version in the file.
        found: u32,
    },
    /// Reading or writing failed.
    #[error("the list of trusted servers at {path} cannot be {action}: {reason}")]
    Io {
        /// "read" or "saved".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
}

/// What happened when the store was opened, to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenNote {
    /// Nothing to report.
    Fine,
    /// No store yet: it starts empty.
    New,
    /// The file was written by a newer Runde: what this version understands of it is used, and
    /// nothing is written, so nothing of it is lost.
    Newer {
        /// The version in the file.
        found: u32,
    },
    /// The file could not be understood: it was kept as `backup` and the store starts empty.
    Recovered {
        /// Where the unreadable file is now.
        backup: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// The trusted servers, backed by a file.
#[derive(Debug)]
pub struct TrustStore {
    path: PathBuf,
    servers: Vec<TrustedServer>,
    /// Opened from a newer format: changes are refused so nothing of it is lost.
    read_only: bool,
}

impl TrustStore {
    /// Open the store in `folder` (created when saving). See [`OpenNote`] and [`StoreError`].
    pub fn open(folder: &Path) -> Result<(Self, OpenNote), StoreError> {
        let path = folder.join(FILE_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let store = Self {
                    path,
                    servers: Vec::new(),
                    read_only: false,
                };
                return Ok((store, OpenNote::New));
            }
            Err(e) => {
                return Err(StoreError::Io {
                    action: "read",
                    path,
                    reason: e.to_string(),
                });
            }
        };
        match parse(&text) {
            Ok(Parsed::Current(file)) => Ok((
                Self {
                    path,
                    servers: file.servers,
                    read_only: false,
                },
                OpenNote::Fine,
            )),
            Ok(Parsed::Future(found)) => Err(StoreError::FutureVersion { found }),
            Err(reason) => {
                let backup = backup_path(&path);
                fs::rename(&path, &backup).map_err(|e| StoreError::Io {
                    action: "read",
                    path: path.clone(),
                    reason: format!("{reason}; and it could not be set aside: {e}"),
                })?;
                let store = Self {
                    path,
                    servers: Vec::new(),
                    read_only: false,
                };
                Ok((store, OpenNote::Recovered { backup, reason }))
            }
        }
    }

    /// Open a store that a newer Runde wrote, read-only: its servers are used, nothing is written.
    pub fn open_read_only(folder: &Path) -> Result<Self, StoreError> {
        let path = folder.join(FILE_NAME);
        let text = fs::read_to_string(&path).map_err(|e| StoreError::Io {
            action: "read",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| StoreError::Io {
            action: "read",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // Take what this version understands of each entry; skip the rest.
        let servers = value["servers"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| serde_json::from_value(s.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            path,
            servers,
            read_only: true,
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether changes are refused (a newer Runde's file).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// All servers.
    pub fn servers(&self) -> &[TrustedServer] {
        &self.servers
    }

    /// The entry for an origin, if any.
    pub fn find(&self, origin: &str) -> Option<&TrustedServer> {
        self.servers.iter().find(|s| s.origin == origin)
    }

    /// Add or replace the entry for `server.origin`, and save.
    pub fn upsert(&mut self, server: TrustedServer) -> Result<(), StoreError> {
        self.change(|servers| {
            servers.retain(|s| s.origin != server.origin);
            servers.push(server);
        })
    }

    /// Remove the entry for an origin, and save.
    pub fn remove(&mut self, origin: &str) -> Result<(), StoreError> {
        self.change(|servers| servers.retain(|s| s.origin != origin))
    }

    /// Apply a change and save it; if saving fails, the change is undone in memory too, so what
    /// the user sees is what is stored.
    fn change(&mut self, apply: impl FnOnce(&mut Vec<TrustedServer>)) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::FutureVersion {
                found: SCHEMA_VERSION + 1,
            });
        }
        let before = self.servers.clone();
        apply(&mut self.servers);
        if let Err(e) = self.save() {
            self.servers = before;
            return Err(e);
        }
        Ok(())
    }

    fn save(&self) -> Result<(), StoreError> {
        let file = StoreFile {
            version: SCHEMA_VERSION,
            servers: self.servers.clone(),
        };
        let io = |e: std::io::Error| StoreError::Io {
            action: "saved",
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| StoreError::Io {
            action: "saved",
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.path, text.as_bytes()).map_err(io)
    }
}

enum Parsed {
    Current(StoreFile),
    Future(u32),
}

/// Read any version this build knows, migrating older ones.
fn parse(text: &str) -> Result<Parsed, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let version = match value.get("version") {
        // Before versioning (format 0) the file was a bare list of servers.
        None if value.is_array() => 0,
        None => return Err("it has no format version".into()),
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or("its format version is not a number")?,
    };
    match version {
        0 => {
            let servers: Vec<TrustedServer> = serde_json::from_value(value)
                .map_err(|e| format!("its entries are not understood ({e})"))?;
            Ok(Parsed::Current(StoreFile {
                version: SCHEMA_VERSION,
                servers,
            }))
        }
        SCHEMA_VERSION => serde_json::from_value(value)
            .map(Parsed::Current)
            .map_err(|e| format!("its entries are not understood ({e})")),
        newer => Ok(Parsed::Future(newer)),
    }
}

/// `trusted-servers.json` → `trusted-servers.unreadable-<n>.json`, the first free `n`.
pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (1..)
        .map(|n| path.with_file_name(format!("{stem}.unreadable-{n}.json")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_extension("unreadable.json"))
}

/// Write `bytes` to `path` so that a reader sees the old file or the new one, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runde-trust-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp folder");
        dir
    }

    fn server(origin: &str) -> TrustedServer {
        TrustedServer {
            label: "Beratungsstelle".into(),
            origin: origin.into(),
            family: "janus".into(),
            operator: Some(Operator {
                name: "Beratung e.V.".into(),
                country: Some("DE".into()),
                ..Operator::default()
            }),
            pins: vec!["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into()],
            policy: Policy::Trusted,
            added_at: 1_795_000_000,
            added_by: AddedBy::UserReview,
        }
    }

    #[test]
    fn servers_survive_a_restart() -> Result<(), StoreError> {
        let dir = folder("roundtrip");
        let (mut store, note) = TrustStore::open(&dir)?;
        assert_eq!(note, OpenNote::New);
        store.upsert(server("wss://a.example:443"))?;
        store.upsert(server("wss://b.example:443"))?;
        store.remove("wss://a.example:443")?;
        let (again, note) = TrustStore::open(&dir)?;
        assert_eq!(note, OpenNote::Fine);
        assert_eq!(again.servers(), &[server("wss://b.example:443")]);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left behind");
        Ok(())
    }

    #[test]
    fn a_corrupt_file_is_kept_and_explained_never_silently_reset() -> Result<(), StoreError> {
        let dir = folder("corrupt");
        let garbage = b"{\"version\": 1, \"servers\": [ {\"label\": ";
        fs::write(dir.join(FILE_NAME), garbage).expect("write");
        let (store, note) = TrustStore::open(&dir)?;
        let OpenNote::Recovered { backup, reason } = note else {
            panic!("the user must be told: {note:?}");
        };
        assert!(reason.contains("not valid JSON"), "{reason}");
        assert_eq!(
            fs::read(&backup).expect("backup"),
            garbage,
            "the old bytes are kept"
        );
        assert!(store.servers().is_empty());
        // A second corrupt file does not overwrite the first backup.
        fs::write(dir.join(FILE_NAME), b"[1, 2").expect("write");
        let (_, note) = TrustStore::open(&dir)?;
        let OpenNote::Recovered { backup: second, .. } = note else {
            panic!("{note:?}");
        };
        assert_ne!(second, backup);
        assert!(backup.exists() && second.exists());
        Ok(())
    }

    #[test]
    fn a_newer_format_is_left_untouched() -> Result<(), StoreError> {
        let dir = folder("future");
        let future = r#"{"version": 7, "servers": [{"label": "x", "origin": "wss://x:443",
            "family": "janus", "policy": "trusted", "addedAt": 1, "addedBy": "user",
            "somethingNew": true}], "moreNews": {}}"#;
        fs::write(dir.join(FILE_NAME), future).expect("write");
        assert_eq!(
            TrustStore::open(&dir).err(),
            Some(StoreError::FutureVersion { found: 7 })
        );
        let mut store = TrustStore::open_read_only(&dir)?;
        assert_eq!(store.servers().len(), 1, "what is understood is used");
        assert!(store.upsert(server("wss://y:443")).is_err());
        assert_eq!(
            fs::read_to_string(dir.join(FILE_NAME)).expect("read"),
            future,
            "byte for byte unchanged"
        );
        Ok(())
    }

    #[test]
    fn the_unversioned_first_format_is_migrated() -> Result<(), StoreError> {
        let dir = folder("migrate");
        let old = serde_json::to_string(&vec![server("wss://old.example:443")]).expect("json");
        fs::write(dir.join(FILE_NAME), old).expect("write");
        let (mut store, note) = TrustStore::open(&dir)?;
        assert_eq!(note, OpenNote::Fine);
        assert_eq!(store.servers(), &[server("wss://old.example:443")]);
        store.upsert(server("wss://new.example:443"))?;
        let text = fs::read_to_string(dir.join(FILE_NAME)).expect("read");
        assert!(text.contains("\"version\": 1"), "{text}");
        Ok(())
    }

    /// Saving fails (here: the folder was replaced by a file — unlike permissions, that stops
    /// root too): a clear error, and neither memory nor disk lose the previous list.
    #[test]
    fn a_folder_that_cannot_be_written_is_an_error_and_loses_nothing() -> Result<(), StoreError> {
        let base = folder("unwritable");
        let dir = base.join("store");
        let (mut store, _) = TrustStore::open(&dir)?;
        store.upsert(server("wss://kept.example:443"))?;
        let before = fs::read(dir.join(FILE_NAME)).expect("read");
        let aside = base.join("store.aside");
        fs::rename(&dir, &aside).expect("move the folder away");
        fs::write(&dir, b"not a folder").expect("block the path");
        let result = store.upsert(server("wss://new.example:443"));
        fs::remove_file(&dir).expect("unblock");
        fs::rename(&aside, &dir).expect("move back");
        let Err(StoreError::Io { action, .. }) = result else {
            panic!("saving must fail: {result:?}");
        };
        assert_eq!(action, "saved");
        assert_eq!(
            store.servers(),
            &[server("wss://kept.example:443")],
            "memory matches disk"
        );
        assert_eq!(fs::read(dir.join(FILE_NAME)).expect("read"), before);
        Ok(())
    }
}
