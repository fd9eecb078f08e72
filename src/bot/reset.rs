//! "Forgot password": the shared contact, the account pick, the link.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teloxide::{
    prelude::*,
    types::{KeyboardRemove, ReplyMarkup},
};

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, PARSE_MODE, escape, keyboards,
    menu::{current_state, send_menu},
    no_preview,
    state::State,
};
use crate::{
    domain::{Lang, Phone},
    i18n::{arg, t, t_args},
    recovery::{ContactClaim, ContactRefusal, IssueOutcome, Recovery},
};

pub async fn ask_for_contact(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    dialogue: &BotDialogue,
) -> HandlerResult {
    dialogue.update(State::AwaitingContact).await?;
    bot.send_message(chat, t(lang, "reset-ask-phone"))
        .parse_mode(PARSE_MODE)
        .reply_markup(keyboards::share_contact(lang))
        .await?;
    Ok(())
}

/// In `AwaitingContact`: only the sender's own, unforwarded contact passes;
/// anything else is explained and the button offered again.
pub async fn receive_contact(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    let chat = msg.chat.id;
    let (Some(contact), Some(sender)) = (msg.contact(), msg.from.as_ref()) else {
        if msg.text().is_some_and(keyboards::is_cancel_label) {
            dialogue.update(State::Menu).await?;
            return send_menu(&bot, chat, lang, t(lang, "cancelled"), &State::AwaitingContact)
                .await;
        }
        bot.send_message(chat, t(lang, "reset-contact-expected"))
            .parse_mode(PARSE_MODE)
            .reply_markup(keyboards::share_contact(lang))
            .await?;
        return Ok(());
    };
    let claim = ContactClaim {
        sender_id: sender.id.0 as i64,
        contact_user_id: contact.user_id.map(|id| id.0 as i64),
        phone: contact.phone_number.clone(),
        forwarded: msg.forward_origin().is_some(),
        private_chat: msg.chat.is_private(),
    };
    let phone = match recovery.verify_contact(&claim).await? {
        Ok(phone) => phone,
        Err(refusal) => {
            let text = match refusal {
                ContactRefusal::NotOwnContact => t(lang, "reset-contact-not-own"),
                ContactRefusal::NoUserId => t(lang, "reset-contact-no-user"),
                ContactRefusal::InvalidPhone => t(lang, "reset-contact-invalid"),
                ContactRefusal::NotPrivateChat => t(lang, "reset-contact-not-private"),
            };
            bot.send_message(chat, text)
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::share_contact(lang))
                .await?;
            return Ok(());
        }
    };
    bot.send_message(chat, t(lang, "reset-phone-verified"))
        .parse_mode(PARSE_MODE)
        .reply_markup(ReplyMarkup::KeyboardRemove(KeyboardRemove::new()))
        .await?;
    let accounts = recovery.accounts_for(claim.sender_id, &phone).await?;
    match accounts.as_slice() {
        [] => {
            dialogue.update(State::Menu).await?;
            bot.send_message(chat, t(lang, "reset-no-account"))
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::support_or_menu(lang))
                .await?;
        }
        [account] => {
            dialogue.update(State::Menu).await?;
            let outcome =
                recovery.issue_reset_link(claim.sender_id, &phone, account.id, lang).await?;
            send_outcome(&bot, chat, lang, &settings, outcome).await?;
        }
        several => {
            let account_ids = several.iter().map(|a| a.id).collect();
            let verified_at = recovery.now();
            dialogue.update(State::ChoosingAccount { phone, account_ids, verified_at }).await?;
            bot.send_message(chat, t(lang, "reset-choose-account"))
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::pick_account(lang, several))
                .await?;
        }
    }
    Ok(())
}

/// In `ChoosingAccount`, a typed message instead of a button press.
pub async fn remind_to_pick(bot: BotT, msg: Message, lang: Lang) -> HandlerResult {
    bot.send_message(msg.chat.id, t(lang, "reset-choose-account-hint"))
        .parse_mode(PARSE_MODE)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

/// A press on one of the account buttons; only accounts offered to this
/// chat for its verified phone are accepted.
pub async fn on_account_picked(
    bot: &BotT,
    query: CallbackQuery,
    lang: Lang,
    dialogue: &BotDialogue,
    recovery: &Recovery,
    settings: &BotSettings,
    account_id: i64,
) -> HandlerResult {
    let offered: Option<(Phone, DateTime<Utc>)> = match current_state(dialogue).await {
        State::ChoosingAccount { phone, account_ids, verified_at }
            if account_ids.contains(&account_id) =>
        {
            Some((phone, verified_at))
        }
        _ => None,
    };
    let Some((phone, verified_at)) = offered else {
        bot.answer_callback_query(query.id).text(t(lang, "button-stale")).await?;
        return Ok(());
    };
    bot.answer_callback_query(query.id).await?;
    if !recovery.contact_still_valid(verified_at) {
        bot.send_message(dialogue.chat_id(), t(lang, "reset-contact-stale"))
            .parse_mode(PARSE_MODE)
            .await?;
        return ask_for_contact(bot, dialogue.chat_id(), lang, dialogue).await;
    }
    dialogue.update(State::Menu).await?;
    let chat = dialogue.chat_id();
    let outcome =
        recovery.issue_reset_link(query.from.id.0 as i64, &phone, account_id, lang).await?;
    send_outcome(bot, chat, lang, settings, outcome).await
}

async fn send_outcome(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    settings: &BotSettings,
    outcome: IssueOutcome,
) -> HandlerResult {
    match outcome {
        IssueOutcome::Issued { url, expires_at, time_zone } => {
            let expires = escape(&local_time(expires_at, time_zone.as_deref(), settings));
            let text = t_args(
                lang,
                "reset-link-sent",
                &[("url", arg(escape(&url))), ("expires", arg(expires))],
            );
            bot.send_message(chat, text)
                .parse_mode(PARSE_MODE)
                .link_preview_options(no_preview())
                .protect_content(true)
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
        }
        IssueOutcome::RateLimited { retry_at, time_zone } => {
            let at = escape(&local_time(retry_at, time_zone.as_deref(), settings));
            bot.send_message(chat, t_args(lang, "reset-rate-limited", &[("time", arg(at))]))
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
        }
        IssueOutcome::NotYours => {
            bot.send_message(chat, t(lang, "button-stale"))
                .reply_markup(keyboards::main_menu(lang))
                .await?;
        }
    }
    Ok(())
}

/// "14:05 (Europe/Moscow)" in the account's zone, else the default one.
fn local_time(at: DateTime<Utc>, zone: Option<&str>, settings: &BotSettings) -> String {
    let tz = zone.and_then(|z| z.parse::<Tz>().ok()).unwrap_or(settings.default_time_zone);
    format!("{} ({})", at.with_timezone(&tz).format("%H:%M"), tz.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_accounts_zone_or_the_default() {
        let settings = BotSettings { default_time_zone: Tz::UTC };
        let at = DateTime::parse_from_rfc3339("2026-11-25T10:05:00Z").unwrap().to_utc();
        assert_eq!(local_time(at, Some("Europe/Moscow"), &settings), "13:05 (Europe/Moscow)");
        assert_eq!(local_time(at, None, &settings), "10:05 (UTC)");
        assert_eq!(local_time(at, Some("Nowhere/Else"), &settings), "10:05 (UTC)");
    }
}
