//! The `accounts` table.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreResult, from_unix, to_unix};
use crate::domain::{Account, AccountId, Email, Lang, Login, Phone};

/// An account as imported from CSV or synced from the CRM.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub login: String,
    pub email: String,
    pub phone: Phone,
    pub full_name: String,
    pub company: String,
    /// Already an argon2id PHC string; `None` keeps the stored one.
    pub password_hash: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub license_expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, login, email, phone, full_name, company, password_hash, locale, \
     time_zone, license_expires_at, credentials_version, failed_logins, locked_until, blocked_at";

impl Store {
    /// Inserts the account, or updates the one with the same login; optional
    /// fields left empty keep their stored values.
    pub async fn upsert_account(
        &self,
        account: &NewAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountId> {
        let row = sqlx::query(
            "INSERT INTO accounts (login, email, phone, full_name, company, password_hash, locale, \
                 time_zone, license_expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (login) DO UPDATE SET email = excluded.email, phone = excluded.phone, \
                 full_name = excluded.full_name, company = excluded.company, \
                 password_hash = COALESCE(excluded.password_hash, accounts.password_hash), \
                 locale = COALESCE(excluded.locale, accounts.locale), \
                 time_zone = COALESCE(excluded.time_zone, accounts.time_zone), \
                 license_expires_at = COALESCE(excluded.license_expires_at, \
                     accounts.license_expires_at), \
                 updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(&account.login)
        .bind(&account.email)
        .bind(account.phone.as_str())
        .bind(&account.full_name)
        .bind(&account.company)
        .bind(account.password_hash.as_deref())
        .bind(account.locale.as_deref())
        .bind(account.time_zone.as_deref())
        .bind(account.license_expires_at.map(to_unix))
        .bind(to_unix(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(AccountId(row.try_get("id")?))
    }

    /// Every account on this phone, oldest first (the same order on both backends).
    pub async fn accounts_by_phone(&self, phone: &Phone) -> StoreResult<Vec<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE phone = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(phone.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    pub async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn account_by_login(&self, login: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE login = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(login).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }
}

/// Values were parsed before they were stored; a zone or language this build
/// no longer knows reads as none.
fn account_from_row(row: &AnyRow) -> StoreResult<Account> {
    Ok(Account {
        id: AccountId(row.try_get("id")?),
        login: Login::from_stored(row.try_get("login")?),
        email: Email::from_stored(row.try_get("email")?),
        phone: Phone::from_stored(row.try_get("phone")?),
        full_name: row.try_get("full_name")?,
        company: row.try_get("company")?,
        password_hash: row.try_get("password_hash")?,
        lang: row.try_get::<Option<String>, _>("locale")?.and_then(|code| Lang::parse(&code)),
        time_zone: row.try_get::<Option<String>, _>("time_zone")?.and_then(|tz| tz.parse().ok()),
        license_expires_at: row.try_get::<Option<i64>, _>("license_expires_at")?.map(from_unix),
        credentials_version: row.try_get("credentials_version")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get::<Option<i64>, _>("locked_until")?.map(from_unix),
        blocked_at: row.try_get::<Option<i64>, _>("blocked_at")?.map(from_unix),
    })
}
