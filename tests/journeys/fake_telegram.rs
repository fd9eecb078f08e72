//! The fake Bot API refuses what Telegram refuses, with Telegram's status
//! codes and descriptions, so a bot that passes against it does not fail
//! against the real one. Driven with a plain teloxide `Bot` and raw HTTP;
//! the last journey runs the real application.

use reqwest::StatusCode;
use serde_json::{Value, json};
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{InlineKeyboardButton, InlineKeyboardMarkup, MessageId},
};

use crate::support::telegram::TOKEN;
use crate::support::*;

const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

fn bot(tg: &FakeTelegram, token: &str) -> Bot {
    Bot::new(token).set_api_url(tg.api_url())
}

/// One raw Bot API call: the HTTP status and the JSON answer.
async fn call(tg: &FakeTelegram, token: &str, method: &str, params: Value) -> (StatusCode, Value) {
    let url = format!("{}bot{token}/{method}", tg.api_url());
    let response = reqwest::Client::new().post(url).json(&params).send().await.expect("fake");
    let status = response.status();
    (status, response.json().await.expect("a JSON answer"))
}

/// The answer is Telegram's error shape with this code and description.
#[track_caller]
fn assert_refused(answer: &(StatusCode, Value), code: u16, description: &str) {
    let (status, body) = answer;
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert_eq!(body["description"], description, "{body}");
}

#[track_caller]
fn assert_ok(answer: &(StatusCode, Value)) {
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["ok"], true, "{}", answer.1);
}

#[track_caller]
fn api_error<T: std::fmt::Debug>(result: Result<T, RequestError>) -> ApiError {
    match result {
        Err(RequestError::Api(error)) => error,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A user who has written to the bot, and the fake.
async fn fake_with_user() -> (FakeTelegram, TgUser) {
    let tg = FakeTelegram::start().await;
    let user = TgUser::new(501, "Anna", Some("en"));
    tg.send_text(&user, "/start");
    (tg, user)
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let tg = FakeTelegram::start().await;
    let me = bot(&tg, TOKEN).get_me().await.expect("the right token");
    assert_eq!(me.id.0, 123);
    assert_eq!(api_error(bot(&tg, "123:WRONG").get_me().await), ApiError::InvalidToken);
    assert_refused(&call(&tg, "999:TEST", "sendMessage", json!({})).await, 401, "Unauthorized");

    let other = FakeTelegram::start_with_token("42:OTHER").await;
    assert_eq!(bot(&other, "42:OTHER").get_me().await.expect("its token").id.0, 42);
    assert_refused(&call(&other, TOKEN, "getMe", json!({})).await, 401, "Unauthorized");
    assert_refused(&call(&tg, TOKEN, "sendPoll", json!({})).await, 404, "Not Found");
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_cannot_be_sent_to_until_they_return() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    bot.send_message(ChatId(user.id), "welcome").await.expect("started the bot");
    tg.block_bot(user.id);
    assert_eq!(api_error(bot.send_message(ChatId(user.id), "hi").await), ApiError::BotBlocked);
    let refused = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": user.id, "text": "hi" }));
    assert_refused(&refused.await, 403, "Forbidden: bot was blocked by the user");

    // Restarting the bot unblocks it.
    tg.send_text(&user, "/start");
    bot.send_message(ChatId(user.id), "welcome back").await.expect("unblocked");
    assert_eq!(tg.next_sent(user.id).await.text_str(), "welcome");
    assert_eq!(tg.next_sent(user.id).await.text_str(), "welcome back");
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn the_bot_cannot_start_a_conversation_or_post_in_an_unknown_group() {
    let tg = FakeTelegram::start().await;
    let cannot = "Forbidden: bot can't initiate conversation with a user";
    let stranger = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": 777, "text": "hi" }));
    assert_refused(&stranger.await, 403, cannot);

    // Seen in a group is not having started the bot.
    let member = TgUser::new(778, "Olga", Some("ru"));
    tg.send_group_text(-100_500, &member, "hello", None, None);
    let private = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": member.id, "text": "hi" }));
    assert_refused(&private.await, 403, cannot);
    let group = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": -100_500, "text": "hi" }));
    assert_ok(&group.await);
    let unknown = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": -100_501, "text": "hi" }));
    assert_refused(&unknown.await, 400, "Bad Request: chat not found");
    assert_eq!(tg.next_sent(-100_500).await.text_str(), "hi");
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn a_second_get_updates_terminates_the_waiting_one() {
    let tg = FakeTelegram::start().await;
    let first = tokio::spawn({
        let tg = tg.clone();
        async move { call(&tg, TOKEN, "getUpdates", json!({ "timeout": 30 })).await }
    });
    tg.wait_for_calls("getupdates", 1).await;
    let second = call(&tg, TOKEN, "getUpdates", json!({ "timeout": 0 })).await;
    assert_ok(&second);
    let conflict = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), first)
        .await
        .expect("the earlier request ends at once")
        .expect("task");
    assert_refused(&first, 409, conflict);
    let failed: Vec<bool> = tg.calls("getupdates").iter().map(|c| c.failed).collect();
    assert_eq!(failed, [true, false]);

    // teloxide sees the same conflict.
    let waiting = tokio::spawn({
        let bot = bot(&tg, TOKEN);
        async move { bot.get_updates().timeout(30).await }
    });
    tg.wait_for_calls("getupdates", 3).await;
    assert_ok(&call(&tg, TOKEN, "getUpdates", json!({})).await);
    let result = waiting.await.expect("task");
    assert!(matches!(result, Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates))));
}

#[tokio::test]
async fn callback_answers_are_short_and_given_once() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Yes", "yes")]]);
    bot.send_message(ChatId(user.id), "Sure?").reply_markup(keyboard).await.expect("sent");
    let question = tg.next_sent(user.id).await;
    let id = tg.press_button(&user, &question, "yes");

    let answer = |text: String| {
        call(&tg, TOKEN, "answerCallbackQuery", json!({ "callback_query_id": id, "text": text }))
    };
    assert_refused(&answer("x".repeat(201)).await, 400, "Bad Request: MESSAGE_TOO_LONG");
    assert_ok(&answer("я".repeat(200)).await);
    let too_old =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";
    assert_refused(&answer(String::new()).await, 400, too_old);
    let unknown = call(&tg, TOKEN, "answerCallbackQuery", json!({ "callback_query_id": "12345" }));
    assert_refused(&unknown.await, 400, too_old);
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn command_lists_follow_telegrams_rules() {
    let tg = FakeTelegram::start().await;
    let set = |commands: Value, language: &str| {
        let mut params = json!({ "commands": commands });
        if !language.is_empty() {
            params["language_code"] = json!(language);
        }
        call(&tg, TOKEN, "setMyCommands", params)
    };
    let one =
        |name: &str, description: &str| json!([{ "command": name, "description": description }]);

    assert_ok(&set(one("start_2", &"d".repeat(256)), "ru").await);
    assert_refused(
        &set(one("start", &"d".repeat(257)), "").await,
        400,
        "Bad Request: command description length must not exceed 256",
    );
    assert_refused(
        &set(one("start", " "), "").await,
        400,
        "Bad Request: command description must be non-empty",
    );
    for bad in ["Start", "reset-password", "привет"] {
        assert_refused(&set(one(bad, "d"), "").await, 400, "Bad Request: BOT_COMMAND_INVALID");
    }
    assert_refused(
        &set(one(&"a".repeat(33), "d"), "").await,
        400,
        "Bad Request: command length must not exceed 32",
    );
    assert_refused(&set(one("", "d"), "").await, 400, "Bad Request: command must be non-empty");
    let many: Vec<Value> =
        (0..101).map(|i| json!({ "command": format!("c{i}"), "description": "d" })).collect();
    assert_refused(&set(json!(many), "").await, 400, "Bad Request: BOT_COMMANDS_TOO_MUCH");
    assert_refused(
        &set(one("start", "d"), "eng").await,
        400,
        "Bad Request: invalid language code specified",
    );
}

#[tokio::test]
async fn texts_are_measured_after_entity_parsing() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let chat = ChatId(user.id);
    bot.send_message(chat, "я".repeat(4096)).await.expect("4096 characters fit");
    assert_eq!(
        api_error(bot.send_message(chat, "я".repeat(4097)).await),
        ApiError::MessageIsTooLong
    );
    // Tags and entities do not count; what the user sees does.
    let html = format!("<b>{}</b>&amp;", "я".repeat(4095));
    bot.send_message(chat, html).parse_mode(teloxide::types::ParseMode::Html).await.expect("fits");
    let empty = bot.send_message(chat, "<b> </b>").parse_mode(teloxide::types::ParseMode::Html);
    assert_eq!(api_error(empty.await), ApiError::MessageTextIsEmpty);
    let unescaped = bot.send_message(chat, "a < b").parse_mode(teloxide::types::ParseMode::Html);
    assert!(
        matches!(api_error(unescaped.await), ApiError::CantParseEntities(e) if e.contains("Unclosed start tag"))
    );
    tg.next_sent(user.id).await;
    let html = tg.next_sent(user.id).await;
    assert_eq!(
        html.message["text"],
        format!("{}&", "я".repeat(4095)),
        "the Message has the visible text"
    );
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn callback_data_is_at_most_64_bytes() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let with_data = |data: String| {
        let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Go", data)]]);
        bot.send_message(ChatId(user.id), "Pick").reply_markup(keyboard)
    };
    with_data("ж".repeat(32)).await.expect("64 bytes fit");
    assert_eq!(
        api_error(with_data(format!("x{}", "ж".repeat(32))).await),
        ApiError::ButtonDataInvalid
    );
    let text_only = json!({ "inline_keyboard": [[{ "text": "Go" }]] });
    let refused = call(
        &tg,
        TOKEN,
        "sendMessage",
        json!({ "chat_id": user.id, "text": "Pick", "reply_markup": text_only }),
    );
    assert_refused(
        &refused.await,
        400,
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    );
    tg.next_sent(user.id).await;
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn messages_can_be_deleted_for_48_hours() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let chat = ChatId(user.id);
    let old = bot.send_message(chat, "old").await.expect("sent");
    tg.advance_clock(chrono::Duration::hours(49));
    let fresh = bot.send_message(chat, "fresh").await.expect("sent");
    assert_eq!(fresh.date - old.date, chrono::Duration::hours(49), "dates follow the fake's clock");

    let refused = bot.delete_message(chat, old.id).await;
    assert!(
        matches!(api_error(refused), ApiError::Unknown(e) if e == "Bad Request: message can't be deleted for everyone")
    );
    tg.advance_clock(chrono::Duration::hours(47));
    bot.delete_message(chat, fresh.id).await.expect("within 48 hours");
    assert_eq!(tg.deleted(user.id), [fresh.id.0 as i64]);
    assert!(tg.message(user.id, fresh.id.0 as i64).is_none());
    assert!(tg.message(user.id, old.id.0 as i64).is_some());
    let again = bot.delete_message(chat, fresh.id).await;
    assert_eq!(api_error(again), ApiError::MessageToDeleteNotFound);
    let unknown = bot.delete_message(chat, MessageId(999)).await;
    assert_eq!(api_error(unknown), ApiError::MessageToDeleteNotFound);
    assert_eq!(tg.next_sent(user.id).await.text_str(), "old");
    assert_eq!(tg.next_sent(user.id).await.text_str(), "fresh");
    assert!(tg.unread().is_empty());
}

#[tokio::test]
async fn edits_must_change_something() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let chat = ChatId(user.id);
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Yes", "yes")]]);
    let sent = bot.send_message(chat, "Sure?").reply_markup(keyboard.clone()).await.expect("sent");

    let same = bot.edit_message_text(chat, sent.id, "Sure?").reply_markup(keyboard.clone());
    assert_eq!(api_error(same.await), ApiError::MessageNotModified);
    bot.edit_message_text(chat, sent.id, "Done.").await.expect("new text, keyboard removed");
    let state = tg.message(user.id, sent.id.0 as i64).expect("exists");
    assert_eq!(state["text"], "Done.");
    assert!(state.get("reply_markup").is_none());
    let none_to_remove = bot.edit_message_reply_markup(chat, sent.id).await;
    assert_eq!(api_error(none_to_remove), ApiError::MessageNotModified);
    let bold = bot.edit_message_text(chat, sent.id, "<b>Done.</b>");
    bold.parse_mode(teloxide::types::ParseMode::Html).await.expect("formatting is a change");

    let missing = bot.edit_message_text(chat, MessageId(999), "x").await;
    assert_eq!(api_error(missing), ApiError::MessageToEditNotFound);
    let theirs = call(
        &tg,
        TOKEN,
        "editMessageText",
        json!({ "chat_id": user.id, "message_id": 1, "text": "x" }),
    );
    assert_refused(&theirs.await, 400, "Bad Request: message can't be edited");
    let raw = call(
        &tg,
        TOKEN,
        "editMessageText",
        json!({ "chat_id": user.id, "message_id": sent.id.0, "text": "<b>Done.</b>", "parse_mode": "HTML" }),
    );
    assert_refused(&raw.await, 400, NOT_MODIFIED);

    let unread: Vec<String> = tg.unread().iter().map(Sent::summary).collect();
    assert_eq!(unread.len(), 3, "{unread:#?}");
    assert!(unread[0].contains("sendmessage \"Sure?\" inline=[\"Yes\"->yes]"), "{unread:#?}");
    for _ in 0..3 {
        tg.next_sent(user.id).await;
    }
    assert!(tg.unread().is_empty());
}

on_both_backends!(group_messages_are_ignored);

/// The bot answers only in private chats: a text and a /start in a group
/// get no reply and leave no dialogue, and private chats still work.
async fn group_messages_are_ignored(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let group = -100_777;
    let user = anna();
    app.tg.send_group_text(group, &user, "hello bot", None, None);
    app.tg.send_group_text(group, &user, "/start", None, None);
    let menu = app.start_chat(&user).await;
    assert!(!menu.inline_buttons().is_empty(), "{}", menu.summary());
    let tg = app.tg.clone();
    // Stopping waits for every update in flight, the group's included.
    app.stop().await;

    assert!(tg.all_sent(group).is_empty(), "{:?}", tg.all_sent(group));
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
    let pool = db.raw_pool().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM dialogues WHERE chat_id = $1")
        .bind(group)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "no dialogue for the group");
    pool.close().await;
}
