//! Outbox helpers shared by the journeys: a second worker on the test's
//! database (a second instance of the bot), and markers that show the
//! worker has looked at everything due.

use std::sync::Arc;

use crm_recovery_bot::{
    bot::{self, BotSettings, Desk, OutboxHandle, OutboxWorker},
    clock::ManualClock,
    domain::{Delivery, Lang, NewDelivery, PublicUrls, TelegramUserId},
    recovery::{HashingQueue, OutboxWaker, Policies, Recovery, SupportPolicy},
    store::Store,
};
use tokio_util::sync::CancellationToken;

use super::{TestApp, TestDb, TgUser, test_telegram_limits};

/// A second outbox worker on the test's database, as a second instance of
/// the bot would run one.
pub struct ExtraWorker {
    handle: OutboxHandle,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    store: Store,
}

impl ExtraWorker {
    pub async fn start(db: &TestDb, api_url: url::Url, clock: &ManualClock) -> Self {
        Self::start_logged(db, api_url, clock, tracing::Dispatch::none()).await
    }

    /// A worker whose logs go to `logs`.
    /// A worker that also delivers the support desk's relays and
    /// reminders for the staff group `chat`.
    pub async fn start_with_desk(
        db: &TestDb,
        api_url: url::Url,
        clock: &ManualClock,
        chat: i64,
        admins: Vec<TelegramUserId>,
    ) -> Self {
        Self::start_inner(db, api_url, clock, tracing::Dispatch::none(), Some((chat, admins))).await
    }

    pub async fn start_logged(
        db: &TestDb,
        api_url: url::Url,
        clock: &ManualClock,
        logs: tracing::Dispatch,
    ) -> Self {
        Self::start_inner(db, api_url, clock, logs, None).await
    }

    async fn start_inner(
        db: &TestDb,
        api_url: url::Url,
        clock: &ManualClock,
        logs: tracing::Dispatch,
        desk: Option<(i64, Vec<TelegramUserId>)>,
    ) -> Self {
        use tracing::instrument::WithSubscriber;
        let store = Store::connect(&db.config).await.expect("second store");
        store.migrate().await.expect("migrations");
        let handle = OutboxHandle::default();
        let worker = OutboxWorker::new(
            bot::client("123:TEST", api_url, test_telegram_limits()),
            store.clone(),
            Arc::new(clock.clone()),
            BotSettings { default_time_zone: chrono_tz::Tz::UTC },
            &handle,
        );
        let worker = match desk {
            Some((chat, admins)) => {
                let recovery = Recovery::new(
                    store.clone(),
                    Arc::new(clock.clone()),
                    Policies::default(),
                    PublicUrls::new("http://127.0.0.1:1".parse().expect("literal")),
                    HashingQueue::new(1),
                    Arc::new(handle.clone()),
                );
                let desk = Desk::new(
                    Some(chat),
                    Lang::Ru,
                    admins,
                    SupportPolicy::default(),
                    None,
                    chrono_tz::Tz::UTC,
                );
                worker.with_desk(desk, recovery)
            }
            None => worker,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker.run(shutdown.clone()).with_subscriber(logs));
        Self { handle, shutdown, task, store }
    }

    pub fn wake(&self) {
        self.handle.wake();
    }

    /// Stops the worker once its attempt in flight is recorded.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("worker ran to its end");
        self.store.close().await;
    }
}

/// A message already rendered, as a test queues it.
pub fn message(chat: i64, text: &str) -> Delivery {
    Delivery::RenderedMessage { chat, html: text.to_owned(), reply_markup: None }
}

pub async fn enqueue_now(app: &TestApp, chat: i64, text: &str) {
    app.store.enqueue(&NewDelivery::now(message(chat, text), app.now()), app.now()).await.unwrap();
}

/// The user opens the bot, so Telegram lets it write to them; the menu is
/// read.
pub async fn greet(app: &TestApp, user: &TgUser) {
    app.tg.send_text(user, "/start");
    app.tg.next_sent(user.id).await;
}

/// Queues a message due now and waits until `user` receives it: by then the
/// worker has looked at everything that was due at this moment.
pub async fn marker_delivered(app: &TestApp, user: &TgUser, text: &str) {
    enqueue_now(app, user.id, text).await;
    app.wake_outbox();
    let got = app.tg.next_sent(user.id).await;
    assert_eq!(got.text_str(), text, "the marker came first");
}
