//! E-mail, the second channel, against a real SMTP server on loopback:
//! every reset link and password change is mailed to the account's address
//! with a "This wasn't me" link; the link asks before it acts, then blocks
//! recovery and tells the staff; mail waits out an SMTP server that is down.

use chrono::Duration;
use crm_recovery_bot::{
    config::MailConfig,
    domain::{BindingPolicy, Lang},
    i18n::{t, t_args},
};
use reqwest::StatusCode;

use crate::support::smtp::{SmtpServer, Stage};
use crate::support::telegram::GroupKind;
use crate::support::*;
use crate::support_desk::{GROUP, card_in_group};

on_both_backends!(
    every_recovery_is_mailed_and_the_mail_can_stop_it,
    a_dispute_from_the_first_mail_revokes_the_live_link,
    mail_waits_for_a_server_that_is_down,
    a_refused_mail_is_given_up_and_audited,
    a_new_telegram_user_types_the_mailed_code_first,
    a_mailed_code_allows_five_tries_for_ten_minutes_three_an_hour,
    a_pre_link_from_the_crm_binds_once,
    a_phone_change_unbinds_and_needs_a_second_proof_for_a_while,
    an_e_mail_change_is_told_to_both_addresses,
    a_new_telegram_user_waits_out_a_hold,
    a_hold_is_cancelled_from_the_mail_or_withdrawn_in_the_bot,
);

const FROM: &str = "CRM Support <support@example.com>";
const API_TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";

/// E-mail on; the phone alone is trusted (the second proof is tested on
/// its own below).
async fn mail_app(db: &TestDb, smtp: &SmtpServer) -> TestApp {
    mail_app_with(db, smtp, BindingPolicy::PhoneAlone).await
}

async fn mail_app_with(db: &TestDb, smtp: &SmtpServer, binding: BindingPolicy) -> TestApp {
    let url = smtp.url();
    let app = TestApp::spawn_with(db, |config| {
        config.mail = MailConfig::parse(Some(&url), Some(FROM)).expect("mail config");
        config.support.chat_id = Some(GROUP);
        config.binding = binding;
        config.api_token = Some(API_TOKEN.into());
    })
    .await;
    app.tg.add_group(GROUP, GroupKind::Supergroup);
    app.import(ACCOUNTS_CSV).await;
    app
}

/// The "This wasn't me" link in a mail's text.
fn dispute_link(text: &str) -> String {
    text.split_whitespace()
        .find(|word| word.contains("/dispute/"))
        .unwrap_or_else(|| panic!("no dispute link in {text}"))
        .to_owned()
}

async fn every_recovery_is_mailed_and_the_mail_can_stop_it(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&db, &smtp).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);

    let issued = smtp.next_mail().await;
    assert_eq!(issued.to, ["anna@example.com"]);
    assert_eq!(issued.from, "support@example.com");
    assert_eq!(issued.subject, "A password reset link was requested for anna.smith");
    let text = issued.text.clone().expect("a plain-text part");
    assert!(text.contains("Anna (id …02)"), "through which Telegram account: {text}");
    assert!(text.contains("09:00 (UTC)"), "when, in the account's zone: {text}");
    let html = issued.html.clone().expect("an HTML part");
    assert!(html.contains("/dispute/"), "{html}");

    let password = "correct horse battery staple";
    app.post_password(&link, password, password).await;
    app.tg.next_sent(user.id).await; // the Telegram notice
    let changed = smtp.next_mail().await;
    assert_eq!(changed.subject, "The password of anna.smith was changed");
    let dispute = dispute_link(changed.text.as_deref().unwrap_or_default());

    // Opening the link asks; it does nothing by itself.
    let page = app.get(&dispute).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains(&in_html(&t(Lang::En, "dispute-confirm-button"))), "{body}");
    let blocked: Option<i64> =
        sqlx::query_scalar("SELECT recovery_blocked_at FROM accounts WHERE login = 'anna.smith'")
            .fetch_one(app.raw_pool())
            .await
            .unwrap();
    assert_eq!(blocked, None, "a GET never acts");

    // Confirmed: blocked, the CRM's sessions dropped, staff told.
    let done = app.http.post(&dispute).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let (blocked, version): (Option<i64>, i64) = sqlx::query_as(
        "SELECT recovery_blocked_at, credentials_version FROM accounts WHERE login = 'anna.smith'",
    )
    .fetch_one(app.raw_pool())
    .await
    .unwrap();
    assert!(blocked.is_some());
    assert_eq!(version, 2, "the reset and the dispute each bumped it");
    let card = card_in_group(&app).await;
    assert!(card.text_str().starts_with("🚨"), "{}", card.summary());
    assert!(card.text_str().contains(&t(Lang::Ru, "desk-card-user-email")), "{}", card.summary());
    assert!(app.audit_events().await.contains(&"recovery_blocked".to_owned()));

    // Single use; and the bot sends no more links.
    let again = app.http.post(&dispute).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.open_forgot_password(&user).await;
    let refused = app.share_own_phone(&user, ANNA_PHONE).await;
    assert_eq!(refused.text_str(), t(Lang::En, "reset-recovery-blocked"));
    assert!(smtp.unread().is_empty(), "no mail for a refused link");
    app.stop().await;
}

async fn a_dispute_from_the_first_mail_revokes_the_live_link(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&db, &smtp).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
    let issued = smtp.next_mail().await;
    // Ivan's account speaks Russian and lives in Moscow.
    assert!(issued.subject.starts_with("Запрошена ссылка"), "{}", issued.subject);
    let text = issued.text.clone().unwrap_or_default();
    assert!(text.contains("12:00"), "Moscow time: {text}");
    let dispute = dispute_link(&text);
    let done = app.http.post(&dispute).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains(&in_html(&t(Lang::Ru, "dispute-done"))));
    // The link that was sent stops working, and its message is taken back.
    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    app.tg.wait_for_call("deletemessage").await;
    card_in_group(&app).await;
    app.stop().await;
}

async fn mail_waits_for_a_server_that_is_down(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let mut app = mail_app(&db, &smtp).await;
    smtp.set_down(true);
    let user = anna();
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    app.outbox_row_settled("mail", 1).await;
    // A restart while it waits loses nothing.
    app.restart().await;
    smtp.set_down(false);
    app.advance(Duration::seconds(5));
    let mail = smtp.next_mail().await;
    assert_eq!(mail.subject, "A password reset link was requested for anna.smith");
    assert!(smtp.unread().is_empty(), "sent once");
    app.stop().await;
}

async fn a_refused_mail_is_given_up_and_audited(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&db, &smtp).await;
    smtp.fail_next(Stage::Rcpt, 550, "5.1.1 No such user");
    let user = anna();
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    app.outbox_row_settled("mail", 1).await;
    let failed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%\"kind\":\"mail\"%' AND failed_at IS NOT NULL",
    )
    .fetch_one(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(failed, 1, "a 550 is final");
    let trail = app.store.audit_trail().await.unwrap();
    let audit = trail.iter().find(|row| row.event == "mail_failed").expect("audited");
    assert!(audit.detail.as_deref().unwrap_or_default().contains("550"), "{:?}", audit.detail);
    app.stop().await;
}

/// The six-digit code in a mail's text.
fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_owned()
}

/// A Telegram user that matches the phone but was never bound to the
/// account types a code mailed to the account's address before the link
/// comes; the typed code's message is deleted; a wrong code counts down;
/// once bound, the next recovery needs no code.
async fn a_new_telegram_user_types_the_mailed_code_first(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app_with(&db, &smtp, BindingPolicy::EmailCode).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let asked = app.share_own_phone(&user, ANNA_PHONE).await;
    assert!(asked.text_str().contains("a***@e******.com"), "{}", asked.summary());
    assert!(!asked.text_str().contains("/reset/"), "no link yet");
    let mail = smtp.next_mail().await;
    assert_eq!(mail.subject, "Your confirmation code for anna.smith");
    let code = code_in(mail.text.as_deref().unwrap_or_default());

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let typed = app.tg.send_text(&user, wrong);
    let answer = app.tg.next_sent(user.id).await;
    assert_eq!(answer.text_str(), t_args(Lang::En, "binding-code-wrong", &[("left", 4.into())]));
    assert!(app.tg.deleted(user.id).contains(&typed), "the typed code is deleted");

    app.tg.send_text(&user, &format!("{} {}", &code[..3], &code[3..]));
    let link = app.tg.next_sent(user.id).await;
    assert!(link.text_str().contains("/reset/"), "{}", link.summary());
    assert_eq!(
        smtp.next_mail().await.subject,
        "A password reset link was requested for anna.smith"
    );
    let events = app.audit_events().await;
    assert!(events.contains(&"telegram_bound".to_owned()), "{events:?}");

    // Bound now: the next recovery goes straight to the link.
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    smtp.next_mail().await;
    app.stop().await;
}

/// Five wrong tries spend a code (even the right one is refused then); a
/// code typed after ten minutes is refused; a fourth code in an hour is
/// refused with the time the next one may be asked for.
async fn a_mailed_code_allows_five_tries_for_ten_minutes_three_an_hour(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app_with(&db, &smtp, BindingPolicy::EmailCode).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let asked = app.share_own_phone(&user, ANNA_PHONE).await;
    let code = code_in(&smtp.next_mail().await.text.unwrap_or_default());
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        app.tg.send_text(&user, wrong);
        let answer = app.tg.next_sent(user.id).await;
        let expected = t_args(Lang::En, "binding-code-wrong", &[("left", left.into())]);
        assert_eq!(answer.text_str(), expected);
    }
    app.tg.send_text(&user, wrong);
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::En, "binding-code-expired"));
    app.tg.send_text(&user, &code);
    let spent = app.tg.next_sent(user.id).await;
    assert_eq!(spent.text_str(), t(Lang::En, "binding-code-expired"), "five tries spend it");

    // A second code, typed after eleven minutes.
    let new_code = asked.callback_data_for(&t(Lang::En, "button-new-code")).unwrap();
    app.tg.press_button(&user, &spent, &new_code);
    app.tg.next_sent(user.id).await;
    let second = code_in(&smtp.next_mail().await.text.unwrap_or_default());
    app.advance(Duration::minutes(11));
    app.tg.send_text(&user, &second);
    let late = app.tg.next_sent(user.id).await;
    assert_eq!(late.text_str(), t(Lang::En, "binding-code-expired"));

    // A third code this hour is sent; a fourth is not.
    app.tg.press_button(&user, &late, &new_code);
    app.tg.next_sent(user.id).await;
    smtp.next_mail().await;
    app.tg.press_button(&user, &late, &new_code);
    let refused = app.tg.next_sent(user.id).await;
    let expected = t_args(Lang::En, "binding-code-too-many", &[("time", "10:00 (UTC)".into())]);
    assert_eq!(refused.text_str(), expected);
    let refusals: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE event = 'binding_code_refused' ORDER BY id",
    )
    .fetch_all(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(refusals.iter().filter(|d| *d == "wrong").count(), 5, "{refusals:?}");
    assert!(refusals.contains(&"too_many_tries".to_owned()), "{refusals:?}");
    assert!(refusals.contains(&"expired".to_owned()), "{refusals:?}");
    app.stop().await;
}

/// `POST /api/v1/telegram-links` for a login.
async fn pre_link(app: &TestApp, login: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/telegram-links", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({ "login": login }))
        .send()
        .await
        .unwrap()
}

/// The CRM hands a signed-in user a deep link; confirming it in the bot
/// binds that Telegram account (no code at the next recovery) and tells the
/// account's address. Used twice, by another user, or expired, it gets one
/// neutral answer.
async fn a_pre_link_from_the_crm_binds_once(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app_with(&db, &smtp, BindingPolicy::EmailCode).await;
    assert_eq!(pre_link(&app, "nobody.here").await.status(), StatusCode::NOT_FOUND);
    let answer = pre_link(&app, "anna.smith").await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: serde_json::Value = answer.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    let prefix = format!("https://t.me/{}?start=", crate::support::telegram::BOT_USERNAME);
    let payload = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}")).to_owned();
    assert!(payload.starts_with("link-") && payload.len() <= 64, "{payload}");
    assert_eq!(body["expires_at"], "2026-11-25T09:10:00Z");

    let user = anna();
    app.tg.send_text(&user, &format!("/start {payload}"));
    let ask = app.tg.next_sent(user.id).await;
    assert!(ask.text_str().contains("an******th (Globex)"), "{}", ask.summary());
    let confirm = ask.callback_data_for(&t(Lang::En, "button-confirm-link")).unwrap();
    app.tg.press_button(&user, &ask, &confirm);
    let done = app.tg.next_sent(user.id).await;
    assert!(done.text_str().starts_with("Done"), "{}", done.summary());
    let told = smtp.next_mail().await;
    assert_eq!(told.subject, "A Telegram account was linked to anna.smith");

    // Bound: the recovery needs no code.
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    smtp.next_mail().await;

    // The same link again, by someone else: one neutral answer.
    let stranger = ivan();
    app.tg.send_text(&stranger, &format!("/start {payload}"));
    assert_eq!(app.tg.next_sent(stranger.id).await.text_str(), t(Lang::Ru, "prelink-invalid"));
    // A fresh link left for more than ten minutes.
    let late: serde_json::Value = pre_link(&app, "ivan.petrov").await.json().await.unwrap();
    let late = late["url"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_owned();
    app.advance(Duration::minutes(11));
    app.tg.send_text(&stranger, &format!("/start {late}"));
    assert_eq!(app.tg.next_sent(stranger.id).await.text_str(), t(Lang::Ru, "prelink-invalid"));
    app.stop().await;
}

/// `PUT /api/v1/accounts/{login}` with `body`.
async fn put_account(app: &TestApp, login: &str, body: serde_json::Value) -> reqwest::Response {
    app.http
        .put(format!("{}/api/v1/accounts/{login}", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The CRM changes the phone mid-recovery: the live link dies (its message
/// taken back), the bound Telegram user is told and unbound, the address
/// is told by mail; for the cooldown the phone alone binds nobody even
/// with `NEW_BINDING_POLICY=none` (a mailed code, or a pre-link).
async fn a_phone_change_unbinds_and_needs_a_second_proof_for_a_while(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&db, &smtp).await;
    let user = anna();
    // Bound through a pre-link.
    let body: serde_json::Value = pre_link(&app, "anna.smith").await.json().await.unwrap();
    let payload = body["url"].as_str().unwrap().split("start=").nth(1).unwrap().to_owned();
    app.tg.send_text(&user, &format!("/start {payload}"));
    let ask = app.tg.next_sent(user.id).await;
    let confirm = ask.callback_data_for(&t(Lang::En, "button-confirm-link")).unwrap();
    app.tg.press_button(&user, &ask, &confirm);
    app.tg.next_sent(user.id).await;
    smtp.next_mail().await;
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    smtp.next_mail().await;

    const NEW_PHONE: &str = "+447911123457";
    let changed = put_account(&app, "anna.smith", serde_json::json!({ "phone": NEW_PHONE })).await;
    let status = changed.status();
    assert_eq!(status, StatusCode::OK, "{}", changed.text().await.unwrap());
    let told = app.tg.next_sent(user.id).await;
    assert_eq!(
        told.text_str(),
        t_args(Lang::En, "contact-changed", &[("login", "anna.smith".into())])
    );
    let mail = smtp.next_mail().await;
    assert_eq!(mail.subject, "The contact details of anna.smith were changed");
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND, "the live link died");
    app.tg.wait_for_call("deletemessage").await;

    // The same Telegram user with the new number: a code first now.
    app.open_forgot_password(&user).await;
    let asked = app.share_own_phone(&user, &NEW_PHONE[1..]).await;
    assert!(asked.text_str().contains("a***@e******.com"), "{}", asked.summary());
    assert_eq!(smtp.next_mail().await.subject, "Your confirmation code for anna.smith");
    app.stop().await;
}

/// A changed e-mail is told to the old address and the new one.
async fn an_e_mail_change_is_told_to_both_addresses(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app(&db, &smtp).await;
    let changed =
        put_account(&app, "anna.smith", serde_json::json!({ "email": "anna@globex.example" }))
            .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let mut told: Vec<String> = Vec::new();
    for _ in 0..2 {
        let mail = smtp.next_mail().await;
        assert_eq!(mail.subject, "The contact details of anna.smith were changed");
        told.extend(mail.to);
    }
    told.sort();
    assert_eq!(told, ["anna@example.com", "anna@globex.example"]);
    app.stop().await;
}

/// The hold policy, waiting a day.
fn hold() -> BindingPolicy {
    BindingPolicy::Hold { wait: Duration::hours(24) }
}

/// The cancel link in a hold's mail.
fn hold_link(text: &str) -> String {
    text.split_whitespace()
        .find(|word| word.contains("/hold/"))
        .unwrap_or_else(|| panic!("no hold link in {text}"))
        .to_owned()
}

/// Under `NEW_BINDING_POLICY=hold` a Telegram user new to the account gets
/// no link but a wait; the address is told at once with a cancel link
/// (opening it cancels nothing); the bot says when the wait is over, and
/// asking again then binds the user and sends the link at once.
async fn a_new_telegram_user_waits_out_a_hold(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app_with(&db, &smtp, hold()).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let held = app.share_own_phone(&user, ANNA_PHONE).await;
    let until = "26 November, 09:00 (UTC)";
    let expected = t_args(
        Lang::En,
        "hold-started",
        &[("until", until.into()), ("email", "a***@e******.com".into())],
    );
    assert_eq!(held.text_str(), expected, "{}", held.summary());
    assert!(held.callback_data_for(&t(Lang::En, "button-withdraw-hold")).is_some());

    let mail = smtp.next_mail().await;
    assert_eq!(mail.to, ["anna@example.com"]);
    assert_eq!(mail.subject, "A new Telegram account asked to recover anna.smith");
    let text = mail.text.clone().unwrap_or_default();
    assert!(text.contains("Anna (id …02)") && text.contains(until), "{text}");
    assert!(!text.contains("/dispute/"), "{text}");
    let cancel = hold_link(&text);
    // A mail scanner opening the link cancels nothing.
    let page = app.get(&cancel).await;
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.unwrap();
    assert!(body.contains(&in_html(&t(Lang::En, "hold-page-button"))), "{body}");

    // Asking again before the end: still waiting.
    app.open_forgot_password(&user).await;
    let waiting = app.share_own_phone(&user, ANNA_PHONE).await;
    assert_eq!(waiting.text_str(), t_args(Lang::En, "hold-waiting", &[("until", until.into())]));

    // The bot says when it is over; asking again gets the link at once.
    app.advance(Duration::hours(24));
    let over = app.tg.next_sent(user.id).await;
    assert_eq!(over.text_str(), t(Lang::En, "hold-ended"));
    let again = over.callback_data_for(&t(Lang::En, "button-hold-ask-again")).unwrap();
    app.tg.press_button(&user, &over, &again);
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::En, "reset-ask-phone"));
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    assert_eq!(smtp.next_mail().await.subject, "A Telegram account was linked to anna.smith");
    assert_eq!(
        smtp.next_mail().await.subject,
        "A password reset link was requested for anna.smith"
    );
    let bound: (String,) = sqlx::query_as(
        "SELECT b.source FROM telegram_bindings b JOIN accounts a ON a.id = b.account_id \
         WHERE a.login = 'anna.smith' AND b.tg_user_id = $1",
    )
    .bind(user.id)
    .fetch_one(app.raw_pool())
    .await
    .unwrap();
    assert_eq!(bound.0, "hold");
    let events = app.audit_events().await;
    assert!(events.contains(&"binding_hold_started".to_owned()), "{events:?}");
    assert!(events.contains(&"telegram_bound".to_owned()), "{events:?}");
    // Used: the cancel link no longer works.
    assert_eq!(app.http.post(&cancel).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// The account's address cancels a hold from its mail (asked, then done,
/// once): the waiting user is told and gets nothing, now or later. A user
/// may also withdraw their own request, after which nothing is said when
/// the wait would have ended.
async fn a_hold_is_cancelled_from_the_mail_or_withdrawn_in_the_bot(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = mail_app_with(&db, &smtp, hold()).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    app.share_own_phone(&user, ANNA_PHONE).await;
    let cancel = hold_link(&smtp.next_mail().await.text.unwrap_or_default());
    let done = app.http.post(&cancel).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains(&in_html(&t(Lang::En, "hold-page-done"))));
    let told = app.tg.next_sent(user.id).await;
    assert_eq!(told.text_str(), t(Lang::En, "hold-cancelled-by-owner"));
    assert_eq!(app.http.post(&cancel).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(app.audit_events().await.contains(&"binding_hold_cancelled".to_owned()));

    // A day later: no "it is over", and asking again gets nothing.
    app.advance(Duration::hours(25));
    app.open_forgot_password(&user).await;
    let refused = app.share_own_phone(&user, ANNA_PHONE).await;
    assert_eq!(refused.text_str(), t(Lang::En, "hold-cancelled-by-owner"));
    assert!(smtp.unread().is_empty(), "nothing mailed for a cancelled request");

    // Withdrawn in the bot by the one who asked.
    let other = ivan();
    app.open_forgot_password(&other).await;
    let held = app.share_own_phone(&other, IVAN_PHONE).await;
    smtp.next_mail().await;
    let withdraw = held.callback_data_for(&t(Lang::Ru, "button-withdraw-hold")).unwrap();
    app.tg.press_button(&other, &held, &withdraw);
    assert_eq!(app.tg.next_sent(other.id).await.text_str(), t(Lang::Ru, "hold-withdrawn"));
    app.advance(Duration::hours(25));
    // The next thing Ivan hears is the menu he asks for, then a new hold.
    app.open_forgot_password(&other).await;
    let anew = app.share_own_phone(&other, IVAN_PHONE).await;
    assert!(anew.callback_data_for(&t(Lang::Ru, "button-withdraw-hold")).is_some());
    assert!(!anew.text_str().contains("/reset/"), "{}", anew.summary());
    app.stop().await;
}
