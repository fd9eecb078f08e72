//! Two-factor authentication in the bot: the lost-device path (a backup
//! code resets 2FA; too many wrong ones lead to support; without 2FA the
//! other paths are offered), setting 2FA up again (the QR code, the setup
//! key, the first code, the backup codes as a document, the secrets deleted
//! from the chat), and "My security" (what protects the account,
//! notifications, new backup codes).

use crate::support::smtp::SmtpServer;
use crate::support::telegram::GroupKind;
use crate::support::*;
use crate::support_desk::GROUP;
use chrono::{DateTime, Utc};
use crm_recovery_bot::{
    config::{MailConfig, secret_keys},
    domain::Lang,
    i18n::{t, t_args},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    a_backup_code_resets_2fa_and_setting_it_up_again_cleans_the_chat,
    lost_device_without_2fa_or_codes_leads_elsewhere,
    my_security_shows_the_account_and_turns_notifications_on,
);

const TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

async fn spawn(db: &TestDb) -> TestApp {
    spawn_mailing(db, None).await
}

/// With e-mail on when `smtp` is given.
async fn spawn_mailing(db: &TestDb, smtp: Option<&SmtpServer>) -> TestApp {
    let smtp_url = smtp.map(SmtpServer::url);
    let app = TestApp::spawn_with(db, |config| {
        config.api_token = Some(TOKEN.into());
        config.secret_keys = secret_keys(Some(KEY), None).unwrap();
        config.support.chat_id = Some(GROUP);
        if let Some(url) = &smtp_url {
            config.mail = MailConfig::parse(Some(url), Some("support@example.com")).unwrap();
        }
    })
    .await;
    app.tg.add_group(GROUP, GroupKind::Supergroup);
    app.import(ACCOUNTS_CSV).await;
    app
}

/// Turns 2FA on through the CRM's API; the backup codes.
async fn enrol(app: &TestApp, login: &str) -> Vec<String> {
    let answer = app
        .http
        .post(format!("{}/api/v1/accounts/{login}/two-factor", app.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let body: Value = answer.json().await.unwrap();
    body["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect()
}

async fn two_factor_on(app: &TestApp, login: &str) -> bool {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT t.enabled_at FROM two_factor t JOIN accounts a ON a.id = t.account_id \
         WHERE a.login = $1 AND t.enabled_at IS NOT NULL",
    )
    .bind(login)
    .fetch_optional(app.raw_pool())
    .await
    .unwrap();
    row.is_some()
}

/// The code an authenticator app shows at `at`.
fn code_at(secret_base32: &str, at: DateTime<Utc>) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
    let totp = totp_rs::Builder::new().with_secret(secret).build().expect("RFC 6238 defaults");
    totp.generate(u64::try_from(at.timestamp()).unwrap()).to_string()
}

/// From the menu, a topic's button, then the phone shared: the answer.
async fn through_identity(app: &TestApp, user: &TgUser, topic: &str, phone: &str) -> Sent {
    let lang = if user.language_code.as_deref() == Some("ru") { Lang::Ru } else { Lang::En };
    let menu = app.start_chat(user).await;
    let data = menu.callback_data_for(&t(lang, topic)).expect("the topic is in the menu");
    app.tg.press_button(user, &menu, &data);
    app.tg.next_sent(user.id).await; // the contact prompt
    app.share_own_phone(user, phone).await
}

async fn a_backup_code_resets_2fa_and_setting_it_up_again_cleans_the_chat(db: TestDb) {
    let smtp = SmtpServer::start().await;
    let app = spawn_mailing(&db, Some(&smtp)).await;
    // In English, then the same path in Russian.
    lost_device_and_set_up_again(&app, &smtp, &anna(), ANNA_PHONE, "anna.smith").await;
    lost_device_and_set_up_again(&app, &smtp, &ivan(), IVAN_PHONE, "ivan.petrov").await;
    app.stop().await;
}

/// One user's whole lost-device path and the set-up that follows.
async fn lost_device_and_set_up_again(
    app: &TestApp,
    smtp: &SmtpServer,
    user: &TgUser,
    phone: &str,
    login_name: &str,
) {
    let lang = if user.language_code.as_deref() == Some("ru") { Lang::Ru } else { Lang::En };
    let codes = enrol(app, login_name).await;
    let asked = through_identity(app, user, "menu-lost-2fa", phone).await;
    let login = [("login", login_name.to_owned().into())];
    assert_eq!(asked.text_str(), t_args(lang, "two-factor-ask-backup", &login));
    assert!(asked.callback_data_for(&t(lang, "button-no-backup-code")).is_some());

    let typed = app.tg.send_text(user, "ABCD-EFGH-JKMN-PQRS");
    let wrong = app.tg.next_sent(user.id).await;
    assert_eq!(wrong.text_str(), t_args(lang, "two-factor-backup-wrong", &[("left", 4.into())]));
    // Typed sloppily: lower case, spaces instead of dashes.
    let sloppy = codes[3].to_lowercase().replace('-', " ");
    let right = app.tg.send_text(user, &sloppy);
    let done = app.tg.next_sent(user.id).await;
    assert_eq!(done.text_str(), t_args(lang, "two-factor-reset-done", &login));
    let deleted = app.tg.deleted(user.id);
    assert!(deleted.contains(&typed) && deleted.contains(&right), "codes deleted: {deleted:?}");
    assert!(!two_factor_on(app, login_name).await);
    let events = app.audit_events().await;
    assert!(events.contains(&"telegram_bound".to_owned()), "the code binds: {events:?}");
    // The second channel is told.
    let mail = smtp.next_mail().await;
    let subject = match lang {
        Lang::En => format!("Two-factor authentication was turned off for {login_name}"),
        Lang::Ru => format!("Для {login_name} отключена двухфакторная аутентификация"),
    };
    assert_eq!(mail.subject, subject);
    let via = format!("{} (id …{:02})", user.first_name, user.id % 100);
    assert!(mail.text.unwrap_or_default().contains(&via), "{via}");

    // Set up again: the QR code and the setup key, both protected.
    let again = done.callback_data_for(&t(lang, "button-set-up-2fa-again")).unwrap();
    app.tg.press_button(user, &done, &again);
    let photo = app.tg.next_sent(user.id).await;
    assert_eq!(photo.method, "sendphoto");
    assert_eq!(photo.text_str(), t(lang, "two-factor-scan"));
    assert!(photo.protect_content());
    let key_message = app.tg.next_sent(user.id).await;
    assert!(key_message.protect_content());
    let key: String = key_message
        .text_str()
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .expect("the setup key in <code>")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let code = code_at(&key, app.now());
    let wrong_code = app.tg.send_text(user, if code == "000000" { "111111" } else { "000000" });
    let refused = app.tg.next_sent(user.id).await;
    assert_eq!(refused.text_str(), t(lang, "two-factor-enrol-wrong"));
    assert!(!two_factor_on(app, login_name).await, "only a confirmed enrolment counts");
    let right_code = app.tg.send_text(user, &code);

    // On: the backup codes as a document that can be saved; then the QR
    // code, the key, the typed codes and the refusal are deleted.
    let document = app.tg.next_sent(user.id).await;
    let before = if lang == Lang::En { 0 } else { 7 };
    app.tg.wait_for_calls("deletemessage", before + 7).await;
    assert_eq!(document.method, "senddocument");
    assert_eq!(document.text_str(), t_args(lang, "two-factor-on", &[("count", 10.into())]));
    assert!(!document.protect_content());
    let (name, bytes) = app.tg.document_bytes(user.id, document.message_id).unwrap();
    assert_eq!(name, format!("backup-codes-{login_name}.txt"));
    let text = String::from_utf8(bytes).unwrap();
    let new_codes: Vec<&str> = text.lines().filter(|l| l.len() == 19).collect();
    assert_eq!(new_codes.len(), 10, "{text}");
    assert!(!new_codes.contains(&codes[0].as_str()), "a new set");
    assert!(two_factor_on(app, login_name).await);
    // The secrets and the typed codes are gone from the chat.
    let deleted = app.tg.deleted(user.id);
    for id in [photo.message_id, key_message.message_id, wrong_code, refused.message_id, right_code]
    {
        assert!(deleted.contains(&id), "{id} deleted: {deleted:?}");
    }
    assert!(!deleted.contains(&document.message_id));
}

async fn lost_device_without_2fa_or_codes_leads_elsewhere(db: TestDb) {
    let app = spawn(&db).await;
    let user = ivan();
    // No 2FA: nothing to reset; the other paths are offered.
    let answer = through_identity(&app, &user, "menu-lost-2fa", IVAN_PHONE).await;
    let login = [("login", "ivan.petrov".into())];
    assert_eq!(answer.text_str(), t_args(Lang::Ru, "two-factor-not-on", &login));
    assert!(answer.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).is_some());

    // Five wrong codes in an hour: then only support, with the time.
    enrol(&app, "ivan.petrov").await;
    through_identity(&app, &user, "menu-lost-2fa", IVAN_PHONE).await;
    for left in (0..5).rev() {
        app.tg.send_text(&user, "ABCD-EFGH-JKMN-PQRS");
        let wrong = app.tg.next_sent(user.id).await;
        let expected = t_args(Lang::Ru, "two-factor-backup-wrong", &[("left", left.into())]);
        assert_eq!(wrong.text_str(), expected);
    }
    app.tg.send_text(&user, "ABCD-EFGH-JKMN-PQRS");
    let closed = app.tg.next_sent(user.id).await;
    let time = ("time", "13:00 по московскому времени (UTC+3)".into());
    assert_eq!(closed.text_str(), t_args(Lang::Ru, "two-factor-backup-too-many", &[time]));
    assert!(closed.callback_data_for(&t(Lang::Ru, "button-talk-to-support")).is_some());
    let refused = app.audit_events().await;
    assert_eq!(refused.iter().filter(|e| *e == "backup_code_refused").count(), 6);

    // No codes at hand: a ticket for the verified account.
    let asked = through_identity(&app, &user, "menu-lost-2fa", IVAN_PHONE).await;
    let none = asked.callback_data_for(&t(Lang::Ru, "button-no-backup-code")).unwrap();
    app.tg.press_button(&user, &asked, &none);
    let question = app.tg.next_sent(user.id).await;
    assert!(
        question.text_str().ends_with(&t(Lang::Ru, "ticket-ask-sign-in")),
        "{}",
        question.summary()
    );
    let category: (String,) =
        sqlx::query_as("SELECT category FROM tickets").fetch_one(app.raw_pool()).await.unwrap();
    assert_eq!(category.0, "lost_2fa");
    app.stop().await;
}

async fn my_security_shows_the_account_and_turns_notifications_on(db: TestDb) {
    let app = spawn(&db).await;
    let user = anna();
    // A recovery binds Anna and offers "My security" under its notice.
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let password = "correct horse battery staple";
    app.post_password(&link, password, password).await;
    let notice = app.tg.next_sent(user.id).await;
    let security = notice.callback_data_for(&t(Lang::En, "menu-my-security")).unwrap();
    app.tg.press_button(&user, &notice, &security);
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::En, "security-ask-phone"));
    let shown = app.share_own_phone(&user, ANNA_PHONE).await;
    let text = shown.text_str();
    assert!(text.contains("a***@e******.com"), "{text}");
    assert!(text.contains(&t(Lang::En, "security-2fa-off")), "{text}");
    assert!(!text.contains("447911123456"), "the phone is masked: {text}");
    assert!(shown.callback_data_for(&t(Lang::En, "button-set-up-2fa")).is_some());

    // Sign-in notifications on: the screen says so, and the CRM's next
    // report of a sign-in reaches Anna.
    let on = shown.callback_data_for(&t(Lang::En, "button-sign-ins-on")).unwrap();
    let press = app.tg.press_button(&user, &shown, &on);
    let answer = app.tg.wait_callback_answer(&press).await;
    assert_eq!(answer.params["text"], t(Lang::En, "security-saved"));
    let edited = app.tg.next_sent(user.id).await;
    assert_eq!(edited.message_id, shown.message_id);
    assert!(edited.callback_data_for(&t(Lang::En, "button-sign-ins-off")).is_some());
    let at = app.now().to_rfc3339();
    let body =
        json!({"login": "anna.smith", "kind": "login_succeeded", "ip": "198.51.100.7", "at": at});
    let reported = app
        .http
        .post(format!("{}/api/v1/events", app.base_url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), StatusCode::ACCEPTED);
    let told = app.tg.next_sent(user.id).await;
    assert!(told.text_str().starts_with("🔐"), "{}", told.summary());
    assert!(told.text_str().contains("198.51.100.7"), "{}", told.summary());

    // With 2FA on, new backup codes come as a document.
    enrol(&app, "anna.smith").await;
    let shown = through_identity(&app, &user, "menu-my-security", ANNA_PHONE).await;
    assert!(shown.text_str().contains("10 backup codes left"), "{}", shown.summary());
    let renew = shown.callback_data_for(&t(Lang::En, "button-new-backup-codes")).unwrap();
    app.tg.press_button(&user, &shown, &renew);
    let document = app.tg.next_sent(user.id).await;
    assert_eq!(
        document.text_str(),
        t_args(Lang::En, "security-new-codes", &[("count", 10.into())])
    );

    // Someone not bound to the account sees it but changes nothing.
    let stranger = TgUser::new(3003, "Mallory", Some("en"));
    let shown = through_identity(&app, &stranger, "menu-my-security", ANNA_PHONE).await;
    let on = shown.callback_data_for(&t(Lang::En, "button-sign-ins-on")).unwrap();
    let press = app.tg.press_button(&stranger, &shown, &on);
    let answer = app.tg.wait_callback_answer(&press).await;
    assert_eq!(answer.params["text"], t(Lang::En, "security-needs-binding"));
    app.stop().await;
}
