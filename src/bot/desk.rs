//! The support desk's side of the outbox: each ticket's relay job brings
//! the staff group (its forum topic, its card, the user's messages) or the
//! user's chat (staff replies, notices) up to date, in order, recording
//! each step so that a retry resumes where the last attempt stopped; and
//! the reminders for tickets nobody took.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Datelike, Utc};
use teloxide::{
    RequestError,
    prelude::*,
    types::{
        ChatFullInfoKind, ChatFullInfoPublic, ChatFullInfoPublicKind, InlineKeyboardMarkup,
        MessageId, ReplyParameters, ThreadId,
    },
};

use super::{BotT, escape, keyboards, show_time, text::split_for_telegram};
use crate::{
    domain::{
        Account, Direction, Lang, Notice, TelegramUserId, Ticket, TicketId, TicketStatus,
        ticket::CARD_DESCRIPTION_CHARS,
    },
    i18n::{arg, t, t_args},
    recovery::{LockStatus, Recovery, SupportPolicy, TwoFactorState},
    store::{StoreError, TicketItem},
};

/// The staff group and how staff work in it; cheap to clone, shared by the
/// handlers and the outbox worker.
#[derive(Debug, Clone)]
pub struct Desk {
    /// The group's id (0: no group configured); it changes when Telegram
    /// upgrades the group to a supergroup.
    chat: Arc<AtomicI64>,
    /// Whether the group is a forum, as last asked (chat id, answer).
    forum: Arc<Mutex<Option<(i64, bool)>>>,
    pub language: Lang,
    pub admin_ids: Vec<TelegramUserId>,
    pub policy: SupportPolicy,
    /// Whom users are told to contact when there is no staff group.
    pub contact: Option<String>,
    pub default_time_zone: chrono_tz::Tz,
}

impl Desk {
    pub fn new(
        chat: Option<i64>,
        language: Lang,
        admin_ids: Vec<TelegramUserId>,
        policy: SupportPolicy,
        contact: Option<String>,
        default_time_zone: chrono_tz::Tz,
    ) -> Self {
        Self {
            chat: Arc::new(AtomicI64::new(chat.unwrap_or(0))),
            forum: Arc::default(),
            language,
            admin_ids,
            policy,
            contact,
            default_time_zone,
        }
    }

    /// The staff group, if one is configured.
    pub fn chat(&self) -> Option<i64> {
        Some(self.chat.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// Whether `chat` is the staff group.
    pub fn is_staff_chat(&self, chat: ChatId) -> bool {
        self.chat() == Some(chat.0)
    }

    /// Telegram upgraded the group to a supergroup: follow it, and move the
    /// tickets there (their cards are posted anew).
    pub async fn moved(&self, recovery: &Recovery, from: i64, to: i64) -> Result<(), StoreError> {
        if self.chat.compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                from,
                to,
                "the staff group became a supergroup; following it \
                (set SUPPORT_CHAT_ID={to})"
            );
        }
        recovery.store.support_chat_moved(from, to, recovery.now()).await?;
        recovery.wake_outbox();
        Ok(())
    }

    /// Takes the id learned earlier (after an upgrade) over the configured one.
    pub async fn load_learned(&self, recovery: &Recovery) -> Result<(), StoreError> {
        if let (Some(configured), Some(learned)) =
            (self.chat(), recovery.store.learned_support_chat().await?)
            && learned != configured
        {
            tracing::info!(configured, learned, "using the staff group's newer id");
            self.chat.store(learned, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn is_forum(&self, bot: &BotT, chat: i64) -> Result<bool, RequestError> {
        if let Some((known, forum)) = *self.forum_cache()
            && known == chat
        {
            return Ok(forum);
        }
        let info = bot.get_chat(ChatId(chat)).await?;
        let forum = match &info.kind {
            ChatFullInfoKind::Public(public) => match public.as_ref() {
                ChatFullInfoPublic { kind: ChatFullInfoPublicKind::Supergroup(group), .. } => {
                    group.is_forum
                }
                _ => false,
            },
            _ => false,
        };
        *self.forum_cache() = Some((chat, forum));
        Ok(forum)
    }

    fn forum_cache(&self) -> std::sync::MutexGuard<'_, Option<(i64, bool)>> {
        self.forum.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets whether the group is a forum (a topic call said otherwise).
    fn forget_forum(&self) {
        *self.forum_cache() = None;
    }

    /// Topics cannot be used in `chat` (not a forum, or no right to manage
    /// them): tickets go on without topics until the process restarts.
    fn topics_refused(&self, chat: i64) {
        *self.forum_cache() = Some((chat, false));
    }
}

/// Why a relay step did not finish.
#[derive(Debug)]
pub enum RelayError {
    Telegram(RequestError),
    Store(StoreError),
}

impl From<RequestError> for RelayError {
    fn from(error: RequestError) -> Self {
        RelayError::Telegram(error)
    }
}

impl From<StoreError> for RelayError {
    fn from(error: StoreError) -> Self {
        RelayError::Store(error)
    }
}

impl From<crate::recovery::RecoveryError> for RelayError {
    fn from(error: crate::recovery::RecoveryError) -> Self {
        match error {
            crate::recovery::RecoveryError::Store(error) => RelayError::Store(error),
            other => RelayError::Store(StoreError::Protocol(other.to_string())),
        }
    }
}

/// Telegram's descriptions the desk acts on, matched in one place.
pub(crate) mod says {
    /// The ticket's forum topic was deleted.
    pub const TOPIC_GONE: &[&str] = &["Bad Request: message thread not found"];
    /// The ticket's forum topic was closed by hand.
    pub const TOPIC_CLOSED: &[&str] = &["Bad Request: TOPIC_CLOSED"];
    /// Nothing to change (reopening an open topic).
    pub const NOT_MODIFIED: &[&str] =
        &["Bad Request: TOPIC_NOT_MODIFIED", "Bad Request: message is not modified"];
    /// The group is not (or no longer) a forum.
    pub const NOT_A_FORUM: &[&str] = &["Bad Request: the chat is not a forum"];
    /// The card (or another message to edit) is gone.
    pub const MESSAGE_GONE: &[&str] = &["Bad Request: message to edit not found"];
    /// The message to copy was deleted meanwhile.
    pub const SOURCE_GONE: &[&str] =
        &["Bad Request: message to copy not found", "Bad Request: message can't be copied"];
    /// A definite refusal of a topic call (not a forum, no right).
    pub const REFUSED: &[&str] = &["Bad Request"];
    /// The user blocked the bot (or deleted their account).
    pub const USER_GONE: &[&str] =
        &["Forbidden: bot was blocked by the user", "Forbidden: user is deactivated"];
}

/// Whether a failed request says one of `prefixes` (Telegram tells why only
/// in an error's description).
pub(crate) fn says(error: &RequestError, prefixes: &[&str]) -> bool {
    super::outbox::says(error, prefixes)
}

/// Where a ticket's messages go in the group: its topic in a forum, else
/// as replies to its card.
#[derive(Debug, Clone, Copy)]
struct Place {
    chat: ChatId,
    thread: Option<ThreadId>,
    reply_to: Option<MessageId>,
}

/// What a relay job does next after a failed step.
enum Recover {
    /// The step can be tried again at once (topic recreated, group followed).
    Again,
    Fail(RelayError),
}

/// Steps a job may recover from before it gives the attempt up.
const MAX_RECOVERIES: usize = 3;

/// Runs one ticket's relay job.
pub async fn relay(
    bot: &BotT,
    desk: &Desk,
    recovery: &Recovery,
    ticket_id: TicketId,
    to_user: bool,
) -> Result<(), RelayError> {
    if to_user {
        return relay_to_user(bot, recovery, ticket_id).await;
    }
    let mut recoveries = 0;
    loop {
        let error = match relay_to_group(bot, desk, recovery, ticket_id).await {
            Ok(()) => return Ok(()),
            Err(RelayError::Telegram(error)) => error,
            Err(other) => return Err(other),
        };
        recoveries += 1;
        if recoveries > MAX_RECOVERIES {
            return Err(error.into());
        }
        match recover(bot, desk, recovery, ticket_id, error).await? {
            Recover::Again => continue,
            Recover::Fail(error) => return Err(error),
        }
    }
}

/// Deals with what Telegram said about the group: a deleted topic is
/// recreated (and the card posted in it again), a closed one reopened, a
/// group upgraded to a supergroup followed.
async fn recover(
    bot: &BotT,
    desk: &Desk,
    recovery: &Recovery,
    ticket_id: TicketId,
    error: RequestError,
) -> Result<Recover, RelayError> {
    if let RequestError::MigrateToChatId(new) = &error
        && let Some(old) = desk.chat()
    {
        desk.moved(recovery, old, new.0).await?;
        return Ok(Recover::Again);
    }
    let Some(ticket) = recovery.store.ticket(ticket_id).await? else {
        return Ok(Recover::Fail(error.into()));
    };
    let (Some(chat), Some(topic)) = (ticket.group_chat_id, ticket.topic_id) else {
        if says(&error, says::NOT_A_FORUM) {
            desk.forget_forum();
            return Ok(Recover::Again);
        }
        return Ok(Recover::Fail(error.into()));
    };
    if says(&error, says::TOPIC_GONE) {
        tracing::warn!(ticket = ticket.label(), "the ticket's topic is gone; creating it again");
        recovery.store.set_topic(ticket_id, chat, None).await?;
        recovery.store.card_lost(ticket_id).await?;
        return Ok(Recover::Again);
    }
    if says(&error, says::TOPIC_CLOSED) {
        tracing::info!(ticket = ticket.label(), "the ticket's topic was closed; reopening it");
        match bot.reopen_forum_topic(ChatId(chat), ThreadId(MessageId(topic as i32))).await {
            Ok(_) => return Ok(Recover::Again),
            Err(error) if says(&error, says::NOT_MODIFIED) => return Ok(Recover::Again),
            // Not allowed to reopen it: the ticket goes on outside a topic
            // (a new one cannot be made without the same right).
            Err(error) => {
                tracing::warn!(%error, ticket = ticket.label(),
                    "the ticket's topic cannot be reopened; going on without one");
                recovery.store.set_topic(ticket_id, chat, None).await?;
                recovery.store.card_lost(ticket_id).await?;
                desk.topics_refused(chat);
                return Ok(Recover::Again);
            }
        }
    }
    Ok(Recover::Fail(error.into()))
}

/// The group side: topic, card, then the pending items in order.
async fn relay_to_group(
    bot: &BotT,
    desk: &Desk,
    recovery: &Recovery,
    ticket_id: TicketId,
) -> Result<(), RelayError> {
    let Some(chat) = desk.chat() else {
        tracing::warn!(%ticket_id, "no staff group (SUPPORT_CHAT_ID); ticket not posted");
        return Ok(());
    };
    let Some(mut ticket) = recovery.store.ticket(ticket_id).await? else { return Ok(()) };
    if ticket.status == TicketStatus::Draft {
        return Ok(());
    }
    let lang = desk.language;
    if ticket.topic_id.is_none()
        && ticket.card_message_id.is_none()
        && desk.is_forum(bot, chat).await?
    {
        let name = topic_name(&ticket, lang);
        match bot.create_forum_topic(ChatId(chat), name).await {
            Ok(topic) => {
                let id = i64::from(topic.thread_id.0.0);
                recovery.store.set_topic(ticket_id, chat, Some(id)).await?;
                ticket.topic_id = Some(id);
                ticket.group_chat_id = Some(chat);
            }
            // Not a forum after all, or the bot may not create topics: the
            // card goes to the group's General topic; nothing waits for a
            // right an administrator may never give.
            Err(error) if says(&error, says::REFUSED) => {
                tracing::warn!(%error, ticket = ticket.label(),
                    "cannot create the ticket's topic (make the bot an admin who may manage \
                     topics); posting in General");
                desk.topics_refused(chat);
            }
            Err(error) => return Err(error.into()),
        }
    }
    let place = |ticket: &Ticket| Place {
        chat: ChatId(chat),
        thread: ticket.topic_id.map(|id| ThreadId(MessageId(id as i32))),
        reply_to: ticket
            .card_message_id
            .filter(|_| ticket.topic_id.is_none())
            .map(|id| MessageId(id as i32)),
    };
    let card_here = ticket.group_chat_id == Some(chat) && ticket.card_message_id.is_some();
    if !card_here || ticket.card_version > ticket.card_shown_version {
        let version = ticket.card_version;
        let (text, facts) = card(desk, recovery, &ticket).await?;
        let markup = keyboards::ticket_card(lang, &ticket, facts.two_factor_on);
        let posted = match ticket.card_message_id.filter(|_| card_here) {
            Some(card) => {
                let edited = bot
                    .edit_message_text(ChatId(chat), MessageId(card as i32), text.clone())
                    .reply_markup(markup.clone())
                    .await;
                match edited {
                    Ok(_) => None,
                    Err(error) if says(&error, says::NOT_MODIFIED) => None,
                    // Deleted by hand: post it again.
                    Err(error) if says(&error, says::MESSAGE_GONE) => Some(()),
                    Err(error) => return Err(error.into()),
                }
            }
            None => Some(()),
        };
        if posted.is_some() {
            let mut request = bot.send_message(ChatId(chat), text).reply_markup(markup);
            if let Some(thread) = place(&ticket).thread {
                request = request.message_thread_id(thread);
            }
            let card = request.await?;
            let id = i64::from(card.id.0);
            recovery.store.card_posted(ticket_id, chat, id, version, recovery.now()).await?;
            ticket.card_message_id = Some(id);
            ticket.group_chat_id = Some(chat);
        } else {
            recovery.store.card_shown(ticket_id, version).await?;
        }
    }
    let place = place(&ticket);
    for item in recovery.store.pending_items(ticket_id, Direction::ToGroup).await? {
        let header = t_args(
            lang,
            if item.kind == "edit" { "desk-user-edited" } else { "desk-user-wrote" },
            &[("ticket", arg(ticket.label())), ("name", arg(escape(&ticket.user_name)))],
        );
        let sent = match item.kind.as_str() {
            "text" | "edit" => {
                send_text(bot, place, &header, item.body.as_deref().unwrap_or_default()).await
            }
            "copy" | "copy_plain" => {
                let caption = (item.kind == "copy").then(|| {
                    let original = item.body.as_deref().map(escape).unwrap_or_default();
                    format!("{header}\n{original}")
                });
                copy(bot, place, &item, caption).await
            }
            "notice" => {
                let text = render_group_notice(lang, &ticket, &item);
                send_text_html(bot, place, text).await
            }
            other => {
                tracing::error!(item = item.id, kind = other, "ticket item of unknown kind");
                recovery.store.item_failed(item.id, "unknown kind", recovery.now()).await?;
                continue;
            }
        };
        match sent {
            Ok(ids) => {
                let copies: Vec<(i64, i64)> = ids.iter().map(|id| (chat, *id)).collect();
                let first = ids.first().copied();
                recovery
                    .store
                    .item_delivered(ticket_id, item.id, &copies, first, recovery.now())
                    .await?;
            }
            Err(error) if says(&error, says::SOURCE_GONE) => {
                tracing::info!(item = item.id, "the user's message is gone; not relayed");
                recovery.store.item_failed(item.id, &error.to_string(), recovery.now()).await?;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// The user side: staff replies and notices, in order; an album's parts
/// are copied together.
async fn relay_to_user(
    bot: &BotT,
    recovery: &Recovery,
    ticket_id: TicketId,
) -> Result<(), RelayError> {
    let Some(ticket) = recovery.store.ticket(ticket_id).await? else { return Ok(()) };
    if ticket.user.0 <= 0 {
        // Reported by e-mail: nobody in Telegram to answer.
        for item in recovery.store.pending_items(ticket_id, Direction::ToUser).await? {
            recovery.store.item_failed(item.id, "no Telegram user", recovery.now()).await?;
        }
        return Ok(());
    }
    let chat = ChatId(ticket.user.0);
    let lang = ticket.lang;
    let place = Place { chat, thread: None, reply_to: None };
    let signature = t(lang, "desk-signature");
    let items = recovery.store.pending_items(ticket_id, Direction::ToUser).await?;
    let mut index = 0;
    while index < items.len() {
        let item = &items[index];
        // An album: this item and the following ones of the same group.
        let album: Vec<&TicketItem> = match &item.media_group_id {
            Some(group) => items[index..]
                .iter()
                .take_while(|other| other.media_group_id.as_ref() == Some(group))
                .collect(),
            None => vec![item],
        };
        let sent = if album.len() > 1 {
            let from = item.source_chat_id.unwrap_or_default();
            let ids: Vec<MessageId> = album
                .iter()
                .filter_map(|part| part.source_message_id.map(|id| MessageId(id as i32)))
                .collect();
            bot.copy_messages(chat, ChatId(from), ids)
                .await
                .map(|copied| copied.iter().map(|id| i64::from(id.0)).collect::<Vec<_>>())
        } else {
            match item.kind.as_str() {
                "text" | "edit" => {
                    send_text(bot, place, &signature, item.body.as_deref().unwrap_or_default())
                        .await
                }
                "copy" | "copy_plain" => {
                    let caption = (item.kind == "copy").then(|| {
                        let original = item.body.as_deref().map(escape).unwrap_or_default();
                        format!("{signature}\n{original}")
                    });
                    copy(bot, place, item, caption).await
                }
                "notice" => {
                    let (text, markup) = render_user_notice(lang, &ticket, item);
                    let mut request = bot.send_message(chat, text);
                    if let Some(markup) = markup {
                        request = request.reply_markup(markup);
                    }
                    request.await.map(|message| vec![i64::from(message.id.0)])
                }
                other => {
                    tracing::error!(item = item.id, kind = other, "ticket item of unknown kind");
                    recovery.store.item_failed(item.id, "unknown kind", recovery.now()).await?;
                    index += 1;
                    continue;
                }
            }
        };
        match sent {
            Ok(ids) => {
                for part in &album {
                    recovery
                        .store
                        .item_delivered(
                            ticket_id,
                            part.id,
                            &[],
                            ids.first().copied(),
                            recovery.now(),
                        )
                        .await?;
                }
            }
            Err(error) if says(&error, says::USER_GONE) => {
                // No retry loop: staff are told once, the rest is kept as failed.
                tracing::info!(ticket = ticket.label(), "the user blocked the bot; ticket marked");
                for rest in &items[index..] {
                    recovery.store.item_failed(rest.id, &error.to_string(), recovery.now()).await?;
                }
                recovery.user_unreachable(&ticket).await?;
                return Ok(());
            }
            Err(error) if says(&error, says::SOURCE_GONE) => {
                for part in &album {
                    recovery.store.item_failed(part.id, &error.to_string(), recovery.now()).await?;
                }
            }
            Err(error) => return Err(error.into()),
        }
        index += album.len();
    }
    Ok(())
}

/// A text with its header, split to Telegram's limit; the ids sent.
async fn send_text(
    bot: &BotT,
    place: Place,
    header: &str,
    body: &str,
) -> Result<Vec<i64>, RequestError> {
    // The header is HTML already; its visible length is close to its
    // source's, and a margin keeps the first piece inside the limit.
    let room = super::text::MAX_TEXT.saturating_sub(super::text::utf16_len(header) + 16);
    let mut ids = Vec::new();
    for (n, piece) in split_for_telegram(body, room).into_iter().enumerate() {
        let text = if n == 0 { format!("{header}\n{}", escape(&piece)) } else { escape(&piece) };
        ids.extend(send_text_html(bot, place, text).await?);
    }
    Ok(ids)
}

async fn send_text_html(bot: &BotT, place: Place, text: String) -> Result<Vec<i64>, RequestError> {
    let mut request = bot.send_message(place.chat, text);
    if let Some(thread) = place.thread {
        request = request.message_thread_id(thread);
    }
    if let Some(reply_to) = place.reply_to {
        request =
            request.reply_parameters(ReplyParameters::new(reply_to).allow_sending_without_reply());
    }
    Ok(vec![i64::from(request.await?.id.0)])
}

/// Copies a message; a caption too long for Telegram is sent as a text
/// after the copy instead of being cut.
async fn copy(
    bot: &BotT,
    place: Place,
    item: &TicketItem,
    caption: Option<String>,
) -> Result<Vec<i64>, RequestError> {
    let from = ChatId(item.source_chat_id.unwrap_or_default());
    let message = MessageId(item.source_message_id.unwrap_or_default() as i32);
    let mut request = bot.copy_message(place.chat, from, message);
    if let Some(thread) = place.thread {
        request = request.message_thread_id(thread);
    }
    if let Some(reply_to) = place.reply_to {
        request =
            request.reply_parameters(ReplyParameters::new(reply_to).allow_sending_without_reply());
    }
    let mut rest = None;
    if let Some(caption) = caption {
        if super::text::utf16_len(&caption) <= super::text::MAX_CAPTION {
            request = request.caption(caption);
        } else {
            let header = caption.lines().next().unwrap_or_default().to_owned();
            request = request.caption(header);
            rest = item.body.clone();
        }
    }
    let mut ids = vec![i64::from(request.await?.0)];
    if let Some(rest) = rest {
        ids.extend(send_text(bot, place, "", &rest).await?);
    }
    Ok(ids)
}

fn topic_name(ticket: &Ticket, lang: Lang) -> String {
    let category = t(lang, &format!("desk-category-{}", ticket.category.as_str()));
    let who = reporter(ticket, lang);
    format!("{} · {who} · {category}", ticket.label()).chars().take(128).collect()
}

/// Who opened the ticket, as staff read it: the Telegram user's name, or
/// the account's address for a mailed "This wasn't me" (no Telegram user).
pub(crate) fn reporter(ticket: &Ticket, lang: Lang) -> String {
    if ticket.user.0 < 0 { t(lang, "desk-card-user-email") } else { ticket.user_name.clone() }
}

/// The card: who, what was verified beside what the user claims, and the
/// ticket's state. HTML; every value from a user is escaped.
pub async fn render_card(
    desk: &Desk,
    recovery: &Recovery,
    ticket: &Ticket,
) -> Result<String, RelayError> {
    Ok(card(desk, recovery, ticket).await?.0)
}

/// What the card found out that its buttons depend on, read once with
/// its text so that the two agree.
#[derive(Debug, Clone, Copy, Default)]
struct CardFacts {
    /// The verified account has 2FA on: "Reset 2FA" is offered.
    two_factor_on: bool,
}

async fn card(
    desk: &Desk,
    recovery: &Recovery,
    ticket: &Ticket,
) -> Result<(String, CardFacts), RelayError> {
    let mut facts = CardFacts::default();
    let lang = desk.language;
    let now = recovery.now();
    let zone = desk.default_time_zone;
    let mut lines = Vec::new();
    let category = t(lang, &format!("desk-category-{}", ticket.category.as_str()));
    lines.push(t_args(
        lang,
        if ticket.urgent { "desk-card-title-urgent" } else { "desk-card-title" },
        &[("ticket", arg(ticket.label())), ("category", arg(category))],
    ));
    lines.push(status_line(lang, ticket, zone, now));
    // Who did what last, so the card answers "who unlocked it?".
    let events = recovery.store.ticket_events(ticket.id).await?;
    if let Some(event) = events.iter().rev().find(|event| event.actor_name.is_some()) {
        let action = t(lang, &format!("desk-action-{}", event.event));
        lines.push(t_args(
            lang,
            "desk-card-last-action",
            &[
                ("action", arg(action)),
                ("name", arg(escape(event.actor_name.as_deref().unwrap_or_default()))),
                ("time", arg(show_time(lang, event.at, zone, now))),
            ],
        ));
    }
    // A ticket opened by a mailed "This wasn't me" has no Telegram user.
    let user_link = if ticket.user.0 < 0 {
        t(lang, "desk-card-user-email")
    } else {
        format!("<a href=\"tg://user?id={}\">{}</a>", ticket.user.0, escape(&ticket.user_name))
    };
    let username =
        ticket.username.as_deref().map(|u| format!(" @{}", escape(u))).unwrap_or_default();
    lines.push(t_args(
        lang,
        "desk-card-user",
        &[
            ("user", arg(format!("{user_link}{username}"))),
            ("id", arg(ticket.user.0.to_string())),
            ("language", arg(t(ticket.lang, "language-name"))),
        ],
    ));
    lines.push(String::new());
    lines.push(t(lang, "desk-card-verified"));
    match &ticket.verified_phone {
        Some(phone) => {
            lines.push(t_args(lang, "desk-card-phone", &[("phone", arg(escape(phone.as_str())))]))
        }
        None => lines.push(t(lang, "desk-card-phone-none")),
    }
    let account = recovery.ticket_account(ticket).await?;
    match &account {
        Some(account) => {
            lines.push(account_line(lang, account));
            let diagnosis = recovery.diagnose_lock(account).await?;
            lines.push(lock_line(lang, &diagnosis.status, zone, now));
            if let Some(ended) = diagnosis.licence_ended {
                let date = super::subscription::licence_date(lang, ended);
                lines.push(t_args(lang, "desk-card-licence-ended", &[("date", arg(date))]));
            } else {
                lines.push(t(lang, "desk-card-licence-ok"));
            }
            let two_factor = recovery.two_factor_state(account.id).await?;
            facts.two_factor_on = two_factor.is_on();
            lines.push(two_factor_line(lang, &two_factor, zone));
            if let Some(since) = account.recovery_blocked_at {
                lines.push(t_args(
                    lang,
                    "desk-card-recovery-blocked",
                    &[("since", arg(show_time(lang, since, zone, now)))],
                ));
            }
        }
        None => lines.push(t(lang, "desk-card-account-none")),
    }
    lines.push(String::new());
    lines.push(t(lang, "desk-card-claimed"));
    let claimed_account = recovery.claimed_account(ticket).await?;
    let not_given = t(lang, "desk-card-not-given");
    let login = match (&ticket.claimed_login, &claimed_account) {
        (Some(login), Some(found)) => t_args(
            lang,
            "desk-card-claimed-login-found",
            &[("login", arg(escape(login))), ("account", arg(escape(found.login.as_str())))],
        ),
        (Some(login), None) => {
            t_args(lang, "desk-card-claimed-login-unknown", &[("login", arg(escape(login)))])
        }
        (None, _) => {
            t_args(lang, "desk-card-claimed-login-unknown", &[("login", arg(not_given.clone()))])
        }
    };
    lines.push(login);
    lines.push(t_args(
        lang,
        "desk-card-claimed-company",
        &[(
            "company",
            arg(ticket.claimed_company.as_deref().map(escape).unwrap_or(not_given.clone())),
        )],
    ));
    let real_sign_in = account
        .as_ref()
        .or(claimed_account.as_ref())
        .and_then(|account| account.last_sign_in_at)
        .map(|at| show_time(lang, at, zone, now))
        .unwrap_or_else(|| t(lang, "desk-card-unknown"));
    let claimed_date = ticket
        .claimed_sign_in
        .map(|date| date.format("%d.%m.%Y").to_string())
        .unwrap_or(not_given.clone());
    lines.push(t_args(
        lang,
        "desk-card-claimed-sign-in",
        &[("claimed", arg(claimed_date)), ("real", arg(real_sign_in))],
    ));
    let description = ticket.description.as_deref().unwrap_or_default();
    let shown: String = description.chars().take(CARD_DESCRIPTION_CHARS).collect();
    let mut description_text = escape(&shown);
    if shown.len() < description.len() {
        description_text.push_str(&t(lang, "desk-card-description-continued"));
    }
    lines.push(t_args(lang, "desk-card-description", &[("text", arg(description_text))]));
    Ok((lines.join("\n"), facts))
}

/// "2FA: on since 25 November 2026, 10 backup codes left", or off.
fn two_factor_line(lang: Lang, state: &TwoFactorState, zone: chrono_tz::Tz) -> String {
    match state.enabled_at {
        Some(since) => t_args(
            lang,
            "desk-card-two-factor-on",
            &[
                ("since", arg(card_date(lang, since, zone))),
                ("count", state.backup_codes_left.into()),
            ],
        ),
        None => t(lang, "desk-card-two-factor-off"),
    }
}

/// A day as staff read it, in the desk's zone: "25 November 2026".
fn card_date(lang: Lang, at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&zone);
    let month = t(lang, &format!("time-month-{}", local.month()));
    format!("{} {month} {}", local.day(), local.year())
}

fn status_line(lang: Lang, ticket: &Ticket, zone: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    let mut line = match ticket.status {
        TicketStatus::Draft | TicketStatus::Open => match &ticket.taken_by_name {
            Some(name) => t_args(lang, "desk-status-taken", &[("name", arg(escape(name)))]),
            None => t(lang, "desk-status-open"),
        },
        TicketStatus::Closed => t_args(
            lang,
            "desk-status-closed",
            &[("name", arg(escape(ticket.closed_by_name.as_deref().unwrap_or("—"))))],
        ),
        TicketStatus::Rejected => t_args(
            lang,
            "desk-status-rejected",
            &[
                ("name", arg(escape(ticket.closed_by_name.as_deref().unwrap_or("—")))),
                ("reason", arg(escape(ticket.close_reason.as_deref().unwrap_or_default()))),
            ],
        ),
    };
    if let Some(rating) = ticket.rating {
        line.push_str(&t_args(lang, "desk-status-rating", &[("rating", i64::from(rating).into())]));
    }
    if ticket.user_unreachable_at.is_some() {
        line.push_str(&t(lang, "desk-status-unreachable"));
    }
    if let Some(at) = ticket.submitted_at {
        line.push_str(&t_args(
            lang,
            "desk-status-since",
            &[("time", arg(show_time(lang, at, zone, now)))],
        ));
    }
    line
}

fn account_line(lang: Lang, account: &Account) -> String {
    t_args(
        lang,
        "desk-card-account",
        &[
            ("login", arg(escape(account.login.as_str()))),
            ("name", arg(escape(&account.full_name))),
            ("company", arg(escape(&account.company))),
            ("email", arg(escape(account.email.as_str()))),
        ],
    )
}

fn lock_line(lang: Lang, status: &LockStatus, zone: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    match status {
        LockStatus::Temporary { failures, until, .. } => t_args(
            lang,
            "desk-card-lock-temporary",
            &[
                ("failures", i64::from(*failures).into()),
                ("until", arg(show_time(lang, *until, zone, now))),
            ],
        ),
        LockStatus::Permanent { since } => t_args(
            lang,
            "desk-card-lock-permanent",
            &[("since", arg(show_time(lang, *since, zone, now)))],
        ),
        LockStatus::Blocked { since } => t_args(
            lang,
            "desk-card-lock-blocked",
            &[("since", arg(show_time(lang, *since, zone, now)))],
        ),
        LockStatus::NotLocked => t(lang, "desk-card-lock-none"),
    }
}

fn render_group_notice(lang: Lang, ticket: &Ticket, item: &TicketItem) -> String {
    let notice: Option<Notice> =
        item.body.as_deref().and_then(|body| serde_json::from_str(body).ok());
    let label = arg(ticket.label());
    match notice {
        Some(Notice::AskedAgain { category }) => t_args(
            lang,
            "desk-notice-asked-again",
            &[
                ("ticket", label),
                ("category", arg(t(lang, &format!("desk-category-{}", category.as_str())))),
            ],
        ),
        Some(Notice::UserClosed) => t_args(lang, "desk-notice-user-closed", &[("ticket", label)]),
        Some(Notice::UserReopened) => {
            t_args(lang, "desk-notice-user-reopened", &[("ticket", label)])
        }
        Some(Notice::Rated { rating }) => t_args(
            lang,
            "desk-notice-rated",
            &[("ticket", label), ("rating", i64::from(rating).into())],
        ),
        Some(Notice::RatingComment { comment }) => t_args(
            lang,
            "desk-notice-rating-comment",
            &[("ticket", label), ("text", arg(escape(&comment)))],
        ),
        Some(Notice::UserUnreachable) => {
            t_args(lang, "desk-notice-user-unreachable", &[("ticket", label)])
        }
        Some(Notice::LinkSent { by }) => {
            t_args(lang, "desk-notice-link-sent", &[("ticket", label), ("name", arg(escape(&by)))])
        }
        _ => t_args(lang, "desk-notice-unknown", &[("ticket", label)]),
    }
}

fn render_user_notice(
    lang: Lang,
    ticket: &Ticket,
    item: &TicketItem,
) -> (String, Option<InlineKeyboardMarkup>) {
    let notice: Option<Notice> =
        item.body.as_deref().and_then(|body| serde_json::from_str(body).ok());
    let label = arg(ticket.label());
    match notice {
        Some(Notice::Closed) => (
            t_args(lang, "ticket-closed-by-staff", &[("ticket", label)]),
            Some(keyboards::rate_ticket(lang, ticket.id)),
        ),
        Some(Notice::Rejected { reason }) => (
            t_args(lang, "ticket-rejected", &[("ticket", label), ("reason", arg(escape(&reason)))]),
            Some(keyboards::back_to_menu(lang)),
        ),
        Some(Notice::Unlocked) => (
            t_args(lang, "ticket-unlocked", &[("ticket", label)]),
            Some(keyboards::back_to_menu(lang)),
        ),
        Some(Notice::RecoveryUnblocked) => (
            t_args(lang, "ticket-recovery-unblocked", &[("ticket", label)]),
            Some(keyboards::back_to_menu(lang)),
        ),
        Some(Notice::TwoFactorReset) => (
            t_args(lang, "ticket-two-factor-reset", &[("ticket", label)]),
            Some(keyboards::back_to_menu(lang)),
        ),
        _ => (t_args(lang, "ticket-update", &[("ticket", label)]), None),
    }
}

/// An untaken ticket's reminder in its place in the group; nothing if it
/// was taken or closed meanwhile.
pub async fn remind(
    bot: &BotT,
    desk: &Desk,
    recovery: &Recovery,
    ticket_id: TicketId,
    level: u8,
) -> Result<bool, RelayError> {
    let Some(ticket) = recovery.store.ticket(ticket_id).await? else { return Ok(false) };
    if ticket.status != TicketStatus::Open || ticket.taken_by.is_some() {
        return Ok(false);
    }
    let Some(chat) = ticket.group_chat_id.or(desk.chat()) else { return Ok(false) };
    let lang = desk.language;
    let waited = ticket
        .submitted_at
        .map(|at| (recovery.now() - at).num_minutes().max(0))
        .unwrap_or_default();
    let mut text = t_args(
        lang,
        "desk-reminder",
        &[("ticket", arg(ticket.label())), ("minutes", waited.into())],
    );
    if level >= 2 {
        let mentions = admin_mentions(bot, desk, chat).await;
        text.push('\n');
        text.push_str(&t_args(lang, "desk-reminder-admins", &[("admins", arg(mentions))]));
    }
    let place = Place {
        chat: ChatId(chat),
        thread: ticket.topic_id.map(|id| ThreadId(MessageId(id as i32))),
        reply_to: ticket
            .card_message_id
            .filter(|_| ticket.topic_id.is_none())
            .map(|id| MessageId(id as i32)),
    };
    let ids = send_text_html(bot, place, text).await?;
    for id in ids {
        recovery
            .store
            .map_group_message(chat, id, ticket_id, "notice", None, recovery.now())
            .await?;
    }
    Ok(true)
}

/// Mentions of the staff admins: the configured ones, else the group's
/// human administrators.
async fn admin_mentions(bot: &BotT, desk: &Desk, chat: i64) -> String {
    let mention =
        |id: i64, name: &str| format!("<a href=\"tg://user?id={id}\">{}</a>", escape(name));
    if !desk.admin_ids.is_empty() {
        return desk
            .admin_ids
            .iter()
            .map(|id| mention(id.0, &id.0.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
    }
    match bot.get_chat_administrators(ChatId(chat)).await {
        Ok(admins) => admins
            .iter()
            .filter(|admin| !admin.user.is_bot)
            .map(|admin| mention(admin.user.id.0 as i64, &admin.user.first_name))
            .collect::<Vec<_>>()
            .join(", "),
        Err(error) => {
            tracing::warn!(%error, "cannot list the staff group's administrators");
            String::new()
        }
    }
}

/// Whether `user` may act in the staff group, and whether as an admin,
/// asked from Telegram at the moment of pressing.
pub async fn staff_rights(
    bot: &BotT,
    desk: &Desk,
    chat: i64,
    user: TelegramUserId,
) -> (bool, bool) {
    let configured_admin = desk.admin_ids.contains(&user);
    match bot.get_chat_member(ChatId(chat), UserId(user.0 as u64)).await {
        Ok(member) => {
            let present = member.is_present();
            (present, present && (configured_admin || member.is_privileged()))
        }
        Err(error) => {
            tracing::warn!(%error, %user, "cannot check a staff member's rights");
            (false, false)
        }
    }
}

/// Time shown to staff: in the desk's zone.
pub fn desk_time(desk: &Desk, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    show_time(desk.language, at, desk.default_time_zone, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(description: &str) -> RequestError {
        let json = format!(r#""{description}""#);
        RequestError::Api(serde_json::from_str(&json).expect("any text is an ApiError"))
    }

    /// The card's 2FA line: the day in the desk's zone, the codes left in
    /// each language's plural forms.
    #[test]
    fn the_two_factor_line_reads_naturally() {
        let since = "2026-11-25T22:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let on = |codes| TwoFactorState {
            enabled_at: Some(since),
            backup_codes_left: codes,
            enrolment_expires_at: None,
        };
        let utc = chrono_tz::Tz::UTC;
        let moscow = chrono_tz::Europe::Moscow;
        assert_eq!(
            two_factor_line(Lang::En, &on(10), utc),
            "2FA: on since 25 November 2026, 10 backup codes left"
        );
        assert_eq!(
            two_factor_line(Lang::En, &on(1), utc),
            "2FA: on since 25 November 2026, 1 backup code left"
        );
        assert_eq!(
            two_factor_line(Lang::Ru, &on(1), moscow),
            "2FA: включена с 26 ноября 2026, остался 1 резервный код"
        );
        assert_eq!(
            two_factor_line(Lang::Ru, &on(3), utc),
            "2FA: включена с 25 ноября 2026, осталось 3 резервных кода"
        );
        assert_eq!(
            two_factor_line(Lang::Ru, &on(10), utc),
            "2FA: включена с 25 ноября 2026, осталось 10 резервных кодов"
        );
        let off = TwoFactorState { enabled_at: None, ..on(0) };
        assert_eq!(two_factor_line(Lang::En, &off, utc), "2FA: off");
        assert_eq!(two_factor_line(Lang::Ru, &off, utc), "2FA: выключена");
    }

    /// Each description the desk acts on, as Telegram sends it.
    #[test]
    fn telegram_descriptions_are_read_in_one_place() {
        let cases: [(&str, &[&str]); 10] = [
            ("Bad Request: message thread not found", says::TOPIC_GONE),
            ("Bad Request: TOPIC_CLOSED", says::TOPIC_CLOSED),
            ("Bad Request: TOPIC_NOT_MODIFIED", says::NOT_MODIFIED),
            ("Bad Request: the chat is not a forum", says::NOT_A_FORUM),
            ("Bad Request: message to edit not found", says::MESSAGE_GONE),
            ("Bad Request: message to copy not found", says::SOURCE_GONE),
            ("Bad Request: message can't be copied", says::SOURCE_GONE),
            ("Forbidden: bot was blocked by the user", says::USER_GONE),
            ("Forbidden: user is deactivated", says::USER_GONE),
            ("Bad Request: not enough rights to create a topic", says::REFUSED),
        ];
        for (description, list) in cases {
            assert!(says(&api(description), list), "{description}");
        }
        assert!(!says(&api("Bad Request: chat not found"), says::TOPIC_GONE));
        assert!(!says(&api("Internal Server Error"), says::REFUSED));
        assert!(!says(&api("Forbidden: bot was kicked from the supergroup chat"), says::USER_GONE));
    }
}
