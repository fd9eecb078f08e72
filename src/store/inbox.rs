//! The `inbox` table: updates kept before Telegram is told they arrived,
//! claimed a chat at a time, and marked handled when their handler is done.

use chrono::{DateTime, Duration, Utc};
use sqlx::{Connection, Row};

use super::{Store, StoreResult, StoredDialogue, to_unix};
use crate::config::Backend;

/// An update as Telegram sent it, for the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxUpdate {
    pub update_id: i64,
    /// The chat (or user) it belongs to, for per-chat order.
    pub chat_id: Option<i64>,
    /// The update's JSON.
    pub payload: String,
}

impl Store {
    /// Keeps updates before they are acknowledged, in one statement; one
    /// already kept (a repeat after a restart or a retried webhook call) is
    /// left as it is. A different update under a number already kept
    /// replaces it.
    pub async fn keep_updates(
        &self,
        updates: &[InboxUpdate],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        // One row per number: a statement may not upsert a row twice.
        let mut rows: Vec<&InboxUpdate> = Vec::with_capacity(updates.len());
        for update in updates.iter().rev() {
            if !rows.iter().any(|kept| kept.update_id == update.update_id) {
                rows.push(update);
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        // The same update again (a retried webhook call, a repeat after a
        // restart) is the same JSON and stays as it is; another update with
        // a number seen before (Telegram picks new numbers after a quiet
        // week; another bot on this database) replaces it.
        let sql = format!(
            "INSERT INTO inbox (update_id, chat_id, payload, received_at) VALUES {} \
             ON CONFLICT (update_id) DO UPDATE SET chat_id = excluded.chat_id, \
                 payload = excluded.payload, received_at = excluded.received_at, \
                 claimed_by = NULL, claimed_until = NULL, handled_at = NULL \
             WHERE inbox.payload <> excluded.payload",
            super::value_rows(1, rows.len(), 4)
        );
        // Only numbered placeholders are formatted in; the values are bound.
        // A statement of several rows is not kept in sqlx's statement cache
        // (see `value_rows`).
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(rows.len() == 1);
        for update in rows.iter().rev() {
            query = query
                .bind(update.update_id)
                .bind(update.chat_id)
                .bind(&update.payload)
                .bind(to_unix(now));
        }
        query.execute(&self.intake_pool).await?;
        Ok(())
    }

    /// Claims up to `limit` pending updates for `worker`, oldest first,
    /// leaving out every chat that has an update claimed by another worker
    /// whose lease still runs: one chat is handled by one process at a time,
    /// in order. Claims are serialised (an advisory lock on PostgreSQL;
    /// SQLite has one writer), so two workers never split a chat.
    pub async fn claim_updates(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<InboxUpdate>> {
        // The chats another worker holds are read once (a few dozen rows),
        // not looked up again for every pending update. On PostgreSQL the
        // statement is planned anew each time: its cached generic plan,
        // made while the inbox was nearly empty, took seconds once a burst
        // had queued thousands of updates. On SQLite it is kept, and its
        // limit is an expression: a bare `$4` is read by SQLite's planner,
        // which then prepares the statement again whenever the limit
        // differs from the last one.
        let claim = sqlx::query(
            "UPDATE inbox SET claimed_by = $1, claimed_until = $3 WHERE update_id IN ( \
                 WITH held AS MATERIALIZED ( \
                     SELECT DISTINCT o.chat_id FROM inbox o \
                     WHERE o.handled_at IS NULL AND o.claimed_by <> $1 \
                       AND o.claimed_until > $2) \
                 SELECT i.update_id FROM inbox i \
                 WHERE i.handled_at IS NULL \
                   AND (i.claimed_until IS NULL OR i.claimed_until <= $2) \
                   AND NOT EXISTS (SELECT 1 FROM held WHERE held.chat_id = i.chat_id) \
                 ORDER BY i.update_id LIMIT $4 + 0) \
             RETURNING update_id, chat_id, payload",
        )
        .persistent(self.backend == Backend::Sqlite)
        .bind(worker)
        .bind(to_unix(now))
        .bind(to_unix(now + lease))
        .bind(limit);
        let rows = match self.backend {
            // SQLite runs one writer at a time: the one statement is enough.
            Backend::Sqlite => claim.fetch_all(&self.inbox_pool).await?,
            Backend::Postgres => {
                self.inbox_pool
                    .run(async |conn| {
                        let mut tx = conn.begin().await?;
                        let lock = sqlx::query("SELECT pg_advisory_xact_lock(7146021)");
                        lock.execute(&mut *tx).await?;
                        let rows = claim.fetch_all(&mut *tx).await?;
                        tx.commit().await?;
                        Ok(rows)
                    })
                    .await?
            }
        };
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(InboxUpdate {
                    update_id: row.try_get("update_id")?,
                    chat_id: row.try_get("chat_id")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|update| update.update_id);
        Ok(claimed)
    }

    /// Extends `worker`'s claims that still wait in its process.
    pub async fn renew_update_claims(&self, worker: &str, until: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE inbox SET claimed_until = $2 WHERE claimed_by = $1 AND handled_at IS NULL",
        )
        .bind(worker)
        .bind(to_unix(until))
        .execute(&self.inbox_pool)
        .await?;
        Ok(())
    }

    /// Gives back claims on updates not yet handled: `worker`'s (a process
    /// stopping), or everybody's (`None`: the one process starting again).
    /// How many.
    pub async fn release_update_claims(&self, worker: Option<&str>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE inbox SET claimed_by = NULL, claimed_until = NULL \
             WHERE handled_at IS NULL AND claimed_by IS NOT NULL \
               AND ($1 IS NULL OR claimed_by = $1)",
        )
        .bind(worker)
        .execute(&self.inbox_pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The handler of this update has finished.
    pub async fn mark_update_handled(&self, update_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        self.finish_updates(&[], &[update_id], now).await
    }

    /// The handlers of these updates have finished: their chats' new
    /// dialogue states and the updates' "handled" marks are written in one
    /// transaction, so a crash never leaves a state written for an update
    /// that will be handled again.
    pub async fn finish_updates(
        &self,
        dialogues: &[StoredDialogue],
        update_ids: &[i64],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if update_ids.is_empty() && dialogues.is_empty() {
            return Ok(());
        }
        let mark = (!update_ids.is_empty()).then(|| {
            let sql = format!(
                "UPDATE inbox SET handled_at = $1 WHERE update_id IN ({})",
                super::in_placeholders(2, update_ids.len())
            );
            // Only numbered placeholders are formatted in; the ids are bound.
            let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_unix(now));
            super::bind_in(query, update_ids.iter().copied())
        });
        if dialogues.is_empty() {
            // One statement needs no transaction.
            if let Some(mark) = mark {
                mark.execute(&self.inbox_pool).await?;
            }
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO dialogues (chat_id, state, version, updated_at) VALUES {} \
             ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, \
                 version = excluded.version, updated_at = excluded.updated_at",
            super::value_rows(1, dialogues.len(), 4)
        );
        // Only numbered placeholders are formatted in; the values are bound.
        // A statement of several rows is not kept (see `value_rows`).
        let mut save = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(dialogues.len() == 1);
        for dialogue in dialogues {
            save = save
                .bind(dialogue.chat_id)
                .bind(&dialogue.state)
                .bind(dialogue.version)
                .bind(to_unix(now));
        }
        self.inbox_pool
            .run(async |conn| {
                let mut tx = conn.begin().await?;
                save.execute(&mut *tx).await?;
                if let Some(mark) = mark {
                    mark.execute(&mut *tx).await?;
                }
                tx.commit().await
            })
            .await
    }

    /// Drops updates handled before `before`; how many.
    pub async fn prune_inbox(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < $1")
                .bind(to_unix(before))
                .execute(&self.inbox_pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Updates kept but not handled yet.
    pub async fn inbox_depth(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS pending FROM inbox WHERE handled_at IS NULL")
            .fetch_one(&self.inbox_pool)
            .await?;
        row.try_get("pending")
    }
}
