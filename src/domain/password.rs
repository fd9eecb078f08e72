//! What a new password must be before it is hashed.

use std::fmt;

use zxcvbn::Score;

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 128;

/// Why a proposed password was refused; each has its own localised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRejection {
    TooShort,
    TooLong,
    TooWeak,
    ContainsIdentity,
    Mismatch,
    SameAsCurrent,
}

impl PasswordRejection {
    /// A stable name for audit rows and message keys.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordRejection::TooShort => "too_short",
            PasswordRejection::TooLong => "too_long",
            PasswordRejection::TooWeak => "too_weak",
            PasswordRejection::ContainsIdentity => "contains_identity",
            PasswordRejection::Mismatch => "mismatch",
            PasswordRejection::SameAsCurrent => "same_as_current",
        }
    }
}

/// A password that passed every rule that does not need the current hash.
/// Debug hides it.
pub struct NewPassword(String);

impl NewPassword {
    /// Length in characters, not bytes; the strength estimate (zxcvbn) knows
    /// the account's own words; the login and e-mail may not appear in it.
    /// zxcvbn takes milliseconds: call from a blocking thread.
    pub fn parse(
        candidate: &str,
        confirmation: &str,
        identity: &[&str],
    ) -> Result<Self, PasswordRejection> {
        if candidate != confirmation {
            return Err(PasswordRejection::Mismatch);
        }
        let chars = candidate.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordRejection::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordRejection::TooLong);
        }
        let lowered = candidate.to_lowercase();
        let contains_identity = identity
            .iter()
            .map(|word| word.trim().to_lowercase())
            .filter(|word| word.chars().count() >= 3)
            .any(|word| lowered.contains(&word));
        if contains_identity {
            return Err(PasswordRejection::ContainsIdentity);
        }
        if zxcvbn::zxcvbn(candidate, identity).score() < Score::Three {
            return Err(PasswordRejection::TooWeak);
        }
        Ok(Self(candidate.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &[&str] = &["ivan.petrov", "ivan@example.com"];

    fn check(candidate: &str) -> Result<NewPassword, PasswordRejection> {
        NewPassword::parse(candidate, candidate, IDENTITY)
    }

    #[test]
    fn strong_passwords_pass() {
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("Tr0ub4dor&3-Zebra-Quilt").is_ok());
        assert!(check("вечерний-звон-гремит-77").is_ok());
    }

    #[test]
    fn each_rule_has_its_reason() {
        assert_eq!(check("short1!").unwrap_err(), PasswordRejection::TooShort);
        assert_eq!(check(&"Ab3$".repeat(33)).unwrap_err(), PasswordRejection::TooLong);
        assert_eq!(check("password123").unwrap_err(), PasswordRejection::TooWeak);
        assert_eq!(check("1234567890").unwrap_err(), PasswordRejection::TooWeak);
        assert_eq!(
            check("xX-Ivan.Petrov-Zebra-91").unwrap_err(),
            PasswordRejection::ContainsIdentity
        );
        assert_eq!(
            NewPassword::parse("correct horse battery staple", "correct horse", IDENTITY)
                .unwrap_err(),
            PasswordRejection::Mismatch
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Ten Cyrillic letters are twenty bytes but ten characters.
        assert!(!matches!(check("жзыкфщэюяъ"), Err(PasswordRejection::TooShort)));
        assert_eq!(check("жзыкфщэюя").unwrap_err(), PasswordRejection::TooShort);
    }
}
