//! The `disputes` table: the mailed "This wasn't me" links, kept as hashes.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    AuditEntry, Store, StoreResult, audit::insert_audit, from_unix, to_unix,
    tokens::revoke_live_links,
};
use crate::domain::{AccountId, Lang, TokenHash};

/// A dispute link as found.
#[derive(Debug, Clone)]
pub struct StoredDispute {
    pub id: i64,
    pub account_id: AccountId,
    pub event: String,
    pub lang: Lang,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Keeps a new link's hash, made when its mail is sent.
    pub async fn insert_dispute(
        &self,
        hash: &TokenHash,
        account_id: AccountId,
        event: &str,
        lang: Lang,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO disputes (token_hash, account_id, event, lang, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hash.0)
        .bind(account_id.0)
        .bind(event)
        .bind(lang.code())
        .bind(to_unix(now))
        .bind(to_unix(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn dispute(&self, hash: &TokenHash) -> StoreResult<Option<StoredDispute>> {
        let row = sqlx::query(
            "SELECT id, account_id, event, lang, expires_at, used_at FROM disputes \
             WHERE token_hash = $1",
        )
        .bind(&hash.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let lang: String = row.try_get("lang")?;
            Ok(StoredDispute {
                id: row.try_get("id")?,
                account_id: AccountId(row.try_get("account_id")?),
                event: row.try_get("event")?,
                lang: Lang::parse(&lang).unwrap_or_default(),
                expires_at: from_unix(row.try_get("expires_at")?),
                used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
            })
        })
        .transpose()
    }

    /// Spends the link and acts on it, in one transaction (see
    /// [`Store::stop_recovery`]). False if the link was spent or expired
    /// meanwhile (two clicks: one acts).
    pub async fn act_on_dispute(
        &self,
        id: i64,
        account_id: AccountId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE disputes SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        stop_recovery(&mut tx, account_id, now, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// "This wasn't me": recovery of the account blocked (until staff lift
    /// it), its live links revoked, its credentials version bumped (the CRM
    /// drops its sessions), its Telegram bindings dropped, audited, in one
    /// transaction.
    pub async fn stop_recovery(
        &self,
        account_id: AccountId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        stop_recovery(&mut tx, account_id, now, audit).await?;
        tx.commit().await
    }
}

async fn stop_recovery(
    tx: &mut sqlx::AnyConnection,
    account_id: AccountId,
    now: DateTime<Utc>,
    audit: &AuditEntry,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE accounts SET recovery_blocked_at = COALESCE(recovery_blocked_at, $2), \
                 credentials_version = credentials_version + 1, updated_at = $2 WHERE id = $1",
    )
    .bind(account_id.0)
    .bind(to_unix(now))
    .execute(&mut *tx)
    .await?;
    revoke_live_links(&mut *tx, account_id, now).await?;
    super::holds::revoke_holds(&mut *tx, account_id, now).await?;
    sqlx::query("DELETE FROM telegram_bindings WHERE account_id = $1")
        .bind(account_id.0)
        .execute(&mut *tx)
        .await?;
    insert_audit(&mut *tx, now, audit).await?;
    Ok(())
}

impl Store {
    /// The name a Telegram user showed when they last proved a phone.
    pub async fn display_name(
        &self,
        tg_user_id: crate::domain::TelegramUserId,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT display_name FROM telegram_users WHERE tg_user_id = $1")
            .bind(tg_user_id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("display_name")?,
            None => None,
        })
    }
}
