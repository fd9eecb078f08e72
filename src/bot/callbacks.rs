//! Callback data of every inline button: one typed value per button, encoded
//! and parsed side by side, always under Telegram's 64 bytes. The tree in
//! `schema.rs` routes on the parsed value.

use crate::domain::{AccountId, Lang};

/// The menu's topics, in the order of the seed guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    ForgotPassword,
    AccountLocked,
    LostTwoFactor,
    LostContact,
    SubscriptionExpired,
    /// Anything else: whom to contact.
    Other,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::ForgotPassword,
        Topic::AccountLocked,
        Topic::LostTwoFactor,
        Topic::LostContact,
        Topic::SubscriptionExpired,
        Topic::Other,
    ];

    fn code(self) -> &'static str {
        match self {
            Topic::ForgotPassword => "forgot",
            Topic::AccountLocked => "locked",
            Topic::LostTwoFactor => "2fa",
            Topic::LostContact => "contact",
            Topic::SubscriptionExpired => "license",
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
            _ => None,
        }
    }
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
            Callback::PickAccount(PickedAccount(AccountId(i64::MAX))),
            Callback::NotMe(NotMe(AccountId(i64::MIN))),
            Callback::NotifyAdmins(NotifyAdmins(AccountId(i64::MIN))),
        ];
        all.extend(Topic::ALL.map(Callback::Topic));
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
        ] {
            assert_eq!(Callback::parse(data), None, "{data}");
        }
    }
}
