//! The CRM signs a user in through `POST /api/v1/auth/login`: a right
//! password, a wrong one, an unknown login (the same answer), locks that
//! grow and lift, a block, a lapsed licence, and an operator's unlock.

use std::process::Command;

use crate::support::*;
use crm_recovery_bot::{
    domain::{Lang, LockoutPolicy, login_key},
    i18n::t_args,
};
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};

on_both_backends!(
    a_right_password_signs_in,
    wrong_passwords_and_unknown_logins_get_the_same_401,
    locks_grow_by_an_increment_up_to_the_maximum_and_reset_after_quiet_hours,
    unknown_logins_are_locked_exactly_like_known_ones,
    a_right_password_clears_the_count,
    fifty_concurrent_wrong_passwords_lock_once,
    a_password_reset_lifts_a_temporary_lock,
    a_permanent_lock_waits_for_the_operator,
    a_block_is_told_only_after_a_right_password,
    an_expired_licence_is_told_only_after_a_right_password,
    unreadable_bodies_are_400s_and_count_nothing,
    a_deactivated_account_signs_in_no_more_than_an_unknown_login,
    records_that_mean_nothing_any_more_are_pruned,
);

const TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";
const IVAN_PASSWORD: &str = "Old-Password-2024!";

async fn spawn(db: &TestDb) -> TestApp {
    spawn_with_lockout(db, LockoutPolicy::default()).await
}

async fn spawn_with_lockout(db: &TestDb, lockout: LockoutPolicy) -> TestApp {
    let app = TestApp::spawn_with(db, |config| {
        config.api_token = Some(TOKEN.into());
        config.lockout = lockout;
    })
    .await;
    app.import(ACCOUNTS_CSV).await;
    app
}

async fn login(app: &TestApp, login: &str, password: &str) -> Response {
    app.http
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .bearer_auth(TOKEN)
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("POST /api/v1/auth/login")
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json().await.expect("a JSON body")
}

/// Fails `n` times and returns the last answer.
async fn fail(app: &TestApp, name: &str, n: usize) -> Response {
    let mut last = None;
    for _ in 0..n {
        last = Some(login(app, name, "not the password at all").await);
    }
    last.expect("n > 0")
}

/// Checks a 423 for failed sign-ins that lifts at `until`, `retry_after`
/// seconds from now, in the body and the header.
async fn assert_locked_until(response: Response, until: &str, retry_after: u64) {
    assert_eq!(response.headers()[header::RETRY_AFTER], retry_after.to_string().as_str());
    let body = json_of(response, StatusCode::LOCKED).await;
    assert_eq!(body["error"], "locked", "{body}");
    assert_eq!(body["reason"], "failed_sign_ins", "{body}");
    assert_eq!(body["locked_until"], until, "{body}");
    assert_eq!(body["retry_after"], retry_after, "{body}");
}

fn count(events: &[String], name: &str) -> usize {
    events.iter().filter(|e| *e == name).count()
}

async fn a_right_password_signs_in(db: TestDb) {
    let app = spawn(&db).await;
    let body = json_of(login(&app, "ivan.petrov", IVAN_PASSWORD).await, StatusCode::OK).await;
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    assert_eq!(
        body,
        json!({"account_id": ivan.id.0, "login": "ivan.petrov", "credentials_version": 0,
            "password_change_required": false})
    );
    // The password is compared in its NFKC form: fullwidth "！" is "!".
    let fullwidth = IVAN_PASSWORD.replace('!', "！");
    assert_eq!(login(&app, "ivan.petrov", &fullwidth).await.status(), StatusCode::OK);
    let trail = app.store.audit_trail().await.unwrap();
    let signed_in = trail.iter().find(|r| r.event == "signed_in").expect("audited");
    assert_eq!(signed_in.account_id, Some(ivan.id));
    assert_eq!(signed_in.client_addr.as_deref(), Some("127.0.0.1"));
    app.stop().await;
}

async fn wrong_passwords_and_unknown_logins_get_the_same_401(db: TestDb) {
    let app = spawn(&db).await;
    let mut bodies = Vec::new();
    // A wrong password, an unknown login, an account without a password,
    // and a login that cannot exist.
    for name in ["ivan.petrov", "nobody.here", "anna.smith", "two words"] {
        let response = login(&app, name, "correct horse battery staple").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none(), "the token was fine");
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "{bodies:?}");
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(body["error"], "invalid_credentials");

    let trail = app.store.audit_trail().await.unwrap();
    let failed: Vec<_> = trail.iter().filter(|r| r.event == "sign_in_failed").collect();
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0].detail.as_deref(), Some("wrong_password, failure 1"));
    assert_eq!(failed[1].detail.as_deref(), Some("unknown_login, failure 1"));
    assert!(failed[0].account_id.is_some() && failed[1].account_id.is_none());
    assert!(failed.iter().all(|r| r.client_addr.as_deref() == Some("127.0.0.1")));
    app.stop().await;
}

async fn locks_grow_by_an_increment_up_to_the_maximum_and_reset_after_quiet_hours(db: TestDb) {
    let app = spawn(&db).await;
    let minutes = chrono::Duration::minutes;
    for _ in 0..4 {
        let response = fail(&app, "ivan.petrov", 1).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The fifth failure locks for ten minutes.
    assert_locked_until(fail(&app, "ivan.petrov", 1).await, "2026-11-25T09:10:00Z", 600).await;
    // During the lock even the right password is refused, and not counted.
    app.advance(minutes(4));
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD).await;
    assert_locked_until(response, "2026-11-25T09:10:00Z", 360).await;
    assert_eq!(fail(&app, "ivan.petrov", 3).await.status(), StatusCode::LOCKED);
    // The lock ends; the count starts from zero; the next lock waits 20 min.
    app.advance(minutes(6));
    assert_eq!(fail(&app, "ivan.petrov", 4).await.status(), StatusCode::UNAUTHORIZED);
    assert_locked_until(fail(&app, "ivan.petrov", 1).await, "2026-11-25T09:30:00Z", 1200).await;
    app.advance(minutes(20));
    assert_locked_until(fail(&app, "ivan.petrov", 5).await, "2026-11-25T10:00:00Z", 1800).await;
    app.advance(minutes(30));
    assert_locked_until(fail(&app, "ivan.petrov", 5).await, "2026-11-25T10:30:00Z", 1800).await;
    // Twelve quiet hours after the last failure forget the growth.
    app.advance(chrono::Duration::hours(12));
    assert_locked_until(fail(&app, "ivan.petrov", 5).await, "2026-11-25T22:10:00Z", 600).await;
    app.advance(minutes(10));
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::OK);

    let events = app.audit_events().await;
    assert_eq!(count(&events, "sign_in_locked"), 5);
    assert_eq!(count(&events, "sign_in_refused"), 4, "the attempts during the first lock");
    assert_eq!(count(&events, "sign_in_failed"), 25);
    app.stop().await;
}

/// The same sequence on a login nobody has gives the same answers: a lock
/// tells nothing about whether the login exists.
async fn unknown_logins_are_locked_exactly_like_known_ones(db: TestDb) {
    let app = spawn(&db).await;
    let mut answers = Vec::new();
    for name in ["ivan.petrov", "nobody.here"] {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let response = fail(&app, name, 1).await;
            statuses.push(response.status());
            let retry = response.headers().get(header::RETRY_AFTER).cloned();
            answers.push((retry, response.bytes().await.unwrap()));
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::LOCKED).count(), 2, "{name}");
    }
    let (ivan, nobody) = answers.split_at(6);
    assert_eq!(ivan, nobody);
    // Case and width do not make a new login to guess under.
    assert_eq!(fail(&app, "ＩＶＡＮ.Petrov", 1).await.status(), StatusCode::LOCKED);
    app.stop().await;
}

async fn a_right_password_clears_the_count(db: TestDb) {
    let app = spawn(&db).await;
    assert_eq!(fail(&app, "ivan.petrov", 4).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(fail(&app, "ivan.petrov", 4).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fail(&app, "ivan.petrov", 1).await.status(), StatusCode::LOCKED);
    app.stop().await;
}

async fn fifty_concurrent_wrong_passwords_lock_once(db: TestDb) {
    let app = spawn(&db).await;
    let attempts = (0..50).map(|_| login(&app, "ivan.petrov", "not the password at all"));
    let answers = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = answers.iter().map(Response::status).collect();
    let unauthorized = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let locked = statuses.iter().filter(|s| **s == StatusCode::LOCKED).count();
    assert_eq!((unauthorized, locked), (4, 46), "{statuses:?}");
    for answer in answers.into_iter().filter(|a| a.status() == StatusCode::LOCKED) {
        assert_locked_until(answer, "2026-11-25T09:10:00Z", 600).await;
    }
    let state = app.store.lockout_state(&login_key("ivan.petrov")).await.unwrap();
    assert_eq!(state.locks, 1);
    assert_eq!(state.failures, 0);
    assert_eq!(state.locked_until, Some(test_start() + chrono::Duration::minutes(10)));
    let events = app.audit_events().await;
    assert_eq!(count(&events, "sign_in_locked"), 1);
    assert_eq!(count(&events, "sign_in_failed"), 5);
    assert_eq!(count(&events, "sign_in_refused"), 45);
    app.stop().await;
}

async fn a_password_reset_lifts_a_temporary_lock(db: TestDb) {
    let app = spawn(&db).await;
    assert_eq!(fail(&app, "ivan.petrov", 5).await.status(), StatusCode::LOCKED);
    let user = ivan();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
    let new_password = "вечерний звон гремит над рекой";
    let done = app.post_password(&link, new_password, new_password).await;
    assert_eq!(done.status(), StatusCode::OK);
    app.tg.next_sent(user.id).await; // the "password changed" notice

    let body = json_of(login(&app, "ivan.petrov", new_password).await, StatusCode::OK).await;
    assert_eq!(body["credentials_version"], 1);
    // The growth stays: the next lock waits twenty minutes.
    assert_eq!(fail(&app, "ivan.petrov", 4).await.status(), StatusCode::UNAUTHORIZED);
    assert_locked_until(fail(&app, "ivan.petrov", 1).await, "2026-11-25T09:20:00Z", 1200).await;
    // Bound by the recovery, Ivan is told of the new lock (Moscow time).
    let told = app.tg.next_sent(user.id).await;
    let until = ("until", "12:20 по московскому времени (UTC+3)".into());
    let expected =
        t_args(Lang::Ru, "security-locked-until", &[("login", "ivan.petrov".into()), until]);
    assert!(told.text_str().starts_with(&expected), "{}", told.summary());
    app.stop().await;
}

/// `crm-recovery-bot accounts unlock LOGIN` on the test's database.
fn unlock(db: &TestDb, login: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"))
        .args(["accounts", "unlock", login])
        .env("DATABASE_URL", &db.config.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

async fn a_permanent_lock_waits_for_the_operator(db: TestDb) {
    let policy = LockoutPolicy { permanent_after: 1, ..LockoutPolicy::default() };
    let app = spawn_with_lockout(&db, policy).await;
    for name in ["ivan.petrov", "nobody.here"] {
        assert_eq!(fail(&app, name, 5).await.status(), StatusCode::LOCKED);
    }
    app.advance(chrono::Duration::minutes(10));
    for name in ["ivan.petrov", "nobody.here"] {
        let response = fail(&app, name, 5).await;
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body = json_of(response, StatusCode::LOCKED).await;
        assert_eq!(body["reason"], "failed_sign_ins");
        assert!(body.get("locked_until").is_none() && body.get("retry_after").is_none(), "{body}");
    }
    app.advance(chrono::Duration::days(400));
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::LOCKED);

    assert_eq!(unlock(&db, "ivan.petrov"), "ivan.petrov: lifted a permanent lock\n");
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::OK);
    // The growth went too: the next lock is a temporary one again.
    assert_eq!(fail(&app, "ivan.petrov", 5).await.headers()[header::RETRY_AFTER], "600");
    assert_eq!(unlock(&db, "nobody.here"), "nobody.here: lifted a permanent lock\n");
    assert_eq!(fail(&app, "nobody.here", 1).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unlock(&db, "olga.one"), "olga.one: nothing to unlock\n");

    let trail = app.store.audit_trail().await.unwrap();
    let unlocks: Vec<_> = trail.iter().filter(|r| r.event == "sign_in_unlocked").collect();
    assert_eq!(unlocks.len(), 2);
    assert_eq!(unlocks[0].detail.as_deref(), Some("by an operator: permanent lock"));
    assert!(unlocks[0].account_id.is_some() && unlocks[1].account_id.is_none());
    app.stop().await;
}

async fn a_block_is_told_only_after_a_right_password(db: TestDb) {
    let app = spawn(&db).await;
    assert!(
        app.store.set_account_blocked("ivan.petrov", Some(app.now()), app.now()).await.unwrap()
    );
    assert_eq!(fail(&app, "ivan.petrov", 1).await.status(), StatusCode::UNAUTHORIZED);
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD).await;
    assert!(response.headers().get(header::RETRY_AFTER).is_none());
    let body = json_of(response, StatusCode::LOCKED).await;
    assert_eq!(body["reason"], "blocked");
    assert!(body.get("locked_until").is_none() && body.get("retry_after").is_none(), "{body}");

    assert_eq!(unlock(&db, "ivan.petrov"), "ivan.petrov: lifted its failure count and a block\n");
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn an_expired_licence_is_told_only_after_a_right_password(db: TestDb) {
    let app = spawn(&db).await;
    app.import(
        "login,email,phone,full_name,company,password,license_expires_at\n\
         lapsed.user,lapsed@example.com,+79031112244,Lapsed User,Initech,\
         purple elephant dancing quietly,2026-10-31\n\
         current.user,current@example.com,+79031112255,Current User,Globex,\
         purple elephant dancing quietly,2026-11-25\n",
    )
    .await;
    let wrong = login(&app, "lapsed.user", "purple elephant dancing loudly").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = login(&app, "lapsed.user", "purple elephant dancing quietly").await;
    let body = json_of(right, StatusCode::FORBIDDEN).await;
    assert_eq!(body["error"], "license_expired");
    assert_eq!(body["license_expired_at"], "2026-10-31");
    // A licence runs through its last day.
    let today = login(&app, "current.user", "purple elephant dancing quietly").await;
    assert_eq!(today.status(), StatusCode::OK);
    app.stop().await;
}

async fn unreadable_bodies_are_400s_and_count_nothing(db: TestDb) {
    let app = spawn(&db).await;
    let url = format!("{}/api/v1/auth/login", app.base_url);
    let send = |body: String, content_type: &'static str| {
        app.http
            .post(&url)
            .bearer_auth(TOKEN)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let json = "application/json";
    let cases = [
        (r#"{"login": "ivan.petrov", "password": "#.to_owned(), "body"),
        (r#"{"login": "ivan.petrov"}"#.to_owned(), "password"),
        (r#"{"password": "x"}"#.to_owned(), "login"),
        (r#"{"login": 7, "password": "x"}"#.to_owned(), "login"),
        (r#"{"login": "ivan.petrov", "password": "x", "remember": true}"#.to_owned(), "remember"),
        (r#"{"login": "ivan.petrov", "password": "x", "totp": 123456}"#.to_owned(), "totp"),
        ("[]".to_owned(), "body"),
    ];
    for (body, field) in cases {
        let answer =
            json_of(send(body.clone(), json).await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!(answer["error"], "bad_request", "{body}");
        assert!(answer["fields"].get(field).is_some(), "{body}: {answer}");
    }
    let form = send("login=ivan.petrov&password=x".into(), "application/x-www-form-urlencoded");
    let answer = json_of(form.await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(answer["error"], "unsupported_media_type");
    let huge = json!({"login": "ivan.petrov", "password": "x".repeat(20_000)}).to_string();
    let answer = json_of(send(huge, json).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(answer["error"], "payload_too_large");
    // Only GET-less POST exists here.
    let get = app.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);

    let sign_ins: Vec<String> =
        app.audit_events().await.into_iter().filter(|e| e.contains("sign")).collect();
    assert_eq!(sign_ins, Vec::<String>::new());
    let state = app.store.lockout_state(&login_key("ivan.petrov")).await.unwrap();
    assert_eq!(state, Default::default());
    app.stop().await;
}

/// Every `LOCKOUT_*` setting, when bad, stops `run` with one line naming it.
#[test]
fn bad_lockout_settings_name_their_variable() {
    for (name, value) in [
        ("LOCKOUT_MAX_FAILURES", "0"),
        ("LOCKOUT_FIRST_WAIT_MINUTES", "ten"),
        ("LOCKOUT_WAIT_INCREMENT_MINUTES", "-1"),
        ("LOCKOUT_MAX_WAIT_MINUTES", "5"),
        ("LOCKOUT_FAILURE_RESET_HOURS", "0"),
        ("LOCKOUT_PERMANENT_AFTER", "101"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"))
            .arg("run")
            .current_dir(dir.path())
            .env("TELOXIDE_TOKEN", "1:x")
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {output:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("error: {name} is invalid")), "{name}: {stderr}");
    }
}

/// Deactivated by the CRM: the right password gets the same 401 as a login
/// that never existed.
async fn a_deactivated_account_signs_in_no_more_than_an_unknown_login(db: TestDb) {
    let app = spawn(&db).await;
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD).await.status(), StatusCode::OK);
    let deleted = app
        .http
        .delete(format!("{}/api/v1/accounts/ivan.petrov", app.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = json_of(login(&app, "ivan.petrov", IVAN_PASSWORD).await, StatusCode::UNAUTHORIZED);
    let unknown =
        json_of(login(&app, "no.such.user", IVAN_PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(gone.await, unknown.await);
    app.stop().await;
}

/// Unknown logins leave failure records behind; once a record can no
/// longer change an answer (no lock in force, no failure for the reset
/// window) it is removed. A lock in force is kept, and so is a permanent
/// one.
async fn records_that_mean_nothing_any_more_are_pruned(db: TestDb) {
    let app = spawn(&db).await;
    let reset = LockoutPolicy::default().failure_reset;
    fail(&app, "nobody.here", 2).await;
    fail(&app, "ivan.petrov", 5).await; // locked for ten minutes
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sign_in_failures")
            .fetch_one(app.raw_pool())
            .await
            .unwrap()
    };
    assert_eq!(app.store.prune_sign_in_failures(app.now(), reset).await.unwrap(), 0);
    assert_eq!(count().await, 2);
    app.advance(reset - chrono::Duration::minutes(1));
    assert_eq!(app.store.prune_sign_in_failures(app.now(), reset).await.unwrap(), 0);
    app.advance(chrono::Duration::minutes(1));
    assert_eq!(app.store.prune_sign_in_failures(app.now(), reset).await.unwrap(), 2);
    assert_eq!(count().await, 0);
    // A fresh start: four failures do not lock.
    assert_eq!(fail(&app, "ivan.petrov", 4).await.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
