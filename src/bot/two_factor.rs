//! Two-factor authentication in the bot: the lost-device path (a backup
//! code resets 2FA, none at hand opens a ticket), setting 2FA up again (a QR
//! code and a setup key, confirmed by a first code; the backup codes come as
//! a document and the secrets are deleted from the chat), and "My security"
//! (2FA, backup codes, contacts on file, notifications).

use teloxide::{
    prelude::*,
    types::{InputFile, MessageId},
};

use super::{
    BotDialogue, BotSettings, BotT, HandlerResult, answer_button,
    callbacks::SecurityButton,
    delete_quietly,
    desk::Desk,
    escape,
    identity::{Reply, ask_for_contact},
    keyboards, show_time,
    state::{Purpose, State},
    support, telegram_user,
};
use crate::{
    domain::{Account, AccountId, Category, Lang, Phone, Subscriptions},
    i18n::{arg, t, t_args},
    recovery::{
        BackupCodeCheck, EnrolRefusal, EnrolmentCheck, Recovery, TwoFactorSource, VerifiedAccount,
    },
};

/// After the identity step on "I lost my 2FA device": a backup code is
/// asked for, or, without 2FA, the other paths are offered.
pub async fn start_lost_device(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    dialogue: &BotDialogue,
    verified: VerifiedAccount,
) -> HandlerResult {
    let account = &verified.account;
    if account.recovery_blocked_at.is_some() {
        dialogue.update(State::Menu).await?;
        let markup = keyboards::talk_to_support(lang, Category::LostTwoFactor);
        return reply.send(bot, t(lang, "reset-recovery-blocked"), markup).await;
    }
    if !recovery.two_factor_state(account.id).await?.is_on() {
        dialogue.update(State::Menu).await?;
        let text =
            t_args(lang, "two-factor-not-on", &[("login", arg(escape(account.login.as_str())))]);
        return reply.send(bot, text, keyboards::two_factor_not_on(lang)).await;
    }
    dialogue
        .update(State::AwaitingBackupCode { account_id: account.id, phone: verified.phone.clone() })
        .await?;
    let text =
        t_args(lang, "two-factor-ask-backup", &[("login", arg(escape(account.login.as_str())))]);
    reply.send(bot, text, keyboards::backup_code(lang)).await
}

/// In `AwaitingBackupCode`: the typed code. Its message is deleted either
/// way. A right one resets 2FA (and binds this Telegram user to the
/// account: the code is the second proof), and setting it up again is
/// offered.
#[allow(clippy::too_many_arguments)]
pub async fn on_backup_code(
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
        bot.send_message(chat, t(lang, "two-factor-backup-expected"))
            .reply_markup(keyboards::backup_code(lang))
            .await?;
        return Ok(());
    };
    delete_quietly(&bot, chat, msg.id).await;
    let Some(account) = active_account(&recovery, account_id, &phone).await? else {
        dialogue.update(State::Menu).await?;
        return super::menu::send_menu(&bot, chat, lang, t(lang, "button-stale")).await;
    };
    let zone = account.zone_or(settings.default_time_zone);
    let now = recovery.now();
    let (text, markup) = match recovery.redeem_backup_code(account_id, typed, Some(user)).await? {
        BackupCodeCheck::Right { .. } => {
            recovery.turn_off_two_factor(account_id, TwoFactorSource::Bot).await?;
            recovery.mail_two_factor_off(account_id, user, lang).await?;
            tracing::info!(%user, %account_id, "2FA reset with a backup code");
            dialogue.update(State::SecurityShown { account_id, phone, verified_at: now }).await?;
            let login = ("login", arg(escape(account.login.as_str())));
            (t_args(lang, "two-factor-reset-done", &[login]), keyboards::set_up_again(lang))
        }
        BackupCodeCheck::Wrong { left } => (
            t_args(lang, "two-factor-backup-wrong", &[("left", left.into())]),
            keyboards::backup_code(lang),
        ),
        BackupCodeCheck::TooMany { retry_at } => {
            dialogue.update(State::Menu).await?;
            let time = ("time", arg(show_time(lang, retry_at, zone, now)));
            (
                t_args(lang, "two-factor-backup-too-many", &[time]),
                keyboards::talk_to_support(lang, Category::LostTwoFactor),
            )
        }
    };
    bot.send_message(chat, text).reply_markup(markup).await?;
    Ok(())
}

/// "I have no backup codes": a ticket for staff, with the verified account.
#[allow(clippy::too_many_arguments)]
pub async fn on_no_backup_code(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (account_id, _phone): (AccountId, Phone),
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let category = Category::LostTwoFactor;
    support::open(
        &bot,
        chat,
        &query.from,
        lang,
        &recovery,
        &desk,
        &dialogue,
        category,
        Some(account_id),
    )
    .await
}

/// After the identity step on "My security": what protects the account.
pub async fn show_security(
    bot: &BotT,
    reply: Reply,
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    dialogue: &BotDialogue,
    verified: VerifiedAccount,
) -> HandlerResult {
    let account = &verified.account;
    let user = verified.tg_user_id;
    dialogue
        .update(State::SecurityShown {
            account_id: account.id,
            phone: verified.phone.clone(),
            verified_at: verified.verified_at,
        })
        .await?;
    let subscriptions = recovery.subscriptions(user, account.id).await?;
    let (text, markup) = security_screen(lang, recovery, settings, account, subscriptions).await?;
    reply.send(bot, text, markup).await
}

/// The "My security" text and buttons for `account`.
async fn security_screen(
    lang: Lang,
    recovery: &Recovery,
    settings: &BotSettings,
    account: &Account,
    subscriptions: Subscriptions,
) -> anyhow::Result<(String, teloxide::types::InlineKeyboardMarkup)> {
    let state = recovery.two_factor_state(account.id).await?;
    let zone = account.zone_or(settings.default_time_zone);
    let now = recovery.now();
    let two_factor = match state.enabled_at {
        Some(since) => t_args(
            lang,
            "security-2fa-on",
            &[
                ("since", arg(show_time(lang, since, zone, now))),
                ("count", state.backup_codes_left.into()),
            ],
        ),
        None if recovery.two_factor_available() => t(lang, "security-2fa-off"),
        None => t(lang, "security-2fa-unavailable"),
    };
    let on_off = |on: bool| t(lang, if on { "security-on" } else { "security-off" });
    let text = t_args(
        lang,
        "security-summary",
        &[
            ("login", arg(escape(account.login.as_str()))),
            ("two_factor", arg(two_factor)),
            ("email", arg(escape(&account.email.masked()))),
            ("phone", arg(escape(&account.phone.masked()))),
            ("sign_ins", arg(on_off(subscriptions.sign_ins))),
            ("new_devices", arg(on_off(subscriptions.new_devices))),
        ],
    );
    let markup =
        keyboards::my_security(lang, state.is_on(), recovery.two_factor_available(), subscriptions);
    Ok((text, markup))
}

/// A button on "My security" (or "set it up again" after a reset). What
/// changes the account's protection needs a Telegram user bound to it and
/// a recent proof of the phone; notifications need the binding only.
#[allow(clippy::too_many_arguments)]
pub async fn on_security_button(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (account_id, phone, verified_at): (AccountId, Phone, chrono::DateTime<chrono::Utc>),
    pressed: SecurityButton,
    lang: Lang,
    recovery: Recovery,
    settings: BotSettings,
) -> HandlerResult {
    let chat = dialogue.chat_id();
    let user = telegram_user(&query.from);
    let Some(account) = active_account(&recovery, account_id, &phone).await? else {
        answer_button(&bot, &query, None).await;
        dialogue.update(State::Menu).await?;
        return super::menu::send_menu(&bot, chat, lang, t(lang, "button-stale")).await;
    };
    if !recovery.store.is_bound(user, account_id).await? {
        answer_button(&bot, &query, Some(t(lang, "security-needs-binding"))).await;
        return Ok(());
    }
    let changes_protection = matches!(pressed, SecurityButton::SetUp | SecurityButton::NewCodes);
    if changes_protection && !recovery.contact_still_valid(verified_at) {
        answer_button(&bot, &query, None).await;
        return ask_for_contact(&bot, chat, lang, &dialogue, Purpose::MySecurity).await;
    }
    match pressed {
        SecurityButton::SetUp => {
            answer_button(&bot, &query, None).await;
            start_enrolment(&bot, chat, lang, &recovery, &dialogue, &account).await
        }
        SecurityButton::NewCodes => {
            answer_button(&bot, &query, None).await;
            match recovery.regenerate_backup_codes(account_id).await? {
                Some(codes) => {
                    send_codes(&bot, chat, lang, &account, &codes, "security-new-codes").await
                }
                None => {
                    bot.send_message(chat, t(lang, "security-2fa-off"))
                        .reply_markup(keyboards::back_to_menu(lang))
                        .await?;
                    Ok(())
                }
            }
        }
        SecurityButton::ToggleSignIns | SecurityButton::ToggleNewDevices => {
            let mut subscriptions = recovery.subscriptions(user, account_id).await?;
            if pressed == SecurityButton::ToggleSignIns {
                subscriptions.sign_ins = !subscriptions.sign_ins;
            } else {
                subscriptions.new_devices = !subscriptions.new_devices;
            }
            recovery.set_subscriptions(user, account_id, subscriptions).await?;
            answer_button(&bot, &query, Some(t(lang, "security-saved"))).await;
            let (text, markup) =
                security_screen(lang, &recovery, &settings, &account, subscriptions).await?;
            let reply = match query.message.as_ref() {
                Some(message) => Reply::Edit(chat, message.id()),
                None => Reply::New(chat),
            };
            reply.send(&bot, text, markup).await
        }
        SecurityButton::NoBackupCode => {
            answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
            Ok(())
        }
    }
}

/// Begins an enrolment: the QR code as a photo and the setup key as text
/// (both protected from forwarding), then the first code is expected.
async fn start_enrolment(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    recovery: &Recovery,
    dialogue: &BotDialogue,
    account: &Account,
) -> HandlerResult {
    let pending = match recovery.start_enrolment(account.id).await? {
        Ok(pending) => pending,
        Err(refusal) => {
            let key = match refusal {
                EnrolRefusal::Unavailable => "security-2fa-unavailable",
                EnrolRefusal::AlreadyOn => "two-factor-already-on",
                EnrolRefusal::NotFound => "button-stale",
            };
            dialogue.update(State::Menu).await?;
            bot.send_message(chat, t(lang, key))
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
            return Ok(());
        }
    };
    let png = pending.secret.qr_png().map_err(|e| anyhow::anyhow!("QR code: {e}"))?;
    let photo = bot
        .send_photo(chat, InputFile::memory(png).file_name("two-factor.png"))
        .caption(t(lang, "two-factor-scan"))
        .protect_content(true)
        .await?;
    let key = grouped(&pending.secret.secret_base32);
    let text = t_args(lang, "two-factor-setup-key", &[("key", arg(escape(&key)))]);
    let key_message = bot
        .send_message(chat, text)
        .protect_content(true)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    dialogue
        .update(State::Enrolling {
            account_id: account.id,
            cleanup: vec![photo.id.0, key_message.id.0],
        })
        .await?;
    Ok(())
}

/// In `Enrolling`: the first code from the app. A right one turns 2FA on;
/// the backup codes come as a document, and the QR code, the setup key and
/// the typed codes are deleted.
pub async fn on_enrolment_code(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    (account_id, mut cleanup): (AccountId, Vec<i32>),
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    let chat = msg.chat.id;
    let Some(typed) = msg.text() else {
        bot.send_message(chat, t(lang, "two-factor-code-expected"))
            .reply_markup(keyboards::back_to_menu(lang))
            .await?;
        return Ok(());
    };
    cleanup.push(msg.id.0);
    match recovery.confirm_enrolment(account_id, typed).await? {
        EnrolmentCheck::Confirmed { backup_codes } => {
            dialogue.update(State::Menu).await?;
            let Some(account) = recovery.store.account(account_id).await? else { return Ok(()) };
            send_codes(&bot, chat, lang, &account, &backup_codes, "two-factor-on").await?;
            for id in cleanup {
                delete_quietly(&bot, chat, MessageId(id)).await;
            }
            Ok(())
        }
        EnrolmentCheck::Wrong => {
            let wrong = bot
                .send_message(chat, t(lang, "two-factor-enrol-wrong"))
                .reply_markup(keyboards::back_to_menu(lang))
                .await?;
            cleanup.push(wrong.id.0);
            dialogue.update(State::Enrolling { account_id, cleanup }).await?;
            Ok(())
        }
        EnrolmentCheck::Expired => {
            dialogue.update(State::Menu).await?;
            for id in cleanup {
                delete_quietly(&bot, chat, MessageId(id)).await;
            }
            bot.send_message(chat, t(lang, "two-factor-enrol-expired"))
                .reply_markup(keyboards::after_codes(lang))
                .await?;
            Ok(())
        }
    }
}

/// The backup codes as a `.txt` document (not protected: it is meant to be
/// saved), with the warning to keep it safe as its caption.
async fn send_codes(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    account: &Account,
    codes: &[String],
    caption_key: &str,
) -> HandlerResult {
    let login = account.login.as_str();
    let mut body = t_args(lang, "two-factor-codes-file", &[("login", arg(login.to_owned()))]);
    body.push_str("\n\n");
    for code in codes {
        body.push_str(code);
        body.push('\n');
    }
    let name: String =
        login.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
    let file = InputFile::memory(body.into_bytes()).file_name(format!("backup-codes-{name}.txt"));
    let caption = t_args(lang, caption_key, &[("count", codes.len().into())]);
    bot.send_document(chat, file)
        .caption(caption)
        .reply_markup(keyboards::after_codes(lang))
        .await?;
    Ok(())
}

/// The account of a step, if it is still active and still on the phone
/// that was proved.
async fn active_account(
    recovery: &Recovery,
    account_id: AccountId,
    phone: &Phone,
) -> anyhow::Result<Option<Account>> {
    let account = recovery.store.account(account_id).await?;
    Ok(account.filter(|account| account.is_active() && account.phone == *phone))
}

/// A base32 key in groups of four, as authenticator apps show them.
fn grouped(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars.chunks(4).map(|chunk| chunk.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn setup_keys_are_grouped_by_four() {
        assert_eq!(super::grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(super::grouped(""), "");
    }
}
