//! Private test networks: the test re-runs itself inside a new user + network namespace
//! (`unshare -rn`) with a veth pair, so that Janus, Runde and Chromium talk over a real, non-loopback
//! link that exists only for this test (Janus never does ICE on loopback). Nothing outside the
//! namespace can be reached from inside it, which also proves a client talks to no other host.
//!
//! Addresses come from the benchmarking range 198.18.0.0/24.

use std::process::Command;

use crate::process::find_program;
use crate::{Result, err};

/// The server side of the veth pair (Janus gathers ICE candidates here).
pub const SERVER_ADDR: &str = "198.18.0.1";
/// The client side.
pub const CLIENT_ADDR: &str = "198.18.0.2";
/// The server-side interface name (Janus's `ice_enforce_list`).
pub const SERVER_IF: &str = "rs0";
/// The client-side interface name.
pub const CLIENT_IF: &str = "rs1";

const INSIDE: &str = "RUNDE_NETNS_INSIDE";

/// Run the calling test inside its own network namespace. Outside, this re-runs the test binary
/// with only `test_name` under `unshare -rn`, waits, and returns `Ok(false)` if that run passed
/// (the caller then returns). Inside, it sets the network up and returns `Ok(true)`: the caller
/// runs the test body.
pub fn enter(test_name: &str) -> Result<bool> {
    run_inside(
        test_name,
        &[test_name, "--exact", "--nocapture", "--test-threads=1"],
    )
}

/// Like [`enter`], for any program: outside, re-run the current executable with `args` in a new
/// namespace (marked `name`) and return `Ok(false)` once it succeeded; inside, set the network
/// up and return `Ok(true)`.
#[allow(clippy::print_stdout)] // relaying the inner run's output is the point
pub fn run_inside(name: &str, args: &[&str]) -> Result<bool> {
    let test_name = name;
    if std::env::var(INSIDE).as_deref() == Ok(test_name) {
        setup()?;
        return Ok(true);
    }
    let exe = std::env::current_exe().map_err(|e| err("the test binary", e))?;
    let unshare = find_program("unshare")?;
    let output = Command::new(unshare)
        .args(["--user", "--map-root-user", "--net", "--"])
        .arg(exe)
        .args(args)
        .env(INSIDE, test_name)
        .output()
        .map_err(|e| err("unshare", e))?;
    // The inner run's output, marked so that it is not counted as a second test run.
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        println!("    │ {line}");
    }
    let status = output.status;
    if status.success() {
        Ok(false)
    } else {
        Err(err(
            test_name,
            format!("failed inside its network namespace ({status}); see the output above"),
        ))
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let program = find_program("ip").or_else(|_| {
        let sbin = std::path::PathBuf::from("/usr/sbin/ip");
        if sbin.is_file() {
            Ok(sbin)
        } else {
            Err(err("ip", "not found (package iproute2)"))
        }
    })?;
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| err("ip", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(err(
            &format!("ip {}", args.join(" ")),
            String::from_utf8_lossy(&output.stderr).trim(),
        ))
    }
}

fn setup() -> Result<()> {
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", SERVER_IF, "type", "veth", "peer", "name", CLIENT_IF,
    ])?;
    ip(&[
        "addr",
        "add",
        &format!("{SERVER_ADDR}/24"),
        "dev",
        SERVER_IF,
    ])?;
    ip(&[
        "addr",
        "add",
        &format!("{CLIENT_ADDR}/24"),
        "dev",
        CLIENT_IF,
    ])?;
    ip(&["link", "set", SERVER_IF, "up"])?;
    ip(&["link", "set", CLIENT_IF, "up"])?;
    Ok(())
}
