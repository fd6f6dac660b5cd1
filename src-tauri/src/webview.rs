//! Settings of the webview itself.
//!
//! Without a GPU (no DRM render node: a virtual machine, a remote desktop, Xvfb), WebKitGTK's
//! accelerated compositing runs on Mesa's software GL, and drawing video into a canvas costs most
//! of a core per stream (measured: 76 % of a core for the web process with one 360p30 tile, 7 %
//! with compositing off; docs/BENCHMARKS.md). There, the webview draws without it.

/// Whether this computer offers a GPU for rendering.
#[cfg(target_os = "linux")]
fn has_render_node() -> bool {
    std::fs::read_dir("/dev/dri")
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false)
}

/// Adjust the window's webview to the machine.
pub(crate) fn tune(window: &tauri::WebviewWindow) {
    #[cfg(target_os = "linux")]
    {
        if has_render_node() {
            return;
        }
        let result = window.with_webview(|webview| {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
            if let Some(settings) = webview.inner().settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
        });
        match result {
            Ok(()) => {
                tracing::info!("no GPU found: the webview draws without accelerated compositing")
            }
            Err(e) => tracing::warn!(error = %e, "could not adjust the webview"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
