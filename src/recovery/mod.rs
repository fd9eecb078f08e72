//! The use cases of account recovery, given a store and a clock. The rules
//! live here once; the bot and the HTTP service only translate.

mod accounts;
mod binding;
mod credentials;
mod hold;
mod identity;
mod import;
mod licence;
mod lockout;
mod mail;
mod prelink;
mod reset;
mod security;
mod signin;
mod support;
mod two_factor;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use accounts::SyncSource;
pub use binding::{CodeCheck, CodeRequest, SecondProof};
pub use credentials::{Admission, HashingQueue, hash_password, prepare_sign_in, verify_password};
pub use hold::{DeadHold, HoldStatus, HoldView};
pub use identity::{ContactClaim, ContactRefusal, VerifiedAccount};
pub use import::{
    ImportError, ImportReport, deactivate_missing, import_accounts, import_accounts_with,
};
pub use licence::AdminAlert;
pub use lockout::{Diagnosis, LockStatus, UnlockNotice};
pub use mail::{DeadDispute, DisputeView, dispute_ttl};
pub use prelink::{PRELINK_PAYLOAD_PREFIX, prelink_ttl};
pub use reset::{
    Assessment, ClientAddr, CompletedReset, DeadLink, IssueOutcome, IssuedLink, LinkView,
    ResetFailure,
};
pub use signin::{SignIn, SignInRefusal, SignedIn, unlock_login};
pub use support::{
    StaffMember, StaffOutcome, Submitted, SupportPolicy, TicketRequest, unblock_recovery,
};
pub use two_factor::{
    BackupCodeCheck, EnrolRefusal, Enrolled, EnrolmentCheck, NewSecret, PendingEnrolment,
    TotpCheck, TwoFactorSource, TwoFactorState,
};

use crate::{
    clock::Clock,
    domain::{
        AccountId, AuditEvent, AuditOutcome, LockoutPolicy, NewDelivery, PasswordPolicy,
        PublicUrls, ResetPolicy, TelegramUserId,
    },
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
    /// A two-factor secret cannot be opened (no SECRET_KEY, a key that is
    /// neither SECRET_KEY nor SECRET_KEY_PREVIOUS, a damaged row).
    #[error("two-factor secret: {0}")]
    Secrets(String),
}

pub type RecoveryResult<T> = Result<T, RecoveryError>;

/// Tells whoever delivers the outbox that something was queued, so it need
/// not wait for its next look.
pub trait OutboxWaker: Send + Sync + std::fmt::Debug {
    fn wake(&self);
}

/// The rules recovery applies, as configured.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub reset: ResetPolicy,
    pub password: PasswordPolicy,
    pub lockout: LockoutPolicy,
}

/// The recovery service: cheap to clone, shared by the bot and HTTP.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub store: Store,
    clock: Arc<dyn Clock>,
    policy: ResetPolicy,
    password_policy: PasswordPolicy,
    lockout: LockoutPolicy,
    urls: PublicUrls,
    hashing: HashingQueue,
    /// The page's strength meter, apart from `hashing`.
    meter: HashingQueue,
    outbox: Arc<dyn OutboxWaker>,
    /// E-mail is on: notices are mailed too.
    mail_on: bool,
    /// The support desk's promise, when there is a staff group (tickets
    /// opened outside Telegram need it).
    support: Option<SupportPolicy>,
    /// The second proof a Telegram user not yet bound gives.
    binding: crate::domain::BindingPolicy,
    /// After a phone or e-mail change, how long the phone alone binds
    /// nobody (`PHONE_CHANGE_COOLDOWN_DAYS`).
    contact_cooldown: chrono::Duration,
    /// The key TOTP secrets are sealed with; `None`: 2FA enrolment is off.
    secrets: Option<crate::domain::SecretBox>,
    /// The issuer authenticator apps show (`BRAND_NAME`).
    brand_name: String,
}

impl Recovery {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policies: Policies,
        urls: PublicUrls,
        hashing: HashingQueue,
        outbox: Arc<dyn OutboxWaker>,
    ) -> Self {
        Self {
            store,
            clock,
            policy: policies.reset,
            password_policy: policies.password,
            lockout: policies.lockout,
            urls,
            hashing,
            meter: HashingQueue::new(credentials::cores()),
            outbox,
            mail_on: false,
            support: None,
            binding: crate::domain::BindingPolicy::PhoneAlone,
            contact_cooldown: chrono::Duration::days(7),
            secrets: None,
            brand_name: "CRM".to_owned(),
        }
    }

    /// Two-factor enrolment with secrets sealed by `secrets` (`SECRET_KEY`;
    /// `None` turns enrolment off), named `brand_name` in authenticator
    /// apps.
    pub fn with_two_factor(
        mut self,
        secrets: Option<crate::domain::SecretBox>,
        brand_name: impl Into<String>,
    ) -> Self {
        self.secrets = secrets;
        self.brand_name = brand_name.into();
        self
    }

    /// Mails notices to accounts' addresses too (e-mail is configured).
    pub fn with_mail(mut self, on: bool) -> Self {
        self.mail_on = on;
        self
    }

    /// How a Telegram user not yet bound to an account proves itself, and
    /// for how long after a contact change the phone alone binds nobody.
    pub fn with_binding(
        mut self,
        policy: crate::domain::BindingPolicy,
        contact_cooldown: chrono::Duration,
    ) -> Self {
        self.binding = policy;
        self.contact_cooldown = contact_cooldown;
        self
    }

    /// There is a staff group, answering in `policy`'s time.
    pub fn with_support(mut self, policy: Option<SupportPolicy>) -> Self {
        self.support = policy;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn urls(&self) -> &PublicUrls {
        &self.urls
    }

    /// Writes an audit row for a decision taken outside the rules here
    /// (a refused staff button).
    pub async fn audit_entry(&self, entry: AuditEntry) {
        self.audit(entry).await;
    }

    /// Writes an audit row; a failure here is logged, never shown to the user,
    /// and never undoes the decision it records.
    async fn audit(&self, entry: AuditEntry) {
        let event = entry.event;
        if let Err(error) = self.store.audit(self.now(), entry).await {
            tracing::error!(event = event.as_str(), %error, "audit row not written");
        }
    }

    /// Tells the outbox to look again (something it holds changed).
    pub fn wake_outbox(&self) {
        self.outbox.wake();
    }

    /// Queues a delivery outside any other change and wakes the outbox.
    pub async fn deliver(&self, delivery: NewDelivery) -> RecoveryResult<()> {
        self.store.enqueue(&delivery, self.now()).await?;
        self.outbox.wake();
        Ok(())
    }

    /// Records that the user says a password change was not theirs; false
    /// (and nothing recorded) unless this Telegram user was told of a change
    /// to that account, that is, used a link for it.
    pub async fn record_dispute(
        &self,
        tg_user_id: TelegramUserId,
        account_id: AccountId,
    ) -> RecoveryResult<bool> {
        // Only for an account this user is bound to (a finished recovery
        // counts): a forged button cannot block someone else's account.
        if !self.store.used_reset_link(tg_user_id, account_id).await?
            && !self.store.is_bound(tg_user_id, account_id).await?
        {
            tracing::info!(%tg_user_id, %account_id, "dispute for a change this user was not told of");
            return Ok(false);
        }
        tracing::warn!(%tg_user_id, %account_id, "password change disputed by the user");
        self.audit(
            AuditEntry::new(AuditEvent::PasswordChangeDisputed, AuditOutcome::Reported)
                .user(tg_user_id)
                .account(account_id),
        )
        .await;
        Ok(true)
    }
}
