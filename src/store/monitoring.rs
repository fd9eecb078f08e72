//! What `/metrics` reads from the database when it is scraped.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, from_unix};

impl Store {
    /// Outbox rows not yet delivered, given up or cancelled (due or not).
    pub async fn outbox_pending_count(&self) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
    }

    /// How many tickets are open, and since when the oldest one is.
    pub async fn open_tickets_summary(&self) -> StoreResult<(i64, Option<DateTime<Utc>>)> {
        let (open, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(COALESCE(submitted_at, created_at)) FROM tickets \
             WHERE status = 'open'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((open, oldest.map(from_unix)))
    }
}
