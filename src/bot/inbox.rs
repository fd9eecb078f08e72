//! Where updates come in. Both ways Telegram delivers them — long polling
//! (`getUpdates`, one process per bot token) and the webhook (Telegram
//! posts each update to our HTTP server; any number of replicas) — feed one
//! channel, which the dispatcher reads as its update listener. Counting
//! updates in and out here gives `/metrics` its `updates_total` and
//! `inbox_depth`, and polling's own loop knows whether another instance
//! already polls with this token.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    task::Poll,
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
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::BotT;
use crate::monitoring;

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

/// Takes updates in: cheap to clone, held by the poller or the webhook.
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::UnboundedSender<Update>,
}

/// The inbox was closed: the bot is stopping.
#[derive(Debug)]
pub struct InboxClosed;

impl Inbox {
    /// Queues an update for the dispatcher.
    pub fn push(&self, update: Update) -> Result<(), InboxClosed> {
        monitoring::update_received(&update);
        self.tx.send(update).map_err(|_| {
            monitoring::update_dropped();
            InboxClosed
        })
    }
}

/// A new inbox: its intake, the dispatcher's listener, and the update
/// kinds the dispatcher's handler wants (known once it starts).
pub fn inbox() -> (Inbox, InboxListener, AllowedUpdates) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_token, stop_flag) = mk_stop_token();
    let (hint_tx, hint_rx) = oneshot::channel();
    let listener =
        InboxListener { rx, stop_token, stop_flag: stop_flag.clone(), hint: Some(hint_tx) };
    (Inbox { tx }, listener, AllowedUpdates { rx: hint_rx, stopped: stop_flag })
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

/// The dispatcher's side of the inbox. When stopped it takes no more
/// updates but hands over those already queued (Telegram was told they
/// arrived), then ends.
pub struct InboxListener {
    rx: mpsc::UnboundedReceiver<Update>,
    stop_token: StopToken,
    stop_flag: StopFlag,
    hint: Option<oneshot::Sender<Vec<AllowedUpdate>>>,
}

impl<'a> AsUpdateStream<'a> for InboxListener {
    type StreamErr = Infallible;
    type Stream = BoxStream<'a, Result<Update, Infallible>>;

    fn as_stream(&'a mut self) -> Self::Stream {
        Box::pin(futures::stream::poll_fn(move |cx| {
            if self.stop_flag.is_stopped() {
                self.rx.close();
            }
            loop {
                return match self.rx.poll_recv(cx) {
                    Poll::Ready(Some(update)) if matches!(update.kind, UpdateKind::Error(_)) => {
                        // Not logged whole: it may hold a user's phone.
                        tracing::error!(
                            update_id = update.id.0,
                            "an update teloxide cannot read was dropped"
                        );
                        monitoring::update_dropped();
                        continue;
                    }
                    Poll::Ready(Some(update)) => Poll::Ready(Some(Ok(update))),
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                };
            }
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
                for update in updates {
                    let next = update.id.as_offset();
                    if inbox.push(update).is_err() {
                        break; // stopping: it is not confirmed, so it comes again
                    }
                    offset = next;
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

/// The dispatcher's handler, timed: `handler_seconds` per update, and the
/// update leaves `inbox_depth` when its handler is done.
pub fn measured(handler: UpdateHandler<anyhow::Error>) -> UpdateHandler<anyhow::Error> {
    use dptree::HandlerDescription;
    dptree::from_fn_with_description(
        DpHandlerDescription::entry(),
        |deps, cont| async move {
            let started = Instant::now();
            let result = cont(deps).await;
            monitoring::update_handled(started);
            result
        },
        dptree::HandlerSignature::Entry,
    )
    .chain(handler)
}
