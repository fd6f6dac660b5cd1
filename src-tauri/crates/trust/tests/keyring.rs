//! Remembered passwords against a real Secret Service: gnome-keyring in a private D-Bus session
//! with its own home folder, started by this test (it re-runs itself inside `dbus-run-session`).
//! Without a session bus the keyring is reported as unavailable — a clear error, never a panic.
#![allow(clippy::print_stdout)] // a test binary with its own main prints its result

use std::process::{Command, ExitCode};

const INSIDE: &str = "--inside-dbus-session";
const NO_BUS: &str = "--without-session-bus";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some(INSIDE) => inside(),
        Some(NO_BUS) => without_bus(),
        _ => outside(args.first().map(String::as_str).unwrap_or("keyring")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn outside(_: &str) -> Result<(), String> {
    println!("the Secret Service exists only on Linux; other keyrings are not built yet");
    Ok(())
}

#[cfg(target_os = "linux")]
fn outside(exe: &str) -> Result<(), String> {
    let home = std::env::temp_dir().join(format!("runde-keyring-{}", std::process::id()));
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).map_err(|e| e.to_string())?;
    set_mode_0700(&home)?;
    set_mode_0700(&runtime)?;
    let script = format!(
        "eval \"$(printf %s runde-test-keyring | gnome-keyring-daemon --unlock --components=secrets)\" && exec \"{exe}\" {INSIDE}"
    );
    let status = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .status()
        .map_err(|e| format!("dbus-run-session (package dbus-daemon): {e}"))?;
    let without = Command::new(exe)
        .arg(NO_BUS)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .status()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&home);
    if !status.success() {
        return Err(format!("inside the D-Bus session: {status}"));
    }
    if !without.success() {
        return Err(format!("without a session bus: {without}"));
    }
    println!("test result: ok. 2 passed; 0 failed");
    Ok(())
}

#[cfg(target_os = "linux")]
fn set_mode_0700(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

fn inside() -> Result<(), String> {
    use runde_trust::secrets::{SecretError, forget, recall, remember};
    let origin = "wss://meet.example.org:443";
    let err = |e: SecretError| e.to_string();
    check(
        recall(origin, "1234").map_err(err)?.is_none(),
        "nothing remembered yet",
    )?;
    remember(origin, "1234", "correct horse", false).map_err(err)?;
    remember(origin, "5678", "other room", false).map_err(err)?;
    check(
        recall(origin, "1234").map_err(err)?.as_deref() == Some("correct horse"),
        "the password comes back",
    )?;
    check(
        recall(origin, "5678").map_err(err)?.as_deref() == Some("other room"),
        "each room has its own",
    )?;
    check(
        remember(origin, "9999", "not allowed", true) == Err(SecretError::ForbiddenByPolicy),
        "the policy forbids remembering",
    )?;
    check(
        recall(origin, "9999").map_err(err)?.is_none(),
        "policy: nothing stored",
    )?;
    forget(origin, "1234").map_err(err)?;
    check(recall(origin, "1234").map_err(err)?.is_none(), "forgotten")?;
    forget(origin, "1234").map_err(err)?;
    println!("remember, recall, forget and the policy work against gnome-keyring");
    Ok(())
}

fn without_bus() -> Result<(), String> {
    match runde_trust::secrets::remember("wss://x.example:443", "1", "pw", false) {
        Err(runde_trust::secrets::SecretError::Unavailable { reason }) => {
            println!("without a session bus: {reason}");
            Ok(())
        }
        other => Err(format!("expected Unavailable, got {other:?}")),
    }
}
