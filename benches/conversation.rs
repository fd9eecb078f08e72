//! The whole conversation, end to end: `cargo bench --bench conversation`.
//!
//! The real application is started against the fake Telegram Bot API of the
//! journey tests, with Telegram's rate limits lifted, and every simulated
//! user walks the recovery conversation: `/start` → "forgot password" →
//! shares their own contact → the reset link; 3 updates per user, all users
//! at once, each step sent after the bot's answer to the previous one. A
//! bare teloxide echo bot is driven the same way (3 text messages per user)
//! in the same run, as the yardstick.
//!
//! CPU time per update is the bot's share of the process: the process's CPU
//! time minus that of the threads named `fake-tg` (the fake server and the
//! driver run on their own runtime), divided by the updates. Everything
//! else (the bot's runtime, sqlx's SQLite worker threads, blocking threads)
//! is the bot's.
//!
//! Environment:
//! - `BENCH_USERS` (default 300): users per bot, plus 10% warm-up users
//!   that are not measured.
//! - `BENCH_CONCURRENCY` (default: all users): users in flight at once.
//! - `BENCH_DATABASE_URL`: run our bot on that (existing, empty) database,
//!   e.g. the local PostgreSQL, instead of a temporary SQLite file.
//! - `BENCH_LOG=1`: production logging (`RUST_LOG`, default `info`) to
//!   stderr, to see what logging costs; off by default.
//! - `BENCH_SQL=1`: counts the SQL statements our bot runs per update
//!   (sqlx's statement log, at debug level) and lists them; the counting
//!   costs CPU, so the CPU figures of such a run are not comparable.
//! - `BENCH_ONLY=ours` or `BENCH_ONLY=echo`: one bot only (for profiling).
//! - `BENCH_PERF_CTL=<fifo>`: enables `perf record --delay -1 --control
//!   fifo:<fifo>` for the measured part only (no start-up, import, warm-up).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crm_recovery_bot::{
    app::{self, AppOptions},
    bot::callbacks::{Callback, Topic},
    config::{Config, DatabaseConfig, PageConfig, SupportConfig},
    domain::{LockoutPolicy, PasswordPolicy, ResetPolicy},
    recovery::import_accounts,
};
use teloxide::{adaptors::throttle::Limits, prelude::*};
use tokio::runtime::Runtime;

// The fake of the journey tests, shared as a file. The bench drives only a
// part of its API; the rest would be dead code here. (The allow sits on a
// wrapper module: the fake may carry its own, and clippy refuses the same
// attribute twice on one module.)
#[allow(dead_code)]
#[path = "../tests/journeys/support"]
mod support {
    pub mod telegram;
}

use support::telegram::{self, FakeTelegram, TgUser};

/// Threads of the fake Bot API and of the driver; the rest is the bot's.
const HARNESS_THREADS: &str = "fake-tg";
const OURS: &str = "crm-recovery-bot";
const UPDATES_PER_USER: usize = 3;
/// After the last answer, the bot may still write (the link message's id)
/// and confirm the updates; that work is counted.
const SETTLE: Duration = Duration::from_millis(200);

/// Telegram's limits, lifted: the throttle stays in the path (as in
/// production) but never holds a message back for long. The overall limit
/// is also the capacity of the throttle's queue, so it is not `u32::MAX`.
fn lifted_limits() -> Limits {
    Limits {
        messages_per_sec_chat: 10_000,
        messages_per_min_chat: 1_000_000,
        messages_per_min_channel_or_supergroup: 1_000_000,
        messages_per_sec_overall: 100_000,
    }
}

// ----- CPU time ----------------------------------------------------------------

/// CPU time of the whole process, threads that have exited included.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid pointer to a timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of the harness's threads (the fake and the driver), from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU), falling back to
/// `stat`'s utime + stime in clock ticks. Harness threads live as long as
/// their runtime, so none is lost between two samples.
fn harness_cpu() -> Duration {
    let ticks_per_sec = clock_ticks_per_sec();
    let mut total = Duration::ZERO;
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        if !comm.starts_with(HARNESS_THREADS) {
            continue;
        }
        let on_cpu = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos);
        let on_cpu = on_cpu.or_else(|| {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // Fields after the command's closing parenthesis start at field 3;
            // utime and stime are fields 14 and 15.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
            let ticks = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
            Some(Duration::from_secs_f64(ticks as f64 / ticks_per_sec))
        });
        total += on_cpu.unwrap_or_default();
    }
    total
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[derive(Clone, Copy)]
struct CpuSample {
    process: Duration,
    harness: Duration,
}

fn cpu_sample() -> CpuSample {
    CpuSample { process: process_cpu(), harness: harness_cpu() }
}

// ----- the run -------------------------------------------------------------------

struct Measured {
    name: &'static str,
    updates: usize,
    wall: Duration,
    /// The bot's CPU time: the process's minus the harness's.
    bot_cpu: Duration,
    harness_cpu: Duration,
    /// SQL statements run while measured (`BENCH_SQL=1`).
    statements: BTreeMap<String, usize>,
}

impl Measured {
    fn cpu_ms_per_update(&self) -> f64 {
        self.bot_cpu.as_secs_f64() * 1e3 / self.updates as f64
    }

    fn print(&self) {
        let rate = self.updates as f64 / self.wall.as_secs_f64();
        println!(
            "{:<28} {:>7} {:>9.2} {:>10.0} {:>12.3} {:>14.3}",
            self.name,
            self.updates,
            self.wall.as_secs_f64(),
            rate,
            self.cpu_ms_per_update(),
            self.harness_cpu.as_secs_f64() * 1e3 / self.updates as f64,
        );
    }
}

struct Harness {
    /// The fake Bot API and the driver.
    fake: Runtime,
    /// The bot under test.
    bot: Runtime,
    concurrency: usize,
}

impl Harness {
    /// Runs `conversation` for every user, `concurrency` at a time, on the
    /// harness's runtime; returns the wall time.
    fn drive<F, Fut>(&self, users: &[TgUser], conversation: F) -> Duration
    where
        F: Fn(TgUser) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let gate = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let started = Instant::now();
        let tasks: Vec<_> = users
            .iter()
            .map(|user| {
                let gate = Arc::clone(&gate);
                let walk = conversation(user.clone());
                self.fake.spawn(async move {
                    let _place = gate.acquire_owned().await.expect("gate open");
                    walk.await;
                })
            })
            .collect();
        // Waited for on a harness thread, so the main thread stays idle.
        let all = self.fake.spawn(async move {
            for task in tasks {
                task.await.expect("a conversation failed");
            }
        });
        self.fake.block_on(all).expect("driver");
        started.elapsed()
    }

    /// Warms the bot up with `warm_up`, then measures `users`.
    fn measure<F, Fut>(
        &self,
        name: &'static str,
        warm_up: &[TgUser],
        users: &[TgUser],
        conversation: F,
    ) -> Measured
    where
        F: Fn(TgUser) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.drive(warm_up, &conversation);
        std::thread::sleep(SETTLE);
        take_statements();
        perf_control("enable");
        let before = cpu_sample();
        let wall = self.drive(users, &conversation);
        std::thread::sleep(SETTLE);
        let after = cpu_sample();
        perf_control("disable");
        let statements = take_statements();
        let harness_cpu = after.harness.saturating_sub(before.harness);
        let process_cpu = after.process.saturating_sub(before.process);
        Measured {
            name,
            updates: users.len() * UPDATES_PER_USER,
            wall,
            bot_cpu: process_cpu.saturating_sub(harness_cpu),
            harness_cpu,
            statements,
        }
    }
}

/// Turns `perf record --control fifo:<path> --delay -1` on and off around
/// the measured part, when `BENCH_PERF_CTL=<path>` is set.
fn perf_control(command: &str) {
    if let Some(path) = std::env::var_os("BENCH_PERF_CTL") {
        std::fs::write(path, format!("{command}\n")).expect("perf control fifo");
    }
}

fn users(first_id: i64, count: usize) -> Vec<TgUser> {
    (0..count as i64).map(|i| TgUser::new(first_id + i, "Bench", Some("en"))).collect()
}

/// The phone of the account imported for this user (see [`import_csv`]).
fn phone_of(user: &TgUser) -> String {
    format!("7916{:07}", user.id)
}

fn import_csv(users: &[TgUser]) -> String {
    let mut csv = String::from("login,email,phone,full_name,company\n");
    for user in users {
        let id = user.id;
        csv.push_str(&format!("u{id},u{id}@example.com,+{},Bench {id},Acme\n", phone_of(user)));
    }
    csv
}

/// `/start` → menu; "forgot password" → contact prompt; own contact → link.
async fn recovery_conversation(tg: FakeTelegram, user: TgUser) {
    tg.send_text(&user, "/start");
    let menu = tg.next_sent(user.id).await;
    let forgot = Callback::Topic(Topic::ForgotPassword).encode();
    assert!(
        menu.inline_buttons().iter().any(|(_, data, _)| data.as_deref() == Some(&forgot)),
        "not the menu: {}",
        menu.summary()
    );
    tg.press_button(&user, &menu, &forgot);
    let prompt = tg.next_sent(user.id).await;
    assert!(!prompt.keyboard_buttons().is_empty(), "not the contact prompt: {}", prompt.summary());
    tg.send_contact(&user, &phone_of(&user), Some(user.id));
    let link = tg.next_sent(user.id).await;
    assert!(link.text_str().contains("/reset/"), "not the link: {}", link.summary());
}

/// Three texts, each echoed back.
async fn echo_conversation(tg: FakeTelegram, user: TgUser) {
    for step in 1..=UPDATES_PER_USER {
        let text = format!("hello {step}");
        tg.send_text(&user, &text);
        let echo = tg.next_sent(user.id).await;
        assert_eq!(echo.text_str(), text);
    }
}

async fn echo(bot: Bot, msg: Message) -> ResponseResult<()> {
    if let Some(text) = msg.text() {
        bot.send_message(msg.chat.id, text).await?;
    }
    Ok(())
}

fn run_echo(harness: &Harness, warm_up: &[TgUser], users: &[TgUser]) -> Measured {
    let tg = harness.fake.block_on(FakeTelegram::start());
    let bot = Bot::new(telegram::TOKEN).set_api_url(tg.api_url());
    let mut dispatcher = Dispatcher::builder(bot, Update::filter_message().endpoint(echo)).build();
    let shutdown = dispatcher.shutdown_token();
    let task = harness.bot.spawn(async move { dispatcher.dispatch().await });
    harness.fake.block_on(tg.wait_for_call("getupdates"));

    let tg_for_users = tg.clone();
    let measured = harness.measure("teloxide echo bot", warm_up, users, move |user| {
        echo_conversation(tg_for_users.clone(), user)
    });

    harness.bot.block_on(async {
        shutdown.shutdown().expect("dispatching").await;
        task.await.expect("echo bot");
    });
    measured
}

fn run_ours(
    harness: &Harness,
    database: DatabaseConfig,
    warm_up: &[TgUser],
    users: &[TgUser],
) -> Measured {
    let tg = harness.fake.block_on(FakeTelegram::start());
    let config = Config {
        telegram_token: telegram::TOKEN.into(),
        telegram_api_url: tg.api_url(),
        database,
        support: SupportConfig::default(),
        mail: None,
        binding: Default::default(),
        contact_cooldown: chrono::Duration::days(7),
        inbox_retention: chrono::Duration::hours(24),
        public_base_url: "http://127.0.0.1:1".parse().expect("literal"),
        http_addr: "127.0.0.1:0".parse().expect("literal"),
        api_token: None,
        bot_mode: crm_recovery_bot::config::BotMode::Polling,
        secret_keys: None,
        default_time_zone: chrono_tz::Tz::UTC,
        reset: ResetPolicy::default(),
        password: PasswordPolicy::default(),
        lockout: LockoutPolicy::default(),
        page: PageConfig::default(),
    };
    let options = AppOptions { telegram_limits: lifted_limits(), ..AppOptions::default() };
    let app = harness.bot.block_on(app::start(config, options)).expect("the bot starts");
    harness.fake.block_on(tg.wait_for_call("getupdates"));
    let everyone: Vec<TgUser> = warm_up.iter().chain(users).cloned().collect();
    let csv = import_csv(&everyone);
    let imported = harness
        .bot
        .block_on(import_accounts(
            &app.store,
            csv.as_bytes(),
            &PasswordPolicy::default(),
            chrono::Utc::now(),
        ))
        .expect("import");
    assert_eq!(imported.imported, everyone.len());

    let tg_for_users = tg.clone();
    let measured = harness.measure(OURS, warm_up, users, move |user| {
        recovery_conversation(tg_for_users.clone(), user)
    });

    harness.bot.block_on(app.stop());
    measured
}

// ----- SQL statement count (BENCH_SQL=1) -----------------------------------------

/// sqlx's statement log events, by statement (`BENCH_SQL=1`).
static STATEMENTS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn take_statements() -> BTreeMap<String, usize> {
    std::mem::take(&mut *STATEMENTS.lock().expect("statements"))
}

/// Counts sqlx's statement log events into [`STATEMENTS`].
struct SqlCounter;

struct Statement(String);

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        // `db.statement` is the full text when longer than the summary.
        let text = value.split_whitespace().collect::<Vec<_>>().join(" ");
        let full = field.name() == "db.statement" && !text.is_empty();
        if full || (field.name() == "summary" && self.0.is_empty()) {
            self.0 = text;
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut statement = Statement(String::new());
        event.record(&mut statement);
        let mut key = statement.0;
        key.truncate(key.char_indices().nth(110).map_or(key.len(), |(at, _)| at));
        *STATEMENTS.lock().expect("statements").entry(key).or_default() += 1;
    }
}

fn count_statements() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::new("sqlx::query=debug");
    tracing_subscriber::registry().with(SqlCounter.with_filter(filter)).init();
}

// ----- main ------------------------------------------------------------------------

fn env_number(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name} is not a number: {value}")))
}

fn main() {
    let count = env_number("BENCH_USERS").unwrap_or(300);
    let concurrency = env_number("BENCH_CONCURRENCY").unwrap_or(count).max(1);
    let warm_up_count = (count / 10).max(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let count_sql = std::env::var_os("BENCH_SQL").is_some();
    if count_sql {
        count_statements();
    } else if std::env::var_os("BENCH_LOG").is_some() {
        crm_recovery_bot::telemetry::init(crm_recovery_bot::config::LogFormat::Text);
    }

    let harness = Harness {
        fake: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(HARNESS_THREADS)
            .enable_all()
            .build()
            .expect("harness runtime"),
        bot: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bot")
            .enable_all()
            .build()
            .expect("bot runtime"),
        concurrency,
    };

    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let database = DatabaseConfig::parse(&url).expect("database url");
    println!(
        "{count} users ({warm_up_count} more to warm up), {UPDATES_PER_USER} updates each, \
         {concurrency} at a time; our bot on {:?}",
        database.backend
    );

    let mut results = Vec::new();
    if only != "ours" {
        let warm_up = users(1_000, warm_up_count);
        let measured = users(100_000, count);
        results.push(run_echo(&harness, &warm_up, &measured));
    }
    if only != "echo" {
        let warm_up = users(1_000, warm_up_count);
        let measured = users(100_000, count);
        results.push(run_ours(&harness, database, &warm_up, &measured));
    }

    println!(
        "{:<28} {:>7} {:>9} {:>10} {:>12} {:>14}",
        "bot", "updates", "wall s", "updates/s", "CPU ms/upd", "fake ms/upd"
    );
    for result in &results {
        result.print();
    }
    if let [echo, ours] = results.as_slice() {
        println!(
            "CPU per update, ours / echo: {:.1}x (aim: at most 2x)",
            ours.cpu_ms_per_update() / echo.cpu_ms_per_update()
        );
    }
    if let Some(ours) = results.iter().find(|r| r.name == OURS).filter(|_| count_sql) {
        let updates = ours.updates as f64;
        let total: usize = ours.statements.values().sum();
        println!("SQL statements per update of our bot: {:.2}", total as f64 / updates);
        let mut by_count: Vec<_> = ours.statements.clone().into_iter().collect();
        by_count.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (statement, n) in by_count {
            println!("{:>7.2}  {statement}", n as f64 / updates);
        }
        println!("(figures of a BENCH_SQL run include the counting: compare without it)");
    }
}
