//! Receiving: one reader task per remote track forwards packets to a single playout engine task,
//! which owns all receive state (jitter buffers, frame assembly, decoders, lip sync, the mixer)
//! without locks. Every 10 ms it plays out one frame of the mix and shows the video frames that
//! are due.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runde_media::audio::cue::{Cue, CuePlayer};

use super::VideoScreen;
use crate::quality::{Quality, QualityTracker, Window};
use runde_e2ee::{FrameDecryptor, FrameKind};

/// How often received quality is judged, in 10 ms playout ticks.
const QUALITY_TICKS: u32 = 200;
use runde_media::audio::mixer::Mixer;
use runde_media::audio::{AudioSink, FRAME_10MS, WavSink};
use runde_media::codec::vp8::Vp8Decoder;
use runde_media::jitter::{AudioJitterBuffer, JitterStats, PullKind};
use runde_media::rtp::Unwrapper;
use runde_media::rtp::keyframe::KeyframeRequests;
use runde_media::rtp::vp8::{AssemblerOutput, AssemblerStats, FrameAssembler};
use runde_media::sync::AvSync;
use runde_media::transport::{RemoteEvent, RemoteTrack, TrackKind};
use runde_media::video::{I420Frame, VideoPlayout, VideoSink, Y4mSink};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{AudioOut, VideoOut};
use crate::UserError;

/// A remote track and whose it is.
pub(crate) struct FeedTrack {
    pub(crate) feed: u64,
    pub(crate) track: RemoteTrack,
}

/// What the engine tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EngineReport {
    /// The first audio or video of a participant was decoded and played or shown.
    FirstMedia { feed: u64, kind: TrackKind },
    /// Our own voice-activity detection on a participant's audio changed.
    Speaking { feed: u64, speaking: bool },
    /// Whether a participant's media decrypts with the call key changed (end-to-end encrypted
    /// calls only).
    Decryption {
        feed: u64,
        decrypting: bool,
        previous_key: bool,
    },
    /// A participant's picture arrives at another size (a simulcast layer switch).
    PictureSize { feed: u64, height: u32 },
    /// How well a participant's media arrives changed.
    Quality {
        feed: u64,
        quality: Quality,
        audio_missing_percent: u8,
    },
}

/// How the received media fared, per participant.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ParticipantMediaStats {
    /// Whose media.
    pub participant: String,
    /// Audio packets that arrived.
    pub audio_packets_received: u64,
    /// Audio packets that never arrived.
    pub audio_packets_lost: u64,
    /// Audio made up by concealment (including FEC recovery), in ms.
    pub audio_concealed_ms: u64,
    /// The jitter buffer's target delay at the end, in ms.
    pub audio_target_delay_ms: u64,
    /// Video frames decoded.
    pub video_frames_decoded: u64,
    /// Video frames shown.
    pub video_frames_shown: u64,
    /// Video frames never shown (late, or skipped after a stall).
    pub video_frames_dropped: u64,
    /// Pauses in the picture that count as freezes.
    pub video_freezes: u64,
    /// Keyframes we asked for.
    pub video_keyframe_requests: u64,
    /// The last decoded picture's width and height (0 before any): the simulcast layer the
    /// server forwards.
    pub video_width: u32,
    /// See `video_width`.
    pub video_height: u32,
    /// Lip sync: sound minus picture capture time at the last shown frame, in ms.
    pub lip_sync_skew_ms: f64,
}

/// How the received media fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct MediaSummary {
    /// One entry per participant we received media from.
    pub participants: Vec<ParticipantMediaStats>,
    /// Video packets the server sent again on a stream of their own (RTX) after we reported
    /// them lost, over all participants.
    pub retransmissions_received: u64,
}

enum Input {
    Track {
        feed: u64,
        kind: TrackKind,
        keyframes: mpsc::UnboundedSender<()>,
    },
    Media {
        feed: u64,
        kind: TrackKind,
        event: RemoteEvent,
        at: Instant,
    },
    RemoveFeed(u64),
    /// The media path was repaired under the tracks (an ICE restart): report each feed's first
    /// media again, once packets arrive anew.
    MediaAgain,
    Cue(Cue),
}

struct VideoRx {
    seq: Unwrapper,
    assembler: FrameAssembler,
    decoder: Vp8Decoder,
    playout: VideoPlayout<I420Frame>,
    decoded: u64,
    /// The last decoded picture's size.
    size: (u32, u32),
    /// Where keyframe requests go (the track's reader sends them as RTCP PLI).
    keyframes: mpsc::UnboundedSender<()>,
    /// When to ask again while no keyframe decodes (backing off to once a second, so that
    /// someone we cannot decrypt is not asked for keyframe after keyframe).
    requests: KeyframeRequests,
    /// Packets that reached the assembler.
    packets: u64,
    /// When the next debug line about reception is due, and the counters at the last one.
    traced: (u64, u64, AssemblerStats),
}

#[derive(Default)]
struct Feed {
    audio: Option<AudioJitterBuffer>,
    video: Option<VideoRx>,
    sync: AvSync,
    first_audio: bool,
    first_video: bool,
    /// After [`Engine::media_again`]: the next packet of this kind re-arms `first_*`.
    again: (bool, bool),
    speaking: bool,
    quality: QualityTracker,
    /// Counters at the last quality window: audio received, audio missing, keyframe requests.
    counted: (u64, u64, u64),
    /// End-to-end encryption: whether their frames decrypt, whether only with the previous key,
    /// and under which key generation (as last reported); failures in a row since the last success.
    decrypting: Option<(bool, bool, u64)>,
    failures_in_a_row: u32,
    /// Frames that did not decrypt (dropped, never decoded).
    undecryptable: u64,
    /// The audio buffer's counters at the last once-a-second debug line, and when it is due.
    audio_traced: (u64, JitterStats),
}

/// This many frames in a row that do not decrypt make a participant "cannot decrypt" (a single
/// damaged frame does not).
const UNDECRYPTABLE_IN_A_ROW: u32 = 5;

impl Feed {
    /// Decrypt one frame when the call is end-to-end encrypted; `None` (dropped) when it does not
    /// decrypt. Reports changes of the participant's state.
    fn open(
        &mut self,
        feed: u64,
        decryptor: &mut Option<FrameDecryptor>,
        kind: FrameKind,
        data: &[u8],
        reports: &mpsc::UnboundedSender<EngineReport>,
    ) -> Option<Vec<u8>> {
        let Some(decryptor) = decryptor else {
            return Some(data.to_vec());
        };
        match decryptor.decrypt_from(feed, kind, data) {
            Ok(opened) => {
                self.failures_in_a_row = 0;
                // After a passphrase change the state is reported anew.
                let now = (true, opened.with_previous_key, decryptor.generation());
                if self.decrypting != Some(now) {
                    self.decrypting = Some(now);
                    let _ = reports.send(EngineReport::Decryption {
                        feed,
                        decrypting: true,
                        previous_key: opened.with_previous_key,
                    });
                }
                Some(opened.frame)
            }
            Err(_) => {
                self.undecryptable += 1;
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= UNDECRYPTABLE_IN_A_ROW
                    && self.decrypting.is_none_or(|(open, _, _)| open)
                {
                    self.decrypting = Some((false, false, decryptor.generation()));
                    let _ = reports.send(EngineReport::Decryption {
                        feed,
                        decrypting: false,
                        previous_key: false,
                    });
                }
                None
            }
        }
    }
}

/// The playout engine.
pub(crate) struct Engine {
    inputs: mpsc::UnboundedSender<Input>,
    reports: mpsc::UnboundedReceiver<EngineReport>,
    task: JoinHandle<MediaSummary>,
    /// The tasks reading each track (each holds a sender of `inputs`), stopped when the engine
    /// finishes: a track whose connection never reports its end must not keep it running.
    readers: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

fn media_failed(e: impl std::fmt::Display) -> UserError {
    UserError::MediaFailed {
        detail: e.to_string(),
    }
}

impl Engine {
    /// Start playout into these sinks (files are created now, so a bad path fails the join).
    /// With a speaker, the mix goes to `speaker` instead of a file.
    pub(crate) fn start(
        audio_out: &AudioOut,
        video_out: &VideoOut,
        speaker: Option<Box<dyn AudioSink>>,
        decryptor: Option<FrameDecryptor>,
    ) -> Result<Self, UserError> {
        let audio_sink: Option<Box<dyn AudioSink>> = match audio_out {
            AudioOut::Off => None,
            AudioOut::Wav(path) => Some(Box::new(WavFile(Some(
                WavSink::create(path).map_err(media_failed)?,
            )))),
            AudioOut::Speaker(_) => speaker,
        };
        let (video_path, video_times, screen) = match video_out {
            VideoOut::Off => (None, None, None),
            VideoOut::Y4m { path, times, size } => {
                // Fail early on an unwritable path; the file is written once the size is known.
                std::fs::File::create(path).map_err(media_failed)?;
                let times = times
                    .as_ref()
                    .map(|p| std::fs::File::create(p).map(std::io::BufWriter::new))
                    .transpose()
                    .map_err(media_failed)?
                    .map(|file| ShownTimes {
                        file,
                        started_unix_ms: 0.0,
                    });
                (Some((path.clone(), *size)), times, None)
            }
            VideoOut::Screen(screen) => (None, None, Some(screen.clone())),
        };
        let (inputs, input_rx) = mpsc::unbounded_channel();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(
            input_rx,
            report_tx,
            decryptor,
            Outputs {
                audio: audio_sink,
                video_path,
                video: None,
                video_times,
                screen,
            },
        ));
        Ok(Self {
            inputs,
            reports,
            task,
            readers: std::sync::Mutex::default(),
        })
    }

    /// Receive this track.
    pub(crate) fn add_track(&self, feed_track: FeedTrack) {
        let FeedTrack { feed, track } = feed_track;
        let kind = track.kind;
        let (keyframes, keyframe_rx) = mpsc::unbounded_channel();
        let _ = self.inputs.send(Input::Track {
            feed,
            kind,
            keyframes,
        });
        let reader = tokio::spawn(read_track(feed, track, self.inputs.clone(), keyframe_rx));
        if let Ok(mut readers) = self.readers.lock() {
            readers.retain(|r| !r.is_finished());
            readers.push(reader.abort_handle());
        }
    }

    /// Forget a participant's media (they left or stopped publishing).
    pub(crate) fn remove_feed(&self, feed: u64) {
        let _ = self.inputs.send(Input::RemoveFeed(feed));
    }

    /// The media path under the tracks was repaired (an ICE restart, tracks unchanged): report
    /// every participant's first audio and video again as [`EngineReport::FirstMedia`] once
    /// packets come again, so that the call can tell when media is back.
    pub(crate) fn media_again(&self) {
        let _ = self.inputs.send(Input::MediaAgain);
    }

    /// Mix a sound cue into what the speaker (or the audio file) plays.
    pub(crate) fn play_cue(&self, cue: Cue) {
        let _ = self.inputs.send(Input::Cue(cue));
    }

    /// The next report.
    pub(crate) async fn next_report(&mut self) -> Option<EngineReport> {
        self.reports.recv().await
    }

    /// Stop, finish the output files and say how it went.
    pub(crate) async fn finish(self) -> MediaSummary {
        // The engine stops once every sender of its inputs is gone and what they sent is played.
        if let Ok(readers) = self.readers.lock() {
            readers.iter().for_each(tokio::task::AbortHandle::abort);
        }
        drop(self.inputs);
        self.task.await.unwrap_or_default()
    }
}

async fn read_track(
    feed: u64,
    track: RemoteTrack,
    inputs: mpsc::UnboundedSender<Input>,
    mut keyframes: mpsc::UnboundedReceiver<()>,
) {
    let kind = track.kind;
    loop {
        tokio::select! {
            event = track.next() => {
                let Some(event) = event else { return };
                let media = Input::Media { feed, kind, event, at: Instant::now() };
                if inputs.send(media).is_err() {
                    return;
                }
            }
            Some(()) = keyframes.recv() => track.request_keyframe().await,
        }
    }
}

/// A WAV file as an audio sink that is finished (header written) when dropped.
struct WavFile(Option<WavSink>);

impl AudioSink for WavFile {
    fn write(&mut self, samples: &[f32]) -> Result<(), runde_media::MediaError> {
        match &mut self.0 {
            Some(sink) => sink.write(samples),
            None => Ok(()),
        }
    }
}

impl Drop for WavFile {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take()
            && let Err(e) = sink.finish()
        {
            tracing::warn!(error = %e, "could not finish the audio file");
        }
    }
}

struct Outputs {
    audio: Option<Box<dyn AudioSink>>,
    /// The Y4M file for the first participant's video, and the size to write it at.
    video_path: Option<(std::path::PathBuf, Option<(u32, u32)>)>,
    video: Option<(u64, Y4mSink)>,
    /// When each frame in the Y4M file was shown.
    video_times: Option<ShownTimes>,
    screen: Option<VideoScreen>,
}

/// A text file with a line per frame written to the Y4M file: when it was shown, in ms since
/// the Unix epoch. The wall clock is read once, when the engine starts; the rest is the engine's
/// monotonic clock, so a clock adjustment during the call cannot make frames go backwards.
struct ShownTimes {
    file: std::io::BufWriter<std::fs::File>,
    started_unix_ms: f64,
}

impl ShownTimes {
    fn write(&mut self, now_ms: u64) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(self.file, "{:.0}", self.started_unix_ms + now_ms as f64)
    }
}

async fn run(
    mut inputs: mpsc::UnboundedReceiver<Input>,
    reports: mpsc::UnboundedSender<EngineReport>,
    mut decryptor: Option<FrameDecryptor>,
    mut outputs: Outputs,
) -> MediaSummary {
    let start = Instant::now();
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis() as u64;
    if let Some(times) = &mut outputs.video_times {
        times.started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    }
    let mut feeds: BTreeMap<u64, Feed> = BTreeMap::new();
    let mut gone: BTreeMap<u64, ParticipantMediaStats> = BTreeMap::new();
    let mut mixer = Mixer::default();
    let mut cues = CuePlayer::default();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            input = inputs.recv() => match input {
                None => break,
                Some(Input::Track { feed, kind, keyframes }) => {
                    let state = feeds.entry(feed).or_default();
                    match kind {
                        TrackKind::Audio => {
                            if state.audio.is_none() {
                                state.audio = AudioJitterBuffer::new().ok();
                            }
                        }
                        TrackKind::Video => match Vp8Decoder::new() {
                            Ok(decoder) => state.video = Some(VideoRx {
                                seq: Unwrapper::new(16),
                                assembler: FrameAssembler::default(),
                                decoder,
                                playout: VideoPlayout::new(),
                                decoded: 0,
                                size: (0, 0),
                                keyframes,
                                requests: KeyframeRequests::new(),
                                packets: 0,
                                traced: (0, 0, AssemblerStats::default()),
                            }),
                            Err(e) => tracing::warn!(error = %e, "no VP8 decoder"),
                        },
                    }
                }
                Some(Input::Media { feed, kind, event, at }) => {
                    if let Some(state) = feeds.get_mut(&feed) {
                        if matches!(event, RemoteEvent::Rtp(_)) {
                            match kind {
                                TrackKind::Audio if state.again.0 => {
                                    state.again.0 = false;
                                    state.first_audio = false;
                                }
                                TrackKind::Video if state.again.1 => {
                                    state.again.1 = false;
                                    state.first_video = false;
                                }
                                _ => {}
                            }
                        }
                        on_media(state, feed, kind, event, ms(at), &mut decryptor, &reports);
                    }
                }
                Some(Input::Cue(cue)) => cues.play(cue),
                Some(Input::MediaAgain) => {
                    for state in feeds.values_mut() {
                        state.again = (true, true);
                    }
                }
                Some(Input::RemoveFeed(feed)) => {
                    if let Some(screen) = &outputs.screen {
                        screen.forget(&feed.to_string());
                    }
                    if let Some(state) = feeds.remove(&feed) {
                        gone.insert(feed, stats_of(feed, &state));
                    }
                }
            },
            _ = ticker.tick() => {
                let now_ms = ms(Instant::now());
                // Frames that waited for retransmissions are given up when their time is over,
                // even if no packet arrives to notice it.
                for (feed, state) in feeds.iter_mut() {
                    if let Some(video) = &mut state.video {
                        let output = video.assembler.poll(now_ms);
                        on_assembled(state, *feed, output, now_ms, &mut decryptor, &reports);
                    }
                }
                play(&mut feeds, &mut mixer, &mut cues, &mut outputs, &reports, now_ms);
                ticks += 1;
                if ticks.is_multiple_of(QUALITY_TICKS) {
                    judge_quality(&mut feeds, &reports);
                }
            }
        }
    }
    drop(outputs.audio.take());
    if let Some((_, sink)) = outputs.video.take()
        && let Err(e) = sink.finish()
    {
        tracing::warn!(error = %e, "could not finish the video file");
    }
    if let Some(mut times) = outputs.video_times.take()
        && let Err(e) = std::io::Write::flush(&mut times.file)
    {
        tracing::warn!(error = %e, "could not finish the video times file");
    }
    for (feed, state) in &feeds {
        gone.insert(*feed, stats_of(*feed, state));
    }
    MediaSummary {
        participants: gone.into_values().collect(),
        retransmissions_received: 0,
    }
}

fn on_media(
    state: &mut Feed,
    feed: u64,
    kind: TrackKind,
    event: RemoteEvent,
    now_ms: u64,
    decryptor: &mut Option<FrameDecryptor>,
    reports: &mpsc::UnboundedSender<EngineReport>,
) {
    match (kind, event) {
        (TrackKind::Audio, RemoteEvent::SenderReport(report)) => {
            state.sync.on_audio_sender_report(report);
        }
        (TrackKind::Video, RemoteEvent::SenderReport(report)) => {
            state.sync.on_video_sender_report(report);
        }
        (TrackKind::Audio, RemoteEvent::Rtp(packet)) => {
            if state.audio.is_none() {
                return;
            }
            // An Opus packet is one frame: decrypt it before the jitter buffer (a packet that
            // does not decrypt counts as lost and is concealed).
            let Some(payload) =
                state.open(feed, decryptor, FrameKind::Opus, &packet.payload, reports)
            else {
                return;
            };
            if let Some(jitter) = &mut state.audio {
                jitter.insert(packet.sequence, packet.timestamp, &payload, now_ms);
            }
        }
        (TrackKind::Video, RemoteEvent::Rtp(packet)) => {
            let Some(video) = &mut state.video else {
                return;
            };
            let seq = video.seq.unwrap(u64::from(packet.sequence));
            video.packets += 1;
            let Ok(output) = video.assembler.insert(
                seq,
                packet.timestamp,
                packet.marker,
                &packet.payload,
                now_ms,
            ) else {
                return;
            };
            on_assembled(state, feed, output, now_ms, decryptor, reports);
        }
    }
}

/// Decode the frames the assembler handed out, and ask for a keyframe when the assembler or the
/// decoder needs one.
fn on_assembled(
    state: &mut Feed,
    feed: u64,
    output: AssemblerOutput,
    now_ms: u64,
    decryptor: &mut Option<FrameDecryptor>,
    reports: &mpsc::UnboundedSender<EngineReport>,
) {
    // A frame that did not decrypt or did not decode breaks the picture: the frames after it
    // refer to one the decoder never saw, until a keyframe.
    let mut broken = false;
    for frame in output.frames {
        if broken && !frame.keyframe {
            continue;
        }
        let opened = state.open(feed, decryptor, FrameKind::Vp8, &frame.data, reports);
        let Some(video) = &mut state.video else {
            return;
        };
        match opened.map(|data| video.decoder.decode(&data)) {
            Some(Ok(Some(picture))) => {
                video.decoded += 1;
                let size = (picture.width(), picture.height());
                if size != video.size {
                    tracing::debug!(
                        feed,
                        width = size.0,
                        height = size.1,
                        "their picture's size changed"
                    );
                    video.size = size;
                    let _ = reports.send(EngineReport::PictureSize {
                        feed,
                        height: size.1,
                    });
                }
                if frame.keyframe {
                    broken = false;
                    video.requests.satisfied();
                }
                video.playout.insert(frame.rtp_timestamp, now_ms, picture);
            }
            Some(Ok(None)) => {}
            None | Some(Err(_)) => broken = true,
        }
    }
    let Some(video) = &mut state.video else {
        return;
    };
    if broken {
        // The assembler hands out frames after the last one as if it had been decoded.
        video.assembler.reference_lost();
    }
    if (output.request_keyframe || broken) && video.requests.need(now_ms) {
        let _ = video.keyframes.send(());
    }
}

fn play(
    feeds: &mut BTreeMap<u64, Feed>,
    mixer: &mut Mixer,
    cues: &mut CuePlayer,
    outputs: &mut Outputs,
    reports: &mpsc::UnboundedSender<EngineReport>,
    now_ms: u64,
) {
    let mut frames: Vec<(u64, Vec<f32>)> = Vec::with_capacity(feeds.len());
    for (feed, state) in feeds.iter_mut() {
        trace_video_reception(*feed, state, now_ms);
        let Some(jitter) = &mut state.audio else {
            continue;
        };
        jitter.set_min_delay_ms(state.sync.audio_min_delay_ms());
        let mut frame = vec![0.0; FRAME_10MS];
        let Ok(kind) = jitter.pull(now_ms, &mut frame) else {
            continue;
        };
        if let Some(next) = jitter.playout_timestamp() {
            let playing = next.wrapping_sub(FRAME_10MS as u32);
            state
                .sync
                .on_audio_played(playing, now_ms, jitter.delay_ms());
        }
        if kind == PullKind::Decoded && !state.first_audio {
            state.first_audio = true;
            let _ = reports.send(EngineReport::FirstMedia {
                feed: *feed,
                kind: TrackKind::Audio,
            });
        }
        trace_audio_buffer(*feed, state, now_ms);
        frames.push((*feed, frame));
    }
    let inputs: Vec<(u64, &[f32])> = frames.iter().map(|(f, s)| (*f, s.as_slice())).collect();
    let mut mix = vec![0.0; FRAME_10MS];
    for (feed, level) in mixer.mix(&inputs, &mut mix) {
        if let Some(state) = feeds.get_mut(&feed)
            && state.speaking != level.speaking
        {
            state.speaking = level.speaking;
            let _ = reports.send(EngineReport::Speaking {
                feed,
                speaking: level.speaking,
            });
        }
    }
    cues.mix_into(&mut mix);
    if let Some(sink) = &mut outputs.audio
        && let Err(e) = sink.write(&mix)
    {
        tracing::warn!(error = %e, "audio file write failed; no more audio is written");
        outputs.audio = None;
    }
    for (feed, state) in feeds.iter_mut() {
        let Some(video) = &mut state.video else {
            continue;
        };
        let Some(picture) = video.playout.poll(now_ms, Some(&mut state.sync)) else {
            continue;
        };
        if !state.first_video {
            state.first_video = true;
            let _ = reports.send(EngineReport::FirstMedia {
                feed: *feed,
                kind: TrackKind::Video,
            });
        }
        write_video(outputs, *feed, picture, now_ms);
    }
}

/// Once a second, at debug level: how the feed's audio buffer adapted (what it concealed, dropped
/// and inserted, what it lost and rebuilt, its target and lip sync's floor). Speech quality under
/// a changing network is judged from these lines.
fn trace_audio_buffer(feed: u64, state: &mut Feed, now_ms: u64) {
    let (due_ms, last) = &state.audio_traced;
    if now_ms < *due_ms || !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let Some(jitter) = &state.audio else {
        return;
    };
    let now = jitter.stats();
    let ms = |samples: u64| samples / 48;
    tracing::debug!(
        feed,
        level_ms = jitter.level_ms(),
        delay_ms = jitter.delay_ms(),
        target_ms = now.target_delay_ms,
        lip_sync_floor_ms = state.sync.audio_min_delay_ms(),
        concealed_ms = ms(now.concealed_samples.saturating_sub(last.concealed_samples)),
        removed_ms = ms(now.removed_samples.saturating_sub(last.removed_samples)),
        inserted_ms = ms(now.inserted_samples.saturating_sub(last.inserted_samples)),
        lost = now.packets_lost.saturating_sub(last.packets_lost),
        rebuilt_fec = now.fec_recovered.saturating_sub(last.fec_recovered),
        rebuilt_dred = now.dred_recovered.saturating_sub(last.dred_recovered),
        late = now.packets_late.saturating_sub(last.packets_late),
        "audio buffer"
    );
    state.audio_traced = (now_ms + 1000, now);
}

/// Once every two seconds (debug level), how a participant's picture arrives: packets, frames
/// handed to the decoder and given up, and whether a keyframe is awaited. A frozen picture
/// says in the log whether nothing arrived or what arrived could not be used.
fn trace_video_reception(feed: u64, state: &mut Feed, now_ms: u64) {
    let Some(video) = &mut state.video else {
        return;
    };
    let (due_ms, packets, last) = video.traced;
    if now_ms < due_ms || !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let now = video.assembler.stats();
    tracing::debug!(
        feed,
        packets = video.packets - packets,
        frames = now.frames_assembled - last.frames_assembled,
        given_up = now.frames_dropped - last.frames_dropped,
        late = now.packets_late - last.packets_late,
        waiting_for_keyframe = video.assembler.waiting_for_keyframe(),
        keyframe_requests = video.requests.sent(),
        "video reception"
    );
    video.traced = (now_ms + 2000, video.packets, now);
}

/// Everyone's picture goes to the screen; the first participant with video goes into the Y4M
/// file, at the size it started with (a later size is scaled to it: senders change size under load
/// or on a slow link), and when it was shown, `now_ms`, into the times file.
fn write_video(outputs: &mut Outputs, feed: u64, picture: I420Frame, now_ms: u64) {
    if outputs.video.is_none()
        && let Some((path, size)) = outputs.video_path.take()
    {
        match Y4mSink::create(&path, (30, 1)) {
            Ok(sink) => {
                let sink = match size {
                    Some(size) => sink.sized(size),
                    None => sink,
                };
                outputs.video = Some((feed, sink));
            }
            Err(e) => tracing::warn!(error = %e, "cannot write the video file"),
        }
    }
    if let Some((owner, sink)) = &mut outputs.video
        && *owner == feed
    {
        match sink.write(&picture) {
            Ok(()) => {
                if let Some(times) = &mut outputs.video_times
                    && let Err(e) = times.write(now_ms)
                {
                    tracing::warn!(error = %e, "video times file write failed; no more times");
                    outputs.video_times = None;
                }
            }
            Err(e) => tracing::warn!(error = %e, "video file write failed"),
        }
    }
    if let Some(screen) = &outputs.screen {
        screen.show(&feed.to_string(), picture);
    }
}

/// Judge each participant's last window and report changes.
fn judge_quality(feeds: &mut BTreeMap<u64, Feed>, reports: &mpsc::UnboundedSender<EngineReport>) {
    for (feed, state) in feeds.iter_mut() {
        let (received, missing) = state.audio.as_ref().map_or((0, 0), |j| {
            let s = j.stats();
            (s.packets_received, s.packets_lost + s.packets_late)
        });
        let keyframes = state.video.as_ref().map_or(0, |v| v.requests.sent());
        let (r0, m0, k0) = state.counted;
        state.counted = (received, missing, keyframes);
        let window = Window {
            audio_received: received.saturating_sub(r0),
            audio_missing: missing.saturating_sub(m0),
            video_keyframe_requests: keyframes.saturating_sub(k0),
        };
        if let Some(quality) = state.quality.push(&window) {
            let _ = reports.send(EngineReport::Quality {
                feed: *feed,
                quality,
                audio_missing_percent: window.audio_missing_percent(),
            });
        }
    }
}

fn stats_of(feed: u64, state: &Feed) -> ParticipantMediaStats {
    let mut stats = ParticipantMediaStats {
        participant: feed.to_string(),
        lip_sync_skew_ms: state.sync.stats().last_skew_ms,
        ..Default::default()
    };
    if let Some(jitter) = &state.audio {
        let j = jitter.stats();
        stats.audio_packets_received = j.packets_received;
        stats.audio_packets_lost = j.packets_lost;
        stats.audio_concealed_ms = j.concealed_samples / 48;
        stats.audio_target_delay_ms = j.target_delay_ms;
    }
    if let Some(video) = &state.video {
        let p = video.playout.stats();
        stats.video_frames_decoded = video.decoded;
        stats.video_frames_shown = p.frames_shown;
        stats.video_frames_dropped = p.frames_dropped;
        stats.video_freezes = p.freezes;
        stats.video_keyframe_requests = video.requests.sent();
        (stats.video_width, stats.video_height) = video.size;
    }
    stats
}
