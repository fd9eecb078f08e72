//! Settings read from the environment (and an optional `.env`), validated
//! once at start-up. A bad or missing setting is one line naming the variable.

use std::{env, net::SocketAddr, path::PathBuf, str::FromStr};

use chrono::Duration;
use chrono_tz::Tz;
use url::Url;

/// Where the SQLite file lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/crm-recovery-bot.db";
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
/// The shortest `API_TOKEN` accepted: long enough not to be guessed.
pub const API_TOKEN_MIN_CHARS: usize = 32;

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

    /// The file behind a `sqlite:` URL, if it names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

/// Rules for one-time reset links.
#[derive(Debug, Clone)]
pub struct ResetPolicy {
    pub link_ttl: Duration,
    pub links_per_hour: u32,
    /// How long a shared contact proves the phone for the next step.
    pub contact_ttl: Duration,
}

impl Default for ResetPolicy {
    fn default() -> Self {
        Self {
            link_ttl: Duration::minutes(15),
            links_per_hour: 3,
            contact_ttl: Duration::minutes(10),
        }
    }
}

/// Everything `run` needs. Debug output hides the secrets.
#[derive(Clone)]
pub struct Config {
    pub telegram_token: String,
    pub telegram_api_url: Url,
    pub database: DatabaseConfig,
    pub support_chat_id: Option<i64>,
    pub public_base_url: Url,
    pub http_addr: SocketAddr,
    pub api_token: Option<String>,
    pub default_time_zone: Tz,
    pub reset: ResetPolicy,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("telegram_token", &"***")
            .field("telegram_api_url", &self.telegram_api_url.as_str())
            .field("database", &self.database.backend)
            .field("support_chat_id", &self.support_chat_id)
            .field("public_base_url", &self.public_base_url.as_str())
            .field("http_addr", &self.http_addr)
            .field("api_token", &self.api_token.as_ref().map(|_| "***"))
            .field("default_time_zone", &self.default_time_zone)
            .field("reset", &self.reset)
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
        Ok(Self {
            telegram_token,
            telegram_api_url: parse_url("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL)?,
            database: DatabaseConfig::from_env()?,
            support_chat_id: parse_optional("SUPPORT_CHAT_ID")?,
            public_base_url: parse_url("PUBLIC_BASE_URL", "http://localhost:8080")?,
            http_addr: parse_or("HTTP_ADDR", "127.0.0.1:8080".parse().expect("valid literal"))?,
            api_token: api_token(optional("API_TOKEN"))?,
            default_time_zone: parse_or("DEFAULT_TIME_ZONE", Tz::UTC)?,
            reset: ResetPolicy {
                link_ttl: Duration::minutes(parse_ranged(
                    "RESET_LINK_TTL_MINUTES",
                    defaults.link_ttl.num_minutes(),
                    1..=1440,
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
            },
        })
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
    let value = parse_or(name, default)?;
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
    fn malformed_database_url_names_the_variable() {
        for bad in ["mysql://x", "data.db", "postgres://[bad", "sqlite://", "sqlite::memory:"] {
            let err = DatabaseConfig::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("DATABASE_URL is invalid"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }
}
