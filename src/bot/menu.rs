//! The menu, the commands, and the buttons that mean the same in every
//! state.

use teloxide::{
    prelude::*,
    types::{KeyboardRemove, ReplyMarkup},
};

use super::{
    BotDialogue, BotT, HandlerResult, Languages, answer_button,
    callbacks::{Callback, LanguageChoice, NotMe, Topic},
    commands::{Command, DEEP_LINK_RESET},
    desk::Desk,
    escape,
    identity::ask_for_contact,
    keyboards,
    state::{Purpose, State},
    support, telegram_user,
};
use crate::{
    domain::{Category, Lang},
    i18n::{arg, t, t_args},
    recovery::Recovery,
};

/// Sends `heading` with the main menu: one message.
pub async fn send_menu(bot: &BotT, chat: ChatId, lang: Lang, heading: String) -> HandlerResult {
    bot.send_message(chat, heading).reply_markup(keyboards::main_menu(lang)).await?;
    Ok(())
}

/// Leaves the current step for the menu; a ticket being written is dropped
/// (staff never saw it). A typed command leaves the contact keyboard open
/// on the screen (a message has one keyboard), so in that one case it is
/// closed first.
async fn back_to_menu(
    bot: &BotT,
    dialogue: &BotDialogue,
    previous: &State,
    lang: Lang,
    heading: String,
    recovery: &Recovery,
) -> HandlerResult {
    if let State::TicketDraft { ticket_id, .. } = previous {
        let user = crate::domain::TelegramUserId(dialogue.chat_id().0);
        recovery.user_closes(*ticket_id, user).await?;
    }
    to_menu_state(dialogue, previous).await?;
    let chat = dialogue.chat_id();
    if matches!(previous, State::AwaitingContact { .. }) {
        bot.send_message(chat, heading)
            .reply_markup(ReplyMarkup::KeyboardRemove(KeyboardRemove::new()))
            .await?;
        return send_menu(bot, chat, lang, t(lang, "menu-prompt")).await;
    }
    send_menu(bot, chat, lang, heading).await
}

/// Leaves the step for the menu; a chat already there costs no write.
async fn to_menu_state(dialogue: &BotDialogue, previous: &State) -> HandlerResult {
    if *previous != State::Menu {
        dialogue.update(State::Menu).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn on_command(
    bot: BotT,
    msg: Message,
    command: Command,
    dialogue: BotDialogue,
    state: State,
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    let chat = msg.chat.id;
    match command {
        // A deep link (t.me/<bot>?start=reset), e.g. from the CRM's sign-in
        // page, goes straight to "forgot password".
        Command::Start(payload) if payload.trim() == DEEP_LINK_RESET => {
            ask_for_contact(&bot, chat, lang, &dialogue, Purpose::ResetPassword).await?;
        }
        // A pre-link from a signed-in CRM session (`?start=link-…`).
        Command::Start(payload)
            if payload.trim().starts_with(crate::recovery::PRELINK_PAYLOAD_PREFIX) =>
        {
            super::binding::on_prelink_start(&bot, chat, lang, &recovery, &dialogue, &payload)
                .await?;
        }
        Command::Start(_) => {
            let name = msg.from.as_ref().map(|u| u.first_name.as_str()).unwrap_or_default();
            let greeting = t_args(lang, "start-greeting", &[("name", arg(escape(name)))]);
            back_to_menu(&bot, &dialogue, &state, lang, greeting, &recovery).await?;
        }
        Command::Help => {
            bot.send_message(chat, t(lang, "help-text"))
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
        }
        Command::Cancel => {
            back_to_menu(&bot, &dialogue, &state, lang, t(lang, "cancelled"), &recovery).await?;
        }
        Command::Language => {
            bot.send_message(chat, t(lang, "language-prompt"))
                .reply_markup(keyboards::languages())
                .await?;
        }
        Command::Status => {
            if let Some(user) = msg.from.as_ref() {
                support::status(&bot, chat, user, lang, &recovery, &desk).await?;
            }
        }
        Command::Privacy => {
            bot.send_message(chat, t(lang, "privacy-text"))
                .reply_markup(keyboards::talk_to_support(lang, Category::Other))
                .await?;
        }
    }
    Ok(())
}

/// Anything else sent in the menu state: into the user's open ticket if
/// they have one, else the menu again.
pub async fn on_other_message(
    bot: BotT,
    msg: Message,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    if support::relay_if_open(&msg, &recovery).await? {
        return Ok(());
    }
    let prompt = if msg.text().is_some_and(|text| text.starts_with('/')) {
        t(lang, "unknown-command")
    } else {
        t(lang, "menu-prompt")
    };
    send_menu(&bot, msg.chat.id, lang, prompt).await
}

pub async fn on_menu_button(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    state: State,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    back_to_menu(&bot, &dialogue, &state, lang, t(lang, "menu-prompt"), &recovery).await
}

#[allow(clippy::too_many_arguments)]
pub async fn on_topic(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    topic: Topic,
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let category = match topic {
        Topic::ForgotPassword => {
            return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::ResetPassword).await;
        }
        Topic::SubscriptionExpired => {
            return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::Subscription).await;
        }
        Topic::AccountLocked => {
            return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::AccountLocked).await;
        }
        Topic::LostTwoFactor => {
            return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::LostTwoFactor).await;
        }
        Topic::MySecurity => {
            return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::MySecurity).await;
        }
        // These paths cannot finish by themselves: a ticket for staff.
        Topic::LostContact => Category::LostContact,
        Topic::Other => Category::Other,
    };
    support::open(&bot, chat, &query.from, lang, &recovery, &desk, &dialogue, category, None).await
}

pub async fn on_language(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    state: State,
    LanguageChoice(chosen): LanguageChoice,
    recovery: Recovery,
    languages: Languages,
) -> HandlerResult {
    let user = telegram_user(&query.from);
    languages.choose(&recovery, user, chosen).await?;
    answer_button(&bot, &query, None).await;
    back_to_menu(&bot, &dialogue, &state, chosen, t(chosen, "language-set"), &recovery).await
}

/// "It wasn't me" under a password-changed notice: recovery of the account
/// is blocked and an urgent ticket opened at once, no questions asked.
pub async fn on_not_me(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    NotMe(account_id): NotMe,
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    let request = crate::recovery::TicketRequest {
        user: telegram_user(&query.from),
        user_name: support::full_name(&query.from),
        username: query.from.username.clone(),
        lang,
        category: Category::NotMe,
        account_id: Some(account_id),
    };
    let policy = desk.chat().map(|_| &desk.policy);
    let Some(ticket) = recovery.report_not_me(request, account_id, policy).await? else {
        // Not a change this user made: a forged or foreign button.
        answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
        return Ok(());
    };
    answer_button(&bot, &query, None).await;
    let (text, markup) = match ticket {
        Some(ticket) => (
            t_args(lang, "not-me-ticket", &[("ticket", arg(ticket.label()))]),
            keyboards::open_ticket(lang, ticket.id),
        ),
        None => (t(lang, "not-me-recorded"), keyboards::back_to_menu(lang)),
    };
    bot.send_message(dialogue.chat_id(), text).reply_markup(markup).await?;
    Ok(())
}

/// A button pressed where it means nothing: an old message, a step already
/// left.
pub async fn on_stale_button(bot: BotT, query: CallbackQuery, lang: Lang) -> HandlerResult {
    let chat = query.message.as_ref().map(|message| message.chat()).filter(|c| c.is_private());
    let chat = chat.map(|chat| chat.id);
    answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
    if let Some(chat) = chat {
        send_menu(&bot, chat, lang, t(lang, "button-stale")).await?;
    }
    Ok(())
}

/// A press that did not reach the dialogue. A payload we never produced (an
/// earlier version's) is out of date; one of ours in a private chat could
/// not be routed because the chat's state could not be read, which is a
/// failure the user is apologised for.
pub async fn on_unrouted_button(bot: BotT, query: CallbackQuery, lang: Lang) -> HandlerResult {
    let ours = query.data.as_deref().and_then(Callback::parse).is_some();
    let private = query.message.as_ref().is_some_and(|message| message.chat().is_private());
    if ours && private {
        anyhow::bail!("button press not routed: the dialogue state could not be read");
    }
    on_stale_button(bot, query, lang).await
}
