//! Settings of the webview itself.
//!
//! Without a GPU (no DRM render node: a virtual machine, a remote desktop, Xvfb), WebKitGTK renders
//! through Mesa's software GL and hands each rendered frame over as a DMA buffer; drawing video into
//! a canvas then costs most of a core per stream (measured: 76 % of a core for the web process with
//! one 360p30 tile, 8 % with the DMA-buffer renderer off; docs/BENCHMARKS.md). There, Runde turns
//! that renderer off before the webview starts. A user's own setting of the variable wins.

/// The environment variable WebKitGTK reads.
#[cfg(target_os = "linux")]
const DISABLE_DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";

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

/// Choose WebKit's renderer for this machine. Must run first thing in `main`, before any other
/// thread exists (it changes the process environment).
pub fn prepare() {
    #[cfg(target_os = "linux")]
    if std::env::var_os(DISABLE_DMABUF).is_none() && !has_render_node() {
        // SAFETY: called at the start of `main`, before Runde starts any thread, so nothing can
        // read the environment concurrently (the condition `set_var` requires).
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(DISABLE_DMABUF, "1");
        }
    }
}
