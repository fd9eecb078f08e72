//! The conversation around the flows: restarts, languages, commands, the
//! menu's other topics, and Telegram's own errors.

use crate::support::*;
use crm_recovery_bot::{
    bot::{DialogueStorage, State},
    domain::Lang,
    i18n::{arg, t, t_args},
};
use teloxide::{dispatching::dialogue::Storage, types::ChatId};

on_both_backends!(
    restart_mid_conversation_resumes_the_dialogue,
    unreadable_stored_state_falls_back_to_the_menu,
    language_follows_the_client_and_can_be_changed,
    commands_are_registered_in_both_languages,
    help_and_unknown_commands_answer_with_a_way_back,
    other_topics_explain_and_offer_next_steps,
    stale_or_unknown_buttons_are_answered,
    rate_limited_telegram_replies_are_retried,
    database_failure_gets_an_apology_not_silence,
    deep_link_opens_forgot_password,
);

async fn restart_mid_conversation_resumes_the_dialogue(db: TestDb) {
    let mut app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;

    app.restart().await;

    let link_message = app.share_own_phone(&user, IVAN_PHONE).await;
    let link = link_in(&link_message);
    assert!(link.starts_with(&app.base_url), "the new process serves the link");
    assert_eq!(app.get(&link).await.status(), reqwest::StatusCode::OK);
    app.stop().await;
}

async fn unreadable_stored_state_falls_back_to_the_menu(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let pool = db.raw_pool().await;
    let current = crm_recovery_bot::bot::storage::STATE_VERSION;
    let stored = [
        // Written by an older version of the bot, in its own shape.
        (2001, format!(r#"{{"v":{},"state":{{"step":"awaiting_contact"}}}}"#, current - 1)),
        // The current version, but a step this build does not know.
        (2002, format!(r#"{{"v":{current},"state":{{"step":"waiting_for_fax"}}}}"#)),
        (2003, "not json at all".to_owned()),
    ];
    for (chat_id, state) in &stored {
        sqlx::query("INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, 0)")
            .bind(chat_id)
            .bind(state)
            .execute(&pool)
            .await
            .unwrap();
        let storage = DialogueStorage::new(app.store.clone());
        let state = <_ as Storage<State>>::get_dialogue(storage, ChatId(*chat_id)).await.unwrap();
        assert_eq!(state, Some(State::Menu), "{chat_id}: back to the menu");

        let user = TgUser::new(*chat_id, "Anna", Some("en"));
        app.tg.send_text(&user, "hello");
        let menu = app.tg.next_sent(user.id).await;
        assert_eq!(menu.text_str(), t(Lang::En, "menu-prompt"));
    }
    pool.close().await;
    app.stop().await;
}

async fn language_follows_the_client_and_can_be_changed(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    app.tg.send_text(&user, "/start");
    let greeting = app.tg.next_sent(user.id).await;
    assert!(greeting.text_str().starts_with("Hello, Anna!"));

    // Switching language in the middle of a flow leaves the flow.
    app.open_forgot_password(&user).await;
    app.tg.send_text(&user, "/language");
    let picker = app.tg.next_sent(user.id).await;
    assert_eq!(picker.text_str(), t(Lang::En, "language-prompt"));
    let russian = picker.callback_data_for(&t(Lang::Ru, "language-name")).unwrap();
    app.tg.press_button(&user, &picker, &russian);
    let confirmed = app.tg.next_sent(user.id).await;
    assert_eq!(confirmed.text_str(), t(Lang::Ru, "language-set"));
    assert!(confirmed.removes_keyboard(), "the contact keyboard is closed");
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).is_some());
    app.tg.send_text(&user, "привет");
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::Ru, "menu-prompt"));

    // Remembered, though the client still says English.
    app.tg.send_text(&user, "/start");
    let greeting = app.tg.next_sent(user.id).await;
    assert!(greeting.text_str().starts_with("Здравствуйте, Anna!"));
    app.stop().await;
}

async fn commands_are_registered_in_both_languages(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let calls = app.tg.calls("setmycommands");
    let for_lang = |code: Option<&str>| {
        calls
            .iter()
            .find(|c| c.params.get("language_code").and_then(|v| v.as_str()) == code)
            .unwrap_or_else(|| panic!("no setMyCommands for {code:?}"))
    };
    assert_eq!(calls.len(), 2, "the default list and the Russian one");
    for (code, lang) in [(None, Lang::En), (Some("ru"), Lang::Ru)] {
        let commands = &for_lang(code).params["commands"];
        let names: Vec<&str> =
            commands.as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
        assert_eq!(names, ["start", "help", "cancel", "language", "status", "privacy"]);
        assert_eq!(commands[0]["description"], t(lang, "command-start"));
    }
    // And it asks Telegram only for the update kinds it handles.
    let polls = app.tg.calls("getupdates");
    let mut kinds: Vec<&str> = polls[0].params["allowed_updates"]
        .as_array()
        .expect("allowed_updates sent")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["callback_query", "edited_message", "message"]);
    app.stop().await;
}

async fn help_and_unknown_commands_answer_with_a_way_back(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = ivan();
    app.tg.send_text(&user, "/help");
    let help = app.tg.next_sent(user.id).await;
    assert_eq!(help.text_str(), t(Lang::Ru, "help-text"));
    assert_eq!(help.parse_mode.as_deref(), Some("HTML"));
    let back = help.callback_data_for(&t(Lang::Ru, "button-back-to-menu")).unwrap();
    app.tg.press_button(&user, &help, &back);
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::Ru, "menu-prompt"));

    app.tg.send_text(&user, "/frobnicate");
    let unknown = app.tg.next_sent(user.id).await;
    assert_eq!(unknown.text_str(), t(Lang::Ru, "unknown-command"));
    assert!(unknown.callback_data_for(&t(Lang::Ru, "menu-forgot-password")).is_some());
    app.stop().await;
}

/// Without a staff group (SUPPORT_CHAT_ID unset) the paths that need
/// support say whom to contact instead.
async fn other_topics_explain_and_offer_next_steps(db: TestDb) {
    let app = TestApp::spawn_with(&db, |config| {
        config.support.contact = Some("help@example.com".into());
    })
    .await;
    let user = anna();
    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let contact =
        t_args(Lang::En, "support-unavailable-contact", &[("contact", arg("help@example.com"))]);
    for label in ["menu-lost-contact", "menu-other"] {
        let data = menu.callback_data_for(&t(Lang::En, label)).unwrap();
        let pressed = app.tg.press_button(&user, &menu, &data);
        app.tg.wait_callback_answer(&pressed).await;
        let answer = app.tg.next_sent(user.id).await;
        assert_eq!(answer.text_str(), contact);
        assert!(answer.callback_data_for(&t(Lang::En, "button-back-to-menu")).is_some(), "{label}");
    }
    // The others start the identity step (see locked.rs, two_factor_bot.rs).
    for (label, prompt) in [
        ("menu-account-locked", "locked-ask-phone"),
        ("menu-lost-2fa", "two-factor-ask-phone"),
        ("menu-my-security", "security-ask-phone"),
    ] {
        let data = menu.callback_data_for(&t(Lang::En, label)).unwrap();
        app.tg.press_button(&user, &menu, &data);
        assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::En, prompt));
    }
    app.stop().await;
}

async fn stale_or_unknown_buttons_are_answered(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    let pressed = app.tg.press_button(&user, &menu, "v0:something-old");
    let answer = app.tg.wait_callback_answer(&pressed).await;
    assert_eq!(answer.params["text"], t(Lang::En, "button-stale"));
    let again = app.tg.next_sent(user.id).await;
    assert_eq!(again.text_str(), t(Lang::En, "button-stale"));
    assert!(
        again.callback_data_for(&t(Lang::En, "menu-forgot-password")).is_some(),
        "and the menu"
    );

    // An account button outside the account choice means nothing either.
    let pressed = app.tg.press_button(&user, &menu, "acct:1");
    let answer = app.tg.wait_callback_answer(&pressed).await;
    assert_eq!(answer.params["text"], t(Lang::En, "button-stale"));
    app.tg.next_sent(user.id).await;
    app.stop().await;
}

async fn rate_limited_telegram_replies_are_retried(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = anna();
    app.tg.fail_next("sendmessage", 429, "Too Many Requests: retry after 1", Some(1));
    app.tg.send_text(&user, "/start");
    let menu = app.tg.next_sent(user.id).await;
    assert!(menu.text_str().starts_with("Hello, Anna!"));
    let attempts = app.tg.calls("sendmessage");
    assert!(attempts[0].failed && !attempts[1].failed, "first refused, then retried");
    assert!(attempts[1].at.duration_since(attempts[0].at) >= std::time::Duration::from_millis(900));
    app.stop().await;
}

async fn database_failure_gets_an_apology_not_silence(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let user = ivan();
    let pool = db.raw_pool().await;
    sqlx::query("ALTER TABLE dialogues RENAME TO dialogues_away").execute(&pool).await.unwrap();

    app.tg.send_text(&user, "/start");
    let apology = app.tg.next_sent(user.id).await;
    assert_eq!(apology.text_str(), t(Lang::Ru, "internal-error"));
    let back = apology.callback_data_for(&t(Lang::Ru, "button-back-to-menu")).unwrap();
    // A button pressed meanwhile is apologised for too, not called stale.
    let pressed = app.tg.press_button(&user, &apology, &back);
    let answer = app.tg.wait_callback_answer(&pressed).await;
    assert_eq!(answer.params["text"], t(Lang::Ru, "internal-error"));
    assert_eq!(app.tg.next_sent(user.id).await.text_str(), t(Lang::Ru, "internal-error"));

    // The bot is still alive and recovers when the database does.
    sqlx::query("ALTER TABLE dialogues_away RENAME TO dialogues").execute(&pool).await.unwrap();
    app.tg.send_text(&user, "/start");
    assert!(app.tg.next_sent(user.id).await.text_str().starts_with("Здравствуйте, Иван!"));
    pool.close().await;
    app.stop().await;
}

async fn deep_link_opens_forgot_password(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = anna();
    app.tg.send_text(&user, "/start reset");
    let prompt = app.tg.next_sent(user.id).await;
    assert_eq!(prompt.text_str(), t(Lang::En, "reset-ask-phone"));
    link_in(&app.share_own_phone(&user, ANNA_PHONE).await);
    // Any other payload is an ordinary start.
    app.tg.send_text(&user, "/start campaign42");
    assert!(app.tg.next_sent(user.id).await.text_str().starts_with("Hello, Anna!"));
    app.stop().await;
}
