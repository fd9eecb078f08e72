//! The `replicas` table: which processes run the bot on this database, so
//! that they can share Telegram's send limits.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreResult, to_unix};

impl Store {
    /// Records that replica `name` runs at `now`, forgets replicas not seen
    /// since `stale_before` (stopped or killed), and says how many run,
    /// this one included.
    pub async fn replica_seen(
        &self,
        name: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO replicas (name, seen_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(name)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(to_unix(stale_before))
            .execute(&mut *tx)
            .await?;
        let row =
            sqlx::query("SELECT COUNT(*) AS running FROM replicas").fetch_one(&mut *tx).await?;
        let running: i64 = row.try_get("running")?;
        tx.commit().await?;
        Ok(u32::try_from(running).unwrap_or(u32::MAX).max(1))
    }

    /// Replica `name` stops: the others take its share at their next look.
    pub async fn replica_gone(&self, name: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM replicas WHERE name = $1").bind(name).execute(&self.pool).await?;
        Ok(())
    }

    /// Forgets every replica (one process on SQLite, starting).
    pub async fn forget_replicas(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM replicas").execute(&self.pool).await?;
        Ok(())
    }
}
