//! `POST /api/v1/telegram-links` `{login}`: a one-time deep link to the bot
//! for a signed-in CRM user; opening it and confirming binds their Telegram
//! account to the CRM account.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson};
use crate::{domain::Login, http::HttpState, recovery::PRELINK_PAYLOAD_PREFIX};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    login: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LinkView {
    url: String,
    expires_at: DateTime<Utc>,
}

/// 200 `{url, expires_at}`; 404 for a login without an active account.
pub async fn post(
    State(state): State<HttpState>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<ApiJson<LinkView>, ApiError> {
    let login = match body.login.as_deref().map(Login::parse) {
        Some(Ok(login)) => login,
        Some(Err(reason)) => return Err(invalid("login", reason)),
        None => return Err(invalid("login", "missing")),
    };
    let Some(username) = state.bot_username.clone() else {
        return Err(ApiError::internal(anyhow::anyhow!("the bot's username is not known")));
    };
    let created = state.recovery.create_prelink(&login).await.map_err(ApiError::internal)?;
    let Some((token, expires_at)) = created else { return Err(ApiError::NotFound) };
    let url = format!("https://t.me/{username}?start={PRELINK_PAYLOAD_PREFIX}{}", token.expose());
    Ok(ApiJson(LinkView { url, expires_at }))
}

fn invalid(field: &str, reason: &str) -> ApiError {
    let mut fields = BTreeMap::new();
    fields.insert(field.to_owned(), reason.to_owned());
    super::accounts::invalid(fields)
}
