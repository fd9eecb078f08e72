//! `GET /healthz`: 200 when the database answers.

use axum::{extract::State, http::StatusCode};

use super::HttpState;

pub async fn healthz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.recovery.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
