//! The commands the webview may call. Each is a short hand-over to `runde-call`; each must be
//! listed in `command_names.rs` and granted in `capabilities/`.

use runde_call::check::{CheckEvent, DeviceCheck};
use runde_call::devices::{DeviceKind, DeviceList};
use runde_call::settings::{ServerPolicy, Settings, SettingsView};
use runde_call::updates::UpdateState;
use runde_call::{
    AudioIn, AudioOut, CallEvent, JoinOptions, LinkReport, MediaChoice, Secret, TrustOptions,
    UserError, VideoIn, VideoOut,
};
use serde::Deserialize;
use tauri::State;
use tauri::ipc::Channel;

use crate::call_task::RunningCall;
use crate::check_task::{CheckAction, RunningCheck};
use crate::state::Shell;
use crate::video_server::{TileStats, VideoEndpoint};

/// Check a pasted link without contacting any server. The link is never logged: it may hold a
/// password, which `runde-call` refuses.
#[tauri::command]
pub(crate) fn check_link(link: String) -> Result<LinkReport, UserError> {
    tracing::debug!(len = link.len(), "checking a pasted link");
    let options = TrustOptions {
        store: runde_call::trust_dir(),
        accept_new_server: false,
        extra_policies: Vec::new(),
    };
    let result = runde_call::inspect_link_known(&link, &options);
    if let Err(e) = &result {
        // The code only: the error's data may hold parts of the link.
        tracing::debug!(code = e.code(), "link refused");
    }
    result
}

/// What the join form sends. The password travels in its own field and is wrapped into a
/// [`Secret`] at once; this type has no `Debug`, so it cannot be logged by accident.
#[derive(Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub(crate) struct JoinRequest {
    /// The link as pasted.
    pub link: String,
    /// The room password, if the user typed one.
    pub password: Option<String>,
    /// The name others see.
    pub display_name: String,
    /// The user reviewed this server at first contact and trusts it: pin its key.
    pub accept_new_server: bool,
    /// Remember the password in the system keyring once the server accepted it.
    pub remember_password: bool,
    /// Send our microphone.
    pub microphone: bool,
    /// Send our camera.
    pub camera: bool,
    /// End-to-end encrypt the call with the key from this passphrase (not the room password;
    /// empty or absent: no end-to-end encryption).
    pub e2ee_passphrase: Option<String>,
}

/// Join a room. Events of the call (joined, people, indicators, ended …) arrive on `events`.
/// A first-contact server answers `NewServer` with its review; a wrong password `WrongPassword`.
#[tauri::command]
pub(crate) async fn join(
    app: tauri::AppHandle,
    shell: State<'_, Shell>,
    request: JoinRequest,
    events: Channel<CallEvent>,
) -> Result<(), UserError> {
    let mut running = shell.call.lock().await;
    if running.as_ref().is_some_and(RunningCall::is_running) {
        return Err(UserError::AlreadyInCall);
    }
    // The check before the call gives its devices to the call.
    if let Some(check) = shell.check.lock().await.take() {
        check.stop().await;
    }
    let media = shell.media_choice(request.microphone, request.camera);
    let options = JoinOptions {
        link: request.link,
        password: request.password.map(Secret::new),
        display_name: request.display_name,
        trust: TrustOptions {
            store: runde_call::trust_dir(),
            accept_new_server: request.accept_new_server,
            extra_policies: Vec::new(),
        },
        media,
        remember_password: request.remember_password,
        e2ee: request
            .e2ee_passphrase
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        rejoin_for: runde_call::REJOIN_FOR,
        turn: Vec::new(),
    };
    tracing::info!("joining");
    match runde_call::join(options).await {
        Ok(mut call) => {
            // Push to talk, if the user chose it: the key is taken for this call only.
            let keys = settings_folder()
                .and_then(|folder| runde_call::settings::load(&folder))
                .ok()
                .and_then(|view| view.settings.push_to_talk);
            let mut armed = None;
            if let Some(keys) = keys {
                match crate::push_to_talk::arm(&app, &keys) {
                    Ok(shortcut) => {
                        armed = Some(shortcut);
                        call.announce(CallEvent::PushToTalk { keys });
                    }
                    Err(error) => call.announce(CallEvent::Warning { error }),
                }
            }
            let tiles = shell.video.tiles();
            let handle = app.clone();
            *running = Some(RunningCall::start(handle, call, events, tiles, move || {
                if let Some(shortcut) = armed {
                    crate::push_to_talk::disarm(&app, shortcut);
                }
            }));
            Ok(())
        }
        Err(failure) => {
            let error = failure.error.clone();
            tracing::info!(code = error.code(), "join failed");
            if let Some(retry) = failure.into_retry() {
                retry.cancel().await;
            }
            Err(error)
        }
    }
}

/// Leave the call (nothing happens when there is none).
#[tauri::command]
pub(crate) async fn leave(shell: State<'_, Shell>) -> Result<(), UserError> {
    let running = shell.call.lock().await.take();
    if let Some(call) = running {
        call.leave().await;
    }
    Ok(())
}

/// Mute or unmute our microphone.
#[tauri::command]
pub(crate) async fn set_microphone_muted(
    shell: State<'_, Shell>,
    muted: bool,
) -> Result<(), UserError> {
    if let Some(call) = shell.call.lock().await.as_ref() {
        call.mute_microphone(muted);
    }
    Ok(())
}

/// Turn our camera's picture off or on.
#[tauri::command]
pub(crate) async fn set_camera_off(shell: State<'_, Shell>, off: bool) -> Result<(), UserError> {
    if let Some(call) = shell.call.lock().await.as_ref() {
        call.camera_off(off);
    }
    Ok(())
}

/// Change the call's end-to-end passphrase (everyone still in the call agreed on a new one).
/// The passphrase is turned into a [`Secret`] at once and never stored.
#[tauri::command]
pub(crate) async fn change_passphrase(
    shell: State<'_, Shell>,
    passphrase: String,
) -> Result<(), UserError> {
    let passphrase = Secret::new(passphrase);
    match shell.call.lock().await.as_ref() {
        Some(call) => call.change_passphrase(passphrase).await,
        None => Err(UserError::E2eeUnavailable {
            detail: "there is no call".into(),
        }),
    }
}

/// Use another microphone, speaker or camera in the call (`null`: the system's default).
#[tauri::command]
pub(crate) async fn switch_device(
    shell: State<'_, Shell>,
    device: DeviceKind,
    id: Option<String>,
) -> Result<(), UserError> {
    if let Some(call) = shell.call.lock().await.as_ref() {
        call.switch_device(device, id);
    }
    Ok(())
}

/// Where the page gets video pictures (a loopback WebSocket with a per-launch key).
#[tauri::command]
pub(crate) fn video_endpoint(shell: State<'_, Shell>) -> Result<VideoEndpoint, UserError> {
    Ok(shell.video.endpoint())
}

/// Decoded, sent and drawn pictures per tile.
#[tauri::command]
pub(crate) fn video_stats(shell: State<'_, Shell>) -> Result<Vec<TileStats>, UserError> {
    Ok(shell.video.stats())
}

/// What the window asks for the check before a call.
#[derive(Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckRequest {
    /// Start with the microphone on.
    pub microphone: bool,
    /// Start with the camera on.
    pub camera: bool,
}

/// Start the check before a call (devices from the settings; no server involved). The
/// microphone and camera open only when on. Events arrive on `events`.
#[tauri::command]
pub(crate) async fn start_check(
    shell: State<'_, Shell>,
    request: CheckRequest,
    events: Channel<CheckEvent>,
) -> Result<(), UserError> {
    if shell
        .call
        .lock()
        .await
        .as_ref()
        .is_some_and(RunningCall::is_running)
    {
        return Err(UserError::AlreadyInCall);
    }
    let mut running = shell.check.lock().await;
    if let Some(check) = running.take() {
        check.stop().await;
    }
    let media = shell.media_choice(request.microphone, request.camera);
    let check = DeviceCheck::start(media).await?;
    *running = Some(RunningCheck::start(check, events));
    Ok(())
}

/// Change something in the running check (nothing happens when there is none).
#[tauri::command]
pub(crate) async fn check_action(
    shell: State<'_, Shell>,
    action: CheckAction,
) -> Result<(), UserError> {
    if let Some(check) = shell.check.lock().await.as_ref() {
        check.act(action);
    }
    Ok(())
}

/// End the check and close its devices.
#[tauri::command]
pub(crate) async fn stop_check(shell: State<'_, Shell>) -> Result<(), UserError> {
    if let Some(check) = shell.check.lock().await.take() {
        check.stop().await;
    }
    Ok(())
}

/// The microphones, speakers and cameras there are now.
#[tauri::command]
pub(crate) fn devices() -> Result<DeviceList, UserError> {
    Ok(runde_call::devices::list())
}

/// The text on the clipboard, read only when the user asks to paste a link. Never logged (a link
/// may carry a password, which `check_link` then refuses). `None` when the clipboard holds no text.
#[tauri::command]
pub(crate) fn clipboard_text() -> Result<Option<String>, UserError> {
    let text = arboard::Clipboard::new().and_then(|mut c| c.get_text());
    match text {
        Ok(text) => {
            let text = text.trim();
            // A conference link is one line; anything much longer is not one, and is not kept.
            Ok((!text.is_empty()).then(|| text.chars().take(4096).collect()))
        }
        Err(arboard::Error::ContentNotAvailable) => Ok(None),
        Err(e) => {
            tracing::debug!(error = %e, "the clipboard could not be read");
            Ok(None)
        }
    }
}

/// The link Runde was started with, once (the window shows it in the link field and checks it).
#[tauri::command]
pub(crate) fn startup_link(shell: State<'_, Shell>) -> Result<Option<String>, UserError> {
    Ok(shell.startup_link.lock().ok().and_then(|mut l| l.take()))
}

fn settings_folder() -> Result<std::path::PathBuf, UserError> {
    runde_call::trust_dir().ok_or_else(|| UserError::SettingsFailed {
        detail: "this system names no folder for settings".into(),
    })
}

/// The settings screen: the user's settings, trusted servers, what the policy enforces.
#[tauri::command]
pub(crate) fn settings() -> Result<SettingsView, UserError> {
    runde_call::settings::load(&settings_folder()?)
}

/// Save the user's settings (a push-to-talk key must name a key combination).
#[tauri::command]
pub(crate) fn save_settings(settings: Settings) -> Result<SettingsView, UserError> {
    if let Some(keys) = &settings.push_to_talk {
        crate::push_to_talk::parse(keys)?;
    }
    runde_call::settings::save(&settings_folder()?, settings)
}

/// Rename a trusted server or change how it is treated.
#[tauri::command]
pub(crate) fn change_server(
    origin: String,
    label: String,
    policy: ServerPolicy,
) -> Result<SettingsView, UserError> {
    runde_call::settings::change_server(&settings_folder()?, &origin, Some((label, policy)))
}

/// Remove a server from the list (the next join asks again).
#[tauri::command]
pub(crate) fn forget_server(origin: String) -> Result<SettingsView, UserError> {
    runde_call::settings::change_server(&settings_folder()?, &origin, None)
}

/// What the settings screen shows about updates (computed in Rust: off, forbidden by the
/// administrator, no update source in this build, or how the last check went).
#[tauri::command]
pub(crate) fn update_status(
    app: tauri::AppHandle,
    shell: State<'_, Shell>,
) -> Result<UpdateState, UserError> {
    Ok(shell.updates.status(&app))
}

/// Look for a newer Runde now. Makes no request unless the user turned update checks on and the
/// administrator's policy allows them; each state on the way arrives on `events` too.
#[tauri::command]
pub(crate) async fn check_for_updates(
    app: tauri::AppHandle,
    shell: State<'_, Shell>,
    events: Channel<UpdateState>,
) -> Result<UpdateState, UserError> {
    Ok(shell.updates.check(&app, Some(&events)).await)
}

/// Download the version the last check found and verify its signature (then install it, or
/// tell the user to update with the system's package manager).
#[tauri::command]
pub(crate) async fn download_update(
    app: tauri::AppHandle,
    shell: State<'_, Shell>,
    events: Channel<UpdateState>,
) -> Result<UpdateState, UserError> {
    Ok(shell.updates.download(&app, Some(&events)).await)
}

impl Shell {
    /// The speaker, unless there is no sound device at all (then the call is silent, not refused).
    fn speaker(&self, id: Option<String>) -> AudioOut {
        if self.no_speaker {
            AudioOut::Off
        } else {
            AudioOut::Speaker(id)
        }
    }

    /// What a call or check uses: the devices chosen in the settings (the system's defaults when
    /// none, or when the settings cannot be read: that is shown on the settings screen, it does
    /// not stop a call). Every device there is can be turned on later; the ones not chosen for
    /// the start stay closed until then (privacy by default). A device the user chose must open,
    /// or the join fails with a clear error.
    fn media_choice(&self, microphone: bool, camera: bool) -> MediaChoice {
        let chosen = settings_folder()
            .and_then(|folder| runde_call::settings::load(&folder))
            .map(|view| view.settings.devices)
            .unwrap_or_default();
        let present = runde_call::devices::list();
        let audio_in = match chosen.microphone {
            None if self.synthetic_devices => AudioIn::Tone { hz: SYNTHETIC_HZ },
            id if microphone || !present.microphones.is_empty() => AudioIn::Microphone(id),
            _ => AudioIn::Off,
        };
        let video_in = match chosen.camera {
            None if self.synthetic_devices => VideoIn::Pattern {
                width: 640,
                height: 360,
                fps: 30,
            },
            id if camera || !present.cameras.is_empty() => VideoIn::Camera(id),
            _ => VideoIn::Off,
        };
        MediaChoice {
            audio_in,
            video_in,
            audio_out: self.speaker(chosen.speaker),
            video_out: VideoOut::Screen(self.screen.clone()),
            self_view: Some(self.screen.clone()),
            start_muted: !microphone,
            start_video_off: !camera,
            send_only: false,
            single_layer: false,
        }
    }
}

/// The synthetic microphone's tone (see [`Shell::synthetic_devices`]).
const SYNTHETIC_HZ: f64 = 440.0;
