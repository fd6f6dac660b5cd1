//! Looking for updates through Tauri's updater (`tauri-plugin-updater`: a `latest.json`-style
//! manifest, payloads signed with minisign). Whether a check may happen and what the user is
//! shown is decided in `runde_call::updates`; this module only makes the requests.
//!
//! The updater is built at run time, for each check, and only when that decision allows it: the
//! plugin registered at start holds configuration and makes no request of its own, and the
//! webview is granted none of its commands.

use std::sync::Mutex;
use std::time::Duration;

use runde_call::updates::{self, BuildSource, InstallWay, UpdateError, UpdateSource, UpdateState};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};

/// How long one request to the update source may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The update check's progress while Runde runs.
pub(crate) struct Updates {
    state: Mutex<UpdateState>,
    /// The newer version found by the last check, until it is downloaded.
    offered: Mutex<Option<Update>>,
}

impl Updates {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(UpdateState::NotChecked),
            offered: Mutex::new(None),
        }
    }

    /// What the settings screen shows now: why no check may happen, or how the last one went.
    pub(crate) fn status(&self, app: &AppHandle) -> UpdateState {
        match gate(app) {
            Err(state) => state,
            Ok(_) => self.current(),
        }
    }

    fn current(&self) -> UpdateState {
        self.state
            .lock()
            .map_or(UpdateState::NotChecked, |s| s.clone())
    }

    /// Move to `next` unless a check or download is running; `false` when one is.
    fn begin(&self, next: UpdateState) -> bool {
        match self.state.lock() {
            Ok(mut state) if !state.is_busy() => {
                *state = next;
                true
            }
            _ => false,
        }
    }

    fn finish(&self, state: UpdateState, events: Option<&Channel<UpdateState>>) -> UpdateState {
        if let Ok(mut slot) = self.state.lock() {
            *slot = state.clone();
        }
        if let Some(events) = events {
            let _ = events.send(state.clone());
        }
        state
    }

    /// Ask the update source for a newer version, if the user and the policy allow it.
    pub(crate) async fn check(
        &self,
        app: &AppHandle,
        events: Option<&Channel<UpdateState>>,
    ) -> UpdateState {
        let source = match gate(app) {
            Ok(source) => source,
            Err(state) => return state,
        };
        if !self.begin(UpdateState::Checking) {
            return self.current();
        }
        if let Some(events) = events {
            let _ = events.send(UpdateState::Checking);
        }
        // Without a query: whatever a mirror's URL carries there stays out of the log.
        let shown = source.endpoint.split(['?', '#']).next().unwrap_or_default();
        tracing::info!(endpoint = shown, "looking for updates");
        let current = app.package_info().version.to_string();
        let found = match updater(app, &source) {
            Ok(updater) => updater.check().await.map_err(failure),
            Err(error) => Err(error),
        };
        let state = match found {
            Ok(offered) => {
                let version = offered.as_ref().map(|u| u.version.clone());
                if let Ok(mut slot) = self.offered.lock() {
                    *slot = offered;
                }
                updates::after_check(&current, version)
            }
            Err(error) => UpdateState::Failed { error },
        };
        tracing::info!(state = ?state, "update check done");
        self.finish(state, events)
    }

    /// Download the offered version and verify its signature; then install it, or, where the
    /// system's package manager owns Runde, discard it and say so. A download whose signature
    /// does not verify is discarded: nothing is installed or kept.
    pub(crate) async fn download(
        &self,
        app: &AppHandle,
        events: Option<&Channel<UpdateState>>,
    ) -> UpdateState {
        if let Err(state) = gate(app) {
            return state;
        }
        let offered = self.offered.lock().ok().and_then(|o| o.clone());
        let Some(update) = offered else {
            if self.current().is_busy() {
                return self.current();
            }
            let error = UpdateError::NothingToDownload;
            return self.finish(UpdateState::Failed { error }, events);
        };
        let downloading = UpdateState::Downloading {
            version: update.version.clone(),
        };
        if !self.begin(downloading.clone()) {
            return self.current();
        }
        // Taken now: whatever the outcome, this download is not offered again without a check.
        if let Ok(mut offered) = self.offered.lock() {
            offered.take();
        }
        if let Some(events) = events {
            let _ = events.send(downloading);
        }
        let state = match update.download(|_, _| {}, || {}).await {
            Ok(bytes) => install(&update, bytes, install_way(app)),
            Err(e) => UpdateState::Failed { error: failure(e) },
        };
        tracing::info!(state = ?state, "update download done");
        self.finish(state, events)
    }
}

/// Install the verified `bytes` where the updater may replace Runde; elsewhere only report.
fn install(update: &Update, bytes: Vec<u8>, way: InstallWay) -> UpdateState {
    let version = update.version.clone();
    if way == InstallWay::Replace
        && let Err(e) = update.install(bytes)
    {
        let error = UpdateError::InstallFailed {
            detail: e.to_string(),
        };
        return UpdateState::Failed { error };
    }
    updates::after_verified(version, way)
}

/// Linux packages (`.deb`, `.rpm`, Flatpak) belong to the system's package manager, and a Runde
/// run from its build folder to nobody: only an AppImage is replaced in place there.
fn install_way(app: &AppHandle) -> InstallWay {
    if cfg!(target_os = "linux") && app.env().appimage.is_none() {
        InstallWay::PackageManager
    } else {
        InstallWay::Replace
    }
}

/// Whether a check may happen now (see `runde_call::updates::gate`).
fn gate(app: &AppHandle) -> Result<UpdateSource, UpdateState> {
    let (endpoint, pubkey) = build_source(app);
    let build = BuildSource {
        endpoint: &endpoint,
        pubkey: &pubkey,
    };
    updates::gate_now(runde_call::trust_dir().as_deref(), build)
}

/// The update source built into Runde: `plugins.updater` in `tauri.conf.json`, where the
/// release workflow puts the release key and manifest URL (empty in the repository: such a
/// build has no update source).
fn build_source(app: &AppHandle) -> (String, String) {
    if let Some(source) = debug_source() {
        return source;
    }
    let config = app.config().plugins.0.get("updater");
    let text = |value: Option<&serde_json::Value>| {
        value
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let endpoint = text(
        config
            .and_then(|c| c.get("endpoints"))
            .and_then(|e| e.get(0)),
    );
    let pubkey = text(config.and_then(|c| c.get("pubkey")));
    (endpoint, pubkey)
}

/// For the tests of the real app, which sign releases with a key they make themselves: in debug
/// builds only, `RUNDE_DEBUG_UPDATE_ENDPOINT` and `RUNDE_DEBUG_UPDATE_PUBKEY` replace the build's
/// source. A release build never reads them, so nothing outside the build can add a trusted key.
fn debug_source() -> Option<(String, String)> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let endpoint = std::env::var("RUNDE_DEBUG_UPDATE_ENDPOINT").ok()?;
    let pubkey = std::env::var("RUNDE_DEBUG_UPDATE_PUBKEY").ok()?;
    Some((endpoint, pubkey))
}

/// The updater for one check, built only now that the check is allowed. It asks as "Runde"
/// (no version, no system in the request; the manifest lists every system's download).
fn updater(
    app: &AppHandle,
    source: &UpdateSource,
) -> Result<tauri_plugin_updater::Updater, UpdateError> {
    let endpoint = source
        .endpoint
        .parse::<tauri::Url>()
        .map_err(|e| UpdateError::BadManifest {
            detail: format!("the update source is not a URL: {e}"),
        })?;
    app.updater_builder()
        .endpoints(vec![endpoint])
        .map_err(failure)?
        .pubkey(source.pubkey.clone())
        .timeout(REQUEST_TIMEOUT)
        .version_comparator(|current, release| {
            updates::is_newer(&current.to_string(), &release.version.to_string())
        })
        .configure_client(|client| client.user_agent("Runde"))
        .build()
        .map_err(failure)
}

/// What went wrong, as a code the UI translates.
fn failure(e: tauri_plugin_updater::Error) -> UpdateError {
    use tauri_plugin_updater::Error as E;
    match e {
        // Without the URL: the settings say where updates come from, and a log needs no more.
        E::Reqwest(e) => UpdateError::Unreachable {
            detail: e.without_url().to_string(),
        },
        E::Network(_) => UpdateError::Unreachable {
            detail: e.to_string(),
        },
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) => UpdateError::BadSignature {
            detail: e.to_string(),
        },
        E::TargetNotFound(_) | E::TargetsNotFound(_) => UpdateError::NotForThisSystem,
        E::InsecureTransportProtocol => UpdateError::InsecureSource,
        E::Serialization(_)
        | E::ReleaseNotFound
        | E::Semver(_)
        | E::UrlParse(_)
        | E::EmptyEndpoints => UpdateError::BadManifest {
            detail: e.to_string(),
        },
        _ => UpdateError::InstallFailed {
            detail: e.to_string(),
        },
    }
}

/// At start, when the user turned update checks on and the policy allows them: one check.
pub(crate) fn check_at_start(app: &AppHandle) {
    if gate(app).is_err() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(shell) = app.try_state::<crate::state::Shell>() {
            shell.updates.check(&app, None).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri_plugin_updater::Error as E;

    #[test]
    fn the_updaters_errors_become_codes_the_user_can_read() {
        assert_eq!(
            failure(E::TargetsNotFound(vec!["linux-x86_64".into()])),
            UpdateError::NotForThisSystem
        );
        assert_eq!(
            failure(E::InsecureTransportProtocol),
            UpdateError::InsecureSource
        );
        assert!(matches!(
            failure(E::ReleaseNotFound),
            UpdateError::BadManifest { .. }
        ));
        assert!(matches!(
            failure(E::Network("status 500".into())),
            UpdateError::Unreachable { .. }
        ));
        assert!(matches!(
            failure(E::SignatureUtf8("bm90IGEgc2ln".into())),
            UpdateError::BadSignature { .. }
        ));
        assert!(matches!(
            failure(E::BinaryNotFoundInArchive),
            UpdateError::InstallFailed { .. }
        ));
    }
}
