//! The `binding_holds` table: under `NEW_BINDING_POLICY=hold`, the waits a
//! Telegram user not yet bound to an account sits out before the phone
//! alone binds it, and the mailed links that cancel them (kept as hashes).

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{
    AuditEntry, Store, StoreResult, audit::insert_audit, bindings::insert_binding, from_unix,
    to_unix,
};
use crate::domain::{AccountId, Lang, TelegramUserId, TokenHash};

/// Who cancelled a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldCancelledBy {
    /// The Telegram user withdrew the request in the bot.
    User,
    /// The account's address, with the mailed link.
    Email,
    /// The account changed (phone, e-mail, deactivation, a dispute).
    Revoked,
}

impl HoldCancelledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldCancelledBy::User => "user",
            HoldCancelledBy::Email => "email",
            HoldCancelledBy::Revoked => "revoked",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "user" => HoldCancelledBy::User,
            "email" => HoldCancelledBy::Email,
            _ => HoldCancelledBy::Revoked,
        }
    }
}

/// A hold as found.
#[derive(Debug, Clone)]
pub struct StoredHold {
    pub id: i64,
    pub account_id: AccountId,
    pub tg_user_id: TelegramUserId,
    pub lang: Lang,
    pub ends_at: DateTime<Utc>,
    pub cancelled_by: Option<HoldCancelledBy>,
    pub used_at: Option<DateTime<Utc>>,
}

impl StoredHold {
    /// Neither cancelled nor used.
    pub fn is_pending(&self) -> bool {
        self.cancelled_by.is_none() && self.used_at.is_none()
    }
}

const COLUMNS: &str = "id, account_id, tg_user_id, lang, ends_at, cancelled_by, used_at";

impl Store {
    /// A new hold for `user` on `account`, ending at `ends_at`, unless
    /// `limit` were started for the account since `since`; the user's
    /// pending ones on the account are replaced. The count and the insert
    /// share one transaction behind the account's row. `Err` holds the
    /// creation times counted.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_hold(
        &self,
        user: TelegramUserId,
        account: AccountId,
        lang: Lang,
        now: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Result<i64, Vec<DateTime<Utc>>>> {
        let mut tx = self.pool.begin().await?;
        let recent =
            super::bindings::created_since(&mut tx, "binding_holds", account, since).await?;
        if recent.len() >= limit {
            return Ok(Err(recent));
        }
        sqlx::query(
            "UPDATE binding_holds SET cancelled_by = 'revoked', cancelled_at = $3 \
             WHERE tg_user_id = $1 AND account_id = $2 AND cancelled_at IS NULL AND used_at IS NULL",
        )
        .bind(user.0)
        .bind(account.0)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO binding_holds (account_id, tg_user_id, lang, created_at, ends_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(account.0)
        .bind(user.0)
        .bind(lang.code())
        .bind(to_unix(now))
        .bind(to_unix(ends_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(row.try_get("id")?))
    }

    /// The latest hold of `user` on `account`.
    pub async fn latest_hold(
        &self,
        user: TelegramUserId,
        account: AccountId,
    ) -> StoreResult<Option<StoredHold>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM binding_holds WHERE tg_user_id = $1 AND account_id = $2 \
             ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.0)
            .bind(account.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| hold_from(&row)).transpose()
    }

    pub async fn hold(&self, id: i64) -> StoreResult<Option<StoredHold>> {
        let sql = format!("SELECT {COLUMNS} FROM binding_holds WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.map(|row| hold_from(&row)).transpose()
    }

    pub async fn hold_by_cancel_hash(&self, hash: &TokenHash) -> StoreResult<Option<StoredHold>> {
        let sql = format!("SELECT {COLUMNS} FROM binding_holds WHERE cancel_hash = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&hash.0).fetch_optional(&self.pool).await?;
        row.map(|row| hold_from(&row)).transpose()
    }

    /// Keeps the hash of the cancel link its mail is about to carry; false
    /// if the hold is no longer pending (then no mail).
    pub async fn set_hold_cancel_hash(&self, id: i64, hash: &TokenHash) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE binding_holds SET cancel_hash = $2 \
             WHERE id = $1 AND cancelled_at IS NULL AND used_at IS NULL",
        )
        .bind(id)
        .bind(&hash.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels a pending hold, audited, in one transaction; false if it was
    /// no longer pending (two clicks: one acts).
    pub async fn cancel_hold(
        &self,
        id: i64,
        by: HoldCancelledBy,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE binding_holds SET cancelled_by = $2, cancelled_at = $3 \
             WHERE id = $1 AND cancelled_at IS NULL AND used_at IS NULL",
        )
        .bind(id)
        .bind(by.as_str())
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends a hold that has ended and binds its user to its account,
    /// audited, in one transaction; false if it was cancelled or used
    /// meanwhile, or has not ended.
    pub async fn use_hold(
        &self,
        hold: &StoredHold,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE binding_holds SET used_at = $2 \
             WHERE id = $1 AND cancelled_at IS NULL AND used_at IS NULL AND ends_at <= $2",
        )
        .bind(hold.id)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_binding(&mut tx, hold.tg_user_id, hold.account_id, "hold", now).await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Cancels the account's pending holds: its phone, address or standing
/// changed, so what they waited for no longer holds.
pub(super) async fn revoke_holds(
    conn: &mut AnyConnection,
    account: AccountId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE binding_holds SET cancelled_by = 'revoked', cancelled_at = $2 \
         WHERE account_id = $1 AND cancelled_at IS NULL AND used_at IS NULL",
    )
    .bind(account.0)
    .bind(to_unix(now))
    .execute(conn)
    .await?;
    Ok(())
}

fn hold_from(row: &sqlx::any::AnyRow) -> StoreResult<StoredHold> {
    let lang: String = row.try_get("lang")?;
    Ok(StoredHold {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        tg_user_id: TelegramUserId(row.try_get("tg_user_id")?),
        lang: Lang::parse(&lang).unwrap_or_default(),
        ends_at: from_unix(row.try_get("ends_at")?),
        cancelled_by: row
            .try_get::<Option<String>, _>("cancelled_by")?
            .map(|by| HoldCancelledBy::parse(&by)),
        used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
    })
}
