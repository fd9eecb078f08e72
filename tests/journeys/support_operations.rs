//! The support desk as operators and staff live with it: the group
//! upgraded to a supergroup mid-ticket, reminders for untaken tickets (once,
//! with two workers, inside working hours), Telegram failing and the bot
//! restarting, long texts, the group's commands, and the user's /status and
//! /privacy.

use chrono::Duration;
use crm_recovery_bot::{
    domain::{Lang, SupportHours, TelegramUserId},
    i18n::{arg, local_time, t, t_args},
};

use crate::support::telegram::{GroupKind, Msg};
use crate::support::*;
use crate::support_desk::{
    GROUP, card_in_group, desk_app, in_group, maria, open_ticket, petr, press_on_card, recorded,
    reset_then_say_not_me, rows, submit, write_ticket,
};

on_both_backends!(
    a_group_upgraded_to_a_supergroup_is_followed,
    untaken_tickets_are_reminded_once_inside_working_hours,
    nothing_is_lost_to_telegram_failures_or_a_restart,
    long_texts_are_split_never_dropped,
    staff_commands_list_and_show_tickets,
    status_and_privacy_in_the_private_chat,
    a_staff_admin_unlocks_from_the_card_and_the_user_is_told,
    the_command_line_lifts_a_recovery_block,
);

async fn a_group_upgraded_to_a_supergroup_is_followed(db: TestDb) {
    const BASIC: i64 = -5555;
    let app = TestApp::spawn_with(&db, |config| config.support.chat_id = Some(BASIC)).await;
    app.tg.add_group(BASIC, GroupKind::Basic);
    app.tg.set_member(BASIC, maria().id, "member");
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    let attachments =
        write_ticket(&app, &user, "menu-other", [Some("anna.smith"), None, None, Some("Help")])
            .await;
    submit(&app, &user, &attachments).await;
    let card = app.tg.next_sent(BASIC).await;
    recorded(&app, &card).await;

    let supergroup = app.tg.migrate_group(BASIC);
    app.tg.set_member(supergroup, maria().id, "member");
    app.tg.send_text(&user, "Still there?");
    // The card is posted again where the group now is, then the message.
    let card_again = app.tg.next_sent(supergroup).await;
    assert!(card_again.text_str().contains("#1"), "{}", card_again.summary());
    recorded(&app, &card_again).await;
    let relayed = app.tg.next_sent(supergroup).await;
    assert!(relayed.text_str().ends_with("Still there?"), "{}", relayed.summary());
    let learned: String =
        sqlx::query_scalar("SELECT value FROM desk_settings WHERE name = 'support_chat_id'")
            .fetch_one(app.raw_pool())
            .await
            .unwrap();
    assert_eq!(learned, supergroup.to_string());

    // Staff work on in the supergroup; a restart keeps the new id.
    let mut app = app;
    app.restart().await;
    app.tg.send_group(supergroup, &maria(), Msg::text("Да, здесь").reply_to(&card_again));
    let reply = app.tg.next_sent(user.id).await;
    assert!(reply.text_str().ends_with("Да, здесь"), "{}", reply.summary());
    app.stop().await;
}

async fn untaken_tickets_are_reminded_once_inside_working_hours(db: TestDb) {
    let app = TestApp::spawn_with(&db, |config| {
        config.support.chat_id = Some(GROUP);
        config.support.admin_ids = vec![TelegramUserId(petr().id)];
        config.support.hours = Some(SupportHours::parse("Mon-Fri 09:00-18:00 UTC").unwrap());
    })
    .await;
    app.tg.add_group(GROUP, GroupKind::Supergroup);
    app.import(ACCOUNTS_CSV).await;
    let second = ExtraWorker::start_with_desk(
        &db,
        app.tg.api_url(),
        &app.clock,
        GROUP,
        vec![TelegramUserId(petr().id)],
    )
    .await;

    // Wednesday 17:50: thirty working minutes end on Thursday at 09:20.
    app.clock.advance(Duration::minutes(8 * 60 + 50));
    let user = anna();
    let attachments =
        write_ticket(&app, &user, "menu-other", [Some("anna.smith"), None, None, Some("Help")])
            .await;
    let submitted = submit(&app, &user, &attachments).await;
    let due = app.now() + Duration::hours(15) + Duration::minutes(30);
    let shown = local_time(Lang::En, due, chrono_tz::Tz::UTC, app.now());
    assert!(submitted.text_str().contains(&shown), "{shown}: {}", submitted.text_str());
    card_in_group(&app).await;
    settled(&app).await;

    // Not in the evening, at night, or at 09:19.
    for step in [Duration::hours(1), Duration::hours(14), Duration::minutes(29)] {
        app.advance(step);
        second.wake();
        enqueue_marker(&app, "marker").await;
    }
    app.advance(Duration::minutes(2));
    second.wake();
    let first = in_group(&app).await;
    assert!(
        first.text_str().starts_with("⏰") && first.text_str().contains("#1"),
        "{}",
        first.summary()
    );
    assert!(!first.text_str().contains("tg://user?id=5002"), "no admins yet");
    settled(&app).await;
    // The second after twice the time: 09:50 Thursday, with the admins.
    app.advance(Duration::minutes(30));
    second.wake();
    let again = in_group(&app).await;
    assert!(again.text_str().contains("tg://user?id=5002"), "{}", again.summary());
    settled(&app).await;
    app.advance(Duration::hours(5));
    second.wake();
    enqueue_marker(&app, "the end").await;
    second.stop().await;
    let reminders =
        app.tg.all_sent(GROUP).iter().filter(|sent| sent.text_str().starts_with("⏰")).count();
    assert_eq!(reminders, 2, "each reminder once");
    app.stop().await;
}

/// A message to the group due now, read back: by then the worker has
/// looked at everything due before it. Then every claim is let go: the
/// test's clock jumps hours at once, and a claim held across such a jump
/// would run out and be taken over (delivery is at least once).
async fn enqueue_marker(app: &TestApp, text: &str) {
    use crm_recovery_bot::domain::NewDelivery;
    let delivery = NewDelivery::now(message(GROUP, text), app.now());
    app.store.enqueue(&delivery, app.now()).await.unwrap();
    app.wake_outbox();
    let got = in_group(app).await;
    assert_eq!(got.text_str(), text, "the marker came first");
    settled(app).await;
}

/// Waits until no worker holds a claim.
async fn settled(app: &TestApp) {
    rows(app, "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL", 0).await;
}

async fn nothing_is_lost_to_telegram_failures_or_a_restart(db: TestDb) {
    let mut app = desk_app(&db, GroupKind::Supergroup).await;
    let user = ivan();
    let card = open_ticket(&app, &user, "ivan.petrov").await;

    // A storm of 429s: the throttle waits as told, nothing is dropped.
    for _ in 0..3 {
        app.tg.fail_next("sendmessage", 429, "Too Many Requests: retry after 1", Some(1));
    }
    app.tg.send_group(GROUP, &maria(), Msg::text("Первый ответ").reply_to(&card));
    let first = app.tg.next_sent(user.id).await;
    assert!(first.text_str().ends_with("Первый ответ"));

    // A failure the worker retries later, and a restart before it does.
    app.tg.garble_next("sendmessage");
    app.tg.send_text(&user, "Жду");
    rows(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%ticket_relay%' AND attempts = 1 \
         AND sent_at IS NULL AND claimed_by IS NULL",
        1,
    )
    .await;
    app.restart().await;
    app.advance(Duration::seconds(5));
    let relayed = in_group(&app).await;
    assert!(relayed.text_str().ends_with("Жду"), "{}", relayed.summary());
    let copies =
        app.tg.all_sent(GROUP).iter().filter(|sent| sent.text_str().ends_with("Жду")).count();
    assert_eq!(copies, 1);
    app.stop().await;
}

async fn long_texts_are_split_never_dropped(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    // A description longer than the card shows follows the card in full.
    let description: String = "Long story & more. ".repeat(120);
    let attachments = write_ticket(
        &app,
        &user,
        "menu-other",
        [Some("anna.smith"), None, None, Some(description.trim())],
    )
    .await;
    submit(&app, &user, &attachments).await;
    let card = card_in_group(&app).await;
    assert!(card.text_str().contains(&t(Lang::Ru, "desk-card-description-continued")));
    let full = in_group(&app).await;
    assert!(full.text_str().ends_with("Long story &amp; more."), "{}", full.summary());

    // A staff reply over Telegram's 4,096 characters arrives in pieces.
    let words: Vec<String> = (0..900).map(|n| format!("слово{n}")).collect();
    let long = words.join(" ");
    app.tg.send_group(GROUP, &maria(), Msg::text(&long).reply_to(&card));
    let one = app.tg.next_sent(user.id).await;
    let two = app.tg.next_sent(user.id).await;
    assert!(one.text_str().starts_with(&t(Lang::En, "desk-signature")));
    let body = one.text_str().split_once('\n').unwrap().1.to_owned();
    assert_eq!(format!("{body} {}", two.text_str()), long, "nothing dropped, in order");
    app.stop().await;
}

async fn staff_commands_list_and_show_tickets(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let card = open_ticket(&app, &anna(), "anna.smith").await;
    open_ticket(&app, &ivan(), "ivan.petrov").await;
    press_on_card(&app, &maria(), &card, "desk-button-take").await;
    in_group(&app).await;
    app.advance(Duration::minutes(5));

    app.tg.send_group(GROUP, &petr(), Msg::text("/tickets"));
    let list = in_group(&app).await;
    let text = list.text_str();
    let first = text.find("#1 ·").expect("#1 listed");
    let second = text.find("#2 ·").expect("#2 listed");
    assert!(first < second, "oldest first: {text}");
    assert!(text.contains("Мария"), "who took it: {text}");
    let age = t_args(
        Lang::Ru,
        "desk-age",
        &[("days", 0.into()), ("hours", 0.into()), ("minutes", 5.into())],
    );
    assert!(text.contains(&age), "its age: {text}");

    app.tg.send_group(GROUP, &petr(), Msg::text("/ticket 1"));
    let one = in_group(&app).await;
    assert!(one.text_str().contains(&t(Lang::Ru, "desk-history-title")), "{}", one.summary());
    assert!(one.text_str().contains("take"), "{}", one.summary());

    app.tg.send_group(GROUP, &petr(), Msg::text("/find ivan.petrov"));
    let found = in_group(&app).await;
    assert!(found.text_str().contains("#2") && !found.text_str().contains("#1 ·"));

    // /chatid answers in any group, so an operator can set SUPPORT_CHAT_ID.
    const OTHER: i64 = -1_009_999;
    app.tg.add_group(OTHER, GroupKind::Supergroup);
    app.tg.send_group(OTHER, &petr(), Msg::text("/chatid"));
    let id = app.tg.next_sent(OTHER).await;
    assert_eq!(id.text_str(), t_args(Lang::Ru, "desk-chat-id", &[("id", arg(OTHER.to_string()))]));
    // Anything else there is ignored.
    app.tg.send_group(OTHER, &petr(), Msg::text("/tickets"));
    app.tg.send_group(OTHER, &petr(), Msg::text("hello"));
    app.tg.send_group(GROUP, &petr(), Msg::text("/chatid"));
    in_group(&app).await;
    app.stop().await;
}

async fn status_and_privacy_in_the_private_chat(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    app.start_chat(&user).await;
    app.tg.send_text(&user, "/status");
    let empty = app.tg.next_sent(user.id).await;
    assert!(empty.text_str().contains(&t(Lang::En, "status-no-tickets")));

    // Anna proved her phone on the way: her account's state is shown too.
    app.open_forgot_password(&user).await;
    app.share_own_phone(&user, ANNA_PHONE).await;
    open_ticket(&app, &user, "anna.smith").await;
    app.tg.send_text(&user, "/status");
    let status = app.tg.next_sent(user.id).await;
    let text = status.text_str();
    assert!(text.contains("#1"), "{text}");
    assert!(text.contains(&t(Lang::En, "status-ticket-open")), "{text}");
    assert!(
        text.contains(&t_args(Lang::En, "status-not-locked", &[("login", arg("anna.smith"))])),
        "{text}"
    );
    assert!(status.callback_data_for(&t(Lang::En, "button-close-ticket")).is_some());

    app.tg.send_text(&user, "/privacy");
    let privacy = app.tg.next_sent(user.id).await;
    assert_eq!(privacy.text_str(), t(Lang::En, "privacy-text"));
    assert!(privacy.callback_data_for(&t(Lang::En, "button-talk-to-support")).is_some());
    app.stop().await;
}

const API_TOKEN: &str = "test-api-token-0123456789abcdef-0123456789";

async fn wrong_password(app: &TestApp, login: &str) -> reqwest::StatusCode {
    app.http
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"login": login, "password": "not the password at all"}))
        .send()
        .await
        .unwrap()
        .status()
}

/// "Talk to support" under a lock: the card shows the lock, and a staff
/// admin's Unlock lifts it through the same rules and tells the user.
async fn a_staff_admin_unlocks_from_the_card_and_the_user_is_told(db: TestDb) {
    let app = TestApp::spawn_with(&db, |config| {
        config.support.chat_id = Some(GROUP);
        config.api_token = Some(API_TOKEN.into());
    })
    .await;
    app.tg.add_group(GROUP, GroupKind::Supergroup);
    app.tg.set_member(GROUP, maria().id, "member");
    app.tg.set_member(GROUP, petr().id, "creator");
    app.import(ACCOUNTS_CSV).await;
    for _ in 0..5 {
        wrong_password(&app, "ivan.petrov").await;
    }
    assert_eq!(wrong_password(&app, "ivan.petrov").await, reqwest::StatusCode::LOCKED);

    let user = ivan();
    let menu = app.start_chat(&user).await;
    let locked = menu.callback_data_for(&t(Lang::Ru, "menu-account-locked")).unwrap();
    app.tg.press_button(&user, &menu, &locked);
    app.tg.next_sent(user.id).await;
    let explained = app.share_own_phone(&user, IVAN_PHONE).await;
    let support = explained.callback_data_for(&t(Lang::Ru, "button-talk-to-support")).unwrap();
    app.tg.press_button(&user, &explained, &support);
    let question = app.tg.next_sent(user.id).await;
    let skip = question.callback_data_for(&t(Lang::Ru, "button-skip")).unwrap();
    app.tg.press_button(&user, &question, &skip);
    app.tg.next_sent(user.id).await;
    app.tg.send_text(&user, "Не могу войти");
    let attachments = app.tg.next_sent(user.id).await;
    submit(&app, &user, &attachments).await;
    let card = card_in_group(&app).await;
    assert!(card.text_str().contains("неудачных входов"), "{}", card.summary());

    press_on_card(&app, &petr(), &card, "desk-button-unlock").await;
    let unlocked_card = in_group(&app).await;
    assert!(unlocked_card.text_str().contains(&t(Lang::Ru, "desk-card-lock-none")));
    let told = app.tg.next_sent(user.id).await;
    assert_eq!(told.text_str(), t_args(Lang::Ru, "ticket-unlocked", &[("ticket", arg("#1"))]));
    assert_eq!(wrong_password(&app, "ivan.petrov").await, reqwest::StatusCode::UNAUTHORIZED);
    let events = app.audit_events().await;
    assert!(events.contains(&"sign_in_unlocked".to_owned()), "{events:?}");
    assert!(events.contains(&"staff_action".to_owned()), "{events:?}");
    app.stop().await;
}

/// `crm-recovery-bot accounts unblock LOGIN` lifts what "It wasn't me"
/// set, audited, as the card's button does.
async fn the_command_line_lifts_a_recovery_block(db: TestDb) {
    let app = desk_app(&db, GroupKind::Supergroup).await;
    let user = anna();
    reset_then_say_not_me(&app, &user).await;
    card_in_group(&app).await;

    let unblock = |login: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_crm-recovery-bot"))
            .args(["accounts", "unblock", login])
            .env("DATABASE_URL", &db.config.url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(unblock("anna.smith"), "anna.smith: lifted the recovery block\n");
    assert_eq!(unblock("anna.smith"), "anna.smith: nothing to unblock\n");
    app.open_forgot_password(&user).await;
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    let trail = app.store.audit_trail().await.unwrap();
    let lifted = trail.iter().find(|row| row.event == "recovery_unblocked").unwrap();
    assert_eq!(lifted.detail.as_deref(), Some("by an operator"));
    app.stop().await;
}
