//! The whole conversation as one dptree tree, read top to bottom, and the
//! safety net around it.

use std::{ops::ControlFlow, sync::Arc};

use teloxide::{
    dispatching::UpdateHandler,
    dptree::case,
    prelude::*,
    types::{Me, UpdateKind},
};

use super::{
    BotSettings, BotT, HandlerResult, commands::Command, keyboards, menu, reset, state::State,
    user_lang,
};
use crate::{domain::Lang, i18n::t, recovery::Recovery, store::Store};

/// Order matters: in private chats commands come first, so /cancel and
/// /start work in any state; then the state's own step; then a fallback
/// that shows the menu. Group chats are not entered into dialogues (their
/// members would share one).
pub fn conversation() -> UpdateHandler<anyhow::Error> {
    let private_messages = Update::filter_message()
        .filter(|msg: Message| msg.chat.is_private())
        .enter_dialogue::<Message, Store, State>()
        .branch(dptree::entry().filter_command::<Command>().endpoint(menu::on_command))
        .branch(case![State::AwaitingContact].endpoint(reset::receive_contact))
        .branch(
            case![State::ChoosingAccount { phone, account_ids, verified_at }]
                .endpoint(reset::remind_to_pick),
        )
        .branch(dptree::endpoint(menu::on_other_message));

    let callbacks = Update::filter_callback_query().endpoint(menu::on_callback);

    dptree::entry().branch(private_messages).branch(callbacks)
}

/// The dispatcher's handler: resolves the user's language once, runs the
/// conversation, and turns a failure (database down, Telegram error) into a
/// localised apology instead of silence. Every private message and every
/// button press is handled by the conversation, so one that falls through
/// means its dialogue state could not be read.
pub fn schema() -> UpdateHandler<anyhow::Error> {
    let conversation = Arc::new(conversation());
    let guarded = move |update: Update,
                        bot: BotT,
                        me: Me,
                        recovery: Recovery,
                        storage: Arc<Store>,
                        settings: BotSettings| {
        let conversation = Arc::clone(&conversation);
        async move {
            let lang = user_lang(&storage, update.from()).await;
            let deps =
                dptree::deps![update.clone(), bot.clone(), me, recovery, storage, settings, lang];
            let failure = match conversation.dispatch(deps).await {
                ControlFlow::Break(Ok(())) => return Ok(()),
                ControlFlow::Break(Err(error)) => format!("{error:#}"),
                ControlFlow::Continue(_) if expects_answer(&update) => {
                    "update not handled (dialogue state unavailable?)".to_owned()
                }
                ControlFlow::Continue(_) => return Ok(()),
            };
            tracing::error!(update_id = update.id.0, error = failure, "update failed");
            apologise(&bot, &update, lang).await
        }
    };
    // The two filters tell Telegram (allowed_updates) which kinds to send.
    dptree::entry()
        .branch(Update::filter_message().endpoint(guarded.clone()))
        .branch(Update::filter_callback_query().endpoint(guarded))
}

/// Private messages and button presses always deserve an answer.
fn expects_answer(update: &Update) -> bool {
    match &update.kind {
        UpdateKind::Message(msg) => msg.chat.is_private(),
        UpdateKind::CallbackQuery(_) => true,
        _ => false,
    }
}

async fn apologise(bot: &BotT, update: &Update, lang: Lang) -> HandlerResult {
    if let UpdateKind::CallbackQuery(query) = &update.kind {
        // May already have been answered before the failure; that is fine.
        let _ = bot.answer_callback_query(query.id.clone()).text(t(lang, "internal-error")).await;
    }
    if let Some(chat) = update.chat().filter(|chat| chat.is_private()) {
        bot.send_message(chat.id, t(lang, "internal-error"))
            .reply_markup(keyboards::back_to_menu(lang))
            .await?;
    }
    Ok(())
}
