//! `POST` and `DELETE /api/v1/accounts/{login}/two-factor`: the CRM turns
//! an account's two-factor authentication on (it has checked the user's
//! first code itself, so it takes effect at once) or off. The rules live in
//! `recovery::two_factor`; this file only translates.

use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use serde::Serialize;

use super::{ApiError, ApiJson};
use crate::{
    domain::Login,
    http::HttpState,
    recovery::{EnrolRefusal, TwoFactorSource},
};

/// The secret and the backup codes, shown once. No `Debug`: secrets.
#[derive(Serialize)]
pub struct EnrolmentView {
    otpauth_uri: String,
    /// Base32, for typing into an authenticator app.
    secret: String,
    /// Ten single-use codes, `ABCD-EFGH-JKMN-PQRS`.
    backup_codes: Vec<String>,
}

/// 201 with the secret and the backup codes; 409 when 2FA is on already or
/// the service has no `SECRET_KEY`; 404 for an unknown login.
pub async fn post(
    State(state): State<HttpState>,
    login: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, ApiJson<EnrolmentView>), ApiError> {
    let login = parse_login(login)?;
    let enrolled = state
        .recovery
        .enrol_two_factor(&login, TwoFactorSource::Api)
        .await
        .map_err(ApiError::internal)?;
    match enrolled {
        Ok(enrolled) => Ok((
            StatusCode::CREATED,
            ApiJson(EnrolmentView {
                otpauth_uri: enrolled.secret.otpauth_uri,
                secret: enrolled.secret.secret_base32,
                backup_codes: enrolled.backup_codes,
            }),
        )),
        Err(EnrolRefusal::NotFound) => Err(ApiError::NotFound),
        Err(EnrolRefusal::AlreadyOn) => Err(ApiError::TwoFactorAlreadyOn),
        Err(EnrolRefusal::Unavailable) => Err(ApiError::TwoFactorUnavailable),
    }
}

/// 204 once 2FA is off; 404 when it was not on or the login is unknown.
pub async fn delete(
    State(state): State<HttpState>,
    login: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let login = parse_login(login)?;
    let off = state
        .recovery
        .turn_off_two_factor_by_login(&login, TwoFactorSource::Api)
        .await
        .map_err(ApiError::internal)?;
    match off {
        Some(true) => Ok(StatusCode::NO_CONTENT),
        Some(false) | None => Err(ApiError::NotFound),
    }
}

fn parse_login(login: Result<Path<String>, PathRejection>) -> Result<Login, ApiError> {
    let Path(raw) = login.map_err(|_| ApiError::bad_field("login", "not a valid path segment"))?;
    Login::parse(&raw).map_err(|reason| ApiError::bad_field("login", reason))
}
