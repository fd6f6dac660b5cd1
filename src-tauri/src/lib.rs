//! The desktop shell.
//!
//! A thin adapter between the web UI in `ui/` and the call engine (`runde-call`): it registers the
//! commands the webview may invoke, turns engine events into UI events, streams video frames to the
//! webview, and owns windows, tray and deep links. It holds no business logic: every fact the UI shows
//! comes from `runde-call` as typed data, and every error as a code.
#![deny(missing_docs)]

mod call_task;
mod check_task;
mod commands;
mod logging;
mod notices;
mod push_to_talk;
mod state;
mod updates;
mod video_server;
mod webview;

include!("command_names.rs");

use std::process::ExitCode;

/// Adjust the webview to this machine. Call first thing in `main`, before any thread starts.
pub fn prepare_webview() {
    webview::prepare();
}

/// Runde was started again while running (a `runde://` link opened in a browser, a second start
/// from the menu): the running window comes to the front, and a link the new start was given is
/// offered on the first screen.
fn second_launch(app: &tauri::AppHandle, argv: &[String]) {
    let link = argv.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    tracing::info!(
        with_link = link.is_some(),
        "Runde was started again; the running window takes over"
    );
    offer_link(app, link);
}

/// Bring the window to the front and offer `link` on the first screen as a startup link would be
/// (shown and checked, never joined without the user; during a call it waits until the call
/// ends). Links come from a second start (Linux, Windows) or from the system (macOS hands a
/// `runde://` link to the running app as an event, also when it starts the app for it).
fn offer_link(app: &tauri::AppHandle, link: Option<String>) {
    use tauri::Manager;
    if let Some(link) = link
        && let Some(shell) = app.try_state::<state::Shell>()
        && let Ok(mut slot) = shell.startup_link.lock()
    {
        *slot = Some(link);
    }
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        // The first screen takes the link when it hears this (a DOM event: no IPC permission).
        let _ = window.eval("window.dispatchEvent(new Event('runde:link'))");
    }
}

/// Start the desktop app and run until its last window closes.
pub fn run() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        version();
        return ExitCode::SUCCESS;
    }
    logging::init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Runde starting");
    // A link given on the command line (or by the system for a `runde://` link) is offered on the
    // first screen; it is checked like a pasted one, never joined without the user.
    let startup_link = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let shell = match state::Shell::start(startup_link) {
        Ok(shell) => shell,
        Err(e) => {
            tracing::error!("Runde could not start its video server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut context = tauri::generate_context!();
    allow_video_socket(&mut context, shell.video.port());
    let outcome = tauri::Builder::default()
        // First: a second launch must hand over its link before it builds anything of its own.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            second_launch(app, &argv);
        }))
        .manage(shell)
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
        .plugin(tauri_plugin_notification::init())
        // Holds the updater's configuration; makes no request unless `updates` asks it to.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .setup(|app| {
            updates::check_at_start(app.handle());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::check_link,
            commands::join,
            commands::leave,
            commands::set_microphone_muted,
            commands::set_camera_off,
            commands::video_endpoint,
            commands::video_stats,
            commands::devices,
            commands::settings,
            commands::save_settings,
            commands::change_server,
            commands::forget_server,
            commands::startup_link,
            commands::start_check,
            commands::check_action,
            commands::stop_check,
            commands::clipboard_text,
            commands::switch_device,
            commands::change_passphrase,
            commands::update_status,
            commands::check_for_updates,
            commands::download_update,
        ])
        .build(context)
        .map(|app| app.run(on_event));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Runde could not start: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the app does with events from the system, beyond Tauri's own handling.
fn on_event(_app: &tauri::AppHandle, _event: tauri::RunEvent) {
    // macOS opens `runde://` links by an event to the app (registered in Info.plist by the
    // bundler from `plugins.deep-link` in tauri.conf.json), not on the command line.
    #[cfg(target_os = "macos")]
    if let tauri::RunEvent::Opened { urls } = _event {
        let link = urls
            .iter()
            .find(|url| url.scheme() == "runde")
            .map(|url| url.to_string());
        tracing::info!(
            with_link = link.is_some(),
            "the system opened a link with Runde"
        );
        offer_link(_app, link);
    }
}

/// Let the page reach the video socket, and nothing else on this computer: the port is only known
/// now, so the policy's `connect-src` gets exactly `ws://127.0.0.1:<port>`. (A `ws:` source also
/// matches `http:` to the same place, which is our own socket too.)
fn allow_video_socket(context: &mut tauri::Context, port: u16) {
    use tauri::utils::config::{Csp, CspDirectiveSources};
    let source = format!("ws://127.0.0.1:{port}");
    match &mut context.config_mut().app.security.csp {
        Some(Csp::DirectiveMap(map)) => map
            .entry("connect-src".into())
            .or_insert_with(|| CspDirectiveSources::List(Vec::new()))
            .push(source),
        Some(Csp::Policy(policy)) => {
            *policy = policy.replace("connect-src", &format!("connect-src {source}"))
        }
        None => {}
    }
}

#[allow(clippy::print_stdout)]
fn version() {
    println!("runde {}", env!("CARGO_PKG_VERSION"));
}

#[cfg(test)]
mod bindings;
