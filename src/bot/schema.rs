//! The whole conversation as one dptree tree, read top to bottom.

use std::sync::Arc;

use teloxide::{dispatching::UpdateHandler, dptree::case, prelude::*};

use super::{commands::Command, menu, reset, state::State, user_lang};
use crate::store::Store;

/// Order matters: the user's language is resolved once for every update;
/// in private chats commands come first, so /cancel and /start work in any
/// state; then the state's own step; then a fallback that shows the menu.
/// Group chats are not entered into dialogues (they would share one).
pub fn schema() -> UpdateHandler<anyhow::Error> {
    let private_messages = Update::filter_message()
        .filter(|msg: Message| msg.chat.is_private())
        .enter_dialogue::<Message, Store, State>()
        .branch(
            dptree::entry()
                .filter_command::<Command>()
                .endpoint(menu::on_command),
        )
        .branch(case![State::AwaitingContact].endpoint(reset::receive_contact))
        .branch(
            case![State::ChoosingAccount { phone, account_ids }].endpoint(reset::remind_to_pick),
        )
        .branch(dptree::endpoint(menu::on_other_message));

    let callbacks = Update::filter_callback_query().endpoint(menu::on_callback);

    dptree::entry()
        .map_async(|update: Update, store: Arc<Store>| async move {
            user_lang(&store, update.from()).await
        })
        .branch(private_messages)
        .branch(callbacks)
}
