//! Health, readiness and metrics for operators: `GET /healthz` (200 when
//! the database answers), `GET /readyz` (200 `{"ready":true}` when this
//! instance can serve: the database answers and, in webhook mode, Telegram
//! has our webhook; else 503 naming what is not ready), and `GET /metrics`
//! (Prometheus text; no token: restrict it at the proxy).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use teloxide::prelude::Requester;
use url::Url;

use super::HttpState;
use crate::{bot::BotT, monitoring};

/// A database check that takes longer than this counts as down.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// getWebhookInfo is asked at most this often; answers are kept between.
const WEBHOOK_CHECK_EVERY: Duration = Duration::from_secs(5);

pub async fn healthz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.recovery.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// The last webhook check: when, and what it found.
type LastCheck = Option<(Instant, Result<(), String>)>;

/// Whether Telegram has our webhook, asked with getWebhookInfo at most
/// every few seconds.
#[derive(Clone)]
pub struct WebhookCheck {
    bot: BotT,
    url: Url,
    last: Arc<Mutex<LastCheck>>,
}

impl WebhookCheck {
    pub fn new(bot: BotT, url: Url) -> Self {
        Self { bot, url, last: Arc::default() }
    }

    async fn check(&self) -> Result<(), String> {
        if let Some((at, result)) = self.lock().as_ref()
            && at.elapsed() < WEBHOOK_CHECK_EVERY
        {
            return result.clone();
        }
        let result = match self.bot.get_webhook_info().await {
            Ok(info) if info.url.as_ref() == Some(&self.url) => Ok(()),
            Ok(info) => Err(match info.url {
                Some(other) => format!("Telegram posts updates to another URL ({other})"),
                None => "no webhook is set with Telegram".to_owned(),
            }),
            Err(error) => {
                monitoring::telegram_error(&error);
                Err(format!("getWebhookInfo failed: {error}"))
            }
        };
        *self.lock() = Some((Instant::now(), result.clone()));
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LastCheck> {
        self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<serde_json::Value>) {
    let mut not_ready = serde_json::Map::new();
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, state.recovery.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: database unreachable");
            not_ready.insert("database".into(), json!(error.to_string()));
        }
        Err(_elapsed) => {
            tracing::warn!("readiness: the database did not answer in time");
            not_ready.insert("database".into(), json!("no answer within 2 s"));
        }
    }
    if let Some(webhook) = &state.webhook_check
        && let Err(why) = webhook.check().await
    {
        tracing::warn!(why, "readiness: webhook not set");
        not_ready.insert("webhook".into(), json!(why));
    }
    if not_ready.is_empty() {
        (StatusCode::OK, Json(json!({ "ready": true })))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false, "not_ready": not_ready })))
    }
}

pub async fn metrics(State(state): State<HttpState>) -> Response {
    let text = monitoring::render(&state.recovery.store, state.recovery.now()).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
