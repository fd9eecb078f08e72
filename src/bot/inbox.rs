//! Where updates come in. Both ways Telegram delivers them — long polling
//! (`getUpdates`, one process per bot token) and the webhook (Telegram
//! posts each update to our HTTP server; any number of replicas) — keep
//! each update in the database's inbox before Telegram is told it arrived
//! (the next `getUpdates` offset, or the webhook's 200). The dispatcher
//! reads the inbox as its update listener, claiming a whole chat's pending
//! updates at a time (so replicas keep each chat's order), and an update is
//! marked handled when its handler has finished. A process killed mid-way
//! leaves its updates unhandled: they are handled again after a restart, or
//! by another replica once its claims lapse. Counting updates here gives
//! `/metrics` its `updates_total`, and polling's own loop knows whether
//! another instance already polls with this token.
//!
//! The window a crash leaves: an update whose handler had sent its answer
//! but was not yet marked handled is handled again, so that one answer can
//! come twice (Telegram has no idempotency key for sends). Leases and
//! timestamps here use the system clock: they are about processes, not
//! about the rules.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::stream::BoxStream;
use teloxide::{
    ApiError, RequestError,
    dispatching::{DpHandlerDescription, UpdateHandler},
    prelude::*,
    stop::{StopFlag, StopToken, mk_stop_token},
    types::{AllowedUpdate, Update, UpdateKind},
    update_listeners::{AsUpdateStream, UpdateListener},
};
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use super::{BotT, Languages, storage::DialogueCache};
use crate::{
    config::Backend,
    domain::TelegramUserId,
    monitoring,
    store::{InboxUpdate, Store, StoreError},
};

/// The line `run` stops with when another process polls with the same
/// token.
pub const POLLING_CONFLICT: &str = "another process is already polling Telegram with this bot \
    token (getUpdates answered 409 Conflict: terminated by other getUpdates request); in \
    polling mode only one process may run: stop the other one, or run replicas with \
    BOT_MODE=webhook";

/// How long a `getUpdates` waits for updates on Telegram's side.
const POLL_TIMEOUT_SECS: u32 = 10;
/// Pauses after failed polls double up to this long.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(64);

/// How long a claim on a chat's updates lasts unless renewed: after a
/// crash, another process takes them over this long after.
const CLAIM_LEASE_SECS: i64 = 15;
/// How often a running process renews its claims.
const CLAIM_RENEWAL: Duration = Duration::from_secs(5);
/// Updates claimed at once.
const CLAIM_BATCH: i64 = 64;
/// Updates handed to the dispatcher and not yet finished, one per chat at
/// most. Telegram's pace (about 30 messages a second) is what a burst waits
/// for: more handlers at once would only wait for their turn to send, each
/// holding its update, its futures and teloxide's per-chat worker (1,000
/// users waiting took 135 MiB), and would contend for the database and the
/// CPU, which makes every handler slower. With 300 users arriving at once
/// on 2 cores, the handlers' p99 was 240 ms with 64 at once, 50–100 ms
/// with 32, and 39–49 ms with 16 (SQLite; PostgreSQL's 25 ms and the
/// burst's wall time did not change). Updates still waiting are not lost
/// time: they were going to wait for the CPU or for their turn anyway.
const MAX_IN_FLIGHT: usize = 16;
/// With nothing to do, how often the inbox is looked at anyway (updates a
/// replica's webhook kept for a chat this process may take).
const IDLE_LOOK: Duration = Duration::from_millis(500);

/// Updates kept by this process and not yet claimed, held at most.
const FRESH_MAX: usize = 1_024;
/// An update held that long was claimed by another replica.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// Takes updates in: cheap to clone, held by the poller or the webhook.
#[derive(Debug, Clone)]
pub struct Inbox {
    store: Store,
    /// Wakes this process's listener.
    wake: Arc<Notify>,
    fresh: Fresh,
}

/// The updates this process kept, as read from Telegram, until it claims
/// them: its listener need not read them back from their stored text.
/// Those another replica claims are forgotten after [`FRESH_FOR`].
#[derive(Debug, Clone, Default)]
struct Fresh(Arc<Mutex<HashMap<i64, (Update, Instant)>>>);

impl Fresh {
    fn hold(&self, updates: Vec<Update>) {
        let mut held = self.lock();
        if held.len() + updates.len() > FRESH_MAX {
            held.retain(|_, (_, since)| since.elapsed() < FRESH_FOR);
        }
        let now = Instant::now();
        for update in updates {
            if held.len() >= FRESH_MAX {
                // A burst: the rest are read back from the inbox.
                break;
            }
            held.insert(i64::from(update.id.0), (update, now));
        }
    }

    fn take(&self, update_id: i64) -> Option<Update> {
        self.lock().remove(&update_id).map(|(update, _)| update)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Update, Instant)>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The update could not be kept (the database is unreachable): Telegram
/// must not be told it arrived.
#[derive(Debug, thiserror::Error)]
#[error("updates not kept in the inbox: {0}")]
pub struct NotKept(#[from] StoreError);

impl Inbox {
    /// Keeps updates in the inbox; only then may Telegram be told they
    /// arrived. Updates teloxide cannot read are dropped with a log line.
    pub async fn keep(&self, updates: Vec<Update>) -> Result<(), NotKept> {
        let mut rows = Vec::with_capacity(updates.len());
        for update in &updates {
            monitoring::update_received(update);
            if matches!(update.kind, UpdateKind::Error(_)) {
                // Not logged whole: it may hold a user's phone.
                tracing::error!(
                    update_id = update.id.0,
                    "an update teloxide cannot read was dropped"
                );
                continue;
            }
            match serde_json::to_string(update) {
                Ok(payload) => rows.push(InboxUpdate {
                    update_id: i64::from(update.id.0),
                    chat_id: chat_of(update),
                    payload,
                }),
                Err(error) => {
                    tracing::error!(update_id = update.id.0, %error, "an update could not be stored; dropped");
                }
            }
        }
        self.store.keep_updates(&rows, chrono::Utc::now()).await?;
        self.fresh.hold(
            updates.into_iter().filter(|u| !matches!(u.kind, UpdateKind::Error(_))).collect(),
        );
        self.wake.notify_one();
        Ok(())
    }
}

/// The chat an update belongs to (the sender's for a button press without
/// its message), for per-chat order.
fn chat_of(update: &Update) -> Option<i64> {
    update.chat().map(|chat| chat.id.0).or_else(|| update.from().map(|user| user.id.0 as i64))
}

/// A new inbox on `store`: its intake, the dispatcher's listener (claiming
/// as `worker`, and holding the dialogue states of the chats it claimed in
/// `dialogues`), and the update kinds the dispatcher's handler wants (known
/// once it starts).
pub fn inbox(
    store: Store,
    worker: String,
    dialogues: DialogueCache,
    languages: Languages,
) -> (Inbox, InboxListener, AllowedUpdates) {
    let wake = Arc::new(Notify::new());
    let (stop_token, stop_flag) = mk_stop_token();
    let (hint_tx, hint_rx) = oneshot::channel();
    let fresh = Fresh::default();
    let listener = InboxListener {
        store: store.clone(),
        fresh: fresh.clone(),
        worker,
        wake: Arc::clone(&wake),
        claimed: VecDeque::new(),
        in_flight: InFlight::default(),
        dialogues,
        languages,
        claim_from: None,
        stop_token,
        stop_flag: stop_flag.clone(),
        hint: Some(hint_tx),
    };
    (Inbox { store, wake, fresh }, listener, AllowedUpdates { rx: hint_rx, stopped: stop_flag })
}

/// Before the listener starts: with SQLite only this process runs (a lock
/// file guarantees it), so claims left by a killed run are released at once
/// instead of waiting for their lease.
pub async fn release_stale_claims(store: &Store) -> Result<(), StoreError> {
    if store.backend() == Backend::Sqlite {
        let released = store.release_update_claims(None).await?;
        if released > 0 {
            tracing::warn!(released, "updates a stopped process had claimed are handled again");
        }
    }
    let pending = store.inbox_depth().await?;
    if pending > 0 {
        tracing::info!(pending, "updates kept before the last stop are handled first");
    }
    Ok(())
}

/// Renews `worker`'s claims until `shutdown`, then gives back those not
/// handled, so that another process may take them at once.
pub async fn keep_claims(store: Store, worker: String, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(CLAIM_RENEWAL) => {}
        }
        let until = chrono::Utc::now() + chrono::Duration::seconds(CLAIM_LEASE_SECS);
        if let Err(error) = store.renew_update_claims(&worker, until).await {
            tracing::warn!(%error, "inbox claims not renewed");
        }
    }
    if let Err(error) = store.release_update_claims(Some(&worker)).await {
        tracing::warn!(%error, "inbox claims not given back; they lapse by themselves");
    }
}

/// The kinds of update the dispatcher's handler wants, for `getUpdates` and
/// `setWebhook`, and whether the listener was stopped.
pub struct AllowedUpdates {
    rx: oneshot::Receiver<Vec<AllowedUpdate>>,
    stopped: StopFlag,
}

impl AllowedUpdates {
    /// Waits until the dispatcher has started and said which kinds it
    /// handles; `None` if it never will (it failed to start).
    pub async fn get(self) -> Option<(Vec<AllowedUpdate>, StopFlag)> {
        self.rx.await.ok().map(|allowed| (allowed, self.stopped))
    }
}

/// The dispatcher's side of the inbox: the updates this process claimed,
/// oldest first. When stopped it hands over what it already claimed, then
/// ends; what it did not hand over is given back by [`keep_claims`].
pub struct InboxListener {
    store: Store,
    /// The updates this process kept, not yet claimed.
    fresh: Fresh,
    worker: String,
    wake: Arc<Notify>,
    /// Updates handed over and not yet marked handled.
    in_flight: InFlight,
    claimed: VecDeque<Update>,
    /// The dialogue states of the chats claimed.
    dialogues: DialogueCache,
    /// The users' /language choices, read ahead for the chats claimed.
    languages: Languages,
    /// Nothing is claimed before (a replica joining others).
    claim_from: Option<Instant>,
    stop_token: StopToken,
    stop_flag: StopFlag,
    hint: Option<oneshot::Sender<Vec<AllowedUpdate>>>,
}

impl InboxListener {
    /// Claims nothing before `at`: the other replicas take the updates
    /// until then.
    pub fn claim_from(&mut self, at: Option<Instant>) {
        self.claim_from = at;
    }

    /// Stops this listener (and polling) from outside the dispatcher.
    pub fn stopper(&self) -> StopToken {
        self.stop_token.clone()
    }

    /// The places for updates in flight, for [`Marks`] to give back.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// The next claimed update, claiming more or waiting when there is
    /// none; `None` once stopped.
    async fn next(&mut self) -> Option<Update> {
        if let Some(at) = self.claim_from.take() {
            while !self.stop_flag.is_stopped() && Instant::now() < at {
                let left = at.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(Duration::from_millis(100))).await;
            }
        }
        loop {
            if let Some(update) = self.hand_over() {
                return Some(update);
            }
            if self.stop_flag.is_stopped() {
                // What is left claimed is given back by `keep_claims`.
                return None;
            }
            let room = CLAIM_BATCH - self.claimed.len() as i64;
            if room > 0 {
                self.forget_dialogues();
                let now = chrono::Utc::now();
                let lease = chrono::Duration::seconds(CLAIM_LEASE_SECS);
                match self.store.claim_updates(&self.worker, now, lease, room).await {
                    Ok(rows) if !rows.is_empty() => {
                        self.read_dialogues(&rows).await;
                        for row in rows {
                            self.take(row).await;
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "the inbox could not be read; will retry"),
                }
            }
            // The stop flag is only looked at, never awaited here: its
            // future wakes one waiter, and the poller awaits it.
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = self.in_flight.0.finished.notified() => {}
                _ = tokio::time::sleep(IDLE_LOOK) => {}
            }
        }
    }

    /// The oldest claimed update that may go now: a place is free, and its
    /// chat has no update in flight (a chat's updates run one after the
    /// other anyway, so one chatty user waits alone instead of taking
    /// every place). Its place is given back by [`Marks::finish`].
    fn hand_over(&mut self) -> Option<Update> {
        let state = &self.in_flight.0;
        let mut busy = state.chats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = self
            .claimed
            .iter()
            .position(|update| chat_of(update).is_none_or(|chat| !busy.contains(&chat)))?;
        let place = state.places.try_acquire().ok()?;
        place.forget();
        let update = self.claimed.remove(at)?;
        if let Some(chat) = chat_of(&update) {
            busy.insert(chat);
        }
        Some(update)
    }

    /// Drops the dialogue states no update here needs any more: only
    /// chats with an update claimed or in flight keep theirs.
    fn forget_dialogues(&self) {
        let queued: HashSet<i64> = self.claimed.iter().filter_map(chat_of).collect();
        let busy = self.in_flight.0.chats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.dialogues.keep_only(|chat| queued.contains(&chat) || busy.contains(&chat));
    }

    /// Reads the dialogue states of the chats just claimed, in one
    /// statement, and their users' languages in another. If that fails,
    /// each handler reads its own.
    async fn read_dialogues(&self, rows: &[InboxUpdate]) {
        let mut chats: Vec<i64> = rows.iter().filter_map(|row| row.chat_id).collect();
        chats.sort_unstable();
        chats.dedup();
        match self.store.dialogue_states(&chats).await {
            Ok(stored) => self.dialogues.adopt(&chats, stored),
            Err(error) => tracing::warn!(%error, "dialogue states not read for a claim"),
        }
        let users: Vec<_> =
            chats.iter().filter(|chat| **chat > 0).map(|chat| TelegramUserId(*chat)).collect();
        self.languages.read_ahead(&self.store, &users).await;
    }

    /// A claimed row becomes an update to hand over; one that cannot be
    /// read (an older version's?) is marked handled so it does not come
    /// back.
    async fn take(&mut self, row: InboxUpdate) {
        if let Some(update) = self.fresh.take(row.update_id) {
            self.claimed.push_back(update);
            return;
        }
        match serde_json::from_str::<Update>(&row.payload) {
            Ok(update) if !matches!(update.kind, UpdateKind::Error(_)) => {
                self.claimed.push_back(update)
            }
            _ => {
                tracing::error!(update_id = row.update_id, "a kept update cannot be read; dropped");
                monitoring::update_dropped();
                if let Err(error) =
                    self.store.mark_update_handled(row.update_id, chrono::Utc::now()).await
                {
                    tracing::warn!(%error, "an unreadable update not marked handled");
                }
            }
        }
    }
}

impl<'a> AsUpdateStream<'a> for InboxListener {
    type StreamErr = Infallible;
    type Stream = BoxStream<'a, Result<Update, Infallible>>;

    fn as_stream(&'a mut self) -> Self::Stream {
        Box::pin(futures::stream::unfold(self, |listener| async move {
            let update = listener.next().await?;
            Some((Ok(update), listener))
        }))
    }
}

impl UpdateListener for InboxListener {
    type Err = Infallible;

    fn stop_token(&mut self) -> StopToken {
        self.stop_token.clone()
    }

    fn hint_allowed_updates(&mut self, hint: &mut dyn Iterator<Item = AllowedUpdate>) {
        if let Some(tx) = self.hint.take() {
            let _ = tx.send(hint.collect());
        }
    }
}

/// A reason the whole process must stop, raised once by whichever part
/// found it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Fatal {
    raised: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Fatal {
    pub fn raise(&self, reason: impl Into<String>) {
        let mut slot = self.reason.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert_with(|| reason.into());
        self.raised.cancel();
    }

    /// Resolves with the reason once one is raised.
    pub async fn raised(&self) -> String {
        self.raised.cancelled().await;
        self.reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

/// Long polling into the inbox until the listener is stopped; then the
/// updates handed over are confirmed to Telegram, so none comes twice.
///
/// A 409 "terminated by other getUpdates request" before this process's
/// first successful poll means another process was already polling: this
/// one is the newcomer and stops (`fatal`). After that, it means a newcomer
/// started; this one goes on, and the newcomer gets the same 409 and stops.
pub async fn poll(bot: BotT, inbox: Inbox, allowed: AllowedUpdates, fatal: Fatal) {
    let Some((allowed, mut stopped)) = allowed.get().await else { return };
    let mut offset: i32 = 0;
    let mut established = false;
    let mut failures: u32 = 0;
    loop {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(allowed.clone());
        let result = tokio::select! {
            _ = &mut stopped => break,
            result = request.send() => result,
        };
        let error = match result {
            Ok(updates) => {
                established = true;
                failures = 0;
                let Some(last) = updates.last().map(|update| update.id.as_offset()) else {
                    continue;
                };
                match inbox.keep(updates).await {
                    // Kept: the next getUpdates tells Telegram they arrived.
                    Ok(()) => offset = last,
                    Err(error) => {
                        // Not confirmed, so Telegram sends them again.
                        tracing::error!(%error, "updates not kept; asking for them again");
                        tokio::select! {
                            _ = &mut stopped => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                continue;
            }
            Err(error) => error,
        };
        monitoring::telegram_error(&error);
        if describes(&error, "terminated by other getUpdates request") {
            if !established {
                tracing::error!("{POLLING_CONFLICT}");
                fatal.raise(POLLING_CONFLICT);
                break;
            }
            tracing::error!(
                "another process started polling with this bot token; it should stop by \
                itself (in polling mode only one process may run)"
            );
        } else if describes(&error, "can't use getUpdates method while webhook is active") {
            tracing::error!(
                "a webhook was set for this bot while it polls (a replica started with \
                BOT_MODE=webhook?): polling gets nothing until it is deleted"
            );
        } else {
            tracing::warn!(%error, "getUpdates failed; will retry");
        }
        let pause = match &error {
            RequestError::RetryAfter(wait) => wait.duration(),
            _ => Duration::from_secs(1 << failures.min(6)).min(MAX_POLL_BACKOFF),
        };
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = &mut stopped => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    // Confirms what was handed over; nothing else is fetched.
    if offset != 0
        && let Err(error) = bot.get_updates().offset(offset).limit(1).timeout(0).await
    {
        monitoring::telegram_error(&error);
        tracing::warn!(%error, "the last updates were not confirmed; Telegram may send them again");
    }
}

/// Whether a Bot API error's description contains `text`.
fn describes(error: &RequestError, text: &str) -> bool {
    match error {
        RequestError::Api(ApiError::Unknown(description)) => description.contains(text),
        RequestError::Api(known) => known.to_string().contains(text),
        _ => false,
    }
}

/// Before polling: a webhook left by an earlier webhook-mode run would make
/// every getUpdates fail, so it is deleted (as teloxide's own polling does).
pub async fn delete_webhook_for_polling(bot: &BotT) {
    match bot.get_webhook_info().await {
        Ok(info) if info.url.is_some() => {
            tracing::warn!(
                "a webhook is set for this bot; deleting it to poll (replicas in webhook mode \
                stop getting updates until one of them starts again)"
            );
            if let Err(error) = bot.delete_webhook().await {
                monitoring::telegram_error(&error);
                tracing::error!(%error, "deleteWebhook failed; polling will fail while it is set");
            }
        }
        Ok(_) => {}
        Err(error) => {
            monitoring::telegram_error(&error);
            tracing::warn!(%error, "getWebhookInfo failed; polling anyway");
        }
    }
}

/// The dispatcher's handler, timed (`handler_seconds` per update); every
/// update, handled or not by the tree, is marked handled in the inbox when
/// its handler has finished (through [`Marks`]).
pub fn measured(
    handler: UpdateHandler<anyhow::Error>,
    marks: Marks,
) -> UpdateHandler<anyhow::Error> {
    use dptree::HandlerDescription;
    dptree::from_fn_with_description(
        DpHandlerDescription::entry(),
        move |deps: dptree::di::DependencyMap, cont| {
            let marks = marks.clone();
            async move {
                let started = Instant::now();
                let update = deps.try_get::<Update>();
                let result = cont(deps).await;
                monitoring::update_handled(started);
                marks.finish(update.as_deref()).await;
                result
            }
        },
        dptree::HandlerSignature::Entry,
    )
    .chain(handler)
}

/// Most updates marked handled in one statement.
const MARK_GROUP: usize = 256;

type MarkReply = oneshot::Sender<Result<(), String>>;

/// Marks updates handled a group at a time: every update whose handler
/// finished while the previous group was being written goes into the next
/// one (a group commit). In a burst, each handler would otherwise wait for
/// the commits of all those before it, and the window in which a crash
/// repeats an answer already sent would grow with the queue. Each caller
/// still waits until its own mark is written.
#[derive(Debug, Clone)]
pub struct Marks {
    tx: tokio::sync::mpsc::UnboundedSender<Finished>,
    in_flight: InFlight,
}

/// An update whose handler finished, for the writer.
#[derive(Debug)]
struct Finished {
    update_id: i64,
    chat: Option<i64>,
    reply: MarkReply,
}

/// The updates in flight: their places, and their chats.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<InFlightState>);

#[derive(Debug)]
struct InFlightState {
    places: Semaphore,
    chats: Mutex<HashSet<i64>>,
    /// Wakes the listener when an update is finished.
    finished: Notify,
}

impl Default for InFlightState {
    fn default() -> Self {
        Self {
            places: Semaphore::new(MAX_IN_FLIGHT),
            chats: Mutex::default(),
            finished: Notify::new(),
        }
    }
}

impl Marks {
    /// Starts the writer, which also writes the changed states of
    /// `dialogues`; it ends when the last `Marks` is dropped.
    pub fn start(store: Store, in_flight: InFlight, dialogues: DialogueCache) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write_marks(store, dialogues, rx));
        Self { tx, in_flight }
    }

    /// The handler of `update` has finished: it is marked handled, and
    /// its place and its chat go to the next update.
    pub async fn finish(&self, update: Option<&Update>) {
        if let Some(update) = update {
            let update_id = i64::from(update.id.0);
            if let Err(error) = self.mark(update_id, chat_of(update)).await {
                // It is handled again after a restart: at most one answer twice.
                tracing::error!(update_id, %error, "update not marked handled");
            }
            if let Some(chat) = chat_of(update) {
                let state = &self.in_flight.0;
                state.chats.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&chat);
            }
        }
        let state = &self.in_flight.0;
        state.places.add_permits(1);
        state.finished.notify_one();
    }

    /// Marks `update_id` handled, with the state its handler left `chat`
    /// in; returns once it is written.
    async fn mark(&self, update_id: i64, chat: Option<i64>) -> Result<(), String> {
        let (reply, written) = oneshot::channel();
        let finished = Finished { update_id, chat, reply };
        self.tx.send(finished).map_err(|_| "the mark writer stopped".to_owned())?;
        written.await.map_err(|_| "the mark writer stopped".to_owned())?
    }
}

async fn write_marks(
    store: Store,
    dialogues: DialogueCache,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Finished>,
) {
    let mut group = Vec::with_capacity(MARK_GROUP);
    while rx.recv_many(&mut group, MARK_GROUP).await > 0 {
        let ids: Vec<i64> = group.iter().map(|finished| finished.update_id).collect();
        let states: Vec<_> =
            group.iter().filter_map(|finished| dialogues.take_staged(finished.chat?)).collect();
        let now = chrono::Utc::now();
        let mut written = store.finish_updates(&states, &ids, now).await;
        if let Err(error) = &written
            && !states.is_empty()
        {
            // The states go with these chats' next marks; the marks alone
            // may still be written (a broken `dialogues` table).
            tracing::error!(%error, chats = states.len(), "dialogue states not written");
            for state in &states {
                dialogues.restage(state);
            }
            written = store.finish_updates(&[], &ids, now).await;
        }
        let written = written.map_err(|error| error.to_string());
        for finished in group.drain(..) {
            // A caller that went away needs no answer.
            let _ = finished.reply.send(written.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_update(update_id: i64, chat: i64) -> Update {
        // Read from text, as the inbox reads its rows.
        let json = serde_json::json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_764_061_200,
                "chat": { "id": chat, "type": "private", "first_name": "U" },
                "from": { "id": chat, "is_bot": false, "first_name": "U" },
                "text": "/help"
            }
        });
        let update: Update = serde_json::from_str(&json.to_string()).expect("an update");
        assert!(chat_of(&update).is_some(), "{:?}", update.kind);
        update
    }

    fn ids(updates: &[Option<Update>]) -> Vec<Option<u32>> {
        updates.iter().map(|u| u.as_ref().map(|u| u.id.0)).collect()
    }

    #[tokio::test]
    async fn a_chat_has_one_update_in_flight_and_a_busy_chat_does_not_hold_up_the_others() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _url) = crate::store::sqlite_store_in(&dir).await;
        let (_intake, mut listener, _allowed) =
            inbox(store.clone(), "test".into(), DialogueCache::default(), Languages::default());
        // A chatty user's three updates, then another user's one.
        for update in [text_update(1, 10), text_update(2, 10), text_update(3, 10)] {
            listener.claimed.push_back(update);
        }
        listener.claimed.push_back(text_update(4, 20));
        let marks = Marks::start(store.clone(), listener.in_flight(), DialogueCache::default());

        let first = [listener.hand_over(), listener.hand_over(), listener.hand_over()];
        // Chat 10's first goes, its second waits; chat 20 is not held up.
        assert_eq!(ids(&first), [Some(1), Some(4), None]);
        marks.finish(first[0].as_ref()).await;
        assert_eq!(ids(&[listener.hand_over(), listener.hand_over()]), [Some(2), None]);

        // No more than MAX_IN_FLIGHT at once, whatever the chats.
        for n in 0..MAX_IN_FLIGHT as i64 {
            listener.claimed.push_back(text_update(100 + n, 1_000 + n));
        }
        let mut handed = 0;
        while listener.hand_over().is_some() {
            handed += 1;
        }
        // Two places are taken (updates 2 and 4).
        assert_eq!(handed, MAX_IN_FLIGHT - 2);
        store.close().await;
    }

    #[tokio::test]
    async fn a_claim_hands_over_kept_updates_and_reads_their_users_languages_ahead() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, url) = crate::store::sqlite_store_in(&dir).await;
        store.migrate().await.expect("migrations");
        store
            .choose_language(TelegramUserId(10), crate::domain::Lang::Ru, chrono::Utc::now())
            .await
            .expect("a choice");
        let languages = Languages::default();
        let (intake, mut listener, _allowed) =
            inbox(store.clone(), "test".into(), DialogueCache::default(), languages.clone());
        intake.keep(vec![text_update(1, 10), text_update(2, 20)]).await.expect("kept");
        // What this process kept is handed over as it came, not read back.
        let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query("UPDATE inbox SET payload = 'unreadable'").execute(&mut raw).await.unwrap();
        let first = listener.next().await.expect("an update");
        assert_eq!(first.id.0, 1);
        assert_eq!(listener.claimed.front().map(|update| update.id.0), Some(2));

        // Both users' choices are known without the database: it is closed.
        store.close().await;
        let user = |id: u64| teloxide::types::User {
            id: teloxide::types::UserId(id),
            is_bot: false,
            first_name: "U".into(),
            last_name: None,
            username: None,
            language_code: Some("en".into()),
            is_premium: false,
            added_to_attachment_menu: false,
        };
        assert_eq!(languages.of(&store, Some(&user(10))).await, crate::domain::Lang::Ru);
        assert_eq!(languages.of(&store, Some(&user(20))).await, crate::domain::Lang::En);
        assert!(languages.lock().contains_key(&TelegramUserId(20)), "no choice is remembered too");
    }
}
