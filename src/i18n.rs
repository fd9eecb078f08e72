//! Fluent messages from `locales/{en,ru}`, compiled into the binary.

use std::{borrow::Cow, collections::HashMap};

use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue, langid};

use crate::domain::Lang;

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
        let args: HashMap<&str, FluentValue> =
            ["name", "url", "expires", "time", "login", "min", "max"]
                .into_iter()
                .map(|name| (name, FluentValue::from("x")))
                .collect();
        for key in keys("en") {
            let key = key.split_once(':').unwrap().1;
            for lang in Lang::ALL {
                let text = LOCALES.lookup_single_language(id(lang), key, Some(&args));
                assert!(text.as_ref().is_ok_and(|t| !t.is_empty()), "{key} in {lang:?}: {text:?}");
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
}
