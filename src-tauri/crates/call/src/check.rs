//! The check before a call, with no server: choose devices, see the camera, watch the
//! microphone's level, hear a test sound, and hear and see yourself through the whole engine.
//!
//! The echo test is the call's own media path end to end: microphone → echo canceller, noise
//! suppression, gain → Opus → RTP → SRTP over a real WebRTC connection between two peers on
//! 127.0.0.1 → jitter buffer → Opus decoder → mix → speaker; the camera likewise through VP8 to
//! the screen. Nothing leaves the computer: both peers bind to loopback and offer only loopback
//! candidates.
//!
//! Privacy by default holds here too: the microphone and camera are closed until the user turns
//! them on.

use std::net::SocketAddr;
use std::sync::Arc;

use runde_media::audio::cue::Cue;
use runde_media::transport::{self, LinkEvent, LinkOptions, LinkState, PeerLink};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::UserError;
use crate::devices::DeviceKind;
use crate::media::{
    AudioDevices, AudioIn, AudioOut, DeviceReport, DeviceRole, Engine, EngineReport, FeedTrack,
    MediaChoice, SendOptions, Sender, Sources,
};
use crate::session::{SendState, device_event, next_link, next_report};

/// The tile that shows our picture after its round trip through the engine (the preview of
/// what others will see). Our picture straight from the camera is [`crate::SELF_VIEW`].
pub const ECHO_VIEW: &str = "0";
const ECHO_FEED: u64 = 0;

/// The echo test's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EchoState {
    /// Not running.
    Off,
    /// Connecting the engine's two ends.
    Starting,
    /// Running: media came back through the loop; what the microphone hears comes out of the
    /// speaker (and the camera's picture onto the echo tile).
    Running,
    /// The engine's two ends could not connect.
    Failed,
    /// There is nothing to echo: no microphone and no camera.
    Unavailable,
}

/// What the check reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CheckEvent {
    /// The microphone's level, 0 (silence, -60 dBFS) to 1 (full scale); about 16 times a second
    /// while it is on, and 0 once when it is turned off.
    Level {
        /// The level.
        microphone: f32,
    },
    /// Whether the microphone and camera are on (after every change, and once at the start).
    Sending {
        /// The microphone.
        microphone: SendState,
        /// The camera.
        camera: SendState,
    },
    /// The echo test's state changed.
    Echo {
        /// Its state now.
        state: EchoState,
        /// The tile that shows the picture that came back ([`ECHO_VIEW`]).
        tile: String,
    },
    /// A device was switched to, or stopped working.
    DeviceChanged {
        /// "microphone", "speaker" or "camera".
        device: String,
        /// Now in use (`true`) or lost (`false`).
        in_use: bool,
        /// The device's name.
        name: String,
        /// Why it was lost, in the system's words.
        reason: Option<String>,
    },
    /// Something failed; the check goes on.
    Warning {
        /// What.
        error: UserError,
    },
}

/// A running check.
pub struct DeviceCheck {
    devices: Option<AudioDevices>,
    engine: Option<Engine>,
    sender: Option<Sender>,
    publisher: Option<PeerLink>,
    subscriber: Option<PeerLink>,
    levels: mpsc::UnboundedReceiver<f32>,
    device_rx: mpsc::UnboundedReceiver<DeviceReport>,
    queued: std::collections::VecDeque<CheckEvent>,
    microphone: Option<bool>,
    camera: Option<bool>,
    echo: EchoState,
    /// The engine's two ends are connected.
    echo_ready: bool,
    /// Media came back through the loop at least once.
    media_back: bool,
    /// Our sound comes from a microphone (which opens and closes with on and off).
    microphone_device: bool,
    reported_sending: Option<(SendState, SendState)>,
}

fn media_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

fn loopback() -> LinkOptions {
    LinkOptions {
        udp_bind: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        include_loopback: true,
        ..LinkOptions::default()
    }
}

impl DeviceCheck {
    /// Open what `media` names (a microphone or camera only if it does not start off) and
    /// connect the engine's two ends on loopback. The received side plays into `audio_out` and
    /// `video_out` (the echo tile is [`ECHO_VIEW`]); our picture goes to `self_view`. Fails,
    /// with nothing left open, when a source or sink that should be on cannot be opened.
    pub async fn start(media: MediaChoice) -> Result<Self, UserError> {
        let (device_tx, device_rx) = mpsc::unbounded_channel();
        let (level_tx, levels) = mpsc::unbounded_channel();
        let microphone = match &media.audio_in {
            AudioIn::Microphone(id) => Some(id.clone()),
            _ => None,
        };
        let speaker = match &media.audio_out {
            AudioOut::Speaker(id) => Some(id.clone()),
            _ => None,
        };
        // A speaker that cannot be opened is what the check is for: say so and go on.
        let (started, speaker_lost) = AudioDevices::start_sparing_speaker(
            microphone,
            !media.start_muted,
            speaker,
            device_tx.clone(),
        )?;
        let mut queued = std::collections::VecDeque::new();
        if let Some(lost) = speaker_lost {
            let (device, in_use, name, reason) = device_event(lost);
            queued.push_back(CheckEvent::DeviceChanged {
                device,
                in_use,
                name,
                reason,
            });
        }
        let (devices, captured) = match started {
            Some((devices, frames)) => (Some(devices), Some(frames)),
            None => (None, None),
        };
        let sources = Sources::open(
            &media.audio_in,
            &media.video_in,
            captured,
            media.start_video_off,
            // The echo test shows our own picture back: one size is all it needs.
            true,
        )?;
        // A speaker that could not be opened plays nothing (the mix still reaches the echo
        // canceller, as in a call).
        let speaker_sink = devices.as_ref().map(AudioDevices::speaker_sink);
        let engine = Engine::start(&media.audio_out, &media.video_out, speaker_sink, None)?;
        let mut check = Self {
            devices,
            engine: Some(engine),
            sender: None,
            publisher: None,
            subscriber: None,
            levels,
            device_rx,
            queued,
            microphone: sources.has_audio().then_some(!media.start_muted),
            camera: sources.has_video().then_some(!media.start_video_off),
            echo: EchoState::Off,
            echo_ready: false,
            media_back: false,
            microphone_device: matches!(media.audio_in, AudioIn::Microphone(_)),
            reported_sending: None,
        };
        check.report_sending();
        if !sources.has_audio() && !sources.has_video() {
            return Ok(check);
        }
        let mut publisher = PeerLink::new(&loopback()).await.map_err(media_failed)?;
        let mut tracks = (None, Vec::new());
        if sources.has_audio() {
            tracks.0 = Some(Arc::new(
                publisher
                    .add_track(transport::TrackKind::Audio)
                    .await
                    .map_err(media_failed)?,
            ));
        }
        if sources.has_video() {
            tracks.1.push(Arc::new(
                publisher
                    .add_track(transport::TrackKind::Video)
                    .await
                    .map_err(media_failed)?,
            ));
        }
        let offer = publisher.create_offer().await.map_err(media_failed)?;
        let mut subscriber = PeerLink::new(&loopback()).await.map_err(media_failed)?;
        let answer = subscriber.answer_offer(offer).await.map_err(media_failed)?;
        publisher
            .accept_answer(answer)
            .await
            .map_err(media_failed)?;
        // The echo stays silent until it is turned on: the sender starts muted.
        let sender = Sender::start(
            sources,
            tracks.0,
            tracks.1,
            device_tx,
            SendOptions {
                self_view: media.self_view.clone(),
                muted: true,
                video_off: media.start_video_off,
                levels: Some(level_tx),
                e2ee: None,
            },
        )?;
        check.sender = Some(sender);
        check.publisher = Some(publisher);
        check.subscriber = Some(subscriber);
        Ok(check)
    }

    /// Turn the microphone on (it opens) or off (it closes).
    pub async fn set_microphone_on(&mut self, on: bool) {
        if self.microphone.is_none() {
            return;
        }
        let opened = match &self.devices {
            Some(devices) if self.uses_microphone() => devices.set_microphone_open(on).await,
            _ => Ok(()),
        };
        match opened {
            Ok(()) => {
                self.microphone = Some(on);
                if !on {
                    self.queued.push_back(CheckEvent::Level { microphone: 0.0 });
                }
            }
            Err(error) => self.queued.push_back(CheckEvent::Warning { error }),
        }
        self.follow_echo();
        self.report_sending();
    }

    fn uses_microphone(&self) -> bool {
        self.microphone_device
    }

    /// Turn the camera on (it opens) or off (it closes).
    pub fn set_camera_on(&mut self, on: bool) {
        if let (Some(sender), Some(_)) = (&self.sender, self.camera) {
            sender.set_video_off(!on);
            self.camera = Some(on);
        }
        self.report_sending();
    }

    /// Use another microphone, speaker or camera (`None`: the default).
    pub async fn switch(&mut self, device: DeviceKind, id: Option<String>) {
        let result = match device {
            DeviceKind::Microphone => match &self.devices {
                Some(d) => d.switch(DeviceRole::Microphone, id).await,
                None => Err(media_failed("this check has no microphone")),
            },
            DeviceKind::Speaker => match &self.devices {
                Some(d) => d.switch(DeviceRole::Speaker, id).await,
                None => Err(media_failed("this check has no speaker")),
            },
            DeviceKind::Camera => match &self.sender {
                Some(s) => s.switch_camera(id).await,
                None => Err(media_failed("this check has no camera")),
            },
        };
        if let Err(error) = result {
            self.queued.push_back(CheckEvent::Warning { error });
        }
    }

    /// Play the speaker test sound.
    pub fn play_test_sound(&self) {
        if let Some(engine) = &self.engine {
            engine.play_cue(Cue::SpeakerTest);
        }
    }

    /// Start or stop the echo test.
    pub fn set_echo(&mut self, on: bool) {
        let state = match (on, self.echo) {
            (false, _) => EchoState::Off,
            (true, EchoState::Off) if self.sender.is_none() => EchoState::Unavailable,
            (true, EchoState::Off) if self.connected() => EchoState::Running,
            (true, EchoState::Off) => EchoState::Starting,
            (true, EchoState::Unavailable) if self.sender.is_none() => EchoState::Unavailable,
            (true, state) => state,
        };
        self.set_echo_state(state);
    }

    /// Media went round the loop once already.
    fn connected(&self) -> bool {
        self.subscriber.is_some() && self.echo_ready && self.media_back
    }

    fn set_echo_state(&mut self, state: EchoState) {
        if state != self.echo {
            self.echo = state;
            self.queued.push_back(CheckEvent::Echo {
                state,
                tile: ECHO_VIEW.into(),
            });
        }
        self.follow_echo();
    }

    /// The echo carries sound only while it runs and the microphone is on.
    fn follow_echo(&self) {
        if let Some(sender) = &self.sender {
            let on = self.echo != EchoState::Off && self.microphone == Some(true);
            sender.set_audio_muted(!on);
        }
    }

    fn report_sending(&mut self) {
        if let Some(sender) = &self.sender {
            let (_, video_on) = sender.sending();
            if video_on == Some(false) && self.camera.is_some() {
                self.camera = Some(false);
            }
        }
        let state = |on: Option<bool>| match on {
            None => SendState::Unavailable,
            Some(false) => SendState::Off,
            Some(true) => SendState::On,
        };
        let now = (state(self.microphone), state(self.camera));
        if self.reported_sending != Some(now) {
            self.reported_sending = Some(now);
            self.queued.push_back(CheckEvent::Sending {
                microphone: now.0,
                camera: now.1,
            });
        }
    }

    /// The next event (never `None` while the check runs).
    pub async fn next_event(&mut self) -> Option<CheckEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            tokio::select! {
                Some(level) = self.levels.recv() => {
                    if self.microphone == Some(true) {
                        return Some(CheckEvent::Level { microphone: level });
                    }
                }
                Some(report) = self.device_rx.recv() => {
                    let role = report.role;
                    let (device, in_use, name, reason) = device_event(report);
                    self.queued.push_back(CheckEvent::DeviceChanged { device, in_use, name, reason });
                    if role == DeviceRole::Camera {
                        self.report_sending();
                    }
                }
                Some(event) = next_link(self.subscriber.as_mut()) => match event {
                    LinkEvent::Track(track) => {
                        if let Some(engine) = &self.engine {
                            engine.add_track(FeedTrack { feed: ECHO_FEED, track });
                        }
                    }
                    LinkEvent::State(state) => self.on_link_state(state),
                    // The check runs on this machine's own loopback.
                    LinkEvent::AddressLost(_) => {}
                    // Between two connections of ours, on loopback: logged by the link.
                    LinkEvent::Undecryptable { .. } => {}
                },
                Some(event) = next_link(self.publisher.as_mut()) => {
                    if let LinkEvent::State(LinkState::Failed) = event {
                        self.on_link_state(LinkState::Failed);
                    }
                }
                Some(report) = next_report(&mut self.engine) => {
                    if let EngineReport::FirstMedia { .. } = report {
                        self.media_back = true;
                        if self.echo == EchoState::Starting && self.echo_ready {
                            self.set_echo_state(EchoState::Running);
                        }
                    }
                }
            }
        }
    }

    fn on_link_state(&mut self, state: LinkState) {
        match state {
            LinkState::Connected => {
                self.echo_ready = true;
                if self.echo == EchoState::Starting && self.media_back {
                    self.set_echo_state(EchoState::Running);
                }
            }
            LinkState::Failed | LinkState::Closed => {
                self.echo_ready = false;
                self.publisher = None;
                if self.echo != EchoState::Off {
                    self.set_echo_state(EchoState::Failed);
                }
            }
            LinkState::Connecting | LinkState::Disconnected => {}
        }
    }

    /// End the check and close every device.
    pub async fn stop(mut self) {
        if let Some(mut sender) = self.sender.take() {
            sender.stop();
        }
        if let Some(link) = self.publisher.take() {
            link.close().await;
        }
        if let Some(link) = self.subscriber.take() {
            link.close().await;
        }
        if let Some(engine) = self.engine.take() {
            let _ = engine.finish().await;
        }
        drop(self.devices.take());
    }
}
