//! Join time: from the moment a participant's `runde-cli` starts joining (link and password
//! given) to the first decoded remote audio, over 20 joins into a room where someone is talking,
//! against real Janus on a private network. Prints p50 and p95; asserts nothing about speed.
#![allow(clippy::print_stdout, clippy::expect_used)] // a benchmark prints its numbers

use std::time::{Duration, Instant};

use runde_e2e::cli::CliClient;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::{Result, artifacts, err, netns};

const JOINS: usize = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    if !netns::run_inside("join-time", &[])? {
        return Ok(());
    }
    let dir = artifacts::dir("bench-join-time")?;
    let janus = JanusServer::start(&dir, &[RoomSpec::with_pin(1234, "pin")])?;
    let pin = dir.join("pin");
    std::fs::write(&pin, "pin\n").map_err(|e| err("pin", e))?;
    let pin = pin.display().to_string();
    let link = janus.link(1234);
    let mut talker = CliClient::spawn(
        "talker",
        &[
            "join",
            &link,
            "--json",
            "--password-file",
            &pin,
            "--audio-in",
            "tone",
            "--duration",
            "600",
        ],
    )?;
    talker.wait_event("joined", Duration::from_secs(15), |e| {
        e["event"] == "joined"
    })?;
    let mut in_call = Vec::new();
    let mut from_spawn = Vec::new();
    for i in 0..JOINS {
        let spawned = Instant::now();
        let mut listener = CliClient::spawn(
            &format!("listener-{i}"),
            &[
                "join",
                &link,
                "--json",
                "--password-file",
                &pin,
                "--duration",
                "1.5",
            ],
        )?;
        let started = listener.wait_event("first audio", Duration::from_secs(15), |e| {
            e["event"] == "mediaStarted" && e["kind"] == "audio"
        })?;
        from_spawn.push(spawned.elapsed().as_secs_f64() * 1000.0);
        in_call.push(started["afterMs"].as_f64().unwrap_or(f64::NAN));
        listener.wait_exit(Duration::from_secs(15))?;
    }
    drop(talker);
    for v in [&mut in_call, &mut from_spawn] {
        v.sort_by(f64::total_cmp);
    }
    println!("join time over {JOINS} joins (link entered → first decoded remote audio):");
    println!("all, in the client (ms): {in_call:.0?}");
    println!("| measured from | p50 | p95 | min | max |");
    println!("|---|---:|---:|---:|---:|");
    for (label, v) in [
        ("join started (in the client)", &in_call),
        ("process start", &from_spawn),
    ] {
        println!(
            "| {label} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            percentile(v, 0.5),
            percentile(v, 0.95),
            v[0],
            v[v.len() - 1]
        );
    }
    Ok(())
}
