//! The cost of a conversation (issue 15, point 4): `cargo bench --bench conversation`.
//!
//! The real application is started in this process against the fake
//! Telegram Bot API of the journey tests, with Telegram's rate limits lifted,
//! and every simulated user walks the recovery conversation: `/start` →
//! "forgot password" → shares their own contact → the reset link; 3 updates
//! per user, all users at once, each step sent after the bot's answer to the
//! previous one. A bare teloxide echo bot is driven the same way (3 text
//! messages per user) in the same run, as the yardstick. A second bare
//! teloxide bot, "our replies, no DB", walks the same recovery as ours and
//! answers each step with exactly the message our bot sent (its text,
//! keyboard and options, replayed from the first set-up's first user) and
//! answers the button press, with no database, inbox or pacing: the floor
//! that Telegram's side of a recovery costs. Then our own bot on SQLite
//! once more, "replies only": its dispatcher tree replaced by the floor
//! bot's replies (`AppOptions::handler`), so what it costs beyond the
//! floor is the plumbing every update goes through (the durable inbox,
//! claims, marks, dialogue states held per claim, pacing, timing), and
//! what the full bot costs beyond it is the handlers' own work. Our bot
//! runs in each
//! set-up in turn (`BENCH_SETUPS`): SQLite with long polling; PostgreSQL
//! with long polling, with one replica in webhook mode, and with two
//! replicas in webhook mode on one database behind the fake's load balancer
//! (each update to the next replica in turn).
//!
//! Printed per set-up:
//! - CPU time per update: the process's CPU time minus that of the threads
//!   named `fake-tg` (the fake server and the driver run on their own
//!   runtime), divided by the updates. Everything else (the bot's runtime,
//!   sqlx's SQLite worker threads, blocking threads) is the bot's. On
//!   PostgreSQL the server's backends for the bench's database are counted
//!   separately (`PG ms/upd`, read from `/proc/<pid>/schedstat`).
//! - Messages per recovery: the Bot API calls that put a message in the
//!   user's chat (sendMessage, sendPhoto, sendDocument, copyMessage) per
//!   user, and edits (editMessageText, editMessageReplyMarkup) apart.
//! - Latency, two ways: the handler's own time from the application's
//!   `crm_recovery_handler_seconds` histogram (read from `/metrics` before
//!   and after; p50/p99 interpolated within its buckets), which includes the
//!   handler's sends and their wait for a turn (`bot/paced`); and the
//!   driver's time from an update queued at the fake to the bot's answer
//!   seen there, which adds getUpdates (or the webhook post) and the inbox.
//!
//! - The cost of one round trip to the database: after each set-up, 3,000
//!   `SELECT 1` through the store from 1, 16 and 300 tasks at once, the
//!   bot's CPU per statement.
//!
//! Modes besides the default run (each replaces it):
//! - `BENCH_BURST=5000`: that many users send `/start` at once, with
//!   Telegram's real limits (`Limits::default()`, ~30 messages a second
//!   overall): all answered, none lost or doubled, first replies in the
//!   order of the `/start`s (how many out of order: users minus the longest
//!   run of answers in sending order), wall time, messages per second and the
//!   busiest second. 5,000 take about 3 minutes per set-up.
//! - `BENCH_RSS=1000`: memory of the bot alone. The real binary runs as a
//!   child process on a SQLite file holding `BENCH_DIALOGUES` (default
//!   10,000) stored dialogues; that many users walk the conversation up to
//!   the link at once (Telegram's real limits: the binary has no knob for
//!   them, so 1,000 users take ~100 s), then VmRSS and VmHWM are read from
//!   `/proc/<pid>/status`. The echo bot is measured the same way as a child
//!   process (this bench binary re-run with `BENCH_ECHO_CHILD`).
//!
//! Environment:
//! - `BENCH_USERS` (default 300): users per bot, plus 10% warm-up users
//!   that are not measured.
//! - `BENCH_CONCURRENCY` (default: all users): users in flight at once.
//! - `BENCH_DATABASE_URL`: a PostgreSQL server (e.g.
//!   `postgres://postgres@127.0.0.1:5432/test`); each set-up on it gets a
//!   database of its own, `bench_<pid>_<n>`, created through the server's
//!   `postgres` database and dropped after. Without it only SQLite runs.
//! - `BENCH_SETUPS`: a comma list of `sqlite`, `pg`, `pg-webhook`, `pg2`
//!   (default: all four with `BENCH_DATABASE_URL`, else `sqlite`).
//! - `BENCH_LOG=1`: production logging (`RUST_LOG`, default `info`) to
//!   stderr, to see what logging costs; off by default.
//! - `BENCH_SQL=1`: counts the SQL statements our bot runs per update
//!   (sqlx's statement log, at debug level) and lists them; the counting
//!   costs CPU, so the CPU figures of such a run are not comparable.
//! - `BENCH_ONLY=ours` or `BENCH_ONLY=echo`: one bot only (for profiling;
//!   the floor and "replies only" bots need ours to run first, so they run
//!   with neither).
//! - `BENCH_BOT_THREADS` (default 2): worker threads of the bot's runtime.
//! - `BENCH_PERF_CTL=<fifo>`: enables `perf record --delay -1 --control
//!   fifo:<fifo>` for the measured part only (no start-up, import, warm-up).

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crm_recovery_bot::{
    app::{self, AppOptions, RunningApp},
    bot::{
        BotT,
        callbacks::{Callback, Topic},
        state::{Purpose, State},
        storage::STATE_VERSION,
    },
    config::{BotMode, Config, DatabaseConfig, PageConfig, SupportConfig, WebhookConfig},
    domain::{LockoutPolicy, PasswordPolicy, ResetPolicy},
    monitoring::HANDLER_SECONDS,
    recovery::import_accounts,
    store::{Store, StoredDialogue},
};
#[path = "shared/pg_database.rs"]
mod pg_database;

use pg_database::PgDatabase;
use sqlx::{Connection, PgConnection};
use teloxide::{
    adaptors::throttle::Limits, dispatching::UpdateHandler, dptree::di::DependencyMap, prelude::*,
};
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
const ECHO: &str = "teloxide echo bot";
const FLOOR: &str = "teloxide, our replies, no DB";
const PLUMBING: &str = "ours, SQLite, replies only";
const UPDATES_PER_USER: usize = 3;
/// Tasks running statements at once when one statement's cost is
/// measured: one alone; as many as the handlers in flight at most; a crowd.
const STATEMENT_TASKS: [usize; 3] = [1, 16, 300];
/// After the last answer, the bot may still write (the link message's id)
/// and confirm the updates; that work is counted.
const SETTLE: Duration = Duration::from_millis(200);
const WEBHOOK_PATH: &str = "/telegram/webhook";
const WEBHOOK_SECRET: &str = "bench-webhook-secret";
/// Bot API methods that put a message in a chat.
const MESSAGE_METHODS: [&str; 4] = ["sendmessage", "sendphoto", "senddocument", "copymessage"];

/// Telegram's limits, lifted: the paced client stays in the path (as in
/// production) but never holds a message back for long (at 100,000 a
/// second, one every 10 µs).
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

/// CPU time of one task (`/proc/<pid>` or `/proc/self/task/<tid>`), from
/// `schedstat` (nanoseconds on the CPU), falling back to `stat`'s utime +
/// stime in clock ticks.
fn task_cpu(path: &Path) -> Option<Duration> {
    let on_cpu = std::fs::read_to_string(path.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos);
    on_cpu.or_else(|| {
        let stat = std::fs::read_to_string(path.join("stat")).ok()?;
        // Fields after the command's closing parenthesis start at field 3;
        // utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_sec()))
    })
}

/// CPU time of the harness's threads (the fake and the driver). Harness
/// threads live as long as their runtime, so none is lost between two
/// samples.
fn harness_cpu() -> Duration {
    let mut total = Duration::ZERO;
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        if comm.starts_with(HARNESS_THREADS) {
            total += task_cpu(&path).unwrap_or_default();
        }
    }
    total
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[derive(Clone, Default)]
struct CpuSample {
    process: Duration,
    harness: Duration,
    /// CPU time of each PostgreSQL backend serving the bench's database.
    postgres: HashMap<i32, Duration>,
}

impl CpuSample {
    /// The PostgreSQL backends' CPU between `self` and `later` (backends
    /// that started in between count whole; one that ended is lost, which
    /// the pool's long-lived connections make rare).
    fn postgres_until(&self, later: &CpuSample) -> Duration {
        later
            .postgres
            .iter()
            .map(|(pid, cpu)| {
                cpu.saturating_sub(self.postgres.get(pid).copied().unwrap_or_default())
            })
            .sum()
    }
}

// ----- PostgreSQL databases of the bench ------------------------------------------

impl PgDatabase {
    /// CPU time of each server backend connected to this database.
    async fn backends_cpu(&self) -> HashMap<i32, Duration> {
        let Ok(mut admin) = PgConnection::connect(&self.admin_url).await else {
            return HashMap::new();
        };
        let pids: Vec<(i32,)> =
            sqlx::query_as("SELECT pid FROM pg_stat_activity WHERE datname = $1")
                .bind(&self.name)
                .fetch_all(&mut admin)
                .await
                .unwrap_or_default();
        admin.close().await.ok();
        pids.into_iter()
            .filter_map(|(pid,)| Some((pid, task_cpu(&Path::new("/proc").join(pid.to_string()))?)))
            .collect()
    }
}

// ----- set-ups -------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    /// SQLite file, long polling.
    Sqlite,
    /// PostgreSQL, long polling.
    Pg,
    /// PostgreSQL, one replica in webhook mode.
    PgWebhook,
    /// PostgreSQL, two replicas in webhook mode behind the load balancer.
    Pg2,
}

impl Setup {
    fn parse(name: &str) -> Setup {
        match name.trim() {
            "sqlite" => Setup::Sqlite,
            "pg" => Setup::Pg,
            "pg-webhook" => Setup::PgWebhook,
            "pg2" => Setup::Pg2,
            other => panic!("BENCH_SETUPS: unknown set-up {other:?} (sqlite, pg, pg-webhook, pg2)"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Setup::Sqlite => "ours, SQLite, polling",
            Setup::Pg => "ours, PG, polling",
            Setup::PgWebhook => "ours, PG, 1 webhook replica",
            Setup::Pg2 => "ours, PG, 2 webhook replicas",
        }
    }

    fn replicas(self) -> usize {
        if self == Setup::Pg2 { 2 } else { 1 }
    }

    fn webhook(self) -> bool {
        matches!(self, Setup::PgWebhook | Setup::Pg2)
    }
}

/// Where a set-up keeps its data; the temporary directory or database goes
/// with it.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(PgDatabase),
}

impl Database {
    fn create(harness: &Harness, setup: Setup) -> Database {
        match setup {
            Setup::Sqlite => Database::Sqlite(tempfile::tempdir().expect("temp dir")),
            _ => {
                let server = harness
                    .pg_server
                    .as_deref()
                    .expect("a PostgreSQL set-up needs BENCH_DATABASE_URL");
                Database::Postgres(harness.fake.block_on(PgDatabase::create(server)))
            }
        }
    }

    fn config(&self) -> DatabaseConfig {
        let url = match self {
            Database::Sqlite(dir) => format!("sqlite://{}", dir.path().join("bench.db").display()),
            Database::Postgres(db) => db.url.clone(),
        };
        DatabaseConfig::parse(&url).expect("database url")
    }

    fn postgres(&self) -> Option<&PgDatabase> {
        match self {
            Database::Postgres(db) => Some(db),
            Database::Sqlite(_) => None,
        }
    }
}

// ----- the handler histogram -------------------------------------------------------

/// Cumulative counts of `crm_recovery_handler_seconds` by upper bound
/// (`f64::INFINITY` last), as `/metrics` shows them.
#[derive(Clone, Default)]
struct Histogram(Vec<(f64, f64)>);

impl Histogram {
    async fn read(http: &reqwest::Client, addr: std::net::SocketAddr) -> Histogram {
        let text = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        let prefix = format!("{HANDLER_SECONDS}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&prefix)?;
                let (le, count) = rest.split_once("\"}")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, count.trim().parse().ok()?))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram(buckets)
    }

    /// The counts recorded since `earlier`.
    fn since(&self, earlier: &Histogram) -> Histogram {
        let before: HashMap<u64, f64> =
            earlier.0.iter().map(|(le, n)| (le.to_bits(), *n)).collect();
        Histogram(
            self.0
                .iter()
                .map(|(le, n)| (*le, n - before.get(&le.to_bits()).copied().unwrap_or(0.0)))
                .collect(),
        )
    }

    fn count(&self) -> f64 {
        self.0.last().map_or(0.0, |(_, n)| *n)
    }

    /// The `q` quantile, interpolated linearly within its bucket as
    /// Prometheus' `histogram_quantile` does; a quantile in the `+Inf`
    /// bucket is shown as "> the last bound".
    fn quantile(&self, q: f64) -> String {
        let total = self.count();
        if total == 0.0 {
            return "-".into();
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(le, n) in &self.0 {
            if n >= rank {
                if le.is_infinite() {
                    return format!(">{:.0}", lower.0 * 1e3);
                }
                let share = if n > lower.1 { (rank - lower.1) / (n - lower.1) } else { 1.0 };
                return format!("{:.1}", (lower.0 + (le - lower.0) * share) * 1e3);
            }
            lower = (le, n);
        }
        "-".into()
    }
}

fn percentile_ms(sorted: &[Duration], q: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    format!("{:.1}", sorted[at].as_secs_f64() * 1e3)
}

// ----- the run -------------------------------------------------------------------

struct Measured {
    name: &'static str,
    updates: usize,
    wall: Duration,
    /// The bot's CPU time: the process's minus the harness's.
    bot_cpu: Duration,
    harness_cpu: Duration,
    /// The PostgreSQL server's backends for the bench's database.
    postgres_cpu: Option<Duration>,
    /// Driver latency per step, sorted.
    steps: Vec<Duration>,
    /// The handler histogram's counts while measured (not for the echo bot).
    handler: Option<Histogram>,
    /// Messages put in each user's chat, and edits, per user.
    messages: Vec<usize>,
    edits: Vec<usize>,
    /// SQL statements run while measured (`BENCH_SQL=1`).
    statements: BTreeMap<String, usize>,
    /// The bot's CPU for one statement through the store, by how many
    /// tasks ran statements at once (ours only).
    statement_cpu: Vec<(usize, Duration)>,
}

impl Measured {
    fn cpu_ms_per_update(&self) -> f64 {
        self.bot_cpu.as_secs_f64() * 1e3 / self.updates as f64
    }

    fn print_cost(&self, echo: Option<f64>) {
        let per_update = |d: Duration| d.as_secs_f64() * 1e3 / self.updates as f64;
        let ratio = echo.map_or("-".into(), |e| format!("{:.1}x", self.cpu_ms_per_update() / e));
        println!(
            "{:<30} {:>7} {:>7.2} {:>9.0} {:>10.3} {:>8} {:>9} {:>11.3}",
            self.name,
            self.updates,
            self.wall.as_secs_f64(),
            self.updates as f64 / self.wall.as_secs_f64(),
            self.cpu_ms_per_update(),
            self.postgres_cpu.map_or("-".into(), |d| format!("{:.3}", per_update(d))),
            ratio,
            per_update(self.harness_cpu),
        );
    }

    fn print_latency(&self) {
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        let max = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
        let handler = |q| self.handler.as_ref().map_or("-".into(), |h| h.quantile(q));
        println!(
            "{:<30} {:>5.2} {:>4} {:>6.2} {:>9} {:>9} {:>9} {:>9} {:>9}",
            self.name,
            mean(&self.messages),
            max(&self.messages),
            mean(&self.edits),
            handler(0.5),
            handler(0.99),
            percentile_ms(&self.steps, 0.5),
            percentile_ms(&self.steps, 0.99),
            percentile_ms(&self.steps, 1.0),
        );
    }
}

struct Harness {
    /// The fake Bot API and the driver.
    fake: Runtime,
    /// The bot under test.
    bot: Runtime,
    concurrency: usize,
    /// `BENCH_DATABASE_URL`.
    pg_server: Option<String>,
    http: reqwest::Client,
}

/// What `measure` samples around the measured part, besides CPU.
struct Probe<'a> {
    database: Option<&'a PgDatabase>,
    metrics: Option<std::net::SocketAddr>,
}

impl Harness {
    /// Runs `conversation` for every user, `concurrency` at a time, on the
    /// harness's runtime; returns the wall time and every step's latency.
    fn drive<F, Fut>(&self, users: &[TgUser], conversation: F) -> (Duration, Vec<Duration>)
    where
        F: Fn(TgUser) -> Fut,
        Fut: Future<Output = Vec<Duration>> + Send + 'static,
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
                    walk.await
                })
            })
            .collect();
        // Waited for on a harness thread, so the main thread stays idle.
        let all = self.fake.spawn(async move {
            let mut steps = Vec::new();
            for task in tasks {
                steps.extend(task.await.expect("a conversation failed"));
            }
            (started.elapsed(), steps)
        });
        self.fake.block_on(all).expect("driver")
    }

    fn sample(&self, probe: &Probe) -> (CpuSample, Option<Histogram>) {
        let postgres = match probe.database {
            Some(db) => self.fake.block_on(db.backends_cpu()),
            None => HashMap::new(),
        };
        let histogram =
            probe.metrics.map(|addr| self.fake.block_on(Histogram::read(&self.http, addr)));
        (CpuSample { process: process_cpu(), harness: harness_cpu(), postgres }, histogram)
    }

    /// Warms the bot up with `warm_up`, then measures `users`.
    fn measure<F, Fut>(
        &self,
        name: &'static str,
        probe: Probe,
        warm_up: &[TgUser],
        users: &[TgUser],
        conversation: F,
    ) -> Measured
    where
        F: Fn(TgUser) -> Fut,
        Fut: Future<Output = Vec<Duration>> + Send + 'static,
    {
        self.drive(warm_up, &conversation);
        std::thread::sleep(SETTLE);
        take_statements();
        let (before, handler_before) = self.sample(&probe);
        perf_control("enable");
        let (wall, mut steps) = self.drive(users, &conversation);
        std::thread::sleep(SETTLE);
        perf_control("disable");
        let (after, handler_after) = self.sample(&probe);
        let statements = take_statements();
        steps.sort();
        let harness_cpu = after.harness.saturating_sub(before.harness);
        let process_cpu = after.process.saturating_sub(before.process);
        let handler = handler_after.zip(handler_before).map(|(a, b)| a.since(&b));
        Measured {
            name,
            updates: users.len() * UPDATES_PER_USER,
            wall,
            bot_cpu: process_cpu.saturating_sub(harness_cpu),
            harness_cpu,
            postgres_cpu: probe.database.map(|_| before.postgres_until(&after)),
            steps,
            handler,
            messages: Vec::new(),
            edits: Vec::new(),
            statements,
            statement_cpu: Vec::new(),
        }
    }

    /// The bot's CPU per statement when `tasks` tasks on the bot's runtime
    /// each run `per_task` of the cheapest statement there is (`SELECT 1`,
    /// the store's health check) through the store, as handlers do: what
    /// one round trip to the database costs the bot, whatever the
    /// statement does.
    fn statement_cost(&self, store: &Store, tasks: usize, per_task: usize) -> Duration {
        let before = process_cpu().saturating_sub(harness_cpu());
        let runs: Vec<_> = (0..tasks)
            .map(|_| {
                let store = store.clone();
                self.bot.spawn(async move {
                    for _ in 0..per_task {
                        store.ping().await.expect("SELECT 1");
                    }
                })
            })
            .collect();
        self.bot.block_on(async {
            for run in runs {
                run.await.expect("a statement task");
            }
        });
        let after = process_cpu().saturating_sub(harness_cpu());
        after.saturating_sub(before) / (tasks * per_task) as u32
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

/// Messages put in each user's chat and edits there, per user.
fn messages_per_user(tg: &FakeTelegram, users: &[TgUser]) -> (Vec<usize>, Vec<usize>) {
    users
        .iter()
        .map(|user| {
            let sent = tg.all_sent(user.id);
            let messages = sent.iter().filter(|s| MESSAGE_METHODS.contains(&s.method.as_str()));
            let edits = sent.iter().filter(|s| s.method.starts_with("edit"));
            (messages.count(), edits.count())
        })
        .unzip()
}

/// `/start` → menu; "forgot password" → contact prompt; own contact → link.
/// Returns each step's latency: update queued → answer seen.
async fn recovery_conversation(tg: FakeTelegram, user: TgUser) -> Vec<Duration> {
    let mut steps = Vec::with_capacity(UPDATES_PER_USER);
    let started = Instant::now();
    tg.send_text(&user, "/start");
    let menu = tg.next_sent(user.id).await;
    steps.push(started.elapsed());
    let forgot = Callback::Topic(Topic::ForgotPassword).encode();
    assert!(
        menu.inline_buttons().iter().any(|(_, data, _)| data.as_deref() == Some(&forgot)),
        "not the menu: {}",
        menu.summary()
    );
    let started = Instant::now();
    tg.press_button(&user, &menu, &forgot);
    let prompt = tg.next_sent(user.id).await;
    steps.push(started.elapsed());
    assert!(!prompt.keyboard_buttons().is_empty(), "not the contact prompt: {}", prompt.summary());
    let started = Instant::now();
    tg.send_contact(&user, &phone_of(&user), Some(user.id));
    let link = tg.sent_until(user.id, |sent| sent.text_str().contains("/reset/")).await;
    steps.push(started.elapsed());
    assert!(link.text_str().contains("/reset/"), "not the link: {}", link.summary());
    steps
}

/// Three texts, each echoed back.
async fn echo_conversation(tg: FakeTelegram, user: TgUser) -> Vec<Duration> {
    let mut steps = Vec::with_capacity(UPDATES_PER_USER);
    for step in 1..=UPDATES_PER_USER {
        let text = format!("hello {step}");
        let started = Instant::now();
        tg.send_text(&user, &text);
        let echo = tg.next_sent(user.id).await;
        steps.push(started.elapsed());
        assert_eq!(echo.text_str(), text);
    }
    steps
}

async fn echo(bot: Bot, msg: Message) -> ResponseResult<()> {
    if let Some(text) = msg.text() {
        bot.send_message(msg.chat.id, text).await?;
    }
    Ok(())
}

fn run_echo(harness: &Harness, warm_up: &[TgUser], users: &[TgUser]) -> Measured {
    let handler = Update::filter_message().endpoint(echo);
    run_bare(harness, ECHO, handler, DependencyMap::new(), warm_up, users, echo_conversation)
}

/// A bare teloxide bot (`handler`, given `deps`) on a fake of its own,
/// each user walking `conversation` with it.
fn run_bare<Fut>(
    harness: &Harness,
    name: &'static str,
    handler: UpdateHandler<teloxide::RequestError>,
    deps: DependencyMap,
    warm_up: &[TgUser],
    users: &[TgUser],
    conversation: fn(FakeTelegram, TgUser) -> Fut,
) -> Measured
where
    Fut: Future<Output = Vec<Duration>> + Send + 'static,
{
    let tg = harness.fake.block_on(FakeTelegram::start());
    let bot = Bot::new(telegram::TOKEN).set_api_url(tg.api_url());
    let mut dispatcher = Dispatcher::builder(bot, handler).dependencies(deps).build();
    let shutdown = dispatcher.shutdown_token();
    let task = harness.bot.spawn(async move { dispatcher.dispatch().await });
    harness.fake.block_on(tg.wait_for_call("getupdates"));

    let tg_for_users = tg.clone();
    let probe = Probe { database: None, metrics: None };
    let mut measured = harness
        .measure(name, probe, warm_up, users, move |user| conversation(tg_for_users.clone(), user));
    (measured.messages, measured.edits) = messages_per_user(&tg, users);

    harness.bot.block_on(async {
        shutdown.shutdown().expect("dispatching").await;
        task.await.expect("a bare bot");
    });
    measured
}

/// What our bot sent one user in one recovery, each step's `sendMessage`
/// parameters without the chat: the floor bot sends the same.
#[derive(Debug, Clone)]
struct Script(Arc<Vec<serde_json::Value>>);

impl Script {
    fn of(tg: &FakeTelegram, user: &TgUser) -> Script {
        let steps: Vec<_> = tg
            .all_sent(user.id)
            .into_iter()
            .filter(|sent| MESSAGE_METHODS.contains(&sent.method.as_str()))
            .map(|sent| sent.params)
            .collect();
        assert_eq!(steps.len(), UPDATES_PER_USER, "one message per step");
        Script(Arc::new(steps))
    }

    /// Step `step`'s message, to `chat`, as our bot sent it.
    async fn send<B: Requester>(&self, bot: &B, chat: ChatId, step: usize) -> Result<(), B::Err> {
        let params = &self.0[step];
        let text = params["text"].as_str().unwrap_or_default().to_owned();
        let mut request = bot.send_message(chat, text);
        if let Ok(markup) = serde_json::from_value(params["reply_markup"].clone()) {
            request = request.reply_markup::<teloxide::types::ReplyMarkup>(markup);
        }
        if let Ok(options) = serde_json::from_value(params["link_preview_options"].clone()) {
            request = request.link_preview_options(options);
        }
        if params["protect_content"].as_bool() == Some(true) {
            request = request.protect_content(true);
        }
        request.await?;
        Ok(())
    }
}

/// The floor: a bare teloxide bot that answers the recovery's three
/// updates with exactly our bot's messages (and answers the button press,
/// as ours does), with no database, no inbox and no pacing. What Telegram's
/// side of a recovery costs, whatever the bot does besides.
async fn floor_message<B: Requester>(bot: B, msg: Message, script: Script) -> Result<(), B::Err> {
    let step = if msg.contact().is_some() { 2 } else { 0 };
    script.send(&bot, msg.chat.id, step).await
}

async fn floor_button<B: Requester>(
    bot: B,
    query: CallbackQuery,
    script: Script,
) -> Result<(), B::Err> {
    bot.answer_callback_query(query.id.clone()).await?;
    script.send(&bot, ChatId(query.from.id.0 as i64), 1).await
}

fn run_floor(harness: &Harness, script: Script, warm_up: &[TgUser], users: &[TgUser]) -> Measured {
    let handler = dptree::entry()
        .branch(Update::filter_message().endpoint(floor_message::<Bot>))
        .branch(Update::filter_callback_query().endpoint(floor_button::<Bot>));
    let deps = dptree::deps![script];
    run_bare(harness, FLOOR, handler, deps, warm_up, users, recovery_conversation)
}

/// Our bot on SQLite with polling, its tree replaced by the floor bot's
/// replies (no handler reads or writes the database): what the durable
/// inbox, the claims and marks, the dialogue states held for the chats
/// claimed, the pacing and the timing cost, apart from the handlers' work.
fn run_plumbing(
    harness: &Harness,
    script: Script,
    warm_up: &[TgUser],
    users: &[TgUser],
) -> Measured {
    // Our app's dependencies do not hold the script: the endpoints take it
    // along.
    let on_message = script.clone();
    let on_button = script;
    let tree: UpdateHandler<anyhow::Error> = dptree::entry()
        .branch(Update::filter_message().endpoint(move |bot: BotT, msg: Message| {
            let script = on_message.clone();
            async move { Ok(floor_message(bot, msg, script).await?) }
        }))
        .branch(Update::filter_callback_query().endpoint(
            move |bot: BotT, query: CallbackQuery| {
                let script = on_button.clone();
                async move { Ok(floor_button(bot, query, script).await?) }
            },
        ));
    let database = Database::create(harness, Setup::Sqlite);
    let ours = Ours::start(harness, Setup::Sqlite, &database, lifted_limits(), Some(tree));
    let tg_for_users = ours.tg.clone();
    let probe = Probe { database: None, metrics: Some(ours.replicas[0].http_addr) };
    let mut measured = harness.measure(PLUMBING, probe, warm_up, users, move |user| {
        recovery_conversation(tg_for_users.clone(), user)
    });
    (measured.messages, measured.edits) = messages_per_user(&ours.tg, users);
    ours.stop(harness);
    measured
}

/// Our bot in `setup`, running; the replicas share `database`.
struct Ours {
    tg: FakeTelegram,
    replicas: Vec<RunningApp>,
}

impl Ours {
    fn start(
        harness: &Harness,
        setup: Setup,
        database: &Database,
        limits: Limits,
        tree: Option<UpdateHandler<anyhow::Error>>,
    ) -> Ours {
        let tg = harness.fake.block_on(FakeTelegram::start());
        let mut replicas = Vec::new();
        let mut webhooks = Vec::new();
        for _ in 0..setup.replicas() {
            let listener = harness
                .bot
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind a port");
            let base = format!("http://{}", listener.local_addr().expect("local addr"));
            let bot_mode = if setup.webhook() {
                let url = format!("{base}{WEBHOOK_PATH}");
                webhooks.push(url.clone());
                BotMode::Webhook(WebhookConfig {
                    url: url.parse().expect("webhook url"),
                    secret: WEBHOOK_SECRET.into(),
                })
            } else {
                BotMode::Polling
            };
            let config = Config {
                telegram_token: telegram::TOKEN.into(),
                telegram_api_url: tg.api_url(),
                database: database.config(),
                support: SupportConfig::default(),
                mail: None,
                binding: Default::default(),
                contact_cooldown: chrono::Duration::days(7),
                inbox_retention: chrono::Duration::hours(24),
                public_base_url: base.parse().expect("base url"),
                http_addr: "127.0.0.1:0".parse().expect("literal"),
                api_token: None,
                bot_mode,
                secret_keys: None,
                default_time_zone: chrono_tz::Tz::UTC,
                reset: ResetPolicy::default(),
                password: PasswordPolicy::default(),
                lockout: LockoutPolicy::default(),
                page: PageConfig::default(),
            };
            let options = AppOptions {
                telegram_limits: limits,
                http_listener: Some(listener),
                handler: tree.clone(),
                ..AppOptions::default()
            };
            let app = harness.bot.block_on(app::start(config, options)).expect("the bot starts");
            replicas.push(app);
        }
        if setup.webhook() {
            tg.balance_webhook(&webhooks);
        } else {
            harness.fake.block_on(tg.wait_for_call("getupdates"));
        }
        Ours { tg, replicas }
    }

    fn store(&self) -> &Store {
        &self.replicas[0].store
    }

    fn stop(self, harness: &Harness) {
        for app in self.replicas {
            harness.bot.block_on(app.stop());
        }
    }
}

fn run_ours(
    harness: &Harness,
    setup: Setup,
    warm_up: &[TgUser],
    users: &[TgUser],
) -> (Measured, Script) {
    let database = Database::create(harness, setup);
    let ours = Ours::start(harness, setup, &database, lifted_limits(), None);
    let everyone: Vec<TgUser> = warm_up.iter().chain(users).cloned().collect();
    let csv = import_csv(&everyone);
    let imported = harness
        .bot
        .block_on(import_accounts(
            ours.store(),
            csv.as_bytes(),
            &PasswordPolicy::default(),
            chrono::Utc::now(),
        ))
        .expect("import");
    assert_eq!(imported.imported, everyone.len());

    let tg_for_users = ours.tg.clone();
    let probe = Probe { database: database.postgres(), metrics: Some(ours.replicas[0].http_addr) };
    let mut measured = harness.measure(setup.label(), probe, warm_up, users, move |user| {
        recovery_conversation(tg_for_users.clone(), user)
    });
    (measured.messages, measured.edits) = messages_per_user(&ours.tg, users);
    measured.statement_cpu = STATEMENT_TASKS
        .iter()
        .map(|&tasks| (tasks, harness.statement_cost(ours.store(), tasks, 3_000 / tasks)))
        .collect();
    let script = Script::of(&ours.tg, &users[0]);
    ours.stop(harness);
    (measured, script)
}

// ----- a burst of /start at Telegram's limits (BENCH_BURST) -----------------------

/// Users minus the longest subsequence of `ranks` that does not go down:
/// how many users would have to move for the answers to come in sending
/// order. Equal ranks count as in order.
fn out_of_order(ranks: &[usize]) -> usize {
    let mut tails: Vec<usize> = Vec::new();
    for &rank in ranks {
        let at = tails.partition_point(|&tail| tail <= rank);
        if at == tails.len() {
            tails.push(rank);
        } else {
            tails[at] = rank;
        }
    }
    ranks.len() - tails.len()
}

fn chat_of(call: &telegram::Call) -> Option<i64> {
    let chat = &call.params["chat_id"];
    chat.as_i64().or_else(|| chat.as_str()?.parse().ok())
}

fn run_burst(harness: &Harness, setup: Setup, count: usize) {
    let database = Database::create(harness, setup);
    let ours = Ours::start(harness, setup, &database, Limits::default(), None);
    let tg = ours.tg.clone();
    let metrics = ours.replicas[0].http_addr;
    let before = harness.fake.block_on(Histogram::read(&harness.http, metrics));
    let everyone = users(300_000, count);
    let started = Instant::now();
    for user in &everyone {
        tg.send_text(user, "/start");
    }
    let queued = started.elapsed();
    // Waited for on a harness thread, looking every 250 ms.
    let waiting = {
        let (tg, everyone) = (tg.clone(), everyone.clone());
        harness.fake.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60 + count as u64 / 10);
            let mut reported = Instant::now();
            loop {
                let answered = everyone.iter().filter(|u| !tg.all_sent(u.id).is_empty()).count();
                if answered == everyone.len() || Instant::now() > deadline {
                    return answered;
                }
                if reported.elapsed() > Duration::from_secs(30) {
                    println!(
                        "  ... {answered} of {} answered after {:.0} s",
                        everyone.len(),
                        started.elapsed().as_secs_f64()
                    );
                    reported = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let answered = harness.fake.block_on(waiting).expect("burst driver");
    std::thread::sleep(Duration::from_secs(1));
    let after = harness.fake.block_on(Histogram::read(&harness.http, metrics));

    // Every message put in a chat, in the order the fake received them.
    let mut sends: Vec<telegram::Call> = MESSAGE_METHODS
        .iter()
        .flat_map(|method| tg.calls(method))
        .filter(|call| !call.failed)
        .collect();
    sends.sort_by_key(|call| call.at);
    // teloxide's Throttle released messages in rounds 250 ms apart, whose
    // messages raced each other over HTTP: a gap of 100 ms between two
    // arrivals starts a new round. Our paced client sends one message
    // every 33 ms, so "by arrival" is the figure that counts now.
    let mut first_reply: HashMap<i64, (usize, usize, Instant)> = HashMap::new();
    let mut round = 0;
    for (rank, call) in sends.iter().enumerate() {
        if rank > 0 && call.at.duration_since(sends[rank - 1].at) > Duration::from_millis(100) {
            round += 1;
        }
        if let Some(chat) = chat_of(call) {
            first_reply.entry(chat).or_insert((rank, round, call.at));
        }
    }
    let in_sending_order = |pick: fn(&(usize, usize, Instant)) -> usize| {
        let ranks: Vec<usize> =
            everyone.iter().filter_map(|u| first_reply.get(&u.id).map(pick)).collect();
        out_of_order(&ranks)
    };
    let (by_arrival, by_round) = (in_sending_order(|r| r.0), in_sending_order(|r| r.1));
    let last = first_reply.values().map(|(_, _, at)| *at).max().unwrap_or(started);
    let wall = last.saturating_duration_since(started);
    let doubled = everyone.iter().filter(|u| tg.all_sent(u.id).len() > 1).count();
    let busiest = {
        let times: Vec<Instant> = sends.iter().map(|call| call.at).collect();
        let mut from = 0;
        let mut most = 0;
        for (to, at) in times.iter().enumerate() {
            while at.saturating_duration_since(times[from]) >= Duration::from_secs(1) {
                from += 1;
            }
            most = most.max(to + 1 - from);
        }
        most
    };
    let handler = after.since(&before);
    println!(
        "burst, {}: {count} users sent /start at once (queued in {:.2} s), Telegram's limits",
        setup.label(),
        queued.as_secs_f64()
    );
    println!(
        "  answered: {answered} of {count} ({} lost); with more than one message: {doubled}",
        count - answered
    );
    println!(
        "  first replies out of order: {by_arrival} by arrival at the fake, {by_round} by \
         release round ({round} rounds); users minus the longest run in sending order"
    );
    println!(
        "  wall time to the last first reply: {:.1} s; {:.1} messages/s on average, {busiest} in the busiest second",
        wall.as_secs_f64(),
        sends.len() as f64 / wall.as_secs_f64().max(1e-9)
    );
    println!(
        "  handler time (histogram, includes waiting for the turn to send): p50 {} ms, p99 {} ms, {} updates",
        handler.quantile(0.5),
        handler.quantile(0.99),
        handler.count()
    );
    assert_eq!(answered, count, "every user of the burst is answered");
    ours.stop(harness);
}

// ----- RSS of the bot alone (BENCH_RSS) -------------------------------------------

fn memory_of(pid: u32) -> (f64, f64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Stops a child of ours with `signal` and waits up to 20 s, then kills it.
fn stop_child(mut child: std::process::Child, signal: i32) {
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("warning: child {} did not stop on signal {signal}; killed", child.id());
    child.kill().ok();
    child.wait().ok();
}

fn child_command(program: &Path, tg: &FakeTelegram) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for name in [
        "DATABASE_URL",
        "BOT_MODE",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "LOG_FORMAT",
        "API_TOKEN",
        "SMTP_URL",
        "SUPPORT_CHAT_ID",
    ] {
        command.env_remove(name);
    }
    command
        .env("TELOXIDE_TOKEN", telegram::TOKEN)
        .env("TELEGRAM_API_URL", tg.api_url().as_str())
        .env("RUST_LOG", "off")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    command
}

fn run_rss(harness: &Harness, count: usize, dialogues: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("rss.db").display());
    let everyone = users(400_000, count);
    harness.bot.block_on(async {
        let store =
            Store::connect(&DatabaseConfig::parse(&url).expect("url")).await.expect("connect");
        store.migrate().await.expect("migrate");
        let csv = import_csv(&everyone);
        import_accounts(&store, csv.as_bytes(), &PasswordPolicy::default(), chrono::Utc::now())
            .await
            .expect("import");
        // Stored dialogues of other users, midway through a recovery.
        let state = serde_json::json!({
            "v": STATE_VERSION,
            "state": State::AwaitingContact { purpose: Purpose::ResetPassword },
        })
        .to_string();
        let now = chrono::Utc::now();
        let seeds: Vec<StoredDialogue> = (0..dialogues as i64)
            .map(|i| StoredDialogue { chat_id: 50_000_000 + i, state: state.clone(), version: 1 })
            .collect();
        for chunk in seeds.chunks(1_000) {
            store.finish_updates(chunk, &[], now).await.expect("seed dialogues");
        }
        store.close().await;
    });

    let tg = harness.fake.block_on(FakeTelegram::start());
    tg.set_wait_timeout(Duration::from_secs(900));
    let port = free_port();
    let child = child_command(Path::new(env!("CARGO_BIN_EXE_crm-recovery-bot")), &tg)
        .arg("run")
        .env("DATABASE_URL", &url)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"))
        .current_dir(dir.path())
        .spawn()
        .expect("start the binary");
    let pid = child.id();
    harness.fake.block_on(tg.wait_for_call("getupdates"));
    let (idle, _) = memory_of(pid);
    let tg_for_users = tg.clone();
    let (wall, _) =
        harness.drive(&everyone, move |user| recovery_conversation(tg_for_users.clone(), user));
    std::thread::sleep(Duration::from_secs(1));
    let (rss, hwm) = memory_of(pid);
    stop_child(child, libc::SIGTERM);
    println!(
        "RSS, the binary on SQLite with {dialogues} stored dialogues: {idle:.1} MiB idle; after {count} \
         conversations up to the link ({:.0} s at Telegram's limits): VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB",
        wall.as_secs_f64()
    );

    // The echo bot, as a child process too: this binary in its echo mode.
    let tg = harness.fake.block_on(FakeTelegram::start());
    tg.set_wait_timeout(Duration::from_secs(900));
    let program = std::env::current_exe().expect("this bench's path");
    let child = child_command(&program, &tg)
        .env("BENCH_ECHO_CHILD", "1")
        .spawn()
        .expect("start the echo bot");
    let pid = child.id();
    harness.fake.block_on(tg.wait_for_call("getupdates"));
    let (idle, _) = memory_of(pid);
    let tg_for_users = tg.clone();
    let (wall, _) =
        harness.drive(&everyone, move |user| echo_conversation(tg_for_users.clone(), user));
    std::thread::sleep(Duration::from_secs(1));
    let (rss, hwm) = memory_of(pid);
    stop_child(child, libc::SIGINT);
    println!(
        "RSS, the echo bot (this bench binary, echo only): {idle:.1} MiB idle; after {count} users x \
         {UPDATES_PER_USER} texts ({:.1} s, no throttle): VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB",
        wall.as_secs_f64()
    );
}

/// `BENCH_ECHO_CHILD`: the echo bot alone, until SIGINT, against
/// `TELEGRAM_API_URL` (the RSS mode runs it as a child process).
fn echo_child() {
    let api = std::env::var("TELEGRAM_API_URL").expect("TELEGRAM_API_URL");
    let api = api.parse().expect("TELEGRAM_API_URL is a URL");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let bot = Bot::new(telegram::TOKEN).set_api_url(api);
        Dispatcher::builder(bot, Update::filter_message().endpoint(echo))
            .enable_ctrlc_handler()
            .build()
            .dispatch()
            .await;
    });
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

fn print_statements(ours: &Measured) {
    let updates = ours.updates as f64;
    let total: usize = ours.statements.values().sum();
    println!("SQL statements per update, {}: {:.2}", ours.name, total as f64 / updates);
    let mut by_count: Vec<_> = ours.statements.clone().into_iter().collect();
    by_count.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (statement, n) in by_count {
        println!("{:>7.2}  {statement}", n as f64 / updates);
    }
}

// ----- main ------------------------------------------------------------------------

fn env_number(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name} is not a number: {value}")))
}

fn main() {
    if std::env::var_os("BENCH_ECHO_CHILD").is_some() {
        return echo_child();
    }
    let count = env_number("BENCH_USERS").unwrap_or(300);
    let burst = env_number("BENCH_BURST");
    let rss_users = env_number("BENCH_RSS");
    let concurrency = env_number("BENCH_CONCURRENCY").unwrap_or(rss_users.unwrap_or(count)).max(1);
    let warm_up_count = (count / 10).max(1);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let count_sql = std::env::var_os("BENCH_SQL").is_some();
    if count_sql {
        count_statements();
    } else if std::env::var_os("BENCH_LOG").is_some() {
        crm_recovery_bot::telemetry::init(crm_recovery_bot::config::LogFormat::Text);
    }
    let pg_server = std::env::var("BENCH_DATABASE_URL").ok().filter(|url| !url.is_empty());
    if let Some(url) = &pg_server {
        assert!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "BENCH_DATABASE_URL is a PostgreSQL server (each set-up gets a database of its own on it)"
        );
    }
    let setups: Vec<Setup> = match std::env::var("BENCH_SETUPS") {
        Ok(list) => list.split(',').map(Setup::parse).collect(),
        Err(_) if pg_server.is_some() => {
            vec![Setup::Sqlite, Setup::Pg, Setup::PgWebhook, Setup::Pg2]
        }
        Err(_) => vec![Setup::Sqlite],
    };

    let harness = Harness {
        fake: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(HARNESS_THREADS)
            .enable_all()
            .build()
            .expect("harness runtime"),
        bot: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(env_number("BENCH_BOT_THREADS").unwrap_or(2).max(1))
            .thread_name("bot")
            .enable_all()
            .build()
            .expect("bot runtime"),
        concurrency,
        pg_server,
        http: reqwest::Client::new(),
    };

    if let Some(burst) = burst {
        for setup in setups {
            run_burst(&harness, setup, burst);
        }
        return;
    }
    if let Some(rss_users) = rss_users {
        let dialogues = env_number("BENCH_DIALOGUES").unwrap_or(10_000);
        run_rss(&harness, rss_users, dialogues);
        return;
    }

    println!(
        "{count} users ({warm_up_count} more to warm up), {UPDATES_PER_USER} updates each, \
         {concurrency} at a time; set-ups: {setups:?}"
    );
    let mut results = Vec::new();
    if only != "ours" {
        results.push(run_echo(&harness, &users(1_000, warm_up_count), &users(100_000, count)));
    }
    if only != "echo" {
        let mut script = None;
        for setup in setups {
            let (measured, sent) =
                run_ours(&harness, setup, &users(1_000, warm_up_count), &users(100_000, count));
            results.push(measured);
            script.get_or_insert(sent);
        }
        if let Some(script) = script.filter(|_| only != "ours") {
            results.push(run_floor(
                &harness,
                script.clone(),
                &users(1_000, warm_up_count),
                &users(100_000, count),
            ));
            results.push(run_plumbing(
                &harness,
                script,
                &users(1_000, warm_up_count),
                &users(100_000, count),
            ));
        }
    }

    let echo_cpu = results.iter().find(|r| r.name == ECHO).map(Measured::cpu_ms_per_update);
    println!(
        "\n{:<30} {:>7} {:>7} {:>9} {:>10} {:>8} {:>9} {:>11}",
        "bot", "updates", "wall s", "updates/s", "CPU ms/upd", "PG ms", "vs echo", "fake ms/upd"
    );
    for result in &results {
        result.print_cost(echo_cpu);
    }
    println!(
        "(CPU per update of ours / echo's aim: at most 2x; PG ms: the server's backends, not in CPU ms)"
    );
    println!(
        "\n{:<30} {:>5} {:>4} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "bot", "msgs", "max", "edits", "hdl p50", "hdl p99", "drv p50", "drv p99", "drv max"
    );
    for result in &results {
        result.print_latency();
    }
    println!(
        "(msgs: messages put in each user's chat per recovery (aim: at most 3), edits apart; \
         hdl: handler time in ms from crm_recovery_handler_seconds, bucket-interpolated, sends \
         and their wait for a turn included (aim: p99 < 50 ms); drv: update queued at the fake → \
         answer seen, ms)"
    );
    println!("\n{:<30} {:>9} {:>9} {:>9}", "bot", "1 task", "16 tasks", "300 tasks");
    for result in results.iter().filter(|r| !r.statement_cpu.is_empty()) {
        let cost = |tasks| {
            let found = result.statement_cpu.iter().find(|(t, _)| *t == tasks);
            found.map_or("-".into(), |(_, cpu)| format!("{:.1}", cpu.as_secs_f64() * 1e6))
        };
        println!("{:<30} {:>9} {:>9} {:>9}", result.name, cost(1), cost(16), cost(300));
    }
    println!(
        "(the bot's CPU in µs for one statement through the store, SELECT 1, with that many \
         tasks running statements at once: one round trip to the database)"
    );
    if count_sql {
        for ours in results.iter().filter(|r| r.name != ECHO && r.name != FLOOR) {
            print_statements(ours);
        }
        println!("(figures of a BENCH_SQL run include the counting: compare without it)");
    }
}
