//! The dialogue state of a private chat, persisted as JSON in `dialogues`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, DraftStep, Phone, TicketId};

/// What the user wants to do once they have proved who they are. The
/// identity step is one flow for all of them; each purpose picks up the
/// verified account where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Forgot password: a one-time reset link.
    ResetPassword,
    /// Subscription expired: the company's licence as the CRM has it.
    Subscription,
    /// Account locked: why, since when, until when.
    AccountLocked,
    /// Lost the 2FA device: a backup code resets 2FA.
    LostTwoFactor,
    /// "My security": 2FA, backup codes, contacts on file, notifications.
    MySecurity,
}

/// Where a user is in a conversation; each variant carries exactly what the
/// next step needs. Changing a variant's shape means bumping
/// [`super::storage::STATE_VERSION`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum State {
    #[default]
    Menu,
    /// Waiting for the user's own contact.
    AwaitingContact { purpose: Purpose },
    /// The phone verified at `verified_at` has several accounts; waiting
    /// for a pick.
    ChoosingAccount {
        purpose: Purpose,
        phone: Phone,
        account_ids: Vec<AccountId>,
        verified_at: DateTime<Utc>,
    },
    /// Told why `account_id` (on the phone verified at `verified_at`) is
    /// locked; its buttons act on that account and no other.
    LockExplained { phone: Phone, account_id: AccountId, verified_at: DateTime<Utc> },
    /// Writing a ticket: the answer to `question` is expected.
    TicketDraft { ticket_id: TicketId, question: DraftStep },
    /// Rated a closed ticket: an optional comment is expected.
    RatingComment { ticket_id: TicketId },
    /// A code was mailed to `account_id`'s address for the user who proved
    /// `phone`; the typed code is expected.
    AwaitingCode { account_id: AccountId, phone: Phone },
    /// Opened a pre-link from the CRM; "Link" is expected.
    ConfirmingLink { prelink_id: i64 },
    /// Lost the 2FA device of `account_id` (on the phone proved): a typed
    /// backup code is expected.
    AwaitingBackupCode { account_id: AccountId, phone: Phone },
    /// "My security" of `account_id`, shown after the phone was proved at
    /// `verified_at`; its buttons act on that account.
    SecurityShown { account_id: AccountId, phone: Phone, verified_at: DateTime<Utc> },
    /// Setting up 2FA for `account_id`: the first code from the app is
    /// expected. `cleanup` holds the messages deleted once it is confirmed
    /// (the QR code, the setup key, the typed codes).
    Enrolling { account_id: AccountId, cleanup: Vec<i32> },
}
