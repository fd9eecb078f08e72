//! The binary as an operator meets it: bad configuration stops start-up
//! with one line naming the variable; import reports bad rows by line.

use std::process::Command;

use crate::support::{FakeTelegram, TgUser};

fn bot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"));
    let dir = tempfile::tempdir().unwrap().keep();
    command.current_dir(dir);
    for name in
        ["TELOXIDE_TOKEN", "DATABASE_URL", "TELEGRAM_API_URL", "PUBLIC_BASE_URL", "HTTP_ADDR"]
    {
        command.env_remove(name);
    }
    command
}

fn one_line_error(output: std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn missing_token_names_the_variable() {
    let stderr = one_line_error(bot().arg("run").output().unwrap());
    assert!(stderr.starts_with("error: TELOXIDE_TOKEN is not set"), "{stderr}");
}

#[test]
fn malformed_database_url_names_the_variable() {
    let output = bot()
        .args(["run"])
        .env("TELOXIDE_TOKEN", "1:x")
        .env("DATABASE_URL", "mysql://db")
        .output()
        .unwrap();
    let stderr = one_line_error(output);
    assert!(stderr.starts_with("error: DATABASE_URL is invalid"), "{stderr}");
    let output = bot().args(["migrate"]).env("DATABASE_URL", "nonsense").output().unwrap();
    assert!(one_line_error(output).contains("DATABASE_URL"));
}

#[test]
fn bad_numbers_and_urls_name_their_variable() {
    for (name, value) in [
        ("RESET_LINK_TTL_MINUTES", "0"),
        ("RESET_LINKS_PER_HOUR", "many"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("HTTP_ADDR", "localhost"),
        ("DEFAULT_TIME_ZONE", "Mars/Base"),
        ("SUPPORT_CHAT_ID", "group"),
    ] {
        let output =
            bot().arg("run").env("TELOXIDE_TOKEN", "1:x").env(name, value).output().unwrap();
        let stderr = one_line_error(output);
        assert!(stderr.starts_with(&format!("error: {name} is invalid")), "{name}: {stderr}");
    }
}

#[test]
fn migrate_and_import_create_the_default_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    std::fs::write(&csv, "login,email,phone,full_name,company\nivan,ivan@example.com,+79161234567,Ivan,Acme\nbad,bad,+79161234567,Bad,Acme\n").unwrap();
    let status = bot().current_dir(dir.path()).arg("migrate").status().unwrap();
    assert!(status.success());
    assert!(dir.path().join("data/crm-recovery-bot.db").exists());
    let output =
        bot().current_dir(dir.path()).args(["accounts", "import"]).arg(&csv).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "some rows were skipped");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("line 3: email"), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("imported 1 account(s), skipped 1 row(s)"), "{stdout}");
}

/// The binary as deployed: `run` with SQLite by default, answering users
/// through the Bot API, and stopping cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_users_and_stops_on_sigterm() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"))
        .arg("run")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("TELOXIDE_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", tg.api_url().as_str())
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    tg.wait_for_call("getupdates").await;
    let user = TgUser::new(42, "Anna", Some("en"));
    tg.send_text(&user, "/start");
    assert!(tg.next_sent(user.id).await.text_str().starts_with("Hello, Anna!"));
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    assert!(dir.path().join("data/crm-recovery-bot.db").exists(), "SQLite by default");

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("stops within 15 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Every policy value `run` takes from the environment stops it, when bad,
/// with one line naming the variable.
#[test]
fn bad_policy_values_name_their_variable() {
    for (name, value) in [
        ("RESET_LINK_TTL_MINUTES", "61"),
        ("PASSWORD_MIN_LENGTH", "7"),
        ("PASSWORD_MIN_LENGTH", "65"),
        ("HASH_QUEUE_LIMIT", "0"),
        ("RESET_PAGE_BAD_TOKENS_PER_MINUTE", "abc"),
        ("TRUSTED_PROXIES", "10.0.0.1,nonsense"),
        ("CRM_LOGIN_URL", "not a url"),
        ("PUBLIC_BASE_URL", "http://example.com"),
        ("PASSWORD_MIN_LENGTH_WITH_2FA", "7"),
        ("SECRET_KEY", "0123456789abcdef-not-64-hex-characters"),
        ("SECRET_KEY_PREVIOUS", &"ab".repeat(32)),
    ] {
        let output =
            bot().arg("run").env("TELOXIDE_TOKEN", "1:x").env(name, value).output().unwrap();
        let stderr = one_line_error(output);
        assert!(
            stderr.starts_with(&format!("error: {name} is invalid")),
            "{name}={value}: {stderr}"
        );
        if name.starts_with("SECRET_KEY") {
            assert!(!stderr.contains(value), "a key is never repeated: {stderr}");
        }
    }
    let output = bot()
        .arg("run")
        .env("TELOXIDE_TOKEN", "1:x")
        .env("PUBLIC_BASE_URL", "http://example.com")
        .output()
        .unwrap();
    let stderr = one_line_error(output);
    assert!(stderr.contains("must use https"), "says what would do: {stderr}");
}

/// `accounts import` checks passwords in the file by the same rule, so a bad
/// rule stops it too, before the file is read.
#[test]
fn import_names_a_bad_password_rule() {
    let output = bot()
        .args(["accounts", "import", "accounts.csv"])
        .env("PASSWORD_MIN_LENGTH", "65")
        .output()
        .unwrap();
    assert!(one_line_error(output).starts_with("error: PASSWORD_MIN_LENGTH is invalid"));
}

/// A directory with a `.env` in it, where the binary is run.
fn dir_with_dotenv(contents: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), contents).unwrap();
    dir
}

#[test]
fn dotenv_in_the_working_directory_is_read() {
    let dir = dir_with_dotenv("TELOXIDE_TOKEN=1:x\nRESET_LINK_TTL_MINUTES=61\n");
    let output = bot()
        .current_dir(dir.path())
        .env_remove("RESET_LINK_TTL_MINUTES")
        .arg("run")
        .output()
        .unwrap();
    let stderr = one_line_error(output);
    assert!(stderr.starts_with("error: RESET_LINK_TTL_MINUTES is invalid: 61"), "{stderr}");

    // Where the database is, too.
    let dir = dir_with_dotenv("DATABASE_URL=sqlite://from-dotenv/bot.db\n");
    let output = bot().current_dir(dir.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("from-dotenv/bot.db").exists());
    assert!(!dir.path().join("data").exists(), "the default was not used");
}

/// dotenvy sets only variables the environment lacks: the real environment
/// wins, in both directions.
#[test]
fn the_real_environment_wins_over_dotenv() {
    let dir = dir_with_dotenv("PASSWORD_MIN_LENGTH=7\nDATABASE_URL=sqlite://from-dotenv/bot.db\n");
    std::fs::write(
        dir.path().join("accounts.csv"),
        "login,email,phone,full_name,company,password\n\
         ivan,ivan@example.com,+79161234567,Ivan,Acme,twelve chars\n",
    )
    .unwrap();
    let output = bot()
        .current_dir(dir.path())
        .env("PASSWORD_MIN_LENGTH", "12")
        .env("DATABASE_URL", "sqlite://from-env/bot.db")
        .args(["accounts", "import", "accounts.csv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 1 account(s)"));
    assert!(dir.path().join("from-env/bot.db").exists());
    assert!(!dir.path().join("from-dotenv").exists(), ".env's DATABASE_URL lost");

    let dir = dir_with_dotenv("TELOXIDE_TOKEN=1:x\nRESET_LINK_TTL_MINUTES=30\n");
    let output = bot()
        .current_dir(dir.path())
        .env("RESET_LINK_TTL_MINUTES", "61")
        .arg("run")
        .output()
        .unwrap();
    let stderr = one_line_error(output);
    assert!(stderr.starts_with("error: RESET_LINK_TTL_MINUTES is invalid: 61"), "{stderr}");
}

#[test]
fn malformed_dotenv_stops_every_command() {
    let dir = dir_with_dotenv("TELOXIDE_TOKEN=1:x\nthis line is not KEY=value\"\nPORT=1\n");
    for args in [&["run"][..], &["migrate"], &["accounts", "import", "x.csv"]] {
        let output = bot().current_dir(dir.path()).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("error: .env is unreadable"), "{args:?}: {stderr}");
    }
}

/// Like a bad variable, a bad `.env` line is one line of error.
#[test]
fn malformed_dotenv_is_one_line() {
    let dir = dir_with_dotenv("TELOXIDE_TOKEN=1:x\nthis line is not KEY=value\"\nPORT=1\n");
    let output = bot().current_dir(dir.path()).arg("migrate").output().unwrap();
    let stderr = one_line_error(output);
    assert!(stderr.starts_with("error: .env is unreadable"), "{stderr}");
}

/// The one-line error of a failure (exit code 1): the last line on stderr,
/// the only one that starts with `error:` (log lines may come before it).
fn failure_line(output: std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.trim_end().lines().last(), Some(errors[0]), "{stderr}");
    errors[0].to_owned()
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn run_without_the_bot_api_exits_1_naming_it() {
    let api = format!("http://127.0.0.1:{}/", closed_port());
    let output = bot()
        .arg("run")
        .env("TELOXIDE_TOKEN", "123:SECRET-TOKEN")
        .env("TELEGRAM_API_URL", &api)
        .env("HTTP_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    let line = failure_line(output);
    assert!(
        line.contains(&format!("the Telegram Bot API at {api} did not answer getMe")),
        "{line}"
    );
    assert!(line.contains("Connection refused"), "says why: {line}");
    assert!(!line.contains("SECRET-TOKEN"), "the token stays secret: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_a_taken_http_addr_exits_1_naming_it() {
    let tg = FakeTelegram::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = tokio::process::Command::from(bot())
        .arg("run")
        .env("TELOXIDE_TOKEN", "123:TEST")
        .env("TELEGRAM_API_URL", tg.api_url().as_str())
        .env("HTTP_ADDR", &addr)
        .output()
        .await
        .unwrap();
    let line = failure_line(output);
    assert!(line.starts_with(&format!("error: cannot listen on HTTP_ADDR {addr}")), "{line}");
    assert!(line.contains("in use"), "says why: {line}");
}

#[test]
fn an_unopenable_database_exits_1_for_every_command() {
    // A SQLite file under /dev/null cannot be created.
    let url = "sqlite:///dev/null/bot.db";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.csv"), "login,email,phone,full_name,company\n")
        .unwrap();
    for args in [&["run"][..], &["migrate"], &["accounts", "import", "accounts.csv"]] {
        let output = bot()
            .current_dir(dir.path())
            .args(args)
            .env("TELOXIDE_TOKEN", "123:TEST")
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        let line = failure_line(output);
        assert!(line.contains("database"), "{args:?}: {line}");
    }
}

/// An unreachable PostgreSQL server is named with the cause, by each
/// command (not sqlx's "pool timed out" after 10 s).
#[test]
fn an_unreachable_postgres_is_named_with_the_cause() {
    let url = format!("postgres://postgres@127.0.0.1:{}/bot", closed_port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.csv"), "login,email,phone,full_name,company\n")
        .unwrap();
    for args in [&["run"][..], &["migrate"], &["accounts", "import", "accounts.csv"]] {
        let output = bot()
            .current_dir(dir.path())
            .args(args)
            .env("TELOXIDE_TOKEN", "123:TEST")
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        let line = failure_line(output);
        assert!(line.contains("database"), "{args:?}: {line}");
        assert!(line.contains("refused"), "{args:?} says why: {line}");
    }
}

#[test]
fn import_of_an_unreadable_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        bot().current_dir(dir.path()).args(["accounts", "import", "missing.csv"]).output().unwrap();
    let line = failure_line(output);
    assert!(line.starts_with("error: cannot open missing.csv: No such file"), "{line}");

    std::fs::write(dir.path().join("short.csv"), "login,email\nivan,ivan@example.com\n").unwrap();
    let output =
        bot().current_dir(dir.path()).args(["accounts", "import", "short.csv"]).output().unwrap();
    let line = failure_line(output);
    assert_eq!(line, "error: missing required column(s): phone, full_name, company");
}

/// A database whose applied migration differs from the binary's stops
/// `migrate` and `run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_migration_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = bot().current_dir(dir.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let db = dir.path().join("data/crm-recovery-bot.db");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1")
        .bind(vec![0u8; 48])
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let output = bot().current_dir(dir.path()).arg("migrate").output().unwrap();
    let line = failure_line(output);
    assert!(line.contains("migration 1 was previously applied but has been modified"), "{line}");
    let output = bot()
        .current_dir(dir.path())
        .arg("run")
        .env("TELOXIDE_TOKEN", "123:TEST")
        .output()
        .unwrap();
    let line = failure_line(output);
    assert!(line.starts_with("error: cannot apply database migrations"), "{line}");
}
