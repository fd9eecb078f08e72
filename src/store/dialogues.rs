//! The `dialogues` table: each private chat's conversation state, as JSON the
//! bot writes and reads, so a conversation survives a restart.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreResult, to_unix};

impl Store {
    /// The stored state of `chat_id`, if any.
    pub async fn dialogue_state(&self, chat_id: i64) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT state FROM dialogues WHERE chat_id = $1")
            .bind(chat_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get("state")).transpose()
    }

    pub async fn save_dialogue_state(
        &self,
        chat_id: i64,
        state: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, \
                 updated_at = excluded.updated_at",
        )
        .bind(chat_id)
        .bind(state)
        .bind(to_unix(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_dialogue_state(&self, chat_id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM dialogues WHERE chat_id = $1")
            .bind(chat_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
