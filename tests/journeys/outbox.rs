//! The outbox as an operator relies on it: each row is delivered once even
//! with two workers on one database, not before its due time, once per key;
//! Telegram's failures are retried with doubling pauses for a day; a row
//! nobody can read is given up without holding up the rest.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use crm_recovery_bot::{
    clock::{Clock, ManualClock},
    domain::NewDelivery,
    store::Store,
};
use sqlx::Row;

use crate::support::{telegram::WAIT_TIMEOUT, *};

on_both_backends!(
    two_workers_send_each_row_once,
    a_row_is_not_sent_before_it_is_due,
    a_key_replaces_the_pending_row,
    transient_failures_are_retried_with_doubling_pauses,
    server_errors_are_retried_like_other_transient_failures,
    network_errors_are_retried_like_other_transient_failures,
    a_row_older_than_a_day_is_given_up,
    an_unreadable_row_is_given_up_and_the_rest_delivered,
);

/// One `outbox` row as an operator would read it.
#[derive(Debug, Clone)]
struct OutboxRow {
    id: i64,
    payload: String,
    attempts: i64,
    due_at: i64,
    claimed_by: Option<String>,
    sent_at: Option<i64>,
    failed_at: Option<i64>,
    last_error: Option<String>,
}

impl OutboxRow {
    fn is_pending(&self) -> bool {
        self.sent_at.is_none() && self.failed_at.is_none()
    }

    /// The worker has recorded the outcome of its last attempt.
    fn is_settled(&self) -> bool {
        self.claimed_by.is_none()
    }
}

async fn outbox_rows(pool: &sqlx::AnyPool) -> Vec<OutboxRow> {
    sqlx::query(
        "SELECT id, payload, attempts, due_at, claimed_by, sent_at, failed_at, last_error \
         FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("outbox readable")
    .iter()
    .map(|row| OutboxRow {
        id: row.get("id"),
        payload: row.get("payload"),
        attempts: row.get("attempts"),
        due_at: row.get("due_at"),
        claimed_by: row.get("claimed_by"),
        sent_at: row.get("sent_at"),
        failed_at: row.get("failed_at"),
        last_error: row.get("last_error"),
    })
    .collect()
}

/// The row whose payload holds `text`.
async fn row_with(pool: &sqlx::AnyPool, text: &str) -> OutboxRow {
    let rows = outbox_rows(pool).await;
    let mut matching = rows.iter().filter(|row| row.payload.contains(text));
    let row = matching.next().unwrap_or_else(|| panic!("no outbox row holds {text:?}: {rows:#?}"));
    assert!(matching.next().is_none(), "several outbox rows hold {text:?}: {rows:#?}");
    row.clone()
}

/// Waits until the row holding `text` satisfies `done`; panics after
/// `timeout` showing the row.
async fn wait_for_row(
    pool: &sqlx::AnyPool,
    text: &str,
    timeout: Duration,
    done: impl Fn(&OutboxRow) -> bool,
) -> OutboxRow {
    let deadline = Instant::now() + timeout;
    loop {
        let rows = outbox_rows(pool).await;
        if let Some(row) = rows.iter().find(|row| row.payload.contains(text) && done(row)) {
            return row.clone();
        }
        assert!(Instant::now() < deadline, "outbox row {text:?} never got there: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the row holding `text` has been tried `attempts` times and
/// the outcome recorded.
async fn row_after_attempts(pool: &sqlx::AnyPool, text: &str, attempts: i64) -> OutboxRow {
    wait_for_row(pool, text, WAIT_TIMEOUT, |row| row.attempts == attempts && row.is_settled()).await
}

/// The texts the bot tried to send to `chat_id`: (text, failed).
fn send_attempts(tg: &FakeTelegram, chat_id: i64, text: &str) -> Vec<bool> {
    tg.calls("sendmessage")
        .iter()
        .filter(|c| c.params["chat_id"] == chat_id && c.params["text"] == text)
        .map(|c| c.failed)
        .collect()
}

fn unix(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

async fn two_workers_send_each_row_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let users: Vec<TgUser> = (0..10).map(|i| TgUser::new(2000 + i, "Reader", Some("en"))).collect();
    for user in &users {
        greet(&app, user).await;
    }
    let second = ExtraWorker::start(&db, app.tg.api_url(), &app.clock).await;
    let before = app.tg.calls("sendmessage").len();
    for round in 0..3 {
        for user in &users {
            enqueue_now(&app, user.id, &format!("notice {round} for {}", user.id)).await;
        }
    }
    app.wake_outbox();
    second.wake();

    app.tg.wait_for_calls("sendmessage", before + 30).await;
    let pool = db.raw_pool().await;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while outbox_rows(&pool).await.iter().any(OutboxRow::is_pending) {
        assert!(Instant::now() < deadline, "rows left pending: {:#?}", outbox_rows(&pool).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Each user reads their three notices; a duplicate would be left unread
    // and fail the journey when the app stops.
    for user in &users {
        let mut texts = Vec::new();
        for _ in 0..3 {
            texts.push(app.tg.next_sent(user.id).await.text_str().to_owned());
        }
        texts.sort();
        let expected: Vec<String> =
            (0..3).map(|round| format!("notice {round} for {}", user.id)).collect();
        assert_eq!(texts, expected);
    }
    // Both workers stop only after recording what they have in flight, so
    // a row sent twice would show in the calls by now.
    second.stop().await;
    let tg = app.tg.clone();
    app.stop().await;

    let mut per_text: HashMap<(i64, String), usize> = HashMap::new();
    for call in &tg.calls("sendmessage")[before..] {
        assert!(!call.failed, "{call:?}");
        let chat = call.params["chat_id"].as_i64().unwrap();
        let text = call.params["text"].as_str().unwrap().to_owned();
        *per_text.entry((chat, text)).or_default() += 1;
    }
    assert_eq!(per_text.len(), 30, "every row reached its chat: {per_text:?}");
    let twice: Vec<_> = per_text.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let rows = outbox_rows(&pool).await;
    assert_eq!(rows.len(), 30);
    for row in &rows {
        assert!(row.sent_at.is_some() && row.attempts == 1, "{row:?}");
    }
    pool.close().await;
}

async fn a_row_is_not_sent_before_it_is_due(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    let early = NewDelivery {
        payload: message(user.id, "due in ten minutes"),
        due_at: app.now() + chrono::Duration::minutes(10),
        key: None,
    };
    app.store.enqueue(&early, app.now()).await.unwrap();
    app.wake_outbox();

    marker_delivered(&app, &user, "due now").await;
    let row = row_with(app.raw_pool(), "due in ten minutes").await;
    assert!(row.is_pending() && row.attempts == 0, "{row:?}");

    app.advance(chrono::Duration::minutes(9));
    marker_delivered(&app, &user, "due nine minutes later").await;
    let row = row_with(app.raw_pool(), "due in ten minutes").await;
    assert!(row.is_pending() && row.attempts == 0, "{row:?}");
    assert!(send_attempts(&app.tg, user.id, "due in ten minutes").is_empty());

    app.advance(chrono::Duration::minutes(2));
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "due in ten minutes");
    assert_eq!(send_attempts(&app.tg, user.id, "due in ten minutes"), [false]);
    app.stop().await;
}

async fn a_key_replaces_the_pending_row(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    let key = Some("reminder:anna".to_owned());
    let first = NewDelivery {
        payload: message(user.id, "first version"),
        due_at: app.now() + chrono::Duration::minutes(5),
        key: key.clone(),
    };
    app.store.enqueue(&first, app.now()).await.unwrap();
    let second =
        NewDelivery { payload: message(user.id, "second version"), due_at: app.now(), key };
    app.store.enqueue(&second, app.now()).await.unwrap();
    app.wake_outbox();

    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "second version");
    // Past the first version's due time nothing else comes of the key.
    app.advance(chrono::Duration::minutes(10));
    marker_delivered(&app, &user, "later").await;
    assert!(send_attempts(&app.tg, user.id, "first version").is_empty());
    assert_eq!(send_attempts(&app.tg, user.id, "second version"), [false]);
    let rows = outbox_rows(app.raw_pool()).await;
    assert_eq!(rows.len(), 2, "one row for the key, one for the marker: {rows:#?}");
    app.stop().await;
}

async fn transient_failures_are_retried_with_doubling_pauses(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    enqueue_now(&app, user.id, "retry me").await;

    // Each failure (garbage from a proxy, seen at once) puts the row off by
    // twice the last pause, up to ten minutes.
    let pauses = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600];
    let mut waited = 0;
    for (failures, pause) in pauses.into_iter().enumerate() {
        app.tg.garble_next("sendmessage");
        app.advance(chrono::Duration::seconds(waited));
        let row = row_after_attempts(app.raw_pool(), "retry me", failures as i64 + 1).await;
        assert!(row.is_pending(), "{row:?}");
        assert_eq!(row.due_at - unix(app.now()), pause, "after {} failures: {row:?}", failures + 1);
        assert!(row.last_error.as_deref().unwrap_or("").contains("JSON"), "{row:?}");
        waited = pause;
    }
    app.advance(chrono::Duration::seconds(waited));
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "retry me");
    let row = row_after_attempts(app.raw_pool(), "retry me", 13).await;
    assert!(row.sent_at.is_some(), "{row:?}");
    app.stop().await;
}

async fn server_errors_are_retried_like_other_transient_failures(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    // teloxide pauses 10 s before it reports a 5xx.
    let teloxide_pause = Duration::from_secs(10);
    app.tg.set_wait_timeout(teloxide_pause + WAIT_TIMEOUT);
    app.tg.fail_next("sendmessage", 502, "Bad Gateway", None);
    enqueue_now(&app, user.id, "through a bad gateway").await;
    app.wake_outbox();

    let row = wait_for_row(
        app.raw_pool(),
        "through a bad gateway",
        teloxide_pause + WAIT_TIMEOUT,
        |row| row.attempts == 1 && row.is_settled(),
    )
    .await;
    assert!(row.is_pending(), "a 502 is not a refusal: {row:?}");
    assert_eq!(row.due_at - unix(app.now()), 1, "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or("").contains("Bad Gateway"), "{row:?}");

    app.advance(chrono::Duration::seconds(1));
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "through a bad gateway");
    assert_eq!(send_attempts(&app.tg, user.id, "through a bad gateway"), [true, false]);
    app.stop().await;
}

async fn network_errors_are_retried_like_other_transient_failures(db: TestDb) {
    // Nothing listens on this port once the listener is dropped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let api_url: url::Url = format!("http://{closed}/").parse().unwrap();
    let clock = ManualClock::new(test_start());
    let worker = ExtraWorker::start(&db, api_url, &clock).await;
    let store = Store::connect(&db.config).await.unwrap();
    let pool = db.raw_pool().await;
    let text = "while Telegram is unreachable";
    store
        .enqueue(&NewDelivery::now(message(anna().id, text), clock.now()), clock.now())
        .await
        .unwrap();

    let mut waited = 0;
    for (failures, pause) in [1, 2, 4].into_iter().enumerate() {
        clock.advance(chrono::Duration::seconds(waited));
        worker.wake();
        let row = row_after_attempts(&pool, text, failures as i64 + 1).await;
        assert!(row.is_pending(), "{row:?}");
        assert_eq!(
            row.due_at - unix(clock.now()),
            pause,
            "after {} failures: {row:?}",
            failures + 1
        );
        assert!(row.last_error.is_some(), "{row:?}");
        waited = pause;
    }
    worker.stop().await;
    store.close().await;
    pool.close().await;
}

async fn a_row_older_than_a_day_is_given_up(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    enqueue_now(&app, user.id, "stale notice").await;
    app.tg.garble_next("sendmessage");
    app.wake_outbox();
    row_after_attempts(app.raw_pool(), "stale notice", 1).await;

    // Within the day it is still retried…
    app.tg.garble_next("sendmessage");
    app.advance(chrono::Duration::hours(23));
    let row = row_after_attempts(app.raw_pool(), "stale notice", 2).await;
    assert!(row.is_pending(), "23 hours old: still retried: {row:?}");

    // …past it, the next transient failure is the last.
    app.tg.garble_next("sendmessage");
    app.advance(chrono::Duration::hours(2));
    let row = row_after_attempts(app.raw_pool(), "stale notice", 3).await;
    assert_eq!(row.failed_at, Some(unix(app.now())), "given up: {row:?}");
    assert!(row.sent_at.is_none(), "{row:?}");
    assert!(row.last_error.as_deref().unwrap_or("").contains("JSON"), "{row:?}");

    app.advance(chrono::Duration::hours(1));
    marker_delivered(&app, &user, "after the give-up").await;
    assert_eq!(send_attempts(&app.tg, user.id, "stale notice"), [true, true, true]);
    app.stop().await;
}

async fn an_unreadable_row_is_given_up_and_the_rest_delivered(db: TestDb) {
    let mut app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    // This instance's worker is the one whose log the operator reads.
    app.stop_process().await;
    enqueue_now(&app, user.id, "before the odd row").await;
    sqlx::query("INSERT INTO outbox (payload, created_at, due_at) VALUES ($1, $2, $2)")
        .bind(r#"{"kind":"from_the_future"}"#)
        .bind(unix(app.now()))
        .execute(app.raw_pool())
        .await
        .unwrap();
    enqueue_now(&app, user.id, "after the odd row").await;

    let logs = CapturedLogs::default();
    let worker = ExtraWorker::start_logged(
        &db,
        app.tg.api_url(),
        &app.clock,
        logs.dispatch("crm_recovery_bot=debug"),
    )
    .await;
    worker.wake();
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "before the odd row");
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "after the odd row");
    let odd = wait_for_row(app.raw_pool(), "from_the_future", WAIT_TIMEOUT, |row| {
        row.failed_at.is_some()
    })
    .await;
    assert!(odd.sent_at.is_none(), "{odd:?}");
    let reason = odd.last_error.clone().unwrap_or_default();
    assert!(reason.contains("from_the_future"), "the row says why: {odd:?}");
    worker.stop().await;

    let log = logs.text();
    let line = log
        .lines()
        .find(|line| line.contains("unreadable row given up"))
        .unwrap_or_else(|| panic!("the log does not say the row was given up:\n{log}"));
    assert!(line.contains("ERROR") && line.contains(&format!("id={}", odd.id)), "{line}");
    assert!(line.contains("from_the_future"), "the log says why: {line}");
    app.stop().await;
}

/// A Bot API in front of the fake that holds each sendMessage until the
/// test lets it through: what a slow Telegram looks like to the worker.
struct HeldTelegram {
    url: url::Url,
    arrived: tokio::sync::mpsc::UnboundedReceiver<String>,
    release: Arc<tokio::sync::Semaphore>,
    server: tokio::task::JoinHandle<()>,
}

impl HeldTelegram {
    async fn start(fake: &FakeTelegram) -> Self {
        use axum::{
            body::Bytes,
            extract::{Path, State},
            http::{HeaderMap, StatusCode, header},
            response::IntoResponse,
        };
        #[derive(Clone)]
        struct Proxy {
            target: url::Url,
            client: reqwest::Client,
            arrived: tokio::sync::mpsc::UnboundedSender<String>,
            release: Arc<tokio::sync::Semaphore>,
        }
        async fn forward(
            State(proxy): State<Proxy>,
            Path((bot, method)): Path<(String, String)>,
            headers: HeaderMap,
            body: Bytes,
        ) -> impl IntoResponse {
            if method.eq_ignore_ascii_case("sendmessage") {
                let _ = proxy.arrived.send(String::from_utf8_lossy(&body).into_owned());
                proxy.release.acquire().await.expect("open").forget();
            }
            // Not `join`: "bot123:TEST" would read as a URL scheme.
            let url = format!("{}{bot}/{method}", proxy.target);
            let mut request = proxy.client.post(url).body(body);
            if let Some(kind) = headers.get(header::CONTENT_TYPE) {
                request = request.header(header::CONTENT_TYPE, kind.as_bytes());
            }
            let answer = request.send().await.expect("the fake answers");
            let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
            let body = answer.bytes().await.expect("body");
            (status, [(header::CONTENT_TYPE, "application/json")], body)
        }

        let (sender, arrived) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let proxy = Proxy {
            target: fake.api_url(),
            client: reqwest::Client::new(),
            arrived: sender,
            release: Arc::clone(&release),
        };
        let app = axum::Router::new()
            .route("/{bot}/{method}", axum::routing::post(forward))
            .with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap()).parse().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, arrived, release, server }
    }

    /// Waits until a sendMessage is being held; returns its body.
    async fn held(&mut self) -> String {
        tokio::time::timeout(WAIT_TIMEOUT, self.arrived.recv())
            .await
            .expect("a sendMessage arrives")
            .expect("proxy running")
    }

    /// Lets every sendMessage through from now on.
    fn open(&self) {
        self.release.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

impl Drop for HeldTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

on_both_backends!(a_key_replaced_while_its_row_is_being_sent_is_still_delivered);

/// The key's promise is that the newest version is delivered: a version
/// queued while the worker is sending the previous one must not be marked
/// sent with it.
async fn a_key_replaced_while_its_row_is_being_sent_is_still_delivered(db: TestDb) {
    let mut app = TestApp::spawn(&db).await;
    let user = anna();
    greet(&app, &user).await;
    app.stop_process().await;
    let mut telegram = HeldTelegram::start(&app.tg).await;
    let worker = ExtraWorker::start(&db, telegram.url.clone(), &app.clock).await;
    let key = Some("reminder:anna".to_owned());
    let version = |text: &str| NewDelivery {
        payload: message(user.id, text),
        due_at: app.now(),
        key: key.clone(),
    };
    app.store.enqueue(&version("old version"), app.now()).await.unwrap();
    worker.wake();
    assert!(telegram.held().await.contains("old version"));

    app.store.enqueue(&version("new version"), app.now()).await.unwrap();
    telegram.open();
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "old version");
    // Once the worker has recorded that send, it looks at the outbox again.
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while !outbox_rows(app.raw_pool()).await.iter().all(OutboxRow::is_settled) {
        assert!(Instant::now() < deadline, "{:#?}", outbox_rows(app.raw_pool()).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    enqueue_now(&app, user.id, "marker").await;
    worker.wake();
    app.tg.sent_until(user.id, |sent| sent.text_str() == "marker").await;
    assert_eq!(
        send_attempts(&app.tg, user.id, "new version"),
        [false],
        "the newest version was delivered: {:#?}",
        outbox_rows(app.raw_pool()).await
    );
    worker.stop().await;
    app.stop().await;
}
