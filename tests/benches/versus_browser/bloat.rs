//! A deep router buffer (bufferbloat): the uplink carries 500 kbit/s and holds up to 500 ms
//! before it drops. One sender (Runde, then Chromium) sends speech and the 360p camera file, more
//! than the link carries. A sender that waits for loss fills the buffer, and everything it sends
//! (speech included) waits behind up to half a second of its own video; one that reads the
//! growing delay keeps it nearly empty. The kernel's counters on the limit say what waited in
//! its queue (sampled every 250 ms) and what went through.

use std::time::Duration;

use runde_e2e::Result;
use runde_e2e::uplink::RateLog;

use crate::{Better, Row, Setup, chromium_publishing, runde_publishing};

const KBIT: u32 = 500;
const BUFFER: Duration = Duration::from_millis(500);

/// What one sender did with the buffer.
struct Outcome {
    mean_ms: f64,
    p95_ms: f64,
    kbps: f64,
}

/// Watch the uplink with a sender in the room: `settle`, then `watch` measured.
fn watch(setup: &Setup, name: &str) -> Result<Outcome> {
    let (settle, watch) = if setup.quick {
        (Duration::from_secs(6), Duration::from_secs(10))
    } else {
        (Duration::from_secs(10), Duration::from_secs(30))
    };
    let mut log = RateLog::new();
    log.record(&setup.wire, settle + watch)?;
    println!(
        "  {name}: uplink kbit/s (! = dropped): {}",
        log.per_second()
    );
    let from = settle.as_secs_f64();
    let mut queue_ms: Vec<f64> = log
        .samples
        .iter()
        .filter(|s| s.at >= from)
        .map(|s| s.backlog as f64 * 8.0 / f64::from(KBIT))
        .collect();
    queue_ms.sort_by(f64::total_cmp);
    let mean_ms = queue_ms.iter().sum::<f64>() / queue_ms.len().max(1) as f64;
    let p95_ms = queue_ms
        .get((queue_ms.len() * 95 / 100).min(queue_ms.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    let kbps = log.span(from, log.now()).0;
    println!(
        "  {name}: queue {mean_ms:.0} ms on average, 95th percentile {p95_ms:.0} ms; {kbps:.0} kbit/s through"
    );
    Ok(Outcome {
        mean_ms,
        p95_ms,
        kbps,
    })
}

pub fn deep_buffer(setup: &Setup, rows: &mut Vec<Row>) -> Result<()> {
    setup.wire.limit_uplink_rate_queue(Some(KBIT), BUFFER)?;
    let sender = runde_publishing(setup, "Bloat-sender", 600)?;
    let ours = watch(setup, "runde")?;
    sender.save_output(&setup.dir);
    drop(sender);

    let browser = chromium_publishing(setup, "chromium-bloat")?;
    let theirs = watch(setup, "chromium")?;
    drop(browser);
    setup.wire.limit_uplink_rate(None)?;

    let label = format!(
        "{KBIT} kbit/s uplink with a {} ms buffer",
        BUFFER.as_millis()
    );
    for (metric, a, b, unit, better) in [
        (
            "in the buffer, on average",
            ours.mean_ms,
            theirs.mean_ms,
            "ms",
            Better::Lower,
        ),
        (
            "in the buffer, 95th percentile",
            ours.p95_ms,
            theirs.p95_ms,
            "ms",
            Better::Lower,
        ),
        (
            "sent through",
            ours.kbps,
            theirs.kbps,
            "kbit/s",
            Better::Higher,
        ),
    ] {
        rows.push(Row {
            metric: format!("{label}: {metric}"),
            runde: Some(a),
            chromium: Some(b),
            unit,
            better,
        });
    }
    Ok(())
}
