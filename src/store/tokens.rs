//! The `reset_tokens` table: hashes of one-time reset links.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{
    AuditEntry, NewNotice, Store, StoreResult, audit::insert_audit, from_unix,
    outbox::insert_notice, to_unix,
};
use crate::domain::TokenHash;

/// A link to store: the hash of its token and who asked for it.
#[derive(Debug, Clone)]
pub struct NewResetToken<'a> {
    pub account_id: i64,
    pub hash: &'a TokenHash,
    pub tg_user_id: i64,
    pub language: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A reset link as stored (never the token itself).
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: i64,
    pub account_id: i64,
    pub tg_user_id: i64,
    pub language: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// When this account's links issued since `since` were created, oldest first.
    pub async fn reset_links_issued_since(
        &self,
        account_id: i64,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        links_created_since(&mut *self.pool.acquire().await?, account_id, since).await
    }

    /// Stores a new link unless the account already has `limit` links
    /// created after `window_start`, and revokes its older unused ones, all
    /// in one transaction. Touching the account row first serialises
    /// concurrent requests for one account on both backends (a row lock on
    /// PostgreSQL, the write lock on SQLite), so the limit cannot be raced.
    /// `Err` carries the creation times that filled the window, oldest first.
    pub async fn insert_reset_token_within_limit(
        &self,
        new: &NewResetToken<'_>,
        window_start: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Result<(), Vec<DateTime<Utc>>>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
            .bind(new.account_id)
            .execute(&mut *tx)
            .await?;
        let recent = links_created_since(&mut tx, new.account_id, window_start).await?;
        if recent.len() >= limit {
            tx.rollback().await?;
            return Ok(Err(recent));
        }
        sqlx::query(
            "UPDATE reset_tokens SET revoked_at = $1 \
             WHERE account_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(to_unix(new.now))
        .bind(new.account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO reset_tokens (account_id, token_hash, tg_user_id, language, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.account_id)
        .bind(&new.hash.0)
        .bind(new.tg_user_id)
        .bind(new.language)
        .bind(to_unix(new.now))
        .bind(to_unix(new.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn reset_token(&self, hash: &TokenHash) -> StoreResult<Option<StoredToken>> {
        let row = sqlx::query(
            "SELECT id, account_id, tg_user_id, language, expires_at, used_at, revoked_at \
             FROM reset_tokens WHERE token_hash = $1",
        )
        .bind(&hash.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredToken {
                id: row.try_get("id")?,
                account_id: row.try_get("account_id")?,
                tg_user_id: row.try_get("tg_user_id")?,
                language: row.try_get("language")?,
                expires_at: from_unix(row.try_get("expires_at")?),
                used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
                revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_unix),
            })
        })
        .transpose()
    }

    /// Spends the token, sets the new password, writes the audit rows and
    /// queues the user's notice, all in one transaction: a reset never
    /// happens without its record and its notice. The conditional UPDATE is
    /// the single point where concurrent uses race: exactly one sees a row
    /// to change. Returns false if the token was already used, revoked or
    /// expired.
    pub async fn spend_token_and_set_password(
        &self,
        token_id: i64,
        account_id: i64,
        password_hash: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
        notice: &NewNotice,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE reset_tokens SET used_at = $1 \
             WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(to_unix(now))
        .bind(token_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        // A successful reset also lifts any lockout, and bumping the
        // credentials version tells the CRM to drop old sessions.
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, credentials_version = credentials_version + 1, \
                 failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(to_unix(now))
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        for entry in audit {
            insert_audit(&mut tx, now, entry).await?;
        }
        insert_notice(&mut tx, notice, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Creation times of the account's links after `since`, oldest first, read
/// on `conn` (which may be inside a transaction).
async fn links_created_since(
    conn: &mut AnyConnection,
    account_id: i64,
    since: DateTime<Utc>,
) -> StoreResult<Vec<DateTime<Utc>>> {
    let rows = sqlx::query(
        "SELECT created_at FROM reset_tokens WHERE account_id = $1 AND created_at > $2 \
         ORDER BY created_at",
    )
    .bind(account_id)
    .bind(to_unix(since))
    .fetch_all(conn)
    .await?;
    rows.iter().map(|row| Ok(from_unix(row.try_get("created_at")?))).collect()
}
