//! CRM accounts and the identifiers people sign in with.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{AccountId, CompanyName, Lang, Phone};

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

    /// As the bot shows it to whoever holds the phone: enough for the
    /// owner to recognise, `i***@e******.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        let first = |part: &str| part.chars().next().map(String::from).unwrap_or_default();
        let stars = |part: &str| "*".repeat(part.chars().count().saturating_sub(1).max(1));
        format!("{}{}@{}{}.{tld}", first(local), stars(local), first(name), stars(name))
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
    /// The password's length in code points (NFKC) when it was set; `None`
    /// for one set before this was recorded.
    pub password_length: Option<usize>,
    /// The language the CRM has on file for this person, if any.
    pub lang: Option<Lang>,
    /// The zone times are shown in, if the CRM has one on file.
    pub time_zone: Option<Tz>,
    /// The CRM's administrator of the account's company.
    pub company_admin: bool,
    /// Since when the CRM's administrator has blocked the account, if they
    /// have: no sign-in until it is lifted (API, CSV or `accounts unlock`).
    pub blocked_at: Option<DateTime<Utc>>,
    /// Since when the account is deactivated, if it is: the bot then treats
    /// its phone as it treats an unknown one.
    pub deactivated_at: Option<DateTime<Utc>>,
    pub credentials_version: i64,
    /// Since when recovery is blocked because the user said a change was
    /// not theirs ("It wasn't me"): no links until a staff admin lifts it.
    pub recovery_blocked_at: Option<DateTime<Utc>>,
    /// The last successful sign-in through the API, if any.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// When the phone or e-mail last changed: for a while after, the phone
    /// alone binds nobody.
    pub contact_changed_at: Option<DateTime<Utc>>,
}

impl Account {
    pub fn masked_login(&self) -> String {
        self.login.masked()
    }

    /// The account's zone, else `default`.
    pub fn zone_or(&self, default: Tz) -> Tz {
        self.time_zone.unwrap_or(default)
    }

    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }

    pub fn is_blocked(&self) -> bool {
        self.blocked_at.is_some()
    }
}

/// What the CRM says about one account, in a `PUT /api/v1/accounts/{login}`
/// or a CSV row, every value parsed. `None` keeps the stored value, as an
/// empty optional field of a re-import does; creating an account needs
/// the [`AccountUpdate::REQUIRED`] fields.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub full_name: Option<String>,
    pub company: Option<CompanyName>,
    /// `Some(None)` clears the stored language.
    pub lang: Option<Option<Lang>>,
    /// `Some(None)` clears the stored zone.
    pub time_zone: Option<Option<Tz>>,
    pub company_admin: Option<bool>,
    pub blocked: Option<bool>,
    pub active: Option<bool>,
    /// An argon2id PHC string (the CSV's `password`, hashed).
    pub password_hash: Option<String>,
    /// The length of that password in code points (NFKC).
    pub password_length: Option<usize>,
}

impl AccountUpdate {
    /// The fields an account cannot be created without.
    pub const REQUIRED: [&'static str; 4] = ["email", "phone", "full_name", "company"];

    /// The required fields this update leaves out, in [`Self::REQUIRED`] order.
    pub fn missing_for_create(&self) -> Vec<&'static str> {
        let present = [
            self.email.is_some(),
            self.phone.is_some(),
            self.full_name.is_some(),
            self.company.is_some(),
        ];
        Self::REQUIRED.iter().zip(present).filter(|(_, p)| !p).map(|(name, _)| *name).collect()
    }

    /// A new account for `login` (its id not yet known: `AccountId(0)`), or
    /// the required fields that are missing.
    pub fn create(&self, login: &Login, now: DateTime<Utc>) -> Result<Account, Vec<&'static str>> {
        let missing = self.missing_for_create();
        let (Some(email), Some(phone), Some(full_name), Some(company)) =
            (&self.email, &self.phone, &self.full_name, &self.company)
        else {
            return Err(missing);
        };
        let blank = Account {
            id: AccountId(0),
            login: login.clone(),
            email: email.clone(),
            phone: phone.clone(),
            full_name: full_name.clone(),
            company: company.as_str().to_owned(),
            password_hash: None,
            password_length: None,
            lang: None,
            time_zone: None,
            company_admin: false,
            blocked_at: None,
            deactivated_at: None,
            credentials_version: 0,
            recovery_blocked_at: None,
            last_sign_in_at: None,
            contact_changed_at: None,
        };
        Ok(self.apply_to(&blank, now).0)
    }

    /// `account` with this update applied at `now`, and the names of the
    /// fields that changed (`password` for a new hash; never a value).
    pub fn apply_to(&self, account: &Account, now: DateTime<Utc>) -> (Account, Vec<&'static str>) {
        let mut after = account.clone();
        let mut changed = Vec::new();
        fn set<T: PartialEq>(
            field: &mut T,
            value: Option<T>,
            name: &'static str,
            changed: &mut Vec<&'static str>,
        ) {
            if let Some(value) = value
                && *field != value
            {
                *field = value;
                changed.push(name);
            }
        }
        set(&mut after.email, self.email.clone(), "email", &mut changed);
        set(&mut after.phone, self.phone.clone(), "phone", &mut changed);
        set(&mut after.full_name, self.full_name.clone(), "full_name", &mut changed);
        let company = self.company.as_ref().map(|c| c.as_str().to_owned());
        set(&mut after.company, company, "company", &mut changed);
        set(&mut after.lang, self.lang, "locale", &mut changed);
        set(&mut after.time_zone, self.time_zone, "time_zone", &mut changed);
        set(&mut after.company_admin, self.company_admin, "company_admin", &mut changed);
        // A block or a deactivation keeps the time it began.
        let since = |flag: Option<bool>, current: Option<DateTime<Utc>>| {
            flag.map(|on| if on { current.or(Some(now)) } else { None })
        };
        set(
            &mut after.blocked_at,
            since(self.blocked, account.blocked_at),
            "blocked",
            &mut changed,
        );
        let deactivated = since(self.active.map(|active| !active), account.deactivated_at);
        set(&mut after.deactivated_at, deactivated, "active", &mut changed);
        set(
            &mut after.password_hash,
            self.password_hash.clone().map(Some),
            "password",
            &mut changed,
        );
        if self.password_hash.is_some() {
            after.password_length = self.password_length;
        }
        (after, changed)
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
    fn masked_emails_keep_the_first_letters_and_the_top_domain() {
        let email = Email::parse("ivan@example.com").unwrap();
        assert_eq!(email.masked(), "i***@e******.com");
        assert_eq!(Email::parse("a@b.co").unwrap().masked(), "a*@b*.co");
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
