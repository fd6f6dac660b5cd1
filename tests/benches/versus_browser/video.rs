//! Video as received: frame rate, freezes and picture quality (PSNR, SSIM) of what a receiver
//! gets from a sender of the same kind (Runde → Runde, Chromium → Chromium) through the same
//! Janus, the sender sending the stamped test pattern (`Setup::camera`, 640×360 at 30 fps) and the
//! speech, under each network condition.
//!
//! Every received frame's delivery time is known (Runde: `--video-out-times`, when the frame was
//! shown; Chromium: when its `MediaStreamTrackProcessor` handed the frame over), so frame rate
//! and freezes count every frame. Pictures are scored on a sample — every n-th frame delivered in
//! the window, the same rule for both — because Chromium's frames cross WebDriver at half a
//! megabyte each. Each sampled frame is compared with the sent frame carrying the same frame
//! counter (read from the stamp in the picture), so a late or repeated picture is judged against
//! what it shows, not against what was due.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use runde_e2e::browser::{Browser, PageOptions};
use runde_e2e::process::{find_program, wait_until};
use runde_e2e::{Result, err};
use runde_media::video::{I420Frame, VideoSink, VideoSource, Y4mSink, Y4mSource, read_stamp};
use serde_json::Value;

use crate::{Better, Network, PIN, ROOM, Row, Setup, chromium, now_ms, runde, runde_publishing};

/// A gap between successive received frames longer than this is a freeze.
const FREEZE_MS: f64 = 200.0;
/// The size the pattern is sent at; smaller received pictures are scaled up to it for scoring.
const SENT: (u32, u32) = (640, 360);

/// The network conditions both pairs are measured under, each applied before the pair joins (so
/// joining happens under it too).
fn conditions(quick: bool) -> Vec<Network> {
    if quick {
        vec![Network::Clean, Network::Loss(5)]
    } else {
        vec![
            Network::Clean,
            Network::Loss(5),
            Network::Bottleneck,
            Network::Jitter,
        ]
    }
}

/// How long to look and how much to score.
struct Timing {
    /// From the first received frame to the start of the window, ms.
    warm_up: f64,
    /// The window frame rate, freezes and pictures are measured over, ms.
    window: f64,
    /// Score every this-many-th delivered frame.
    every: usize,
}

impl Timing {
    fn of(setup: &Setup) -> Self {
        if setup.quick {
            Self {
                warm_up: 2_000.0,
                window: 5_000.0,
                every: 5,
            }
        } else {
            Self {
                warm_up: 5_000.0,
                window: 20_000.0,
                every: 10,
            }
        }
    }

    /// The window, in Unix ms, for deliveries starting with `first`.
    fn window_after(&self, first: f64) -> (f64, f64) {
        let start = first + self.warm_up;
        (start, start + self.window)
    }

    /// How long after the first frame a receiver must keep receiving: the window and a margin,
    /// so a picture frozen at the window's end is seen as frozen to the end.
    fn run_after_first(&self) -> Duration {
        Duration::from_secs_f64((self.warm_up + self.window + 1_500.0) / 1000.0)
    }
}

/// What a receiver got.
struct Received {
    /// When each frame was delivered, Unix ms, in order.
    times: Vec<f64>,
    /// The scored sample: every `Timing::every`-th frame delivered in the window, with its
    /// delivery index.
    samples: Vec<(usize, I420Frame)>,
}

/// The measured video of one client under one condition.
struct Scores {
    fps: f64,
    freezes: usize,
    frozen_ms: f64,
    /// PSNR (dB) and SSIM, mean over the scored frames (all planes); `None`: none scorable.
    psnr: Option<f64>,
    ssim: Option<f64>,
}

/// Frame rate, freezes and pictures of a Runde pair and a Chromium pair under each condition.
pub fn video_quality(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    let timing = Timing::of(setup);
    let sender = chromium(setup, "chromium-video-sender", None)?;
    let receiver = chromium(setup, "chromium-video-receiver", None)?;
    for condition in conditions(setup.quick) {
        condition.apply(&setup.wire)?;
        let ours = runde_pair(setup, &condition.slug(), &timing);
        let theirs = chromium_pair(setup, &sender, &receiver, &timing);
        Network::Clean.apply(&setup.wire)?;
        let mut scored = Vec::new();
        for (client, received) in [("Runde", ours?), ("Chromium", theirs?)] {
            let label = format!("{}-{}", client.to_lowercase(), &condition.slug());
            scored.push(match received {
                Some(received) => Some(score(setup, &label, &received, &timing)?),
                None => {
                    println!("video, {}, {client}: no picture arrived", condition.name());
                    None
                }
            });
        }
        let [ours, theirs] = [&scored[0], &scored[1]];
        let mut row = |metric: &str,
                       unit: &'static str,
                       better: Better,
                       value: fn(&Scores) -> Option<f64>| {
            rows.push(Row {
                metric: format!("{metric}, {}", condition.name()),
                runde: ours.as_ref().and_then(value),
                chromium: theirs.as_ref().and_then(value),
                unit,
                better,
            });
        };
        row("video frame rate", "fps", Better::Higher, |s| Some(s.fps));
        row(
            &format!("video freezes (gaps > {FREEZE_MS:.0} ms)"),
            "",
            Better::Lower,
            |s| Some(s.freezes as f64),
        );
        row("video frozen time", "ms", Better::Lower, |s| {
            Some(s.frozen_ms)
        });
        row("video PSNR", "dB", Better::Higher, |s| s.psnr);
        row("video SSIM", "", Better::Higher, |s| s.ssim);
    }
    Ok(())
}

/// A Runde sender and a Runde receiver; the receiver writes what it shows (`--video-out`) and
/// when (`--video-out-times`). `None` if no picture arrived.
fn runde_pair(setup: &Setup, slug: &str, timing: &Timing) -> Result<Option<Received>> {
    let wait = Duration::from_secs(30);
    let mut sender = runde_publishing(setup, &format!("VideoSender-{slug}"), 900)?;
    let y4m = setup.dir.join(format!("runde-video-{slug}.y4m"));
    let times_file = setup.dir.join(format!("runde-video-{slug}-times.txt"));
    let (y4m_arg, times_arg) = (y4m.display().to_string(), times_file.display().to_string());
    let mut receiver = runde(
        setup,
        &format!("VideoReceiver-{slug}"),
        // At the size sent: simulcast starts with the small layer and adds 360p after a few
        // seconds, and a file sized by its first picture would hold 180p throughout.
        &[
            "--video-out",
            &y4m_arg,
            "--video-out-times",
            &times_arg,
            "--video-out-size",
            "640x360",
        ],
    )?;
    let first = receiver.wait_event("first picture", wait, |e| {
        e["event"] == "mediaStarted" && e["kind"] == "video"
    });
    if first.is_ok() {
        std::thread::sleep(timing.run_after_first());
    }
    // Leave as a user would (Ctrl-C), so the files are finished. One that already ended (and
    // so cannot be signalled) has said why in its saved output.
    for client in [&mut receiver, &mut sender] {
        let _ = client.interrupt();
        client.wait_exit(wait)?;
        client.save_output(&setup.dir);
    }
    if let Err(e) = first {
        println!("Runde's receiver ({slug}): {e}");
        return Ok(None);
    }
    let times: Vec<f64> = std::fs::read_to_string(&times_file)
        .map_err(|e| err("Runde's frame times", e))?
        .lines()
        .map(|l| {
            l.trim()
                .parse()
                .map_err(|_| err("Runde's frame times", format!("not a time: {l:?}")))
        })
        .collect::<Result<_>>()?;
    let Some(&first) = times.first() else {
        return Ok(None);
    };
    let (start, end) = timing.window_after(first);
    let mut samples = Vec::new();
    let mut file = Y4mSource::open(&y4m, false).map_err(|e| err("Runde's video", e))?;
    let mut index = 0;
    while let Some(frame) = file.next_frame().map_err(|e| err("Runde's video", e))? {
        let at = times.get(index).copied().unwrap_or(f64::INFINITY);
        if at >= end {
            break;
        }
        if index % timing.every == 0 && at >= start {
            samples.push((index, frame));
        }
        index += 1;
    }
    // Every frame shown, uncompressed (over 300 MB in a full run): the sample is what is kept.
    let _ = std::fs::remove_file(&y4m);
    Ok(Some(Received { times, samples }))
}

/// A Chromium sender and a Chromium receiver (a listener reading frames, see
/// `PageOptions::frames_every`). `None` if no picture arrived.
fn chromium_pair(
    setup: &Setup,
    sender: &Browser,
    receiver: &Browser,
    timing: &Timing,
) -> Result<Option<Received>> {
    let wait = Duration::from_secs(30);
    let ws = setup.janus.ws_url();
    sender.open(&ws, ROOM, PIN, &PageOptions::default())?;
    let received = (|| -> Result<Option<Received>> {
        wait_until("Chromium to publish", wait, || {
            Ok((sender.results()?["publishing"] == true).then_some(()))
        })?;
        let options = PageOptions {
            listen_only: true,
            frames_every: Some(timing.every as u32),
            ..PageOptions::default()
        };
        receiver.open(&ws, ROOM, PIN, &options)?;
        let first = wait_until("Chromium's first picture", wait, || {
            Ok(receiver.results()?["video"]["times"][0].as_f64())
        });
        let first = match first {
            Ok(first) => first,
            Err(e) => {
                println!("Chromium's receiver: {e}");
                return Ok(None);
            }
        };
        let until = first + timing.run_after_first().as_secs_f64() * 1000.0;
        std::thread::sleep(Duration::from_secs_f64(
            ((until - now_ms()) / 1000.0).max(0.0),
        ));
        let results = receiver.results()?;
        let video = &results["video"];
        if let Some(format) = video["unsupportedFormat"].as_str() {
            println!("Chromium's receiver: frames in {format}, not I420: pictures not scored");
        }
        let times: Vec<f64> = video["times"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let (start, end) = timing.window_after(first);
        // Kept frame i is delivered frame i × every (the page keeps every n-th from the first):
        // only those in the window cross WebDriver.
        let kept = video["samples"].as_u64().unwrap_or(0) as usize;
        let mut samples = Vec::new();
        for i in 0..kept {
            let index = i * timing.every;
            let Some(&at) = times.get(index) else { break };
            if at < start || at >= end {
                continue;
            }
            let sample = receiver.video_sample(i)?;
            if sample["index"].as_u64() != Some(index as u64) {
                return Err(err(
                    "Chromium's kept frames",
                    format!("kept frame {i} is not frame {index}"),
                ));
            }
            samples.push((index, decode_sample(&sample)?));
        }
        Ok(Some(Received { times, samples }))
    })();
    receiver.leave()?;
    sender.leave()?;
    received
}

/// A kept frame from the page: I420 planes in base64.
fn decode_sample(sample: &Value) -> Result<I420Frame> {
    use base64::Engine;
    let size = |key: &str| {
        sample[key]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| err("Chromium's kept frame", format!("no {key}")))
    };
    let (width, height) = (size("width")?, size("height")?);
    let data = base64::engine::general_purpose::STANDARD
        .decode(sample["data"].as_str().unwrap_or_default())
        .map_err(|e| err("Chromium's kept frame", e))?;
    I420Frame::from_bytes(width, height, data).map_err(|e| err("Chromium's kept frame", e))
}

/// Frame rate, freezes and picture quality over the window after the warm-up; printed in detail.
fn score(setup: &Setup, label: &str, received: &Received, timing: &Timing) -> Result<Scores> {
    let times = &received.times;
    let (start, end) = timing.window_after(times.first().copied().unwrap_or(0.0));
    let frames = times.iter().filter(|&&t| t >= start && t < end).count();
    let fps = frames as f64 / (timing.window / 1000.0);
    // Successive deliveries around and in the window; if none came after it, the window's end
    // stands in (the receiver ran past it), so a picture frozen to the end counts.
    let mut points: Vec<f64> = times.iter().copied().take_while(|&t| t < end).collect();
    points.push(times.iter().copied().find(|&t| t >= end).unwrap_or(end));
    let (mut freezes, mut frozen_ms, mut longest) = (0, 0.0, 0.0_f64);
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b <= start {
            continue;
        }
        longest = longest.max(b - a);
        if b - a > FREEZE_MS {
            freezes += 1;
            frozen_ms += b.min(end) - a.max(start);
        }
    }
    let quality = picture_quality(setup, label, &received.samples)?;
    println!(
        "video {label}: {frames} frames in {:.1} s ({fps:.1} fps), {freezes} freezes \
         ({frozen_ms:.0} ms frozen), longest gap {longest:.0} ms; {}",
        timing.window / 1000.0,
        quality.describe()
    );
    Ok(Scores {
        fps,
        freezes,
        frozen_ms,
        psnr: quality.psnr.map(|p| p.0),
        ssim: quality.ssim.map(|s| s.0),
    })
}

/// How the sampled pictures compare with what was sent.
#[derive(Default)]
struct Quality {
    /// Sampled frames compared.
    scored: usize,
    /// Sampled frames whose stamp could not be read (so nothing to compare them with).
    unreadable: usize,
    /// Sizes of the compared frames, and how many of each.
    sizes: BTreeMap<(u32, u32), usize>,
    /// Mean PSNR in dB: all planes, luma.
    psnr: Option<(f64, f64)>,
    /// Mean SSIM: all planes, luma.
    ssim: Option<(f64, f64)>,
}

impl Quality {
    fn describe(&self) -> String {
        let sizes: Vec<String> = self
            .sizes
            .iter()
            .map(|((w, h), n)| format!("{n} at {w}x{h}"))
            .collect();
        let mut text = format!(
            "{} frames scored ({}), {} with an unreadable stamp",
            self.scored,
            sizes.join(", "),
            self.unreadable
        );
        if let (Some((p, py)), Some((s, sy))) = (self.psnr, self.ssim) {
            text.push_str(&format!(
                ": PSNR {p:.2} dB (luma {py:.2}), SSIM {s:.4} (luma {sy:.4})"
            ));
        }
        text
    }
}

/// Compare each sampled frame with the sent frame of the same counter (ffmpeg's `psnr` and
/// `ssim`, after scaling the received frame to the sent size). Files stay in the artifacts:
/// `<label>-received-WxH.y4m` and `<label>-sent-WxH.y4m`, frame by frame.
fn picture_quality(setup: &Setup, label: &str, samples: &[(usize, I420Frame)]) -> Result<Quality> {
    let mut quality = Quality::default();
    let mut by_size: BTreeMap<(u32, u32), Vec<(&I420Frame, u32)>> = BTreeMap::new();
    for (_, frame) in samples {
        match read_stamp(frame) {
            Some(stamp) => by_size
                .entry((frame.width(), frame.height()))
                .or_default()
                .push((frame, stamp.counter)),
            None => quality.unreadable += 1,
        }
    }
    let wanted: BTreeSet<u32> = by_size.values().flatten().map(|(_, c)| *c).collect();
    let sent = sent_frames(&setup.camera, &wanted)?;
    let (mut psnr, mut psnr_y, mut ssim, mut ssim_y) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((w, h), frames) in &by_size {
        let frames: Vec<(&I420Frame, &I420Frame)> = frames
            .iter()
            .filter_map(|(frame, counter)| sent.get(counter).map(|s| (*frame, s)))
            .collect();
        // A counter the sent file does not have is a misread stamp that passed the CRC.
        quality.unreadable += by_size[&(*w, *h)].len() - frames.len();
        if frames.is_empty() {
            continue;
        }
        let name = format!("{label}-received-{w}x{h}");
        let (received_file, sent_file) =
            (format!("{name}.y4m"), format!("{label}-sent-{w}x{h}.y4m"));
        write_y4m(&setup.dir.join(&received_file), frames.iter().map(|f| f.0))?;
        write_y4m(&setup.dir.join(&sent_file), frames.iter().map(|f| f.1))?;
        let (psnr_log, ssim_log) = (format!("{name}-psnr.log"), format!("{name}-ssim.log"));
        let graph = format!(
            "[0:v]scale={}:{}:flags=bicubic,split[r1][r2];[1:v]split[s1][s2];\
             [r1][s1]psnr=stats_file={psnr_log};[r2][s2]ssim=stats_file={ssim_log}",
            SENT.0, SENT.1
        );
        let out = Command::new(find_program("ffmpeg")?)
            .current_dir(&setup.dir)
            .args(["-hide_banner", "-nostats", "-loglevel", "error", "-i"])
            .arg(&received_file)
            .arg("-i")
            .arg(&sent_file)
            .args(["-lavfi", &graph, "-f", "null", "-"])
            .output()
            .map_err(|e| err("ffmpeg", e))?;
        if !out.status.success() {
            return Err(err("ffmpeg", String::from_utf8_lossy(&out.stderr)));
        }
        let read = |log: &str| {
            std::fs::read_to_string(setup.dir.join(log)).map_err(|e| err("ffmpeg's statistics", e))
        };
        // Identical pictures are infinitely many dB to ffmpeg; 100 dB keeps one such frame from
        // making the mean infinite.
        psnr.extend(per_frame(&read(&psnr_log)?, "psnr_avg").map(|p| p.min(100.0)));
        psnr_y.extend(per_frame(&read(&psnr_log)?, "psnr_y").map(|p| p.min(100.0)));
        ssim.extend(per_frame(&read(&ssim_log)?, "All"));
        ssim_y.extend(per_frame(&read(&ssim_log)?, "Y"));
        quality.scored += frames.len();
        quality.sizes.insert((*w, *h), frames.len());
    }
    if psnr.len() != quality.scored || ssim.len() != quality.scored {
        return Err(err(
            "ffmpeg's statistics",
            format!(
                "{} PSNR and {} SSIM values for {} frames",
                psnr.len(),
                ssim.len(),
                quality.scored
            ),
        ));
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    quality.psnr = mean(&psnr).zip(mean(&psnr_y));
    quality.ssim = mean(&ssim).zip(mean(&ssim_y));
    Ok(quality)
}

/// The frames of the sent file whose counters are `wanted` (the pattern's counter is its frame
/// number in the file, which both senders loop).
fn sent_frames(path: &Path, wanted: &BTreeSet<u32>) -> Result<BTreeMap<u32, I420Frame>> {
    let mut file = Y4mSource::open(path, false).map_err(|e| err("the sent video", e))?;
    let mut frames = BTreeMap::new();
    let mut counter = 0u32;
    while let Some(frame) = file.next_frame().map_err(|e| err("the sent video", e))? {
        if wanted.contains(&counter) {
            frames.insert(counter, frame);
        }
        counter += 1;
    }
    Ok(frames)
}

fn write_y4m<'a>(path: &Path, frames: impl Iterator<Item = &'a I420Frame>) -> Result<()> {
    let mut sink = Y4mSink::create(path, (30, 1)).map_err(|e| err("y4m", e))?;
    for frame in frames {
        sink.write(frame).map_err(|e| err("y4m", e))?;
    }
    sink.finish().map_err(|e| err("y4m", e))
}

/// One value per frame from an ffmpeg statistics file (`key:value` words, a line per frame).
fn per_frame<'a>(log: &'a str, key: &'a str) -> impl Iterator<Item = f64> + 'a {
    log.lines().filter_map(move |line| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.parse().ok())
    })
}
