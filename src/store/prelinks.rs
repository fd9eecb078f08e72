//! The `telegram_prelinks` table: links the CRM hands a signed-in user to
//! bind their Telegram account, kept as hashes.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    AuditEntry, Store, StoreResult, audit::insert_audit, bindings::insert_binding, from_unix,
    to_unix,
};
use crate::domain::{AccountId, TelegramUserId, TokenHash};

/// A pre-link as found.
#[derive(Debug, Clone)]
pub struct StoredPrelink {
    pub id: i64,
    pub account_id: AccountId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn insert_prelink(
        &self,
        hash: &TokenHash,
        account: AccountId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO telegram_prelinks (token_hash, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&hash.0)
        .bind(account.0)
        .bind(to_unix(now))
        .bind(to_unix(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn prelink_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<StoredPrelink>> {
        let row = sqlx::query(
            "SELECT id, account_id, expires_at, used_at FROM telegram_prelinks WHERE token_hash = $1",
        )
        .bind(&hash.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| prelink_from(&row)).transpose()
    }

    pub async fn prelink(&self, id: i64) -> StoreResult<Option<StoredPrelink>> {
        let row = sqlx::query(
            "SELECT id, account_id, expires_at, used_at FROM telegram_prelinks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| prelink_from(&row)).transpose()
    }

    /// Spends the pre-link for `user` and binds them, audited, in one
    /// transaction; false if it was spent or expired meanwhile.
    pub async fn use_prelink(
        &self,
        id: i64,
        user: TelegramUserId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<Option<AccountId>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE telegram_prelinks SET used_at = $2, used_by = $3 \
             WHERE id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING account_id",
        )
        .bind(id)
        .bind(to_unix(now))
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let account = AccountId(row.try_get("account_id")?);
        insert_binding(&mut tx, user, account, "prelink", now).await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(Some(account))
    }
}

fn prelink_from(row: &sqlx::any::AnyRow) -> StoreResult<StoredPrelink> {
    Ok(StoredPrelink {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        expires_at: from_unix(row.try_get("expires_at")?),
        used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
    })
}
