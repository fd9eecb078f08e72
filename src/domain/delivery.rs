//! What the product sends on its own, through the outbox: typed, so that the
//! rules say *what* happened and the bot decides *how* it reads in Telegram
//! when it delivers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AccountId, Direction, Lang, TelegramUserId, TicketId};

/// One row of the outbox, as JSON in `outbox.payload`. New variants may be
/// added; renaming one strands the rows already queued under its old name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// "Your password was changed", with an "It wasn't me" button.
    PasswordChanged {
        to: TelegramUserId,
        account_id: AccountId,
        login: String,
        lang: Lang,
        changed_at: DateTime<Utc>,
        /// IANA name of the account's zone, if it has one.
        time_zone: Option<String>,
    },
    /// Takes back the message that holds a reset link once the link is
    /// used, revoked or expired: deleted, or, where Telegram no longer
    /// allows that (after 48 hours), edited to say it is no longer valid.
    RetractLink { chat: TelegramUserId, message_id: i32, lang: Lang },
    /// A message rendered by an earlier version, delivered as it is.
    RenderedMessage { chat: i64, html: String, reply_markup: Option<String> },
    /// "Your account is unlocked", when a temporary lock ends.
    UnlockNotice { to: TelegramUserId, account_id: AccountId, login: String, lang: Lang },
    /// To a company administrator: an employee cannot work because the
    /// company's licence ended; what to do.
    LicenceAdminAlert {
        to: TelegramUserId,
        lang: Lang,
        company: String,
        /// Masked: the administrator learns who, not the whole login.
        employee_login: String,
        employee_name: String,
        ended_at: DateTime<Utc>,
    },
    /// To a company administrator: the licence ends in `days` days. The
    /// worker drops it if the company's end is no longer `ends_at`.
    LicenceReminder {
        to: TelegramUserId,
        lang: Lang,
        company: String,
        days: u32,
        ends_at: DateTime<Utc>,
    },
    /// Brings one side of a ticket up to date, in order: the staff group
    /// (its topic, its card, the user's messages and notices for staff) or
    /// the user's chat (staff replies and notices).
    TicketRelay { ticket_id: TicketId, to_user: bool },
    /// Nobody has taken the ticket: a reminder in the group; the second
    /// level mentions the staff admins.
    TicketReminder { ticket_id: TicketId, level: u8 },
    /// An e-mail to the account's address about something done to it,
    /// with a "This wasn't me" link made when it is sent (no secret waits
    /// in the outbox).
    Mail { account_id: AccountId, to: String, lang: Lang, notice: MailNotice },
    /// To a Telegram user who was bound to the account: its phone or e-mail
    /// changed, and they are no longer bound.
    ContactChanged { to: TelegramUserId, login: String, lang: Lang },
    /// To the Telegram user who waits out a hold: it has ended, ask again.
    /// Dropped if the hold was cancelled or used meanwhile.
    HoldEnded { to: TelegramUserId, hold_id: i64, lang: Lang },
    /// To the Telegram user who waited: the account's address cancelled
    /// the hold.
    HoldCancelled { to: TelegramUserId, lang: Lang },
    /// To a Telegram user bound to the account: something happened to it,
    /// with an "It wasn't me" button.
    SecurityAlert {
        to: TelegramUserId,
        account_id: AccountId,
        login: String,
        lang: Lang,
        alert: super::SecurityAlert,
        at: DateTime<Utc>,
        /// IANA name of the account's zone, if it has one.
        time_zone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
    },
}

/// What a mail tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailEvent {
    ResetLinkIssued,
    PasswordChanged,
    /// A six-digit code to prove a new Telegram user (made when sent).
    BindingCode,
    /// A Telegram account was bound to the account (a pre-link).
    TelegramBound,
    /// The account's phone or e-mail changed in the CRM.
    ContactChanged,
    /// A new Telegram user waits out a hold; the mail carries a link that
    /// cancels it (made when sent).
    BindingHold,
    /// A hold ended and its Telegram user asked again: bound now.
    HoldEnded,
    /// 2FA was reset: with a backup code in the bot, or by staff for the
    /// ticket's user.
    TwoFactorOff,
}

impl MailEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MailEvent::ResetLinkIssued => "reset_link_issued",
            MailEvent::PasswordChanged => "password_changed",
            MailEvent::BindingCode => "binding_code",
            MailEvent::TelegramBound => "telegram_bound",
            MailEvent::ContactChanged => "contact_changed",
            MailEvent::BindingHold => "binding_hold",
            MailEvent::HoldEnded => "hold_ended",
            MailEvent::TwoFactorOff => "two_factor_off",
        }
    }
}

/// A mailed notice: what happened to which login, when, and through which
/// Telegram account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailNotice {
    pub event: MailEvent,
    pub login: String,
    pub at: DateTime<Utc>,
    /// IANA name of the account's zone, if it has one.
    pub time_zone: Option<String>,
    pub via_id: TelegramUserId,
    pub via_name: Option<String>,
    /// For a binding code: its row, which gets the code's hash when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<i64>,
    /// For a hold: its row, which gets the cancel link's hash when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<i64>,
    /// For a hold: when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl MailNotice {
    /// A notice of `event` on `account` at `at`, done through Telegram user
    /// `via` (shown as `via_name`).
    pub fn about(
        event: MailEvent,
        account: &super::Account,
        at: DateTime<Utc>,
        via_id: TelegramUserId,
        via_name: Option<String>,
    ) -> Self {
        Self {
            event,
            login: account.login.to_string(),
            at,
            time_zone: account.time_zone.map(|tz| tz.name().to_owned()),
            via_id,
            via_name,
            code_id: None,
            hold_id: None,
            until: None,
        }
    }
}

impl Delivery {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Delivery::PasswordChanged { .. } => "password_changed",
            Delivery::RetractLink { .. } => "retract_link",
            Delivery::RenderedMessage { .. } => "rendered_message",
            Delivery::UnlockNotice { .. } => "unlock_notice",
            Delivery::LicenceAdminAlert { .. } => "licence_admin_alert",
            Delivery::LicenceReminder { .. } => "licence_reminder",
            Delivery::TicketRelay { to_user: false, .. } => "ticket_to_group",
            Delivery::TicketRelay { to_user: true, .. } => "ticket_to_user",
            Delivery::TicketReminder { .. } => "ticket_reminder",
            Delivery::Mail { .. } => "mail",
            Delivery::ContactChanged { .. } => "contact_changed",
            Delivery::HoldEnded { .. } => "hold_ended",
            Delivery::HoldCancelled { .. } => "hold_cancelled",
            Delivery::SecurityAlert { .. } => "security_alert",
        }
    }
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub payload: Delivery,
    /// Not before this instant.
    pub due_at: DateTime<Utc>,
    /// At most one pending row per key: queueing again replaces the pending
    /// one (its payload and due time), and the key cancels it.
    pub key: Option<String>,
}

impl NewDelivery {
    pub fn now(payload: Delivery, now: DateTime<Utc>) -> Self {
        Self { payload, due_at: now, key: None }
    }
}

/// The key of the retraction of one link's message.
pub fn retract_link_key(token_id: i64) -> String {
    format!("retract-link:{token_id}")
}

/// The key of one user's "tell me when it unlocks" for one account.
pub fn unlock_notice_key(account_id: AccountId, to: TelegramUserId) -> String {
    format!("{}{to}", unlock_notice_prefix(account_id))
}

/// What every unlock notice of an account's key starts with (a reset that
/// unlocks early cancels them all).
pub fn unlock_notice_prefix(account_id: AccountId) -> String {
    format!("unlock-notice:{account_id}:")
}

/// The key of a ticket's relay job one way: queueing it again while it is
/// pending is the same job.
pub fn relay_key(ticket: TicketId, direction: Direction) -> String {
    format!("ticket-relay:{ticket}:{}", direction.as_str())
}

/// The key of a ticket's SLA reminder of one level.
pub fn reminder_key(ticket: TicketId, level: u8) -> String {
    format!("ticket-reminder:{ticket}:{level}")
}
