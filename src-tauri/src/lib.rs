//! The desktop shell.
//!
//! A thin adapter between the web UI in `ui/` and the call engine (`runde-call`): it registers the
//! commands the webview may invoke, turns engine events into UI events, streams video frames to the
//! webview, and owns windows, tray and deep links. It holds no business logic: every fact the UI shows
//! comes from `runde-call` as typed data, and every error as a code.
#![deny(missing_docs)]

mod call_task;
mod commands;
mod logging;
mod state;
mod video_server;

include!("command_names.rs");

use std::process::ExitCode;

/// Start the desktop app and run until its last window closes.
pub fn run() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        version();
        return ExitCode::SUCCESS;
    }
    logging::init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Runde starting");
    let shell = match state::Shell::start() {
        Ok(shell) => shell,
        Err(e) => {
            tracing::error!("Runde could not start its video server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = tauri::Builder::default()
        .manage(shell)
        .invoke_handler(tauri::generate_handler![
            commands::check_link,
            commands::join,
            commands::leave,
            commands::set_microphone_muted,
            commands::set_camera_off,
            commands::video_endpoint,
            commands::video_stats,
            commands::devices,
        ])
        .run(tauri::generate_context!());
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Runde could not start: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn version() {
    println!("runde {}", env!("CARGO_PKG_VERSION"));
}

#[cfg(test)]
mod bindings;
