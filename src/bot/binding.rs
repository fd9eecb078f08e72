//! The second proof in the bot: a Telegram user not yet bound to the
//! account types the code mailed to the account's address before the link
//! is sent. The message with the typed code is deleted.

use teloxide::prelude::*;

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button, escape, identity::Reply,
    keyboards, reset, show_time, state::State, telegram_user,
};
use crate::{
    domain::{AccountId, Lang, Phone},
    i18n::{arg, t, t_args},
    recovery::{CodeCheck, CodeRequest, Recovery, VerifiedAccount},
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
    if recovery.needs_second_proof(verified.tg_user_id, verified.account.id).await? {
        if !recovery.can_mail_codes() {
            // Only a pre-link from the CRM, or support, can bind now.
            dialogue.update(State::Menu).await?;
            let markup = keyboards::talk_to_support(lang, crate::domain::Category::Other);
            return reply.send(bot, t(lang, "binding-needs-prelink"), markup).await;
        }
        return ask_for_code(bot, reply, lang, recovery, settings, dialogue, verified).await;
    }
    reset::send_link(bot, reply, lang, recovery, settings, verified).await.map(|_| ())
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
    if let Err(error) = bot.delete_message(chat, msg.id).await {
        tracing::info!(%error, "the typed code's message could not be deleted");
    }
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
