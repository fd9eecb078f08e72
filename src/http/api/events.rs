//! `POST /api/v1/events`: the CRM reports what only it sees (a sign-in, a
//! new device, a password change), and the bot tells the Telegram users
//! bound to the account. Answered 202 whether or not the login exists.

use std::{collections::BTreeMap, net::IpAddr};

use axum::{extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson};
use crate::{
    domain::{CrmEvent, CrmEventKind, Login, security::tidy_user_agent},
    http::HttpState,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    login: Option<String>,
    kind: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Accepted {
    accepted: bool,
}

/// 202 `{"accepted": true}` for any well-formed report; 400 naming the
/// fields at fault otherwise.
pub async fn post(
    State(state): State<HttpState>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let (login, event) = parse(body).map_err(super::accounts::invalid)?;
    state.recovery.record_crm_event(&login, event).await.map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, ApiJson(Accepted { accepted: true })))
}

fn parse(body: EventBody) -> Result<(Login, CrmEvent), BTreeMap<String, String>> {
    let mut fields = BTreeMap::new();
    let mut fault = |name: &str, reason: &str| {
        fields.insert(name.to_owned(), reason.to_owned());
    };
    let login = match body.login.as_deref().map(Login::parse) {
        Some(Ok(login)) => Some(login),
        Some(Err(reason)) => {
            fault("login", reason);
            None
        }
        None => {
            fault("login", "missing");
            None
        }
    };
    let kind = match body.kind.as_deref() {
        Some(raw) => {
            let kind = CrmEventKind::parse(raw);
            if kind.is_none() {
                fault("kind", "expected login_succeeded, new_device or password_changed");
            }
            kind
        }
        None => {
            fault("kind", "missing");
            None
        }
    };
    let at = match body.at.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => Some(at.with_timezone(&Utc)),
        Some(Err(_)) => {
            fault("at", "expected an RFC 3339 time, e.g. 2026-11-25T09:00:00Z");
            None
        }
        None => {
            fault("at", "missing");
            None
        }
    };
    let ip = match body.ip.as_deref().map(str::trim).filter(|ip| !ip.is_empty()) {
        Some(raw) => match raw.parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                fault("ip", "expected an IPv4 or IPv6 address");
                None
            }
        },
        None => None,
    };
    let user_agent = body.user_agent.as_deref().and_then(tidy_user_agent);
    match (login, kind, at) {
        (Some(login), Some(kind), Some(at)) if fields.is_empty() => {
            Ok((login, CrmEvent { kind, ip, user_agent, at }))
        }
        _ => Err(fields),
    }
}
