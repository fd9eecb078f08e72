//! The identity step shared by every purpose: the user's own contact, the
//! account pick when the phone has several, then the purpose's next step.

use chrono::{DateTime, Utc};
use teloxide::{
    prelude::*,
    types::{InlineKeyboardMarkup, MessageId},
};

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button,
    callbacks::PickedAccount,
    keyboards, locked,
    menu::send_menu,
    state::{Purpose, State},
    subscription, telegram_user,
};
use crate::{
    domain::{AccountId, Category, Lang, Phone},
    i18n::t,
    recovery::{ContactClaim, ContactRefusal, Recovery, VerifiedAccount},
};

/// Where the purpose's answer goes: a new message, or the account-pick
/// message edited in place (one message per step).
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    New(ChatId),
    Edit(ChatId, MessageId),
}

impl Reply {
    /// Sends `text` with its inline keyboard, or edits the pick into it.
    pub async fn send(
        self,
        bot: &BotT,
        text: String,
        markup: InlineKeyboardMarkup,
    ) -> HandlerResult {
        match self {
            Reply::New(chat) => {
                bot.send_message(chat, text).reply_markup(markup).await?;
            }
            Reply::Edit(chat, message_id) => {
                bot.edit_message_text(chat, message_id, text).reply_markup(markup).await?;
            }
        }
        Ok(())
    }
}

/// Starts the identity step for `purpose`: the request-contact keyboard
/// under the purpose's own explanation.
pub async fn ask_for_contact(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    dialogue: &BotDialogue,
    purpose: Purpose,
) -> HandlerResult {
    dialogue.update(State::AwaitingContact { purpose }).await?;
    let prompt = match purpose {
        Purpose::ResetPassword => "reset-ask-phone",
        Purpose::Subscription => "subscription-ask-phone",
        Purpose::AccountLocked => "locked-ask-phone",
        Purpose::LostTwoFactor => "two-factor-ask-phone",
        Purpose::MySecurity => "security-ask-phone",
    };
    bot.send_message(chat, t(lang, prompt)).reply_markup(keyboards::share_contact(lang)).await?;
    Ok(())
}

/// In `AwaitingContact`: only the sender's own, unforwarded contact passes;
/// anything else is explained and the button offered again.
pub async fn receive_contact(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    purpose: Purpose,
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    let chat = msg.chat.id;
    let (Some(contact), Some(sender)) = (msg.contact(), msg.from.as_ref()) else {
        if msg.text().is_some_and(keyboards::is_cancel_label) {
            // The one-time keyboard hid itself when the button was used.
            dialogue.update(State::Menu).await?;
            return send_menu(&bot, chat, lang, t(lang, "cancelled")).await;
        }
        bot.send_message(chat, t(lang, "identity-contact-expected"))
            .reply_markup(keyboards::share_contact(lang))
            .await?;
        return Ok(());
    };
    let claim = ContactClaim {
        sender_id: telegram_user(sender),
        contact_user_id: contact.user_id.map(|id| crate::domain::TelegramUserId(id.0 as i64)),
        phone: contact.phone_number.clone(),
        forwarded: msg.forward_origin().is_some(),
        private_chat: msg.chat.is_private(),
        by_bot: sender.is_bot || msg.via_bot.is_some(),
        sender_name: super::support::full_name(sender),
        lang,
    };
    let phone = match recovery.verify_contact(&claim).await? {
        Ok(phone) => phone,
        Err(refusal) => {
            let text = match refusal {
                ContactRefusal::NotOwnContact => t(lang, "identity-contact-not-own"),
                ContactRefusal::NoUserId => t(lang, "identity-contact-no-user"),
                ContactRefusal::InvalidPhone => t(lang, "identity-contact-invalid"),
                ContactRefusal::NotPrivateChat => t(lang, "identity-contact-not-private"),
            };
            bot.send_message(chat, text).reply_markup(keyboards::share_contact(lang)).await?;
            return Ok(());
        }
    };
    let verified_at = recovery.now();
    let accounts = recovery.accounts_for(claim.sender_id, &phone).await?;
    match accounts.as_slice() {
        [] => {
            dialogue.update(State::Menu).await?;
            bot.send_message(chat, t(lang, "identity-no-account"))
                .reply_markup(keyboards::talk_to_support(lang, Category::NoAccount))
                .await?;
        }
        [account] => {
            dialogue.update(State::Menu).await?;
            let verified = VerifiedAccount {
                tg_user_id: claim.sender_id,
                phone,
                verified_at,
                account: account.clone(),
            };
            let reply = Reply::New(chat);
            proceed(&bot, reply, lang, &recovery, &settings, &dialogue, purpose, verified).await?;
        }
        several => {
            let account_ids = several.iter().map(|a| a.id).collect();
            dialogue
                .update(State::ChoosingAccount { purpose, phone, account_ids, verified_at })
                .await?;
            // Protected from the start: a reset link may replace this text.
            bot.send_message(chat, t(lang, "identity-choose-account"))
                .protect_content(true)
                .reply_markup(keyboards::pick_account(lang, several))
                .await?;
        }
    }
    Ok(())
}

/// In `ChoosingAccount`, a typed message instead of a button press.
pub async fn remind_to_pick(bot: BotT, msg: Message, lang: Lang) -> HandlerResult {
    bot.send_message(msg.chat.id, t(lang, "identity-choose-account-hint"))
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

/// A press on one of the account buttons; only accounts offered to this
/// chat for its verified phone are accepted, and only while the proof is
/// fresh.
#[allow(clippy::too_many_arguments)]
pub async fn on_account_picked(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (purpose, phone, account_ids, verified_at): (Purpose, Phone, Vec<AccountId>, DateTime<Utc>),
    PickedAccount(account_id): PickedAccount,
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    let chat = dialogue.chat_id();
    if !account_ids.contains(&account_id) {
        // Not one of those offered (a forged payload): the choice stays open.
        answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
        return Ok(());
    }
    answer_button(&bot, &query, None).await;
    if !recovery.contact_still_valid(verified_at) {
        dialogue.update(State::AwaitingContact { purpose }).await?;
        bot.send_message(chat, t(lang, "identity-contact-stale"))
            .reply_markup(keyboards::share_contact(lang))
            .await?;
        return Ok(());
    }
    let tg_user_id = telegram_user(&query.from);
    let picked = recovery.picked_account(tg_user_id, &phone, account_id, verified_at).await?;
    dialogue.update(State::Menu).await?;
    // An account deactivated since it was offered is as good as unknown.
    let Some(verified) = picked.filter(|verified| verified.account.is_active()) else {
        // The account left this phone, or was deactivated, since it was offered.
        return send_menu(&bot, chat, lang, t(lang, "button-stale")).await;
    };
    let reply = match query.message.as_ref() {
        Some(message) => Reply::Edit(chat, message.id()),
        None => Reply::New(chat),
    };
    proceed(&bot, reply, lang, &recovery, &settings, &dialogue, purpose, verified).await
}

/// Hands the verified account to the purpose's next step.
#[allow(clippy::too_many_arguments)]
async fn proceed(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    dialogue: &BotDialogue,
    purpose: Purpose,
    verified: VerifiedAccount,
) -> HandlerResult {
    match purpose {
        Purpose::ResetPassword => {
            super::binding::send_link_or_code(
                bot, reply, lang, recovery, settings, dialogue, verified,
            )
            .await
        }
        Purpose::Subscription => {
            subscription::show(bot, reply, lang, recovery, settings, verified).await
        }
        Purpose::AccountLocked => {
            locked::explain(bot, reply, lang, recovery, settings, dialogue, verified).await
        }
        Purpose::LostTwoFactor => {
            super::two_factor::start_lost_device(bot, reply, lang, recovery, dialogue, verified)
                .await
        }
        Purpose::MySecurity => {
            super::two_factor::show_security(
                bot, reply, lang, recovery, settings, dialogue, verified,
            )
            .await
        }
    }
}
