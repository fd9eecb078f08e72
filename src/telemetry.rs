//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).
//! teloxide's `log` records are bridged into the same output.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    // A second init (tests spawning several apps) is harmless.
    let _ = fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
