//! The HTTP service: the reset page, health and the CRM's API. HTTP types
//! stop here. Limits, timeouts and security headers are set router-wide
//! here, so they also cover the framework's own answers (404, 405, 413).

pub mod api;
mod client;
mod dispute;
mod health;
mod reset;
mod webhook;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::map_response,
    response::Response,
    routing::{get, post},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

pub use health::WebhookCheck;
pub use webhook::{SECRET_HEADER, WebhookIntake};

use crate::{
    config::PageConfig,
    domain::{PasswordPolicy, links},
    recovery::Recovery,
};

/// Every page path, named once. API paths live in [`api::paths`].
pub mod paths {
    pub use super::reset::{SCRIPT_ROUTE as SCRIPT, STRENGTH_ROUTE as STRENGTH};
    pub const RESET: &str = super::links::RESET_ROUTE;
    pub const DISPUTE: &str = super::links::DISPUTE_ROUTE;
    pub const HOLD: &str = super::links::HOLD_ROUTE;
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
}

/// How long any request may take, pages and API alike.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// What a request that ran out of time gets: the service could not answer
/// in time (408 would tell the client it was too slow, and invites retries).
pub const TIMEOUT_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;
/// The reset form holds two passwords; nothing more is read.
pub const RESET_BODY_LIMIT: usize = 4 * 1024;
// Two longest passwords of 4-byte characters, each byte percent-encoded
// (3 bytes), plus the field names, must fit.
const _: () = assert!(2 * PasswordPolicy::MAX_LENGTH * 4 * 3 + 64 <= RESET_BODY_LIMIT);

/// On every answer: keep the reset token in the URL private (no referrer,
/// no caching, no framing, no indexing); the page may run only its own
/// script and talk only to its own origin.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (HeaderName::from_static("x-robots-tag"), "noindex"),
];

/// What handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub recovery: Recovery,
    /// `None`: the API is off.
    pub api_token: Option<api::ApiToken>,
    /// The bot's username, for the deep links the API hands out.
    pub bot_username: Option<String>,
    /// In webhook mode: where Telegram's posts go.
    pub webhook: Option<WebhookIntake>,
    /// In webhook mode: whether Telegram has the webhook, for `/readyz`.
    pub webhook_check: Option<WebhookCheck>,
    page: reset::SharedPage,
}

impl HttpState {
    pub fn new(recovery: Recovery, page: &PageConfig, api_token: Option<api::ApiToken>) -> Self {
        let page = Arc::new(reset::PageSettings::new(page));
        Self { recovery, api_token, bot_username: None, webhook: None, webhook_check: None, page }
    }

    /// Serves Telegram's webhook posts and reports its state in `/readyz`.
    pub fn with_webhook(mut self, intake: WebhookIntake, check: WebhookCheck) -> Self {
        self.webhook = Some(intake);
        self.webhook_check = Some(check);
        self
    }

    /// The bot's username, as `getMe` said.
    pub fn with_bot_username(mut self, username: Option<String>) -> Self {
        self.bot_username = username;
        self
    }
}

pub fn router(state: HttpState) -> Router {
    let form_limit = DefaultBodyLimit::max(RESET_BODY_LIMIT);
    let reset = get(reset::show).post(reset::submit).layer(form_limit);
    let strength = post(reset::strength).layer(form_limit);
    // The API keeps its own timeout so that it answers in its JSON shape.
    let mut router = Router::new();
    if let Some(webhook) = &state.webhook {
        router = router.route(&webhook.path, post(webhook::receive));
    }
    router
        .route(paths::RESET, reset)
        .route(paths::STRENGTH, strength)
        .route(paths::SCRIPT, get(reset::script))
        .route(paths::DISPUTE, get(dispute::show).post(dispute::confirm).layer(form_limit))
        .route(paths::HOLD, get(dispute::show_hold).post(dispute::cancel_hold).layer(form_limit))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(health::metrics))
        .layer(TimeoutLayer::with_status_code(TIMEOUT_STATUS, REQUEST_TIMEOUT))
        // As a service, so that `/api/v1` and `/api/v1/` are the API's too.
        .nest_service(api::BASE, api::router(state.clone()))
        .layer(map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
/// The peer's address is kept: the page's limits and the audit use it.
pub async fn serve(listener: TcpListener, state: HttpState, shutdown: CancellationToken) {
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "HTTP server stopped with an error");
    }
}
