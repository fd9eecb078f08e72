//! "My account is locked" after the identity step: why, since when and
//! until when, and what to do (wait and be told, or reset now).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teloxide::prelude::*;

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button, escape,
    identity::Reply,
    keyboards, reset, show_time,
    state::{Purpose, State},
    telegram_user,
};
use crate::{
    domain::{AccountId, Lang, Phone},
    i18n::{arg, t, t_args},
    recovery::{LockStatus, Recovery, UnlockNotice, VerifiedAccount},
};

/// Explains the verified account's lock; its buttons then act on it.
pub async fn explain(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    dialogue: &BotDialogue,
    verified: VerifiedAccount,
) -> HandlerResult {
    let account = &verified.account;
    let zone = account.zone_or(settings.default_time_zone);
    let now = recovery.now();
    let diagnosis = recovery.diagnose_lock(account).await?;
    let login = ("login", arg(escape(account.login.as_str())));
    let (mut text, markup) = match diagnosis.status {
        LockStatus::Temporary { failures, since, until } => {
            let args = [
                login,
                ("failures", failures.into()),
                ("since", arg(show_time(lang, since, zone, now))),
                ("until", arg(show_time(lang, until, zone, now))),
                ("minutes", recovery.minutes_until(until).into()),
            ];
            (t_args(lang, "locked-temporarily", &args), keyboards::temporary_lock(lang))
        }
        LockStatus::Permanent { since } => {
            let args = [login, ("since", arg(show_time(lang, since, zone, now)))];
            (t_args(lang, "locked-permanently", &args), keyboards::back_to_menu(lang))
        }
        LockStatus::Blocked { since } => {
            let args = [login, ("since", arg(show_time(lang, since, zone, now)))];
            (t_args(lang, "locked-blocked", &args), keyboards::back_to_menu(lang))
        }
        LockStatus::NotLocked => {
            (t_args(lang, "locked-not-locked", &[login]), keyboards::not_locked(lang))
        }
    };
    if let Some(ended) = diagnosis.licence_ended {
        text.push_str("\n\n");
        text.push_str(&t_args(lang, "locked-licence-ended", &[("date", arg(licence_day(ended)))]));
    }
    dialogue
        .update(State::LockExplained {
            phone: verified.phone.clone(),
            account_id: account.id,
            verified_at: verified.verified_at,
        })
        .await?;
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

/// The account explained in this chat, while the proof of its phone holds.
async fn explained_account(
    recovery: &Recovery,
    query: &CallbackQuery,
    (phone, account_id, verified_at): &(Phone, AccountId, DateTime<Utc>),
) -> anyhow::Result<Option<VerifiedAccount>> {
    if !recovery.contact_still_valid(*verified_at) {
        return Ok(None);
    }
    let user = telegram_user(&query.from);
    Ok(recovery.picked_account(user, phone, *account_id, *verified_at).await?)
}

/// "Notify me when it unlocks": a message when the temporary lock ends.
pub async fn on_notify_unlock(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    explained: (Phone, AccountId, DateTime<Utc>),
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let Some(verified) = explained_account(&recovery, &query, &explained).await? else {
        return ask_again(&bot, chat, lang, &dialogue).await;
    };
    let zone: Tz = verified.account.zone_or(settings.default_time_zone);
    let text = match recovery.notify_when_unlocked(&verified, lang).await? {
        UnlockNotice::Queued(until) => {
            let at = show_time(lang, until, zone, recovery.now());
            t_args(lang, "locked-will-notify", &[("until", arg(at))])
        }
        UnlockNotice::NothingToWaitFor => t(lang, "locked-nothing-to-wait-for"),
    };
    bot.send_message(chat, text).reply_markup(keyboards::back_to_menu(lang)).await?;
    Ok(())
}

/// "Reset the password now": the reset link for the explained account; a
/// successful reset lifts a temporary lock.
pub async fn on_reset_now(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    explained: (Phone, AccountId, DateTime<Utc>),
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let Some(verified) = explained_account(&recovery, &query, &explained).await? else {
        return ask_again(&bot, chat, lang, &dialogue).await;
    };
    dialogue.update(State::Menu).await?;
    reset::send_link(&bot, Reply::New(chat), lang, &recovery, &settings, verified).await
}

/// The phone was proved too long ago (or the account left it): prove it
/// again, for the reset this time.
async fn ask_again(bot: &BotT, chat: ChatId, lang: Lang, dialogue: &BotDialogue) -> HandlerResult {
    dialogue.update(State::AwaitingContact { purpose: Purpose::ResetPassword }).await?;
    bot.send_message(chat, t(lang, "identity-contact-stale"))
        .reply_markup(keyboards::share_contact(lang))
        .await?;
    Ok(())
}

/// A licence runs through a calendar day (the CRM's dates are UTC days).
fn licence_day(ended: DateTime<Utc>) -> String {
    ended.format("%d.%m.%Y").to_string()
}
