//! Microphones and speakers through cpal.
//!
//! The device callback runs on the audio system's real-time thread. It only converts samples to
//! mono `f32` and moves them through a lock-free ring buffer ([`rtrb`]): no allocation, no lock, no
//! blocking (in debug builds `assert_no_alloc` aborts if the callback allocates). Resampling between
//! the device's rate and 48 kHz happens on the consumer's side, outside the callback.
//!
//! A device that disappears mid-call is reported as a [`DeviceEvent::Lost`]; the call goes on and
//! the user can pick another device.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize};

use super::SAMPLE_RATE;
use super::resample::StreamResampler;
use crate::MediaError;

/// Device buffer we ask for, in frames: 10 ms at 48 kHz. Defaults can be ~340 ms.
const DEVICE_BUFFER_FRAMES: u32 = 480;
/// Ring buffer between callback and engine: one second at the device rate.
const RING_SECONDS: usize = 1;

/// Microphone or speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Audio input.
    Microphone,
    /// Audio output.
    Speaker,
}

impl DeviceKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Microphone => "microphone",
            Self::Speaker => "speaker",
        }
    }
}

/// A device as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDeviceInfo {
    /// Stable identifier to open it with (`host:device`).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// Whether it is the system's default for its kind.
    pub is_default: bool,
}

/// Something that happened to an open device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// The device stopped working (unplugged, taken away). The stream is dead; open another.
    Lost {
        /// What the system said.
        reason: String,
    },
    /// The system moved the stream to another device (default-device streams only).
    Rerouted,
}

fn map_err(kind: DeviceKind, name: &str, e: &cpal::Error) -> MediaError {
    use cpal::ErrorKind as K;
    let reason = match e.kind() {
        K::DeviceBusy => "it is in use by another program".to_owned(),
        K::PermissionDenied => "access was not permitted".to_owned(),
        K::DeviceNotAvailable => "it is not available (unplugged?)".to_owned(),
        K::HostUnavailable => "the audio system is not running".to_owned(),
        _ => e.to_string(),
    };
    MediaError::DeviceUnavailable {
        kind: kind.noun(),
        name: name.to_owned(),
        reason,
    }
}

/// The devices of one kind on the default audio host.
pub fn list_devices(kind: DeviceKind) -> Result<Vec<AudioDeviceInfo>, MediaError> {
    let host = cpal::default_host();
    let default_id = match kind {
        DeviceKind::Microphone => host.default_input_device(),
        DeviceKind::Speaker => host.default_output_device(),
    }
    .and_then(|d| d.id().ok());
    let devices = match kind {
        DeviceKind::Microphone => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        DeviceKind::Speaker => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    }
    .map_err(|e| map_err(kind, "(all)", &e))?;
    Ok(devices
        .into_iter()
        .filter_map(|d| {
            let id = d.id().ok()?;
            Some(AudioDeviceInfo {
                is_default: default_id.as_ref() == Some(&id),
                id: id.to_string(),
                name: d.to_string(),
            })
        })
        .collect())
}

fn find_device(kind: DeviceKind, id: Option<&str>) -> Result<cpal::Device, MediaError> {
    let host = cpal::default_host();
    let device = match id {
        None => match kind {
            DeviceKind::Microphone => host.default_input_device(),
            DeviceKind::Speaker => host.default_output_device(),
        },
        Some(id) => {
            let parsed: cpal::DeviceId = id.parse().map_err(|e| map_err(kind, id, &e))?;
            host.device_by_id(&parsed)
        }
    };
    device.ok_or(MediaError::NoDevice { kind: kind.noun() })
}

/// Pick a format: 48 kHz if the device can, else its default rate; `f32` or `i16` preferred; as
/// few channels as offered; a 10 ms buffer where the device allows one.
fn negotiate(
    kind: DeviceKind,
    device: &cpal::Device,
) -> Result<(StreamConfig, SampleFormat), MediaError> {
    let name = device.to_string();
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match kind {
        DeviceKind::Microphone => device.supported_input_configs().map(Iterator::collect),
        DeviceKind::Speaker => device.supported_output_configs().map(Iterator::collect),
    }
    .map_err(|e| map_err(kind, &name, &e))?;
    let format_rank = |f: SampleFormat| match f {
        SampleFormat::F32 => 0,
        SampleFormat::I16 => 1,
        SampleFormat::I32 => 2,
        _ => 9,
    };
    let usable = |r: &&cpal::SupportedStreamConfigRange| {
        matches!(
            r.sample_format(),
            SampleFormat::F32 | SampleFormat::I16 | SampleFormat::I32
        )
    };
    let best = ranges
        .iter()
        .filter(usable)
        .min_by_key(|r| {
            (
                !r.contains_rate(SAMPLE_RATE),
                format_rank(r.sample_format()),
                r.channels(),
            )
        })
        .ok_or(MediaError::UnsupportedFormat {
            kind: kind.noun(),
            name: name.clone(),
        })?;
    let rate = if best.contains_rate(SAMPLE_RATE) {
        SAMPLE_RATE
    } else {
        best.max_sample_rate()
            .min(96_000)
            .max(best.min_sample_rate())
    };
    let supported = (*best).with_sample_rate(rate);
    let mut config = supported.config();
    if let SupportedBufferSize::Range { min, max } = supported.buffer_size() {
        config.buffer_size = cpal::BufferSize::Fixed(DEVICE_BUFFER_FRAMES.clamp(*min, *max));
    }
    Ok((config, supported.sample_format()))
}

/// Runs `f` and, in debug builds, aborts if it allocates (see `assert_no_alloc`); the real-time
/// rule made checkable.
#[inline]
fn realtime<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(debug_assertions)]
    {
        assert_no_alloc::assert_no_alloc(f)
    }
    #[cfg(not(debug_assertions))]
    {
        f()
    }
}

/// Errors that are usually passing (an I/O error from a sound server that has no timing yet, a
/// busy device) end a stream only when they go on this long with no audio in between. ALSA's
/// `pulse` plugin reports such errors right after a stream opens, while PulseAudio has no latency
/// yet, and the backend retries at once, so hundreds can come within a millisecond; taking the
/// first one for a lost device left calls without sound.
const PASSING_ERRORS_FOR: Duration = Duration::from_secs(1);

/// What a stream error means for the device, given for how long errors have been coming with no
/// audio in between. `None`: a glitch or a passing error, the stream goes on.
fn judge(kind: cpal::ErrorKind, failing_for: Duration) -> Option<DeviceEvent> {
    use cpal::ErrorKind as K;
    match kind {
        K::DeviceChanged => Some(DeviceEvent::Rerouted),
        // A gap in the sound (the stream recovers by itself), or no real-time priority.
        K::Xrun | K::RealtimeDenied => None,
        K::BackendError | K::DeviceBusy | K::ResourceExhausted
            if failing_for < PASSING_ERRORS_FOR =>
        {
            None
        }
        _ => Some(DeviceEvent::Lost {
            reason: String::new(),
        }),
    }
}

/// When the current run of errors began, in ms after `opened` plus one; 0 while audio flows (the
/// data callback stores 0 each time it runs, which is all the real-time side does).
struct ErrorRun {
    opened: Instant,
    since: Arc<AtomicU64>,
}

impl ErrorRun {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            since: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Note an error; how long errors have been coming.
    fn error(&self) -> Duration {
        self.error_at(self.opened.elapsed().as_millis() as u64 + 1)
    }

    /// Note an error at `now` (ms after opening, plus one).
    fn error_at(&self, now: u64) -> Duration {
        let began = match self
            .since
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => now,
            Err(began) => began,
        };
        Duration::from_millis(now.saturating_sub(began))
    }
}

/// The error callback of a stream whose data callback clears `run` whenever audio flows.
fn error_callback(
    events: mpsc::Sender<DeviceEvent>,
    run: ErrorRun,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e| {
        let failing_for = run.error();
        match judge(e.kind(), failing_for) {
            Some(DeviceEvent::Lost { .. }) => {
                let _ = events.send(DeviceEvent::Lost {
                    reason: e.to_string(),
                });
            }
            Some(event) => {
                let _ = events.send(event);
            }
            None => tracing::trace!(error = %e, ?failing_for, "audio stream error, going on"),
        }
    }
}

/// What a stream builder gets: the device and its negotiated format, plus what the callback
/// shares with the engine (a counter of dropped or starved samples, the event channel).
struct StreamParts<'a> {
    device: &'a cpal::Device,
    config: StreamConfig,
    format: SampleFormat,
    counter: Arc<AtomicU64>,
    events: mpsc::Sender<DeviceEvent>,
}

impl StreamParts<'_> {
    fn ring_len(&self) -> usize {
        self.config.sample_rate as usize * RING_SECONDS
    }
}

/// An open, playing stream and the engine's side of it.
struct OpenStream<R> {
    stream: cpal::Stream,
    ring: R,
    counter: Arc<AtomicU64>,
    events: mpsc::Receiver<DeviceEvent>,
    name: String,
    rate: u32,
}

/// Find, negotiate, build (with `build`, which picks the sample type) and start a stream.
fn open_device<R>(
    kind: DeviceKind,
    id: Option<&str>,
    build: impl FnOnce(StreamParts<'_>) -> Result<(cpal::Stream, R), cpal::Error>,
) -> Result<OpenStream<R>, MediaError> {
    let device = find_device(kind, id)?;
    let name = device.to_string();
    let (config, format) = negotiate(kind, &device)?;
    let counter = Arc::new(AtomicU64::new(0));
    let (tx, events) = mpsc::channel();
    let parts = StreamParts {
        device: &device,
        config,
        format,
        counter: counter.clone(),
        events: tx,
    };
    let (stream, ring) = build(parts).map_err(|e| map_err(kind, &name, &e))?;
    stream.play().map_err(|e| map_err(kind, &name, &e))?;
    tracing::info!(device = %name, rate = config.sample_rate, channels = config.channels, ?format, "{} open", kind.noun());
    Ok(OpenStream {
        stream,
        ring,
        counter,
        events,
        name,
        rate: config.sample_rate,
    })
}

/// A microphone delivering 48 kHz mono frames.
pub struct Microphone {
    _stream: cpal::Stream,
    ring: rtrb::Consumer<f32>,
    resampler: StreamResampler,
    scratch: Vec<f32>,
    events: mpsc::Receiver<DeviceEvent>,
    dropped: Arc<AtomicU64>,
    name: String,
}

impl Microphone {
    /// Open a microphone (the default one for `None`) and start capturing.
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let opened = open_device(DeviceKind::Microphone, id, |b| {
            let (producer, consumer) = rtrb::RingBuffer::new(b.ring_len());
            let stream = match b.format {
                SampleFormat::F32 => {
                    capture::<f32>(b.device, &b.config, producer, b.counter, b.events)
                }
                SampleFormat::I16 => {
                    capture::<i16>(b.device, &b.config, producer, b.counter, b.events)
                }
                _ => capture::<i32>(b.device, &b.config, producer, b.counter, b.events),
            }?;
            Ok((stream, consumer))
        })?;
        Ok(Self {
            resampler: StreamResampler::new(opened.rate, SAMPLE_RATE)?,
            scratch: Vec::with_capacity(opened.rate as usize / 10),
            _stream: opened.stream,
            ring: opened.ring,
            events: opened.events,
            dropped: opened.counter,
            name: opened.name,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fill `out` with the next 48 kHz samples if enough have been captured; `false` if not yet.
    pub fn read(&mut self, out: &mut [f32]) -> Result<bool, MediaError> {
        let available = self.ring.slots();
        if available > 0 {
            self.scratch.clear();
            if let Ok(chunk) = self.ring.read_chunk(available) {
                self.scratch.extend(chunk);
            }
            self.resampler.push(&self.scratch)?;
        }
        Ok(self.resampler.pop(out))
    }

    /// Like [`read`](Self::read), waiting up to `timeout` for the samples (polling every ms).
    pub fn read_timeout(&mut self, out: &mut [f32], timeout: Duration) -> Result<bool, MediaError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.read(out)? {
                return Ok(true);
            }
            if let Some(DeviceEvent::Lost { reason }) = self.poll_event() {
                return Err(MediaError::DeviceUnavailable {
                    kind: "microphone",
                    name: self.name.clone(),
                    reason,
                });
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The next event from the device, if any.
    pub fn poll_event(&self) -> Option<DeviceEvent> {
        self.events.try_recv().ok()
    }

    /// Samples dropped because the engine did not keep up (ring buffer full).
    pub fn dropped_samples(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn capture<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut producer: rtrb::Producer<f32>,
    dropped: Arc<AtomicU64>,
    events: mpsc::Sender<DeviceEvent>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let run = ErrorRun::new();
    let flowing = run.since.clone();
    let data = move |input: &[T], _: &cpal::InputCallbackInfo| {
        realtime(|| {
            flowing.store(0, Ordering::Relaxed);
            let frames = input.len() / channels;
            let take = frames.min(producer.slots());
            if let Ok(chunk) = producer.write_chunk_uninit(take) {
                let mono = input.chunks_exact(channels).map(|frame| {
                    frame.iter().map(|s| s.to_sample::<f32>()).sum::<f32>() / channels as f32
                });
                chunk.fill_from_iter(mono);
            }
            if take < frames {
                dropped.fetch_add((frames - take) as u64, Ordering::Relaxed);
            }
        });
    };
    device.build_input_stream::<T, _, _>(*config, data, error_callback(events, run), None)
}

/// A speaker playing 48 kHz mono frames.
pub struct Speaker {
    _stream: cpal::Stream,
    ring: rtrb::Producer<f32>,
    resampler: StreamResampler,
    block: Vec<f32>,
    events: mpsc::Receiver<DeviceEvent>,
    starved: Arc<AtomicU64>,
    name: String,
}

impl Speaker {
    /// Open a speaker (the default one for `None`) and start playing (silence until fed).
    pub fn open(id: Option<&str>) -> Result<Self, MediaError> {
        let opened = open_device(DeviceKind::Speaker, id, |b| {
            let (producer, consumer) = rtrb::RingBuffer::new(b.ring_len());
            let stream = match b.format {
                SampleFormat::F32 => {
                    playout::<f32>(b.device, &b.config, consumer, b.counter, b.events)
                }
                SampleFormat::I16 => {
                    playout::<i16>(b.device, &b.config, consumer, b.counter, b.events)
                }
                _ => playout::<i32>(b.device, &b.config, consumer, b.counter, b.events),
            }?;
            Ok((stream, producer))
        })?;
        Ok(Self {
            resampler: StreamResampler::new(SAMPLE_RATE, opened.rate)?,
            block: Vec::new(),
            _stream: opened.stream,
            ring: opened.ring,
            events: opened.events,
            starved: opened.counter,
            name: opened.name,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queue 48 kHz samples for playing. Returns how many device-rate samples did not fit (and
    /// were dropped); 0 in normal operation.
    pub fn write(&mut self, samples: &[f32]) -> Result<usize, MediaError> {
        self.resampler.push(samples)?;
        let n = self.resampler.available();
        self.block.resize(n, 0.0);
        self.resampler.pop(&mut self.block);
        let fit = n.min(self.ring.slots());
        if let Ok(chunk) = self.ring.write_chunk_uninit(fit) {
            chunk.fill_from_iter(self.block[..fit].iter().copied());
        }
        Ok(n - fit)
    }

    /// Device-rate samples queued but not yet taken by the device.
    pub fn queued(&self) -> usize {
        self.ring.buffer().capacity() - self.ring.slots()
    }

    /// Samples the device wanted when nothing was queued (played as silence).
    pub fn starved_samples(&self) -> u64 {
        self.starved.load(Ordering::Relaxed)
    }

    /// The next event from the device, if any.
    pub fn poll_event(&self) -> Option<DeviceEvent> {
        self.events.try_recv().ok()
    }
}

fn playout<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut consumer: rtrb::Consumer<f32>,
    starved: Arc<AtomicU64>,
    events: mpsc::Sender<DeviceEvent>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let run = ErrorRun::new();
    let flowing = run.since.clone();
    let data = move |output: &mut [T], _: &cpal::OutputCallbackInfo| {
        realtime(|| {
            flowing.store(0, Ordering::Relaxed);
            let frames = output.len() / channels;
            let take = frames.min(consumer.slots());
            let mut frames_out = output.chunks_exact_mut(channels);
            if let Ok(chunk) = consumer.read_chunk(take) {
                for (sample, frame) in chunk.into_iter().zip(frames_out.by_ref()) {
                    frame.fill(<T as Sample>::from_sample(sample));
                }
            }
            for frame in frames_out {
                frame.fill(T::EQUILIBRIUM);
            }
            if take < frames {
                starved.fetch_add((frames - take) as u64, Ordering::Relaxed);
            }
        });
    };
    device.build_output_stream::<T, _, _>(*config, data, error_callback(events, run), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::ErrorKind as K;

    fn lost(event: Option<DeviceEvent>) -> bool {
        matches!(event, Some(DeviceEvent::Lost { .. }))
    }

    /// A sound server's passing I/O error keeps the stream; the same error for a second's worth
    /// of periods, or a device that is gone, ends it.
    #[test]
    fn passing_errors_keep_the_device_and_persistent_ones_lose_it() {
        let moment = Duration::from_millis(5);
        assert!(judge(K::BackendError, Duration::ZERO).is_none());
        assert!(judge(K::BackendError, PASSING_ERRORS_FOR - moment).is_none());
        assert!(lost(judge(K::BackendError, PASSING_ERRORS_FOR)));
        assert!(judge(K::DeviceBusy, moment).is_none());
        assert!(judge(K::Xrun, Duration::from_secs(60)).is_none());
        assert!(lost(judge(K::DeviceNotAvailable, Duration::ZERO)));
        assert!(lost(judge(K::StreamInvalidated, Duration::ZERO)));
        assert!(lost(judge(K::Other, Duration::ZERO)));
        assert_eq!(judge(K::DeviceChanged, moment), Some(DeviceEvent::Rerouted));
    }

    /// A run of errors is timed from its first error, and audio flowing ends it.
    #[test]
    fn an_error_run_is_timed_from_its_first_error() {
        let run = ErrorRun::new();
        assert_eq!(run.error_at(101), Duration::ZERO);
        assert_eq!(run.error_at(350), Duration::from_millis(249));
        assert_eq!(run.error_at(1101), Duration::from_secs(1));
        run.since.store(0, Ordering::Relaxed); // audio flowed
        assert_eq!(run.error_at(1200), Duration::ZERO);
        assert_eq!(run.error_at(1210), Duration::from_millis(10));
    }
}
