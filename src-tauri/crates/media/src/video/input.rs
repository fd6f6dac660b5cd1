//! The call's camera: the user can switch cameras mid-call (the new one opens before the old one
//! closes), turn the camera off, and a camera that fails or disappears is reported while the call
//! goes on without video until another is chosen.

use super::camera::{Camera, CameraQuality};
use super::{I420Frame, VideoSource};
use crate::MediaError;
use crate::audio::input::DeviceChange;

/// Whatever currently feeds the call's video: a camera, a file, the test pattern, or nothing.
#[derive(Default)]
pub struct VideoInput {
    source: Option<(String, Box<dyn VideoSource>)>,
    changes: Vec<DeviceChange>,
}

impl VideoInput {
    /// No video (the camera starts off).
    pub fn off() -> Self {
        Self::default()
    }

    /// Open a camera (`None`: the first) and use it in place of the current source. If it cannot
    /// be opened, the current source stays in use and the error says why.
    pub fn switch_camera(
        &mut self,
        id: Option<&str>,
        quality: CameraQuality,
        fps: u32,
    ) -> Result<(), MediaError> {
        let camera = Camera::open(id, quality, fps)?;
        let name = camera.name().to_owned();
        self.switch_to(name, Box::new(camera));
        Ok(())
    }

    /// Use this source (already opened) from the next frame on.
    pub fn switch_to(&mut self, name: impl Into<String>, source: Box<dyn VideoSource>) {
        let name = name.into();
        self.changes
            .push(DeviceChange::Switched { name: name.clone() });
        self.source = Some((name, source));
    }

    /// Stop sending video; the source (a camera: its light) is released.
    pub fn turn_off(&mut self) {
        self.source = None;
    }

    /// The source in use, if any.
    pub fn source_name(&self) -> Option<&str> {
        self.source.as_ref().map(|(name, _)| name.as_str())
    }

    /// The next frame; `None` while there is no source. A source that fails or ends is dropped
    /// and reported as lost (see [`take_changes`](Self::take_changes)); the call goes on.
    pub fn next_frame(&mut self) -> Option<I420Frame> {
        let (name, source) = self.source.as_mut()?;
        let reason = match source.next_frame() {
            Ok(Some(frame)) => return Some(frame),
            Ok(None) => "the source ended".to_owned(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(source = %name, %reason, "video source lost");
        self.changes.push(DeviceChange::Lost {
            name: name.clone(),
            reason,
        });
        self.source = None;
        None
    }

    /// Changes since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<DeviceChange> {
        std::mem::take(&mut self.changes)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::video::{TestPattern, VideoSink, Y4mSink, Y4mSource, read_stamp};

    #[test]
    fn switching_sources_mid_stream_changes_the_picture_from_the_next_frame() {
        let mut input = VideoInput::off();
        assert!(input.next_frame().is_none(), "off: no frames");
        let first = TestPattern::new(640, 360, 30).map(|p| p.with_clock(|| 1_000));
        let second = TestPattern::new(1280, 720, 30).map(|p| p.with_clock(|| 2_000));
        let (Ok(first), Ok(second)) = (first, second) else {
            panic!("test patterns");
        };
        input.switch_to("front", Box::new(first));
        for _ in 0..3 {
            let frame = input.next_frame().expect("a frame from the first source");
            assert_eq!((frame.width(), frame.height()), (640, 360));
            assert_eq!(read_stamp(&frame).map(|s| s.capture_us), Some(1_000));
        }
        input.switch_to("document camera", Box::new(second));
        let frame = input.next_frame().expect("a frame from the second source");
        assert_eq!((frame.width(), frame.height()), (1280, 720));
        assert_eq!(read_stamp(&frame).map(|s| s.capture_us), Some(2_000));
        assert_eq!(input.source_name(), Some("document camera"));
        let changes = input.take_changes();
        assert_eq!(
            changes,
            vec![
                DeviceChange::Switched {
                    name: "front".into()
                },
                DeviceChange::Switched {
                    name: "document camera".into()
                },
            ]
        );
        input.turn_off();
        assert!(input.next_frame().is_none());
        assert!(
            input.take_changes().is_empty(),
            "turning off is the user's act, not a loss"
        );
    }

    #[test]
    fn a_failing_source_is_reported_and_the_call_goes_on() -> Result<(), MediaError> {
        // A Y4M file cut off inside its second frame: the source fails as a camera would.
        let dir = std::env::temp_dir().join(format!("runde-video-input-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| MediaError::file(&dir, e))?;
        let path = dir.join("cut.y4m");
        let mut sink = Y4mSink::create(&path, (30, 1))?;
        let mut pattern = TestPattern::new(320, 180, 30)?;
        for _ in 0..2 {
            if let Some(frame) = pattern.next_frame()? {
                sink.write(&frame)?;
            }
        }
        sink.finish()?;
        let bytes = fs::read(&path).map_err(|e| MediaError::file(&path, e))?;
        fs::write(&path, &bytes[..bytes.len() - 1000]).map_err(|e| MediaError::file(&path, e))?;

        let mut input = VideoInput::off();
        input.switch_to("cut.y4m", Box::new(Y4mSource::open(&path, false)?));
        assert!(input.next_frame().is_some());
        assert!(
            input.next_frame().is_none(),
            "the damaged frame is not shown"
        );
        assert!(
            input.next_frame().is_none(),
            "and the lost source stays gone"
        );
        let changes = input.take_changes();
        assert!(
            matches!(changes.last(), Some(DeviceChange::Lost { name, reason })
                if name == "cut.y4m" && reason.contains("ends inside a frame")),
            "{changes:?}"
        );
        // Another source brings video back.
        input.switch_to("pattern", Box::new(TestPattern::new(320, 180, 30)?));
        assert!(input.next_frame().is_some());
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
