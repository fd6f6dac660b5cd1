//! The administrator's policy: a system-wide file that presets trusted servers (with their keys
//! and operators), can allow only those, can forbid remembering passwords, and can lock the
//! settings. Users see what it enforces; they cannot weaken it.
//!
//! Where it lives: `/etc/runde/policy.json` (Linux), `/Library/Application Support/Runde/policy.json`
//! (macOS), `%ProgramData%\Runde\policy.json` (Windows). Further policy files (for example from a
//! command line) are combined with it, and a combination is always at least as strict as each part.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{AddedBy, Operator, Policy, TrustedServer};

/// The policy format this build reads.
pub const POLICY_VERSION: u32 = 1;

/// A server the administrator presets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresetServer {
    /// What users see it called.
    pub label: String,
    /// Scheme, host and port, e.g. `wss://meet.example.org:443`.
    pub origin: String,
    /// Server family, e.g. `janus`.
    #[serde(default = "janus")]
    pub family: String,
    /// Who operates it.
    #[serde(default)]
    pub operator: Option<Operator>,
    /// Accepted key hashes (SPKI SHA-256, base64); empty: whatever the system's authorities vouch
    /// for.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Trusted or blocked.
    #[serde(default = "trusted")]
    pub policy: Policy,
    /// TURN servers that relay this server's media where a network blocks it (a server's TURN
    /// servers belong to it: they are used for calls on this server only).
    #[serde(default)]
    pub turn: Vec<PresetTurn>,
}

/// A TURN server a preset server's calls may relay media through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresetTurn {
    /// `turn:<host>[:<port>][?transport=udp|tcp]` or `turns:<host>[:<port>]`, one or more.
    pub urls: Vec<String>,
    /// The long-term credential's user name.
    pub username: String,
    /// The long-term credential's password (never shown: not serialised, redacted in `Debug`).
    #[serde(skip_serializing)]
    pub credential: PolicySecret,
}

/// A secret from the policy file (a TURN credential): read, never written or printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PolicySecret(String);

impl PolicySecret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that hands it on (the TURN client).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PolicySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicySecret(<redacted>)")
    }
}

/// A preset server's TURN entries that are obviously wrong (the full check of each URL is the
/// media engine's, when a call starts).
fn check_turn(server: &PresetServer) -> Result<(), String> {
    for turn in &server.turn {
        if turn.urls.is_empty() {
            return Err(format!("a TURN entry of {} names no URL", server.origin));
        }
        if let Some(url) = turn
            .urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(format!(
                "the TURN server {url:?} of {} must start with turn: or turns:",
                server.origin
            ));
        }
    }
    Ok(())
}

/// An update source must be HTTPS and carry no credentials (they would end up in a readable file
/// and in requests Runde makes on its own; a mirror is for files anyone may download).
fn check_update_source(source: &str) -> Result<(), String> {
    let Some(rest) = source.strip_prefix("https://") else {
        return Err("the update source must start with https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("the update source names no server".into());
    }
    if authority.contains('@') {
        return Err("the update source must not contain a user name or password".into());
    }
    Ok(())
}

fn janus() -> String {
    "janus".into()
}

fn trusted() -> Policy {
    Policy::Trusted
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    servers: Vec<PresetServer>,
    #[serde(default)]
    only_preset_servers: bool,
    #[serde(default = "yes")]
    allow_remembering_passwords: bool,
    #[serde(default)]
    lock_settings: bool,
    #[serde(default)]
    updates: UpdatesRule,
    #[serde(default)]
    update_source: Option<String>,
}

/// Whether Runde may look for updates (when its user opts in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UpdatesRule {
    /// The user may turn the update check on (it is off until they do).
    #[default]
    Allowed,
    /// No update check, whatever the user chose: no request is made.
    Forbidden,
}

fn yes() -> bool {
    true
}

/// What the administrator enforces (the combination of every policy file found).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminPolicy {
    /// The files it came from.
    pub sources: Vec<PathBuf>,
    /// Preset servers.
    pub servers: Vec<PresetServer>,
    /// Only preset servers may be joined.
    pub only_preset_servers: bool,
    /// Room passwords must not be remembered.
    pub forbid_remembering_passwords: bool,
    /// Settings (trusted servers included) cannot be changed.
    pub lock_settings: bool,
    /// Runde must not look for updates (forbidden in any file wins).
    pub forbid_updates: bool,
    /// Where to look for updates instead of the build's own source (an organisation's mirror of
    /// the signed releases; signatures are still checked against the key built into Runde).
    pub update_source: Option<String>,
}

/// A policy file that exists but cannot be used. Runde then refuses to join (failing closed):
/// an administrator's rule that cannot be read is not a rule that may be ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the administrator's policy {path} cannot be used: {reason}")]
pub struct PolicyError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The system-wide policy file for this operating system.
pub fn system_policy_path() -> PathBuf {
    if cfg!(target_os = "windows") {
        let base = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        PathBuf::from(base).join("Runde").join("policy.json")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Runde/policy.json")
    } else {
        PathBuf::from("/etc/runde/policy.json")
    }
}

/// A further policy file for the tests of the real app, named by `RUNDE_DEBUG_POLICY_FILE`, in
/// debug builds only: a release build never reads it. It cannot weaken anything either way: a
/// policy file only adds restrictions to the system's (its update source, like every source,
/// is still checked against the signing key built into Runde).
fn debug_policy_path() -> Option<PathBuf> {
    if cfg!(debug_assertions) {
        std::env::var_os("RUNDE_DEBUG_POLICY_FILE").map(PathBuf::from)
    } else {
        None
    }
}

impl AdminPolicy {
    /// Read the system policy and any `extra` files; missing files contribute nothing.
    pub fn load(extra: &[PathBuf]) -> Result<Self, PolicyError> {
        let mut policy = Self::default();
        let system = system_policy_path();
        let debug = debug_policy_path();
        for path in std::iter::once(&system).chain(extra).chain(debug.as_ref()) {
            if let Some(file) = read(path)? {
                policy.add(path, file);
            }
        }
        Ok(policy)
    }

    /// Whether any policy applies.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn add(&mut self, path: &Path, file: PolicyFile) {
        self.sources.push(path.to_path_buf());
        self.only_preset_servers |= file.only_preset_servers;
        self.forbid_remembering_passwords |= !file.allow_remembering_passwords;
        self.lock_settings |= file.lock_settings;
        self.forbid_updates |= file.updates == UpdatesRule::Forbidden;
        if let Some(source) = file.update_source {
            match &self.update_source {
                // Two files naming different mirrors: neither is obviously the one to follow,
                // so no update check at all (the strictest reading).
                Some(known) if *known != source => self.forbid_updates = true,
                _ => self.update_source = Some(source),
            }
        }
        for server in file.servers {
            match self.servers.iter_mut().find(|s| s.origin == server.origin) {
                // Two files about one server: blocked wins, and only keys both accept remain.
                Some(known) => {
                    for turn in server.turn {
                        if !known.turn.contains(&turn) {
                            known.turn.push(turn);
                        }
                    }
                    if server.policy == Policy::Blocked {
                        known.policy = Policy::Blocked;
                    }
                    if !server.pins.is_empty() {
                        known.pins = if known.pins.is_empty() {
                            server.pins
                        } else {
                            known
                                .pins
                                .iter()
                                .filter(|p| server.pins.contains(p))
                                .cloned()
                                .collect()
                        };
                    }
                }
                None => self.servers.push(server),
            }
        }
    }

    /// The TURN servers the administrator gives calls on `origin`.
    pub fn turn_for(&self, origin: &str) -> &[PresetTurn] {
        self.servers
            .iter()
            .find(|s| s.origin == origin)
            .map_or(&[], |s| s.turn.as_slice())
    }

    /// The preset entry for an origin, as a trusted-server entry.
    pub fn preset(&self, origin: &str) -> Option<TrustedServer> {
        let s = self.servers.iter().find(|s| s.origin == origin)?;
        Some(TrustedServer {
            label: s.label.clone(),
            origin: s.origin.clone(),
            family: s.family.clone(),
            operator: s.operator.clone(),
            pins: s.pins.clone(),
            policy: s.policy,
            added_at: 0,
            added_by: AddedBy::Admin,
        })
    }
}

fn read(path: &Path) -> Result<Option<PolicyFile>, PolicyError> {
    let failed = |reason: String| PolicyError {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(e.to_string())),
    };
    let file: PolicyFile = serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
    if file.version != POLICY_VERSION {
        return Err(failed(format!(
            "format {} is not one this version of Runde understands ({POLICY_VERSION})",
            file.version
        )));
    }
    for server in &file.servers {
        check_turn(server).map_err(failed)?;
    }
    if let Some(source) = &file.update_source {
        check_update_source(source).map_err(failed)?;
    }
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runde-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn policies_combine_to_the_strictest() -> Result<(), PolicyError> {
        let a = write(
            "a.json",
            r#"{"version": 1, "onlyPresetServers": true, "servers": [
                {"label": "Schule", "origin": "wss://meet.schule.example:443",
                 "operator": {"name": "Schulträger"}, "pins": ["AAA=", "BBB="]}]}"#,
        );
        let b = write(
            "b.json",
            r#"{"version": 1, "allowRememberingPasswords": false, "servers": [
                {"label": "Schule", "origin": "wss://meet.schule.example:443", "pins": ["BBB="]},
                {"label": "Alt", "origin": "wss://old.example:443", "policy": "blocked"}]}"#,
        );
        let mut policy = AdminPolicy::default();
        for path in [&a, &b] {
            if let Some(file) = read(path)? {
                policy.add(path, file);
            }
        }
        assert!(policy.only_preset_servers && policy.forbid_remembering_passwords);
        assert!(!policy.lock_settings);
        let school = policy
            .preset("wss://meet.schule.example:443")
            .expect("preset");
        assert_eq!(
            school.pins,
            vec!["BBB=".to_owned()],
            "only keys both accept"
        );
        assert_eq!(school.added_by, AddedBy::Admin);
        assert_eq!(
            policy.preset("wss://old.example:443").map(|s| s.policy),
            Some(Policy::Blocked)
        );
        Ok(())
    }

    #[test]
    fn a_preset_server_brings_its_turn_servers_and_their_credential_stays_hidden()
    -> Result<(), PolicyError> {
        let path = write(
            "turn.json",
            r#"{"version": 1, "servers": [
                {"label": "Schule", "origin": "wss://meet.schule.example:443",
                 "turn": [{"urls": ["turns:turn.schule.example:443"],
                           "username": "runde", "credential": "geheim-123"}]}]}"#,
        );
        let mut policy = AdminPolicy::default();
        if let Some(file) = read(&path)? {
            policy.add(&path, file);
        }
        let turn = policy.turn_for("wss://meet.schule.example:443");
        assert_eq!(turn.len(), 1);
        assert_eq!(turn[0].credential.expose(), "geheim-123");
        assert!(policy.turn_for("wss://other.example:443").is_empty());
        let shown = format!("{policy:?}");
        let serialised = serde_json::to_string(&policy).expect("serialise");
        for text in [&shown, &serialised] {
            assert!(!text.contains("geheim-123"), "{text}");
        }
        assert!(serialised.contains("turns:turn.schule.example:443"));
        Ok(())
    }

    #[test]
    fn forbidden_updates_win_and_two_different_mirrors_forbid_them() -> Result<(), PolicyError> {
        let combine = |files: &[(&str, &str)]| -> Result<AdminPolicy, PolicyError> {
            let mut policy = AdminPolicy::default();
            for (name, text) in files {
                let path = write(name, text);
                if let Some(file) = read(&path)? {
                    policy.add(&path, file);
                }
            }
            Ok(policy)
        };
        let none = combine(&[("u-none.json", r#"{"version": 1}"#)])?;
        assert!(!none.forbid_updates && none.update_source.is_none());
        let mirror =
            r#"{"version": 1, "updateSource": "https://mirror.schule.example/runde/latest.json"}"#;
        let forbid = r#"{"version": 1, "updates": "forbidden"}"#;
        let allow = r#"{"version": 1, "updates": "allowed"}"#;
        for order in [
            [("u-f.json", forbid), ("u-a.json", allow)],
            [("u-a.json", allow), ("u-f.json", forbid)],
        ] {
            assert!(
                combine(&order)?.forbid_updates,
                "forbidden wins in any order"
            );
        }
        let mirrored = combine(&[("u-m.json", mirror), ("u-a.json", allow)])?;
        assert!(!mirrored.forbid_updates);
        assert_eq!(
            mirrored.update_source.as_deref(),
            Some("https://mirror.schule.example/runde/latest.json")
        );
        let same_twice = combine(&[("u-m.json", mirror), ("u-m2.json", mirror)])?;
        assert!(!same_twice.forbid_updates);
        let other = r#"{"version": 1, "updateSource": "https://other.example/latest.json"}"#;
        assert!(combine(&[("u-m.json", mirror), ("u-o.json", other)])?.forbid_updates);
        Ok(())
    }

    #[test]
    fn an_unusable_policy_is_an_error_not_ignored() {
        for (name, text) in [
            ("garbage.json", "{ nope"),
            ("future.json", r#"{"version": 9}"#),
            ("typo.json", r#"{"version": 1, "onlyPresetServer": true}"#),
            (
                "turn-scheme.json",
                r#"{"version": 1, "servers": [{"label": "A", "origin": "wss://a.example:443",
                    "turn": [{"urls": ["https://turn.a.example"], "username": "u",
                              "credential": "c"}]}]}"#,
            ),
            (
                "turn-no-url.json",
                r#"{"version": 1, "servers": [{"label": "A", "origin": "wss://a.example:443",
                    "turn": [{"urls": [], "username": "u", "credential": "c"}]}]}"#,
            ),
            ("updates-typo.json", r#"{"version": 1, "updates": "never"}"#),
            (
                "update-plain-http.json",
                r#"{"version": 1, "updateSource": "http://mirror.example/latest.json"}"#,
            ),
            (
                "update-credentials.json",
                r#"{"version": 1, "updateSource": "https://u:secret@mirror.example/latest.json"}"#,
            ),
            (
                "turn-no-credential.json",
                r#"{"version": 1, "servers": [{"label": "A", "origin": "wss://a.example:443",
                    "turn": [{"urls": ["turn:t.example"], "username": "u"}]}]}"#,
            ),
        ] {
            let path = write(name, text);
            assert!(read(&path).is_err(), "{name} must not be ignored");
        }
        assert!(matches!(
            read(Path::new("/nonexistent/runde/policy.json")),
            Ok(None)
        ));
    }
}
