//! Lip sync: playing a participant's audio and video so that what was captured together is heard
//! and seen together.
//!
//! Both streams carry RTP timestamps on their own clocks (48 kHz audio, 90 kHz video) with random
//! starting points. RTCP sender reports tie each stream's RTP clock to the sender's wall clock
//! (NTP), which both streams share. Audio plays at its own pace (the jitter buffer); for each
//! piece of audio played we learn the *audio offset*: local play time minus the sender's capture
//! time. A video frame is due at its own capture time plus that same offset. When video cannot
//! make it (its network path or decoding is slower), audio is asked to wait longer instead,
//! through the jitter buffer's minimum delay — in small steps, so nobody hears it.
//!
//! Sans-IO: times go in as milliseconds on the caller's monotonic clock. The receiver's and the
//! sender's clocks need no relation: the difference cancels out because both streams use it.

/// An RTCP sender report's clock pair (RFC 3550 §6.4.1): the sender's wall clock (64-bit NTP,
/// seconds since 1900 in the upper 32 bits, fraction in the lower) at the moment its RTP clock
/// read `rtp_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// NTP timestamp, 32.32 fixed point.
    pub ntp_time: u64,
    /// The RTP timestamp at the same instant.
    pub rtp_time: u32,
}

impl SenderReport {
    /// The NTP timestamp in milliseconds.
    fn ntp_ms(self) -> f64 {
        let seconds = (self.ntp_time >> 32) as f64;
        let fraction = (self.ntp_time & 0xffff_ffff) as f64 / 4_294_967_296.0;
        (seconds + fraction) * 1000.0
    }
}

/// Maps one stream's RTP timestamps to the sender's wall clock, anchored at the latest sender
/// report. Between reports the nominal clock rate is used: senders report every few seconds, so
/// even a 100 ppm clock error stays below a millisecond.
#[derive(Debug, Clone)]
pub struct RtpClock {
    clock_rate: f64,
    anchor: Option<SenderReport>,
}

impl RtpClock {
    /// A clock with this nominal rate in Hz (48 000 for Opus, 90 000 for video).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: f64::from(clock_rate.max(1)),
            anchor: None,
        }
    }

    /// A sender report arrived. Reports without a wall clock (NTP 0) are ignored.
    pub fn on_sender_report(&mut self, report: SenderReport) {
        if report.ntp_time != 0 {
            self.anchor = Some(report);
        }
    }

    /// The sender's wall-clock time (ms) at RTP timestamp `rtp`, once a report has arrived.
    /// Timestamps within ±2³¹ ticks of the report (6.6 hours of video) map correctly.
    pub fn sender_time_ms(&self, rtp: u32) -> Option<f64> {
        let anchor = self.anchor?;
        let ticks = f64::from(rtp.wrapping_sub(anchor.rtp_time) as i32);
        Some(anchor.ntp_ms() + ticks * 1000.0 / self.clock_rate)
    }
}

/// How fast the audio delay asked for may change, in ms per second: slow enough to go unnoticed.
const AUDIO_DELAY_SLEW_MS_PER_S: f64 = 100.0;
/// Smoothing of the audio offset and level (they move in 10 ms steps as the jitter buffer adapts).
const SMOOTHING: f64 = 0.1;

/// Lip-sync counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SyncStats {
    /// Audio capture time minus video capture time of what was heard and seen at the moment the
    /// last frame was shown, in ms: positive means the picture is behind the sound.
    pub last_skew_ms: f64,
    /// The minimum delay asked of the audio jitter buffer so that video can keep up, in ms
    /// (0: none, audio plays as early as its network allows).
    pub audio_min_delay_ms: u64,
    /// Whether both streams have sender reports and audio is playing.
    pub synced: bool,
}

/// Lip sync for one participant's audio and video stream.
#[derive(Debug, Clone)]
pub struct AvSync {
    audio: RtpClock,
    video: RtpClock,
    /// Local play time minus sender capture time for audio, smoothed, in ms.
    audio_offset_ms: Option<f64>,
    /// The delay the jitter buffer adds, smoothed, in ms.
    audio_buffered_ms: f64,
    /// The audio delay lip sync wants (0: none).
    goal_ms: f64,
    /// The audio delay asked for now, moving towards the goal at a limited speed.
    requested_ms: f64,
    last_update_ms: Option<u64>,
    last_skew_ms: f64,
}

impl Default for AvSync {
    fn default() -> Self {
        Self::new()
    }
}

impl AvSync {
    /// Opus audio (48 kHz RTP clock) with video (90 kHz).
    pub fn new() -> Self {
        Self {
            audio: RtpClock::new(48_000),
            video: RtpClock::new(90_000),
            audio_offset_ms: None,
            audio_buffered_ms: 0.0,
            goal_ms: 0.0,
            requested_ms: 0.0,
            last_update_ms: None,
            last_skew_ms: 0.0,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            last_skew_ms: self.last_skew_ms,
            audio_min_delay_ms: self.audio_min_delay_ms(),
            synced: self.audio_offset_ms.is_some() && self.video.anchor.is_some(),
        }
    }

    /// A sender report for the audio stream.
    pub fn on_audio_sender_report(&mut self, report: SenderReport) {
        self.audio.on_sender_report(report);
    }

    /// A sender report for the video stream.
    pub fn on_video_sender_report(&mut self, report: SenderReport) {
        self.video.on_sender_report(report);
    }

    /// Audio with RTP timestamp `rtp` reaches the listener at local time `play_ms` (the pull
    /// time plus the output latency); the jitter buffer adds `buffered_ms` of delay, in the terms
    /// of its minimum delay ([`crate::jitter::AudioJitterBuffer::delay_ms`]).
    pub fn on_audio_played(&mut self, rtp: u32, play_ms: u64, buffered_ms: u64) {
        let Some(captured) = self.audio.sender_time_ms(rtp) else {
            return;
        };
        let offset = play_ms as f64 - captured;
        if self.audio_offset_ms.is_none() {
            self.audio_buffered_ms = buffered_ms as f64;
        }
        self.audio_offset_ms = Some(match self.audio_offset_ms {
            // A jump (a new sender report with a stepped clock, a long pause) is taken at once.
            Some(old) if (offset - old).abs() < 200.0 => old + (offset - old) * SMOOTHING,
            _ => offset,
        });
        self.audio_buffered_ms += (buffered_ms as f64 - self.audio_buffered_ms) * SMOOTHING;
        self.step_towards_goal(play_ms);
    }

    /// When the video frame with RTP timestamp `rtp` should be shown to match the audio, in
    /// local ms; `None` until both streams can be mapped to the sender's clock.
    pub fn video_due_ms(&self, rtp: u32) -> Option<f64> {
        let offset = self.audio_offset_ms?;
        Some(self.video.sender_time_ms(rtp)? + offset)
    }

    /// Video playout shows the frame with RTP timestamp `rtp` at `shown_ms`; on its own it could
    /// have shown it at `ready_ms` at the earliest. When video is ready later than audio wants it,
    /// audio is asked to wait that much longer; when audio waits longer than needed, less.
    pub fn on_video_shown(&mut self, rtp: u32, ready_ms: f64, shown_ms: u64) {
        let Some(due) = self.video_due_ms(rtp) else {
            return;
        };
        // With audio offset `o`, the picture on screen now was captured at `due − o` and the
        // sound heard now at `shown − o`.
        self.last_skew_ms = shown_ms as f64 - due;
        let lag = ready_ms - due;
        self.goal_ms = (self.audio_buffered_ms + lag).clamp(0.0, 1000.0);
        if lag <= 0.0 && self.requested_ms <= 0.0 {
            self.goal_ms = 0.0;
        }
    }

    /// The minimum delay to ask of the audio jitter buffer, in ms (0: no constraint).
    pub fn audio_min_delay_ms(&self) -> u64 {
        self.requested_ms.round().max(0.0) as u64
    }

    fn step_towards_goal(&mut self, now_ms: u64) {
        let elapsed = self
            .last_update_ms
            .map_or(0.0, |last| now_ms.saturating_sub(last) as f64);
        self.last_update_ms = Some(now_ms);
        if self.goal_ms > self.requested_ms && self.requested_ms < self.audio_buffered_ms {
            // Asking for less than the buffer already holds changes nothing: start from there.
            self.requested_ms = self.audio_buffered_ms.min(self.goal_ms);
        }
        let max_step = AUDIO_DELAY_SLEW_MS_PER_S * elapsed / 1000.0;
        self.requested_ms += (self.goal_ms - self.requested_ms).clamp(-max_step, max_step);
        if self.goal_ms <= 0.0 && self.requested_ms < self.audio_buffered_ms {
            // Back below what the network needs anyway: no constraint.
            self.requested_ms = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ntp(ms: u64) -> u64 {
        let seconds = ms / 1000;
        let fraction = ((ms % 1000) << 32) / 1000;
        (seconds << 32) | fraction
    }

    #[test]
    fn rtp_timestamps_map_to_the_senders_clock_across_a_wrap() {
        let mut clock = RtpClock::new(90_000);
        assert_eq!(clock.sender_time_ms(1234), None);
        clock.on_sender_report(SenderReport {
            ntp_time: ntp(3_900_000_000_000),
            rtp_time: u32::MAX - 8999,
        });
        let at =
            |clock: &RtpClock, rtp: u32| clock.sender_time_ms(rtp).map(|t| t - 3_900_000_000_000.0);
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 0.01);
        assert!(close(at(&clock, u32::MAX - 8999), 0.0));
        assert!(close(at(&clock, 0), 100.0));
        assert!(close(at(&clock, u32::MAX - 17_999), -100.0));
        clock.on_sender_report(SenderReport {
            ntp_time: 0,
            rtp_time: 5,
        });
        assert!(
            close(at(&clock, 0), 100.0),
            "a report without wall clock is ignored"
        );
    }

    #[test]
    fn video_is_due_when_the_audio_captured_with_it_plays() {
        let mut sync = AvSync::new();
        // Audio RTP 48 000 and video RTP 900 000 were both captured at sender time 10 s.
        sync.on_audio_sender_report(SenderReport {
            ntp_time: ntp(10_000),
            rtp_time: 48_000,
        });
        sync.on_video_sender_report(SenderReport {
            ntp_time: ntp(10_000),
            rtp_time: 900_000,
        });
        assert_eq!(sync.video_due_ms(900_000), None, "no audio played yet");
        // Audio captured at 10.5 s plays at local 77 000 ms.
        sync.on_audio_played(48_000 + 24_000, 77_000, 40);
        let due = sync.video_due_ms(900_000 + 45_000);
        assert!(due.is_some_and(|d| (d - 77_000.0).abs() < 0.01), "{due:?}");
        assert!(sync.stats().synced);
    }

    /// Audio needs 40 ms, video 200 ms. The jitter buffer follows a raised minimum delay at
    /// 50 ms per second (it only stretches in quiet moments). Audio ends up waiting for video,
    /// without overshooting, and the request never jumps.
    #[test]
    fn late_video_makes_audio_wait_in_small_steps() {
        let mut sync = AvSync::new();
        for report in [0u64, 1] {
            let r = SenderReport {
                ntp_time: ntp(5000),
                rtp_time: 0,
            };
            if report == 0 {
                sync.on_audio_sender_report(r);
            } else {
                sync.on_video_sender_report(r);
            }
        }
        let mut audio_delay = 40.0f64;
        let mut requests = Vec::new();
        let mut skews = Vec::new();
        for tick in 0..1000u64 {
            let captured_ms = tick * 10;
            let now = 900_000 + captured_ms + audio_delay.round() as u64;
            sync.on_audio_played((captured_ms * 48) as u32, now, audio_delay.round() as u64);
            let wanted = sync.audio_min_delay_ms() as f64;
            audio_delay += (wanted.max(40.0) - audio_delay).clamp(-0.5, 0.5);
            // A video frame every 30 ms, ready 200 ms after capture.
            if tick % 3 == 0 {
                let rtp = (captured_ms * 90) as u32;
                let ready = (900_000 + captured_ms + 200) as f64;
                let due = sync.video_due_ms(rtp).unwrap_or(ready);
                sync.on_video_shown(rtp, ready, ready.max(due).round() as u64);
                skews.push(sync.stats().last_skew_ms);
            }
            requests.push(sync.audio_min_delay_ms());
        }
        // The first request starts at what the buffer already holds (a no-op); from there on
        // it moves in small steps.
        let first = requests.iter().position(|r| *r > 0).unwrap_or(0);
        assert!(requests[first] <= 45, "{}", requests[first]);
        let jumps: Vec<_> = requests
            .windows(2)
            .enumerate()
            .skip(first)
            .filter(|(_, w)| w[1].abs_diff(w[0]) > 2)
            .collect();
        assert!(jumps.is_empty(), "first {first}: {jumps:?}");
        let settled = &requests[600..];
        assert!(
            settled.iter().all(|r| (195..=210).contains(r)),
            "{settled:?}"
        );
        assert!(
            skews[250..].iter().all(|s| s.abs() < 10.0),
            "{:?}",
            &skews[250..]
        );
        assert!(sync.stats().synced);
    }
}
