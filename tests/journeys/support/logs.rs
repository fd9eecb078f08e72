//! Log lines captured from a `tracing` subscriber, for the tests that read
//! what an operator's log shows.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

/// Everything written through the subscribers made with it.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// A subscriber writing into these logs, with `filter` (EnvFilter syntax).
    pub fn subscriber(&self, filter: &str) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    /// A dispatcher writing into these logs, for one task or worker.
    pub fn dispatch(&self, filter: &str) -> tracing::Dispatch {
        tracing::Dispatch::new(self.subscriber(filter))
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}
