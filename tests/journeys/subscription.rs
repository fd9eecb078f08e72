//! A lapsed licence from both sides: the employee asks the bot to tell
//! their company's administrators (once a day), and administrators linked
//! to the bot are reminded 7, 3 and 1 days before the end.

use chrono::Duration;
use crm_recovery_bot::{domain::Lang, i18n::t};
use serde_json::json;

use crate::support::*;

on_both_backends!(
    an_employee_notifies_the_company_administrators_once_a_day,
    with_no_administrator_reachable_the_employee_is_told_whom_to_ask,
    reminders_come_7_3_and_1_days_before_and_survive_a_restart,
    extending_the_licence_moves_the_reminders,
    two_workers_send_each_reminder_once,
);

const STAFF_CSV: &str = "\
login,email,phone,full_name,company,locale,license_expires_at,company_admin
boss.ru,boss@example.com,+79031112233,Пётр Начальников,Acme,ru,2026-11-01,true
boss.en,bossen@example.com,+447911123457,John <Boss>,Acme,en,2026-11-01,true
ivan.petrov,ivan@example.com,+79161234567,Ivan Petrov,Acme,ru,2026-11-01,false
anna.smith,anna@example.com,+447911123456,Anna Smith,Globex,en,2026-11-01,false
";

fn boss_ru() -> TgUser {
    TgUser::new(3001, "Пётр", Some("ru"))
}

fn boss_en() -> TgUser {
    TgUser::new(3002, "John", Some("en"))
}

/// The administrator passes the identity step (here for a reset link).
async fn link_admin(app: &TestApp, admin: &TgUser, phone: &str) {
    app.open_forgot_password(admin).await;
    link_in(&app.share_own_phone(admin, phone).await);
}

/// `/start` → "subscription expired" → own contact: the bot's answer.
async fn check_subscription(app: &TestApp, user: &TgUser, phone: &str) -> Sent {
    app.tg.send_text(user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let data = menu.callback_data_for(&t(user_lang(user), "menu-subscription-expired")).unwrap();
    app.tg.press_button(user, &menu, &data);
    app.tg.next_sent(user.id).await;
    app.share_own_phone(user, phone).await
}

async fn press_notify(app: &TestApp, user: &TgUser, answer: &Sent) -> String {
    let data = answer.callback_data_for(&t(user_lang(user), "button-notify-admins")).unwrap();
    app.tg.press_button(user, answer, &data);
    app.tg.next_sent(user.id).await.text_str().to_owned()
}

async fn an_employee_notifies_the_company_administrators_once_a_day(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(STAFF_CSV).await;
    link_admin(&app, &boss_ru(), "79031112233").await;
    link_admin(&app, &boss_en(), "447911123457").await;

    let user = ivan();
    let answer = check_subscription(&app, &user, IVAN_PHONE).await;
    assert!(answer.text_str().contains("закончилась 01.11.2026"), "{}", answer.text_str());
    let told = press_notify(&app, &user, &answer).await;
    assert!(told.starts_with("Сообщение отправлено 2\u{a0}администраторам"), "{told}");
    assert!(!told.contains("Пётр") && !told.contains("John"), "no names: {told}");

    let ru = app.tg.next_sent(boss_ru().id).await.text_str().to_owned();
    assert!(ru.starts_with("Сотрудник компании «Acme» Ivan Petrov (аккаунт iv*******ov)"), "{ru}");
    assert!(ru.contains("закончилась 01.11.2026") && ru.contains("статус платежа"), "{ru}");
    let en = app.tg.next_sent(boss_en().id).await.text_str().to_owned();
    assert!(en.starts_with("An employee of Acme, Ivan Petrov (account iv*******ov)"), "{en}");
    assert!(en.contains("ended on 1 November 2026"), "{en}");

    // The same day (UTC): already sent; nobody is told twice.
    app.advance(Duration::hours(12));
    let again = press_notify(&app, &user, &answer).await;
    assert_eq!(again, t(Lang::Ru, "subscription-admins-already-notified"));

    // The next day it goes out again.
    app.advance(Duration::hours(12));
    press_notify(&app, &user, &answer).await;
    app.tg.next_sent(boss_ru().id).await;
    app.tg.next_sent(boss_en().id).await;

    let trail = app.store.audit_trail().await.unwrap();
    let alerts: Vec<_> = trail
        .iter()
        .filter(|r| r.event == "company_admins_alerted")
        .map(|r| (r.outcome.as_str(), r.detail.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        alerts,
        [
            ("ok", "Acme: 2 administrator(s)"),
            ("refused", "Acme: already_sent_today"),
            ("ok", "Acme: 2 administrator(s)")
        ]
    );
    app.stop().await;
}

async fn with_no_administrator_reachable_the_employee_is_told_whom_to_ask(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(STAFF_CSV).await;
    let user = anna();
    let answer = check_subscription(&app, &user, ANNA_PHONE).await;
    let told = press_notify(&app, &user, &answer).await;
    assert_eq!(told, t(Lang::En, "subscription-no-admin-reachable"));
    // Acme's administrators exist but never used the bot: the same answer.
    let user = ivan();
    let answer = check_subscription(&app, &user, IVAN_PHONE).await;
    let told = press_notify(&app, &user, &answer).await;
    assert_eq!(told, t(Lang::Ru, "subscription-no-admin-reachable"));
    app.stop().await;
}

async fn spawn_with_api(db: &TestDb) -> TestApp {
    TestApp::spawn_with(db, |config| config.api_token = Some("x".repeat(32))).await
}

/// `PUT /api/v1/companies/Acme` with this end.
async fn set_licence_end(app: &TestApp, end: chrono::DateTime<chrono::Utc>) {
    let response = app
        .http
        .put(format!("{}/api/v1/companies/Acme", app.base_url))
        .bearer_auth("x".repeat(32))
        .json(&json!({ "license_expires_at": end.to_rfc3339() }))
        .send()
        .await
        .expect("API request");
    assert_eq!(response.status(), 200);
}

fn reminder_text(days: i64, date: &str) -> String {
    format!("The CRM subscription of Acme ends in {days}\u{a0}days, on {date}.")
}

async fn expect_reminder(app: &TestApp, admin: &TgUser, start: &str) {
    let text = app.tg.next_sent(admin.id).await.text_str().to_owned();
    assert!(text.starts_with(start), "{text}");
}

async fn reminders_come_7_3_and_1_days_before_and_survive_a_restart(db: TestDb) {
    let mut app = spawn_with_api(&db).await;
    app.import(STAFF_CSV).await;
    let admin = boss_en();
    link_admin(&app, &admin, "447911123457").await;
    let end = app.now() + Duration::days(10);
    set_licence_end(&app, end).await;

    app.advance(Duration::days(3));
    expect_reminder(&app, &admin, &reminder_text(7, "5 December 2026")).await;
    marker_delivered(&app, &admin, "nothing else").await;

    // Down when the 3-day reminder falls due: it comes after the start.
    app.stop_process().await;
    app.clock.advance(Duration::days(4) + Duration::hours(2));
    app.start_process().await;
    expect_reminder(&app, &admin, &reminder_text(3, "5 December 2026")).await;

    app.advance(Duration::days(2));
    expect_reminder(&app, &admin, "The CRM subscription of Acme ends tomorrow").await;
    app.advance(Duration::days(3));
    marker_delivered(&app, &admin, "and then no more").await;
    app.stop().await;
}

async fn extending_the_licence_moves_the_reminders(db: TestDb) {
    let app = spawn_with_api(&db).await;
    app.import(STAFF_CSV).await;
    let admin = boss_ru();
    link_admin(&app, &admin, "79031112233").await;
    let end = app.now() + Duration::days(10);
    set_licence_end(&app, end).await;
    app.advance(Duration::days(3));
    expect_reminder(
        &app,
        &admin,
        "Подписка компании «Acme» на CRM заканчивается через 7\u{a0}дней, 05.12.2026",
    )
    .await;

    // Renewed for a month: the old 3- and 1-day reminders do not fire.
    set_licence_end(&app, end + Duration::days(30)).await;
    app.advance(Duration::days(4));
    marker_delivered(&app, &admin, "not yet").await;
    app.advance(Duration::days(2));
    marker_delivered(&app, &admin, "still not").await;

    // The new end's reminders come on their days.
    app.advance(Duration::days(24));
    expect_reminder(
        &app,
        &admin,
        "Подписка компании «Acme» на CRM заканчивается через 7\u{a0}дней, 04.01.2027",
    )
    .await;
    app.stop().await;
}

async fn two_workers_send_each_reminder_once(db: TestDb) {
    let app = spawn_with_api(&db).await;
    app.import(STAFF_CSV).await;
    let (ru, en) = (boss_ru(), boss_en());
    link_admin(&app, &ru, "79031112233").await;
    link_admin(&app, &en, "447911123457").await;
    let second = ExtraWorker::start(&db, app.tg.api_url(), &app.clock).await;
    set_licence_end(&app, app.now() + Duration::days(10)).await;

    app.advance(Duration::days(3));
    second.wake();
    expect_reminder(&app, &en, &reminder_text(7, "5 December 2026")).await;
    expect_reminder(&app, &ru, "Подписка компании «Acme» на CRM заканчивается через 7").await;
    marker_delivered(&app, &en, "marker").await;
    marker_delivered(&app, &ru, "marker").await;
    second.stop().await;
    let reminders = app
        .tg
        .calls("sendmessage")
        .iter()
        .filter(|c| c.params["text"].as_str().is_some_and(|t| t.contains("CRM")) && !c.failed)
        .filter(|c| c.params["text"].as_str().is_some_and(|t| t.contains("Acme")))
        .count();
    assert_eq!(reminders, 2, "one reminder each");
    app.stop().await;
}
