//! A lapsed licence: the employee's alert to their company's
//! administrators, and the administrators' reminders before the end.

use super::{Recovery, RecoveryResult};
use crate::{
    domain::{Account, AccountId, AuditEvent, AuditOutcome, CompanyName, TelegramUserId},
    store::{AdminAlertOutcome, AdminAlertRequest, AdminContact, AuditEntry},
};

/// What "Notify my company administrator" came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAlert {
    /// This many administrators will get the message.
    Sent(usize),
    /// The company's administrators were already told today (UTC).
    AlreadySentToday,
    /// No administrator of the company has passed the bot's identity step.
    NoAdminReachable,
    /// The licence runs (again), or no end is on file: nothing to report.
    NotLapsed,
}

impl Recovery {
    /// Tells the administrators of the account's company, once a day, that
    /// this employee cannot work because the licence ended. `None` unless
    /// the Telegram user proved the account's phone (a forged or foreign
    /// button) and the account is active.
    pub async fn alert_company_admins(
        &self,
        tg_user_id: TelegramUserId,
        account_id: AccountId,
    ) -> RecoveryResult<Option<AdminAlert>> {
        let Some(account) = self.store.account(account_id).await? else {
            return Ok(None);
        };
        let proved = self.store.verified_phone(tg_user_id).await?;
        if !account.is_active()
            || proved.as_ref().map(|(phone, _)| phone.as_str()) != Some(account.phone.as_str())
        {
            tracing::info!(%tg_user_id, %account_id, "admin alert for an account not proved");
            return Ok(None);
        }
        let now = self.now();
        let ended_at = match self.company_of(&account).await?.and_then(|c| c.license_expires_at) {
            Some(end) if end <= now => end,
            _ => return Ok(Some(AdminAlert::NotLapsed)),
        };
        let request = AdminAlertRequest {
            company: CompanyName::from_stored(account.company.clone()),
            day: now.date_naive(),
            requested_by: tg_user_id,
            account_id,
            employee_login: account.masked_login(),
            employee_name: account.full_name.clone(),
            ended_at,
        };
        let company = request.company.clone();
        let audit = move |outcome: AdminAlertOutcome| {
            let (result, detail) = match outcome {
                AdminAlertOutcome::Queued(n) => {
                    (AuditOutcome::Ok, format!("{company}: {n} administrator(s)"))
                }
                AdminAlertOutcome::AlreadySentToday => {
                    (AuditOutcome::Refused, format!("{company}: already_sent_today"))
                }
                AdminAlertOutcome::NoAdminReachable => {
                    (AuditOutcome::Refused, format!("{company}: no_admin_reachable"))
                }
            };
            AuditEntry::new(AuditEvent::CompanyAdminsAlerted, result)
                .user(tg_user_id)
                .account(account_id)
                .detail(detail)
        };
        let outcome = self.store.alert_company_admins(&request, now, &audit).await?;
        tracing::info!(%tg_user_id, %account_id, ?outcome, "company administrators alerted");
        Ok(Some(match outcome {
            AdminAlertOutcome::Queued(count) => {
                self.outbox.wake();
                AdminAlert::Sent(count)
            }
            AdminAlertOutcome::AlreadySentToday => AdminAlert::AlreadySentToday,
            AdminAlertOutcome::NoAdminReachable => AdminAlert::NoAdminReachable,
        }))
    }

    /// A company administrator just proved their phone: their reminders
    /// for each of their companies' licence ends. Queueing them again is
    /// harmless (a key replaces a pending one; one already sent for the
    /// same end is not queued again), so any pass of the step will do.
    pub(super) async fn schedule_admin_reminders(
        &self,
        tg_user_id: TelegramUserId,
        accounts: &[Account],
    ) -> RecoveryResult<()> {
        let chosen = self.store.chosen_language(tg_user_id).await?;
        let mut queued = 0;
        let mut seen = std::collections::BTreeSet::new();
        for account in accounts.iter().filter(|a| a.company_admin && seen.insert(&a.company)) {
            let Some(company) = self.company_of(account).await? else {
                continue;
            };
            let lang = account.lang.or(chosen).unwrap_or_default();
            let admin = AdminContact { tg_user_id, lang };
            let end = company.license_expires_at;
            queued += self
                .store
                .schedule_licence_reminders(&company.name, end, &[admin], self.now())
                .await?;
        }
        if queued > 0 {
            self.outbox.wake();
        }
        Ok(())
    }
}
