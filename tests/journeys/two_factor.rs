//! Two-factor authentication as the CRM sees it: enrolment through the API
//! (once, 409 the second time, 409 without SECRET_KEY), sign-in that needs
//! the code (428 without it, 401 for a wrong or replayed one, counted by the
//! lockout), the clock skew allowed, turning it off, the shorter password
//! minimum and the change it requires afterwards, key rotation; and the
//! recovery functions the bot will call (backup codes, pending enrolment).

use std::sync::Arc;

use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use crm_recovery_bot::{
    config::secret_keys,
    domain::{LockoutPolicy, PublicUrls, SecretBox, SecretKey, TelegramUserId},
    recovery::{
        BackupCodeCheck, EnrolRefusal, EnrolmentCheck, HashingQueue, OutboxWaker, Policies,
        Recovery, TwoFactorSource,
    },
};
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::Row;

on_both_backends!(
    enrolment_answers_once_and_keeps_the_secret_sealed,
    sign_in_needs_the_code_and_takes_each_code_once,
    a_code_one_step_off_is_accepted_and_two_steps_off_is_not,
    wrong_codes_are_counted_like_wrong_passwords,
    deleting_turns_it_off,
    a_short_password_must_change_once_two_factor_is_off,
    the_reset_page_takes_the_shorter_minimum_with_two_factor,
    without_a_secret_key_enrolment_is_409,
    a_rotated_key_re_encrypts_the_secret_on_use,
    backup_codes_are_single_use_and_a_new_set_revokes_the_old,
    five_wrong_backup_codes_an_hour_then_wait,
    a_backup_code_binds_a_telegram_user,
    the_bots_enrolment_takes_effect_only_when_confirmed,
);

const TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";
const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const IVAN_PASSWORD: &str = "Old-Password-2024!";
/// Ten characters: allowed with 2FA (8), not without (15).
const SHORT_PASSWORD: &str = "Zq7#vK2!mP";

fn keys(current: &str, previous: Option<&str>) -> SecretBox {
    secret_keys(Some(current), previous).unwrap().unwrap()
}

async fn spawn_with_keys(db: &TestDb, secrets: Option<SecretBox>) -> TestApp {
    let app = TestApp::spawn_with(db, |config| {
        config.api_token = Some(TOKEN.into());
        config.secret_keys = secrets;
        config.page.brand_name = "Acme CRM".into();
    })
    .await;
    app.import(ACCOUNTS_CSV).await;
    app
}

async fn spawn(db: &TestDb) -> TestApp {
    spawn_with_keys(db, Some(keys(KEY_A, None))).await
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}/api/v1{path}", app.base_url)
}

async fn enrol(app: &TestApp, login: &str) -> Response {
    let path = format!("/accounts/{login}/two-factor");
    app.http.post(url(app, &path)).bearer_auth(TOKEN).send().await.expect("POST two-factor")
}

async fn turn_off(app: &TestApp, login: &str) -> Response {
    let path = format!("/accounts/{login}/two-factor");
    app.http.delete(url(app, &path)).bearer_auth(TOKEN).send().await.expect("DELETE two-factor")
}

async fn login(app: &TestApp, name: &str, password: &str, totp: Option<&str>) -> Response {
    let mut body = json!({"login": name, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    app.http
        .post(url(app, "/auth/login"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/auth/login")
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json().await.expect("a JSON body")
}

/// Enrols `name` and returns the answer's body.
async fn enrolled(app: &TestApp, name: &str) -> Value {
    json_of(enrol(app, name).await, StatusCode::CREATED).await
}

/// The code an authenticator app shows at `at`, computed here with
/// totp-rs from the secret the API gave.
fn code_at(secret_base32: &str, at: DateTime<Utc>) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
    let totp = totp_rs::Builder::new().with_secret(secret).build().expect("RFC 6238 defaults");
    totp.generate(u64::try_from(at.timestamp()).unwrap()).to_string()
}

fn secret_of(body: &Value) -> String {
    body["secret"].as_str().expect("a secret").to_owned()
}

fn steps(n: i64) -> Duration {
    Duration::seconds(30 * n)
}

/// The audit rows of `event`, as (outcome, detail).
async fn audited(app: &TestApp, event: &str) -> Vec<(String, Option<String>)> {
    let trail = app.store.audit_trail().await.unwrap();
    trail.into_iter().filter(|r| r.event == event).map(|r| (r.outcome, r.detail)).collect()
}

/// The body a wrong password gets, byte for byte.
async fn wrong_password_body(app: &TestApp) -> Vec<u8> {
    let response = login(app, "nobody.here", "not the password at all", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    response.bytes().await.unwrap().to_vec()
}

async fn enrolment_answers_once_and_keeps_the_secret_sealed(db: TestDb) {
    let app = spawn(&db).await;
    let body = enrolled(&app, "ivan.petrov").await;
    let secret = secret_of(&body);
    assert_eq!(secret.len(), 32, "160 bits in base32");
    assert_eq!(
        body["otpauth_uri"],
        format!("otpauth://totp/Acme%20CRM:ivan.petrov?secret={secret}&issuer=Acme%20CRM")
    );
    let codes: Vec<&str> =
        body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(groups.iter().all(|g| g.len() == 4), "{code}");
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
    }

    // Again: 409, and the first secret stays.
    let response = enrol(&app, "ivan.petrov").await;
    let again = json_of(response, StatusCode::CONFLICT).await;
    assert_eq!(again["error"], "two_factor_already_on", "{again}");
    // An unknown login.
    let unknown = json_of(enrol(&app, "nobody.here").await, StatusCode::NOT_FOUND).await;
    assert_eq!(unknown["error"], "not_found");

    // What the database keeps: the secret sealed, never in the clear.
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    let row = sqlx::query(
        "SELECT key_id, nonce, secret_sealed, enabled_at, last_step FROM two_factor \
         WHERE account_id = $1",
    )
    .bind(ivan.id.0)
    .fetch_one(app.raw_pool())
    .await
    .unwrap();
    let key_id: String = row.get("key_id");
    assert_eq!(key_id, SecretKey::parse_hex(KEY_A).unwrap().id());
    let sealed: Vec<u8> = row.get("secret_sealed");
    let nonce: Vec<u8> = row.get("nonce");
    assert_eq!((sealed.len(), nonce.len()), (20 + 16, 24));
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap().as_bytes().to_vec();
    for column in [&sealed, &nonce] {
        assert!(!column.windows(raw.len()).any(|w| w == raw.as_slice()), "the secret's bytes");
        assert!(!column.windows(4).any(|w| raw.windows(4).any(|r| r == w)), "any 4 of them");
        assert!(!String::from_utf8_lossy(column).contains(&secret), "the base32 secret");
    }
    assert_eq!(row.get::<i64, _>("enabled_at"), app.now().timestamp());
    assert_eq!(row.get::<Option<i64>, _>("last_step"), None);
    // The backup codes: ten argon2id hashes, none holding its code.
    let hashes: Vec<String> = sqlx::query(
        "SELECT code_hash FROM backup_codes WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(ivan.id.0)
    .fetch_all(app.raw_pool())
    .await
    .unwrap()
    .iter()
    .map(|row| row.get("code_hash"))
    .collect();
    assert_eq!(hashes.len(), 10);
    for (hash, code) in hashes.iter().zip(&codes) {
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(&code.replace('-', "")) && !hash.contains(code));
    }
    // Nothing secret in the audit trail either.
    let trail = app.store.audit_trail().await.unwrap();
    for row in &trail {
        let detail = row.detail.clone().unwrap_or_default();
        assert!(!detail.contains(&secret), "{detail}");
    }
    assert_eq!(audited(&app, "two_factor_enabled").await, [("ok".into(), Some("api".into()))]);
    assert_eq!(
        audited(&app, "backup_codes_issued").await,
        [("ok".into(), Some("10 codes".into()))]
    );
    assert_eq!(
        audited(&app, "two_factor_enrolment_refused").await,
        [("refused".into(), Some("api: already_on".into()))]
    );
    app.stop().await;
}

async fn sign_in_needs_the_code_and_takes_each_code_once(db: TestDb) {
    let app = spawn(&db).await;
    let secret = secret_of(&enrolled(&app, "ivan.petrov").await);

    // The right password alone: 428, and nothing counted.
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, None).await;
    let body = json_of(response, StatusCode::PRECONDITION_REQUIRED).await;
    assert_eq!(body["error"], "totp_required", "{body}");
    assert!(body["message"].as_str().unwrap().contains("totp"), "{body}");
    // An empty code is no code.
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(" ")).await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    // A wrong password with a code is a wrong password: 401, not 428.
    let code = code_at(&secret, app.now());
    let response = login(&app, "ivan.petrov", "not the password at all", Some(&code)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The right code: 200.
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["login"], "ivan.petrov");
    assert_eq!(body["password_change_required"], false);
    // The same code again, in the same window: refused, as a wrong
    // password is, byte for byte.
    let expected = wrong_password_body(&app).await;
    let replay = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(replay.bytes().await.unwrap().to_vec(), expected);
    // The next window's code works.
    app.advance(steps(1));
    let next = code_at(&secret, app.now());
    assert_eq!(
        login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&next)).await.status(),
        StatusCode::OK
    );

    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    let last_step: Option<i64> =
        sqlx::query("SELECT last_step FROM two_factor WHERE account_id = $1")
            .bind(ivan.id.0)
            .fetch_one(app.raw_pool())
            .await
            .unwrap()
            .get("last_step");
    assert_eq!(last_step, Some(app.now().timestamp() / 30));
    let refused = audited(&app, "sign_in_refused").await;
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|(_, detail)| detail.as_deref() == Some("totp_required")));
    let failed: Vec<_> =
        audited(&app, "sign_in_failed").await.into_iter().filter_map(|(_, d)| d).collect();
    assert!(failed.contains(&"replayed_totp, failure 1".to_owned()), "{failed:?}");
    app.stop().await;
}

async fn a_code_one_step_off_is_accepted_and_two_steps_off_is_not(db: TestDb) {
    let app = spawn(&db).await;
    let secret = secret_of(&enrolled(&app, "ivan.petrov").await);
    let now = app.now();
    let sign_in = |code: String| {
        let app = &app;
        async move { login(app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await.status() }
    };
    // Two steps either side: refused.
    assert_eq!(sign_in(code_at(&secret, now - steps(2))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(code_at(&secret, now + steps(2))).await, StatusCode::UNAUTHORIZED);
    // One step behind (a code typed as its window ended): accepted.
    assert_eq!(sign_in(code_at(&secret, now - steps(1))).await, StatusCode::OK);
    // One step ahead (a phone's clock a little fast): accepted.
    assert_eq!(sign_in(code_at(&secret, now + steps(1))).await, StatusCode::OK);
    // Now that a later step was accepted, the current one is spent too.
    assert_eq!(sign_in(code_at(&secret, now)).await, StatusCode::UNAUTHORIZED);
    // At the last second of the window a code is still its window's.
    app.advance(steps(2) - Duration::seconds(1));
    assert_eq!(sign_in(code_at(&secret, app.now())).await, StatusCode::UNAUTHORIZED, "spent");
    app.advance(Duration::seconds(1));
    assert_eq!(sign_in(code_at(&secret, app.now())).await, StatusCode::OK, "a new window");
    app.stop().await;
}

async fn wrong_codes_are_counted_like_wrong_passwords(db: TestDb) {
    let app = spawn(&db).await;
    let secret = secret_of(&enrolled(&app, "ivan.petrov").await);
    let expected = wrong_password_body(&app).await;
    let wrong = if code_at(&secret, app.now()) == "000000" { "111111" } else { "000000" };
    for n in 1..=4 {
        let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(wrong)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "try {n}");
        assert_eq!(response.bytes().await.unwrap().to_vec(), expected, "the same body");
        // The right password alone clears nothing in between.
        let alone = login(&app, "ivan.petrov", IVAN_PASSWORD, None).await;
        assert_eq!(alone.status(), StatusCode::PRECONDITION_REQUIRED);
    }
    // The fifth failure locks, as a fifth wrong password would.
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(wrong)).await;
    let body = json_of(response, StatusCode::LOCKED).await;
    assert_eq!(body["reason"], "failed_sign_ins", "{body}");
    assert_eq!(body["retry_after"], LockoutPolicy::default().first_wait.num_seconds());
    // During the lock even the right code is refused.
    let right = code_at(&secret, app.now());
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&right)).await;
    assert_eq!(response.status(), StatusCode::LOCKED);
    let failed: Vec<_> =
        audited(&app, "sign_in_failed").await.into_iter().filter_map(|(_, d)| d).collect();
    assert_eq!(failed[1], "wrong_totp, failure 1", "{failed:?}");
    assert_eq!(failed[5], "wrong_totp, failure 5", "{failed:?}");
    assert_eq!(audited(&app, "sign_in_locked").await.len(), 1);
    app.stop().await;
}

async fn deleting_turns_it_off(db: TestDb) {
    let app = spawn(&db).await;
    let first = secret_of(&enrolled(&app, "ivan.petrov").await);
    let response = turn_off(&app, "ivan.petrov").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The password alone signs in again.
    let body = json_of(login(&app, "ivan.petrov", IVAN_PASSWORD, None).await, StatusCode::OK).await;
    assert_eq!(body["password_change_required"], false, "a long password may stay");
    // Not on any more, or never on, or no such login: 404.
    for name in ["ivan.petrov", "anna.smith", "nobody.here"] {
        let body = json_of(turn_off(&app, name).await, StatusCode::NOT_FOUND).await;
        assert_eq!(body["error"], "not_found", "{name}");
    }
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM two_factor")
        .fetch_one(app.raw_pool())
        .await
        .unwrap()
        .get("n");
    assert_eq!(rows, 0);
    let live: i64 = sqlx::query("SELECT COUNT(*) AS n FROM backup_codes WHERE revoked_at IS NULL")
        .fetch_one(app.raw_pool())
        .await
        .unwrap()
        .get("n");
    assert_eq!(live, 0, "the backup codes went with it");
    // A new enrolment gets a new secret.
    let second = secret_of(&enrolled(&app, "ivan.petrov").await);
    assert_ne!(first, second);
    assert_eq!(audited(&app, "two_factor_disabled").await, [("ok".into(), Some("api".into()))]);
    app.stop().await;
}

/// `accounts import` with one row changing Ivan's password.
async fn import_ivan_password(
    app: &TestApp,
    password: &str,
) -> crm_recovery_bot::recovery::ImportReport {
    app.import(&format!(
        "login,email,phone,full_name,company,password\n\
         ivan.petrov,ivan@example.com,+79161234567,Ivan Petrov,Acme,{password}\n"
    ))
    .await
}

async fn a_short_password_must_change_once_two_factor_is_off(db: TestDb) {
    let app = spawn(&db).await;
    // Without 2FA a ten-character password is refused by the import.
    let report = import_ivan_password(&app, SHORT_PASSWORD).await;
    assert_eq!(report.rejected, [(2, "password: shorter than 15 characters".to_owned())]);

    let secret = secret_of(&enrolled(&app, "ivan.petrov").await);
    // With 2FA it is allowed.
    let report = import_ivan_password(&app, SHORT_PASSWORD).await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    assert_eq!(ivan.password_length, Some(10));
    let code = code_at(&secret, app.now());
    let body =
        json_of(login(&app, "ivan.petrov", SHORT_PASSWORD, Some(&code)).await, StatusCode::OK)
            .await;
    assert_eq!(body["password_change_required"], false);

    // 2FA off: the short password still signs in, but must change.
    assert_eq!(turn_off(&app, "ivan.petrov").await.status(), StatusCode::NO_CONTENT);
    for _ in 0..2 {
        let response = login(&app, "ivan.petrov", SHORT_PASSWORD, None).await;
        let body = json_of(response, StatusCode::OK).await;
        assert_eq!(body["password_change_required"], true, "until it is changed");
    }
    // A long one set: no more.
    let report = import_ivan_password(&app, "correct horse battery staple").await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let response = login(&app, "ivan.petrov", "correct horse battery staple", None).await;
    assert_eq!(json_of(response, StatusCode::OK).await["password_change_required"], false);
    app.stop().await;
}

async fn the_reset_page_takes_the_shorter_minimum_with_two_factor(db: TestDb) {
    let app = spawn(&db).await;
    let secret = secret_of(&enrolled(&app, "anna.smith").await);
    app.open_forgot_password(&anna()).await;
    let link = link_in(&app.share_own_phone(&anna(), ANNA_PHONE).await);
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("At least 8 characters"), "{page}");
    let response = app.post_password(&link, SHORT_PASSWORD, SHORT_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let notice = app.tg.next_sent(anna().id).await;
    assert!(notice.text_str().contains("anna.smith"));
    let anna_row = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert_eq!(anna_row.password_length, Some(10));

    let code = code_at(&secret, app.now());
    let response = login(&app, "anna.smith", SHORT_PASSWORD, Some(&code)).await;
    assert_eq!(json_of(response, StatusCode::OK).await["password_change_required"], false);
    assert_eq!(turn_off(&app, "anna.smith").await.status(), StatusCode::NO_CONTENT);
    let response = login(&app, "anna.smith", SHORT_PASSWORD, None).await;
    assert_eq!(json_of(response, StatusCode::OK).await["password_change_required"], true);

    // Without 2FA the page asks for 15 again and refuses ten.
    app.open_forgot_password(&anna()).await;
    let link = link_in(&app.share_own_phone(&anna(), ANNA_PHONE).await);
    let page = app.get(&link).await.text().await.unwrap();
    assert!(page.contains("At least 15 characters"), "{page}");
    let response = app.post_password(&link, SHORT_PASSWORD, SHORT_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

async fn without_a_secret_key_enrolment_is_409(db: TestDb) {
    let app = spawn_with_keys(&db, None).await;
    let body = json_of(enrol(&app, "ivan.petrov").await, StatusCode::CONFLICT).await;
    assert_eq!(body["error"], "two_factor_unavailable", "{body}");
    assert!(body["message"].as_str().unwrap().contains("SECRET_KEY"), "{body}");
    // Sign-in is as before.
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD, None).await.status(), StatusCode::OK);
    assert_eq!(
        audited(&app, "two_factor_enrolment_refused").await,
        [("refused".into(), Some("api: unavailable".into()))]
    );
    app.stop().await;
}

async fn stored_key_id(app: &TestApp, login: &str) -> (String, Vec<u8>) {
    let account = app.store.account_by_login(login).await.unwrap().unwrap();
    let row = sqlx::query("SELECT key_id, secret_sealed FROM two_factor WHERE account_id = $1")
        .bind(account.id.0)
        .fetch_one(app.raw_pool())
        .await
        .unwrap();
    (row.get("key_id"), row.get("secret_sealed"))
}

async fn a_rotated_key_re_encrypts_the_secret_on_use(db: TestDb) {
    let id_a = SecretKey::parse_hex(KEY_A).unwrap().id().to_owned();
    let id_b = SecretKey::parse_hex(KEY_B).unwrap().id().to_owned();
    let app = spawn(&db).await;
    let secret = secret_of(&enrolled(&app, "ivan.petrov").await);
    let (key_id, sealed_a) = stored_key_id(&app, "ivan.petrov").await;
    assert_eq!(key_id, id_a);
    app.stop().await;

    // The operator rotates: SECRET_KEY=B, SECRET_KEY_PREVIOUS=A.
    let app = spawn_with_keys(&db, Some(keys(KEY_B, Some(KEY_A)))).await;
    assert_eq!(stored_key_id(&app, "ivan.petrov").await.0, id_a, "nothing changes unread");
    let code = code_at(&secret, app.now());
    assert_eq!(
        login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await.status(),
        StatusCode::OK
    );
    let (key_id, sealed_b) = stored_key_id(&app, "ivan.petrov").await;
    assert_eq!(key_id, id_b, "re-encrypted with the new key on use");
    assert_ne!(sealed_a, sealed_b);
    app.stop().await;

    // The old key can go now.
    let app = spawn_with_keys(&db, Some(keys(KEY_B, None))).await;
    app.advance(steps(1));
    let code = code_at(&secret, app.now());
    assert_eq!(
        login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// Nothing is queued by these recovery calls.
#[derive(Debug)]
struct NoOutbox;

impl OutboxWaker for NoOutbox {
    fn wake(&self) {}
}

/// The recovery service as the bot will hold it: the app's store, clock and
/// key.
fn bot_recovery(app: &TestApp) -> Recovery {
    Recovery::new(
        app.store.clone(),
        Arc::new(app.clock.clone()),
        Policies::default(),
        PublicUrls::new(app.base_url.parse().unwrap()),
        HashingQueue::new(4),
        Arc::new(NoOutbox),
    )
    .with_two_factor(Some(keys(KEY_A, None)), "Acme CRM")
}

fn codes_of(body: &Value) -> Vec<String> {
    body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect()
}

async fn backup_codes_are_single_use_and_a_new_set_revokes_the_old(db: TestDb) {
    let app = spawn(&db).await;
    let old = codes_of(&enrolled(&app, "ivan.petrov").await);
    let recovery = bot_recovery(&app);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap().id;
    assert_eq!(recovery.backup_codes_left(ivan).await.unwrap(), 10);

    // Typed carelessly: lower case, spaces instead of dashes.
    let typed = old[3].to_lowercase().replace('-', " ");
    let check = recovery.redeem_backup_code(ivan, &typed, None).await.unwrap();
    assert_eq!(check, BackupCodeCheck::Right { codes_left: 9 });
    let again = recovery.redeem_backup_code(ivan, &old[3], None).await.unwrap();
    assert_eq!(again, BackupCodeCheck::Wrong { left: 4 }, "single use");

    let new = recovery.regenerate_backup_codes(ivan).await.unwrap().expect("2FA is on");
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));
    let revoked = recovery.redeem_backup_code(ivan, &old[0], None).await.unwrap();
    assert_eq!(revoked, BackupCodeCheck::Wrong { left: 3 }, "the old set is revoked");
    let check = recovery.redeem_backup_code(ivan, &new[9], None).await.unwrap();
    assert_eq!(check, BackupCodeCheck::Right { codes_left: 9 });
    let state = recovery.two_factor_state(ivan).await.unwrap();
    assert!(state.is_on());
    assert_eq!(state.backup_codes_left, 9);

    // Off: no codes, nothing to regenerate.
    assert!(recovery.turn_off_two_factor(ivan, TwoFactorSource::Bot).await.unwrap());
    assert!(!recovery.turn_off_two_factor(ivan, TwoFactorSource::Bot).await.unwrap());
    assert_eq!(recovery.backup_codes_left(ivan).await.unwrap(), 0);
    assert_eq!(recovery.regenerate_backup_codes(ivan).await.unwrap(), None);
    let used = audited(&app, "backup_code_used").await;
    assert_eq!(used, [("ok".into(), Some("9 left".into())), ("ok".into(), Some("9 left".into()))]);
    let refused: Vec<_> =
        audited(&app, "backup_code_refused").await.into_iter().filter_map(|(_, d)| d).collect();
    assert_eq!(refused, ["wrong, 4 tries left", "wrong, 3 tries left"]);
    assert_eq!(audited(&app, "two_factor_disabled").await, [("ok".into(), Some("bot".into()))]);
    app.stop().await;
}

async fn five_wrong_backup_codes_an_hour_then_wait(db: TestDb) {
    let app = spawn(&db).await;
    let codes = codes_of(&enrolled(&app, "ivan.petrov").await);
    let recovery = bot_recovery(&app);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap().id;
    let first_try = app.now();
    for left in (0..5).rev() {
        let check = recovery.redeem_backup_code(ivan, "ABCD-EFGH-JKMN-PQRS", None).await.unwrap();
        assert_eq!(check, BackupCodeCheck::Wrong { left });
        app.advance(Duration::minutes(1));
    }
    // A sixth try, even with a right code, waits for the first to age out.
    let check = recovery.redeem_backup_code(ivan, &codes[0], None).await.unwrap();
    assert_eq!(check, BackupCodeCheck::TooMany { retry_at: first_try + Duration::hours(1) });
    app.advance(Duration::minutes(55));
    let check = recovery.redeem_backup_code(ivan, &codes[0], None).await.unwrap();
    assert_eq!(check, BackupCodeCheck::Right { codes_left: 9 });
    // Malformed input is a wrong try too, audited as such.
    let check = recovery.redeem_backup_code(ivan, "not a code", None).await.unwrap();
    assert_eq!(check, BackupCodeCheck::Wrong { left: 0 });
    let refused: Vec<_> =
        audited(&app, "backup_code_refused").await.into_iter().filter_map(|(_, d)| d).collect();
    assert_eq!(refused.len(), 7, "every try is audited: {refused:?}");
    assert_eq!(refused[5], "too_many_tries");
    assert_eq!(refused[6], "malformed, 0 tries left");
    app.stop().await;
}

async fn a_backup_code_binds_a_telegram_user(db: TestDb) {
    let app = spawn(&db).await;
    let codes = codes_of(&enrolled(&app, "ivan.petrov").await);
    let recovery = bot_recovery(&app);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap().id;
    let user = TelegramUserId(ivan_user().id);
    assert!(!app.store.is_bound(user, ivan).await.unwrap());
    let wrong = recovery.redeem_backup_code(ivan, "ABCD-EFGH-JKMN-PQRS", Some(user)).await.unwrap();
    assert_eq!(wrong, BackupCodeCheck::Wrong { left: 4 });
    assert!(!app.store.is_bound(user, ivan).await.unwrap(), "a wrong code binds nobody");
    let right = recovery.redeem_backup_code(ivan, &codes[1], Some(user)).await.unwrap();
    assert_eq!(right, BackupCodeCheck::Right { codes_left: 9 });
    assert!(app.store.is_bound(user, ivan).await.unwrap());
    let source: String = sqlx::query(
        "SELECT source FROM telegram_bindings WHERE tg_user_id = $1 AND account_id = $2",
    )
    .bind(user.0)
    .bind(ivan.0)
    .fetch_one(app.raw_pool())
    .await
    .unwrap()
    .get("source");
    assert_eq!(source, "backup_code");
    let trail = app.store.audit_trail().await.unwrap();
    let bound = trail.iter().find(|r| r.event == "telegram_bound").expect("audited");
    assert_eq!((bound.tg_user_id, bound.account_id), (Some(user), Some(ivan)));
    assert_eq!(bound.detail.as_deref(), Some("backup_code"));
    app.stop().await;
}

fn ivan_user() -> TgUser {
    ivan()
}

async fn the_bots_enrolment_takes_effect_only_when_confirmed(db: TestDb) {
    let app = spawn(&db).await;
    let recovery = bot_recovery(&app);
    let ivan = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap().id;
    let pending = recovery.start_enrolment(ivan).await.unwrap().expect("enrolment starts");
    assert!(pending.secret.otpauth_uri.starts_with("otpauth://totp/Acme%20CRM:ivan.petrov?"));
    assert_eq!(&pending.secret.qr_png().unwrap()[..4], b"\x89PNG");
    assert_eq!(pending.expires_at, app.now() + Duration::minutes(10));
    // Pending is not on: the password alone still signs in.
    let state = recovery.two_factor_state(ivan).await.unwrap();
    assert!(!state.is_on());
    assert_eq!(state.enrolment_expires_at, Some(pending.expires_at));
    assert_eq!(login(&app, "ivan.petrov", IVAN_PASSWORD, None).await.status(), StatusCode::OK);

    let secret = pending.secret.secret_base32.clone();
    let code = code_at(&secret, app.now());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(recovery.confirm_enrolment(ivan, wrong).await.unwrap(), EnrolmentCheck::Wrong);
    let EnrolmentCheck::Confirmed { backup_codes } =
        recovery.confirm_enrolment(ivan, &code).await.unwrap()
    else {
        panic!("the right code confirms");
    };
    assert_eq!(backup_codes.len(), 10);
    assert!(recovery.two_factor_state(ivan).await.unwrap().is_on());
    // The confirming code is spent; the next window's works.
    let response = login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&code)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.advance(steps(1));
    let next = code_at(&secret, app.now());
    assert_eq!(
        login(&app, "ivan.petrov", IVAN_PASSWORD, Some(&next)).await.status(),
        StatusCode::OK
    );
    // On already: a new start is refused until it is turned off.
    let refused = recovery.start_enrolment(ivan).await.unwrap().unwrap_err();
    assert_eq!(refused, EnrolRefusal::AlreadyOn);

    // An enrolment not confirmed in ten minutes lapses.
    assert!(recovery.turn_off_two_factor(ivan, TwoFactorSource::Bot).await.unwrap());
    let pending = recovery.start_enrolment(ivan).await.unwrap().unwrap();
    app.advance(Duration::minutes(10));
    let late = code_at(&pending.secret.secret_base32, app.now());
    assert_eq!(recovery.confirm_enrolment(ivan, &late).await.unwrap(), EnrolmentCheck::Expired);
    assert!(!recovery.two_factor_state(ivan).await.unwrap().is_on());
    app.stop().await;
}
