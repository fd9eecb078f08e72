//! Slash commands and their per-language registration with setMyCommands.

use teloxide::{prelude::*, types::BotCommand, utils::command::BotCommands};

use super::BotT;
use crate::{domain::Lang, i18n::t};

/// The `/start` payload that opens "forgot password" directly.
pub const DEEP_LINK_RESET: &str = "reset";

/// Descriptions shown by Telegram come from the locales (see
/// [`register_commands`]); the derive only parses.
#[derive(BotCommands, Clone, Debug, PartialEq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    Start(String),
    Help,
    Cancel,
    Language,
    Status,
    Privacy,
}

fn commands(lang: Lang) -> Vec<BotCommand> {
    [
        ("start", t(lang, "command-start")),
        ("help", t(lang, "command-help")),
        ("cancel", t(lang, "command-cancel")),
        ("language", t(lang, "command-language")),
        ("status", t(lang, "command-status")),
        ("privacy", t(lang, "command-privacy")),
    ]
    .into_iter()
    .map(|(name, description)| BotCommand::new(name, description))
    .collect()
}

/// Registers the command list: English as Telegram's default for every
/// client, Russian for Russian-speaking ones. Failure is logged, not fatal.
pub async fn register_commands(bot: &BotT) {
    let mut result = bot.set_my_commands(commands(Lang::En)).await.map(|_| ());
    for lang in Lang::ALL.into_iter().filter(|&lang| lang != Lang::default()) {
        if result.is_ok() {
            result =
                bot.set_my_commands(commands(lang)).language_code(lang.code()).await.map(|_| ());
        }
    }
    if let Err(error) = result {
        tracing::warn!(%error, "setMyCommands failed; the command menu may be outdated");
    }
}
