//! What the shell keeps while it runs.

use runde_call::VideoScreen;

use crate::call_task::RunningCall;
use crate::check_task::RunningCheck;
use crate::updates::Updates;
use crate::video_server::VideoServer;

/// The shell's state, managed by Tauri.
pub(crate) struct Shell {
    /// The call, while there is one.
    pub call: tokio::sync::Mutex<Option<RunningCall>>,
    /// The check before a call, while it runs.
    pub check: tokio::sync::Mutex<Option<RunningCheck>>,
    /// Where pictures wait to be drawn.
    pub screen: VideoScreen,
    /// Serves them to the window.
    pub video: VideoServer,
    /// No sound output exists: calls are joined without one rather than refused.
    pub no_speaker: bool,
    /// A link Runde was started with, until the window takes it.
    pub startup_link: std::sync::Mutex<Option<String>>,
    /// `RUNDE_SYNTHETIC_DEVICES=1`: the default microphone is a 440 Hz tone and the default
    /// camera a test pattern with frame stamps. For tests and demonstrations on computers without
    /// a microphone or camera; a device chosen in the settings still wins.
    pub synthetic_devices: bool,
    /// The update check's progress (only ever run when the user opted in).
    pub updates: Updates,
}

impl Shell {
    pub(crate) fn start(startup_link: Option<String>) -> std::io::Result<Self> {
        let screen = VideoScreen::new();
        let video = VideoServer::start(screen.clone())?;
        let devices = runde_call::devices::list();
        let no_speaker = devices.speakers.is_empty();
        if no_speaker {
            tracing::warn!(problems = ?devices.problems, "no sound output found; calls will be silent");
        }
        // A listed speaker may still fail to open; the call then goes on without sound and says so.
        Ok(Self {
            call: tokio::sync::Mutex::new(None),
            check: tokio::sync::Mutex::new(None),
            screen,
            video,
            no_speaker,
            startup_link: std::sync::Mutex::new(startup_link),
            synthetic_devices: std::env::var_os("RUNDE_SYNTHETIC_DEVICES")
                .is_some_and(|v| v == "1"),
            updates: Updates::new(),
        })
    }
}
