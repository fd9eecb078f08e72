//! A fake Telegram Bot API server for end-to-end tests.
//!
//! [`FakeTelegram::start`] serves the Bot API methods the bot calls, over
//! real HTTP on `127.0.0.1:<random port>`. Point the real teloxide bot at it
//! with `Bot::new(TOKEN).set_api_url(fake.api_url())` and run the real
//! dispatcher: tests inject updates (`send_text`, `press_button`, ...) that the
//! bot receives through `getUpdates` long polling, and read what the bot sent
//! back (`next_sent`, `calls`, ...) without sleeping. Faults (429, 5xx, any
//! API error) can be injected per method with [`FakeTelegram::fail_next`].
//!
//! The fake refuses what Telegram refuses, with Telegram's status codes and
//! descriptions (taken from the telegram-bot-api and tdlib sources): a wrong
//! token (401), a user who blocked the bot or never started it (403),
//! overlapping `getUpdates` (409: the earlier request is terminated), and the
//! limits on texts, buttons, callback answers, commands and deletions. A
//! method the bot does not call answers 404 like an unknown method; add it
//! here together with the test that needs it.
//!
//! Every test owns its own instance; the server stops when the last clone is
//! dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// The only token the fake accepts unless started with
/// [`FakeTelegram::start_with_token`]; the bot's user id is the part
/// before the colon.
pub const TOKEN: &str = "123:TEST";
/// Username the fake reports for the bot in `getMe`.
pub const BOT_USERNAME: &str = "crm_recovery_test_bot";
/// First name the fake reports for the bot.
pub const BOT_FIRST_NAME: &str = "CRM Recovery Test Bot";
/// Time the `next_sent` / `wait_*` helpers wait before panicking.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Title of every supergroup (negative chat id).
pub const GROUP_TITLE: &str = "Support";

/// Telegram's limits (Bot API documentation).
const MAX_TEXT_CHARS: usize = 4096;
const MAX_CALLBACK_DATA_BYTES: usize = 64;
const MAX_CALLBACK_ANSWER_CHARS: usize = 200;
const MAX_COMMANDS: usize = 100;
const MAX_COMMAND_CHARS: usize = 32;
const MAX_COMMAND_DESCRIPTION_CHARS: usize = 256;
/// A message can only be deleted if it was sent less than 48 hours ago.
const DELETE_WINDOW_SECS: i64 = 48 * 3600;

/// Update kinds Telegram delivers when `allowed_updates` was never set.
const NOT_DEFAULT_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// Parameters that are always strings, even when they look like JSON
/// (only used for form and query parameters).
const STRING_PARAMS: &[&str] = &[
    "text",
    "parse_mode",
    "language_code",
    "callback_query_id",
    "inline_message_id",
    "url",
    "business_connection_id",
];

/// One API call the bot made, in arrival order.
#[derive(Clone, Debug)]
pub struct Call {
    /// Method name, lowercase (`"sendmessage"`, `"getupdates"`, ...).
    pub method: String,
    /// Parameters (JSON body, form and query parameters merged).
    pub params: Value,
    /// The fake answered with `"ok": false` (injected, validation or
    /// conflict error).
    pub failed: bool,
    /// When the request arrived.
    pub at: Instant,
}

/// A message the bot sent to or edited in a chat (sendMessage,
/// editMessageText, editMessageReplyMarkup). Failed calls are not recorded
/// as `Sent`.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Method name, lowercase.
    pub method: String,
    /// Target chat.
    pub chat_id: i64,
    /// Id of the new message (or of the edited message for edits).
    pub message_id: i64,
    /// `text` from the request (`None` for editMessageReplyMarkup).
    pub text: Option<String>,
    /// `parse_mode` from the request.
    pub parse_mode: Option<String>,
    /// `reply_markup` from the request, any kind of keyboard.
    pub reply_markup: Option<Value>,
    /// All request parameters.
    pub params: Value,
    /// The Message object as the fake stored it right after this call.
    pub message: Value,
}

impl Sent {
    /// The text or `""`.
    pub fn text_str(&self) -> &str {
        self.text.as_deref().unwrap_or("")
    }

    /// Inline keyboard buttons, rows flattened: `(text, callback_data, url)`.
    pub fn inline_buttons(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let Some(rows) = self
            .reply_markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|b| {
                let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
                (s("text").unwrap_or_default(), s("callback_data"), s("url"))
            })
            .collect()
    }

    /// Reply keyboard buttons, rows flattened, each as a KeyboardButton
    /// object (plain string buttons become `{"text": ..}`).
    pub fn keyboard_buttons(&self) -> Vec<Value> {
        let Some(rows) =
            self.reply_markup.as_ref().and_then(|m| m.get("keyboard")).and_then(Value::as_array)
        else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|b| match b {
                Value::String(s) => json!({ "text": s }),
                other => other.clone(),
            })
            .collect()
    }

    /// `callback_data` of the first inline button whose text contains
    /// `button_text_substring`.
    pub fn callback_data_for(&self, button_text_substring: &str) -> Option<String> {
        self.inline_buttons()
            .into_iter()
            .find(|(text, _, _)| text.contains(button_text_substring))
            .and_then(|(_, data, _)| data)
    }

    /// The reply markup is `ReplyKeyboardRemove`.
    pub fn removes_keyboard(&self) -> bool {
        self.reply_markup.as_ref().and_then(|m| m.get("remove_keyboard")).and_then(Value::as_bool)
            == Some(true)
    }

    /// Link previews were disabled (`link_preview_options.is_disabled`).
    pub fn link_preview_disabled(&self) -> bool {
        self.params
            .get("link_preview_options")
            .and_then(|o| o.get("is_disabled"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// `protect_content: true` was requested.
    pub fn protect_content(&self) -> bool {
        self.params.get("protect_content").and_then(Value::as_bool) == Some(true)
    }

    /// One-line description used in panic messages:
    /// `chat 42 #3 sendmessage "Hello" inline=["Yes"->yes]`.
    pub fn summary(&self) -> String {
        let text = self.text_str();
        let shown = match text.char_indices().nth(120) {
            Some((cut, _)) => format!("{:?}… ({} chars)", &text[..cut], text.chars().count()),
            None => format!("{text:?}"),
        };
        let mut s = format!("chat {} #{} {} {shown}", self.chat_id, self.message_id, self.method);
        let inline = self.inline_buttons();
        if !inline.is_empty() {
            let labels: Vec<String> = inline
                .iter()
                .map(|(t, d, u)| format!("{t:?}->{}", d.as_deref().or(u.as_deref()).unwrap_or("?")))
                .collect();
            s.push_str(&format!(" inline=[{}]", labels.join(", ")));
        }
        let kb = self.keyboard_buttons();
        if !kb.is_empty() {
            s.push_str(&format!(" keyboard={}", Value::Array(kb)));
        }
        if self.removes_keyboard() {
            s.push_str(" remove_keyboard");
        }
        s
    }
}

/// A Telegram user the test acts as.
#[derive(Clone, Debug)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    pub language_code: Option<String>,
}

impl TgUser {
    /// `TgUser::new(42, "Anna", Some("ru"))`.
    pub fn new(id: i64, first_name: &str, language_code: Option<&str>) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            language_code: language_code.map(str::to_owned),
        }
    }

    /// The Bot API User object.
    pub fn to_json(&self) -> Value {
        let mut u = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name });
        if let Some(lang) = &self.language_code {
            u["language_code"] = json!(lang);
        }
        u
    }
}

/// Handle to a running fake server. Cheap to clone; the server stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct FakeTelegram {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Shared {
    /// The token the fake accepts.
    token: String,
    /// The bot's user id (the token's part before the colon).
    bot_id: i64,
    db: Mutex<Db>,
    /// Woken when an update is queued or a new getUpdates arrives.
    updates_changed: Notify,
    /// Woken when a call or a sent message is recorded.
    activity: Notify,
}

struct Failure {
    code: u16,
    description: String,
    retry_after: Option<u32>,
    /// Answer 200 with a body that is not JSON, as a broken proxy would.
    garbled: bool,
}

#[derive(Default)]
struct Db {
    next_update_id: i64,
    pending: VecDeque<Value>,
    /// `allowed_updates` of the last getUpdates call that set it.
    allowed_updates: Option<Vec<String>>,
    /// Incremented by every getUpdates; a waiting one whose number is no
    /// longer current was terminated by a newer one.
    poll_generation: u64,
    last_message_id: HashMap<i64, i64>,
    /// Current state of every message, keyed by (chat id, message id).
    messages: HashMap<(i64, i64), Value>,
    /// The bot's messages as formatted: parse mode and source text. With
    /// the visible text it tells whether an edit changes anything.
    formatting: HashMap<(i64, i64), String>,
    user_names: HashMap<i64, String>,
    /// Users who have a private chat with the bot (wrote to it).
    started: HashSet<i64>,
    /// Users who blocked the bot.
    blocked: HashSet<i64>,
    /// Group chats the bot is in (a test posted there).
    groups: HashSet<i64>,
    /// Callback query ids handed to the bot → answered yet.
    callback_queries: HashMap<String, bool>,
    deleted: HashMap<i64, Vec<i64>>,
    calls: Vec<Call>,
    sent: HashMap<i64, Vec<Sent>>,
    consumed: HashMap<i64, usize>,
    failures: HashMap<String, VecDeque<Failure>>,
    /// How far the fake's clock is ahead of the real one.
    clock_offset: chrono::Duration,
    next_callback_id: u64,
    next_file_id: u64,
}

impl Db {
    /// The fake's notion of now, as Telegram's unix timestamps.
    fn now(&self) -> i64 {
        (chrono::Utc::now() + self.clock_offset).timestamp()
    }

    fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let id = self.last_message_id.entry(chat_id).or_insert(0);
        *id += 1;
        *id
    }

    fn file_id(&mut self, prefix: &str) -> (String, String) {
        self.next_file_id += 1;
        let n = self.next_file_id;
        (format!("{prefix}-{n}"), format!("u{prefix}{n}"))
    }

    fn chat_json(&self, chat_id: i64) -> Value {
        if chat_id < 0 {
            json!({ "id": chat_id, "type": "supergroup", "title": GROUP_TITLE, "is_forum": true })
        } else {
            let name = self.user_names.get(&chat_id).map_or("User", String::as_str);
            json!({ "id": chat_id, "type": "private", "first_name": name })
        }
    }

    /// Queues an update (unless `allowed_updates` excludes its kind).
    fn push_update(&mut self, mut update: Map<String, Value>) -> i64 {
        self.next_update_id += 1;
        let id = self.next_update_id;
        let kind = update.keys().find(|k| *k != "update_id").cloned().unwrap_or_default();
        update.insert("update_id".into(), json!(id));
        let allowed = match &self.allowed_updates {
            Some(list) => list.contains(&kind),
            None => !NOT_DEFAULT_UPDATES.contains(&kind.as_str()),
        };
        if allowed {
            self.pending.push_back(Value::Object(update));
        }
        id
    }

    /// The `my_chat_member` update Telegram sends when a user blocks
    /// (`kicked`) or restarts (`member`) the bot.
    fn push_my_chat_member(&mut self, bot_id: i64, user: Value, old: &str, new: &str) {
        let user_id = user["id"].as_i64().unwrap_or_default();
        let member = |status: &str| {
            let mut m = json!({ "status": status, "user": bot_user(bot_id) });
            if status == "kicked" {
                m["until_date"] = json!(0);
            }
            m
        };
        let mut update = Map::new();
        update.insert(
            "my_chat_member".into(),
            json!({
                "chat": self.chat_json(user_id),
                "from": user,
                "date": self.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            }),
        );
        self.push_update(update);
    }

    /// Telegram refuses to send to a user who blocked the bot or never
    /// started it, and to a group the bot is not in.
    fn check_can_send(&self, chat_id: i64) -> Result<(), ApiErr> {
        if chat_id > 0 {
            if self.blocked.contains(&chat_id) {
                return Err(ApiErr::forbidden("Forbidden: bot was blocked by the user"));
            }
            if !self.started.contains(&chat_id) {
                return Err(ApiErr::forbidden(
                    "Forbidden: bot can't initiate conversation with a user",
                ));
            }
            Ok(())
        } else if self.groups.contains(&chat_id) {
            Ok(())
        } else {
            Err(ApiErr::bad_request("Bad Request: chat not found"))
        }
    }
}

/// An error answer: `{"ok":false,"error_code":..,"description":..}`.
#[derive(Debug)]
struct ApiErr {
    code: u16,
    description: String,
    retry_after: Option<u32>,
}

impl ApiErr {
    fn new(code: u16, description: impl Into<String>) -> Self {
        Self { code, description: description.into(), retry_after: None }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, description)
    }

    fn forbidden(description: impl Into<String>) -> Self {
        Self::new(403, description)
    }

    fn not_found() -> Self {
        Self::new(404, "Not Found")
    }
}

type ApiResult = Result<Value, ApiErr>;

fn bot_user(bot_id: i64) -> Value {
    json!({ "id": bot_id, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME })
}

impl FakeTelegram {
    /// Binds `127.0.0.1:0` and serves the fake API for [`TOKEN`].
    pub async fn start() -> FakeTelegram {
        Self::start_with_token(TOKEN).await
    }

    /// Like [`start`](Self::start) for another bot token (`"<bot id>:<secret>"`).
    pub async fn start_with_token(token: &str) -> FakeTelegram {
        let bot_id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse::<i64>().ok())
            .expect("fake telegram: a token looks like \"<bot id>:<secret>\"");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake telegram: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake telegram: local_addr");
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            db: Mutex::new(Db { next_update_id: 1000, ..Db::default() }),
            updates_changed: Notify::new(),
            activity: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle_request))
            .fallback(|| async { error_response(&ApiErr::not_found()) })
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
        .abort_handle();
        FakeTelegram { handle: Arc::new(Handle { shared, addr, server }) }
    }

    /// Base URL for `Bot::set_api_url`, e.g. `http://127.0.0.1:40123/`.
    pub fn api_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.handle.addr)).expect("fake telegram: url")
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.shared().lock()
    }

    // ----- configuration -------------------------------------------------

    /// Makes the next call of `method_lowercase` fail with this error; calls
    /// queue up, so several failures can be injected. A failed call is
    /// recorded in `calls` with `failed: true` but not as `Sent`. The HTTP
    /// status is `error_code`; `retry_after` adds `parameters.retry_after`
    /// (teloxide turns that into `RequestError::RetryAfter`). Note that
    /// teloxide sleeps 10 s before returning any 5xx answer.
    pub fn fail_next(
        &self,
        method_lowercase: &str,
        error_code: u16,
        description: &str,
        retry_after: Option<u32>,
    ) {
        self.db().failures.entry(method_lowercase.to_ascii_lowercase()).or_default().push_back(
            Failure {
                code: error_code,
                description: description.to_owned(),
                retry_after,
                garbled: false,
            },
        );
    }

    /// The next call of that method gets `200 OK` with an HTML body instead
    /// of JSON (what a failing reverse proxy returns): a transient error the
    /// client sees at once, without teloxide's 10 s pause on 5xx.
    pub fn garble_next(&self, method_lowercase: &str) {
        self.db().failures.entry(method_lowercase.to_ascii_lowercase()).or_default().push_back(
            Failure { code: 200, description: String::new(), retry_after: None, garbled: true },
        );
    }

    /// The user blocks the bot: from now on sending to them fails with 403
    /// `Forbidden: bot was blocked by the user`, until they write to the bot
    /// again (restarting it). Queues the `my_chat_member` update Telegram
    /// sends (delivered only if the bot asked for that kind).
    pub fn block_bot(&self, user_id: i64) {
        let mut db = self.db();
        if db.blocked.insert(user_id) {
            let name = db.user_names.get(&user_id).map_or("User", String::as_str);
            let user = json!({ "id": user_id, "is_bot": false, "first_name": name });
            db.push_my_chat_member(self.shared().bot_id, user, "member", "kicked");
        }
        drop(db);
        self.shared().updates_changed.notify_waiters();
    }

    /// Moves the fake's clock forward: the `date` of messages it stamps from
    /// now on, and the 48-hour limit on deleting messages.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.db().clock_offset += by;
    }

    // ----- observation ---------------------------------------------------

    /// All calls of a method so far (`method_lowercase` like `"sendmessage"`).
    pub fn calls(&self, method_lowercase: &str) -> Vec<Call> {
        let method = method_lowercase.to_ascii_lowercase();
        self.db().calls.iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Everything sent to a chat so far (read or not).
    pub fn all_sent(&self, chat_id: i64) -> Vec<Sent> {
        self.db().sent.get(&chat_id).cloned().unwrap_or_default()
    }

    /// What the bot sent or edited that no `next_sent` has read, in every
    /// chat (by chat id, then in order). A journey should end with none;
    /// `Sent::summary` describes each.
    pub fn unread(&self) -> Vec<Sent> {
        let db = self.db();
        let mut chats: Vec<i64> = db.sent.keys().copied().collect();
        chats.sort_unstable();
        chats
            .into_iter()
            .flat_map(|chat| {
                let read = db.consumed.get(&chat).copied().unwrap_or(0);
                db.sent[&chat].iter().skip(read).cloned().collect::<Vec<_>>()
            })
            .collect()
    }

    /// The current state of a message (after edits); `None` if it never
    /// existed or was deleted.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.db().messages.get(&(chat_id, message_id)).cloned()
    }

    /// Ids of the messages the bot deleted in a chat, in order.
    pub fn deleted(&self, chat_id: i64) -> Vec<i64> {
        self.db().deleted.get(&chat_id).cloned().unwrap_or_default()
    }

    /// The next not-yet-read message sent to `chat_id` (per-chat cursor).
    /// Waits up to [`WAIT_TIMEOUT`], then panics listing what was sent.
    pub async fn next_sent(&self, chat_id: i64) -> Sent {
        let what = format!("a message to chat {chat_id}");
        self.wait(&what, chat_id, |db| {
            let idx = db.consumed.get(&chat_id).copied().unwrap_or(0);
            let next = db.sent.get(&chat_id).and_then(|v| v.get(idx)).cloned()?;
            db.consumed.insert(chat_id, idx + 1);
            Some(next)
        })
        .await
    }

    /// The first call of a method, waiting up to [`WAIT_TIMEOUT`] for it.
    pub async fn wait_for_call(&self, method_lowercase: &str) -> Call {
        let method = method_lowercase.to_ascii_lowercase();
        self.wait(&format!("a {method} call"), 0, |db| {
            db.calls.iter().find(|c| c.method == method).cloned()
        })
        .await
    }

    /// Waits until at least `n` calls of a method were made; returns them all.
    pub async fn wait_for_calls(&self, method_lowercase: &str, n: usize) -> Vec<Call> {
        let method = method_lowercase.to_ascii_lowercase();
        self.wait(&format!("{n} {method} calls"), 0, |db| {
            let calls: Vec<Call> =
                db.calls.iter().filter(|c| c.method == method).cloned().collect();
            (calls.len() >= n).then_some(calls)
        })
        .await
    }

    /// Waits for the `answerCallbackQuery` of the given callback query id.
    pub async fn wait_callback_answer(&self, callback_id: &str) -> Call {
        self.wait(&format!("answerCallbackQuery for {callback_id}"), 0, |db| {
            db.calls
                .iter()
                .find(|c| {
                    c.method == "answercallbackquery"
                        && c.params.get("callback_query_id").and_then(Value::as_str)
                            == Some(callback_id)
                })
                .cloned()
        })
        .await
    }

    /// Polls `check` under the lock each time something is recorded.
    async fn wait<T>(
        &self,
        what: &str,
        chat_for_report: i64,
        mut check: impl FnMut(&mut Db) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            let notified = self.shared().activity.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(&mut self.db()) {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(found) = check(&mut self.db()) {
                    return found;
                }
                let report = self.report(chat_for_report);
                panic!(
                    "fake telegram: timed out after {WAIT_TIMEOUT:?} waiting for {what}\n{report}"
                );
            }
        }
    }

    fn report(&self, chat_id: i64) -> String {
        let db = self.db();
        let mut out = String::new();
        if chat_id != 0 {
            let consumed = db.consumed.get(&chat_id).copied().unwrap_or(0);
            let list = db.sent.get(&chat_id).map(Vec::as_slice).unwrap_or_default();
            out.push_str(&format!(
                "sent to chat {chat_id} ({} total, {consumed} read):\n",
                list.len()
            ));
            for (i, s) in list.iter().enumerate() {
                let mark = if i < consumed { "  (read) " } else { "  (new)  " };
                out.push_str(&format!("{mark}{}\n", s.summary()));
            }
        }
        let methods: Vec<String> = db
            .calls
            .iter()
            .filter(|c| c.method != "getupdates")
            .map(|c| if c.failed { format!("{}(failed)", c.method) } else { c.method.clone() })
            .collect();
        out.push_str(&format!("calls (without getupdates): [{}]", methods.join(", ")));
        out
    }

    // ----- update injection ----------------------------------------------

    /// Builds a user message in `chat_id`, stores it and queues it. A
    /// private message starts the chat with the bot (and restarts it if the
    /// user had blocked the bot); a group message puts the bot in the group.
    fn push_user_message(
        &self,
        chat_id: i64,
        user: &TgUser,
        fill: impl FnOnce(&mut Db, &mut Map<String, Value>),
    ) -> i64 {
        let mut db = self.db();
        db.user_names.insert(user.id, user.first_name.clone());
        if chat_id == user.id {
            db.started.insert(user.id);
            if db.blocked.remove(&user.id) {
                db.push_my_chat_member(self.shared().bot_id, user.to_json(), "kicked", "member");
            }
        } else if chat_id < 0 {
            db.groups.insert(chat_id);
        }
        let message_id = db.next_message_id(chat_id);
        let mut m = Map::new();
        m.insert("message_id".into(), json!(message_id));
        m.insert("from".into(), user.to_json());
        m.insert("date".into(), json!(db.now()));
        m.insert("chat".into(), db.chat_json(chat_id));
        fill(&mut db, &mut m);
        let message = Value::Object(m);
        db.messages.insert((chat_id, message_id), message.clone());
        let mut update = Map::new();
        update.insert("message".into(), message);
        db.push_update(update);
        drop(db);
        self.shared().updates_changed.notify_waiters();
        message_id
    }

    /// A private text message from `user` (chat id = user id). Text starting
    /// with `/` gets a `bot_command` entity. Returns the message id.
    pub fn send_text(&self, user: &TgUser, text: &str) -> i64 {
        self.push_user_message(user.id, user, |_, m| add_text(m, text))
    }

    /// A private message sharing a contact (as the "share my phone" button
    /// does when `contact_user_id == Some(user.id)`).
    pub fn send_contact(&self, user: &TgUser, phone: &str, contact_user_id: Option<i64>) -> i64 {
        let contact = contact_json(user, phone, contact_user_id);
        self.push_user_message(user.id, user, |_, m| {
            m.insert("contact".into(), contact);
        })
    }

    /// Like [`send_contact`](Self::send_contact) but forwarded: carries a
    /// `forward_origin` of type `"user"` whose `sender_user` is the contact's
    /// user (`contact_user_id`, or a stranger when `None`).
    pub fn send_forwarded_contact(
        &self,
        user: &TgUser,
        phone: &str,
        contact_user_id: Option<i64>,
    ) -> i64 {
        let contact = contact_json(user, phone, contact_user_id);
        let origin_id = contact_user_id.unwrap_or(user.id + 1_000_000);
        self.push_user_message(user.id, user, |db, m| {
            let origin = json!({
                "type": "user",
                "date": db.now() - 3600,
                "sender_user": { "id": origin_id, "is_bot": false, "first_name": "Forwarded" },
            });
            m.insert("contact".into(), contact);
            m.insert("forward_origin".into(), origin);
        })
    }

    /// A private photo message, optionally captioned.
    pub fn send_photo(&self, user: &TgUser, caption: Option<&str>) -> i64 {
        self.push_user_message(user.id, user, |db, m| {
            m.insert("photo".into(), photo_sizes(db));
            if let Some(c) = caption {
                m.insert("caption".into(), json!(c));
            }
        })
    }

    /// A supergroup (forum) message from `user` in `chat_id` (negative).
    /// `reply_to` becomes `reply_to_message` (its current stored state);
    /// `thread_id` sets `message_thread_id` and `is_topic_message: true`.
    pub fn send_group_text(
        &self,
        chat_id: i64,
        user: &TgUser,
        text: &str,
        reply_to: Option<&Sent>,
        thread_id: Option<i64>,
    ) -> i64 {
        assert!(chat_id < 0, "fake telegram: group chat ids are negative, got {chat_id}");
        self.push_user_message(chat_id, user, |db, m| {
            if let Some(t) = thread_id {
                m.insert("message_thread_id".into(), json!(t));
                m.insert("is_topic_message".into(), json!(true));
            }
            if let Some(r) = reply_to {
                let original = db
                    .messages
                    .get(&(r.chat_id, r.message_id))
                    .cloned()
                    .unwrap_or_else(|| r.message.clone());
                m.insert("reply_to_message".into(), strip_reply(original));
            }
            add_text(m, text);
        })
    }

    /// `user` presses an inline button with callback `data` under `message`
    /// (its current stored state is sent). Returns the callback query id,
    /// which the bot may answer once.
    pub fn press_button(&self, user: &TgUser, message: &Sent, data: &str) -> String {
        let mut db = self.db();
        db.user_names.insert(user.id, user.first_name.clone());
        db.next_callback_id += 1;
        let id = format!("{}", 4_000_000_000_000_000_000_u64 + db.next_callback_id);
        db.callback_queries.insert(id.clone(), false);
        let msg = db
            .messages
            .get(&(message.chat_id, message.message_id))
            .cloned()
            .unwrap_or_else(|| message.message.clone());
        let mut update = Map::new();
        update.insert(
            "callback_query".into(),
            json!({
                "id": id,
                "from": user.to_json(),
                "chat_instance": format!("ci{}", message.chat_id),
                "data": data,
                "message": msg,
            }),
        );
        db.push_update(update);
        drop(db);
        self.shared().updates_changed.notify_waiters();
        id
    }
}

fn contact_json(user: &TgUser, phone: &str, contact_user_id: Option<i64>) -> Value {
    let mut c = json!({ "phone_number": phone, "first_name": user.first_name });
    if let Some(id) = contact_user_id {
        c["user_id"] = json!(id);
    }
    c
}

fn add_text(m: &mut Map<String, Value>, text: &str) {
    m.insert("text".into(), json!(text));
    if text.starts_with('/') {
        let word = text.split_whitespace().next().unwrap_or(text);
        let len = word.encode_utf16().count();
        m.insert("entities".into(), json!([{ "type": "bot_command", "offset": 0, "length": len }]));
    }
}

fn strip_reply(mut message: Value) -> Value {
    if let Some(obj) = message.as_object_mut() {
        obj.remove("reply_to_message");
    }
    message
}

fn photo_sizes(db: &mut Db) -> Value {
    let (small_id, small_uid) = db.file_id("userphoto");
    let (big_id, big_uid) = db.file_id("userphoto");
    json!([
        { "file_id": small_id, "file_unique_id": small_uid, "width": 90, "height": 90, "file_size": 1024 },
        { "file_id": big_id, "file_unique_id": big_uid, "width": 800, "height": 600, "file_size": 65536 },
    ])
}

// ----- HTTP layer -----------------------------------------------------------

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a call; returns its index in `calls`.
    fn record_call(&self, db: &mut Db, method: &str, params: &Value, failed: bool) -> usize {
        db.calls.push(Call {
            method: method.to_owned(),
            params: params.clone(),
            failed,
            at: Instant::now(),
        });
        self.activity.notify_waiters();
        db.calls.len() - 1
    }
}

fn error_response(err: &ApiErr) -> Response {
    let mut body = json!({ "ok": false, "error_code": err.code, "description": err.description });
    if let Some(secs) = err.retry_after {
        body["parameters"] = json!({ "retry_after": secs });
    }
    let status = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &body)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn reply(result: ApiResult) -> Response {
    match result {
        Ok(value) => json_response(StatusCode::OK, &json!({ "ok": true, "result": value })),
        Err(err) => error_response(&err),
    }
}

async fn handle_request(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return error_response(&ApiErr::not_found());
    };
    let method = method.to_ascii_lowercase();
    if token != shared.token {
        let mut db = shared.lock();
        shared.record_call(&mut db, &method, &Value::Null, true);
        return error_response(&ApiErr::new(401, "Unauthorized"));
    }

    let params = match parse_params(query.as_deref(), &headers, &body) {
        Ok(p) => Value::Object(p),
        Err(description) => {
            let mut db = shared.lock();
            shared.record_call(&mut db, &method, &Value::Null, true);
            return error_response(&ApiErr::bad_request(description));
        }
    };

    {
        let mut db = shared.lock();
        let injected = db.failures.get_mut(&method).and_then(VecDeque::pop_front);
        if let Some(f) = injected {
            shared.record_call(&mut db, &method, &params, true);
            if f.garbled {
                let html = "<html><body>502 Bad Gateway</body></html>";
                return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], html)
                    .into_response();
            }
            return error_response(&ApiErr {
                code: f.code,
                description: f.description,
                retry_after: f.retry_after,
            });
        }
    }

    if method == "getupdates" {
        return reply(get_updates(&shared, &params).await);
    }

    let mut db = shared.lock();
    let result = dispatch(&mut db, &method, shared.bot_id, &params);
    shared.record_call(&mut db, &method, &params, result.is_err());
    drop(db);
    reply(result)
}

/// Query string, then a form or JSON body (teloxide sends JSON; it uses
/// multipart only to upload files, which the bot does not do).
fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let value = coerce(&k, &v);
            params.insert(k.into_owned(), value);
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            let value = coerce(&k, &v);
            params.insert(k.into_owned(), value);
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => params.extend(obj),
            Ok(Value::Null) => {}
            Ok(_) => return Err("Bad Request: request body must be a JSON object".into()),
            Err(e) => return Err(format!("Bad Request: can't parse JSON body: {e}")),
        }
    }
    Ok(params)
}

/// Form/query values are strings; turn `"123"`, `"true"`, `"{...}"` into
/// JSON unless the parameter is a known string parameter.
fn coerce(key: &str, raw: &str) -> Value {
    if STRING_PARAMS.contains(&key) {
        return Value::String(raw.to_owned());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

// ----- parameter helpers ------------------------------------------------------

fn int_param(params: &Value, key: &str) -> Result<Option<i64>, ApiErr> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiErr::bad_request(format!("Bad Request: invalid {key}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiErr::bad_request(format!("Bad Request: invalid {key}"))),
        Some(_) => Err(ApiErr::bad_request(format!("Bad Request: invalid {key}"))),
    }
}

fn chat_param(params: &Value) -> Result<i64, ApiErr> {
    match params.get("chat_id") {
        None | Some(Value::Null) => Err(ApiErr::bad_request("Bad Request: chat_id is empty")),
        Some(Value::String(s)) if s.starts_with('@') => {
            Err(ApiErr::bad_request("Bad Request: chat not found"))
        }
        Some(_) => int_param(params, "chat_id")?
            .ok_or_else(|| ApiErr::bad_request("Bad Request: chat not found")),
    }
}

fn message_id_param(params: &Value) -> Result<i64, ApiErr> {
    int_param(params, "message_id")?
        .filter(|&id| id != 0)
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message identifier is not specified"))
}

fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn bool_param(params: &Value, key: &str) -> bool {
    params.get(key).and_then(Value::as_bool) == Some(true)
}

/// `reply_markup` as Telegram reads it. Where Telegram would silently pick
/// one of several keyboards in one object, or take an object with none as
/// no keyboard, the fake refuses: a bot that sends either has a bug.
fn markup_param(params: &Value) -> Result<Option<Value>, ApiErr> {
    let markup = match params.get("reply_markup") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| {
            ApiErr::bad_request("Bad Request: can't parse reply keyboard markup JSON object")
        })?,
        Some(v) => v.clone(),
    };
    let Some(obj) = markup.as_object() else {
        return Err(ApiErr::bad_request("Bad Request: object expected as reply markup"));
    };
    let kinds = [
        obj.get("inline_keyboard").is_some_and(Value::is_array),
        obj.get("keyboard").is_some_and(Value::is_array),
        obj.get("remove_keyboard").and_then(Value::as_bool) == Some(true),
        obj.get("force_reply").and_then(Value::as_bool) == Some(true),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err(ApiErr::bad_request(format!(
            "Bad Request: can't parse reply keyboard markup JSON object \
             (the fake wants exactly one keyboard kind, got {markup})"
        )));
    }
    if let Some(rows) = obj.get("inline_keyboard").and_then(Value::as_array) {
        for row in rows {
            let Some(buttons) = row.as_array() else {
                return Err(ApiErr::bad_request(
                    "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays",
                ));
            };
            buttons.iter().try_for_each(check_inline_button)?;
        }
    }
    if let Some(rows) = obj.get("keyboard").and_then(Value::as_array)
        && rows.iter().any(|row| !row.is_array())
    {
        return Err(ApiErr::bad_request(
            "Bad Request: field \"keyboard\" must be an Array of Arrays",
        ));
    }
    Ok(Some(markup))
}

fn check_inline_button(button: &Value) -> Result<(), ApiErr> {
    let refuse = |why: &str| {
        Err(ApiErr::bad_request(format!("Bad Request: can't parse inline keyboard button: {why}")))
    };
    let Some(b) = button.as_object() else {
        return refuse("InlineKeyboardButton must be an Object");
    };
    if !b.get("text").is_some_and(Value::is_string) {
        return refuse("Field \"text\" must be of type String");
    }
    let non_empty = |key: &str| b.get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if non_empty("url") {
        return Ok(());
    }
    if non_empty("callback_data") {
        let data = b.get("callback_data").and_then(Value::as_str).unwrap_or_default();
        if data.len() > MAX_CALLBACK_DATA_BYTES {
            return Err(ApiErr::bad_request("Bad Request: BUTTON_DATA_INVALID"));
        }
        return Ok(());
    }
    const OTHER_KINDS: &[&str] = &[
        "callback_game",
        "pay",
        "switch_inline_query",
        "switch_inline_query_chosen_chat",
        "switch_inline_query_current_chat",
        "login_url",
        "web_app",
        "copy_text",
    ];
    if OTHER_KINDS.iter().any(|k| b.contains_key(*k)) {
        return Ok(());
    }
    refuse("Text buttons are unallowed in the inline keyboard")
}

/// Only inline keyboards are part of the Message object.
fn inline_only(markup: &Option<Value>) -> Option<Value> {
    markup.as_ref().filter(|m| m.get("inline_keyboard").is_some()).cloned()
}

/// The message text as the user will see it: parsed by `parse_mode`,
/// trimmed, 1–4096 characters.
fn check_text(params: &Value) -> Result<String, ApiErr> {
    let text = str_param(params, "text").unwrap_or("");
    if text.is_empty() {
        return Err(ApiErr::bad_request("Bad Request: message text is empty"));
    }
    let mode = str_param(params, "parse_mode").unwrap_or("").to_ascii_lowercase();
    let visible = match mode.as_str() {
        "" | "none" => text.to_owned(),
        "html" => parse_html(text)?,
        // Not parsed: the bot uses HTML; counted as sent.
        "markdown" | "markdownv2" => text.to_owned(),
        _ => return Err(ApiErr::bad_request("Bad Request: unsupported parse_mode")),
    };
    let visible = visible.trim();
    if visible.is_empty() {
        return Err(ApiErr::bad_request("Bad Request: message text is empty"));
    }
    if visible.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiErr::bad_request("Bad Request: message is too long"));
    }
    Ok(visible.to_owned())
}

/// Telegram's HTML subset, returning the visible text. Refuses unknown or
/// unbalanced tags; the fake also refuses `<`, `>` or `&` that are not part
/// of a tag or of an entity (`&lt;` `&gt;` `&amp;` `&quot;` or numeric), so
/// a value inserted without escaping fails a test.
fn parse_html(text: &str) -> Result<String, ApiErr> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let refuse = |why: String, at: usize| {
        Err(ApiErr::bad_request(format!(
            "Bad Request: can't parse entities: {why} at byte offset {at}"
        )))
    };
    let mut visible = String::with_capacity(text.len());
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or_default();
        match c {
            '<' => {
                let Some(len) = rest.find('>') else {
                    return refuse("Unclosed start tag".into(), i);
                };
                let inner = &rest[1..len];
                let (closing, body) = match inner.strip_prefix('/') {
                    Some(rest) => (true, rest),
                    None => (false, inner),
                };
                let name = body.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                if !TAGS.contains(&name.as_str()) {
                    let kind = if closing { "end" } else { "start" };
                    return refuse(format!("Unsupported {kind} tag \"{name}\""), i);
                }
                if closing {
                    if open.pop().as_deref() != Some(name.as_str()) {
                        return refuse(format!("Unmatched end tag \"{name}\""), i);
                    }
                } else {
                    open.push(name);
                }
                i += len + 1;
            }
            '>' => return refuse("Character '>' is reserved".into(), i),
            '&' => {
                let entity = rest[1..].find(';').map(|end| &rest[1..=end]);
                let decoded = entity.and_then(|e| match e {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    _ => {
                        let n = e.strip_prefix('#')?;
                        let code = match n.strip_prefix(['x', 'X']) {
                            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                            None => n.parse::<u32>().ok()?,
                        };
                        char::from_u32(code)
                    }
                });
                let (Some(e), Some(ch)) = (entity, decoded) else {
                    return refuse("Character '&' is reserved".into(), i);
                };
                visible.push(ch);
                i += e.len() + 2;
            }
            _ => {
                visible.push(c);
                i += c.len_utf8();
            }
        }
    }
    match open.pop() {
        Some(name) => {
            refuse(format!("Can't find end tag corresponding to start tag \"{name}\""), text.len())
        }
        None => Ok(visible),
    }
}

// ----- methods ----------------------------------------------------------------

fn dispatch(db: &mut Db, method: &str, bot_id: i64, params: &Value) -> ApiResult {
    match method {
        "getme" => {
            let mut me = bot_user(bot_id);
            for flag in ["can_join_groups", "can_read_all_group_messages"] {
                me[flag] = json!(true);
            }
            for flag in ["supports_inline_queries", "can_connect_to_business", "has_main_web_app"] {
                me[flag] = json!(false);
            }
            Ok(me)
        }
        "getwebhookinfo" => Ok(
            json!({ "url": "", "has_custom_certificate": false, "pending_update_count": db.pending.len() }),
        ),
        "setmycommands" => set_my_commands(params),
        "answercallbackquery" => answer_callback_query(db, params),
        "sendmessage" => send_message(db, bot_id, params),
        "editmessagetext" | "editmessagereplymarkup" => edit_message(db, method, bot_id, params),
        "deletemessage" => delete_message(db, bot_id, params),
        _ => Err(ApiErr::not_found()),
    }
}

fn set_my_commands(params: &Value) -> ApiResult {
    let commands = match params.get("commands") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiErr::bad_request("Bad Request: expected an Array of BotCommand")),
    };
    if let Some(code) = str_param(params, "language_code")
        && !(code.is_empty() || (code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())))
    {
        return Err(ApiErr::bad_request("Bad Request: invalid language code specified"));
    }
    if commands.len() > MAX_COMMANDS {
        return Err(ApiErr::bad_request("Bad Request: BOT_COMMANDS_TOO_MUCH"));
    }
    for command in commands {
        let field = |key: &str| command.get(key).and_then(Value::as_str).map(str::trim);
        let (Some(name), Some(description)) = (field("command"), field("description")) else {
            return Err(ApiErr::bad_request(
                "Bad Request: can't parse BotCommand: fields \"command\" and \"description\" must be of type String",
            ));
        };
        let name = name.strip_prefix('/').unwrap_or(name);
        if name.is_empty() {
            return Err(ApiErr::bad_request("Bad Request: command must be non-empty"));
        }
        if name.chars().count() > MAX_COMMAND_CHARS {
            return Err(ApiErr::bad_request(format!(
                "Bad Request: command length must not exceed {MAX_COMMAND_CHARS}"
            )));
        }
        if description.is_empty() {
            return Err(ApiErr::bad_request("Bad Request: command description must be non-empty"));
        }
        if description.chars().count() > MAX_COMMAND_DESCRIPTION_CHARS {
            return Err(ApiErr::bad_request(format!(
                "Bad Request: command description length must not exceed {MAX_COMMAND_DESCRIPTION_CHARS}"
            )));
        }
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(ApiErr::bad_request("Bad Request: BOT_COMMAND_INVALID"));
        }
    }
    Ok(json!(true))
}

fn answer_callback_query(db: &mut Db, params: &Value) -> ApiResult {
    let id = match params.get("callback_query_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if str_param(params, "text").is_some_and(|t| t.chars().count() > MAX_CALLBACK_ANSWER_CHARS) {
        return Err(ApiErr::bad_request("Bad Request: MESSAGE_TOO_LONG"));
    }
    match db.callback_queries.get_mut(&id) {
        Some(answered) if !*answered => {
            *answered = true;
            Ok(json!(true))
        }
        _ => Err(ApiErr::bad_request(
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        )),
    }
}

/// Stores the message, records it as `Sent`, returns the Message object.
fn store_sent(
    db: &mut Db,
    method: &str,
    chat_id: i64,
    message: Map<String, Value>,
    params: &Value,
    text: Option<String>,
    markup: Option<Value>,
) -> Value {
    let message_id = message.get("message_id").and_then(Value::as_i64).unwrap_or_default();
    if text.is_some() {
        db.formatting.insert((chat_id, message_id), formatting(params));
    }
    let message = Value::Object(message);
    db.messages.insert((chat_id, message_id), message.clone());
    db.sent.entry(chat_id).or_default().push(Sent {
        method: method.to_owned(),
        chat_id,
        message_id,
        text,
        parse_mode: str_param(params, "parse_mode").map(str::to_owned),
        reply_markup: markup,
        params: params.clone(),
        message: message.clone(),
    });
    message
}

/// What, besides the visible text, makes two texts differ for Telegram.
fn formatting(params: &Value) -> String {
    let mode = str_param(params, "parse_mode").unwrap_or("").to_ascii_lowercase();
    format!("{mode}\n{}", str_param(params, "text").unwrap_or(""))
}

fn send_message(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params)?;
    let visible = check_text(params)?;
    let markup = markup_param(params)?;
    db.check_can_send(chat_id)?;
    let thread_id = int_param(params, "message_thread_id")?;
    let reply_to = match params.get("reply_parameters") {
        Some(rp) => int_param(rp, "message_id")?,
        None => int_param(params, "reply_to_message_id")?,
    };
    let reply_to = match reply_to {
        None => None,
        Some(id) => match db.messages.get(&(chat_id, id)) {
            Some(original) => Some(strip_reply(original.clone())),
            None if params["reply_parameters"]["allow_sending_without_reply"] == true => None,
            None => {
                return Err(ApiErr::bad_request("Bad Request: message to be replied not found"));
            }
        },
    };
    let text = str_param(params, "text").unwrap_or_default().to_owned();
    let message_id = db.next_message_id(chat_id);
    let mut m = Map::new();
    m.insert("message_id".into(), json!(message_id));
    if let Some(t) = thread_id {
        m.insert("message_thread_id".into(), json!(t));
        if chat_id < 0 {
            m.insert("is_topic_message".into(), json!(true));
        }
    }
    m.insert("from".into(), bot_user(bot_id));
    m.insert("date".into(), json!(db.now()));
    m.insert("chat".into(), db.chat_json(chat_id));
    if let Some(original) = reply_to {
        m.insert("reply_to_message".into(), original);
    }
    if bool_param(params, "protect_content") {
        m.insert("has_protected_content".into(), json!(true));
    }
    // The Message carries the text as the user sees it (entities parsed out).
    m.insert("text".into(), json!(visible));
    if let Some(lpo) = params.get("link_preview_options").filter(|o| o.is_object()) {
        m.insert("link_preview_options".into(), lpo.clone());
    }
    if let Some(inline) = inline_only(&markup) {
        m.insert("reply_markup".into(), inline);
    }
    Ok(store_sent(db, "sendmessage", chat_id, m, params, Some(text), markup))
}

/// The bot's own message in a chat, for editing.
fn own_message(db: &Db, bot_id: i64, params: &Value) -> Result<(i64, Map<String, Value>), ApiErr> {
    let chat_id = chat_param(params)?;
    let message_id = message_id_param(params)?;
    let message = db
        .messages
        .get(&(chat_id, message_id))
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message to edit not found"))?;
    if message["from"]["id"].as_i64() != Some(bot_id) {
        return Err(ApiErr::bad_request("Bad Request: message can't be edited"));
    }
    Ok((chat_id, message))
}

fn edit_message(db: &mut Db, method: &str, bot_id: i64, params: &Value) -> ApiResult {
    if params.get("inline_message_id").is_some_and(|v| !v.is_null()) {
        // The bot sends no inline-mode messages: no such message exists.
        return Err(ApiErr::bad_request("Bad Request: MESSAGE_ID_INVALID"));
    }
    let visible = match method {
        "editmessagetext" => Some(check_text(params)?),
        _ => None,
    };
    let markup = markup_param(params)?;
    if markup.is_some() && inline_only(&markup).is_none() {
        return Err(ApiErr::bad_request("Bad Request: inline keyboard expected"));
    }
    let (chat_id, mut obj) = own_message(db, bot_id, params)?;
    let markup_same = obj.get("reply_markup").cloned() == markup;
    if let Some(visible) = &visible {
        if !obj.contains_key("text") {
            return Err(ApiErr::bad_request(
                "Bad Request: there is no text in the message to edit",
            ));
        }
        let same_text = obj.get("text").and_then(Value::as_str) == Some(visible.as_str())
            && db.formatting.get(&(chat_id, obj["message_id"].as_i64().unwrap_or_default()))
                == Some(&formatting(params));
        if same_text && markup_same {
            return Err(not_modified());
        }
        obj.insert("text".into(), json!(visible));
        if let Some(lpo) = params.get("link_preview_options").filter(|o| o.is_object()) {
            obj.insert("link_preview_options".into(), lpo.clone());
        }
    } else if markup_same {
        return Err(not_modified());
    }
    match &markup {
        Some(m) => obj.insert("reply_markup".into(), m.clone()),
        None => obj.remove("reply_markup"),
    };
    obj.insert("edit_date".into(), json!(db.now()));
    let text = visible.map(|_| str_param(params, "text").unwrap_or_default().to_owned());
    Ok(store_sent(db, method, chat_id, obj, params, text, markup))
}

fn not_modified() -> ApiErr {
    ApiErr::bad_request(
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    )
}

/// Bots delete their own messages anywhere and users' messages in private
/// chats (not being group admins here), only within 48 hours of sending.
fn delete_message(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params)?;
    let message_id = message_id_param(params)?;
    let message = db
        .messages
        .get(&(chat_id, message_id))
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message to delete not found"))?;
    let own = message["from"]["id"].as_i64() == Some(bot_id);
    if !own && chat_id < 0 {
        return Err(ApiErr::bad_request("Bad Request: message can't be deleted"));
    }
    let sent_at = message["date"].as_i64().unwrap_or_default();
    if db.now() - sent_at >= DELETE_WINDOW_SECS {
        return Err(ApiErr::bad_request("Bad Request: message can't be deleted for everyone"));
    }
    db.messages.remove(&(chat_id, message_id));
    db.formatting.remove(&(chat_id, message_id));
    db.deleted.entry(chat_id).or_default().push(message_id);
    Ok(json!(true))
}

struct PollParams {
    offset: i64,
    limit: usize,
    timeout: u64,
    allowed: Option<Vec<String>>,
}

fn poll_params(params: &Value) -> Result<PollParams, ApiErr> {
    let offset = int_param(params, "offset")?.unwrap_or(0);
    let limit = int_param(params, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int_param(params, "timeout")?.unwrap_or(0).clamp(0, 50) as u64;
    let allowed = match params.get("allowed_updates") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            Some(a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        }
        Some(_) => {
            return Err(ApiErr::bad_request("Bad Request: can't parse allowed updates"));
        }
    };
    Ok(PollParams { offset, limit, timeout, allowed })
}

/// Long polling. A getUpdates arriving while another one waits terminates
/// the earlier one with 409, as Telegram does when two instances poll.
async fn get_updates(shared: &Shared, params: &Value) -> ApiResult {
    let parsed = poll_params(params);
    let (PollParams { offset, limit, timeout, allowed }, call, generation) = {
        let mut db = shared.lock();
        let call = shared.record_call(&mut db, "getupdates", params, parsed.is_err());
        let parsed = parsed?;
        db.poll_generation += 1;
        (parsed, call, db.poll_generation)
    };
    // Wakes the earlier request, which then sees it was superseded.
    shared.updates_changed.notify_waiters();
    {
        let mut db = shared.lock();
        if let Some(list) = allowed {
            db.allowed_updates = (!list.is_empty()).then_some(list);
        }
        if offset > 0 {
            db.pending
                .retain(|u| u.get("update_id").and_then(Value::as_i64).unwrap_or(0) >= offset);
        } else if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while db.pending.len() > keep {
                db.pending.pop_front();
            }
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let notified = shared.updates_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut db = shared.lock();
            if db.poll_generation != generation {
                db.calls[call].failed = true;
                shared.activity.notify_waiters();
                return Err(ApiErr::new(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            let batch: Vec<Value> = db.pending.iter().take(limit).cloned().collect();
            if !batch.is_empty() {
                return Ok(Value::Array(batch));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(json!([]));
        }
    }
}
