//! Prometheus metrics: every series is named and recorded here, and
//! rendered for `GET /metrics`. The recorder is process-wide (the `metrics`
//! crate's global one), so counters are per process, as Prometheus expects:
//! sum them across replicas. Gauges that describe the database (outbox,
//! tickets) are read from it when scraped, so every replica reports the
//! same value: take `max`, not `sum`, across replicas.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use teloxide::{
    ApiError, RequestError,
    types::{Update, UpdateKind},
};

use crate::store::{Store, StoreResult};

pub const PREFIX: &str = "crm_recovery_";
pub const UPDATES_TOTAL: &str = "crm_recovery_updates_total";
pub const HANDLER_SECONDS: &str = "crm_recovery_handler_seconds";
pub const INBOX_DEPTH: &str = "crm_recovery_inbox_depth";
pub const OUTBOX_DEPTH: &str = "crm_recovery_outbox_depth";
pub const RESET_LINKS_ISSUED_TOTAL: &str = "crm_recovery_reset_links_issued_total";
pub const RESET_LINKS_USED_TOTAL: &str = "crm_recovery_reset_links_used_total";
pub const LOCKOUTS_TOTAL: &str = "crm_recovery_lockouts_total";
pub const TICKETS_OPEN: &str = "crm_recovery_tickets_open";
pub const TICKET_AGE_SECONDS: &str = "crm_recovery_ticket_age_seconds";
pub const TELEGRAM_API_ERRORS_TOTAL: &str = "crm_recovery_telegram_api_errors_total";
pub const EMAILS_TOTAL: &str = "crm_recovery_emails_total";
pub const UPDATES_DROPPED_TOTAL: &str = "crm_recovery_updates_dropped_total";
pub const REPLICAS: &str = "crm_recovery_replicas";

/// Every series `/metrics` shows, for README and the tests.
pub const SERIES: [&str; 11] = [
    UPDATES_TOTAL,
    HANDLER_SECONDS,
    INBOX_DEPTH,
    OUTBOX_DEPTH,
    RESET_LINKS_ISSUED_TOTAL,
    RESET_LINKS_USED_TOTAL,
    LOCKOUTS_TOTAL,
    TICKETS_OPEN,
    TICKET_AGE_SECONDS,
    TELEGRAM_API_ERRORS_TOTAL,
    EMAILS_TOTAL,
];

/// Handler times from a fast button press to a slow argon2 or Telegram
/// round trip.
const HANDLER_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How often histograms are folded when nobody scrapes, so memory stays flat.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use. Later calls (tests that
/// start several applications in one process) share it.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HANDLER_SECONDS.to_owned()), HANDLER_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread not started");
        }
        // Every series exists from the start, so a dashboard shows 0, not
        // "no data", before the first event.
        for kind in ["message", "edited_message", "callback_query"] {
            counter!(UPDATES_TOTAL, "kind" => kind).absolute(0);
        }
        for name in [RESET_LINKS_ISSUED_TOTAL, RESET_LINKS_USED_TOTAL, LOCKOUTS_TOTAL] {
            counter!(name).absolute(0);
        }
        for result in ["sent", "retry", "failed"] {
            counter!(EMAILS_TOTAL, "result" => result).absolute(0);
        }
        gauge!(INBOX_DEPTH).set(0.0);
        handle
    })
}

fn describe() {
    describe_counter!(UPDATES_TOTAL, "Updates received from Telegram, by kind.");
    describe_histogram!(
        HANDLER_SECONDS,
        metrics::Unit::Seconds,
        "How long the dispatcher's handler took per update."
    );
    describe_gauge!(
        INBOX_DEPTH,
        "Updates kept in the inbox but not yet handled (read when scraped)."
    );
    describe_counter!(UPDATES_DROPPED_TOTAL, "Updates that could not be read, dropped.");
    describe_gauge!(REPLICAS, "Replicas sharing the send budget, as this one last counted.");
    describe_gauge!(OUTBOX_DEPTH, "Outbox rows waiting to be delivered (read when scraped).");
    describe_counter!(RESET_LINKS_ISSUED_TOTAL, "Reset links issued.");
    describe_counter!(RESET_LINKS_USED_TOTAL, "Reset links used to set a new password.");
    describe_counter!(LOCKOUTS_TOTAL, "Logins locked after failed sign-ins.");
    describe_gauge!(TICKETS_OPEN, "Open support tickets (read when scraped).");
    describe_gauge!(
        TICKET_AGE_SECONDS,
        metrics::Unit::Seconds,
        "Age of the oldest open support ticket; 0 when none is open (read when scraped)."
    );
    describe_counter!(
        TELEGRAM_API_ERRORS_TOTAL,
        "Bot API calls that failed, by HTTP status or error class."
    );
    describe_counter!(EMAILS_TOTAL, "Mails the outbox tried to send, by result.");
}

/// The page `/metrics` serves: the database's gauges refreshed first. A
/// database that does not answer leaves them as they were (and `/readyz`
/// says so).
pub async fn render(store: &Store, now: chrono::DateTime<chrono::Utc>) -> String {
    let handle = install();
    match database_gauges(store, now).await {
        Ok(()) => {}
        Err(error) => tracing::warn!(%error, "metrics: database gauges not refreshed"),
    }
    handle.run_upkeep();
    handle.render()
}

async fn database_gauges(store: &Store, now: chrono::DateTime<chrono::Utc>) -> StoreResult<()> {
    let outbox = store.outbox_pending_count().await?;
    let (open, oldest) = store.open_tickets_summary().await?;
    let inbox = store.inbox_depth().await?;
    gauge!(INBOX_DEPTH).set(inbox as f64);
    gauge!(OUTBOX_DEPTH).set(outbox as f64);
    gauge!(TICKETS_OPEN).set(open as f64);
    let age = oldest.map_or(0, |since| (now - since).num_seconds().max(0));
    gauge!(TICKET_AGE_SECONDS).set(age as f64);
    Ok(())
}

/// An update arrived (through polling or the webhook).
pub fn update_received(update: &Update) {
    counter!(UPDATES_TOTAL, "kind" => update_kind(&update.kind)).increment(1);
}

/// Telegram answered 429 and the send is tried again after its wait.
pub fn telegram_flood_wait() {
    counter!(TELEGRAM_API_ERRORS_TOTAL, "code" => "429").increment(1);
}

/// The replicas this one shares Telegram's limits with (itself included).
pub fn replicas(running: u32) {
    gauge!(REPLICAS).set(f64::from(running));
}

/// An update left the inbox without reaching a handler (unparsable).
pub fn update_dropped() {
    counter!(UPDATES_DROPPED_TOTAL).increment(1);
}

/// The dispatcher finished with an update that took `since` until now.
pub fn update_handled(since: Instant) {
    histogram!(HANDLER_SECONDS).record(since.elapsed().as_secs_f64());
}

pub fn reset_link_issued() {
    counter!(RESET_LINKS_ISSUED_TOTAL).increment(1);
}

pub fn reset_link_used() {
    counter!(RESET_LINKS_USED_TOTAL).increment(1);
}

pub fn lockout() {
    counter!(LOCKOUTS_TOTAL).increment(1);
}

/// What became of one attempt to send a mail.
#[derive(Debug, Clone, Copy)]
pub enum EmailResult {
    Sent,
    /// A transient failure; it is tried again.
    Retry,
    /// Given up.
    Failed,
}

pub fn email(result: EmailResult) {
    let result = match result {
        EmailResult::Sent => "sent",
        EmailResult::Retry => "retry",
        EmailResult::Failed => "failed",
    };
    counter!(EMAILS_TOTAL, "result" => result).increment(1);
}

/// A Bot API call failed.
pub fn telegram_error(error: &RequestError) {
    counter!(TELEGRAM_API_ERRORS_TOTAL, "code" => error_code(error)).increment(1);
}

/// A failure that may be a Bot API error somewhere in its chain (handlers
/// return `anyhow::Error`).
pub fn telegram_error_in(error: &anyhow::Error) {
    if let Some(error) = error.chain().find_map(|cause| cause.downcast_ref::<RequestError>()) {
        telegram_error(error);
    }
}

/// The `code` label: the HTTP status Telegram answered, as far as teloxide
/// keeps it (it keeps the description, whose first words name the status),
/// or the class of a failure that got no answer.
pub fn error_code(error: &RequestError) -> &'static str {
    match error {
        RequestError::RetryAfter(_) => "429",
        RequestError::MigrateToChatId(_) => "400",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "invalid_json",
        RequestError::Io(_) => "io",
        RequestError::Api(api) => {
            let description = match api {
                ApiError::Unknown(text) => text.clone(),
                known => known.to_string(),
            };
            const STATUSES: [(&str, &str); 7] = [
                ("Bad Request", "400"),
                ("Unauthorized", "401"),
                ("Forbidden", "403"),
                ("Not Found", "404"),
                ("Conflict", "409"),
                ("Too Many Requests", "429"),
                ("Internal Server Error", "500"),
            ];
            STATUSES
                .iter()
                .find(|(prefix, _)| description.starts_with(prefix))
                .map_or("5xx", |(_, code)| code)
        }
    }
}

/// The Bot API's name for an update's kind (the field that carries it).
pub fn update_kind(kind: &UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message(_) => "message",
        UpdateKind::EditedMessage(_) => "edited_message",
        UpdateKind::ChannelPost(_) => "channel_post",
        UpdateKind::EditedChannelPost(_) => "edited_channel_post",
        UpdateKind::InlineQuery(_) => "inline_query",
        UpdateKind::ChosenInlineResult(_) => "chosen_inline_result",
        UpdateKind::CallbackQuery(_) => "callback_query",
        UpdateKind::MyChatMember(_) => "my_chat_member",
        UpdateKind::ChatMember(_) => "chat_member",
        UpdateKind::ChatJoinRequest(_) => "chat_join_request",
        UpdateKind::Error(_) => "unparsed",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(description: &str) -> RequestError {
        let json = format!(r#""{description}""#);
        RequestError::Api(serde_json::from_str(&json).expect("any text is an ApiError"))
    }

    #[test]
    fn error_codes_come_from_the_description() {
        assert_eq!(error_code(&api("Forbidden: bot was blocked by the user")), "403");
        assert_eq!(error_code(&api("Bad Request: chat not found")), "400");
        assert_eq!(error_code(&api("Conflict: terminated by other getUpdates request")), "409");
        assert_eq!(error_code(&api("Bad Gateway")), "5xx");
        assert_eq!(
            error_code(&RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(3))),
            "429"
        );
    }
}
