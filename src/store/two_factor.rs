//! The `two_factor`, `two_factor_enrolments`, `backup_codes` and
//! `backup_code_attempts` tables: sealed TOTP secrets, the last accepted
//! step, pending enrolments, hashed backup codes and the tries at them.

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    AuditEntry, Store, StoreResult, audit::insert_audit, bindings::insert_binding, from_unix,
    to_unix,
};
use crate::domain::{AccountId, TelegramUserId, two_factor::Sealed};

/// An account's 2FA while it is on.
#[derive(Debug, Clone)]
pub struct StoredTwoFactor {
    pub sealed: Sealed,
    pub enabled_at: DateTime<Utc>,
    /// The last TOTP step accepted, if any.
    pub last_step: Option<u64>,
}

/// An enrolment waiting for its first code.
#[derive(Debug, Clone)]
pub struct StoredEnrolment {
    pub sealed: Sealed,
    pub expires_at: DateTime<Utc>,
}

/// What turning 2FA on wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enabled {
    /// On now, with this generation of backup codes.
    Enabled { generation: i64 },
    /// It was on already: nothing changed.
    AlreadyOn,
}

/// A backup code as stored: only its hash.
#[derive(Debug, Clone)]
pub struct StoredBackupCode {
    pub id: i64,
    pub code_hash: String,
}

/// The outcome of asking to try a backup code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptSlot {
    /// Go ahead; resolve attempt `id` when the code is checked.
    Granted { id: i64 },
    /// The limit is reached; these are the counted attempts' times.
    Refused { counted: Vec<DateTime<Utc>> },
}

fn sealed_from_row(row: &AnyRow) -> StoreResult<Sealed> {
    Ok(Sealed {
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("secret_sealed")?,
    })
}

fn step_from_db(step: i64) -> u64 {
    u64::try_from(step).unwrap_or_default()
}

fn step_to_db(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

impl Store {
    /// The account's 2FA, if it is on.
    pub async fn two_factor(&self, account: AccountId) -> StoreResult<Option<StoredTwoFactor>> {
        let row = sqlx::query(
            "SELECT key_id, nonce, secret_sealed, enabled_at, last_step FROM two_factor \
             WHERE account_id = $1",
        )
        .bind(account.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredTwoFactor {
                sealed: sealed_from_row(&row)?,
                enabled_at: from_unix(row.try_get("enabled_at")?),
                last_step: row.try_get::<Option<i64>, _>("last_step")?.map(step_from_db),
            })
        })
        .transpose()
    }

    /// Whether the account with this login has 2FA on (no account: false).
    pub async fn two_factor_on_login(&self, login: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM two_factor JOIN accounts ON accounts.id = two_factor.account_id \
             WHERE accounts.login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// How many accounts have 2FA on.
    pub async fn two_factor_count(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM two_factor").fetch_one(&self.pool).await?;
        row.try_get("n")
    }

    /// Turns 2FA on with `sealed` as its secret and a new set of backup
    /// codes (older sets revoked), dropping any pending enrolment, with its
    /// audit rows, in one transaction. With `replace`, a secret already on
    /// is replaced (a confirmed re-enrolment); without it, nothing changes
    /// when 2FA is on already.
    pub async fn enable_two_factor(
        &self,
        account: AccountId,
        sealed: &Sealed,
        code_hashes: &[String],
        replace: bool,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Enabled> {
        let mut tx = self.pool.begin().await?;
        lock_account(&mut tx, account).await?;
        let on = sqlx::query("SELECT 1 AS one FROM two_factor WHERE account_id = $1")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if on && !replace {
            tx.rollback().await?;
            return Ok(Enabled::AlreadyOn);
        }
        sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO two_factor (account_id, key_id, nonce, secret_sealed, enabled_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.0)
        .bind(&sealed.key_id)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM two_factor_enrolments WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        let generation = insert_code_set(&mut tx, account, code_hashes, now).await?;
        for entry in audit {
            insert_audit(&mut tx, now, entry).await?;
        }
        tx.commit().await?;
        Ok(Enabled::Enabled { generation })
    }

    /// Turns 2FA off: the secret, a pending enrolment and the unused backup
    /// codes go, with `audit`, in one transaction; false if it was not on.
    pub async fn turn_off_two_factor(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM two_factor_enrolments WHERE account_id = $1")
            .bind(account.0)
            .execute(&mut *tx)
            .await?;
        revoke_codes(&mut tx, account, now).await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records `step` as accepted, unless that step or a later one was
    /// accepted already: of two uses of one code exactly one gets true.
    pub async fn accept_totp_step(&self, account: AccountId, step: u64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE two_factor SET last_step = $1 \
             WHERE account_id = $2 AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step_to_db(step))
        .bind(account.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a secret sealed with key `old_key_id` by the same secret
    /// sealed again (key rotation); false if it changed meanwhile.
    pub async fn reseal_two_factor(
        &self,
        account: AccountId,
        old_key_id: &str,
        sealed: &Sealed,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE two_factor SET key_id = $1, nonce = $2, secret_sealed = $3 \
             WHERE account_id = $4 AND key_id = $5",
        )
        .bind(&sealed.key_id)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(account.0)
        .bind(old_key_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps `sealed` as the account's pending enrolment (replacing an
    /// older one) until `expires_at`, with `audit`.
    pub async fn save_enrolment(
        &self,
        account: AccountId,
        sealed: &Sealed,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO two_factor_enrolments \
                 (account_id, key_id, nonce, secret_sealed, started_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id) DO UPDATE SET key_id = excluded.key_id, \
                 nonce = excluded.nonce, secret_sealed = excluded.secret_sealed, \
                 started_at = excluded.started_at, expires_at = excluded.expires_at",
        )
        .bind(account.0)
        .bind(&sealed.key_id)
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(to_unix(now))
        .bind(to_unix(expires_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account's pending enrolment, expired or not.
    pub async fn enrolment(&self, account: AccountId) -> StoreResult<Option<StoredEnrolment>> {
        let row = sqlx::query(
            "SELECT key_id, nonce, secret_sealed, expires_at FROM two_factor_enrolments \
             WHERE account_id = $1",
        )
        .bind(account.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredEnrolment {
                sealed: sealed_from_row(&row)?,
                expires_at: from_unix(row.try_get("expires_at")?),
            })
        })
        .transpose()
    }

    /// A new set of backup codes (the older ones revoked), with `audit`, in
    /// one transaction; its generation, or `None` if 2FA is not on.
    pub async fn replace_backup_codes(
        &self,
        account: AccountId,
        code_hashes: &[String],
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        lock_account(&mut tx, account).await?;
        let on = sqlx::query("SELECT 1 AS one FROM two_factor WHERE account_id = $1")
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !on {
            tx.rollback().await?;
            return Ok(None);
        }
        let generation = insert_code_set(&mut tx, account, code_hashes, now).await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(Some(generation))
    }

    /// The account's backup codes that may still be used.
    pub async fn unused_backup_codes(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<StoredBackupCode>> {
        let rows = sqlx::query(
            "SELECT id, code_hash FROM backup_codes \
             WHERE account_id = $1 AND used_at IS NULL AND revoked_at IS NULL ORDER BY id",
        )
        .bind(account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredBackupCode {
                    id: row.try_get("id")?,
                    code_hash: row.try_get("code_hash")?,
                })
            })
            .collect()
    }

    /// How many of the account's backup codes may still be used.
    pub async fn backup_codes_left(&self, account: AccountId) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM backup_codes \
             WHERE account_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(account.0)
        .fetch_one(&self.pool)
        .await?;
        row.try_get("n")
    }

    /// Claims a try at a backup code, unless `limit` tries since `since`
    /// were wrong (or are still being checked). The count and the claim
    /// share one transaction behind the account's row, so simultaneous
    /// tries cannot pass the limit. A refusal is audited with `refused`.
    pub async fn claim_backup_attempt(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: usize,
        refused: &AuditEntry,
    ) -> StoreResult<AttemptSlot> {
        let mut tx = self.pool.begin().await?;
        lock_account(&mut tx, account).await?;
        let rows = sqlx::query(
            "SELECT at FROM backup_code_attempts \
             WHERE account_id = $1 AND at > $2 AND outcome <> 'right' ORDER BY at, id",
        )
        .bind(account.0)
        .bind(to_unix(since))
        .fetch_all(&mut *tx)
        .await?;
        let counted: Vec<DateTime<Utc>> =
            rows.iter().map(|row| Ok(from_unix(row.try_get("at")?))).collect::<StoreResult<_>>()?;
        if counted.len() >= limit {
            insert_audit(&mut tx, now, refused).await?;
            tx.commit().await?;
            return Ok(AttemptSlot::Refused { counted });
        }
        let row = sqlx::query(
            "INSERT INTO backup_code_attempts (account_id, at, outcome) \
             VALUES ($1, $2, 'pending') RETURNING id",
        )
        .bind(account.0)
        .bind(to_unix(now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AttemptSlot::Granted { id: row.try_get("id")? })
    }

    /// Tries at the account's backup codes since `since` that were wrong
    /// or are still being checked.
    pub async fn wrong_backup_attempts_since(
        &self,
        account: AccountId,
        since: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM backup_code_attempts \
             WHERE account_id = $1 AND at > $2 AND outcome <> 'right'",
        )
        .bind(account.0)
        .bind(to_unix(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(usize::try_from(row.try_get::<i64, _>("n")?).unwrap_or_default())
    }

    /// A wrong try: recorded as such, with `audit`.
    pub async fn resolve_wrong_backup_attempt(
        &self,
        attempt: i64,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE backup_code_attempts SET outcome = 'wrong' WHERE id = $1")
            .bind(attempt)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, now, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A right try: code `code_id` is spent, the try recorded as right,
    /// `user` (if any) bound to the account, and `audit` written, in one
    /// transaction; false if the code was spent or revoked meanwhile (the
    /// try then stays counted as wrong).
    pub async fn use_backup_code(
        &self,
        attempt: i64,
        code_id: i64,
        account: AccountId,
        user: Option<TelegramUserId>,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE backup_codes SET used_at = $1 \
             WHERE id = $2 AND account_id = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(to_unix(now))
        .bind(code_id)
        .bind(account.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE backup_code_attempts SET outcome = 'right' WHERE id = $1")
            .bind(attempt)
            .execute(&mut *tx)
            .await?;
        if let Some(user) = user {
            insert_binding(&mut tx, user, account, "backup_code", now).await?;
        }
        for entry in audit {
            insert_audit(&mut tx, now, entry).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Touches the account's row: serialises the account's 2FA changes on both
/// backends (a row lock on PostgreSQL, the write lock on SQLite).
async fn lock_account(conn: &mut AnyConnection, account: AccountId) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
        .bind(account.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every unused backup code of the account.
async fn revoke_codes(
    conn: &mut AnyConnection,
    account: AccountId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE backup_codes SET revoked_at = $1 \
         WHERE account_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(to_unix(now))
    .bind(account.0)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the account's codes and inserts `code_hashes` as the next
/// generation; which generation that is.
async fn insert_code_set(
    conn: &mut AnyConnection,
    account: AccountId,
    code_hashes: &[String],
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    revoke_codes(conn, account, now).await?;
    let row = sqlx::query(
        "SELECT COALESCE(MAX(generation), 0) AS latest FROM backup_codes WHERE account_id = $1",
    )
    .bind(account.0)
    .fetch_one(&mut *conn)
    .await?;
    let generation = row.try_get::<i64, _>("latest")? + 1;
    for hash in code_hashes {
        sqlx::query(
            "INSERT INTO backup_codes (account_id, generation, code_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(account.0)
        .bind(generation)
        .bind(hash)
        .bind(to_unix(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(generation)
}
