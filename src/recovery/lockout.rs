//! "My account is locked": why, since when and until when, for a verified
//! account, and the notice when it unlocks.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryResult, VerifiedAccount};
use crate::domain::{
    Account, CompanyName, Delivery, Lang, Lock, NewDelivery, delivery::unlock_notice_key, login_key,
};

/// What stands between the account and signing in, as the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Locked for a while after `failures` wrong passwords.
    Temporary { failures: u32, since: DateTime<Utc>, until: DateTime<Utc> },
    /// Locked until an operator lifts it (too many locks in a row).
    Permanent { since: DateTime<Utc> },
    /// Blocked by the company's CRM administrator.
    Blocked { since: DateTime<Utc> },
    /// Nothing: the password, the keyboard or the device are to blame.
    NotLocked,
}

/// The diagnosis of a verified account.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub status: LockStatus,
    /// When the company's subscription ended, if it has.
    pub licence_ended: Option<DateTime<Utc>>,
}

/// The answer to "tell me when it unlocks".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockNotice {
    /// Queued for this time.
    Queued(DateTime<Utc>),
    /// No temporary lock to wait for (lifted meanwhile, or not one that
    /// lifts by itself).
    NothingToWaitFor,
}

impl Recovery {
    /// Why this account cannot sign in, as far as we know.
    pub async fn diagnose_lock(&self, account: &Account) -> RecoveryResult<Diagnosis> {
        let now = self.now();
        let status = match account.blocked_at {
            Some(since) => LockStatus::Blocked { since },
            None => {
                let stored = self.store.lockout_state(&login_key(account.login.as_str())).await?;
                let state = self.lockout.settle(stored, now);
                match self.lockout.lock(&state, now) {
                    Some(Lock::Until(until)) => LockStatus::Temporary {
                        failures: self.lockout.max_failures,
                        since: until - self.lockout.wait(state.locks.max(1)),
                        until,
                    },
                    Some(Lock::Permanent) => {
                        LockStatus::Permanent { since: state.locked_permanently_at.unwrap_or(now) }
                    }
                    None => LockStatus::NotLocked,
                }
            }
        };
        Ok(Diagnosis { status, licence_ended: self.licence_ended(account, now).await? })
    }

    /// When the account's company's subscription ended, if it has: every
    /// path that helps the user mentions it.
    pub async fn lapsed_licence(&self, account: &Account) -> RecoveryResult<Option<DateTime<Utc>>> {
        self.licence_ended(account, self.now()).await
    }

    /// When the account's company's subscription ended, if it has by `now`.
    async fn licence_ended(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> RecoveryResult<Option<DateTime<Utc>>> {
        let Ok(name) = CompanyName::parse(&account.company) else {
            return Ok(None);
        };
        let company = self.store.company(&name).await?;
        Ok(company.and_then(|c| c.license_expires_at).filter(|ended| *ended <= now))
    }

    /// Queues "your account is unlocked" for the moment the temporary lock
    /// ends; asking again replaces the earlier request. A reset that lifts
    /// the lock first cancels it.
    pub async fn notify_when_unlocked(
        &self,
        verified: &VerifiedAccount,
        lang: Lang,
    ) -> RecoveryResult<UnlockNotice> {
        let Diagnosis { status, .. } = self.diagnose_lock(&verified.account).await?;
        let LockStatus::Temporary { until, .. } = status else {
            return Ok(UnlockNotice::NothingToWaitFor);
        };
        let account = &verified.account;
        let delivery = NewDelivery {
            payload: Delivery::UnlockNotice {
                to: verified.tg_user_id,
                account_id: account.id,
                login: account.login.to_string(),
                lang,
            },
            due_at: until,
            key: Some(unlock_notice_key(account.id, verified.tg_user_id)),
        };
        self.deliver(delivery).await?;
        tracing::info!(account_id = %account.id, tg_user_id = %verified.tg_user_id, %until,
            "unlock notice queued");
        Ok(UnlockNotice::Queued(until))
    }

    /// Whole minutes until `until`, at least one.
    pub fn minutes_until(&self, until: DateTime<Utc>) -> i64 {
        let left = until - self.now();
        ((left + Duration::seconds(59)).num_minutes()).max(1)
    }
}
