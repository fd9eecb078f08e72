//! Delivers the outbox: what the product sends on its own (notices, taking
//! back link messages), rendered for Telegram when it is sent. Rows are
//! claimed under a lease, so several workers (or instances) never hold the
//! same row at once; delivery is at least once, because a worker that dies
//! between Telegram's answer and recording it leaves the row to be sent
//! again when its lease runs out. Transient failures are retried with
//! doubling pauses for a day.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use teloxide::{
    ApiError, RequestError,
    prelude::*,
    types::{InlineKeyboardMarkup, MessageId, ReplyMarkup},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    BotSettings, BotT,
    desk::{self, Desk, RelayError},
    escape, keyboards, show_time,
    subscription::licence_date,
};
use crate::{
    clock::Clock,
    domain::{AuditEvent, AuditOutcome, CompanyName, Delivery, Lang, licence},
    i18n::{arg, t, t_args},
    mail::{MailError, Mailer},
    monitoring::{self, EmailResult},
    recovery::{OutboxWaker, Recovery},
    store::{AuditEntry, Finished, OutboxItem, Store, StoreResult},
};

/// Transient failures are retried with doubling pauses up to this long…
const MAX_BACKOFF_SECS: i64 = 600;
/// …for this long after the row was queued; then it is given up.
const GIVE_UP_AFTER_HOURS: i64 = 24;
/// The longest the worker sleeps before looking at the outbox again.
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// The shortest pause between looks, so a row another worker holds cannot
/// make this one spin.
const MIN_PAUSE: Duration = Duration::from_millis(50);
/// How long a claim holds; a worker that has not finished by then is
/// presumed dead and the row goes to another. It is renewed just before
/// each send, so a slow batch does not outlive it.
const LEASE_SECS: i64 = 120;
/// Rows claimed at a time.
const BATCH: i64 = 20;

/// Wakes the worker when something was queued. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct OutboxHandle {
    wake: Arc<Notify>,
}

impl OutboxWaker for OutboxHandle {
    fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Delivers the outbox until shut down.
pub struct OutboxWorker {
    bot: BotT,
    store: Store,
    clock: Arc<dyn Clock>,
    settings: BotSettings,
    wake: Arc<Notify>,
    /// Names this worker's claims.
    id: String,
    /// The support desk, for tickets' relays and reminders.
    desk: Option<(Desk, Recovery)>,
    /// E-mail, when it is on: the mailer, and the rules that make the
    /// mails' "This wasn't me" links.
    mail: Option<(Mailer, Recovery)>,
}

/// What one attempt came to.
enum Attempt {
    Done,
    Failed(RequestError),
    /// The database failed mid-way; tried again like a network failure.
    StoreFailed(String),
    /// The mail server did not take a mail.
    MailFailed(MailError),
}

impl OutboxWorker {
    /// A worker woken by `handle`; it keeps time by the same clock the rules
    /// use to queue.
    pub fn new(
        bot: BotT,
        store: Store,
        clock: Arc<dyn Clock>,
        settings: BotSettings,
        handle: &OutboxHandle,
    ) -> Self {
        let id = format!("{}-{:016x}", std::process::id(), rand_id());
        Self {
            bot,
            store,
            clock,
            settings,
            wake: Arc::clone(&handle.wake),
            id,
            desk: None,
            mail: None,
        }
    }

    /// Lets the worker send mail.
    pub fn with_mail(mut self, mailer: Mailer, recovery: Recovery) -> Self {
        self.mail = Some((mailer, recovery));
        self
    }

    /// Lets the worker deliver the support desk's relays and reminders.
    pub fn with_desk(mut self, desk: Desk, recovery: Recovery) -> Self {
        self.desk = Some((desk, recovery));
        self
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::error!(%error, "outbox: database unavailable");
            }
            let pause = match self.store.next_delivery_due().await {
                Ok(Some(due)) => (due - self.clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .clamp(MIN_PAUSE, IDLE_RECHECK),
                Ok(None) => IDLE_RECHECK,
                Err(error) => {
                    tracing::error!(%error, "outbox: database unavailable");
                    IDLE_RECHECK
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn deliver_due(&self) -> StoreResult<()> {
        loop {
            let now = self.clock.now();
            let lease = chrono::Duration::seconds(LEASE_SECS);
            let (items, unreadable) = self.store.claim_due(&self.id, now, lease, BATCH).await?;
            if items.is_empty() && unreadable.is_empty() {
                return Ok(());
            }
            for bad in unreadable {
                tracing::error!(id = bad.id, error = bad.error, "outbox: unreadable row given up");
                self.store.give_up_unreadable(&bad, &self.id, now).await?;
            }
            for item in items {
                self.deliver(item).await?;
            }
        }
    }

    async fn deliver(&self, item: OutboxItem) -> StoreResult<()> {
        let kind = item.payload.kind();
        let lease = chrono::Duration::seconds(LEASE_SECS);
        if !self.store.renew_claim(&item, &self.id, self.clock.now() + lease).await? {
            tracing::info!(id = item.id, kind, "outbox: no longer ours to send; skipped");
            return Ok(());
        }
        if !self.still_wanted(&item.payload).await? {
            tracing::info!(id = item.id, kind, "outbox: no longer holds; dropped unsent");
            self.store.mark_delivery_skipped(&item, &self.id, self.clock.now()).await?;
            return Ok(());
        }
        let attempt = self.attempt(&item.payload).await;
        if let Attempt::Failed(error) = &attempt {
            monitoring::telegram_error(error);
        }
        let now = self.clock.now();
        let finished = match attempt {
            Attempt::Done => {
                tracing::debug!(id = item.id, kind, "outbox: delivered");
                self.store.mark_delivered(&item, &self.id, now).await?
            }
            Attempt::StoreFailed(error) => {
                let pause = (1_i64 << item.attempts.clamp(0, 10)).min(MAX_BACKOFF_SECS);
                let at = now + chrono::Duration::seconds(pause);
                tracing::warn!(id = item.id, kind, %error, retry_in_secs = pause,
                    "outbox: database failed mid-way; will retry");
                self.store.retry_delivery_at(&item, &self.id, at, &error).await?
            }
            Attempt::MailFailed(error)
                if error.transient
                    && now - item.created_at < chrono::Duration::hours(GIVE_UP_AFTER_HOURS) =>
            {
                let pause = (1_i64 << item.attempts.clamp(0, 10)).min(MAX_BACKOFF_SECS);
                let at = now + chrono::Duration::seconds(pause);
                tracing::warn!(id = item.id, kind, attempt = item.attempts + 1, %error,
                    retry_in_secs = pause, "outbox: the mail server failed; will retry");
                monitoring::email(EmailResult::Retry);
                self.store.retry_delivery_at(&item, &self.id, at, &error.to_string()).await?
            }
            Attempt::MailFailed(error) => {
                tracing::error!(id = item.id, kind, attempts = item.attempts + 1, %error,
                    "outbox: mail not delivered; giving up");
                monitoring::email(EmailResult::Failed);
                let mut entry = AuditEntry::new(AuditEvent::MailFailed, AuditOutcome::Refused)
                    .detail(error.to_string());
                if let Delivery::Mail { account_id, .. } = &item.payload {
                    entry = entry.account(*account_id);
                }
                if let Err(audit_error) = self.store.audit(now, entry).await {
                    tracing::error!(%audit_error, "audit row not written");
                }
                self.store.mark_delivery_failed(&item, &self.id, now, &error.to_string()).await?
            }
            Attempt::Failed(error)
                if is_transient(&error)
                    && now - item.created_at < chrono::Duration::hours(GIVE_UP_AFTER_HOURS) =>
            {
                let pause = (1_i64 << item.attempts.clamp(0, 10)).min(MAX_BACKOFF_SECS);
                let at = now + chrono::Duration::seconds(pause);
                tracing::warn!(id = item.id, kind, attempt = item.attempts + 1, %error,
                    retry_in_secs = pause, "outbox: Telegram failed; will retry");
                self.store.retry_delivery_at(&item, &self.id, at, &error.to_string()).await?
            }
            Attempt::Failed(error) => {
                tracing::error!(id = item.id, kind, attempts = item.attempts + 1, %error,
                    "outbox: not delivered; giving up");
                self.store.mark_delivery_failed(&item, &self.id, now, &error.to_string()).await?
            }
        };
        match finished {
            Finished::Recorded => {}
            Finished::Superseded => {
                tracing::info!(
                    id = item.id,
                    kind,
                    "outbox: replaced while sent; the newer one follows"
                );
            }
            Finished::LeaseLost => {
                tracing::warn!(
                    id = item.id,
                    kind,
                    "outbox: lease ran out before the outcome was recorded"
                );
            }
        }
        Ok(())
    }

    async fn attempt(&self, payload: &Delivery) -> Attempt {
        let result = match payload {
            Delivery::Mail { account_id, to, lang, notice } => {
                let Some((mailer, recovery)) = &self.mail else {
                    return Attempt::StoreFailed("e-mail is off in this process".to_owned());
                };
                // A hold's mail carries the link that cancels it instead.
                let link = match notice.hold_id {
                    Some(hold_id) => match recovery.new_hold_cancel_link(hold_id).await {
                        Ok(Some(link)) => Ok(link),
                        Ok(None) => return Attempt::Done, // cancelled or used meanwhile
                        Err(error) => Err(error),
                    },
                    None => recovery.new_dispute_link(*account_id, notice.event, *lang).await,
                };
                let link = match link {
                    Ok(link) => link,
                    Err(error) => return Attempt::StoreFailed(error.to_string()),
                };
                // A binding code is made now, so no code waits in the outbox.
                let code = match notice.code_id {
                    Some(id) => match recovery.make_binding_code(id).await {
                        Ok(Some(code)) => Some(code),
                        Ok(None) => return Attempt::Done, // revoked or used meanwhile
                        Err(error) => return Attempt::StoreFailed(error.to_string()),
                    },
                    None => None,
                };
                let now = self.clock.now();
                let zone = self.settings.default_time_zone;
                let mail =
                    crate::mail::render_notice(*lang, notice, zone, now, &link, code.as_deref());
                return match mailer.send(to, &mail.subject, mail.text, mail.html).await {
                    Ok(()) => {
                        monitoring::email(EmailResult::Sent);
                        Attempt::Done
                    }
                    Err(error) => Attempt::MailFailed(error),
                };
            }
            Delivery::TicketRelay { ticket_id, to_user } => {
                let Some((desk, recovery)) = &self.desk else { return no_desk() };
                let relayed = desk::relay(&self.bot, desk, recovery, *ticket_id, *to_user).await;
                return from_relay(relayed.map(|_| ()));
            }
            Delivery::TicketReminder { ticket_id, level } => {
                let Some((desk, recovery)) = &self.desk else { return no_desk() };
                let reminded = desk::remind(&self.bot, desk, recovery, *ticket_id, *level).await;
                return from_relay(reminded.map(|_| ()));
            }
            Delivery::PasswordChanged { to, account_id, login, lang, changed_at, time_zone } => {
                let zone = time_zone
                    .as_deref()
                    .and_then(|tz| tz.parse().ok())
                    .unwrap_or(self.settings.default_time_zone);
                let now = self.clock.now();
                let when = show_time(*lang, *changed_at, zone, now);
                // Delivered late (after an outage), the time comes with its
                // date, and the sentence is built for that.
                let same_day = changed_at.with_timezone(&zone).date_naive()
                    == now.with_timezone(&zone).date_naive();
                let day = if same_day { "today" } else { "other" };
                let text = t_args(
                    *lang,
                    "password-changed",
                    &[("login", arg(escape(login))), ("time", arg(when)), ("day", arg(day))],
                );
                self.bot
                    .send_message(ChatId(to.0), text)
                    .reply_markup(keyboards::password_changed(*lang, *account_id))
                    .await
                    .map(|_| ())
            }
            Delivery::RetractLink { chat, message_id, lang } => {
                return self.retract(ChatId(chat.0), MessageId(*message_id), *lang).await;
            }
            Delivery::SecurityAlert {
                to,
                account_id,
                login,
                lang,
                alert,
                at,
                time_zone,
                ip,
                user_agent,
            } => {
                let zone = time_zone
                    .as_deref()
                    .and_then(|tz| tz.parse().ok())
                    .unwrap_or(self.settings.default_time_zone);
                let now = self.clock.now();
                let text = security_alert_text(
                    *lang,
                    login,
                    *alert,
                    (*at, zone, now),
                    ip.as_deref(),
                    user_agent.as_deref(),
                );
                self.bot
                    .send_message(ChatId(to.0), text)
                    .reply_markup(keyboards::not_me(*lang, *account_id))
                    .await
                    .map(|_| ())
            }
            Delivery::HoldEnded { to, hold_id, lang } => {
                let Some((_, recovery)) = &self.mail else {
                    return Attempt::StoreFailed("e-mail is off in this process".to_owned());
                };
                match recovery.hold_still_pending(*hold_id).await {
                    Ok(true) => {}
                    Ok(false) => return Attempt::Done, // withdrawn, cancelled or used
                    Err(error) => return Attempt::StoreFailed(error.to_string()),
                }
                self.bot
                    .send_message(ChatId(to.0), t(*lang, "hold-ended"))
                    .reply_markup(keyboards::hold_ended(*lang))
                    .await
                    .map(|_| ())
            }
            Delivery::HoldCancelled { to, lang } => self
                .bot
                .send_message(ChatId(to.0), t(*lang, "hold-cancelled-by-owner"))
                .reply_markup(keyboards::talk_to_support(*lang, crate::domain::Category::Other))
                .await
                .map(|_| ()),
            Delivery::ContactChanged { to, login, lang } => {
                let text = t_args(*lang, "contact-changed", &[("login", arg(escape(login)))]);
                self.bot
                    .send_message(ChatId(to.0), text)
                    .reply_markup(keyboards::back_to_menu(*lang))
                    .await
                    .map(|_| ())
            }
            Delivery::UnlockNotice { to, login, lang, .. } => {
                let text = t_args(*lang, "locked-unlocked-now", &[("login", arg(escape(login)))]);
                self.bot
                    .send_message(ChatId(to.0), text)
                    .reply_markup(keyboards::back_to_menu(*lang))
                    .await
                    .map(|_| ())
            }
            Delivery::RenderedMessage { chat, html, reply_markup } => {
                let mut request = self.bot.send_message(ChatId(*chat), html);
                let markup = reply_markup.as_deref().map(serde_json::from_str);
                if let Some(Ok(markup)) = markup {
                    request = request.reply_markup(ReplyMarkup::InlineKeyboard(markup));
                }
                request.await.map(|_| ())
            }
            Delivery::LicenceAdminAlert {
                to,
                lang,
                company,
                employee_login,
                employee_name,
                ended_at,
            } => {
                let args = [
                    ("company", arg(escape(company))),
                    ("login", arg(escape(employee_login))),
                    ("name", arg(escape(employee_name))),
                    ("date", arg(licence_date(*lang, *ended_at))),
                ];
                let text = t_args(*lang, "licence-admin-alert", &args);
                self.bot.send_message(ChatId(to.0), text).await.map(|_| ())
            }
            Delivery::LicenceReminder { to, lang, company, ends_at, .. } => {
                // Late after an outage, it says how many days are left now.
                let days = licence::days_left(*ends_at, self.clock.now());
                let args = [
                    ("company", arg(escape(company))),
                    ("date", arg(licence_date(*lang, *ends_at))),
                    ("days", days.into()),
                ];
                let text = t_args(*lang, "licence-reminder", &args);
                self.bot.send_message(ChatId(to.0), text).await.map(|_| ())
            }
        };
        match result {
            Ok(()) => Attempt::Done,
            Err(error) => Attempt::Failed(error),
        }
    }

    /// Whether what the row says still holds when it is due: a licence
    /// reminder is dropped if the company's end moved or was cleared, if
    /// the next reminder says it better, or if its recipient is no longer
    /// a reachable administrator.
    async fn still_wanted(&self, payload: &Delivery) -> StoreResult<bool> {
        let Delivery::LicenceReminder { to, company, days, ends_at, .. } = payload else {
            return Ok(true);
        };
        let name = CompanyName::from_stored(company.clone());
        let end = self.store.company(&name).await?.and_then(|c| c.license_expires_at);
        if end != Some(*ends_at) || !licence::reminder_still_due(*days, *ends_at, self.clock.now())
        {
            return Ok(false);
        }
        Ok(self.store.reachable_admins(&name).await?.iter().any(|admin| admin.tg_user_id == *to))
    }

    /// Deletes a link's message; Telegram lets bots delete their messages
    /// for 48 hours, so an older one is edited to say the link is dead. A
    /// message the user already deleted needs nothing.
    async fn retract(&self, chat: ChatId, message_id: MessageId, lang: Lang) -> Attempt {
        let error = match self.bot.delete_message(chat, message_id).await {
            Ok(_) => return Attempt::Done,
            Err(error) if says(&error, MESSAGE_GONE) => return Attempt::Done,
            Err(error) if says(&error, CANT_DELETE) => {
                let edit = self
                    .bot
                    .edit_message_text(chat, message_id, t(lang, "reset-link-retracted"))
                    .reply_markup(InlineKeyboardMarkup::default())
                    .await;
                match edit {
                    Ok(_) => return Attempt::Done,
                    Err(error) if says(&error, MESSAGE_GONE) => return Attempt::Done,
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        Attempt::Failed(error)
    }
}

/// A worker built without the support desk leaves its rows for one that
/// has it (every worker the application starts has it).
fn no_desk() -> Attempt {
    Attempt::StoreFailed("this worker has no support desk".to_owned())
}

fn from_relay(result: Result<(), RelayError>) -> Attempt {
    match result {
        Ok(()) => Attempt::Done,
        Err(RelayError::Telegram(error)) => Attempt::Failed(error),
        Err(RelayError::Store(error)) => Attempt::StoreFailed(error.to_string()),
    }
}

/// Telegram tells why only in an error's description (teloxide knows some
/// by their exact text; others, such as "message can't be deleted for
/// everyone", arrive as unknown errors). The descriptions this worker acts
/// on are matched here, in one place.
const CANT_DELETE: &[&str] = &["Bad Request: message can't be deleted"];
/// The user deleted the message already, or it was already edited so.
const MESSAGE_GONE: &[&str] = &[
    "Bad Request: message to delete not found",
    "Bad Request: message to edit not found",
    "Bad Request: message is not modified",
];
/// Descriptions of definite refusals (4xx); anything else unknown is taken
/// for a server-side failure (5xx) and retried.
const REFUSALS: &[&str] = &["Bad Request", "Unauthorized", "Forbidden", "Not Found", "Conflict"];

/// Whether the API error's description starts with one of `prefixes`.
pub(crate) fn says(error: &RequestError, prefixes: &[&str]) -> bool {
    match error {
        RequestError::Api(api) => {
            // Display wraps an unknown one as `Unknown error: "…"`.
            let description = match api {
                ApiError::Unknown(text) => text.clone(),
                known => known.to_string(),
            };
            prefixes.iter().any(|prefix| description.starts_with(prefix))
        }
        _ => false,
    }
}

/// Worth retrying: the network, Telegram's servers (5xx surface as unknown
/// API errors), garbage from a proxy, a 429 the throttle gave up on. Not:
/// the user blocked the bot, a bad request, any other definite refusal.
fn is_transient(error: &RequestError) -> bool {
    match error {
        RequestError::Network(_)
        | RequestError::Io(_)
        | RequestError::InvalidJson { .. }
        | RequestError::RetryAfter(_) => true,
        RequestError::Api(ApiError::Unknown(_)) => !says(error, REFUSALS),
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => false,
    }
}

/// A per-worker name; collisions only matter between live workers.
fn rand_id() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    }
    u64::from_le_bytes(bytes)
}

/// A security notification as a bound user reads it: what happened and
/// when (in the account's zone), from where if the CRM said, and what "It
/// wasn't me" does. Every inserted value is escaped.
fn security_alert_text(
    lang: Lang,
    login: &str,
    alert: crate::domain::SecurityAlert,
    (at, zone, now): (chrono::DateTime<chrono::Utc>, chrono_tz::Tz, chrono::DateTime<chrono::Utc>),
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> String {
    use crate::domain::SecurityAlert;
    let same_day = at.with_timezone(&zone).date_naive() == now.with_timezone(&zone).date_naive();
    let day = if same_day { "today" } else { "other" };
    let login = ("login", arg(escape(login)));
    let when = [login.clone(), ("time", arg(show_time(lang, at, zone, now))), ("day", arg(day))];
    let mut text = match alert {
        SecurityAlert::SignedIn => t_args(lang, "security-signed-in", &when),
        SecurityAlert::NewDevice => t_args(lang, "security-new-device", &when),
        SecurityAlert::PasswordChanged => t_args(lang, "security-password-changed", &when),
        SecurityAlert::Locked { until: Some(until) } => t_args(
            lang,
            "security-locked-until",
            &[login, ("until", arg(show_time(lang, until, zone, now)))],
        ),
        SecurityAlert::Locked { until: None } => {
            t_args(lang, "security-locked-permanently", &[login])
        }
    };
    let mut details = Vec::new();
    if let Some(ip) = ip {
        details.push(t_args(lang, "security-ip", &[("ip", arg(escape(ip)))]));
    }
    if let Some(device) = user_agent {
        details.push(t_args(lang, "security-device", &[("device", arg(escape(device)))]));
    }
    if !details.is_empty() {
        text.push('\n');
        text.push_str(&details.join("\n"));
    }
    text.push_str("\n\n");
    text.push_str(&t(lang, "security-not-you"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(description: &str) -> RequestError {
        let json = format!(r#""{description}""#);
        RequestError::Api(serde_json::from_str(&json).expect("any text is an ApiError"))
    }

    #[test]
    fn telegram_descriptions_are_read_in_one_place() {
        // Known to teloxide by its exact text, and the longer real one.
        assert!(says(&api("Bad Request: message can't be deleted"), CANT_DELETE));
        assert!(says(&api("Bad Request: message can't be deleted for everyone"), CANT_DELETE));
        assert!(says(&api("Bad Request: message to delete not found"), MESSAGE_GONE));
        assert!(says(&api("Bad Request: message to edit not found"), MESSAGE_GONE));
        assert!(!says(&api("Bad Request: chat not found"), MESSAGE_GONE));
    }

    #[test]
    fn refusals_are_final_and_server_failures_are_retried() {
        for refusal in [
            "Forbidden: bot was blocked by the user",
            "Bad Request: chat not found",
            "Bad Request: message can't be deleted for everyone",
            "Unauthorized",
        ] {
            assert!(!is_transient(&api(refusal)), "{refusal}");
        }
        for failure in ["Internal Server Error", "Bad Gateway", "Gateway Timeout"] {
            assert!(is_transient(&api(failure)), "{failure}");
        }
    }
}
