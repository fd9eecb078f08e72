//! Sign-in for the CRM (`POST /api/v1/auth/login`): checks a login and
//! password, counts failures and locks logins by the [`LockoutPolicy`].
//!
//! Unknown logins are checked against a dummy hash and counted and locked
//! exactly like known ones, under the same per-login record, so neither the
//! answer, its timing nor a lock tells whether a login exists.
//!
//! [`LockoutPolicy`]: crate::domain::LockoutPolicy

use chrono::{DateTime, Utc};

use super::{ClientAddr, Recovery, RecoveryResult, TotpCheck, credentials};
use crate::{
    domain::{
        Account, AccountId, AuditEvent, AuditOutcome, CompanyName, FailureOutcome, Lock, Login,
        account::mask_login, login_key, password,
    },
    store::{AuditEntry, Store, Unlocked},
};

/// A sign-in attempt as the CRM sends it.
pub struct SignIn {
    pub login: String,
    pub password: String,
    /// The TOTP code, for an account with two-factor authentication; an
    /// empty one counts as none.
    pub totp: Option<String>,
    pub client: ClientAddr,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("login", &mask_login(&self.login))
            .field("password", &"***")
            .field("totp", &self.totp.as_ref().map(|_| "***"))
            .field("client", &self.client)
            .finish()
    }
}

/// A right password for an account that may sign in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account_id: AccountId,
    pub login: Login,
    pub credentials_version: i64,
    /// The password was set shorter than `PASSWORD_MIN_LENGTH` (under
    /// two-factor authentication's shorter minimum) and two-factor
    /// authentication is off now: the CRM should have it changed.
    pub password_change_required: bool,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Wrong password, unknown login, or an account without a password:
    /// one case, deliberately.
    InvalidCredentials,
    /// Too many failed sign-ins; `until` is `None` for a permanent lock.
    Locked { until: Option<DateTime<Utc>>, retry_after: Option<u64> },
    /// Blocked by an administrator (told only after a right password).
    Blocked,
    /// The licence lapsed at this instant (told only after a right password).
    LicenseExpired { expired_at: DateTime<Utc> },
    /// Too many passwords are being hashed right now.
    Busy,
    /// The right password, but the account has two-factor authentication
    /// and no code came with it.
    TotpRequired,
}

impl Recovery {
    /// When the licence of the account's company ends, if the CRM said.
    async fn company_licence_end(
        &self,
        account: &Account,
    ) -> RecoveryResult<Option<DateTime<Utc>>> {
        let Ok(name) = CompanyName::parse(&account.company) else {
            return Ok(None);
        };
        Ok(self.store.company(&name).await?.and_then(|company| company.license_expires_at))
    }

    /// Checks the attempt. A locked login is refused before its password is
    /// looked at; a wrong password is counted (and may lock); a block or a
    /// lapsed licence is told only to the holder of the right password.
    pub async fn sign_in(
        &self,
        attempt: SignIn,
    ) -> RecoveryResult<Result<SignedIn, SignInRefusal>> {
        let now = self.now();
        let key = login_key(&attempt.login);
        // A deactivated account signs in no more than an unknown login.
        let account = match Login::parse(&attempt.login) {
            Ok(login) => self.store.account_by_login(login.as_str()).await?,
            Err(_) => None,
        }
        .filter(Account::is_active);
        let state = self.lockout.settle(self.store.lockout_state(&key).await?, now);
        if let Some(lock) = self.lockout.lock(&state, now) {
            let entry = refused(lock_detail(lock), account.as_ref().map(|a| a.id), &attempt.client);
            self.audit(entry).await;
            return Ok(Err(locked(lock, now)));
        }
        let Some(admission) = self.hashing.admit() else {
            tracing::warn!("hashing queue full; sign-in answered busy");
            return Ok(Err(SignInRefusal::Busy));
        };
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let typed = password::normalize(&attempt.password);
        let matches = admission
            .run(move || Ok(credentials::verify_or_dummy(&typed, hash.as_deref())))
            .await?;

        let account_id = account.as_ref().map(|a| a.id);
        let Some(account) = account.filter(|_| matches) else {
            let reason = if account_id.is_some() { "wrong_password" } else { "unknown_login" };
            return self
                .count_failure(&key, account_id, reason, &attempt.client, now)
                .await
                .map(Err);
        };
        // The second factor, before the count is cleared: a right password
        // with a wrong code is a failure like a wrong password, and a right
        // password alone clears nothing (or codes could be guessed without
        // end between right passwords).
        let two_factor_on = self.store.two_factor(account.id).await?.is_some();
        if two_factor_on {
            let code = attempt.totp.as_deref().map(str::trim).filter(|code| !code.is_empty());
            let Some(code) = code else {
                self.audit(refused("totp_required", Some(account.id), &attempt.client)).await;
                return Ok(Err(SignInRefusal::TotpRequired));
            };
            let reason = match self.check_totp(account.id, code).await? {
                TotpCheck::Accepted => None,
                TotpCheck::Replayed => Some("replayed_totp"),
                TotpCheck::Wrong | TotpCheck::NotOn => Some("wrong_totp"),
            };
            if let Some(reason) = reason {
                return self
                    .count_failure(&key, Some(account.id), reason, &attempt.client, now)
                    .await
                    .map(Err);
            }
        }
        if state.failures > 0 {
            self.store.clear_sign_in_failures(&key, now).await?;
        }
        let refusal = if account.blocked_at.is_some() {
            Some(("blocked", SignInRefusal::Blocked))
        } else {
            self.company_licence_end(&account)
                .await?
                .filter(|at| *at <= now)
                .map(|expired_at| ("license_expired", SignInRefusal::LicenseExpired { expired_at }))
        };
        if let Some((detail, refusal)) = refusal {
            self.audit(refused(detail, Some(account.id), &attempt.client)).await;
            return Ok(Err(refusal));
        }
        self.store.record_sign_in(account.id, now).await?;
        let entry = AuditEntry::new(AuditEvent::SignedIn, AuditOutcome::Ok)
            .account(account.id)
            .from_addr(attempt.client);
        self.audit(entry).await;
        let password_change_required = !two_factor_on
            && account
                .password_length
                .is_some_and(|length| self.password_policy.too_short_without_two_factor(length));
        Ok(Ok(SignedIn {
            account_id: account.id,
            login: account.login,
            credentials_version: account.credentials_version,
            password_change_required,
        }))
    }

    /// Counts a wrong password (or code), atomically with its audit rows:
    /// of any number of concurrent failures, exactly the `max_failures`-th
    /// locks.
    async fn count_failure(
        &self,
        key: &str,
        account_id: Option<AccountId>,
        reason: &str,
        client: &ClientAddr,
        now: DateTime<Utc>,
    ) -> RecoveryResult<SignInRefusal> {
        let policy = self.lockout;
        let failed = |detail: String| {
            let entry = AuditEntry::new(AuditEvent::SignInFailed, AuditOutcome::Refused)
                .detail(detail)
                .from_addr(client.clone());
            match account_id {
                Some(id) => entry.account(id),
                None => entry,
            }
        };
        let outcome = self
            .store
            .update_lockout(key, now, |state| {
                let (next, outcome) = policy.fail(state, now);
                let audit = match outcome {
                    FailureOutcome::Counted(n) => vec![failed(format!("{reason}, failure {n}"))],
                    FailureOutcome::Locked(lock) => {
                        let mut lock_entry = failed(lock_detail(lock).to_owned());
                        lock_entry.event = AuditEvent::SignInLocked;
                        lock_entry.detail = Some(match lock {
                            Lock::Until(until) => format!(
                                "until {}, lock {}",
                                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                next.locks
                            ),
                            Lock::Permanent => "permanent".to_owned(),
                        });
                        vec![
                            failed(format!("{reason}, failure {}", policy.max_failures)),
                            lock_entry,
                        ]
                    }
                    FailureOutcome::AlreadyLocked(lock) => {
                        vec![refused(lock_detail(lock), account_id, client)]
                    }
                };
                (next, audit, outcome)
            })
            .await?;
        Ok(match outcome {
            FailureOutcome::Counted(_) => SignInRefusal::InvalidCredentials,
            FailureOutcome::Locked(lock) => {
                // The key may be a mistyped password: only its edges are logged.
                tracing::info!(
                    login = mask_login(key),
                    account_id = account_id.map(|id| id.0),
                    client = client.as_deref().unwrap_or("unknown"),
                    ?lock,
                    "sign-in locked after failed attempts"
                );
                crate::monitoring::lockout();
                if let Some(account_id) = account_id {
                    self.tell_locked(account_id, lock, now).await;
                }
                locked(lock, now)
            }
            FailureOutcome::AlreadyLocked(lock) => locked(lock, now),
        })
    }
}

impl Recovery {
    /// Drops the sign-in failure records that no longer mean anything;
    /// run now and then.
    pub async fn prune_sign_in_failures(&self) -> RecoveryResult<u64> {
        let pruned =
            self.store.prune_sign_in_failures(self.now(), self.lockout.failure_reset).await?;
        if pruned > 0 {
            tracing::info!(pruned, "old sign-in failure records removed");
        }
        Ok(pruned)
    }
}

/// Lifts every lock (temporary or permanent, with the count and the growth)
/// and the administrative block on `login`, audited: `accounts unlock`.
/// Works for logins without an account too, since they are counted alike.
pub async fn unlock_login(
    store: &Store,
    login: &str,
    now: DateTime<Utc>,
) -> RecoveryResult<Unlocked> {
    let login = login.trim();
    let account = store.account_by_login(login).await?;
    let unlocked = store
        .unlock_login(login, &login_key(login), now, |unlocked| {
            let mut lifted = Vec::new();
            if let Some(state) = &unlocked.lockout {
                lifted.push(if state.locked_permanently_at.is_some() {
                    "permanent lock".to_owned()
                } else if state.locked_until.is_some_and(|until| until > now) {
                    "temporary lock".to_owned()
                } else {
                    format!("failure record ({} failures, {} locks)", state.failures, state.locks)
                });
            }
            if unlocked.unblocked {
                lifted.push("block".to_owned());
            }
            let entry = AuditEntry::new(AuditEvent::SignInUnlocked, AuditOutcome::Ok)
                .detail(format!("by an operator: {}", lifted.join(", ")));
            match &account {
                Some(account) => entry.account(account.id),
                None => entry,
            }
        })
        .await?;
    tracing::info!(login = mask_login(login), ?unlocked, "unlocked by an operator");
    Ok(unlocked)
}

fn locked(lock: Lock, now: DateTime<Utc>) -> SignInRefusal {
    SignInRefusal::Locked {
        until: match lock {
            Lock::Until(until) => Some(until),
            Lock::Permanent => None,
        },
        retry_after: lock.retry_after(now),
    }
}

fn lock_detail(lock: Lock) -> &'static str {
    match lock {
        Lock::Until(_) => "locked",
        Lock::Permanent => "locked_permanently",
    }
}

fn refused(detail: &str, account_id: Option<AccountId>, client: &ClientAddr) -> AuditEntry {
    let entry = AuditEntry::new(AuditEvent::SignInRefused, AuditOutcome::Refused)
        .detail(detail)
        .from_addr(client.clone());
    match account_id {
        Some(id) => entry.account(id),
        None => entry,
    }
}
