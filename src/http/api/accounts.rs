//! `PUT /api/v1/accounts/{login}` and `DELETE /api/v1/accounts/{login}`:
//! the CRM keeps our copy of its accounts in step. A PUT changes the fields
//! it names and keeps the rest; a DELETE deactivates.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};

use super::{ApiError, ApiJson};
use crate::{
    domain::{Account, AccountUpdate, CompanyName, Email, Lang, Login, Phone},
    http::HttpState,
};

/// The body of a PUT. Every field may be left out (the stored value stays);
/// `locale` and `time_zone` may be `null` (cleared); the rest may not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    full_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    company: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    time_zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    company_admin: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    blocked: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    active: Option<Option<bool>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// An account as stored, as the API answers it.
#[derive(Debug, Serialize)]
pub struct AccountView {
    login: String,
    email: String,
    phone: String,
    full_name: String,
    company: String,
    locale: Option<&'static str>,
    time_zone: Option<&'static str>,
    company_admin: bool,
    blocked: bool,
    blocked_at: Option<DateTime<Utc>>,
    active: bool,
    deactivated_at: Option<DateTime<Utc>>,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        Self {
            blocked: account.is_blocked(),
            active: account.is_active(),
            login: account.login.to_string(),
            email: account.email.as_str().to_owned(),
            phone: account.phone.as_str().to_owned(),
            full_name: account.full_name,
            company: account.company,
            locale: account.lang.map(Lang::code),
            time_zone: account.time_zone.map(|tz| tz.name()),
            company_admin: account.company_admin,
            blocked_at: account.blocked_at,
            deactivated_at: account.deactivated_at,
        }
    }
}

/// `PUT /api/v1/accounts/{login}`: 200 with the account as stored.
pub async fn put(
    State(state): State<HttpState>,
    login: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<AccountBody>,
) -> Result<ApiJson<AccountView>, ApiError> {
    let mut fields = BTreeMap::new();
    let login = parse_login(login).map_err(|reason| fields.insert("login".into(), reason)).ok();
    let update = parse_update(body, &mut fields);
    let (Some(login), true) = (login, fields.is_empty()) else {
        return Err(invalid(fields));
    };
    match state.recovery.sync_account(&login, &update).await.map_err(ApiError::internal)? {
        Ok(account) => Ok(ApiJson(account.into())),
        Err(missing) => {
            let reason = "missing (required to create an account)";
            Err(ApiError::BadRequest {
                message: format!("no account {login} yet: {} {reason}", missing.join(", ")),
                fields: missing.iter().map(|name| (name.to_string(), reason.to_owned())).collect(),
            })
        }
    }
}

/// `DELETE /api/v1/accounts/{login}`: 204 once the account is deactivated
/// (also when it already was), 404 for an unknown login.
pub async fn delete(
    State(state): State<HttpState>,
    login: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let login = parse_login(login).map_err(|reason| ApiError::bad_field("login", reason))?;
    match state.recovery.deactivate_account(&login).await.map_err(ApiError::internal)? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound),
    }
}

fn parse_login(login: Result<Path<String>, PathRejection>) -> Result<Login, String> {
    let Path(raw) = login.map_err(|_| "not a valid path segment".to_owned())?;
    Login::parse(&raw).map_err(str::to_owned)
}

/// A 400 naming every field at fault.
pub(super) fn invalid(fields: BTreeMap<String, String>) -> ApiError {
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    ApiError::BadRequest { message: format!("invalid field(s): {}", names.join(", ")), fields }
}

/// The body's values, parsed by the same rules as the CSV's; each field at
/// fault is added to `fields`.
fn parse_update(body: AccountBody, fields: &mut BTreeMap<String, String>) -> AccountUpdate {
    let mut check = |name: &str, outcome: Result<(), String>| {
        if let Err(reason) = outcome {
            fields.insert(name.to_owned(), reason);
        }
    };
    let mut update = AccountUpdate::default();
    // `null` clears an optional field; a required one cannot be cleared.
    fn required<T>(value: Option<Option<T>>) -> Result<Option<T>, String> {
        match value {
            Some(None) => Err("may not be null".to_owned()),
            Some(Some(value)) => Ok(Some(value)),
            None => Ok(None),
        }
    }
    check(
        "email",
        required(body.email).and_then(|raw| {
            update.email = raw.map(|raw| Email::parse(&raw)).transpose()?;
            Ok(())
        }),
    );
    check(
        "phone",
        required(body.phone).and_then(|raw| {
            update.phone = raw
                .map(|raw| Phone::parse(&raw))
                .transpose()
                .map_err(|_| "not a valid international number (e.g. +79161234567)")?;
            Ok(())
        }),
    );
    check(
        "full_name",
        required(body.full_name).and_then(|raw| {
            let name = raw.map(|raw| raw.trim().to_owned());
            if name.as_deref() == Some("") {
                return Err("is empty".to_owned());
            }
            update.full_name = name;
            Ok(())
        }),
    );
    check(
        "company",
        required(body.company).and_then(|raw| {
            update.company = raw.map(|raw| CompanyName::parse(&raw)).transpose()?;
            Ok(())
        }),
    );
    check(
        "locale",
        body.locale
            .map(|raw| {
                raw.map(|code| {
                    Lang::parse(&code.trim().to_lowercase())
                        .ok_or(format!("{code:?} is not one of en, ru"))
                })
                .transpose()
            })
            .transpose()
            .map(|lang| update.lang = lang),
    );
    check(
        "time_zone",
        body.time_zone
            .map(|raw| {
                raw.map(|tz| {
                    tz.trim()
                        .parse::<Tz>()
                        .map_err(|_| format!("{tz:?} is not an IANA zone like Europe/Moscow"))
                })
                .transpose()
            })
            .transpose()
            .map(|tz| update.time_zone = tz),
    );
    check("company_admin", required(body.company_admin).map(|v| update.company_admin = v));
    check("blocked", required(body.blocked).map(|v| update.blocked = v));
    check("active", required(body.active).map(|v| update.active = v));
    update
}
