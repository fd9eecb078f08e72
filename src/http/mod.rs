//! The HTTP service: the reset page and health. HTTP types stop here.

mod client;
mod health;
mod reset;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    routing::{get, post},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{config::PageConfig, domain::links::RESET_ROUTE, recovery::Recovery};

/// What handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub recovery: Recovery,
    page: reset::SharedPage,
}

impl HttpState {
    pub fn new(recovery: Recovery, page: &PageConfig) -> Self {
        Self { recovery, page: Arc::new(reset::PageSettings::new(page)) }
    }
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route(RESET_ROUTE, get(reset::show).post(reset::submit))
        .route(reset::STRENGTH_ROUTE, post(reset::strength))
        .route(reset::SCRIPT_ROUTE, get(reset::script))
        .route("/healthz", get(health::healthz))
        .with_state(state)
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "HTTP server stopped with an error");
    }
}
