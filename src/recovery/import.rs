//! Loading accounts from a CSV file: bad rows are reported with their line
//! numbers, good rows still import.

use std::{collections::HashMap, io::Read};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{RecoveryResult, credentials};
use crate::{
    domain::{
        Email, Lang, Login, NewPassword, PasswordContext, PasswordPolicy, PasswordRejection, Phone,
    },
    store::{NewAccount, Store},
};

const REQUIRED: [&str; 5] = ["login", "email", "phone", "full_name", "company"];
const OPTIONAL: [&str; 4] = ["password", "locale", "time_zone", "license_expires_at"];

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// `(line number, reason)` for every row that was skipped.
    pub rejected: Vec<(u64, String)>,
}

/// A file that cannot be imported at all (no header, missing columns).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the CSV header: {0}")]
    Header(csv::Error),
    #[error("missing required column(s): {0}")]
    MissingColumns(String),
    #[error("unknown column(s): {0} (known: {1})")]
    UnknownColumns(String, String),
    #[error(transparent)]
    Recovery(#[from] super::RecoveryError),
}

/// Reads `login,email,phone,full_name,company[,password,locale,time_zone,
/// license_expires_at]` with a header row; upserts by login.
/// A password in the file must meet the same rules as one set on the reset
/// page; a row whose password does not is reported and skipped.
pub async fn import_accounts(
    store: &Store,
    input: impl Read,
    policy: &PasswordPolicy,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().map_err(ImportError::Header)?.clone();
    let columns: HashMap<String, usize> =
        headers.iter().enumerate().map(|(i, name)| (name.to_lowercase(), i)).collect();
    let missing: Vec<_> = REQUIRED.iter().filter(|c| !columns.contains_key(**c)).copied().collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns(missing.join(", ")));
    }
    let unknown: Vec<_> = columns
        .keys()
        .filter(|c| !REQUIRED.contains(&c.as_str()) && !OPTIONAL.contains(&c.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        let known = [REQUIRED.as_slice(), OPTIONAL.as_slice()].concat().join(", ");
        return Err(ImportError::UnknownColumns(unknown.join(", "), known));
    }

    let mut report = ImportReport::default();
    for record in reader.records() {
        let (line, parsed) = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let field = |name: &str| {
                    columns.get(name).and_then(|&i| record.get(i)).unwrap_or_default().to_owned()
                };
                (line, parse_row(&field))
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                (line, Err(format!("unreadable row: {error}")))
            }
        };
        match parsed {
            Ok((mut account, password)) => {
                if let Some(password) = password {
                    match check_and_hash(&account, password, *policy).await? {
                        Ok(hash) => account.password_hash = Some(hash),
                        Err(reason) => {
                            report.rejected.push((line, reason));
                            continue;
                        }
                    }
                }
                store_row(store, &account, now).await?;
                report.imported += 1;
            }
            Err(reason) => report.rejected.push((line, reason)),
        }
    }
    Ok(report)
}

/// The password rules and the hash, on a hashing thread; `Err` is the
/// reason for the operator.
async fn check_and_hash(
    account: &NewAccount,
    password: String,
    policy: PasswordPolicy,
) -> RecoveryResult<Result<String, String>> {
    let context =
        PasswordContext::new(&account.login, &account.email, &account.full_name, &account.company);
    credentials::on_hashing_thread(move || {
        match NewPassword::parse(&password, &password, &context, &policy) {
            Ok(password) => credentials::hash_blocking(password.expose()).map(Ok),
            Err(reason) => Ok(Err(format!("password: {}", describe(reason)))),
        }
    })
    .await
}

/// A refused password, in the operator's terms.
fn describe(reason: PasswordRejection) -> String {
    match reason {
        PasswordRejection::Mismatch => "does not match".to_owned(),
        PasswordRejection::TooShort { min } => format!("shorter than {min} characters"),
        PasswordRejection::TooLong { max } => format!("longer than {max} characters"),
        PasswordRejection::Common => "on the list of common passwords".to_owned(),
        PasswordRejection::ContainsContext => {
            "contains the login, name, e-mail, company or \"crm\"".to_owned()
        }
        PasswordRejection::TooWeak => "too easy to guess (zxcvbn score below 3)".to_owned(),
    }
}

async fn store_row(store: &Store, account: &NewAccount, now: DateTime<Utc>) -> RecoveryResult<()> {
    store.upsert_account(account, now).await?;
    Ok(())
}

/// One row into an account and its plain password (hashed by the caller).
fn parse_row(field: &dyn Fn(&str) -> String) -> Result<(NewAccount, Option<String>), String> {
    let login = Login::parse(&field("login")).map_err(|e| format!("login: {e}"))?;
    let email = Email::parse(&field("email")).map_err(|e| format!("email: {e}"))?;
    let phone = Phone::parse(&field("phone"))
        .map_err(|_| "phone: not a valid international number (e.g. +79161234567)".to_owned())?;
    let required_text = |name: &str| {
        let value = field(name);
        if value.is_empty() { Err(format!("{name}: empty")) } else { Ok(value) }
    };
    let full_name = required_text("full_name")?;
    let company = required_text("company")?;
    let optional = |name: &str| Some(field(name)).filter(|v| !v.is_empty());

    let password = optional("password");
    let locale = optional("locale")
        .map(|code| {
            Lang::parse(&code.to_lowercase())
                .map(|lang| lang.code().to_owned())
                .ok_or(format!("locale: {code:?} is not one of en, ru"))
        })
        .transpose()?;
    let time_zone = optional("time_zone")
        .map(|tz| {
            tz.parse::<Tz>()
                .map(|_| tz.clone())
                .map_err(|_| format!("time_zone: {tz:?} is not an IANA zone like Europe/Moscow"))
        })
        .transpose()?;
    let license_expires_at = optional("license_expires_at")
        .map(|raw| {
            parse_instant(&raw).ok_or(format!(
                "license_expires_at: {raw:?} is not a date (2026-12-31 or RFC 3339)"
            ))
        })
        .transpose()?;
    Ok((
        NewAccount {
            login: login.as_str().to_owned(),
            email: email.as_str().to_owned(),
            phone,
            full_name,
            company,
            password_hash: None,
            locale,
            time_zone,
            license_expires_at,
        },
        password,
    ))
}

/// `2026-12-31` (end of that day, UTC) or a full RFC 3339 instant.
fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(23, 59, 59)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Result<(NewAccount, Option<String>), String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_row(&|name| map.get(name).cloned().unwrap_or_default())
    }

    const GOOD: &[(&str, &str)] = &[
        ("login", "ivan"),
        ("email", "ivan@example.com"),
        ("phone", "+79161234567"),
        ("full_name", "Ivan Petrov"),
        ("company", "Acme"),
    ];

    #[test]
    fn a_good_row_parses() {
        let (account, password) = row(GOOD).unwrap();
        assert_eq!(account.phone.as_str(), "+79161234567");
        assert!(password.is_none());
    }

    #[test]
    fn each_bad_field_is_named() {
        for (field, value, expected) in [
            ("email", "nope", "email"),
            ("phone", "12", "phone"),
            ("company", "", "company"),
            ("locale", "de", "locale"),
            ("time_zone", "Mars/Base", "time_zone"),
            ("license_expires_at", "soon", "license_expires_at"),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.retain(|(k, _)| *k != field);
            pairs.push((field, value));
            let err = row(&pairs).unwrap_err();
            assert!(err.starts_with(expected), "{field}: {err}");
        }
    }

    #[test]
    fn dates_accept_day_or_instant() {
        assert_eq!(parse_instant("2026-12-31").unwrap().to_rfc3339(), "2026-12-31T23:59:59+00:00");
        assert_eq!(
            parse_instant("2026-12-31T10:00:00+03:00").unwrap().to_rfc3339(),
            "2026-12-31T07:00:00+00:00"
        );
    }
}
