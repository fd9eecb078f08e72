//! The `reset_tokens` table: hashes of one-time reset links.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Connection, Row};

use super::{
    AuditEntry, Backend, Store, StoreResult,
    audit::insert_audit,
    from_unix,
    outbox::{cancel_deliveries_with_prefix, hasten_delivery, insert_delivery},
    to_unix,
};
use crate::domain::{
    AccountId, Delivery, Lang, NewDelivery, TelegramUserId, TokenHash,
    delivery::{retract_link_key, unlock_notice_prefix},
    login_key,
};

/// A link to store: the hash of its token and who asked for it.
#[derive(Debug, Clone)]
pub struct NewResetToken<'a> {
    pub account_id: AccountId,
    pub hash: &'a TokenHash,
    pub tg_user_id: TelegramUserId,
    pub lang: Lang,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A link just stored: its id, and how many older live links of the
/// account it revoked (their messages are due to be taken back at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLink {
    pub id: i64,
    pub revoked: usize,
}

/// A reset link as stored (never the token itself).
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: i64,
    pub account_id: AccountId,
    pub tg_user_id: TelegramUserId,
    /// The language the link was issued in; its pages speak it.
    pub lang: Lang,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub refused_submissions: i64,
}

/// The outcome of a refused submission on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCount {
    /// The link still works; this many refusals so far.
    Counted(i64),
    /// That was the last allowed refusal: the link is spent.
    Spent,
    /// The link was no longer usable anyway.
    NotUsable,
}

/// A new password as stored: its argon2id hash and its length in code
/// points (NFKC), which decides whether it must change when 2FA goes off.
#[derive(Debug, Clone, Copy)]
pub struct NewPasswordHash<'a> {
    pub hash: &'a str,
    pub length: usize,
}

impl Store {
    /// When this account's links issued since `since` were created, oldest first.
    pub async fn reset_links_issued_since(
        &self,
        account_id: AccountId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        self.pool.run(async |conn| links_created_since(conn, account_id, since).await).await
    }

    /// Stores a new link unless the account already has `limit` links
    /// created after `window_start`, and revokes its older unused ones, all
    /// in one transaction. Concurrent requests for one account are
    /// serialised first (a row lock on PostgreSQL, the write lock taken at
    /// `BEGIN IMMEDIATE` on SQLite), so the limit cannot be raced.
    /// The messages holding revoked links are taken back at once. `Ok` is
    /// the new link's id; `Err` carries the creation times that filled the
    /// window, oldest first.
    pub async fn insert_reset_token_within_limit(
        &self,
        new: &NewResetToken<'_>,
        window_start: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Result<StoredLink, Vec<DateTime<Utc>>>> {
        let backend = self.backend;
        self.pool
            .run(async |conn| insert_within_limit(conn, backend, new, window_start, limit).await)
            .await
    }

    /// Remembers which Telegram message holds link `token_id` and queues its
    /// retraction: when the link expires, or at once if the link was used
    /// or revoked meanwhile. When the retraction is due (`None`: no such
    /// link).
    pub async fn record_link_message(
        &self,
        token_id: i64,
        message_id: i32,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.pool
            .run(async |conn| record_link_message_on(conn, token_id, message_id, now).await)
            .await
    }

    /// Counts a refused submission of a usable link; the `max`-th spends it
    /// (and takes its message back).
    pub async fn count_refused_submission(
        &self,
        token_id: i64,
        max: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<RefusalCount> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE reset_tokens SET refused_submissions = refused_submissions + 1 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING refused_submissions",
        )
        .bind(token_id)
        .bind(to_unix(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(RefusalCount::NotUsable);
        };
        let count: i64 = row.try_get("refused_submissions")?;
        if count < i64::from(max) {
            tx.commit().await?;
            return Ok(RefusalCount::Counted(count));
        }
        sqlx::query("UPDATE reset_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(to_unix(now))
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        hasten_delivery(&mut tx, &retract_link_key(token_id), now).await?;
        tx.commit().await?;
        Ok(RefusalCount::Spent)
    }

    /// Whether this Telegram user used a link of this account.
    pub async fn used_reset_link(
        &self,
        tg_user_id: TelegramUserId,
        account_id: AccountId,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT id FROM reset_tokens \
             WHERE tg_user_id = $1 AND account_id = $2 AND used_at IS NOT NULL LIMIT 1",
        )
        .bind(tg_user_id.0)
        .bind(account_id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn reset_token(&self, hash: &TokenHash) -> StoreResult<Option<StoredToken>> {
        let row = sqlx::query(
            "SELECT id, account_id, tg_user_id, language, expires_at, used_at, revoked_at, \
                 refused_submissions FROM reset_tokens WHERE token_hash = $1",
        )
        .bind(&hash.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let language: String = row.try_get("language")?;
            Ok(StoredToken {
                id: row.try_get("id")?,
                account_id: AccountId(row.try_get("account_id")?),
                tg_user_id: TelegramUserId(row.try_get("tg_user_id")?),
                lang: Lang::parse(&language).unwrap_or_default(),
                expires_at: from_unix(row.try_get("expires_at")?),
                used_at: row.try_get::<Option<i64>, _>("used_at")?.map(from_unix),
                revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_unix),
                refused_submissions: row.try_get("refused_submissions")?,
            })
        })
        .transpose()
    }

    /// Spends the token, sets the new password, writes the audit rows and
    /// queues the user's notice and the retraction of the link's message,
    /// all in one transaction: a reset never happens without its record and
    /// its notice. The conditional UPDATE is
    /// the single point where concurrent uses race: exactly one sees a row
    /// to change. Returns false if the token was already used, revoked or
    /// expired.
    pub async fn spend_token_and_set_password(
        &self,
        token_id: i64,
        account_id: AccountId,
        password: NewPasswordHash<'_>,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
        notices: &[NewDelivery],
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
        // Bumping the credentials version tells the CRM to drop old
        // sessions.
        let login: String = sqlx::query(
            "UPDATE accounts SET password_hash = $1, credentials_version = credentials_version + 1, \
                 updated_at = $2, password_length = $4 WHERE id = $3 \
             RETURNING login",
        )
        .bind(password.hash)
        .bind(to_unix(now))
        .bind(account_id.0)
        .bind(super::accounts::stored_length(password.length))
        .fetch_one(&mut *tx)
        .await?
        .try_get("login")?;
        // The lockout lives per login key: the count and a temporary lock
        // go; a permanent lock and the growth stay for an operator.
        sqlx::query(
            "UPDATE sign_in_failures SET failures = 0, locked_until = NULL, updated_at = $1 \
             WHERE login_key = $2",
        )
        .bind(to_unix(now))
        .bind(login_key(&login))
        .execute(&mut *tx)
        .await?;
        // A finished recovery binds whoever the link was sent to (under
        // every policy, a user who gets a link has given what it asks).
        sqlx::query(
            "INSERT INTO telegram_bindings (tg_user_id, account_id, source, bound_at) \
             SELECT tg_user_id, account_id, 'recovery', $1 FROM reset_tokens WHERE id = $2 \
             ON CONFLICT (tg_user_id, account_id) DO NOTHING",
        )
        .bind(to_unix(now))
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
        for entry in audit {
            insert_audit(&mut tx, now, entry).await?;
        }
        for notice in notices {
            insert_delivery(&mut tx, notice, now).await?;
        }
        hasten_delivery(&mut tx, &retract_link_key(token_id), now).await?;
        // The reset lifted the lock: nobody waits for it to end any more.
        cancel_deliveries_with_prefix(&mut tx, &unlock_notice_prefix(account_id), now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// [`Store::insert_reset_token_within_limit`] on one connection. SQLite
/// takes its one write lock at `BEGIN IMMEDIATE` (a statement less than
/// touching the row); PostgreSQL locks the account's row by touching it.
async fn insert_within_limit(
    conn: &mut AnyConnection,
    backend: Backend,
    new: &NewResetToken<'_>,
    window_start: DateTime<Utc>,
    limit: usize,
) -> StoreResult<Result<StoredLink, Vec<DateTime<Utc>>>> {
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = conn.begin().await?;
            sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
                .bind(new.account_id.0)
                .execute(&mut *tx)
                .await?;
            tx
        }
    };
    let recent = links_created_since(&mut tx, new.account_id, window_start).await?;
    if recent.len() >= limit {
        tx.rollback().await?;
        return Ok(Err(recent));
    }
    let revoked = revoke_live_links(&mut tx, new.account_id, new.now).await?;
    let id: i64 = sqlx::query(
        "INSERT INTO reset_tokens (account_id, token_hash, tg_user_id, language, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.account_id.0)
    .bind(&new.hash.0)
    .bind(new.tg_user_id.0)
    .bind(new.lang.code())
    .bind(to_unix(new.now))
    .bind(to_unix(new.expires_at))
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    tx.commit().await?;
    Ok(Ok(StoredLink { id, revoked }))
}

/// [`Store::record_link_message`] on one connection.
async fn record_link_message_on(
    conn: &mut AnyConnection,
    token_id: i64,
    message_id: i32,
    now: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    let mut tx = conn.begin().await?;
    let row = sqlx::query(
        "UPDATE reset_tokens SET message_id = $1 WHERE id = $2 \
         RETURNING tg_user_id, language, expires_at, used_at, revoked_at",
    )
    .bind(i64::from(message_id))
    .bind(token_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let expires_at = from_unix(row.try_get("expires_at")?);
    let finished = row.try_get::<Option<i64>, _>("used_at")?.is_some()
        || row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
    let language: String = row.try_get("language")?;
    let delivery = NewDelivery {
        payload: Delivery::RetractLink {
            chat: TelegramUserId(row.try_get("tg_user_id")?),
            message_id,
            lang: Lang::parse(&language).unwrap_or_default(),
        },
        due_at: if finished { now } else { expires_at.max(now) },
        key: Some(retract_link_key(token_id)),
    };
    let due_at = delivery.due_at;
    insert_delivery(&mut tx, &delivery, now).await?;
    tx.commit().await?;
    Ok(Some(due_at))
}

/// Creation times of the account's links after `since`, oldest first, read
/// on `conn` (which may be inside a transaction).
async fn links_created_since(
    conn: &mut AnyConnection,
    account_id: AccountId,
    since: DateTime<Utc>,
) -> StoreResult<Vec<DateTime<Utc>>> {
    let rows = sqlx::query(
        "SELECT created_at FROM reset_tokens WHERE account_id = $1 AND created_at > $2 \
         ORDER BY created_at",
    )
    .bind(account_id.0)
    .bind(to_unix(since))
    .fetch_all(conn)
    .await?;
    rows.iter().map(|row| Ok(from_unix(row.try_get("created_at")?))).collect()
}

/// Revokes the account's links that still work and brings the retraction
/// of their messages forward to `now`; returns how many.
pub(super) async fn revoke_live_links(
    conn: &mut AnyConnection,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let revoked = sqlx::query(
        "UPDATE reset_tokens SET revoked_at = $1 \
         WHERE account_id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
         RETURNING id",
    )
    .bind(to_unix(now))
    .bind(account_id.0)
    .fetch_all(&mut *conn)
    .await?;
    for row in &revoked {
        hasten_delivery(conn, &retract_link_key(row.try_get("id")?), now).await?;
    }
    Ok(revoked.len())
}
