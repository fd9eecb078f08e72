//! The Telegram side: teloxide types stop here.

pub(crate) mod binding;
pub mod budget;
pub mod callbacks;
mod commands;
pub mod desk;
mod identity;
pub mod inbox;
mod keyboards;
mod locked;
mod menu;
mod outbox;
pub mod paced;
mod reset;
pub mod schema;
mod staff;
pub mod state;
pub mod storage;
mod subscription;
mod support;
pub(crate) mod text;
mod two_factor;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teloxide::{
    adaptors::{DefaultParseMode, throttle::Limits},
    dispatching::dialogue::Dialogue,
    prelude::*,
    types::{LinkPreviewOptions, ParseMode},
};

pub use commands::register_commands;
pub use desk::Desk;
pub use inbox::{Fatal, Inbox};
pub use outbox::{OutboxHandle, OutboxWorker};
pub use state::{Purpose, State};
pub use storage::DialogueStorage;

use crate::{
    domain::{Lang, TelegramUserId},
    recovery::Recovery,
    store::Store,
};

/// Bot-wide settings handlers need.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// Used to show times when the account has no time zone of its own.
    pub default_time_zone: Tz,
}

/// The bot type every handler takes: one alias, so the dispatcher's and the
/// handlers' types cannot drift apart. Every text is HTML, so values are
/// escaped uniformly ([`escape`]).
pub type BotT = paced::Paced<DefaultParseMode<Bot>>;
pub type BotDialogue = Dialogue<State, DialogueStorage>;
pub type HandlerResult = anyhow::Result<()>;

/// The Bot API client: the given API URL, HTML by default, Telegram's rate
/// limits (and retries on 429) through [`paced`].
pub fn client(token: &str, api_url: url::Url, limits: Limits) -> BotT {
    paced::Paced::new(Bot::new(token).set_api_url(api_url).parse_mode(ParseMode::Html), limits)
}

/// Telegram's own link preview would fetch one-time links before the user
/// does; every message with a link is sent with previews off.
pub(crate) fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// Stops the client's spinner on a pressed button, with an optional short
/// notice. Best effort: Telegram refuses answers to presses that are too old
/// (for example ones delivered after a restart), and the action the press
/// asked for must still happen, so a refusal is only logged.
pub(crate) async fn answer_button(bot: &BotT, query: &CallbackQuery, notice: Option<String>) {
    let mut answer = bot.answer_callback_query(query.id.clone());
    if let Some(text) = notice {
        answer = answer.text(text);
    }
    if let Err(error) = answer.await {
        tracing::info!(%error, "button press not answered (too old?)");
    }
}

/// Deletes a message holding a secret (a typed code, a setup key); a
/// failure (too old, gone) is logged.
pub(crate) async fn delete_quietly(bot: &BotT, chat: ChatId, id: teloxide::types::MessageId) {
    if let Err(error) = bot.delete_message(chat, id).await {
        tracing::info!(%error, "a message holding a secret could not be deleted");
    }
}

/// Escapes a value inserted into an HTML message.
pub(crate) fn escape(value: &str) -> String {
    teloxide::utils::html::escape(value)
}

/// A time as people read it, in `zone`, in `lang`; HTML-escaped.
pub(crate) fn show_time(lang: Lang, at: DateTime<Utc>, zone: Tz, now: DateTime<Utc>) -> String {
    escape(&crate::i18n::local_time(lang, at, zone, now))
}

/// The languages users chose with /language, read from the database once
/// per user and process and kept, since every update needs one. A choice
/// made in this process updates the copy; one made in another instance on
/// the same database is seen after a restart of this one.
#[derive(Debug, Clone, Default)]
pub struct Languages {
    chosen: Arc<Mutex<HashMap<TelegramUserId, Option<Lang>>>>,
}

impl Languages {
    /// Users remembered at most; beyond that the copy starts afresh.
    const CAPACITY: usize = 100_000;

    /// The language of this Telegram user: their /language choice, else
    /// what their client says.
    pub async fn of(&self, store: &Store, user: Option<&teloxide::types::User>) -> Lang {
        let Some(user) = user else {
            return Lang::default();
        };
        let client = Lang::from_code(user.language_code.as_deref());
        let id = telegram_user(user);
        if let Some(known) = self.lock().get(&id) {
            return known.unwrap_or(client);
        }
        match store.chosen_language(id).await {
            Ok(chosen) => {
                self.remember(id, chosen);
                chosen.unwrap_or(client)
            }
            Err(error) => {
                tracing::warn!(%error, "language lookup failed; using the client's");
                client
            }
        }
    }

    /// Reads in one statement the choices of those of `users` not
    /// remembered yet (a claim's private chats, whose ids are their
    /// users'), so that their handlers need not. If that fails, each
    /// handler reads its own.
    pub(crate) async fn read_ahead(&self, store: &Store, users: &[TelegramUserId]) {
        let unknown: Vec<TelegramUserId> = {
            let chosen = self.lock();
            users.iter().filter(|user| !chosen.contains_key(user)).copied().collect()
        };
        if unknown.is_empty() {
            return;
        }
        match store.chosen_languages(&unknown).await {
            Ok(found) => {
                let found: HashMap<_, _> = found.into_iter().collect();
                for user in unknown {
                    self.remember(user, found.get(&user).copied().flatten());
                }
            }
            Err(error) => tracing::warn!(%error, "languages not read for a claim"),
        }
    }

    /// Stores a /language choice.
    pub async fn choose(
        &self,
        recovery: &Recovery,
        user: TelegramUserId,
        lang: Lang,
    ) -> anyhow::Result<()> {
        recovery.store.choose_language(user, lang, recovery.now()).await?;
        self.remember(user, Some(lang));
        Ok(())
    }

    fn remember(&self, user: TelegramUserId, lang: Option<Lang>) {
        let mut chosen = self.lock();
        if chosen.len() >= Self::CAPACITY {
            chosen.clear();
        }
        chosen.insert(user, lang);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TelegramUserId, Option<Lang>>> {
        self.chosen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Our id type for a Telegram user. Ids fit in 52 bits (Bot API).
pub(crate) fn telegram_user(user: &teloxide::types::User) -> TelegramUserId {
    TelegramUserId(user.id.0 as i64)
}
