//! A company's administrators as the bot can reach them, their licence
//! reminders in the outbox, and the once-a-day alert an employee asks for.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AnyConnection, Row};

use super::{
    AuditEntry, Store, StoreResult,
    audit::insert_audit,
    outbox::{cancel_delivery, insert_delivery},
    to_unix,
};
use crate::domain::{
    AccountId, CompanyName, Delivery, Lang, NewDelivery, TelegramUserId, licence, plan_reminders,
};

/// A company administrator who passed the bot's identity step: an active
/// account with `company_admin` whose phone a Telegram user verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminContact {
    pub tg_user_id: TelegramUserId,
    /// The account's locale, else the language chosen in the bot, else
    /// English.
    pub lang: Lang,
}

/// The employee an alert is about, and when the licence ended.
#[derive(Debug, Clone)]
pub struct AdminAlertRequest {
    pub company: CompanyName,
    pub day: NaiveDate,
    pub requested_by: TelegramUserId,
    pub account_id: AccountId,
    pub employee_login: String,
    pub employee_name: String,
    pub ended_at: DateTime<Utc>,
}

/// What came of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAlertOutcome {
    /// Queued for this many administrators.
    Queued(usize),
    AlreadySentToday,
    NoAdminReachable,
}

impl Store {
    pub async fn reachable_admins(&self, company: &CompanyName) -> StoreResult<Vec<AdminContact>> {
        self.pool.run(async |conn| reachable_admins(conn, company).await).await
    }

    /// Queues (or moves, or cancels) the licence reminders of `admins` for
    /// the company's end.
    pub async fn schedule_licence_reminders(
        &self,
        company: &CompanyName,
        end: Option<DateTime<Utc>>,
        admins: &[AdminContact],
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        // Statement by statement: each row stands on its own, and a
        // transaction that reads first could be refused its write on SQLite.
        self.pool.run(async |conn| schedule_reminders(conn, company, end, admins, now).await).await
    }

    /// Records today's alert for the company and queues it for every
    /// reachable administrator but the employee, with its audit row, in one
    /// transaction; the table's key lets only one a day through.
    pub async fn alert_company_admins(
        &self,
        request: &AdminAlertRequest,
        now: DateTime<Utc>,
        audit: &(dyn Fn(AdminAlertOutcome) -> AuditEntry + Send + Sync),
    ) -> StoreResult<AdminAlertOutcome> {
        let mut tx = self.pool.begin().await?;
        // The claim is written first: on SQLite a transaction that reads
        // before it writes may be refused its write lock when another
        // write committed meanwhile.
        let claimed = sqlx::query(
            "INSERT INTO licence_admin_alerts \
                 (company, day, tg_user_id, account_id, admins, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (company, day) DO NOTHING",
        )
        .bind(request.company.as_str())
        .bind(request.day.to_string())
        .bind(request.requested_by.0)
        .bind(request.account_id.0)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let admins: Vec<AdminContact> = reachable_admins(&mut tx, &request.company)
            .await?
            .into_iter()
            .filter(|admin| admin.tg_user_id != request.requested_by)
            .collect();
        let outcome = match (claimed, admins.len()) {
            (false, _) => AdminAlertOutcome::AlreadySentToday,
            (true, 0) => AdminAlertOutcome::NoAdminReachable,
            (true, count) => AdminAlertOutcome::Queued(count),
        };
        if outcome != AdminAlertOutcome::Queued(admins.len()) {
            // Nothing to keep: with nobody reachable, a later press (once
            // an administrator has linked) may still get through today.
            tx.rollback().await?;
            self.audit(now, audit(outcome)).await?;
            return Ok(outcome);
        }
        sqlx::query("UPDATE licence_admin_alerts SET admins = $1 WHERE company = $2 AND day = $3")
            .bind(admins.len() as i64)
            .bind(request.company.as_str())
            .bind(request.day.to_string())
            .execute(&mut *tx)
            .await?;
        for admin in &admins {
            let payload = Delivery::LicenceAdminAlert {
                to: admin.tg_user_id,
                lang: admin.lang,
                company: request.company.to_string(),
                employee_login: request.employee_login.clone(),
                employee_name: request.employee_name.clone(),
                ended_at: request.ended_at,
            };
            let key =
                licence::admin_alert_key(request.company.as_str(), request.day, admin.tg_user_id);
            insert_delivery(&mut tx, &NewDelivery { payload, due_at: now, key: Some(key) }, now)
                .await?;
        }
        insert_audit(&mut tx, now, &audit(outcome)).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

pub(super) async fn reachable_admins(
    conn: &mut AnyConnection,
    company: &CompanyName,
) -> StoreResult<Vec<AdminContact>> {
    let rows = sqlx::query(
        "SELECT u.tg_user_id, a.locale, u.language FROM accounts a \
         JOIN telegram_users u ON u.verified_phone = a.phone \
         WHERE a.company = $1 AND a.company_admin <> 0 AND a.deactivated_at IS NULL \
         ORDER BY u.tg_user_id, a.id",
    )
    .bind(company.as_str())
    .fetch_all(conn)
    .await?;
    let mut admins: Vec<AdminContact> = Vec::with_capacity(rows.len());
    for row in &rows {
        let tg_user_id = TelegramUserId(row.try_get("tg_user_id")?);
        // One Telegram user may hold several admin accounts: one contact.
        if admins.last().is_some_and(|admin| admin.tg_user_id == tg_user_id) {
            continue;
        }
        let code = |column| {
            row.try_get::<Option<String>, _>(column).map(|c| c.and_then(|c| Lang::parse(&c)))
        };
        let lang = code("locale")?.or(code("language")?).unwrap_or(Lang::En);
        admins.push(AdminContact { tg_user_id, lang });
    }
    Ok(admins)
}

/// Queues each administrator's reminders for `end` under keys without the
/// date, so a new end replaces the pending ones of the old; one not to be
/// sent (no end, or too late) cancels its pending row. A reminder already
/// sent for this very end is not queued again (the same date set twice, an
/// administrator passing the identity step again). Returns how many were
/// queued.
pub(super) async fn schedule_reminders(
    conn: &mut AnyConnection,
    company: &CompanyName,
    end: Option<DateTime<Utc>>,
    admins: &[AdminContact],
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut queued = 0;
    for admin in admins {
        for planned in plan_reminders(company.as_str(), admin.tg_user_id, end, now) {
            let (Some(due_at), Some(ends_at)) = (planned.due_at, end) else {
                cancel_delivery(conn, &planned.key, now).await?;
                continue;
            };
            if reminder_sent(conn, &planned.key, ends_at).await? {
                continue;
            }
            let payload = Delivery::LicenceReminder {
                to: admin.tg_user_id,
                lang: admin.lang,
                company: company.to_string(),
                days: planned.days,
                ends_at,
            };
            insert_delivery(conn, &NewDelivery { payload, due_at, key: Some(planned.key) }, now)
                .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Whether the reminder of `key` was sent for a licence ending at `ends_at`.
async fn reminder_sent(
    conn: &mut AnyConnection,
    key: &str,
    ends_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let rows =
        sqlx::query("SELECT payload FROM outbox WHERE dedupe_key = $1 AND sent_at IS NOT NULL")
            .bind(key)
            .fetch_all(conn)
            .await?;
    for row in &rows {
        let payload: String = row.try_get("payload")?;
        if let Ok(Delivery::LicenceReminder { ends_at: sent_for, .. }) =
            serde_json::from_str(&payload)
            && sent_for == ends_at
        {
            return Ok(true);
        }
    }
    Ok(false)
}
