//! Diagnostics go to stderr through `tracing`, filtered by `RUNDE_LOG` (default: warnings).
//! Nothing is written to disk and nothing leaves the machine.

use tracing_subscriber::EnvFilter;

pub(crate) fn init() {
    let filter = EnvFilter::try_from_env("RUNDE_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second init (e.g. in tests) keeps the first subscriber; nothing to report.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
