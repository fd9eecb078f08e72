//! The dialogue state of a private chat, persisted as JSON in `dialogues`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Phone;

/// Where a user is in a conversation; each variant carries exactly what the
/// next step needs. Changing a variant's shape means bumping the version in
/// `store::dialogues`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum State {
    #[default]
    Menu,
    /// "Forgot password": waiting for the user's own contact.
    AwaitingContact,
    /// The phone verified at `verified_at` has several accounts; waiting
    /// for a pick.
    ChoosingAccount { phone: Phone, account_ids: Vec<i64>, verified_at: DateTime<Utc> },
}
