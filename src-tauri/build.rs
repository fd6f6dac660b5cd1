//! Embeds the Tauri context and declares the app's commands, so that each one needs an explicit grant
//! in `capabilities/` before the webview may call it.

include!("src/command_names.rs");

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMAND_NAMES);
    let attributes = tauri_build::Attributes::new().app_manifest(manifest);
    if let Err(e) = tauri_build::try_build(attributes) {
        // A build script reports failure by panicking; say why.
        panic!("tauri build step failed: {e:#}");
    }
}
