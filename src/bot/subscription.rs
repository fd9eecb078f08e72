//! "Subscription expired" after the identity step: the licence of the
//! account's company as the CRM has it, what to do about it, and, when it
//! has lapsed, a button that tells the company's administrators.

use chrono::{DateTime, Utc};
use teloxide::prelude::*;

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button, callbacks::NotifyAdmins, escape,
    identity::Reply, keyboards, telegram_user,
};
use crate::{
    domain::Lang,
    i18n::{arg, t, t_args},
    recovery::{AdminAlert, Recovery, VerifiedAccount},
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
    let mut markup = keyboards::back_to_menu(lang);
    let text = match licence_end {
        None => t_args(lang, "subscription-unknown", &[company, login]),
        Some(until) if until > recovery.now() => {
            let date = ("date", arg(licence_date(lang, until)));
            t_args(lang, "subscription-active", &[company, login, date])
        }
        Some(until) => {
            markup = keyboards::licence_lapsed(lang, account.id);
            let date = ("date", arg(licence_date(lang, until)));
            t_args(lang, "subscription-expired-since", &[company, login, date])
        }
    };
    reply.send(bot, text, markup).await
}

/// "Notify my company administrator": the administrators reachable through
/// the bot are told, at most once a day per company. The user learns how
/// many were, or whom to ask instead, never who they are.
pub async fn on_notify_admins(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    NotifyAdmins(account_id): NotifyAdmins,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    let tg_user_id = telegram_user(&query.from);
    let Some(outcome) = recovery.alert_company_admins(tg_user_id, account_id).await? else {
        // Not an account this user proved: a forged or foreign button.
        answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
        return Ok(());
    };
    answer_button(&bot, &query, None).await;
    let text = match outcome {
        AdminAlert::Sent(count) => {
            t_args(lang, "subscription-admins-notified", &[("count", (count as i64).into())])
        }
        AdminAlert::AlreadySentToday => t(lang, "subscription-admins-already-notified"),
        AdminAlert::NoAdminReachable => t(lang, "subscription-no-admin-reachable"),
        AdminAlert::NotLapsed => t(lang, "subscription-not-lapsed"),
    };
    bot.send_message(dialogue.chat_id(), text).reply_markup(keyboards::back_to_menu(lang)).await?;
    Ok(())
}

/// A licence runs through a calendar day (the CRM's dates are UTC days).
pub(super) fn licence_date(lang: Lang, until: DateTime<Utc>) -> String {
    match lang {
        Lang::Ru => until.format("%d.%m.%Y").to_string(),
        Lang::En => until.format("%-d %B %Y").to_string(),
    }
}
