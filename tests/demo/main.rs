//! `runde-demo`: a first call with nothing configured. Starts a real Janus with one demo room on
//! a private network of its own (a Linux network namespace: Janus cannot carry media over
//! loopback), a synthetic participant who shows the moving test pattern and speaks, and the app
//! itself with the room's link filled in. Everything stops when the app's window is closed.
//!
//! `cargo xtask run` starts this on Linux; `cargo xtask run --plain` starts only the app.
#![allow(clippy::print_stdout)] // a command-line program talks to its user

use std::process::{Command, ExitCode};
use std::time::Duration;

use runde_e2e::cli::CliClient;
use runde_e2e::janus::{JanusServer, RoomSpec};
use runde_e2e::{Result, analysis, artifacts, desktop, err, netns};

const ROOM: u64 = 1000;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("the demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    if !netns::run_inside_interactive("runde-demo", &[])? {
        return Ok(ExitCode::SUCCESS);
    }
    let dir = artifacts::dir("demo")?;
    let janus = JanusServer::start(
        &dir,
        &[RoomSpec {
            pin: None,
            ..RoomSpec::with_pin(ROOM, "")
        }],
    )?;
    let speech = dir.join("speech.wav");
    analysis::speech(
        &speech,
        "Hello, and welcome to Runde. This is a demo call on a server on your own computer. \
         You see a test picture and hear my voice; nothing leaves this machine.",
    )?;
    let link = janus.link(ROOM);
    let mut peer = CliClient::spawn(
        "demo-peer",
        &[
            "join",
            &link,
            "--json",
            "--name",
            "Demo",
            "--audio-in",
            &speech.display().to_string(),
            "--video-in",
            "pattern:640x360@30",
            "--duration",
            "86400",
        ],
    )?;
    peer.wait_event(
        "the demo participant to join",
        Duration::from_secs(20),
        |e| e["event"] == "joined",
    )?;
    println!("Demo room ready: {link} (no password). Close Runde's window to end the demo.");
    let status = Command::new(desktop::app_binary()?)
        .arg(&link)
        .status()
        .map_err(|e| err("runde", e))?;
    drop(peer);
    drop(janus);
    if !status.success() {
        println!("Runde ended with {status}.");
    }
    println!("Demo finished: the server and the demo participant have stopped.");
    Ok(ExitCode::SUCCESS)
}
