//! The microphones, speakers and cameras this computer has, for the device choice.

use runde_media::audio::device::{DeviceKind as AudioDeviceKind, list_devices};
use runde_media::video::camera::list_cameras;
use serde::{Deserialize, Serialize};

/// One device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeviceEntry {
    /// What to open it with.
    pub id: String,
    /// Its name, to show.
    pub name: String,
    /// The system's default of its kind.
    pub is_default: bool,
}

/// Every device, by kind. A kind the system cannot list is empty and named in `problems`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// Microphones.
    pub microphones: Vec<DeviceEntry>,
    /// Speakers and headphones.
    pub speakers: Vec<DeviceEntry>,
    /// Cameras.
    pub cameras: Vec<DeviceEntry>,
    /// What could not be listed, in the system's words.
    pub problems: Vec<String>,
}

/// List the devices now (they come and go; ask again before choosing).
pub fn list() -> DeviceList {
    let mut list = DeviceList::default();
    for (kind, into) in [
        (AudioDeviceKind::Microphone, &mut list.microphones),
        (AudioDeviceKind::Speaker, &mut list.speakers),
    ] {
        match list_devices(kind) {
            Ok(devices) => {
                *into = devices
                    .into_iter()
                    .map(|d| DeviceEntry {
                        id: d.id,
                        name: d.name,
                        is_default: d.is_default,
                    })
                    .collect();
            }
            Err(e) => list.problems.push(e.to_string()),
        }
    }
    match list_cameras() {
        Ok(cameras) => {
            list.cameras = cameras
                .into_iter()
                .enumerate()
                .map(|(i, c)| DeviceEntry {
                    id: c.id,
                    name: c.name,
                    is_default: i == 0,
                })
                .collect();
        }
        Err(e) => list.problems.push(e.to_string()),
    }
    list
}

/// Which kind of device (to switch, in the check before a call or in a call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum DeviceKind {
    /// The microphone.
    Microphone,
    /// The speaker.
    Speaker,
    /// The camera.
    Camera,
}
