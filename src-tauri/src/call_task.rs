//! The running call: one task owns the engine's `Call`, forwards its events to the window and
//! carries out the window's requests. The window talks to it only through [`RunningCall`].

use runde_call::devices::DeviceKind;
use runde_call::{Call, CallEvent, MediaSummary};
use tauri::ipc::Channel;
use tokio::sync::{mpsc, oneshot, watch};

use crate::video_server::TileSizes;

/// A handle to the call task.
pub(crate) struct RunningCall {
    /// The user's requests, carried out by the call between its events.
    controls: runde_call::CallControls,
    leave: mpsc::UnboundedSender<oneshot::Sender<MediaSummary>>,
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
        let (leave, leave_rx) = mpsc::unbounded_channel();
        let controls = call.controls();
        // The tiles go to the call from a task of their own: the call task waits only for the
        // call's events (and leaving), so that no event is dropped while it is being handled.
        let tile_task = tauri::async_runtime::spawn(follow_tiles(tiles, controls.clone()));
        tauri::async_runtime::spawn(async move {
            run(&app, call, events, leave_rx).await;
            tile_task.abort();
            on_end();
        });
        Self { controls, leave }
    }

    pub(crate) fn switch_device(&self, device: DeviceKind, id: Option<String>) {
        self.controls.switch_device(device, id);
    }

    /// Change the end-to-end passphrase; `Err` if the call is not end-to-end encrypted, the
    /// passphrase is too weak, or the call has ended.
    pub(crate) async fn change_passphrase(
        &self,
        passphrase: runde_call::Secret,
    ) -> Result<(), runde_call::UserError> {
        self.controls.change_passphrase(passphrase).await
    }

    pub(crate) fn push_to_talk(&self, held: bool) {
        self.controls.push_to_talk(held);
    }

    /// Whether the call is still going.
    pub(crate) fn is_running(&self) -> bool {
        !self.leave.is_closed()
    }

    pub(crate) fn mute_microphone(&self, muted: bool) {
        self.controls.mute_microphone(muted);
    }

    pub(crate) fn camera_off(&self, off: bool) {
        self.controls.set_video_off(off);
    }

    /// Leave and wait until the call is closed.
    pub(crate) async fn leave(self) -> Option<MediaSummary> {
        let (done, summary) = oneshot::channel();
        self.leave.send(done).ok()?;
        summary.await.ok()
    }
}

/// Tell the call the window's tiles, now and whenever they change.
async fn follow_tiles(mut tiles: watch::Receiver<TileSizes>, controls: runde_call::CallControls) {
    loop {
        let sizes = participant_tiles(&tiles.borrow_and_update());
        controls.set_tiles(sizes);
        if tiles.changed().await.is_err() {
            return;
        }
    }
}

async fn run(
    app: &tauri::AppHandle,
    mut call: Call,
    events: Channel<CallEvent>,
    mut leave: mpsc::UnboundedReceiver<oneshot::Sender<MediaSummary>>,
) {
    loop {
        tokio::select! {
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
            // Leaving drops an event being handled: the call closes everything anyway.
            request = leave.recv() => match request {
                Some(done) => {
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
    // Close the leave channel before anyone else waits on it.
    leave.close();
    while let Some(done) = leave.recv().await {
        let _ = done.send(summary.clone());
    }
}

/// The others' tiles by participant (our own "self" tile and anything else left out).
fn participant_tiles(tiles: &TileSizes) -> std::collections::HashMap<u64, (u32, u32)> {
    tiles
        .iter()
        .filter_map(|(id, size)| Some((id.parse().ok()?, *size)))
        .collect()
}
