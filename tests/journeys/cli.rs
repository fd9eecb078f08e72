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
