//! Security notifications: the CRM reports sign-ins, new devices and
//! password changes; this service knows its own lockouts and resets. Each is
//! told to the Telegram users bound to the account, once, in their
//! language, with an "It wasn't me" button; sign-ins and new devices only to
//! those who opted in.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryResult};
use crate::domain::{
    Account, AccountId, CrmEvent, CrmEventKind, Delivery, Lock, Login, NewDelivery, SecurityAlert,
    Subscriptions, TelegramUserId,
};

/// A password change the CRM reports this close to one of this service's
/// own resets is that reset, already told from here.
fn own_reset_window() -> Duration {
    Duration::minutes(10)
}

/// What one alert says besides its kind.
#[derive(Debug, Clone, Default)]
pub(super) struct AlertDetails {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Told already by other means (the user who reset the password).
    pub except: Option<TelegramUserId>,
}

impl Recovery {
    /// A report from the CRM. Unknown or deactivated logins and repeated
    /// reports are dropped without a trace the caller could read; the
    /// answer is the same either way.
    pub async fn record_crm_event(&self, login: &Login, event: CrmEvent) -> RecoveryResult<()> {
        let account = self.store.account_by_login(login.as_str()).await?;
        let Some(account) = account.filter(Account::is_active) else {
            tracing::debug!(kind = event.kind.as_str(), "CRM event for an unknown login ignored");
            return Ok(());
        };
        let now = self.now();
        let Some(event_id) = self.store.insert_crm_event(account.id, &event, now).await? else {
            tracing::info!(account_id = %account.id, kind = event.kind.as_str(),
                "CRM event reported again; told once already");
            return Ok(());
        };
        if event.kind == CrmEventKind::PasswordChanged
            && let Some(reset) = self.store.last_reset_at(account.id).await?
            && (event.at - reset).abs() <= own_reset_window()
        {
            tracing::info!(account_id = %account.id, "CRM reports our own reset; told already");
            return Ok(());
        }
        let details = AlertDetails { ip: event.ip, user_agent: event.user_agent, except: None };
        let told = self
            .alert_bound_users(
                &account,
                SecurityAlert::of(event.kind),
                Some(event.kind),
                event.at,
                details,
                &format!("security-event:{event_id}"),
            )
            .await?;
        tracing::info!(account_id = %account.id, kind = event.kind.as_str(), told,
            "CRM event recorded");
        Ok(())
    }

    /// Queues `alert` for every user bound to the account (of an opt-in
    /// `kind`, only those who opted in), each once under `key`; how many.
    pub(super) async fn alert_bound_users(
        &self,
        account: &Account,
        alert: SecurityAlert,
        kind: Option<CrmEventKind>,
        at: DateTime<Utc>,
        details: AlertDetails,
        key: &str,
    ) -> RecoveryResult<usize> {
        let now = self.now();
        let mut told = 0;
        for user in self.store.bound_users(account.id).await? {
            if Some(user.tg_user_id) == details.except
                || kind.is_some_and(|kind| !user.subscriptions.wants(kind))
            {
                continue;
            }
            let payload = Delivery::SecurityAlert {
                to: user.tg_user_id,
                account_id: account.id,
                login: account.login.to_string(),
                lang: user.lang.or(account.lang).unwrap_or_default(),
                alert,
                at,
                time_zone: account.time_zone.map(|tz| tz.name().to_owned()),
                ip: details.ip.clone(),
                user_agent: details.user_agent.clone(),
            };
            let key = Some(format!("{key}:{}", user.tg_user_id));
            self.store.enqueue(&NewDelivery { payload, due_at: now, key }, now).await?;
            told += 1;
        }
        if told > 0 {
            self.wake_outbox();
        }
        Ok(told)
    }

    /// This service locked the account after failed sign-ins: its bound
    /// users are told (a failure here is logged; the lock stands).
    pub(super) async fn tell_locked(&self, account_id: AccountId, lock: Lock, at: DateTime<Utc>) {
        let until = match lock {
            Lock::Until(until) => Some(until),
            Lock::Permanent => None,
        };
        let key = format!("security-lock:{account_id}:{}", at.timestamp());
        let told = match self.store.account(account_id).await {
            Ok(Some(account)) => {
                let alert = SecurityAlert::Locked { until };
                let details = AlertDetails::default();
                self.alert_bound_users(&account, alert, None, at, details, &key).await
            }
            Ok(None) => Ok(0),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = told {
            tracing::error!(%account_id, %error, "lockout notifications not queued");
        }
    }

    /// This service changed the password through `by`'s link: the other
    /// users bound to the account are told (`by` is told by the reset
    /// itself).
    pub(super) async fn tell_password_changed(
        &self,
        account: &Account,
        by: TelegramUserId,
        at: DateTime<Utc>,
    ) {
        let alert = SecurityAlert::PasswordChanged;
        let details = AlertDetails { except: Some(by), ..AlertDetails::default() };
        let key = format!("security-reset:{}:{}", account.id, at.timestamp());
        if let Err(error) = self.alert_bound_users(account, alert, None, at, details, &key).await {
            tracing::error!(account_id = %account.id, %error,
                "password change notifications not queued");
        }
    }

    /// What this bound user opted in to for the account.
    pub async fn subscriptions(
        &self,
        user: TelegramUserId,
        account: AccountId,
    ) -> RecoveryResult<Subscriptions> {
        Ok(self.store.subscriptions(user, account).await?)
    }

    /// Changes what a bound user opted in to; false (nothing changed) for a
    /// user not bound to the account.
    pub async fn set_subscriptions(
        &self,
        user: TelegramUserId,
        account: AccountId,
        subscriptions: Subscriptions,
    ) -> RecoveryResult<bool> {
        if !self.store.is_bound(user, account).await? {
            return Ok(false);
        }
        self.store.set_subscriptions(user, account, subscriptions, self.now()).await?;
        tracing::info!(%user, %account, sign_ins = subscriptions.sign_ins,
            new_devices = subscriptions.new_devices, "security notifications changed");
        Ok(true)
    }
}
