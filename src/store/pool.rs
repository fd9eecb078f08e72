//! The connections the store runs its statements on: sqlx's pool, with the
//! connections it lends kept lent and reused.
//!
//! sqlx's pool checks every connection it gets back with a ping before
//! anyone may use it again. That is a round trip per statement: on SQLite a
//! second hand-over to the connection's worker thread and back (two thread
//! wake-ups), on PostgreSQL a `Sync` to the server and its answer. [`Db`]
//! keeps the connections its statements used and lends them again without
//! that check, handing one straight to the next caller waiting. It takes at
//! most as many from sqlx as sqlx's pool may open, so a caller waits here,
//! in order, not in sqlx's pool. A connection goes back to sqlx (and gets
//! its ping) only when it may need it: its statements failed or were
//! abandoned half-way, it has something to flush (a rolled-back
//! transaction on PostgreSQL), or it has been lent for a minute, checked
//! when it is finished with and again before it is lent out (so sqlx's
//! lifetime and idle limits still apply, and one that idled here is
//! checked before a statement finds its socket closed). [`Db::begin`] gives sqlx's own
//! transaction, whose connection goes back to sqlx when it ends; the
//! busiest transactions run on a [`Lease`] instead and keep theirs.

use std::{
    collections::VecDeque,
    ops::{Deref, DerefMut},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{
    Any, AnyConnection, AnyPool, Connection, Database, Either, Error, Execute, Executor,
    Transaction, pool::PoolConnection,
};
use tokio::sync::oneshot;

/// How long a connection stays lent before it goes back to sqlx's pool
/// (and its checks) once.
const LEND_FOR: Duration = Duration::from_secs(60);

/// sqlx's pool and the connections taken from it; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: AnyPool,
    spare: Arc<Mutex<Spare>>,
}

#[derive(Debug)]
struct Spare {
    /// Taken from sqlx and not in use.
    connections: Vec<Lent>,
    /// Callers waiting for a connection, first come first served.
    waiting: VecDeque<oneshot::Sender<Handed>>,
    /// Connections taken from sqlx (spare, in use, or in a transaction).
    taken: usize,
    /// sqlx's pool's own limit.
    max: usize,
    closed: bool,
}

#[derive(Debug)]
struct Lent {
    connection: PoolConnection<Any>,
    since: Instant,
}

/// What a waiting caller is handed: a connection, or a place to take
/// one from sqlx.
#[derive(Debug)]
enum Handed {
    Connection(Lent),
    Place,
}

impl Db {
    pub(crate) fn new(pool: AnyPool) -> Self {
        let max = pool.options().get_max_connections() as usize;
        let spare = Spare {
            connections: Vec::new(),
            waiting: VecDeque::new(),
            taken: 0,
            max,
            closed: false,
        };
        Self { pool, spare: Arc::new(Mutex::new(spare)) }
    }

    /// A connection for a few statements. It comes back here when dropped
    /// only if [`Lease::settle`] said its statements succeeded; otherwise
    /// sqlx checks it first.
    pub(crate) async fn acquire(&self) -> Result<Lease, Error> {
        let lent = self.take().await?;
        Ok(Lease { lent: Some(lent), spare: Arc::clone(&self.spare), clean: false })
    }

    /// Runs `work` on a connection of its own and settles the lease with
    /// its outcome: the connection is lent again unchecked only if `work`
    /// succeeded.
    pub(crate) async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut conn = self.acquire().await?;
        let outcome = work(&mut conn).await;
        conn.settle(outcome)
    }

    /// A transaction of sqlx's; its connection goes back to sqlx when it
    /// ends.
    pub(crate) async fn begin(&self) -> Result<Tx, Error> {
        let lent = self.take().await?;
        let place = Place::new(&self.spare);
        Ok(Tx { tx: Transaction::begin(lent.connection, None).await?, _place: place })
    }

    /// Closes the pool, after handing back the connections kept here.
    pub(crate) async fn close(&self) {
        let kept = {
            let mut spare = self.lock();
            spare.closed = true;
            spare.taken -= spare.connections.len();
            std::mem::take(&mut spare.connections)
        };
        drop(kept);
        self.pool.close().await;
    }

    /// A spare connection, else one from sqlx while fewer than its limit
    /// are taken, else the next one finished with (or the place of one
    /// sqlx took back), in the order callers came. Safe to drop at any
    /// point: what was handed over meanwhile is passed on.
    async fn take(&self) -> Result<Lent, Error> {
        let queued = {
            let mut spare = self.lock();
            if let Some(lent) = spare.connections.pop() {
                if lent.since.elapsed() < LEND_FOR {
                    return Ok(lent);
                }
                // Lent too long (it may have idled for hours: a socket the
                // server closed): back to sqlx, which checks it; this
                // caller keeps its place and takes one from there.
                drop(lent);
                None
            } else if spare.taken < spare.max {
                spare.taken += 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                spare.waiting.push_back(tx);
                Some(Queued { rx, spare: Arc::clone(&self.spare) })
            }
        };
        if let Some(mut queued) = queued {
            let timeout = self.pool.options().get_acquire_timeout();
            match tokio::time::timeout(timeout, &mut queued.rx).await {
                Ok(Ok(Handed::Connection(lent))) => return Ok(lent),
                Ok(Ok(Handed::Place)) => {}
                // Never sent to (the pool is gone), or the wait ran out.
                Ok(Err(_)) | Err(_) => return Err(Error::PoolTimedOut),
            }
        }
        // This caller holds a place now: freed again unless it gets a
        // connection for it.
        let place = Place::new(&self.spare);
        let connection = self.pool.acquire().await?;
        place.filled();
        Ok(Lent { connection, since: Instant::now() })
    }

    fn lock(&self) -> MutexGuard<'_, Spare> {
        lock(&self.spare)
    }
}

fn lock(spare: &Mutex<Spare>) -> MutexGuard<'_, Spare> {
    spare.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection went back to sqlx: the first caller still waiting may take
/// one from there.
fn place_freed(spare: &mut Spare) {
    while let Some(waiter) = spare.waiting.pop_front() {
        if waiter.send(Handed::Place).is_ok() {
            return;
        }
    }
    spare.taken = spare.taken.saturating_sub(1);
}

/// A connection in use; it goes back to the spare ones (or to the first
/// caller waiting) when dropped, unless it may need sqlx's checks (see the
/// module's doc).
#[derive(Debug)]
pub(crate) struct Lease {
    lent: Option<Lent>,
    spare: Arc<Mutex<Spare>>,
    /// Whether its statements all finished and succeeded: only then is it
    /// lent again unchecked.
    clean: bool,
}

impl Lease {
    /// Says how the statements on this connection went, and passes the
    /// outcome on.
    pub(crate) fn settle<T>(&mut self, outcome: Result<T, Error>) -> Result<T, Error> {
        self.clean = outcome.is_ok();
        outcome
    }
}

impl Deref for Lease {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        // Only `drop` takes it out.
        self.lent.as_ref().map(|lent| &*lent.connection).expect("a lease holds its connection")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.lent.as_mut().map(|lent| &mut *lent.connection).expect("a lease holds its connection")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(lent) = self.lent.take() else { return };
        let mut spare = lock(&self.spare);
        let keep = self.clean
            && !spare.closed
            && !lent.connection.should_flush()
            && lent.since.elapsed() < LEND_FOR;
        if !keep {
            // sqlx takes it back and checks it.
            drop(lent);
            place_freed(&mut spare);
            return;
        }
        give_back(&mut spare, lent);
    }
}

/// A connection finished with, unchecked: to the first caller still
/// waiting, else to the spare ones.
fn give_back(spare: &mut Spare, mut lent: Lent) {
    if spare.closed {
        // Closing waits for sqlx to have every connection back.
        drop(lent);
        place_freed(spare);
        return;
    }
    while let Some(waiter) = spare.waiting.pop_front() {
        match waiter.send(Handed::Connection(lent)) {
            Ok(()) => return,
            Err(Handed::Connection(back)) => lent = back,
            Err(Handed::Place) => unreachable!("sent a connection"),
        }
    }
    spare.connections.push(lent);
}

/// A caller's place in the queue. Dropped once something was handed to it
/// but before it was taken (the caller gave up, or its future was
/// dropped), it passes that on.
struct Queued {
    rx: oneshot::Receiver<Handed>,
    spare: Arc<Mutex<Spare>>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.rx.close();
        let Ok(handed) = self.rx.try_recv() else { return };
        let mut spare = lock(&self.spare);
        match handed {
            Handed::Connection(lent) => give_back(&mut spare, lent),
            Handed::Place => place_freed(&mut spare),
        }
    }
}

/// sqlx's transaction, and its connection's place here: freed when it ends.
#[derive(Debug)]
pub(crate) struct Tx {
    tx: Transaction<'static, Any>,
    _place: Place,
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

/// A place for a connection taken from sqlx, freed when dropped: held by
/// a transaction (whose connection goes back to sqlx with it), and by a
/// caller until sqlx gives it one.
#[derive(Debug)]
struct Place(Option<Arc<Mutex<Spare>>>);

impl Place {
    fn new(spare: &Arc<Mutex<Spare>>) -> Self {
        Self(Some(Arc::clone(spare)))
    }

    /// Its connection is in use: not freed here.
    fn filled(mut self) {
        self.0 = None;
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(spare) = &self.0 {
            place_freed(&mut lock(spare));
        }
    }
}

impl<'p> Executor<'p> for &'_ Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<<Any as Database>::QueryResult, <Any as Database>::Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        // All our statements return few rows: they are collected while the
        // connection is held, then handed out.
        let db = self.clone();
        let all = async move {
            let results =
                db.run(async |conn| conn.fetch_many(query).try_collect::<Vec<_>>().await).await?;
            Ok::<_, Error>(futures::stream::iter(results.into_iter().map(Ok)))
        };
        all.into_stream().try_flatten().boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<<Any as Database>::Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let db = self.clone();
        async move { db.run(async |conn| conn.fetch_optional(query).await).await }.boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [<Any as Database>::TypeInfo],
    ) -> BoxFuture<'e, Result<<Any as Database>::Statement, Error>>
    where
        'p: 'e,
    {
        let db = self.clone();
        async move { db.acquire().await?.prepare_with(sql, parameters).await }.boxed()
    }

    fn describe<'e>(self, sql: sqlx::SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Any>, Error>>
    where
        'p: 'e,
    {
        let db = self.clone();
        async move { db.acquire().await?.describe(sql).await }.boxed()
    }
}

#[cfg(test)]
impl Db {
    /// How many connections wait here to be lent again.
    fn spare_count(&self) -> usize {
        self.lock().connections.len()
    }
}

#[cfg(test)]
mod tests {
    use sqlx::any::AnyPoolOptions;

    use super::*;

    async fn db(max: u32) -> Db {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        Db::new(pool)
    }

    #[tokio::test]
    async fn a_statement_keeps_its_connection_for_the_next() {
        let db = db(2).await;
        let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&db).await.unwrap();
        assert_eq!(one, 1);
        assert_eq!(db.spare_count(), 1);
        sqlx::query("SELECT 2").execute(&db).await.unwrap();
        assert_eq!(db.spare_count(), 1, "the same connection was reused");
    }

    #[tokio::test]
    async fn a_connection_kept_too_long_goes_through_sqlx_before_its_next_statement() {
        let db = db(1).await;
        sqlx::query("SELECT 1").execute(&db).await.unwrap();
        // As if it had idled here for a minute (the server may have closed it).
        if let Some(kept) = db.lock().connections.first_mut() {
            kept.since = Instant::now().checked_sub(LEND_FOR).expect("a minute since boot");
        }
        sqlx::query("SELECT 2").execute(&db).await.unwrap();
        let spare = db.lock();
        assert_eq!(spare.connections.len(), 1, "checked by sqlx, then kept anew");
        assert!(spare.connections[0].since.elapsed() < LEND_FOR);
        assert_eq!(spare.taken, 1);
    }

    #[tokio::test]
    async fn a_failed_statement_hands_its_connection_back_to_sqlx() {
        let db = db(2).await;
        let error = sqlx::query("SELECT * FROM no_such_table").execute(&db).await;
        assert!(error.is_err());
        assert_eq!(db.spare_count(), 0);
        // sqlx checked it and lends it again.
        sqlx::query("SELECT 1").execute(&db).await.unwrap();
        assert_eq!(db.spare_count(), 1);
    }

    /// Waits until `count` callers wait for a connection.
    async fn until_waiting(db: &Db, count: usize) {
        while db.lock().waiting.len() < count {
            tokio::task::yield_now().await;
        }
    }

    /// A connection in use, its statements said to have succeeded.
    async fn held(db: &Db) -> Lease {
        let mut lease = db.acquire().await.unwrap();
        lease.settle(Ok(())).unwrap();
        lease
    }

    /// A caller selecting `n` in a task of its own, once it waits.
    async fn selecting(db: &Db, n: i64) -> tokio::task::JoinHandle<Result<i64, Error>> {
        let waiting = db.lock().waiting.len();
        let task = tokio::spawn({
            let db = db.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT {n}")))
                    .fetch_one(&db)
                    .await
            }
        });
        until_waiting(db, waiting + 1).await;
        task
    }

    /// Drops a caller's future wherever it waits.
    async fn abandon<T>(task: tokio::task::JoinHandle<T>) {
        task.abort();
        let _ = task.await;
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_the_connection_finished_with() {
        // One connection: the second caller waits while the first holds it
        // and is handed it, unchecked, when the first is done.
        let db = db(1).await;
        let first = held(&db).await;
        let second = selecting(&db, 7).await;
        drop(first);
        assert_eq!(second.await.unwrap().unwrap(), 7);
        assert_eq!(db.spare_count(), 1);
    }

    #[tokio::test]
    async fn a_waiting_caller_takes_the_place_of_a_connection_sqlx_took_back() {
        // The first's statements failed (never settled): its connection goes
        // back to sqlx, and the waiting caller takes one from there.
        let db = db(1).await;
        let first = db.acquire().await.unwrap();
        let second = selecting(&db, 8).await;
        drop(first);
        assert_eq!(second.await.unwrap().unwrap(), 8);
        assert_eq!(db.lock().taken, 1);
    }

    /// A waiting caller gives up (its future is dropped) before or just
    /// after the connection is handed to it: the next one gets it.
    async fn a_caller_gives_up(after_handed: bool) {
        let db = db(1).await;
        let first = held(&db).await;
        let gives_up = selecting(&db, 1).await;
        let third = selecting(&db, 9).await;
        if after_handed {
            // Handed to the second, which is dropped before it runs again.
            drop(first);
            abandon(gives_up).await;
        } else {
            abandon(gives_up).await;
            drop(first);
        }
        assert_eq!(third.await.unwrap().unwrap(), 9);
        assert_eq!((db.spare_count(), db.lock().taken), (1, 1));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_waiting_passes_its_turn_on() {
        a_caller_gives_up(false).await;
    }

    #[tokio::test]
    async fn a_caller_dropped_just_after_being_handed_a_connection_passes_it_on() {
        a_caller_gives_up(true).await;
    }

    #[tokio::test]
    async fn closing_gets_back_a_connection_handed_to_a_caller_that_gave_up() {
        let db = db(1).await;
        let first = held(&db).await;
        let gives_up = selecting(&db, 1).await;
        // Handed to the waiting caller, which has not run yet.
        drop(first);
        let closing = tokio::spawn({
            let db = db.clone();
            async move { db.close().await }
        });
        while !db.lock().closed {
            tokio::task::yield_now().await;
        }
        abandon(gives_up).await;
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closing waits for no connection kept here")
            .unwrap();
        assert_eq!((db.spare_count(), db.lock().taken), (0, 0));
    }

    #[tokio::test]
    async fn a_transaction_runs_on_a_spare_connection() {
        let db = db(1).await;
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&db).await.unwrap();
        assert_eq!(db.spare_count(), 1);
        let mut tx = db.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        // Its connection went back to sqlx, and its place with it.
        assert_eq!((db.spare_count(), db.lock().taken), (0, 0));
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&db).await.unwrap();
        assert_eq!(count, 1);
    }
}
