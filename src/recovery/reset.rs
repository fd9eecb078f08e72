//! Forgot password: issue a one-time link, show it, spend it on a new password.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryError, RecoveryResult, credentials};
use crate::{
    domain::{
        Account, AuditEvent, Lang, NewPassword, PasswordContext, PasswordPolicy, PasswordRejection,
        Phone, ResetToken,
    },
    store::{AuditEntry, NewResetToken, StoredToken},
};

/// The answer to "send me a reset link".
#[derive(Debug)]
pub enum IssueOutcome {
    Issued {
        url: String,
        expires_at: DateTime<Utc>,
        time_zone: Option<String>,
    },
    /// Too many links for this account this hour.
    RateLimited {
        retry_at: DateTime<Utc>,
        time_zone: Option<String>,
    },
    /// The account is not on the verified phone (a stale or forged choice).
    NotYours,
}

/// What the reset page needs to show its form.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub lang: Lang,
    pub login: String,
}

/// Why a reset did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetFailure {
    /// Unknown, expired, used or revoked: deliberately one case for the user.
    InvalidLink,
    /// The password broke a rule; the form is shown again for `login`.
    Rejected { reason: PasswordRejection, lang: Lang, login: String },
}

/// A reset that happened, with what the bot needs to tell the user.
#[derive(Debug, Clone)]
pub struct CompletedReset {
    pub account_id: i64,
    pub tg_user_id: i64,
    pub lang: Lang,
    pub login: String,
}

impl Recovery {
    /// Issues a link for `account_id`, which must be on the verified `phone`.
    pub async fn issue_reset_link(
        &self,
        tg_user_id: i64,
        phone: &Phone,
        account_id: i64,
        lang: Lang,
    ) -> RecoveryResult<IssueOutcome> {
        let now = self.now();
        let account = match self.store.account(account_id).await? {
            Some(account) if account.phone == *phone => account,
            _ => return Ok(IssueOutcome::NotYours),
        };
        let window = Duration::hours(1);
        let limit = self.policy.links_per_hour as usize;
        let token = ResetToken::generate().map_err(|e| RecoveryError::Random(e.to_string()))?;
        let expires_at = now + self.policy.link_ttl;
        let new = NewResetToken {
            account_id: account.id,
            hash: &token.hash(),
            tg_user_id,
            language: lang.code(),
            now,
            expires_at,
        };
        let stored = self.store.insert_reset_token_within_limit(&new, now - window, limit).await?;
        if let Err(recent) = stored {
            // The link that must leave the window before another is allowed.
            let oldest = recent.get(recent.len().saturating_sub(limit)).copied();
            let retry_at = oldest.unwrap_or(now) + window;
            tracing::info!(tg_user_id, account_id, %retry_at, "reset link rate-limited");
            self.audit(AuditEntry {
                event: AuditEvent::ResetLinkRateLimited,
                tg_user_id: Some(tg_user_id),
                account_id: Some(account.id),
                outcome: "refused",
                detail: Some(format!("retry at {}", retry_at.to_rfc3339())),
            })
            .await;
            return Ok(IssueOutcome::RateLimited { retry_at, time_zone: account.time_zone });
        }
        tracing::info!(tg_user_id, account_id, %expires_at, "reset link issued");
        self.audit(AuditEntry {
            event: AuditEvent::ResetLinkIssued,
            tg_user_id: Some(tg_user_id),
            account_id: Some(account.id),
            outcome: "ok",
            detail: None,
        })
        .await;
        let base = self.public_base_url.as_str().trim_end_matches('/');
        Ok(IssueOutcome::Issued {
            url: format!("{base}/reset/{}", token.expose()),
            expires_at,
            time_zone: account.time_zone,
        })
    }

    /// Looks a link up for the reset page without spending it: a GET (or a
    /// link-preview robot) must never use a token up.
    pub async fn open_reset_link(&self, raw_token: &str) -> RecoveryResult<Option<LinkView>> {
        Ok(self.usable_token(raw_token).await?.map(|(token, account)| LinkView {
            lang: Lang::parse(&token.language).unwrap_or_default(),
            login: account.login,
        }))
    }

    /// Checks the new password and, if it passes, spends the token and
    /// stores the password; of two concurrent calls with one token exactly
    /// one succeeds.
    pub async fn complete_reset(
        &self,
        raw_token: &str,
        password: String,
        confirmation: String,
    ) -> RecoveryResult<Result<CompletedReset, ResetFailure>> {
        let Some((token, account)) = self.usable_token(raw_token).await? else {
            return Ok(Err(ResetFailure::InvalidLink));
        };
        let lang = Lang::parse(&token.language).unwrap_or_default();
        let checked = {
            let account = account.clone();
            credentials::on_hashing_thread(move || {
                check_and_hash(&account, &password, &confirmation)
            })
            .await?
        };
        let new_hash = match checked {
            Ok(hash) => hash,
            Err(reason) => {
                self.audit(AuditEntry {
                    event: AuditEvent::PasswordRejected,
                    tg_user_id: Some(token.tg_user_id),
                    account_id: Some(account.id),
                    outcome: reason.as_str(),
                    detail: None,
                })
                .await;
                return Ok(Err(ResetFailure::Rejected { reason, lang, login: account.login }));
            }
        };
        let done = CompletedReset {
            account_id: account.id,
            tg_user_id: token.tg_user_id,
            lang,
            login: account.login,
        };
        let records =
            [AuditEvent::ResetLinkUsed, AuditEvent::PasswordChanged].map(|event| AuditEntry {
                event,
                tg_user_id: Some(done.tg_user_id),
                account_id: Some(done.account_id),
                outcome: "ok",
                detail: None,
            });
        let notice = self.notices.password_changed(&done);
        let changed = self
            .store
            .spend_token_and_set_password(
                token.id,
                account.id,
                &new_hash,
                self.now(),
                &records,
                &notice,
            )
            .await?;
        if !changed {
            tracing::info!(account_id = account.id, "reset link lost a race or expired meanwhile");
            self.audit(invalid_link(&token, "already_used")).await;
            return Ok(Err(ResetFailure::InvalidLink));
        }
        self.notices.queued();
        tracing::info!(
            account_id = done.account_id,
            tg_user_id = done.tg_user_id,
            "password changed"
        );
        Ok(Ok(done))
    }

    /// The stored token and its account, if the link may still be used;
    /// audits the reason when it may not.
    async fn usable_token(
        &self,
        raw_token: &str,
    ) -> RecoveryResult<Option<(StoredToken, Account)>> {
        // Unknown tokens are logged, not audited: anyone can request them,
        // and the audit table must not grow at a stranger's will.
        let Some(token) = ResetToken::from_url(raw_token) else {
            tracing::info!("reset page asked for a malformed token");
            return Ok(None);
        };
        let Some(stored) = self.store.reset_token(&token.hash()).await? else {
            tracing::info!("reset page asked for an unknown token");
            return Ok(None);
        };
        let now = self.now();
        let refusal = if stored.used_at.is_some() {
            Some("already_used")
        } else if stored.revoked_at.is_some() {
            Some("revoked")
        } else if stored.expires_at <= now {
            self.audit(AuditEntry {
                event: AuditEvent::ResetLinkExpired,
                tg_user_id: Some(stored.tg_user_id),
                account_id: Some(stored.account_id),
                outcome: "refused",
                detail: None,
            })
            .await;
            return Ok(None);
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.audit(invalid_link(&stored, reason)).await;
            return Ok(None);
        }
        Ok(self.store.account(stored.account_id).await?.map(|account| (stored, account)))
    }
}

fn invalid_link(token: &StoredToken, reason: &'static str) -> AuditEntry {
    AuditEntry {
        event: AuditEvent::ResetLinkInvalid,
        tg_user_id: Some(token.tg_user_id),
        account_id: Some(token.account_id),
        outcome: reason,
        detail: None,
    }
}

/// The CPU-heavy part of a reset (zxcvbn, argon2 verify and hash), run on
/// a blocking thread by the caller.
fn check_and_hash(
    account: &Account,
    password: &str,
    confirmation: &str,
) -> RecoveryResult<Result<String, PasswordRejection>> {
    let context =
        PasswordContext::new(&account.login, &account.email, &account.full_name, &account.company);
    let policy = PasswordPolicy::default();
    let new_password = match NewPassword::parse(password, confirmation, &context, &policy) {
        Ok(new_password) => new_password,
        Err(reason) => return Ok(Err(reason)),
    };
    credentials::hash_blocking(new_password.expose()).map(Ok)
}
