//! Two replicas in webhook mode on one database behave as one bot: one
//! chat's updates, posted to them in turn, are each answered once and in
//! the order they were sent (a replica claims a whole chat's pending
//! updates; the other leaves that chat alone until they are handled).

use crm_recovery_bot::{domain::Lang, http::SECRET_HEADER, i18n::t};
use reqwest::StatusCode;

use crate::support::*;

// Replicas share PostgreSQL (SQLite allows one `run`): PostgreSQL only.
async fn on_postgres<F: std::future::Future<Output = ()>>(journey: impl FnOnce(TestDb) -> F) {
    match TestDb::postgres().await {
        Some(db) => journey(db).await,
        // On CI a missing database must not pass as a skip.
        None if std::env::var_os("CI").is_some() => {
            panic!("CI is set but TEST_DATABASE_URL is not")
        }
        None => eprintln!("TEST_DATABASE_URL is not set: PostgreSQL run skipped"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chat_posted_to_two_replicas_on_postgres() {
    on_postgres(one_chat_posted_to_two_replicas_is_answered_once_in_order).await;
}

const SECRET: &str = "replicas_SECRET-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_conversation_on_postgres() {
    on_postgres(a_replica_killed_mid_conversation_leaves_it_to_the_other).await;
}

async fn one_chat_posted_to_two_replicas_is_answered_once_in_order(db: TestDb) {
    let first = TestApp::spawn_webhook(&db, SECRET).await;
    let second = TestApp::spawn_webhook(&db, SECRET).await;
    // The second counted two replicas before sending anything, and took
    // half of each overall limit (the first learns it at its next beat).
    let whole = test_telegram_limits();
    let half = second.send_limits();
    assert_eq!(half.messages_per_sec_overall, whole.messages_per_sec_overall / 2);
    assert_eq!(
        half.messages_per_min_channel_or_supergroup,
        whole.messages_per_min_channel_or_supergroup / 2
    );
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

/// Two real processes behind a load balancer (each update to the next
/// replica in turn): a user's recovery starts on one, the replica that
/// answered the last step is killed (SIGKILL), and the other carries the
/// conversation on from the database, each step answered once.
async fn a_replica_killed_mid_conversation_leaves_it_to_the_other(db: TestDb) {
    use crate::operations::{finished, run_on_free_port, sigterm};

    let tg = FakeTelegram::start().await;
    tg.set_wait_timeout(std::time::Duration::from_secs(30));
    {
        let store = crm_recovery_bot::store::Store::connect(&db.config).await.unwrap();
        store.migrate().await.unwrap();
        let csv =
            "login,email,phone,full_name,company\nanna,anna@example.com,+79161234567,Anna,Acme\n";
        let policy = crm_recovery_bot::domain::PasswordPolicy::default();
        let report = crm_recovery_bot::recovery::import_accounts(
            &store,
            csv.as_bytes(),
            &policy,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 1);
        store.close().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let replica = || {
        let (mut command, port) = run_on_free_port(&tg, dir.path());
        let url = format!("http://127.0.0.1:{port}/telegram/webhook");
        command
            .env("DATABASE_URL", &db.config.url)
            .env("BOT_MODE", "webhook")
            .env("WEBHOOK_URL", &url)
            .env("WEBHOOK_SECRET", SECRET);
        let child = command.spawn().unwrap();
        (child, url)
    };
    let (mut first, first_url) = replica();
    tg.wait_for_calls("setwebhook", 1).await;
    let (mut second, second_url) = replica();
    tg.wait_for_calls("setwebhook", 2).await;
    // /start goes to the second, the button to the first, the contact to
    // the second again.
    tg.balance_webhook(&[second_url, first_url]);

    let user = anna();
    tg.send_text(&user, "/start");
    let menu = tg.next_sent(user.id).await;
    let forgot = menu
        .callback_data_for(&t(Lang::En, "menu-forgot-password"))
        .expect("the menu has the forgot-password button");
    tg.press_button(&user, &menu, &forgot);
    let prompt = tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::En, "reset-ask-phone"));
    // The first answered the button; now it dies without a word.
    first.kill().await.unwrap();
    let _ = first.wait().await;

    tg.send_contact(&user, "+79161234567", Some(user.id));
    // If the first died before recording the button as handled, its
    // claim lapses and the second handles the button again: that one
    // prompt comes twice (the message in flight), then the link.
    let link = tg.sent_until(user.id, |sent| sent.text_str().contains("/reset/")).await;
    assert!(link.link_preview_disabled(), "{}", link.summary());
    let sent: Vec<String> = tg.all_sent(user.id).iter().map(|s| s.text_str().to_owned()).collect();
    let prompts = sent.iter().filter(|text| **text == t(Lang::En, "reset-ask-phone")).count();
    assert!(matches!((sent.len(), prompts), (3, 1) | (4, 2)), "{sent:#?}");
    let posts = tg.webhook_posts();
    assert!(posts.iter().all(|post| post.status == Some(200)), "{posts:?}");
    assert_eq!(posts.len(), 3, "each update posted once: {posts:?}");

    sigterm(&mut second).await;
    assert!(finished(second).await.status.success());
}
