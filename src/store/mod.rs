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
    /// The inbox's own connections: claiming and marking updates never
    /// queues behind the handlers' queries (the shorter that wait, the
    /// fewer answers a crash can repeat).
    inbox_pool: Db,
    /// Where updates are kept before Telegram is told they arrived. On
    /// SQLite its one connection commits with `synchronous = FULL`, so a
    /// kept update survives a power cut too (and with it every commit
    /// before it in the log); claims and marks commit with NORMAL, which a
    /// crash of the process cannot undo, and which spares a disk flush per
    /// group. On PostgreSQL every commit is durable: it is `inbox_pool`.
    intake_pool: Db,
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
        let inbox_pool = Db::new(open_pool(&options, backend, 2, "NORMAL").await?);
        let intake_pool = match backend {
            Backend::Sqlite => Db::new(open_pool(&options, backend, 1, "FULL").await?),
            Backend::Postgres => inbox_pool.clone(),
        };
        Ok(Self { pool: Db::new(pool), inbox_pool, intake_pool, backend })
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
        self.intake_pool.close().await;
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

/// `select` (a statement ending in `IN`) with a bound placeholder per id,
/// in parentheses: the rows of a batch in one statement.
fn select_in(
    select: &str,
    ids: impl ExactSizeIterator<Item = i64>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let sql = format!("{select} ({})", in_placeholders(1, ids.len()));
    // Only numbered placeholders are formatted in; the ids are bound.
    bind_in(sqlx::query(sqlx::AssertSqlSafe(sql)), ids)
}

/// The placeholders of an `IN` list of `len` ids from `$first`, padded to
/// a power of two (see [`bind_in`]).
fn in_placeholders(first: usize, len: usize) -> String {
    placeholders(first, len.max(1).next_power_of_two())
}

/// Binds `ids` for [`in_placeholders`], padding the list by repeating its
/// last id (harmless in `IN`): a batch statement then has a few shapes,
/// not one per length, so each is prepared once per connection and stays
/// in sqlx's statement cache instead of crowding the handlers' statements
/// out of it. Callers skip the statement for an empty list (it would
/// look for the id 0).
fn bind_in<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ids: impl ExactSizeIterator<Item = i64>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let len = ids.len();
    let mut last = 0;
    let query = ids.fold(query, |query, id| {
        last = id;
        query.bind(id)
    });
    (len..len.max(1).next_power_of_two()).fold(query, |query, _| query.bind(last))
}

/// `rows` parenthesised groups of `columns` numbered placeholders from
/// `$first`, for a multi-row `VALUES`. Unlike an `IN` list it cannot be
/// padded (an upsert may not touch one row twice), so a statement of
/// several rows should not be kept in sqlx's statement cache
/// (`.persistent(false)`): one per length would crowd the handlers'
/// statements out of it.
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

/// A store on a SQLite file in `dir` (not migrated), and its URL, for
/// unit tests.
#[cfg(test)]
pub(crate) async fn sqlite_store_in(dir: &tempfile::TempDir) -> (Store, String) {
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let config = DatabaseConfig::parse(&url).expect("url");
    (Store::connect(&config).await.expect("store"), url)
}

#[cfg(test)]
mod tests {
    use sqlx::{Arguments, Execute};

    use super::*;

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let (store, _url) = sqlite_store_in(dir).await;
        store.migrate().await.expect("migrations");
        store
    }

    #[test]
    fn an_in_list_is_padded_to_a_power_of_two() {
        assert_eq!(in_placeholders(2, 3), "$2, $3, $4, $5");
        assert_eq!(in_placeholders(1, 1), "$1");
        assert_eq!(in_placeholders(1, 9).matches('$').count(), 16);
        // As many values bound as placeholders (SQLite would take a missing
        // one for NULL; PostgreSQL refuses the statement).
        let bound = |mut query: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            query.take_arguments().expect("arguments").map_or(0, |arguments| arguments.len())
        };
        assert_eq!(bound(select_in("SELECT 1 WHERE 1 IN", [7, 8, 9].into_iter())), 4);
        assert_eq!(bound(select_in("SELECT 1 WHERE 1 IN", [7, 8].into_iter())), 2);
        let marks = sqlx::query("UPDATE inbox SET handled_at = $1 WHERE update_id IN").bind(0_i64);
        assert_eq!(bound(bind_in(marks, [1_i64, 2, 3, 4, 5].into_iter())), 1 + 8);
    }

    #[tokio::test]
    async fn a_padded_list_finds_each_row_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(&dir).await;
        let now = chrono::Utc::now();
        let updates: Vec<_> = (1..=5)
            .map(|id| crate::store::InboxUpdate {
                update_id: id,
                chat_id: Some(id * 10),
                payload: format!("{{\"update_id\":{id}}}"),
            })
            .collect();
        store.keep_updates(&updates, now).await.expect("kept");
        // Three marks go in a statement of four places, the last repeated.
        store.finish_updates(&[], &[1, 2, 3], now).await.expect("marked");
        assert_eq!(store.inbox_depth().await.expect("depth"), 2);
        let dialogue = |chat_id| StoredDialogue { chat_id, state: "{}".into(), version: 1 };
        store.finish_updates(&[dialogue(10), dialogue(20), dialogue(30)], &[], now).await.unwrap();
        let read = store.dialogue_states(&[30, 10, 40]).await.expect("states");
        let mut chats: Vec<i64> = read.iter().map(|d| d.chat_id).collect();
        chats.sort_unstable();
        assert_eq!(chats, [10, 30]);
        store.close().await;
    }

    #[tokio::test]
    async fn on_sqlite_only_kept_updates_wait_for_the_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(&dir).await;
        let level = |db: &Db| {
            let db = db.clone();
            async move {
                let level: i64 =
                    sqlx::query_scalar("PRAGMA synchronous").fetch_one(&db).await.expect("pragma");
                level
            }
        };
        // 2 is FULL, 1 NORMAL.
        assert_eq!(level(&store.intake_pool).await, 2, "updates kept");
        assert_eq!(level(&store.inbox_pool).await, 1, "claims and marks");
        assert_eq!(level(&store.pool).await, 1, "the handlers' statements");
        store.close().await;
    }
}
