//! The life of a reset link in Telegram: three messages from /start to the
//! link, and the message taken back once the link is used, revoked or
//! expired.

use crate::support::*;
use crm_recovery_bot::{
    domain::{Delivery, Lang, NewDelivery},
    i18n::t,
};
use reqwest::StatusCode;

on_both_backends!(
    a_recovery_costs_three_messages,
    the_link_message_is_deleted_once_the_link_is_used,
    a_newer_link_takes_the_older_message_back_at_once,
    an_expired_link_is_taken_back_when_it_expires,
    a_link_message_too_old_to_delete_is_edited_instead,
);

const PASSWORD: &str = "correct horse battery staple";

/// The menu, the contact request, the link: nothing else in between.
async fn a_recovery_costs_three_messages(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    link_in(&link_message);
    let sent = app.tg.all_sent(user.id);
    assert_eq!(sent.len(), 3, "{:?}", sent.iter().map(|m| m.summary()).collect::<Vec<_>>());
    assert_eq!(app.tg.calls("sendmessage").len(), 3, "and no other message anywhere");

    // One keyboard per message: the link's is inline; the contact keyboard
    // was one-time and hid itself when used.
    let request = &sent[1];
    assert_eq!(request.reply_markup.as_ref().unwrap()["one_time_keyboard"], true);
    let buttons = link_message.inline_buttons();
    assert_eq!(buttons.len(), 1, "plain http: no URL button, the link is in the text");
    assert_eq!(buttons[0].0, t(Lang::En, "button-back-to-menu"));
    app.stop().await;
}

async fn the_link_message_is_deleted_once_the_link_is_used(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;
    let link = link_in(&link_message);
    assert!(app.tg.deleted(user.id).is_empty(), "kept while the link works");

    assert_eq!(app.post_password(&link, PASSWORD, PASSWORD).await.status(), StatusCode::OK);
    app.tg.wait_for_call("deletemessage").await;
    assert_eq!(app.tg.deleted(user.id), [link_message.message_id]);
    // The "password changed" notice says when, in the account's zone.
    let notice = app.tg.next_sent(user.id).await;
    assert!(notice.text_str().contains("was changed at 09:00 (UTC)"), "{}", notice.text_str());
    app.stop().await;
}

async fn a_newer_link_takes_the_older_message_back_at_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    let older = app.share_own_phone(&user, IVAN_PHONE).await;
    app.open_forgot_password(&user).await;
    let newer = app.share_own_phone(&user, IVAN_PHONE).await;
    app.tg.wait_for_call("deletemessage").await;
    assert_eq!(app.tg.deleted(user.id), [older.message_id]);
    assert_eq!(app.get(&link_in(&newer)).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn an_expired_link_is_taken_back_when_it_expires(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, ANNA_PHONE).await;

    app.advance(chrono::Duration::minutes(9));
    // A row due now goes out: the worker has looked at the link's row too.
    let probe =
        Delivery::RenderedMessage { chat: user.id, html: "probe".into(), reply_markup: None };
    app.store.enqueue(&NewDelivery::now(probe, app.now()), app.now()).await.unwrap();
    app.wake_outbox();
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), "probe");
    assert!(app.tg.deleted(user.id).is_empty(), "not before it expires");
    app.advance(chrono::Duration::minutes(1));
    app.tg.wait_for_call("deletemessage").await;
    assert_eq!(app.tg.deleted(user.id), [link_message.message_id]);
    assert_eq!(app.get(&link_in(&link_message)).await.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Telegram lets a bot delete its messages for 48 hours; an older one is
/// edited to say the link no longer works.
async fn a_link_message_too_old_to_delete_is_edited_instead(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    let link_message = app.share_own_phone(&user, IVAN_PHONE).await;
    app.tg.fail_next(
        "deletemessage",
        400,
        "Bad Request: message can't be deleted for everyone",
        None,
    );
    app.advance(chrono::Duration::minutes(10));
    let edited = app.tg.next_sent(user.id).await;
    assert_eq!(edited.method, "editmessagetext");
    assert_eq!(edited.message_id, link_message.message_id);
    assert_eq!(edited.text_str(), t(Lang::Ru, "reset-link-retracted"));
    assert!(edited.inline_buttons().is_empty(), "the keyboard goes with the link");
    app.stop().await;
}
