//! Pre-linking from the CRM: a signed-in user gets a one-time deep link to
//! the bot, and confirming it there binds that Telegram account to theirs.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryError, RecoveryResult};
use crate::{
    domain::{
        Account, AuditEvent, AuditOutcome, Lang, Login, MailEvent, ResetToken, TelegramUserId,
    },
    store::AuditEntry,
};

/// The deep link's `/start` payload prefix.
pub const PRELINK_PAYLOAD_PREFIX: &str = "link-";

/// How long a pre-link works.
pub fn prelink_ttl() -> Duration {
    Duration::minutes(10)
}

impl Recovery {
    /// A one-time token for the account with `login`; `None` if there is no
    /// active one.
    pub async fn create_prelink(
        &self,
        login: &Login,
    ) -> RecoveryResult<Option<(ResetToken, DateTime<Utc>)>> {
        let Some(account) =
            self.store.account_by_login(login.as_str()).await?.filter(Account::is_active)
        else {
            return Ok(None);
        };
        let token = ResetToken::generate().map_err(|e| RecoveryError::Random(e.to_string()))?;
        let now = self.now();
        let expires_at = now + prelink_ttl();
        self.store.insert_prelink(&token.hash(), account.id, now, expires_at).await?;
        tracing::info!(account_id = %account.id, "pre-link created");
        Ok(Some((token, expires_at)))
    }

    /// The pre-link behind a `/start link-…` payload and its account, if
    /// it still works; nothing is spent by looking.
    pub async fn open_prelink(&self, payload: &str) -> RecoveryResult<Option<(i64, Account)>> {
        let raw = payload.trim().strip_prefix(PRELINK_PAYLOAD_PREFIX).unwrap_or_default();
        let Some(token) = ResetToken::from_url(raw) else { return Ok(None) };
        let Some(prelink) = self.store.prelink_by_hash(&token.hash()).await? else {
            return Ok(None);
        };
        if prelink.used_at.is_some() || prelink.expires_at <= self.now() {
            return Ok(None);
        }
        let account = self.store.account(prelink.account_id).await?.filter(Account::is_active);
        Ok(account.map(|account| (prelink.id, account)))
    }

    /// Confirmed in the bot: `user` is bound to the pre-link's account,
    /// audited, and the account's address told. The account, or `None`
    /// if the pre-link was spent or expired meanwhile.
    pub async fn confirm_prelink(
        &self,
        id: i64,
        user: TelegramUserId,
        lang: Lang,
    ) -> RecoveryResult<Option<Account>> {
        let now = self.now();
        let Some(prelink) = self.store.prelink(id).await? else { return Ok(None) };
        let audit = AuditEntry::new(AuditEvent::TelegramBound, AuditOutcome::Ok)
            .user(user)
            .account(prelink.account_id)
            .detail("prelink");
        let Some(account_id) = self.store.use_prelink(id, user, now, &audit).await? else {
            return Ok(None);
        };
        let Some(account) = self.store.account(account_id).await? else { return Ok(None) };
        tracing::info!(%user, %account_id, "Telegram user bound by a pre-link");
        self.mail_now(&account, MailEvent::TelegramBound, user, lang, now).await?;
        Ok(Some(account))
    }
}
