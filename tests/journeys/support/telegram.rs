//! A fake Telegram Bot API server for end-to-end tests.
//!
//! [`FakeTelegram::start`] serves a small, faithful subset of the Bot API over
//! real HTTP on `127.0.0.1:<random port>`. Point the real teloxide bot at it
//! with `Bot::new("123:TEST").set_api_url(fake.api_url())` and run the real
//! dispatcher: tests inject updates (`send_text`, `press_button`, ...) that the
//! bot receives through `getUpdates` long polling, and read what the bot sent
//! back (`next_sent`, `calls`, ...) without sleeping. Faults (429, 5xx, any
//! API error) can be injected per method with [`FakeTelegram::fail_next`].
//!
//! Every test owns its own instance; the server stops when the last clone is
//! dropped.
#![allow(dead_code)] // TEMPORARY: the fake is being trimmed to what the bot calls

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

/// Username the fake reports for the bot in `getMe`.
pub const BOT_USERNAME: &str = "crm_recovery_test_bot";
/// First name the fake reports for the bot.
pub const BOT_FIRST_NAME: &str = "CRM Recovery Test Bot";
/// Bot user id used when the token does not start with a numeric id.
pub const DEFAULT_BOT_ID: i64 = 123;
/// Default time the `next_sent` / `wait_*` helpers wait before panicking
/// (see [`FakeTelegram::set_wait_timeout`]).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Icon colour of created forum topics when the bot does not choose one.
pub const DEFAULT_TOPIC_ICON_COLOR: u32 = 7_322_096;
/// Title of every supergroup (negative chat id).
pub const GROUP_TITLE: &str = "Support";

/// Update kinds Telegram delivers when `allowed_updates` was never set.
const NOT_DEFAULT_UPDATES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// Parameters that are always strings, even when they look like JSON
/// (only used for form, query and multipart parameters).
const STRING_PARAMS: &[&str] = &[
    "text",
    "caption",
    "parse_mode",
    "name",
    "title",
    "description",
    "short_description",
    "language_code",
    "callback_query_id",
    "inline_message_id",
    "url",
    "data",
    "custom_title",
    "icon_custom_emoji_id",
    "business_connection_id",
    "message_effect_id",
    "secret_token",
    "photo",
    "document",
];

/// One API call the bot made, in arrival order.
#[derive(Clone, Debug)]
pub struct Call {
    /// Method name, lowercase (`"sendmessage"`, `"getupdates"`, ...).
    pub method: String,
    /// Parameters (JSON body, form, query and multipart text parts merged).
    /// Multipart file parts appear as `{"file_name": .., "size": ..}`.
    pub params: Value,
    /// The fake answered with `"ok": false` (injected or validation error).
    pub failed: bool,
    /// When the request arrived.
    pub at: Instant,
}

/// A message the bot sent to or edited in a chat (sendMessage, sendPhoto,
/// sendDocument, copyMessage, editMessageText, editMessageCaption,
/// editMessageReplyMarkup). Failed calls are not recorded as `Sent`.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Method name, lowercase.
    pub method: String,
    /// Target chat.
    pub chat_id: i64,
    /// Id of the new message (or of the edited message for edits).
    pub message_id: i64,
    /// `text` or `caption` from the request (for copyMessage: the caption
    /// override or the copied message's text/caption; `None` for
    /// editMessageReplyMarkup).
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
    /// The text/caption or `""`.
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

    /// Link previews were disabled (`link_preview_options.is_disabled` or the
    /// legacy `disable_web_page_preview`).
    pub fn link_preview_disabled(&self) -> bool {
        let lpo = self
            .params
            .get("link_preview_options")
            .and_then(|o| o.get("is_disabled"))
            .and_then(Value::as_bool);
        let legacy = self.params.get("disable_web_page_preview").and_then(Value::as_bool);
        lpo == Some(true) || legacy == Some(true)
    }

    /// `protect_content: true` was requested.
    pub fn protect_content(&self) -> bool {
        self.params.get("protect_content").and_then(Value::as_bool) == Some(true)
    }

    /// One-line description used in panic messages.
    pub fn summary(&self) -> String {
        let mut s = format!("#{} {} {:?}", self.message_id, self.method, self.text_str());
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
    db: Mutex<Db>,
    /// Woken when an update is queued.
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
    last_message_id: HashMap<i64, i64>,
    /// Current state of every message, keyed by (chat id, message id).
    messages: HashMap<(i64, i64), Value>,
    user_names: HashMap<i64, String>,
    calls: Vec<Call>,
    sent: HashMap<i64, Vec<Sent>>,
    consumed: HashMap<i64, usize>,
    failures: HashMap<String, VecDeque<Failure>>,
    member_status: HashMap<(i64, i64), String>,
    wait_timeout: Option<Duration>,
    next_callback_id: u64,
    next_file_id: u64,
}

impl Db {
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

    fn user_json(&self, user_id: i64) -> Value {
        let name = self.user_names.get(&user_id).map_or("User", String::as_str);
        json!({ "id": user_id, "is_bot": false, "first_name": name })
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
}

/// An error answer: `{"ok":false,"error_code":..,"description":..}`.
#[derive(Debug)]
struct ApiErr {
    code: u16,
    description: String,
    retry_after: Option<u32>,
}

impl ApiErr {
    fn bad_request(description: impl Into<String>) -> Self {
        Self { code: 400, description: description.into(), retry_after: None }
    }
}

type ApiResult = Result<Value, ApiErr>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn bot_user(bot_id: i64) -> Value {
    json!({ "id": bot_id, "is_bot": true, "first_name": BOT_FIRST_NAME, "username": BOT_USERNAME })
}

impl FakeTelegram {
    /// Binds `127.0.0.1:0` and serves the fake API in a tokio task.
    pub async fn start() -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake telegram: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake telegram: local_addr");
        let shared = Arc::new(Shared {
            db: Mutex::new(Db { next_update_id: 1000, ..Db::default() }),
            updates_changed: Notify::new(),
            activity: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle_request))
            .fallback(|| async {
                error_response(&ApiErr {
                    code: 404,
                    description: "Not Found".into(),
                    retry_after: None,
                })
            })
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
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

    /// Socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
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

    /// Changes how long `next_sent` / `sent_until` / `wait_*` wait before
    /// panicking (default [`WAIT_TIMEOUT`]). Useful with injected 5xx errors:
    /// teloxide itself sleeps 10 s before returning a server error.
    pub fn set_wait_timeout(&self, timeout: Duration) {
        self.db().wait_timeout = Some(timeout);
    }

    /// Status `getChatMember` reports for `user_id` in `chat_id`
    /// (`"creator"`, `"administrator"`, `"member"` (default), `"restricted"`,
    /// `"left"`, `"kicked"`).
    pub fn set_member_status(&self, chat_id: i64, user_id: i64, status: &str) {
        self.db().member_status.insert((chat_id, user_id), status.to_owned());
    }

    // ----- observation ---------------------------------------------------

    /// All calls of a method so far (`method_lowercase` like `"sendmessage"`).
    pub fn calls(&self, method_lowercase: &str) -> Vec<Call> {
        let method = method_lowercase.to_ascii_lowercase();
        self.db().calls.iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Every call so far, all methods.
    pub fn all_calls(&self) -> Vec<Call> {
        self.db().calls.clone()
    }

    /// Everything sent to a chat so far (consumed or not).
    pub fn all_sent(&self, chat_id: i64) -> Vec<Sent> {
        self.db().sent.get(&chat_id).cloned().unwrap_or_default()
    }

    /// The current state of a message (after edits), if it exists.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.db().messages.get(&(chat_id, message_id)).cloned()
    }

    /// Number of updates not yet confirmed by the bot.
    pub fn pending_updates(&self) -> usize {
        self.db().pending.len()
    }

    /// The next not-yet-consumed message sent to `chat_id` (per-chat cursor).
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

    /// Consumes messages sent to `chat_id` until one matches `pred` and
    /// returns it. Waits up to [`WAIT_TIMEOUT`], then panics.
    pub async fn sent_until(&self, chat_id: i64, pred: impl Fn(&Sent) -> bool) -> Sent {
        let what = format!("a matching message to chat {chat_id}");
        self.wait(&what, chat_id, |db| {
            let list = db.sent.get(&chat_id)?;
            let mut idx = db.consumed.get(&chat_id).copied().unwrap_or(0);
            let mut found = None;
            while let Some(s) = list.get(idx) {
                idx += 1;
                if pred(s) {
                    found = Some(s.clone());
                    break;
                }
            }
            db.consumed.insert(chat_id, idx);
            found
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
        let timeout = self.db().wait_timeout.unwrap_or(WAIT_TIMEOUT);
        let deadline = tokio::time::Instant::now() + timeout;
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
                panic!("fake telegram: timed out after {timeout:?} waiting for {what}\n{report}");
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
                "sent to chat {chat_id} ({} total, {consumed} consumed):\n",
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

    /// Queues an update (a JSON object without `update_id`, e.g.
    /// `{"message": {...}}`) and returns its `update_id`. Updates whose kind
    /// is excluded by the bot's `allowed_updates` are dropped, like Telegram.
    pub fn push_update(&self, update_without_id: Value) -> i64 {
        let Value::Object(obj) = update_without_id else {
            panic!("fake telegram: push_update needs a JSON object, got {update_without_id}");
        };
        let id = self.db().push_update(obj);
        self.shared().updates_changed.notify_waiters();
        id
    }

    /// Builds a user message in `chat_id`, stores it and queues it.
    fn push_user_message(
        &self,
        chat_id: i64,
        user: &TgUser,
        fill: impl FnOnce(&mut Db, &mut Map<String, Value>),
    ) -> i64 {
        let mut db = self.db();
        db.user_names.insert(user.id, user.first_name.clone());
        let message_id = db.next_message_id(chat_id);
        let mut m = Map::new();
        m.insert("message_id".into(), json!(message_id));
        m.insert("from".into(), user.to_json());
        m.insert("date".into(), json!(now()));
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
        let origin = json!({
            "type": "user",
            "date": now() - 3600,
            "sender_user": { "id": origin_id, "is_bot": false, "first_name": "Forwarded" },
        });
        self.push_user_message(user.id, user, |_, m| {
            m.insert("contact".into(), contact);
            m.insert("forward_origin".into(), origin);
        })
    }

    /// A private photo message, optionally captioned.
    pub fn send_photo(&self, user: &TgUser, caption: Option<&str>) -> i64 {
        self.push_user_message(user.id, user, |db, m| {
            m.insert("photo".into(), photo_sizes(db, "userphoto", None));
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
    /// (its current stored state is sent). Returns the callback query id.
    pub fn press_button(&self, user: &TgUser, message: &Sent, data: &str) -> String {
        let mut db = self.db();
        db.user_names.insert(user.id, user.first_name.clone());
        db.next_callback_id += 1;
        let id = format!("cbq{}", db.next_callback_id);
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

fn photo_sizes(db: &mut Db, prefix: &str, file_id: Option<&str>) -> Value {
    let (small_id, small_uid) = db.file_id(prefix);
    let (big_id, big_uid) = match file_id {
        Some(id) => (id.to_owned(), format!("u{id}")),
        None => db.file_id(prefix),
    };
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

    fn record_call(&self, db: &mut Db, method: &str, params: &Value, failed: bool) {
        db.calls.push(Call {
            method: method.to_owned(),
            params: params.clone(),
            failed,
            at: Instant::now(),
        });
        self.activity.notify_waiters();
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
        return error_response(&ApiErr {
            code: 404,
            description: "Not Found".into(),
            retry_after: None,
        });
    };
    let bot_id =
        token.split(':').next().and_then(|s| s.parse::<i64>().ok()).unwrap_or(DEFAULT_BOT_ID);
    let method = method.to_ascii_lowercase();

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
    let result = dispatch(&mut db, &method, bot_id, &params);
    shared.record_call(&mut db, &method, &params, result.is_err());
    drop(db);
    reply(result)
}

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
    } else if content_type.starts_with("multipart/form-data") {
        let raw_ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let boundary = raw_ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .map(|b| b.trim_matches('"').to_owned())
            .ok_or("Bad Request: multipart body without boundary")?;
        params.extend(parse_multipart(body, &boundary)?);
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

/// Form/query/multipart values are strings; turn `"123"`, `"true"`,
/// `"{...}"` into JSON unless the parameter is a known string parameter.
fn coerce(key: &str, raw: &str) -> Value {
    if STRING_PARAMS.contains(&key) {
        return Value::String(raw.to_owned());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// Minimal multipart/form-data parser: text parts become parameters, file
/// parts become `{"file_name": .., "size": .., "content_type": ..}`.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Map<String, Value>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut params = Map::new();
    let mut pos =
        find(body, delimiter, 0).ok_or("Bad Request: malformed multipart body")? + delimiter.len();
    loop {
        if body[pos..].starts_with(b"--") {
            resolve_attachments(&mut params);
            return Ok(params);
        }
        let headers_start =
            find(body, b"\r\n", pos).ok_or("Bad Request: malformed multipart part")? + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)
            .ok_or("Bad Request: malformed multipart headers")?;
        let content_start = headers_end + 4;
        let next = find(body, delimiter, content_start)
            .ok_or("Bad Request: unterminated multipart body")?;
        let content_end = next.saturating_sub(2).max(content_start);
        let content = &body[content_start..content_end];

        let head = String::from_utf8_lossy(&body[headers_start..headers_end]);
        let mut name = None;
        let mut file_name = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((h, v)) = line.split_once(':') else {
                continue;
            };
            let h = h.trim().to_ascii_lowercase();
            if h == "content-disposition" {
                for attr in v.split(';').map(str::trim) {
                    if let Some(n) = attr.strip_prefix("name=") {
                        name = Some(n.trim_matches('"').to_owned());
                    } else if let Some(f) = attr.strip_prefix("filename=") {
                        file_name = Some(f.trim_matches('"').to_owned());
                    }
                }
            } else if h == "content-type" {
                content_type = Some(v.trim().to_owned());
            }
        }
        let name = name.ok_or("Bad Request: multipart part without a name")?;
        let value = match file_name {
            Some(f) => {
                let mut file = json!({ "file_name": f, "size": content.len() });
                if let Some(ct) = content_type {
                    file["content_type"] = json!(ct);
                }
                file
            }
            None => coerce(&name, &String::from_utf8_lossy(content)),
        };
        params.insert(name, value);
        pos = next + delimiter.len();
    }
}

/// Replaces `"attach://<part>"` values by the referenced file part.
fn resolve_attachments(params: &mut Map<String, Value>) {
    let keys: Vec<String> = params.keys().cloned().collect();
    for key in keys {
        let Some(part) = params
            .get(&key)
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix("attach://"))
            .map(str::to_owned)
        else {
            continue;
        };
        if let Some(file) = params.remove(&part) {
            params.insert(key, file);
        }
    }
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

fn chat_param(params: &Value, key: &str) -> Result<i64, ApiErr> {
    match params.get(key) {
        None | Some(Value::Null) => {
            Err(ApiErr::bad_request(format!("Bad Request: {key} is empty")))
        }
        Some(Value::String(s)) if s.starts_with('@') => {
            Err(ApiErr::bad_request("Bad Request: chat not found"))
        }
        Some(_) => int_param(params, key)?
            .ok_or_else(|| ApiErr::bad_request("Bad Request: chat not found")),
    }
}

fn required_int(params: &Value, key: &str) -> Result<i64, ApiErr> {
    int_param(params, key)?
        .ok_or_else(|| ApiErr::bad_request(format!("Bad Request: {key} is empty")))
}

fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn bool_param(params: &Value, key: &str) -> bool {
    params.get(key).and_then(Value::as_bool) == Some(true)
}

fn markup_param(params: &Value) -> Result<Option<Value>, ApiErr> {
    let markup = match params.get("reply_markup") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| {
            ApiErr::bad_request("Bad Request: can't parse reply keyboard markup JSON object")
        })?,
        Some(v) => v.clone(),
    };
    if !markup.is_object() {
        return Err(ApiErr::bad_request(
            "Bad Request: can't parse reply keyboard markup JSON object",
        ));
    }
    if let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) {
        for button in rows.iter().filter_map(Value::as_array).flatten() {
            if let Some(data) = button.get("callback_data").and_then(Value::as_str)
                && (data.is_empty() || data.len() > 64)
            {
                return Err(ApiErr::bad_request("Bad Request: BUTTON_DATA_INVALID"));
            }
        }
    }
    Ok(Some(markup))
}

/// Only inline keyboards are part of the Message object.
fn inline_only(markup: &Option<Value>) -> Option<Value> {
    markup.as_ref().filter(|m| m.get("inline_keyboard").is_some()).cloned()
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
        "deletewebhook"
        | "setmycommands"
        | "deletemycommands"
        | "answercallbackquery"
        | "sendchataction"
        | "setmydescription"
        | "setmyshortdescription"
        | "setmyname"
        | "setchatmenubutton"
        | "pinchatmessage"
        | "unpinchatmessage"
        | "editforumtopic"
        | "closeforumtopic"
        | "reopenforumtopic"
        | "deleteforumtopic" => Ok(json!(true)),
        "deletemessage" => {
            let chat_id = chat_param(params, "chat_id")?;
            let message_id = required_int(params, "message_id")?;
            db.messages.remove(&(chat_id, message_id));
            Ok(json!(true))
        }
        "sendmessage" => send_message(db, bot_id, params),
        "sendphoto" => send_media(db, bot_id, params, "photo"),
        "senddocument" => send_media(db, bot_id, params, "document"),
        "copymessage" => copy_message(db, bot_id, params),
        "editmessagetext" | "editmessagecaption" | "editmessagereplymarkup" => {
            edit_message(db, method, params)
        }
        "getchatmember" => get_chat_member(db, bot_id, params),
        "getchat" => get_chat(db, params),
        "createforumtopic" => {
            let chat_id = chat_param(params, "chat_id")?;
            let name = str_param(params, "name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiErr::bad_request("Bad Request: name is empty"))?;
            let icon_color =
                int_param(params, "icon_color")?.unwrap_or(i64::from(DEFAULT_TOPIC_ICON_COLOR));
            let thread_id = db.next_message_id(chat_id);
            Ok(json!({ "message_thread_id": thread_id, "name": name, "icon_color": icon_color }))
        }
        _ => Err(ApiErr {
            code: 404,
            description: "Not Found: method not found".into(),
            retry_after: None,
        }),
    }
}

/// Common part of a message the bot sends: id, date, chat, from, thread,
/// reply, protection, inline keyboard.
fn bot_message(
    db: &mut Db,
    bot_id: i64,
    chat_id: i64,
    params: &Value,
    markup: &Option<Value>,
) -> Result<Map<String, Value>, ApiErr> {
    let thread_id = int_param(params, "message_thread_id")?;
    let reply_to = match params.get("reply_parameters") {
        Some(rp) => int_param(rp, "message_id")?,
        None => int_param(params, "reply_to_message_id")?,
    };
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
    m.insert("date".into(), json!(now()));
    m.insert("chat".into(), db.chat_json(chat_id));
    if let Some(original) = reply_to.and_then(|id| db.messages.get(&(chat_id, id))) {
        m.insert("reply_to_message".into(), strip_reply(original.clone()));
    }
    if bool_param(params, "protect_content") {
        m.insert("has_protected_content".into(), json!(true));
    }
    if let Some(inline) = inline_only(markup) {
        m.insert("reply_markup".into(), inline);
    }
    Ok(m)
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

fn check_caption(params: &Value) -> Result<Option<String>, ApiErr> {
    let caption = str_param(params, "caption").map(str::to_owned);
    if let Some(c) = &caption
        && params.get("parse_mode").is_none()
        && c.chars().count() > 1024
    {
        return Err(ApiErr::bad_request("Bad Request: message caption is too long"));
    }
    if let Some(c) = &caption {
        check_entities(params, c)?;
    }
    Ok(caption)
}

/// With `parse_mode: HTML`, Telegram refuses text that is not its HTML
/// subset: unknown or unbalanced tags, and `<`, `>` or `&` that are not part
/// of a tag or of an entity (`&lt;` `&gt;` `&amp;` `&quot;` or numeric).
/// The fake refuses it the same way, so an unescaped value fails a test.
fn check_entities(params: &Value, text: &str) -> Result<(), ApiErr> {
    let html = str_param(params, "parse_mode").is_some_and(|m| m.eq_ignore_ascii_case("html"));
    if !html {
        return Ok(());
    }
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
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let Some(len) = text[i..].find('>') else {
                    return refuse("unclosed start tag".into(), i);
                };
                let inner = &text[i + 1..i + len];
                let (closing, body) = match inner.strip_prefix('/') {
                    Some(rest) => (true, rest),
                    None => (false, inner),
                };
                let name = body.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                if !TAGS.contains(&name.as_str()) {
                    return refuse(format!("unsupported start tag \"{name}\""), i);
                }
                if closing {
                    if open.pop().as_deref() != Some(name.as_str()) {
                        return refuse(format!("unmatched end tag \"{name}\""), i);
                    }
                } else {
                    open.push(name);
                }
                i += len + 1;
            }
            b'>' => return refuse("character '>' is reserved".into(), i),
            b'&' => {
                let rest = &text[i + 1..];
                let entity = rest.find(';').map(|end| &rest[..end]);
                let known = entity.is_some_and(|e| {
                    matches!(e, "lt" | "gt" | "amp" | "quot")
                        || e.strip_prefix('#').is_some_and(|n| {
                            n.strip_prefix('x').map_or_else(
                                || !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
                                |h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()),
                            )
                        })
                });
                if !known {
                    return refuse("character '&' is reserved".into(), i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    match open.pop() {
        Some(name) => {
            refuse(format!("can't find end tag corresponding to start tag \"{name}\""), text.len())
        }
        None => Ok(()),
    }
}

fn send_message(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params, "chat_id")?;
    let text = str_param(params, "text").unwrap_or("").to_owned();
    if text.trim().is_empty() {
        return Err(ApiErr::bad_request("Bad Request: message text is empty"));
    }
    if params.get("parse_mode").is_none() && text.chars().count() > 4096 {
        return Err(ApiErr::bad_request("Bad Request: message is too long"));
    }
    check_entities(params, &text)?;
    let markup = markup_param(params)?;
    let mut m = bot_message(db, bot_id, chat_id, params, &markup)?;
    m.insert("text".into(), json!(text));
    if let Some(entities) =
        params.get("entities").filter(|e| e.as_array().is_some_and(|a| !a.is_empty()))
    {
        m.insert("entities".into(), entities.clone());
    }
    if let Some(lpo) = params.get("link_preview_options").filter(|o| o.is_object()) {
        m.insert("link_preview_options".into(), lpo.clone());
    }
    Ok(store_sent(db, "sendmessage", chat_id, m, params, Some(text), markup))
}

fn send_media(db: &mut Db, bot_id: i64, params: &Value, kind: &str) -> ApiResult {
    let chat_id = chat_param(params, "chat_id")?;
    let input = params.get(kind).ok_or_else(|| {
        ApiErr::bad_request(format!("Bad Request: there is no {kind} in the request"))
    })?;
    let caption = check_caption(params)?;
    let markup = markup_param(params)?;
    let mut m = bot_message(db, bot_id, chat_id, params, &markup)?;
    // A plain string that is not an upload reference is an existing file_id or URL.
    let reused_id = input.as_str().filter(|s| !s.starts_with("attach://") && !s.contains("://"));
    if kind == "photo" {
        m.insert("photo".into(), photo_sizes(db, "photo", reused_id));
    } else {
        let (file_id, unique_id) = match reused_id {
            Some(id) => (id.to_owned(), format!("u{id}")),
            None => db.file_id("document"),
        };
        let file_name = input.get("file_name").and_then(Value::as_str).unwrap_or("file.bin");
        let size = input.get("size").and_then(Value::as_u64).unwrap_or(0);
        m.insert(
            "document".into(),
            json!({
                "file_id": file_id,
                "file_unique_id": unique_id,
                "file_name": file_name,
                "mime_type": "application/octet-stream",
                "file_size": size,
            }),
        );
    }
    if let Some(c) = &caption {
        m.insert("caption".into(), json!(c));
    }
    let method = if kind == "photo" { "sendphoto" } else { "senddocument" };
    Ok(store_sent(db, method, chat_id, m, params, caption, markup))
}

fn copy_message(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params, "chat_id")?;
    let from_chat_id = chat_param(params, "from_chat_id")?;
    let source_id = required_int(params, "message_id")?;
    let source = db
        .messages
        .get(&(from_chat_id, source_id))
        .cloned()
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message to copy not found"))?;
    let caption = check_caption(params)?;
    let markup = markup_param(params)?;
    let mut m = bot_message(db, bot_id, chat_id, params, &markup)?;
    const CONTENT: &[&str] =
        &["text", "entities", "photo", "document", "contact", "caption", "caption_entities"];
    if let Some(obj) = source.as_object() {
        for key in CONTENT {
            if let Some(v) = obj.get(*key) {
                m.insert((*key).into(), v.clone());
            }
        }
    }
    let is_media = m.contains_key("photo") || m.contains_key("document");
    if let (Some(c), true) = (&caption, is_media) {
        m.insert("caption".into(), json!(c));
    }
    let text = caption
        .or_else(|| source.get("text").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| source.get("caption").and_then(Value::as_str).map(str::to_owned));
    let message = store_sent(db, "copymessage", chat_id, m, params, text, markup);
    Ok(json!({ "message_id": message.get("message_id").cloned().unwrap_or(Value::Null) }))
}

fn edit_message(db: &mut Db, method: &str, params: &Value) -> ApiResult {
    let markup = markup_param(params)?;
    if params.get("inline_message_id").is_some_and(|v| !v.is_null()) {
        return Ok(json!(true));
    }
    let chat_id = chat_param(params, "chat_id")?;
    let message_id = required_int(params, "message_id")?;
    let mut message = db
        .messages
        .get(&(chat_id, message_id))
        .cloned()
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message to edit not found"))?;
    let Some(obj) = message.as_object_mut() else {
        return Err(ApiErr::bad_request("Bad Request: message to edit not found"));
    };
    let new_inline = inline_only(&markup);
    let markup_same = obj.get("reply_markup").cloned() == new_inline;
    let text = match method {
        "editmessagetext" => {
            let text = str_param(params, "text").unwrap_or("").to_owned();
            if text.trim().is_empty() {
                return Err(ApiErr::bad_request("Bad Request: message text is empty"));
            }
            check_entities(params, &text)?;
            if !obj.contains_key("text") {
                return Err(ApiErr::bad_request(
                    "Bad Request: there is no text in the message to edit",
                ));
            }
            if obj.get("text").and_then(Value::as_str) == Some(text.as_str()) && markup_same {
                return Err(not_modified());
            }
            obj.insert("text".into(), json!(text));
            match params.get("entities").filter(|e| e.is_array()) {
                Some(e) => obj.insert("entities".into(), e.clone()),
                None => obj.remove("entities"),
            };
            if let Some(lpo) = params.get("link_preview_options").filter(|o| o.is_object()) {
                obj.insert("link_preview_options".into(), lpo.clone());
            }
            Some(text)
        }
        "editmessagecaption" => {
            let caption = check_caption(params)?;
            if obj.get("caption").and_then(Value::as_str) == caption.as_deref() && markup_same {
                return Err(not_modified());
            }
            match &caption {
                Some(c) => obj.insert("caption".into(), json!(c)),
                None => obj.remove("caption"),
            };
            caption
        }
        _ => {
            if markup_same {
                return Err(not_modified());
            }
            None
        }
    };
    match new_inline {
        Some(m) => obj.insert("reply_markup".into(), m),
        None => obj.remove("reply_markup"),
    };
    obj.insert("edit_date".into(), json!(now()));
    let edited = obj.clone();
    Ok(store_sent(db, method, chat_id, edited, params, text, markup))
}

fn not_modified() -> ApiErr {
    ApiErr::bad_request(
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    )
}

fn get_chat_member(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params, "chat_id")?;
    let user_id = required_int(params, "user_id")?;
    let user = if user_id == bot_id { bot_user(bot_id) } else { db.user_json(user_id) };
    let status = db.member_status.get(&(chat_id, user_id)).map_or("member", String::as_str);
    let mut member = json!({ "status": status, "user": user });
    match status {
        "creator" => {
            member["is_anonymous"] = json!(false);
        }
        "administrator" => {
            member["can_be_edited"] = json!(false);
            member["is_anonymous"] = json!(false);
            for right in [
                "can_manage_chat",
                "can_change_info",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_invite_users",
                "can_restrict_members",
                "can_pin_messages",
                "can_manage_topics",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ] {
                member[right] = json!(true);
            }
            member["can_promote_members"] = json!(false);
        }
        "restricted" => {
            member["until_date"] = json!(0);
            member["is_member"] = json!(true);
            for right in [
                "can_send_messages",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_manage_topics",
                "can_send_polls",
            ] {
                member[right] = json!(false);
            }
        }
        "kicked" => {
            member["until_date"] = json!(0);
        }
        _ => {}
    }
    Ok(member)
}

fn get_chat(db: &mut Db, params: &Value) -> ApiResult {
    let chat_id = chat_param(params, "chat_id")?;
    let mut chat = db.chat_json(chat_id);
    chat["accepted_gift_types"] = json!({ "unlimited_gifts": false, "limited_gifts": false, "unique_gifts": false, "premium_subscription": false });
    chat["max_reaction_count"] = json!(11);
    chat["accent_color_id"] = json!(0);
    Ok(chat)
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
    let timeout = int_param(params, "timeout")?.unwrap_or(0).clamp(0, 60) as u64;
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

async fn get_updates(shared: &Shared, params: &Value) -> ApiResult {
    let parsed = poll_params(params);
    let PollParams { offset, limit, timeout, allowed } = {
        let mut db = shared.lock();
        match parsed {
            Ok(p) => {
                shared.record_call(&mut db, "getupdates", params, false);
                p
            }
            Err(e) => {
                shared.record_call(&mut db, "getupdates", params, true);
                return Err(e);
            }
        }
    };
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
        let batch: Vec<Value> = shared.lock().pending.iter().take(limit).cloned().collect();
        if !batch.is_empty() {
            return Ok(Value::Array(batch));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(json!([]));
        }
    }
}
