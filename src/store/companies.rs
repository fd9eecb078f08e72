//! The `companies` table: a company's licence, shared by its accounts.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    AuditEntry, Store, StoreResult,
    audit::insert_audit,
    from_unix,
    licence::{reachable_admins, schedule_reminders},
    to_unix,
};
use crate::domain::{Company, CompanyName};

impl Store {
    pub async fn company(&self, name: &CompanyName) -> StoreResult<Option<Company>> {
        let row = sqlx::query("SELECT license_expires_at FROM companies WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Company {
                name: name.clone(),
                license_expires_at: row
                    .try_get::<Option<i64>, _>("license_expires_at")?
                    .map(from_unix),
            })
        })
        .transpose()
    }

    /// Sets (or clears) the company's licence end, creating the company if
    /// it is new. When that changes what was stored, `audit` is given the
    /// previous end and its row is written in the same transaction, with
    /// the administrators' reminders for the new end (moved, or cancelled
    /// when the end is cleared or too close).
    pub async fn set_company_licence(
        &self,
        name: &CompanyName,
        license_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        audit: &(dyn Fn(Option<DateTime<Utc>>) -> AuditEntry + Send + Sync),
    ) -> StoreResult<Company> {
        let mut tx = self.pool.begin().await?;
        // Touching the row first serialises concurrent changes of one company.
        let before = sqlx::query(
            "UPDATE companies SET updated_at = updated_at WHERE name = $1 \
             RETURNING license_expires_at",
        )
        .bind(name.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get::<Option<i64>, _>("license_expires_at"))
        .transpose()?
        .map(|at| at.map(from_unix));
        sqlx::query(
            "INSERT INTO companies (name, license_expires_at, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET license_expires_at = excluded.license_expires_at, \
                 updated_at = excluded.updated_at",
        )
        .bind(name.as_str())
        .bind(license_expires_at.map(to_unix))
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        // Compared in stored (whole-second) precision.
        let stored = license_expires_at.map(to_unix).map(from_unix);
        if before != Some(stored) {
            insert_audit(&mut tx, now, &audit(before.flatten())).await?;
            let admins = reachable_admins(&mut tx, name).await?;
            schedule_reminders(&mut tx, name, stored, &admins, now).await?;
        }
        tx.commit().await?;
        Ok(Company { name: name.clone(), license_expires_at: stored })
    }
}
