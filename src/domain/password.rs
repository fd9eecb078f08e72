//! What a new password must be before it is hashed (NIST SP 800-63B-4
//! §3.1.1.2): long enough, not common, not made of the account's own words,
//! not easy to guess. No composition rules.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use zxcvbn::Score;

/// How long a password must be, in Unicode code points after NFKC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// The minimum for an account with two-factor authentication
    /// (`PASSWORD_MIN_LENGTH_WITH_2FA`): NIST allows 8 when the password is
    /// not the only factor. At most `min_length`.
    pub min_length_with_two_factor: usize,
}

impl PasswordPolicy {
    /// The minimum lengths an operator may configure (PASSWORD_MIN_LENGTH).
    pub const MIN_LENGTH_RANGE: std::ops::RangeInclusive<usize> = 8..=64;
    pub const DEFAULT_MIN_LENGTH: usize = 15;
    /// The lowest minimum with two-factor authentication, and its default.
    pub const MIN_LENGTH_WITH_TWO_FACTOR: usize = 8;
    pub const MAX_LENGTH: usize = 128;

    /// The rules for one account: with two-factor authentication on, the
    /// shorter minimum.
    pub fn for_account(self, two_factor_on: bool) -> Self {
        if two_factor_on {
            Self { min_length: self.min_length_with_two_factor.min(self.min_length), ..self }
        } else {
            self
        }
    }

    /// Whether a password of `length` code points (NFKC) is shorter than an
    /// account without two-factor authentication may keep.
    pub fn too_short_without_two_factor(&self, length: usize) -> bool {
        length < self.min_length
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: Self::DEFAULT_MIN_LENGTH,
            max_length: Self::MAX_LENGTH,
            min_length_with_two_factor: Self::MIN_LENGTH_WITH_TWO_FACTOR,
        }
    }
}

/// Why a proposed password was refused; each has its own localised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRejection {
    Mismatch,
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// On the offline list of common and breached passwords.
    Common,
    /// Contains the login, a part of the name or e-mail, the company or "crm".
    ContainsContext,
    /// zxcvbn scores it below 3.
    TooWeak,
}

impl PasswordRejection {
    /// A stable name for audit rows.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordRejection::Mismatch => "mismatch",
            PasswordRejection::TooShort { .. } => "too_short",
            PasswordRejection::TooLong { .. } => "too_long",
            PasswordRejection::Common => "common",
            PasswordRejection::ContainsContext => "contains_context",
            PasswordRejection::TooWeak => "too_weak",
        }
    }
}

/// The form of a password that is hashed and compared: NFKC, so the same
/// password typed on different keyboards or systems gives the same bytes.
/// The verify side must pass what the user typed through this too.
pub fn normalize(raw: &str) -> String {
    raw.nfkc().collect()
}

/// The words of an account a password must not contain: lower-cased runs of
/// at least three letters or digits from the login, the e-mail's local part,
/// the full name and the company, the whole e-mail, and "crm".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordContext {
    words: Vec<String>,
}

impl PasswordContext {
    pub fn new(login: &str, email: &str, full_name: &str, company: &str) -> Self {
        let login = normalize(login).to_lowercase();
        let email = normalize(email).to_lowercase();
        let local_part = email.split('@').next().unwrap_or_default();
        let mut words = vec!["crm".to_owned()];
        for source in [login.as_str(), local_part, full_name, company] {
            words.extend(runs(&normalize(source).to_lowercase()));
        }
        // A login or local part with no run of three ("a.b") is still a word.
        if !email.is_empty() {
            words.push(email.clone());
        }
        words.retain(|word| !word.is_empty());
        words.sort();
        words.dedup();
        Self { words }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether a context word occurs in `lowered` as a whole word.
    fn found_in(&self, lowered: &str) -> bool {
        self.words.iter().any(|word| contains_whole_word(lowered, word))
    }
}

/// Runs of at least three letters or digits: "ivan.petrov" → ivan, petrov.
fn runs(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|run| run.chars().count() >= 3)
        .map(str::to_owned)
}

/// `word` occurs in `text` bounded on each side by the text's end or by a
/// character that is not a letter or digit: "ann" is in "ann-42" but not in
/// "annual".
fn contains_whole_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// On the offline list of about 100,000 common and breached passwords that
/// the `passwords` crate compiles into the binary. The list is mostly lower
/// case, so the lower-cased password is looked up, and the password as typed
/// for the few entries with capitals.
fn is_common(normalized: &str) -> bool {
    let lowered = normalized.to_lowercase();
    passwords::analyzer::is_common_password(&lowered)
        || (lowered != normalized && passwords::analyzer::is_common_password(normalized))
}

/// The cheap checks (the two entries match, the length is allowed), run
/// before queueing the expensive ones. Returns the NFKC form.
fn check_length(
    candidate: &str,
    confirmation: &str,
    policy: &PasswordPolicy,
) -> Result<String, PasswordRejection> {
    let normalized = normalize(candidate);
    if normalized != normalize(confirmation) {
        return Err(PasswordRejection::Mismatch);
    }
    let length = normalized.chars().count();
    if length < policy.min_length {
        return Err(PasswordRejection::TooShort { min: policy.min_length });
    }
    if length > policy.max_length {
        return Err(PasswordRejection::TooLong { max: policy.max_length });
    }
    Ok(normalized)
}

/// Only the cheap rules (mismatch, length): microseconds, safe on any thread.
pub fn precheck(
    candidate: &str,
    confirmation: &str,
    policy: &PasswordPolicy,
) -> Result<(), PasswordRejection> {
    check_length(candidate, confirmation, policy).map(drop)
}

/// A password that passed every rule, in its NFKC form. Debug hides it.
pub struct NewPassword(String);

impl NewPassword {
    /// Checks in order: mismatch, too short, too long, common, context words,
    /// zxcvbn score ≥ 3 (with the context words as user inputs).
    /// zxcvbn takes milliseconds: call from a blocking thread.
    pub fn parse(
        candidate: &str,
        confirmation: &str,
        context: &PasswordContext,
        policy: &PasswordPolicy,
    ) -> Result<Self, PasswordRejection> {
        let normalized = check_length(candidate, confirmation, policy)?;
        if is_common(&normalized) {
            return Err(PasswordRejection::Common);
        }
        if context.found_in(&normalized.to_lowercase()) {
            return Err(PasswordRejection::ContainsContext);
        }
        let inputs: Vec<&str> = context.words.iter().map(String::as_str).collect();
        if zxcvbn::zxcvbn(&normalized, &inputs).score() < Score::Three {
            return Err(PasswordRejection::TooWeak);
        }
        Ok(Self(normalized))
    }

    /// The NFKC form: what gets hashed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in code points (NFKC), as the rules count it.
    pub fn length(&self) -> usize {
        self.0.chars().count()
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

    fn ivan() -> PasswordContext {
        PasswordContext::new("ivan.petrov", "i.petrov@example.com", "Иван Петров", "Ромашка")
    }

    fn check(candidate: &str) -> Result<NewPassword, PasswordRejection> {
        NewPassword::parse(candidate, candidate, &ivan(), &PasswordPolicy::default())
    }

    fn refusal(candidate: &str) -> PasswordRejection {
        check(candidate).map(|_| ()).unwrap_err()
    }

    #[test]
    fn strong_passwords_pass() {
        assert!(check("correct horse battery staple").is_ok());
        assert!(check("Tr0ub4dor&3-Zebra-Quilt").is_ok());
        assert!(check("вечерний-звон-гремит-77").is_ok());
    }

    #[test]
    fn no_composition_rules() {
        // Lower-case letters and spaces only.
        assert!(check("purple elephants dance quietly").is_ok());
    }

    #[test]
    fn mismatch_comes_first() {
        let policy = PasswordPolicy::default();
        let refused = NewPassword::parse("short", "other", &ivan(), &policy);
        assert_eq!(refused.unwrap_err(), PasswordRejection::Mismatch);
        assert_eq!(precheck("a", "b", &policy), Err(PasswordRejection::Mismatch));
    }

    #[test]
    fn length_bounds_come_from_the_policy() {
        assert_eq!(refusal("glacier-mints7"), PasswordRejection::TooShort { min: 15 });
        let eight = PasswordPolicy { min_length: 8, ..PasswordPolicy::default() };
        assert_eq!(precheck("kq7!vz#w", "kq7!vz#w", &eight), Ok(()));
        assert_eq!(
            precheck("kq7!vz#", "kq7!vz#", &eight),
            Err(PasswordRejection::TooShort { min: 8 })
        );
    }

    #[test]
    fn two_factor_lowers_the_minimum() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.for_account(false).min_length, 15);
        let with = policy.for_account(true);
        assert_eq!(with.min_length, 8);
        assert_eq!(precheck("kq7!vz#w", "kq7!vz#w", &with), Ok(()));
        assert_eq!(
            precheck("kq7!vz#w", "kq7!vz#w", &policy),
            Err(PasswordRejection::TooShort { min: 15 })
        );
        // Never above the minimum without it.
        let odd = PasswordPolicy { min_length: 10, min_length_with_two_factor: 12, ..policy };
        assert_eq!(odd.for_account(true).min_length, 10);
        assert!(policy.too_short_without_two_factor(14));
        assert!(!policy.too_short_without_two_factor(15));
    }

    #[test]
    fn long_passwords_up_to_128_are_accepted() {
        let unit = "Zebra quilt 9 ";
        let of_length = |n: usize| unit.repeat(10).chars().take(n).collect::<String>();
        assert!(check(&of_length(64)).is_ok());
        assert!(check(&of_length(128)).is_ok());
        assert_eq!(refusal(&of_length(129)), PasswordRejection::TooLong { max: 128 });
        let policy = PasswordPolicy::default();
        assert_eq!(precheck(&of_length(128), &of_length(128), &policy), Ok(()));
    }

    #[test]
    fn length_counts_code_points_after_nfkc() {
        // Fifteen "é" typed as e + combining acute: 30 code points as typed,
        // 15 once composed.
        let decomposed = "e\u{301}".repeat(15);
        let policy = PasswordPolicy { min_length: 15, max_length: 15, ..PasswordPolicy::default() };
        assert_eq!(precheck(&decomposed, &decomposed, &policy), Ok(()));
        assert_eq!(normalize(&decomposed), "é".repeat(15));
        // "ﬁ" is one code point as typed, "fi" (two) once normalised: 14
        // as typed, 15 after NFKC.
        let ligature = "ﬁre-otter-lamp";
        assert_eq!(ligature.chars().count(), 14);
        let parsed = check(ligature).unwrap();
        assert_eq!(parsed.expose(), "fire-otter-lamp");
    }

    #[test]
    fn the_two_entries_are_compared_normalised() {
        let composed = "café-otter-lamp-9";
        let decomposed = "cafe\u{301}-otter-lamp-9";
        let parsed = NewPassword::parse(composed, decomposed, &ivan(), &PasswordPolicy::default());
        assert_eq!(parsed.unwrap().expose(), composed);
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case_or_width() {
        // Entries of the list that are long enough to pass the length rule.
        for entry in
            ["password123456789", "passwordpassword", "1qaz2wsx3edc4rfv", "manchesterunited"]
        {
            assert_eq!(refusal(entry), PasswordRejection::Common, "{entry}");
        }
        assert_eq!(refusal("PassWordPassword"), PasswordRejection::Common);
        assert_eq!(refusal("MANCHESTERUNITED"), PasswordRejection::Common);
        // Fullwidth letters are NFKC-normalised to ASCII first.
        assert_eq!(refusal("ｐａｓｓｗｏｒｄｐａｓｓｗｏｒｄ"), PasswordRejection::Common);
        // An entry with capitals matches as written.
        assert_eq!(refusal("Neworleans12345"), PasswordRejection::Common);
    }

    #[test]
    fn context_words_are_refused_as_whole_words() {
        let ann = PasswordContext::new("ann", "ann@example.com", "Ann Lee", "Globex");
        let policy = PasswordPolicy::default();
        let parse = |p: &str| NewPassword::parse(p, p, &ann, &policy).map(|_| ());
        assert_eq!(parse("ann-loves-gardening-42"), Err(PasswordRejection::ContainsContext));
        assert_eq!(parse("Loves gardening, ANN!"), Err(PasswordRejection::ContainsContext));
        assert_eq!(parse("annual report spring"), Ok(()));
    }

    #[test]
    fn login_parts_and_name_parts_are_context_words() {
        assert_eq!(refusal("xX-Ivan.Petrov-Zebra-91"), PasswordRejection::ContainsContext);
        assert_eq!(refusal("zebra quilt petrov lamp"), PasswordRejection::ContainsContext);
        assert_eq!(refusal("зебра ИВАН лампа 42"), PasswordRejection::ContainsContext);
    }

    #[test]
    fn the_email_local_part_counts_on_its_own() {
        // The local part "ipetrov7" is neither the login nor in the name.
        let other = PasswordContext::new("ivan", "ipetrov7@example.com", "Ivan", "Globex");
        let policy = PasswordPolicy::default();
        let pw = "zebra ipetrov7 quilt lamp";
        assert_eq!(
            NewPassword::parse(pw, pw, &other, &policy).map(|_| ()),
            Err(PasswordRejection::ContainsContext)
        );
        // Without a run of three the whole e-mail is still a word.
        let short = PasswordContext::new("qz", "a.b@ex.io", "Q", "Z");
        let pw = "zebra a.b@ex.io quilt";
        assert_eq!(
            NewPassword::parse(pw, pw, &short, &policy).map(|_| ()),
            Err(PasswordRejection::ContainsContext)
        );
    }

    #[test]
    fn crm_and_the_company_are_context_words() {
        assert_eq!(refusal("my CRM zebra quilt lamp"), PasswordRejection::ContainsContext);
        assert_eq!(refusal("ромашка-зебра-лампа-9"), PasswordRejection::ContainsContext);
        // Inside a longer word they are not.
        assert!(check("scrmble zebra quilt lamp").is_ok());
    }

    #[test]
    fn context_words_split_into_runs_of_three() {
        let context = PasswordContext::new("ivan.petrov", "ip@x.io", "Jo Ann-Marie", "ACME Inc");
        let words = context.words();
        for word in ["ivan", "petrov", "ann", "marie", "acme", "inc", "crm", "ip@x.io"] {
            assert!(words.iter().any(|w| w == word), "{word} in {words:?}");
        }
        assert!(!words.iter().any(|w| w == "jo" || w == "ip"), "{words:?}");
        let whole = PasswordContext::new("ivanpetrov", "x@y.io", "", "");
        assert!(whole.words().iter().any(|w| w == "ivanpetrov"));
    }

    #[test]
    fn guessable_passwords_are_too_weak() {
        assert_eq!(refusal("aaaaaaaaaaaaaaaaaaaa1"), PasswordRejection::TooWeak);
        assert_eq!(refusal("qwertyuiopasdfghjk"), PasswordRejection::TooWeak);
    }

    #[test]
    fn audit_names_are_stable() {
        let names: Vec<_> = [
            PasswordRejection::Mismatch,
            PasswordRejection::TooShort { min: 15 },
            PasswordRejection::TooLong { max: 128 },
            PasswordRejection::Common,
            PasswordRejection::ContainsContext,
            PasswordRejection::TooWeak,
        ]
        .into_iter()
        .map(PasswordRejection::as_str)
        .collect();
        assert_eq!(
            names,
            ["mismatch", "too_short", "too_long", "common", "contains_context", "too_weak"]
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let parsed = check("correct horse battery staple").unwrap();
        assert_eq!(format!("{parsed:?}"), "NewPassword(***)");
    }
}
