//! Diagnostics go to stderr through `tracing`, filtered by `RUNDE_LOG` (default: warnings).
//! Nothing is written to disk and nothing leaves the machine.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let filter = EnvFilter::try_from_env("RUNDE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second init (e.g. in tests) keeps the first subscriber; nothing to report. Colours only
    // on a terminal: a log kept in a file or read by a program stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
