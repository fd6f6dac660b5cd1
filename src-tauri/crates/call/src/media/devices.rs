//! The call's microphone and speaker, on a thread of their own.
//!
//! Audio devices are not `Send` on every system and their clocks are not the system's, so one
//! plain thread owns them, with the echo canceller between them: every 10 ms mix frame that goes
//! to the speaker is also the canceller's far-end reference, and every microphone frame is
//! cleaned (echo, noise, level) before it goes to the encoder. The thread polls every 2 ms: the
//! devices themselves buffer through lock-free rings, so this adds at most 2 ms of delay.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use runde_media::audio::input::{DeviceChange, MicrophoneInput, SpeakerOutput};
use runde_media::audio::processing::{AudioProcessor, ProcessingConfig};
use runde_media::audio::{AudioSink, FRAME_10MS};
use tokio::sync::{mpsc, oneshot};

use crate::UserError;

/// How often the thread looks at its devices.
const POLL: Duration = Duration::from_millis(2);
/// More than this much queued on the speaker (ms) means the call produces faster than the device
/// plays (clock drift): a frame is dropped to keep the delay down.
const MAX_SPEAKER_QUEUE_MS: usize = 120;
/// The speaker queue we keep (ms): a device period (10 ms) plus the playout tick's and this
/// thread's timing jitter. Every sound waits behind what is queued, and the queue never shrinks by
/// itself: the playout ticks from the start of the call while a device that opens later (a sound
/// server takes tens of ms) has not taken anything yet, and the two then run at the same pace.
/// Above this, quiet frames of the mix are skipped.
const SPEAKER_QUEUE_TARGET_MS: usize = 20;
/// Quiet enough to skip: silence, comfort noise, a room's hum (RMS below this, dBFS).
const QUIET_DBFS: f64 = -50.0;

/// Whether a mix frame goes to a speaker that has `queued_ms` queued: skipped when the queue is
/// over its target and the frame is quiet, or when the queue is full regardless.
fn keep_for_speaker(queued_ms: usize, mix: &[f32]) -> bool {
    if queued_ms > MAX_SPEAKER_QUEUE_MS {
        return false;
    }
    queued_ms <= SPEAKER_QUEUE_TARGET_MS || runde_media::measure::rms_dbfs(mix) >= QUIET_DBFS
}

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceRole {
    Microphone,
    Speaker,
    Camera,
}

/// What happened to a device, for the call's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceReport {
    pub(crate) role: DeviceRole,
    pub(crate) change: DeviceChange,
}

enum Command {
    /// Open (unmute) or close (mute) the microphone.
    Microphone {
        open: bool,
        done: oneshot::Sender<Result<(), UserError>>,
    },
    Switch {
        role: DeviceRole,
        id: Option<String>,
        done: oneshot::Sender<Result<(), UserError>>,
    },
    Stop,
}

fn device_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

/// Handle to the device thread.
pub(crate) struct AudioDevices {
    commands: std_mpsc::Sender<Command>,
    playout: std_mpsc::Sender<Vec<f32>>,
    thread: Option<JoinHandle<()>>,
}

impl AudioDevices {
    /// Open the devices asked for (`Some(None)`: the system default) on their own thread; clean
    /// 10 ms microphone frames come out of the returned receiver, device changes go to
    /// `report_tx`. A microphone with `microphone_open` false is only remembered: it opens when
    /// the user unmutes ([`Self::set_microphone_open`]). Fails, with nothing left running, when a
    /// device cannot be opened.
    pub(crate) fn start(
        microphone: Option<Option<String>>,
        microphone_open: bool,
        speaker: Option<Option<String>>,
        report_tx: mpsc::UnboundedSender<DeviceReport>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Vec<f32>>), UserError> {
        let (commands, command_rx) = std_mpsc::channel();
        let (playout, playout_rx) = std_mpsc::channel::<Vec<f32>>();
        let (captured_tx, captured) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("runde-audio-io".into())
            .spawn(move || {
                let opened = (|| -> Result<_, UserError> {
                    let mic = match &microphone {
                        Some(id) if microphone_open => {
                            Some(MicrophoneInput::open(id.as_deref()).map_err(device_failed)?)
                        }
                        _ => None,
                    };
                    let speaker = match &speaker {
                        Some(id) => {
                            Some(SpeakerOutput::open(id.as_deref()).map_err(device_failed)?)
                        }
                        None => None,
                    };
                    Ok((mic, speaker))
                })();
                match opened {
                    Ok((mic, speaker)) => {
                        let _ = ready_tx.send(Ok(()));
                        run(
                            Microphone {
                                configured: microphone.is_some(),
                                choice: microphone.flatten(),
                                input: mic,
                            },
                            speaker,
                            &command_rx,
                            &playout_rx,
                            &captured_tx,
                            &report_tx,
                        );
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(device_failed)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((
                Self {
                    commands,
                    playout,
                    thread: Some(thread),
                },
                captured,
            )),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(device_failed(
                "the audio thread ended while opening devices",
            )),
        }
    }

    /// Like [`Self::start`] (nothing when neither device is asked for), except that a speaker
    /// that cannot be opened stops nothing: the microphone opens without it, and the speaker's
    /// loss comes back to be reported. A microphone that cannot be opened still fails.
    #[allow(clippy::type_complexity)]
    pub(crate) fn start_sparing_speaker(
        microphone: Option<Option<String>>,
        microphone_open: bool,
        speaker: Option<Option<String>>,
        report_tx: mpsc::UnboundedSender<DeviceReport>,
    ) -> Result<
        (
            Option<(Self, mpsc::UnboundedReceiver<Vec<f32>>)>,
            Option<DeviceReport>,
        ),
        UserError,
    > {
        if microphone.is_none() && speaker.is_none() {
            return Ok((None, None));
        }
        match Self::start(
            microphone.clone(),
            microphone_open,
            speaker.clone(),
            report_tx.clone(),
        ) {
            Ok(started) => Ok((Some(started), None)),
            Err(e) if speaker.is_some() => {
                let lost = DeviceReport {
                    role: DeviceRole::Speaker,
                    change: DeviceChange::Lost {
                        name: speaker.flatten().unwrap_or_else(|| "default".into()),
                        reason: e.to_string(),
                    },
                };
                let started = match microphone {
                    Some(_) => Some(Self::start(microphone, microphone_open, None, report_tx)?),
                    None => None,
                };
                Ok((started, Some(lost)))
            }
            Err(e) => Err(e),
        }
    }

    /// Where the playout engine sends the mix (10 ms frames) for the speaker.
    pub(crate) fn speaker_sink(&self) -> Box<dyn AudioSink> {
        let playout = self.playout.clone();
        Box::new(move |samples: &[f32]| {
            let _ = playout.send(samples.to_vec());
        })
    }

    /// Open the microphone (unmute) or close it (mute: the device is released, the system's
    /// microphone light goes out). On failure to open, it stays closed.
    pub(crate) async fn set_microphone_open(&self, open: bool) -> Result<(), UserError> {
        let (done, result) = oneshot::channel();
        self.commands
            .send(Command::Microphone { open, done })
            .map_err(|_| device_failed("the audio thread has stopped"))?;
        result
            .await
            .unwrap_or_else(|_| Err(device_failed("the audio thread has stopped")))
    }

    /// Switch a device mid-call: the new one opens before the old one closes; on failure the old
    /// one stays in use.
    pub(crate) async fn switch(
        &self,
        role: DeviceRole,
        id: Option<String>,
    ) -> Result<(), UserError> {
        let (done, result) = oneshot::channel();
        self.commands
            .send(Command::Switch { role, id, done })
            .map_err(|_| device_failed("the audio thread has stopped"))?;
        result
            .await
            .unwrap_or_else(|_| Err(device_failed("the audio thread has stopped")))
    }
}

impl Drop for AudioDevices {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The microphone to use and, while unmuted, the open device.
struct Microphone {
    /// This thread handles a microphone at all.
    configured: bool,
    /// `None`: the system default.
    choice: Option<String>,
    input: Option<MicrophoneInput>,
}

fn run(
    mut microphone: Microphone,
    mut speaker: Option<SpeakerOutput>,
    commands: &std_mpsc::Receiver<Command>,
    playout: &std_mpsc::Receiver<Vec<f32>>,
    captured: &mpsc::UnboundedSender<Vec<f32>>,
    reports: &mpsc::UnboundedSender<DeviceReport>,
) {
    let mut processor = AudioProcessor::new(ProcessingConfig::default());
    let mut frame = [0.0f32; FRAME_10MS];
    loop {
        loop {
            match commands.try_recv() {
                Ok(Command::Microphone { open, done }) => {
                    let result = match (open, &microphone.input) {
                        (true, None) if !microphone.configured => {
                            Err(device_failed("no microphone was chosen"))
                        }
                        (true, None) => MicrophoneInput::open(microphone.choice.as_deref())
                            .map(|input| microphone.input = Some(input))
                            .map_err(device_failed),
                        (false, Some(_)) => {
                            microphone.input = None;
                            Ok(())
                        }
                        _ => Ok(()),
                    };
                    let _ = done.send(result);
                }
                Ok(Command::Switch { role, id, done }) => {
                    let result = match role {
                        // A closed (muted) microphone is only remembered, not opened.
                        DeviceRole::Microphone if microphone.input.is_none() => {
                            microphone.choice = id;
                            Ok(())
                        }
                        DeviceRole::Microphone => {
                            let result = switch(
                                &mut microphone.input,
                                id.clone(),
                                MicrophoneInput::open,
                                |m, id| m.switch(id),
                            );
                            if result.is_ok() {
                                microphone.choice = id;
                            }
                            result
                        }
                        DeviceRole::Speaker => {
                            switch(&mut speaker, id, SpeakerOutput::open, |s, id| s.switch(id))
                        }
                        DeviceRole::Camera => Err(device_failed("cameras are not audio devices")),
                    };
                    let _ = done.send(result);
                }
                Ok(Command::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => {
                    if let Some(out) = &speaker {
                        // Gaps in the sound (the queue ran dry), for tuning the queue's target.
                        tracing::info!(starved_ms = out.starved_samples() / 48, "speaker closed");
                    }
                    return;
                }
                Err(std_mpsc::TryRecvError::Empty) => break,
            }
        }
        while let Ok(mix) = playout.try_recv() {
            if let Some(out) = &mut speaker {
                let queued_ms = out.queued() / 48;
                if keep_for_speaker(queued_ms, &mix) && out.write(&mix).is_err() {
                    tracing::debug!("speaker write failed");
                }
            }
            if mix.len() == FRAME_10MS && processor.far_end(&mix).is_err() {
                tracing::debug!("echo canceller refused a far-end frame");
            }
        }
        if let Some(input) = &mut microphone.input
            && input.device_name().is_some()
        {
            while let Ok(true) = input.read_frame(&mut frame) {
                if processor.near_end(&mut frame).is_err() {
                    tracing::debug!("audio processing refused a frame");
                }
                if captured.send(frame.to_vec()).is_err() {
                    return;
                }
                if input.device_name().is_none() {
                    break;
                }
            }
        }
        for (role, changes) in [
            (
                DeviceRole::Microphone,
                microphone.input.as_mut().map(MicrophoneInput::take_changes),
            ),
            (
                DeviceRole::Speaker,
                speaker.as_mut().map(SpeakerOutput::take_changes),
            ),
        ] {
            for change in changes.into_iter().flatten() {
                let _ = reports.send(DeviceReport { role, change });
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Switch an open device, or open one where there was none.
fn switch<D>(
    slot: &mut Option<D>,
    id: Option<String>,
    open: impl FnOnce(Option<&str>) -> Result<D, runde_media::MediaError>,
    switch: impl FnOnce(&mut D, Option<&str>) -> Result<(), runde_media::MediaError>,
) -> Result<(), UserError> {
    match slot {
        Some(device) => switch(device, id.as_deref()).map_err(device_failed),
        None => {
            *slot = Some(open(id.as_deref()).map_err(device_failed)?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quiet frames are skipped only above the target queue; sound is skipped only when the
    /// queue is full.
    #[test]
    fn the_speaker_queue_is_kept_short_without_cutting_sound() {
        let quiet = vec![0.0005_f32; FRAME_10MS]; // about −66 dBFS
        let sound: Vec<f32> = (0..FRAME_10MS)
            .map(|i| 0.3 * (i as f32 * 0.1).sin())
            .collect();
        assert!(keep_for_speaker(0, &quiet));
        assert!(keep_for_speaker(SPEAKER_QUEUE_TARGET_MS, &quiet));
        assert!(!keep_for_speaker(SPEAKER_QUEUE_TARGET_MS + 1, &quiet));
        assert!(keep_for_speaker(SPEAKER_QUEUE_TARGET_MS + 1, &sound));
        assert!(keep_for_speaker(MAX_SPEAKER_QUEUE_MS, &sound));
        assert!(!keep_for_speaker(MAX_SPEAKER_QUEUE_MS + 1, &sound));
    }
}
