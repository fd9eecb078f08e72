//! The `outbox` table: notices waiting to be delivered to Telegram.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Store, StoreResult, from_unix, to_unix};

/// A notice to queue: HTML text (values escaped) and an optional inline
/// keyboard as Bot API JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub chat_id: i64,
    pub text: String,
    pub reply_markup: Option<String>,
}

/// A pending notice.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub chat_id: i64,
    /// HTML, values already escaped.
    pub text: String,
    /// An inline keyboard as Bot API JSON.
    pub reply_markup: Option<String>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

const PENDING: &str = "sent_at IS NULL AND failed_at IS NULL";

impl Store {
    pub async fn enqueue_notice(&self, notice: &NewNotice, now: DateTime<Utc>) -> StoreResult<()> {
        insert_notice(&mut *self.pool.acquire().await?, notice, now).await
    }

    /// Pending notices due by `now`, oldest first.
    pub async fn due_messages(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let sql = format!(
            "SELECT id, chat_id, text, reply_markup, attempts, created_at FROM outbox \
             WHERE {PENDING} AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_unix(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxMessage {
                    id: row.try_get("id")?,
                    chat_id: row.try_get("chat_id")?,
                    text: row.try_get("text")?,
                    reply_markup: row.try_get("reply_markup")?,
                    attempts: row.try_get("attempts")?,
                    created_at: from_unix(row.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// When the next pending notice falls due, if any is pending.
    pub async fn next_message_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let sql = format!("SELECT MIN(next_attempt_at) AS due FROM outbox WHERE {PENDING}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("due")?.map(from_unix))
    }

    pub async fn mark_message_sent(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET sent_at = $1, attempts = attempts + 1 WHERE id = $2")
            .bind(to_unix(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn retry_message_at(
        &self,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3",
        )
        .bind(to_unix(at))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_message_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, failed_at = $1, last_error = $2 WHERE id = $3",
        )
        .bind(to_unix(now))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Queues a notice on `conn`, which may be inside a transaction.
pub(super) async fn insert_notice(
    conn: &mut AnyConnection,
    notice: &NewNotice,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (chat_id, text, reply_markup, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(notice.chat_id)
    .bind(&notice.text)
    .bind(notice.reply_markup.as_deref())
    .bind(to_unix(now))
    .execute(conn)
    .await?;
    Ok(())
}
