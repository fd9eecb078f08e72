//! Telegram's posts in webhook mode (`BOT_MODE=webhook`), served on
//! `WEBHOOK_URL`'s path beside the page and the API. A post is believed
//! only with the secret given to setWebhook in its
//! `X-Telegram-Bot-Api-Secret-Token` header; the update is queued for the
//! dispatcher and answered at once, so Telegram never waits for a handler.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode},
};
use subtle::ConstantTimeEq;
use teloxide::types::Update;

use super::{HttpState, client::client_ip};
use crate::bot::Inbox;

/// The header Telegram sends the secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Where webhook posts go, and the secret they must carry.
#[derive(Clone)]
pub struct WebhookIntake {
    inbox: Inbox,
    secret: Arc<[u8]>,
    /// The path served: `WEBHOOK_URL`'s.
    pub(super) path: String,
}

impl WebhookIntake {
    pub fn new(inbox: Inbox, path: &str, secret: &str) -> Self {
        Self { inbox, secret: secret.as_bytes().into(), path: path.to_owned() }
    }
}

pub async fn receive(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(intake) = &state.webhook else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers.get(SECRET_HEADER).map(|value| value.as_bytes());
    // Compared in constant time: the answer's timing tells nothing of it.
    let believed = given.is_some_and(|given| bool::from(given.ct_eq(&intake.secret)));
    if !believed {
        let client = client_ip(peer, &headers, state.page.trusted_proxies());
        let header = if given.is_some() { "wrong" } else { "missing" };
        tracing::warn!(%client, header, "webhook post refused: wrong or missing secret token");
        return StatusCode::UNAUTHORIZED;
    }
    let update = match serde_json::from_slice::<Update>(&body) {
        Ok(update) => update,
        Err(error) => {
            // The body is not logged: an update may hold a user's phone.
            tracing::error!(line = error.line(), column = error.column(), kind = ?error.classify(),
                "webhook post is not an update; ignored");
            return StatusCode::BAD_REQUEST;
        }
    };
    // Kept before Telegram hears 200; not kept, Telegram sends it again
    // (to this or another replica).
    match intake.inbox.keep(vec![update]).await {
        Ok(()) => StatusCode::OK,
        Err(error) => {
            tracing::error!(%error, "webhook update not kept; Telegram will send it again");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
