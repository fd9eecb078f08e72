//! "My account is locked" after the identity step: why, since when and
//! until when, and what to do (wait and be told, or reset now).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teloxide::prelude::*;

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button, escape,
    identity::Reply,
    keyboards, show_time,
    state::{Purpose, State},
    telegram_user,
};
use crate::{
    domain::{AccountId, Category, Lang, Phone},
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
            (
                t_args(lang, "locked-permanently", &args),
                keyboards::talk_to_support(lang, Category::Locked),
            )
        }
        LockStatus::Blocked { since } => {
            let args = [login, ("since", arg(show_time(lang, since, zone, now)))];
            (
                t_args(lang, "locked-blocked", &args),
                keyboards::talk_to_support(lang, Category::Locked),
            )
        }
        LockStatus::NotLocked => {
            (t_args(lang, "locked-not-locked", &[login]), keyboards::not_locked(lang))
        }
    };
    if let Some(ended) = diagnosis.licence_ended {
        add_licence_ended(&mut text, lang, ended);
    }
    dialogue
        .update(State::LockExplained {
            phone: verified.phone.clone(),
            account_id: account.id,
            verified_at: verified.verified_at,
        })
        .await?;
    reply.send(bot, text, markup).await
}

/// Answers a press on a button of the explanation and finds the account it
/// acts on. If the proof of the phone has gone stale (or the account left
/// it), asks for the contact again, for a reset this time, and gives none.
async fn explained_account(
    bot: &BotT,
    query: &CallbackQuery,
    dialogue: &BotDialogue,
    (phone, account_id, verified_at): &(Phone, AccountId, DateTime<Utc>),
    lang: Lang,
    recovery: &Recovery,
) -> anyhow::Result<Option<VerifiedAccount>> {
    answer_button(bot, query, None).await;
    let user = telegram_user(&query.from);
    let verified = if recovery.contact_still_valid(*verified_at) {
        recovery.picked_account(user, phone, *account_id, *verified_at).await?
    } else {
        None
    };
    if verified.is_none() {
        dialogue.update(State::AwaitingContact { purpose: Purpose::ResetPassword }).await?;
        bot.send_message(dialogue.chat_id(), t(lang, "identity-contact-stale"))
            .reply_markup(keyboards::share_contact(lang))
            .await?;
    }
    Ok(verified)
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
    let found = explained_account(&bot, &query, &dialogue, &explained, lang, &recovery).await?;
    let Some(verified) = found else { return Ok(()) };
    let zone: Tz = verified.account.zone_or(settings.default_time_zone);
    let text = match recovery.notify_when_unlocked(&verified, lang).await? {
        UnlockNotice::Queued(until) => {
            let at = show_time(lang, until, zone, recovery.now());
            t_args(lang, "locked-will-notify", &[("until", arg(at))])
        }
        UnlockNotice::NothingToWaitFor => t(lang, "locked-nothing-to-wait-for"),
    };
    bot.send_message(dialogue.chat_id(), text).reply_markup(keyboards::back_to_menu(lang)).await?;
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
    let found = explained_account(&bot, &query, &dialogue, &explained, lang, &recovery).await?;
    let Some(verified) = found else { return Ok(()) };
    dialogue.update(State::Menu).await?;
    let reply = Reply::New(dialogue.chat_id());
    super::binding::send_link_or_code(&bot, reply, lang, &recovery, &settings, &dialogue, verified)
        .await
}

/// Adds the paragraph on a lapsed subscription to an answer: whatever else
/// the user does, nobody in the company works until it is renewed. A
/// licence runs through a calendar day (the CRM's dates are UTC days).
pub(super) fn add_licence_ended(text: &mut String, lang: Lang, ended: DateTime<Utc>) {
    let date = ("date", arg(ended.format("%d.%m.%Y").to_string()));
    text.push_str("\n\n");
    text.push_str(&t_args(lang, "locked-licence-ended", &[date]));
}
