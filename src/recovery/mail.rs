//! E-mail, the second channel: which notices are mailed, and the mailed
//! "This wasn't me" links that block recovery of the account.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryError, RecoveryResult, TicketRequest};
use crate::{
    domain::{
        Account, AuditEvent, AuditOutcome, Category, Delivery, Lang, MailEvent, MailNotice,
        NewDelivery, ResetToken, TelegramUserId, TicketStatus,
    },
    store::{AuditEntry, Opened},
};

/// How long a mailed "This wasn't me" link works.
pub fn dispute_ttl() -> Duration {
    Duration::days(7)
}

/// A dispute link that works, as its page shows it.
#[derive(Debug, Clone)]
pub struct DisputeView {
    pub lang: Lang,
    pub masked_login: String,
}

/// Why a dispute link does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadDispute {
    /// Never issued (or malformed).
    Unknown,
    /// Used or expired; in the language it was mailed in.
    Spent(Lang),
}

impl Recovery {
    /// The mail telling the account's address that `event` happened through
    /// Telegram user `via`; `None` with e-mail off.
    pub(super) async fn mail_notice(
        &self,
        account: &Account,
        event: MailEvent,
        via: TelegramUserId,
        lang: Lang,
        at: DateTime<Utc>,
    ) -> RecoveryResult<Option<NewDelivery>> {
        if !self.mail_on {
            return Ok(None);
        }
        let notice =
            MailNotice::about(event, account, at, via, self.store.display_name(via).await?);
        let payload = Delivery::Mail {
            account_id: account.id,
            to: account.email.as_str().to_owned(),
            lang: account.lang.unwrap_or(lang),
            notice,
        };
        Ok(Some(NewDelivery::now(payload, at)))
    }

    /// Mails the notice of `event` to the account's address now (through
    /// the outbox); nothing with e-mail off.
    pub(super) async fn mail_now(
        &self,
        account: &Account,
        event: MailEvent,
        via: TelegramUserId,
        lang: Lang,
        at: DateTime<Utc>,
    ) -> RecoveryResult<()> {
        if let Some(mail) = self.mail_notice(account, event, via, lang, at).await? {
            self.deliver(mail).await?;
        }
        Ok(())
    }

    /// A fresh "This wasn't me" link for a mail being sent now; only its
    /// hash is kept.
    pub async fn new_dispute_link(
        &self,
        account: crate::domain::AccountId,
        event: MailEvent,
        lang: Lang,
    ) -> RecoveryResult<url::Url> {
        let token = ResetToken::generate().map_err(|e| RecoveryError::Random(e.to_string()))?;
        let now = self.now();
        self.store
            .insert_dispute(&token.hash(), account, event.as_str(), lang, now, now + dispute_ttl())
            .await?;
        Ok(self.urls.dispute_link(&token))
    }

    /// What the dispute page shows; nothing is done by looking (a GET, or
    /// a mail scanner following links, never acts).
    pub async fn open_dispute(
        &self,
        raw: &str,
    ) -> RecoveryResult<Result<DisputeView, DeadDispute>> {
        let Some(token) = ResetToken::from_url(raw) else { return Ok(Err(DeadDispute::Unknown)) };
        let Some(dispute) = self.store.dispute(&token.hash()).await? else {
            return Ok(Err(DeadDispute::Unknown));
        };
        if dispute.used_at.is_some() || dispute.expires_at <= self.now() {
            return Ok(Err(DeadDispute::Spent(dispute.lang)));
        }
        let Some(account) = self.store.account(dispute.account_id).await? else {
            return Ok(Err(DeadDispute::Unknown));
        };
        Ok(Ok(DisputeView { lang: dispute.lang, masked_login: account.masked_login() }))
    }

    /// "This wasn't me", confirmed: recovery of the account blocked, its
    /// live links revoked, its credentials version bumped, audited, and an
    /// urgent ticket for the staff (the block is lifted as the desk lifts
    /// its own). Single use.
    pub async fn confirm_dispute(
        &self,
        raw: &str,
        client: super::ClientAddr,
    ) -> RecoveryResult<Result<Lang, DeadDispute>> {
        let Some(token) = ResetToken::from_url(raw) else { return Ok(Err(DeadDispute::Unknown)) };
        let Some(dispute) = self.store.dispute(&token.hash()).await? else {
            return Ok(Err(DeadDispute::Unknown));
        };
        let audit = AuditEntry::new(AuditEvent::RecoveryBlocked, AuditOutcome::Reported)
            .account(dispute.account_id)
            .detail(format!("\"this wasn't me\" by e-mail ({})", dispute.event))
            .from_addr(client);
        let now = self.now();
        if !self.store.act_on_dispute(dispute.id, dispute.account_id, now, &audit).await? {
            return Ok(Err(DeadDispute::Spent(dispute.lang)));
        }
        tracing::warn!(account_id = %dispute.account_id, event = dispute.event,
            "recovery blocked: \"this wasn't me\" by e-mail");
        if let Some(support) = self.support.clone() {
            // No Telegram user reported it: the ticket stands for the
            // account's address (a negative id no Telegram user has).
            let request = TicketRequest {
                user: TelegramUserId(-dispute.account_id.0),
                user_name: "e-mail".to_owned(),
                username: None,
                lang: dispute.lang,
                category: Category::NotMe,
                account_id: Some(dispute.account_id),
            };
            match self.open_ticket(request).await? {
                Opened::New(draft) => {
                    self.submit_ticket(draft.id, &support).await?;
                }
                Opened::Existing(ticket) if ticket.status == TicketStatus::Draft => {
                    self.submit_ticket(ticket.id, &support).await?;
                }
                Opened::Existing(_) => {}
            }
        }
        Ok(Ok(dispute.lang))
    }
}
