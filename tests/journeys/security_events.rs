//! Security notifications: the CRM reports sign-ins, new devices and
//! password changes (`POST /api/v1/events`); this service knows its own
//! lockouts and resets. Telegram users bound to the account are told, once,
//! in their language, with an "It wasn't me" button; sign-ins and new
//! devices only if they turned those on.

use crate::support::*;
use chrono::Duration;
use crm_recovery_bot::{
    domain::{Lang, LockoutPolicy},
    i18n::{t, t_args},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    events_for_unknown_logins_are_accepted_and_tell_nobody,
    a_bound_user_hears_of_password_changes_and_lockouts_once,
    bad_reports_name_the_fields_at_fault,
);

const TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";
const NEW_PASSWORD: &str = "correct horse battery staple";

async fn spawn(db: &TestDb) -> TestApp {
    let app = TestApp::spawn_with(db, |config| {
        config.api_token = Some(TOKEN.into());
        config.lockout = LockoutPolicy { max_failures: 3, ..LockoutPolicy::default() };
    })
    .await;
    app.import(ACCOUNTS_CSV).await;
    app
}

async fn report(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/events", app.base_url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/events")
}

/// Anna recovers her password in the bot (and is bound by it).
async fn recover_anna(app: &TestApp, user: &TgUser) {
    app.open_forgot_password(user).await;
    let link = link_in(&app.share_own_phone(user, ANNA_PHONE).await);
    let done = app.post_password(&link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status(), StatusCode::OK);
    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("anna.smith"), "{}", notice.summary());
}

async fn events_for_unknown_logins_are_accepted_and_tell_nobody(db: TestDb) {
    let app = spawn(&db).await;
    let at = app.now().to_rfc3339();
    for login in ["nobody.here", "anna.smith"] {
        let answer =
            report(&app, json!({"login": login, "kind": "password_changed", "at": at})).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{login}");
        assert_eq!(answer.json::<Value>().await.unwrap(), json!({"accepted": true}));
    }
    // Nobody is bound to anna.smith yet; the unknown login left no row.
    let kept: Vec<(String,)> = sqlx::query_as(
        "SELECT a.login FROM security_events e JOIN accounts a ON a.id = e.account_id",
    )
    .fetch_all(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(kept, [("anna.smith".to_owned(),)]);
    assert!(app.tg.unread().is_empty(), "{:?}", app.tg.unread());
    app.stop().await;
}

async fn a_bound_user_hears_of_password_changes_and_lockouts_once(db: TestDb) {
    let app = spawn(&db).await;
    let user = anna();
    recover_anna(&app, &user).await;

    // The CRM echoing this service's own reset is not told twice; a sign-in
    // is not told to a user who did not turn that on.
    let now = app.now().to_rfc3339();
    report(&app, json!({"login": "anna.smith", "kind": "password_changed", "at": now})).await;
    report(&app, json!({"login": "anna.smith", "kind": "login_succeeded", "at": now})).await;

    // A change in the CRM an hour later is told, with where it came from
    // (escaped), and the same report sent twice is told once.
    app.advance(Duration::hours(1));
    let later = app.now().to_rfc3339();
    let body = json!({
        "login": "anna.smith",
        "kind": "password_changed",
        "ip": "203.0.113.5",
        "user_agent": "Evil <b>Browser</b>\n on Linux",
        "at": later,
    });
    assert_eq!(report(&app, body.clone()).await.status(), StatusCode::ACCEPTED);
    assert_eq!(report(&app, body).await.status(), StatusCode::ACCEPTED);
    let told = app.tg.next_sent(user.id).await;
    let expected = t_args(
        Lang::En,
        "security-password-changed",
        &[("login", "anna.smith".into()), ("time", "10:00 (UTC)".into()), ("day", "today".into())],
    );
    assert!(told.text_str().starts_with(&expected), "{}", told.summary());
    assert!(told.text_str().contains("203.0.113.5"), "{}", told.summary());
    assert!(
        told.text_str().contains("Evil &lt;b&gt;Browser&lt;/b&gt; on Linux"),
        "{}",
        told.summary()
    );
    assert!(told.callback_data_for(&t(Lang::En, "button-not-me")).is_some());

    // Failed sign-ins lock the account: told from here, once.
    for _ in 0..3 {
        let answer = app
            .http
            .post(format!("{}/api/v1/auth/login", app.base_url))
            .bearer_auth(TOKEN)
            .json(&json!({"login": "anna.smith", "password": "not the password at all"}))
            .send()
            .await
            .unwrap();
        assert_ne!(answer.status(), StatusCode::OK);
    }
    let locked = app.tg.next_sent(user.id).await;
    let expected = t_args(
        Lang::En,
        "security-locked-until",
        &[("login", "anna.smith".into()), ("until", "10:10 (UTC)".into())],
    );
    assert!(locked.text_str().starts_with(&expected), "{}", locked.summary());

    // "It wasn't me" under it acts: the bound user may block recovery.
    let not_me = locked.callback_data_for(&t(Lang::En, "button-not-me")).unwrap();
    app.tg.press_button(&user, &locked, &not_me);
    let answer = app.tg.next_sent(user.id).await;
    assert!(!answer.text_str().is_empty());
    let blocked: (Option<i64>,) =
        sqlx::query_as("SELECT recovery_blocked_at FROM accounts WHERE login = 'anna.smith'")
            .fetch_one(app.raw_pool())
            .await
            .unwrap();
    assert!(blocked.0.is_some());
    assert!(app.tg.unread().is_empty(), "told once each: {:?}", app.tg.unread());
    app.stop().await;
}

async fn bad_reports_name_the_fields_at_fault(db: TestDb) {
    let app = spawn(&db).await;
    let answer = report(&app, json!({"login": "anna.smith", "kind": "logout", "ip": "nope"})).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    let fields = body["fields"].as_object().unwrap();
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["at", "ip", "kind"], "{body}");
    let unknown = report(&app, json!({"login": "a", "kind": "new_device", "at": "x", "extra": 1}));
    assert_eq!(unknown.await.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}
