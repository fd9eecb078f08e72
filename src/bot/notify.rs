//! Messages the bot sends on its own, outside a conversation. They go
//! through the `outbox` table: written in the same transaction as the change
//! they report, delivered by a worker that retries transient Telegram
//! failures with backoff for a day, so neither an outage nor a restart
//! loses one.

use std::{sync::Arc, time::Duration};

use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{InlineKeyboardMarkup, ReplyMarkup},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{BotT, PARSE_MODE, escape, keyboards};
use crate::{
    clock::Clock,
    i18n::{arg, t_args},
    recovery::{CompletedReset, Notices},
    store::{NewNotice, OutboxMessage, Store, StoreResult},
};

/// Transient failures are retried with doubling pauses up to this long…
const MAX_BACKOFF_SECS: i64 = 600;
/// …for this long after the notice was queued; then it is given up.
const GIVE_UP_AFTER_HOURS: i64 = 24;
/// The longest the worker sleeps before looking at the outbox again.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// Renders notices for the outbox and wakes its worker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TelegramNotifier {
    wake: Arc<Notify>,
}

impl TelegramNotifier {
    /// The notifier and the worker that delivers what is queued. The worker
    /// keeps time by the same clock the rules use to queue.
    pub fn new(bot: BotT, store: Store, clock: Arc<dyn Clock>) -> (Self, OutboxWorker) {
        let wake = Arc::new(Notify::new());
        let worker = OutboxWorker { bot, store, clock, wake: Arc::clone(&wake) };
        (Self { wake }, worker)
    }
}

impl Notices for TelegramNotifier {
    /// "Your password was changed", with an "It wasn't me" button.
    fn password_changed(&self, done: &CompletedReset) -> NewNotice {
        let text = t_args(done.lang, "password-changed", &[("login", arg(escape(&done.login)))]);
        let markup = keyboards::not_me(done.lang, done.account_id);
        NewNotice {
            chat_id: done.tg_user_id,
            text,
            reply_markup: serde_json::to_string(&markup).ok(),
        }
    }

    fn queued(&self) {
        self.wake.notify_one();
    }
}

/// Delivers the outbox until shut down.
pub struct OutboxWorker {
    bot: BotT,
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl OutboxWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::error!(%error, "outbox: database unavailable");
            }
            let pause = match self.store.next_message_due().await {
                Ok(Some(due)) => {
                    (due - self.clock.now()).to_std().unwrap_or_default().min(IDLE_RECHECK)
                }
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
            let due = self.store.due_messages(self.clock.now(), 50).await?;
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
        let now = self.clock.now();
        match request.await {
            Ok(_) => self.store.mark_message_sent(message.id, now).await,
            Err(error)
                if is_transient(&error)
                    && now - message.created_at < chrono::Duration::hours(GIVE_UP_AFTER_HOURS) =>
            {
                let pause = (1_i64 << message.attempts.clamp(0, 10)).min(MAX_BACKOFF_SECS);
                let backoff = chrono::Duration::seconds(pause);
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
