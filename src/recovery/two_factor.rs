//! Two-factor authentication for accounts: enrolment (at once for the CRM,
//! confirmed by a first code for the bot), TOTP checks that accept each
//! code once, backup codes (argon2id on the hashing threads, at most five
//! wrong ones an hour, a right one may bind a Telegram user), and turning
//! it off. Secrets are sealed with `SECRET_KEY` and re-sealed with it when
//! found under `SECRET_KEY_PREVIOUS`.
//!
//! Who may call what is the caller's business: the HTTP API is the CRM's
//! (bearer token), the bot calls these only for a verified user.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryError, RecoveryResult, credentials};
use crate::{
    domain::{
        AccountId, AuditEvent, AuditOutcome, BackupCode, Login, TelegramUserId, TotpSecret,
        two_factor::{
            BACKUP_CODE_TRIES_PER_HOUR, ENROLMENT_TTL_MINUTES, OpenError, Sealed, TwoFactorError,
        },
    },
    store::{AttemptSlot, AuditEntry, Enabled},
};

/// A freshly made secret, to show once: as an otpauth URI (and its QR
/// code) and as base32 for typing in. Debug hides the secret.
#[derive(Clone)]
pub struct NewSecret {
    pub otpauth_uri: String,
    /// Base32 without padding.
    pub secret_base32: String,
    secret: TotpSecret,
    issuer: String,
    account: String,
}

impl NewSecret {
    /// The otpauth URI as a QR code, PNG bytes (for a Telegram photo).
    pub fn qr_png(&self) -> Result<Vec<u8>, TwoFactorError> {
        self.secret.qr_png(&self.issuer, &self.account)
    }
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSecret").field("account", &self.account).finish_non_exhaustive()
    }
}

/// 2FA turned on at once (the CRM's enrolment): the secret and the backup
/// codes, shown once. Debug hides both.
#[derive(Clone)]
pub struct Enrolled {
    pub secret: NewSecret,
    /// `ABCD-EFGH-JKMN-PQRS`, ten of them.
    pub backup_codes: Vec<String>,
}

impl fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolled")
            .field("secret", &self.secret)
            .field("backup_codes", &format_args!("[{} codes]", self.backup_codes.len()))
            .finish()
    }
}

/// An enrolment waiting for its first code (the bot's).
#[derive(Debug, Clone)]
pub struct PendingEnrolment {
    pub secret: NewSecret,
    pub expires_at: DateTime<Utc>,
}

/// Why an enrolment cannot begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolRefusal {
    /// `SECRET_KEY` is not set: secrets could not be kept safely.
    Unavailable,
    /// 2FA is on already; turn it off first.
    AlreadyOn,
    /// No account has this login.
    NotFound,
}

/// What a first code made of a pending enrolment. Debug hides the codes.
#[derive(Clone, PartialEq, Eq)]
pub enum EnrolmentCheck {
    /// On now; the new backup codes, to show once.
    Confirmed { backup_codes: Vec<String> },
    /// Not the code of the pending secret; the enrolment still waits.
    Wrong,
    /// None pending, or it lapsed: start again.
    Expired,
}

impl fmt::Debug for EnrolmentCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Confirmed { backup_codes } => {
                write!(f, "Confirmed {{ backup_codes: [{} codes] }}", backup_codes.len())
            }
            Self::Wrong => f.write_str("Wrong"),
            Self::Expired => f.write_str("Expired"),
        }
    }
}

/// What a typed TOTP code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    Accepted,
    Wrong,
    /// A right code of a step already accepted: a code works once.
    Replayed,
    /// 2FA is not on for the account.
    NotOn,
}

/// What a typed backup code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupCodeCheck {
    /// Right, and spent; this many codes are left.
    Right { codes_left: i64 },
    /// Wrong; this many tries are left this hour.
    Wrong { left: i64 },
    /// Five wrong codes this hour: the next try from then (or support).
    TooMany { retry_at: DateTime<Utc> },
}

/// Where a change to 2FA came from, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorSource {
    /// The CRM, through the HTTP API.
    Api,
    /// The user, through the bot (e.g. the lost-device path).
    Bot,
    /// A support staff member.
    Staff,
}

impl TwoFactorSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TwoFactorSource::Api => "api",
            TwoFactorSource::Bot => "bot",
            TwoFactorSource::Staff => "staff",
        }
    }
}

/// An account's 2FA as the bot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoFactorState {
    /// Since when 2FA is on; `None`: off.
    pub enabled_at: Option<DateTime<Utc>>,
    pub backup_codes_left: i64,
    /// Until when a started enrolment waits for its first code.
    pub enrolment_expires_at: Option<DateTime<Utc>>,
}

impl TwoFactorState {
    pub fn is_on(&self) -> bool {
        self.enabled_at.is_some()
    }
}

/// What a sealed secret is bound to: a secret copied into another
/// account's row does not open there.
fn context(account: AccountId) -> Vec<u8> {
    format!("crm-recovery-bot totp secret, account {}", account.0).into_bytes()
}

fn two_factor_entry(event: AuditEvent, outcome: AuditOutcome, account: AccountId) -> AuditEntry {
    AuditEntry::new(event, outcome).account(account)
}

impl Recovery {
    /// Whether enrolment is possible at all (`SECRET_KEY` is set).
    pub fn two_factor_available(&self) -> bool {
        self.secrets.is_some()
    }

    /// `POST /accounts/{login}/two-factor`: 2FA on at once (the CRM has
    /// checked the user's first code itself) with ten backup codes.
    pub async fn enrol_two_factor(
        &self,
        login: &Login,
        source: TwoFactorSource,
    ) -> RecoveryResult<Result<Enrolled, EnrolRefusal>> {
        let Some(account) = self.store.account_by_login(login.as_str()).await? else {
            return Ok(Err(EnrolRefusal::NotFound));
        };
        let refused = |why: &str| {
            two_factor_entry(
                AuditEvent::TwoFactorEnrolmentRefused,
                AuditOutcome::Refused,
                account.id,
            )
            .detail(format!("{}: {why}", source.as_str()))
        };
        let Some(secrets) = &self.secrets else {
            self.audit(refused("unavailable")).await;
            return Ok(Err(EnrolRefusal::Unavailable));
        };
        if self.store.two_factor(account.id).await?.is_some() {
            self.audit(refused("already_on")).await;
            return Ok(Err(EnrolRefusal::AlreadyOn));
        }
        let totp = TotpSecret::generate().map_err(random)?;
        let new_secret = self.new_secret(totp, account.login.as_str())?;
        let sealed =
            secrets.seal(new_secret.secret.expose(), &context(account.id)).map_err(random)?;
        let (codes, hashes) = new_code_set().await?;
        let audit = [
            two_factor_entry(AuditEvent::TwoFactorEnabled, AuditOutcome::Ok, account.id)
                .detail(source.as_str()),
            two_factor_entry(AuditEvent::BackupCodesIssued, AuditOutcome::Ok, account.id)
                .detail(format!("{} codes", codes.len())),
        ];
        let now = self.now();
        match self.store.enable_two_factor(account.id, &sealed, &hashes, false, now, &audit).await?
        {
            Enabled::Enabled { .. } => {
                tracing::info!(account_id = %account.id, source = source.as_str(), "two-factor authentication on");
                Ok(Ok(Enrolled { secret: new_secret, backup_codes: codes }))
            }
            Enabled::AlreadyOn => {
                self.audit(refused("already_on")).await;
                Ok(Err(EnrolRefusal::AlreadyOn))
            }
        }
    }

    /// Begins an enrolment for the bot: a new secret, kept sealed and
    /// pending until [`Recovery::confirm_enrolment`] gets its first code
    /// (within ten minutes). A new start replaces an older pending one.
    pub async fn start_enrolment(
        &self,
        account: AccountId,
    ) -> RecoveryResult<Result<PendingEnrolment, EnrolRefusal>> {
        let Some(found) = self.store.account(account).await? else {
            return Ok(Err(EnrolRefusal::NotFound));
        };
        let refused = |why: &str| {
            two_factor_entry(AuditEvent::TwoFactorEnrolmentRefused, AuditOutcome::Refused, account)
                .detail(format!("bot: {why}"))
        };
        let Some(secrets) = &self.secrets else {
            self.audit(refused("unavailable")).await;
            return Ok(Err(EnrolRefusal::Unavailable));
        };
        if self.store.two_factor(account).await?.is_some() {
            self.audit(refused("already_on")).await;
            return Ok(Err(EnrolRefusal::AlreadyOn));
        }
        let totp = TotpSecret::generate().map_err(random)?;
        let new_secret = self.new_secret(totp, found.login.as_str())?;
        let sealed = secrets.seal(new_secret.secret.expose(), &context(account)).map_err(random)?;
        let now = self.now();
        let expires_at = now + Duration::minutes(ENROLMENT_TTL_MINUTES);
        let entry =
            two_factor_entry(AuditEvent::TwoFactorEnrolmentStarted, AuditOutcome::Ok, account)
                .detail("bot");
        self.store.save_enrolment(account, &sealed, now, expires_at, &entry).await?;
        Ok(Ok(PendingEnrolment { secret: new_secret, expires_at }))
    }

    /// Checks the first code of a pending enrolment; a right one turns 2FA
    /// on with that secret (its step then counts as used) and issues ten
    /// backup codes.
    pub async fn confirm_enrolment(
        &self,
        account: AccountId,
        typed: &str,
    ) -> RecoveryResult<EnrolmentCheck> {
        let now = self.now();
        let refused = |why: &str| {
            two_factor_entry(AuditEvent::TwoFactorEnrolmentRefused, AuditOutcome::Refused, account)
                .detail(format!("bot: {why}"))
        };
        let pending = self.store.enrolment(account).await?;
        let Some(pending) = pending.filter(|p| p.expires_at > now) else {
            self.audit(refused("expired")).await;
            return Ok(EnrolmentCheck::Expired);
        };
        let (secret, _) = self.open(account, &pending.sealed)?;
        let Some(step) = secret.accept(typed, unix_seconds(now), None) else {
            self.audit(refused("wrong_code")).await;
            return Ok(EnrolmentCheck::Wrong);
        };
        let secrets = self.secrets.as_ref().ok_or_else(no_key)?;
        // Sealed afresh: the pending row may be under the previous key.
        let sealed = secrets.seal(secret.expose(), &context(account)).map_err(random)?;
        let (codes, hashes) = new_code_set().await?;
        let audit = [
            two_factor_entry(AuditEvent::TwoFactorEnabled, AuditOutcome::Ok, account).detail("bot"),
            two_factor_entry(AuditEvent::BackupCodesIssued, AuditOutcome::Ok, account)
                .detail(format!("{} codes", codes.len())),
        ];
        self.store.enable_two_factor(account, &sealed, &hashes, true, now, &audit).await?;
        // The confirming code is spent.
        self.store.accept_totp_step(account, step).await?;
        tracing::info!(account_id = %account, "two-factor authentication on (bot enrolment)");
        Ok(EnrolmentCheck::Confirmed { backup_codes: codes })
    }

    /// Turns 2FA off: the secret, a pending enrolment and the unused backup
    /// codes go (audited). False if it was not on. A password set under
    /// 2FA's shorter minimum must then be changed: sign-in says so.
    pub async fn turn_off_two_factor(
        &self,
        account: AccountId,
        source: TwoFactorSource,
    ) -> RecoveryResult<bool> {
        let entry = two_factor_entry(AuditEvent::TwoFactorDisabled, AuditOutcome::Ok, account)
            .detail(source.as_str());
        let off = self.store.turn_off_two_factor(account, self.now(), &entry).await?;
        if off {
            tracing::info!(account_id = %account, source = source.as_str(), "two-factor authentication off");
        }
        Ok(off)
    }

    /// Tells the account's address that 2FA was reset for Telegram user
    /// `via` (the second channel every recovery is told on); nothing with
    /// e-mail off.
    pub async fn mail_two_factor_off(
        &self,
        account: AccountId,
        via: TelegramUserId,
        lang: crate::domain::Lang,
    ) -> RecoveryResult<()> {
        let Some(account) = self.store.account(account).await? else { return Ok(()) };
        let event = crate::domain::MailEvent::TwoFactorOff;
        self.mail_now(&account, event, via, lang, self.now()).await
    }

    /// [`Recovery::turn_off_two_factor`] by login (the API); `None` for an
    /// unknown login.
    pub async fn turn_off_two_factor_by_login(
        &self,
        login: &Login,
        source: TwoFactorSource,
    ) -> RecoveryResult<Option<bool>> {
        match self.store.account_by_login(login.as_str()).await? {
            Some(account) => self.turn_off_two_factor(account.id, source).await.map(Some),
            None => Ok(None),
        }
    }

    /// A new set of ten backup codes, the older set revoked; to show once.
    /// `None` when 2FA is not on.
    pub async fn regenerate_backup_codes(
        &self,
        account: AccountId,
    ) -> RecoveryResult<Option<Vec<String>>> {
        if self.store.two_factor(account).await?.is_none() {
            return Ok(None);
        }
        let (codes, hashes) = new_code_set().await?;
        let entry = two_factor_entry(AuditEvent::BackupCodesIssued, AuditOutcome::Ok, account)
            .detail(format!("{} codes, the older set revoked", codes.len()));
        let generation =
            self.store.replace_backup_codes(account, &hashes, self.now(), &entry).await?;
        Ok(generation.map(|_| codes))
    }

    /// How many backup codes the account may still use.
    pub async fn backup_codes_left(&self, account: AccountId) -> RecoveryResult<i64> {
        Ok(self.store.backup_codes_left(account).await?)
    }

    pub async fn two_factor_state(&self, account: AccountId) -> RecoveryResult<TwoFactorState> {
        let enabled_at = self.store.two_factor(account).await?.map(|on| on.enabled_at);
        let now = self.now();
        let enrolment_expires_at = self
            .store
            .enrolment(account)
            .await?
            .map(|pending| pending.expires_at)
            .filter(|at| *at > now);
        Ok(TwoFactorState {
            enabled_at,
            backup_codes_left: self.store.backup_codes_left(account).await?,
            enrolment_expires_at,
        })
    }

    /// Checks a backup code (any case, spaces and dashes ignored). A right
    /// one is spent and, with `bind`, binds that Telegram user to the
    /// account in the same transaction (the second proof of a new binding,
    /// audited `telegram_bound` / `backup_code`). At most five wrong codes
    /// per account in any hour; every try is audited.
    pub async fn redeem_backup_code(
        &self,
        account: AccountId,
        typed: &str,
        bind: Option<TelegramUserId>,
    ) -> RecoveryResult<BackupCodeCheck> {
        let now = self.now();
        let window = Duration::hours(1);
        let limit = BACKUP_CODE_TRIES_PER_HOUR;
        let entry = |outcome: AuditOutcome, event: AuditEvent, detail: String| {
            let entry = two_factor_entry(event, outcome, account).detail(detail);
            match bind {
                Some(user) => entry.user(user),
                None => entry,
            }
        };
        let too_many =
            entry(AuditOutcome::Refused, AuditEvent::BackupCodeRefused, "too_many_tries".into());
        let attempt = match self
            .store
            .claim_backup_attempt(account, now, now - window, limit, &too_many)
            .await?
        {
            AttemptSlot::Granted { id } => id,
            AttemptSlot::Refused { counted } => {
                // The try that must leave the window before another is allowed.
                let oldest = counted.get(counted.len().saturating_sub(limit)).copied();
                let retry_at = oldest.unwrap_or(now) + window;
                tracing::info!(account_id = %account, %retry_at, "backup code refused: too many tries");
                return Ok(BackupCodeCheck::TooMany { retry_at });
            }
        };
        let code = BackupCode::parse(typed);
        let stored = match &code {
            Some(_) => self.store.unused_backup_codes(account).await?,
            None => Vec::new(),
        };
        let matched = match code {
            // One hashing job checks the typed code against every unused one.
            Some(code) if !stored.is_empty() => {
                let hashes: Vec<(i64, String)> =
                    stored.into_iter().map(|c| (c.id, c.code_hash)).collect();
                credentials::on_hashing_thread(move || {
                    for (id, hash) in &hashes {
                        if credentials::verify_blocking(code.expose(), hash)? {
                            return Ok(Some(*id));
                        }
                    }
                    Ok(None)
                })
                .await?
            }
            _ => None,
        };
        if let Some(code_id) = matched {
            let left = self.store.backup_codes_left(account).await?.saturating_sub(1);
            let mut audit =
                vec![entry(AuditOutcome::Ok, AuditEvent::BackupCodeUsed, format!("{left} left"))];
            if let Some(user) = bind {
                audit.push(
                    AuditEntry::new(AuditEvent::TelegramBound, AuditOutcome::Ok)
                        .user(user)
                        .account(account)
                        .detail("backup_code"),
                );
            }
            if self.store.use_backup_code(attempt, code_id, account, bind, now, &audit).await? {
                tracing::info!(account_id = %account, bound = bind.is_some(), "backup code used");
                return Ok(BackupCodeCheck::Right { codes_left: left });
            }
        }
        // Wrong (or spent by a simultaneous try): counted, this try included.
        let left = self.backup_tries_left(account, now, window, limit).await?;
        let detail = if typed.trim().is_empty() || BackupCode::parse(typed).is_none() {
            format!("malformed, {left} tries left")
        } else {
            format!("wrong, {left} tries left")
        };
        let audit = entry(AuditOutcome::Refused, AuditEvent::BackupCodeRefused, detail);
        self.store.resolve_wrong_backup_attempt(attempt, now, &audit).await?;
        Ok(BackupCodeCheck::Wrong { left })
    }

    /// Checks a TOTP code for an account with 2FA on, accepting each step
    /// once. A secret found under the previous key is sealed again with the
    /// current one.
    pub async fn check_totp(&self, account: AccountId, typed: &str) -> RecoveryResult<TotpCheck> {
        let Some(stored) = self.store.two_factor(account).await? else {
            return Ok(TotpCheck::NotOn);
        };
        let (secret, stale) = self.open(account, &stored.sealed)?;
        if stale {
            self.reseal(account, &stored.sealed, &secret).await?;
        }
        let now = unix_seconds(self.now());
        if let Some(step) = secret.accept(typed, now, stored.last_step) {
            // Of two simultaneous uses of one code, one is accepted.
            if self.store.accept_totp_step(account, step).await? {
                return Ok(TotpCheck::Accepted);
            }
            return Ok(TotpCheck::Replayed);
        }
        Ok(if secret.accept(typed, now, None).is_some() {
            TotpCheck::Replayed
        } else {
            TotpCheck::Wrong
        })
    }

    fn new_secret(&self, secret: TotpSecret, login: &str) -> RecoveryResult<NewSecret> {
        let issuer = self.brand_name.clone();
        let otpauth_uri = secret.otpauth_uri(&issuer, login).map_err(random)?;
        Ok(NewSecret {
            otpauth_uri,
            secret_base32: secret.to_base32(),
            secret,
            issuer,
            account: login.to_owned(),
        })
    }

    /// Opens a sealed secret; whether it was sealed with the previous key.
    fn open(&self, account: AccountId, sealed: &Sealed) -> RecoveryResult<(TotpSecret, bool)> {
        let secrets = self.secrets.as_ref().ok_or_else(no_key)?;
        let opened = secrets.open(sealed, &context(account)).map_err(|error| {
            RecoveryError::Secrets(match error {
                OpenError::UnknownKey(_) | OpenError::Inauthentic => {
                    format!("account {account}: {error}")
                }
            })
        })?;
        let secret = TotpSecret::from_bytes(opened.plaintext).ok_or_else(|| {
            RecoveryError::Secrets(format!("account {account}: the stored secret is too short"))
        })?;
        Ok((secret, opened.stale))
    }

    /// Seals the secret again with the current key (key rotation).
    async fn reseal(
        &self,
        account: AccountId,
        old: &Sealed,
        secret: &TotpSecret,
    ) -> RecoveryResult<()> {
        let secrets = self.secrets.as_ref().ok_or_else(no_key)?;
        let sealed = secrets.seal(secret.expose(), &context(account)).map_err(random)?;
        if self.store.reseal_two_factor(account, &old.key_id, &sealed).await? {
            tracing::info!(account_id = %account, from = old.key_id, to = sealed.key_id,
                "two-factor secret re-encrypted with the current SECRET_KEY");
        }
        Ok(())
    }

    /// Wrong tries the account has left this hour.
    async fn backup_tries_left(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
        window: Duration,
        limit: usize,
    ) -> RecoveryResult<i64> {
        let used = self.store.wrong_backup_attempts_since(account, now - window).await?;
        Ok(i64::try_from(limit.saturating_sub(used)).unwrap_or_default())
    }
}

/// Ten new codes, shown as `ABCD-EFGH-JKMN-PQRS`, and their argon2id
/// hashes (made on a hashing thread).
async fn new_code_set() -> RecoveryResult<(Vec<String>, Vec<String>)> {
    let codes = BackupCode::generate_set().map_err(random)?;
    let shown = codes.iter().map(BackupCode::display).collect();
    let hashes = credentials::on_hashing_thread(move || {
        codes.iter().map(|code| credentials::hash_blocking(code.expose())).collect()
    })
    .await?;
    Ok((shown, hashes))
}

fn unix_seconds(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).unwrap_or_default()
}

fn random(error: TwoFactorError) -> RecoveryError {
    match error {
        TwoFactorError::Random(why) => RecoveryError::Random(why),
        other => RecoveryError::Secrets(other.to_string()),
    }
}

fn no_key() -> RecoveryError {
    RecoveryError::Secrets(
        "an account has two-factor authentication but SECRET_KEY is not set".to_owned(),
    )
}
