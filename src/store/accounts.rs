//! The `accounts` table.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    AuditEntry, Store, StoreError, StoreResult, audit::insert_audit, from_unix, to_unix,
    tokens::revoke_live_links,
};
use crate::domain::{Account, AccountId, AccountUpdate, Email, Lang, Login, Phone, TelegramUserId};

/// What a sync did to the account.
#[derive(Debug, Clone)]
pub enum Synced {
    Created(Account),
    /// `changed` names the fields that changed (none: nothing did).
    Updated {
        after: Account,
        changed: Vec<&'static str>,
        /// Live reset links revoked because the account was deactivated or
        /// its phone or e-mail changed.
        revoked_links: usize,
        /// Telegram users whose binding to the account was dropped (a
        /// changed phone or e-mail, or a deactivation): they are told.
        dropped_bindings: Vec<TelegramUserId>,
        /// The e-mail before a change of it: it is told.
        old_email: Option<Email>,
    },
}

impl Synced {
    /// The account as stored now.
    pub fn account(&self) -> &Account {
        match self {
            Synced::Created(account) | Synced::Updated { after: account, .. } => account,
        }
    }
}

/// Why a sync changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRefusal {
    /// No account has this login, and the caller may not create one.
    NotFound,
    /// No account has this login, and these required fields are missing.
    MissingFields(Vec<&'static str>),
}

/// Rows written by a sync, chosen by the caller once it knows the outcome.
pub type SyncAudit<'a> = &'a (dyn Fn(&Synced) -> Vec<AuditEntry> + Send + Sync);

const COLUMNS: &str = "id, login, email, phone, full_name, company, password_hash, locale, \
     time_zone, company_admin, blocked_at, deactivated_at, credentials_version, \
     recovery_blocked_at, last_sign_in_at, contact_changed_at, password_length";

impl Store {
    /// Creates the account `login` (when `may_create`) or applies `update`
    /// to it, with its audit rows, in one transaction. Deactivating it
    /// revokes its live reset links and takes their messages back at once.
    /// Touching the row first serialises concurrent syncs of one account
    /// (a row lock on PostgreSQL, the write lock on SQLite).
    pub async fn sync_account(
        &self,
        login: &Login,
        update: &AccountUpdate,
        may_create: bool,
        now: DateTime<Utc>,
        audit: SyncAudit<'_>,
    ) -> StoreResult<Result<Synced, SyncRefusal>> {
        // A second round only when a concurrent sync created the account
        // between our look and our insert: then it is there to update.
        for _ in 0..2 {
            let mut tx = self.pool.begin().await?;
            let sql = format!(
                "UPDATE accounts SET updated_at = updated_at WHERE login = $1 RETURNING {COLUMNS}"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(login.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let synced = match row.as_ref().map(account_from_row).transpose()? {
                None if !may_create => {
                    tx.rollback().await?;
                    return Ok(Err(SyncRefusal::NotFound));
                }
                None => {
                    let account = match update.create(login, now) {
                        Ok(account) => account,
                        Err(missing) => {
                            tx.rollback().await?;
                            return Ok(Err(SyncRefusal::MissingFields(missing)));
                        }
                    };
                    let Some(id) = insert_account(&mut tx, &account, now).await? else {
                        tx.rollback().await?;
                        continue;
                    };
                    Synced::Created(Account { id, ..account })
                }
                Some(before) => {
                    let (after, changed) = update.apply_to(&before, now);
                    if !changed.is_empty() {
                        update_account(&mut tx, &after, now).await?;
                    }
                    let contact_changed = changed.contains(&"phone") || changed.contains(&"email");
                    let deactivated = before.is_active() && !after.is_active();
                    let (revoked_links, dropped_bindings) = if contact_changed || deactivated {
                        // Whoever proved the old contact proves nothing now.
                        let revoked = revoke_live_links(&mut tx, after.id, now).await?;
                        let dropped = drop_bindings(&mut tx, after.id).await?;
                        super::holds::revoke_holds(&mut tx, after.id, now).await?;
                        if contact_changed {
                            sqlx::query(
                                "UPDATE accounts SET contact_changed_at = $1 WHERE id = $2",
                            )
                            .bind(to_unix(now))
                            .bind(after.id.0)
                            .execute(&mut *tx)
                            .await?;
                        }
                        (revoked, dropped)
                    } else {
                        (0, Vec::new())
                    };
                    let old_email = changed.contains(&"email").then(|| before.email.clone());
                    let after = Account {
                        contact_changed_at: if contact_changed {
                            Some(now)
                        } else {
                            after.contact_changed_at
                        },
                        ..after
                    };
                    Synced::Updated { after, changed, revoked_links, dropped_bindings, old_email }
                }
            };
            for entry in audit(&synced) {
                insert_audit(&mut tx, now, &entry).await?;
            }
            tx.commit().await?;
            return Ok(Ok(synced));
        }
        // Accounts are never deleted, so the second round finds the row.
        Err(StoreError::RowNotFound)
    }

    /// Every active account on this phone, oldest first (the same order on
    /// both backends). A deactivated account is not found, as if unknown.
    pub async fn accounts_by_phone(&self, phone: &Phone) -> StoreResult<Vec<Account>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE phone = $1 AND deactivated_at IS NULL ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(phone.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// The account with this id, active or not.
    pub async fn account(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account with this login, active or not.
    /// Every active account's login.
    pub async fn active_logins(&self) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT login FROM accounts WHERE deactivated_at IS NULL ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|row| row.try_get("login")).collect()
    }

    /// The active account whose login or e-mail this is (either
    /// case-insensitively), for staff comparing a user's claim.
    pub async fn account_by_login_or_email(&self, claimed: &str) -> StoreResult<Option<Account>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE deactivated_at IS NULL \
                 AND (LOWER(login) = LOWER($1) OR LOWER(email) = LOWER($1)) ORDER BY id LIMIT 1"
        );
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(claimed).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn account_by_login(&self, login: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE login = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(login).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }
}

/// Inserts a new account; `None` if its login was taken meanwhile.
async fn insert_account(
    conn: &mut AnyConnection,
    account: &Account,
    now: DateTime<Utc>,
) -> StoreResult<Option<AccountId>> {
    let row = sqlx::query(
        "INSERT INTO accounts (login, email, phone, full_name, company, password_hash, locale, \
             time_zone, company_admin, blocked_at, deactivated_at, created_at, updated_at, \
             password_length) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) \
         ON CONFLICT (login) DO NOTHING RETURNING id",
    )
    .bind(account.login.as_str())
    .bind(account.email.as_str())
    .bind(account.phone.as_str())
    .bind(&account.full_name)
    .bind(&account.company)
    .bind(account.password_hash.as_deref())
    .bind(account.lang.map(Lang::code))
    .bind(account.time_zone.map(|tz| tz.name()))
    .bind(i64::from(account.company_admin))
    .bind(account.blocked_at.map(to_unix))
    .bind(account.deactivated_at.map(to_unix))
    .bind(to_unix(now))
    .bind(account.password_length.map(stored_length))
    .fetch_optional(conn)
    .await?;
    row.map(|row| row.try_get("id").map(AccountId)).transpose()
}

/// Writes every field the CRM syncs.
async fn update_account(
    conn: &mut AnyConnection,
    account: &Account,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET email = $1, phone = $2, full_name = $3, company = $4, \
             password_hash = $5, locale = $6, time_zone = $7, company_admin = $8, \
             blocked_at = $9, deactivated_at = $10, updated_at = $11, password_length = $13 \
         WHERE id = $12",
    )
    .bind(account.email.as_str())
    .bind(account.phone.as_str())
    .bind(&account.full_name)
    .bind(&account.company)
    .bind(account.password_hash.as_deref())
    .bind(account.lang.map(Lang::code))
    .bind(account.time_zone.map(|tz| tz.name()))
    .bind(i64::from(account.company_admin))
    .bind(account.blocked_at.map(to_unix))
    .bind(account.deactivated_at.map(to_unix))
    .bind(to_unix(now))
    .bind(account.id.0)
    .bind(account.password_length.map(stored_length))
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops every Telegram binding of the account; who was bound.
async fn drop_bindings(
    conn: &mut AnyConnection,
    account: AccountId,
) -> StoreResult<Vec<TelegramUserId>> {
    let rows =
        sqlx::query("DELETE FROM telegram_bindings WHERE account_id = $1 RETURNING tg_user_id")
            .bind(account.0)
            .fetch_all(conn)
            .await?;
    rows.iter().map(|row| Ok(TelegramUserId(row.try_get("tg_user_id")?))).collect()
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
        password_length: row
            .try_get::<Option<i64>, _>("password_length")?
            .and_then(|n| usize::try_from(n).ok()),
        lang: row.try_get::<Option<String>, _>("locale")?.and_then(|code| Lang::parse(&code)),
        time_zone: row.try_get::<Option<String>, _>("time_zone")?.and_then(|tz| tz.parse().ok()),
        company_admin: row.try_get::<i64, _>("company_admin")? != 0,
        blocked_at: row.try_get::<Option<i64>, _>("blocked_at")?.map(from_unix),
        deactivated_at: row.try_get::<Option<i64>, _>("deactivated_at")?.map(from_unix),
        credentials_version: row.try_get("credentials_version")?,
        recovery_blocked_at: row.try_get::<Option<i64>, _>("recovery_blocked_at")?.map(from_unix),
        last_sign_in_at: row.try_get::<Option<i64>, _>("last_sign_in_at")?.map(from_unix),
        contact_changed_at: row.try_get::<Option<i64>, _>("contact_changed_at")?.map(from_unix),
    })
}

/// A password length as the database keeps it.
pub(super) fn stored_length(length: usize) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}
