//! Security notifications: what the CRM reports about an account, and what
//! the bot tells the Telegram users bound to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the CRM reports (`POST /api/v1/events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmEventKind {
    LoginSucceeded,
    NewDevice,
    PasswordChanged,
}

impl CrmEventKind {
    pub const ALL: [CrmEventKind; 3] =
        [CrmEventKind::LoginSucceeded, CrmEventKind::NewDevice, CrmEventKind::PasswordChanged];

    pub fn as_str(self) -> &'static str {
        match self {
            CrmEventKind::LoginSucceeded => "login_succeeded",
            CrmEventKind::NewDevice => "new_device",
            CrmEventKind::PasswordChanged => "password_changed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// A report from the CRM, parsed: the longest texts cut to what a message
/// can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmEvent {
    pub kind: CrmEventKind,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

impl CrmEvent {
    /// The longest user agent kept, in characters.
    pub const USER_AGENT_MAX: usize = 200;
}

/// What a bound Telegram user is told of, and what they opted in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum SecurityAlert {
    /// Opt-in: every sign-in the CRM reports.
    SignedIn,
    /// Opt-in: a sign-in from a device the CRM had not seen.
    NewDevice,
    /// Always: the password was changed (in the CRM, or here by another
    /// Telegram user).
    PasswordChanged,
    /// Always: failed sign-ins locked the account, until then (`None`:
    /// until an operator unlocks it).
    Locked { until: Option<DateTime<Utc>> },
}

impl SecurityAlert {
    pub fn of(kind: CrmEventKind) -> Self {
        match kind {
            CrmEventKind::LoginSucceeded => SecurityAlert::SignedIn,
            CrmEventKind::NewDevice => SecurityAlert::NewDevice,
            CrmEventKind::PasswordChanged => SecurityAlert::PasswordChanged,
        }
    }
}

/// Which opt-in kinds a bound user hears of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscriptions {
    pub sign_ins: bool,
    pub new_devices: bool,
}

impl Subscriptions {
    /// Whether this user is told of `kind`: lockouts and password changes
    /// always are.
    pub fn wants(self, kind: CrmEventKind) -> bool {
        match kind {
            CrmEventKind::LoginSucceeded => self.sign_ins,
            CrmEventKind::NewDevice => self.new_devices,
            CrmEventKind::PasswordChanged => true,
        }
    }

    pub fn any(self) -> bool {
        self.sign_ins || self.new_devices
    }
}

/// A user agent as a message shows it: control characters dropped,
/// whitespace collapsed, at most [`CrmEvent::USER_AGENT_MAX`] characters.
pub fn tidy_user_agent(raw: &str) -> Option<String> {
    let words: Vec<&str> = raw.split(|c: char| c.is_whitespace() || c.is_control()).collect();
    let joined = words.into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        return None;
    }
    let mut cut: String = joined.chars().take(CrmEvent::USER_AGENT_MAX).collect();
    if cut.len() < joined.len() {
        cut.push('…');
    }
    Some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in CrmEventKind::ALL {
            assert_eq!(CrmEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CrmEventKind::parse("logout"), None);
    }

    #[test]
    fn only_opted_in_kinds_are_told_but_password_changes_always() {
        let none = Subscriptions::default();
        assert!(!none.wants(CrmEventKind::LoginSucceeded));
        assert!(!none.wants(CrmEventKind::NewDevice));
        assert!(none.wants(CrmEventKind::PasswordChanged));
        let devices = Subscriptions { sign_ins: false, new_devices: true };
        assert!(devices.wants(CrmEventKind::NewDevice));
        assert!(!devices.wants(CrmEventKind::LoginSucceeded));
    }

    #[test]
    fn user_agents_are_tidied_and_cut() {
        assert_eq!(tidy_user_agent("  Firefox\n\u{7}on   Linux "), Some("Firefox on Linux".into()));
        assert_eq!(tidy_user_agent(" \n "), None);
        let long = tidy_user_agent(&"я".repeat(500)).unwrap();
        assert_eq!(long.chars().count(), CrmEvent::USER_AGENT_MAX + 1);
        assert!(long.ends_with('…'));
    }
}
