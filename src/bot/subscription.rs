//! "Subscription expired" after the identity step: the licence of the
//! account's company as the CRM has it, and what to do about it.

use chrono::{DateTime, Utc};
use teloxide::prelude::*;

use super::{BotSettings, BotT, HandlerResult, escape, identity::Reply, keyboards};
use crate::{
    domain::Lang,
    i18n::{arg, t_args},
    recovery::{Recovery, VerifiedAccount},
};

/// Tells the verified user whether their company's licence is active.
pub async fn show(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    _settings: &BotSettings,
    verified: VerifiedAccount,
) -> HandlerResult {
    let account = &verified.account;
    // The licence is the company's, shared by all its accounts.
    let licence_end = recovery.company_of(account).await?.and_then(|c| c.license_expires_at);
    let company = ("company", arg(escape(&account.company)));
    let login = ("login", arg(escape(account.login.as_str())));
    let text = match licence_end {
        None => t_args(lang, "subscription-unknown", &[company, login]),
        Some(until) if until > recovery.now() => {
            let date = ("date", arg(licence_date(lang, until)));
            t_args(lang, "subscription-active", &[company, login, date])
        }
        Some(until) => {
            let date = ("date", arg(licence_date(lang, until)));
            t_args(lang, "subscription-expired-since", &[company, login, date])
        }
    };
    let markup = keyboards::back_to_menu(lang);
    match reply {
        Reply::New(chat) => {
            bot.send_message(chat, text).reply_markup(markup).await?;
        }
        Reply::Edit(chat, message_id) => {
            bot.edit_message_text(chat, message_id, text).reply_markup(markup).await?;
        }
    }
    Ok(())
}

/// A licence runs through a calendar day (the CRM's dates are UTC days).
fn licence_date(lang: Lang, until: DateTime<Utc>) -> String {
    match lang {
        Lang::Ru => until.format("%d.%m.%Y").to_string(),
        Lang::En => until.format("%-d %B %Y").to_string(),
    }
}
