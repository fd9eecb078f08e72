//! Proving identity by a shared Telegram contact: one step for every
//! purpose, ending in a [`VerifiedAccount`] that purpose acts on.

use chrono::{DateTime, Utc};

use super::{Recovery, RecoveryResult};
use crate::{
    domain::{Account, AccountId, AuditEvent, AuditOutcome, Phone, TelegramUserId},
    store::AuditEntry,
};

/// What a shared contact says, stripped of Telegram types.
#[derive(Debug, Clone)]
pub struct ContactClaim {
    pub sender_id: TelegramUserId,
    /// Filled by Telegram's servers for a contact of a Telegram user.
    pub contact_user_id: Option<TelegramUserId>,
    pub phone: String,
    /// Forwarded from elsewhere: not the sender's own share.
    pub forwarded: bool,
    pub private_chat: bool,
    /// Sent by a bot, or through one (`via_bot`): not a person's own share.
    pub by_bot: bool,
    /// The name the sender shows in Telegram, for the mail that tells of
    /// what they did.
    pub sender_name: String,
    /// The language the sender reads the bot in, for what is sent to them
    /// later on its own (security notifications).
    pub lang: crate::domain::Lang,
}

/// Why a contact does not prove the sender's phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactRefusal {
    /// Somebody else's contact, or a forwarded one.
    NotOwnContact,
    /// A contact typed into the address book: no Telegram user behind it.
    NoUserId,
    InvalidPhone,
    NotPrivateChat,
}

impl ContactRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactRefusal::NotOwnContact => "not_own_contact",
            ContactRefusal::NoUserId => "no_user_id",
            ContactRefusal::InvalidPhone => "invalid_phone",
            ContactRefusal::NotPrivateChat => "not_private_chat",
        }
    }
}

impl ContactClaim {
    /// The rule: private chat, not forwarded, `contact.user_id == sender`.
    pub fn check(&self) -> Result<Phone, ContactRefusal> {
        if !self.private_chat {
            return Err(ContactRefusal::NotPrivateChat);
        }
        if self.forwarded || self.by_bot {
            return Err(ContactRefusal::NotOwnContact);
        }
        match self.contact_user_id {
            None => return Err(ContactRefusal::NoUserId),
            Some(id) if id != self.sender_id => return Err(ContactRefusal::NotOwnContact),
            Some(_) => {}
        }
        Phone::from_telegram(&self.phone).map_err(|_| ContactRefusal::InvalidPhone)
    }
}

impl Recovery {
    /// Checks the claim, remembers the Telegram user ↔ phone link on success,
    /// and audits either way.
    pub async fn verify_contact(
        &self,
        claim: &ContactClaim,
    ) -> RecoveryResult<Result<Phone, ContactRefusal>> {
        let outcome = claim.check();
        let sender = claim.sender_id;
        match &outcome {
            Ok(phone) => {
                tracing::info!(tg_user_id = %sender, phone = %phone.masked(), "contact verified");
                let name = Some(claim.sender_name.as_str()).filter(|name| !name.is_empty());
                let now = self.now();
                self.store.remember_verified_phone(sender, phone, name, claim.lang, now).await?;
                let entry = AuditEntry::new(AuditEvent::ContactVerified, AuditOutcome::Ok);
                self.audit(entry.user(sender).detail(phone.masked())).await;
            }
            Err(refusal) => {
                tracing::info!(tg_user_id = %sender, reason = refusal.as_str(), "contact refused");
                let entry = AuditEntry::new(AuditEvent::ContactRefused, AuditOutcome::Refused);
                self.audit(entry.user(sender).detail(refusal.as_str())).await;
            }
        }
        Ok(outcome)
    }

    /// Whether a phone verified at `verified_at` still proves identity; a
    /// sensitive step after that asks for the contact again.
    pub fn contact_still_valid(&self, verified_at: DateTime<Utc>) -> bool {
        self.now() - verified_at <= self.policy.contact_ttl
    }

    /// The accounts a verified phone may recover. A company administrator's
    /// licence reminders are scheduled here, as they become reachable.
    pub async fn accounts_for(
        &self,
        tg_user_id: TelegramUserId,
        phone: &Phone,
    ) -> RecoveryResult<Vec<Account>> {
        let accounts = self.store.accounts_by_phone(phone).await?;
        if accounts.is_empty() {
            let entry = AuditEntry::new(AuditEvent::AccountNotFound, AuditOutcome::NotFound);
            self.audit(entry.user(tg_user_id).detail(phone.masked())).await;
        }
        if accounts.iter().any(|account| account.company_admin) {
            // An administrator reachable now: their licence reminders.
            self.schedule_admin_reminders(tg_user_id, &accounts).await?;
        }
        Ok(accounts)
    }

    /// The account picked from those offered for a phone verified at
    /// `verified_at`: `None` if it is no longer on that phone (a stale or
    /// forged choice). The caller checks the proof's age first.
    pub async fn picked_account(
        &self,
        tg_user_id: TelegramUserId,
        phone: &Phone,
        account_id: AccountId,
        verified_at: DateTime<Utc>,
    ) -> RecoveryResult<Option<VerifiedAccount>> {
        Ok(self.store.account(account_id).await?.filter(|account| account.phone == *phone).map(
            |account| VerifiedAccount { tg_user_id, phone: phone.clone(), verified_at, account },
        ))
    }
}

/// The end of the identity step: this Telegram user proved the phone of
/// this account at `verified_at`. Every purpose starts from one.
#[derive(Debug, Clone)]
pub struct VerifiedAccount {
    pub tg_user_id: TelegramUserId,
    pub phone: Phone,
    pub verified_at: DateTime<Utc>,
    pub account: Account,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(contact_user_id: Option<i64>, forwarded: bool) -> ContactClaim {
        ContactClaim {
            sender_id: TelegramUserId(42),
            contact_user_id: contact_user_id.map(TelegramUserId),
            phone: "79161234567".into(),
            forwarded,
            private_chat: true,
            by_bot: false,
            sender_name: "Ivan".into(),
            lang: crate::domain::Lang::Ru,
        }
    }

    #[test]
    fn only_the_senders_own_unforwarded_contact_passes() {
        assert_eq!(claim(Some(42), false).check().unwrap().as_str(), "+79161234567");
        assert_eq!(claim(Some(7), false).check(), Err(ContactRefusal::NotOwnContact));
        assert_eq!(claim(Some(42), true).check(), Err(ContactRefusal::NotOwnContact));
        assert_eq!(claim(None, false).check(), Err(ContactRefusal::NoUserId));
        let group = ContactClaim { private_chat: false, ..claim(Some(42), false) };
        assert_eq!(group.check(), Err(ContactRefusal::NotPrivateChat));
        let bot = ContactClaim { by_bot: true, ..claim(Some(42), false) };
        assert_eq!(bot.check(), Err(ContactRefusal::NotOwnContact));
        let bad = ContactClaim { phone: "12".into(), ..claim(Some(42), false) };
        assert_eq!(bad.check(), Err(ContactRefusal::InvalidPhone));
    }
}
