//! The API's one error type: every `/api/v1` failure becomes
//! `{"error": code, "message": text, "fields": {..}}` here, and nowhere else.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::BODY_LIMIT;
use crate::http::{REQUEST_TIMEOUT, TIMEOUT_STATUS};

/// Why an API request failed. Handlers return it; `into_response` maps it
/// to a status and the JSON body once. Messages are for CRM developers.
/// Why a login is locked (423 `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockReason {
    FailedSignIns,
    Blocked,
}

impl LockReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::FailedSignIns => "failed_sign_ins",
            Self::Blocked => "blocked",
        }
    }
}

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
    /// Sign-in: wrong login or password (one answer for both).
    InvalidCredentials,
    /// Sign-in: the company's licence lapsed on this day.
    LicenseExpired {
        expired_on: NaiveDate,
    },
    /// No such resource or path (also every path while the API is off).
    NotFound,
    MethodNotAllowed,
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Sign-in: locked; `locked_until` and `retry_after` only when the lock
    /// lifts by itself.
    Locked {
        reason: LockReason,
        locked_until: Option<DateTime<Utc>>,
        retry_after: Option<u64>,
    },
    /// Readable, but the rules refuse it.
    Unprocessable(String),
    /// Slow down; `retry_after` in whole seconds when known.
    TooManyRequests {
        retry_after: Option<u64>,
    },
    /// The request took longer than the service allows.
    Timeout,
    /// Too much work queued (password hashing); retry after the seconds given.
    Busy {
        retry_after: u64,
    },
    /// Sign-in: the right password, but the account has two-factor
    /// authentication and no `totp` came with it.
    TotpRequired,
    /// Two-factor enrolment is off: the service has no `SECRET_KEY`.
    TwoFactorUnavailable,
    /// Two-factor authentication is already on for the account.
    TwoFactorAlreadyOn,
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
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::LicenseExpired { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::TwoFactorUnavailable | Self::TwoFactorAlreadyOn => {
                StatusCode::CONFLICT
            }
            Self::TotpRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Locked { .. } => StatusCode::LOCKED,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => TIMEOUT_STATUS,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable `error` value.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::LicenseExpired { .. } => "license_expired",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::TotpRequired => "totp_required",
            Self::TwoFactorUnavailable => "two_factor_unavailable",
            Self::TwoFactorAlreadyOn => "two_factor_already_on",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Locked { .. } => "locked",
            Self::Unprocessable(_) => "unprocessable",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Timeout => "timeout",
            Self::Busy { .. } => "busy",
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::BadRequest { message, .. } => message.clone(),
            Self::Unauthorized => "missing or invalid bearer token".into(),
            Self::InvalidCredentials => "wrong login or password".into(),
            Self::LicenseExpired { .. } => "the company's licence has expired".into(),
            Self::Locked { reason: LockReason::FailedSignIns, locked_until: Some(_), .. } => {
                "locked after too many failed sign-ins; retry after locked_until".into()
            }
            Self::Locked { reason: LockReason::FailedSignIns, locked_until: None, .. } => {
                "locked after too many failed sign-ins until an administrator unlocks it".into()
            }
            Self::Locked { reason: LockReason::Blocked, .. } => {
                "blocked by an administrator".into()
            }
            Self::NotFound => "no such resource".into(),
            Self::MethodNotAllowed => {
                "method not allowed on this path (see the Allow header)".into()
            }
            Self::Conflict(message) | Self::Unprocessable(message) => message.clone(),
            Self::TotpRequired => {
                "this account has two-factor authentication: send the code from the \
                 authenticator app as totp"
                    .into()
            }
            Self::TwoFactorUnavailable => {
                "two-factor enrolment is off: the service's operator has not set SECRET_KEY".into()
            }
            Self::TwoFactorAlreadyOn => {
                "two-factor authentication is already on for this account; DELETE it first to \
                 enrol again"
                    .into()
            }
            Self::PayloadTooLarge => {
                format!("request body is larger than {} bytes", BODY_LIMIT)
            }
            Self::UnsupportedMediaType => "expected Content-Type: application/json".into(),
            Self::TooManyRequests { .. } => "too many requests, retry later".into(),
            Self::Timeout => {
                format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs())
            }
            Self::Busy { .. } => "busy, retry later".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
    /// The variant's own fields (`fields` on 400, `locked_until` on 423…).
    #[serde(flatten)]
    details: Map<String, Value>,
}

impl ApiError {
    /// The fields some errors add next to `error` and `message`.
    fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        match self {
            Self::BadRequest { fields, .. } => {
                details.insert("fields".into(), json!(fields));
            }
            Self::Locked { reason, locked_until, retry_after } => {
                details.insert("reason".into(), json!(reason.as_str()));
                if let Some(until) = locked_until {
                    let until = until.to_rfc3339_opts(SecondsFormat::Secs, true);
                    details.insert("locked_until".into(), json!(until));
                }
                if let Some(seconds) = retry_after {
                    details.insert("retry_after".into(), json!(seconds));
                }
            }
            Self::LicenseExpired { expired_on } => {
                let day = expired_on.format("%Y-%m-%d").to_string();
                details.insert("license_expired_at".into(), json!(day));
            }
            _ => {}
        }
        details
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "API request failed");
        }
        let body =
            ErrorBody { error: self.code(), message: self.message(), details: self.details() };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after: Some(seconds) }
            | Self::Locked { retry_after: Some(seconds), .. }
            | Self::Busy { retry_after: seconds } => {
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

    #[tokio::test]
    async fn locks_carry_their_end_only_when_it_comes_by_itself() {
        let until = DateTime::parse_from_rfc3339("2026-11-25T09:10:00Z").unwrap().to_utc();
        let error = ApiError::Locked {
            reason: LockReason::FailedSignIns,
            locked_until: Some(until),
            retry_after: Some(600),
        };
        assert_eq!(error.into_response().headers()[header::RETRY_AFTER], "600");
        let error = ApiError::Locked {
            reason: LockReason::FailedSignIns,
            locked_until: Some(until),
            retry_after: Some(600),
        };
        let (status, body) = json_of(error).await;
        assert_eq!(status, StatusCode::LOCKED);
        assert_eq!(body["reason"], "failed_sign_ins");
        assert_eq!(body["locked_until"], "2026-11-25T09:10:00Z");
        assert_eq!(body["retry_after"], 600);
        let blocked =
            ApiError::Locked { reason: LockReason::Blocked, locked_until: None, retry_after: None };
        assert!(blocked.into_response().headers().get(header::RETRY_AFTER).is_none());
        let blocked =
            ApiError::Locked { reason: LockReason::Blocked, locked_until: None, retry_after: None };
        let (_, body) = json_of(blocked).await;
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error", "message", "reason"]);
    }

    #[tokio::test]
    async fn an_expired_licence_names_its_day() {
        let expired_on = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
        let (status, body) = json_of(ApiError::LicenseExpired { expired_on }).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "license_expired");
        assert_eq!(body["license_expired_at"], "2026-10-31");
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let response = ApiError::TooManyRequests { retry_after: Some(30) }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
    }
}
