//! The bottleneck step: the uplink narrows from 2.5 Mbit/s to 500 kbit/s under a running call
//! and widens again. One sender (Runde, then Chromium) sends speech and the 360p camera file; a
//! Runde receiver records the speech for both, so the same instrument scores both senders. The
//! kernel's counters on the uplink limit say what each sender offered and what the limit had to
//! drop.

use std::time::{Duration, Instant};

use runde_e2e::cli::CliClient;
use runde_e2e::uplink::RateLog;
use runde_e2e::{Result, analysis};

use crate::speech::{pesq_piece, pesq_utterances};
use crate::{Better, Row, Setup, chromium_publishing, runde, runde_publishing};

const WIDE: u32 = 2_500;
const NARROW: u32 = 500;
/// Speech is scored over this many seconds before the step down and right after it.
const SCORED: f64 = 8.0;

/// What one sender did through the step.
struct Outcome {
    before_kbps: f64,
    narrow_kbps: f64,
    dropped: f64,
    recovered_s: Option<f64>,
    pesq_before: Option<f64>,
    pesq_after: Option<f64>,
    /// The speech of the scored stretch after the step, one loop of the speech file earlier.
    pesq_same_before: Option<f64>,
    /// The whole stretch with each utterance aligned on its own.
    utterances_before: Option<f64>,
    utterances_after: Option<f64>,
}

/// Phase lengths in seconds: wide, narrow, wide again.
fn phases(setup: &Setup) -> (u64, u64, u64) {
    if setup.quick {
        (11, 10, 8)
    } else {
        (15, 20, 20)
    }
}

/// Run the step with a sender already in the room; `name` names the files.
fn run_step(setup: &Setup, name: &str, media_seen: &str) -> Result<Outcome> {
    let (wide, narrow, again) = phases(setup);
    let out = setup.dir.join(format!("step-{name}.wav"));
    let out_arg = out.display().to_string();
    let total = wide + narrow + again + 3;
    let spawned = Instant::now();
    let mut receiver = runde(
        setup,
        &format!("Step-receiver-{name}"),
        &["--audio-out", &out_arg, "--duration", &total.to_string()],
    )?;
    receiver.wait_event(media_seen, Duration::from_secs(30), |e| {
        e["event"] == "mediaStarted" && e["kind"] == "video"
    })?;
    let mut log = RateLog::new();
    // Where the log's clock starts in the receiver's recording.
    let offset = spawned.elapsed().as_secs_f64();
    log.record(&setup.wire, Duration::from_secs(wide))?;
    let down = log.now();
    setup.wire.limit_uplink_rate(Some(NARROW))?;
    log.record(&setup.wire, Duration::from_secs(narrow))?;
    let up = log.now();
    setup.wire.limit_uplink_rate(Some(WIDE))?;
    log.record(&setup.wire, Duration::from_secs(again))?;
    receiver_leaves(&mut receiver, setup)?;
    println!(
        "  {name}: uplink kbit/s (! = dropped): {}",
        log.per_second()
    );
    let before_kbps = log.span(down - 4.0, down).0;
    let (narrow_kbps, dropped) = log.span(down + 5.0, up);
    let recovered_s = log.reached(up, log.now(), 2.0, 0.8 * before_kbps);
    if recovered_s.is_none() {
        println!("  {name}: not back to 80 % within {again} s of the step up");
    }

    let sent = analysis::wav(&setup.speech)?;
    let received = analysis::wav(&out)?;
    let piece = |from: f64| {
        let at = from + offset;
        let len = ((SCORED * 48_000.0) as usize).min(sent.len());
        let start = (at * 48_000.0) as usize;
        let piece = received.get(start..start + len).filter(|_| at >= 0.0);
        if piece.is_none() {
            println!("  {name}: nothing recorded {at:.1} s into the recording to score");
        }
        piece
    };
    // Scored as a whole, and also with each utterance aligned on its own (cut at the pauses), as
    // a check on the whole: a receiver that changes its delay in a pause (which no listener
    // hears) must not score worse for it, while a change within an utterance, and every lost or
    // concealed packet, still counts. WB-PESQ re-aligns utterances itself, and in four runs the
    // two scores were the same for Runde; an earlier version cut the speech into 2 s pieces, each
    // aligned once, and a change in a pause near a piece's end cost that piece up to 1.2.
    type Scorer = fn(&Setup, &[f32], &[f32], &str) -> Result<f64>;
    let score = |from: f64, label: &str, scorer: Scorer| -> Result<Option<f64>> {
        piece(from)
            .map(|p| scorer(setup, &sent, p, &format!("step-{name}-{label}")))
            .transpose()
    };
    let pesq_before = score(down - SCORED, "before", pesq_piece)?;
    let pesq_after = score(down + 0.5, "after", pesq_piece)?;
    // The stretch before the step is other speech than the one after it, and WB-PESQ scores
    // speech differently (one loop of the file apart, the same stretch through the same clean
    // link scored 3.92 and 3.91 where the 8 s before the step scored 3.98): the same words one
    // loop earlier are the fair comparison for the drop.
    let loop_s = sent.len() as f64 / 48_000.0;
    let pesq_same_before = score(down + 0.5 - loop_s, "same-before", pesq_piece)?;
    let utterances_before = score(down - SCORED, "before-utterances", pesq_utterances)?;
    let utterances_after = score(down + 0.5, "after-utterances", pesq_utterances)?;
    Ok(Outcome {
        before_kbps,
        narrow_kbps,
        dropped,
        recovered_s,
        pesq_before,
        pesq_after,
        pesq_same_before,
        utterances_before,
        utterances_after,
    })
}

/// The receiver leaves on its own (its duration); wait for it so the recording is complete.
fn receiver_leaves(receiver: &mut CliClient, setup: &Setup) -> Result<()> {
    receiver.wait_exit(Duration::from_secs(60))?;
    receiver.save_output(&setup.dir);
    Ok(())
}

pub fn bottleneck_step(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    setup.wire.limit_uplink_rate(Some(WIDE))?;
    let sender = runde_publishing(setup, "Step-sender", 600)?;
    let ours = run_step(setup, "runde", "Runde's video")?;
    sender.save_output(&setup.dir);
    drop(sender);

    setup.wire.limit_uplink_rate(Some(WIDE))?;
    let browser = chromium_publishing(setup, "chromium-step")?;
    let theirs = run_step(setup, "chromium", "Chromium's video")?;
    drop(browser);
    setup.wire.limit_uplink_rate(None)?;

    let label = format!("bottleneck {WIDE} → {NARROW} → {WIDE} kbit/s");
    let mut row = |metric: &str, a: Option<f64>, b: Option<f64>, unit: &'static str, better| {
        rows.push(Row {
            metric: format!("{label}: {metric}"),
            runde: a,
            chromium: b,
            unit,
            better,
        });
    };
    row(
        "sent before the step",
        Some(ours.before_kbps),
        Some(theirs.before_kbps),
        "kbit/s",
        Better::Neither,
    );
    row(
        "sent at 500 kbit/s, from 5 s after the step",
        Some(ours.narrow_kbps),
        Some(theirs.narrow_kbps),
        "kbit/s",
        Better::Higher,
    );
    row(
        "dropped by the link from 5 s after the step",
        Some(ours.dropped * 100.0),
        Some(theirs.dropped * 100.0),
        "%",
        Better::Lower,
    );
    row(
        "back to 80 % after the step up",
        ours.recovered_s,
        theirs.recovered_s,
        "s",
        Better::Lower,
    );
    row(
        "WB-PESQ, 8 s before the step",
        ours.pesq_before,
        theirs.pesq_before,
        "",
        Better::Higher,
    );
    row(
        "WB-PESQ, 8 s from the step",
        ours.pesq_after,
        theirs.pesq_after,
        "",
        Better::Higher,
    );
    row(
        "WB-PESQ, the same speech one loop earlier (before the step)",
        ours.pesq_same_before,
        theirs.pesq_same_before,
        "",
        Better::Higher,
    );
    row(
        "WB-PESQ with each utterance aligned, 8 s before the step",
        ours.utterances_before,
        theirs.utterances_before,
        "",
        Better::Higher,
    );
    row(
        "WB-PESQ with each utterance aligned, 8 s from the step",
        ours.utterances_after,
        theirs.utterances_after,
        "",
        Better::Higher,
    );
    Ok(())
}
