//! The Telegram side: teloxide types stop here.

pub mod callbacks;
mod commands;
mod keyboards;
mod menu;
mod notify;
pub mod reset;
pub mod schema;
pub mod state;

use teloxide::{
    adaptors::Throttle,
    dispatching::dialogue::Dialogue,
    prelude::*,
    types::{LinkPreviewOptions, ParseMode},
};

pub use commands::register_commands;
pub use notify::{OutboxWorker, TelegramNotifier};
pub use state::State;

use crate::{domain::Lang, store::Store};

/// Bot-wide settings handlers need.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// Used to show times when the account has no time zone of its own.
    pub default_time_zone: chrono_tz::Tz,
}

/// The bot type every handler takes: one alias, so the dispatcher's and the
/// handlers' types cannot drift apart.
pub type BotT = Throttle<Bot>;
pub type BotDialogue = Dialogue<State, Store>;
pub type HandlerResult = anyhow::Result<()>;

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

/// All texts are sent as HTML so that values can be escaped uniformly.
pub(crate) const PARSE_MODE: ParseMode = ParseMode::Html;

/// Escapes a value inserted into an HTML message.
pub(crate) fn escape(value: &str) -> String {
    teloxide::utils::html::escape(value)
}

/// The language of this Telegram user: their /language choice, else what
/// their client says.
pub async fn user_lang(store: &Store, user: Option<&teloxide::types::User>) -> Lang {
    let Some(user) = user else {
        return Lang::default();
    };
    match store.chosen_language(user.id.0 as i64).await {
        Ok(Some(lang)) => lang,
        Ok(None) => Lang::from_code(user.language_code.as_deref()),
        Err(error) => {
            tracing::warn!(%error, "language lookup failed; using the client's");
            Lang::from_code(user.language_code.as_deref())
        }
    }
}
