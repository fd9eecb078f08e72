//! Prints how long the recovery steps take: `cargo bench --bench recovery`.
//! Uses a temporary SQLite file, or, when `BENCH_DATABASE_URL` names a
//! PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432/test`), a
//! database of its own on that server, `bench_<pid>`, created through the
//! server's `postgres` database and dropped at the end. Figures, not
//! pass/fail: targets are read from here. The one check is exactness: the
//! lockout counting under concurrent wrong passwords must match the
//! policy's arithmetic, or the bench stops.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crm_recovery_bot::{
    clock::SystemClock,
    config::{DatabaseConfig, PageConfig},
    domain::{
        FailureOutcome, Lang, LockoutState, NewPassword, PasswordContext, PasswordPolicy, Phone,
        PublicUrls, TelegramUserId, login_key,
    },
    http::{self, HttpState, api::ApiToken},
    recovery::{
        HashingQueue, IssueOutcome, OutboxWaker, Policies, Recovery, hash_password,
        import_accounts, verify_password,
    },
    store::Store,
};
use futures::StreamExt;
#[path = "shared/pg_database.rs"]
mod pg_database;

use pg_database::PgDatabase;

const ACCOUNTS: usize = 300;

/// Deliveries are queued in the outbox as in production; nobody delivers them.
#[derive(Debug)]
struct QueueOnly;

impl OutboxWaker for QueueOnly {
    fn wake(&self) {}
}

fn report(what: &str, runs: usize, total: Duration) {
    let per = total / runs as u32;
    let rate = runs as f64 / total.as_secs_f64();
    println!("{what:<48} {runs:>5} runs  {:>9.3} ms/op  {rate:>9.1} op/s", per.as_secs_f64() * 1e3);
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = std::env::var("BENCH_DATABASE_URL").ok().filter(|url| !url.is_empty());
    let postgres = match &server {
        Some(server) => Some(PgDatabase::create(server).await),
        None => None,
    };
    let url = match &postgres {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let database = DatabaseConfig::parse(&url).expect("database url");
    let store = Store::connect(&database).await.expect("connect");
    store.migrate().await.expect("migrate");
    println!("backend: {:?}", store.backend());

    let mut csv = String::from("login,email,phone,full_name,company\n");
    for i in 0..ACCOUNTS {
        csv.push_str(&format!("bench{i},bench{i}@example.com,+7916{i:07},Bench {i},Acme\n"));
    }
    let start = Instant::now();
    let imported =
        import_accounts(&store, csv.as_bytes(), &PasswordPolicy::default(), chrono::Utc::now())
            .await
            .expect("import");
    report("import CSV row (no password)", imported.imported, start.elapsed());

    let runs = 10;
    let start = Instant::now();
    for _ in 0..runs {
        hash_password("correct horse battery staple".into()).await.expect("hash");
    }
    report("argon2id hash (m=19 MiB, t=2, p=1)", runs, start.elapsed());

    let runs = 500;
    let start = Instant::now();
    for _ in 0..runs {
        let checked = NewPassword::parse(
            "correct horse battery staple",
            "correct horse battery staple",
            &PasswordContext::new("bench1", "bench1@example.com", "Bench One", "Bench"),
            &PasswordPolicy::default(),
        );
        assert!(checked.is_ok());
    }
    report("password policy check (zxcvbn)", runs, start.elapsed());

    let recovery = Recovery::new(
        store.clone(),
        Arc::new(SystemClock),
        Policies::default(),
        PublicUrls::new("https://crm.example.com".parse().expect("url")),
        HashingQueue::new(64),
        Arc::new(QueueOnly),
    );
    let mut links = Vec::new();
    let start = Instant::now();
    let user = TelegramUserId(1);
    for i in 0..ACCOUNTS {
        let phone = Phone::parse(&format!("+7916{i:07}")).expect("phone");
        let account = recovery.accounts_for(user, &phone).await.expect("lookup");
        let verified = recovery
            .picked_account(user, &phone, account[0].id, recovery.now())
            .await
            .expect("pick")
            .expect("on the phone");
        let outcome = recovery.issue_reset_link(&verified, Lang::En).await.expect("issue");
        let IssueOutcome::Issued(link) = outcome else { panic!("not issued") };
        links.push(link.url.to_string());
    }
    report("look up phone + issue reset link", ACCOUNTS, start.elapsed());

    let start = Instant::now();
    for link in &links {
        let token = link.rsplit('/').next().expect("token");
        assert!(recovery.open_reset_link(token, None).await.expect("open").is_ok());
    }
    report("open reset page lookup", links.len(), start.elapsed());

    let runs = 20;
    let start = Instant::now();
    for link in links.iter().take(runs) {
        let token = link.rsplit('/').next().expect("token");
        let password = "correct horse battery staple".to_owned();
        let done =
            recovery.complete_reset(token, password.clone(), password, None).await.expect("reset");
        assert!(done.is_ok());
    }
    report("complete reset (policy + argon2id + commit)", runs, start.elapsed());

    // Concurrency: many resets at once must not block the runtime threads.
    let runs = 20;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for link in links.iter().skip(20).take(runs) {
        let recovery = recovery.clone();
        let token = link.rsplit('/').next().expect("token").to_owned();
        tasks.push(tokio::spawn(async move {
            let password = "purple elephant dancing quietly".to_owned();
            recovery.complete_reset(&token, password.clone(), password, None).await
        }));
    }
    for task in tasks {
        assert!(task.await.expect("join").expect("reset").is_ok());
    }
    report("complete reset, 20 concurrent (wall clock/op)", runs, start.elapsed());

    sign_in_over_http(&store, &recovery, &url).await;

    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    store.close().await;
    drop(postgres);
}

/// Sign-ins per second through the real HTTP API (right passwords, so
/// nothing locks), against the ceiling argon2 sets: one verification per
/// core at a time.
async fn sign_in_over_http(store: &Store, recovery: &Recovery, database_url: &str) {
    const PASSWORD: &str = "correct horse battery staple";
    const SIGNED: usize = 20;
    let runs: usize =
        std::env::var("BENCH_SIGN_INS").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    let concurrency: usize =
        std::env::var("BENCH_CONCURRENCY").ok().and_then(|n| n.parse().ok()).unwrap_or(16);
    let mut csv = String::from("login,email,phone,full_name,company,password\n");
    for i in 0..SIGNED {
        csv.push_str(&format!(
            "signer{i},signer{i}@example.com,+7926{i:07},Signer {i},Initech,{PASSWORD}\n"
        ));
    }
    import_accounts(store, csv.as_bytes(), &PasswordPolicy::default(), chrono::Utc::now())
        .await
        .expect("import signers");

    let hash = hash_password(PASSWORD.into()).await.expect("hash");
    let verifies = 20;
    let start = Instant::now();
    for _ in 0..verifies {
        assert!(verify_password(PASSWORD.into(), hash.clone()).await.expect("verify"));
    }
    let verify = start.elapsed() / verifies;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ceiling = cores as f64 / verify.as_secs_f64();

    let token = "bench-api-token-0123456789abcdef-0123456789";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/api/v1/auth/login", listener.local_addr().expect("addr"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let state =
        HttpState::new(recovery.clone(), &PageConfig::default(), Some(ApiToken::new(token)));
    let server = tokio::spawn(http::serve(listener, state, shutdown.clone()));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..runs)
        .map(|i| {
            let request = client
                .post(&url)
                .bearer_auth(token)
                .json(&serde_json::json!({"login": format!("signer{}", i % SIGNED), "password": PASSWORD}));
            async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    assert!(statuses.iter().all(|s| *s == 200), "every sign-in succeeds: {statuses:?}");
    println!(
        "argon2id verify: {:.1} ms; ceiling on {cores} cores: {ceiling:.0} sign-ins/s",
        verify.as_secs_f64() * 1e3
    );
    report(&format!("sign-in over HTTP, {concurrency} at once"), runs, elapsed);
    println!(
        "sign-in API: {:.0} requests/s = {:.0}% of the argon2 ceiling",
        runs as f64 / elapsed.as_secs_f64(),
        100.0 * runs as f64 / elapsed.as_secs_f64() / ceiling
    );
    unknown_and_known_logins_take_as_long(&client, &url, token, SIGNED).await;
    lockout_exact_under_load(store, &client, &url, token, database_url).await;
    shutdown.cancel();
    server.await.expect("server stops");
}

/// A wrong password for a known login and any password for an unknown one
/// must answer alike, body and time, or the time tells which logins exist.
/// One request at a time, interleaved, each login tried at most twice (no
/// lock: a locked login answers without checking the password).
async fn unknown_and_known_logins_take_as_long(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    signed: usize,
) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut bodies = std::collections::BTreeSet::new();
    for round in 0..2 * signed {
        for (login, times) in [
            (format!("signer{}", round % signed), &mut known),
            (format!("nobody{round}-{}", std::process::id()), &mut unknown),
        ] {
            let start = Instant::now();
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"login": login, "password": "not the password"}))
                .send()
                .await
                .expect("sign-in answers");
            let status = response.status().as_u16();
            let body = response.text().await.expect("body");
            times.push(start.elapsed());
            assert_eq!(status, 401, "{login}: {body}");
            bodies.insert(body);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let mean = |times: &[Duration]| times.iter().sum::<Duration>() / times.len() as u32;
    let (known_mean, unknown_mean) = (mean(&known), mean(&unknown));
    let (known_median, unknown_median) = (median(&mut known), median(&mut unknown));
    let gap = (known_median.as_secs_f64() - unknown_median.as_secs_f64()).abs()
        / known_median.as_secs_f64();
    println!(
        "401 for a known login: median {:.1} ms (mean {:.1}); for an unknown one: median {:.1} ms \
         (mean {:.1}); medians differ by {:.1}%; distinct bodies: {}",
        known_median.as_secs_f64() * 1e3,
        known_mean.as_secs_f64() * 1e3,
        unknown_median.as_secs_f64() * 1e3,
        unknown_mean.as_secs_f64() * 1e3,
        gap * 100.0,
        bodies.len()
    );
}

/// Many wrong passwords at once for a few logins (known and unknown): the
/// answers, the stored failure records and the audit rows must be exactly
/// what the lockout policy gives for that many failures one after another
/// (nothing lost, nothing counted twice, exactly one lock per login that
/// reached `max_failures`).
async fn lockout_exact_under_load(
    store: &Store,
    client: &reqwest::Client,
    url: &str,
    token: &str,
    database_url: &str,
) {
    const PASSWORD: &str = "correct horse battery staple";
    const AT_ONCE: usize = 32;
    let policy = Policies::default().lockout;
    let max = policy.max_failures as usize;
    let mut csv = String::from("login,email,phone,full_name,company,password\n");
    for i in 0..4 {
        csv.push_str(&format!(
            "locker{i},locker{i}@example.com,+7936{i:07},Locker {i},Initech,{PASSWORD}\n"
        ));
    }
    import_accounts(store, csv.as_bytes(), &PasswordPolicy::default(), chrono::Utc::now())
        .await
        .expect("import lockers");
    let pid = std::process::id();
    let plan: Vec<(String, usize)> = vec![
        ("locker0".into(), max - 2),
        ("locker1".into(), max - 1),
        ("locker2".into(), max),
        ("locker3".into(), 8 * max),
        (format!("ghost0-{pid}"), max - 1),
        (format!("ghost1-{pid}"), max),
        (format!("ghost2-{pid}"), 6 * max),
    ];
    // Interleaved: every login has attempts in flight at the same time.
    let rounds = plan.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let attempts: Vec<String> = (0..rounds)
        .flat_map(|round| plan.iter().filter(move |(_, n)| round < *n).map(|(l, _)| l.clone()))
        .collect();

    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(database_url).await.expect("a second pool on the database");
    let audit_from: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM audit_events")
            .fetch_one(&raw)
            .await
            .expect("last audit id");
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let answers: Vec<(String, u16)> = futures::stream::iter(attempts)
        .map(|login| {
            let request = client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"login": login, "password": "not the password"}));
            async move {
                let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                (login, status)
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let elapsed = clock.elapsed();
    let ended = chrono::Utc::now();

    let mut problems = Vec::new();
    let (mut failed, mut locked, mut refused) = (0, 0, 0);
    for (login, n) in &plan {
        // The policy's answer for n failures one after another.
        let mut expected = LockoutState::default();
        let (mut counted, mut locks, mut already) = (0, 0, 0);
        for _ in 0..*n {
            let (next, outcome) = policy.fail(expected, started);
            expected = next;
            match outcome {
                FailureOutcome::Counted(_) => counted += 1,
                FailureOutcome::Locked(_) => locks += 1,
                FailureOutcome::AlreadyLocked(_) => already += 1,
            }
        }
        failed += counted + locks;
        locked += locks;
        refused += already;
        let statuses = |code| answers.iter().filter(|(l, s)| l == login && *s == code).count();
        let (unauthorized, locked_answers) = (statuses(401), statuses(423));
        let stored = store.lockout_state(&login_key(login)).await.expect("lockout state");
        let until_ok = match (stored.locked_until, expected.locked_until) {
            (None, None) => true,
            (Some(at), Some(_)) => {
                let wait = policy.wait(stored.locks);
                at >= started + wait - chrono::Duration::seconds(1)
                    && at <= ended + wait + chrono::Duration::seconds(1)
            }
            _ => false,
        };
        let exact = unauthorized == counted
            && locked_answers == locks + already
            && stored.failures == expected.failures
            && stored.locks == expected.locks
            && stored.locked_permanently_at.is_none()
            && until_ok;
        println!(
            "  {login:<16} {n:>3} wrong: {unauthorized:>2} x 401, {locked_answers:>2} x 423; stored \
             failures {} locks {} locked {} (policy: {counted} x 401, {} x 423, failures {} locks \
             {}){}",
            stored.failures,
            stored.locks,
            stored.locked_until.is_some(),
            locks + already,
            expected.failures,
            expected.locks,
            if exact { "" } else { "  <- NOT EXACT" }
        );
        if !exact {
            problems.push(login.clone());
        }
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event, COUNT(*) FROM audit_events WHERE id > $1 \
         AND event IN ('sign_in_failed', 'sign_in_locked', 'sign_in_refused') GROUP BY event",
    )
    .bind(audit_from)
    .fetch_all(&raw)
    .await
    .expect("audit counts");
    raw.close().await;
    let audited =
        |event: &str| rows.iter().find(|(e, _)| e == event).map_or(0, |(_, n)| *n as usize);
    let audit_exact = audited("sign_in_failed") == failed
        && audited("sign_in_locked") == locked
        && audited("sign_in_refused") == refused;
    println!(
        "  audit rows: {} sign_in_failed, {} sign_in_locked, {} sign_in_refused (policy: {failed}, \
         {locked}, {refused})",
        audited("sign_in_failed"),
        audited("sign_in_locked"),
        audited("sign_in_refused"),
    );
    let total = answers.len();
    println!(
        "lockout under load: {total} wrong sign-ins for {} logins, {AT_ONCE} at once, in {:.2} s \
         ({:.0}/s): {}",
        plan.len(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        if problems.is_empty() && audit_exact { "exact" } else { "NOT EXACT" }
    );
    assert!(
        problems.is_empty() && audit_exact,
        "lockout counting under load differs from the policy for {problems:?} (audit exact: \
         {audit_exact})"
    );
}
