//! The `runde` desktop binary.
// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    // Before anything else: it sets environment variables the webview reads.
    runde_shell::prepare_webview();
    runde_shell::run()
}
