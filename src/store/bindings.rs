//! The `telegram_bindings` and `binding_codes` tables: which Telegram users
//! have proved themselves for which accounts, and the mailed codes that
//! prove it.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{AuditEntry, Store, StoreResult, audit::insert_audit, from_unix, to_unix};
use crate::domain::{AccountId, TelegramUserId};

/// The latest code a Telegram user was sent for an account.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub id: i64,
    /// `salt:hash`, or none until its mail is sent.
    pub code_hash: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub attempts: i64,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn is_bound(&self, user: TelegramUserId, account: AccountId) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM telegram_bindings WHERE tg_user_id = $1 AND account_id = $2",
        )
        .bind(user.0)
        .bind(account.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// A new code for `user` and `account`, unless `limit` were sent for
    /// the account since `since`; older codes of the pair are revoked. The
    /// count and the insert share one transaction behind the account's row,
    /// so simultaneous requests cannot pass the limit. `Err` holds the
    /// creation times counted.
    pub async fn insert_binding_code(
        &self,
        user: TelegramUserId,
        account: AccountId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Result<i64, Vec<DateTime<Utc>>>> {
        let mut tx = self.pool.begin().await?;
        let recent = created_since(&mut tx, "binding_codes", account, since).await?;
        if recent.len() >= limit {
            return Ok(Err(recent));
        }
        sqlx::query(
            "UPDATE binding_codes SET revoked_at = $3 WHERE tg_user_id = $1 AND account_id = $2 \
                 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(user.0)
        .bind(account.0)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO binding_codes (account_id, tg_user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(account.0)
        .bind(user.0)
        .bind(to_unix(now))
        .bind(to_unix(expires_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(row.try_get("id")?))
    }

    /// Stores the hash of the code its mail is about to carry; false if the
    /// code was used or revoked meanwhile (then no mail).
    pub async fn set_binding_code_hash(&self, id: i64, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE binding_codes SET code_hash = $2 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn latest_binding_code(
        &self,
        user: TelegramUserId,
        account: AccountId,
    ) -> StoreResult<Option<StoredCode>> {
        let row = sqlx::query(
            "SELECT id, code_hash, expires_at, attempts, used_at, revoked_at FROM binding_codes \
             WHERE tg_user_id = $1 AND account_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(user.0)
        .bind(account.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredCode {
                id: row.try_get("id")?,
                code_hash: row.try_get("code_hash")?,
                expires_at: from_unix(row.try_get("expires_at")?),
                attempts: row.try_get("attempts")?,
                used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
                revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_unix),
            })
        })
        .transpose()
    }

    /// Counts a wrong try; the tries so far, or none if the code is no
    /// longer open.
    pub async fn count_code_attempt(&self, id: i64, max: i64) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "UPDATE binding_codes SET attempts = attempts + 1 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND attempts < $2 \
             RETURNING attempts",
        )
        .bind(id)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get("attempts")).transpose()
    }

    /// A right code: spent, and the binding made, audited, in one
    /// transaction; false if the code was spent meanwhile.
    pub async fn use_binding_code(
        &self,
        id: i64,
        user: TelegramUserId,
        account: AccountId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE binding_codes SET used_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        insert_binding(&mut tx, user, account, "email_code", now).await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Binds `user` to `account` (a no-op if it already is).
/// Creation times, oldest first, of the account's rows in `table` (codes
/// or holds) after `since`, read behind a lock on the account's row: the
/// count and the insert that follows in `conn`'s transaction cannot be
/// outrun by a simultaneous request, on either backend.
pub(super) async fn created_since(
    conn: &mut sqlx::AnyConnection,
    table: &'static str,
    account: AccountId,
    since: DateTime<Utc>,
) -> StoreResult<Vec<DateTime<Utc>>> {
    sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
        .bind(account.0)
        .execute(&mut *conn)
        .await?;
    let sql = format!(
        "SELECT created_at FROM {table} WHERE account_id = $1 AND created_at > $2 \
         ORDER BY created_at"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(account.0)
        .bind(to_unix(since))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|row| Ok(from_unix(row.try_get("created_at")?))).collect()
}

pub(super) async fn insert_binding(
    conn: &mut sqlx::AnyConnection,
    user: TelegramUserId,
    account: AccountId,
    source: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO telegram_bindings (tg_user_id, account_id, source, bound_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tg_user_id, account_id) DO NOTHING",
    )
    .bind(user.0)
    .bind(account.0)
    .bind(source)
    .bind(to_unix(now))
    .execute(conn)
    .await?;
    Ok(())
}
