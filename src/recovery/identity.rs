//! Proving identity by a shared Telegram contact.

use chrono::{DateTime, Utc};

use super::{Recovery, RecoveryResult};
use crate::{
    domain::{Account, AuditEvent, Phone},
    store::AuditEntry,
};

/// What a shared contact says, stripped of Telegram types.
#[derive(Debug, Clone)]
pub struct ContactClaim {
    pub sender_id: i64,
    /// Filled by Telegram's servers for a contact of a Telegram user.
    pub contact_user_id: Option<i64>,
    pub phone: String,
    /// Forwarded from elsewhere: not the sender's own share.
    pub forwarded: bool,
    pub private_chat: bool,
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
    fn as_str(self) -> &'static str {
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
        if self.forwarded {
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
        match &outcome {
            Ok(phone) => {
                tracing::info!(tg_user_id = claim.sender_id, phone = %phone.masked(), "contact verified");
                self.store.remember_verified_phone(claim.sender_id, phone, self.now()).await?;
                self.audit(AuditEntry {
                    event: AuditEvent::ContactVerified,
                    tg_user_id: Some(claim.sender_id),
                    account_id: None,
                    outcome: "ok",
                    detail: Some(phone.masked()),
                })
                .await;
            }
            Err(refusal) => {
                tracing::info!(
                    tg_user_id = claim.sender_id,
                    reason = refusal.as_str(),
                    "contact refused"
                );
                self.audit(AuditEntry {
                    event: AuditEvent::ContactRefused,
                    tg_user_id: Some(claim.sender_id),
                    account_id: None,
                    outcome: refusal.as_str(),
                    detail: None,
                })
                .await;
            }
        }
        Ok(outcome)
    }

    /// Whether a phone verified at `verified_at` still proves identity; a
    /// sensitive step after that asks for the contact again.
    pub fn contact_still_valid(&self, verified_at: DateTime<Utc>) -> bool {
        self.now() - verified_at <= self.policy.contact_ttl
    }

    /// The accounts a verified phone may recover.
    pub async fn accounts_for(
        &self,
        tg_user_id: i64,
        phone: &Phone,
    ) -> RecoveryResult<Vec<Account>> {
        let accounts = self.store.accounts_by_phone(phone).await?;
        if accounts.is_empty() {
            self.audit(AuditEntry {
                event: AuditEvent::AccountNotFound,
                tg_user_id: Some(tg_user_id),
                account_id: None,
                outcome: "none",
                detail: Some(phone.masked()),
            })
            .await;
        }
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(contact_user_id: Option<i64>, forwarded: bool) -> ContactClaim {
        ContactClaim {
            sender_id: 42,
            contact_user_id,
            phone: "79161234567".into(),
            forwarded,
            private_chat: true,
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
        let bad = ContactClaim { phone: "12".into(), ..claim(Some(42), false) };
        assert_eq!(bad.check(), Err(ContactRefusal::InvalidPhone));
    }
}
