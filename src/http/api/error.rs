//! The API's one error type: every `/api/v1` failure becomes
//! `{"error": code, "message": text, "fields": {..}}` here, and nowhere else.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::BODY_LIMIT;
use crate::http::{REQUEST_TIMEOUT, TIMEOUT_STATUS};

/// Why an API request failed. Handlers return it; `into_response` maps it
/// to a status and the JSON body once. Messages are for CRM developers.
#[derive(Debug)]
pub enum ApiError {
    /// The request cannot be read: bad JSON, a missing or mistyped field.
    /// `fields` maps each offending field (or `body`) to the reason.
    BadRequest {
        message: String,
        fields: BTreeMap<String, String>,
    },
    /// No bearer token, another scheme, or the wrong token.
    Unauthorized,
    /// No such resource or path (also every path while the API is off).
    NotFound,
    MethodNotAllowed,
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Readable, but the rules refuse it.
    Unprocessable(String),
    /// Slow down; `retry_after` in whole seconds when known.
    TooManyRequests {
        retry_after: Option<u64>,
    },
    /// The request took longer than the service allows.
    Timeout,
    /// Our fault. The cause goes to the log, never to the client.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 about one field (use `body` for the request as a whole).
    pub fn bad_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        Self::BadRequest {
            message: format!("{field}: {reason}"),
            fields: BTreeMap::from([(field, reason)]),
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => TIMEOUT_STATUS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable `error` value.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unprocessable(_) => "unprocessable",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Timeout => "timeout",
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest { message, .. } => message.clone(),
            Self::Unauthorized => "missing or invalid bearer token".into(),
            Self::NotFound => "no such resource".into(),
            Self::MethodNotAllowed => {
                "method not allowed on this path (see the Allow header)".into()
            }
            Self::Conflict(message) | Self::Unprocessable(message) => message.clone(),
            Self::PayloadTooLarge => {
                format!("request body is larger than {} bytes", BODY_LIMIT)
            }
            Self::UnsupportedMediaType => "expected Content-Type: application/json".into(),
            Self::TooManyRequests { .. } => "too many requests, retry later".into(),
            Self::Timeout => {
                format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs())
            }
            Self::Internal(_) => "internal error".into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, String>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "API request failed");
        }
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
            fields: match &self {
                Self::BadRequest { fields, .. } => Some(fields),
                _ => None,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after: Some(seconds) } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn json_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn fields_appear_only_on_bad_requests() {
        let (status, body) = json_of(ApiError::bad_field("login", "missing")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "bad_request");
        assert_eq!(body["fields"], serde_json::json!({"login": "missing"}));

        let (status, body) = json_of(ApiError::Conflict("login taken".into())).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body, serde_json::json!({"error": "conflict", "message": "login taken"}));
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let cause = anyhow::anyhow!("connection refused to db.internal:5432");
        let (status, body) = json_of(ApiError::internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, serde_json::json!({"error": "internal", "message": "internal error"}));
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let response = ApiError::TooManyRequests { retry_after: Some(30) }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
    }
}
