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
    BotSettings, BotT, HandlerResult, Languages, binding,
    callbacks::{Callback, SecurityButton, TicketButton},
    commands::Command,
    desk::Desk,
    identity, keyboards, locked, menu, staff,
    state::State,
    storage::DialogueStorage,
    subscription, support, two_factor,
};
use crate::{domain::Lang, i18n::t, recovery::Recovery};

/// Private messages: commands first, so /cancel and /start work in any
/// state; then the state's own step; then a fallback that shows the menu.
///
/// Buttons: the callback data is parsed once; buttons that mean the same in
/// every state come first, then those that belong to one step (routed by the
/// dialogue's state), and last an "out of date" answer for a button pressed
/// where it means nothing (an old message, a step already left). A press
/// that never reached its state (payload of an earlier version, a group
/// chat, or the state unreadable because the database is down) is sorted
/// out by `on_unrouted_button`.
///
/// Group chats are never entered into dialogues (their members would share
/// one): the staff group's messages and buttons go to `staff`, which keeps
/// each ticket's state in its own tables; other groups get no answer.
pub fn conversation() -> UpdateHandler<anyhow::Error> {
    let private_messages = Update::filter_message()
        .filter(|msg: Message| msg.chat.is_private())
        .enter_dialogue::<Message, DialogueStorage, State>()
        .branch(dptree::entry().filter_command::<Command>().endpoint(menu::on_command))
        .branch(case![State::AwaitingContact { purpose }].endpoint(identity::receive_contact))
        .branch(
            case![State::ChoosingAccount { purpose, phone, account_ids, verified_at }]
                .endpoint(identity::remind_to_pick),
        )
        .branch(
            case![State::TicketDraft { ticket_id, question }].endpoint(support::on_draft_message),
        )
        .branch(case![State::RatingComment { ticket_id }].endpoint(support::on_rating_comment))
        .branch(case![State::AwaitingCode { account_id, phone }].endpoint(binding::on_code_message))
        .branch(
            case![State::AwaitingBackupCode { account_id, phone }]
                .endpoint(two_factor::on_backup_code),
        )
        .branch(
            case![State::Enrolling { account_id, cleanup }].endpoint(two_factor::on_enrolment_code),
        )
        .branch(dptree::endpoint(menu::on_other_message));

    // The staff group: replies and notes, commands, and following an upgrade.
    let group_messages = Update::filter_message()
        .filter(|msg: Message| !msg.chat.is_private() && !msg.chat.is_channel())
        .endpoint(staff::on_group_message);
    let staff_buttons = Update::filter_callback_query()
        .filter(|query: CallbackQuery| {
            query.message.as_ref().is_some_and(|message| !message.chat().is_private())
        })
        .filter_map(|query: CallbackQuery| match query.data.as_deref().and_then(Callback::parse) {
            Some(Callback::Staff(press)) => Some(press),
            _ => None,
        })
        .endpoint(staff::on_staff_button);
    let edits = Update::filter_edited_message()
        .filter(|msg: Message| msg.chat.is_private())
        .endpoint(support::on_edited_message);

    let buttons = Update::filter_callback_query()
        .filter(|query: CallbackQuery| {
            query.message.as_ref().is_some_and(|message| message.chat().is_private())
        })
        .filter_map(|query: CallbackQuery| query.data.as_deref().and_then(Callback::parse))
        .enter_dialogue::<CallbackQuery, DialogueStorage, State>()
        // Buttons whose meaning depends on the step come before the
        // general ones with the same payload.
        .branch(
            case![State::LockExplained { phone, account_id, verified_at }]
                .branch(case![Callback::Support(support)].endpoint(support::on_support_locked)),
        )
        .branch(
            case![State::TicketDraft { ticket_id, question }]
                .branch(case![Callback::Ticket(button)].endpoint(support::on_draft_button)),
        )
        .branch(
            case![State::AwaitingCode { account_id, phone }]
                .branch(case![Callback::NewCode].endpoint(binding::on_new_code)),
        )
        .branch(
            case![State::ConfirmingLink { prelink_id }]
                .branch(case![Callback::ConfirmLink].endpoint(binding::on_confirm_link)),
        )
        .branch(
            case![State::AwaitingBackupCode { account_id, phone }].branch(
                dptree::filter(|callback: Callback| {
                    callback == Callback::Security(SecurityButton::NoBackupCode)
                })
                .endpoint(two_factor::on_no_backup_code),
            ),
        )
        .branch(
            case![State::SecurityShown { account_id, phone, verified_at }].branch(
                case![Callback::Security(pressed)].endpoint(two_factor::on_security_button),
            ),
        )
        .branch(
            case![State::RatingComment { ticket_id }].branch(
                dptree::filter(|callback: Callback| {
                    callback == Callback::Ticket(TicketButton::Skip)
                })
                .endpoint(support::on_rating_skip),
            ),
        )
        .branch(case![Callback::Menu].endpoint(menu::on_menu_button))
        .branch(case![Callback::Topic(topic)].endpoint(menu::on_topic))
        .branch(case![Callback::Language(choice)].endpoint(menu::on_language))
        .branch(case![Callback::NotMe(account)].endpoint(menu::on_not_me))
        .branch(case![Callback::WithdrawHold(hold_id)].endpoint(binding::on_withdraw_hold))
        .branch(case![Callback::NotifyAdmins(account)].endpoint(subscription::on_notify_admins))
        .branch(case![Callback::Support(support)].endpoint(support::on_support))
        .branch(case![Callback::Ticket(button)].endpoint(support::on_ticket_button))
        .branch(
            case![State::ChoosingAccount { purpose, phone, account_ids, verified_at }]
                .branch(case![Callback::PickAccount(picked)].endpoint(identity::on_account_picked)),
        )
        .branch(
            case![State::LockExplained { phone, account_id, verified_at }]
                .branch(case![Callback::NotifyUnlock].endpoint(locked::on_notify_unlock))
                .branch(case![Callback::ResetNow].endpoint(locked::on_reset_now)),
        )
        .branch(dptree::endpoint(menu::on_stale_button));

    dptree::entry()
        .branch(private_messages)
        .branch(group_messages)
        .branch(edits)
        .branch(staff_buttons)
        .branch(buttons)
        .branch(Update::filter_callback_query().endpoint(menu::on_unrouted_button))
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
                        storage: Arc<DialogueStorage>,
                        settings: BotSettings,
                        desk: Desk,
                        languages: Languages| {
        let conversation = Arc::clone(&conversation);
        async move {
            let lang = languages.of(&recovery.store, update.from()).await;
            let deps = dptree::deps![
                update.clone(),
                bot.clone(),
                me,
                recovery,
                storage,
                settings,
                desk,
                languages,
                lang
            ];
            let failure = match conversation.dispatch(deps).await {
                ControlFlow::Break(Ok(())) => return Ok(()),
                ControlFlow::Break(Err(error)) => {
                    crate::monitoring::telegram_error_in(&error);
                    format!("{error:#}")
                }
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
        .branch(Update::filter_edited_message().endpoint(guarded.clone()))
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
        if let Err(error) =
            bot.answer_callback_query(query.id.clone()).text(t(lang, "internal-error")).await
        {
            tracing::debug!(%error, "callback query already answered");
        }
    }
    if let Some(chat) = update.chat().filter(|chat| chat.is_private()) {
        bot.send_message(chat.id, t(lang, "internal-error"))
            .reply_markup(keyboards::back_to_menu(lang))
            .await?;
    }
    Ok(())
}
