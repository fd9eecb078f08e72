//! The `telegram_users` table: language choice and the verified phone link.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreResult, to_unix};
use crate::domain::{Lang, Phone, TelegramUserId};

impl Store {
    /// The language the user chose with /language, if any.
    pub async fn chosen_language(&self, tg_user_id: TelegramUserId) -> StoreResult<Option<Lang>> {
        let row = sqlx::query("SELECT language FROM telegram_users WHERE tg_user_id = $1")
            .bind(tg_user_id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get::<Option<String>, _>("language"))
            .transpose()?
            .flatten()
            .and_then(|code| Lang::parse(&code)))
    }

    /// The /language choices of `users`, in one statement: those with a
    /// row, `None` where they chose none.
    pub async fn chosen_languages(
        &self,
        users: &[TelegramUserId],
    ) -> StoreResult<Vec<(TelegramUserId, Option<Lang>)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let select = "SELECT tg_user_id, language FROM telegram_users WHERE tg_user_id IN";
        super::select_in(select, users.iter().map(|user| user.0))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let language = row.try_get::<Option<String>, _>("language")?;
                Ok((
                    TelegramUserId(row.try_get("tg_user_id")?),
                    language.and_then(|code| Lang::parse(&code)),
                ))
            })
            .collect()
    }

    pub async fn choose_language(
        &self,
        tg_user_id: TelegramUserId,
        lang: Lang,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO telegram_users (tg_user_id, language, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tg_user_id) DO UPDATE SET language = excluded.language, \
                 updated_at = excluded.updated_at",
        )
        .bind(tg_user_id.0)
        .bind(lang.code())
        .bind(to_unix(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Remembers that this Telegram user proved this phone, and when.
    pub async fn remember_verified_phone(
        &self,
        tg_user_id: TelegramUserId,
        phone: &Phone,
        display_name: Option<&str>,
        seen_language: Lang,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO telegram_users (tg_user_id, verified_phone, verified_at, updated_at, \
                 display_name, seen_language) VALUES ($1, $2, $3, $3, $4, $5) \
             ON CONFLICT (tg_user_id) DO UPDATE SET verified_phone = excluded.verified_phone, \
                 verified_at = excluded.verified_at, updated_at = excluded.updated_at, \
                 display_name = excluded.display_name, seen_language = excluded.seen_language",
        )
        .bind(tg_user_id.0)
        .bind(phone.as_str())
        .bind(to_unix(now))
        .bind(display_name)
        .bind(seen_language.code())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The phone this Telegram user proved last, and when.
    pub async fn verified_phone(
        &self,
        tg_user_id: TelegramUserId,
    ) -> StoreResult<Option<(Phone, DateTime<Utc>)>> {
        let row = sqlx::query(
            "SELECT verified_phone, verified_at FROM telegram_users WHERE tg_user_id = $1",
        )
        .bind(tg_user_id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let phone: Option<String> = row.try_get("verified_phone")?;
        let at: Option<i64> = row.try_get("verified_at")?;
        Ok(phone.zip(at).map(|(phone, at)| (Phone::from_stored(phone), super::from_unix(at))))
    }
}
