//! Test support: a database per test (SQLite file, or a fresh PostgreSQL
//! database when `TEST_DATABASE_URL` is set), the fake Bot API server, and
//! the real application spawned against both.

pub mod logs;
pub mod smtp;
pub mod telegram;
pub mod worker;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use crm_recovery_bot::{
    app::{self, AppOptions, RunningApp},
    clock::{Clock, ManualClock},
    config::{BotMode, Config, DatabaseConfig, PageConfig, SupportConfig, WebhookConfig},
    domain::{Lang, LockoutPolicy, PasswordPolicy, ResetPolicy},
    i18n,
    recovery::{self, HashingQueue, ImportReport, OutboxWaker},
    store::Store,
};
use sqlx::{Connection, Executor, PgConnection};
use teloxide::adaptors::throttle::Limits;
use tempfile::TempDir;

pub use logs::CapturedLogs;
pub use telegram::{FakeTelegram, Sent, TgUser};
pub use worker::{ExtraWorker, enqueue_now, greet, marker_delivered, message};

/// Runs each named scenario `async fn(TestDb)` as two tests: on SQLite, and
/// on PostgreSQL when `TEST_DATABASE_URL` is set (`.ci/run` sets it).
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::support::TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::support::TestDb::postgres().await {
                    Some(db) => super::$scenario(db).await,
                    // On CI a missing database must not pass as a skip.
                    None if std::env::var_os("CI").is_some() => {
                        panic!("CI is set but TEST_DATABASE_URL is not")
                    }
                    None => eprintln!("TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
                }
            }
        }
    )*};
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub config: DatabaseConfig,
    _dir: Option<TempDir>,
    /// `(server URL, database name)` of a PostgreSQL database to drop.
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self {
            config: DatabaseConfig::parse(&url).expect("sqlite url"),
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A separate pool on this database, for tests that inspect or break
    /// tables behind the application's back.
    pub async fn raw_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.config.url).await.expect("raw pool")
    }

    /// A fresh database on the server of `TEST_DATABASE_URL`, or `None`.
    pub async fn postgres() -> Option<Self> {
        let server = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "crmbot_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_micros() % 1_000_000
        );
        let mut admin = PgConnection::connect(&server).await.expect("TEST_DATABASE_URL reachable");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self {
            config: DatabaseConfig::parse(url.as_str()).expect("postgres url"),
            _dir: None,
            postgres: Some((server, name)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&server).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
                    }
                });
            }
        })
        .join();
    }
}

/// Where a test application in webhook mode takes Telegram's posts.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// The start of every test's clock: a fixed, ordinary weekday morning.
pub fn test_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z").expect("literal").to_utc()
}

/// No throttling delays in tests; 429 handling is tested explicitly.
fn generous_limits() -> Limits {
    Limits {
        messages_per_sec_chat: 1000,
        messages_per_min_chat: 60_000,
        messages_per_min_channel_or_supergroup: 60_000,
        messages_per_sec_overall: 1000,
    }
}

/// The real application, started against a fake Telegram and a test database.
pub struct TestApp {
    pub tg: FakeTelegram,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub base_url: String,
    pub store: Store,
    /// A plain pool on the same database, for reading rows behind the
    /// application's back.
    raw: sqlx::AnyPool,
    config: Config,
    /// A hashing queue the test may hold places in.
    hashing: Option<HashingQueue>,
    app: Option<RunningApp>,
}

impl TestApp {
    /// The running application's part of Telegram's limits.
    pub fn send_limits(&self) -> Limits {
        self.app.as_ref().expect("running").send_limits()
    }

    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// The application with its settings changed by `configure` first.
    pub async fn spawn_with(db: &TestDb, configure: impl FnOnce(&mut Config)) -> Self {
        Self::launch(db, configure, None).await
    }

    /// The application in webhook mode with this secret: its webhook is
    /// [`WEBHOOK_PATH`] on its own HTTP server, and the fake Telegram posts
    /// updates there.
    pub async fn spawn_webhook(db: &TestDb, secret: &str) -> Self {
        let secret = secret.to_owned();
        Self::spawn_with(db, move |config| {
            config.bot_mode = BotMode::Webhook(WebhookConfig {
                // The port is the server's, filled in when it is bound.
                url: format!("http://127.0.0.1:1{WEBHOOK_PATH}").parse().expect("literal"),
                secret,
            });
        })
        .await
    }

    /// The webhook's URL, in webhook mode.
    pub fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.base_url)
    }

    /// Closes the running application's database pool, as if the database
    /// went away.
    pub async fn close_app_database(&self) {
        if let Some(app) = &self.app {
            app.store.close().await;
        }
    }

    /// The application using `queue` as its hashing queue, so the test can
    /// hold places in it.
    pub async fn spawn_with_queue(db: &TestDb, queue: HashingQueue) -> Self {
        Self::launch(db, |_| {}, Some(queue)).await
    }

    async fn launch(
        db: &TestDb,
        configure: impl FnOnce(&mut Config),
        hashing: Option<HashingQueue>,
    ) -> Self {
        let tg = FakeTelegram::start().await;
        let clock = ManualClock::new(test_start());
        let mut config = Config {
            telegram_token: "123:TEST".into(),
            telegram_api_url: tg.api_url(),
            database: db.config.clone(),
            support: SupportConfig::default(),
            mail: None,
            binding: Default::default(),
            contact_cooldown: chrono::Duration::days(7),
            inbox_retention: chrono::Duration::hours(24),
            public_base_url: "http://127.0.0.1:1".parse().expect("literal"),
            http_addr: "127.0.0.1:0".parse().expect("literal"),
            api_token: None,
            bot_mode: BotMode::Polling,
            secret_keys: None,
            default_time_zone: chrono_tz::Tz::UTC,
            reset: ResetPolicy::default(),
            password: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            page: PageConfig::default(),
        };
        configure(&mut config);
        let mut test = Self {
            tg,
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            base_url: String::new(),
            store: Store::connect(&db.config).await.expect("test store"),
            raw: db.raw_pool().await,
            config,
            hashing,
            app: None,
        };
        test.start().await;
        test
    }

    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        self.base_url = format!("http://{addr}");
        self.config.public_base_url = self.base_url.parse().expect("url");
        if let BotMode::Webhook(webhook) = &mut self.config.bot_mode {
            webhook.url = format!("{}{WEBHOOK_PATH}", self.base_url).parse().expect("url");
        }
        let options = AppOptions {
            clock: std::sync::Arc::new(self.clock.clone()),
            http_listener: Some(listener),
            telegram_limits: generous_limits(),
            hashing: self.hashing.clone(),
            ..AppOptions::default()
        };
        let app = app::start(self.config.clone(), options).await.expect("app starts");
        // Polling has begun once the first getUpdates arrives; a webhook is
        // registered before `start` returns.
        if self.config.bot_mode == BotMode::Polling {
            self.tg.wait_for_call("getupdates").await;
        }
        self.app = Some(app);
    }

    /// Stops the bot as an operator would (SIGTERM) and starts it again on
    /// the same database.
    pub async fn restart(&mut self) {
        self.stop_process().await;
        self.start().await;
    }

    /// Stops the process but keeps the database and the fake Telegram;
    /// `start_process` brings it back.
    pub async fn stop_process(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    pub async fn start_process(&mut self) {
        self.start().await;
    }

    /// Stops the application and checks that the journey read every
    /// message the bot sent: no extra or duplicate messages went unseen.
    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.raw.close().await;
        self.store.close().await;
        let unread: Vec<String> = self.tg.unread().iter().map(Sent::summary).collect();
        assert!(unread.is_empty(), "the bot sent messages the journey did not expect: {unread:#?}");
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the application's clock and lets the outbox look at what fell
    /// due.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
        self.wake_outbox();
    }

    pub fn wake_outbox(&self) {
        if let Some(app) = &self.app {
            app.outbox.wake();
        }
    }

    /// Loads accounts as the `accounts import` command does.
    pub async fn import(&self, csv: &str) -> ImportReport {
        let mail_on = self.config.mail.is_some();
        recovery::import_accounts_with(
            &self.store,
            csv.as_bytes(),
            &self.config.password,
            self.now(),
            mail_on,
        )
        .await
        .expect("import")
    }

    /// `user` opens the bot with /start (without it Telegram refuses to let
    /// the bot write to them); returns the bot's answer.
    pub async fn start_chat(&self, user: &TgUser) -> Sent {
        self.tg.send_text(user, "/start");
        self.tg.next_sent(user.id).await
    }

    /// `/start` → "I forgot my password" → the request-contact prompt.
    pub async fn open_forgot_password(&self, user: &TgUser) -> Sent {
        self.tg.send_text(user, "/start");
        let menu = self.tg.next_sent(user.id).await;
        let data = menu
            .callback_data_for(&i18n::t(user_lang(user), "menu-forgot-password"))
            .expect("menu has the forgot-password button");
        self.tg.press_button(user, &menu, &data);
        let prompt = self.tg.next_sent(user.id).await;
        assert_eq!(prompt.text_str(), i18n::t(user_lang(user), "reset-ask-phone"));
        prompt
    }

    /// From the prompt, shares the user's own phone and returns the bot's
    /// one answer (the link, or the account pick).
    pub async fn share_own_phone(&self, user: &TgUser, phone: &str) -> Sent {
        self.tg.send_contact(user, phone, Some(user.id));
        self.tg.next_sent(user.id).await
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        self.http.get(self.url(path_or_url)).send().await.expect("GET")
    }

    pub async fn post_password(
        &self,
        url: &str,
        password: &str,
        confirm: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url(url))
            .form(&[("password", password), ("password_confirm", confirm)])
            .send()
            .await
            .expect("POST")
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base_url, path_or_url)
        }
    }

    /// Waits until the outbox row of `kind` has been tried `attempts` times
    /// and its outcome recorded (the worker no longer holds it).
    pub async fn outbox_row_settled(&self, kind: &str, attempts: i64) {
        let pattern = format!("%\"kind\":\"{kind}\"%");
        let deadline = std::time::Instant::now() + telegram::WAIT_TIMEOUT;
        loop {
            let settled: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM outbox WHERE payload LIKE $1 AND attempts = $2 \
                 AND claimed_by IS NULL",
            )
            .bind(&pattern)
            .bind(attempts)
            .fetch_one(&self.raw)
            .await
            .expect("outbox readable");
            if settled > 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "outbox {kind}: {attempts} attempts");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn audit_events(&self) -> Vec<String> {
        self.store.audit_trail().await.expect("audit").into_iter().map(|r| r.event).collect()
    }
}

/// The language the bot should pick for this test user.
pub fn user_lang(user: &TgUser) -> Lang {
    Lang::from_code(user.language_code.as_deref())
}

/// `text` as askama escapes it inside an HTML page.
pub fn in_html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The reset link inside a "here is your link" message.
pub fn link_in(message: &Sent) -> String {
    message
        .text_str()
        .split_whitespace()
        .find(|word| word.contains("/reset/"))
        .unwrap_or_else(|| panic!("no reset link in {:?}", message.text))
        .to_owned()
}

/// Accounts used across the journeys. Phones are valid mobile numbers.
pub const ACCOUNTS_CSV: &str = "\
login,email,phone,full_name,company,password,locale,time_zone
ivan.petrov,ivan@example.com,+79161234567,Ivan Petrov,Acme,Old-Password-2024!,ru,Europe/Moscow
anna.smith,anna@example.com,+447911123456,Anna Smith,Globex,,en,
olga.one,olga@example.com,+79261112233,Olga Sidorova,Acme,,ru,
olga.two,olga2@example.com,+79261112233,Olga Sidorova,Initech,,ru,
";

pub const IVAN_PHONE: &str = "79161234567";
pub const ANNA_PHONE: &str = "447911123456";
pub const OLGA_PHONE: &str = "79261112233";

pub fn ivan() -> TgUser {
    TgUser::new(1001, "Иван", Some("ru"))
}

pub fn anna() -> TgUser {
    TgUser::new(1002, "Anna", Some("en"))
}

pub fn olga() -> TgUser {
    TgUser::new(1003, "Ольга", Some("ru-RU"))
}

/// Telegram's limits as the test application uses them, for a Bot API client
/// a test builds itself (a second outbox worker, say).
pub fn test_telegram_limits() -> Limits {
    generous_limits()
}

impl TestApp {
    /// The plain pool on the application's database, for reading rows
    /// behind its back.
    pub fn raw_pool(&self) -> &sqlx::AnyPool {
        &self.raw
    }
}
