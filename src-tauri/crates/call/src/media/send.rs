//! Sending: each of our tracks gets a task that reads its source at the source's pace, encodes
//! and hands RTP payloads to the transport. Mute and camera-off stop the packets (nothing is
//! sent, not even silence); keyframe requests from the server are honoured with the next frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use runde_e2ee::{FrameEncryptor, FrameKind, KeyChain};
use runde_media::audio::{AudioSource, FRAME_10MS, FRAME_20MS, LevelMeter, Tone, WavSource};
use runde_media::codec::opus::{OpusConfig, OpusEncoder, SPEECH_BPS, SteadyLoss, fec_for_loss};
use runde_media::codec::vp8::{EncodedFrame, Vp8Config, Vp8Encoder};
use runde_media::pacer::{PACING_FACTOR, Pacer};
use runde_media::rtp::random_start;
use runde_media::rtp::vp8::Vp8Packetizer;
use runde_media::transport::LocalTrack;
use runde_media::video::camera::CameraQuality;
use runde_media::video::convert::scale_i420;
use runde_media::video::ivf::IvfSource;
use runde_media::video::ladder::VideoPlan;
use runde_media::video::load::EncodeLoad;
use runde_media::video::simulcast::{SimulcastLadder, layer_count};
use runde_media::video::{TestPattern, VideoInput, Y4mSource};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{AudioIn, DeviceReport, DeviceRole, SELF_VIEW, VideoIn, VideoScreen};
use crate::UserError;

/// RTP payload size for video: leaves room for SRTP, RTP header and extensions under a 1200-byte
/// packet, which passes every path we know of.
const VIDEO_PAYLOAD: usize = 1100;
/// Cameras are asked for this many frames per second.
const CAMERA_FPS: u32 = 30;
/// ... and this size: 720p, sent as three layers (180p, 360p, 720p). A computer that cannot
/// encode that in time drops the biggest layer ([`EncodeLoad`]); a camera that only has smaller
/// pictures sends what it has.
const CAMERA_QUALITY: CameraQuality = CameraQuality::P720;
/// What video is paced at before the server has reported on what we send (bit/s, before the
/// pacing factor): the encoder's default bitrate with room for keyframes.
const UNKNOWN_PACE_BPS: u32 = 1_000_000;
/// A picture is skipped while the pacer still holds this much: the encoder makes more than the
/// link carries (a keyframe, or an estimate that just fell), and a picture that would leave this
/// late is better not made.
const MAX_PACER_QUEUE: Duration = Duration::from_millis(150);
/// How often the audio encoder is told the loss the server reports (packets of 20 ms).
const LOSS_UPDATE_PACKETS: u32 = 50;

fn media_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

/// Commands for the video thread.
enum VideoCommand {
    SwitchCamera {
        id: Option<String>,
        done: oneshot::Sender<Result<(), UserError>>,
    },
}

/// Where our sound comes from, opened.
enum AudioSourceKind {
    /// Generated or read from a file, paced by the sender.
    Samples(Box<dyn AudioSource>),
    /// Clean microphone frames from the device thread, paced by the device.
    Captured(mpsc::UnboundedReceiver<Vec<f32>>),
}

/// Our sources, opened before we offer anything, so that a missing file, microphone or camera
/// fails the join with a clear error instead of a silent call.
pub(crate) struct Sources {
    audio: Option<AudioSourceKind>,
    /// Already encoded pictures, sent as they are (one file per layer, smallest first).
    encoded: Vec<IvfSource>,
    video: Option<(VideoInput, u32)>,
    /// The camera in use, when the picture comes from one (`Some(None)`: the first camera).
    camera: Option<Option<String>>,
    /// The camera is not open yet (the call starts with the picture off).
    camera_closed: bool,
    /// How many simulcast layers the picture goes out as (1: a single stream).
    layers: usize,
}

impl Sources {
    /// Open what `audio_in` and `video_in` name; a microphone's frames come through `captured`.
    /// With `video_off`, a camera is not opened yet (it opens when the picture is turned on).
    pub(crate) fn open(
        audio_in: &AudioIn,
        video_in: &VideoIn,
        captured: Option<mpsc::UnboundedReceiver<Vec<f32>>>,
        video_off: bool,
        single_layer: bool,
    ) -> Result<Self, UserError> {
        let audio = match (audio_in, captured) {
            (AudioIn::Off, _) => None,
            (AudioIn::Microphone(_), Some(frames)) => Some(AudioSourceKind::Captured(frames)),
            (AudioIn::Microphone(_), None) => return Err(media_failed("no microphone is open")),
            (AudioIn::Tone { hz }, _) => {
                Some(AudioSourceKind::Samples(Box::new(Tone::new(*hz, 0.3))))
            }
            (AudioIn::Wav(path), _) => Some(AudioSourceKind::Samples(Box::new(
                WavSource::open(path, true).map_err(media_failed)?,
            ))),
        };
        let mut source = VideoInput::off();
        // The size the picture starts at: it decides how many layers are offered.
        let mut size = CAMERA_QUALITY.size();
        let fps = match video_in {
            VideoIn::Off => None,
            VideoIn::Pattern { width, height, fps } => {
                let pattern = TestPattern::new(*width, *height, *fps).map_err(media_failed)?;
                source.switch_to("test pattern", Box::new(pattern));
                size = (*width, *height);
                Some(*fps)
            }
            VideoIn::Y4m(path) => {
                let file = Y4mSource::open(path, true).map_err(media_failed)?;
                let (num, den) = file.fps();
                size = file.size();
                source.switch_to(path.display().to_string(), Box::new(file));
                Some((num / den.max(1)).clamp(1, 60))
            }
            VideoIn::Ivf(_) => None,
            VideoIn::Camera(_) if video_off => Some(CAMERA_FPS),
            VideoIn::Camera(id) => {
                source
                    .switch_camera(id.as_deref(), CAMERA_QUALITY, CAMERA_FPS)
                    .map_err(media_failed)?;
                Some(CAMERA_FPS)
            }
        };
        let camera = match video_in {
            VideoIn::Camera(id) => Some(id.clone()),
            _ => None,
        };
        let mut encoded = match video_in {
            VideoIn::Ivf(paths) => paths
                .iter()
                .map(|path| IvfSource::open(path, true).map_err(media_failed))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        if single_layer && encoded.len() > 1 {
            // The biggest file alone.
            encoded.drain(..encoded.len() - 1);
        }
        // Pictures encoded in advance go out as they are: a layer per file.
        let layers = if !encoded.is_empty() {
            encoded.len()
        } else if single_layer {
            1
        } else {
            layer_count(size.0, size.1)
        };
        Ok(Self {
            audio,
            encoded,
            video: fps.map(|fps| (source, fps)),
            camera_closed: camera.is_some() && video_off,
            camera,
            layers,
        })
    }

    /// How many simulcast layers our picture goes out as (1: a single stream).
    pub(crate) fn video_layers(&self) -> usize {
        self.layers
    }

    /// Whether there is sound to send.
    pub(crate) fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Whether there is a picture to send.
    pub(crate) fn has_video(&self) -> bool {
        self.video.is_some() || !self.encoded.is_empty()
    }
}

/// Our outgoing media.
pub(crate) struct Sender {
    audio_muted: Arc<AtomicBool>,
    video_off: Arc<AtomicBool>,
    has_audio: bool,
    has_video: bool,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    video_commands: Option<std_mpsc::Sender<VideoCommand>>,
    video_thread: Option<VideoThread>,
}

/// How long stopping waits for the video thread. It notices `stop` within a frame; one stuck
/// handing a packet to a connection that no longer takes any ends when that connection closes,
/// and leaving must not wait for it.
const VIDEO_STOP_WAIT: Duration = Duration::from_secs(2);

/// The thread that captures, encodes and sends video, and a channel that closes when it ends.
struct VideoThread {
    handle: std::thread::JoinHandle<()>,
    /// In a mutex only to be `Sync`, as the sender is held across awaits.
    ended: std::sync::Mutex<std_mpsc::Receiver<()>>,
}

impl VideoThread {
    fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> std::io::Result<Self> {
        let (alive, ended) = std_mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Dropped when `run` returns or unwinds: the end the stopper waits for.
                let _alive = alive;
                run();
            })?;
        Ok(Self {
            handle,
            ended: std::sync::Mutex::new(ended),
        })
    }

    /// Wait for the thread to end, at most [`VIDEO_STOP_WAIT`]. The wait blocks, so on a
    /// runtime's worker it first hands that worker's tasks to another thread: the video
    /// thread may be waiting for one of them (the connection's driver) to take its packet.
    fn join(self) {
        let wait = || match self.ended.lock() {
            Ok(ended) => ended.recv_timeout(VIDEO_STOP_WAIT),
            Err(_) => Err(std_mpsc::RecvTimeoutError::Timeout),
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let waited = if multi_thread {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        match waited {
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.handle.join();
            }
            Ok(()) | Err(std_mpsc::RecvTimeoutError::Timeout) => tracing::warn!(
                "the video thread did not stop within {} s; it ends with its connection",
                VIDEO_STOP_WAIT.as_secs()
            ),
        }
    }
}

/// How the sender starts.
pub(crate) struct SendOptions<'a> {
    /// Where our own picture is shown.
    pub(crate) self_view: Option<VideoScreen>,
    /// Start muted.
    pub(crate) muted: bool,
    /// Start with the picture off.
    pub(crate) video_off: bool,
    /// Where our sound's level goes (for a meter).
    pub(crate) levels: Option<mpsc::UnboundedSender<f32>>,
    /// End-to-end encryption: the call key and our key ids for audio and video.
    pub(crate) e2ee: Option<(&'a KeyChain, (u64, u64))>,
}

impl Sender {
    /// Start sending these sources on these tracks (a source without a track is dropped).
    pub(crate) fn start(
        sources: Sources,
        audio: Option<Arc<LocalTrack>>,
        video: Vec<Arc<LocalTrack>>,
        reports: mpsc::UnboundedSender<DeviceReport>,
        options: SendOptions<'_>,
    ) -> Result<Self, UserError> {
        let SendOptions {
            self_view,
            muted,
            video_off,
            levels,
            e2ee,
        } = options;
        // One key id per track: an SFrame key must never count the same frame number twice.
        let encryptor = |track: usize| -> Result<Option<FrameEncryptor>, UserError> {
            e2ee.map(|(key, (audio, video))| {
                FrameEncryptor::following(key, if track == 0 { audio } else { video })
                    .map_err(media_failed)
            })
            .transpose()
        };
        let (audio_encryptor, mut video_encryptor) = (encryptor(0)?, encryptor(1)?);
        let has_audio = audio.is_some() && sources.audio.is_some();
        let has_video = !video.is_empty() && sources.has_video();
        let mut sender = Self {
            audio_muted: Arc::new(AtomicBool::new(muted)),
            video_off: Arc::new(AtomicBool::new(video_off)),
            has_audio,
            has_video,
            stop: Arc::new(AtomicBool::new(false)),
            tasks: Vec::new(),
            video_commands: None,
            video_thread: None,
        };
        if let (Some(track), Some(source)) = (audio, sources.audio) {
            let encoder = OpusEncoder::new(OpusConfig::default()).map_err(media_failed)?;
            let muted = sender.audio_muted.clone();
            sender.tasks.push(match source {
                AudioSourceKind::Captured(frames) => tokio::spawn(send_captured(
                    track,
                    frames,
                    encoder,
                    muted,
                    levels,
                    audio_encryptor,
                )),
                AudioSourceKind::Samples(source) => tokio::spawn(send_audio(
                    track,
                    source,
                    encoder,
                    muted,
                    levels,
                    audio_encryptor,
                )),
            });
        }
        if !video.is_empty() && !sources.encoded.is_empty() {
            let encoded = EncodedLoop {
                runtime: tokio::runtime::Handle::current(),
                layers: video.iter().cloned().zip(sources.encoded).collect(),
                off: sender.video_off.clone(),
                stop: sender.stop.clone(),
                encryptor: video_encryptor.take(),
            };
            // Keyframe requests are read (and so answered by the transport's bookkeeping) but
            // wait for the files' next keyframe.
            let ignored = video
                .iter()
                .map(|_| Arc::new(AtomicBool::new(false)))
                .collect();
            sender
                .tasks
                .push(tokio::spawn(listen_feedback(video.clone(), ignored)));
            let thread = VideoThread::spawn("runde-video-file", move || encoded.run())
                .map_err(media_failed)?;
            sender.video_thread = Some(thread);
        }
        if let (false, Some((source, fps))) = (video.is_empty(), sources.video) {
            let keyframes: Vec<_> = video
                .iter()
                .map(|_| Arc::new(AtomicBool::new(true)))
                .collect();
            sender.tasks.push(tokio::spawn(listen_feedback(
                video.clone(),
                keyframes.clone(),
            )));
            let (commands, command_rx) = std_mpsc::channel();
            let loop_state = VideoLoop {
                runtime: tokio::runtime::Handle::current(),
                layers: video,
                source,
                fps,
                keyframes,
                off: sender.video_off.clone(),
                stop: sender.stop.clone(),
                commands: command_rx,
                reports,
                self_view,
                camera: sources.camera,
                released: sources.camera_closed,
                encryptor: video_encryptor.take(),
            };
            let thread = VideoThread::spawn("runde-video-send", move || loop_state.run())
                .map_err(media_failed)?;
            sender.video_commands = Some(commands);
            sender.video_thread = Some(thread);
        }
        Ok(sender)
    }

    /// Stop or resume sending our sound.
    pub(crate) fn set_audio_muted(&self, muted: bool) {
        self.audio_muted.store(muted, Ordering::Relaxed);
    }

    /// Stop or resume sending our picture.
    pub(crate) fn set_video_off(&self, off: bool) {
        self.video_off.store(off, Ordering::Relaxed);
    }

    /// What we send now: (sound, picture), each `None` when there is no such track at all.
    pub(crate) fn sending(&self) -> (Option<bool>, Option<bool>) {
        (
            self.has_audio
                .then(|| !self.audio_muted.load(Ordering::Relaxed)),
            self.has_video
                .then(|| !self.video_off.load(Ordering::Relaxed)),
        )
    }

    /// Use another camera from the next frame; on failure the current one stays.
    pub(crate) async fn switch_camera(&self, id: Option<String>) -> Result<(), UserError> {
        let commands = self
            .video_commands
            .as_ref()
            .ok_or_else(|| media_failed("this call sends no video"))?;
        let (done, result) = oneshot::channel();
        commands
            .send(VideoCommand::SwitchCamera { id, done })
            .map_err(|_| media_failed("video has stopped"))?;
        result
            .await
            .unwrap_or_else(|_| Err(media_failed("video has stopped")))
    }

    /// Stop sending.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.video_commands = None;
        if let Some(thread) = self.video_thread.take() {
            // The loop notices `stop` within one frame (a camera: within its frame timeout).
            thread.join();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Our sound's level for a meter, measured before muting: about 16 reports a second.
struct LevelReports {
    meter: LevelMeter,
    frames: u32,
    out: Option<mpsc::UnboundedSender<f32>>,
}

impl LevelReports {
    /// A report every this many 20 ms frames.
    const EVERY: u32 = 3;

    fn new(out: Option<mpsc::UnboundedSender<f32>>) -> Self {
        Self {
            meter: LevelMeter::default(),
            frames: 0,
            out,
        }
    }

    fn push(&mut self, pcm: &[f32]) {
        let Some(out) = &self.out else {
            return;
        };
        for half in pcm.chunks(FRAME_10MS) {
            self.meter.push(half);
        }
        self.frames += 1;
        if self.frames.is_multiple_of(Self::EVERY) && out.send(self.meter.display()).is_err() {
            self.out = None;
        }
    }
}

async fn send_audio(
    track: Arc<LocalTrack>,
    mut source: Box<dyn AudioSource>,
    mut encoder: OpusEncoder,
    muted: Arc<AtomicBool>,
    levels: Option<mpsc::UnboundedSender<f32>>,
    mut encryptor: Option<FrameEncryptor>,
) {
    let mut levels = LevelReports::new(levels);
    let mut pcm = vec![0.0; FRAME_20MS];
    let mut timestamp = random_start();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let mut after_gap = true;
    let mut failures = 0u32;
    let mut loss = LossFollower::default();
    loop {
        ticker.tick().await;
        let packet_ts = timestamp;
        timestamp = timestamp.wrapping_add(FRAME_20MS as u32);
        let n = source.read(&mut pcm).unwrap_or(0);
        pcm[n..].fill(0.0);
        levels.push(&pcm);
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
        let Some(payload) = seal(&mut encryptor, FrameKind::Opus, payload) else {
            continue;
        };
        match track.send(payload, packet_ts, after_gap).await {
            Ok(()) => {
                after_gap = false;
                loss.follow(&track, &mut encoder);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::debug!(error = %e, "audio not sent (transport not ready)");
                }
            }
        }
    }
}

async fn send_captured(
    track: Arc<LocalTrack>,
    mut frames: mpsc::UnboundedReceiver<Vec<f32>>,
    mut encoder: OpusEncoder,
    muted: Arc<AtomicBool>,
    levels: Option<mpsc::UnboundedSender<f32>>,
    mut encryptor: Option<FrameEncryptor>,
) {
    let mut levels = LevelReports::new(levels);
    let mut pcm = Vec::with_capacity(FRAME_20MS);
    let mut timestamp = random_start();
    let mut after_gap = true;
    let mut loss = LossFollower::default();
    while let Some(frame) = frames.recv().await {
        pcm.extend_from_slice(&frame);
        if pcm.len() < FRAME_20MS {
            continue;
        }
        let packet_ts = timestamp;
        timestamp = timestamp.wrapping_add(FRAME_20MS as u32);
        levels.push(&pcm[..FRAME_20MS]);
        let encoded = if muted.load(Ordering::Relaxed) {
            None
        } else {
            encoder
                .encode(&pcm[..FRAME_20MS])
                .ok()
                .filter(|p| p.len() > 2)
                .and_then(|p| seal(&mut encryptor, FrameKind::Opus, p))
        };
        pcm.clear();
        match encoded {
            Some(payload) => {
                after_gap = track.send(payload, packet_ts, after_gap).await.is_err();
                if !after_gap {
                    loss.follow(&track, &mut encoder);
                }
            }
            None => after_gap = true,
        }
    }
}

/// The payload to send: as it is, or end-to-end encrypted. A frame that cannot be encrypted is
/// not sent (never in clear).
fn seal(encryptor: &mut Option<FrameEncryptor>, kind: FrameKind, payload: &[u8]) -> Option<Bytes> {
    match encryptor {
        None => Some(Bytes::copy_from_slice(payload)),
        Some(encryptor) => match encryptor.encrypt(kind, payload) {
            Ok(sealed) => Some(Bytes::from(sealed)),
            Err(e) => {
                tracing::warn!(error = %e, "a frame could not be encrypted and was not sent");
                None
            }
        },
    }
}

/// Keyframe requests for our picture: each for the layer whose SSRC it names (a request that
/// names none of them, for all). The layers share one feedback stream.
async fn listen_feedback(layers: Vec<Arc<LocalTrack>>, keyframes: Vec<Arc<AtomicBool>>) {
    let Some(first) = layers.first() else {
        return;
    };
    while let Some(ssrcs) = first.next_keyframe_requests().await {
        for ssrc in ssrcs {
            match layers.iter().position(|l| l.ssrc() == ssrc) {
                Some(i) => keyframes[i].store(true, Ordering::Relaxed),
                None => keyframes
                    .iter()
                    .for_each(|k| k.store(true, Ordering::Relaxed)),
            }
        }
    }
}

/// An encoded picture as it is, or end-to-end encrypted (the keyframe flag stays: it is in the
/// clear prefix). A frame that cannot be encrypted is not sent.
fn seal_video(
    encryptor: &mut Option<FrameEncryptor>,
    mut frame: EncodedFrame,
) -> Option<EncodedFrame> {
    if let Some(encryptor) = encryptor {
        match encryptor.encrypt(FrameKind::Vp8, &frame.data) {
            Ok(sealed) => frame.data = sealed,
            Err(e) => {
                tracing::warn!(error = %e, "a picture could not be encrypted and was not sent");
                return None;
            }
        }
    }
    Some(frame)
}

/// Send one encoded picture: sealed when the call is end-to-end encrypted, packetised, the
/// marker on its last packet, each packet at the pacer's time (this thread sleeps until then;
/// audio is sent from tasks of its own and never waits for it). A packet the transport refuses
/// ends the picture.
fn send_picture(
    runtime: &tokio::runtime::Handle,
    track: &LocalTrack,
    packetizer: &mut Vp8Packetizer,
    pacer: &mut Pacer,
    encryptor: &mut Option<FrameEncryptor>,
    frame: EncodedFrame,
    timestamp: u32,
) {
    let Some(frame) = seal_video(encryptor, frame) else {
        return;
    };
    let payloads = packetizer.packetize(&frame);
    let last = payloads.len().saturating_sub(1);
    for (i, payload) in payloads.into_iter().enumerate() {
        let now = Instant::now();
        let release = pacer.release_at(now, payload.len());
        if release > now {
            std::thread::sleep(release - now);
        }
        if runtime
            .block_on(track.send(Bytes::from(payload), timestamp, i == last))
            .is_err()
        {
            break;
        }
    }
}

/// The pacer's rate for a sending estimate (`None`: the server has not reported yet).
fn pace_bps(estimate: Option<u32>) -> u32 {
    (f64::from(estimate.unwrap_or(UNKNOWN_PACE_BPS)) * PACING_FACTOR) as u32
}

/// Below this sending estimate (bit/s) speech goes at [`NARROW_AUDIO_BPS`].
const NARROW_LINK_BPS: u32 = 150_000;
/// Speech on a narrow link (bit/s): libopus then makes (almost) no deep redundancy.
const NARROW_AUDIO_BPS: u32 = 32_000;

/// Tells the Opus encoder the steady loss ([`SteadyLoss`]) the server reports on what we send,
/// so it spends bits on in-band redundancy (FEC) when packets keep being lost and none when they
/// are not.
#[derive(Default)]
struct LossFollower {
    packets: u32,
    steady: SteadyLoss,
    /// The FEC setting last given to the encoder (`None`: off).
    fec: Option<u8>,
    /// The audio bitrate last given to the encoder (0: the encoder's own).
    bitrate_bps: u32,
}

impl LossFollower {
    /// One audio packet was sent; every [`LOSS_UPDATE_PACKETS`] the encoder is told the loss.
    fn follow(&mut self, track: &LocalTrack, encoder: &mut OpusEncoder) {
        self.packets += 1;
        if !self.packets.is_multiple_of(LOSS_UPDATE_PACKETS) {
            return;
        }
        // On a narrow link speech keeps the bitrate it had before deep redundancy; its room is
        // set aside for audio (`AUDIO_RESERVE_BPS`) either way.
        if let Some(estimate) = track.bandwidth().target_bps() {
            let bitrate_bps = if estimate < NARROW_LINK_BPS {
                NARROW_AUDIO_BPS
            } else {
                SPEECH_BPS
            };
            if bitrate_bps != self.bitrate_bps && encoder.set_bitrate(bitrate_bps).is_ok() {
                tracing::debug!(estimate, bitrate_bps, "audio bitrate changed");
                self.bitrate_bps = bitrate_bps;
            }
        }
        let Some(measured) = track.bandwidth().loss() else {
            return;
        };
        let loss = self.steady.push(measured);
        if encoder.set_measured_loss(loss).is_err() {
            tracing::debug!("the audio encoder refused the measured loss");
            return;
        }
        let fec = fec_for_loss(loss);
        if fec != self.fec {
            tracing::debug!(
                measured,
                steady = loss,
                fec_for_percent = ?fec,
                "audio redundancy (in-band FEC) changed"
            );
            self.fec = fec;
        }
    }
}

/// The thread for already encoded pictures: read each layer's file in step, pace at the first
/// file's frame rate, packetize, send.
struct EncodedLoop {
    runtime: tokio::runtime::Handle,
    /// Each layer's track and file, smallest first.
    layers: Vec<(Arc<LocalTrack>, IvfSource)>,
    off: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    encryptor: Option<FrameEncryptor>,
}

impl EncodedLoop {
    fn run(mut self) {
        let Some((first, file)) = self.layers.first() else {
            return;
        };
        let (rate, scale) = file.header().fps;
        let bandwidth = first.bandwidth().clone();
        let interval = Duration::from_secs_f64(f64::from(scale) / f64::from(rate))
            .max(Duration::from_millis(5));
        let mut packetizers: Vec<Vp8Packetizer> = self
            .layers
            .iter()
            .map(|_| Vp8Packetizer::new(VIDEO_PAYLOAD, random_start() as u16))
            .collect();
        // A file's pictures are sent as they are (their bitrate cannot follow the estimate), but
        // paced like any others.
        let mut pacer = Pacer::new(pace_bps(None));
        let start = Instant::now();
        let ts_base = random_start();
        let mut next = Instant::now();
        // After a pause, wait for a keyframe: a receiver cannot decode anything else first.
        let mut need_keyframe = vec![true; self.layers.len()];
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            next = if now > next + interval { now } else { next } + interval;
            let timestamp = ts_base.wrapping_add((start.elapsed().as_micros() * 9 / 100) as u32);
            pacer.set_rate(pace_bps(bandwidth.target_bps()));
            let off = self.off.load(Ordering::Relaxed);
            for (i, (track, file)) in self.layers.iter_mut().enumerate() {
                let frame = match file.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "video file unreadable; video stops");
                        return;
                    }
                };
                if off {
                    need_keyframe[i] = true;
                    continue;
                }
                if need_keyframe[i] && !frame.keyframe {
                    continue;
                }
                need_keyframe[i] = false;
                send_picture(
                    &self.runtime,
                    track,
                    &mut packetizers[i],
                    &mut pacer,
                    &mut self.encryptor,
                    frame,
                    timestamp,
                );
            }
        }
    }
}

/// The video thread: capture (a camera blocks until its next frame), encode each simulcast
/// layer, packetize, send.
struct VideoLoop {
    runtime: tokio::runtime::Handle,
    /// Our picture's layers, smallest first (one for a single stream).
    layers: Vec<Arc<LocalTrack>>,
    source: VideoInput,
    fps: u32,
    /// Per layer: its next picture must be a keyframe.
    keyframes: Vec<Arc<AtomicBool>>,
    off: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    commands: std_mpsc::Receiver<VideoCommand>,
    reports: mpsc::UnboundedSender<DeviceReport>,
    self_view: Option<VideoScreen>,
    /// The camera in use, if the picture comes from one.
    camera: Option<Option<String>>,
    /// The camera is closed while the picture is off (its light goes out; nothing is captured).
    released: bool,
    /// End-to-end encryption of each encoded frame, when the call uses it. One for all layers:
    /// they share the key id, and each frame gets its own counter value.
    encryptor: Option<FrameEncryptor>,
}

/// One layer's encoder state.
struct LayerEncoder {
    encoder: Option<Vp8Encoder>,
    packetizer: Vp8Packetizer,
}

impl VideoLoop {
    /// Every layer's next picture must be decodable on its own.
    fn want_keyframes(&self) {
        for k in &self.keyframes {
            k.store(true, Ordering::Relaxed);
        }
    }

    /// With the picture off, close the camera; with it back on, open it again.
    fn follow_camera_switch(&mut self) {
        let Some(id) = &self.camera else {
            return;
        };
        let off = self.off.load(Ordering::Relaxed);
        if off && !self.released {
            self.source.turn_off();
            self.released = true;
        } else if !off && self.released {
            self.released = false;
            match self
                .source
                .switch_camera(id.as_deref(), CAMERA_QUALITY, CAMERA_FPS)
            {
                Ok(()) => self.want_keyframes(),
                Err(e) => {
                    // The picture stays off; the call says so.
                    self.off.store(true, Ordering::Relaxed);
                    self.released = true;
                    let _ = self.reports.send(DeviceReport {
                        role: DeviceRole::Camera,
                        change: runde_media::audio::input::DeviceChange::Lost {
                            name: id.clone().unwrap_or_else(|| "camera".into()),
                            reason: e.to_string(),
                        },
                    });
                }
            }
        }
    }

    /// Commands from the call: another camera.
    fn follow_commands(&mut self) {
        while let Ok(VideoCommand::SwitchCamera { id, done }) = self.commands.try_recv() {
            // A closed camera (picture off) is only remembered; it opens when turned on.
            if self.released && self.camera.is_some() {
                self.camera = Some(id);
                let _ = done.send(Ok(()));
                continue;
            }
            let result = self
                .source
                .switch_camera(id.as_deref(), CAMERA_QUALITY, CAMERA_FPS)
                .map_err(media_failed);
            if result.is_ok() {
                self.want_keyframes();
                self.camera = Some(id);
                self.released = false;
            }
            let _ = done.send(result);
        }
    }

    /// The next picture to send, or `None` (picture off, nothing captured yet). Reports device
    /// changes on the way.
    fn capture(&mut self) -> Option<runde_media::video::I420Frame> {
        if self.off.load(Ordering::Relaxed) {
            // Nothing is captured while the picture is off (a camera is closed; a file or
            // pattern is not read). The next picture must be decodable on its own.
            self.want_keyframes();
            if let Some(view) = &self.self_view {
                view.forget(SELF_VIEW);
            }
            return None;
        }
        let frame = self.source.next_frame();
        let changes = self.source.take_changes();
        if self.camera.is_some()
            && changes
                .iter()
                .any(|c| matches!(c, runde_media::audio::input::DeviceChange::Lost { .. }))
        {
            // A lost camera turns the picture off; turning it on again tries to reopen it.
            self.off.store(true, Ordering::Relaxed);
            self.released = true;
        }
        for change in changes {
            let _ = self.reports.send(DeviceReport {
                role: DeviceRole::Camera,
                change,
            });
        }
        let frame = frame?;
        if let Some(view) = &self.self_view {
            view.show(SELF_VIEW, frame.clone());
        }
        Some(frame)
    }

    fn run(mut self) {
        let mut encoders: Vec<LayerEncoder> = self
            .layers
            .iter()
            .map(|_| LayerEncoder {
                encoder: None,
                packetizer: Vp8Packetizer::new(VIDEO_PAYLOAD, random_start() as u16),
            })
            .collect();
        let mut adapt = Adaptation::new(self.layers.len());
        let start = Instant::now();
        let ts_base = random_start();
        let interval = Duration::from_secs(1) / self.fps.max(1);
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            self.follow_commands();
            self.follow_camera_switch();
            // Pace files and patterns at their frame rate (a camera paces itself as well).
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            next = if now > next + interval { now } else { next } + interval;
            let Some(frame) = self.capture() else {
                continue;
            };
            // The layers share one connection and its estimate.
            let Some(bandwidth) = self.layers.first().map(|l| l.bandwidth()) else {
                return;
            };
            let plans = adapt.plan(&frame, bandwidth, start.elapsed());
            // All layers of one picture carry the same timestamp: a server switching between
            // them keeps the picture's timing.
            let timestamp = ts_base.wrapping_add((start.elapsed().as_micros() * 9 / 100) as u32);
            for (i, plan) in plans.into_iter().enumerate() {
                let Some(plan) = plan else {
                    // Skipped: the budget does not carry this layer now, fewer frames, or the
                    // pacer is behind. After a pause the next picture must stand on its own.
                    if adapt.paused(i) {
                        self.keyframes[i].store(true, Ordering::Relaxed);
                    }
                    continue;
                };
                if !self.send_layer(i, &mut encoders[i], &mut adapt, &frame, &plan, timestamp) {
                    return;
                }
            }
            adapt.follow_load(start.elapsed(), interval);
        }
    }

    /// Scale, encode and send one layer's picture. `false` when video cannot go on (no encoder).
    /// The time scaling and encoding took goes into `adapt`'s work for this picture.
    fn send_layer(
        &mut self,
        i: usize,
        layer: &mut LayerEncoder,
        adapt: &mut Adaptation,
        frame: &runde_media::video::I420Frame,
        plan: &VideoPlan,
        timestamp: u32,
    ) -> bool {
        let began = Instant::now();
        let scaled;
        let frame = if (plan.width, plan.height) == (frame.width(), frame.height()) {
            frame
        } else {
            match scale_i420(frame, plan.width, plan.height) {
                Ok(s) => {
                    scaled = s;
                    &scaled
                }
                Err(e) => {
                    tracing::debug!(error = %e, "picture not scaled; skipped");
                    return true;
                }
            }
        };
        let size = (plan.width, plan.height);
        let encoder = match &mut layer.encoder {
            Some(e) if (e.config().width, e.config().height) == size => e,
            slot => {
                let mut config = Vp8Config::camera(size.0, size.1);
                config.fps = self.fps;
                config.bitrate_kbps = plan.bitrate_kbps;
                match Vp8Encoder::new(config) {
                    Ok(e) => slot.insert(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "no VP8 encoder; video stops");
                        return false;
                    }
                }
            }
        };
        Adaptation::configure(encoder, plan, self.fps);
        if self.keyframes[i].swap(false, Ordering::Relaxed) {
            encoder.request_keyframe();
        }
        let encoded = encoder.encode(frame);
        adapt.work.busy += began.elapsed();
        adapt.work.pixels += u64::from(plan.width) * u64::from(plan.height);
        let Ok(encoded) = encoded else {
            return true;
        };
        for picture in encoded {
            send_picture(
                &self.runtime,
                &self.layers[i],
                &mut layer.packetizer,
                &mut adapt.pacer,
                &mut self.encryptor,
                picture,
                timestamp,
            );
        }
        true
    }
}

/// What encoding one source picture took, over all its layers.
#[derive(Default)]
struct EncodeWork {
    /// Scaling and encoding (not waiting for the pacer).
    busy: Duration,
    /// Pixels encoded.
    pixels: u64,
}

/// How the video thread follows the bandwidth estimate: the simulcast ladder picks each layer's
/// size, frame rate and bitrate (or pauses it); the pacer spreads the packets of all layers; a
/// picture is skipped while the pacer is behind. How long encoding takes limits the layers too.
struct Adaptation {
    layers: usize,
    ladder: Option<SimulcastLadder>,
    load: EncodeLoad,
    /// What encoding the current source picture has taken so far.
    work: EncodeWork,
    pacer: Pacer,
    /// Source frames seen, for sending every n-th.
    frames: u64,
    /// The last plans, to log changes and to know which layers are paused.
    last: Vec<VideoPlan>,
}

impl Adaptation {
    fn new(layers: usize) -> Self {
        Self {
            layers: layers.max(1),
            ladder: None,
            load: EncodeLoad::new(layers),
            work: EncodeWork::default(),
            pacer: Pacer::new(pace_bps(None)),
            frames: 0,
            last: Vec::new(),
        }
    }

    /// The source picture's layers are done (their work is in `work`, taken here); pictures come
    /// every `interval`. When encoding takes too long, the biggest layer goes; when there is room
    /// for it again, it may come back.
    fn follow_load(&mut self, elapsed: Duration, interval: Duration) {
        let work = std::mem::take(&mut self.work);
        let Some(ladder) = &mut self.ladder else {
            return;
        };
        // The work with one more layer than allowed now, over the work done now.
        let with_next: u64 = (0..=self.load.allowed().min(ladder.layers() - 1))
            .map(|i| {
                let (w, h) = ladder.size(i);
                u64::from(w) * u64::from(h)
            })
            .sum();
        let factor = if work.pixels == 0 {
            f64::INFINITY
        } else {
            with_next as f64 / work.pixels as f64
        };
        let usage = self.load.usage();
        if self.frames.is_multiple_of(300) {
            tracing::debug!(
                share_of_frame_time = usage.map(|u| format!("{:.0} %", u * 100.0)),
                layers = self.load.allowed(),
                "encoding load"
            );
        }
        if let Some(layers) = self.load.on_frame(
            elapsed.as_millis() as u64,
            work.busy.as_micros() as u64,
            interval.as_micros() as u64,
            factor,
        ) {
            ladder.set_affordable(layers);
            tracing::info!(
                layers,
                share_of_frame_time = usage.map(|u| format!("{:.0} %", u * 100.0)),
                "encoding decides how many picture sizes are sent"
            );
        }
    }

    /// Layer `i` is paused: the budget does not carry it.
    fn paused(&self, i: usize) -> bool {
        self.last.get(i).is_some_and(|plan| plan.paused)
    }

    /// Per layer, the plan for this source frame, or `None` to skip it there.
    fn plan(
        &mut self,
        frame: &runde_media::video::I420Frame,
        bandwidth: &runde_media::transport::Bandwidth,
        elapsed: Duration,
    ) -> Vec<Option<VideoPlan>> {
        let (width, height) = (frame.width(), frame.height());
        let layers = self.layers;
        let ladder = self
            .ladder
            .get_or_insert_with(|| SimulcastLadder::new(width, height, layers));
        ladder.set_source(width, height);
        let estimate = bandwidth.target_bps();
        ladder.set_held_by_sending(estimate.is_some() && bandwidth.stats().held_by_sending);
        self.pacer.set_rate(pace_bps(estimate));
        // Before the server reports (or with a server that never does), the rate we would pace
        // at.
        let plans = ladder.plan(
            elapsed.as_millis() as u64,
            estimate.unwrap_or(UNKNOWN_PACE_BPS),
        );
        if plans.len() != self.last.len()
            || plans.iter().zip(&self.last).any(|(p, l)| {
                (p.width, p.height, p.frame_divisor, p.paused)
                    != (l.width, l.height, l.frame_divisor, l.paused)
            })
        {
            let sending: Vec<String> = plans
                .iter()
                .filter(|p| !p.paused)
                .map(|p| {
                    format!(
                        "{}x{}/{}@{}k",
                        p.width, p.height, p.frame_divisor, p.bitrate_kbps
                    )
                })
                .collect();
            tracing::info!(
                estimate_kbps = estimate.map(|b| b / 1000),
                layers = %sending.join(" "),
                "video follows the bandwidth"
            );
        }
        self.frames += 1;
        let behind = self.pacer.queued(Instant::now()) > MAX_PACER_QUEUE;
        let frames = self.frames;
        self.last.clone_from(&plans);
        plans
            .into_iter()
            .map(|plan| {
                let skip = plan.paused
                    || behind
                    || !frames.is_multiple_of(u64::from(plan.frame_divisor.max(1)));
                (!skip).then_some(plan)
            })
            .collect()
    }

    /// Bring the encoder to the plan's bitrate and frame rate (a change under 5 % is not worth
    /// a reconfiguration).
    fn configure(encoder: &mut Vp8Encoder, plan: &VideoPlan, source_fps: u32) {
        let fps = (source_fps / plan.frame_divisor.max(1)).max(1);
        if encoder.config().fps != fps {
            encoder.set_frame_rate(fps);
        }
        let current = encoder.config().bitrate_kbps;
        if current.abs_diff(plan.bitrate_kbps) * 20 > current
            && encoder.set_bitrate(plan.bitrate_kbps).is_err()
        {
            tracing::debug!("the encoder refused a new bitrate");
        }
    }
}
