//! Account sync from the CRM (the HTTP API and the CSV import alike): one
//! way to create, change and deactivate an account or set a company's
//! licence, each change with its audit rows in the same transaction.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{Recovery, RecoveryResult};
use crate::{
    domain::{
        Account, AccountUpdate, AuditEvent, AuditOutcome, Company, CompanyName, Delivery, Login,
        MailEvent, MailNotice, NewDelivery, TelegramUserId,
    },
    store::{AuditEntry, Store, SyncRefusal, Synced},
};

/// Where a change came from, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncSource {
    Api,
    Csv,
}

impl fmt::Display for SyncSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncSource::Api => "api",
            SyncSource::Csv => "csv",
        })
    }
}

impl Recovery {
    /// `PUT /accounts/{login}`: creates the account or changes the fields
    /// the update names. `Err` lists the required fields a new account
    /// lacks.
    pub async fn sync_account(
        &self,
        login: &Login,
        update: &AccountUpdate,
    ) -> RecoveryResult<Result<Account, Vec<&'static str>>> {
        let synced =
            sync(&self.store, SyncSource::Api, login, update, true, self.now(), self.mail_on)
                .await?;
        Ok(match synced {
            Ok(synced) => {
                self.after_sync(&synced);
                Ok(synced.account().clone())
            }
            Err(SyncRefusal::MissingFields(missing)) => Err(missing),
            // A sync that may create always finds or makes its account; if
            // that ever changes, the CRM is told what is missing instead of
            // the handler panicking.
            Err(SyncRefusal::NotFound) => Err(vec!["login"]),
        })
    }

    /// `DELETE /accounts/{login}`: the bot no longer finds the account and
    /// its live links stop working. `None` for an unknown login; an account
    /// already deactivated is left as it is.
    pub async fn deactivate_account(&self, login: &Login) -> RecoveryResult<Option<Account>> {
        let update = AccountUpdate { active: Some(false), ..AccountUpdate::default() };
        let synced =
            sync(&self.store, SyncSource::Api, login, &update, false, self.now(), self.mail_on)
                .await?;
        Ok(synced.ok().map(|synced| {
            self.after_sync(&synced);
            synced.account().clone()
        }))
    }

    /// `PUT /companies/{name}`: the licence end of the company, `None` for
    /// "not on file".
    pub async fn set_company_licence(
        &self,
        name: &CompanyName,
        license_expires_at: Option<DateTime<Utc>>,
    ) -> RecoveryResult<Company> {
        let company =
            set_licence(&self.store, SyncSource::Api, name, license_expires_at, self.now()).await?;
        // Its administrators' reminders may have moved.
        self.outbox.wake();
        Ok(company)
    }

    /// The company an account belongs to, as stored; `None` when nothing
    /// is on file for it.
    pub async fn company_of(&self, account: &Account) -> RecoveryResult<Option<Company>> {
        let name = CompanyName::from_stored(account.company.clone());
        Ok(self.store.company(&name).await?)
    }

    fn after_sync(&self, synced: &Synced) {
        if let Synced::Updated { revoked_links, changed, .. } = synced
            && (*revoked_links > 0 || changed.contains(&"phone") || changed.contains(&"email"))
        {
            // Link messages due for deletion, notices of the change.
            self.outbox.wake();
        }
    }
}

/// Applies one account's update and audits what changed.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync(
    store: &Store,
    source: SyncSource,
    login: &Login,
    update: &AccountUpdate,
    may_create: bool,
    now: DateTime<Utc>,
    mail_on: bool,
) -> RecoveryResult<Result<Synced, SyncRefusal>> {
    let audit = move |synced: &Synced| audit_rows(source, synced);
    let synced = store.sync_account(login, update, may_create, now, &audit).await?;
    if let Ok(synced) = &synced {
        log(source, synced);
        tell_of_contact_change(store, synced, now, mail_on).await?;
    }
    Ok(synced)
}

/// A changed phone or e-mail is told to the Telegram users who were bound
/// (they no longer are) and by mail to the account's address, and to the
/// old one when the e-mail changed.
async fn tell_of_contact_change(
    store: &Store,
    synced: &Synced,
    now: DateTime<Utc>,
    mail_on: bool,
) -> RecoveryResult<()> {
    let Synced::Updated { after, changed, dropped_bindings, old_email, .. } = synced else {
        return Ok(());
    };
    if !(changed.contains(&"phone") || changed.contains(&"email")) {
        return Ok(());
    }
    let lang = after.lang.unwrap_or_default();
    for to in dropped_bindings {
        let payload = Delivery::ContactChanged { to: *to, login: after.login.to_string(), lang };
        store.enqueue(&NewDelivery::now(payload, now), now).await?;
    }
    if mail_on {
        let addresses = std::iter::once(after.email.clone()).chain(old_email.clone());
        for address in addresses {
            // Changed in the CRM: no Telegram account did it.
            let notice =
                MailNotice::about(MailEvent::ContactChanged, after, now, TelegramUserId(0), None);
            let payload = Delivery::Mail {
                account_id: after.id,
                to: address.as_str().to_owned(),
                lang,
                notice,
            };
            store.enqueue(&NewDelivery::now(payload, now), now).await?;
        }
    }
    Ok(())
}

/// Sets a company's licence end and audits a change.
pub(super) async fn set_licence(
    store: &Store,
    source: SyncSource,
    name: &CompanyName,
    license_expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> RecoveryResult<Company> {
    let audit = move |before: Option<DateTime<Utc>>| {
        AuditEntry::new(AuditEvent::CompanyLicenceSet, AuditOutcome::Ok).detail(format!(
            "{source}: {name}: {} (was {})",
            describe_end(license_expires_at),
            describe_end(before)
        ))
    };
    let company = store.set_company_licence(name, license_expires_at, now, &audit).await?;
    tracing::info!(%source, until = describe_end(company.license_expires_at), "company licence set");
    Ok(company)
}

fn describe_end(end: Option<DateTime<Utc>>) -> String {
    end.map_or_else(|| "none".to_owned(), |at| at.to_rfc3339())
}

/// The audit rows of a sync: what changed, by name (flags with their new
/// value), never the values themselves, which may be personal data.
fn audit_rows(source: SyncSource, synced: &Synced) -> Vec<AuditEntry> {
    let row = |event, account: &Account, detail: String| {
        AuditEntry::new(event, AuditOutcome::Ok).account(account.id).detail(detail)
    };
    match synced {
        Synced::Created(account) => {
            let mut flags = Vec::new();
            if account.company_admin {
                flags.push("company_admin=true");
            }
            if account.is_blocked() {
                flags.push("blocked=true");
            }
            if !account.is_active() {
                flags.push("active=false");
            }
            let detail = if flags.is_empty() {
                source.to_string()
            } else {
                format!("{source}: {}", flags.join(", "))
            };
            vec![row(AuditEvent::AccountCreated, account, detail)]
        }
        Synced::Updated { after, changed, revoked_links, .. } => {
            let mut rows = Vec::new();
            let fields: Vec<String> = changed
                .iter()
                .filter(|name| **name != "active")
                .map(|name| match *name {
                    "company_admin" => format!("company_admin={}", after.company_admin),
                    "blocked" => format!("blocked={}", after.is_blocked()),
                    other => other.to_owned(),
                })
                .collect();
            if !fields.is_empty() {
                let detail = format!("{source}: {}", fields.join(", "));
                rows.push(row(AuditEvent::AccountUpdated, after, detail));
            }
            if changed.contains(&"active") {
                rows.push(if after.is_active() {
                    row(AuditEvent::AccountReactivated, after, source.to_string())
                } else {
                    let detail = format!("{source}: {revoked_links} live link(s) revoked");
                    row(AuditEvent::AccountDeactivated, after, detail)
                });
            }
            rows
        }
    }
}

fn log(source: SyncSource, synced: &Synced) {
    match synced {
        Synced::Created(account) => {
            tracing::info!(%source, account_id = %account.id, "account created");
        }
        Synced::Updated { after, changed, revoked_links, .. } if !changed.is_empty() => {
            tracing::info!(%source, account_id = %after.id, changed = changed.join(","),
                revoked_links, "account changed");
        }
        Synced::Updated { .. } => {}
    }
}
