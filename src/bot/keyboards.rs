//! Every keyboard the bot shows, built from localised labels.

use teloxide::types::{
    ButtonRequest, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, KeyboardMarkup,
};

use url::Url;

use super::callbacks::{
    Callback, LanguageChoice, NotMe, NotifyAdmins, PickedAccount, SecurityButton, StaffPress,
    SupportFor, TicketButton, Topic,
};
use crate::{
    domain::{Account, AccountId, Category, Lang, StaffAction, Ticket, TicketId, TicketStatus},
    i18n::t,
};

fn button(label: String, callback: Callback) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, callback.encode())
}

fn topic_label(lang: Lang, topic: Topic) -> String {
    match topic {
        Topic::ForgotPassword => t(lang, "menu-forgot-password"),
        Topic::AccountLocked => t(lang, "menu-account-locked"),
        Topic::LostTwoFactor => t(lang, "menu-lost-2fa"),
        Topic::LostContact => t(lang, "menu-lost-contact"),
        Topic::SubscriptionExpired => t(lang, "menu-subscription-expired"),
        Topic::MySecurity => t(lang, "menu-my-security"),
        Topic::Other => t(lang, "menu-other"),
    }
}

/// The main menu: one problem per row.
pub fn main_menu(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(
        Topic::ALL.map(|topic| vec![button(topic_label(lang, topic), Callback::Topic(topic))]),
    )
}

pub fn back_to_menu(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[button(t(lang, "button-back-to-menu"), Callback::Menu)]])
}

/// Under a reset link: a button that opens it (only for https links, the
/// only ones Telegram reliably accepts in buttons; the link is in the text
/// either way), and the way back.
pub fn reset_link(lang: Lang, url: &Url, with_button: bool) -> InlineKeyboardMarkup {
    let mut rows = Vec::new();
    if with_button {
        rows.push(vec![InlineKeyboardButton::url(t(lang, "button-open-reset-page"), url.clone())]);
    }
    rows.push(vec![button(t(lang, "button-back-to-menu"), Callback::Menu)]);
    InlineKeyboardMarkup::new(rows)
}

/// The request-contact button, and a way out.
pub fn share_contact(lang: Lang) -> KeyboardMarkup {
    KeyboardMarkup::new([
        [KeyboardButton::new(t(lang, "button-share-phone")).request(ButtonRequest::Contact)],
        [KeyboardButton::new(t(lang, "button-cancel"))],
    ])
    .resize_keyboard()
    .one_time_keyboard()
}

/// True if `text` is the cancel button's label in any language.
pub fn is_cancel_label(text: &str) -> bool {
    Lang::ALL.iter().any(|&lang| t(lang, "button-cancel") == text.trim())
}

pub fn pick_account(lang: Lang, accounts: &[Account]) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = accounts
        .iter()
        .map(|a| vec![button(a.masked_login(), Callback::PickAccount(PickedAccount(a.id)))])
        .collect();
    rows.push(vec![button(t(lang, "button-back-to-menu"), Callback::Menu)]);
    InlineKeyboardMarkup::new(rows)
}

pub fn languages() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([Lang::ALL
        .map(|lang| button(t(lang, "language-name"), Callback::Language(LanguageChoice(lang))))])
}

pub fn not_me(lang: Lang, account_id: AccountId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-not-me"), Callback::NotMe(NotMe(account_id)))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under "your password was changed": "It wasn't me", and prevention
/// ("My security") offered after the recovery.
pub fn password_changed(lang: Lang, account_id: AccountId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-not-me"), Callback::NotMe(NotMe(account_id)))],
        [button(t(lang, "menu-my-security"), Callback::Topic(Topic::MySecurity))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

fn security_button(lang: Lang, key: &str, pressed: SecurityButton) -> InlineKeyboardButton {
    button(t(lang, key), Callback::Security(pressed))
}

/// Waiting for a backup code: none at hand (a ticket), or the way back.
pub fn backup_code(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [security_button(lang, "button-no-backup-code", SecurityButton::NoBackupCode)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// An account without 2FA on the lost-device path: the other paths.
pub fn two_factor_not_on(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(topic_label(lang, Topic::ForgotPassword), Callback::Topic(Topic::ForgotPassword))],
        [button(topic_label(lang, Topic::AccountLocked), Callback::Topic(Topic::AccountLocked))],
        [support_button(lang, Category::LostTwoFactor)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// 2FA was reset: set it up again now, or later.
pub fn set_up_again(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [security_button(lang, "button-set-up-2fa-again", SecurityButton::SetUp)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// "My security": what can be changed from here.
pub fn my_security(
    lang: Lang,
    two_factor_on: bool,
    can_enrol: bool,
    subscriptions: crate::domain::Subscriptions,
) -> InlineKeyboardMarkup {
    let mut rows = Vec::new();
    if two_factor_on {
        rows.push(vec![security_button(lang, "button-new-backup-codes", SecurityButton::NewCodes)]);
    } else if can_enrol {
        rows.push(vec![security_button(lang, "button-set-up-2fa", SecurityButton::SetUp)]);
    }
    let sign_ins =
        if subscriptions.sign_ins { "button-sign-ins-off" } else { "button-sign-ins-on" };
    let devices =
        if subscriptions.new_devices { "button-new-devices-off" } else { "button-new-devices-on" };
    rows.push(vec![security_button(lang, sign_ins, SecurityButton::ToggleSignIns)]);
    rows.push(vec![security_button(lang, devices, SecurityButton::ToggleNewDevices)]);
    rows.push(vec![button(t(lang, "button-back-to-menu"), Callback::Menu)]);
    InlineKeyboardMarkup::new(rows)
}

/// Under the backup codes document: "My security", or the way back.
pub fn after_codes(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "menu-my-security"), Callback::Topic(Topic::MySecurity))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under the explanation of a temporary lock: wait for it, reset now, or
/// ask support.
pub fn temporary_lock(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-notify-unlock"), Callback::NotifyUnlock)],
        [button(t(lang, "button-reset-now"), Callback::ResetNow)],
        [support_button(lang, Category::Locked)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Nothing is locked: a new password is the one thing left to try here,
/// or support.
pub fn not_locked(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-reset-now"), Callback::ResetNow)],
        [support_button(lang, Category::Locked)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

fn support_button(lang: Lang, category: Category) -> InlineKeyboardButton {
    button(t(lang, "button-talk-to-support"), Callback::Support(SupportFor(category)))
}

/// Under a lapsed licence: tell the company's administrators.
pub fn licence_lapsed(lang: Lang, account_id: AccountId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-notify-admins"), Callback::NotifyAdmins(NotifyAdmins(account_id)))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// "Talk to support" for a path that cannot finish by itself, and the way
/// back.
pub fn talk_to_support(lang: Lang, category: Category) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [support_button(lang, category)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under a pre-link: link this Telegram account, or not.
pub fn confirm_link(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-confirm-link"), Callback::ConfirmLink)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// While a binding hold runs: withdraw the request, or the way back.
pub fn hold(lang: Lang, hold_id: i64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-withdraw-hold"), Callback::WithdrawHold(hold_id))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// When a hold has ended: the identity step again (it now ends in the
/// link), or the way back.
pub fn hold_ended(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-hold-ask-again"), Callback::Topic(Topic::ForgotPassword))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// While a mailed code is awaited: a new one, or the way back.
pub fn new_code(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-new-code"), Callback::NewCode)],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under a ticket question: Skip where the question is optional.
pub fn ticket_question(lang: Lang, skippable: bool) -> InlineKeyboardMarkup {
    let mut rows = Vec::new();
    if skippable {
        rows.push(vec![button(t(lang, "button-skip"), Callback::Ticket(TicketButton::Skip))]);
    }
    rows.push(vec![button(t(lang, "button-cancel-ticket"), Callback::Menu)]);
    InlineKeyboardMarkup::new(rows)
}

/// Under the attachments question: send the ticket.
pub fn ticket_attachments(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-submit-ticket"), Callback::Ticket(TicketButton::Submit))],
        [button(t(lang, "button-cancel-ticket"), Callback::Menu)],
    ])
}

/// Under an open ticket: close it, or go back to the menu.
pub fn open_ticket(lang: Lang, id: TicketId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-close-ticket"), Callback::Ticket(TicketButton::Close(id)))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under a ticket the user closed: reopen it (for 7 days).
pub fn closed_ticket(lang: Lang, id: TicketId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        [button(t(lang, "button-reopen-ticket"), Callback::Ticket(TicketButton::Reopen(id)))],
        [button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// A rating of 1 to 5 for a closed ticket.
pub fn rate_ticket(lang: Lang, id: TicketId) -> InlineKeyboardMarkup {
    let stars = (1..=5u8)
        .map(|n| button(format!("{n} ★"), Callback::Ticket(TicketButton::Rate(id, n))))
        .collect::<Vec<_>>();
    InlineKeyboardMarkup::new([
        stars,
        vec![button(t(lang, "button-reopen-ticket"), Callback::Ticket(TicketButton::Reopen(id)))],
        vec![button(t(lang, "button-back-to-menu"), Callback::Menu)],
    ])
}

/// Under the rating: the comment is optional.
pub fn skip_comment(lang: Lang) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[button(
        t(lang, "button-skip"),
        Callback::Ticket(TicketButton::Skip),
    )]])
}

/// The staff's buttons on a card, for what the ticket allows now; a closed
/// ticket has none. `two_factor_on`: the verified account has 2FA on, so
/// "Reset 2FA" is offered.
pub fn ticket_card(lang: Lang, ticket: &Ticket, two_factor_on: bool) -> InlineKeyboardMarkup {
    if ticket.status != TicketStatus::Open {
        return InlineKeyboardMarkup::default();
    }
    let staff = |action: StaffAction, key: &str| {
        button(t(lang, key), Callback::Staff(StaffPress(ticket.id, action)))
    };
    let mut rows = vec![vec![match ticket.taken_by {
        Some(_) => staff(StaffAction::Release, "desk-button-release"),
        None => staff(StaffAction::Take, "desk-button-take"),
    }]];
    if ticket.account_id.is_some() {
        rows.push(vec![staff(StaffAction::SendLink, "desk-button-send-link")]);
        rows.push(vec![
            staff(StaffAction::Unlock, "desk-button-unlock"),
            staff(StaffAction::LiftBlock, "desk-button-lift-block"),
        ]);
        if two_factor_on {
            rows.push(vec![staff(StaffAction::ResetTwoFactor, "desk-button-reset-2fa")]);
        }
    }
    rows.push(vec![
        staff(StaffAction::Close, "desk-button-close"),
        staff(StaffAction::Reject, "desk-button-reject"),
    ]);
    InlineKeyboardMarkup::new(rows)
}

#[cfg(test)]
mod tests {
    use teloxide::types::InlineKeyboardButtonKind;

    use super::*;

    #[test]
    fn the_link_message_opens_the_page_only_for_https_links() {
        let url: Url = "https://help.example.com/reset/abc".parse().unwrap();
        let with = reset_link(Lang::En, &url, true);
        assert_eq!(with.inline_keyboard.len(), 2);
        match &with.inline_keyboard[0][0].kind {
            InlineKeyboardButtonKind::Url(target) => assert_eq!(target, &url),
            other => panic!("not a URL button: {other:?}"),
        }
        assert_eq!(with.inline_keyboard[0][0].text, t(Lang::En, "button-open-reset-page"));
        let without = reset_link(Lang::Ru, &url, false);
        assert_eq!(without.inline_keyboard.len(), 1, "only the way back to the menu");
        assert_eq!(without.inline_keyboard[0][0].text, t(Lang::Ru, "button-back-to-menu"));
    }
}
