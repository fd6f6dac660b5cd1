//! Looking for a newer Runde: whether it may happen, from where, which version counts as newer,
//! and what the user is shown at each step. Pure decisions; the shell makes the requests
//! (Tauri's updater: a `latest.json`-style manifest, payloads signed with minisign).
//!
//! The update check is the only request Runde makes on its own, so it happens only when the
//! user turned it on, the administrator's policy does not forbid it, and this build (or the
//! policy) names an update source. Anything else is a state the settings screen shows.

use std::path::Path;

use runde_trust::AdminPolicy;
use serde::Serialize;

/// Where this build looks for updates and the key its releases are signed with, as built in.
/// Either may be empty: then this build has no update source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildSource<'a> {
    /// The manifest's URL.
    pub endpoint: &'a str,
    /// The release public key (Tauri's form: the base64 of a minisign public key file).
    pub pubkey: &'a str,
}

/// Where an allowed check goes, and the only key whose signatures are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSource {
    /// The manifest's URL: the administrator's mirror, or the build's own.
    pub endpoint: String,
    /// Always the key built into Runde: no file can add a trusted key.
    pub pubkey: String,
}

/// What the settings screen shows about updates. The UI renders it; it never works it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UpdateState {
    /// The administrator's policy cannot be read: no check (failing closed).
    PolicyUnreadable {
        /// Why.
        detail: String,
    },
    /// The administrator's policy forbids update checks.
    Forbidden,
    /// This build names no update source (and the policy names no mirror).
    NoSource,
    /// The user has not turned update checks on (the default).
    Off,
    /// On, and not checked since Runde started.
    NotChecked,
    /// Asking the update source now.
    Checking,
    /// No newer version.
    UpToDate {
        /// This Runde's version.
        current: String,
    },
    /// A newer version is offered (not yet downloaded or verified).
    Available {
        /// The version offered.
        version: String,
        /// This Runde's version.
        current: String,
    },
    /// Downloading it and checking its signature.
    Downloading {
        /// The version offered.
        version: String,
    },
    /// Downloaded and its signature verified; this Runde came from the system's packages, so the
    /// download is discarded and the user updates with the package manager.
    VerifiedUsePackageManager {
        /// The verified version.
        version: String,
    },
    /// Downloaded, verified and installed; it is used from the next start.
    Installed {
        /// The installed version.
        version: String,
    },
    /// The last step failed; nothing was installed or kept.
    Failed {
        /// Why.
        error: UpdateError,
    },
}

/// Why an update step failed, as a code the UI translates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "code", rename_all_fields = "camelCase")]
pub enum UpdateError {
    /// The update source could not be reached or answered with an error.
    Unreachable {
        /// What happened.
        detail: String,
    },
    /// The source's answer is not an update manifest.
    BadManifest {
        /// What is wrong with it.
        detail: String,
    },
    /// The newer version has no download for this system.
    NotForThisSystem,
    /// The download's signature is missing, broken, or not made with Runde's release key.
    BadSignature {
        /// What the check said.
        detail: String,
    },
    /// The source is not HTTPS (only debug builds may use plain HTTP, for tests).
    InsecureSource,
    /// The verified update could not be installed.
    InstallFailed {
        /// What happened.
        detail: String,
    },
    /// There is nothing to download: check first.
    NothingToDownload,
}

/// How a verified update reaches this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallWay {
    /// The updater replaces this Runde (Windows, macOS, an AppImage).
    Replace,
    /// The system's package manager owns this Runde (`.deb`, `.rpm`, Flatpak): its files are
    /// never overwritten; the user is told to update with the package manager.
    PackageManager,
}

/// Whether a check may happen, and from where; otherwise the state that says why not. A policy
/// that forbids updates, or cannot be read, wins over everything, so the settings screen shows
/// the reason even while the user's switch is off.
pub fn gate(
    policy: Result<&AdminPolicy, String>,
    opted_in: bool,
    build: BuildSource<'_>,
) -> Result<UpdateSource, UpdateState> {
    let policy = policy.map_err(|detail| UpdateState::PolicyUnreadable { detail })?;
    if policy.forbid_updates {
        return Err(UpdateState::Forbidden);
    }
    let endpoint = policy
        .update_source
        .as_deref()
        .unwrap_or(build.endpoint)
        .trim();
    let pubkey = build.pubkey.trim();
    if endpoint.is_empty() || pubkey.is_empty() {
        return Err(UpdateState::NoSource);
    }
    if !opted_in {
        return Err(UpdateState::Off);
    }
    Ok(UpdateSource {
        endpoint: endpoint.to_owned(),
        pubkey: pubkey.to_owned(),
    })
}

/// [`gate`] for this computer now: the administrator's policy as it is, and whether the user
/// turned update checks on in the settings in `folder` (settings that cannot be read, or no
/// folder, count as off).
pub fn gate_now(
    folder: Option<&Path>,
    build: BuildSource<'_>,
) -> Result<UpdateSource, UpdateState> {
    let policy = crate::load_policy(&[]).map_err(|e| e.to_string());
    // Read without side effects: a broken settings file is left for the settings screen to
    // set aside and explain.
    let opted_in = folder
        .and_then(runde_trust::settings::peek)
        .is_some_and(|settings| settings.privacy.look_for_updates);
    gate(policy.as_ref().map_err(Clone::clone), opted_in, build)
}

/// Whether `offered` is an update for `current`: strictly newer by semantic versioning, and a
/// pre-release only for someone already running a pre-release. Unparseable versions never are.
pub fn is_newer(current: &str, offered: &str) -> bool {
    let parse = |v: &str| semver::Version::parse(v.trim().trim_start_matches('v')).ok();
    match (parse(current), parse(offered)) {
        (Some(current), Some(offered)) => {
            offered > current && (offered.pre.is_empty() || !current.pre.is_empty())
        }
        _ => false,
    }
}

/// The state after a check: `Some(version)` when a newer one is offered.
pub fn after_check(current: &str, offered: Option<String>) -> UpdateState {
    match offered {
        Some(version) => UpdateState::Available {
            version,
            current: current.to_owned(),
        },
        None => UpdateState::UpToDate {
            current: current.to_owned(),
        },
    }
}

/// The state after a download whose signature was verified.
pub fn after_verified(version: String, way: InstallWay) -> UpdateState {
    match way {
        InstallWay::Replace => UpdateState::Installed { version },
        InstallWay::PackageManager => UpdateState::VerifiedUsePackageManager { version },
    }
}

impl UpdateState {
    /// Whether a check or download is running (a second one is not started meanwhile).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Checking | Self::Downloading { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: BuildSource<'static> = BuildSource {
        endpoint: "https://releases.runde.example/latest.json",
        pubkey: "RWQ-key",
    };

    #[test]
    fn versions_compare_by_semver_and_pre_releases_go_only_to_pre_releases() {
        assert!(is_newer("0.1.0", "0.2.0"));
        assert!(is_newer("0.1.0", "v0.1.1"));
        assert!(is_newer("0.9.0", "0.10.0"), "numerically, not as text");
        assert!(!is_newer("0.2.0", "0.2.0"));
        assert!(!is_newer("0.2.0", "0.1.9"), "never a downgrade");
        assert!(!is_newer("0.1.0", "0.2.0-beta.1"));
        assert!(is_newer("0.2.0-beta.1", "0.2.0-beta.2"));
        assert!(is_newer("0.2.0-beta.2", "0.2.0"));
        assert!(!is_newer("0.1.0", "latest"));
        assert!(!is_newer("0.1.0", ""));
    }

    #[test]
    fn the_policy_wins_then_the_source_then_the_users_choice() {
        let open = AdminPolicy::default();
        let forbidden = AdminPolicy {
            forbid_updates: true,
            ..AdminPolicy::default()
        };
        assert_eq!(
            gate(Err("broken".into()), true, BUILD),
            Err(UpdateState::PolicyUnreadable {
                detail: "broken".into()
            })
        );
        assert_eq!(
            gate(Ok(&forbidden), true, BUILD),
            Err(UpdateState::Forbidden)
        );
        assert_eq!(
            gate(Ok(&forbidden), false, BUILD),
            Err(UpdateState::Forbidden)
        );
        let no_key = BuildSource {
            pubkey: " ",
            ..BUILD
        };
        assert_eq!(gate(Ok(&open), true, no_key), Err(UpdateState::NoSource));
        let no_endpoint = BuildSource {
            endpoint: "",
            ..BUILD
        };
        assert_eq!(
            gate(Ok(&open), true, no_endpoint),
            Err(UpdateState::NoSource)
        );
        assert_eq!(gate(Ok(&open), false, BUILD), Err(UpdateState::Off));
        assert_eq!(
            gate(Ok(&open), true, BUILD),
            Ok(UpdateSource {
                endpoint: BUILD.endpoint.into(),
                pubkey: BUILD.pubkey.into()
            })
        );
    }

    #[test]
    fn a_mirror_replaces_the_endpoint_but_never_the_key() {
        let mirrored = AdminPolicy {
            update_source: Some("https://mirror.schule.example/runde/latest.json".into()),
            ..AdminPolicy::default()
        };
        let source = gate(Ok(&mirrored), true, BUILD);
        assert_eq!(
            source,
            Ok(UpdateSource {
                endpoint: "https://mirror.schule.example/runde/latest.json".into(),
                pubkey: BUILD.pubkey.into()
            })
        );
        // A mirror gives a build without a release key no source: nothing could be verified.
        let no_key = BuildSource {
            endpoint: "",
            pubkey: "",
        };
        assert_eq!(
            gate(Ok(&mirrored), true, no_key),
            Err(UpdateState::NoSource)
        );
    }

    #[test]
    fn each_step_says_what_happened() {
        assert_eq!(
            after_check("0.1.0", None),
            UpdateState::UpToDate {
                current: "0.1.0".into()
            }
        );
        assert_eq!(
            after_check("0.1.0", Some("0.2.0".into())),
            UpdateState::Available {
                version: "0.2.0".into(),
                current: "0.1.0".into()
            }
        );
        assert_eq!(
            after_verified("0.2.0".into(), InstallWay::PackageManager),
            UpdateState::VerifiedUsePackageManager {
                version: "0.2.0".into()
            }
        );
        assert_eq!(
            after_verified("0.2.0".into(), InstallWay::Replace),
            UpdateState::Installed {
                version: "0.2.0".into()
            }
        );
        assert!(UpdateState::Checking.is_busy());
        assert!(!UpdateState::NotChecked.is_busy());
        let failed = UpdateState::Failed {
            error: UpdateError::BadSignature {
                detail: "wrong key".into(),
            },
        };
        let json = serde_json::to_value(&failed).expect("serialise");
        assert_eq!(json["state"], "failed");
        assert_eq!(json["error"]["code"], "BadSignature");
    }
}
