//! Staff and a lost 2FA device: the card shows the verified account's 2FA
//! (since when, backup codes left), a staff admin's "Reset 2FA" turns it
//! off through the same rules as the user's own path and tells the user,
//! anyone else's press is refused and audited, and a card whose account has
//! no 2FA offers no such button.

use crm_recovery_bot::{
    config::secret_keys,
    domain::{AccountId, Lang},
    i18n::{arg, t, t_args},
};
use reqwest::StatusCode;

use crate::support::telegram::GroupKind;
use crate::support::*;
use crate::support_desk::{
    GROUP, card_in_group, in_group, maria, petr, press_on_card, rows, submit,
};

on_both_backends!(
    a_staff_admin_resets_two_factor_from_the_card_and_the_user_is_told,
    two_factor_turned_off_elsewhere_is_an_alert_and_the_card_catches_up,
    a_card_without_two_factor_offers_no_reset,
);

const API_TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";
const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The staff group (Maria a member, Pyotr an administrator), the CRM's
/// API, and 2FA possible (`SECRET_KEY` set).
async fn desk_with_two_factor(db: &TestDb) -> TestApp {
    let app = TestApp::spawn_with(db, |config| {
        config.support.chat_id = Some(GROUP);
        config.api_token = Some(API_TOKEN.into());
        config.secret_keys = secret_keys(Some(SECRET_KEY), None).unwrap();
    })
    .await;
    app.tg.add_group(GROUP, GroupKind::Supergroup);
    app.tg.set_member(GROUP, maria().id, "member");
    app.tg.set_member(GROUP, petr().id, "administrator");
    app.import(ACCOUNTS_CSV).await;
    app
}

/// The CRM turns 2FA on for `login` (ten backup codes).
async fn enrol(app: &TestApp, login: &str) {
    let response = app
        .http
        .post(format!("{}/api/v1/accounts/{login}/two-factor", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// The CRM turns 2FA off for `login`.
async fn turn_off_through_the_api(app: &TestApp, login: &str) {
    let response = app
        .http
        .delete(format!("{}/api/v1/accounts/{login}/two-factor", app.base_url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// `user` proves their phone on the way to support, so the ticket names
/// the verified account (through "My account is locked" → "Talk to
/// support" until the lost-device path offers its own ticket); its card.
async fn ticket_with_verified_account(app: &TestApp, user: &TgUser, phone: &str) -> Sent {
    let lang = user_lang(user);
    let menu = app.start_chat(user).await;
    let locked = menu.callback_data_for(&t(lang, "menu-account-locked")).unwrap();
    app.tg.press_button(user, &menu, &locked);
    app.tg.next_sent(user.id).await;
    let explained = app.share_own_phone(user, phone).await;
    let support = explained.callback_data_for(&t(lang, "button-talk-to-support")).unwrap();
    app.tg.press_button(user, &explained, &support);
    let question = app.tg.next_sent(user.id).await;
    let skip = question.callback_data_for(&t(lang, "button-skip")).unwrap();
    app.tg.press_button(user, &question, &skip);
    app.tg.next_sent(user.id).await;
    app.tg.send_text(user, "I lost the phone with my authenticator");
    let attachments = app.tg.next_sent(user.id).await;
    submit(app, user, &attachments).await;
    card_in_group(app).await
}

async fn account_id(app: &TestApp, login: &str) -> AccountId {
    app.store.account_by_login(login).await.unwrap().unwrap().id
}

/// Whether the account has 2FA on, read from its table.
async fn two_factor_rows(app: &TestApp, account: AccountId) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM two_factor WHERE account_id = $1")
        .bind(account.0)
        .fetch_one(app.raw_pool())
        .await
        .unwrap()
}

/// The audit rows of `event`, as (Telegram user, detail).
async fn audited(app: &TestApp, event: &str) -> Vec<(Option<i64>, Option<String>)> {
    let trail = app.store.audit_trail().await.unwrap();
    trail
        .into_iter()
        .filter(|row| row.event == event)
        .map(|row| (row.tg_user_id.map(|id| id.0), row.detail))
        .collect()
}

/// The card's line for 2FA on since the test's first day (the desk's zone
/// is UTC), with `codes` backup codes left.
fn two_factor_on(codes: i64) -> String {
    let since = format!("25 {} 2026", t(Lang::Ru, "time-month-11"));
    t_args(Lang::Ru, "desk-card-two-factor-on", &[("since", arg(since)), ("count", codes.into())])
}

/// Waits until no relay job of a ticket is left to run.
async fn relays_done(app: &TestApp) {
    rows(
        app,
        "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%ticket_relay%' AND sent_at IS NULL",
        0,
    )
    .await;
}

async fn a_staff_admin_resets_two_factor_from_the_card_and_the_user_is_told(db: TestDb) {
    let app = desk_with_two_factor(&db).await;
    enrol(&app, "anna.smith").await;
    let anna_account = account_id(&app, "anna.smith").await;
    let user = anna();
    let card = ticket_with_verified_account(&app, &user, ANNA_PHONE).await;
    assert!(card.text_str().contains(&two_factor_on(10)), "{}", card.text_str());
    assert!(card.callback_data_for(&t(Lang::Ru, "desk-button-reset-2fa")).is_some());

    // A staff member who is not an admin: refused, audited, nothing changed.
    let answer = press_on_card(&app, &maria(), &card, "desk-button-reset-2fa").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-refused-not-admin"));
    assert_eq!(answer["show_alert"], true);
    assert_eq!(
        audited(&app, "staff_action_refused").await,
        [(Some(maria().id), Some("reset_2fa: not a staff admin".to_owned()))]
    );
    assert_eq!(two_factor_rows(&app, anna_account).await, 1);
    assert!(audited(&app, "two_factor_disabled").await.is_empty());

    // The group's administrator: off, audited, shown on the card, told.
    let answer = press_on_card(&app, &petr(), &card, "desk-button-reset-2fa").await;
    assert!(answer.get("text").is_none_or(|text| text.is_null()), "no alert: {answer}");
    let edited = in_group(&app).await;
    assert_eq!(edited.message_id, card.message_id, "the card itself is edited");
    let text = edited.text_str();
    assert!(text.contains(&t(Lang::Ru, "desk-card-two-factor-off")), "{text}");
    assert!(text.contains(&t(Lang::Ru, "desk-action-reset_2fa")), "{text}");
    assert!(text.contains("Пётр"), "who did it: {text}");
    assert!(edited.callback_data_for(&t(Lang::Ru, "desk-button-reset-2fa")).is_none());
    let told = app.tg.next_sent(user.id).await;
    assert_eq!(
        told.text_str(),
        t_args(Lang::En, "ticket-two-factor-reset", &[("ticket", arg("#1"))])
    );
    assert!(told.callback_data_for(&t(Lang::En, "button-back-to-menu")).is_some());
    assert_eq!(two_factor_rows(&app, anna_account).await, 0);
    assert_eq!(app.store.backup_codes_left(anna_account).await.unwrap(), 0);
    assert_eq!(audited(&app, "two_factor_disabled").await, [(None, Some("staff".to_owned()))]);
    assert_eq!(
        audited(&app, "staff_action").await,
        [(Some(petr().id), Some("#1 reset_2fa".to_owned()))]
    );

    // The old button pressed again: off already, so nothing more happens.
    let answer = press_on_card(&app, &petr(), &card, "desk-button-reset-2fa").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-two-factor-already-off"));
    assert_eq!(answer["show_alert"], true);
    relays_done(&app).await;
    assert_eq!(audited(&app, "two_factor_disabled").await.len(), 1);
    assert_eq!(audited(&app, "staff_action").await.len(), 1);
    app.stop().await;
}

/// The CRM turned 2FA off after the card was posted: the press changes
/// nothing, says why, and the card is brought up to date.
async fn two_factor_turned_off_elsewhere_is_an_alert_and_the_card_catches_up(db: TestDb) {
    let app = desk_with_two_factor(&db).await;
    enrol(&app, "anna.smith").await;
    let user = anna();
    let card = ticket_with_verified_account(&app, &user, ANNA_PHONE).await;
    assert!(card.text_str().contains(&two_factor_on(10)), "{}", card.text_str());
    turn_off_through_the_api(&app, "anna.smith").await;

    let answer = press_on_card(&app, &petr(), &card, "desk-button-reset-2fa").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-two-factor-already-off"));
    assert_eq!(answer["show_alert"], true);
    let edited = in_group(&app).await;
    assert_eq!(edited.message_id, card.message_id);
    assert!(edited.text_str().contains(&t(Lang::Ru, "desk-card-two-factor-off")));
    assert!(!edited.text_str().contains(&t(Lang::Ru, "desk-action-reset_2fa")));
    assert!(edited.callback_data_for(&t(Lang::Ru, "desk-button-reset-2fa")).is_none());
    assert_eq!(audited(&app, "two_factor_disabled").await, [(None, Some("api".to_owned()))]);
    assert!(audited(&app, "staff_action").await.is_empty());
    relays_done(&app).await;
    // The user is not told anything: `stop` finds no unread message.
    app.stop().await;
}

async fn a_card_without_two_factor_offers_no_reset(db: TestDb) {
    let app = desk_with_two_factor(&db).await;
    // Anna has 2FA; Ivan, whose ticket this is, does not.
    enrol(&app, "anna.smith").await;
    let card = ticket_with_verified_account(&app, &ivan(), IVAN_PHONE).await;
    assert!(card.text_str().contains(&t(Lang::Ru, "desk-card-two-factor-off")));
    assert!(card.callback_data_for(&t(Lang::Ru, "desk-button-unlock")).is_some());
    assert!(card.callback_data_for(&t(Lang::Ru, "desk-button-reset-2fa")).is_none());
    app.stop().await;
}
