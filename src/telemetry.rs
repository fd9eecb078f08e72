//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`),
//! as text or JSON lines (`LOG_FORMAT`). teloxide's `log` records are
//! bridged into the same output.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,reqwest=warn";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests spawning several apps) is harmless.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // One object per line, the event's fields flattened beside `message`,
        // and no colour codes.
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).try_init(),
    };
}
