//! The `dialogues` table: each private chat's conversation state, as JSON the
//! bot writes and reads, so a conversation survives a restart. Each row
//! counts its writes (`version`), so a state read back can be told newer or
//! older than one held in memory.

use sqlx::Row;

use super::{Store, StoreResult};

/// A chat's stored dialogue state and how many times it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDialogue {
    pub chat_id: i64,
    pub state: String,
    pub version: i64,
}

impl Store {
    /// The stored state of `chat_id`, if any.
    pub async fn dialogue_state(&self, chat_id: i64) -> StoreResult<Option<StoredDialogue>> {
        Ok(self.dialogue_states(&[chat_id]).await?.pop())
    }

    /// The stored states of these chats (those that have one): one
    /// statement.
    pub async fn dialogue_states(&self, chat_ids: &[i64]) -> StoreResult<Vec<StoredDialogue>> {
        if chat_ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = "SELECT chat_id, state, version FROM dialogues WHERE chat_id IN";
        super::select_in(select, chat_ids.iter().copied())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(StoredDialogue {
                    chat_id: row.try_get("chat_id")?,
                    state: row.try_get("state")?,
                    version: row.try_get("version")?,
                })
            })
            .collect()
    }
}
