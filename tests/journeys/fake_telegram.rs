//! The fake Bot API refuses what Telegram refuses, with Telegram's status
//! codes and descriptions, so a bot that passes against it does not fail
//! against the real one. Driven with a plain teloxide `Bot` and raw HTTP;
//! the last journey runs the real application.

use reqwest::StatusCode;
use serde_json::{Value, json};
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{
        Chat, ChatFullInfo, ChatFullInfoKind, ChatFullInfoPublicKind, ChatKind, ChatMemberKind,
        ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ParseMode,
        PublicChatKind, ReplyParameters, Rgb, ThreadId, Update, UpdateKind,
    },
};

use crate::support::telegram::{GroupKind, Msg, TOKEN};
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

/// Every queued update, deserialised by teloxide (none may fail to parse).
async fn updates(tg: &FakeTelegram) -> Vec<Update> {
    let updates = bot(tg, TOKEN).get_updates().await.expect("getUpdates");
    for u in &updates {
        assert!(!matches!(u.kind, UpdateKind::Error(_)), "teloxide could not parse {u:?}");
    }
    if let Some(last) = updates.last() {
        let offset = last.id.0 as i64 + 1;
        assert_ok(&call(tg, TOKEN, "getUpdates", json!({ "offset": offset })).await);
    }
    updates
}

fn messages(updates: &[Update]) -> Vec<Message> {
    updates
        .iter()
        .filter_map(|u| match &u.kind {
            UpdateKind::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// `is_forum` of a getChat answer (teloxide has no accessor).
fn info_is_forum(chat: &ChatFullInfo) -> bool {
    match &chat.kind {
        ChatFullInfoKind::Public(public) => {
            matches!(&public.kind, ChatFullInfoPublicKind::Supergroup(s) if s.is_forum)
        }
        ChatFullInfoKind::Private(_) => false,
    }
}

/// `is_forum` of a message's chat.
fn chat_is_forum(chat: &Chat) -> bool {
    match &chat.kind {
        ChatKind::Public(public) => {
            matches!(&public.kind, PublicChatKind::Supergroup(s) if s.is_forum)
        }
        ChatKind::Private(_) => false,
    }
}

fn thread(id: i64) -> ThreadId {
    ThreadId(MessageId(id as i32))
}

const BASIC: i64 = -5555;
const SUPERGROUP: i64 = -100_200;
const FORUM: i64 = -100_300;

#[tokio::test]
async fn groups_have_kinds_and_members_have_statuses() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(BASIC, GroupKind::Basic);
    tg.add_group(SUPERGROUP, GroupKind::Supergroup);
    tg.add_group(FORUM, GroupKind::Forum);
    let basic = bot.get_chat(ChatId(BASIC)).await.expect("basic group");
    assert!(basic.is_group() && !info_is_forum(&basic), "{basic:?}");
    let supergroup = bot.get_chat(ChatId(SUPERGROUP)).await.expect("supergroup");
    assert!(supergroup.is_supergroup() && !info_is_forum(&supergroup), "{supergroup:?}");
    let forum = bot.get_chat(ChatId(FORUM)).await.expect("forum");
    assert!(forum.is_supergroup() && info_is_forum(&forum), "{forum:?}");
    assert_eq!(api_error(bot.get_chat(ChatId(-100_999)).await), ApiError::ChatNotFound);

    let owner = TgUser::new(601, "Olga", Some("ru")).with_username("olga_boss");
    let admin = TgUser::new(602, "Ivan", None);
    let writer = TgUser::new(603, "Petr", None);
    tg.set_member(FORUM, owner.id, "creator");
    tg.set_member(FORUM, admin.id, "administrator");
    tg.set_member(FORUM, 604, "restricted");
    tg.set_member(FORUM, 605, "kicked");
    tg.send_group(FORUM, &owner, Msg::text("hi"));
    tg.send_group(FORUM, &writer, Msg::text("hello"));
    let status = |user: i64| {
        let bot = bot.clone();
        async move { bot.get_chat_member(ChatId(FORUM), UserId(user as u64)).await.expect("member") }
    };
    let creator = status(owner.id).await;
    assert!(creator.is_owner(), "posting does not demote: {creator:?}");
    assert_eq!(creator.user.username.as_deref(), Some("olga_boss"));
    let admin_member = status(admin.id).await;
    assert!(admin_member.is_administrator() && admin_member.can_delete_messages());
    assert!(status(writer.id).await.is_member(), "who posts is a member");
    assert!(status(604).await.is_restricted());
    assert!(status(605).await.is_banned());
    assert!(status(606).await.is_left(), "a stranger has left");
    let me = status(123).await;
    match me.kind {
        ChatMemberKind::Administrator(rights) => assert!(rights.can_manage_topics),
        other => panic!("the bot is an administrator by default: {other:?}"),
    }
    let unknown = bot.get_chat_member(ChatId(-100_999), UserId(601)).await;
    assert_eq!(api_error(unknown), ApiError::ChatNotFound);

    let admins = bot.get_chat_administrators(ChatId(FORUM)).await.expect("admins");
    let ids: Vec<u64> = admins.iter().map(|m| m.user.id.0).collect();
    assert_eq!(ids, [601, 123, 602], "the creator first");
    let basic_admins = bot.get_chat_administrators(ChatId(BASIC)).await.expect("admins");
    assert_eq!(basic_admins.len(), 1, "only the bot");

    // Messages carry the chat as its kind and the sender with a username.
    tg.send_group(BASIC, &owner, Msg::text("in basic"));
    tg.send_group(SUPERGROUP, &owner, Msg::text("in supergroup"));
    let got = messages(&updates(&tg).await);
    assert_eq!(got.len(), 4);
    assert!(got[0].chat.is_supergroup() && chat_is_forum(&got[0].chat));
    assert_eq!(got[0].from.as_ref().and_then(|u| u.username.as_deref()), Some("olga_boss"));
    assert!(got[2].chat.is_group());
    assert!(got[3].chat.is_supergroup() && !chat_is_forum(&got[3].chat));
}

/// The bot opens a topic per ticket and posts there; Telegram posts the
/// creation service message, and messages in a topic reply to it.
#[tokio::test]
async fn forum_topics_are_created_used_closed_and_deleted() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(FORUM, GroupKind::Forum);
    let topic = bot
        .create_forum_topic(ChatId(FORUM), "Ticket #1")
        .icon_color(Rgb::from_u32(0xFF93B2))
        .await
        .expect("created");
    assert_eq!(topic.name, "Ticket #1");
    assert_eq!(topic.icon_color, Rgb::from_u32(0xFF93B2));
    let t = topic.thread_id;
    let created = messages(&updates(&tg).await);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].id, t.0, "the topic id is its service message's id");
    assert_eq!(created[0].thread_id, Some(t));
    assert!(created[0].is_topic_message);
    assert_eq!(created[0].forum_topic_created().expect("service").name, "Ticket #1");
    assert_eq!(created[0].from.as_ref().map(|u| u.id.0), Some(123));

    let card = bot.send_message(ChatId(FORUM), "card").message_thread_id(t).await.expect("sent");
    assert_eq!(card.thread_id, Some(t));
    assert!(card.is_topic_message);
    assert_eq!(card.reply_to_message().map(|r| r.id), Some(t.0), "replies to the topic root");
    let general = bot.send_message(ChatId(FORUM), "general").await.expect("sent");
    assert_eq!(general.thread_id, None, "without a thread it lands in General");
    let staff = TgUser::new(610, "Staff", None);
    let card_sent = tg.next_sent(FORUM).await;
    let answer = tg.send_group(FORUM, &staff, Msg::text("on it").reply_to(&card_sent));
    let answered = tg.message(FORUM, answer).expect("stored");
    assert_eq!(answered["message_thread_id"], t.0.0, "a reply lands in the replied topic");
    assert_eq!(answered["reply_to_message"]["message_id"], card.id.0);
    let in_topic = bot
        .send_message(ChatId(FORUM), "ok")
        .reply_parameters(ReplyParameters::new(MessageId(answer as i32)));
    assert_eq!(in_topic.await.expect("sent").thread_id, Some(t), "a reply goes to its topic");

    let raw_send = |thread_id: i64| {
        call(
            &tg,
            TOKEN,
            "sendMessage",
            json!({ "chat_id": FORUM, "text": "x", "message_thread_id": thread_id }),
        )
    };
    assert_refused(&raw_send(999).await, 400, "Bad Request: message thread not found");
    assert_refused(&raw_send(1).await, 400, "Bad Request: message thread not found");

    bot.close_forum_topic(ChatId(FORUM), t).await.expect("closed");
    let again = call(
        &tg,
        TOKEN,
        "closeForumTopic",
        json!({ "chat_id": FORUM, "message_thread_id": t.0.0 }),
    );
    assert_refused(&again.await, 400, "Bad Request: TOPIC_NOT_MODIFIED");
    // Admins who manage topics still post in closed topics; others cannot.
    bot.send_message(ChatId(FORUM), "closing note").message_thread_id(t).await.expect("admin");
    tg.set_bot_can_manage_topics(FORUM, false);
    assert_refused(&raw_send(t.0.0 as i64).await, 400, "Bad Request: TOPIC_CLOSED");
    let refused = bot.create_forum_topic(ChatId(FORUM), "Ticket #2").await;
    assert!(
        matches!(api_error(refused), ApiError::Unknown(e) if e == "Bad Request: not enough rights to create a topic")
    );
    tg.set_bot_can_manage_topics(FORUM, true);
    bot.reopen_forum_topic(ChatId(FORUM), t).await.expect("reopened");
    bot.edit_forum_topic(ChatId(FORUM), t).name("Ticket #1 (paid)").await.expect("renamed");
    let events = messages(&updates(&tg).await);
    assert!(events.iter().any(|m| m.forum_topic_closed().is_some()), "{events:#?}");

    bot.delete_forum_topic(ChatId(FORUM), t).await.expect("deleted");
    assert!(tg.message(FORUM, card.id.0 as i64).is_none(), "its messages went with it");
    assert_refused(&raw_send(t.0.0 as i64).await, 400, "Bad Request: message thread not found");
    let gone = call(
        &tg,
        TOKEN,
        "reopenForumTopic",
        json!({ "chat_id": FORUM, "message_thread_id": t.0.0 }),
    );
    assert_refused(&gone.await, 400, "Bad Request: message thread not found");

    // Not a forum.
    tg.add_group(SUPERGROUP, GroupKind::Supergroup);
    let refused = bot.create_forum_topic(ChatId(SUPERGROUP), "Ticket").await;
    assert!(
        matches!(api_error(refused), ApiError::Unknown(e) if e == "Bad Request: the chat is not a forum")
    );
    let no_thread = call(
        &tg,
        TOKEN,
        "sendMessage",
        json!({ "chat_id": SUPERGROUP, "text": "x", "message_thread_id": 42 }),
    );
    assert_refused(&no_thread.await, 400, "Bad Request: message thread not found");
    let root = tg.send_group(SUPERGROUP, &staff, Msg::text("question"));
    let threaded =
        bot.send_message(ChatId(SUPERGROUP), "reply thread").message_thread_id(thread(root));
    assert_eq!(threaded.await.expect("a reply thread").thread_id, Some(thread(root)));
    let reply = bot
        .send_message(ChatId(SUPERGROUP), "answer")
        .reply_parameters(ReplyParameters::new(MessageId(root as i32)));
    assert_eq!(
        reply.await.expect("sent").thread_id,
        Some(thread(root)),
        "a reply joins the thread"
    );
    for _ in 0..3 {
        tg.next_sent(FORUM).await;
    }
    tg.next_sent(SUPERGROUP).await;
    tg.next_sent(SUPERGROUP).await;
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
}

/// What staff do by hand in the forum reaches the bot as Telegram sends it.
#[tokio::test]
async fn staff_create_close_and_delete_topics_by_hand() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(FORUM, GroupKind::Forum);
    let staff = TgUser::new(620, "Masha", None);
    tg.set_member(FORUM, staff.id, "creator");
    let t = tg.create_topic_by_user(FORUM, &staff, "VIP");
    tg.send_group(FORUM, &staff, Msg::text("note").thread(t));
    tg.close_topic(FORUM, t);
    let got = messages(&updates(&tg).await);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].forum_topic_created().expect("created").name, "VIP");
    assert_eq!(got[0].from.as_ref().map(|u| u.id.0), Some(620));
    assert_eq!(got[1].thread_id, Some(thread(t)));
    assert_eq!(got[1].reply_to_message().map(|r| r.id.0 as i64), Some(t));
    assert!(got[2].forum_topic_closed().is_some());
    tg.delete_topic(FORUM, t);
    let send = bot.send_message(ChatId(FORUM), "x").message_thread_id(thread(t)).await;
    assert!(
        matches!(api_error(send), ApiError::Unknown(e) if e == "Bad Request: message thread not found")
    );
}

/// A basic group upgraded to a supergroup: teloxide gets
/// `MigrateToChatId` for the old id; both service messages arrive.
#[tokio::test]
async fn an_upgraded_group_answers_with_its_new_id() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(BASIC, GroupKind::Basic);
    let owner = TgUser::new(630, "Olga", None);
    tg.set_member(BASIC, owner.id, "creator");
    bot.send_message(ChatId(BASIC), "hello").await.expect("sent");
    let old = bot.send_message(ChatId(BASIC), "card").await.expect("sent");
    let new_id = tg.migrate_group(BASIC);
    assert_eq!(new_id, -1_005_555);
    let refused = bot.send_message(ChatId(BASIC), "hi").await;
    assert!(
        matches!(refused, Err(RequestError::MigrateToChatId(ChatId(-1_005_555)))),
        "{refused:?}"
    );
    let raw = call(&tg, TOKEN, "sendMessage", json!({ "chat_id": BASIC, "text": "hi" })).await;
    assert_refused(&raw, 400, "Bad Request: group chat was upgraded to a supergroup chat");
    assert_eq!(raw.1["parameters"]["migrate_to_chat_id"], new_id);
    let member = bot.get_chat_member(ChatId(BASIC), UserId(630)).await;
    assert!(matches!(member, Err(RequestError::MigrateToChatId(_))));
    let edit = bot.edit_message_text(ChatId(new_id), old.id, "moved").await;
    assert_eq!(api_error(edit), ApiError::MessageToEditNotFound);

    let got = messages(&updates(&tg).await);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].chat.id, ChatId(BASIC));
    assert_eq!(got[0].migrate_to_chat_id(), Some(&ChatId(new_id)));
    assert_eq!(got[1].chat.id, ChatId(new_id));
    assert!(got[1].chat.is_supergroup());
    assert_eq!(got[1].migrate_from_chat_id(), Some(&ChatId(BASIC)));
    bot.send_message(ChatId(new_id), "hello again").await.expect("the new chat works");
    tg.add_group(-777, GroupKind::Basic);
    let forum = tg.migrate_group_to(-777, GroupKind::Forum);
    assert_eq!(forum, -100_777);
    assert!(info_is_forum(&bot.get_chat(ChatId(forum)).await.expect("new chat")));
}

/// The bot relays a customer's message into the staff group by copying
/// it; the copy is the bot's own message and counts as sent.
#[tokio::test]
async fn messages_are_copied_as_the_bots_own() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(FORUM, GroupKind::Forum);
    let t = bot.create_forum_topic(ChatId(FORUM), "Ticket").await.expect("topic").thread_id;
    let doc =
        tg.send_private(&user, Msg::document("receipt.pdf", b"%PDF-1.4").caption("my receipt"));
    let copy = bot
        .copy_message(ChatId(FORUM), ChatId(user.id), MessageId(doc as i32))
        .message_thread_id(t)
        .caption("<b>Anna</b>: my receipt")
        .parse_mode(ParseMode::Html)
        .await
        .expect("copied");
    let sent = tg.next_sent(FORUM).await;
    assert_eq!(sent.method, "copymessage");
    assert_eq!(sent.message_id, copy.0 as i64);
    assert_eq!(sent.text_str(), "<b>Anna</b>: my receipt", "the caption as requested");
    assert_eq!(sent.message["caption"], "Anna: my receipt", "the caption as shown");
    assert_eq!(sent.thread_id(), Some(t.0.0 as i64));
    assert_eq!(sent.message["from"]["id"], 123);
    assert_eq!(sent.message["document"]["file_name"], "receipt.pdf");
    let bytes = tg.document_bytes(FORUM, copy.0 as i64).expect("the copy has the file");
    assert_eq!(bytes, ("receipt.pdf".to_owned(), b"%PDF-1.4".to_vec()));

    let text = tg.send_private(&user, Msg::text("help me"));
    bot.copy_message(ChatId(FORUM), ChatId(user.id), MessageId(text as i32)).await.expect("text");
    let sent = tg.next_sent(FORUM).await;
    assert_eq!(sent.text_str(), "help me");
    assert_eq!(sent.thread_id(), None, "General");

    let missing = bot.copy_message(ChatId(FORUM), ChatId(user.id), MessageId(999)).await;
    assert_eq!(api_error(missing), ApiError::MessageToCopyNotFound);
    let service = bot.copy_message(ChatId(user.id), ChatId(FORUM), MessageId(t.0.0)).await;
    assert!(
        matches!(api_error(service), ApiError::Unknown(e) if e == "Bad Request: message can't be copied")
    );
    let long = call(
        &tg,
        TOKEN,
        "copyMessage",
        json!({ "chat_id": FORUM, "from_chat_id": user.id, "message_id": doc, "caption": "я".repeat(1025) }),
    );
    assert_refused(&long.await, 400, "Bad Request: message caption is too long");
    let fits = format!("<i>{}</i>", "я".repeat(1024));
    bot.copy_message(ChatId(FORUM), ChatId(user.id), MessageId(doc as i32))
        .caption(fits)
        .parse_mode(ParseMode::Html)
        .await
        .expect("1024 characters after parsing fit");
    let unescaped = call(
        &tg,
        TOKEN,
        "copyMessage",
        json!({ "chat_id": FORUM, "from_chat_id": user.id, "message_id": doc, "caption": "a < b", "parse_mode": "HTML" }),
    );
    let (_, body) = unescaped.await;
    assert!(body["description"].as_str().unwrap_or("").contains("Unclosed start tag"), "{body}");
    tg.next_sent(FORUM).await;
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
}

#[tokio::test]
async fn an_album_is_copied_with_one_new_media_group() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    tg.add_group(SUPERGROUP, GroupKind::Supergroup);
    let first = tg.send_private(&user, Msg::photo().caption("one").media_group_id("album1"));
    let second = tg.send_private(&user, Msg::photo().media_group_id("album1"));
    let third = tg.send_private(&user, Msg::text("and a note"));
    let ids = [first, second, third].map(|id| MessageId(id as i32));
    let copies = bot.copy_messages(ChatId(SUPERGROUP), ChatId(user.id), ids).await.expect("copied");
    assert_eq!(copies.len(), 3);
    let sent: Vec<Sent> = vec![
        tg.next_sent(SUPERGROUP).await,
        tg.next_sent(SUPERGROUP).await,
        tg.next_sent(SUPERGROUP).await,
    ];
    let group = &sent[0].message["media_group_id"];
    assert!(group.is_string() && group != "album1", "{group}");
    assert_eq!(&sent[1].message["media_group_id"], group);
    assert!(sent[2].message.get("media_group_id").is_none());
    assert_eq!(sent[0].text_str(), "one");
    assert_eq!(sent.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(), ["copymessage"; 3]);

    let no_caption = bot
        .copy_messages(ChatId(SUPERGROUP), ChatId(user.id), [MessageId(first as i32)])
        .remove_caption(true)
        .await
        .expect("copied");
    assert_eq!(no_caption.len(), 1);
    assert!(tg.next_sent(SUPERGROUP).await.message.get("caption").is_none());
    let unordered = call(
        &tg,
        TOKEN,
        "copyMessages",
        json!({ "chat_id": SUPERGROUP, "from_chat_id": user.id, "message_ids": [second, first] }),
    );
    assert_refused(
        &unordered.await,
        400,
        "Bad Request: message identifiers must be in a strictly increasing order",
    );
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
}

/// teloxide uploads `InputFile::memory` as multipart/form-data; the fake
/// keeps the name and bytes.
#[tokio::test]
async fn photos_and_documents_are_uploaded_or_resent() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let chat = ChatId(user.id);
    let sent = bot
        .send_document(
            chat,
            InputFile::memory(b"id;name\n1;Anna\n".to_vec()).file_name("export.csv"),
        )
        .caption("<b>Export</b>")
        .parse_mode(ParseMode::Html)
        .await
        .expect("uploaded");
    let document = sent.document().expect("a document");
    assert_eq!(document.file_name.as_deref(), Some("export.csv"));
    assert_eq!(document.file.size, 15);
    assert_eq!(sent.caption(), Some("Export"));
    let (name, bytes) = tg.document_bytes(user.id, sent.id.0 as i64).expect("kept");
    assert_eq!((name.as_str(), bytes.as_slice()), ("export.csv", b"id;name\n1;Anna\n".as_slice()));
    let recorded = tg.next_sent(user.id).await;
    assert_eq!((recorded.method.as_str(), recorded.text_str()), ("senddocument", "<b>Export</b>"));

    let again = bot.send_document(chat, InputFile::file_id(document.file.id.clone())).await;
    assert_eq!(again.expect("by file_id").document().map(|d| &d.file.id), Some(&document.file.id));
    assert_eq!(tg.document_bytes(user.id, recorded.message_id + 1).map(|d| d.1.len()), Some(15));

    let photo = bot
        .send_photo(chat, InputFile::memory(vec![0xFF, 0xD8, 0xFF]).file_name("p.jpg"))
        .reply_markup(InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Ok", "ok")]]))
        .await
        .expect("uploaded");
    let sizes = photo.photo().expect("a photo");
    assert_eq!(sizes.len(), 2);
    let by_id = bot.send_photo(chat, InputFile::file_id(sizes[1].file.id.clone())).await;
    assert_eq!(by_id.expect("by file_id").photo().map(<[_]>::len), Some(2));
    let by_url = call(
        &tg,
        TOKEN,
        "sendDocument",
        json!({ "chat_id": user.id, "document": "https://example.com/files/manual.pdf" }),
    );
    let (_, body) = by_url.await;
    assert_eq!(body["result"]["document"]["file_name"], "manual.pdf", "{body}");
    let unknown =
        call(&tg, TOKEN, "sendPhoto", json!({ "chat_id": user.id, "photo": "no-such-file" }));
    assert_refused(&unknown.await, 400, "Bad Request: wrong file identifier/HTTP URL specified");
    let long = bot
        .send_photo(chat, InputFile::file_id(sizes[1].file.id.clone()))
        .caption("x".repeat(1025));
    assert!(
        matches!(api_error(long.await), ApiError::Unknown(e) if e == "Bad Request: message caption is too long")
    );
    let empty = bot.send_document(chat, InputFile::memory(Vec::new()).file_name("empty.txt")).await;
    assert!(
        matches!(api_error(empty), ApiError::Unknown(e) if e == "Bad Request: file must be non-empty")
    );
    for method in ["senddocument", "sendphoto", "sendphoto", "senddocument"] {
        assert_eq!(tg.next_sent(user.id).await.method, method);
    }
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
}

#[tokio::test]
async fn replies_need_their_message_and_force_reply_is_for_new_messages() {
    let (tg, user) = fake_with_user().await;
    let bot = bot(&tg, TOKEN);
    let chat = ChatId(user.id);
    let question = tg.send_private(&user, Msg::text("where is my money?"));
    let answer = bot
        .send_message(chat, "Checking")
        .reply_parameters(ReplyParameters::new(MessageId(question as i32)))
        .reply_markup(ForceReply::new().input_field_placeholder(Some("Order number".into())))
        .await
        .expect("sent");
    assert_eq!(answer.reply_to_message().and_then(|m| m.text()), Some("where is my money?"));
    let sent = tg.next_sent(user.id).await;
    assert_eq!(sent.reply_markup.as_ref().map(|m| m["force_reply"].clone()), Some(json!(true)));
    let missing = ReplyParameters::new(MessageId(999));
    let refused = bot.send_message(chat, "x").reply_parameters(missing.clone()).await;
    assert_eq!(api_error(refused), ApiError::MessageToReplyNotFound);
    let doc = bot
        .send_document(chat, InputFile::memory(b"x".to_vec()).file_name("x.txt"))
        .reply_parameters(missing.clone())
        .await;
    assert_eq!(api_error(doc), ApiError::MessageToReplyNotFound);
    let lenient =
        bot.send_message(chat, "x").reply_parameters(missing.allow_sending_without_reply());
    assert!(lenient.await.expect("sent").reply_to_message().is_none());
    let edit = call(
        &tg,
        TOKEN,
        "editMessageText",
        json!({ "chat_id": user.id, "message_id": answer.id.0, "text": "y", "reply_markup": { "force_reply": true } }),
    );
    assert_refused(&edit.await, 400, "Bad Request: inline keyboard expected");
    tg.next_sent(user.id).await;
    assert!(tg.unread().is_empty(), "{:#?}", tg.unread());
}

/// The updates tests inject parse in teloxide as the kinds they claim.
#[tokio::test]
async fn injected_messages_edits_and_joins_parse_in_teloxide() {
    let tg = FakeTelegram::start().await;
    tg.add_group(SUPERGROUP, GroupKind::Supergroup);
    let user = TgUser::new(640, "Anna", Some("en")).with_username("anna_k");
    let other_bot = TgUser::bot(641, "Helper", "helper_bot");
    tg.add_bot_to_group(SUPERGROUP, &user);
    let text = tg.send_group(SUPERGROUP, &user, Msg::text("hello"));
    tg.send_group(SUPERGROUP, &user, Msg::voice());
    tg.send_group(SUPERGROUP, &user, Msg::video().caption("clip"));
    tg.send_group(SUPERGROUP, &user, Msg::sticker());
    tg.send_group(SUPERGROUP, &other_bot, Msg::photo().reply_to_id(text));
    tg.send_private(&user, Msg::document("a.txt", b"abc"));
    tg.edit_user_message(SUPERGROUP, text, "hello, edited");
    let all = updates(&tg).await;
    assert!(
        matches!(&all[0].kind, UpdateKind::MyChatMember(m) if m.new_chat_member.is_administrator())
    );
    let got = messages(&all);
    assert_eq!(got[0].new_chat_members().map(|m| m[0].id.0), Some(123));
    assert_eq!(got[1].text(), Some("hello"));
    assert!(got[2].voice().is_some());
    assert_eq!((got[3].video().is_some(), got[3].caption()), (true, Some("clip")));
    assert!(got[4].sticker().is_some());
    let from_bot = got[5].from.as_ref().expect("from");
    assert!(from_bot.is_bot && from_bot.username.as_deref() == Some("helper_bot"));
    assert!(got[5].photo().is_some());
    assert_eq!(got[5].reply_to_message().map(|r| r.id.0 as i64), Some(text));
    assert_eq!(got[5].thread_id, Some(thread(text)), "a reply thread in a supergroup");
    assert_eq!(got[6].document().and_then(|d| d.file_name.as_deref()), Some("a.txt"));
    let edited = match &all.last().expect("edit").kind {
        UpdateKind::EditedMessage(m) => m.clone(),
        other => panic!("expected edited_message, got {other:?}"),
    };
    assert_eq!(edited.text(), Some("hello, edited"));
    assert!(edited.edit_date().is_some());
    assert_eq!(tg.message(SUPERGROUP, text).expect("stored")["text"], "hello, edited");
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
