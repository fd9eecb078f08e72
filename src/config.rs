//! Settings read from the environment (and an optional `.env`), validated
//! once at start-up. A bad or missing setting is one line naming the variable.

use std::{
    env,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    str::FromStr,
};

use chrono::Duration;
use chrono_tz::Tz;
use ipnet::IpNet;
use url::Url;

use crate::domain::{
    BindingPolicy, Lang, LockoutPolicy, PasswordPolicy, ResetPolicy, SecretBox, SecretKey,
    SupportHours, TelegramUserId,
};

/// Where the SQLite file lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/crm-recovery-bot.db";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// The shortest `API_TOKEN` accepted: long enough not to be guessed.
pub const API_TOKEN_MIN_CHARS: usize = 32;
/// The longest `SUPPORT_CONTACT`: a line in a message, not a page.
pub const SUPPORT_CONTACT_MAX_CHARS: usize = 200;

/// A setting that stops start-up; its message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}

/// Which database engine a `DATABASE_URL` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A validated database location.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub backend: Backend,
}

impl DatabaseConfig {
    /// Checks the URL's scheme and shape without connecting.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid("DATABASE_URL", why.to_owned());
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Url::parse(url).map_err(|e| invalid(&format!("not a valid postgres:// URL ({e})")))?;
            Backend::Postgres
        } else {
            return Err(invalid("expected sqlite://PATH or postgres://USER@HOST/DB"));
        };
        let config = Self { url: url.to_owned(), backend };
        // An in-memory database would be one per pooled connection.
        if backend == Backend::Sqlite && config.sqlite_path().is_none() {
            return Err(invalid(
                "sqlite URL needs a file path (in-memory databases are not supported)",
            ));
        }
        Ok(config)
    }

    /// Reads `DATABASE_URL`, defaulting to a SQLite file under `./data/`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(&optional("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()))
    }

    /// Where the database is, for an operator's error line: the SQLite file,
    /// or PostgreSQL's host, port and database, never its credentials.
    pub fn describe(&self) -> String {
        match self.backend {
            Backend::Sqlite => match self.sqlite_path() {
                Some(path) => format!("SQLite file {}", path.display()),
                None => "SQLite".to_owned(),
            },
            Backend::Postgres => match Url::parse(&self.url) {
                Ok(url) => format!(
                    "PostgreSQL at {}:{}{}",
                    url.host_str().unwrap_or("localhost"),
                    url.port().unwrap_or(5432),
                    url.path()
                ),
                Err(_) => "PostgreSQL".to_owned(),
            },
        }
    }

    /// The file behind a `sqlite:` URL, if it names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// Everything `run` needs. Debug output hides the secrets.
#[derive(Clone)]
pub struct Config {
    pub telegram_token: String,
    pub telegram_api_url: Url,
    pub database: DatabaseConfig,
    pub support: SupportConfig,
    /// E-mail, the second channel; `None`: off.
    pub mail: Option<MailConfig>,
    /// The second proof a new Telegram user gives (`NEW_BINDING_POLICY`).
    pub binding: BindingPolicy,
    /// After a phone or e-mail change, how long the phone alone binds
    /// nobody (`PHONE_CHANGE_COOLDOWN_DAYS`).
    pub contact_cooldown: Duration,
    /// How long handled updates stay in the inbox (`INBOX_RETENTION_HOURS`).
    pub inbox_retention: Duration,
    pub public_base_url: Url,
    pub http_addr: SocketAddr,
    pub api_token: Option<String>,
    /// How updates arrive from Telegram (`BOT_MODE`, `WEBHOOK_URL`,
    /// `WEBHOOK_SECRET`).
    pub bot_mode: BotMode,
    /// The key TOTP secrets are encrypted with (`SECRET_KEY`, and
    /// `SECRET_KEY_PREVIOUS` while rotating); `None`: 2FA enrolment is off.
    pub secret_keys: Option<SecretBox>,
    pub default_time_zone: Tz,
    pub reset: ResetPolicy,
    pub password: PasswordPolicy,
    pub lockout: LockoutPolicy,
    pub page: PageConfig,
}

/// How the reset page looks and defends itself.
#[derive(Debug, Clone)]
pub struct PageConfig {
    /// The product's name on the page (`BRAND_NAME`).
    pub brand_name: String,
    /// Where "Back to sign-in" leads (`CRM_LOGIN_URL`); no button if unset.
    pub crm_login_url: Option<Url>,
    /// Passwords waiting for or being hashed at most (`HASH_QUEUE_LIMIT`).
    pub hash_queue_limit: usize,
    /// Requests for unknown, malformed or spent links per client address
    /// and minute (`RESET_PAGE_BAD_TOKENS_PER_MINUTE`).
    pub bad_tokens_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            brand_name: "CRM".to_owned(),
            crm_login_url: None,
            hash_queue_limit: 64,
            bad_tokens_per_minute: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The support desk: where tickets go, who runs it, and how fast it answers.
#[derive(Debug, Clone)]
pub struct SupportConfig {
    /// The staff group (`SUPPORT_CHAT_ID`); groups have negative ids. Unset:
    /// no desk in Telegram, users are pointed at `contact`.
    pub chat_id: Option<i64>,
    /// Staff who may administer the desk (`STAFF_ADMIN_IDS`), without repeats.
    pub admin_ids: Vec<TelegramUserId>,
    /// How soon a ticket should be answered (`SUPPORT_SLA_MINUTES`), counted
    /// in working time when `hours` are set.
    pub sla: Duration,
    /// When staff work (`SUPPORT_HOURS`); unset: always.
    pub hours: Option<SupportHours>,
    /// The language of the staff group (`SUPPORT_LANGUAGE`).
    pub language: Lang,
    /// Whom users are told to contact when there is no staff group
    /// (`SUPPORT_CONTACT`), as free text.
    pub contact: Option<String>,
}

impl SupportConfig {
    pub const DEFAULT_SLA_MINUTES: i64 = 30;
    /// A week: a longer promise is no promise.
    pub const MAX_SLA_MINUTES: i64 = 10_080;

    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            chat_id: support_chat_id(optional("SUPPORT_CHAT_ID").as_deref())?,
            admin_ids: staff_admin_ids(optional("STAFF_ADMIN_IDS").as_deref())?,
            sla: Duration::minutes(parse_ranged(
                "SUPPORT_SLA_MINUTES",
                Self::DEFAULT_SLA_MINUTES,
                1..=Self::MAX_SLA_MINUTES,
            )?),
            hours: support_hours(optional("SUPPORT_HOURS").as_deref())?,
            language: support_language(optional("SUPPORT_LANGUAGE").as_deref())?,
            contact: support_contact(optional("SUPPORT_CONTACT"))?,
        })
    }
}

impl Default for SupportConfig {
    /// No desk: what an unset environment gives.
    fn default() -> Self {
        Self {
            chat_id: None,
            admin_ids: Vec::new(),
            sla: Duration::minutes(Self::DEFAULT_SLA_MINUTES),
            hours: None,
            language: Lang::Ru,
            contact: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("telegram_token", &"***")
            .field("telegram_api_url", &self.telegram_api_url.as_str())
            .field("database", &self.database.backend)
            .field("support", &self.support)
            .field("mail", &self.mail)
            .field("binding", &self.binding)
            .field("contact_cooldown", &self.contact_cooldown)
            .field("inbox_retention", &self.inbox_retention)
            .field("public_base_url", &self.public_base_url.as_str())
            .field("http_addr", &self.http_addr)
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("bot_mode", &self.bot_mode)
            .field("secret_keys", &self.secret_keys)
            .field("default_time_zone", &self.default_time_zone)
            .field("reset", &self.reset)
            .field("password", &self.password)
            .field("lockout", &self.lockout)
            .field("page", &self.page)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let telegram_token = optional("TELOXIDE_TOKEN").ok_or(ConfigError::Missing(
            "TELOXIDE_TOKEN",
            "set it to the token BotFather gave you",
        ))?;
        let defaults = ResetPolicy::default();
        let page = PageConfig::default();
        Ok(Self {
            telegram_token,
            telegram_api_url: parse_url("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL)?,
            database: DatabaseConfig::from_env()?,
            support: SupportConfig::from_env()?,
            binding: binding_policy(
                optional("NEW_BINDING_POLICY").as_deref(),
                optional("SMTP_URL").is_some(),
                parse_ranged(
                    "NEW_BINDING_HOLD_HOURS",
                    BindingPolicy::DEFAULT_HOLD_HOURS,
                    1..=24 * 14,
                )?,
            )?,
            mail: MailConfig::from_env()?,
            inbox_retention: Duration::hours(parse_ranged("INBOX_RETENTION_HOURS", 24, 1..=720)?),
            contact_cooldown: Duration::days(parse_ranged(
                "PHONE_CHANGE_COOLDOWN_DAYS",
                7,
                0..=90,
            )?),
            public_base_url: public_base_url(&parse_url(
                "PUBLIC_BASE_URL",
                "http://localhost:8080",
            )?)?,
            http_addr: parse_or("HTTP_ADDR", "127.0.0.1:8080".parse().expect("valid literal"))?,
            api_token: api_token(optional("API_TOKEN"))?,
            bot_mode: bot_mode(
                optional("BOT_MODE").as_deref(),
                optional("WEBHOOK_URL").as_deref(),
                optional("WEBHOOK_SECRET").as_deref(),
            )?,
            secret_keys: secret_keys(
                optional("SECRET_KEY").as_deref(),
                optional("SECRET_KEY_PREVIOUS").as_deref(),
            )?,
            default_time_zone: parse_or("DEFAULT_TIME_ZONE", Tz::UTC)?,
            reset: ResetPolicy {
                link_ttl: Duration::minutes(parse_ranged(
                    "RESET_LINK_TTL_MINUTES",
                    defaults.link_ttl.num_minutes(),
                    1..=ResetPolicy::MAX_LINK_TTL_MINUTES,
                )?),
                links_per_hour: parse_ranged(
                    "RESET_LINKS_PER_HOUR",
                    defaults.links_per_hour,
                    1..=100,
                )?,
                contact_ttl: Duration::minutes(parse_ranged(
                    "CONTACT_CHECK_TTL_MINUTES",
                    defaults.contact_ttl.num_minutes(),
                    1..=1440,
                )?),
                max_refused_submissions: defaults.max_refused_submissions,
            },
            password: password_policy()?,
            lockout: lockout_policy()?,
            page: PageConfig {
                brand_name: optional("BRAND_NAME").unwrap_or(page.brand_name),
                crm_login_url: optional("CRM_LOGIN_URL")
                    .map(|_| parse_url("CRM_LOGIN_URL", ""))
                    .transpose()?,
                hash_queue_limit: parse_ranged(
                    "HASH_QUEUE_LIMIT",
                    page.hash_queue_limit,
                    1..=100_000,
                )?,
                bad_tokens_per_minute: parse_ranged(
                    "RESET_PAGE_BAD_TOKENS_PER_MINUTE",
                    page.bad_tokens_per_minute,
                    1..=100_000,
                )?,
                trusted_proxies: trusted_proxies(optional("TRUSTED_PROXIES").as_deref())?,
            },
        })
    }
}

/// Where mail goes out (`SMTP_URL`) and whom it is from (`MAIL_FROM`).
/// Debug output hides the password.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://[user:password@]host[:port]` (STARTTLS when the server
    /// offers it) or `smtps://…` (TLS from the first byte).
    pub smtp_url: Url,
    /// A mailbox, `Name <address>` or a bare address.
    pub from: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.smtp_url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.debug_struct("MailConfig")
            .field("smtp_url", &shown.as_str())
            .field("from", &self.from)
            .finish()
    }
}

impl MailConfig {
    /// Both variables, or neither (mail off).
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::parse(optional("SMTP_URL").as_deref(), optional("MAIL_FROM").as_deref())
    }

    pub fn parse(smtp_url: Option<&str>, from: Option<&str>) -> Result<Option<Self>, ConfigError> {
        let Some(raw) = smtp_url else {
            return Ok(None);
        };
        let invalid = |why: String| ConfigError::Invalid("SMTP_URL", why);
        let url = Url::parse(raw).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(invalid("expected smtp://HOST[:PORT] or smtps://HOST[:PORT]".into()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL names no host".into()));
        }
        let from = from.ok_or(ConfigError::Missing(
            "MAIL_FROM",
            "set it to the sender of the bot's mail, e.g. CRM Support <support@example.com>",
        ))?;
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid(
                "MAIL_FROM",
                format!("{from:?} is not a mailbox (Name <address> or address)"),
            ));
        }
        Ok(Some(Self { smtp_url: url, from: from.to_owned() }))
    }
}

/// `NEW_BINDING_POLICY`: `email-code` (the default with e-mail on), `hold`
/// (for `hold_hours`) or `none` (the default, and the only choice, with
/// e-mail off).
pub fn binding_policy(
    raw: Option<&str>,
    mail_on: bool,
    hold_hours: i64,
) -> Result<BindingPolicy, ConfigError> {
    let name = "NEW_BINDING_POLICY";
    let needs_mail = |what: &str| {
        Err(ConfigError::Invalid(
            name,
            format!("{what}, so it needs SMTP_URL; set SMTP_URL or use none"),
        ))
    };
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None if mail_on => Ok(BindingPolicy::EmailCode),
        None | Some("none") => Ok(BindingPolicy::PhoneAlone),
        Some("email-code") if mail_on => Ok(BindingPolicy::EmailCode),
        Some("email-code") => needs_mail("email-code mails a code"),
        Some("hold") if mail_on => Ok(BindingPolicy::Hold { wait: Duration::hours(hold_hours) }),
        Some("hold") => needs_mail("hold mails the account's address a way to cancel"),
        Some(other) => {
            Err(ConfigError::Invalid(name, format!("{other:?}: expected email-code, hold or none")))
        }
    }
}

/// The password rules' tunable part (`PASSWORD_MIN_LENGTH`), also needed by
/// `accounts import`.
pub fn password_policy() -> Result<PasswordPolicy, ConfigError> {
    password_policy_from(optional("PASSWORD_MIN_LENGTH"), optional("PASSWORD_MIN_LENGTH_WITH_2FA"))
}

/// [`password_policy`] from the two variables' values. The minimum with
/// two-factor authentication lies between 8 and `PASSWORD_MIN_LENGTH`.
fn password_policy_from(
    min_length: Option<String>,
    with_two_factor: Option<String>,
) -> Result<PasswordPolicy, ConfigError> {
    let min_length = ranged(
        "PASSWORD_MIN_LENGTH",
        min_length,
        PasswordPolicy::DEFAULT_MIN_LENGTH,
        PasswordPolicy::MIN_LENGTH_RANGE,
    )?;
    Ok(PasswordPolicy {
        min_length,
        max_length: PasswordPolicy::MAX_LENGTH,
        min_length_with_two_factor: ranged(
            "PASSWORD_MIN_LENGTH_WITH_2FA",
            with_two_factor,
            PasswordPolicy::MIN_LENGTH_WITH_TWO_FACTOR,
            PasswordPolicy::MIN_LENGTH_WITH_TWO_FACTOR..=min_length,
        )?,
    })
}

/// `SECRET_KEY` (and `SECRET_KEY_PREVIOUS` while rotating): the key TOTP
/// secrets are encrypted with. Unset: two-factor enrolment is off. A
/// malformed key stops start-up; the message never repeats the value.
pub fn secret_keys(
    current: Option<&str>,
    previous: Option<&str>,
) -> Result<Option<SecretBox>, ConfigError> {
    let parse = |name: &'static str, raw: &str| {
        SecretKey::parse_hex(raw).map_err(|why| ConfigError::Invalid(name, why))
    };
    let previous = previous.map(|raw| parse("SECRET_KEY_PREVIOUS", raw)).transpose()?;
    match current {
        Some(raw) => Ok(Some(SecretBox::new(parse("SECRET_KEY", raw)?, previous))),
        None if previous.is_some() => Err(ConfigError::Invalid(
            "SECRET_KEY_PREVIOUS",
            "it is set but SECRET_KEY is not: set SECRET_KEY to the new key and keep the old              one here until every secret has been re-encrypted"
                .to_owned(),
        )),
        None => Ok(None),
    }
}

/// When failed sign-ins lock a login (`LOCKOUT_*`). The longest wait may
/// not be shorter than the first.
pub fn lockout_policy() -> Result<LockoutPolicy, ConfigError> {
    let defaults = LockoutPolicy::default();
    let minutes = |name, default: Duration, range| -> Result<Duration, ConfigError> {
        Ok(Duration::minutes(parse_ranged(name, default.num_minutes(), range)?))
    };
    let first_wait = minutes("LOCKOUT_FIRST_WAIT_MINUTES", defaults.first_wait, 1..=1440)?;
    let max_wait = minutes("LOCKOUT_MAX_WAIT_MINUTES", defaults.max_wait, 1..=10080)?;
    if max_wait < first_wait {
        return Err(ConfigError::Invalid(
            "LOCKOUT_MAX_WAIT_MINUTES",
            format!(
                "{} is shorter than LOCKOUT_FIRST_WAIT_MINUTES ({})",
                max_wait.num_minutes(),
                first_wait.num_minutes()
            ),
        ));
    }
    Ok(LockoutPolicy {
        max_failures: parse_ranged("LOCKOUT_MAX_FAILURES", defaults.max_failures, 1..=100)?,
        first_wait,
        wait_increment: minutes(
            "LOCKOUT_WAIT_INCREMENT_MINUTES",
            defaults.wait_increment,
            0..=1440,
        )?,
        max_wait,
        failure_reset: Duration::hours(parse_ranged(
            "LOCKOUT_FAILURE_RESET_HOURS",
            defaults.failure_reset.num_hours(),
            1..=720,
        )?),
        permanent_after: parse_ranged(
            "LOCKOUT_PERMANENT_AFTER",
            defaults.permanent_after,
            0..=100,
        )?,
    })
}

/// Reset links carry secrets: `PUBLIC_BASE_URL` must be https, except on a
/// loopback or private-network address (trying the bot from a phone on the
/// same Wi-Fi), which start-up warns about.
pub fn public_base_url(url: &Url) -> Result<Url, ConfigError> {
    if url.scheme() == "https" {
        return Ok(url.clone());
    }
    let local = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost" || domain.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => is_local(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_local(IpAddr::V6(ip)),
        None => false,
    };
    if local {
        Ok(url.clone())
    } else {
        Err(ConfigError::Invalid(
            "PUBLIC_BASE_URL",
            format!(
                "{:?}: reset links must use https (plain http is allowed only for localhost \
                 and private-network addresses)",
                url.as_str()
            ),
        ))
    }
}

/// Loopback, private (RFC 1918), link-local and unique-local addresses.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
    }
}

/// `TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges.
fn trusted_proxies(raw: Option<&str>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>().or_else(|_| item.parse::<IpAddr>().map(IpNet::from)).map_err(
                |_| {
                    ConfigError::Invalid(
                        "TRUSTED_PROXIES",
                        format!("{item:?} is not an IP address or CIDR range"),
                    )
                },
            )
        })
        .collect()
}

/// `SUPPORT_CHAT_ID`: a group's id, which is negative; a positive one is a
/// user's (a common slip: the id of the person who looked it up).
fn support_chat_id(raw: Option<&str>) -> Result<Option<i64>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let invalid = |why: String| ConfigError::Invalid("SUPPORT_CHAT_ID", why);
    let example = "a group's id is negative, like -1001234567890";
    match raw.parse::<i64>() {
        Ok(id) if id < 0 => Ok(Some(id)),
        Ok(id) if id > 0 => Err(invalid(format!("{id} is a user, not a group; {example}"))),
        _ => Err(invalid(format!("{raw:?} is not a chat id: {example}"))),
    }
}

/// `STAFF_ADMIN_IDS`: comma-separated positive Telegram user ids; spaces
/// and empty items are ignored, repeats dropped (the first kept).
fn staff_admin_ids(raw: Option<&str>) -> Result<Vec<TelegramUserId>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let mut ids = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let id = match item.parse::<i64>() {
            Ok(id) if id > 0 => TelegramUserId(id),
            Ok(id) if id < 0 => {
                return Err(ConfigError::Invalid(
                    "STAFF_ADMIN_IDS",
                    format!("{id} is a group's id, not a user's: user ids are positive"),
                ));
            }
            _ => {
                return Err(ConfigError::Invalid(
                    "STAFF_ADMIN_IDS",
                    format!(
                        "{item:?} is not a Telegram user id: expected positive numbers separated \
                         by commas, like 123456789,987654321"
                    ),
                ));
            }
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `SUPPORT_HOURS`: unset is always.
fn support_hours(raw: Option<&str>) -> Result<Option<SupportHours>, ConfigError> {
    raw.map(|raw| SupportHours::parse(raw).map_err(|e| ConfigError::Invalid("SUPPORT_HOURS", e)))
        .transpose()
}

/// `SUPPORT_LANGUAGE`: `en` or `ru` in any case; unset is Russian.
fn support_language(raw: Option<&str>) -> Result<Lang, ConfigError> {
    let Some(raw) = raw else { return Ok(Lang::Ru) };
    Lang::parse(&raw.to_ascii_lowercase()).ok_or_else(|| {
        ConfigError::Invalid("SUPPORT_LANGUAGE", format!("{raw:?}: expected en or ru"))
    })
}

/// `SUPPORT_CONTACT`: one line users read, so no control characters.
fn support_contact(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(contact) = raw else { return Ok(None) };
    let chars = contact.chars().count();
    if chars > SUPPORT_CONTACT_MAX_CHARS {
        return Err(ConfigError::Invalid(
            "SUPPORT_CONTACT",
            format!("it is {chars} characters long; at most {SUPPORT_CONTACT_MAX_CHARS}"),
        ));
    }
    if contact.chars().any(char::is_control) {
        return Err(ConfigError::Invalid(
            "SUPPORT_CONTACT",
            "it must be one line of text, without line breaks or control characters".to_owned(),
        ));
    }
    Ok(Some(contact))
}

/// How updates arrive from Telegram.
#[derive(Clone, PartialEq, Eq)]
pub enum BotMode {
    /// `getUpdates` long polling: one process per bot token (the default).
    Polling,
    /// Telegram posts updates to our HTTP server; any number of replicas.
    Webhook(WebhookConfig),
}

/// `WEBHOOK_URL` and `WEBHOOK_SECRET`, validated. Debug output hides the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The public URL Telegram posts to; the service serves its path.
    pub url: Url,
    /// Sent with setWebhook; Telegram echoes it in the
    /// `X-Telegram-Bot-Api-Secret-Token` header of every post.
    pub secret: String,
}

impl WebhookConfig {
    /// The path the HTTP server serves the webhook on: `WEBHOOK_URL`'s.
    pub fn path(&self) -> &str {
        self.url.path()
    }
}

impl std::fmt::Debug for BotMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Polling => f.write_str("Polling"),
            Self::Webhook(webhook) => f.debug_tuple("Webhook").field(webhook).finish(),
        }
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url.as_str())
            .field("secret", &"***")
            .finish()
    }
}

/// The longest `WEBHOOK_SECRET` Telegram accepts.
pub const WEBHOOK_SECRET_MAX_CHARS: usize = 256;
/// First path segments the service already serves; the webhook may not
/// take them.
const RESERVED_PATHS: &[&str] =
    &["reset", "dispute", "hold", "api", "healthz", "readyz", "metrics"];

/// `BOT_MODE` (`polling`, the default, or `webhook`) with the webhook's
/// `WEBHOOK_URL` and `WEBHOOK_SECRET`, which webhook mode requires. The
/// secret is never repeated in a message.
pub fn bot_mode(
    mode: Option<&str>,
    url: Option<&str>,
    secret: Option<&str>,
) -> Result<BotMode, ConfigError> {
    match mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("polling") => Ok(BotMode::Polling),
        Some("webhook") => Ok(BotMode::Webhook(WebhookConfig {
            url: webhook_url(url)?,
            secret: webhook_secret(secret)?,
        })),
        Some(_) => Err(ConfigError::Invalid(
            "BOT_MODE",
            format!("{:?}: expected polling or webhook", mode.unwrap_or_default()),
        )),
    }
}

/// `WEBHOOK_URL`: https (Telegram posts only there), or plain http on a
/// loopback address (a local Bot API server); a path of its own.
fn webhook_url(raw: Option<&str>) -> Result<Url, ConfigError> {
    let name = "WEBHOOK_URL";
    let raw = raw.ok_or(ConfigError::Missing(
        name,
        "BOT_MODE=webhook needs the public https URL Telegram posts updates to, \
         e.g. https://help.example.com/telegram/webhook",
    ))?;
    let url = Url::parse(raw).map_err(|e| ConfigError::Invalid(name, format!("{raw:?}: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(ConfigError::Invalid(
                name,
                format!("{raw:?}: Telegram posts only to https URLs (http only on loopback)"),
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid(
            name,
            format!("{raw:?}: no query or fragment; the path alone names the webhook"),
        ));
    }
    let first = url.path().trim_start_matches('/').split('/').next().unwrap_or_default();
    if first.is_empty() || RESERVED_PATHS.contains(&first) {
        return Err(ConfigError::Invalid(
            name,
            format!(
                "{raw:?}: its path must be one of its own, like /telegram/webhook (not /, \
                 nor under /{})",
                RESERVED_PATHS.join(", /")
            ),
        ));
    }
    Ok(url)
}

/// `WEBHOOK_SECRET`: 1–256 characters of `A-Z a-z 0-9 _ -`, as the Bot API
/// requires.
fn webhook_secret(raw: Option<&str>) -> Result<String, ConfigError> {
    let name = "WEBHOOK_SECRET";
    let secret = raw.ok_or(ConfigError::Missing(
        name,
        "BOT_MODE=webhook needs it (1-256 characters of A-Z a-z 0-9 _ -, e.g. the output \
         of `openssl rand -hex 32`)",
    ))?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if secret.len() > WEBHOOK_SECRET_MAX_CHARS || !secret.chars().all(allowed) {
        return Err(ConfigError::Invalid(
            name,
            format!(
                "it must be 1-{WEBHOOK_SECRET_MAX_CHARS} characters of A-Z a-z 0-9 _ - \
                 (as the Bot API requires), e.g. the output of `openssl rand -hex 32`"
            ),
        ));
    }
    Ok(secret.to_owned())
}

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `LOG_FORMAT`: `text` (the default) or `json`. Read before anything else,
/// by every command.
pub fn log_format() -> Result<LogFormat, ConfigError> {
    log_format_from(optional("LOG_FORMAT").as_deref())
}

fn log_format_from(raw: Option<&str>) -> Result<LogFormat, ConfigError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(_) => Err(ConfigError::Invalid(
            "LOG_FORMAT",
            format!("{:?}: expected text or json", raw.unwrap_or_default()),
        )),
    }
}

/// `API_TOKEN`: unset turns the API off; a short one stops start-up. The
/// message never repeats the value, it is a secret.
fn api_token(raw: Option<String>) -> Result<Option<String>, ConfigError> {
    match raw {
        Some(token) if token.chars().count() < API_TOKEN_MIN_CHARS => Err(ConfigError::Invalid(
            "API_TOKEN",
            format!(
                "it must be at least {API_TOKEN_MIN_CHARS} characters \
                 (e.g. the output of `openssl rand -hex 32`), or unset to turn the API off"
            ),
        )),
        token => Ok(token),
    }
}

/// A variable's value, treating empty as unset.
fn optional(name: &str) -> Option<String> {
    env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_optional<T: FromStr>(name: &'static str) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    optional(name)
        .map(|raw| raw.parse().map_err(|e| ConfigError::Invalid(name, format!("{raw:?}: {e}"))))
        .transpose()
}

fn parse_or<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    Ok(parse_optional(name)?.unwrap_or(default))
}

fn parse_ranged<T>(
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    ranged(name, optional(name), default, range)
}

/// A number within `range` from a variable's value (`None`: the default).
fn ranged<T>(
    name: &'static str,
    raw: Option<String>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = match raw {
        Some(raw) => {
            raw.parse().map_err(|e| ConfigError::Invalid(name, format!("{raw:?}: {e}")))?
        }
        None => default,
    };
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(
            name,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        ))
    }
}

fn parse_url(name: &'static str, default: &str) -> Result<Url, ConfigError> {
    let raw = optional(name).unwrap_or_else(|| default.to_owned());
    let url = Url::parse(&raw).map_err(|e| ConfigError::Invalid(name, format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Invalid(name, format!("{raw:?}: expected an http(s) URL")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_classified() {
        assert_eq!(DatabaseConfig::parse("sqlite://data/x.db").unwrap().backend, Backend::Sqlite);
        assert_eq!(
            DatabaseConfig::parse("postgres://postgres@127.0.0.1:5432/test").unwrap().backend,
            Backend::Postgres
        );
        assert_eq!(
            DatabaseConfig::parse("sqlite://data/x.db?mode=rwc").unwrap().sqlite_path(),
            Some(PathBuf::from("data/x.db"))
        );
    }

    #[test]
    fn public_base_url_must_be_https_unless_local() {
        for ok in [
            "https://help.example.com",
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://192.168.1.20:8080",
            "http://10.0.0.5",
            "http://[::1]:8080",
        ] {
            assert!(public_base_url(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["http://help.example.com", "http://8.8.8.8", "http://[2001:db8::1]"] {
            let err = public_base_url(&bad.parse().unwrap()).unwrap_err().to_string();
            assert!(err.starts_with("PUBLIC_BASE_URL is invalid"), "{bad}: {err}");
        }
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let parsed = trusted_proxies(Some("10.0.0.1, 172.16.0.0/12,::1")).unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(parsed[1].contains(&"172.20.1.1".parse::<IpAddr>().unwrap()));
        let err = trusted_proxies(Some("10.0.0.1,nonsense")).unwrap_err().to_string();
        assert!(err.starts_with("TRUSTED_PROXIES is invalid"), "{err}");
        assert!(trusted_proxies(None).unwrap().is_empty());
    }

    #[test]
    fn a_short_api_token_stops_start_up_without_showing_it() {
        let short = "x".repeat(API_TOKEN_MIN_CHARS - 1);
        let err = api_token(Some(short.clone())).unwrap_err().to_string();
        assert!(err.starts_with("API_TOKEN is invalid: it must be at least 32"), "{err}");
        assert!(!err.contains(&short));
        assert!(!err.contains('\n'));
        let long = "ж".repeat(API_TOKEN_MIN_CHARS);
        assert_eq!(api_token(Some(long.clone())).unwrap(), Some(long));
        assert_eq!(api_token(None).unwrap(), None);
    }

    #[test]
    fn the_support_chat_must_be_a_group() {
        assert_eq!(support_chat_id(None).unwrap(), None);
        assert_eq!(support_chat_id(Some("-1001234567890")).unwrap(), Some(-1_001_234_567_890));
        assert_eq!(support_chat_id(Some("-42")).unwrap(), Some(-42));
        let err = support_chat_id(Some("123456789")).unwrap_err().to_string();
        assert_eq!(
            err,
            "SUPPORT_CHAT_ID is invalid: 123456789 is a user, not a group; a group's id is \
             negative, like -1001234567890"
        );
        for bad in ["0", "group", "-100 123", "1e9"] {
            let err = support_chat_id(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with("SUPPORT_CHAT_ID is invalid: "), "{bad}: {err}");
            assert!(err.contains("is not a chat id"), "{bad}: {err}");
        }
    }

    #[test]
    fn staff_admins_are_positive_ids_without_repeats() {
        assert!(staff_admin_ids(None).unwrap().is_empty());
        assert_eq!(
            staff_admin_ids(Some(" 42, 7 ,42,, 1000000001 ,")).unwrap(),
            [TelegramUserId(42), TelegramUserId(7), TelegramUserId(1_000_000_001)]
        );
        let err = staff_admin_ids(Some("42,-1001234567890")).unwrap_err().to_string();
        assert!(
            err.starts_with("STAFF_ADMIN_IDS is invalid: -1001234567890 is a group's"),
            "{err}"
        );
        for bad in ["42;43", "@alice", "0", "42 43"] {
            let err = staff_admin_ids(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with("STAFF_ADMIN_IDS is invalid: "), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn support_hours_are_optional_and_checked() {
        assert_eq!(support_hours(None).unwrap(), None);
        let hours = support_hours(Some("mon-fri 09:00-18:00 Europe/Moscow")).unwrap().unwrap();
        assert_eq!(hours.to_string(), "Mon-Fri 09:00-18:00 Europe/Moscow");
        let err = support_hours(Some("Mon-Fri 22:00-06:00 UTC")).unwrap_err().to_string();
        assert!(err.starts_with("SUPPORT_HOURS is invalid: \"22:00-06:00\": overnight"), "{err}");
    }

    #[test]
    fn the_support_language_defaults_to_russian() {
        assert_eq!(support_language(None).unwrap(), Lang::Ru);
        assert_eq!(support_language(Some("en")).unwrap(), Lang::En);
        assert_eq!(support_language(Some("RU")).unwrap(), Lang::Ru);
        let err = support_language(Some("de")).unwrap_err().to_string();
        assert_eq!(err, "SUPPORT_LANGUAGE is invalid: \"de\": expected en or ru");
    }

    #[test]
    fn the_support_contact_is_one_short_line() {
        assert_eq!(support_contact(None).unwrap(), None);
        let contact = "support@example.com или +7 495 123-45-67".to_owned();
        assert_eq!(support_contact(Some(contact.clone())).unwrap(), Some(contact));
        let longest = "ж".repeat(SUPPORT_CONTACT_MAX_CHARS);
        assert!(support_contact(Some(longest.clone())).is_ok());
        let err = support_contact(Some(longest + "ж")).unwrap_err().to_string();
        assert_eq!(err, "SUPPORT_CONTACT is invalid: it is 201 characters long; at most 200");
        let err = support_contact(Some("a\nb".to_owned())).unwrap_err().to_string();
        assert!(err.starts_with("SUPPORT_CONTACT is invalid: it must be one line"), "{err}");
    }

    #[test]
    fn an_unset_support_desk_is_the_default() {
        let support = SupportConfig::default();
        assert_eq!(support.sla, Duration::minutes(30));
        assert_eq!(support.language, Lang::Ru);
        assert!(support.chat_id.is_none() && support.hours.is_none() && support.contact.is_none());
    }

    #[test]
    fn the_binding_policy_follows_e_mail() {
        assert_eq!(binding_policy(None, true, 24).unwrap(), BindingPolicy::EmailCode);
        assert_eq!(binding_policy(None, false, 24).unwrap(), BindingPolicy::PhoneAlone);
        assert_eq!(binding_policy(Some("none"), true, 24).unwrap(), BindingPolicy::PhoneAlone);
        assert_eq!(
            binding_policy(Some("Hold"), true, 36).unwrap(),
            BindingPolicy::Hold { wait: Duration::hours(36) }
        );
        for (raw, mail) in [("email-code", false), ("hold", false), ("nope", true)] {
            let err = binding_policy(Some(raw), mail, 24).unwrap_err().to_string();
            assert!(err.starts_with("NEW_BINDING_POLICY is invalid"), "{raw}: {err}");
        }
    }

    #[test]
    fn mail_needs_an_smtp_url_and_a_sender() {
        assert!(MailConfig::parse(None, Some("a@example.com")).unwrap().is_none());
        let mail = MailConfig::parse(
            Some("smtp://u:secret@mail.example.com:587"),
            Some("CRM <a@example.com>"),
        )
        .unwrap()
        .unwrap();
        assert!(!format!("{mail:?}").contains("secret"));
        let err = MailConfig::parse(Some("smtp://mail.example.com"), None).unwrap_err().to_string();
        assert!(err.starts_with("MAIL_FROM is not set"), "{err}");
        for bad in ["http://mail.example.com", "smtp://", "nonsense"] {
            let err = MailConfig::parse(Some(bad), Some("a@example.com")).unwrap_err().to_string();
            assert!(err.starts_with("SMTP_URL is invalid"), "{bad}: {err}");
        }
        let err = MailConfig::parse(Some("smtps://mail.example.com"), Some("not a mailbox"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("MAIL_FROM is invalid"), "{err}");
    }

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn the_secret_key_is_64_hex_characters_or_unset() {
        assert!(secret_keys(None, None).unwrap().is_none());
        let keys = secret_keys(Some(KEY), None).unwrap().unwrap();
        assert!(!format!("{keys:?}").contains("00112233"), "{keys:?}");
        let upper = KEY.to_uppercase();
        assert!(secret_keys(Some(&upper), Some(KEY)).unwrap().is_some());
        for bad in [&KEY[..63], "not hex at all", &format!("{}xy", &KEY[..62]), &format!("{KEY}00")]
        {
            let err = secret_keys(Some(bad), None).unwrap_err().to_string();
            assert!(err.starts_with("SECRET_KEY is invalid: expected 64 hexadecimal"), "{err}");
            assert!(!err.contains('\n'), "{err}");
            assert!(!err.contains(bad), "the key itself is never repeated: {err}");
        }
        let err = secret_keys(Some(KEY), Some("short")).unwrap_err().to_string();
        assert!(err.starts_with("SECRET_KEY_PREVIOUS is invalid: expected 64"), "{err}");
        let err = secret_keys(None, Some(KEY)).unwrap_err().to_string();
        assert!(
            err.starts_with("SECRET_KEY_PREVIOUS is invalid: it is set but SECRET_KEY"),
            "{err}"
        );
    }

    #[test]
    fn the_password_minimum_with_2fa_lies_between_8_and_the_minimum() {
        let policy = |min: Option<&str>, with: Option<&str>| {
            password_policy_from(min.map(str::to_owned), with.map(str::to_owned))
        };
        let defaults = policy(None, None).unwrap();
        assert_eq!((defaults.min_length, defaults.min_length_with_two_factor), (15, 8));
        assert_eq!(policy(None, Some("12")).unwrap().min_length_with_two_factor, 12);
        assert_eq!(policy(Some("10"), Some("10")).unwrap().min_length_with_two_factor, 10);
        let err = policy(Some("10"), Some("12")).unwrap_err().to_string();
        assert_eq!(err, "PASSWORD_MIN_LENGTH_WITH_2FA is invalid: 12 is outside 8..=10");
        let err = policy(None, Some("7")).unwrap_err().to_string();
        assert_eq!(err, "PASSWORD_MIN_LENGTH_WITH_2FA is invalid: 7 is outside 8..=15");
        let err = policy(None, Some("eight")).unwrap_err().to_string();
        assert!(err.starts_with("PASSWORD_MIN_LENGTH_WITH_2FA is invalid: \"eight\""), "{err}");
    }

    #[test]
    fn polling_is_the_default_and_webhook_mode_needs_url_and_secret() {
        assert_eq!(bot_mode(None, None, None).unwrap(), BotMode::Polling);
        assert_eq!(bot_mode(Some("Polling"), Some("x"), None).unwrap(), BotMode::Polling);
        let mode =
            bot_mode(Some("webhook"), Some("https://help.example.com/tg/hook"), Some("s3cr-t_"))
                .unwrap();
        let BotMode::Webhook(webhook) = &mode else { panic!("{mode:?}") };
        assert_eq!(webhook.path(), "/tg/hook");
        assert!(!format!("{mode:?}").contains("s3cr-t_"));
        let err = bot_mode(Some("hooks"), None, None).unwrap_err().to_string();
        assert_eq!(err, "BOT_MODE is invalid: \"hooks\": expected polling or webhook");
        let err = bot_mode(Some("webhook"), Some("https://h.example.com/tg"), None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("WEBHOOK_SECRET is not set: BOT_MODE=webhook needs it"), "{err}");
        let err = bot_mode(Some("webhook"), None, Some("s")).unwrap_err().to_string();
        assert!(err.starts_with("WEBHOOK_URL is not set"), "{err}");
    }

    #[test]
    fn the_webhook_secret_is_what_the_bot_api_accepts() {
        let url = Some("https://h.example.com/tg");
        for ok in ["a", "A-z_0-9", &"x".repeat(256)] {
            assert!(bot_mode(Some("webhook"), url, Some(ok)).is_ok(), "{ok}");
        }
        for bad in [&"x".repeat(257), "with space", "slash/", "ключ", "a+b"] {
            let err = bot_mode(Some("webhook"), url, Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with("WEBHOOK_SECRET is invalid: it must be 1-256"), "{err}");
            assert!(!err.contains(bad), "the secret is never repeated: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn the_webhook_url_is_https_except_on_loopback_and_has_its_own_path() {
        for ok in [
            "https://help.example.com/telegram/webhook",
            "http://127.0.0.1:8080/tg",
            "http://localhost/tg",
            "http://[::1]:8080/tg",
        ] {
            assert!(webhook_url(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://help.example.com/tg",
            "http://192.168.1.20/tg",
            "ftp://help.example.com/tg",
            "https://help.example.com/",
            "https://help.example.com",
            "https://help.example.com/reset/x",
            "https://help.example.com/api/v1/tg",
            "https://help.example.com/metrics",
            "https://help.example.com/tg?x=1",
            "not a url",
        ] {
            let err = webhook_url(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with("WEBHOOK_URL is invalid"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(log_format_from(None).unwrap(), LogFormat::Text);
        assert_eq!(log_format_from(Some("JSON")).unwrap(), LogFormat::Json);
        let err = log_format_from(Some("yaml")).unwrap_err().to_string();
        assert_eq!(err, "LOG_FORMAT is invalid: \"yaml\": expected text or json");
    }

    #[test]
    fn databases_are_described_without_credentials() {
        let pg = DatabaseConfig::parse("postgres://crm:secret@db.internal:6432/crm").unwrap();
        assert_eq!(pg.describe(), "PostgreSQL at db.internal:6432/crm");
        let lite = DatabaseConfig::parse("sqlite://data/x.db").unwrap();
        assert_eq!(lite.describe(), "SQLite file data/x.db");
    }

    #[test]
    fn malformed_database_url_names_the_variable() {
        for bad in ["mysql://x", "data.db", "postgres://[bad", "sqlite://", "sqlite::memory:"] {
            let err = DatabaseConfig::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("DATABASE_URL is invalid"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
