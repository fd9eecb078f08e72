//! The CRM's JSON API under `/api/v1`: bearer-token auth, one error shape,
//! a 16 KiB body limit and a request timeout for every path in it.
//!
//! Adding an endpoint is one path in [`paths`], its methods in
//! [`ENDPOINTS`], one `.route(..)` line in [`router`], its description in
//! `openapi.json` and one handler file that takes [`ApiJson`] and returns
//! `Result<ApiJson<_>, ApiError>`.

mod accounts;
mod auth;
mod companies;
mod error;
mod events;
mod json;
mod login;
mod openapi;
mod ping;
mod telegram_links;
mod two_factor;

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::header,
    middleware::{Next, from_fn, from_fn_with_state},
    response::Response,
    routing::{get, post, put},
};

pub use auth::ApiToken;
pub use error::{ApiError, LockReason};
pub use json::ApiJson;

use super::{HttpState, REQUEST_TIMEOUT};

/// Where the API is mounted.
pub const BASE: &str = "/api/v1";

/// Every API path, relative to [`BASE`], named once.
pub mod paths {
    pub const PING: &str = "/ping";
    /// An account by login: PUT upserts, DELETE deactivates.
    pub const ACCOUNT: &str = "/accounts/{login}";
    /// An account's two-factor authentication: POST turns it on, DELETE off.
    pub const TWO_FACTOR: &str = "/accounts/{login}/two-factor";
    /// A company by name (URL-encoded): PUT sets its licence end.
    pub const COMPANY: &str = "/companies/{name}";
    pub const LOGIN: &str = "/auth/login";
    /// POST: a one-time deep link that binds a Telegram account.
    pub const TELEGRAM_LINKS: &str = "/telegram-links";
    /// POST: the CRM reports a sign-in, a new device or a password change.
    pub const EVENTS: &str = "/events";
    /// The OpenAPI 3.1 document describing every path here.
    pub const OPENAPI: &str = "/openapi.json";
}

/// Every (method, path) the API serves, paths relative to [`BASE`]: what
/// [`router`] routes and what `openapi.json` must describe, no more.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", paths::PING),
    ("GET", paths::OPENAPI),
    ("POST", paths::LOGIN),
    ("PUT", paths::ACCOUNT),
    ("DELETE", paths::ACCOUNT),
    ("POST", paths::TWO_FACTOR),
    ("DELETE", paths::TWO_FACTOR),
    ("PUT", paths::COMPANY),
    ("POST", paths::TELEGRAM_LINKS),
    ("POST", paths::EVENTS),
];

/// The OpenAPI 3.1 document served at [`paths::OPENAPI`].
pub use openapi::DOCUMENT as OPENAPI_DOCUMENT;

/// The largest request body the API reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The API's routes. With no token configured the API is off: every path
/// under [`BASE`] answers 404, as if it did not exist.
pub fn router(state: HttpState) -> Router {
    let Some(token) = state.api_token.clone() else {
        return Router::new().fallback(not_found);
    };
    // `layer` wraps every route, its 405 answer and the fallback alike, so
    // nothing under /api/v1 escapes auth, the body limit or the timeout.
    // The last layer added runs first: time limit, body size, token.
    Router::new()
        .route(paths::PING, get(ping::ping))
        .route(paths::OPENAPI, get(openapi::openapi))
        .route(paths::ACCOUNT, put(accounts::put).delete(accounts::delete))
        .route(paths::TWO_FACTOR, post(two_factor::post).delete(two_factor::delete))
        .route(paths::COMPANY, put(companies::put))
        .route(paths::LOGIN, post(login::login))
        .route(paths::TELEGRAM_LINKS, post(telegram_links::post))
        .route(paths::EVENTS, post(events::post))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(from_fn_with_state(token, auth::require_token))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn(refuse_large_bodies))
        .layer(from_fn_with_state(REQUEST_TIMEOUT, time_limit))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A declared body over the limit is refused before auth and routing, on
/// any path and method, without reading it. A body without Content-Length
/// is caught by `DefaultBodyLimit` when [`ApiJson`] reads it.
async fn refuse_large_bodies(request: Request, next: Next) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(next.run(request).await)
}

/// The same limit as the pages' `TimeoutLayer`, answered in the API's shape.
async fn time_limit(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    tokio::time::timeout(limit, next.run(request)).await.map_err(|_| {
        tracing::warn!(path, "API request timed out");
        ApiError::Timeout
    })
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        net::SocketAddr,
        sync::{Arc, Mutex},
    };

    use axum::{
        body::Body,
        extract::ConnectInfo,
        http::{Request, StatusCode},
    };
    use tower::ServiceExt;

    use super::*;

    #[test]
    fn the_openapi_document_names_every_endpoint() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI_DOCUMENT).unwrap();
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                if method != "parameters" {
                    described.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        let mut endpoints: Vec<(String, String)> =
            ENDPOINTS.iter().map(|&(m, p)| (m.to_owned(), p.to_owned())).collect();
        described.sort();
        endpoints.sort();
        assert_eq!(described, endpoints);
    }

    #[tokio::test]
    async fn a_slow_request_times_out_in_the_api_shape() {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        let app: Router = Router::new()
            .route("/slow", get(slow))
            .layer(from_fn_with_state(Duration::from_millis(20), time_limit));
        let response = app.oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await;
        let response = response.unwrap();
        assert_eq!(response.status(), crate::http::TIMEOUT_STATUS);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "timeout");
    }

    /// Log lines written while the test runs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_refusal_logs_the_client_but_not_the_presented_token() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let app: Router = Router::new()
            .route("/ping", get(ping::ping))
            .layer(from_fn_with_state(ApiToken::new(&"k".repeat(32)), auth::require_token));
        let presented = "a-guess-that-must-not-be-logged-0123456789";
        let mut request = Request::get("/ping")
            .header(header::AUTHORIZATION, format!("Bearer {presented}"))
            .body(Body::empty())
            .unwrap();
        let client: SocketAddr = "203.0.113.7:50123".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(client));
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("203.0.113.7:50123"), "{text}");
        assert!(text.contains("wrong token"), "{text}");
        assert!(!text.contains(presented), "{text}");
    }
}
