//! Pictures for a screen: the newest picture of each participant (and of our own camera, under
//! [`SELF_VIEW`]), waiting to be drawn.
//!
//! This is the back-pressure point between playout and whatever draws. Playout never waits: a
//! picture not yet taken is replaced by the next one (counted as *replaced*), so a slow screen
//! shows the newest picture rather than falling behind, and memory stays at one picture per tile.
//! The drawer takes a participant's picture only when it is ready to draw it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use runde_media::video::I420Frame;
use runde_media::video::convert::{append_rgba, scale_i420};
use serde::Serialize;

use crate::UserError;

/// The key under which our own camera's picture appears.
pub const SELF_VIEW: &str = "self";

/// Newest pictures per participant. Cloning gives another handle to the same screen.
#[derive(Clone, Default)]
pub struct VideoScreen {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    tiles: Mutex<BTreeMap<String, Tile>>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Tile {
    pending: Option<Arc<I420Frame>>,
    counts: TileCounts,
}

/// How one participant's pictures fared on the way to the screen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TileCounts {
    /// Pictures playout handed to the screen.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub shown: u64,
    /// Pictures taken to be drawn.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub taken: u64,
    /// Pictures replaced by a newer one before they were taken.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub replaced: u64,
}

/// A picture taken from the screen.
#[derive(Debug, Clone)]
pub struct ScreenFrame {
    /// Whose.
    pub participant: String,
    frame: Arc<I420Frame>,
}

impl std::fmt::Debug for VideoScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VideoScreen")
    }
}

/// Two handles are equal when they are the same screen.
impl PartialEq for VideoScreen {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl VideoScreen {
    /// An empty screen.
    pub fn new() -> Self {
        Self::default()
    }

    fn tiles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tile>> {
        // A panic while holding the lock leaves only counters half-updated: keep going.
        self.inner
            .tiles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hand a participant's newest picture to the screen.
    pub(crate) fn show(&self, participant: &str, frame: I420Frame) {
        {
            let mut tiles = self.tiles();
            let tile = tiles.entry(participant.to_owned()).or_default();
            tile.counts.shown += 1;
            if tile.pending.replace(Arc::new(frame)).is_some() {
                tile.counts.replaced += 1;
            }
        }
        self.inner.changed.notify_one();
    }

    /// A participant left or stopped sending video.
    pub(crate) fn forget(&self, participant: &str) {
        self.tiles().remove(participant);
        self.inner.changed.notify_one();
    }

    /// Take the newest picture of each participant for which `wanted` says yes.
    pub fn take(&self, wanted: impl Fn(&str) -> bool) -> Vec<ScreenFrame> {
        let mut tiles = self.tiles();
        let mut out = Vec::new();
        for (participant, tile) in tiles.iter_mut() {
            if !wanted(participant) {
                continue;
            }
            if let Some(frame) = tile.pending.take() {
                tile.counts.taken += 1;
                out.push(ScreenFrame {
                    participant: participant.clone(),
                    frame,
                });
            }
        }
        out
    }

    /// Wait until a picture arrives or a participant goes (returns at once if one came since the
    /// last wait ended).
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// The counts for everyone on the screen now.
    pub fn counts(&self) -> BTreeMap<String, TileCounts> {
        self.tiles()
            .iter()
            .map(|(p, t)| (p.clone(), t.counts.clone()))
            .collect()
    }
}

impl ScreenFrame {
    /// The picture's size as decoded.
    pub fn size(&self) -> (u32, u32) {
        (self.frame.width(), self.frame.height())
    }

    /// When it was captured, in microseconds on the sender's media clock.
    pub fn timestamp_us(&self) -> u64 {
        self.frame.timestamp_us
    }

    /// The size [`append_rgba_fitting`](Self::append_rgba_fitting) gives the picture for a tile
    /// of `max_width` × `max_height`.
    pub fn size_fitting(&self, max_width: u32, max_height: u32) -> (u32, u32) {
        fit(self.size(), (max_width, max_height))
    }

    /// The picture as RGBA, scaled down to fit `max_width` × `max_height` with its aspect ratio
    /// (never up: a larger tile is filled by the drawer), written after what `out` holds; its
    /// size is [`size_fitting`](Self::size_fitting)'s.
    pub fn append_rgba_fitting(
        &self,
        max_width: u32,
        max_height: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), UserError> {
        let (width, height) = self.size_fitting(max_width, max_height);
        let failed = |e: runde_media::MediaError| UserError::MediaFailed {
            detail: e.to_string(),
        };
        if (width, height) == self.size() {
            append_rgba(&self.frame, out).map_err(failed)?;
        } else {
            let scaled = scale_i420(&self.frame, width, height).map_err(failed)?;
            append_rgba(&scaled, out).map_err(failed)?;
        }
        Ok(())
    }
}

/// The largest even size within `max` with the aspect ratio of `size`, never larger than `size`,
/// at least 2 × 2.
fn fit(size: (u32, u32), max: (u32, u32)) -> (u32, u32) {
    let (w, h) = (u64::from(size.0.max(2)), u64::from(size.1.max(2)));
    let (mw, mh) = (u64::from(max.0.max(2)), u64::from(max.1.max(2)));
    if w <= mw && h <= mh {
        return size;
    }
    // Scale by the tighter of the two limits.
    let (nw, nh) = if w * mh > h * mw {
        (mw, h * mw / w)
    } else {
        (w * mh / h, mh)
    };
    let even = |v: u64| ((v.max(2) / 2) * 2) as u32;
    (even(nw), even(nh))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32) -> I420Frame {
        I420Frame::black(w, h).expect("a valid size")
    }

    #[test]
    fn a_slow_screen_gets_the_newest_picture_and_the_rest_is_counted() {
        let screen = VideoScreen::new();
        for i in 0..5 {
            let mut f = frame(64, 36);
            f.timestamp_us = i;
            screen.show("7", f);
        }
        screen.show("8", frame(64, 36));
        let taken = screen.take(|p| p == "7");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].timestamp_us(), 4, "the newest");
        assert!(screen.take(|p| p == "7").is_empty(), "nothing new");
        let counts = screen.counts();
        assert_eq!(
            counts.get("7"),
            Some(&TileCounts {
                shown: 5,
                taken: 1,
                replaced: 4
            })
        );
        assert_eq!(counts.get("8").map(|c| c.taken), Some(0), "not wanted yet");
        screen.forget("8");
        assert_eq!(screen.counts().into_keys().collect::<Vec<_>>(), ["7"]);
    }

    #[test]
    fn pictures_are_scaled_down_to_the_tile_keeping_their_shape() -> Result<(), UserError> {
        assert_eq!(fit((1280, 720), (320, 320)), (320, 180));
        assert_eq!(fit((1280, 720), (1000, 200)), (354, 200));
        assert_eq!(fit((640, 360), (1920, 1080)), (640, 360), "never up");
        assert_eq!(fit((640, 360), (0, 0)), (2, 2));
        let screen = VideoScreen::new();
        screen.show("1", frame(640, 360));
        let mut message = b"head".to_vec();
        let taken = screen.take(|_| true);
        assert_eq!(taken[0].size_fitting(160, 160), (160, 90));
        taken[0].append_rgba_fitting(160, 160, &mut message)?;
        assert_eq!(message.len(), 4 + 160 * 90 * 4);
        assert_eq!(&message[..4], b"head", "what was there stays");
        assert_eq!(&message[4..8], &[0, 0, 0, 255], "black, opaque");
        Ok(())
    }

    #[tokio::test]
    async fn a_waiting_drawer_wakes_when_a_picture_arrives() {
        let screen = VideoScreen::new();
        let waiter = {
            let screen = screen.clone();
            tokio::spawn(async move {
                screen.changed().await;
                screen.take(|_| true).len()
            })
        };
        tokio::task::yield_now().await;
        screen.show("1", frame(16, 16));
        assert_eq!(waiter.await.ok(), Some(1));
    }
}
