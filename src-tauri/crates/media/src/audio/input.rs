//! Microphone and speaker as a call uses them: the user can switch devices mid-call without a gap,
//! and a device that disappears is reported while the call goes on until another is chosen.

use super::FRAME_10MS;
use super::device::{DeviceEvent, Microphone, Speaker};
use crate::MediaError;

/// What happened to the call's microphone or speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// Now using this device.
    Switched {
        /// The device's name.
        name: String,
    },
    /// The device stopped working; the call continues without it.
    Lost {
        /// The device's name.
        name: String,
        /// What the system said.
        reason: String,
    },
}

/// What [`Switchable`] needs of a device.
pub trait AudioDevice: Sized {
    /// Open the device (`None`: the system default).
    fn open_device(id: Option<&str>) -> Result<Self, MediaError>;
    /// The device's name.
    fn device_name(&self) -> &str;
    /// The next event from the device, if any.
    fn next_event(&self) -> Option<DeviceEvent>;
}

impl AudioDevice for Microphone {
    fn open_device(id: Option<&str>) -> Result<Self, MediaError> {
        Self::open(id)
    }
    fn device_name(&self) -> &str {
        self.name()
    }
    fn next_event(&self) -> Option<DeviceEvent> {
        self.poll_event()
    }
}

impl AudioDevice for Speaker {
    fn open_device(id: Option<&str>) -> Result<Self, MediaError> {
        Self::open(id)
    }
    fn device_name(&self) -> &str {
        self.name()
    }
    fn next_event(&self) -> Option<DeviceEvent> {
        self.poll_event()
    }
}

/// A device the user can switch mid-call and that may disappear.
pub struct Switchable<D> {
    device: Option<D>,
    changes: Vec<DeviceChange>,
}

/// The call's microphone: 10 ms frames at 48 kHz, silence while there is no device.
pub type MicrophoneInput = Switchable<Microphone>;
/// The call's speaker: takes 48 kHz samples, drops them while there is no device.
pub type SpeakerOutput = Switchable<Speaker>;

impl<D: AudioDevice> Switchable<D> {
    /// Start with this device (`None`: the system default).
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let mut switchable = Self {
            device: None,
            changes: Vec::new(),
        };
        switchable.switch(id)?;
        Ok(switchable)
    }

    /// Change device. The new one is opened before the old one closes; if it cannot be opened,
    /// the old one stays in use and the error says why.
    pub fn switch(&mut self, id: Option<&str>) -> Result<(), MediaError> {
        let device = D::open_device(id)?;
        self.changes.push(DeviceChange::Switched {
            name: device.device_name().to_owned(),
        });
        self.device = Some(device);
        Ok(())
    }

    /// The device in use, if any.
    pub fn device_name(&self) -> Option<&str> {
        self.device.as_ref().map(D::device_name)
    }

    /// The device, unless it was lost.
    fn live(&mut self) -> Option<&mut D> {
        let lost = self.device.as_ref().and_then(|d| {
            std::iter::from_fn(|| d.next_event()).find_map(|event| match event {
                DeviceEvent::Lost { reason } => Some((d.device_name().to_owned(), reason)),
                DeviceEvent::Rerouted => None,
            })
        });
        if let Some((name, reason)) = lost {
            tracing::warn!(device = %name, %reason, "audio device lost");
            self.changes.push(DeviceChange::Lost { name, reason });
            self.device = None;
        }
        self.device.as_mut()
    }

    /// Changes since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<DeviceChange> {
        self.live();
        std::mem::take(&mut self.changes)
    }
}

impl Switchable<Microphone> {
    /// Fill a 10 ms frame if one is ready. Without a device (it was lost) the frame is silence
    /// and `true` is returned, so the call's clock keeps running.
    pub fn read_frame(&mut self, out: &mut [f32; FRAME_10MS]) -> Result<bool, MediaError> {
        match self.live() {
            Some(mic) => mic.read(out),
            None => {
                out.fill(0.0);
                Ok(true)
            }
        }
    }
}

impl Switchable<Speaker> {
    /// Play these samples (dropped without a device). Returns samples that did not fit.
    pub fn write(&mut self, samples: &[f32]) -> Result<usize, MediaError> {
        match self.live() {
            Some(speaker) => speaker.write(samples),
            None => Ok(0),
        }
    }

    /// Samples queued on the device (0 without a device).
    pub fn queued(&self) -> usize {
        self.device.as_ref().map_or(0, Speaker::queued)
    }

    /// Samples the device wanted when nothing was queued (gaps in the sound), since it opened.
    pub fn starved_samples(&self) -> u64 {
        self.device.as_ref().map_or(0, Speaker::starved_samples)
    }
}
