//! What an operator runs and watches: webhook mode (Telegram posts to our
//! server, with the secret), the start-up guards (a second polling process,
//! a second `run` on one SQLite file), `/readyz`, `/metrics` after a real
//! recovery, and JSON logs.

use std::{collections::HashMap, path::Path, process::Stdio, time::Duration};

use crm_recovery_bot::{domain::Lang, http::SECRET_HEADER, i18n::t, monitoring};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

on_both_backends!(
    webhook_mode_registers_and_serves_updates,
    readiness_reports_a_webhook_that_is_not_ours,
    readiness_follows_the_database,
    a_running_bot_outlives_a_later_polling_conflict,
    metrics_after_a_recovery_in_the_real_binary,
);

const SECRET: &str = "webhook_SECRET-0123456789";

async fn webhook_mode_registers_and_serves_updates(db: TestDb) {
    let app = TestApp::spawn_webhook(&db, SECRET).await;
    app.import(ACCOUNTS_CSV).await;
    let hook = app.tg.webhook().expect("the webhook was registered at start");
    assert_eq!(hook.url, app.webhook_url());
    assert_eq!(hook.secret_token.as_deref(), Some(SECRET));
    let allowed = hook.allowed_updates.expect("allowed updates are given");
    for kind in ["message", "edited_message", "callback_query"] {
        assert!(allowed.iter().any(|a| a == kind), "{kind} in {allowed:?}");
    }
    assert!(app.tg.calls("getupdates").is_empty(), "a webhook bot never polls");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap(), serde_json::json!({ "ready": true }));

    // Posts without the secret, or with a wrong one, are refused unread.
    let user = anna();
    let stranger = TgUser::new(666, "Mallory", Some("en"));
    let forged = app.tg.text_update(&stranger, "/start");
    let post = |secret: Option<&str>, update: &Value| {
        let mut request = app.http.post(app.webhook_url()).json(update);
        if let Some(secret) = secret {
            request = request.header(SECRET_HEADER, secret);
        }
        request.send()
    };
    assert_eq!(post(None, &forged).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let almost = format!("{}x", &SECRET[..SECRET.len() - 1]);
    assert_eq!(post(Some(&almost), &forged).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some(""), &forged).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Not an update at all, with the right secret: refused, nothing queued.
    let garbage = app
        .http
        .post(app.webhook_url())
        .header(SECRET_HEADER, SECRET)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    // With the secret, the update is handled: the bot answers.
    let update = app.tg.text_update(&user, "/start");
    assert_eq!(post(Some(SECRET), &update).await.unwrap().status(), StatusCode::OK);
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.text_str().starts_with("Hello, Anna!"), "{}", menu.summary());

    // The whole recovery, with every update posted by Telegram (the fake)
    // to the webhook.
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    assert!(link.starts_with(&format!("{}/reset/", app.base_url)));
    assert!(app.tg.calls("getupdates").is_empty());
    let posts = app.tg.webhook_posts();
    assert!(posts.len() >= 3, "{posts:?}");
    assert!(posts.iter().all(|post| post.status == Some(200)), "{posts:?}");
    assert!(posts.windows(2).all(|pair| pair[0].update_id < pair[1].update_id), "in order");
    assert!(app.tg.all_sent(stranger.id).is_empty(), "the forged /start was never handled");
    let tg = app.tg.clone();
    app.stop().await;
    // Stopping does not delete the webhook: other replicas still serve it.
    assert_eq!(tg.webhook().map(|hook| hook.url), Some(hook.url));
    assert!(tg.calls("deletewebhook").is_empty());
}

async fn readiness_reports_a_webhook_that_is_not_ours(db: TestDb) {
    let app = TestApp::spawn_webhook(&db, SECRET).await;
    // Another deployment took the bot's webhook.
    app.tg.set_webhook("https://elsewhere.example.com/hook");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], false);
    let why = body["not_ready"]["webhook"].as_str().unwrap_or_default();
    assert!(why.contains("another URL (https://elsewhere.example.com/hook)"), "{body}");
    assert!(body["not_ready"].get("database").is_none(), "{body}");
    app.stop().await;
}

async fn readiness_follows_the_database(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap(), serde_json::json!({ "ready": true }));
    app.close_app_database().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert!(body["not_ready"]["database"].is_string(), "{body}");
    assert!(body["not_ready"].get("webhook").is_none(), "polling has no webhook: {body}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await;
}

/// A 409 after this process has polled means a newcomer started: the
/// running bot goes on (the newcomer is the one that stops).
async fn a_running_bot_outlives_a_later_polling_conflict(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    app.start_chat(&user).await;
    app.tg.fail_next(
        "getupdates",
        409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot \
         instance is running",
        None,
    );
    // This update ends the poll under way; the next one meets the conflict.
    app.start_chat(&user).await;
    loop {
        let calls = app.tg.calls("getupdates");
        if calls.iter().any(|call| call.failed) {
            break;
        }
        app.tg.wait_for_calls("getupdates", calls.len() + 1).await;
    }
    let menu = app.start_chat(&user).await;
    assert!(menu.text_str().starts_with("Hello, Anna!"), "{}", menu.summary());
    app.stop().await;
}

// ----- the real binary ---------------------------------------------------

/// `crm-recovery-bot` with a clean environment, against `tg`, in `dir`.
pub(crate) fn binary(tg: &FakeTelegram, dir: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"));
    command.current_dir(dir);
    for name in [
        "DATABASE_URL",
        "PUBLIC_BASE_URL",
        "HTTP_ADDR",
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
        .env("TELOXIDE_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", tg.api_url().as_str())
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `run` listening on a free port of its own.
pub(crate) fn run_on_free_port(tg: &FakeTelegram, dir: &Path) -> (tokio::process::Command, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = binary(tg, dir);
    command
        .arg("run")
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"));
    (command, port)
}

pub(crate) async fn sigterm(child: &mut tokio::process::Child) {
    let pid = child.id().expect("still running").to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
}

pub(crate) async fn finished(child: tokio::process::Child) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the process ends within 20 s")
        .unwrap()
}

/// One line on stderr, `error: …`, and exit code 1.
fn the_one_error_line(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_polling_process_stops_with_one_clear_line() {
    let tg = FakeTelegram::start().await;
    // Another process keeps polling with the same token.
    tg.conflict_polling();
    let dir = tempfile::tempdir().unwrap();
    let (mut command, _port) = run_on_free_port(&tg, dir.path());
    let output = finished(command.spawn().unwrap()).await;
    let line = the_one_error_line(&output);
    assert!(
        line.starts_with("error: another process is already polling Telegram with this bot token"),
        "{line}"
    );
    assert!(line.contains("409 Conflict"), "{line}");
    assert!(line.contains("BOT_MODE=webhook"), "{line}");
    assert!(!line.contains("123:TEST"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_deletes_a_webhook_left_set() {
    let tg = FakeTelegram::start().await;
    tg.set_webhook("https://help.example.com/telegram/webhook");
    let dir = tempfile::tempdir().unwrap();
    let (mut command, _port) = run_on_free_port(&tg, dir.path());
    let mut child = command.spawn().unwrap();
    tg.wait_for_call("deletewebhook").await;
    let polled = tg.wait_for_call("getupdates").await;
    assert!(!polled.failed, "polls once the webhook is gone");
    assert!(tg.webhook().is_none());
    sigterm(&mut child).await;
    assert!(finished(child).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_one_sqlite_file_is_refused() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _) = run_on_free_port(&tg, dir.path());
    let mut first = first.spawn().unwrap();
    tg.wait_for_call("getupdates").await;

    let (mut second, _) = run_on_free_port(&tg, dir.path());
    let output = finished(second.spawn().unwrap()).await;
    let line = the_one_error_line(&output);
    assert!(
        line.starts_with(
            "error: another `crm-recovery-bot run` is using the SQLite file \
             data/crm-recovery-bot.db"
        ),
        "{line}"
    );
    assert!(line.contains("use PostgreSQL for replicas"), "{line}");
    // The first one never noticed; `migrate` may still run beside it.
    let migrate = binary(&tg, dir.path()).arg("migrate").output().await.unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    let user = anna();
    tg.send_text(&user, "/start");
    assert!(tg.next_sent(user.id).await.text_str().starts_with("Hello, Anna!"));
    sigterm(&mut first).await;
    assert!(finished(first).await.status.success());

    // Once it has stopped, the file is free again.
    let (mut third, _) = run_on_free_port(&tg, dir.path());
    let mut third = third.spawn().unwrap();
    let calls = tg.calls("getupdates").len();
    tg.wait_for_calls("getupdates", calls + 1).await;
    sigterm(&mut third).await;
    assert!(finished(third).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_operations_settings_stop_start_up_with_one_line() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (settings, expected) in [
        (vec![("LOG_FORMAT", "yaml")], "error: LOG_FORMAT is invalid: \"yaml\""),
        (vec![("BOT_MODE", "hook")], "error: BOT_MODE is invalid"),
        (
            vec![("BOT_MODE", "webhook"), ("WEBHOOK_URL", "https://h.example.com/tg")],
            "error: WEBHOOK_SECRET is not set",
        ),
        (
            vec![
                ("BOT_MODE", "webhook"),
                ("WEBHOOK_URL", "http://h.example.com/tg"),
                ("WEBHOOK_SECRET", "s"),
            ],
            "error: WEBHOOK_URL is invalid",
        ),
        (
            vec![
                ("BOT_MODE", "webhook"),
                ("WEBHOOK_URL", "https://h.example.com/tg"),
                ("WEBHOOK_SECRET", "not allowed!"),
            ],
            "error: WEBHOOK_SECRET is invalid",
        ),
    ] {
        let mut command = binary(&tg, dir.path());
        command.arg("run");
        for (name, value) in &settings {
            command.env(name, value);
        }
        let output = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{settings:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(expected), "{settings:?}: {stderr}");
        assert!(!stderr.contains("not allowed!"), "the secret is not repeated: {stderr}");
    }
    assert!(tg.calls("getme").is_empty(), "nothing started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut command, _) = run_on_free_port(&tg, dir.path());
    let mut child = command.env("LOG_FORMAT", "json").env("RUST_LOG", "info").spawn().unwrap();
    tg.wait_for_call("getupdates").await;
    sigterm(&mut child).await;
    let output = finished(child).await;
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let listening = lines
        .iter()
        .find(|line| line["message"] == "HTTP server listening")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(listening["http_addr"].as_str().unwrap_or_default().starts_with("127.0.0.1:"));
    assert!(lines.iter().any(|line| line["message"] == "stopped"), "{stderr}");
    assert!(!stderr.contains("123:TEST"), "the token never shows");
}

/// A whole recovery against the real binary (its own metrics registry),
/// then `/metrics`.
async fn metrics_after_a_recovery_in_the_real_binary(db: TestDb) {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.csv"), ACCOUNTS_CSV).unwrap();
    let import = binary(&tg, dir.path())
        .args(["accounts", "import", "accounts.csv"])
        .env("DATABASE_URL", &db.config.url)
        .output()
        .await
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    // The first poll meets a broken proxy: one Telegram error to count.
    tg.garble_next("getupdates");
    let (mut command, port) = run_on_free_port(&tg, dir.path());
    let mut child = command.env("DATABASE_URL", &db.config.url).spawn().unwrap();

    let user = ivan();
    tg.send_text(&user, "/start");
    let menu = tg.next_sent(user.id).await;
    let data = menu.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).unwrap();
    tg.press_button(&user, &menu, &data);
    tg.next_sent(user.id).await;
    tg.send_contact(&user, IVAN_PHONE, Some(user.id));
    let link = link_in(&tg.next_sent(user.id).await);
    let password = "вечерний звон гремит над рекой";
    let done = reqwest::Client::new()
        .post(&link)
        .form(&[("password", password), ("password_confirm", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text().await.unwrap();
    let values = samples(&text);
    let value =
        |series: &str| *values.get(series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    for series in monitoring::SERIES {
        assert!(text.contains(&format!("# TYPE {series} ")), "{series} is described:\n{text}");
    }
    assert_eq!(value("crm_recovery_reset_links_issued_total"), 1.0);
    assert_eq!(value("crm_recovery_reset_links_used_total"), 1.0);
    assert_eq!(value("crm_recovery_lockouts_total"), 0.0);
    assert!(value("crm_recovery_updates_total{kind=\"message\"}") >= 2.0, "{text}");
    assert!(value("crm_recovery_updates_total{kind=\"callback_query\"}") >= 1.0, "{text}");
    assert!(value("crm_recovery_handler_seconds_count") >= 3.0, "{text}");
    assert!(value("crm_recovery_handler_seconds_sum") > 0.0, "{text}");
    assert!(value("crm_recovery_handler_seconds_bucket{le=\"+Inf\"}") >= 3.0, "{text}");
    assert_eq!(value("crm_recovery_inbox_depth"), 0.0, "every update was handled");
    // The notice of the change and the link message's deletion may still wait.
    assert!((0.0..=2.0).contains(&value("crm_recovery_outbox_depth")), "{text}");
    assert_eq!(value("crm_recovery_tickets_open"), 0.0);
    assert_eq!(value("crm_recovery_ticket_age_seconds"), 0.0);
    assert!(value("crm_recovery_telegram_api_errors_total{code=\"invalid_json\"}") >= 1.0);
    for result in ["sent", "retry", "failed"] {
        assert_eq!(value(&format!("crm_recovery_emails_total{{result=\"{result}\"}}")), 0.0);
    }
    sigterm(&mut child).await;
    assert!(finished(child).await.status.success());
}

/// `name{labels} value` lines of a Prometheus text page.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}
