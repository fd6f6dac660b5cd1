//! The real cpal → ALSA path, without a sound card.
//!
//! An ALSA userspace configuration (`ALSA_CONFIG_PATH`) makes the default capture device read raw
//! samples from a file and the default playback device write a WAV file (the `file` plugin). The
//! microphone and speaker code under test is the product's own; only the "hardware" is a file.
//! The `null` slave has no clock, so streams free-run: the test counts samples, it never sleeps.
//!
//! ALSA reads its configuration once per process, so this test binary has its own `main`: it
//! sets the configuration before anything touches ALSA, and re-runs itself for the no-device case.
#![allow(unsafe_code)] // `std::env::set_var`, once, before any other thread exists
#![allow(clippy::print_stdout)]

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    {
        alsa::main()
    }
    #[cfg(not(target_os = "linux"))]
    {
        println!("ALSA exists only on Linux; this platform's audio path is tested by hand.");
        std::process::ExitCode::SUCCESS
    }
}

#[cfg(target_os = "linux")]
mod alsa {
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitCode};
    use std::time::Duration;

    use runde_media::MediaError;
    use runde_media::audio::device::{DeviceKind, Microphone, Speaker, list_devices};
    use runde_media::audio::input::{MicrophoneInput, SpeakerOutput};
    use runde_media::audio::{FRAME_10MS, read_wav};
    use runde_media::measure::dominant_frequency;
    use runde_media::measure::{align, snr_db};

    type Check<'a> = dyn Fn() -> Result<(), String> + 'a;

    const NO_DEVICE_CHILD: &str = "--no-device-child";

    fn asoundrc(dir: &Path, infile: &Path, outfile: &Path) -> String {
        format!(
            r#"pcm.!default {{ type asym; playback.pcm "t_play"; capture.pcm "t_cap" }}
    pcm.t_play {{ type plug; slave {{ pcm "t_play_file"; format S16_LE; rate 48000; channels 1 }} }}
    pcm.t_play_file {{ type file; slave.pcm "null"; file "{out}"; format "wav" }}
    pcm.t_cap {{ type plug; slave {{ pcm "t_cap_file"; format S16_LE; rate 48000; channels 1 }} }}
    pcm.t_cap_file {{ type file; slave.pcm "null"; file "/dev/null"; infile "{inp}"; format "raw" }}
pcm.t_play_b {{ type plug; slave {{ pcm "t_play_b_file"; format S16_LE; rate 48000; channels 1 }} hint {{ show on description "Second test speaker" }} }}
pcm.t_play_b_file {{ type file; slave.pcm "null"; file "{out_b}"; format "wav" }}
pcm.t_cap_b {{ type plug; slave {{ pcm "t_cap_b_file"; format S16_LE; rate 48000; channels 1 }} hint {{ show on description "Second test microphone" }} }}
pcm.t_cap_b_file {{ type file; slave.pcm "null"; file "/dev/null"; infile "{inp_b}"; format "raw" }}
    # {dir}
    "#,
            out = outfile.display(),
            inp = infile.display(),
            inp_b = infile.with_extension("b.raw").display(),
            out_b = outfile.with_extension("b.wav").display(),
            dir = dir.display()
        )
    }

    /// A chirp (200 Hz → 4 kHz): unlike a steady tone, no stretch of it looks like another, so a gap
    /// or a repeat in the captured audio cannot hide behind a period.
    fn chirp(seconds: f32) -> Vec<f32> {
        let n = (seconds * 48_000.0) as usize;
        let rate = (4000.0 - 200.0) / seconds;
        (0..n)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                0.5 * (std::f32::consts::TAU * (200.0 * t + 0.5 * rate * t * t)).sin()
            })
            .collect()
    }

    fn set_alsa_config(path: &Path) {
        let value = format!("/usr/share/alsa/alsa.conf:{}", path.display());
        // SAFETY: called at the start of `main`, before any thread is spawned; nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", value) };
    }

    /// Capture through cpal from the raw input file: the samples arrive as they were written.
    fn microphone_captures_the_input_file(sent: &[f32]) -> Result<(), String> {
        let mut mic = Microphone::open(None).map_err(|e| e.to_string())?;
        // The file device free-runs far faster than real time. Let the one-second ring fill up first
        // (it then drops what comes after and keeps the first second intact), so that the engine's
        // own ring cannot be the cause of a gap, however slowly this debug build consumes.
        while mic.dropped_samples() == 0 {
            std::thread::yield_now();
        }
        let mut captured = Vec::new();
        let mut frame = vec![0.0; FRAME_10MS];
        while captured.len() < 40_000 {
            if !mic
                .read_timeout(&mut frame, Duration::from_secs(5))
                .map_err(|e| e.to_string())?
            {
                return Err(format!("capture stalled after {} samples", captured.len()));
            }
            captured.extend_from_slice(&frame);
        }
        let runs = match_runs(sent, &captured)?;
        println!(
            "    capture: {} samples, all found in order in the input file, in {} runs (the file device \
             free-runs and overruns between callbacks; each gap is a skipped device period)",
            captured.len(),
            runs.len()
        );
        if runs.first().map(|r| r.0) != Some(0) {
            return Err(format!(
                "capture did not start at the file's start: {:?}",
                runs.first()
            ));
        }
        Ok(())
    }

    /// Split `captured` into runs that appear verbatim (to 16-bit precision) and in order in `sent`.
    /// Returns (position in sent, length) per run; an error if any captured sample does not fit.
    fn match_runs(sent: &[f32], captured: &[f32]) -> Result<Vec<(usize, usize)>, String> {
        const TOLERANCE: f32 = 1.0 / 16_384.0; // two steps of 16-bit quantisation
        const MIN_RUN: usize = 32;
        let run_len = |q: usize, i: usize| {
            sent[q..]
                .iter()
                .zip(&captured[i..])
                .take_while(|(s, c)| (*s - *c).abs() < TOLERANCE)
                .count()
        };
        let (mut runs, mut i, mut p) = (Vec::new(), 0, 0);
        while i < captured.len() {
            let want = (captured.len() - i).min(MIN_RUN);
            let q = (p..sent.len())
                .find(|q| (sent[*q] - captured[i]).abs() < TOLERANCE && run_len(*q, i) >= want)
                .ok_or_else(|| {
                    format!(
                        "captured sample {i} ({}) is not in the input after {p}",
                        captured[i]
                    )
                })?;
            let len = run_len(q, i);
            runs.push((q, len));
            i += len;
            p = q + len;
        }
        Ok(runs)
    }

    /// Play through cpal into the WAV file: the file holds what we played.
    fn speaker_plays_into_the_output_file(sent: &[f32], outfile: &Path) -> Result<(), String> {
        {
            let mut speaker = Speaker::open(None).map_err(|e| e.to_string())?;
            for block in sent.chunks(FRAME_10MS) {
                // Free-running device: wait for room rather than dropping.
                while speaker.queued() > 24_000 {
                    std::thread::yield_now();
                }
                let dropped = speaker.write(block).map_err(|e| e.to_string())?;
                if dropped > 0 {
                    return Err(format!("{dropped} samples did not fit"));
                }
            }
            while speaker.queued() > 0 {
                std::thread::yield_now();
            }
        } // dropping the stream closes the file plugin, which completes the WAV header
        let played = read_wav(outfile).map_err(|e| e.to_string())?;
        // A free-running device that finds the ring empty plays digital silence, a whole device
        // period at a time. Remove those gaps (runs of at least 64 exact zeros; the chirp has no
        // such run); what is left must be what was played, sample for sample.
        let mut audible = Vec::with_capacity(played.len());
        let mut gap = 0;
        for chunk in played.chunk_by(|a, b| (*a == 0.0) == (*b == 0.0)) {
            if chunk[0] == 0.0 && chunk.len() >= 64 {
                gap += chunk.len();
            } else {
                audible.extend_from_slice(chunk);
            }
        }
        let (lag, corr) = align(sent, &audible, 480);
        let snr = snr_db(sent, &audible[lag..]);
        println!(
            "    playout: {} samples in file, {gap} of them starvation gaps; the rest: \
             lag {lag}, correlation {corr:.5}, SNR {snr:.1} dB",
            played.len()
        );
        if audible.len() != sent.len() + lag || corr < 0.9999 || snr < 60.0 {
            return Err(format!(
                "played audio differs: {} audible samples for {} sent, correlation {corr}, SNR {snr}",
                audible.len(),
                sent.len()
            ));
        }
        Ok(())
    }

    fn devices_are_listed() -> Result<(), String> {
        let mics = list_devices(DeviceKind::Microphone).map_err(|e| e.to_string())?;
        println!(
            "    {} microphones listed, default: {:?}",
            mics.len(),
            mics.iter().find(|d| d.is_default).map(|d| &d.name)
        );
        if mics.is_empty() {
            return Err("the userspace default device was not listed".into());
        }
        Ok(())
    }

    /// Switch from one microphone to another while reading; a switch to a missing device fails
    /// and leaves the working one in place.
    fn switching_microphones_mid_call() -> Result<(), String> {
        let mut input = MicrophoneInput::open(Some("alsa:t_cap")).map_err(|e| e.to_string())?;
        let mut frame = [0.0f32; FRAME_10MS];
        let mut read = |input: &mut MicrophoneInput, frames: usize| -> Result<Vec<f32>, String> {
            let mut got = Vec::new();
            while got.len() < frames * FRAME_10MS {
                if input.read_frame(&mut frame).map_err(|e| e.to_string())? {
                    got.extend_from_slice(&frame);
                } else {
                    std::thread::yield_now();
                }
            }
            Ok(got)
        };
        read(&mut input, 20)?;
        input
            .switch(Some("alsa:t_cap_b"))
            .map_err(|e| e.to_string())?;
        let after = read(&mut input, 20)?;
        let freq = dominant_frequency(&after[FRAME_10MS * 5..], 48_000);
        let refused = input.switch(Some("alsa:no_such_device"));
        let still = read(&mut input, 5)?;
        let events = input.take_changes();
        println!(
            "    switched: {:?}; after the switch {freq:.0} Hz; bad switch refused: {}",
            events,
            refused.is_err()
        );
        if (freq - 3000.0).abs() > 20.0 {
            return Err(format!(
                "after switching the audio is {freq:.0} Hz, not the second microphone's 3000 Hz"
            ));
        }
        if refused.is_ok() || input.device_name() != Some("Second test microphone") {
            return Err("a failed switch must keep the working microphone".into());
        }
        if (dominant_frequency(&still, 48_000) - 3000.0).abs() > 20.0 || events.len() != 2 {
            return Err(format!("after the failed switch: {events:?}"));
        }
        Ok(())
    }

    /// Play on one speaker, switch to another mid-call: the rest of the call is in the second
    /// one's file; a switch to a missing device fails and keeps the working one.
    fn switching_speakers_mid_call(second_file: &Path) -> Result<(), String> {
        let tone = |freq: f32| -> Vec<f32> {
            (0..12_000)
                .map(|i| 0.4 * (std::f32::consts::TAU * freq * i as f32 / 48_000.0).sin())
                .collect()
        };
        {
            let mut out = SpeakerOutput::open(Some("alsa:t_play")).map_err(|e| e.to_string())?;
            let play = |out: &mut SpeakerOutput, samples: &[f32]| -> Result<(), String> {
                for block in samples.chunks(FRAME_10MS) {
                    while out.queued() > 24_000 {
                        std::thread::yield_now();
                    }
                    out.write(block).map_err(|e| e.to_string())?;
                }
                while out.queued() > 0 {
                    std::thread::yield_now();
                }
                Ok(())
            };
            play(&mut out, &tone(1000.0))?;
            out.switch(Some("alsa:t_play_b"))
                .map_err(|e| e.to_string())?;
            if out.switch(Some("alsa:no_such_device")).is_ok()
                || out.device_name() != Some("Second test speaker")
            {
                return Err("a failed switch must keep the working speaker".into());
            }
            play(&mut out, &tone(3000.0))?;
            let events = out.take_changes();
            if events.len() != 2 {
                return Err(format!("events: {events:?}"));
            }
        }
        let second = read_wav(second_file).map_err(|e| e.to_string())?;
        // Drop the starvation gaps (runs of exact zeros) the free-running device inserts.
        let audible: Vec<f32> = second
            .chunk_by(|a, b| (*a == 0.0) == (*b == 0.0))
            .filter(|run| run[0] != 0.0 || run.len() < 64)
            .flatten()
            .copied()
            .collect();
        let freq = dominant_frequency(&audible, 48_000);
        println!(
            "    second speaker's file: {} samples, {freq:.0} Hz",
            second.len()
        );
        if (freq - 3000.0).abs() > 20.0 || audible.len() < 11_900 {
            return Err(format!(
                "the second speaker played {freq:.0} Hz, {} samples",
                audible.len()
            ));
        }
        Ok(())
    }

    /// In a process whose ALSA knows no devices: opening gives a typed error, not a panic.
    fn no_device_child() -> ExitCode {
        let mic = Microphone::open(None).err();
        let speaker = Speaker::open(None).err();
        let typed = |e: &Option<MediaError>| {
            matches!(
                e,
                Some(MediaError::NoDevice { .. } | MediaError::DeviceUnavailable { .. })
            )
        };
        println!("{mic:?} / {speaker:?}");
        if typed(&mic) && typed(&speaker) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    fn machine_without_devices_gets_typed_errors(dir: &Path) -> Result<(), String> {
        let conf = dir.join("none.conf");
        std::fs::write(
            &conf,
            "pcm.!default { type hw; card 97 }\nctl.!default { type hw; card 97 }\n",
        )
        .map_err(|e| e.to_string())?;
        let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .arg(NO_DEVICE_CHILD)
            .env(
                "ALSA_CONFIG_PATH",
                format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
            )
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("    no device: {}", stdout.trim());
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "child failed: {} {}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runde-alsa-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    pub fn main() -> ExitCode {
        if std::env::args().any(|a| a == NO_DEVICE_CHILD) {
            return no_device_child();
        }
        let dir = temp_dir();
        let (infile, outfile, conf) = (
            dir.join("in.raw"),
            dir.join("out.wav"),
            dir.join("asoundrc"),
        );
        // Two seconds of tone, then padding: past its end the file plugin re-delivers stale data.
        let sent = chirp(2.0);
        let mut raw: Vec<u8> = sent
            .iter()
            .flat_map(|s| runde_media::audio::to_i16(*s).to_le_bytes())
            .collect();
        raw.extend(std::iter::repeat_n(0u8, 48_000 * 2 * 8));
        // The second microphone hears a steady 3 kHz tone.
        let tone_b: Vec<u8> = (0..48_000 * 10)
            .flat_map(|i| {
                let s = 0.5 * (std::f32::consts::TAU * 3000.0 * i as f32 / 48_000.0).sin();
                runde_media::audio::to_i16(s).to_le_bytes()
            })
            .collect();
        let prepared = std::fs::write(infile.with_extension("b.raw"), &tone_b)
            .and_then(|()| std::fs::write(&infile, &raw))
            .and_then(|()| std::fs::write(&conf, asoundrc(&dir, &infile, &outfile)));
        if let Err(e) = prepared {
            println!("cannot prepare {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        set_alsa_config(&conf);

        let tests: [(&str, Box<Check<'_>>); 6] = [
            ("devices_are_listed", Box::new(devices_are_listed)),
            (
                "microphone_captures_the_input_file",
                Box::new(|| microphone_captures_the_input_file(&sent)),
            ),
            (
                "speaker_plays_into_the_output_file",
                Box::new(|| speaker_plays_into_the_output_file(&sent[..48_000], &outfile)),
            ),
            (
                "switching_microphones_mid_call",
                Box::new(switching_microphones_mid_call),
            ),
            (
                "switching_speakers_mid_call",
                Box::new(|| switching_speakers_mid_call(&outfile.with_extension("b.wav"))),
            ),
            (
                "machine_without_devices_gets_typed_errors",
                Box::new(|| machine_without_devices_gets_typed_errors(&dir)),
            ),
        ];
        println!("\nrunning {} tests", tests.len());
        let mut failed = 0;
        for (name, test) in &tests {
            match test() {
                Ok(()) => println!("test {name} ... ok"),
                Err(e) => {
                    failed += 1;
                    println!("test {name} ... FAILED\n    {e}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let passed = tests.len() - failed;
        let verdict = if failed == 0 { "ok" } else { "FAILED" };
        println!(
            "\ntest result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n"
        );
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
