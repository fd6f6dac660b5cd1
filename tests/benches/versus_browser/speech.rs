//! Speech quality (WB-PESQ) under random loss of what the server sends.

use std::path::PathBuf;
use std::time::Duration;

use runde_e2e::browser::PageOptions;
use runde_e2e::process::wait_until;
use runde_e2e::{Result, analysis, err};

use crate::{Better, Network, PIN, ROOM, Row, Setup, chromium, chromium_publishing, runde};

fn pesq_python() -> Result<PathBuf> {
    let path = std::env::var_os("RUNDE_PESQ_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/pesq-venv/bin/python")
        });
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(
            "PESQ",
            format!(
                "{} not found: `cargo xtask setup test` installs it",
                path.display()
            ),
        ))
    }
}

/// WB-PESQ of one loop of the speech as received (from 2 s in), against the same stretch of
/// what was sent.
pub fn pesq(setup: &Setup, sent: &[f32], received: &[f32], name: &str) -> Result<Option<f64>> {
    // No sound at all (the media path never came up): nothing to score.
    let Some(start) = received
        .chunks(480)
        .position(|w| runde_media::measure::rms_dbfs(w) > -50.0)
    else {
        println!("{name}: no sound arrived");
        return Ok(None);
    };
    let received = &received[start * 480..];
    let from = 48_000 * 2;
    let Some(piece) = received.get(from..from + sent.len()) else {
        println!("{name}: sound for only {} samples", received.len());
        return Ok(None);
    };
    pesq_piece(setup, sent, piece, name).map(Some)
}

/// WB-PESQ of a received `piece` against the stretch of the looped `sent` speech it matches.
pub fn pesq_piece(setup: &Setup, sent: &[f32], piece: &[f32], name: &str) -> Result<f64> {
    let reference = reference_for(sent, piece);
    pesq_pair(setup, &reference, piece, name)
}

/// Like [`pesq_piece`], with each utterance of `piece` aligned on its own first
/// ([`analysis::align_utterances`], up to 60 ms either way): a change of delay inside a pause
/// is then no damage.
pub fn pesq_utterances(setup: &Setup, sent: &[f32], piece: &[f32], name: &str) -> Result<f64> {
    let reference = reference_for(sent, piece);
    let aligned = analysis::align_utterances(&reference, piece, 2_880);
    pesq_pair(setup, &reference, &aligned, name)
}

/// The stretch of the looped `sent` speech that `piece` is a recording of.
fn reference_for(sent: &[f32], piece: &[f32]) -> Vec<f32> {
    let at = analysis::loop_position(sent, piece);
    sent.iter()
        .chain(sent.iter())
        .skip(at)
        .take(piece.len())
        .copied()
        .collect()
}

/// WB-PESQ of `degraded` against `reference` (both 48 kHz, aligned), through 16 kHz files named
/// after `name`.
fn pesq_pair(setup: &Setup, reference: &[f32], degraded: &[f32], name: &str) -> Result<f64> {
    use runde_media::audio::resample::resample_clip;
    use runde_media::audio::write_wav_at;
    let to_16k = |x: &[f32]| resample_clip(x, 48_000, 16_000).map_err(|e| err("resample", e));
    let (ref_path, deg_path) = (
        setup.dir.join(format!("{name}-ref16k.wav")),
        setup.dir.join(format!("{name}-deg16k.wav")),
    );
    write_wav_at(&ref_path, &to_16k(reference)?, 16_000).map_err(|e| err("wav", e))?;
    write_wav_at(&deg_path, &to_16k(degraded)?, 16_000).map_err(|e| err("wav", e))?;
    let script = "import sys, wave\nimport numpy as np\nfrom pesq import pesq\n\
        def load(p):\n    w = wave.open(p, 'rb')\n    return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)\n\
        print(pesq(16000, load(sys.argv[1]), load(sys.argv[2]), 'wb'))\n";
    let out = std::process::Command::new(pesq_python()?)
        .arg("-c")
        .arg(script)
        .arg(&ref_path)
        .arg(&deg_path)
        .output()
        .map_err(|e| err("PESQ", e))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| err("PESQ", String::from_utf8_lossy(&out.stderr).into_owned()))
}

pub fn decode_base64_pcm(text: &str) -> Result<Vec<f32>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| err("recording", e))?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect())
}

/// The speech from one client to another of the same kind, through Janus, under each network
/// condition: random loss of what the server sends at each level, and delay with jitter. A full
/// run scores each condition three times (each a new receiver, so a new draw of losses) and
/// reports the mean: single scores under loss vary by about 0.1.
pub fn speech_under_loss(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    let networks: Vec<Network> = if setup.quick {
        vec![Network::Loss(0), Network::Loss(20)]
    } else {
        [0, 5, 10, 20, 30]
            .into_iter()
            .map(Network::Loss)
            .chain([Network::Jitter])
            .collect()
    };
    let runs = if setup.quick { 1 } else { 3 };
    let sent = analysis::wav(&setup.speech)?;
    // One loop of the speech is scored, from 2 s after the first sound; with loss, the media
    // path itself takes longer to come up (lost connectivity checks and handshakes are resent),
    // so the recordings run well past that.
    let seconds = sent.len() / 48_000 + 8;
    let wait = Duration::from_secs(30);
    let mut ours = Vec::new();
    let speech = setup.speech.display().to_string();
    let mut sender = runde(
        setup,
        "Speaker",
        &["--audio-in", &speech, "--send-only", "--duration", "1800"],
    )?;
    sender.wait_event("connected", wait, |e| {
        e["event"] == "connection" && e["state"] == "connected"
    })?;
    for network in &networks {
        network.apply(&setup.wire)?;
        let mut scores = Vec::new();
        for run in 0..runs {
            let name = format!("runde-{}-{run}", network.slug());
            let out = setup.dir.join(format!("{name}.wav"));
            let out_arg = out.display().to_string();
            let mut receiver = runde(
                setup,
                &format!("Receiver-{}-{run}", network.slug()),
                &[
                    "--audio-out",
                    &out_arg,
                    "--duration",
                    &(seconds + 1).to_string(),
                ],
            )?;
            receiver.wait_exit(Duration::from_secs(seconds as u64 + 30))?;
            receiver.save_output(&setup.dir);
            // Its file starts when it joined; the score starts after the first sound.
            let received = analysis::wav(&out)?;
            scores.push(pesq(setup, &sent, &received, &name)?);
        }
        ours.push(mean_score(&scores));
    }
    Network::Clean.apply(&setup.wire)?;
    drop(sender);

    let mut theirs = Vec::new();
    let _speaker = chromium_publishing(setup, "chromium-speaker")?;
    let listener = chromium(setup, "chromium-listener", None)?;
    for network in &networks {
        network.apply(&setup.wire)?;
        let mut scores = Vec::new();
        for run in 0..runs {
            let record = PageOptions {
                listen_only: true,
                record_seconds: Some(seconds as u32),
                ..PageOptions::default()
            };
            listener.open(&setup.janus.ws_url(), ROOM, PIN, &record)?;
            let recording = wait_until(
                "Chromium's recording",
                Duration::from_secs(seconds as u64 + 30),
                || Ok(listener.results()?["recording"].as_str().map(str::to_owned)),
            )?;
            listener.leave()?;
            let received = decode_base64_pcm(&recording)?;
            let name = format!("chromium-{}-{run}", network.slug());
            scores.push(pesq(setup, &sent, &received, &name)?);
        }
        theirs.push(mean_score(&scores));
    }
    Network::Clean.apply(&setup.wire)?;
    for (i, network) in networks.iter().enumerate() {
        let count = |side: Option<(f64, usize)>| match side {
            Some((_, n)) if n < runs => format!("{n} of {runs}"),
            _ => runs.to_string(),
        };
        let (a, b) = (count(ours[i]), count(theirs[i]));
        let label = match (runs, a == b) {
            (1, _) => String::new(),
            (_, true) => format!(", mean of {a}"),
            (_, false) => format!(", mean of {a} (Runde) / {b} (Chromium)"),
        };
        rows.push(Row {
            metric: format!("speech quality (WB-PESQ), {}{label}", network.name()),
            runde: ours[i].map(|(m, _)| m),
            chromium: theirs[i].map(|(m, _)| m),
            unit: "",
            better: Better::Higher,
        });
    }
    Ok(())
}

/// The mean of the runs that could be scored, printed with every run's score (`None`: too little
/// sound, e.g. a receiver whose media path came up late under heavy loss); `None` if no run
/// could be scored. The count scored goes into the table when it is not every run.
fn mean_score(scores: &[Option<f64>]) -> Option<(f64, usize)> {
    println!("  scores {scores:.2?}");
    let scored: Vec<f64> = scores.iter().flatten().copied().collect();
    (!scored.is_empty()).then(|| {
        (
            scored.iter().sum::<f64>() / scored.len() as f64,
            scored.len(),
        )
    })
}
