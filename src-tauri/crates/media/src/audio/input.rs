//! Microphone and speaker as a call uses them: the user can switch devices mid-call without a gap, and a
//! device that disappears is reported while the call goes on (in silence) until another is chosen.

use super::FRAME_10MS;
use super::device::{DeviceEvent, Microphone, Speaker};
use crate::MediaError;

/// What happened to the call's microphone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    /// Now capturing from this device.
    Switched {
        /// The device's name.
        name: String,
    },
    /// The device stopped working; the call continues without a microphone.
    Lost {
        /// The device's name.
        name: String,
        /// What the system said.
        reason: String,
    },
}

/// A switchable, unplug-tolerant microphone delivering 10 ms frames at 48 kHz.
pub struct MicrophoneInput {
    mic: Option<Microphone>,
    events: Vec<InputEvent>,
}

impl MicrophoneInput {
    /// Start with this device (`None`: the system default).
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let mut input = Self {
            mic: None,
            events: Vec::new(),
        };
        input.switch(id)?;
        Ok(input)
    }

    /// Change device. The new one is opened before the old one closes; if it cannot be opened,
    /// the old one stays in use and the error says why.
    pub fn switch(&mut self, id: Option<&str>) -> Result<(), MediaError> {
        let mic = Microphone::open(id)?;
        self.events.push(InputEvent::Switched {
            name: mic.name().to_owned(),
        });
        self.mic = Some(mic);
        Ok(())
    }

    /// The device in use, if any.
    pub fn device_name(&self) -> Option<&str> {
        self.mic.as_ref().map(Microphone::name)
    }

    /// Fill a 10 ms frame if one is ready. Without a device (it was lost) the frame is silence
    /// and `true` is returned, so the call's clock keeps running.
    pub fn read_frame(&mut self, out: &mut [f32; FRAME_10MS]) -> Result<bool, MediaError> {
        self.check_events();
        match self.mic.as_mut() {
            Some(mic) => mic.read(out),
            None => {
                out.fill(0.0);
                Ok(true)
            }
        }
    }

    fn check_events(&mut self) {
        let Some(mic) = &self.mic else { return };
        while let Some(event) = mic.poll_event() {
            if let DeviceEvent::Lost { reason } = event {
                tracing::warn!(device = %mic.name(), %reason, "microphone lost");
                self.events.push(InputEvent::Lost {
                    name: mic.name().to_owned(),
                    reason,
                });
                self.mic = None;
                return;
            }
        }
    }

    /// Events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<InputEvent> {
        self.check_events();
        std::mem::take(&mut self.events)
    }
}

/// What happened to the call's speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputEvent {
    /// Now playing on this device.
    Switched {
        /// The device's name.
        name: String,
    },
    /// The device stopped working; the call continues (unheard) until another is chosen.
    Lost {
        /// The device's name.
        name: String,
        /// What the system said.
        reason: String,
    },
}

/// A switchable, unplug-tolerant speaker taking 48 kHz frames.
pub struct SpeakerOutput {
    speaker: Option<Speaker>,
    events: Vec<OutputEvent>,
}

impl SpeakerOutput {
    /// Start with this device (`None`: the system default).
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let mut output = Self {
            speaker: None,
            events: Vec::new(),
        };
        output.switch(id)?;
        Ok(output)
    }

    /// Change device; the old one keeps playing if the new one cannot be opened.
    pub fn switch(&mut self, id: Option<&str>) -> Result<(), MediaError> {
        let speaker = Speaker::open(id)?;
        self.events.push(OutputEvent::Switched {
            name: speaker.name().to_owned(),
        });
        self.speaker = Some(speaker);
        Ok(())
    }

    /// The device in use, if any.
    pub fn device_name(&self) -> Option<&str> {
        self.speaker.as_ref().map(Speaker::name)
    }

    /// Samples queued on the device (0 without a device).
    pub fn queued(&self) -> usize {
        self.speaker.as_ref().map_or(0, Speaker::queued)
    }

    /// Play these samples (dropped without a device). Returns samples that did not fit.
    pub fn write(&mut self, samples: &[f32]) -> Result<usize, MediaError> {
        self.check_events();
        match self.speaker.as_mut() {
            Some(speaker) => speaker.write(samples),
            None => Ok(0),
        }
    }

    fn check_events(&mut self) {
        let Some(speaker) = &self.speaker else { return };
        while let Some(event) = speaker.poll_event() {
            if let DeviceEvent::Lost { reason } = event {
                tracing::warn!(device = %speaker.name(), %reason, "speaker lost");
                self.events.push(OutputEvent::Lost {
                    name: speaker.name().to_owned(),
                    reason,
                });
                self.speaker = None;
                return;
            }
        }
    }

    /// Events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<OutputEvent> {
        self.check_events();
        std::mem::take(&mut self.events)
    }
}
