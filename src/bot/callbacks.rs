//! Callback data of every inline button: one typed value per button, encoded
//! and parsed side by side, always under Telegram's 64 bytes.

use crate::domain::Lang;

/// The menu's topics, in the order of the seed guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    ForgotPassword,
    AccountLocked,
    LostTwoFactor,
    LostContact,
    SubscriptionExpired,
    Support,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::ForgotPassword,
        Topic::AccountLocked,
        Topic::LostTwoFactor,
        Topic::LostContact,
        Topic::SubscriptionExpired,
        Topic::Support,
    ];

    fn code(self) -> &'static str {
        match self {
            Topic::ForgotPassword => "forgot",
            Topic::AccountLocked => "locked",
            Topic::LostTwoFactor => "2fa",
            Topic::LostContact => "contact",
            Topic::SubscriptionExpired => "license",
            Topic::Support => "support",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    Menu,
    Topic(Topic),
    PickAccount(i64),
    Language(Lang),
    /// "It wasn't me" under a password-changed notice.
    NotMe(i64),
}

impl Callback {
    pub fn encode(self) -> String {
        match self {
            Callback::Menu => "menu".to_owned(),
            Callback::Topic(topic) => format!("t:{}", topic.code()),
            Callback::PickAccount(id) => format!("acct:{id}"),
            Callback::Language(lang) => format!("lang:{}", lang.code()),
            Callback::NotMe(id) => format!("notme:{id}"),
        }
    }

    /// `None` for anything we did not produce (old versions, forgeries).
    pub fn parse(data: &str) -> Option<Self> {
        if data == "menu" {
            return Some(Callback::Menu);
        }
        let (prefix, value) = data.split_once(':')?;
        match prefix {
            "t" => Topic::ALL.into_iter().find(|t| t.code() == value).map(Callback::Topic),
            "acct" => value.parse().ok().map(Callback::PickAccount),
            "lang" => Lang::parse(value).map(Callback::Language),
            "notme" => value.parse().ok().map(Callback::NotMe),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_round_trips_within_64_bytes() {
        let mut all =
            vec![Callback::Menu, Callback::PickAccount(i64::MAX), Callback::NotMe(i64::MIN)];
        all.extend(Topic::ALL.map(Callback::Topic));
        all.extend(Lang::ALL.map(Callback::Language));
        for callback in all {
            let data = callback.encode();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Callback::parse(&data), Some(callback));
        }
    }

    #[test]
    fn unknown_payloads_are_none() {
        for data in ["", "x", "t:nope", "acct:abc", "lang:de", "notme:", "menu:1"] {
            assert_eq!(Callback::parse(data), None, "{data}");
        }
    }
}
