//! CRM accounts and the identifiers people sign in with.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{AccountId, Lang, Phone};

/// A CRM login: 1–64 visible characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let login = raw.trim();
        if login.is_empty() {
            return Err("login is empty");
        }
        if login.chars().count() > 64 {
            return Err("login is longer than 64 characters");
        }
        if login.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("login contains spaces or control characters");
        }
        Ok(Self(login.to_owned()))
    }

    /// Trusts a value that was parsed before it was stored.
    pub fn from_stored(login: String) -> Self {
        Self(login)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The login as shown when a phone has several accounts: enough to
    /// recognise one's own, not enough to learn someone else's.
    pub fn masked(&self) -> String {
        mask_login(&self.0)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked for shape only (one '@', a dotted domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim();
        let shaped = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
        if !shaped || email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err("not a valid e-mail address");
        }
        Ok(Self(email.to_lowercase()))
    }

    /// Trusts a value that was parsed before it was stored.
    pub fn from_stored(email: String) -> Self {
        Self(email)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the '@'.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// An account as the recovery rules see it: every field parsed.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub login: Login,
    pub email: Email,
    pub phone: Phone,
    pub full_name: String,
    pub company: String,
    pub password_hash: Option<String>,
    /// The language the CRM has on file for this person, if any.
    pub lang: Option<Lang>,
    /// The zone times are shown in, if the CRM has one on file.
    pub time_zone: Option<Tz>,
    pub license_expires_at: Option<DateTime<Utc>>,
    pub credentials_version: i64,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    /// Blocked by an administrator: no sign-in until `accounts unlock`.
    pub blocked_at: Option<DateTime<Utc>>,
}

impl Account {
    pub fn masked_login(&self) -> String {
        self.login.masked()
    }

    /// The account's zone, else `default`.
    pub fn zone_or(&self, default: Tz) -> Tz {
        self.time_zone.unwrap_or(default)
    }
}

pub fn mask_login(login: &str) -> String {
    let chars: Vec<char> = login.chars().collect();
    let (head, tail) = match chars.len() {
        0..=2 => (1, 0),
        3..=5 => (1, 1),
        _ => (2, 2),
    };
    let head = head.min(chars.len());
    let stars = chars.len().saturating_sub(head + tail).max(1);
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(stars));
    out.extend(&chars[chars.len() - tail.min(chars.len() - head)..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_trimmed_and_checked() {
        assert_eq!(Login::parse("  ivan.petrov ").unwrap().as_str(), "ivan.petrov");
        assert!(Login::parse("").is_err());
        assert!(Login::parse("two words").is_err());
        assert!(Login::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert_eq!(Email::parse("Ivan@Example.COM").unwrap().as_str(), "ivan@example.com");
        for bad in ["", "ivan", "@example.com", "ivan@", "ivan@example", "a b@c.d", "a@b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masked_logins_keep_only_the_edges() {
        assert_eq!(mask_login("ivan.petrov"), "iv*******ov");
        assert_eq!(mask_login("anna"), "a**a");
        assert_eq!(mask_login("ab"), "a*");
        assert_eq!(mask_login("a"), "a*");
        assert_eq!(mask_login("иван.петров"), "ив*******ов");
    }
}
