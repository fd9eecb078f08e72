//! Forgot password: issue a one-time link, take its message back when it is
//! done, and spend it on a new password.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use url::Url;

use super::{Recovery, RecoveryError, RecoveryResult, VerifiedAccount, credentials};
use crate::{
    domain::{
        Account, AccountId, AuditEvent, AuditOutcome, Delivery, Lang, MailEvent, NewDelivery,
        NewPassword, PasswordContext, PasswordPolicy, PasswordRejection, ResetToken,
        TelegramUserId, password,
    },
    store::{AuditEntry, NewPasswordHash, NewResetToken, RefusalCount, StoredToken},
};

/// A link that was issued, for the bot to show.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    pub token_id: i64,
    pub url: Url,
    pub expires_at: DateTime<Utc>,
    pub time_zone: Option<Tz>,
}

/// The answer to "send me a reset link".
#[derive(Debug)]
pub enum IssueOutcome {
    Issued(IssuedLink),
    /// Too many links for this account this hour.
    RateLimited {
        retry_at: DateTime<Utc>,
        time_zone: Option<Tz>,
    },
    /// The user said a change to this account was not theirs: no links
    /// until a staff admin lifts the block.
    RecoveryBlocked,
}

/// What the reset page needs to show its form.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub lang: Lang,
    pub login: String,
    /// The rules the new password must meet.
    pub policy: PasswordPolicy,
}

/// A known link that no longer works (expired, used, revoked). Its audit
/// row is written by [`Recovery::record_dead_link`] once the caller has
/// decided the request deserves one: a client hammering a dead link must not
/// grow the audit table.
#[derive(Debug, Clone)]
pub struct DeadLink(AuditEntry);

/// Why a reset did not happen.
#[derive(Debug, Clone)]
pub enum ResetFailure {
    /// Unknown, malformed, expired, used or revoked: deliberately one case
    /// for the user. `lang` is the language the link was issued in, when
    /// the link is known; `dead` is there for a known link.
    InvalidLink { lang: Option<Lang>, dead: Option<DeadLink> },
    /// The password broke a rule; the form is shown again for `login`.
    Rejected { reason: PasswordRejection, lang: Lang, login: String, policy: PasswordPolicy },
    /// That refusal was the last one the link allows: it is spent.
    Spent { reason: PasswordRejection, lang: Lang },
    /// Too many passwords are being hashed right now; try again shortly.
    Busy { lang: Lang },
}

/// What the page's strength meter shows while the user types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// zxcvbn's score, 0 (guessed at once) to 4.
    pub score: u8,
    /// The rules' verdict, as a submission would get it (the confirmation
    /// aside).
    pub verdict: Result<(), PasswordRejection>,
    /// The language the link was issued in.
    pub lang: Lang,
}

/// A reset that happened.
#[derive(Debug, Clone)]
pub struct CompletedReset {
    pub account_id: AccountId,
    pub tg_user_id: TelegramUserId,
    pub lang: Lang,
    pub login: String,
}

/// Where a request on the reset page came from, for the audit trail.
pub type ClientAddr = Option<String>;

impl Recovery {
    /// Issues a link for a verified account; older links of the account are
    /// revoked and their messages taken back.
    pub async fn issue_reset_link(
        &self,
        verified: &VerifiedAccount,
        lang: Lang,
    ) -> RecoveryResult<IssueOutcome> {
        let now = self.now();
        let account = &verified.account;
        let tg_user_id = verified.tg_user_id;
        if account.recovery_blocked_at.is_some() {
            tracing::info!(%tg_user_id, account_id = %account.id, "reset link refused: recovery blocked");
            let entry = AuditEntry::new(AuditEvent::ResetLinkIssued, AuditOutcome::Refused)
                .user(tg_user_id)
                .account(account.id)
                .detail("recovery_blocked");
            self.audit(entry).await;
            return Ok(IssueOutcome::RecoveryBlocked);
        }
        let window = Duration::hours(1);
        let limit = self.policy.links_per_hour as usize;
        let token = ResetToken::generate().map_err(|e| RecoveryError::Random(e.to_string()))?;
        let expires_at = now + self.policy.link_ttl;
        let new = NewResetToken {
            account_id: account.id,
            hash: &token.hash(),
            tg_user_id,
            lang,
            now,
            expires_at,
        };
        let stored = self.store.insert_reset_token_within_limit(&new, now - window, limit).await?;
        let token_id = match stored {
            Ok(stored) => {
                if stored.revoked > 0 {
                    // The older links' messages are due to be taken back now.
                    self.outbox.wake();
                }
                stored.id
            }
            Err(recent) => {
                // The link that must leave the window before another is allowed.
                let oldest = recent.get(recent.len().saturating_sub(limit)).copied();
                let retry_at = oldest.unwrap_or(now) + window;
                tracing::info!(%tg_user_id, account_id = %account.id, %retry_at,
                    "reset link rate-limited");
                let entry =
                    AuditEntry::new(AuditEvent::ResetLinkRateLimited, AuditOutcome::Refused);
                let detail = format!("retry at {}", retry_at.to_rfc3339());
                self.audit(entry.user(tg_user_id).account(account.id).detail(detail)).await;
                return Ok(IssueOutcome::RateLimited { retry_at, time_zone: account.time_zone });
            }
        };
        tracing::info!(%tg_user_id, account_id = %account.id, %expires_at, "reset link issued");
        crate::monitoring::reset_link_issued();
        let entry = AuditEntry::new(AuditEvent::ResetLinkIssued, AuditOutcome::Ok);
        self.audit(entry.user(tg_user_id).account(account.id)).await;
        // The second channel hears of it, whoever holds the phone.
        self.mail_now(account, MailEvent::ResetLinkIssued, tg_user_id, lang, now).await?;
        Ok(IssueOutcome::Issued(IssuedLink {
            token_id,
            url: self.urls.reset_link(&token),
            expires_at,
            time_zone: account.time_zone,
        }))
    }

    /// The bot sent link `token_id` as Telegram message `message_id`: it is
    /// deleted when the link is used, revoked or expires.
    pub async fn link_message_sent(&self, token_id: i64, message_id: i32) -> RecoveryResult<()> {
        let due = self.store.record_link_message(token_id, message_id, self.now()).await?;
        // A retraction due at the link's expiry is found by the outbox's
        // next look (at most 30 s away); waking it for that would only
        // cost two statements per link. The clock is read again after the
        // commit: a look since then has seen the row.
        if due.is_some_and(|due| due <= self.now()) {
            self.outbox.wake();
        }
        Ok(())
    }

    /// Looks a link up for the reset page without spending it: a GET (or a
    /// link-preview robot) must never use a token up. Opening a usable link
    /// is audited.
    pub async fn open_reset_link(
        &self,
        raw_token: &str,
        client: ClientAddr,
    ) -> RecoveryResult<Result<LinkView, ResetFailure>> {
        let (token, account) = match self.usable_token(raw_token).await? {
            Ok(found) => found,
            Err(invalid) => return Ok(Err(invalid)),
        };
        let entry = AuditEntry::new(AuditEvent::ResetPageOpened, AuditOutcome::Ok);
        self.audit(entry.user(token.tg_user_id).account(account.id).from_addr(client)).await;
        Ok(Ok(LinkView {
            lang: token.lang,
            login: account.login.to_string(),
            policy: self.password_policy_for(account.id).await?,
        }))
    }

    /// Checks the new password and, if it passes, spends the token and
    /// stores the password; of two concurrent calls with one token exactly
    /// one succeeds. Every refusal counts against the link.
    pub async fn complete_reset(
        &self,
        raw_token: &str,
        password: String,
        confirmation: String,
        client: ClientAddr,
    ) -> RecoveryResult<Result<CompletedReset, ResetFailure>> {
        let (token, account) = match self.usable_token(raw_token).await? {
            Ok(found) => found,
            Err(invalid) => return Ok(Err(invalid)),
        };
        let lang = token.lang;
        // Cheap rules first: a mismatch or a wrong length never queues a hash.
        let policy = self.password_policy_for(account.id).await?;
        if let Err(reason) = password::precheck(&password, &confirmation, &policy) {
            return self.refuse(&token, &account, reason, client).await;
        }
        let Some(admission) = self.hashing.admit() else {
            tracing::warn!(account_id = %account.id, "hashing queue full; reset page answered busy");
            return Ok(Err(ResetFailure::Busy { lang }));
        };
        let checked = {
            let account = account.clone();
            admission
                .run(move || check_and_hash(&account, &policy, &password, &confirmation))
                .await?
        };
        let (new_hash, length) = match checked {
            Ok(hashed) => hashed,
            Err(reason) => return self.refuse(&token, &account, reason, client).await,
        };
        let now = self.now();
        let done = CompletedReset {
            account_id: account.id,
            tg_user_id: token.tg_user_id,
            lang,
            login: account.login.to_string(),
        };
        let records = [AuditEvent::ResetLinkUsed, AuditEvent::PasswordChanged].map(|event| {
            AuditEntry::new(event, AuditOutcome::Ok)
                .user(done.tg_user_id)
                .account(done.account_id)
                .from_addr(client.clone())
        });
        let notice = NewDelivery::now(
            Delivery::PasswordChanged {
                to: done.tg_user_id,
                account_id: done.account_id,
                login: done.login.clone(),
                lang,
                changed_at: now,
                time_zone: account.time_zone.map(|tz| tz.name().to_owned()),
            },
            now,
        );
        let mut notices = vec![notice];
        notices.extend(
            self.mail_notice(&account, MailEvent::PasswordChanged, done.tg_user_id, lang, now)
                .await?,
        );
        let changed = self
            .store
            .spend_token_and_set_password(
                token.id,
                account.id,
                NewPasswordHash { hash: &new_hash, length },
                now,
                &records,
                &notices,
            )
            .await?;
        if !changed {
            tracing::info!(account_id = %account.id, "reset link lost a race or expired meanwhile");
            self.audit(invalid_link(&token, "already_used")).await;
            return Ok(Err(ResetFailure::InvalidLink { lang: Some(lang), dead: None }));
        }
        self.outbox.wake();
        tracing::info!(account_id = %done.account_id, tg_user_id = %done.tg_user_id,
            "password changed");
        crate::monitoring::reset_link_used();
        self.tell_password_changed(&account, done.tg_user_id, now).await;
        Ok(Ok(done))
    }

    /// The same rules as a submission, for the meter: nothing is counted,
    /// stored or hashed. `None` when the hashing queue is full.
    pub async fn assess_password(
        &self,
        raw_token: &str,
        candidate: String,
    ) -> RecoveryResult<Result<Option<Assessment>, ResetFailure>> {
        let (token, account) = match self.usable_token(raw_token).await? {
            Ok(found) => found,
            Err(invalid) => return Ok(Err(invalid)),
        };
        let lang = token.lang;
        let policy = self.password_policy_for(account.id).await?;
        if let Err(reason) = password::precheck(&candidate, &candidate, &policy) {
            return Ok(Ok(Some(Assessment { score: 0, verdict: Err(reason), lang })));
        }
        // Its own small queue: however busy the meter, resets keep theirs.
        let Some(admission) = self.meter.admit() else {
            return Ok(Ok(None));
        };
        let assessment = admission
            .run(move || {
                let context = context_of(&account);
                let verdict =
                    NewPassword::parse(&candidate, &candidate, &context, &policy).map(drop);
                let inputs: Vec<&str> = context.words().iter().map(String::as_str).collect();
                let normalized = password::normalize(&candidate);
                let score = u8::from(zxcvbn::zxcvbn(&normalized, &inputs).score());
                Ok(Assessment { score, verdict, lang })
            })
            .await?;
        Ok(Ok(Some(assessment)))
    }

    /// Audits a refused password and counts it against the link.
    async fn refuse(
        &self,
        token: &StoredToken,
        account: &Account,
        reason: PasswordRejection,
        client: ClientAddr,
    ) -> RecoveryResult<Result<CompletedReset, ResetFailure>> {
        let counted = self
            .store
            .count_refused_submission(token.id, self.policy.max_refused_submissions, self.now())
            .await?;
        let entry = AuditEntry::new(AuditEvent::PasswordRejected, AuditOutcome::Refused)
            .user(token.tg_user_id)
            .account(account.id)
            .detail(reason.as_str())
            .from_addr(client);
        self.audit(entry).await;
        let lang = token.lang;
        Ok(Err(match counted {
            RefusalCount::Counted(_) => ResetFailure::Rejected {
                reason,
                lang,
                login: account.login.to_string(),
                policy: self.password_policy_for(account.id).await?,
            },
            RefusalCount::Spent => {
                tracing::info!(account_id = %account.id, "reset link spent by refused passwords");
                self.outbox.wake();
                self.audit(invalid_link(token, "too_many_refusals")).await;
                ResetFailure::Spent { reason, lang }
            }
            RefusalCount::NotUsable => ResetFailure::InvalidLink { lang: Some(lang), dead: None },
        }))
    }

    /// The stored token and its account, if the link may still be used;
    /// for a known link that may not, the audit row to write.
    async fn usable_token(
        &self,
        raw_token: &str,
    ) -> RecoveryResult<Result<(StoredToken, Account), ResetFailure>> {
        let unknown = Err(ResetFailure::InvalidLink { lang: None, dead: None });
        // Unknown tokens are logged, not audited: anyone can request them,
        // and the audit table must not grow at a stranger's will.
        let Some(token) = ResetToken::from_url(raw_token) else {
            tracing::info!("reset page asked for a malformed token");
            return Ok(unknown);
        };
        let Some(stored) = self.store.reset_token(&token.hash()).await? else {
            tracing::info!("reset page asked for an unknown token");
            return Ok(unknown);
        };
        let refusal = if stored.used_at.is_some() {
            Some(invalid_link(&stored, "already_used"))
        } else if stored.revoked_at.is_some() {
            Some(invalid_link(&stored, "revoked"))
        } else if stored.expires_at <= self.now() {
            Some(
                AuditEntry::new(AuditEvent::ResetLinkExpired, AuditOutcome::Refused)
                    .user(stored.tg_user_id)
                    .account(stored.account_id),
            )
        } else {
            None
        };
        let lang = Some(stored.lang);
        if let Some(entry) = refusal {
            return Ok(Err(ResetFailure::InvalidLink { lang, dead: Some(DeadLink(entry)) }));
        }
        Ok(match self.store.account(stored.account_id).await? {
            Some(account) => Ok((stored, account)),
            None => Err(ResetFailure::InvalidLink { lang, dead: None }),
        })
    }

    /// The password rules for this account: with two-factor authentication
    /// on, the shorter minimum (`PASSWORD_MIN_LENGTH_WITH_2FA`).
    pub async fn password_policy_for(&self, account: AccountId) -> RecoveryResult<PasswordPolicy> {
        let two_factor_on = self.store.two_factor(account).await?.is_some();
        Ok(self.password_policy.for_account(two_factor_on))
    }

    /// Audits a request for a dead link, with the client's address.
    pub async fn record_dead_link(&self, dead: DeadLink, client: ClientAddr) {
        self.audit(dead.0.from_addr(client)).await;
    }
}

fn invalid_link(token: &StoredToken, reason: &'static str) -> AuditEntry {
    AuditEntry::new(AuditEvent::ResetLinkInvalid, AuditOutcome::Refused)
        .user(token.tg_user_id)
        .account(token.account_id)
        .detail(reason)
}

/// The CPU-heavy part of a reset (the blocklist, the strength estimate and
/// argon2), run on a hashing thread: the hash and the password's length.
fn check_and_hash(
    account: &Account,
    policy: &PasswordPolicy,
    password: &str,
    confirmation: &str,
) -> RecoveryResult<Result<(String, usize), PasswordRejection>> {
    let new_password =
        match NewPassword::parse(password, confirmation, &context_of(account), policy) {
            Ok(new_password) => new_password,
            Err(reason) => return Ok(Err(reason)),
        };
    let hash = credentials::hash_blocking(new_password.expose())?;
    Ok(Ok((hash, new_password.length())))
}

/// The account's own words a password must not contain.
fn context_of(account: &Account) -> PasswordContext {
    PasswordContext::new(
        account.login.as_str(),
        account.email.as_str(),
        &account.full_name,
        &account.company,
    )
}
