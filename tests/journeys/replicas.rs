//! Two replicas in webhook mode on one database behave as one bot: one
//! chat's updates, posted to them in turn, are each answered once and in
//! the order they were sent (a replica claims a whole chat's pending
//! updates; the other leaves that chat alone until they are handled).

use crm_recovery_bot::{domain::Lang, http::SECRET_HEADER, i18n::t};
use reqwest::StatusCode;

use crate::support::*;

// Replicas share PostgreSQL (SQLite allows one `run`): PostgreSQL only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chat_posted_to_two_replicas_on_postgres() {
    match TestDb::postgres().await {
        Some(db) => one_chat_posted_to_two_replicas_is_answered_once_in_order(db).await,
        // On CI a missing database must not pass as a skip.
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_DATABASE_URL is not")
        }
        None => eprintln!("TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
    }
}

const SECRET: &str = "replicas_SECRET-0123456789";

async fn one_chat_posted_to_two_replicas_is_answered_once_in_order(db: TestDb) {
    let first = TestApp::spawn_webhook(&db, SECRET).await;
    let second = TestApp::spawn_webhook(&db, SECRET).await;
    let user = anna();
    // Both fakes know the user (Telegram would: one bot, one chat).
    second.tg.text_update(&user, "hello");
    let commands = ["/help", "/privacy", "/language", "/help", "/privacy", "/language"];
    for (n, command) in commands.iter().enumerate() {
        let update = first.tg.text_update(&user, command);
        let replica = if n % 2 == 0 { &first } else { &second };
        let posted = replica
            .http
            .post(replica.webhook_url())
            .header(SECRET_HEADER, SECRET)
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), StatusCode::OK);
    }
    let expected: Vec<String> = commands
        .iter()
        .map(|command| match *command {
            "/help" => t(Lang::En, "help-text"),
            "/privacy" => t(Lang::En, "privacy-text"),
            _ => t(Lang::En, "language-prompt"),
        })
        .collect();
    // Wait until six answers came, from either replica.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answers = loop {
        let mut calls: Vec<_> = [&first, &second]
            .iter()
            .flat_map(|app| app.tg.calls("sendmessage"))
            .filter(|call| call.params["chat_id"].as_i64() == Some(user.id))
            .collect();
        if calls.len() >= commands.len() || std::time::Instant::now() > deadline {
            calls.sort_by_key(|call| call.at);
            break calls;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let texts: Vec<String> =
        answers.iter().map(|call| call.params["text"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(texts, expected, "each answered once, in order");
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE handled_at IS NULL")
        .fetch_one(first.raw_pool())
        .await
        .unwrap();
    assert_eq!(pending, 0);
    // Read what each fake holds, so that stopping finds nothing unread.
    for app in [&first, &second] {
        let _ = app.tg.all_sent(user.id);
        while !app.tg.unread().is_empty() {
            app.tg.next_sent(user.id).await;
        }
    }
    first.stop().await;
    second.stop().await;
}
