//! Notices the bot sends on its own reach the user despite Telegram
//! failures and restarts.

use crate::support::*;
use crm_recovery_bot::{
    domain::{Delivery, Lang, NewDelivery},
    i18n::t,
};
use reqwest::StatusCode;

on_both_backends!(
    password_changed_notice_survives_telegram_failures,
    pending_notices_are_delivered_after_a_restart,
    notice_to_a_user_who_blocked_the_bot_is_given_up,
    a_notice_delivered_on_a_later_day_gives_the_date,
);

const PASSWORD: &str = "correct horse battery staple";

/// Anna asks for a reset link; returns it.
async fn anna_reset_link(app: &TestApp) -> String {
    app.import(ACCOUNTS_CSV).await;
    app.open_forgot_password(&anna()).await;
    link_in(&app.share_own_phone(&anna(), ANNA_PHONE).await)
}

/// Whether each sendMessage call to `chat_id` failed, in order.
fn send_attempts(app: &TestApp, chat_id: i64, text: &str) -> Vec<bool> {
    app.tg
        .calls("sendmessage")
        .iter()
        .filter(|c| c.params["chat_id"] == chat_id && c.params["text"] == text)
        .map(|c| c.failed)
        .collect()
}

async fn password_changed_notice_survives_telegram_failures(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let link = anna_reset_link(&app).await;
    // Telegram answers the next two sends with garbage (a failing proxy).
    app.tg.garble_next("sendmessage");
    app.tg.garble_next("sendmessage");
    let before = app.tg.calls("sendmessage").len();
    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);

    // Each retry waits for its backoff on the application's clock: once the
    // worker has recorded the failure, the clock moves past the pause.
    for failures in 1..=2 {
        app.tg.wait_for_calls("sendmessage", before + failures).await;
        app.outbox_row_settled("password_changed", failures as i64).await;
        app.advance(chrono::Duration::minutes(1));
    }
    let notice = app.tg.next_sent(anna().id).await;
    assert!(notice.text_str().contains("anna.smith"));
    assert!(notice.callback_data_for(&t(Lang::En, "button-not-me")).is_some());
    assert_eq!(send_attempts(&app, anna().id, notice.text_str()), [true, true, false]);
    // Stopping lets the worker finish recording the delivery.
    app.stop().await;

    let pool = db.raw_pool().await;
    let row = sqlx::query(
        "SELECT attempts, sent_at, last_error FROM outbox WHERE payload LIKE '%password_changed%'",
    )
    .fetch_one(&pool);
    let row = row.await.unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<i64, _>("attempts"), 3);
    assert!(row.get::<Option<i64>, _>("sent_at").is_some());
    assert!(row.get::<String, _>("last_error").contains("JSON"), "the cause is kept for operators");
    pool.close().await;
}

async fn pending_notices_are_delivered_after_a_restart(db: TestDb) {
    let mut app = TestApp::spawn(&db).await;
    app.start_chat(&anna()).await;
    app.stop_process().await;
    // Queued by a process that stopped before it could deliver.
    let payload = Delivery::RenderedMessage {
        chat: anna().id,
        html: "queued before the restart".into(),
        reply_markup: None,
    };
    app.store.enqueue(&NewDelivery::now(payload, app.now()), app.now()).await.unwrap();
    app.start_process().await;
    let notice = app.tg.next_sent(anna().id).await;
    assert_eq!(notice.text_str(), "queued before the restart");
    app.stop().await;
}

async fn notice_to_a_user_who_blocked_the_bot_is_given_up(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let anna_link = anna_reset_link(&app).await;
    app.open_forgot_password(&ivan()).await;
    let ivan_link = link_in(&app.share_own_phone(&ivan(), IVAN_PHONE).await);

    app.tg.block_bot(anna().id);
    assert_eq!(app.post_password(&anna_link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    let ivan_password = "вечерний звон гремит над рекой";
    let ok = app.post_password(&ivan_link, ivan_password, ivan_password).await;
    assert_eq!(ok.status(), StatusCode::OK);

    // Ivan's notice, queued after Anna's, arrives: the queue is not stuck.
    let notice = app.tg.next_sent(ivan().id).await;
    assert!(notice.text_str().contains("ivan.petrov"));
    // Anna's was refused once and not retried.
    let pool = db.raw_pool().await;
    let row = sqlx::query(
        "SELECT attempts, failed_at, last_error FROM outbox \
         WHERE payload LIKE '%password_changed%' AND payload LIKE $1",
    )
    .bind(format!("%\"to\":{}%", anna().id))
    .fetch_one(&pool)
    .await
    .unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<i64, _>("attempts"), 1);
    assert!(row.get::<Option<i64>, _>("failed_at").is_some());
    assert!(row.get::<String, _>("last_error").contains("blocked"));
    assert!(app.tg.all_sent(anna().id).iter().all(|m| !m.text_str().contains("anna.smith")));
    pool.close().await;
    app.stop().await;
}

/// Telegram was down past midnight: the notice that finally arrives says on
/// which day the password was changed, in a sentence built for a date.
async fn a_notice_delivered_on_a_later_day_gives_the_date(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let link = anna_reset_link(&app).await;
    app.tg.garble_next("sendmessage");
    let before = app.tg.calls("sendmessage").len();
    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    app.tg.wait_for_calls("sendmessage", before + 1).await;
    app.outbox_row_settled("password_changed", 1).await;
    app.advance(chrono::Duration::hours(20));
    let notice = app.tg.next_sent(anna().id).await;
    assert!(
        notice.text_str().contains("was changed on 25 November, 09:00 (UTC)."),
        "{}",
        notice.text_str()
    );
    app.stop().await;
}
