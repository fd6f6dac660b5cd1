//! Video playout timing: when each received frame goes to the screen.
//!
//! Frames go in decoded (a VP8 decoder must see every frame, shown or not), with their RTP
//! timestamp and arrival time; [`VideoPlayout::poll`] hands out the frame to show now. Each frame
//! is due at its capture time plus a delay that covers the usual network jitter (the 95th
//! percentile of frame lateness over the fastest recent frame) and a render margin, so motion is
//! as even as it was captured. With [`AvSync`], a frame waits until the audio captured with it
//! plays; if video cannot be that early, lip sync makes audio wait instead.
//!
//! Sans-IO: the caller supplies milliseconds on its monotonic clock and asks
//! [`VideoPlayout::next_due_ms`] when to poll next, so no timer spins.

use std::collections::VecDeque;

use crate::sync::AvSync;
use crate::timing::{ArrivalWindow, Unwrapper};

/// Frames remembered for the lateness percentile (4 s at 30 fps).
const WINDOW: usize = 120;
/// At most this many frames wait; older ones are dropped (a stalled screen must not hoard
/// decoded pictures).
const MAX_QUEUED: usize = 30;
/// Time from "due" to the picture on the screen, allowed for by default, in ms.
const RENDER_MARGIN_MS: u64 = 10;
/// Longest delay video aims for on its own, in ms.
const CEILING_MS: u64 = 1000;
/// A frame later than the target by more than this is a stall (a burst after a network hiccup),
/// not jitter: it does not raise the delay for the seconds after it...
const STALL_MS: u64 = 150;
/// ...unless frames keep coming that late (about 1 s of them): then the path itself got slower.
const STALLS_UNTIL_NEW_PATH: u32 = 30;

/// Playout counters, in the spirit of WebRTC's `getStats()` for inbound video.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VideoPlayoutStats {
    /// Frames handed to [`VideoPlayout::insert`].
    pub frames_received: u64,
    /// Frames returned by [`VideoPlayout::poll`].
    pub frames_shown: u64,
    /// Frames never shown: too late (an older timestamp than one already shown), overtaken by a
    /// newer due frame, or dropped from a full queue.
    pub frames_dropped: u64,
    /// Pauses longer than `max(3 × average frame interval, average + 150 ms)` between shown
    /// frames (WebRTC's freeze definition).
    pub freezes: u64,
    /// Total time spent in those pauses, in ms.
    pub total_freeze_ms: u64,
    /// The delay from capture (fastest path) to due that video aims for on its own, in ms.
    pub target_delay_ms: u64,
}

struct Queued<T> {
    ts: u64,
    frame: T,
}

/// Playout timing for one received video stream; `T` is the decoded frame type.
pub struct VideoPlayout<T> {
    queue: VecDeque<Queued<T>>,
    ts: Unwrapper,
    window: ArrivalWindow,
    render_margin_ms: u64,
    last_shown: Option<(u64, u64)>,
    /// Frames in a row that arrived as stalls.
    stalls_in_a_row: u32,
    /// Average interval between shown frames, in ms.
    interval_ms: Option<f64>,
    stats: VideoPlayoutStats,
}

impl<T> Default for VideoPlayout<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> VideoPlayout<T> {
    /// Empty, with the default render margin.
    pub fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            ts: Unwrapper::new(32),
            window: ArrivalWindow::new(WINDOW),
            render_margin_ms: RENDER_MARGIN_MS,
            last_shown: None,
            stalls_in_a_row: 0,
            interval_ms: None,
            stats: VideoPlayoutStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> VideoPlayoutStats {
        VideoPlayoutStats {
            target_delay_ms: self.target_delay_ms(),
            ..self.stats
        }
    }

    /// The stream paused on purpose (camera off, layer switch): forget the timing so the pause
    /// does not count as a freeze and the next frame is not judged by old arrivals.
    pub fn reset(&mut self) {
        self.stats.frames_dropped += self.queue.len() as u64;
        self.queue.clear();
        self.window = ArrivalWindow::new(WINDOW);
        self.stalls_in_a_row = 0;
        self.last_shown = None;
        self.interval_ms = None;
    }

    /// A decoded frame with RTP timestamp `rtp` (90 kHz) that arrived (was complete) at
    /// `arrival_ms`.
    pub fn insert(&mut self, rtp: u32, arrival_ms: u64, frame: T) {
        self.stats.frames_received += 1;
        let ts = self.ts.unwrap(u64::from(rtp));
        if self.last_shown.is_some_and(|(shown, _)| ts <= shown) {
            self.stats.frames_dropped += 1;
            return;
        }
        self.learn_arrival(arrival_ms, ts / 90);
        let at = self.queue.partition_point(|q| q.ts < ts);
        if self.queue.get(at).is_some_and(|q| q.ts == ts) {
            // The same picture twice: keep the first.
            self.stats.frames_dropped += 1;
            return;
        }
        self.queue.insert(at, Queued { ts, frame });
        while self.queue.len() > MAX_QUEUED {
            self.queue.pop_front();
            self.stats.frames_dropped += 1;
        }
    }

    /// Teach the lateness window, except for stalls.
    fn learn_arrival(&mut self, arrival_ms: u64, media_ms: u64) {
        let expected = self.window.expected_arrival_ms(media_ms) + self.target_delay_ms();
        let stall = !self.window.is_empty() && arrival_ms > expected + STALL_MS;
        if !stall {
            self.stalls_in_a_row = 0;
        } else if self.stalls_in_a_row + 1 < STALLS_UNTIL_NEW_PATH {
            self.stalls_in_a_row += 1;
            return;
        } else {
            self.stalls_in_a_row = 0;
            self.window = ArrivalWindow::new(WINDOW);
        }
        self.window.push(arrival_ms, media_ms);
    }

    fn target_delay_ms(&self) -> u64 {
        (self.window.p95_lateness_ms() + self.render_margin_ms).min(CEILING_MS)
    }

    /// When video could show the frame with timestamp `ts` on its own: as early as the fastest
    /// recent frame made it, plus the usual lateness and the render margin.
    fn ready_ms(&self, ts: u64) -> f64 {
        (self.window.expected_arrival_ms(ts / 90) + self.target_delay_ms()) as f64
    }

    fn due_ms(&self, ts: u64, sync: Option<&AvSync>) -> f64 {
        let ready = self.ready_ms(ts);
        sync.and_then(|s| s.video_due_ms((ts & 0xffff_ffff) as u32))
            .map_or(ready, |synced| synced.max(ready))
    }

    /// When the next queued frame is due (local ms), to schedule the next [`Self::poll`].
    pub fn next_due_ms(&self, sync: Option<&AvSync>) -> Option<u64> {
        let first = self.queue.front()?;
        Some(self.due_ms(first.ts, sync).ceil().max(0.0) as u64)
    }

    /// The frame to show at `now_ms`, if one is due: the newest due frame; older due frames are
    /// dropped. With lip sync, the frame's timing is reported back to it.
    pub fn poll(&mut self, now_ms: u64, sync: Option<&mut AvSync>) -> Option<T> {
        let mut shown: Option<Queued<T>> = None;
        while let Some(first) = self.queue.front() {
            if self.due_ms(first.ts, sync.as_deref()) > now_ms as f64 {
                break;
            }
            if shown.is_some() {
                self.stats.frames_dropped += 1;
            }
            shown = self.queue.pop_front();
        }
        let shown = shown?;
        if let Some(sync) = sync {
            let ready = self.ready_ms(shown.ts);
            sync.on_video_shown((shown.ts & 0xffff_ffff) as u32, ready, now_ms);
        }
        self.count_interval(now_ms);
        self.last_shown = Some((shown.ts, now_ms));
        self.stats.frames_shown += 1;
        Some(shown.frame)
    }

    fn count_interval(&mut self, now_ms: u64) {
        let Some((_, last_ms)) = self.last_shown else {
            return;
        };
        let interval = now_ms.saturating_sub(last_ms) as f64;
        self.interval_ms = Some(match self.interval_ms {
            Some(avg) if interval > (3.0 * avg).max(avg + 150.0) => {
                self.stats.freezes += 1;
                self.stats.total_freeze_ms += interval as u64;
                // Freezes do not teach the average.
                avg
            }
            Some(avg) => avg + (interval - avg) / 8.0,
            None => interval,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::TestRng;

    /// Drive a playout at 1 ms resolution with frames (their capture ms) arriving as given;
    /// returns (shown at, capture ms) pairs.
    fn run(arrivals: &[(u64, u64)], until_ms: u64) -> (Vec<(u64, u64)>, VideoPlayoutStats) {
        let mut playout = VideoPlayout::new();
        let mut sorted = arrivals.to_vec();
        sorted.sort_by_key(|a| a.0);
        let mut next = 0;
        let mut shown = Vec::new();
        for now in 0..until_ms {
            while next < sorted.len() && sorted[next].0 <= now {
                let (at, captured) = sorted[next];
                playout.insert((captured * 90) as u32, at, captured);
                next += 1;
            }
            if let Some(frame) = playout.poll(now, None) {
                shown.push((now, frame));
            }
        }
        (shown, playout.stats())
    }

    #[test]
    fn jittery_arrivals_play_out_evenly() {
        let mut rng = TestRng::new(7);
        // 30 fps for 10 s; 50 ms base delay plus 0..40 ms jitter.
        let arrivals: Vec<(u64, u64)> = (0..300u64)
            .map(|i| {
                let captured = i * 1000 / 30;
                (captured + 50 + (rng.next_f32() * 40.0) as u64, captured)
            })
            .collect();
        let (shown, stats) = run(&arrivals, 11_000);
        let settled = &shown[90..];
        // Shown at capture time + a constant delay: intervals equal the captured ones (±1 ms).
        let offsets: Vec<i64> = settled
            .iter()
            .map(|(at, c)| *at as i64 - *c as i64)
            .collect();
        let spread = offsets.iter().max().unwrap_or(&0) - offsets.iter().min().unwrap_or(&0);
        assert!(spread <= 3, "playout delay wanders by {spread} ms");
        assert!(stats.frames_dropped <= 3, "{stats:?}");
        assert_eq!(stats.freezes, 0);
        assert!((40..=60).contains(&stats.target_delay_ms), "{stats:?}");
    }

    #[test]
    fn a_stall_is_a_freeze_and_stale_frames_are_skipped() {
        // 30 fps, 40 ms delay, but frames captured between 3 s and 3.5 s arrive together at 3.6 s.
        let arrivals: Vec<(u64, u64)> = (0..180u64)
            .map(|i| {
                let captured = i * 1000 / 30;
                let at = if (3000..3500).contains(&captured) {
                    3540
                } else {
                    captured + 40
                };
                (at, captured)
            })
            .collect();
        let (shown, stats) = run(&arrivals, 6200);
        assert_eq!(stats.freezes, 1, "{stats:?}");
        assert!((450..=650).contains(&stats.total_freeze_ms), "{stats:?}");
        // The burst is not replayed in slow motion: the newest due frame is shown, older skipped.
        assert!(stats.frames_dropped >= 10, "{stats:?}");
        assert!(
            shown.windows(2).all(|w| w[1].1 > w[0].1),
            "frames go forwards"
        );
    }

    #[test]
    fn a_lasting_slower_path_is_learned() {
        // 40 ms delay for 3 s, then 400 ms from then on.
        let arrivals: Vec<(u64, u64)> = (0..270u64)
            .map(|i| {
                let captured = i * 1000 / 30;
                (captured + if captured < 3000 { 40 } else { 400 }, captured)
            })
            .collect();
        let (shown, stats) = run(&arrivals, 9500);
        // Once learned, frames play evenly again (not each one "late" as it arrives).
        let tail: Vec<i64> = shown[shown.len() - 60..]
            .iter()
            .map(|(at, c)| *at as i64 - *c as i64)
            .collect();
        assert!(tail.iter().all(|d| (400..=420).contains(d)), "{tail:?}");
        assert!(stats.target_delay_ms <= 20, "{stats:?}");
    }

    #[test]
    fn reordered_and_duplicate_frames_are_dropped_not_shown_backwards() {
        let mut playout = VideoPlayout::new();
        playout.insert(9000, 100, "b");
        playout.insert(0, 101, "a");
        playout.insert(9000, 102, "b again");
        assert_eq!(playout.poll(2000, None), Some("b"));
        playout.insert(4500, 2001, "too late");
        assert_eq!(playout.poll(3000, None), None);
        let stats = playout.stats();
        assert_eq!((stats.frames_shown, stats.frames_dropped), (1, 3));
    }
}
