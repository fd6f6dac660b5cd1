//! Sending: each of our tracks gets a task that reads its source at the source's pace, encodes
//! and hands RTP payloads to the transport. Mute and camera-off stop the packets (nothing is
//! sent, not even silence); keyframe requests from the server are honoured with the next frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use runde_media::audio::{AudioSource, FRAME_20MS, Tone, WavSource};
use runde_media::codec::opus::{OpusConfig, OpusEncoder};
use runde_media::codec::vp8::{Vp8Config, Vp8Encoder};
use runde_media::rtp::vp8::Vp8Packetizer;
use runde_media::transport::LocalTrack;
use runde_media::video::{TestPattern, VideoSource, Y4mSource};
use tokio::task::JoinHandle;

use super::{AudioIn, VideoIn};
use crate::UserError;

/// RTP payload size for video: leaves room for SRTP, RTP header and extensions under a 1200-byte
/// packet, which passes every path we know of.
const VIDEO_PAYLOAD: usize = 1100;

fn media_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

/// Our outgoing media.
pub(crate) struct Sender {
    audio_muted: Arc<AtomicBool>,
    video_off: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sender {
    /// Open the sources now (a missing file fails the join, not the call later), start sending
    /// on these tracks.
    pub(crate) fn start(
        audio: Option<(Arc<LocalTrack>, &AudioIn)>,
        video: Option<(Arc<LocalTrack>, &VideoIn)>,
    ) -> Result<Self, UserError> {
        let audio_muted = Arc::new(AtomicBool::new(false));
        let video_off = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        if let Some((track, input)) = audio {
            let source: Box<dyn AudioSource> = match input {
                AudioIn::Off => Box::new(runde_media::audio::Silence),
                AudioIn::Tone { hz } => Box::new(Tone::new(*hz, 0.3)),
                AudioIn::Wav(path) => Box::new(WavSource::open(path, true).map_err(media_failed)?),
            };
            let encoder = OpusEncoder::new(OpusConfig::default()).map_err(media_failed)?;
            tasks.push(tokio::spawn(send_audio(
                track,
                source,
                encoder,
                audio_muted.clone(),
            )));
        }
        if let Some((track, input)) = video {
            let (source, fps): (Box<dyn VideoSource>, u32) = match input {
                VideoIn::Off => return Ok(Self::new(audio_muted, video_off, tasks)),
                VideoIn::Pattern { width, height, fps } => (
                    Box::new(TestPattern::new(*width, *height, *fps).map_err(media_failed)?),
                    *fps,
                ),
                VideoIn::Y4m(path) => {
                    let file = Y4mSource::open(path, true).map_err(media_failed)?;
                    let (num, den) = file.fps();
                    (Box::new(file), (num / den.max(1)).clamp(1, 60))
                }
            };
            let keyframe = Arc::new(AtomicBool::new(true));
            tasks.push(tokio::spawn(listen_feedback(
                track.clone(),
                keyframe.clone(),
            )));
            tasks.push(tokio::spawn(send_video(
                track,
                source,
                fps,
                keyframe,
                video_off.clone(),
            )));
        }
        Ok(Self::new(audio_muted, video_off, tasks))
    }

    fn new(
        audio_muted: Arc<AtomicBool>,
        video_off: Arc<AtomicBool>,
        tasks: Vec<JoinHandle<()>>,
    ) -> Self {
        Self {
            audio_muted,
            video_off,
            tasks,
        }
    }

    /// Stop or resume sending our sound.
    pub(crate) fn set_audio_muted(&self, muted: bool) {
        self.audio_muted.store(muted, Ordering::Relaxed);
    }

    /// Stop or resume sending our picture.
    pub(crate) fn set_video_off(&self, off: bool) {
        self.video_off.store(off, Ordering::Relaxed);
    }

    /// Stop every sending task.
    pub(crate) fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_u32() -> u32 {
    use std::hash::BuildHasher;
    let seed = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (seed >> 16) as u32
}

async fn send_audio(
    track: Arc<LocalTrack>,
    mut source: Box<dyn AudioSource>,
    mut encoder: OpusEncoder,
    muted: Arc<AtomicBool>,
) {
    let mut pcm = vec![0.0; FRAME_20MS];
    let mut timestamp = random_u32();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut after_gap = true;
    let mut failures = 0u32;
    loop {
        ticker.tick().await;
        let packet_ts = timestamp;
        timestamp = timestamp.wrapping_add(FRAME_20MS as u32);
        let n = source.read(&mut pcm).unwrap_or(0);
        pcm[n..].fill(0.0);
        if muted.load(Ordering::Relaxed) {
            after_gap = true;
            continue;
        }
        let Ok(payload) = encoder.encode(&pcm) else {
            continue;
        };
        // A DTX frame (1–2 bytes) is not sent: silence costs nothing on the wire.
        if payload.len() <= 2 {
            after_gap = true;
            continue;
        }
        let payload = Bytes::copy_from_slice(payload);
        match track.send(payload, packet_ts, after_gap).await {
            Ok(()) => after_gap = false,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::debug!(error = %e, "audio not sent (transport not ready)");
                }
            }
        }
    }
}

async fn listen_feedback(track: Arc<LocalTrack>, keyframe: Arc<AtomicBool>) {
    while let Some(wants_keyframe) = track.next_feedback().await {
        if wants_keyframe {
            keyframe.store(true, Ordering::Relaxed);
        }
    }
}

async fn send_video(
    track: Arc<LocalTrack>,
    mut source: Box<dyn VideoSource>,
    fps: u32,
    keyframe: Arc<AtomicBool>,
    off: Arc<AtomicBool>,
) {
    let mut encoder: Option<Vp8Encoder> = None;
    let mut packetizer = Vp8Packetizer::new(VIDEO_PAYLOAD, random_u32() as u16);
    let start = Instant::now();
    let ts_base = random_u32();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / fps.max(1));
    loop {
        ticker.tick().await;
        let frame = match source.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "video source failed; video stops");
                return;
            }
        };
        if off.load(Ordering::Relaxed) {
            // The next picture after the camera comes back must be decodable on its own.
            keyframe.store(true, Ordering::Relaxed);
            continue;
        }
        let size = (frame.width(), frame.height());
        let encoder = match &mut encoder {
            Some(e) if (e.config().width, e.config().height) == size => e,
            slot => {
                let mut config = Vp8Config::camera(size.0, size.1);
                config.fps = fps;
                match Vp8Encoder::new(config) {
                    Ok(e) => slot.insert(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "no VP8 encoder; video stops");
                        return;
                    }
                }
            }
        };
        if keyframe.swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let Ok(encoded) = encoder.encode(&frame) else {
            continue;
        };
        let timestamp = ts_base.wrapping_add((start.elapsed().as_micros() * 9 / 100) as u32);
        for frame in encoded {
            let payloads = packetizer.packetize(&frame);
            let last = payloads.len().saturating_sub(1);
            for (i, payload) in payloads.into_iter().enumerate() {
                if track
                    .send(Bytes::from(payload), timestamp, i == last)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}
