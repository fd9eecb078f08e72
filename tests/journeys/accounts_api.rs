//! The CRM keeps our accounts and companies in step over the HTTP API:
//! PUT creates or changes an account, DELETE deactivates it (the bot then
//! knows it no more than an unknown one), PUT on a company sets the
//! licence the bot's "subscription expired" answer reads.

use crate::support::*;
use crm_recovery_bot::{domain::Lang, i18n::t};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    put_creates_an_account_and_later_puts_change_only_what_they_name,
    bad_fields_are_named_in_one_answer,
    delete_deactivates_and_the_bot_no_longer_knows_the_account,
    a_phone_keeps_only_its_active_accounts,
    the_company_licence_follows_the_api,
);

fn token() -> String {
    "x".repeat(32)
}

async fn spawn_with_api(db: &TestDb) -> TestApp {
    TestApp::spawn_with(db, |config| config.api_token = Some(token())).await
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Response {
    let mut request =
        app.http.request(method, format!("{}/api/v1{path}", app.base_url)).bearer_auth(token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("API request")
}

/// The answer's JSON, after checking its status.
async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.expect("a JSON body")
}

/// The `fields` of a 400.
async fn field_errors(response: Response) -> serde_json::Map<String, Value> {
    let body = json_of(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "bad_request", "{body}");
    body["fields"].as_object().cloned().unwrap_or_else(|| panic!("fields in {body}"))
}

fn maria() -> Value {
    json!({
        "email": "Maria@Example.com",
        "phone": "+7 (903) 123-45-67",
        "full_name": "Maria Ivanova",
        "company": "Acme",
        "locale": "ru",
        "time_zone": "Europe/Moscow",
        "company_admin": true,
        "blocked": false,
        "active": true,
    })
}

async fn put_creates_an_account_and_later_puts_change_only_what_they_name(db: TestDb) {
    let app = spawn_with_api(&db).await;
    let created = call(&app, Method::PUT, "/accounts/maria.ivanova", Some(maria())).await;
    let created = json_of(created, StatusCode::OK).await;
    assert_eq!(
        created,
        json!({
            "login": "maria.ivanova",
            "email": "maria@example.com",
            "phone": "+79031234567",
            "full_name": "Maria Ivanova",
            "company": "Acme",
            "locale": "ru",
            "time_zone": "Europe/Moscow",
            "company_admin": true,
            "blocked": false,
            "blocked_at": null,
            "active": true,
            "deactivated_at": null,
        })
    );

    // Only the e-mail and the block: everything else stays.
    let changed = call(
        &app,
        Method::PUT,
        "/accounts/maria.ivanova",
        Some(json!({"email": "maria@acme.example", "blocked": true})),
    )
    .await;
    let changed = json_of(changed, StatusCode::OK).await;
    assert_eq!(changed["email"], "maria@acme.example");
    assert_eq!(
        (changed["blocked"].clone(), changed["blocked_at"].clone()),
        (json!(true), json!("2026-11-25T09:00:00Z"))
    );
    for kept in ["phone", "full_name", "company", "locale", "time_zone", "company_admin", "active"]
    {
        assert_eq!(changed[kept], created[kept], "{kept} kept");
    }

    // `null` clears an optional field; the same PUT again changes nothing.
    let cleared = json!({"time_zone": null, "locale": null, "blocked": false});
    let answer = call(&app, Method::PUT, "/accounts/maria.ivanova", Some(cleared.clone())).await;
    let answer = json_of(answer, StatusCode::OK).await;
    assert_eq!((answer["time_zone"].clone(), answer["locale"].clone()), (Value::Null, Value::Null));
    assert_eq!(answer["blocked_at"], Value::Null);
    let again = call(&app, Method::PUT, "/accounts/maria.ivanova", Some(cleared)).await;
    assert_eq!(json_of(again, StatusCode::OK).await, answer);

    let stored = app.store.account_by_login("maria.ivanova").await.unwrap().unwrap();
    assert_eq!((stored.lang, stored.time_zone, stored.company_admin), (None, None, true));

    // Each change is audited by field name, without values.
    let trail = app.store.audit_trail().await.unwrap();
    let rows: Vec<(&str, Option<&str>)> =
        trail.iter().map(|r| (r.event.as_str(), r.detail.as_deref())).collect();
    assert_eq!(
        rows,
        [
            ("account_created", Some("api: company_admin=true")),
            ("account_updated", Some("api: email, blocked=true")),
            ("account_updated", Some("api: locale, time_zone, blocked=false")),
        ]
    );
    assert!(trail.iter().all(|r| r.account_id == Some(stored.id)));
    app.stop().await;
}

async fn bad_fields_are_named_in_one_answer(db: TestDb) {
    let app = spawn_with_api(&db).await;
    let mut bad = maria();
    bad["email"] = json!("maria-at-example");
    bad["phone"] = json!("12");
    bad["locale"] = json!("de");
    bad["time_zone"] = json!("Mars/Base");
    bad["full_name"] = json!("  ");
    let fields = field_errors(call(&app, Method::PUT, "/accounts/maria", Some(bad)).await).await;
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["email", "full_name", "locale", "phone", "time_zone"]);
    assert_eq!(fields["locale"], "\"de\" is not one of en, ru");
    assert_eq!(fields["time_zone"], "\"Mars/Base\" is not an IANA zone like Europe/Moscow");

    // Creating needs every required field; the answer names the missing ones.
    let partial = json!({"email": "maria@example.com", "locale": "en"});
    let fields =
        field_errors(call(&app, Method::PUT, "/accounts/maria", Some(partial)).await).await;
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["company", "full_name", "phone"]);
    assert_eq!(fields["phone"], "missing (required to create an account)");

    // Wrong types, unknown fields, nulls for required fields, a bad login.
    let cases = [
        ("/accounts/maria", json!({"blocked": "yes"}), "blocked", "invalid type"),
        ("/accounts/maria", json!({"phone": 79031234567_i64}), "phone", "invalid type"),
        ("/accounts/maria", json!({"login": "other"}), "login", "unknown field"),
        ("/accounts/maria", json!({"email": null}), "email", "may not be null"),
        ("/accounts/two%20words", maria(), "login", "login contains spaces"),
    ];
    for (path, body, field, reason) in cases {
        let fields = field_errors(call(&app, Method::PUT, path, Some(body.clone())).await).await;
        let got = fields.get(field).and_then(Value::as_str).unwrap_or_default();
        assert!(got.starts_with(reason), "{body}: {fields:?}");
    }
    assert!(app.store.account_by_login("maria").await.unwrap().is_none(), "nothing stored");
    assert_eq!(app.audit_events().await, Vec::<String>::new());
    app.stop().await;
}

async fn delete_deactivates_and_the_bot_no_longer_knows_the_account(db: TestDb) {
    let app = spawn_with_api(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    let link = link_in(&link_message);

    let response = call(&app, Method::DELETE, "/accounts/anna.smith", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The live link stops working and its message is taken back.
    app.tg.wait_for_call("deletemessage").await;
    assert_eq!(app.tg.deleted(user.id), [link_message.message_id]);
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND);
    // The bot answers as for a phone it has never seen.
    app.open_forgot_password(&user).await;
    let answer = app.share_own_phone(&user, ANNA_PHONE).await;
    assert_eq!(answer.text_str(), t(Lang::En, "identity-no-account"));

    // Again: still deactivated, nothing more to do. Unknown: 404.
    let again = call(&app, Method::DELETE, "/accounts/anna.smith", None).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let unknown = call(&app, Method::DELETE, "/accounts/nobody", None).await;
    assert_eq!(json_of(unknown, StatusCode::NOT_FOUND).await["error"], "not_found");

    // A PUT that does not mention `active` keeps the account deactivated;
    // `"active": true` brings it back.
    let kept = call(
        &app,
        Method::PUT,
        "/accounts/anna.smith",
        Some(json!({"full_name": "Anna Smith-Jones"})),
    );
    let kept = json_of(kept.await, StatusCode::OK).await;
    assert_eq!(
        (kept["active"].clone(), kept["deactivated_at"].clone()),
        (json!(false), json!("2026-11-25T09:00:00Z"))
    );
    let back = call(&app, Method::PUT, "/accounts/anna.smith", Some(json!({"active": true}))).await;
    assert_eq!(json_of(back, StatusCode::OK).await["active"], true);
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);

    let trail = app.store.audit_trail().await.unwrap();
    let sync: Vec<(&str, Option<&str>)> = trail
        .iter()
        .filter(|r| r.event.starts_with("account_") && r.event != "account_not_found")
        .filter(|r| r.detail.as_deref().is_some_and(|d| d.starts_with("api")))
        .map(|r| (r.event.as_str(), r.detail.as_deref()))
        .collect();
    assert_eq!(
        sync,
        [
            ("account_deactivated", Some("api: 1 live link(s) revoked")),
            ("account_updated", Some("api: full_name")),
            ("account_reactivated", Some("api")),
        ]
    );
    app.stop().await;
}

async fn a_phone_keeps_only_its_active_accounts(db: TestDb) {
    let app = spawn_with_api(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = olga();
    // Offered both; one is deactivated before the pick: the pick is stale.
    app.open_forgot_password(&user).await;
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    let second = choice.inline_buttons()[1].1.clone().unwrap();
    let response = call(&app, Method::DELETE, "/accounts/olga.two", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.tg.press_button(&user, &choice, &second);
    let menu = app.tg.next_sent(user.id).await;
    assert_eq!(menu.text_str(), t(Lang::Ru, "button-stale"));

    // Now the phone has one account: no pick, the link comes at once.
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, OLGA_PHONE).await;
    let html = app.get(&link_in(&link_message)).await.text().await.unwrap();
    assert!(html.contains("olga.one"));
    app.stop().await;
}

/// "Subscription expired" for a user with one account: the bot's answer.
async fn subscription_answer(app: &TestApp, user: &TgUser, phone: &str) -> String {
    app.tg.send_text(user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let data = menu.callback_data_for(&t(user_lang(user), "menu-subscription-expired")).unwrap();
    app.tg.press_button(user, &menu, &data);
    app.tg.next_sent(user.id).await;
    app.share_own_phone(user, phone).await.text_str().to_owned()
}

async fn the_company_licence_follows_the_api(db: TestDb) {
    let app = spawn_with_api(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    let text = subscription_answer(&app, &user, ANNA_PHONE).await;
    assert!(text.contains("has no end date on file"), "{text}");

    let set = |body: Value| call(&app, Method::PUT, "/companies/Globex", Some(body));
    let answer =
        json_of(set(json!({"license_expires_at": "2026-12-31"})).await, StatusCode::OK).await;
    assert_eq!(answer, json!({"name": "Globex", "license_expires_at": "2026-12-31T23:59:59Z"}));
    let text = subscription_answer(&app, &user, ANNA_PHONE).await;
    assert!(text.contains("is active through 31 December 2026"), "{text}");

    let instant = json!({"license_expires_at": "2026-11-01T12:00:00+03:00"});
    let answer = json_of(set(instant).await, StatusCode::OK).await;
    assert_eq!(answer["license_expires_at"], "2026-11-01T09:00:00Z");
    let text = subscription_answer(&app, &user, ANNA_PHONE).await;
    assert!(text.contains("ended on 1 November 2026"), "{text}");

    let answer = json_of(set(json!({"license_expires_at": null})).await, StatusCode::OK).await;
    assert_eq!(answer["license_expires_at"], Value::Null);
    let text = subscription_answer(&app, &user, ANNA_PHONE).await;
    assert!(text.contains("has no end date on file"), "{text}");

    // A name with spaces and non-ASCII letters, URL-encoded; a company the
    // CRM names before any of its accounts arrives.
    let path = "/companies/%D0%A0%D0%BE%D0%BC%D0%B0%D1%88%D0%BA%D0%B0%20Ltd";
    let body = json!({"license_expires_at": "2027-01-31"});
    let answer = json_of(call(&app, Method::PUT, path, Some(body)).await, StatusCode::OK).await;
    assert_eq!(answer["name"], "Ромашка Ltd");

    // The field is required; a bad date is named.
    let fields = field_errors(set(json!({})).await).await;
    assert_eq!(fields["license_expires_at"], "missing");
    let fields = field_errors(set(json!({"license_expires_at": "soon"})).await).await;
    assert_eq!(fields["license_expires_at"], "\"soon\" is not a date (2026-12-31 or RFC 3339)");

    let trail = app.store.audit_trail().await.unwrap();
    let licence: Vec<&str> = trail
        .iter()
        .filter(|r| r.event == "company_licence_set")
        .filter_map(|r| r.detail.as_deref())
        .collect();
    assert_eq!(
        licence,
        [
            "api: Globex: 2026-12-31T23:59:59+00:00 (was none)",
            "api: Globex: 2026-11-01T09:00:00+00:00 (was 2026-12-31T23:59:59+00:00)",
            "api: Globex: none (was 2026-11-01T09:00:00+00:00)",
            "api: Ромашка Ltd: 2027-01-31T23:59:59+00:00 (was none)",
        ]
    );
    app.stop().await;
}
