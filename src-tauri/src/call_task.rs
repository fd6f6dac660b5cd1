//! The running call: one task owns the engine's `Call`, forwards its events to the window and
//! carries out the window's requests. The window talks to it only through [`RunningCall`].

use runde_call::devices::DeviceKind;
use runde_call::{Call, CallEvent, MediaSummary};
use tauri::ipc::Channel;
use tokio::sync::{mpsc, oneshot, watch};

use crate::video_server::TileSizes;

enum Request {
    MuteMicrophone(bool),
    /// Use another device (`None`: the system's default).
    Switch(DeviceKind, Option<String>),
    /// The push-to-talk key is held (`true`) or let go.
    PushToTalk(bool),
    CameraOff(bool),
    /// Everyone agreed on a new end-to-end passphrase.
    ChangePassphrase(
        runde_call::Secret,
        oneshot::Sender<Result<(), runde_call::UserError>>,
    ),
    Leave(oneshot::Sender<MediaSummary>),
}

/// A handle to the call task.
pub(crate) struct RunningCall {
    requests: mpsc::UnboundedSender<Request>,
}

impl RunningCall {
    /// Run `call`, sending each of its events to `events` until it ends; then `on_end` runs.
    /// The window's tiles (`tiles`) decide which size of each picture the call asks for.
    /// A change of the recording state is also shown as a system notification.
    pub(crate) fn start(
        app: tauri::AppHandle,
        call: Call,
        events: Channel<CallEvent>,
        tiles: watch::Receiver<TileSizes>,
        on_end: impl FnOnce() + Send + 'static,
    ) -> Self {
        let (requests, request_rx) = mpsc::unbounded_channel();
        tauri::async_runtime::spawn(async move {
            run(&app, call, events, request_rx, tiles).await;
            on_end();
        });
        Self { requests }
    }

    pub(crate) fn switch_device(&self, device: DeviceKind, id: Option<String>) {
        let _ = self.requests.send(Request::Switch(device, id));
    }

    /// Change the end-to-end passphrase; `Err` if the call is not end-to-end encrypted, the
    /// passphrase is too weak, or the call has ended.
    pub(crate) async fn change_passphrase(
        &self,
        passphrase: runde_call::Secret,
    ) -> Result<(), runde_call::UserError> {
        let (done, result) = oneshot::channel();
        let gone = || runde_call::UserError::E2eeUnavailable {
            detail: "the call has ended".into(),
        };
        self.requests
            .send(Request::ChangePassphrase(passphrase, done))
            .map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }

    pub(crate) fn push_to_talk(&self, held: bool) {
        let _ = self.requests.send(Request::PushToTalk(held));
    }

    /// Whether the call is still going.
    pub(crate) fn is_running(&self) -> bool {
        !self.requests.is_closed()
    }

    pub(crate) fn mute_microphone(&self, muted: bool) {
        let _ = self.requests.send(Request::MuteMicrophone(muted));
    }

    pub(crate) fn camera_off(&self, off: bool) {
        let _ = self.requests.send(Request::CameraOff(off));
    }

    /// Leave and wait until the call is closed.
    pub(crate) async fn leave(self) -> Option<MediaSummary> {
        let (done, summary) = oneshot::channel();
        self.requests.send(Request::Leave(done)).ok()?;
        summary.await.ok()
    }
}

async fn run(
    app: &tauri::AppHandle,
    mut call: Call,
    events: Channel<CallEvent>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut tiles: watch::Receiver<TileSizes>,
) {
    // Push to talk unmuted us: letting go mutes again (and only then).
    let mut talking = false;
    tiles.mark_changed();
    loop {
        tokio::select! {
            Ok(()) = tiles.changed() => {
                let sizes = participant_tiles(&tiles.borrow_and_update());
                call.set_tiles(sizes);
            }
            event = call.next_event() => {
                let Some(event) = event else { break };
                let ended = matches!(event, CallEvent::Ended { .. });
                if let CallEvent::Indicators { indicators, recording_change: Some(change) } = &event {
                    let lang = crate::notices::current_lang();
                    let notice = crate::notices::recording(*change, &indicators.recording, lang);
                    crate::notices::show(app, &notice);
                }
                if events.send(event).is_err() {
                    // The window is gone: nobody can see or hear this call any more.
                    tracing::info!("the window went away; leaving the call");
                    break;
                }
                if ended {
                    break;
                }
            }
            request = requests.recv() => match request {
                Some(Request::MuteMicrophone(muted)) => {
                    talking = false;
                    call.set_audio_muted(muted).await;
                }
                Some(Request::Switch(device, id)) => call.switch_device(device, id).await,
                Some(Request::ChangePassphrase(passphrase, done)) => {
                    let _ = done.send(call.change_passphrase(passphrase).await);
                }
                Some(Request::PushToTalk(true)) => {
                    if call.is_muted() && !talking {
                        talking = true;
                        call.set_audio_muted(false).await;
                    }
                }
                Some(Request::PushToTalk(false)) => {
                    if talking {
                        talking = false;
                        call.set_audio_muted(true).await;
                    }
                }
                Some(Request::CameraOff(off)) => call.set_video_off(off),
                Some(Request::Leave(done)) => {
                    let summary = call.leave().await;
                    let _ = events.send(CallEvent::Ended { reason: runde_call::EndReason::Left });
                    let _ = done.send(summary);
                    return;
                }
                None => break,
            },
        }
    }
    let summary = call.leave().await;
    tracing::info!(participants = summary.participants.len(), "call finished");
    // Close the request channel before anyone else waits on it.
    requests.close();
    while let Some(request) = requests.recv().await {
        if let Request::Leave(done) = request {
            let _ = done.send(summary.clone());
        }
    }
}

/// The others' tiles by participant (our own "self" tile and anything else left out).
fn participant_tiles(tiles: &TileSizes) -> std::collections::HashMap<u64, (u32, u32)> {
    tiles
        .iter()
        .filter_map(|(id, size)| Some((id.parse().ok()?, *size)))
        .collect()
}
