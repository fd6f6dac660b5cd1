//! Push to talk: while muted in a call, holding the chosen key combination speaks, even when
//! Runde's window is in the background (a system-wide shortcut). Opt-in; the key is taken from
//! other programs only while a call runs, and given back when it ends.

use std::str::FromStr;

use runde_call::UserError;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

use crate::state::Shell;

/// Check that `keys` names a key combination (e.g. `Control+Shift+Space`, `F8`).
pub(crate) fn parse(keys: &str) -> Result<Shortcut, UserError> {
    Shortcut::from_str(keys).map_err(|e| UserError::ShortcutUnavailable {
        detail: format!("“{keys}” is not a key combination ({e})"),
    })
}

/// Take the key combination for the running call: pressing unmutes, releasing mutes again.
pub(crate) fn arm<R: Runtime>(app: &AppHandle<R>, keys: &str) -> Result<Shortcut, UserError> {
    let shortcut = parse(keys)?;
    app.global_shortcut()
        .on_shortcut(shortcut, |app, _, event| {
            let held = event.state() == ShortcutState::Pressed;
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let shell = app.state::<Shell>();
                if let Some(call) = shell.call.lock().await.as_ref() {
                    call.push_to_talk(held);
                }
            });
        })
        .map_err(|e| UserError::ShortcutUnavailable {
            detail: e.to_string(),
        })?;
    tracing::info!("push to talk armed for this call");
    Ok(shortcut)
}

/// Give the key combination back.
pub(crate) fn disarm<R: Runtime>(app: &AppHandle<R>, shortcut: Shortcut) {
    if let Err(e) = app.global_shortcut().unregister(shortcut) {
        tracing::warn!(error = %e, "push to talk: the key could not be given back");
    }
}
