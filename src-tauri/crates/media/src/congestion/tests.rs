//! The estimator on a simulated bottleneck ([`super::sim`]): the product's promises, with the
//! measured numbers printed (`cargo test -p runde-media congestion -- --nocapture`).

use super::sim::{Sample, Scenario, Trace, run};
use super::*;

const LINK: u32 = 2_500_000;
const SMALL_LINK: u32 = 500_000;

fn kbps(bps: impl Into<f64>) -> f64 {
    bps.into() / 1e3
}

fn min_max_target(trace: &[Sample]) -> (f64, f64) {
    trace.iter().fold((f64::MAX, 0.0f64), |(lo, hi), s| {
        let t = f64::from(s.stats.target_bps);
        (lo.min(t), hi.max(t))
    })
}

/// 30 s on an unimpaired 2.5 Mbit/s link: the level the impaired runs are compared with.
fn mean_over_last_20_s(scenario: &Scenario) -> f64 {
    run(scenario).mean_target(10.0, 30.0)
}

/// 2.5 Mbit/s for 30 s, 500 kbit/s for 15 s, then 2.5 Mbit/s again.
fn step_down_and_up(seconds: u64) -> Vec<Sample> {
    let mut scenario = Scenario::link(LINK);
    scenario.seconds = seconds;
    scenario.capacity = vec![(0, LINK), (30, SMALL_LINK), (45, LINK)];
    run(&scenario)
}

#[test]
fn starting_low_it_finds_the_link_within_seconds() {
    let trace = run(&Scenario::link(LINK));
    let reached = trace.first_time(0.0, |s| {
        f64::from(s.stats.target_bps) >= 0.8 * f64::from(LINK)
    });
    let mean = trace.mean_target(10.0, 30.0);
    let settled = trace.between(10.0, 30.0);
    let worst_queue = settled.iter().map(|s| s.queue_ms).max();
    let used = settled.iter().map(|s| s.throughput_bps as f64).sum::<f64>() / settled.len() as f64;
    println!(
        "300 kbit/s → 2.5 Mbit/s link: 80 % reached after {reached:?} s; 10–30 s: mean target \
         {:.0} kbit/s, link used {:.0} %, worst queue {worst_queue:?} ms",
        kbps(mean),
        100.0 * used / f64::from(LINK)
    );
    assert!(reached.is_some_and(|t| t <= 20.0));
    assert!(mean >= 0.8 * f64::from(LINK));
    // The link, not what is sent, holds the target once it is found.
    let held = settled.iter().filter(|s| s.stats.held_by_sending).count();
    assert!(
        held * 10 < settled.len(),
        "held by sending {held} of {}",
        settled.len()
    );
    assert!(
        worst_queue.is_some_and(|q| q < 100),
        "the sawtooth keeps queues short"
    );
}

#[test]
fn a_link_that_shrinks_is_fitted_within_5_s() {
    let trace = step_down_and_up(45);
    let fits = trace.first_time(30.0, |s| s.stats.target_bps <= SMALL_LINK);
    let last_long_queue = trace
        .between(30.0, 45.0)
        .iter()
        .filter(|s| s.queue_ms >= 100)
        .map(|s| s.at_ms as f64 / 1e3)
        .next_back();
    let after = trace.between(30.0, 40.0);
    let (lo, hi) = min_max_target(&after);
    let mean = trace.mean_target(30.0, 40.0);
    let worst_queue = after.iter().map(|s| s.queue_ms).max();
    println!(
        "2.5 → 0.5 Mbit/s at 30 s: target ≤ 500 kbit/s at {fits:?} s; queue ≥ 100 ms last at \
         {last_long_queue:?} s (worst {worst_queue:?} ms); 30–40 s: min {:.0}, max {:.0}, mean \
         {:.0} kbit/s",
        kbps(lo),
        kbps(hi),
        kbps(mean)
    );
    assert!(fits.is_some_and(|t| t <= 35.0));
    assert!(last_long_queue.is_none_or(|t| t <= 35.0));
    assert!(
        mean >= 0.5 * f64::from(SMALL_LINK),
        "no collapse far below the link"
    );
}

#[test]
fn a_link_that_grows_back_is_used_again_within_15_s() {
    let trace = step_down_and_up(65);
    let before = trace.mean_target(25.0, 30.0);
    let regained = trace.first_time(45.0, |s| f64::from(s.stats.target_bps) >= 0.8 * before);
    println!(
        "0.5 → 2.5 Mbit/s at 45 s (before the drop {:.0} kbit/s): 80 % of it again at \
         {regained:?} s; mean 55–65 s {:.0} kbit/s",
        kbps(before),
        kbps(trace.mean_target(55.0, 65.0))
    );
    assert!(regained.is_some_and(|t| t <= 60.0));
}

#[test]
fn random_loss_of_5_percent_does_not_collapse_it_20_percent_does() {
    let clean = mean_over_last_20_s(&Scenario::link(LINK));
    let lossy = |loss| {
        let mut scenario = Scenario::link(LINK);
        scenario.loss = loss;
        mean_over_last_20_s(&scenario)
    };
    let (five, twenty) = (lossy(0.05), lossy(0.20));
    println!(
        "mean 10–30 s: no loss {:.0}, 5 % loss {:.0} ({:.0} %), 20 % loss {:.0} kbit/s ({:.0} %)",
        kbps(clean),
        kbps(five),
        100.0 * five / clean,
        kbps(twenty),
        100.0 * twenty / clean
    );
    assert!(five >= 0.7 * clean);
    assert!(twenty <= 0.3 * clean);
}

#[test]
fn jitter_of_20_ms_does_not_collapse_it() {
    let clean = mean_over_last_20_s(&Scenario::link(LINK));
    let mut scenario = Scenario::link(LINK);
    scenario.jitter_ms = 20;
    let trace = run(&scenario);
    let jittery = trace.mean_target(10.0, 30.0);
    let (lo, _) = min_max_target(&trace.between(10.0, 30.0));
    println!(
        "mean 10–30 s: no jitter {:.0}, ±20 ms jitter {:.0} kbit/s ({:.0} %), min {:.0}",
        kbps(clean),
        kbps(jittery),
        100.0 * jittery / clean,
        kbps(lo)
    );
    assert!(jittery >= 0.7 * clean);
}

#[test]
fn the_receiver_clock_epoch_changes_nothing() {
    let targets = |epoch: Duration| {
        let mut scenario = Scenario::link(LINK);
        scenario.capacity = vec![(0, LINK), (15, SMALL_LINK)];
        scenario.jitter_ms = 5;
        scenario.loss = 0.02;
        scenario.receiver_epoch = epoch;
        run(&scenario).iter().map(|s| s.stats).collect::<Vec<_>>()
    };
    let reference = targets(Duration::ZERO);
    for epoch in [
        Duration::from_millis(1),
        Duration::from_secs(4_294_967),
        Duration::from_secs(u64::MAX / 4),
    ] {
        assert!(targets(epoch) == reference, "epoch {epoch:?}");
    }
    println!(
        "identical traces for 4 receiver epochs ({} samples)",
        reference.len()
    );
}

#[test]
fn an_encoder_sending_less_does_not_inflate_the_estimate() {
    let mut scenario = Scenario::link(LINK);
    scenario.encoder_max_bps = Some(300_000);
    let trace = run(&scenario);
    let (_, hi) = min_max_target(&trace);
    let acked = trace
        .iter()
        .filter_map(|s| s.stats.acknowledged_bps)
        .max()
        .map_or(0.0, f64::from);
    // 340 kbit/s (video and audio) go through; the estimate may lead that by half.
    println!(
        "encoder capped at 300 kbit/s: highest target {:.0} kbit/s, highest acknowledged {:.0}",
        kbps(hi),
        kbps(acked)
    );
    assert!(hi <= 1.5 * acked + 10_000.0);
    assert!(hi <= 600_000.0);
    // It says so: most of the time after the start, the target is held by what is sent.
    let later = trace.between(10.0, 30.0);
    let held = later.iter().filter(|s| s.stats.held_by_sending).count();
    assert!(held * 2 > later.len(), "held {held} of {}", later.len());
}

#[test]
fn silence_backs_off_and_returning_feedback_regains_the_rate() {
    let mut scenario = Scenario::link(LINK);
    scenario.capacity = vec![(0, LINK), (20, 0), (25, LINK)];
    scenario.seconds = 40;
    let trace = run(&scenario);
    let before = trace.mean_target(15.0, 20.0);
    let during = trace.between(24.0, 25.0)[0].stats.target_bps;
    let regained = trace.first_time(25.0, |s| f64::from(s.stats.target_bps) >= 0.8 * before);
    println!(
        "link dead 20–25 s: {:.0} kbit/s before, {:.0} at 25 s, 80 % again at {regained:?} s",
        kbps(before),
        kbps(during)
    );
    assert!(f64::from(during) < 0.6 * before);
    assert!(regained.is_some_and(|t| t <= 35.0));
}

#[test]
fn odd_input_does_not_panic_and_stays_in_limits() {
    let config = EstimatorConfig {
        start_bps: 300_000,
        min_bps: 50_000,
        max_bps: 4_000_000,
    };
    let mut estimator = Estimator::new(config);
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let got = |ms: u64| Some(Duration::from_millis(ms));
    let packet = |departure, arrival, size| PacketResult {
        departure,
        arrival,
        size,
    };
    let batches: Vec<(Instant, Vec<PacketResult>)> = vec![
        (at(0), vec![]),
        (at(50), vec![packet(at(0), None, 1200); 40]),
        // Arrivals going backwards, duplicates of one departure, zero and huge sizes.
        (
            at(100),
            (0..40)
                .map(|i| packet(at(60), got(5_000 - i * 7), 1200))
                .collect(),
        ),
        (
            at(150),
            vec![
                packet(at(100), got(10), 0),
                packet(at(101), got(11), usize::MAX),
            ],
        ),
        // Departures out of order and far in the past.
        (
            at(200),
            vec![packet(at(190), got(50), 1200), packet(at(0), got(40), 1200)],
        ),
        // A day without anything, then a receiver clock at its end of range.
        (
            at(86_400_000),
            vec![packet(at(86_399_990), Some(Duration::MAX), 1200)],
        ),
        (
            at(86_400_050),
            vec![packet(at(86_400_000), got(0), 1200); 3],
        ),
        // `now` going backwards.
        (at(10), vec![packet(at(5), got(1), 1200)]),
    ];
    for (now, packets) in &batches {
        estimator.on_feedback(*now, packets, Some(Duration::MAX));
        estimator.on_timeout(*now);
        let target = estimator.target_bps();
        assert!(
            (config.min_bps..=config.max_bps).contains(&target),
            "{target}"
        );
    }
    estimator.on_timeout(at(u64::MAX / 4_000_000));

    let mut contradictory = Estimator::new(EstimatorConfig {
        start_bps: 0,
        min_bps: 100_000,
        max_bps: 10,
    });
    contradictory.on_feedback(at(0), &[packet(at(0), got(0), 1200)], None);
    assert_eq!(contradictory.target_bps(), 100_000);
}

#[test]
fn after_odd_input_it_still_estimates() {
    let mut estimator = Estimator::new(EstimatorConfig {
        start_bps: 300_000,
        min_bps: 50_000,
        max_bps: 4_000_000,
    });
    let t0 = Instant::now();
    let lost: Vec<_> = (0..200)
        .map(|i| PacketResult {
            departure: t0 + Duration::from_millis(i),
            arrival: None,
            size: 1200,
        })
        .collect();
    estimator.on_feedback(t0 + Duration::from_millis(300), &lost, None);
    let after_loss = estimator.target_bps();
    // Then 10 s of a clean path: 1200 bytes every 4 ms (2.4 Mbit/s offered), 40 ms one way.
    for batch in 0..200u64 {
        let packets: Vec<_> = (0..12u64)
            .map(|i| {
                let sent = 1_000 + batch * 50 + i * 4;
                PacketResult {
                    departure: t0 + Duration::from_millis(sent),
                    arrival: Some(Duration::from_millis(sent + 40)),
                    size: 1200,
                }
            })
            .collect();
        let now = t0 + Duration::from_millis(1_100 + batch * 50);
        estimator.on_feedback(now, &packets, Some(Duration::from_millis(80)));
    }
    let stats = estimator.stats();
    println!("after a lost batch {after_loss} bit/s, 10 s later {stats:?}");
    assert!(after_loss < 300_000, "all lost is heavy loss");
    assert!(stats.target_bps > 1_000_000);
    assert_eq!(stats.delay_state, DelayState::Normal);
}
