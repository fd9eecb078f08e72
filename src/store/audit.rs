//! The `audit_events` table: one row per security-relevant decision.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Store, StoreResult, from_unix, to_unix};
use crate::domain::{AccountId, AuditEvent, AuditOutcome, TelegramUserId};

/// A row to write; built with [`AuditEntry::new`] and the setters.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub event: AuditEvent,
    pub outcome: AuditOutcome,
    pub tg_user_id: Option<TelegramUserId>,
    pub account_id: Option<AccountId>,
    /// The reason of a refusal, or free text for operators; never secrets
    /// or full phone numbers.
    pub detail: Option<String>,
    /// The client's address, for requests that came over HTTP.
    pub client_addr: Option<String>,
}

impl AuditEntry {
    pub fn new(event: AuditEvent, outcome: AuditOutcome) -> Self {
        Self { event, outcome, tg_user_id: None, account_id: None, detail: None, client_addr: None }
    }

    pub fn user(mut self, id: TelegramUserId) -> Self {
        self.tg_user_id = Some(id);
        self
    }

    pub fn account(mut self, id: AccountId) -> Self {
        self.account_id = Some(id);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn from_addr(mut self, addr: Option<String>) -> Self {
        self.client_addr = addr;
        self
    }
}

/// A row as read back.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub event: String,
    pub tg_user_id: Option<TelegramUserId>,
    pub account_id: Option<AccountId>,
    pub outcome: String,
    pub detail: Option<String>,
    pub client_addr: Option<String>,
}

impl Store {
    pub async fn audit(&self, at: DateTime<Utc>, entry: AuditEntry) -> StoreResult<()> {
        self.pool.run(async |conn| insert_audit(conn, at, &entry).await).await
    }

    /// The audit trail, oldest first.
    pub async fn audit_trail(&self) -> StoreResult<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT at, event, tg_user_id, account_id, outcome, detail, client_addr \
             FROM audit_events ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    at: from_unix(row.try_get("at")?),
                    event: row.try_get("event")?,
                    tg_user_id: row.try_get::<Option<i64>, _>("tg_user_id")?.map(TelegramUserId),
                    account_id: row.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
                    outcome: row.try_get("outcome")?,
                    detail: row.try_get("detail")?,
                    client_addr: row.try_get("client_addr")?,
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
        "INSERT INTO audit_events (at, event, tg_user_id, account_id, outcome, detail, \
             client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(to_unix(at))
    .bind(entry.event.as_str())
    .bind(entry.tg_user_id.map(|id| id.0))
    .bind(entry.account_id.map(|id| id.0))
    .bind(entry.outcome.as_str())
    .bind(entry.detail.as_deref())
    .bind(entry.client_addr.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}
