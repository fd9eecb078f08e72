//! The use cases of account recovery, given a store and a clock. The rules
//! live here once; the bot and the HTTP service only translate.

mod credentials;
mod identity;
mod import;
mod reset;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use url::Url;

pub use crate::store::NewNotice;
pub use credentials::{hash_password, verify_password};
pub use identity::{ContactClaim, ContactRefusal};
pub use import::{ImportError, ImportReport, import_accounts};
pub use reset::{CompletedReset, IssueOutcome, LinkView, ResetFailure};

use crate::{
    clock::Clock,
    config::ResetPolicy,
    domain::AuditEvent,
    store::{AuditEntry, Store, StoreError},
};

/// Something went wrong below the rules (database, hashing thread); the
/// user sees a generic apology, the log sees this.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("random number generator: {0}")]
    Random(String),
    #[error("background task: {0}")]
    Task(String),
}

pub type RecoveryResult<T> = Result<T, RecoveryError>;

/// How the user is told about what happened to their account, outside the
/// conversation. The rules decide *when*; the bot renders *what*. Notices
/// are queued in the outbox inside the transaction that makes the change.
pub trait Notices: Send + Sync + std::fmt::Debug {
    /// "Your password was changed", ready to queue.
    fn password_changed(&self, done: &CompletedReset) -> NewNotice;
    /// Called after a notice was committed to the outbox.
    fn queued(&self);
}

/// The recovery service: cheap to clone, shared by the bot and HTTP.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub store: Store,
    clock: Arc<dyn Clock>,
    policy: ResetPolicy,
    public_base_url: Url,
    notices: Arc<dyn Notices>,
}

impl Recovery {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policy: ResetPolicy,
        public_base_url: Url,
        notices: Arc<dyn Notices>,
    ) -> Self {
        Self { store, clock, policy, public_base_url, notices }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Writes an audit row; a failure here is logged, never shown to the user,
    /// and never undoes the decision it records.
    async fn audit(&self, entry: AuditEntry) {
        let event = entry.event;
        if let Err(error) = self.store.audit(self.now(), entry).await {
            tracing::error!(event = event.as_str(), %error, "audit row not written");
        }
    }

    /// Records that the user says a password change was not theirs.
    pub async fn record_dispute(&self, tg_user_id: i64, account_id: i64) {
        tracing::warn!(tg_user_id, account_id, "password change disputed by the user");
        self.audit(AuditEntry {
            event: AuditEvent::PasswordChangeDisputed,
            tg_user_id: Some(tg_user_id),
            account_id: Some(account_id),
            outcome: "reported",
            detail: None,
        })
        .await;
    }
}
