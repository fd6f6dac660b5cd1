//! The desktop shell.
//!
//! A thin adapter between the web UI in `ui/` and the call engine (`runde-call`): it registers the
//! commands the webview may invoke, turns engine events into UI events, streams video frames to the
//! webview, and owns windows, tray and deep links. It holds no business logic: every fact the UI shows
//! comes from `runde-call` as typed data, and every error as a code.
#![deny(missing_docs)]

mod commands;
mod logging;

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
    let outcome = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![commands::check_link])
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
