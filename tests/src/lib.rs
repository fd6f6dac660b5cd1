//! Support for Runde's end-to-end tests: real processes, started and stopped by the test itself.
//!
//! Every helper here starts a real program (Xvfb, tauri-driver with WebKitWebDriver, the Runde app)
//! and stops exactly that process, by PID, when dropped. A missing program is a test failure with an
//! explanation, never a skip. Waiting is done on observable readiness (a display number written to a
//! pipe, a port that accepts, an element that appears), each with a deadline.
#![deny(missing_docs)]

pub mod analysis;
pub mod artifacts;
pub mod browser;
pub mod cli;
pub mod coturn;
pub mod desktop;
pub mod janus;
pub mod netns;
pub mod process;
pub mod proctree;
pub mod session_bus;
pub mod sound;
pub mod tls_proxy;
pub mod update_server;
pub mod uplink;
pub mod webdriver;
pub mod wire;

/// Errors from the test harness, with enough context to act on.
pub type Result<T> = std::result::Result<T, Error>;

/// A harness failure, described for the person reading the test output.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Build an [`Error`] from anything displayable, with a context prefix.
pub fn err(context: &str, cause: impl std::fmt::Display) -> Error {
    Error(format!("{context}: {cause}"))
}
