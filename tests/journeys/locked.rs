//! "My account is locked": through the identity step, the bot says why,
//! since when and until when, and offers to tell the user when it unlocks
//! or to reset the password now.

use crate::support::*;
use crm_recovery_bot::{domain::Lang, i18n::t};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    a_temporary_lock_is_explained_in_russian_and_notified_when_it_ends,
    the_unlock_notice_survives_a_restart_and_a_reset_cancels_it,
    an_account_that_is_not_locked_gets_a_diagnosis,
    an_administrative_block_is_explained_in_english,
    a_lapsed_subscription_is_told_on_the_way_to_a_new_password,
);

const TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";

async fn spawn(db: &TestDb) -> TestApp {
    let app = TestApp::spawn_with(db, |config| config.api_token = Some(TOKEN.into())).await;
    app.import(ACCOUNTS_CSV).await;
    app
}

/// Five wrong passwords through the CRM's sign-in API lock the login.
async fn lock(app: &TestApp, login: &str) {
    for _ in 0..5 {
        app.http
            .post(format!("{}/api/v1/auth/login", app.base_url))
            .bearer_auth(TOKEN)
            .json(&json!({"login": login, "password": "not the password at all"}))
            .send()
            .await
            .unwrap();
    }
}

/// /start → "My account is locked" → the contact → the explanation.
async fn explain(app: &TestApp, user: &TgUser, phone: &str) -> Sent {
    let lang = user_lang(user);
    app.tg.send_text(user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let locked = menu.callback_data_for(&t(lang, "menu-account-locked")).unwrap();
    app.tg.press_button(user, &menu, &locked);
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(lang, "locked-ask-phone"));
    app.share_own_phone(user, phone).await
}

async fn a_temporary_lock_is_explained_in_russian_and_notified_when_it_ends(db: TestDb) {
    let app = spawn(&db).await;
    lock(&app, "ivan.petrov").await;
    app.advance(chrono::Duration::minutes(3));
    let user = ivan();
    let explained = explain(&app, &user, IVAN_PHONE).await;
    let text = explained.text_str();
    // Locked at 09:00 UTC (12:00 in Moscow) for 10 minutes; it is 12:03 now.
    assert!(text.contains("после 5 неудачных попыток входа подряд"), "{text}");
    assert!(text.contains("с 12:00 по московскому времени (UTC+3)"), "{text}");
    assert!(text.contains("в 12:10 по московскому времени (UTC+3), через 7\u{a0}минут"), "{text}");
    let notify = explained.callback_data_for(&t(Lang::Ru, "button-notify-unlock")).unwrap();
    assert!(explained.callback_data_for(&t(Lang::Ru, "button-reset-now")).is_some());

    app.tg.press_button(&user, &explained, &notify);
    let promise = app.tg.next_sent(user.id).await;
    assert!(
        promise.text_str().contains("в 12:10 по московскому времени"),
        "{}",
        promise.text_str()
    );

    app.advance(chrono::Duration::minutes(7));
    let unlocked = app.tg.next_sent(user.id).await;
    assert!(unlocked.text_str().starts_with("Аккаунт ivan.petrov разблокирован"));
    app.stop().await;
}

async fn the_unlock_notice_survives_a_restart_and_a_reset_cancels_it(db: TestDb) {
    let mut app = spawn(&db).await;
    lock(&app, "anna.smith").await;
    let user = anna();
    let explained = explain(&app, &user, ANNA_PHONE).await;
    let notify = explained.callback_data_for(&t(Lang::En, "button-notify-unlock")).unwrap();
    app.tg.press_button(&user, &explained, &notify);
    app.tg.next_sent(user.id).await;

    // Queued before a restart, sent after it, once.
    app.restart().await;
    app.advance(chrono::Duration::minutes(10));
    let unlocked = app.tg.next_sent(user.id).await;
    assert_eq!(unlocked.text_str(), "Your account anna.smith is unlocked: you can sign in again.");

    // Locked again; this time the user resets the password at once.
    app.advance(chrono::Duration::hours(13));
    lock(&app, "anna.smith").await;
    let explained = explain(&app, &user, ANNA_PHONE).await;
    let notify = explained.callback_data_for(&t(Lang::En, "button-notify-unlock")).unwrap();
    app.tg.press_button(&user, &explained, &notify);
    app.tg.next_sent(user.id).await;
    let reset = explained.callback_data_for(&t(Lang::En, "button-reset-now")).unwrap();
    app.tg.press_button(&user, &explained, &reset);
    let link = link_in(&app.tg.next_sent(user.id).await);
    let password = "correct horse battery staple";
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::OK);
    app.tg.next_sent(user.id).await;
    // The reset lifted the lock: the notice is cancelled, not sent later.
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%unlock_notice%' \
         AND cancelled_at IS NOT NULL AND sent_at IS NULL",
    )
    .fetch_one(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(cancelled, 1);
    app.advance(chrono::Duration::minutes(30));
    app.start_chat(&user).await;
    app.stop().await;
}

async fn an_account_that_is_not_locked_gets_a_diagnosis(db: TestDb) {
    let app = spawn(&db).await;
    let user = anna();
    let explained = explain(&app, &user, ANNA_PHONE).await;
    assert!(explained.text_str().starts_with("Nothing is blocking your account anna.smith"));
    assert!(explained.text_str().contains("Caps Lock"));
    assert!(explained.callback_data_for(&t(Lang::En, "button-notify-unlock")).is_none());
    let reset = explained.callback_data_for(&t(Lang::En, "button-reset-now")).unwrap();
    app.tg.press_button(&user, &explained, &reset);
    link_in(&app.tg.next_sent(user.id).await);
    app.stop().await;
}

async fn an_administrative_block_is_explained_in_english(db: TestDb) {
    let app = spawn(&db).await;
    let blocked = app
        .http
        .put(format!("{}/api/v1/accounts/anna.smith", app.base_url))
        .bearer_auth(TOKEN)
        .json(&json!({"blocked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::OK);
    let user = anna();
    let explained = explain(&app, &user, ANNA_PHONE).await;
    let text = explained.text_str();
    assert!(
        text.starts_with("Your account anna.smith has been blocked by your company's CRM administrator since 09:00 (UTC)"),
        "{text}"
    );
    let buttons: Vec<String> = explained.inline_buttons().into_iter().map(|b| b.0).collect();
    assert_eq!(
        buttons,
        [t(Lang::En, "button-talk-to-support"), t(Lang::En, "button-back-to-menu")],
        "support only, or back"
    );
    app.stop().await;
}

/// A new password does not help while the company's subscription has
/// lapsed: the reset path says so beside the link.
async fn a_lapsed_subscription_is_told_on_the_way_to_a_new_password(db: TestDb) {
    let app = spawn(&db).await;
    app.import(
        "login,email,phone,full_name,company,license_expires_at\n\
         anna.smith,anna@example.com,+447911123456,Anna Smith,Globex,2026-11-01\n",
    )
    .await;
    app.open_forgot_password(&anna()).await;
    let link_message = app.share_own_phone(&anna(), ANNA_PHONE).await;
    link_in(&link_message);
    assert!(
        link_message.text_str().contains("your company's subscription ended on 01.11.2026"),
        "{}",
        link_message.text_str()
    );
    app.stop().await;
}
