//! Loading accounts from a CSV file: bad rows are reported with their line
//! numbers, good rows still import.

use std::{
    collections::{BTreeMap, HashMap},
    io::Read,
};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{
    RecoveryResult,
    accounts::{SyncSource, set_licence, sync},
    credentials,
};
use crate::{
    domain::{
        AccountUpdate, CompanyName, Email, Lang, Login, NewPassword, PasswordContext,
        PasswordPolicy, PasswordRejection, Phone, parse_licence_end,
    },
    store::Store,
};

const REQUIRED: [&str; 5] = ["login", "email", "phone", "full_name", "company"];
const OPTIONAL: [&str; 7] =
    ["password", "locale", "time_zone", "license_expires_at", "company_admin", "blocked", "active"];

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// `(line number, reason)` for every row that was skipped.
    pub rejected: Vec<(u64, String)>,
    /// `(line number, text)` for rows that imported but deserve a look
    /// (rows of one company giving different licence ends).
    pub warnings: Vec<(u64, String)>,
    /// Every login the file names, imported or not: what
    /// `--deactivate-missing` keeps.
    pub logins: std::collections::BTreeSet<String>,
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

/// One good row: the account's update, its plain password (hashed by the
/// caller) and its company's licence end.
struct Row {
    login: Login,
    update: AccountUpdate,
    password: Option<String>,
    licence_end: Option<DateTime<Utc>>,
}

/// Reads `login,email,phone,full_name,company[,password,locale,time_zone,
/// license_expires_at,company_admin,blocked,active]` with a header row;
/// upserts by login, as `PUT /api/v1/accounts/{login}` does (audited the
/// same way). A password in the file must meet the same rules as one set on
/// the reset page; a row whose password does not is reported and skipped.
/// A company's licence end is the one on its last row that gives one.
pub async fn import_accounts(
    store: &Store,
    input: impl Read,
    policy: &PasswordPolicy,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    import_accounts_with(store, input, policy, now, false).await
}

/// Like [`import_accounts`]; with `mail_on`, a changed phone or e-mail is
/// also told by mail (the running bot sends it).
pub async fn import_accounts_with(
    store: &Store,
    input: impl Read,
    policy: &PasswordPolicy,
    now: DateTime<Utc>,
    mail_on: bool,
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
    // Each company's licence end so far, and the line it came from.
    let mut licences: BTreeMap<CompanyName, (u64, DateTime<Utc>)> = BTreeMap::new();
    // Phones seen so far: (line, login); several accounts on one phone are
    // allowed (the bot asks which), but usually a mistake in the export.
    let mut phones: std::collections::HashMap<String, (u64, String)> =
        std::collections::HashMap::new();
    for record in reader.records() {
        let (line, parsed) = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let field = |name: &str| {
                    columns.get(name).and_then(|&i| record.get(i)).unwrap_or_default().to_owned()
                };
                // A row refused for another field still names its account.
                if let Ok(login) = Login::parse(&field("login")) {
                    report.logins.insert(login.to_string());
                }
                (line, parse_row(&field))
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                (line, Err(format!("unreadable row: {error}")))
            }
        };
        let mut row = match parsed {
            Ok(row) => row,
            Err(reason) => {
                report.rejected.push((line, reason));
                continue;
            }
        };
        if let Some(password) = row.password.take() {
            // With two-factor authentication on, the shorter minimum.
            let two_factor_on = store
                .two_factor_on_login(row.login.as_str())
                .await
                .map_err(super::RecoveryError::from)?;
            match check_and_hash(&row, password, policy.for_account(two_factor_on)).await? {
                Ok((hash, length)) => {
                    row.update.password_hash = Some(hash);
                    row.update.password_length = Some(length);
                }
                Err(reason) => {
                    report.rejected.push((line, reason));
                    continue;
                }
            }
        }
        sync(store, SyncSource::Csv, &row.login, &row.update, true, now, mail_on)
            .await?
            .expect("a CSV row has every required field");
        report.imported += 1;
        if let Some(phone) = &row.update.phone {
            match phones.get(phone.as_str()) {
                Some((earlier, other)) if *other != row.login.as_str() => {
                    report.warnings.push((
                        line,
                        format!(
                            "phone {} is also the phone of {other:?} (line {earlier}); the bot \
                             will ask which account is meant",
                            phone.masked()
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    phones.insert(phone.as_str().to_owned(), (line, row.login.to_string()));
                }
            }
        }
        if let (Some(end), Some(company)) = (row.licence_end, row.update.company) {
            if let Some((earlier, other)) = licences.get(&company)
                && *other != end
            {
                report.warnings.push((
                    line,
                    format!(
                        "company {:?}: license_expires_at {} differs from line {earlier} ({}); \
                         this later row wins",
                        company.as_str(),
                        end.to_rfc3339(),
                        other.to_rfc3339()
                    ),
                ));
            }
            licences.insert(company, (line, end));
        }
    }
    for (company, (_, end)) in &licences {
        set_licence(store, SyncSource::Csv, company, Some(*end), now).await?;
    }
    Ok(report)
}

/// The password rules and the hash (with the password's length), on a
/// hashing thread; `Err` is the reason for the operator.
async fn check_and_hash(
    row: &Row,
    password: String,
    policy: PasswordPolicy,
) -> RecoveryResult<Result<(String, usize), String>> {
    let update = &row.update;
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    let context = PasswordContext::new(
        row.login.as_str(),
        &text(update.email.as_ref().map(Email::as_str)),
        &text(update.full_name.as_deref()),
        &text(update.company.as_ref().map(CompanyName::as_str)),
    );
    credentials::on_hashing_thread(move || {
        match NewPassword::parse(&password, &password, &context, &policy) {
            Ok(password) => credentials::hash_blocking(password.expose())
                .map(|hash| Ok((hash, password.length()))),
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

/// One row into an account update; every required field is there.
fn parse_row(field: &dyn Fn(&str) -> String) -> Result<Row, String> {
    let login = Login::parse(&field("login")).map_err(|e| format!("login: {e}"))?;
    let email = Email::parse(&field("email")).map_err(|e| format!("email: {e}"))?;
    let phone = Phone::parse(&field("phone"))
        .map_err(|_| "phone: not a valid international number (e.g. +79161234567)".to_owned())?;
    let full_name = field("full_name");
    if full_name.is_empty() {
        return Err("full_name: empty".to_owned());
    }
    let company = CompanyName::parse(&field("company")).map_err(|e| format!("company: {e}"))?;
    let optional = |name: &str| Some(field(name)).filter(|v| !v.is_empty());

    let password = optional("password");
    let lang = optional("locale")
        .map(|code| {
            Lang::parse(&code.to_lowercase())
                .ok_or(format!("locale: {code:?} is not one of en, ru"))
        })
        .transpose()?;
    let time_zone = optional("time_zone")
        .map(|tz| {
            tz.parse::<Tz>()
                .map_err(|_| format!("time_zone: {tz:?} is not an IANA zone like Europe/Moscow"))
        })
        .transpose()?;
    let licence_end = optional("license_expires_at")
        .map(|raw| {
            parse_licence_end(&raw).map_err(|e| format!("license_expires_at: {raw:?} is {e}"))
        })
        .transpose()?;
    let flag = |name: &str| {
        optional(name)
            .map(|raw| match raw.to_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{name}: {raw:?} is not true or false")),
            })
            .transpose()
    };
    let update = AccountUpdate {
        email: Some(email),
        phone: Some(phone),
        full_name: Some(full_name),
        company: Some(company),
        // An empty field keeps the stored value: a file cannot clear one.
        lang: lang.map(Some),
        time_zone: time_zone.map(Some),
        company_admin: flag("company_admin")?,
        blocked: flag("blocked")?,
        active: flag("active")?,
        password_hash: None,
        password_length: None,
    };
    Ok(Row { login, update, password, licence_end })
}

/// `accounts import --deactivate-missing`: deactivates the active accounts
/// a full export no longer names (their links revoked, their bindings
/// dropped, audited), as `DELETE /api/v1/accounts/{login}` does. How many.
pub async fn deactivate_missing(
    store: &Store,
    named: &std::collections::BTreeSet<String>,
    now: DateTime<Utc>,
    mail_on: bool,
) -> RecoveryResult<usize> {
    let update = AccountUpdate { active: Some(false), ..AccountUpdate::default() };
    let mut deactivated = 0;
    for login in store.active_logins().await? {
        if named.contains(&login) {
            continue;
        }
        let login = Login::from_stored(login);
        if sync(store, SyncSource::Csv, &login, &update, false, now, mail_on).await?.is_ok() {
            deactivated += 1;
        }
    }
    Ok(deactivated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Result<Row, String> {
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
        let row = row(GOOD).unwrap();
        assert_eq!(row.update.phone.unwrap().as_str(), "+79161234567");
        assert!(row.password.is_none());
        let flags = (row.update.company_admin, row.update.blocked, row.update.active);
        assert_eq!(flags, (None, None, None), "empty flags keep the stored values");
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
            ("blocked", "yes", "blocked"),
            ("active", "1", "active"),
            ("company_admin", "no", "company_admin"),
        ] {
            let mut pairs = GOOD.to_vec();
            pairs.retain(|(k, _)| *k != field);
            pairs.push((field, value));
            let Err(err) = row(&pairs) else { panic!("{field} {value:?} accepted") };
            assert!(err.starts_with(expected), "{field}: {err}");
        }
    }

    #[test]
    fn flags_read_true_or_false() {
        let mut pairs = GOOD.to_vec();
        pairs.extend([("blocked", "TRUE"), ("active", "false"), ("company_admin", "true")]);
        let update = row(&pairs).unwrap().update;
        assert_eq!(
            (update.blocked, update.active, update.company_admin),
            (Some(true), Some(false), Some(true))
        );
    }
}
