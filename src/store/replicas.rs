//! The `replicas` table: which processes run the bot on this database, so
//! that they can share Telegram's send limits; and the `send_clock`, the
//! one sequence of send turns they all reserve from.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreResult, to_unix};
use crate::config::Backend;

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

    /// Reserves `count` consecutive send turns `interval` apart on the
    /// bot's one send clock: the first after every turn reserved before
    /// (by any replica) and not earlier than `floor` from now. Says how
    /// long from now the first turn is. On PostgreSQL "now" is the
    /// database's clock, so replicas on different machines agree.
    pub async fn reserve_send_turns(
        &self,
        count: u32,
        interval: Duration,
        floor: Duration,
    ) -> StoreResult<Duration> {
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4);
        let span = micros(interval).saturating_mul(i64::from(count));
        let floor = micros(floor);
        let first_in: i64 = match self.backend {
            Backend::Postgres => {
                sqlx::query_scalar(
                    "WITH now AS \
                       (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT AS us) \
                     UPDATE send_clock SET next_at = GREATEST(send_clock.next_at, now.us + $1) + $2 \
                     FROM now WHERE send_clock.id = 1 \
                     RETURNING send_clock.next_at - $2 - now.us",
                )
                .bind(floor)
                .bind(span)
                .fetch_one(&self.pool)
                .await?
            }
            Backend::Sqlite => {
                let now = Utc::now().timestamp_micros();
                sqlx::query_scalar(
                    "UPDATE send_clock SET next_at = MAX(next_at, $1 + $2) + $3 WHERE id = 1 \
                     RETURNING next_at - $3 - $1",
                )
                .bind(now)
                .bind(floor)
                .bind(span)
                .fetch_one(&self.pool)
                .await?
            }
        };
        Ok(Duration::from_micros(u64::try_from(first_in).unwrap_or(0)))
    }
}
