//! `POST /api/v1/auth/login`: the CRM checks a user's login and password
//! (and TOTP code, for an account with two-factor authentication).
//! The rules (lockout, dummy hash for unknown logins) live in
//! `recovery::signin`; this file only translates.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::HeaderMap,
};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, error::LockReason};
use crate::{
    http::{HttpState, client::client_ip},
    recovery::{SignIn, SignInRefusal},
};

/// The request body. No `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
    /// The TOTP code, for accounts with two-factor authentication.
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Serialize)]
pub struct LoginAnswer {
    account_id: i64,
    login: String,
    credentials_version: i64,
    /// The password is shorter than an account without two-factor
    /// authentication may keep: have the user change it.
    password_change_required: bool,
}

/// How long a client should wait when hashing is busy.
const BUSY_RETRY_AFTER_SECONDS: u64 = 5;

pub async fn login(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<ApiJson<LoginAnswer>, ApiError> {
    let client = client_ip(peer, &headers, state.page.trusted_proxies());
    let attempt = SignIn {
        login: request.login,
        password: request.password,
        totp: request.totp,
        client: Some(client.to_string()),
    };
    let outcome = state.recovery.sign_in(attempt).await.map_err(ApiError::internal)?;
    match outcome {
        Ok(signed_in) => Ok(ApiJson(LoginAnswer {
            account_id: signed_in.account_id.0,
            login: signed_in.login.to_string(),
            credentials_version: signed_in.credentials_version,
            password_change_required: signed_in.password_change_required,
        })),
        Err(SignInRefusal::InvalidCredentials) => Err(ApiError::InvalidCredentials),
        Err(SignInRefusal::Locked { until, retry_after }) => Err(ApiError::Locked {
            reason: LockReason::FailedSignIns,
            locked_until: until,
            retry_after,
        }),
        Err(SignInRefusal::Blocked) => Err(ApiError::Locked {
            reason: LockReason::Blocked,
            locked_until: None,
            retry_after: None,
        }),
        Err(SignInRefusal::LicenseExpired { expired_at }) => {
            Err(ApiError::LicenseExpired { expired_on: expired_at.date_naive() })
        }
        Err(SignInRefusal::Busy) => Err(ApiError::Busy { retry_after: BUSY_RETRY_AFTER_SECONDS }),
        Err(SignInRefusal::TotpRequired) => Err(ApiError::TotpRequired),
    }
}
