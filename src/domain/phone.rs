//! Phone numbers in E.164, the key an account is found by.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A phone number normalised to E.164 (`+79161234567`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid international phone number")]
pub struct InvalidPhone;

impl Phone {
    /// Accepts what Telegram sends (digits without '+', or with it) and what
    /// people type (spaces, dashes, brackets, a `00` prefix).
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let compact: String =
            raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        let digits =
            compact.strip_prefix('+').or_else(|| compact.strip_prefix("00")).unwrap_or(&compact);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPhone);
        }
        let number = phonenumber::parse(None, format!("+{digits}")).map_err(|_| InvalidPhone)?;
        if !phonenumber::is_valid(&number) {
            return Err(InvalidPhone);
        }
        Ok(Phone(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// A number Telegram itself vouches for (a shared contact): normalised
    /// like [`Phone::parse`] when the numbering plan knows it, else taken as
    /// plain E.164 digits. New ranges and Telegram's own +888 numbers must
    /// not leave their owner stuck; they simply match no account.
    pub fn from_telegram(raw: &str) -> Result<Self, InvalidPhone> {
        Self::parse(raw).or_else(|_| {
            let digits = raw.trim().trim_start_matches('+');
            let plausible = (7..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0');
            if plausible { Ok(Phone(format!("+{digits}"))) } else { Err(InvalidPhone) }
        })
    }

    /// Trusts a value that was normalised before it was stored.
    pub fn from_stored(e164: String) -> Self {
        Phone(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as logs may show it: country code and last two digits.
    pub fn masked(&self) -> String {
        // Char-based, so even a malformed stored value cannot panic here.
        let digits: Vec<char> = self.0.trim_start_matches('+').chars().collect();
        let keep_head = digits.len().min(2);
        let keep_tail = 2.min(digits.len() - keep_head);
        let head: String = digits[..keep_head].iter().collect();
        let tail: String = digits[digits.len() - keep_tail..].iter().collect();
        format!("+{head}{}{tail}", "*".repeat(digits.len() - keep_head - keep_tail))
    }
}

/// Debug never prints the full number, so a stray `{:?}` cannot leak it.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_and_typed_forms_normalise_to_e164() {
        for raw in ["79161234567", "+79161234567", "+7 (916) 123-45-67", "0079161234567"] {
            assert_eq!(Phone::parse(raw).unwrap().as_str(), "+79161234567", "{raw}");
        }
        assert_eq!(Phone::parse("+44 7911 123456").unwrap().as_str(), "+447911123456");
    }

    #[test]
    fn garbage_is_refused() {
        for raw in ["", "+", "hello", "+7916abc4567", "123", "+0000000000", "1234567890123456789"] {
            assert_eq!(Phone::parse(raw), Err(InvalidPhone), "{raw}");
        }
    }

    #[test]
    fn telegram_numbers_outside_the_numbering_plan_are_kept_as_digits() {
        assert_eq!(Phone::from_telegram("79161234567").unwrap().as_str(), "+79161234567");
        assert_eq!(Phone::from_telegram("88801234567").unwrap().as_str(), "+88801234567");
        for raw in ["", "123", "+0123456789", "7916abc4567", "1234567890123456"] {
            assert_eq!(Phone::from_telegram(raw), Err(InvalidPhone), "{raw}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        let phone = Phone::parse("+79161234567").unwrap();
        assert_eq!(phone.masked(), "+79*******67");
        assert!(!format!("{phone:?}").contains("1234567"));
        assert_eq!(Phone::from_stored(String::new()).masked(), "+");
        assert_eq!(Phone::from_stored("+7".into()).masked(), "+7");
    }
}
