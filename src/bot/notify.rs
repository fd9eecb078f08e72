//! Messages the bot sends on its own, outside a conversation.

use teloxide::prelude::*;

use super::{BotT, PARSE_MODE, escape, keyboards};
use crate::{
    i18n::{arg, t_args},
    recovery::CompletedReset,
};

/// Sends notices to users; shared with the HTTP service.
#[derive(Clone)]
pub struct TelegramNotifier {
    bot: BotT,
}

impl TelegramNotifier {
    pub fn new(bot: BotT) -> Self {
        Self { bot }
    }

    /// "Your password was changed", with an "It wasn't me" button. Telegram
    /// errors are retried by the throttle adaptor; what still fails is logged.
    pub async fn password_changed(&self, done: &CompletedReset) {
        let text = t_args(done.lang, "password-changed", &[("login", arg(escape(&done.login)))]);
        let sent = self
            .bot
            .send_message(ChatId(done.tg_user_id), text)
            .parse_mode(PARSE_MODE)
            .reply_markup(keyboards::not_me(done.lang, done.account_id))
            .await;
        if let Err(error) = sent {
            tracing::error!(tg_user_id = done.tg_user_id, account_id = done.account_id, %error,
                "password-changed notice not delivered");
        }
    }
}
