//! Client companies of the CRM: a company is its name as the CRM writes it
//! in an account's `company`, and it holds the licence (subscription) that
//! all its accounts share.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

/// A company's name: trimmed, 1–200 characters, no control characters.
/// Two names are the same company only if they are written the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompanyName(String);

impl CompanyName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("company is empty");
        }
        if name.chars().count() > 200 {
            return Err("company is longer than 200 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("company contains control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// Trusts a value that was parsed before it was stored.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CompanyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A company as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub name: CompanyName,
    /// The end of the licence; `None` when the CRM has not said.
    pub license_expires_at: Option<DateTime<Utc>>,
}

/// A licence's end as the CRM writes it: `2026-12-31` (the end of that day,
/// UTC) or a full RFC 3339 instant.
pub fn parse_licence_end(raw: &str) -> Result<DateTime<Utc>, &'static str> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(23, 59, 59))
        .map(|end| end.and_utc())
        .ok_or("not a date (2026-12-31 or RFC 3339)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(CompanyName::parse("  Acme Ltd ").unwrap().as_str(), "Acme Ltd");
        assert!(CompanyName::parse(" ").is_err());
        assert!(CompanyName::parse("a\nb").is_err());
        assert!(CompanyName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn licence_ends_accept_a_day_or_an_instant() {
        let end = |raw| parse_licence_end(raw).map(|at| at.to_rfc3339());
        assert_eq!(end("2026-12-31"), Ok("2026-12-31T23:59:59+00:00".into()));
        assert_eq!(end("2026-12-31T10:00:00+03:00"), Ok("2026-12-31T07:00:00+00:00".into()));
        for bad in ["", "soon", "2026-13-01", "31.12.2026"] {
            assert!(end(bad).is_err(), "{bad}");
        }
    }
}
