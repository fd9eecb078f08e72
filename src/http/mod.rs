//! The HTTP service: the reset page and health. HTTP types stop here.

mod health;
mod reset;

use axum::{Router, routing::get};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::recovery::Recovery;

/// What handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub recovery: Recovery,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/reset/{token}", get(reset::show).post(reset::submit))
        .route("/healthz", get(health::healthz))
        .with_state(state)
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "HTTP server stopped with an error");
    }
}
