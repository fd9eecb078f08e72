//! Persistence: one sqlx `Any` pool over SQLite or PostgreSQL, chosen by
//! `DATABASE_URL` at run time. Instants are stored as unix seconds (UTC);
//! SQL stops here.

mod accounts;
mod audit;
mod bindings;
mod companies;
mod dialogues;
mod disputes;
mod holds;
mod inbox;
mod licence;
mod monitoring;
mod outbox;
mod pool;
mod prelinks;
mod replicas;
mod security;
mod signin;
mod tickets;
mod tokens;
mod two_factor;
mod users;

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use pool::Db;
use sqlx::{
    AnyConnection, AnyPool, Connection, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

pub use accounts::{SyncAudit, SyncRefusal, Synced};
pub use audit::{AuditEntry, AuditRow};
pub use bindings::StoredCode;
pub use dialogues::StoredDialogue;
pub use disputes::StoredDispute;
pub use holds::{HoldCancelledBy, StoredHold};
pub use inbox::InboxUpdate;
pub use licence::{AdminAlertOutcome, AdminAlertRequest, AdminContact};
pub use outbox::{Finished, OutboxItem, UnreadableItem};
pub use prelinks::StoredPrelink;
pub use security::BoundUser;
pub use signin::Unlocked;
pub use tickets::{
    ChangeEvent, DraftAnswer, Field, GroupMessage, NewItem, NewTicket, Opened, TicketChange,
    TicketEvent, TicketItem,
};
pub use tokens::{NewPasswordHash, NewResetToken, RefusalCount, StoredLink, StoredToken};
pub use two_factor::{AttemptSlot, Enabled, StoredBackupCode, StoredEnrolment, StoredTwoFactor};

use crate::config::{Backend, DatabaseConfig};

pub type StoreError = sqlx::Error;
pub type StoreResult<T> = Result<T, StoreError>;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The application's database handle; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Db,
    /// The inbox's own connections: keeping and marking updates never
    /// queues behind the handlers' queries (the shorter that wait, the
    /// fewer answers a crash can repeat), and on SQLite they commit with
    /// `synchronous = FULL`, so an update Telegram was told arrived
    /// survives a power cut too.
    inbox_pool: Db,
    backend: Backend,
}

impl Store {
    /// Opens the pool. A SQLite file and its directory are created if missing.
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let mut url = config.url.clone();
        if config.backend == Backend::Sqlite {
            let dir = config.sqlite_path().and_then(|p| p.parent().map(ToOwned::to_owned));
            if let Some(dir) = dir
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&dir).map_err(StoreError::Io)?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let options = AnyConnectOptions::from_str(&url)?;
        // One connection first: the pool would only say it timed out, while
        // this says why (refused, unknown host, bad password, no such file).
        AnyConnection::connect_with(&options).await?.close().await?;
        let backend = config.backend;
        let pool =
            open_pool(&options, backend, if backend == Backend::Sqlite { 4 } else { 10 }, "NORMAL")
                .await?;
        let inbox_pool = open_pool(&options, backend, 2, "FULL").await?;
        Ok(Self { pool: Db::new(pool), inbox_pool: Db::new(inbox_pool), backend })
    }

    /// Applies the migrations of this backend.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&mut *self.pool.acquire().await?).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.inbox_pool.close().await;
    }
}

/// A pool of at most `max` connections; on SQLite in WAL mode with the
/// given `synchronous` level. NORMAL keeps the database consistent after
/// any crash, and only a power failure can lose the last commits; FULL
/// fsyncs every commit.
async fn open_pool(
    options: &AnyConnectOptions,
    backend: Backend,
    max: u32,
    synchronous: &'static str,
) -> StoreResult<AnyPool> {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        // No ping before each use: it doubled the round trips of every
        // statement (on SQLite, two hand-overs to its worker thread). A
        // connection that broke meanwhile fails its statement and is
        // dropped; the caller's error handling (an apology, a retry) covers
        // that rare case.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the one writer; the busy
                    // timeout makes concurrent writers queue, not fail.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    let level = format!("PRAGMA synchronous = {synchronous}");
                    conn.execute(sqlx::AssertSqlSafe(level)).await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
}

/// `count` numbered placeholders from `$first`, comma-separated, for a
/// statement whose length depends on how many values it binds.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// `select` (a statement ending in `IN`) with one bound placeholder per
/// id, in parentheses: the rows of a batch in one statement.
fn select_in(
    select: &str,
    ids: impl ExactSizeIterator<Item = i64>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!("{select} ({})", placeholders(1, ids.len()));
    // Only numbered placeholders are formatted in; the ids are bound.
    ids.fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, id| query.bind(id))
}

/// `rows` parenthesised groups of `columns` numbered placeholders from
/// `$first`, for a multi-row `VALUES`.
fn value_rows(first: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", placeholders(first + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn to_unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

pub(crate) fn from_unix(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}
