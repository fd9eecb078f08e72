//! `NEW_BINDING_POLICY=hold`: a Telegram user not yet bound to an account
//! proves nothing more, but waits. The account's address is told at once
//! with a link that cancels the request; the user may withdraw it in the
//! bot; once the wait is over they ask again and the phone binds them.

use chrono::{DateTime, Duration, Utc};

use super::{ClientAddr, Recovery, RecoveryError, RecoveryResult, VerifiedAccount};
use crate::{
    domain::{
        AuditEvent, AuditOutcome, BindingPolicy, Delivery, Lang, MailEvent, MailNotice,
        NewDelivery, ResetToken, TelegramUserId,
    },
    store::{AuditEntry, HoldCancelledBy, StoredHold},
};

/// Where a user's hold on an account stands when they ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldStatus {
    /// Started now: the address (masked) was told; it ends then.
    Started { hold_id: i64, masked_email: String, until: DateTime<Utc> },
    /// Started earlier and not over yet.
    Waiting { hold_id: i64, until: DateTime<Utc> },
    /// Over: the user is bound now.
    Ended,
    /// The account's address cancelled this user's request: only support
    /// can help now.
    CancelledByOwner,
    /// Three holds were started for the account in the last day; the next
    /// one from then.
    TooMany { retry_at: DateTime<Utc> },
}

/// A cancel link that works, as its page shows it.
#[derive(Debug, Clone)]
pub struct HoldView {
    pub lang: Lang,
    pub masked_login: String,
}

/// Why a mailed cancel link does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadHold {
    Unknown,
    /// Cancelled, used, or withdrawn already; in the hold's language.
    Over(Lang),
}

impl Recovery {
    /// The wait under the hold policy, if that is the policy.
    fn hold_wait(&self) -> Option<Duration> {
        match self.binding {
            BindingPolicy::Hold { wait } => Some(wait),
            _ => None,
        }
    }

    /// The user asks for access to the verified account under the hold
    /// policy: a hold starts, goes on, or is over and binds them.
    pub async fn request_hold(
        &self,
        verified: &VerifiedAccount,
        lang: Lang,
    ) -> RecoveryResult<HoldStatus> {
        let now = self.now();
        let account = &verified.account;
        let user = verified.tg_user_id;
        let wait = self.hold_wait().unwrap_or(Duration::hours(BindingPolicy::DEFAULT_HOLD_HOURS));
        if let Some(hold) = self.store.latest_hold(user, account.id).await? {
            if hold.cancelled_by == Some(HoldCancelledBy::Email) {
                return Ok(HoldStatus::CancelledByOwner);
            }
            if hold.is_pending() && hold.ends_at > now {
                return Ok(HoldStatus::Waiting { hold_id: hold.id, until: hold.ends_at });
            }
            if hold.is_pending() && now - hold.ends_at < BindingPolicy::hold_grace() {
                return self.end_hold(&hold, account, lang).await;
            }
        }
        let day = Duration::days(1);
        let limit = BindingPolicy::HOLDS_PER_DAY;
        let until = now + wait;
        let started =
            self.store.insert_hold(user, account.id, lang, now, until, now - day, limit).await?;
        let hold_id = match started {
            Ok(id) => id,
            Err(recent) => {
                let oldest = recent.get(recent.len().saturating_sub(limit)).copied();
                let entry = AuditEntry::new(AuditEvent::BindingHoldStarted, AuditOutcome::Refused)
                    .user(user)
                    .account(account.id)
                    .detail("rate_limited");
                self.audit(entry).await;
                return Ok(HoldStatus::TooMany { retry_at: oldest.unwrap_or(now) + day });
            }
        };
        let via_name = self.store.display_name(user).await?;
        let notice = MailNotice {
            hold_id: Some(hold_id),
            until: Some(until),
            ..MailNotice::about(MailEvent::BindingHold, account, now, user, via_name)
        };
        let mail = Delivery::Mail {
            account_id: account.id,
            to: account.email.as_str().to_owned(),
            lang: account.lang.unwrap_or(lang),
            notice,
        };
        self.deliver(NewDelivery::now(mail, now)).await?;
        let ended = Delivery::HoldEnded { to: user, hold_id, lang };
        self.deliver(NewDelivery { payload: ended, due_at: until, key: None }).await?;
        tracing::info!(%user, account_id = %account.id, %until, "binding hold started");
        let entry = AuditEntry::new(AuditEvent::BindingHoldStarted, AuditOutcome::Ok)
            .user(user)
            .account(account.id)
            .detail(format!("until {}", until.to_rfc3339()));
        self.audit(entry).await;
        Ok(HoldStatus::Started { hold_id, masked_email: account.email.masked(), until })
    }

    /// A hold that has ended binds its user, audited, and the address is
    /// told.
    async fn end_hold(
        &self,
        hold: &StoredHold,
        account: &crate::domain::Account,
        lang: Lang,
    ) -> RecoveryResult<HoldStatus> {
        let now = self.now();
        let audit = AuditEntry::new(AuditEvent::TelegramBound, AuditOutcome::Ok)
            .user(hold.tg_user_id)
            .account(hold.account_id)
            .detail("hold");
        if !self.store.use_hold(hold, now, &audit).await? {
            // Used by a second press this very moment, or cancelled.
            return Ok(if self.store.is_bound(hold.tg_user_id, hold.account_id).await? {
                HoldStatus::Ended
            } else {
                HoldStatus::CancelledByOwner
            });
        }
        tracing::info!(user = %hold.tg_user_id, account_id = %hold.account_id,
            "Telegram user bound after a hold");
        self.mail_now(account, MailEvent::HoldEnded, hold.tg_user_id, lang, now).await?;
        Ok(HoldStatus::Ended)
    }

    /// Whether the "it has ended" message for this hold should still go
    /// out (not cancelled, not used).
    pub async fn hold_still_pending(&self, hold_id: i64) -> RecoveryResult<bool> {
        Ok(self.store.hold(hold_id).await?.is_some_and(|hold| hold.is_pending()))
    }

    /// The user withdraws their own request in the bot; false if it was
    /// not theirs or no longer pending.
    pub async fn withdraw_hold(&self, user: TelegramUserId, hold_id: i64) -> RecoveryResult<bool> {
        let Some(hold) = self.store.hold(hold_id).await? else { return Ok(false) };
        if hold.tg_user_id != user {
            return Ok(false);
        }
        let audit = AuditEntry::new(AuditEvent::BindingHoldCancelled, AuditOutcome::Ok)
            .user(user)
            .account(hold.account_id)
            .detail("withdrawn in the bot");
        let done =
            self.store.cancel_hold(hold.id, HoldCancelledBy::User, self.now(), &audit).await?;
        if done {
            tracing::info!(%user, account_id = %hold.account_id, "binding hold withdrawn");
        }
        Ok(done)
    }

    /// A fresh cancel link for a hold's mail being sent now (only its hash
    /// is kept); `None` if the hold is no longer pending (no mail).
    pub async fn new_hold_cancel_link(&self, hold_id: i64) -> RecoveryResult<Option<url::Url>> {
        let token = ResetToken::generate().map_err(|e| RecoveryError::Random(e.to_string()))?;
        let set = self.store.set_hold_cancel_hash(hold_id, &token.hash()).await?;
        Ok(set.then(|| self.urls.hold_link(&token)))
    }

    /// What the cancel page shows; looking cancels nothing.
    pub async fn open_hold(&self, raw: &str) -> RecoveryResult<Result<HoldView, DeadHold>> {
        let hold = match self.hold_by_link(raw).await? {
            Ok(hold) => hold,
            Err(dead) => return Ok(Err(dead)),
        };
        let Some(account) = self.store.account(hold.account_id).await? else {
            return Ok(Err(DeadHold::Unknown));
        };
        Ok(Ok(HoldView { lang: hold.lang, masked_login: account.masked_login() }))
    }

    /// Cancelled from the mailed link: audited, and the waiting user told.
    pub async fn cancel_hold_by_mail(
        &self,
        raw: &str,
        client: ClientAddr,
    ) -> RecoveryResult<Result<Lang, DeadHold>> {
        let hold = match self.hold_by_link(raw).await? {
            Ok(hold) => hold,
            Err(dead) => return Ok(Err(dead)),
        };
        let audit = AuditEntry::new(AuditEvent::BindingHoldCancelled, AuditOutcome::Reported)
            .user(hold.tg_user_id)
            .account(hold.account_id)
            .detail("cancelled from the mailed link")
            .from_addr(client);
        let now = self.now();
        if !self.store.cancel_hold(hold.id, HoldCancelledBy::Email, now, &audit).await? {
            return Ok(Err(DeadHold::Over(hold.lang)));
        }
        tracing::warn!(user = %hold.tg_user_id, account_id = %hold.account_id,
            "binding hold cancelled by the account's address");
        let told = Delivery::HoldCancelled { to: hold.tg_user_id, lang: hold.lang };
        self.deliver(NewDelivery::now(told, now)).await?;
        Ok(Ok(hold.lang))
    }

    async fn hold_by_link(&self, raw: &str) -> RecoveryResult<Result<StoredHold, DeadHold>> {
        let Some(token) = ResetToken::from_url(raw) else { return Ok(Err(DeadHold::Unknown)) };
        let Some(hold) = self.store.hold_by_cancel_hash(&token.hash()).await? else {
            return Ok(Err(DeadHold::Unknown));
        };
        if !hold.is_pending() {
            return Ok(Err(DeadHold::Over(hold.lang)));
        }
        Ok(Ok(hold))
    }
}
