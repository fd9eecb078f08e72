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
//! limits on texts, captions, buttons, callback answers, commands and
//! deletions. Groups have kinds (basic, supergroup, forum) and members with
//! statuses; forums have topics (closed, deleted, General); a basic group
//! can be upgraded (`migrate_to_chat_id`); messages can be copied and files
//! uploaded (multipart/form-data). A webhook can be set (`setWebhook`, with
//! its secret token and allowed updates), read back (`getWebhookInfo`) and
//! deleted; while it is set, `getUpdates` answers 409 as Telegram does, and
//! the fake posts each queued update to it, with the secret in
//! `X-Telegram-Bot-Api-Secret-Token`, until it answers 2xx. A method the bot does not call answers 404 like an unknown method; add it
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
/// Title of every group (negative chat id).
pub const GROUP_TITLE: &str = "Support";

/// Telegram's limits (Bot API documentation).
const MAX_TEXT_CHARS: usize = 4096;
const MAX_CAPTION_CHARS: usize = 1024;
/// At most this many messages in one copyMessages call.
const MAX_COPY_MESSAGES: usize = 100;
/// The icon colour Telegram gives a topic created without one (the first
/// of the six colours the Bot API allows).
const DEFAULT_TOPIC_COLOR: i64 = 0x6FB9F0;
/// The General topic of a forum; it is never addressed by id.
const GENERAL_TOPIC_ID: i64 = 1;
/// The user Telegram shows as the sender of a supergroup's own service
/// messages (`migrate_from_chat_id`).
const GROUP_ANONYMOUS_BOT_ID: i64 = 1_087_968_824;
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
    "caption",
    "name",
    "photo",
    "document",
    "icon_custom_emoji_id",
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

/// A message the bot sent to or edited in a chat (sendMessage, sendPhoto,
/// sendDocument, copyMessage, each copy of copyMessages, editMessageText,
/// editMessageReplyMarkup). Failed calls are not recorded
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

    /// The forum topic or reply thread the message is in
    /// (`message_thread_id`), `None` in General or outside threads.
    pub fn thread_id(&self) -> Option<i64> {
        self.message.get("message_thread_id").and_then(Value::as_i64)
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
    /// `@username` without the `@`, when the user has one.
    pub username: Option<String>,
    /// Another bot (`is_bot: true` in its User object).
    pub is_bot: bool,
}

impl TgUser {
    /// `TgUser::new(42, "Anna", Some("ru"))`.
    pub fn new(id: i64, first_name: &str, language_code: Option<&str>) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            language_code: language_code.map(str::to_owned),
            username: None,
            is_bot: false,
        }
    }

    /// Another bot, e.g. one staff added to the support group: bots have a
    /// username and no language.
    pub fn bot(id: i64, first_name: &str, username: &str) -> Self {
        Self {
            username: Some(username.to_owned()),
            is_bot: true,
            ..Self::new(id, first_name, None)
        }
    }

    /// The same user with a `@username`.
    pub fn with_username(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The Bot API User object.
    pub fn to_json(&self) -> Value {
        let mut u = json!({ "id": self.id, "is_bot": self.is_bot, "first_name": self.first_name });
        if let Some(name) = &self.username {
            u["username"] = json!(name);
        }
        if let Some(lang) = &self.language_code {
            u["language_code"] = json!(lang);
        }
        u
    }
}

/// What a user's message carries besides text.
#[derive(Clone, Debug)]
enum Media {
    Photo,
    Document(String, Vec<u8>),
    Voice,
    Video,
    Sticker,
}

/// A user's message for [`FakeTelegram::send_group`] and
/// [`FakeTelegram::send_private`]: `Msg::text("hi").reply_to(&card)`,
/// `Msg::photo().caption("receipt").thread(7)`.
#[derive(Clone, Debug, Default)]
pub struct Msg {
    text: Option<String>,
    caption: Option<String>,
    media: Option<Media>,
    media_group_id: Option<String>,
    reply_to: Option<i64>,
    thread: Option<i64>,
}

impl Msg {
    /// A text message (a leading `/command` gets its entity).
    pub fn text(text: &str) -> Msg {
        Msg { text: Some(text.to_owned()), ..Msg::default() }
    }

    /// A photo (two sizes).
    pub fn photo() -> Msg {
        Msg { media: Some(Media::Photo), ..Msg::default() }
    }

    /// A document with this file name and content.
    pub fn document(file_name: &str, bytes: &[u8]) -> Msg {
        Msg { media: Some(Media::Document(file_name.to_owned(), bytes.to_vec())), ..Msg::default() }
    }

    /// A voice message.
    pub fn voice() -> Msg {
        Msg { media: Some(Media::Voice), ..Msg::default() }
    }

    /// A video.
    pub fn video() -> Msg {
        Msg { media: Some(Media::Video), ..Msg::default() }
    }

    /// A sticker (no caption possible).
    pub fn sticker() -> Msg {
        Msg { media: Some(Media::Sticker), ..Msg::default() }
    }

    /// The media's caption.
    pub fn caption(mut self, caption: &str) -> Msg {
        self.caption = Some(caption.to_owned());
        self
    }

    /// Part of an album: photos/videos/documents sharing this id.
    pub fn media_group_id(mut self, id: &str) -> Msg {
        self.media_group_id = Some(id.to_owned());
        self
    }

    /// A reply to a message the bot sent in the same chat.
    pub fn reply_to(mut self, message: &Sent) -> Msg {
        self.reply_to = Some(message.message_id);
        self
    }

    /// A reply to any message of the same chat, by id.
    pub fn reply_to_id(mut self, message_id: i64) -> Msg {
        self.reply_to = Some(message_id);
        self
    }

    /// Posted in this forum topic (or reply thread).
    pub fn thread(mut self, thread_id: i64) -> Msg {
        self.thread = Some(thread_id);
        self
    }

    /// Adds the content fields to the message.
    fn fill(self, db: &mut Db, chat_id: i64, m: &mut Map<String, Value>) {
        let message_id = m["message_id"].as_i64().unwrap_or_default();
        if let Some(text) = &self.text {
            add_text(m, text);
        }
        match self.media {
            None => {}
            Some(Media::Photo) => {
                m.insert("photo".into(), photo_sizes(db));
            }
            Some(Media::Document(name, bytes)) => {
                let document = db.new_document(&name, bytes.clone());
                m.insert("document".into(), document);
                db.documents.insert((chat_id, message_id), (name, bytes));
            }
            Some(Media::Voice) => {
                let (id, unique) = db.file_id("voice");
                let voice = json!({ "file_id": id, "file_unique_id": unique, "duration": 3, "mime_type": "audio/ogg", "file_size": 8000 });
                m.insert("voice".into(), voice);
            }
            Some(Media::Video) => {
                let (id, unique) = db.file_id("video");
                let video = json!({ "file_id": id, "file_unique_id": unique, "width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4", "file_size": 500_000 });
                m.insert("video".into(), video);
            }
            Some(Media::Sticker) => {
                let (id, unique) = db.file_id("sticker");
                let sticker = json!({ "file_id": id, "file_unique_id": unique, "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍", "file_size": 20_000 });
                m.insert("sticker".into(), sticker);
            }
        }
        if let Some(caption) = self.caption {
            m.insert("caption".into(), json!(caption));
        }
        if let Some(group) = self.media_group_id {
            m.insert("media_group_id".into(), json!(group));
        }
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
    /// Posts updates to the webhook while one is set.
    webhook_poster: tokio::task::AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.server.abort();
        self.webhook_poster.abort();
    }
}

/// The webhook set with `setWebhook`.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
    pub allowed_updates: Option<Vec<String>>,
}

/// One post of an update to the webhook: its id and the HTTP status the
/// bot answered (`None`: no answer).
#[derive(Clone, Debug)]
pub struct WebhookPost {
    pub update_id: i64,
    pub status: Option<u16>,
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

/// What kind of group chat a negative chat id is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// A basic group (`"type": "group"`); it can be upgraded to a
    /// supergroup with [`FakeTelegram::migrate_group`].
    Basic,
    /// A supergroup without topics.
    Supergroup,
    /// A supergroup with topics enabled (`is_forum: true`). Groups a test
    /// posts in without registering them are forums.
    Forum,
}

/// A group chat's state.
struct Group {
    kind: GroupKind,
    title: String,
    /// Member statuses by user id (the bot's included); users who posted
    /// become `member` unless set otherwise. The bot is `administrator`
    /// unless set otherwise.
    members: HashMap<i64, String>,
    /// The bot's administrator right `can_manage_topics`.
    bot_can_manage_topics: bool,
    topics: HashMap<i64, Topic>,
    /// Set once the basic group was upgraded to this supergroup.
    migrated_to: Option<i64>,
}

impl Group {
    fn new(kind: GroupKind) -> Self {
        Group {
            kind,
            title: GROUP_TITLE.to_owned(),
            members: HashMap::new(),
            bot_can_manage_topics: true,
            topics: HashMap::new(),
            migrated_to: None,
        }
    }
}

struct Topic {
    name: String,
    icon_custom_emoji_id: Option<String>,
    closed: bool,
    deleted: bool,
}

/// A file the fake knows by `file_id`: its object as it appears in a
/// Message (`photo` is the PhotoSize array) and the bytes when uploaded.
struct StoredFile {
    kind: &'static str,
    object: Value,
    upload: Option<(String, Vec<u8>)>,
}

/// Files of a multipart/form-data request by part name: (file name, bytes).
type Uploads = HashMap<String, (String, Vec<u8>)>;

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
    /// Every group's state, registered or posted in.
    chats: HashMap<i64, Group>,
    /// Users seen, for their User objects.
    users: HashMap<i64, TgUser>,
    files: HashMap<String, StoredFile>,
    /// File name and bytes of documents, by (chat id, message id).
    documents: HashMap<(i64, i64), (String, Vec<u8>)>,
    next_media_group: u64,
    /// Overrides [`WAIT_TIMEOUT`] for this fake's waits.
    wait_timeout: Option<Duration>,
    /// The webhook, while one is set.
    webhook: Option<Webhook>,
    /// Every post of an update to the webhook.
    webhook_posts: Vec<WebhookPost>,
    /// A load balancer in front of replicas: while set, updates for the
    /// webhook go to these URLs in turn instead of the webhook's own (a
    /// failed post moves on to the next one, as a proxy retries).
    balanced: Vec<String>,
    /// The next of `balanced` to post to.
    balanced_next: usize,
    /// Every getUpdates answers 409 "terminated by other getUpdates
    /// request", as if another instance kept polling.
    polling_conflict: bool,
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
            let (kind, title) = match self.chats.get(&chat_id) {
                Some(g) => (g.kind, g.title.as_str()),
                None => (GroupKind::Forum, GROUP_TITLE),
            };
            match kind {
                GroupKind::Basic => json!({ "id": chat_id, "type": "group", "title": title }),
                GroupKind::Supergroup => {
                    json!({ "id": chat_id, "type": "supergroup", "title": title })
                }
                GroupKind::Forum => {
                    json!({ "id": chat_id, "type": "supergroup", "title": title, "is_forum": true })
                }
            }
        } else {
            let mut chat = json!({ "id": chat_id, "type": "private" });
            match self.users.get(&chat_id) {
                Some(user) => {
                    chat["first_name"] = json!(user.first_name);
                    if let Some(name) = &user.username {
                        chat["username"] = json!(name);
                    }
                }
                None => {
                    let name = self.user_names.get(&chat_id).map_or("User", String::as_str);
                    chat["first_name"] = json!(name);
                }
            }
            chat
        }
    }

    /// The group, created as a forum the first time a test posts there.
    fn group_entry(&mut self, chat_id: i64) -> &mut Group {
        self.chats.entry(chat_id).or_insert_with(|| Group::new(GroupKind::Forum))
    }

    fn group_kind(&self, chat_id: i64) -> Option<GroupKind> {
        (chat_id < 0).then(|| self.chats.get(&chat_id).map_or(GroupKind::Forum, |g| g.kind))
    }

    fn user_json(&self, user_id: i64, bot_id: i64) -> Value {
        if user_id == bot_id {
            return bot_user(bot_id);
        }
        match self.users.get(&user_id) {
            Some(user) => user.to_json(),
            None => {
                let name = self.user_names.get(&user_id).map_or("User", String::as_str);
                json!({ "id": user_id, "is_bot": false, "first_name": name })
            }
        }
    }

    /// A member's status: set by the test, `member` for users who posted,
    /// `administrator` for the bot, otherwise `left`.
    fn member_status(&self, chat_id: i64, user_id: i64, bot_id: i64) -> &str {
        match self.chats.get(&chat_id).and_then(|g| g.members.get(&user_id)) {
            Some(status) => status,
            None if user_id == bot_id => "administrator",
            None => "left",
        }
    }

    /// The bot may manage topics: an administrator with that right.
    fn bot_manages_topics(&self, chat_id: i64, bot_id: i64) -> bool {
        let status = self.member_status(chat_id, bot_id, bot_id);
        status == "creator"
            || (status == "administrator"
                && self.chats.get(&chat_id).is_none_or(|g| g.bot_can_manage_topics))
    }

    /// The ChatMember object of a user in a group.
    fn member_json(&self, chat_id: i64, user_id: i64, bot_id: i64) -> Value {
        let status = self.member_status(chat_id, user_id, bot_id);
        let mut m = json!({ "status": status, "user": self.user_json(user_id, bot_id) });
        let supergroup = self.group_kind(chat_id) != Some(GroupKind::Basic);
        match status {
            "creator" => m["is_anonymous"] = json!(false),
            "administrator" => {
                for (right, value) in [
                    ("can_be_edited", false),
                    ("is_anonymous", false),
                    ("can_manage_chat", true),
                    ("can_delete_messages", true),
                    ("can_manage_video_chats", true),
                    ("can_restrict_members", true),
                    ("can_promote_members", false),
                    ("can_change_info", true),
                    ("can_invite_users", true),
                    ("can_post_stories", false),
                    ("can_edit_stories", false),
                    ("can_delete_stories", false),
                    ("can_pin_messages", true),
                ] {
                    m[right] = json!(value);
                }
                if supergroup {
                    let can = user_id != bot_id || self.bot_manages_topics(chat_id, bot_id);
                    m["can_manage_topics"] = json!(can);
                }
            }
            "restricted" => {
                m["until_date"] = json!(0);
                m["is_member"] = json!(true);
                for right in [
                    "can_send_messages",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_manage_topics",
                ] {
                    m[right] = json!(false);
                }
            }
            "kicked" => m["until_date"] = json!(0),
            _ => {}
        }
        m
    }

    /// A basic group that was upgraded answers every method that writes
    /// to it, or reads its members, with the new chat's id.
    fn check_not_migrated(&self, chat_id: i64) -> Result<(), ApiErr> {
        match self.chats.get(&chat_id).and_then(|g| g.migrated_to) {
            Some(new_id) => Err(ApiErr {
                migrate_to: Some(new_id),
                ..ApiErr::bad_request("Bad Request: group chat was upgraded to a supergroup chat")
            }),
            None => Ok(()),
        }
    }

    /// A chat the bot can read (getChat, the source of a copy): a user who
    /// wrote to it, or a group it is or was in.
    fn check_can_read(&self, chat_id: i64) -> Result<(), ApiErr> {
        let known = if chat_id > 0 {
            self.users.contains_key(&chat_id) || self.started.contains(&chat_id)
        } else {
            self.groups.contains(&chat_id)
        };
        if known { Ok(()) } else { Err(ApiErr::bad_request("Bad Request: chat not found")) }
    }

    /// Stores and queues a message a test or Telegram itself posts.
    fn push_message(&mut self, message: Value) {
        let chat_id = message["chat"]["id"].as_i64().unwrap_or_default();
        let message_id = message["message_id"].as_i64().unwrap_or_default();
        self.messages.insert((chat_id, message_id), message.clone());
        let mut update = Map::new();
        update.insert("message".into(), message);
        self.push_update(update);
    }

    /// Who did something by hand in a group: its creator, else an admin.
    fn staff_json(&self, chat_id: i64) -> Value {
        let creator = self.chats.get(&chat_id).and_then(|g| {
            g.members.iter().filter(|(_, s)| *s == "creator").map(|(id, _)| *id).min()
        });
        match creator {
            Some(id) => self.user_json(id, 0),
            None => json!({ "id": 9_999, "is_bot": false, "first_name": "Admin" }),
        }
    }

    /// Marks the topic deleted and removes its messages.
    fn delete_topic(&mut self, chat_id: i64, thread_id: i64) {
        let topic = self
            .chats
            .get_mut(&chat_id)
            .and_then(|g| g.topics.get_mut(&thread_id))
            .filter(|t| !t.deleted)
            .unwrap_or_else(|| panic!("fake telegram: no topic {thread_id} in {chat_id}"));
        topic.deleted = true;
        self.messages.retain(|&(chat, _), m| {
            chat != chat_id || m["message_thread_id"].as_i64() != Some(thread_id)
        });
    }

    /// The service message of a topic event (created, closed, ...).
    fn push_topic_service(
        &mut self,
        chat_id: i64,
        thread_id: i64,
        from: Value,
        event: &str,
        body: Value,
    ) {
        let message_id =
            if event == "forum_topic_created" { thread_id } else { self.next_message_id(chat_id) };
        let message = json!({
            "message_id": message_id,
            "message_thread_id": thread_id,
            "is_topic_message": true,
            "from": from,
            "date": self.now(),
            "chat": self.chat_json(chat_id),
            event: body,
        });
        self.push_message(message);
    }

    /// A new topic: its id is the id of its service message (never the
    /// General topic's).
    fn create_topic(&mut self, chat_id: i64, name: &str, emoji: Option<String>) -> i64 {
        let mut thread_id = self.next_message_id(chat_id);
        if thread_id == GENERAL_TOPIC_ID {
            thread_id = self.next_message_id(chat_id);
        }
        let topic = Topic {
            name: name.to_owned(),
            icon_custom_emoji_id: emoji,
            closed: false,
            deleted: false,
        };
        self.group_entry(chat_id).topics.insert(thread_id, topic);
        thread_id
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
    fn check_can_send(&self, chat_id: i64, bot_id: i64) -> Result<(), ApiErr> {
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
            self.check_not_migrated(chat_id)?;
            let kind = if self.group_kind(chat_id) == Some(GroupKind::Basic) {
                "group"
            } else {
                "supergroup"
            };
            match self.member_status(chat_id, bot_id, bot_id) {
                "kicked" => Err(ApiErr::forbidden(format!(
                    "Forbidden: bot was kicked from the {kind} chat"
                ))),
                "left" => Err(ApiErr::forbidden(format!(
                    "Forbidden: bot is not a member of the {kind} chat"
                ))),
                _ => Ok(()),
            }
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
    /// `parameters.migrate_to_chat_id`.
    migrate_to: Option<i64>,
}

impl ApiErr {
    fn new(code: u16, description: impl Into<String>) -> Self {
        Self { code, description: description.into(), retry_after: None, migrate_to: None }
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
        fn first_update_id() -> i64 {
            static FAKES: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
            1000 + FAKES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 20_000 * 100_000
        }
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
            // Like Telegram, each bot's numbers start somewhere of their
            // own: two fakes in one test run never reuse each other's.
            db: Mutex::new(Db { next_update_id: first_update_id(), ..Db::default() }),
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
        let webhook_poster = tokio::spawn(post_to_webhook(Arc::clone(&shared))).abort_handle();
        FakeTelegram { handle: Arc::new(Handle { shared, addr, server, webhook_poster }) }
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

    /// From now on every getUpdates answers 409 Conflict "terminated by
    /// other getUpdates request", as Telegram does while another instance
    /// polls with the same token.
    pub fn conflict_polling(&self) {
        self.db().polling_conflict = true;
    }

    /// The webhook as the bot set it, if it is set.
    pub fn webhook(&self) -> Option<Webhook> {
        self.db().webhook.clone()
    }

    /// Sets a webhook as another process would (`setWebhook`), without
    /// recording a call.
    pub fn set_webhook(&self, url: &str) {
        self.db().webhook =
            Some(Webhook { url: url.to_owned(), secret_token: None, allowed_updates: None });
    }

    /// Puts a load balancer between the webhook and `replicas` (their
    /// webhook URLs): each update goes to the next replica in turn, and a
    /// replica that does not answer is skipped for that update. An empty
    /// list removes the balancer.
    pub fn balance_webhook(&self, replicas: &[String]) {
        let mut db = self.db();
        db.balanced = replicas.to_vec();
        db.balanced_next = 0;
        drop(db);
        self.shared().updates_changed.notify_waiters();
    }

    /// Every post of an update to the webhook so far.
    pub fn webhook_posts(&self) -> Vec<WebhookPost> {
        self.db().webhook_posts.clone()
    }

    /// A user's private text message as an Update object, with a fresh
    /// update id, not queued: for posting to the webhook by hand.
    pub fn text_update(&self, user: &TgUser, text: &str) -> Value {
        let mut db = self.db();
        db.user_names.insert(user.id, user.first_name.clone());
        db.users.insert(user.id, user.clone());
        db.started.insert(user.id);
        db.next_update_id += 1;
        let update_id = db.next_update_id;
        let message_id = db.next_message_id(user.id);
        let mut m = Map::new();
        m.insert("message_id".into(), json!(message_id));
        m.insert("from".into(), user.to_json());
        m.insert("date".into(), json!(db.now()));
        m.insert("chat".into(), db.chat_json(user.id));
        add_text(&mut m, text);
        let message = Value::Object(m);
        db.messages.insert((user.id, message_id), message.clone());
        json!({ "update_id": update_id, "message": message })
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

    /// Registers a group the bot is in, of that kind (title
    /// [`GROUP_TITLE`]).
    pub fn add_group(&self, chat_id: i64, kind: GroupKind) {
        assert!(chat_id < 0, "fake telegram: group chat ids are negative, got {chat_id}");
        let mut db = self.db();
        db.groups.insert(chat_id);
        match db.chats.get_mut(&chat_id) {
            Some(group) => group.kind = kind,
            None => {
                db.chats.insert(chat_id, Group::new(kind));
            }
        }
    }

    /// Sets a member's status in a group: `creator`, `administrator`,
    /// `member`, `restricted`, `left` or `kicked`. The bot's own id sets
    /// the bot's status (`left`/`kicked` make sending fail with 403).
    pub fn set_member(&self, chat_id: i64, user_id: i64, status: &str) {
        const STATUSES: &[&str] =
            &["creator", "administrator", "member", "restricted", "left", "kicked"];
        assert!(STATUSES.contains(&status), "fake telegram: unknown member status {status:?}");
        self.db().group_entry(chat_id).members.insert(user_id, status.to_owned());
    }

    /// Gives or takes the bot's `can_manage_topics` right (default true).
    pub fn set_bot_can_manage_topics(&self, chat_id: i64, can: bool) {
        self.db().group_entry(chat_id).bot_can_manage_topics = can;
    }

    /// Upgrades a basic group to a supergroup, as Telegram does when an
    /// admin enables a supergroup feature. Returns the new chat id.
    pub fn migrate_group(&self, old_id: i64) -> i64 {
        self.migrate_group_to(old_id, GroupKind::Supergroup)
    }

    /// Upgrades a basic group to a supergroup of `kind` (Supergroup or
    /// Forum): the new id is `-100` followed by the old id's digits. From
    /// then on every method that writes to the old chat or reads its
    /// members answers 400 with `migrate_to_chat_id`. Queues the service
    /// messages: `migrate_to_chat_id` in the old chat (from the group's
    /// creator) and `migrate_from_chat_id` in the new one (from
    /// GroupAnonymousBot on behalf of the chat, as Telegram sends it).
    pub fn migrate_group_to(&self, old_id: i64, kind: GroupKind) -> i64 {
        assert_ne!(kind, GroupKind::Basic, "fake telegram: a group migrates to a supergroup");
        let new_id: i64 =
            format!("-100{}", old_id.unsigned_abs()).parse().expect("fake telegram: new chat id");
        let mut db = self.db();
        let old = db
            .chats
            .get_mut(&old_id)
            .filter(|g| g.kind == GroupKind::Basic && g.migrated_to.is_none())
            .unwrap_or_else(|| panic!("fake telegram: {old_id} is not a registered basic group"));
        old.migrated_to = Some(new_id);
        let group = Group {
            kind,
            title: old.title.clone(),
            members: old.members.clone(),
            bot_can_manage_topics: old.bot_can_manage_topics,
            topics: HashMap::new(),
            migrated_to: None,
        };
        db.chats.insert(new_id, group);
        db.groups.insert(new_id);
        let staff = db.staff_json(old_id);
        let message_id = db.next_message_id(old_id);
        let to = json!({
            "message_id": message_id,
            "from": staff,
            "date": db.now(),
            "chat": db.chat_json(old_id),
            "migrate_to_chat_id": new_id,
        });
        db.push_message(to);
        let message_id = db.next_message_id(new_id);
        let anonymous = json!({
            "id": GROUP_ANONYMOUS_BOT_ID,
            "is_bot": true,
            "first_name": "Group",
            "username": "GroupAnonymousBot",
        });
        let from = json!({
            "message_id": message_id,
            "from": anonymous,
            "sender_chat": db.chat_json(new_id),
            "date": db.now(),
            "chat": db.chat_json(new_id),
            "migrate_from_chat_id": old_id,
        });
        db.push_message(from);
        drop(db);
        self.shared().updates_changed.notify_waiters();
        new_id
    }

    // ----- observation ---------------------------------------------------

    /// File name and bytes of a document in a chat (uploaded by the bot,
    /// sent by a test, or a copy of either).
    pub fn document_bytes(&self, chat_id: i64, message_id: i64) -> Option<(String, Vec<u8>)> {
        self.db().documents.get(&(chat_id, message_id)).cloned()
    }

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

    /// Reads messages sent to `chat_id` until one matches `pred` and
    /// returns it (the ones skipped count as read). Waits like `next_sent`.
    pub async fn sent_until(&self, chat_id: i64, pred: impl Fn(&Sent) -> bool) -> Sent {
        let what = format!("a matching message to chat {chat_id}");
        self.wait(&what, chat_id, |db| {
            let list = db.sent.get(&chat_id)?;
            let mut idx = db.consumed.get(&chat_id).copied().unwrap_or(0);
            let mut found = None;
            while let Some(sent) = list.get(idx) {
                idx += 1;
                if pred(sent) {
                    found = Some(sent.clone());
                    break;
                }
            }
            db.consumed.insert(chat_id, idx);
            found
        })
        .await
    }

    /// How long this fake's waits last before they panic (default
    /// [`WAIT_TIMEOUT`]): teloxide itself pauses 10 s before it reports a
    /// server error, so a test that injects 5xx answers needs longer.
    pub fn set_wait_timeout(&self, timeout: Duration) {
        self.db().wait_timeout = Some(timeout);
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
        db.users.insert(user.id, user.clone());
        if chat_id == user.id {
            db.started.insert(user.id);
            if db.blocked.remove(&user.id) {
                db.push_my_chat_member(self.shared().bot_id, user.to_json(), "kicked", "member");
            }
        } else if chat_id < 0 {
            db.groups.insert(chat_id);
            db.group_entry(chat_id).members.entry(user.id).or_insert_with(|| "member".into());
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

    /// A group message from `user` in `chat_id` (negative; an
    /// unregistered group is a forum). `reply_to` becomes
    /// `reply_to_message` (its current stored state); `thread_id` sets
    /// `message_thread_id` (and `is_topic_message: true` in a forum).
    pub fn send_group_text(
        &self,
        chat_id: i64,
        user: &TgUser,
        text: &str,
        reply_to: Option<&Sent>,
        thread_id: Option<i64>,
    ) -> i64 {
        let mut msg = Msg::text(text);
        msg.reply_to = reply_to.map(|r| r.message_id);
        msg.thread = thread_id;
        self.send_group(chat_id, user, msg)
    }

    /// A message from `user` in the group `chat_id`, as Telegram builds it:
    /// in a forum, a message in a topic has `message_thread_id`,
    /// `is_topic_message` and, unless it replies to something, a
    /// `reply_to_message` that is the topic's creation message; a reply
    /// without a thread lands in the replied message's topic. In a
    /// supergroup without topics a reply carries the thread of its root.
    /// Sending into a topic the fake does not know creates it (the test
    /// says it exists). Returns the message id.
    pub fn send_group(&self, chat_id: i64, user: &TgUser, msg: Msg) -> i64 {
        assert!(chat_id < 0, "fake telegram: group chat ids are negative, got {chat_id}");
        {
            let mut db = self.db();
            let forum = db.group_kind(chat_id) == Some(GroupKind::Forum);
            if let Some(t) = msg.thread.filter(|_| forum) {
                let group = db.group_entry(chat_id);
                group.topics.entry(t).or_insert_with(|| Topic {
                    name: format!("Topic {t}"),
                    icon_custom_emoji_id: None,
                    closed: false,
                    deleted: false,
                });
            }
        }
        self.push_user_message(chat_id, user, |db, m| {
            let kind = db.group_kind(chat_id);
            let reply = msg.reply_to.map(|id| {
                db.messages.get(&(chat_id, id)).cloned().unwrap_or_else(|| {
                    panic!("fake telegram: no message {id} in chat {chat_id} to reply to")
                })
            });
            let reply_thread = reply.as_ref().and_then(|r| r["message_thread_id"].as_i64());
            match kind {
                Some(GroupKind::Forum) => {
                    let in_topic = reply.as_ref().is_none_or(|r| r["is_topic_message"] == true);
                    if let Some(t) = msg.thread.or(reply_thread.filter(|_| in_topic)) {
                        m.insert("message_thread_id".into(), json!(t));
                        m.insert("is_topic_message".into(), json!(true));
                        if reply.is_none()
                            && let Some(root) = db.messages.get(&(chat_id, t))
                        {
                            m.insert("reply_to_message".into(), strip_reply(root.clone()));
                        }
                    }
                }
                Some(GroupKind::Supergroup) => {
                    let root = reply
                        .as_ref()
                        .map(|r| r["message_thread_id"].as_i64().or(r["message_id"].as_i64()));
                    if let Some(t) = msg.thread.or(root.flatten()) {
                        m.insert("message_thread_id".into(), json!(t));
                    }
                }
                _ => {}
            }
            if let Some(r) = reply {
                m.insert("reply_to_message".into(), strip_reply(r));
            }
            msg.fill(db, chat_id, m);
        })
    }

    /// A private message from `user` built like [`send_group`](Self::send_group)
    /// (`thread` is ignored). Returns the message id.
    pub fn send_private(&self, user: &TgUser, msg: Msg) -> i64 {
        let chat_id = user.id;
        self.push_user_message(chat_id, user, |db, m| {
            if let Some(id) = msg.reply_to {
                let original = db.messages.get(&(chat_id, id)).cloned().unwrap_or_else(|| {
                    panic!("fake telegram: no message {id} in chat {chat_id} to reply to")
                });
                m.insert("reply_to_message".into(), strip_reply(original));
            }
            msg.fill(db, chat_id, m);
        })
    }

    /// The user edits their text message: the stored message changes and
    /// an `edited_message` update (with `edit_date`) is queued.
    pub fn edit_user_message(&self, chat_id: i64, message_id: i64, new_text: &str) {
        let mut db = self.db();
        let mut message = db
            .messages
            .get(&(chat_id, message_id))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| panic!("fake telegram: no message {message_id} in chat {chat_id}"));
        message.remove("entities");
        add_text(&mut message, new_text);
        message.insert("edit_date".into(), json!(db.now()));
        let message = Value::Object(message);
        db.messages.insert((chat_id, message_id), message.clone());
        let mut update = Map::new();
        update.insert("edited_message".into(), message);
        db.push_update(update);
        drop(db);
        self.shared().updates_changed.notify_waiters();
    }

    /// `by` adds the bot to the group: queues the `my_chat_member` update
    /// (left → the bot's status, `administrator` unless set) and the
    /// `new_chat_members` service message containing the bot.
    pub fn add_bot_to_group(&self, chat_id: i64, by: &TgUser) {
        assert!(chat_id < 0, "fake telegram: group chat ids are negative, got {chat_id}");
        let bot_id = self.shared().bot_id;
        let mut db = self.db();
        db.users.insert(by.id, by.clone());
        db.user_names.insert(by.id, by.first_name.clone());
        db.groups.insert(chat_id);
        let group = db.group_entry(chat_id);
        group.members.entry(by.id).or_insert_with(|| "member".into());
        if group.members.get(&bot_id).is_some_and(|s| s == "left" || s == "kicked") {
            group.members.remove(&bot_id);
        }
        let old = json!({ "status": "left", "user": bot_user(bot_id) });
        let mut update = Map::new();
        update.insert(
            "my_chat_member".into(),
            json!({
                "chat": db.chat_json(chat_id),
                "from": by.to_json(),
                "date": db.now(),
                "old_chat_member": old,
                "new_chat_member": db.member_json(chat_id, bot_id, bot_id),
            }),
        );
        db.push_update(update);
        let message_id = db.next_message_id(chat_id);
        let message = json!({
            "message_id": message_id,
            "from": by.to_json(),
            "date": db.now(),
            "chat": db.chat_json(chat_id),
            "new_chat_members": [bot_user(bot_id)],
        });
        db.push_message(message);
        drop(db);
        self.shared().updates_changed.notify_waiters();
    }

    /// A person in the group creates a topic by hand: stores and queues
    /// its `forum_topic_created` service message from them. Returns the
    /// topic's `message_thread_id`.
    pub fn create_topic_by_user(&self, chat_id: i64, user: &TgUser, name: &str) -> i64 {
        let mut db = self.db();
        assert_eq!(
            db.group_kind(chat_id),
            Some(GroupKind::Forum),
            "fake telegram: chat {chat_id} is not a forum"
        );
        db.users.insert(user.id, user.clone());
        db.group_entry(chat_id).members.entry(user.id).or_insert_with(|| "member".into());
        db.groups.insert(chat_id);
        let thread_id = db.create_topic(chat_id, name, None);
        let body = json!({ "name": name, "icon_color": DEFAULT_TOPIC_COLOR });
        db.push_topic_service(chat_id, thread_id, user.to_json(), "forum_topic_created", body);
        drop(db);
        self.shared().updates_changed.notify_waiters();
        thread_id
    }

    /// Staff close a topic by hand: queues the `forum_topic_closed` service
    /// message, from the group's creator (or an "Admin" user).
    pub fn close_topic(&self, chat_id: i64, thread_id: i64) {
        let mut db = self.db();
        let topic = db
            .chats
            .get_mut(&chat_id)
            .and_then(|g| g.topics.get_mut(&thread_id))
            .filter(|t| !t.deleted)
            .unwrap_or_else(|| panic!("fake telegram: no topic {thread_id} in {chat_id}"));
        topic.closed = true;
        let staff = db.staff_json(chat_id);
        db.push_topic_service(chat_id, thread_id, staff, "forum_topic_closed", json!({}));
        drop(db);
        self.shared().updates_changed.notify_waiters();
    }

    /// Staff delete a topic by hand, with all its messages. Telegram sends
    /// bots no update about it.
    pub fn delete_topic(&self, chat_id: i64, thread_id: i64) {
        let mut db = self.db();
        db.delete_topic(chat_id, thread_id);
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
    db.new_photo(65536)
}

/// The MIME type Telegram reports for a document, from its file name.
fn mime_type(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

impl Db {
    /// A new photo: the PhotoSize array Telegram makes (a thumbnail and the
    /// full size), each size's file_id known for resending.
    fn new_photo(&mut self, size: usize) -> Value {
        let (small_id, small_uid) = self.file_id("photo");
        let (big_id, big_uid) = self.file_id("photo");
        let photo = json!([
            { "file_id": small_id, "file_unique_id": small_uid, "width": 90, "height": 90, "file_size": size.min(1024) },
            { "file_id": big_id, "file_unique_id": big_uid, "width": 800, "height": 600, "file_size": size },
        ]);
        for id in [small_id, big_id] {
            self.files
                .insert(id, StoredFile { kind: "photo", object: photo.clone(), upload: None });
        }
        photo
    }

    /// A new Document object for these bytes, its file_id known for
    /// resending.
    fn new_document(&mut self, file_name: &str, bytes: Vec<u8>) -> Value {
        let (id, unique) = self.file_id("document");
        let mut document = json!({
            "file_id": id,
            "file_unique_id": unique,
            "mime_type": mime_type(file_name),
            "file_size": bytes.len(),
        });
        if !file_name.is_empty() {
            document["file_name"] = json!(file_name);
        }
        let upload = Some((file_name.to_owned(), bytes));
        self.files.insert(id, StoredFile { kind: "document", object: document.clone(), upload });
        document
    }
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
    if let Some(chat_id) = err.migrate_to {
        body["parameters"] = json!({ "migrate_to_chat_id": chat_id });
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

    let (params, uploads) = match parse_params(query.as_deref(), &headers, &body) {
        Ok((p, uploads)) => (Value::Object(p), uploads),
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
                migrate_to: None,
            });
        }
    }

    if method == "getupdates" {
        return reply(get_updates(&shared, &params).await);
    }
    if method == "setwebhook" || method == "deletewebhook" {
        let mut db = shared.lock();
        let result = webhook_method(&mut db, &method, &params);
        shared.record_call(&mut db, &method, &params, result.is_err());
        drop(db);
        // The poster looks at the new webhook (and polling at its absence).
        shared.updates_changed.notify_waiters();
        return reply(result);
    }

    let mut db = shared.lock();
    let pending_before = db.pending.len();
    let result = dispatch(&mut db, &method, shared.bot_id, &params, &uploads);
    if result.is_ok() && db.pending.len() > pending_before {
        shared.updates_changed.notify_waiters();
    }
    shared.record_call(&mut db, &method, &params, result.is_err());
    drop(db);
    reply(result)
}

/// Query string, then a form, multipart or JSON body (teloxide sends JSON,
/// and multipart/form-data for methods that may upload files).
fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Map<String, Value>, Uploads), String> {
    let mut params = Map::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let value = coerce(&k, &v);
            params.insert(k.into_owned(), value);
        }
    }
    let mut uploads = Uploads::new();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((params, uploads));
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
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .map(|b| b.trim_matches('"').to_owned())
            .ok_or("Bad Request: multipart boundary is not specified")?;
        // The header value was lowercased; the boundary is case-sensitive.
        let original = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                let at = ct.to_ascii_lowercase().find("boundary=")? + "boundary=".len();
                Some(ct[at..].split(';').next()?.trim().trim_matches('"').to_owned())
            })
            .unwrap_or(boundary);
        for part in parse_multipart(body, &original)? {
            match part.file_name {
                Some(file_name) => {
                    uploads.insert(part.name, (file_name, part.data));
                }
                None => {
                    let text = String::from_utf8_lossy(&part.data);
                    params.insert(part.name.clone(), coerce(&part.name, &text));
                }
            }
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(obj)) => params.extend(obj),
            Ok(Value::Null) => {}
            Ok(_) => return Err("Bad Request: request body must be a JSON object".into()),
            Err(e) => return Err(format!("Bad Request: can't parse JSON body: {e}")),
        }
    }
    Ok((params, uploads))
}

struct FormPart {
    name: String,
    /// Present for file parts (possibly empty).
    file_name: Option<String>,
    data: Vec<u8>,
}

/// A multipart/form-data body (RFC 7578), parts split on the boundary.
fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<FormPart>, String> {
    let bad = || "Bad Request: can't parse multipart/form-data body".to_owned();
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or_else(bad)? + delimiter.len();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        let headers_start = at + 2; // CRLF after the delimiter
        let headers_end = find(body, b"\r\n\r\n", headers_start).ok_or_else(bad)?;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end]).into_owned();
        let data_start = headers_end + 4;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), data_start).ok_or_else(bad)?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or_else(bad)?;
        let attribute = |key: &str| {
            disposition.split(';').map(str::trim).find_map(|p| {
                let value = p.strip_prefix(key)?.strip_prefix('=')?;
                Some(value.trim_matches('"').to_owned())
            })
        };
        parts.push(FormPart {
            name: attribute("name").ok_or_else(bad)?,
            file_name: attribute("filename"),
            data: body[data_start..next].to_vec(),
        });
        at = next + 2 + delimiter.len();
    }
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
    let visible = visible_text(text, params)?;
    let visible = visible.trim();
    if visible.is_empty() {
        return Err(ApiErr::bad_request("Bad Request: message text is empty"));
    }
    if visible.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiErr::bad_request("Bad Request: message is too long"));
    }
    Ok(visible.to_owned())
}

/// A text or caption as parsed by `parse_mode`.
fn visible_text(text: &str, params: &Value) -> Result<String, ApiErr> {
    let mode = str_param(params, "parse_mode").unwrap_or("").to_ascii_lowercase();
    match mode.as_str() {
        "" | "none" => Ok(text.to_owned()),
        "html" => parse_html(text),
        // Not parsed: the bot uses HTML; counted as sent.
        "markdown" | "markdownv2" => Ok(text.to_owned()),
        _ => Err(ApiErr::bad_request("Bad Request: unsupported parse_mode")),
    }
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

fn dispatch(
    db: &mut Db,
    method: &str,
    bot_id: i64,
    params: &Value,
    uploads: &Uploads,
) -> ApiResult {
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
        "getwebhookinfo" => {
            let mut info = json!({
                "url": db.webhook.as_ref().map_or("", |hook| hook.url.as_str()),
                "has_custom_certificate": false,
                "pending_update_count": db.pending.len(),
            });
            if let Some(hook) = &db.webhook {
                info["max_connections"] = json!(40);
                if let Some(allowed) = &hook.allowed_updates {
                    info["allowed_updates"] = json!(allowed);
                }
            }
            Ok(info)
        }
        "setmycommands" => set_my_commands(params),
        "answercallbackquery" => answer_callback_query(db, params),
        "sendmessage" => send_message(db, bot_id, params),
        "editmessagetext" | "editmessagereplymarkup" => edit_message(db, method, bot_id, params),
        "deletemessage" => delete_message(db, bot_id, params),
        "sendphoto" | "senddocument" => send_file(db, method, bot_id, params, uploads),
        "copymessage" => copy_message(db, bot_id, params),
        "copymessages" => copy_messages(db, bot_id, params),
        "getchat" => get_chat(db, params),
        "getchatmember" => get_chat_member(db, bot_id, params),
        "getchatadministrators" => get_chat_administrators(db, bot_id, params),
        "createforumtopic" => create_forum_topic(db, bot_id, params),
        "closeforumtopic" | "reopenforumtopic" | "deleteforumtopic" | "editforumtopic" => {
            manage_forum_topic(db, method, bot_id, params)
        }
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
    let mut m = outgoing(db, bot_id, chat_id, params)?;
    let text = str_param(params, "text").unwrap_or_default().to_owned();
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

/// Checks that the bot may post in the chat (and thread) and that the
/// message replied to exists, then builds the new message's header: id,
/// thread, sender, date, chat, `reply_to_message`, protection.
fn outgoing(
    db: &mut Db,
    bot_id: i64,
    chat_id: i64,
    params: &Value,
) -> Result<Map<String, Value>, ApiErr> {
    db.check_can_send(chat_id, bot_id)?;
    let requested = int_param(params, "message_thread_id")?.filter(|&t| t > 0);
    let thread = check_thread(db, chat_id, bot_id, requested)?;
    let reply = reply_target(db, chat_id, params)?;
    let forum = db.group_kind(chat_id) == Some(GroupKind::Forum);
    // A reply without a thread goes where the replied message is: its
    // topic in a forum, the thread of its root in a supergroup.
    let supergroup = db.group_kind(chat_id) == Some(GroupKind::Supergroup);
    let thread = thread.or_else(|| {
        let r = reply.as_ref()?;
        match r["message_thread_id"].as_i64() {
            Some(t) if !forum || r["is_topic_message"] == true => Some(t),
            None if supergroup => r["message_id"].as_i64(),
            _ => None,
        }
    });
    let message_id = db.next_message_id(chat_id);
    let mut m = Map::new();
    m.insert("message_id".into(), json!(message_id));
    if let Some(t) = thread {
        m.insert("message_thread_id".into(), json!(t));
        if forum {
            m.insert("is_topic_message".into(), json!(true));
        }
    }
    m.insert("from".into(), bot_user(bot_id));
    m.insert("date".into(), json!(db.now()));
    m.insert("chat".into(), db.chat_json(chat_id));
    let root = thread.filter(|_| forum).and_then(|t| db.messages.get(&(chat_id, t)));
    if let Some(original) = reply.or_else(|| root.cloned().map(strip_reply)) {
        m.insert("reply_to_message".into(), original);
    }
    if bool_param(params, "protect_content") {
        m.insert("has_protected_content".into(), json!(true));
    }
    Ok(m)
}

/// `message_thread_id` as Telegram checks it: in a forum, an existing
/// topic other than General, open unless the bot may manage topics
/// (admins with `can_manage_topics` post in closed topics); elsewhere a
/// reply thread (a message of the chat), never in private chats.
fn check_thread(
    db: &Db,
    chat_id: i64,
    bot_id: i64,
    thread: Option<i64>,
) -> Result<Option<i64>, ApiErr> {
    let Some(t) = thread else { return Ok(None) };
    let not_found = || ApiErr::bad_request("Bad Request: message thread not found");
    match db.group_kind(chat_id) {
        Some(GroupKind::Forum) => {
            let topic = db
                .chats
                .get(&chat_id)
                .and_then(|g| g.topics.get(&t))
                .filter(|topic| !topic.deleted && t != GENERAL_TOPIC_ID)
                .ok_or_else(not_found)?;
            if topic.closed && !db.bot_manages_topics(chat_id, bot_id) {
                return Err(ApiErr::bad_request("Bad Request: TOPIC_CLOSED"));
            }
            Ok(Some(t))
        }
        Some(_) if db.messages.contains_key(&(chat_id, t)) => Ok(Some(t)),
        _ => Err(not_found()),
    }
}

/// The message replied to (`reply_parameters`, or the older
/// `reply_to_message_id`), without its own reply. A message of another
/// chat (`reply_parameters.chat_id`) must exist but is not attached: the
/// fake does not build `external_reply`.
fn reply_target(db: &Db, chat_id: i64, params: &Value) -> Result<Option<Value>, ApiErr> {
    let (id, target_chat, allow) = match params.get("reply_parameters") {
        Some(Value::Object(rp)) => {
            let rp = Value::Object(rp.clone());
            let target_chat = match rp.get("chat_id") {
                None | Some(Value::Null) => chat_id,
                Some(_) => chat_param(&rp)?,
            };
            (
                int_param(&rp, "message_id")?,
                target_chat,
                bool_param(&rp, "allow_sending_without_reply"),
            )
        }
        Some(Value::Null) | None => (
            int_param(params, "reply_to_message_id")?,
            chat_id,
            bool_param(params, "allow_sending_without_reply"),
        ),
        Some(_) => {
            return Err(ApiErr::bad_request(
                "Bad Request: can't parse reply parameters JSON object",
            ));
        }
    };
    let Some(id) = id else { return Ok(None) };
    match db.messages.get(&(target_chat, id)) {
        Some(original) if target_chat == chat_id => Ok(Some(strip_reply(original.clone()))),
        Some(_) => Ok(None),
        None if allow => Ok(None),
        None => Err(ApiErr::bad_request("Bad Request: message to be replied not found")),
    }
}

/// A caption as the user will see it: parsed by `parse_mode`, trimmed,
/// at most 1024 characters; `None` when absent or empty.
fn check_caption(params: &Value) -> Result<Option<String>, ApiErr> {
    let Some(caption) = str_param(params, "caption") else { return Ok(None) };
    let visible = visible_text(caption, params)?;
    let visible = visible.trim();
    if visible.chars().count() > MAX_CAPTION_CHARS {
        return Err(ApiErr::bad_request("Bad Request: message caption is too long"));
    }
    Ok((!visible.is_empty()).then(|| visible.to_owned()))
}

/// sendPhoto / sendDocument: the file is a file_id the fake handed out,
/// an HTTP URL, or an upload (`attach://<part>` or the part itself).
fn send_file(
    db: &mut Db,
    method: &str,
    bot_id: i64,
    params: &Value,
    uploads: &Uploads,
) -> ApiResult {
    let field = if method == "sendphoto" { "photo" } else { "document" };
    let chat_id = chat_param(params)?;
    let upload = match params.get(field) {
        Some(Value::String(s)) => match s.strip_prefix("attach://") {
            Some(part) => Some(uploads.get(part).cloned().ok_or_else(|| {
                ApiErr::bad_request(format!("Bad Request: file {part} not found in the request"))
            })?),
            None => None,
        },
        Some(Value::Null) | None => uploads.get(field).cloned(),
        // A number-like file_id arrives as a number from a form.
        Some(_) => None,
    };
    let reference = match params.get(field) {
        Some(Value::String(s)) if !s.starts_with("attach://") => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if upload.is_none() && reference.is_none() {
        return Err(ApiErr::bad_request(format!(
            "Bad Request: there is no {field} in the request"
        )));
    }
    if upload.as_ref().is_some_and(|(_, bytes)| bytes.is_empty()) {
        return Err(ApiErr::bad_request("Bad Request: file must be non-empty"));
    }
    let caption = check_caption(params)?;
    let markup = markup_param(params)?;
    let known = reference.as_ref().and_then(|r| db.files.get(r));
    let is_url =
        reference.as_ref().is_some_and(|r| r.starts_with("http://") || r.starts_with("https://"));
    if reference.is_some() && known.is_none() && !is_url {
        return Err(ApiErr::bad_request("Bad Request: wrong file identifier/HTTP URL specified"));
    }
    let known = known.map(|f| (f.kind, f.object.clone(), f.upload.clone()));
    let mut m = outgoing(db, bot_id, chat_id, params)?;
    let message_id = m["message_id"].as_i64().unwrap_or_default();
    let (object, bytes) = match (field, known, upload) {
        (_, Some((kind, object, bytes)), _) if kind == field => (object, bytes),
        (_, Some((kind, _, _)), _) => {
            let kind = if kind == "photo" { "Photo" } else { "Document" };
            let wanted = if field == "photo" { "Photo" } else { "Document" };
            return Err(ApiErr::bad_request(format!(
                "Bad Request: can't use file of type {kind} as {wanted}"
            )));
        }
        ("photo", None, upload) => {
            let size = upload.as_ref().map_or(65536, |(_, b)| b.len());
            (db.new_photo(size), None)
        }
        (_, None, Some((name, bytes))) => {
            (db.new_document(&name, bytes.clone()), Some((name, bytes)))
        }
        (_, None, None) => {
            let url = reference.unwrap_or_default();
            let name = url.rsplit('/').next().unwrap_or("file").to_owned();
            (db.new_document(&name, Vec::new()), None)
        }
    };
    if let Some(file) = bytes {
        db.documents.insert((chat_id, message_id), file);
    }
    m.insert(field.into(), object);
    if let Some(c) = &caption {
        m.insert("caption".into(), json!(c));
    }
    if let Some(inline) = inline_only(&markup) {
        m.insert("reply_markup".into(), inline);
    }
    // Like sendMessage's text, `Sent::text` is the caption as requested.
    let requested = caption.and(str_param(params, "caption").map(str::to_owned));
    Ok(store_sent(db, method, chat_id, m, params, requested, markup))
}

/// The fields of a message that are its content (what a copy takes).
const CONTENT_FIELDS: &[&str] = &[
    "text",
    "entities",
    "link_preview_options",
    "photo",
    "document",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "sticker",
    "contact",
    "location",
    "venue",
    "poll",
    "dice",
    "caption",
    "caption_entities",
    "has_media_spoiler",
    "show_caption_above_media",
];

/// The message to copy: it exists and is not a service message.
fn message_to_copy(db: &Db, from_chat: i64, message_id: i64) -> Result<Value, ApiErr> {
    let source = db
        .messages
        .get(&(from_chat, message_id))
        .cloned()
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message to copy not found"))?;
    if !CONTENT_FIELDS.iter().any(|f| source.get(*f).is_some()) {
        return Err(ApiErr::bad_request("Bad Request: message can't be copied"));
    }
    Ok(source)
}

/// Stores a copy of `source` as the bot's message `m` (header already
/// built) and records it as a `Sent` of method `copymessage`.
fn store_copy(
    db: &mut Db,
    chat_id: i64,
    mut m: Map<String, Value>,
    source: &Value,
    caption: Option<Option<String>>,
    media_group_id: Option<String>,
    params: &Value,
) -> i64 {
    // Validated by the caller; copyMessages has none.
    let markup = markup_param(params).ok().flatten();
    let message_id = m["message_id"].as_i64().unwrap_or_default();
    for field in CONTENT_FIELDS {
        if let Some(v) = source.get(*field) {
            m.insert((*field).into(), v.clone());
        }
    }
    let is_text = m.contains_key("text");
    let replaced = caption.is_some() && !is_text;
    if let (Some(new_caption), false) = (caption, is_text) {
        m.remove("caption_entities");
        match new_caption {
            Some(c) => m.insert("caption".into(), json!(c)),
            None => m.remove("caption"),
        };
    }
    if let Some(group) = media_group_id {
        m.insert("media_group_id".into(), json!(group));
    }
    if let Some(inline) = inline_only(&markup) {
        m.insert("reply_markup".into(), inline);
    }
    let source_key = (
        source["chat"]["id"].as_i64().unwrap_or_default(),
        source["message_id"].as_i64().unwrap_or_default(),
    );
    if let Some(file) = db.documents.get(&source_key).cloned() {
        db.documents.insert((chat_id, message_id), file);
    }
    // `Sent::text`: a new caption as requested, else the copied text or
    // caption.
    let text = match replaced {
        true => m.get("caption").and(str_param(params, "caption")).map(str::to_owned),
        false => m.get("text").or(m.get("caption")).and_then(Value::as_str).map(str::to_owned),
    };
    store_sent(db, "copymessage", chat_id, m, params, text, markup);
    message_id
}

/// copyMessage: the bot sends the content of any message it can read, as
/// its own message, optionally with a new caption.
fn copy_message(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params)?;
    let from_chat = match params.get("from_chat_id") {
        None | Some(Value::Null) => {
            return Err(ApiErr::bad_request("Bad Request: parameter \"from_chat_id\" is required"));
        }
        Some(_) => chat_param(&json!({ "chat_id": params["from_chat_id"] }))?,
    };
    let message_id = message_id_param(params)?;
    let caption = match params.get("caption") {
        None | Some(Value::Null) => None,
        Some(_) => Some(check_caption(params)?),
    };
    markup_param(params)?;
    db.check_can_read(from_chat)?;
    let source = message_to_copy(db, from_chat, message_id)?;
    let m = outgoing(db, bot_id, chat_id, params)?;
    let id = store_copy(db, chat_id, m, &source, caption, None, params);
    Ok(json!({ "message_id": id }))
}

/// copyMessages: up to 100 messages in strictly increasing id order;
/// missing or service messages are skipped (Telegram copies what it can);
/// an album's copies share one new `media_group_id`.
fn copy_messages(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = chat_param(params)?;
    let from_chat = match params.get("from_chat_id") {
        None | Some(Value::Null) => {
            return Err(ApiErr::bad_request("Bad Request: parameter \"from_chat_id\" is required"));
        }
        Some(_) => chat_param(&json!({ "chat_id": params["from_chat_id"] }))?,
    };
    let ids = match params.get("message_ids") {
        None | Some(Value::Null) => {
            return Err(ApiErr::bad_request("Bad Request: message identifiers are not specified"));
        }
        Some(Value::Array(ids)) => ids.clone(),
        Some(_) => {
            return Err(ApiErr::bad_request(
                "Bad Request: expected an Array of message identifiers",
            ));
        }
    };
    if ids.is_empty() {
        return Err(ApiErr::bad_request("Bad Request: message identifiers are not specified"));
    }
    if ids.len() > MAX_COPY_MESSAGES {
        return Err(ApiErr::bad_request("Bad Request: too many message identifiers specified"));
    }
    let mut message_ids = Vec::with_capacity(ids.len());
    for id in &ids {
        let id = int_param(&json!({ "id": id }), "id").ok().flatten().ok_or_else(|| {
            ApiErr::bad_request("Bad Request: message identifier must be a Number")
        })?;
        if id <= 0 {
            return Err(ApiErr::bad_request("Bad Request: invalid message identifier specified"));
        }
        message_ids.push(id);
    }
    // TDLib's own wording (forwardMessages), as the Bot API passes it on;
    // not checked against a real Bot API answer.
    if message_ids.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ApiErr::bad_request(
            "Bad Request: message identifiers must be in a strictly increasing order",
        ));
    }
    db.check_can_read(from_chat)?;
    db.check_can_send(chat_id, bot_id)?;
    let requested = int_param(params, "message_thread_id")?.filter(|&t| t > 0);
    check_thread(db, chat_id, bot_id, requested)?;
    let remove_caption = bool_param(params, "remove_caption");
    let sources: Vec<Value> =
        message_ids.iter().filter_map(|&id| message_to_copy(db, from_chat, id).ok()).collect();
    let mut albums: HashMap<String, String> = HashMap::new();
    let mut copied = Vec::new();
    for source in sources {
        let group = match source["media_group_id"].as_str() {
            Some(old) => Some(match albums.get(old) {
                Some(new) => new.clone(),
                None => {
                    db.next_media_group += 1;
                    let new = format!("{}", 13_000_000_000_000_000_u64 + db.next_media_group);
                    albums.insert(old.to_owned(), new.clone());
                    new
                }
            }),
            None => None,
        };
        let m = outgoing(db, bot_id, chat_id, params)?;
        let caption = remove_caption.then_some(None);
        let id = store_copy(db, chat_id, m, &source, caption, group, params);
        copied.push(json!({ "message_id": id }));
    }
    Ok(Value::Array(copied))
}

fn get_chat(db: &Db, params: &Value) -> ApiResult {
    let chat_id = chat_param(params)?;
    db.check_can_read(chat_id)?;
    let mut chat = db.chat_json(chat_id);
    chat["accent_color_id"] = json!(0);
    chat["max_reaction_count"] = json!(11);
    chat["accepted_gift_types"] = json!({
        "unlimited_gifts": true,
        "limited_gifts": true,
        "unique_gifts": true,
        "premium_subscription": true,
    });
    if chat_id < 0 {
        chat["permissions"] = json!({
            "can_send_messages": true,
            "can_send_audios": true,
            "can_send_documents": true,
            "can_send_photos": true,
            "can_send_videos": true,
            "can_send_video_notes": true,
            "can_send_voice_notes": true,
            "can_send_polls": true,
            "can_send_other_messages": true,
            "can_add_web_page_previews": true,
            "can_change_info": false,
            "can_invite_users": true,
            "can_pin_messages": false,
            "can_manage_topics": false,
        });
    }
    Ok(chat)
}

/// A group the bot is in and may read the members of.
fn members_chat(db: &Db, params: &Value) -> Result<i64, ApiErr> {
    let chat_id = chat_param(params)?;
    db.check_can_read(chat_id)?;
    db.check_not_migrated(chat_id)?;
    Ok(chat_id)
}

fn get_chat_member(db: &Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = members_chat(db, params)?;
    let user_id = int_param(params, "user_id")?
        .filter(|&id| id > 0)
        .ok_or_else(|| ApiErr::bad_request("Bad Request: invalid user_id specified"))?;
    if chat_id > 0 {
        if user_id != chat_id && user_id != bot_id {
            return Err(ApiErr::bad_request("Bad Request: user not found"));
        }
        return Ok(json!({ "status": "member", "user": db.user_json(user_id, bot_id) }));
    }
    Ok(db.member_json(chat_id, user_id, bot_id))
}

fn get_chat_administrators(db: &Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = members_chat(db, params)?;
    if chat_id > 0 {
        return Err(ApiErr::bad_request(
            "Bad Request: there are no administrators in the private chat",
        ));
    }
    let mut ids: Vec<i64> =
        db.chats.get(&chat_id).map(|g| g.members.keys().copied().collect()).unwrap_or_default();
    if !ids.contains(&bot_id) {
        ids.push(bot_id);
    }
    ids.sort_unstable();
    let rank = |id: &i64| match db.member_status(chat_id, *id, bot_id) {
        "creator" => 0,
        _ => 1,
    };
    ids.sort_by_key(rank);
    let admins = ids
        .into_iter()
        .filter(|&id| matches!(db.member_status(chat_id, id, bot_id), "creator" | "administrator"))
        .map(|id| db.member_json(chat_id, id, bot_id))
        .collect();
    Ok(Value::Array(admins))
}

/// The forum a topic method is aimed at.
fn forum_param(db: &Db, bot_id: i64, params: &Value) -> Result<i64, ApiErr> {
    let chat_id = chat_param(params)?;
    db.check_can_send(chat_id, bot_id)?;
    if db.group_kind(chat_id) != Some(GroupKind::Forum) {
        return Err(ApiErr::bad_request("Bad Request: the chat is not a forum"));
    }
    Ok(chat_id)
}

fn create_forum_topic(db: &mut Db, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = forum_param(db, bot_id, params)?;
    let name = str_param(params, "name").unwrap_or("").trim().to_owned();
    if name.is_empty() {
        return Err(ApiErr::bad_request("Bad Request: TOPIC_TITLE_EMPTY"));
    }
    if !db.bot_manages_topics(chat_id, bot_id) {
        return Err(ApiErr::bad_request("Bad Request: not enough rights to create a topic"));
    }
    let color = int_param(params, "icon_color")?.unwrap_or(DEFAULT_TOPIC_COLOR);
    let emoji =
        str_param(params, "icon_custom_emoji_id").filter(|e| !e.is_empty()).map(str::to_owned);
    let thread_id = db.create_topic(chat_id, &name, emoji.clone());
    let mut body = json!({ "name": name, "icon_color": color });
    if let Some(e) = &emoji {
        body["icon_custom_emoji_id"] = json!(e);
    }
    db.push_topic_service(
        chat_id,
        thread_id,
        bot_user(bot_id),
        "forum_topic_created",
        body.clone(),
    );
    body["message_thread_id"] = json!(thread_id);
    Ok(body)
}

/// close/reopen/delete/editForumTopic. Each posts the service message
/// Telegram posts in the topic (except deletion).
fn manage_forum_topic(db: &mut Db, method: &str, bot_id: i64, params: &Value) -> ApiResult {
    let chat_id = forum_param(db, bot_id, params)?;
    let thread_id = int_param(params, "message_thread_id")?.unwrap_or(0);
    let manages = db.bot_manages_topics(chat_id, bot_id);
    let topic = db
        .chats
        .get_mut(&chat_id)
        .and_then(|g| g.topics.get_mut(&thread_id))
        .filter(|t| !t.deleted)
        .ok_or_else(|| ApiErr::bad_request("Bad Request: message thread not found"))?;
    if !manages {
        return Err(ApiErr::bad_request("Bad Request: not enough rights to manage topics"));
    }
    let not_modified = || ApiErr::bad_request("Bad Request: TOPIC_NOT_MODIFIED");
    let (event, body) = match method {
        "closeforumtopic" | "reopenforumtopic" => {
            let close = method == "closeforumtopic";
            if topic.closed == close {
                return Err(not_modified());
            }
            topic.closed = close;
            (if close { "forum_topic_closed" } else { "forum_topic_reopened" }, json!({}))
        }
        "editforumtopic" => {
            let name = str_param(params, "name").map(str::trim).filter(|n| !n.is_empty());
            let emoji = str_param(params, "icon_custom_emoji_id");
            let same_name = name.is_none_or(|n| n == topic.name);
            let same_emoji = emoji.is_none_or(|e| Some(e) == topic.icon_custom_emoji_id.as_deref());
            if same_name && same_emoji {
                return Err(not_modified());
            }
            let mut body = json!({});
            if let Some(n) = name {
                topic.name = n.to_owned();
                body["name"] = json!(n);
            }
            if let Some(e) = emoji {
                topic.icon_custom_emoji_id = (!e.is_empty()).then(|| e.to_owned());
                body["icon_custom_emoji_id"] = json!(e);
            }
            ("forum_topic_edited", body)
        }
        _ => {
            db.delete_topic(chat_id, thread_id);
            return Ok(json!(true));
        }
    };
    db.push_topic_service(chat_id, thread_id, bot_user(bot_id), event, body);
    Ok(json!(true))
}

/// The bot's own message in a chat, for editing.
fn own_message(db: &Db, bot_id: i64, params: &Value) -> Result<(i64, Map<String, Value>), ApiErr> {
    let chat_id = chat_param(params)?;
    let message_id = message_id_param(params)?;
    // Telegram checks edits in an upgraded group without the migration
    // answer; the deactivated group's messages can no longer be edited.
    // (The description is the fake's choice, not checked against Telegram.)
    if db.chats.get(&chat_id).is_some_and(|g| g.migrated_to.is_some()) {
        return Err(ApiErr::bad_request("Bad Request: message can't be edited"));
    }
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
    db.check_not_migrated(chat_id)?;
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

/// `setWebhook` (url, secret_token, allowed_updates, drop_pending_updates)
/// and `deleteWebhook` (drop_pending_updates). An empty url removes the
/// webhook, as Telegram's does.
fn webhook_method(db: &mut Db, method: &str, params: &Value) -> ApiResult {
    if bool_param(params, "drop_pending_updates") {
        db.pending.clear();
    }
    if method == "deletewebhook" {
        db.webhook = None;
        return Ok(json!(true));
    }
    let url = str_param(params, "url").unwrap_or_default();
    if url.is_empty() {
        db.webhook = None;
        return Ok(json!(true));
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
        _ => return Err(ApiErr::bad_request("Bad Request: bad webhook: Failed to resolve host")),
    }
    let secret_token = str_param(params, "secret_token").map(str::to_owned);
    if let Some(secret) = &secret_token {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret.is_empty() || secret.len() > 256 || !secret.chars().all(allowed) {
            return Err(ApiErr::bad_request(
                "Bad Request: secret token contains unallowed characters",
            ));
        }
    }
    let allowed_updates = match params.get("allowed_updates") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            Some(list.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
        }
        Some(_) => return Err(ApiErr::bad_request("Bad Request: can't parse allowed updates")),
    };
    if let Some(list) = &allowed_updates {
        db.allowed_updates = (!list.is_empty()).then(|| list.clone());
    }
    db.webhook = Some(Webhook { url: url.to_owned(), secret_token, allowed_updates });
    Ok(json!(true))
}

/// Posts queued updates, oldest first, to the webhook while one is set, as
/// Telegram does; an update leaves the queue when the bot answers 2xx, and
/// is posted again after a pause otherwise.
async fn post_to_webhook(shared: Arc<Shared>) {
    let client = reqwest::Client::new();
    loop {
        let notified = shared.updates_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = {
            let db = shared.lock();
            match (&db.webhook, db.pending.front()) {
                (Some(hook), Some(update)) => {
                    let url = match db.balanced.len() {
                        0 => hook.url.clone(),
                        n => db.balanced[db.balanced_next % n].clone(),
                    };
                    Some((url, hook.secret_token.clone(), update.clone()))
                }
                _ => None,
            }
        };
        let Some((url, secret, update)) = next else {
            notified.await;
            continue;
        };
        let update_id = update["update_id"].as_i64().unwrap_or_default();
        let mut request = client.post(&url).json(&update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let status = request.send().await.ok().map(|response| response.status().as_u16());
        let delivered = status.is_some_and(|code| (200..300).contains(&code));
        {
            let mut db = shared.lock();
            db.webhook_posts.push(WebhookPost { update_id, status });
            db.balanced_next = db.balanced_next.wrapping_add(1);
            if delivered {
                db.pending.retain(|u| u["update_id"].as_i64() != Some(update_id));
            }
        }
        shared.activity.notify_waiters();
        if !delivered {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Long polling. A getUpdates arriving while another one waits terminates
/// the earlier one with 409, as Telegram does when two instances poll.
/// While a webhook is set, it is refused with 409 too.
async fn get_updates(shared: &Shared, params: &Value) -> ApiResult {
    let parsed = poll_params(params);
    let (PollParams { offset, limit, timeout, allowed }, call, generation) = {
        let mut db = shared.lock();
        let conflict = if db.webhook.is_some() {
            Some(
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        } else if db.polling_conflict {
            Some(
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            )
        } else {
            None
        };
        if let Some(description) = conflict {
            shared.record_call(&mut db, "getupdates", params, true);
            return Err(ApiErr::new(409, description));
        }
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
