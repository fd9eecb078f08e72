//! The `sign_in_failures` table (failed sign-ins and locks per login key)
//! and the administrative block on `accounts`.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};

use super::{AuditEntry, Store, StoreResult, audit::insert_audit, from_unix, to_unix};
use crate::domain::{AccountId, LockoutState};

const STATE_COLUMNS: &str = "failures, locks, locked_until, locked_permanently_at, last_failure_at";

/// What `accounts unlock` lifted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unlocked {
    /// The login's failure record as it was (`None`: there was none).
    pub lockout: Option<LockoutState>,
    /// Whether the account was blocked.
    pub unblocked: bool,
}

impl Store {
    /// The failure record of a login key; none is a clean record.
    pub async fn lockout_state(&self, login_key: &str) -> StoreResult<LockoutState> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM sign_in_failures WHERE login_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(state_from_row).transpose()?.unwrap_or_default())
    }

    /// Changes a login key's record by `decide` (given the record as it is
    /// now) and writes the audit rows it returns, in one transaction. The
    /// record is touched first, which serialises concurrent calls for one
    /// key on both backends (a row lock on PostgreSQL, the write lock on
    /// SQLite): `decide` always sees the previous call's result.
    pub async fn update_lockout<T>(
        &self,
        login_key: &str,
        now: DateTime<Utc>,
        decide: impl FnOnce(LockoutState) -> (LockoutState, Vec<AuditEntry>, T),
    ) -> StoreResult<T> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO sign_in_failures (login_key, updated_at) VALUES ($1, $2) \
             ON CONFLICT (login_key) DO UPDATE SET updated_at = sign_in_failures.updated_at \
             RETURNING {STATE_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login_key)
            .bind(to_unix(now))
            .fetch_one(&mut *tx)
            .await?;
        let (state, audit, answer) = decide(state_from_row(&row)?);
        sqlx::query(
            "UPDATE sign_in_failures SET failures = $1, locks = $2, locked_until = $3, \
                 locked_permanently_at = $4, last_failure_at = $5, updated_at = $6 \
             WHERE login_key = $7",
        )
        .bind(i64::from(state.failures))
        .bind(i64::from(state.locks))
        .bind(state.locked_until.map(to_unix))
        .bind(state.locked_permanently_at.map(to_unix))
        .bind(state.last_failure_at.map(to_unix))
        .bind(to_unix(now))
        .bind(login_key)
        .execute(&mut *tx)
        .await?;
        for entry in &audit {
            insert_audit(&mut tx, now, entry).await?;
        }
        tx.commit().await?;
        Ok(answer)
    }

    /// A right password: the count starts again. Only a record with a
    /// count is written, so most sign-ins write nothing here.
    pub async fn clear_sign_in_failures(
        &self,
        login_key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sign_in_failures SET failures = 0, updated_at = $1 \
             WHERE login_key = $2 AND failures > 0",
        )
        .bind(to_unix(now))
        .bind(login_key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets failure records that say nothing any more: no lock in force,
    /// and no failure for `reset` (so the count and the growth would be
    /// cleared on the next look anyway). Unknown logins leave such records
    /// behind by the thousand. How many went.
    pub async fn prune_sign_in_failures(
        &self,
        now: DateTime<Utc>,
        reset: chrono::Duration,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sign_in_failures WHERE locked_permanently_at IS NULL \
                 AND (locked_until IS NULL OR locked_until <= $1) \
                 AND ((last_failure_at IS NOT NULL AND last_failure_at <= $2) \
                     OR (last_failure_at IS NULL AND failures = 0 AND locks = 0))",
        )
        .bind(to_unix(now))
        .bind(to_unix(now - reset))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// A successful sign-in, shown to staff beside the date a user
    /// remembers.
    pub async fn record_sign_in(
        &self,
        account_id: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET last_sign_in_at = $1 WHERE id = $2")
            .bind(to_unix(now))
            .bind(account_id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Blocks (`Some(now)`) or unblocks (`None`) the account with this
    /// login; false if there is none.
    pub async fn set_account_blocked(
        &self,
        login: &str,
        blocked_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changed =
            sqlx::query("UPDATE accounts SET blocked_at = $1, updated_at = $2 WHERE login = $3")
                .bind(blocked_at.map(to_unix))
                .bind(to_unix(now))
                .bind(login)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed > 0)
    }

    /// Lifts every lock on the login (temporary or permanent, the count and
    /// the growth too) and the account's block, and writes `audit` if
    /// anything was lifted, in one transaction.
    pub async fn unlock_login(
        &self,
        login: &str,
        login_key: &str,
        now: DateTime<Utc>,
        audit: impl FnOnce(&Unlocked) -> AuditEntry,
    ) -> StoreResult<Unlocked> {
        let mut tx = self.pool.begin().await?;
        let sql =
            format!("DELETE FROM sign_in_failures WHERE login_key = $1 RETURNING {STATE_COLUMNS}");
        let lockout = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login_key)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(state_from_row)
            .transpose()?;
        let unblocked = sqlx::query(
            "UPDATE accounts SET blocked_at = NULL, updated_at = $1 \
             WHERE login = $2 AND blocked_at IS NOT NULL",
        )
        .bind(to_unix(now))
        .bind(login)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let unlocked = Unlocked { lockout, unblocked };
        if unlocked != Unlocked::default() {
            insert_audit(&mut tx, now, &audit(&unlocked)).await?;
        }
        tx.commit().await?;
        Ok(unlocked)
    }
}

fn state_from_row(row: &AnyRow) -> StoreResult<LockoutState> {
    let count = |name: &str| -> StoreResult<u32> {
        Ok(u32::try_from(row.try_get::<i64, _>(name)?).unwrap_or(u32::MAX))
    };
    let instant =
        |name: &str| -> StoreResult<_> { Ok(row.try_get::<Option<i64>, _>(name)?.map(from_unix)) };
    Ok(LockoutState {
        failures: count("failures")?,
        locks: count("locks")?,
        locked_until: instant("locked_until")?,
        locked_permanently_at: instant("locked_permanently_at")?,
        last_failure_at: instant("last_failure_at")?,
    })
}
