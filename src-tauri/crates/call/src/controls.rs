//! What the user asks of a running call (mute, push to talk, another device, the picture off, the
//! tiles' sizes, a new passphrase), carried out by the call between its events.
//!
//! Why a channel and not methods called beside [`Call::next_event`](crate::Call::next_event):
//! the call handles each event to its end, and some handling waits (an answer to the server's
//! offer waits for our candidates). A shell that waits for the next event in a `select!` beside
//! its own inputs drops that future whenever an input comes first — mid-handling, so the event is
//! lost halfway (a subscription never answered, a media path never reported up). With
//! [`CallControls`] the shell only waits for events; its inputs go into the call's own queue and
//! are carried out after the event in hand.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::devices::DeviceKind;
use crate::{Secret, UserError};

/// One request for the running call.
pub(crate) enum Control {
    /// Mute or unmute the microphone (this also ends push to talk).
    MuteMicrophone(bool),
    /// The push-to-talk key is held (`true`: unmuted while held, if muted) or let go.
    PushToTalk(bool),
    /// Use another device (`None`: the system's default).
    SwitchDevice(DeviceKind, Option<String>),
    /// Turn our picture off or on.
    VideoOff(bool),
    /// The tiles the others' pictures are shown in, by participant, in device pixels.
    Tiles(HashMap<u64, (u32, u32)>),
    /// Everyone agreed on a new end-to-end passphrase; this is its key (derived beside the call:
    /// Argon2id takes a moment, and the call's events go on meanwhile). The outcome goes back.
    ChangeKey(runde_e2ee::CallKey, oneshot::Sender<Result<(), UserError>>),
}

/// A handle to a running call's requests: cheap to clone, usable from any task. Requests to a call
/// that has ended are dropped (a passphrase change then answers that the call has ended).
#[derive(Clone)]
pub struct CallControls {
    requests: mpsc::UnboundedSender<Control>,
    /// The room's identity a call key is derived with; `None` when the call is not end-to-end
    /// encrypted.
    key_identity: Option<String>,
}

impl CallControls {
    pub(crate) fn new(
        requests: mpsc::UnboundedSender<Control>,
        key_identity: Option<String>,
    ) -> Self {
        Self {
            requests,
            key_identity,
        }
    }

    fn send(&self, control: Control) {
        let _ = self.requests.send(control);
    }

    /// Mute or unmute our sound; the outcome comes as a `Sending` event.
    pub fn mute_microphone(&self, muted: bool) {
        self.send(Control::MuteMicrophone(muted));
    }

    /// The push-to-talk key is held (we are heard while it is, if we were muted) or let go (muted
    /// again, only if holding it unmuted us).
    pub fn push_to_talk(&self, held: bool) {
        self.send(Control::PushToTalk(held));
    }

    /// Use another microphone, speaker or camera (`None`: the default); the outcome comes as a
    /// `DeviceChanged` event or a warning.
    pub fn switch_device(&self, device: DeviceKind, id: Option<String>) {
        self.send(Control::SwitchDevice(device, id));
    }

    /// Turn our picture off or on; the outcome comes as a `Sending` event.
    pub fn set_video_off(&self, off: bool) {
        self.send(Control::VideoOff(off));
    }

    /// The tiles the others' pictures are shown in now (device pixels); each picture is asked of
    /// the server in the smallest layer that fills its tile.
    pub fn set_tiles(&self, tiles: HashMap<u64, (u32, u32)>) {
        self.send(Control::Tiles(tiles));
    }

    /// Change the end-to-end passphrase (everyone still here agreed on a new one, e.g. after
    /// someone left); `Err` if the call is not end-to-end encrypted, the passphrase does not make
    /// a key, or the call has ended. The key is derived here, off the call (Argon2id takes a
    /// moment and 64 MiB), and handed to it; the new safety code comes as an `EndToEnd` event.
    pub async fn change_passphrase(&self, passphrase: Secret) -> Result<(), UserError> {
        let unavailable = |detail: String| UserError::E2eeUnavailable { detail };
        let Some(identity) = self.key_identity.clone() else {
            return Err(unavailable("this call is not end-to-end encrypted".into()));
        };
        let key = tokio::task::spawn_blocking(move || {
            runde_e2ee::CallKey::derive(passphrase.expose(), &identity)
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(|e| unavailable(e.to_string()))?;
        let (done, outcome) = oneshot::channel();
        let ended = || unavailable("the call has ended".into());
        self.requests
            .send(Control::ChangeKey(key, done))
            .map_err(|_| ended())?;
        outcome.await.map_err(|_| ended())?
    }
}
