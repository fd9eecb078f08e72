//! A user who forgot their password gets a one-time link in Telegram and
//! sets a new password on the reset page.

use crate::support::*;
use crm_recovery_bot::{
    domain::{Lang, PasswordRejection, TelegramUserId},
    i18n::{password_rejection, t},
    recovery::verify_password,
    store::NewPasswordHash,
};
use reqwest::StatusCode;

on_both_backends!(
    happy_path_in_russian,
    happy_path_in_english,
    weak_and_mismatched_passwords_are_explained_on_the_page,
    the_fifth_refusal_spends_the_link,
    expired_link_is_refused,
    used_link_cannot_be_used_again,
    a_new_link_revokes_the_older_one,
    concurrent_posts_with_one_link_change_the_password_once,
    fourth_link_in_an_hour_is_refused_until_the_window_passes,
    it_wasnt_me_is_recorded,
    the_store_spends_a_token_exactly_once,
    html_characters_in_names_and_logins_are_escaped,
    the_hourly_link_limit_holds_under_concurrent_requests,
);

/// The whole path from /start to a working new password, in Russian.
async fn happy_path_in_russian(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();

    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.text_str().starts_with("Здравствуйте, Иван!"), "{}", menu.text_str());
    let labels: Vec<String> = menu.inline_buttons().into_iter().map(|b| b.0).collect();
    for key in [
        "menu-forgot-password",
        "menu-account-locked",
        "menu-lost-2fa",
        "menu-lost-contact",
        "menu-subscription-expired",
        "menu-my-security",
        "menu-other",
    ] {
        assert!(labels.contains(&t(Lang::Ru, key)), "menu lacks {key}: {labels:?}");
    }

    let data = menu.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).unwrap();
    let pressed = app.tg.press_button(&user, &menu, &data);
    app.tg.wait_callback_answer(&pressed).await;
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::Ru, "reset-ask-phone"));
    let buttons = prompt.keyboard_buttons();
    assert_eq!(buttons[0]["text"], t(Lang::Ru, "button-share-phone"));
    assert_eq!(buttons[0]["request_contact"], true);

    let link_message = app.share_own_phone(&user, IVAN_PHONE).await;
    assert!(link_message.text_str().starts_with("Ваша ссылка для сброса пароля"));
    // Ivan's account is in Moscow: 09:00 UTC + 10 min is 12:10 there.
    assert!(
        link_message.text_str().contains("до 12:10 по московскому времени (UTC+3)"),
        "{}",
        link_message.text_str()
    );
    assert!(link_message.link_preview_disabled(), "previews would spend the link");
    assert!(link_message.protect_content());
    let link = link_in(&link_message);
    assert!(link.starts_with(&format!("{}/reset/", app.base_url)));
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"ru\">"));
    assert!(html.contains(&t(Lang::Ru, "page-heading")));
    assert!(html.contains("ivan.petrov"));

    let new_password = "вечерний звон гремит над рекой";
    let done = app.post_password(&link, new_password, new_password).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains(&t(Lang::Ru, "page-done-heading")));

    let account = app.store.account_by_login("ivan.petrov").await.unwrap().unwrap();
    let hash = account.password_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(verify_password(new_password.into(), hash.clone()).await.unwrap());
    assert!(!verify_password("Old-Password-2024!".into(), hash).await.unwrap());
    assert_eq!(account.credentials_version, 1, "old sessions are dropped");

    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("ivan.petrov"));
    assert!(notice.text_str().starts_with("Пароль вашего аккаунта CRM"));
    assert!(notice.callback_data_for(&t(Lang::Ru, "button-not-me")).is_some());

    let events = app.audit_events().await;
    for expected in ["contact_verified", "reset_link_issued", "reset_link_used", "password_changed"]
    {
        assert!(events.iter().any(|e| e == expected), "{expected} missing from {events:?}");
    }
    let trail = app.store.audit_trail().await.unwrap();
    let changed = trail.iter().find(|r| r.event == "password_changed").unwrap();
    assert_eq!(changed.tg_user_id, Some(TelegramUserId(user.id)));
    assert_eq!(changed.account_id, Some(account.id));
    assert_eq!(changed.outcome, "ok");
    assert_eq!(changed.at, test_start());
    app.stop().await;
}

async fn happy_path_in_english(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    assert!(link_message.text_str().starts_with("Here is your link"));
    // Anna has no time zone: the default (UTC) is shown.
    assert!(link_message.text_str().contains("until 09:10 (UTC)"), "{}", link_message.text_str());
    let link = link_in(&link_message);

    let html = app.get(&link).await.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Set a new password"));
    assert!(
        html.contains(r#"minlength="15">"#) && !html.contains("maxlength"),
        "the browser checks the length too"
    );

    let password = "correct horse battery staple";
    let done = app.post_password(&link, password, password).await;
    assert_eq!(done.status(), StatusCode::OK);
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(verify_password(password.into(), account.password_hash.unwrap()).await.unwrap());
    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("anna.smith"));
    assert!(notice.callback_data_for("It wasn't me").is_some());
    app.stop().await;
}

async fn weak_and_mismatched_passwords_are_explained_on_the_page(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, IVAN_PHONE).await);

    // Four refusals, each with its reason in Ivan's language; the fifth
    // would spend the link.
    for (password, confirm, reason) in [
        ("short-but-fine", "short-but-fine", PasswordRejection::TooShort { min: 15 }),
        ("password123456789", "password123456789", PasswordRejection::Common),
        (
            "Ivan-Zebra-Quilt-Harbour-91",
            "Ivan-Zebra-Quilt-Harbour-91",
            PasswordRejection::ContainsContext,
        ),
        (
            "correct horse battery staple",
            "correct horse battery stable",
            PasswordRejection::Mismatch,
        ),
    ] {
        let response = app.post_password(&link, password, confirm).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reason:?}");
        let html = response.text().await.unwrap();
        let expected = password_rejection(Lang::Ru, &reason);
        assert!(html.contains(&in_html(&expected)), "{reason:?}: page lacks {expected:?}");
        assert!(html.contains("<form"), "the form is offered again");
    }
    let trail = app.store.audit_trail().await.unwrap();
    let reasons: Vec<_> = trail
        .iter()
        .filter(|r| r.event == "password_rejected")
        .map(|r| (r.detail.clone().unwrap(), r.client_addr.clone().unwrap()))
        .collect();
    let expected = ["too_short", "common", "contains_context", "mismatch"];
    assert_eq!(reasons.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), expected);
    assert!(reasons.iter().all(|r| r.1 == "127.0.0.1"), "with the client address");

    // The link survived the refusals and still works.
    let password = "вечерний звон гремит над рекой";
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::OK);
    assert!(app.tg.next_sent(user.id).await.text_str().contains("ivan.petrov"));
    app.stop().await;
}

/// Whoever holds a link gets five tries, however they fail; then the link
/// is spent and its Telegram message taken back.
async fn the_fifth_refusal_spends_the_link(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    let link = link_in(&link_message);
    for attempt in 1..=4 {
        let response = app.post_password(&link, "one thing here!", "another thing!").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{attempt}");
    }
    let too_long = "x".repeat(129);
    let fifth = app.post_password(&link, &too_long, &too_long).await;
    assert_eq!(fifth.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = fifth.text().await.unwrap();
    assert!(html.contains(&in_html(&t(Lang::En, "page-spent-text"))), "{html}");
    assert!(!html.contains("<form"));

    let password = "correct horse battery staple";
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND);
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(account.password_hash.is_none(), "nothing was changed");
    app.tg.wait_for_call("deletemessage").await;
    assert_eq!(app.tg.deleted(user.id), [link_message.message_id], "the link's message is gone");
    app.stop().await;
}

async fn expired_link_is_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);

    app.advance(chrono::Duration::minutes(9));
    assert_eq!(app.get(&link).await.status(), StatusCode::OK, "still valid at 9 minutes");
    app.advance(chrono::Duration::minutes(1));
    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = page.text().await.unwrap();
    assert!(html.contains(&in_html(&t(Lang::En, "page-invalid-heading"))));
    assert!(!html.contains("<form"));
    let password = "correct horse battery staple";
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::NOT_FOUND);
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(account.password_hash.is_none(), "nothing was changed");
    assert!(app.audit_events().await.iter().any(|e| e == "reset_link_expired"));
    app.stop().await;
}

async fn used_link_cannot_be_used_again(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let first = "correct horse battery staple";
    assert_eq!(app.post_password(&link, first, first).await.status(), StatusCode::OK);
    assert!(app.tg.next_sent(user.id).await.text_str().contains("anna.smith"));

    let page = app.get(&link).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let second = "purple elephant dancing quietly";
    assert_eq!(app.post_password(&link, second, second).await.status(), StatusCode::NOT_FOUND);
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(verify_password(first.into(), account.password_hash.unwrap()).await.unwrap());
    // A guessed or mangled token gets the same page.
    let forged = format!("{}/reset/{}", app.base_url, "A".repeat(43));
    assert_eq!(app.get(&forged).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/reset/..%2F..%2Fetc").await.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn a_new_link_revokes_the_older_one(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let older = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    app.open_forgot_password(&user).await;
    let newer = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    assert_ne!(older, newer);
    assert_eq!(app.get(&older).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&newer).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn concurrent_posts_with_one_link_change_the_password_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);

    let (a, b) = ("correct horse battery staple", "purple elephant dancing quietly");
    let (first, second) =
        tokio::join!(app.post_password(&link, a, a), app.post_password(&link, b, b));
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND]);

    let winner = if first.status() == StatusCode::OK { a } else { b };
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert!(verify_password(winner.into(), account.password_hash.unwrap()).await.unwrap());
    assert_eq!(account.credentials_version, 1);
    let changed = app.audit_events().await.iter().filter(|e| *e == "password_changed").count();
    assert_eq!(changed, 1);
    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("anna.smith"), "one notice, for the one change");
    app.stop().await;
}

async fn fourth_link_in_an_hour_is_refused_until_the_window_passes(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    for _ in 0..3 {
        app.open_forgot_password(&user).await;
        link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
        app.advance(chrono::Duration::minutes(10));
    }
    // 09:30 UTC now; the first link (09:00) leaves the window at 10:00 UTC,
    // 13:00 in Moscow.
    app.open_forgot_password(&user).await;
    let refused = app.share_own_phone(&user, IVAN_PHONE).await;
    assert_eq!(
        refused.text_str(),
        "Для этого аккаунта запрошено слишком много ссылок. Попробуйте снова после 13:00 по московскому времени (UTC+3)."
    );
    assert!(app.audit_events().await.iter().any(|e| e == "reset_link_rate_limited"));

    app.advance(chrono::Duration::minutes(31));
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
    app.stop().await;
}

async fn it_wasnt_me_is_recorded(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let password = "correct horse battery staple";
    app.post_password(&link, password, password).await;
    let notice = app.tg.next_sent(user.id).await;

    let data = notice.callback_data_for("It wasn't me").unwrap();
    let pressed = app.tg.press_button(&user, &notice, &data);
    app.tg.wait_callback_answer(&pressed).await;
    let answer = app.tg.next_sent(user.id).await;
    assert_eq!(answer.text_str(), t(Lang::En, "not-me-recorded"));
    let trail = app.store.audit_trail().await.unwrap();
    let disputed = trail.iter().find(|r| r.event == "password_change_disputed").unwrap();
    assert_eq!(disputed.tg_user_id, Some(TelegramUserId(user.id)));

    // Another user cannot dispute a change they were never told of (a
    // forged button naming Anna's account).
    let stranger = ivan();
    app.start_chat(&stranger).await;
    let forged = app.tg.press_button(&stranger, &notice, &data);
    let answer = app.tg.wait_callback_answer(&forged).await;
    assert_eq!(answer.params["text"], t(Lang::Ru, "button-stale"));
    let disputes =
        app.audit_events().await.iter().filter(|e| *e == "password_change_disputed").count();
    assert_eq!(disputes, 1);
    app.stop().await;
}

/// The guard itself, below the page's read-only check: the conditional
/// UPDATE lets one spend through, sequentially and concurrently.
async fn the_store_spends_a_token_exactly_once(db: TestDb) {
    use crm_recovery_bot::domain::{Delivery, NewDelivery, ResetToken};

    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link = link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let token = ResetToken::from_url(link.rsplit('/').next().unwrap()).unwrap();
    let stored = app.store.reset_token(&token.hash()).await.unwrap().unwrap();
    let (token_id, account_id) = (stored.id, stored.account_id);
    let payload =
        Delivery::RenderedMessage { chat: user.id, html: "changed".into(), reply_markup: None };
    let notices = [NewDelivery::now(payload, app.now())];
    let spend = || {
        let password = NewPasswordHash { hash: "h", length: 20 };
        app.store.spend_token_and_set_password(
            token_id,
            account_id,
            password,
            app.now(),
            &[],
            &notices,
        )
    };
    let (first, second) = tokio::join!(spend(), spend());
    let mut results = [first.unwrap(), second.unwrap()];
    results.sort();
    assert_eq!(results, [false, true]);
    assert!(!spend().await.unwrap(), "and never again");
    app.wake_outbox();
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "changed", "queued once");
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    assert_eq!(account.credentials_version, 1);
    app.stop().await;
}

/// Telegram refuses HTML it cannot parse (the fake does too): every value
/// from users or the CRM must be escaped, in chat and on the page.
async fn html_characters_in_names_and_logins_are_escaped(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(
        "login,email,phone,full_name,company\n\
         r&d<ops>,rd@example.com,+79031112233,R&D <Ops>,Acme & Co\n",
    )
    .await;
    let user = TgUser::new(3001, "Tom & <Jerry>", Some("en"));
    app.tg.send_text(&user, "/start");
    let greeting = app.tg.next_sent(user.id).await;
    assert!(
        greeting.text_str().starts_with("Hello, Tom &amp; &lt;Jerry&gt;!"),
        "{}",
        greeting.text_str()
    );

    let menu = greeting;
    let data = menu.callback_data_for(&t(Lang::En, "menu-forgot-password")).unwrap();
    app.tg.press_button(&user, &menu, &data);
    app.tg.next_sent(user.id).await;
    let link = link_in(&app.share_own_phone(&user, "79031112233").await);
    let html = app.get(&link).await.text().await.unwrap();
    assert!(html.contains("r&#38;d&#60;ops&#62;") && !html.contains("r&d<ops>"));

    let password = "correct horse battery staple";
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::OK);
    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("r&amp;d&lt;ops&gt;"), "{}", notice.text_str());
    app.stop().await;
}

/// Six simultaneous requests for one account at a limit of three: exactly
/// three links are stored, on both backends.
async fn the_hourly_link_limit_holds_under_concurrent_requests(db: TestDb) {
    use crm_recovery_bot::{domain::ResetToken, store::NewResetToken};

    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let account = app.store.account_by_login("anna.smith").await.unwrap().unwrap();
    let hashes: Vec<_> = (0..6).map(|_| ResetToken::generate().unwrap().hash()).collect();
    let now = app.now();
    let requests = hashes.iter().map(|hash| {
        let store = app.store.clone();
        let new = NewResetToken {
            account_id: account.id,
            hash,
            tg_user_id: TelegramUserId(anna().id),
            lang: Lang::En,
            now,
            expires_at: now + chrono::Duration::minutes(15),
        };
        async move {
            store.insert_reset_token_within_limit(&new, now - chrono::Duration::hours(1), 3).await
        }
    });
    let results = futures::future::join_all(requests).await;
    let stored = results.into_iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(stored, 3);
    let issued = app.store.reset_links_issued_since(account.id, now - chrono::Duration::hours(1));
    assert_eq!(issued.await.unwrap().len(), 3);
    app.stop().await;
}
