//! The commands the webview may call. Each is a one-line hand-over to `runde-call`; each must be
//! listed in `command_names.rs` and granted in `capabilities/`.

use runde_call::{LinkReport, UserError};

/// Check a pasted link without contacting any server. The link is never logged: it may hold a
/// password, which `runde-call` refuses.
#[tauri::command]
pub(crate) fn check_link(link: String) -> Result<LinkReport, UserError> {
    tracing::debug!(len = link.len(), "checking a pasted link");
    let result = runde_call::inspect_link(&link);
    if let Err(e) = &result {
        // The code only: the error's data may hold parts of the link.
        tracing::debug!(code = e.code(), "link refused");
    }
    result
}
