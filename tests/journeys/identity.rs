//! Proving who you are with Telegram's share-contact button, and what the
//! bot says to everything that is not the user's own contact.

use crate::support::*;
use crm_recovery_bot::{
    domain::{Lang, TelegramUserId},
    i18n::t,
};

on_both_backends!(
    someone_elses_contact_is_refused,
    forwarded_own_contact_is_refused,
    contact_without_user_id_is_refused,
    text_or_photo_instead_of_contact_gets_the_button_again,
    unknown_phone_gets_a_neutral_answer_and_whom_to_contact,
    several_accounts_on_one_phone_are_picked_by_masked_login,
    cancel_returns_to_the_menu_from_the_contact_step,
    a_stale_phone_check_is_asked_for_again,
    the_identity_step_carries_its_purpose,
    advice_from_an_older_menu_keeps_the_contact_step_open,
);

/// The refusal message, with the share-contact button offered again.
async fn expect_refusal(app: &TestApp, user: &TgUser, key: &str) {
    let refusal = app.tg.next_sent(user.id).await;
    assert_eq!(refusal.text_str(), t(user_lang(user), key));
    assert_eq!(refusal.keyboard_buttons()[0]["request_contact"], true, "button offered again");
}

async fn someone_elses_contact_is_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    // Ivan's contact, with Ivan's Telegram id, sent by Anna.
    app.tg.send_contact(&user, IVAN_PHONE, Some(ivan().id));
    expect_refusal(&app, &user, "identity-contact-not-own").await;

    let trail = app.store.audit_trail().await.unwrap();
    let refused = trail.iter().find(|r| r.event == "contact_refused").unwrap();
    assert_eq!(refused.tg_user_id, Some(TelegramUserId(user.id)));
    assert_eq!(
        (refused.outcome.as_str(), refused.detail.as_deref()),
        ("refused", Some("not_own_contact"))
    );
    let ivan_id = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap().id;
    let hour_ago = test_start() - chrono::Duration::hours(1);
    assert!(app.store.reset_links_issued_since(ivan_id, hour_ago).await.unwrap().is_empty());

    // The user can still go on with their own contact.
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    link_in(&link_message);
    app.stop().await;
}

async fn forwarded_own_contact_is_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    app.tg.send_forwarded_contact(&user, IVAN_PHONE, Some(user.id));
    expect_refusal(&app, &user, "identity-contact-not-own").await;
    app.stop().await;
}

async fn contact_without_user_id_is_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    app.tg.send_contact(&user, ANNA_PHONE, None);
    expect_refusal(&app, &user, "identity-contact-no-user").await;
    let trail = app.store.audit_trail().await.unwrap();
    assert!(
        trail
            .iter()
            .any(|r| r.event == "contact_refused" && r.detail.as_deref() == Some("no_user_id"))
    );
    app.stop().await;
}

async fn text_or_photo_instead_of_contact_gets_the_button_again(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    app.tg.send_text(&user, "+7 916 123-45-67");
    expect_refusal(&app, &user, "identity-contact-expected").await;
    app.tg.send_photo(&user, Some("скриншот"));
    expect_refusal(&app, &user, "identity-contact-expected").await;
    // Still waiting for the contact: the real one now works.
    link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
    app.stop().await;
}

async fn unknown_phone_gets_a_neutral_answer_and_whom_to_contact(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = TgUser::new(2001, "Stranger", Some("en"));
    app.open_forgot_password(&user).await;
    let answer = app.share_own_phone(&user, "79031234567").await;
    assert_eq!(answer.text_str(), t(Lang::En, "identity-no-account"));
    let buttons: Vec<String> = answer.inline_buttons().into_iter().map(|b| b.0).collect();
    assert_eq!(
        buttons,
        [t(Lang::En, "button-talk-to-support"), t(Lang::En, "button-back-to-menu")],
        "support, or back"
    );
    let trail = app.store.audit_trail().await.unwrap();
    let miss = trail.iter().find(|r| r.event == "account_not_found").unwrap();
    assert_eq!(miss.detail.as_deref(), Some("+79*******67"), "phone masked in the audit");
    app.stop().await;
}

async fn several_accounts_on_one_phone_are_picked_by_masked_login(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = olga();
    app.open_forgot_password(&user).await;
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    assert_eq!(choice.text_str(), t(Lang::Ru, "identity-choose-account"));
    let buttons = choice.inline_buttons();
    let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(labels, ["ol****ne", "ol****wo", t(Lang::Ru, "button-back-to-menu").as_str()]);

    // Typing instead of choosing keeps the choice open.
    app.tg.send_text(&user, "olga.two");
    let hint = app.tg.next_sent(user.id).await;
    assert_eq!(hint.text_str(), t(Lang::Ru, "identity-choose-account-hint"));

    // A forged pick of someone else's account is refused; the choice stays.
    let anna_id = app.store.account_by_login("anna.smith").await.unwrap().unwrap().id;
    let forged = app.tg.press_button(&user, &choice, &format!("acct:{anna_id}"));
    let answer = app.tg.wait_callback_answer(&forged).await;
    assert_eq!(answer.params["text"], t(Lang::Ru, "button-stale"));

    // The pick becomes the link: the same message, edited (one per step).
    let second = buttons[1].1.clone().unwrap();
    app.tg.press_button(&user, &choice, &second);
    let link_message = app.tg.next_sent(user.id).await;
    assert_eq!(
        (link_message.method.as_str(), link_message.message_id),
        ("editmessagetext", choice.message_id)
    );
    assert!(choice.protect_content(), "the message that becomes the link is protected");
    let link = link_in(&link_message);
    let html = app.get(&link).await.text().await.unwrap();
    assert!(html.contains("olga.two"), "the link is for the chosen account");

    // The same button again, after the link was sent, is out of date: the
    // answer says so and the menu comes back.
    let again = app.tg.press_button(&user, &choice, &second);
    let answer = app.tg.wait_callback_answer(&again).await;
    assert_eq!(answer.params["text"], t(Lang::Ru, "button-stale"));
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).is_some());
    app.stop().await;
}

async fn cancel_returns_to_the_menu_from_the_contact_step(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    app.tg.send_text(&user, "/cancel");
    let cancelled = app.tg.next_sent(user.id).await;
    assert_eq!(cancelled.text_str(), t(Lang::En, "cancelled"));
    assert!(cancelled.removes_keyboard());
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.callback_data_for(&t(Lang::En, "menu-forgot-password")).is_some());

    // The keyboard's own Cancel button hides the one-time keyboard itself,
    // so one message with the menu answers it.
    app.open_forgot_password(&user).await;
    app.tg.send_text(&user, &t(Lang::En, "button-cancel"));
    let cancelled = app.tg.next_sent(user.id).await;
    assert_eq!(cancelled.text_str(), t(Lang::En, "cancelled"));
    assert!(cancelled.callback_data_for(&t(Lang::En, "menu-forgot-password")).is_some());

    // Back in the menu, a contact is not taken as a reset request.
    app.tg.send_contact(&user, ANNA_PHONE, Some(user.id));
    let menu = app.tg.next_sent(user.id).await;
    assert_eq!(menu.text_str(), t(Lang::En, "menu-prompt"));
    app.stop().await;
}

async fn a_stale_phone_check_is_asked_for_again(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = olga();
    app.open_forgot_password(&user).await;
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    let first = choice.inline_buttons()[0].1.clone().unwrap();

    app.advance(chrono::Duration::minutes(11));
    app.tg.press_button(&user, &choice, &first);
    let stale = app.tg.next_sent(user.id).await;
    assert_eq!(stale.text_str(), t(Lang::Ru, "identity-contact-stale"));
    assert_eq!(stale.keyboard_buttons()[0]["request_contact"], true);
    assert!(app.audit_events().await.iter().all(|e| e != "reset_link_issued"));

    // Sharing the number again continues the flow.
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    app.tg.press_button(&user, &choice, &choice.inline_buttons()[0].1.clone().unwrap());
    link_in(&app.tg.next_sent(user.id).await);
    app.stop().await;
}

/// The same contact step serves another purpose: "subscription expired"
/// ends in the company's licence, not in a reset link.
async fn the_identity_step_carries_its_purpose(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    app.import(
        "login,email,phone,full_name,company,license_expires_at\n\
         olga.one,olga@example.com,+79261112233,Olga Sidorova,Acme,2026-11-01\n\
         olga.two,olga2@example.com,+79261112233,Olga Sidorova,Initech,2027-03-31\n",
    )
    .await;
    let user = olga();
    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let data = menu.callback_data_for(&t(Lang::Ru, "menu-subscription-expired")).unwrap();
    app.tg.press_button(&user, &menu, &data);
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::Ru, "subscription-ask-phone"));
    assert_eq!(prompt.keyboard_buttons()[0]["request_contact"], true);

    // Several accounts: the pick is part of the shared step too.
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    assert_eq!(choice.text_str(), t(Lang::Ru, "identity-choose-account"));
    app.tg.press_button(&user, &choice, &choice.inline_buttons()[0].1.clone().unwrap());
    let answer = app.tg.next_sent(user.id).await;
    assert_eq!(answer.message_id, choice.message_id, "the pick is edited into the answer");
    let text = answer.text_str();
    assert!(text.contains("«Acme»") && text.contains("01.11.2026"), "{text}");
    assert!(text.starts_with("Подписка компании «Acme» (аккаунт olga.one) закончилась"), "{text}");
    assert!(answer.callback_data_for(&t(Lang::Ru, "button-back-to-menu")).is_some());
    assert!(app.audit_events().await.iter().all(|e| e != "reset_link_issued"), "no link");

    // The other account's licence runs on.
    app.tg.press_button(&user, &menu, &data);
    app.tg.next_sent(user.id).await;
    let choice = app.share_own_phone(&user, OLGA_PHONE).await;
    app.tg.press_button(&user, &choice, &choice.inline_buttons()[1].1.clone().unwrap());
    let text = app.tg.next_sent(user.id).await.text_str().to_owned();
    assert!(text.contains("действует до 31.03.2027"), "{text}");
    app.stop().await;
}

/// Pressing an advice topic on an older menu while the contact keyboard is
/// on the screen answers the advice and leaves that keyboard working.
async fn advice_from_an_older_menu_keeps_the_contact_step_open(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let forgot = menu.callback_data_for(&t(Lang::En, "menu-forgot-password")).unwrap();
    app.tg.press_button(&user, &menu, &forgot);
    app.tg.next_sent(user.id).await;

    let other = menu.callback_data_for(&t(Lang::En, "menu-other")).unwrap();
    app.tg.press_button(&user, &menu, &other);
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::En, "support-unavailable"));
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    app.stop().await;
}
