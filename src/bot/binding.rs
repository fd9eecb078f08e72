//! The second proof in the bot: a Telegram user not yet bound to the
//! account types the code mailed to the account's address before the link
//! is sent (the message with the typed code is deleted), or, under the hold
//! policy, waits until the hold is over.

use teloxide::prelude::*;

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button, delete_quietly, escape,
    identity::Reply, keyboards, reset, show_time, state::State, telegram_user,
};
use crate::{
    domain::{AccountId, Lang, Phone},
    i18n::{arg, t, t_args},
    recovery::{CodeCheck, CodeRequest, HoldStatus, Recovery, SecondProof, VerifiedAccount},
};

/// The link, or first the code when this Telegram user is not yet bound to
/// the account.
pub async fn send_link_or_code(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    dialogue: &BotDialogue,
    verified: VerifiedAccount,
) -> HandlerResult {
    match recovery.second_proof(verified.tg_user_id, &verified.account).await? {
        SecondProof::None => {}
        SecondProof::PrelinkOnly => {
            // Only a pre-link from the CRM, or support, can bind now.
            dialogue.update(State::Menu).await?;
            let markup = keyboards::talk_to_support(lang, crate::domain::Category::Other);
            return reply.send(bot, t(lang, "binding-needs-prelink"), markup).await;
        }
        SecondProof::MailedCode => {
            return ask_for_code(bot, reply, lang, recovery, settings, dialogue, verified).await;
        }
        SecondProof::Hold => {
            dialogue.update(State::Menu).await?;
            let zone = verified.account.zone_or(settings.default_time_zone);
            let now = recovery.now();
            let time = |at| arg(show_time(lang, at, zone, now));
            let (text, markup) = match recovery.request_hold(&verified, lang).await? {
                HoldStatus::Ended => {
                    return reset::send_link(bot, reply, lang, recovery, settings, verified)
                        .await
                        .map(|_| ());
                }
                HoldStatus::Started { hold_id, masked_email, until } => {
                    let args = [("email", arg(escape(&masked_email))), ("until", time(until))];
                    (t_args(lang, "hold-started", &args), keyboards::hold(lang, hold_id))
                }
                HoldStatus::Waiting { hold_id, until } => (
                    t_args(lang, "hold-waiting", &[("until", time(until))]),
                    keyboards::hold(lang, hold_id),
                ),
                HoldStatus::CancelledByOwner => (
                    t(lang, "hold-cancelled-by-owner"),
                    keyboards::talk_to_support(lang, crate::domain::Category::Other),
                ),
                HoldStatus::TooMany { retry_at } => (
                    t_args(lang, "hold-too-many", &[("time", time(retry_at))]),
                    keyboards::back_to_menu(lang),
                ),
            };
            return reply.send(bot, text, markup).await;
        }
    }
    reset::send_link(bot, reply, lang, recovery, settings, verified).await.map(|_| ())
}

/// "Withdraw the request" under a hold: only the hold's own user can.
pub async fn on_withdraw_hold(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    hold_id: i64,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let user = telegram_user(&query.from);
    let text = if recovery.withdraw_hold(user, hold_id).await? {
        t(lang, "hold-withdrawn")
    } else {
        t(lang, "button-stale")
    };
    let chat = dialogue.chat_id();
    let reply = match query.message.as_ref() {
        Some(message) => Reply::Edit(chat, message.id()),
        None => Reply::New(chat),
    };
    reply.send(&bot, text, keyboards::back_to_menu(lang)).await
}

/// Mails a code and asks for it.
async fn ask_for_code(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    dialogue: &BotDialogue,
    verified: VerifiedAccount,
) -> HandlerResult {
    let zone = verified.account.zone_or(settings.default_time_zone);
    let now = recovery.now();
    let (text, markup) = match recovery.send_binding_code(&verified, lang).await? {
        CodeRequest::Sent { masked_email, expires_at } => {
            dialogue
                .update(State::AwaitingCode {
                    account_id: verified.account.id,
                    phone: verified.phone.clone(),
                })
                .await?;
            let text = t_args(
                lang,
                "binding-code-sent",
                &[
                    ("email", arg(escape(&masked_email))),
                    ("until", arg(show_time(lang, expires_at, zone, now))),
                ],
            );
            (text, keyboards::new_code(lang))
        }
        CodeRequest::TooMany { retry_at } => {
            dialogue.update(State::Menu).await?;
            let text = t_args(
                lang,
                "binding-code-too-many",
                &[("time", arg(show_time(lang, retry_at, zone, now)))],
            );
            (text, keyboards::back_to_menu(lang))
        }
    };
    reply.send(bot, text, markup).await
}

/// In `AwaitingCode`: the typed code. Its message is deleted either way.
#[allow(clippy::too_many_arguments)]
pub async fn on_code_message(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    (account_id, phone): (AccountId, Phone),
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    let chat = msg.chat.id;
    let Some(user) = msg.from.as_ref().map(telegram_user) else { return Ok(()) };
    let Some(typed) = msg.text() else {
        bot.send_message(chat, t(lang, "binding-code-expected"))
            .reply_markup(keyboards::new_code(lang))
            .await?;
        return Ok(());
    };
    delete_quietly(&bot, chat, msg.id).await;
    let (text, markup) = match recovery.check_binding_code(user, account_id, typed).await? {
        CodeCheck::Right => {
            dialogue.update(State::Menu).await?;
            let Some(account) =
                recovery.store.account(account_id).await?.filter(|account| account.is_active())
            else {
                return super::menu::send_menu(&bot, chat, lang, t(lang, "button-stale")).await;
            };
            let verified =
                VerifiedAccount { tg_user_id: user, phone, verified_at: recovery.now(), account };
            return reset::send_link(&bot, Reply::New(chat), lang, &recovery, &settings, verified)
                .await
                .map(|_| ());
        }
        CodeCheck::Wrong { left } => (
            t_args(lang, "binding-code-wrong", &[("left", left.into())]),
            keyboards::new_code(lang),
        ),
        CodeCheck::Expired | CodeCheck::TooManyTries => {
            (t(lang, "binding-code-expired"), keyboards::new_code(lang))
        }
    };
    bot.send_message(chat, text).reply_markup(markup).await?;
    Ok(())
}

/// "Send a new code", in `AwaitingCode`.
#[allow(clippy::too_many_arguments)]
pub async fn on_new_code(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (account_id, phone): (AccountId, Phone),
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let user = telegram_user(&query.from);
    let account = recovery.store.account(account_id).await?.filter(|account| account.is_active());
    // The phone must still be this account's.
    let Some(account) = account.filter(|account| account.phone == phone) else {
        dialogue.update(State::Menu).await?;
        return super::menu::send_menu(&bot, chat, lang, t(lang, "button-stale")).await;
    };
    let verified =
        VerifiedAccount { tg_user_id: user, phone, verified_at: recovery.now(), account };
    ask_for_code(&bot, Reply::New(chat), lang, &recovery, &settings, &dialogue, verified).await
}

/// `/start link-…` from the CRM: which account it binds, and a button to
/// confirm. A used, expired or unknown link gets one neutral answer.
pub async fn on_prelink_start(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    recovery: &Recovery,
    dialogue: &BotDialogue,
    payload: &str,
) -> HandlerResult {
    let Some((prelink_id, account)) = recovery.open_prelink(payload).await? else {
        dialogue.update(State::Menu).await?;
        bot.send_message(chat, t(lang, "prelink-invalid"))
            .reply_markup(keyboards::back_to_menu(lang))
            .await?;
        return Ok(());
    };
    dialogue.update(State::ConfirmingLink { prelink_id }).await?;
    let text = t_args(
        lang,
        "prelink-ask",
        &[
            ("login", arg(escape(&account.masked_login()))),
            ("company", arg(escape(&account.company))),
        ],
    );
    bot.send_message(chat, text).reply_markup(keyboards::confirm_link(lang)).await?;
    Ok(())
}

/// "Link", in `ConfirmingLink`: this Telegram user is bound.
pub async fn on_confirm_link(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    prelink_id: i64,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    dialogue.update(State::Menu).await?;
    let user = telegram_user(&query.from);
    let text = match recovery.confirm_prelink(prelink_id, user, lang).await? {
        Some(account) => {
            t_args(lang, "prelink-done", &[("login", arg(escape(&account.masked_login())))])
        }
        None => t(lang, "prelink-invalid"),
    };
    let chat = dialogue.chat_id();
    match query.message.as_ref() {
        Some(message) => {
            Reply::Edit(chat, message.id()).send(&bot, text, keyboards::back_to_menu(lang)).await
        }
        None => Reply::New(chat).send(&bot, text, keyboards::back_to_menu(lang)).await,
    }
}
