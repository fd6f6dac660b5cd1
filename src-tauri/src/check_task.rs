//! The running pre-join check: one task owns the engine's `DeviceCheck`, forwards its events to the
//! window and carries out the window's requests, like the call task.

use runde_call::check::{CheckEvent, DeviceCheck};
use runde_call::devices::DeviceKind;
use serde::Deserialize;
use tauri::ipc::Channel;
use tokio::sync::{mpsc, oneshot};

/// What the window asks of a running check.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum CheckAction {
    /// Turn the microphone on or off.
    Microphone { on: bool },
    /// Turn the camera on or off.
    Camera { on: bool },
    /// Use another device (`null`: the system's default).
    Switch {
        device: DeviceKind,
        id: Option<String>,
    },
    /// Play the speaker test sound.
    TestSound,
    /// Start or stop the echo test.
    Echo { on: bool },
}

enum Request {
    Act(CheckAction),
    Stop(oneshot::Sender<()>),
}

/// A handle to the check task.
pub(crate) struct RunningCheck {
    requests: mpsc::UnboundedSender<Request>,
}

impl RunningCheck {
    /// Run `check`, sending each of its events to `events` until it is stopped.
    pub(crate) fn start(check: DeviceCheck, events: Channel<CheckEvent>) -> Self {
        let (requests, request_rx) = mpsc::unbounded_channel();
        tauri::async_runtime::spawn(run(check, events, request_rx));
        Self { requests }
    }

    pub(crate) fn act(&self, action: CheckAction) {
        let _ = self.requests.send(Request::Act(action));
    }

    /// Stop and wait until every device is closed.
    pub(crate) async fn stop(self) {
        let (done, stopped) = oneshot::channel();
        if self.requests.send(Request::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}

async fn run(
    mut check: DeviceCheck,
    events: Channel<CheckEvent>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let done = loop {
        tokio::select! {
            event = check.next_event() => {
                let Some(event) = event else { break None };
                if events.send(event).is_err() {
                    tracing::info!("the window went away; stopping the device check");
                    break None;
                }
            }
            request = requests.recv() => match request {
                Some(Request::Act(action)) => match action {
                    CheckAction::Microphone { on } => check.set_microphone_on(on).await,
                    CheckAction::Camera { on } => check.set_camera_on(on),
                    CheckAction::Switch { device, id } => check.switch(device, id).await,
                    CheckAction::TestSound => check.play_test_sound(),
                    CheckAction::Echo { on } => check.set_echo(on),
                },
                Some(Request::Stop(done)) => break Some(done),
                None => break None,
            },
        }
    };
    check.stop().await;
    if let Some(done) = done {
        let _ = done.send(());
    }
}
