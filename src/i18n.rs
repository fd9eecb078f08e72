//! Fluent messages from `locales/{en,ru}`, compiled into the binary.

use std::{borrow::Cow, collections::HashMap};

use chrono::{DateTime, Datelike, Offset, Utc};
use chrono_tz::Tz;
use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue, langid};

use crate::domain::{Lang, PasswordPolicy, PasswordRejection};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Without this every inserted value is wrapped in invisible
        // U+2068/U+2069 marks, which break links and copy-paste.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static EN: LanguageIdentifier = langid!("en");
static RU: LanguageIdentifier = langid!("ru");

fn id(lang: Lang) -> &'static LanguageIdentifier {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}

/// The message `key` in `lang`. A missing key is a bug caught by the locale
/// tests; at run time it is logged and the key itself is shown.
pub fn t(lang: Lang, key: &str) -> String {
    LOCALES.try_lookup(id(lang), key).unwrap_or_else(|| missing(lang, key))
}

/// The message `key` in `lang` with named arguments.
pub fn t_args(lang: Lang, key: &str, args: &[(&'static str, FluentValue<'static>)]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue<'static>> =
        args.iter().map(|(name, value)| (Cow::Borrowed(*name), value.clone())).collect();
    LOCALES.try_lookup_with_args(id(lang), key, &args).unwrap_or_else(|| missing(lang, key))
}

/// Shorthand for a string argument.
pub fn arg(value: impl Into<String>) -> FluentValue<'static> {
    FluentValue::String(Cow::Owned(value.into()))
}

fn missing(lang: Lang, key: &str) -> String {
    tracing::error!(lang = lang.code(), key, "missing fluent message");
    key.to_owned()
}

/// Why a new password was refused, in words for the person who typed it.
pub fn password_rejection(lang: Lang, reason: &PasswordRejection) -> String {
    match *reason {
        PasswordRejection::Mismatch => t(lang, "password-mismatch"),
        PasswordRejection::TooShort { min } => {
            t_args(lang, "password-too-short", &[("min", min.into())])
        }
        PasswordRejection::TooLong { max } => {
            t_args(lang, "password-too-long", &[("max", max.into())])
        }
        PasswordRejection::Common => t(lang, "password-common"),
        PasswordRejection::ContainsContext => t(lang, "password-contains-context"),
        PasswordRejection::TooWeak => t(lang, "password-too-weak"),
    }
}

/// The password rules in a sentence or two, for the reset page.
pub fn password_rules(lang: Lang, policy: &PasswordPolicy) -> String {
    t_args(
        lang,
        "password-rules",
        &[("min", policy.min_length.into()), ("max", policy.max_length.into())],
    )
}

/// `at` as a person in `tz` reads it: "14:05 Moscow time (UTC+3)",
/// "26 November, 14:05 Moscow time (UTC+3)" when it is not today there
/// (`now`), "14:05 (UTC+5:30)" for a zone without a name in `lang`. The
/// offset is always there; a zero offset is written "UTC". The phrase
/// follows "until"/"at" and «до»/«в».
pub fn local_time(lang: Lang, at: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let mut text = String::new();
    if local.date_naive() != today {
        let month = t(lang, &format!("time-month-{}", local.month()));
        text.push_str(&format!("{} {month}", local.day()));
        if local.year() != today.year() {
            text.push_str(&format!(" {}", local.year()));
        }
        text.push_str(", ");
    }
    text.push_str(&local.format("%H:%M").to_string());
    if let Some(key) = zone_key(tz) {
        text.push(' ');
        text.push_str(&t(lang, key));
    }
    text.push_str(&format!(" ({})", utc_offset(local.offset().fix().local_minus_utc())));
    text
}

/// "UTC", "UTC+3", "UTC-3", "UTC+5:30".
fn utc_offset(seconds: i32) -> String {
    let minutes = seconds / 60;
    let (sign, minutes) = if minutes < 0 { ('-', -minutes) } else { ('+', minutes) };
    match (minutes / 60, minutes % 60) {
        (0, 0) => "UTC".to_owned(),
        (hours, 0) => format!("UTC{sign}{hours}"),
        (hours, rest) => format!("UTC{sign}{hours}:{rest:02}"),
    }
}

/// The message naming a zone, for the zones our users live in. UTC itself
/// has none: "(UTC)" already names it.
fn zone_key(tz: Tz) -> Option<&'static str> {
    Some(match tz.name() {
        "Europe/Kaliningrad" => "tz-europe-kaliningrad",
        "Europe/Moscow" => "tz-europe-moscow",
        "Europe/Samara" => "tz-europe-samara",
        "Asia/Yekaterinburg" => "tz-asia-yekaterinburg",
        "Asia/Omsk" => "tz-asia-omsk",
        "Asia/Novosibirsk" => "tz-asia-novosibirsk",
        "Asia/Krasnoyarsk" => "tz-asia-krasnoyarsk",
        "Asia/Irkutsk" => "tz-asia-irkutsk",
        "Asia/Yakutsk" => "tz-asia-yakutsk",
        "Asia/Vladivostok" => "tz-asia-vladivostok",
        "Asia/Magadan" => "tz-asia-magadan",
        "Asia/Kamchatka" => "tz-asia-kamchatka",
        "Europe/Minsk" => "tz-europe-minsk",
        "Europe/Kyiv" | "Europe/Kiev" => "tz-europe-kyiv",
        "Asia/Almaty" => "tz-asia-almaty",
        "Asia/Tashkent" => "tz-asia-tashkent",
        "Europe/London" => "tz-europe-london",
        "Europe/Berlin" | "Europe/Paris" | "Europe/Amsterdam" | "Europe/Brussels"
        | "Europe/Madrid" | "Europe/Rome" | "Europe/Vienna" | "Europe/Prague" | "Europe/Warsaw" => {
            "tz-central-europe"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, fs, path::Path};

    use fluent_templates::fluent_bundle::FluentValue;

    use super::*;

    fn keys(lang: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales").join(lang);
        let mut keys = BTreeSet::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                let starts_message = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
                if let (true, Some((key, _))) = (starts_message, line.split_once('=')) {
                    let file = path.file_name().unwrap().to_string_lossy();
                    keys.insert(format!("{file}:{}", key.trim()));
                }
            }
        }
        keys
    }

    #[test]
    fn english_and_russian_have_the_same_keys_in_the_same_files() {
        let (en, ru) = (keys("en"), keys("ru"));
        assert!(!en.is_empty());
        let only_en: Vec<_> = en.difference(&ru).collect();
        let only_ru: Vec<_> = ru.difference(&en).collect();
        assert!(
            only_en.is_empty() && only_ru.is_empty(),
            "en only: {only_en:?}; ru only: {only_ru:?}"
        );
    }

    /// Each message formats in its own language without errors (fluent
    /// would otherwise fall back to English, or print `{$typo}`).
    #[test]
    fn every_message_formats_in_its_own_language() {
        let mut args: HashMap<&str, FluentValue> = [
            "name",
            "url",
            "expires",
            "time",
            "login",
            "min",
            "max",
            "brand",
            "company",
            "date",
            "day",
            "failures",
            "since",
            "until",
            "minutes",
            "ticket",
            "category",
            "due",
            "contact",
            "state",
            "user",
            "id",
            "language",
            "phone",
            "email",
            "account",
            "claimed",
            "real",
            "text",
            "reason",
            "rating",
            "admins",
            "who",
            "age",
            "hours",
            "action",
            "telegram",
            "code",
            "email",
            "left",
            "ip",
            "device",
            "two_factor",
            "sign_ins",
            "new_devices",
            "key",
        ]
        .into_iter()
        .map(|name| (name, FluentValue::from("x")))
        .collect();
        for key in keys("en") {
            let key = key.split_once(':').unwrap().1;
            // Counts, each plural form of both languages.
            for (lang, n) in Lang::ALL.into_iter().flat_map(|l| [0, 1, 2, 5, 21].map(|n| (l, n))) {
                args.insert("days", FluentValue::from(n));
                args.insert("count", FluentValue::from(n));
                let text = LOCALES.lookup_single_language(id(lang), key, Some(&args));
                assert!(text.as_ref().is_ok_and(|t| !t.is_empty()), "{key} in {lang:?}: {text:?}");
            }
        }
    }

    /// Keys built from a staff action at run time.
    #[test]
    fn every_staff_action_has_its_name() {
        for action in crate::domain::StaffAction::ALL {
            let key = format!("desk-action-{}", action.code());
            for lang in Lang::ALL {
                assert!(
                    LOCALES.lookup_single_language::<&str>(id(lang), &key, None).is_ok(),
                    "{key}"
                );
            }
        }
    }

    /// Keys built from a ticket's category at run time.
    #[test]
    fn every_category_has_its_names() {
        for category in crate::domain::Category::ALL {
            for prefix in ["desk-category", "ticket-category"] {
                let key = format!("{prefix}-{}", category.as_str());
                for lang in Lang::ALL {
                    assert!(
                        LOCALES.lookup_single_language::<&str>(id(lang), &key, None).is_ok(),
                        "{key}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_key_used_in_the_code_exists() {
        let en = keys("en");
        let known: BTreeSet<&str> = en.iter().map(|k| k.split_once(':').unwrap().1).collect();
        let mut used = BTreeSet::new();
        visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut |text| {
            used.extend(used_keys(text));
        });
        assert!(used.len() > 40, "the scanner finds the lookups: {used:?}");
        let unknown: Vec<_> = used.iter().filter(|k| !known.contains(k.as_str())).collect();
        assert!(unknown.is_empty(), "keys used in src/ but missing from locales: {unknown:?}");
    }

    /// The literal key of every `t(<lang>, "key"` and `t_args(<lang>, "key"`.
    fn used_keys(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["t(", "t_args("] {
            let mut rest = text;
            while let Some(at) = rest.find(marker) {
                let preceded_by_ident =
                    rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
                rest = &rest[at + marker.len()..];
                let Some((lang, after)) = rest.split_once(',') else { break };
                let lang_is_simple =
                    lang.trim().chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.');
                if preceded_by_ident || !lang_is_simple {
                    continue;
                }
                if let Some(literal) = after.trim_start().strip_prefix('"')
                    && let Some(end) = literal.find('"')
                {
                    found.push(literal[..end].to_owned());
                }
            }
        }
        found
    }

    fn visit(dir: &Path, f: &mut dyn FnMut(&str)) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, f);
            } else if path.extension().is_some_and(|e| e == "rs") {
                f(&fs::read_to_string(&path).unwrap());
            }
        }
    }

    #[test]
    fn values_are_inserted_without_isolation_marks() {
        let text = t_args(
            Lang::En,
            "reset-link-sent",
            &[("url", arg("https://x.test/reset/abc")), ("expires", arg("12:00 UTC"))],
        );
        assert!(text.contains("https://x.test/reset/abc"));
        assert!(!text.contains('\u{2068}'));
    }

    #[test]
    fn russian_numbers_take_their_plural_forms() {
        let policy = |min| PasswordPolicy { min_length: min, ..PasswordPolicy::default() };
        let nbsp = '\u{a0}';
        for (n, word) in [
            (1, "символ"),
            (2, "символа"),
            (5, "символов"),
            (15, "символов"),
            (21, "символ"),
            (22, "символа"),
            (64, "символа"),
        ] {
            let short = password_rejection(Lang::Ru, &PasswordRejection::TooShort { min: n });
            assert!(short.contains(&format!("минимум {n}{nbsp}{word}.")), "{n}: {short}");
            let long = password_rejection(Lang::Ru, &PasswordRejection::TooLong { max: n });
            assert!(long.contains(&format!("максимум {n}{nbsp}{word}.")), "{n}: {long}");
            let rules = password_rules(Lang::Ru, &policy(n));
            assert!(rules.starts_with(&format!("Минимум {n}{nbsp}{word},")), "{n}: {rules}");
        }
        assert!(password_rules(Lang::Ru, &policy(15)).contains("максимум 128\u{a0}символов."));
    }

    #[test]
    fn english_numbers_take_their_plural_forms() {
        let short = |min| password_rejection(Lang::En, &PasswordRejection::TooShort { min });
        assert!(short(1).contains("at least 1 character."), "{}", short(1));
        assert!(short(15).contains("at least 15 characters."), "{}", short(15));
        let rules = password_rules(Lang::En, &PasswordPolicy::default());
        assert!(rules.starts_with("At least 15 characters and at most 128."), "{rules}");
    }

    #[test]
    fn every_password_rejection_has_its_message() {
        let reasons = [
            PasswordRejection::Mismatch,
            PasswordRejection::TooShort { min: 15 },
            PasswordRejection::TooLong { max: 128 },
            PasswordRejection::Common,
            PasswordRejection::ContainsContext,
            PasswordRejection::TooWeak,
        ];
        for lang in Lang::ALL {
            let texts: BTreeSet<String> =
                reasons.iter().map(|reason| password_rejection(lang, reason)).collect();
            assert_eq!(texts.len(), reasons.len(), "{lang:?}: {texts:?}");
            assert!(texts.iter().all(|text| !text.starts_with("password-")), "{texts:?}");
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-11-25T09:00:00Z";

    fn both(at: &str, tz: Tz) -> (String, String) {
        let (at, now) = (utc(at), utc(NOW));
        (local_time(Lang::En, at, tz, now), local_time(Lang::Ru, at, tz, now))
    }

    #[test]
    fn a_time_today_in_a_named_zone() {
        let (en, ru) = both("2026-11-25T11:05:00Z", chrono_tz::Europe::Moscow);
        assert_eq!(en, "14:05 Moscow time (UTC+3)");
        assert_eq!(ru, "14:05 по московскому времени (UTC+3)");
    }

    #[test]
    fn a_time_on_another_day_has_the_date() {
        let (en, ru) = both("2026-11-26T11:05:00Z", chrono_tz::Europe::Moscow);
        assert_eq!(en, "26 November, 14:05 Moscow time (UTC+3)");
        assert_eq!(ru, "26 ноября, 14:05 по московскому времени (UTC+3)");
        // Still the 25th in UTC, already the 26th in Vladivostok.
        let (en, ru) = both("2026-11-25T16:30:00Z", chrono_tz::Asia::Vladivostok);
        assert_eq!(en, "26 November, 02:30 Vladivostok time (UTC+10)");
        assert_eq!(ru, "26 ноября, 02:30 по владивостокскому времени (UTC+10)");
        // Another year says which.
        let (en, ru) = both("2027-01-02T11:05:00Z", chrono_tz::Europe::Moscow);
        assert_eq!(en, "2 January 2027, 14:05 Moscow time (UTC+3)");
        assert_eq!(ru, "2 января 2027, 14:05 по московскому времени (UTC+3)");
    }

    #[test]
    fn a_zone_without_a_name_shows_only_its_offset() {
        let (en, ru) = both("2026-11-25T09:05:00Z", chrono_tz::Asia::Karachi);
        assert_eq!((en.as_str(), ru.as_str()), ("14:05 (UTC+5)", "14:05 (UTC+5)"));
        let (en, _) = both("2026-11-25T19:05:00Z", chrono_tz::America::New_York);
        assert_eq!(en, "14:05 (UTC-5)");
        let (en, ru) = both("2026-11-25T14:05:00Z", chrono_tz::UTC);
        assert_eq!((en.as_str(), ru.as_str()), ("14:05 (UTC)", "14:05 (UTC)"));
    }

    #[test]
    fn half_hour_offsets_show_their_minutes() {
        let (en, ru) = both("2026-11-25T08:35:00Z", chrono_tz::Asia::Kolkata);
        assert_eq!((en.as_str(), ru.as_str()), ("14:05 (UTC+5:30)", "14:05 (UTC+5:30)"));
    }

    #[test]
    fn summer_time_changes_the_offset() {
        let (en, ru) = both("2026-11-25T14:05:00Z", chrono_tz::Europe::London);
        assert_eq!(en, "14:05 London time (UTC)");
        assert_eq!(ru, "14:05 по лондонскому времени (UTC)");
        let (en, ru) = both("2026-07-01T13:05:00Z", chrono_tz::Europe::London);
        assert_eq!(en, "1 July, 14:05 London time (UTC+1)");
        assert_eq!(ru, "1 июля, 14:05 по лондонскому времени (UTC+1)");
        let (en, _) = both("2026-07-01T12:05:00Z", chrono_tz::Europe::Berlin);
        assert_eq!(en, "1 July, 14:05 Central European time (UTC+2)");
    }

    #[test]
    fn every_named_zone_has_its_message() {
        for tz in chrono_tz::TZ_VARIANTS {
            if let Some(key) = zone_key(tz) {
                for lang in Lang::ALL {
                    let name = LOCALES.lookup_single_language::<&str>(id(lang), key, None);
                    assert!(name.is_ok_and(|n| !n.is_empty()), "{key} in {lang:?}");
                }
            }
        }
        for month in 1..=12 {
            let key = format!("time-month-{month}");
            for lang in Lang::ALL {
                let name = LOCALES.lookup_single_language::<&str>(id(lang), &key, None);
                assert!(name.is_ok_and(|n| !n.is_empty()), "{key} in {lang:?}");
            }
        }
    }
}
