//! The support desk end to end: a user opens a ticket and answers its
//! questions, staff see the card in their group (a plain supergroup or a
//! forum with a topic per ticket), messages go both ways, staff act with the
//! card's buttons (checked against who pressed them), and the user rates
//! the help.

use chrono::Duration;
use crm_recovery_bot::{
    domain::Lang,
    i18n::{arg, local_time, t, t_args},
};
use serde_json::Value;

use crate::support::telegram::{GroupKind, Msg};
use crate::support::*;

on_both_backends!(
    a_lost_contact_ticket_from_opening_to_rating,
    a_forum_gives_each_ticket_its_topic_and_relays_albums,
    staff_buttons_check_who_pressed_them,
    a_user_who_blocked_the_bot_is_marked_once,
    it_wasnt_me_opens_an_urgent_ticket_and_blocks_recovery,
    a_second_request_continues_the_open_ticket,
    a_closed_topic_the_bot_cannot_reopen_moves_the_ticket_to_general,
    it_wasnt_me_makes_the_open_ticket_urgent,
);

/// The staff group of these journeys.
pub const GROUP: i64 = -1_001_234_567_890;

/// A staff member (not an admin of the group).
pub fn maria() -> TgUser {
    TgUser::new(5001, "Мария", Some("ru")).with_username("maria_support")
}

/// A staff admin (administrator of the group).
pub fn petr() -> TgUser {
    TgUser::new(5002, "Пётр", Some("ru"))
}

/// The application with `GROUP` as its staff group of `kind`, and the two
/// staff members in it.
pub async fn desk_app(db: &TestDb, kind: GroupKind) -> TestApp {
    let app = TestApp::spawn_with(db, |config| {
        config.support.chat_id = Some(GROUP);
    })
    .await;
    app.tg.add_group(GROUP, kind);
    app.tg.set_member(GROUP, maria().id, "member");
    app.tg.set_member(GROUP, petr().id, "administrator");
    app.import(ACCOUNTS_CSV).await;
    app
}

/// Presses the menu's `topic` and answers every question of the ticket
/// (Skip where `None`); returns the "ticket submitted" message.
pub async fn write_ticket(
    app: &TestApp,
    user: &TgUser,
    topic: &str,
    answers: [Option<&str>; 4],
) -> Sent {
    let lang = user_lang(user);
    let menu = app.start_chat(user).await;
    let data = menu.callback_data_for(&t(lang, topic)).expect("menu topic");
    app.tg.press_button(user, &menu, &data);
    let mut question = app.tg.next_sent(user.id).await;
    assert!(question.text_str().ends_with(&t(lang, "ticket-ask-login")), "{}", question.text_str());
    for (answer, next) in answers.iter().zip([
        "ticket-ask-company",
        "ticket-ask-sign-in",
        "ticket-ask-description",
        "ticket-ask-attachments",
    ]) {
        match answer {
            Some(text) => {
                app.tg.send_text(user, text);
            }
            None => {
                let skip = question.callback_data_for(&t(lang, "button-skip")).expect("Skip");
                app.tg.press_button(user, &question, &skip);
            }
        }
        question = app.tg.next_sent(user.id).await;
        assert!(
            question.text_str() == t_args(lang, next, &[("max", 5.into())]),
            "expected {next}, got {}",
            question.text_str()
        );
    }
    question
}

/// Presses "Send to support" under `message`; returns the confirmation.
pub async fn submit(app: &TestApp, user: &TgUser, message: &Sent) -> Sent {
    let data = message.callback_data_for(&t(user_lang(user), "button-submit-ticket")).unwrap();
    app.tg.press_button(user, message, &data);
    app.tg.next_sent(user.id).await
}

/// The next message in the staff group.
pub async fn in_group(app: &TestApp) -> Sent {
    app.tg.next_sent(GROUP).await
}

/// The next message in the staff group, a ticket's card: returned once
/// the bot has recorded it (a press or a reply within the same instant
/// would otherwise find a card the bot does not know yet).
pub async fn card_in_group(app: &TestApp) -> Sent {
    let card = in_group(app).await;
    recorded(app, &card).await;
    card
}

/// Waits until `count_sql` counts `n`.
pub async fn rows(app: &TestApp, count_sql: &'static str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let count: i64 = sqlx::query_scalar(count_sql).fetch_one(app.raw_pool()).await.unwrap();
        if count == n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{count_sql}: {count}, not {n}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Waits until the bot has recorded `sent` as belonging to a ticket.
pub async fn recorded(app: &TestApp, sent: &Sent) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let recorded: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ticket_messages WHERE chat_id = $1 AND message_id = $2",
        )
        .bind(sent.chat_id)
        .bind(sent.message_id)
        .fetch_one(app.raw_pool())
        .await
        .unwrap();
        if recorded == 1 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{} recorded", sent.summary());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A ticket of `user` through "Something else" (login given, the rest
/// skipped but for a short description), submitted; its card, recorded.
pub async fn open_ticket(app: &TestApp, user: &TgUser, login: &str) -> Sent {
    let attachments =
        write_ticket(app, user, "menu-other", [Some(login), None, None, Some("Help")]).await;
    submit(app, user, &attachments).await;
    card_in_group(app).await
}

/// `user` (Anna) resets her password through the bot, then presses "It
/// wasn't me" under the notice; the bot's answer.
pub async fn reset_then_say_not_me(app: &TestApp, user: &TgUser) -> Sent {
    app.open_forgot_password(user).await;
    let link = link_in(&app.share_own_phone(user, ANNA_PHONE).await);
    let password = "correct horse battery staple";
    app.post_password(&link, password, password).await;
    let notice = app.tg.next_sent(user.id).await;
    let data = notice.callback_data_for(&t(Lang::En, "button-not-me")).unwrap();
    app.tg.press_button(user, &notice, &data);
    app.tg.next_sent(user.id).await
}

/// A staff member presses the card's button labelled by `key`; returns
/// the answer to the press.
pub async fn press_on_card(app: &TestApp, who: &TgUser, card: &Sent, key: &str) -> Value {
    let data = card.callback_data_for(&t(Lang::Ru, key)).unwrap_or_else(|| panic!("{key} on card"));
    let pressed = app.tg.press_button(who, card, &data);
    app.tg.wait_callback_answer(&pressed).await.params
}

async fn a_lost_contact_ticket_from_opening_to_rating(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    let attachments = write_ticket(
        &app,
        &user,
        "menu-lost-contact",
        [Some("anna.smith"), None, Some("yesterday"), Some("My phone was stolen <b>help</b>")],
    )
    .await;
    app.tg.send_photo(&user, Some("the error"));
    let received = app.tg.next_sent(user.id).await;
    assert_eq!(
        received.text_str(),
        t_args(Lang::En, "ticket-attachment-received", &[("count", 1.into()), ("max", 5.into())])
    );
    let submitted = submit(&app, &user, &received).await;
    let due =
        local_time(Lang::En, app.now() + Duration::minutes(30), chrono_tz::Tz::UTC, app.now());
    assert_eq!(
        submitted.text_str(),
        t_args(Lang::En, "ticket-submitted", &[("ticket", arg("#1")), ("due", arg(due))])
    );
    let _ = attachments;

    // Staff see the card: what the user claims beside what the CRM knows,
    // the user's text escaped; then the screenshot.
    let card = card_in_group(&app).await;
    let text = card.text_str();
    assert!(text.contains("#1"), "{text}");
    assert!(text.contains(&t(Lang::Ru, "desk-category-lost_contact")), "{text}");
    assert!(text.contains("tg://user?id=1002"), "{text}");
    let found = t_args(
        Lang::Ru,
        "desk-card-claimed-login-found",
        &[("login", arg("anna.smith")), ("account", arg("anna.smith"))],
    );
    assert!(text.contains(&found), "{text}");
    assert!(text.contains("24.11.2026"), "yesterday, as a date: {text}");
    assert!(text.contains("&lt;b&gt;help&lt;/b&gt;"), "escaped: {text}");
    assert!(card.callback_data_for(&t(Lang::Ru, "desk-button-take")).is_some());
    let screenshot = in_group(&app).await;
    assert_eq!(screenshot.method, "copymessage");
    assert!(screenshot.text_str().contains("#1"), "{}", screenshot.text_str());
    assert!(screenshot.text_str().contains("the error"), "{}", screenshot.text_str());

    // A staff reply to the card reaches the user signed "Support", without
    // the staff member's name.
    app.tg.send_group(
        GROUP,
        &maria(),
        Msg::text("Здравствуйте! Проверим & ответим.").reply_to(&card),
    );
    let reply = app.tg.next_sent(user.id).await;
    assert!(reply.text_str().starts_with(&t(Lang::En, "desk-signature")), "{}", reply.text_str());
    assert!(reply.text_str().contains("Проверим &amp; ответим."), "{}", reply.text_str());
    assert!(!reply.text_str().contains("Мария"));

    // Take: the card shows who took it.
    let answer = press_on_card(&app, &maria(), &card, "desk-button-take").await;
    assert!(answer.get("text").is_none(), "{answer}");
    let taken = in_group(&app).await;
    assert_eq!(taken.method, "editmessagetext");
    assert!(taken.text_str().contains(&t_args(
        Lang::Ru,
        "desk-status-taken",
        &[("name", arg("Мария"))]
    )));
    assert!(taken.callback_data_for(&t(Lang::Ru, "desk-button-release")).is_some());

    // The user's messages go into the ticket; an edit is sent again, marked.
    let said = app.tg.send_text(&user, "Thanks, waiting");
    let relayed = in_group(&app).await;
    assert!(relayed.text_str().ends_with("Thanks, waiting"), "{}", relayed.text_str());
    assert!(relayed.text_str().contains("#1 · Anna"), "{}", relayed.text_str());
    app.tg.edit_user_message(user.id, said, "Thanks, still waiting");
    let edited = in_group(&app).await;
    assert!(edited.text_str().starts_with("✏️ #1 · Anna"), "{}", edited.text_str());
    assert!(edited.text_str().ends_with("Thanks, still waiting"));

    // A note between staff stays in the group.
    app.tg.send_group(GROUP, &maria(), Msg::text("// позвонить в отдел кадров").reply_to(&card));

    // Close: the card loses its buttons, the user is asked for a rating.
    press_on_card(&app, &maria(), &taken, "desk-button-close").await;
    let closed = in_group(&app).await;
    assert!(closed.text_str().contains(&t_args(
        Lang::Ru,
        "desk-status-closed",
        &[("name", arg("Мария"))]
    )));
    assert!(closed.inline_buttons().is_empty());
    let rate = app.tg.next_sent(user.id).await;
    assert_eq!(
        rate.text_str(),
        t_args(Lang::En, "ticket-closed-by-staff", &[("ticket", arg("#1"))])
    );
    let five = rate.callback_data_for("5 ★").unwrap();
    app.tg.press_button(&user, &rate, &five);
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::En, "ticket-rated"));
    let rated_card = in_group(&app).await;
    assert!(rated_card.text_str().contains("5/5"), "{}", rated_card.text_str());
    let rated = in_group(&app).await;
    assert_eq!(
        rated.text_str(),
        t_args(Lang::Ru, "desk-notice-rated", &[("ticket", arg("#1")), ("rating", 5.into())])
    );
    app.tg.send_text(&user, "Quick & kind");
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::En, "ticket-thanks"));
    let comment = in_group(&app).await;
    assert!(comment.text_str().ends_with("Quick &amp; kind"), "{}", comment.text_str());

    let (status, rating): (String, i64) =
        sqlx::query_as("SELECT status, rating FROM tickets WHERE number = 1")
            .fetch_one(app.raw_pool())
            .await
            .unwrap();
    assert_eq!((status.as_str(), rating), ("closed", 5));
    assert!(app.audit_events().await.contains(&"ticket_opened".to_owned()));
    app.stop().await;
}

async fn a_forum_gives_each_ticket_its_topic_and_relays_albums(db: TestDb) {
    let app = desk_app(&db, GroupKind::Forum).await;
    let user = ivan();
    let attachments = write_ticket(
        &app,
        &user,
        "menu-other",
        [Some("ivan@example.com"), Some("Acme"), Some("вчера"), Some("Не приходит письмо")],
    )
    .await;
    let submitted = submit(&app, &user, &attachments).await;
    assert!(submitted.text_str().starts_with("Обращение #1 передано"), "{}", submitted.text_str());

    // A topic of its own, and the card in it.
    let topic = app.tg.wait_for_call("createforumtopic").await;
    assert!(topic.params["name"].as_str().unwrap().starts_with("#1 · Иван"), "{}", topic.params);
    let card = card_in_group(&app).await;
    let thread = card.thread_id().expect("the card is in the ticket's topic");

    // Anything in the topic reaches the user, even without a reply; the
    // topic's own creation message is not taken for one.
    app.tg.send_group(GROUP, &maria(), Msg::text("Посмотрим").thread(thread));
    let reply = app.tg.next_sent(user.id).await;
    assert!(reply.text_str().starts_with(&t(Lang::Ru, "desk-signature")));
    assert!(reply.text_str().ends_with("Посмотрим"));

    // An album is copied together.
    for _ in 0..2 {
        app.tg.send_group(GROUP, &maria(), Msg::photo().media_group_id("album-1").thread(thread));
    }
    // The relay waits a moment for an album's other parts.
    rows(&app, "SELECT COUNT(*) FROM ticket_items WHERE media_group_id = 'album-1'", 2).await;
    app.advance(Duration::seconds(3));
    let copies = app.tg.wait_for_call("copymessages").await;
    assert_eq!(copies.params["message_ids"].as_array().map(Vec::len), Some(2), "{}", copies.params);
    app.tg.next_sent(user.id).await;
    app.tg.next_sent(user.id).await;

    // A deleted topic is created again, with the card, and the message follows.
    app.tg.delete_topic(GROUP, thread);
    app.tg.send_text(&user, "Ещё вопрос");
    let card_again = card_in_group(&app).await;
    let new_thread = card_again.thread_id().expect("in a topic");
    assert_ne!(new_thread, thread);
    assert!(card_again.text_str().contains("#1"));
    let relayed = in_group(&app).await;
    assert_eq!(relayed.thread_id(), Some(new_thread));
    assert!(relayed.text_str().ends_with("Ещё вопрос"));
    assert_eq!(app.tg.calls("createforumtopic").len(), 2);

    // Closing the ticket closes its topic.
    press_on_card(&app, &maria(), &card_again, "desk-button-close").await;
    in_group(&app).await;
    app.tg.next_sent(user.id).await;
    app.tg.wait_for_call("closeforumtopic").await;
    app.stop().await;
}

async fn staff_buttons_check_who_pressed_them(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    // Through "My account is locked": the card names the verified account.
    let menu = app.start_chat(&user).await;
    let locked = menu.callback_data_for(&t(Lang::En, "menu-account-locked")).unwrap();
    app.tg.press_button(&user, &menu, &locked);
    app.tg.next_sent(user.id).await;
    let explained = app.share_own_phone(&user, ANNA_PHONE).await;
    let support = explained.callback_data_for(&t(Lang::En, "button-talk-to-support")).unwrap();
    app.tg.press_button(&user, &explained, &support);
    let question = app.tg.next_sent(user.id).await;
    assert!(
        question.text_str().ends_with(&t(Lang::En, "ticket-ask-sign-in")),
        "{}",
        question.text_str()
    );
    let skip = question.callback_data_for(&t(Lang::En, "button-skip")).unwrap();
    app.tg.press_button(&user, &question, &skip);
    app.tg.next_sent(user.id).await;
    app.tg.send_text(&user, "Locked out");
    let attachments = app.tg.next_sent(user.id).await;
    submit(&app, &user, &attachments).await;
    let card = card_in_group(&app).await;
    assert!(card.text_str().contains("<code>anna.smith</code>"), "{}", card.text_str());
    assert!(card.text_str().contains(&t(Lang::Ru, "desk-card-lock-none")));

    // Someone outside the staff group.
    let outsider = TgUser::new(6666, "Outsider", Some("en"));
    let answer = press_on_card(&app, &outsider, &card, "desk-button-take").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-refused-not-staff"));
    assert_eq!(answer["show_alert"], true);
    // A staff member, but not an admin, for an admin's action.
    let answer = press_on_card(&app, &maria(), &card, "desk-button-unlock").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-refused-not-admin"));
    // A forged payload naming another ticket's action on this card.
    let forged = app.tg.press_button(&petr(), &card, "st:999:unlock");
    let answer = app.tg.wait_callback_answer(&forged).await.params;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-refused-foreign"));
    let refusals = app.audit_events().await.iter().filter(|e| *e == "staff_action_refused").count();
    assert_eq!(refusals, 3);

    // The group's administrator may; with nothing locked, it says so.
    let answer = press_on_card(&app, &petr(), &card, "desk-button-unlock").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-not-applicable"));

    // Send reset link: a fresh link for the verified account, to the user.
    press_on_card(&app, &maria(), &card, "desk-button-send-link").await;
    let link = app.tg.next_sent(user.id).await;
    assert!(link.text_str().contains("/reset/"), "{}", link.text_str());
    let told = in_group(&app).await;
    assert!(told.text_str().contains("Мария"), "{}", told.text_str());

    // Reject: the reason is asked with a forced reply and shown to the user.
    press_on_card(&app, &petr(), &card, "desk-button-reject").await;
    let prompt = in_group(&app).await;
    recorded(&app, &prompt).await;
    assert_eq!(prompt.reply_markup.as_ref().unwrap()["force_reply"], true);
    // Someone else's reply to the prompt is not the reason.
    app.tg.send_group(GROUP, &maria(), Msg::text("не то").reply_to(&prompt));
    app.tg.send_group(
        GROUP,
        &petr(),
        Msg::text("Обратитесь к администратору компании").reply_to(&prompt),
    );
    let rejected_card = in_group(&app).await;
    assert!(rejected_card.text_str().contains("Обратитесь к администратору компании"));
    let rejected = app.tg.next_sent(user.id).await;
    assert_eq!(
        rejected.text_str(),
        t_args(
            Lang::En,
            "ticket-rejected",
            &[("ticket", arg("#1")), ("reason", arg("Обратитесь к администратору компании"))]
        )
    );
    app.stop().await;
}

async fn a_user_who_blocked_the_bot_is_marked_once(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    let card = open_ticket(&app, &user, "anna.smith").await;
    app.tg.block_bot(user.id);
    app.tg.send_group(GROUP, &maria(), Msg::text("Вы здесь?").reply_to(&card));
    let card_again = in_group(&app).await;
    assert!(card_again.text_str().contains("⚠️"), "{}", card_again.text_str());
    let notice = in_group(&app).await;
    assert_eq!(
        notice.text_str(),
        t_args(Lang::Ru, "desk-notice-user-unreachable", &[("ticket", arg("#1"))])
    );
    // A second reply is kept as failed, without a second notice.
    app.tg.send_group(GROUP, &maria(), Msg::text("Ау?").reply_to(&card));
    rows(
        &app,
        "SELECT COUNT(*) FROM ticket_items WHERE direction = 'to_user' AND failed_at IS NOT NULL",
        2,
    )
    .await;
    app.stop().await;
}

async fn it_wasnt_me_opens_an_urgent_ticket_and_blocks_recovery(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    let answer = reset_then_say_not_me(&app, &user).await;
    assert_eq!(answer.text_str(), t_args(Lang::En, "not-me-ticket", &[("ticket", arg("#1"))]));
    let card = card_in_group(&app).await;
    assert!(card.text_str().starts_with("🚨"), "{}", card.text_str());
    assert!(card.text_str().contains(&t(Lang::Ru, "desk-category-not_me")));

    // As the mailed link does: the CRM's sessions dropped too.
    let version: i64 =
        sqlx::query_scalar("SELECT credentials_version FROM accounts WHERE login = 'anna.smith'")
            .fetch_one(app.raw_pool())
            .await
            .unwrap();
    assert_eq!(version, 2, "the reset, then the report");

    // No more links until the block is lifted.
    app.open_forgot_password(&user).await;
    let refused = app.share_own_phone(&user, ANNA_PHONE).await;
    assert_eq!(refused.text_str(), t(Lang::En, "reset-recovery-blocked"));

    // Only an admin lifts it; the user is told.
    let answer = press_on_card(&app, &maria(), &card, "desk-button-lift-block").await;
    assert_eq!(answer["text"], t(Lang::Ru, "desk-refused-not-admin"));
    press_on_card(&app, &petr(), &card, "desk-button-lift-block").await;
    in_group(&app).await;
    let lifted = app.tg.next_sent(user.id).await;
    assert_eq!(
        lifted.text_str(),
        t_args(Lang::En, "ticket-recovery-unblocked", &[("ticket", arg("#1"))])
    );
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let events = app.audit_events().await;
    assert!(events.contains(&"recovery_blocked".to_owned()));
    assert!(events.contains(&"recovery_unblocked".to_owned()));
    app.stop().await;
}

async fn a_second_request_continues_the_open_ticket(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = ivan();
    let attachments = write_ticket(
        &app,
        &user,
        "menu-lost-contact",
        [Some("ivan.petrov"), None, None, Some("Нет доступа к почте")],
    )
    .await;
    submit(&app, &user, &attachments).await;
    in_group(&app).await;
    let menu = app.start_chat(&user).await;
    let other = menu.callback_data_for(&t(Lang::Ru, "menu-other")).unwrap();
    app.tg.press_button(&user, &menu, &other);
    let continues = app.tg.next_sent(user.id).await;
    assert_eq!(
        continues.text_str(),
        t_args(Lang::Ru, "ticket-continues", &[("ticket", arg("#1"))])
    );
    let again = in_group(&app).await;
    assert!(again.text_str().starts_with("↪️ #1"), "{}", again.text_str());
    let open: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(app.raw_pool()).await.unwrap();
    assert_eq!(open, 1);

    // The user closes it and may reopen it within a week.
    let close = continues.callback_data_for(&t(Lang::Ru, "button-close-ticket")).unwrap();
    app.tg.press_button(&user, &continues, &close);
    let closed = app.tg.next_sent(user.id).await;
    assert_eq!(
        closed.text_str(),
        t_args(Lang::Ru, "ticket-closed-by-you", &[("ticket", arg("#1"))])
    );
    in_group(&app).await; // the card
    in_group(&app).await; // "the user closed it"
    // Within the week it opens again, with the staff told.
    let reopen = closed.callback_data_for(&t(Lang::Ru, "button-reopen-ticket")).unwrap();
    app.tg.press_button(&user, &closed, &reopen);
    let reopened = app.tg.next_sent(user.id).await;
    assert_eq!(reopened.text_str(), t_args(Lang::Ru, "ticket-reopened", &[("ticket", arg("#1"))]));
    in_group(&app).await; // the card
    assert!(in_group(&app).await.text_str().starts_with("↩️"));
    let close = reopened.callback_data_for(&t(Lang::Ru, "button-close-ticket")).unwrap();
    app.tg.press_button(&user, &reopened, &close);
    let closed = app.tg.next_sent(user.id).await;
    in_group(&app).await;
    in_group(&app).await;
    app.clock.advance(Duration::days(8));
    let reopen = closed.callback_data_for(&t(Lang::Ru, "button-reopen-ticket")).unwrap();
    app.tg.press_button(&user, &closed, &reopen);
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::Ru, "ticket-cannot-reopen"));
    app.stop().await;
}

/// A topic closed by hand is reopened when the bot may; when it may not
/// (no right to manage topics), the ticket goes on in General: nothing
/// waits for a right that may never come.
async fn a_closed_topic_the_bot_cannot_reopen_moves_the_ticket_to_general(db: TestDb) {
    let app = desk_app(&db, GroupKind::Forum).await;
    let user = anna();
    let card = open_ticket(&app, &user, "anna.smith").await;
    let thread = card.thread_id().expect("in its topic");

    app.tg.set_bot_can_manage_topics(GROUP, false);
    app.tg.close_topic(GROUP, thread);
    app.tg.send_text(&user, "Anyone?");
    let card_again = card_in_group(&app).await;
    assert_eq!(card_again.thread_id(), None, "in General: {}", card_again.summary());
    let relayed = in_group(&app).await;
    assert_eq!(relayed.thread_id(), None);
    assert!(relayed.text_str().ends_with("Anyone?"));
    // Replies to the new card still reach the user.
    app.tg.send_group(GROUP, &maria(), Msg::text("Да").reply_to(&card_again));
    assert!(app.tg.next_sent(user.id).await.text_str().ends_with("Да"));
    app.stop().await;
}

/// With a ticket already open, "It wasn't me" makes that ticket urgent and
/// posts its card again where staff see it, instead of opening another.
async fn it_wasnt_me_makes_the_open_ticket_urgent(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    let first = open_ticket(&app, &user, "anna.smith").await;
    assert!(first.text_str().starts_with("🆘"));

    let answer = reset_then_say_not_me(&app, &user).await;
    assert_eq!(answer.text_str(), t_args(Lang::En, "not-me-ticket", &[("ticket", arg("#1"))]));
    let again = card_in_group(&app).await;
    assert_eq!(again.method, "sendmessage", "posted again, not edited");
    assert_ne!(again.message_id, first.message_id);
    assert!(again.text_str().starts_with("🚨"), "{}", again.summary());
    assert!(again.callback_data_for(&t(Lang::Ru, "desk-button-lift-block")).is_some());
    let tickets: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(app.raw_pool()).await.unwrap();
    assert_eq!(tickets, 1);
    app.stop().await;
}
