//! Cameras through nokhwa (V4L2, AVFoundation, Media Foundation), delivering I420.
//!
//! nokhwa's long-announced 0.11 rewrite is unreleased; everything nokhwa-specific stays in this
//! file so that a change of camera library touches nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use super::convert::{PixelFormat, scale_i420, to_i420};
use super::{I420Frame, VideoSource};
use crate::MediaError;

/// A camera as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraInfo {
    /// Identifier to open it with.
    pub id: String,
    /// Name to show.
    pub name: String,
}

/// The picture sizes we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraQuality {
    /// 640 × 360.
    P360,
    /// 1280 × 720.
    P720,
}

impl CameraQuality {
    /// Width and height.
    pub fn size(self) -> (u32, u32) {
        match self {
            Self::P360 => (640, 360),
            Self::P720 => (1280, 720),
        }
    }
}

/// Formats we convert ourselves, in order of preference: uncompressed first (cheaper), MJPEG
/// (what many webcams offer at 720p30) last.
const ACCEPTED: &[FrameFormat] = &[
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::MJPEG,
];

fn unavailable(name: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::DeviceUnavailable {
        kind: "camera",
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

/// The cameras on this computer. No camera is an empty list, not an error.
pub fn list_cameras() -> Result<Vec<CameraInfo>, MediaError> {
    let cameras = nokhwa::query(ApiBackend::Auto).map_err(|e| unavailable("(all)", e))?;
    Ok(cameras
        .into_iter()
        .map(|c| CameraInfo {
            id: c.index().to_string(),
            name: c.human_name(),
        })
        .collect())
}

/// An open, streaming camera. Capture runs on a thread of its own (camera drivers block, and
/// nokhwa's handle cannot move between threads); frames arrive through a two-slot channel, and
/// when the consumer falls behind the oldest frames are dropped, never queued up.
pub struct Camera {
    frames: mpsc::Receiver<Result<I420Frame, MediaError>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    name: String,
}

/// Longest wait for a frame before the camera counts as lost.
const FRAME_TIMEOUT: Duration = Duration::from_secs(2);

impl Camera {
    /// Open a camera (the first one for `None`) at about this size and frame rate. A camera
    /// that has only smaller pictures sends those.
    pub fn open(id: Option<&str>, quality: CameraQuality, fps: u32) -> Result<Self, MediaError> {
        let cameras = list_cameras()?;
        let info = match id {
            None => cameras.first(),
            Some(id) => cameras.iter().find(|c| c.id == id),
        }
        .cloned()
        .ok_or(MediaError::NoDevice { kind: "camera" })?;
        let (ready_tx, ready) = mpsc::channel();
        let (frames_tx, frames) = mpsc::sync_channel(2);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let name = info.name.clone();
        let thread = std::thread::Builder::new()
            .name("runde-camera".into())
            .spawn(move || capture_loop(&info, quality, fps, &ready_tx, &frames_tx, &stop_flag))
            .map_err(|e| unavailable(&name, e))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self {
                frames,
                stop,
                thread: Some(thread),
                name,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(unavailable(&name, "the capture thread ended")),
        }
    }

    /// The camera's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn capture_loop(
    info: &CameraInfo,
    quality: CameraQuality,
    fps: u32,
    ready: &mpsc::Sender<Result<(), MediaError>>,
    frames: &mpsc::SyncSender<Result<I420Frame, MediaError>>,
    stop: &AtomicBool,
) {
    let mut device = match Device::open(info, quality, fps) {
        Ok(device) => {
            let _ = ready.send(Ok(()));
            device
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let frame = device.grab();
        let failed = frame.is_err();
        match frames.try_send(frame) {
            Ok(()) | Err(mpsc::TrySendError::Full(_)) => {}
            Err(mpsc::TrySendError::Disconnected(_)) => break,
        }
        if failed {
            break;
        }
    }
}

/// The nokhwa side, confined to the capture thread.
struct Device {
    inner: nokhwa::Camera,
    name: String,
    size: (u32, u32),
    started: Instant,
}

impl Device {
    fn open(info: &CameraInfo, quality: CameraQuality, fps: u32) -> Result<Self, MediaError> {
        let index = match info.id.parse::<u32>() {
            Ok(n) => CameraIndex::Index(n),
            Err(_) => CameraIndex::String(info.id.clone()),
        };
        let (w, h) = quality.size();
        let wanted = CameraFormat::new(Resolution::new(w, h), FrameFormat::YUYV, fps);
        let request = RequestedFormat::with_formats(RequestedFormatType::Closest(wanted), ACCEPTED);
        let mut inner =
            nokhwa::Camera::new(index, request).map_err(|e| unavailable(&info.name, e))?;
        inner
            .open_stream()
            .map_err(|e| unavailable(&info.name, e))?;
        tracing::info!(camera = %info.name, format = %inner.camera_format(), "camera open");
        // A bigger picture is scaled down to the size asked for; a smaller one is sent as it
        // is (scaling it up costs work and shows nothing more).
        let res = inner.camera_format().resolution();
        let own = (res.width() & !1, res.height() & !1);
        let size = if own.0 * own.1 < w * h && own.0 > 0 && own.1 > 0 {
            own
        } else {
            (w, h)
        };
        Ok(Self {
            inner,
            name: info.name.clone(),
            size,
            started: Instant::now(),
        })
    }

    fn grab(&mut self) -> Result<I420Frame, MediaError> {
        let buffer = self.inner.frame().map_err(|e| unavailable(&self.name, e))?;
        let captured = self.started.elapsed().as_micros() as u64;
        let res = buffer.resolution();
        let (w, h) = (res.width() & !1, res.height() & !1);
        let format = match buffer.source_frame_format() {
            FrameFormat::YUYV => PixelFormat::Yuyv,
            FrameFormat::NV12 => PixelFormat::Nv12,
            FrameFormat::RAWRGB => PixelFormat::Rgb24,
            FrameFormat::MJPEG => PixelFormat::Mjpeg,
            other => {
                return Err(MediaError::UnsupportedFormat {
                    kind: "camera",
                    name: format!("{} ({other})", self.name),
                });
            }
        };
        let mut frame = to_i420(format, buffer.buffer(), w, h)?;
        if (w, h) != self.size {
            frame = scale_i420(&frame, self.size.0, self.size.1)?;
        }
        frame.timestamp_us = captured;
        Ok(frame)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.inner.stop_stream();
    }
}

impl VideoSource for Camera {
    fn next_frame(&mut self) -> Result<Option<I420Frame>, MediaError> {
        match self.frames.recv_timeout(FRAME_TIMEOUT) {
            Ok(frame) => frame.map(Some),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(unavailable(&self.name, "no picture for 2 seconds"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(unavailable(&self.name, "capture stopped"))
            }
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a capture thread waiting to deliver, then wait for it to close the device.
        while self.frames.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without cameras (CI) the list is empty and opening is a typed error; with a
    /// camera, opening either works or says why it cannot.
    #[test]
    fn cameras_are_listed_and_a_missing_one_is_a_typed_error() {
        let cameras = list_cameras().expect("listing cameras never fails for lack of cameras");
        match Camera::open(None, CameraQuality::P360, 30) {
            Ok(mut cam) => {
                assert!(!cameras.is_empty());
                let frame = cam.next_frame().expect("a frame").expect("live");
                assert_eq!((frame.width(), frame.height()), (640, 360));
            }
            Err(MediaError::NoDevice { kind }) => {
                assert!(cameras.is_empty());
                assert_eq!(kind, "camera");
            }
            Err(MediaError::DeviceUnavailable { .. } | MediaError::UnsupportedFormat { .. }) => {
                assert!(!cameras.is_empty());
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
        assert!(matches!(
            Camera::open(Some("no-such-camera"), CameraQuality::P720, 30),
            Err(MediaError::NoDevice { .. })
        ));
    }
}
