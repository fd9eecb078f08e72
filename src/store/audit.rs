//! The `audit_events` table: one row per security-relevant decision.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Store, StoreResult, from_unix, to_unix};
use crate::domain::AuditEvent;

/// A row to write.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub event: AuditEvent,
    pub tg_user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub outcome: &'static str,
    /// Free text for operators; never secrets or full phone numbers.
    pub detail: Option<String>,
}

/// A row as read back.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub event: String,
    pub tg_user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl Store {
    pub async fn audit(&self, at: DateTime<Utc>, entry: AuditEntry) -> StoreResult<()> {
        insert_audit(&mut *self.pool.acquire().await?, at, &entry).await
    }

    /// The audit trail, oldest first.
    pub async fn audit_trail(&self) -> StoreResult<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT at, event, tg_user_id, account_id, outcome, detail FROM audit_events ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    at: from_unix(row.try_get("at")?),
                    event: row.try_get("event")?,
                    tg_user_id: row.try_get("tg_user_id")?,
                    account_id: row.try_get("account_id")?,
                    outcome: row.try_get("outcome")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }
}

/// Writes one audit row on `conn`, which may be inside a transaction.
pub(super) async fn insert_audit(
    conn: &mut AnyConnection,
    at: DateTime<Utc>,
    entry: &AuditEntry,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, event, tg_user_id, account_id, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(to_unix(at))
    .bind(entry.event.as_str())
    .bind(entry.tg_user_id)
    .bind(entry.account_id)
    .bind(entry.outcome)
    .bind(entry.detail.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}
