//! First-time bindings: a Telegram user that matches an account's phone
//! but has not proved itself for that account gives a second proof — a
//! six-digit code mailed to the account's address — before anything that
//! grants access (NIST SP 800-63B-4: the phone shows who holds a Telegram
//! account on that number, not that they are the employee).

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{Recovery, RecoveryError, RecoveryResult, VerifiedAccount};
use crate::{
    domain::{
        Account, AccountId, AuditEvent, AuditOutcome, BindingPolicy, Delivery, Lang, MailEvent,
        MailNotice, NewDelivery, TelegramUserId,
    },
    store::AuditEntry,
};

/// What a Telegram user must still do for an account before anything that
/// grants access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondProof {
    /// Nothing: bound already, or the phone alone is trusted.
    None,
    /// Type a code mailed to the account's address.
    MailedCode,
    /// Wait out a hold the address may cancel.
    Hold,
    /// Only a pre-link from the CRM (or support): the contact changed
    /// lately and e-mail is off.
    PrelinkOnly,
}

/// What asking for a code came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRequest {
    /// Mailed to this address (masked), valid until then.
    Sent { masked_email: String, expires_at: DateTime<Utc> },
    /// Three codes this hour already; the next one from then.
    TooMany { retry_at: DateTime<Utc> },
}

/// What a typed code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Bound now.
    Right,
    /// Wrong; this many tries left.
    Wrong { left: i64 },
    /// Too old, used up, or none was sent: ask for a new one.
    Expired,
    /// Five wrong tries: ask for a new one.
    TooManyTries,
}

impl Recovery {
    /// What this user must do for this account before anything that grants
    /// access. For a while after the account's phone or e-mail changed, the
    /// phone alone binds nobody, whatever the policy: a mailed code, else a
    /// pre-link (or support). `account` is as just read: its contact change
    /// is not read again.
    pub async fn second_proof(
        &self,
        user: TelegramUserId,
        account: &Account,
    ) -> RecoveryResult<SecondProof> {
        if self.store.is_bound(user, account.id).await? {
            return Ok(SecondProof::None);
        }
        let cooling =
            account.contact_changed_at.is_some_and(|at| self.now() - at < self.contact_cooldown);
        Ok(match self.binding {
            _ if cooling && !self.mail_on => SecondProof::PrelinkOnly,
            _ if cooling => SecondProof::MailedCode,
            BindingPolicy::EmailCode => SecondProof::MailedCode,
            BindingPolicy::Hold { .. } => SecondProof::Hold,
            BindingPolicy::PhoneAlone => SecondProof::None,
        })
    }

    /// Mails a code to the verified account's address, within the hourly
    /// limit.
    pub async fn send_binding_code(
        &self,
        verified: &VerifiedAccount,
        lang: Lang,
    ) -> RecoveryResult<CodeRequest> {
        let now = self.now();
        let account = &verified.account;
        let user = verified.tg_user_id;
        let window = Duration::hours(1);
        let expires_at = now + BindingPolicy::code_ttl();
        let limit = BindingPolicy::CODES_PER_HOUR;
        let inserted = self
            .store
            .insert_binding_code(user, account.id, now, expires_at, now - window, limit)
            .await?;
        let code_id = match inserted {
            Ok(id) => id,
            Err(recent) => {
                let oldest = recent.get(recent.len().saturating_sub(limit)).copied();
                let retry_at = oldest.unwrap_or(now) + window;
                let entry = AuditEntry::new(AuditEvent::BindingCodeSent, AuditOutcome::Refused)
                    .user(user)
                    .account(account.id)
                    .detail("rate_limited");
                self.audit(entry).await;
                return Ok(CodeRequest::TooMany { retry_at });
            }
        };
        let via_name = self.store.display_name(user).await?;
        let notice = MailNotice {
            code_id: Some(code_id),
            ..MailNotice::about(MailEvent::BindingCode, account, now, user, via_name)
        };
        let payload = Delivery::Mail {
            account_id: account.id,
            to: account.email.as_str().to_owned(),
            lang: account.lang.unwrap_or(lang),
            notice,
        };
        self.deliver(NewDelivery::now(payload, now)).await?;
        tracing::info!(%user, account_id = %account.id, "binding code mailed");
        let entry = AuditEntry::new(AuditEvent::BindingCodeSent, AuditOutcome::Ok)
            .user(user)
            .account(account.id);
        self.audit(entry).await;
        Ok(CodeRequest::Sent { masked_email: account.email.masked(), expires_at })
    }

    /// Makes the code a mail is about to carry and keeps only its salted
    /// hash; `None` if the code was revoked or used meanwhile (no mail).
    pub async fn make_binding_code(&self, code_id: i64) -> RecoveryResult<Option<String>> {
        let mut bytes = [0u8; 20];
        getrandom::fill(&mut bytes).map_err(|e| RecoveryError::Random(e.to_string()))?;
        // 32 random bits to six digits: the bias of the modulo is below 1e-3.
        let number = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000;
        let code = format!("{number:06}");
        let salt: String = bytes[4..].iter().map(|b| format!("{b:02x}")).collect();
        let stored = format!("{salt}:{}", digest(&salt, &code));
        Ok(self.store.set_binding_code_hash(code_id, &stored).await?.then_some(code))
    }

    /// Checks a typed code (spaces and dashes ignored); a right one binds
    /// the user to the account.
    pub async fn check_binding_code(
        &self,
        user: TelegramUserId,
        account: AccountId,
        typed: &str,
    ) -> RecoveryResult<CodeCheck> {
        let now = self.now();
        let typed: String = typed.chars().filter(char::is_ascii_digit).collect();
        let refused = |detail: &str| {
            AuditEntry::new(AuditEvent::BindingCodeRefused, AuditOutcome::Refused)
                .user(user)
                .account(account)
                .detail(detail.to_owned())
        };
        let Some(code) = self.store.latest_binding_code(user, account).await? else {
            return Ok(CodeCheck::Expired);
        };
        if code.used_at.is_some() || code.revoked_at.is_some() || code.expires_at <= now {
            self.audit(refused("expired")).await;
            return Ok(CodeCheck::Expired);
        }
        if code.attempts >= BindingPolicy::ATTEMPTS_PER_CODE {
            self.audit(refused("too_many_tries")).await;
            return Ok(CodeCheck::TooManyTries);
        }
        let right =
            code.code_hash.as_deref().and_then(|stored| stored.split_once(':')).is_some_and(
                |(salt, hash)| {
                    use subtle::ConstantTimeEq;
                    bool::from(digest(salt, &typed).as_bytes().ct_eq(hash.as_bytes()))
                },
            );
        if right {
            let entry = AuditEntry::new(AuditEvent::TelegramBound, AuditOutcome::Ok)
                .user(user)
                .account(account)
                .detail("email_code");
            if self.store.use_binding_code(code.id, user, account, now, &entry).await? {
                tracing::info!(%user, %account, "Telegram user bound by a mailed code");
                return Ok(CodeCheck::Right);
            }
            return Ok(CodeCheck::Expired);
        }
        self.audit(refused("wrong")).await;
        let max = BindingPolicy::ATTEMPTS_PER_CODE;
        Ok(match self.store.count_code_attempt(code.id, max).await? {
            Some(tries) if tries < max => CodeCheck::Wrong { left: max - tries },
            Some(_) => CodeCheck::TooManyTries,
            None => CodeCheck::Expired,
        })
    }
}

fn digest(salt: &str, code: &str) -> String {
    let hash = Sha256::digest(format!("{salt}:{code}").as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
