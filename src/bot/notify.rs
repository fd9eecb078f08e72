//! Messages the bot sends on its own, outside a conversation. They go
//! through the `outbox` table: written first, delivered by a worker that
//! retries transient Telegram failures with backoff, so neither an outage
//! nor a restart loses one.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{InlineKeyboardMarkup, ReplyMarkup},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{BotT, PARSE_MODE, escape, keyboards};
use crate::{
    i18n::{arg, t_args},
    recovery::CompletedReset,
    store::{OutboxMessage, Store, StoreResult},
};

/// Gives up on a notice after this many attempts (about 17 minutes).
const MAX_ATTEMPTS: i64 = 10;
/// The longest the worker sleeps before looking at the outbox again.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// Queues notices; shared with the HTTP service. Cheap to clone.
#[derive(Clone)]
pub struct TelegramNotifier {
    store: Store,
    wake: Arc<Notify>,
}

impl TelegramNotifier {
    /// The notifier and the worker that delivers what it queues.
    pub fn new(bot: BotT, store: Store) -> (Self, OutboxWorker) {
        let wake = Arc::new(Notify::new());
        let worker = OutboxWorker { bot, store: store.clone(), wake: Arc::clone(&wake) };
        (Self { store, wake }, worker)
    }

    /// "Your password was changed", with an "It wasn't me" button.
    pub async fn password_changed(&self, done: &CompletedReset) -> StoreResult<()> {
        let text = t_args(done.lang, "password-changed", &[("login", arg(escape(&done.login)))]);
        self.enqueue(done.tg_user_id, &text, Some(keyboards::not_me(done.lang, done.account_id)))
            .await
    }

    async fn enqueue(
        &self,
        chat_id: i64,
        text: &str,
        markup: Option<InlineKeyboardMarkup>,
    ) -> StoreResult<()> {
        let markup = markup.and_then(|m| serde_json::to_string(&m).ok());
        self.store.enqueue_message(chat_id, text, markup.as_deref(), Utc::now()).await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// Delivers the outbox until shut down.
pub struct OutboxWorker {
    bot: BotT,
    store: Store,
    wake: Arc<Notify>,
}

impl OutboxWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::error!(%error, "outbox: database unavailable");
            }
            let pause = match self.store.next_message_due().await {
                Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or_default().min(IDLE_RECHECK),
                _ => IDLE_RECHECK,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn deliver_due(&self) -> StoreResult<()> {
        loop {
            let due = self.store.due_messages(Utc::now(), 50).await?;
            if due.is_empty() {
                return Ok(());
            }
            for message in due {
                self.deliver(message).await?;
            }
        }
    }

    async fn deliver(&self, message: OutboxMessage) -> StoreResult<()> {
        let mut request =
            self.bot.send_message(ChatId(message.chat_id), &message.text).parse_mode(PARSE_MODE);
        if let Some(markup) = &message.reply_markup {
            match serde_json::from_str::<InlineKeyboardMarkup>(markup) {
                Ok(markup) => request = request.reply_markup(ReplyMarkup::InlineKeyboard(markup)),
                Err(error) => tracing::error!(id = message.id, %error, "outbox: keyboard dropped"),
            }
        }
        let now = Utc::now();
        match request.await {
            Ok(_) => self.store.mark_message_sent(message.id, now).await,
            Err(error) if is_transient(&error) && message.attempts + 1 < MAX_ATTEMPTS => {
                let backoff = chrono::Duration::seconds(1 << message.attempts.clamp(0, 9));
                tracing::warn!(id = message.id, chat_id = message.chat_id, attempt = message.attempts + 1,
                    %error, "outbox: Telegram failed; will retry");
                self.store.retry_message_at(message.id, now + backoff, &error.to_string()).await
            }
            Err(error) => {
                tracing::error!(id = message.id, chat_id = message.chat_id, %error,
                    "outbox: notice not delivered; giving up");
                self.store.mark_message_failed(message.id, now, &error.to_string()).await
            }
        }
    }
}

/// Worth retrying: the network, Telegram's servers (5xx surface as unknown
/// API errors), garbage from a proxy. Not: the user blocked the bot, a bad
/// chat, any other definite refusal.
fn is_transient(error: &RequestError) -> bool {
    match error {
        RequestError::Network(_)
        | RequestError::Io(_)
        | RequestError::InvalidJson { .. }
        | RequestError::RetryAfter(_) => true,
        RequestError::Api(ApiError::Unknown(_)) => true,
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => false,
    }
}
