//! The menu, commands and the callback router.

use std::sync::Arc;

use teloxide::{
    prelude::*,
    types::{KeyboardRemove, ReplyMarkup},
};

use super::{
    BotDialogue, BotT, HandlerResult, PARSE_MODE,
    callbacks::{Callback, Topic},
    commands::{Command, DEEP_LINK_RESET},
    escape, keyboards, reset,
    state::State,
};
use crate::{
    domain::Lang,
    i18n::{arg, t, t_args},
    recovery::Recovery,
    store::Store,
};

/// Sends `heading` with the main menu. If the contact keyboard was open it is
/// closed first (a message can carry only one keyboard).
pub async fn send_menu(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    heading: String,
    previous: &State,
) -> HandlerResult {
    if matches!(previous, State::AwaitingContact) {
        bot.send_message(chat, heading)
            .parse_mode(PARSE_MODE)
            .reply_markup(ReplyMarkup::KeyboardRemove(KeyboardRemove::new()))
            .await?;
        bot.send_message(chat, t(lang, "menu-prompt"))
            .reply_markup(keyboards::main_menu(lang))
            .await?;
    } else {
        bot.send_message(chat, heading)
            .parse_mode(PARSE_MODE)
            .reply_markup(keyboards::main_menu(lang))
            .await?;
    }
    Ok(())
}

/// The dialogue's state, or the menu if it has none (or an unreadable one).
pub async fn current_state(dialogue: &BotDialogue) -> State {
    match dialogue.get().await {
        Ok(state) => state.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, chat_id = dialogue.chat_id().0, "dialogue state unreadable");
            State::default()
        }
    }
}

pub async fn on_command(
    bot: BotT,
    msg: Message,
    command: Command,
    dialogue: BotDialogue,
    lang: Lang,
) -> HandlerResult {
    let chat = msg.chat.id;
    let previous = current_state(&dialogue).await;
    match command {
        // A deep link (t.me/<bot>?start=reset), e.g. from the CRM's sign-in
        // page, goes straight to "forgot password".
        Command::Start(payload) if payload.trim() == DEEP_LINK_RESET => {
            reset::ask_for_contact(&bot, chat, lang, &dialogue).await?;
        }
        Command::Start(_) => {
            dialogue.update(State::Menu).await?;
            let name = msg.from.as_ref().map(|u| u.first_name.as_str()).unwrap_or_default();
            let greeting = t_args(lang, "start-greeting", &[("name", arg(escape(name)))]);
            send_menu(&bot, chat, lang, greeting, &previous).await?;
        }
        Command::Help => {
            bot.send_message(chat, t(lang, "help-text"))
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
        }
        Command::Cancel => {
            dialogue.update(State::Menu).await?;
            send_menu(&bot, chat, lang, t(lang, "cancelled"), &previous).await?;
        }
        Command::Language => {
            bot.send_message(chat, t(lang, "language-prompt"))
                .reply_markup(keyboards::languages())
                .await?;
        }
    }
    Ok(())
}

/// Anything else typed in the menu state: show the menu again.
pub async fn on_other_message(bot: BotT, msg: Message, lang: Lang) -> HandlerResult {
    let prompt = if msg.text().is_some_and(|text| text.starts_with('/')) {
        t(lang, "unknown-command")
    } else {
        t(lang, "menu-prompt")
    };
    send_menu(&bot, msg.chat.id, lang, prompt, &State::Menu).await
}

/// Every inline button lands here; each is answered, so no client spinner
/// is left turning, and stale or foreign payloads get a short notice.
pub async fn on_callback(
    bot: BotT,
    query: CallbackQuery,
    lang: Lang,
    storage: Arc<Store>,
    recovery: Recovery,
    settings: super::BotSettings,
) -> HandlerResult {
    let callback = query.data.as_deref().and_then(Callback::parse);
    let (Some(chat), Some(callback)) = (query.message.as_ref().map(|m| m.chat().id), callback)
    else {
        bot.answer_callback_query(query.id).text(t(lang, "button-stale")).await?;
        return Ok(());
    };
    let dialogue = BotDialogue::new(storage, chat);
    let user_id = query.from.id.0 as i64;
    match callback {
        Callback::Menu => {
            bot.answer_callback_query(query.id).await?;
            let previous = current_state(&dialogue).await;
            dialogue.update(State::Menu).await?;
            send_menu(&bot, chat, lang, t(lang, "menu-prompt"), &previous).await?;
        }
        Callback::Topic(Topic::ForgotPassword) => {
            bot.answer_callback_query(query.id).await?;
            reset::ask_for_contact(&bot, chat, lang, &dialogue).await?;
        }
        Callback::Topic(topic) => {
            bot.answer_callback_query(query.id).await?;
            explain_topic(&bot, chat, lang, topic).await?;
        }
        Callback::PickAccount(account_id) => {
            reset::on_account_picked(
                &bot, query, lang, &dialogue, &recovery, &settings, account_id,
            )
            .await?;
        }
        Callback::Language(chosen) => {
            recovery.store.choose_language(user_id, chosen, recovery.now()).await?;
            bot.answer_callback_query(query.id).await?;
            let previous = current_state(&dialogue).await;
            dialogue.update(State::Menu).await?;
            send_menu(&bot, chat, chosen, t(chosen, "language-set"), &previous).await?;
        }
        Callback::NotMe(account_id) => {
            recovery.record_dispute(user_id, account_id).await;
            bot.answer_callback_query(query.id).await?;
            bot.send_message(chat, t(lang, "not-me-recorded"))
                .parse_mode(PARSE_MODE)
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
        }
    }
    Ok(())
}

/// The topics the bot does not resolve by itself yet: what the guide says
/// to do, and where to go next.
async fn explain_topic(bot: &BotT, chat: ChatId, lang: Lang, topic: Topic) -> HandlerResult {
    let (text, markup) = match topic {
        Topic::AccountLocked => {
            (t(lang, "topic-account-locked"), keyboards::locked_next_steps(lang))
        }
        Topic::LostTwoFactor => (t(lang, "topic-lost-2fa"), keyboards::support_or_menu(lang)),
        Topic::LostContact => (t(lang, "topic-lost-contact"), keyboards::support_or_menu(lang)),
        Topic::SubscriptionExpired => {
            (t(lang, "topic-subscription-expired"), keyboards::support_or_menu(lang))
        }
        Topic::Support | Topic::ForgotPassword => {
            (t(lang, "topic-support"), keyboards::back_to_menu(lang))
        }
    };
    bot.send_message(chat, text).parse_mode(PARSE_MODE).reply_markup(markup).await?;
    Ok(())
}
