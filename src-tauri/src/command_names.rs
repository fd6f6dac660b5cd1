// Shared by build.rs (which turns each name into an `allow-…` permission) and the shell crate
// (which registers the handlers and generates their TypeScript wrappers). One list, one truth.

/// The names of every command the webview may call, in the order they are declared.
pub const COMMAND_NAMES: &[&str] = &[
    "check_link",
    "join",
    "leave",
    "set_microphone_muted",
    "set_camera_off",
    "video_endpoint",
    "video_stats",
    "devices",
    "settings",
    "save_settings",
    "change_server",
    "startup_link",
    "forget_server",
    "start_check",
    "check_action",
    "stop_check",
    "clipboard_text",
    "switch_device",
    "change_passphrase",
    "update_status",
    "check_for_updates",
    "download_update",
];
