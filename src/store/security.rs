//! The `security_events` and `security_subscriptions` tables: what the CRM
//! reported about an account, and which bound Telegram users hear of which
//! kinds.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreResult, from_unix, to_unix};
use crate::domain::{AccountId, CrmEvent, Lang, Subscriptions, TelegramUserId};

/// A Telegram user bound to an account, as notifications need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundUser {
    pub tg_user_id: TelegramUserId,
    /// The language they chose, else the one they last read the bot in.
    pub lang: Option<Lang>,
    pub subscriptions: Subscriptions,
}

impl Store {
    /// Keeps a report from the CRM; its id, or `None` if the same report
    /// (account, kind and time) was kept before.
    pub async fn insert_crm_event(
        &self,
        account: AccountId,
        event: &CrmEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO security_events \
                 (account_id, kind, ip, user_agent, occurred_at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id, kind, occurred_at) DO NOTHING RETURNING id",
        )
        .bind(account.0)
        .bind(event.kind.as_str())
        .bind(event.ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(to_unix(event.at))
        .bind(to_unix(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get("id")).transpose()
    }

    /// The Telegram users bound to the account, with their language and
    /// what they opted in to.
    pub async fn bound_users(&self, account: AccountId) -> StoreResult<Vec<BoundUser>> {
        let rows = sqlx::query(
            "SELECT b.tg_user_id, u.language, u.seen_language, \
                    COALESCE(s.sign_ins, 0) AS sign_ins, COALESCE(s.new_devices, 0) AS new_devices \
             FROM telegram_bindings b \
             LEFT JOIN telegram_users u ON u.tg_user_id = b.tg_user_id \
             LEFT JOIN security_subscriptions s \
                 ON s.tg_user_id = b.tg_user_id AND s.account_id = b.account_id \
             WHERE b.account_id = $1 ORDER BY b.tg_user_id",
        )
        .bind(account.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let chosen: Option<String> = row.try_get("language")?;
                let seen: Option<String> = row.try_get("seen_language")?;
                Ok(BoundUser {
                    tg_user_id: TelegramUserId(row.try_get("tg_user_id")?),
                    lang: chosen.or(seen).and_then(|code| Lang::parse(&code)),
                    subscriptions: Subscriptions {
                        sign_ins: row.try_get::<i64, _>("sign_ins")? != 0,
                        new_devices: row.try_get::<i64, _>("new_devices")? != 0,
                    },
                })
            })
            .collect()
    }

    /// What this user opted in to for this account.
    pub async fn subscriptions(
        &self,
        user: TelegramUserId,
        account: AccountId,
    ) -> StoreResult<Subscriptions> {
        let row = sqlx::query(
            "SELECT sign_ins, new_devices FROM security_subscriptions \
             WHERE tg_user_id = $1 AND account_id = $2",
        )
        .bind(user.0)
        .bind(account.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(Subscriptions::default()) };
        Ok(Subscriptions {
            sign_ins: row.try_get::<i64, _>("sign_ins")? != 0,
            new_devices: row.try_get::<i64, _>("new_devices")? != 0,
        })
    }

    pub async fn set_subscriptions(
        &self,
        user: TelegramUserId,
        account: AccountId,
        subscriptions: Subscriptions,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO security_subscriptions \
                 (tg_user_id, account_id, sign_ins, new_devices, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tg_user_id, account_id) DO UPDATE SET sign_ins = excluded.sign_ins, \
                 new_devices = excluded.new_devices, updated_at = excluded.updated_at",
        )
        .bind(user.0)
        .bind(account.0)
        .bind(i64::from(subscriptions.sign_ins))
        .bind(i64::from(subscriptions.new_devices))
        .bind(to_unix(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When this service last changed the account's password (a reset
    /// link used), if ever.
    pub async fn last_reset_at(&self, account: AccountId) -> StoreResult<Option<DateTime<Utc>>> {
        let row =
            sqlx::query("SELECT MAX(used_at) AS used_at FROM reset_tokens WHERE account_id = $1")
                .bind(account.0)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>("used_at")?.map(from_unix))
    }
}
