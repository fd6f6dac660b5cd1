//! The pre-join check's echo test goes through the whole engine — source, audio processing and
//! Opus or VP8, RTP, SRTP over a real WebRTC connection on 127.0.0.1, jitter buffer, decoders, mix
//! — and needs no server. Synthetic media stand in for the microphone and camera (a 440 Hz tone, a
//! test pattern with frame stamps); the speaker and screen are files the test reads back.
//!
//! The test is driven by the check's own events: level reports come about 16 times a second, so
//! "N more level reports" is the clock; nothing sleeps.
#![allow(clippy::expect_used, clippy::print_stdout)] // a test: a broken step fails it loudly

use std::path::PathBuf;
use std::time::Duration;

use runde_call::check::{CheckEvent, DeviceCheck, EchoState};
use runde_call::{AudioIn, AudioOut, MediaChoice, SendState, VideoIn, VideoOut};
use runde_media::audio::cue::SPEAKER_TEST_HZ;
use runde_media::audio::read_wav;
use runde_media::measure::{dominant_frequency, rms_dbfs};
use runde_media::video::{VideoSource, Y4mSource, read_stamp};

const TONE_HZ: f64 = 440.0;
/// 10 ms at 48 kHz.
const WINDOW: usize = 480;

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test folder");
    dir
}

/// A step of the check that must finish: a hang fails the test with its name.
async fn within<T>(what: &str, step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), step)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 20 s"))
}

async fn next(check: &mut DeviceCheck) -> CheckEvent {
    tokio::time::timeout(Duration::from_secs(10), check.next_event())
        .await
        .expect("an event within 10 s")
        .expect("the check goes on")
}

/// Wait for `count` level reports; returns the loudest.
async fn levels(check: &mut DeviceCheck, count: usize, seen: &mut Vec<CheckEvent>) -> f32 {
    let mut loudest = 0.0_f32;
    let mut n = 0;
    while n < count {
        let event = next(check).await;
        if let CheckEvent::Level { microphone } = event {
            loudest = loudest.max(microphone);
            n += 1;
        } else {
            seen.push(event);
        }
    }
    loudest
}

/// Per 10 ms window of the played mix: its dominant frequency, or `None` when it is silent.
fn windows(samples: &[f32]) -> Vec<Option<f64>> {
    samples
        .chunks_exact(WINDOW)
        .map(|w| (rms_dbfs(w) > -40.0).then(|| dominant_frequency(w, 48_000)))
        .collect()
}

fn near(found: Option<f64>, hz: f64) -> bool {
    found.is_some_and(|f| (f - hz).abs() < 15.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_test_goes_through_the_whole_engine_without_a_server() {
    let dir = out_dir("device-check");
    let (wav, y4m) = (dir.join("speaker.wav"), dir.join("screen.y4m"));
    let mut check = within(
        "starting the check",
        DeviceCheck::start(MediaChoice {
            audio_in: AudioIn::Tone { hz: TONE_HZ },
            video_in: VideoIn::Pattern {
                width: 320,
                height: 180,
                fps: 15,
            },
            audio_out: AudioOut::Wav(wav.clone()),
            video_out: VideoOut::Y4m {
                path: y4m.clone(),
                times: None,
                size: None,
            },
            ..MediaChoice::default()
        }),
    )
    .await
    .expect("the check starts");
    let mut seen = Vec::new();

    // Before the echo: the meter moves, the speaker plays nothing but the test sound.
    let loudest = levels(&mut check, 8, &mut seen).await;
    // A 0.3 sine is -10.5 dBFS: (60 - 10.5) / 60 on the meter.
    assert!((loudest - 0.825).abs() < 0.05, "meter showed {loudest}");
    assert!(seen.contains(&CheckEvent::Sending {
        microphone: SendState::On,
        camera: SendState::On,
    }));
    check.play_test_sound();
    levels(&mut check, 12, &mut seen).await;

    // The echo: it reports running once media came back, and the tone is heard.
    check.set_echo(true);
    let mut states = Vec::new();
    while !states.contains(&EchoState::Running) {
        match next(&mut check).await {
            CheckEvent::Echo { state, .. } => {
                assert_ne!(state, EchoState::Failed);
                states.push(state);
            }
            other => seen.push(other),
        }
    }
    println!("echo states: {states:?}");
    levels(&mut check, 25, &mut seen).await;

    // Microphone off: the meter drops to zero at once and the echo falls silent.
    within("turning the microphone off", check.set_microphone_on(false)).await;
    match next(&mut check).await {
        CheckEvent::Level { microphone } => assert_eq!(microphone, 0.0),
        other => panic!("expected the meter to drop, got {other:?}"),
    }
    assert_eq!(
        next(&mut check).await,
        CheckEvent::Sending {
            microphone: SendState::Off,
            camera: SendState::On,
        }
    );
    check.set_camera_on(false);
    assert_eq!(
        next(&mut check).await,
        CheckEvent::Sending {
            microphone: SendState::Off,
            camera: SendState::Off,
        }
    );
    // No level reports while the microphone is off: wait for the engine to go quiet by stopping.
    check.set_echo(false);
    assert_eq!(
        next(&mut check).await,
        CheckEvent::Echo {
            state: EchoState::Off,
            tile: runde_call::check::ECHO_VIEW.into(),
        }
    );
    within("stopping the check", check.stop()).await;

    let played = read_wav(&wav).expect("the speaker file");
    let found = windows(&played);
    println!(
        "played {:.2} s: {} windows with sound",
        played.len() as f64 / 48_000.0,
        found.iter().flatten().count()
    );
    // The test sound: its three notes, in order, each for most of its 160 ms.
    let mut at = 0;
    for hz in SPEAKER_TEST_HZ {
        let start = found[at..]
            .iter()
            .position(|f| near(*f, hz))
            .map(|p| p + at)
            .unwrap_or_else(|| panic!("the test sound's {hz} Hz note is missing"));
        let length = found[start..].iter().take_while(|f| near(**f, hz)).count();
        assert!(length >= 12, "{hz} Hz lasted only {length}0 ms");
        at = start + length;
    }
    // Nothing but the test sound before the echo started.
    let first_tone = found
        .iter()
        .position(|f| near(*f, TONE_HZ))
        .expect("the tone came back through the echo");
    assert!(first_tone > at, "the tone was heard before the echo ran");
    // The echo carried the tone for at least the second of level reports that ran meanwhile.
    let tone = found.iter().filter(|f| near(**f, TONE_HZ)).count();
    assert!(tone >= 100, "the tone came back for only {tone}0 ms");
    // And only the tone: no other sound once the test sound ended.
    let other = found[at..]
        .iter()
        .flatten()
        .filter(|f| (**f - TONE_HZ).abs() >= 15.0)
        .count();
    assert!(
        other <= 3,
        "{other} windows of other sound after the test sound"
    );

    // The picture went round too: decoded frames with advancing stamps.
    let mut file = Y4mSource::open(&y4m, false).expect("the screen file");
    let mut counters = Vec::new();
    while let Ok(Some(frame)) = file.next_frame() {
        if let Some(stamp) = read_stamp(&frame) {
            counters.push(stamp.counter);
        }
    }
    println!(
        "{} pictures came back, counters {:?}..{:?}",
        counters.len(),
        counters.first(),
        counters.last()
    );
    assert!(counters.len() >= 15, "only {} pictures", counters.len());
    assert!(counters.windows(2).all(|w| w[1] > w[0]), "{counters:?}");
}
