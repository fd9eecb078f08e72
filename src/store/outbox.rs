//! The `outbox` table: deliveries waiting for their due time, claimed by one
//! worker at a time under a lease.

use chrono::{DateTime, Duration, Utc};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{Store, StoreError, StoreResult, from_unix, to_unix};
use crate::domain::{Delivery, NewDelivery};

/// A claimed delivery.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub payload: Delivery,
    /// The payload's version; a key replacing it bumps it.
    pub version: i64,
    /// Attempts before this one.
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// What became of an attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Recorded,
    /// A key replaced the payload while it was being sent: the newer
    /// version is pending again.
    Superseded,
    /// The lease ran out and another worker holds the row.
    LeaseLost,
}

/// A row that could not be read (a payload of an unknown kind).
#[derive(Debug, Clone)]
pub struct UnreadableItem {
    pub id: i64,
    pub version: i64,
    pub error: String,
}

const PENDING: &str = "sent_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL";

impl Store {
    pub async fn enqueue(&self, delivery: &NewDelivery, now: DateTime<Utc>) -> StoreResult<()> {
        self.pool.run(async |conn| insert_delivery(conn, delivery, now).await).await
    }

    /// Claims up to `limit` due rows for `worker` until `now + lease`: rows
    /// another worker holds under a live lease are skipped. The claim is one
    /// conditional UPDATE, re-checked row by row, so two workers never hold
    /// one row at once on either backend.
    pub async fn claim_due(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<(Vec<OutboxItem>, Vec<UnreadableItem>)> {
        let free = "(claimed_until IS NULL OR claimed_until <= $2)";
        let sql = format!(
            "UPDATE outbox SET claimed_by = $1, claimed_until = $3 \
             WHERE {PENDING} AND due_at <= $2 AND {free} AND id IN \
                 (SELECT id FROM outbox WHERE {PENDING} AND due_at <= $2 AND {free} \
                  ORDER BY due_at, id LIMIT $4) \
             RETURNING id, payload, version, attempts, created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(to_unix(now))
            .bind(to_unix(now + lease))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in &rows {
            match item_from_row(row)? {
                Ok(item) => items.push(item),
                Err(bad) => unreadable.push(bad),
            }
        }
        items.sort_by_key(|item| item.id);
        Ok((items, unreadable))
    }

    /// When the next pending row can be claimed, if any is pending: its due
    /// time, or the end of its lease if a worker holds it beyond that.
    pub async fn next_delivery_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let sql = format!(
            "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > due_at \
                 THEN claimed_until ELSE due_at END) AS due FROM outbox WHERE {PENDING}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("due")?.map(from_unix))
    }

    /// Extends this worker's claim on the row just before it is sent; false
    /// if the worker no longer holds it (its lease ran out and another took
    /// it, or a key replaced it), and then it must not be sent.
    pub async fn renew_claim(
        &self,
        item: &OutboxItem,
        worker: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let renewed = sqlx::query(
            "UPDATE outbox SET claimed_until = $4 \
             WHERE id = $1 AND claimed_by = $2 AND version = $3",
        )
        .bind(item.id)
        .bind(worker)
        .bind(item.version)
        .bind(to_unix(until))
        .execute(&self.pool)
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(true);
        }
        // Replaced by a key meanwhile: free it for its newer version now.
        self.release_claim(item.id, worker).await?;
        Ok(false)
    }

    /// Gives up this worker's claim on a row without recording anything;
    /// false if it held none.
    async fn release_claim(&self, id: i64, worker: &str) -> StoreResult<bool> {
        let released = sqlx::query(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL \
             WHERE id = $1 AND claimed_by = $2",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    /// Records a delivery. `Finished::Superseded` if a key replaced the
    /// payload meanwhile: the row stays pending, free for the newer version.
    pub async fn mark_delivered(
        &self,
        item: &OutboxItem,
        worker: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Finished> {
        let set = "sent_at = $4, last_error = last_error";
        self.finish(item.id, item.version, worker, set, to_unix(now), None).await
    }

    /// Puts the row back for another attempt at `at`.
    pub async fn retry_delivery_at(
        &self,
        item: &OutboxItem,
        worker: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<Finished> {
        let set = "due_at = $4, last_error = $5";
        self.finish(item.id, item.version, worker, set, to_unix(at), Some(error)).await
    }

    /// Drops the row unsent: what it would say no longer holds.
    pub async fn mark_delivery_skipped(
        &self,
        item: &OutboxItem,
        worker: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Finished> {
        let set = "cancelled_at = $4, last_error = last_error";
        self.finish(item.id, item.version, worker, set, to_unix(now), None).await
    }

    /// Gives the row up for good.
    pub async fn mark_delivery_failed(
        &self,
        item: &OutboxItem,
        worker: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<Finished> {
        let set = "failed_at = $4, last_error = $5";
        self.finish(item.id, item.version, worker, set, to_unix(now), Some(error)).await
    }

    /// Gives up a row whose payload this version cannot read.
    pub async fn give_up_unreadable(
        &self,
        bad: &UnreadableItem,
        worker: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Finished> {
        let set = "failed_at = $4, last_error = $5";
        self.finish(bad.id, bad.version, worker, set, to_unix(now), Some(&bad.error)).await
    }

    /// Records the outcome of an attempt on the version that was tried;
    /// a newer version is released for another attempt instead.
    async fn finish(
        &self,
        id: i64,
        version: i64,
        worker: &str,
        set: &'static str,
        at: i64,
        error: Option<&str>,
    ) -> StoreResult<Finished> {
        let sql = format!(
            "UPDATE outbox SET {set}, attempts = attempts + 1, claimed_by = NULL, \
                 claimed_until = NULL WHERE id = $1 AND claimed_by = $2 AND version = $3"
        );
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(worker).bind(version).bind(at);
        if let Some(error) = error {
            query = query.bind(error);
        }
        if query.execute(&self.pool).await?.rows_affected() == 1 {
            return Ok(Finished::Recorded);
        }
        let released = self.release_claim(id, worker).await?;
        Ok(if released { Finished::Superseded } else { Finished::LeaseLost })
    }
}

/// Queues a delivery on `conn`, which may be inside a transaction. With a
/// key, a pending row of that key is replaced instead.
pub(super) async fn insert_delivery(
    conn: &mut AnyConnection,
    delivery: &NewDelivery,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let payload =
        serde_json::to_string(&delivery.payload).map_err(|e| StoreError::Encode(Box::new(e)))?;
    let sql = format!(
        "INSERT INTO outbox (payload, dedupe_key, created_at, due_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (dedupe_key) WHERE {PENDING} \
         DO UPDATE SET payload = excluded.payload, due_at = excluded.due_at, \
             version = outbox.version + 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(payload)
        .bind(delivery.key.as_deref())
        .bind(to_unix(now))
        .bind(to_unix(delivery.due_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Cancels the pending rows whose key starts with `prefix`.
pub(super) async fn cancel_deliveries_with_prefix(
    conn: &mut AnyConnection,
    prefix: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // substr, not LIKE: exact on both backends, whatever the key holds.
    let sql = format!(
        "UPDATE outbox SET cancelled_at = $1 \
         WHERE substr(dedupe_key, 1, CAST($2 AS INTEGER)) = $3 AND {PENDING}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to_unix(now))
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .execute(conn)
        .await?;
    Ok(())
}

/// Brings the pending row of `key` forward to `at` (if it is due later).
pub(super) async fn hasten_delivery(
    conn: &mut AnyConnection,
    key: &str,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = format!(
        "UPDATE outbox SET due_at = $1 WHERE dedupe_key = $2 AND due_at > $1 AND {PENDING}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_unix(at)).bind(key).execute(conn).await?;
    Ok(())
}

/// Cancels the pending row of `key`, if any; a worker holding it does not
/// send it (its version moves on).
pub(super) async fn cancel_delivery(
    conn: &mut AnyConnection,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = format!(
        "UPDATE outbox SET cancelled_at = $1, version = version + 1 \
         WHERE dedupe_key = $2 AND {PENDING}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_unix(now)).bind(key).execute(conn).await?;
    Ok(())
}

fn item_from_row(row: &AnyRow) -> StoreResult<Result<OutboxItem, UnreadableItem>> {
    let id: i64 = row.try_get("id")?;
    let raw: String = row.try_get("payload")?;
    Ok(match serde_json::from_str(&raw) {
        Ok(payload) => Ok(OutboxItem {
            id,
            payload,
            version: row.try_get("version")?,
            attempts: row.try_get("attempts")?,
            created_at: from_unix(row.try_get("created_at")?),
        }),
        Err(error) => {
            Err(UnreadableItem { id, version: row.try_get("version")?, error: error.to_string() })
        }
    })
}
