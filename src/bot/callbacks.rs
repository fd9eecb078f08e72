//! Callback data of every inline button: one typed value per button, encoded
//! and parsed side by side, always under Telegram's 64 bytes. The tree in
//! `schema.rs` routes on the parsed value.

use crate::domain::{AccountId, Category, Lang, StaffAction, TicketId};

/// The menu's topics, in the order of the seed guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    ForgotPassword,
    AccountLocked,
    LostTwoFactor,
    LostContact,
    SubscriptionExpired,
    /// Prevention: 2FA, backup codes, contacts on file, notifications.
    MySecurity,
    /// Anything else: whom to contact.
    Other,
}

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::ForgotPassword,
        Topic::AccountLocked,
        Topic::LostTwoFactor,
        Topic::LostContact,
        Topic::SubscriptionExpired,
        Topic::MySecurity,
        Topic::Other,
    ];

    fn code(self) -> &'static str {
        match self {
            Topic::ForgotPassword => "forgot",
            Topic::AccountLocked => "locked",
            Topic::LostTwoFactor => "2fa",
            Topic::LostContact => "contact",
            Topic::SubscriptionExpired => "license",
            Topic::MySecurity => "security",
            Topic::Other => "other",
        }
    }
}

/// A language picked with /language; its own type, so that routing on it
/// does not mix with the user's current language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageChoice(pub Lang);

/// An account picked from those on a verified phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PickedAccount(pub AccountId);

/// "It wasn't me" under a password-changed notice, for this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotMe(pub AccountId);

/// "Notify my company administrator" under a lapsed licence, for this
/// account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyAdmins(pub AccountId);

/// "Talk to support" from a path that cannot finish by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportFor(pub Category);

/// What a user does with their own ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketButton {
    /// Skip an optional question (or the rating's comment).
    Skip,
    /// Done with the attachments: submit.
    Submit,
    Close(TicketId),
    Reopen(TicketId),
    Rate(TicketId, u8),
}

/// A staff button on a ticket's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffPress(pub TicketId, pub StaffAction);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Menu,
    Topic(Topic),
    PickAccount(PickedAccount),
    Language(LanguageChoice),
    NotMe(NotMe),
    /// "Notify me when it unlocks", for the account just explained.
    NotifyUnlock,
    /// "Reset the password now", for the account just explained.
    ResetNow,
    NotifyAdmins(NotifyAdmins),
    Support(SupportFor),
    Ticket(TicketButton),
    Staff(StaffPress),
    /// "Send a new code" while a mailed code is awaited.
    NewCode,
    /// "Link" under a pre-link from the CRM.
    ConfirmLink,
    /// "Withdraw the request" under a binding hold: this hold.
    WithdrawHold(i64),
    /// A button of the 2FA and "My security" screens.
    Security(SecurityButton),
}

/// What a user does on the 2FA and "My security" screens; each acts on the
/// account its state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityButton {
    /// Lost the device and has no backup code: a ticket.
    NoBackupCode,
    /// Set 2FA up (again).
    SetUp,
    /// A new set of backup codes.
    NewCodes,
    /// Sign-in notifications on or off.
    ToggleSignIns,
    /// New-device notifications on or off.
    ToggleNewDevices,
}

impl SecurityButton {
    const ALL: [SecurityButton; 5] = [
        SecurityButton::NoBackupCode,
        SecurityButton::SetUp,
        SecurityButton::NewCodes,
        SecurityButton::ToggleSignIns,
        SecurityButton::ToggleNewDevices,
    ];

    fn code(self) -> &'static str {
        match self {
            SecurityButton::NoBackupCode => "nocode",
            SecurityButton::SetUp => "setup",
            SecurityButton::NewCodes => "codes",
            SecurityButton::ToggleSignIns => "signins",
            SecurityButton::ToggleNewDevices => "devices",
        }
    }
}

impl Callback {
    pub fn encode(self) -> String {
        match self {
            Callback::Menu => "menu".to_owned(),
            Callback::Topic(topic) => format!("t:{}", topic.code()),
            Callback::PickAccount(PickedAccount(id)) => format!("acct:{id}"),
            Callback::Language(LanguageChoice(lang)) => format!("lang:{}", lang.code()),
            Callback::NotMe(NotMe(id)) => format!("notme:{id}"),
            Callback::NotifyUnlock => "unlock:notify".to_owned(),
            Callback::ResetNow => "unlock:reset".to_owned(),
            Callback::NotifyAdmins(NotifyAdmins(id)) => format!("admins:{id}"),
            Callback::Support(SupportFor(category)) => format!("sup:{}", category.as_str()),
            Callback::Ticket(TicketButton::Skip) => "tk:skip".to_owned(),
            Callback::Ticket(TicketButton::Submit) => "tk:submit".to_owned(),
            Callback::Ticket(TicketButton::Close(id)) => format!("tk:close:{id}"),
            Callback::Ticket(TicketButton::Reopen(id)) => format!("tk:reopen:{id}"),
            Callback::Ticket(TicketButton::Rate(id, rating)) => format!("tk:rate:{id}:{rating}"),
            Callback::Staff(StaffPress(id, action)) => format!("st:{id}:{}", action.code()),
            Callback::NewCode => "code:new".to_owned(),
            Callback::ConfirmLink => "link:confirm".to_owned(),
            Callback::WithdrawHold(id) => format!("hold:{id}"),
            Callback::Security(button) => format!("sec:{}", button.code()),
        }
    }

    /// `None` for anything we did not produce (old versions, forgeries).
    pub fn parse(data: &str) -> Option<Self> {
        if data == "menu" {
            return Some(Callback::Menu);
        }
        let (prefix, value) = data.split_once(':')?;
        let account = || value.parse().ok().map(AccountId);
        match prefix {
            "t" => Topic::ALL.into_iter().find(|t| t.code() == value).map(Callback::Topic),
            "acct" => account().map(|id| Callback::PickAccount(PickedAccount(id))),
            "lang" => Lang::parse(value).map(|lang| Callback::Language(LanguageChoice(lang))),
            "notme" => account().map(|id| Callback::NotMe(NotMe(id))),
            "unlock" if value == "notify" => Some(Callback::NotifyUnlock),
            "unlock" if value == "reset" => Some(Callback::ResetNow),
            "admins" => account().map(|id| Callback::NotifyAdmins(NotifyAdmins(id))),
            "sup" => Category::parse(value).map(|c| Callback::Support(SupportFor(c))),
            "code" if value == "new" => Some(Callback::NewCode),
            "link" if value == "confirm" => Some(Callback::ConfirmLink),
            "hold" => value.parse().ok().map(Callback::WithdrawHold),
            "sec" => SecurityButton::ALL
                .into_iter()
                .find(|button| button.code() == value)
                .map(Callback::Security),
            "tk" => parse_ticket_button(value).map(Callback::Ticket),
            "st" => {
                let (id, action) = value.split_once(':')?;
                let id = TicketId(id.parse().ok()?);
                StaffAction::parse(action).map(|action| Callback::Staff(StaffPress(id, action)))
            }
            _ => None,
        }
    }
}

fn parse_ticket_button(value: &str) -> Option<TicketButton> {
    let mut parts = value.split(':');
    let button = match (parts.next()?, parts.next(), parts.next()) {
        ("skip", None, None) => TicketButton::Skip,
        ("submit", None, None) => TicketButton::Submit,
        ("close", Some(id), None) => TicketButton::Close(TicketId(id.parse().ok()?)),
        ("reopen", Some(id), None) => TicketButton::Reopen(TicketId(id.parse().ok()?)),
        ("rate", Some(id), Some(rating)) => {
            let rating: u8 = rating.parse().ok()?;
            (1..=5).contains(&rating).then_some(())?;
            TicketButton::Rate(TicketId(id.parse().ok()?), rating)
        }
        _ => return None,
    };
    parts.next().is_none().then_some(button)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_round_trips_within_64_bytes() {
        let mut all = vec![
            Callback::Menu,
            Callback::NotifyUnlock,
            Callback::ResetNow,
            Callback::NewCode,
            Callback::ConfirmLink,
            Callback::WithdrawHold(i64::MAX),
            Callback::PickAccount(PickedAccount(AccountId(i64::MAX))),
            Callback::NotMe(NotMe(AccountId(i64::MIN))),
            Callback::NotifyAdmins(NotifyAdmins(AccountId(i64::MIN))),
        ];
        all.extend(Topic::ALL.map(Callback::Topic));
        all.extend(SecurityButton::ALL.map(Callback::Security));
        all.extend(Category::ALL.map(|c| Callback::Support(SupportFor(c))));
        all.extend(StaffAction::ALL.map(|a| Callback::Staff(StaffPress(TicketId(i64::MAX), a))));
        for button in [
            TicketButton::Skip,
            TicketButton::Submit,
            TicketButton::Close(TicketId(i64::MAX)),
            TicketButton::Reopen(TicketId(i64::MIN)),
            TicketButton::Rate(TicketId(i64::MAX), 5),
        ] {
            all.push(Callback::Ticket(button));
        }
        all.extend(Lang::ALL.map(|lang| Callback::Language(LanguageChoice(lang))));
        for callback in all {
            let data = callback.encode();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Callback::parse(&data), Some(callback));
        }
    }

    #[test]
    fn unknown_payloads_are_none() {
        for data in [
            "",
            "x",
            "t:nope",
            "t:support",
            "acct:abc",
            "lang:de",
            "notme:",
            "menu:1",
            "unlock:x",
            "admins:x",
            "hold:",
            "hold:x",
            "sec:nope",
            "sup:nope",
            "tk:rate:1:6",
            "tk:rate:1:0",
            "tk:close:x",
            "tk:skip:1",
            "st:1:explode",
            "st:x:take",
        ] {
            assert_eq!(Callback::parse(data), None, "{data}");
        }
    }
}
